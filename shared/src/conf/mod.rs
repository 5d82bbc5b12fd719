//! jail.conf(5): lexer, parser, include handling, wildcard merging,
//! variable expansion and the writer of one jail's block.
//!
//! [`parse_file`] / [`parse_str`] read a file into a [`ConfFile`]: its
//! statements in file order with `.include`d files spliced in where they
//! appear. [`resolve`] turns that into the jails it defines, as jail(8) does:
//! wildcard blocks and top-level parameters merged in file order (section 3.5
//! of the reference), `$variables` expanded, every value typed.
//! [`resolve_raw`] stops before typing, for callers that want the text
//! (`jail -e`); [`resolve_each`] resolves every jail on its own (a jail
//! whose expansion fails leaves the others usable), [`for_each_jail`] one
//! at a time, and [`typed`] types one.
//! [`write_jail`] prints one jail as a block that reads back to the same
//! jail; [`definition`] reads the jail a `NAME.conf` defines.
//!
//! Every error is an [`Error::Config`](crate::Error::Config) whose message
//! starts with the file, line and column, e.g.
//! `/etc/jail.conf line 3 column 7: unterminated string`.

mod glob;
mod lex;
mod parse;
mod resolve;
mod write;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::model::{Jail, name};
use crate::paths::Paths;

pub use resolve::{
    Failed, for_each_jail, is_wildcard, resolve, resolve_each, resolve_raw, typed, wildcard_matches,
};
pub use write::write_jail;

/// The definition of jail `name` from its own `NAME.conf`.
pub fn definition(paths: &Paths, name: &str) -> Result<Jail> {
    name::validate(name)?;
    let file = paths.jail_conf(name);
    if !file.exists() {
        return Err(Error::NotFound(format!("jail \"{name}\" not found")));
    }
    let conf = parse_file(&file)?;
    resolve(&conf)?
        .into_iter()
        .find(|j| j.name == name)
        .ok_or_else(|| Error::Config(format!("{}: defines no jail \"{name}\"", file.display())))
}

/// Where a statement or a piece of text starts: file, line and column (both
/// counted from 1; columns count characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file as named to the parser (`STDIN` for standard input).
    pub file: Arc<str>,
    /// The line.
    pub line: u32,
    /// The column.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {} column {}", self.file, self.line, self.column)
    }
}

impl Location {
    /// A configuration error at this place: `FILE line N column C: msg`.
    pub fn error(&self, msg: impl fmt::Display) -> Error {
        Error::Config(format!("{self}: {msg}"))
    }
}

/// A parsed file: statements in file order, includes already followed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfFile {
    /// Every block opening and every assignment, in the order read.
    pub statements: Vec<Statement>,
}

impl ConfFile {
    /// Add the statements of `other` after these, as if `other` were
    /// included at the end of this file (top level).
    pub fn append(&mut self, other: ConfFile) {
        let shift = self.statements.len();
        self.statements
            .extend(other.statements.into_iter().map(|s| match s {
                Statement::Assign(mut a) => {
                    a.block = a.block.map(|b| b + shift);
                    Statement::Assign(a)
                }
                block => block,
            }));
    }

    /// The files the statements come from, in order of first appearance
    /// (`.include`d ones included).
    pub fn files(&self) -> Vec<Arc<str>> {
        let mut out: Vec<Arc<str>> = Vec::new();
        for s in &self.statements {
            let at = match s {
                Statement::Block { at, .. } => at,
                Statement::Assign(a) => &a.at,
            };
            if !out.contains(&at.file) {
                out.push(at.file.clone());
            }
        }
        out
    }
}

/// One statement of a jail.conf file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// A block `NAME {` was opened. `name` is the full name: a block `b`
    /// nested in `a` is `a.b`. Names with a `*` component are wildcards.
    /// Every block stands on its own where it is written: two blocks of
    /// one name are two jails, as in jail(8).
    Block {
        /// The full (dotted) name of the jail or wildcard.
        name: Arc<str>,
        /// Where the block's name is written.
        at: Location,
    },
    /// A parameter or variable assignment.
    Assign(Assignment),
}

/// How an assignment gives its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `name;`: no value (a boolean, or clears earlier values).
    Flag,
    /// `name = v, ...;` (or `name v, ...;`): replaces earlier values.
    Set,
    /// `name += v, ...;`: appends to earlier values.
    Append,
}

/// `name [=|+=] value, ...;` inside a block, or at top level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The block it belongs to (full name); `*` for top-level statements.
    pub jail: Arc<str>,
    /// The index in [`ConfFile::statements`] of the [`Statement::Block`] it
    /// is written in; `None` at top level (the global pseudo-jail, which is
    /// not the same as a `* { }` block further down).
    pub block: Option<usize>,
    /// The parameter's name as written (`nopersist` stays `nopersist`), or
    /// the variable's name without `$`.
    pub name: String,
    /// Whether this defines a variable (`$name = ...;`).
    pub var: bool,
    /// How the values are given.
    pub op: Op,
    /// The values, before variable expansion.
    pub values: Vec<Text>,
    /// Where the name is written.
    pub at: Location,
}

/// A string value with the variable references found in it (in unquoted and
/// double-quoted parts only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text {
    /// The literal text, with the references taken out.
    pub text: String,
    /// The references, in order of position.
    pub vars: Vec<VarRef>,
}

/// A `$name` or `${name}` reference inside a [`Text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    /// Byte offset in [`Text::text`] where the value goes (a char boundary).
    pub pos: usize,
    /// The variable or parameter named.
    pub name: String,
    /// Where the reference is written.
    pub at: Location,
}

/// A jail's parameters after merging and expansion, before typing: what
/// `jail -e` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJail {
    /// The jail's name (its block's full name).
    pub name: String,
    /// The parameters in jail(8)'s order: `name` (after `jid` for a numeric
    /// block name) first, then in order of first assignment.
    pub params: Vec<RawParam>,
}

/// One parameter of a [`RawJail`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawParam {
    /// The name as last spelled (`nopersist` after `persist; nopersist;`).
    pub name: String,
    /// The values, expanded; empty for a valueless statement.
    pub values: Vec<String>,
    /// The statement that last set it.
    pub at: Location,
}

/// Parse the jail.conf file at `path`, following `.include` statements
/// (globs allowed, relative to the including file, at most 32 deep).
pub fn parse_file(path: &Path) -> Result<ConfFile> {
    parse::parse_file(path)
}

/// Parse jail.conf text. `origin` names the file in messages (`STDIN` for
/// standard input); relative `.include` paths are taken from `base_dir`.
pub fn parse_str(text: &str, origin: &str, base_dir: &Path) -> Result<ConfFile> {
    parse::parse_bytes(text.as_bytes(), origin, base_dir)
}

/// [`parse_str`] over bytes as read (standard input): bytes that are not
/// UTF-8 are kept as in a file ([`crate::fsio::raw`]).
pub fn parse_bytes(bytes: &[u8], origin: &str, base_dir: &Path) -> Result<ConfFile> {
    parse::parse_bytes(bytes, origin, base_dir)
}
