//! The jail.conf grammar (FreeBSD's jailparse.y) and `.include`.
//!
//! The parser is a loop over statements with an explicit stack of open
//! blocks, so deep nesting cannot overflow the call stack; only `.include`
//! recurses, at most [`MAX_INCLUDE_DEPTH`] deep.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::lex::{Lexer, Tok, Token};
use super::{Assignment, ConfFile, Op, Statement, Text, VarRef, glob};
use crate::error::{Error, Result};
use crate::fsio::raw;

/// How deep `.include` may nest (jail(8)'s limit).
pub(super) const MAX_INCLUDE_DEPTH: usize = 32;

/// How many files one parse may include in all (a guard against globs that
/// include each other exponentially often).
const MAX_INCLUDED_FILES: usize = 4096;

/// The largest file `.include` reads (64 MiB).
const MAX_INCLUDED_SIZE: u64 = 64 << 20;

/// The longest full (dotted) block name accepted.
const MAX_BLOCK_NAME: usize = 1024;

/// What one whole parse shares across included files.
#[derive(Debug)]
struct Ctx {
    statements: Vec<Statement>,
    /// The files being parsed, outermost first (canonical paths).
    chain: Vec<PathBuf>,
    included: usize,
    global: Arc<str>,
}

pub(super) fn parse_file(path: &Path) -> Result<ConfFile> {
    let bytes = fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            Error::NotFound(format!("{}: No such file or directory", path.display()))
        }
        _ => Error::os(path.display().to_string(), e),
    })?;
    let mut ctx = Ctx::new();
    ctx.chain
        .push(fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
    let base = path.parent().unwrap_or(Path::new(""));
    let file: Arc<str> = Arc::from(path.display().to_string());
    parse_source(&mut ctx, &bytes, file, base, &[], 0)?;
    Ok(ConfFile {
        statements: ctx.statements,
    })
}

pub(super) fn parse_bytes(src: &[u8], origin: &str, base_dir: &Path) -> Result<ConfFile> {
    let mut ctx = Ctx::new();
    parse_source(&mut ctx, src, Arc::from(origin), base_dir, &[], 0)?;
    Ok(ConfFile {
        statements: ctx.statements,
    })
}

impl Ctx {
    fn new() -> Self {
        Ctx {
            statements: Vec::new(),
            chain: Vec::new(),
            included: 0,
            global: Arc::from("*"),
        }
    }
}

/// A string as the grammar sees it: one token and the ones joined to it.
#[derive(Debug)]
struct Word {
    first: Token,
    rest: Vec<Token>,
}

impl Word {
    fn pieces(&self) -> impl Iterator<Item = &Token> {
        std::iter::once(&self.first).chain(&self.rest)
    }
}

/// Parse one file's statements into `ctx`, inside the blocks `outer`
/// (non-empty when the file is included from inside a block).
fn parse_source(
    ctx: &mut Ctx,
    src: &[u8],
    file: Arc<str>,
    base_dir: &Path,
    outer: &[(Arc<str>, usize)],
    depth: usize,
) -> Result<()> {
    let mut p = Parser {
        lx: Lexer::new(src, file),
        peeked: None,
    };
    let mut blocks: Vec<(Arc<str>, usize)> = outer.to_vec();
    loop {
        let t = p.next()?;
        match t.tok {
            Tok::Eof if blocks.len() > outer.len() => return Err(p.syntax(&t)),
            Tok::Eof => return Ok(()),
            Tok::RBrace if blocks.len() > outer.len() => {
                blocks.pop();
            }
            Tok::Semi => {}
            Tok::Str(_) | Tok::Var(_) => {
                let word = p.word(t)?;
                if p.peek()?.tok == Tok::LBrace {
                    p.next()?;
                    let name = p.block_name(&word)?;
                    let at = word.first.at.clone();
                    let full: Arc<str> = match blocks.last() {
                        Some((parent, _)) => Arc::from(format!("{parent}.{name}")),
                        None => Arc::from(name),
                    };
                    if full.len() > MAX_BLOCK_NAME {
                        return Err(at.error("jail name too long"));
                    }
                    blocks.push((full.clone(), ctx.statements.len()));
                    ctx.statements.push(Statement::Block { name: full, at });
                } else {
                    let (jail, block) = match blocks.last() {
                        Some((name, i)) => (name.clone(), Some(*i)),
                        None => (ctx.global.clone(), None),
                    };
                    let (a, name_value) = p.assignment(word, jail, block)?;
                    if !a.var && a.name == ".include" && name_value {
                        include(ctx, &a, base_dir, &blocks, depth)?;
                    } else {
                        ctx.statements.push(Statement::Assign(a));
                    }
                }
            }
            _ => return Err(p.syntax(&t)),
        }
    }
}

/// Follow `.include "pattern", ...;`.
fn include(
    ctx: &mut Ctx,
    a: &Assignment,
    base_dir: &Path,
    blocks: &[(Arc<str>, usize)],
    depth: usize,
) -> Result<()> {
    for value in &a.values {
        if !value.vars.is_empty() {
            return Err(a.at.error("variables not permitted in '.include' filename"));
        }
        let pattern = value.text.as_str();
        let files = if glob::has_magic(pattern) {
            glob::expand(base_dir, pattern)
        } else {
            vec![base_dir.join(pattern)]
        };
        for path in files {
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(a.at.error("maximum include depth exceeded"));
            }
            ctx.included += 1;
            if ctx.included > MAX_INCLUDED_FILES {
                return Err(a.at.error("too many included files"));
            }
            let canon = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if ctx.chain.contains(&canon) {
                // An include loop would only end at the depth limit.
                return Err(a.at.error("maximum include depth exceeded"));
            }
            let bytes = read_included(&path)
                .map_err(|msg| a.at.error(format!("{}: {msg}", path.display())))?;
            ctx.chain.push(canon);
            let file: Arc<str> = Arc::from(path.display().to_string());
            let dir = path.parent().unwrap_or(Path::new(""));
            parse_source(ctx, &bytes, file, dir, blocks, depth + 1)?;
            ctx.chain.pop();
        }
    }
    Ok(())
}

/// The text of an included file. Only regular files of at most
/// [`MAX_INCLUDED_SIZE`] bytes are read: a glob like `/*/*` must not make
/// the parser read a device such as `/dev/zero` forever, or block on a FIFO.
fn read_included(path: &Path) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO with no writer must not wait for one; the
    // file's type is checked on what was opened, so nothing can be swapped
    // in between.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| crate::error::io_strerror(&e))?;
    let meta = file.metadata().map_err(|e| crate::error::io_strerror(&e))?;
    if meta.is_dir() {
        return Err(crate::error::strerror(libc::EISDIR));
    }
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_INCLUDED_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| crate::error::io_strerror(&e))?;
    if bytes.len() as u64 > MAX_INCLUDED_SIZE {
        return Err("file too large".into());
    }
    Ok(bytes)
}

#[derive(Debug)]
struct Parser<'a> {
    lx: Lexer<'a>,
    peeked: Option<Token>,
}

impl Parser<'_> {
    fn next(&mut self) -> Result<Token> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lx.next_token(),
        }
    }

    fn peek(&mut self) -> Result<&Token> {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lx.next_token()?,
        };
        Ok(self.peeked.insert(t))
    }

    /// yacc's complaint about an unexpected token.
    fn syntax(&self, t: &Token) -> Error {
        match t.tok {
            Tok::Eof => t.at.error("unexpected EOF"),
            _ => t.at.error(format!("{}: syntax error", self.lx.raw(t.raw))),
        }
    }

    /// The string that starts with `first` (a `Str` or `Var`).
    fn word(&mut self, first: Token) -> Result<Word> {
        let mut rest = Vec::new();
        while self.peek()?.joined {
            rest.push(self.next()?);
        }
        Ok(Word { first, rest })
    }

    /// A block's name: one string token of literal text (jailparse.y
    /// takes a single STR there, so `foo.*` unquoted, a `STR` and a
    /// touching `STR1`, is a syntax error; `"foo.*"` is one token).
    fn block_name(&self, w: &Word) -> Result<String> {
        if let Some(t) = w.rest.first() {
            return Err(self.syntax(t));
        }
        if matches!(w.first.tok, Tok::Var(_)) {
            return Err(self.syntax(&w.first));
        }
        Ok(self.text(w)?.text)
    }

    /// The statement after its first word: `name;`, `name = v, ...;`,
    /// `name += v, ...;` or `name v, ...;` (the last also reported as such).
    fn assignment(
        &mut self,
        w: Word,
        jail: Arc<str>,
        block: Option<usize>,
    ) -> Result<(Assignment, bool)> {
        let at = w.first.at.clone();
        // A parameter's or variable's name is one token (jailparse.y's
        // `name: STR | VAR`): a touching piece is a syntax error.
        if let Some(t) = w.rest.first() {
            return Err(self.syntax(t));
        }
        let (name, var) = match &w.first.tok {
            Tok::Var(v) => (raw::decode(v), true),
            _ => (self.text(&w)?.text, false),
        };
        let t = self.next()?;
        let (op, values, name_value) = match t.tok {
            Tok::Semi => {
                return Ok((
                    Assignment {
                        jail,
                        block,
                        name,
                        var,
                        op: Op::Flag,
                        values: Vec::new(),
                        at,
                    },
                    false,
                ));
            }
            Tok::Eq => {
                let first = self.next()?;
                (Op::Set, self.values(first)?, false)
            }
            Tok::PlusEq => {
                let first = self.next()?;
                (Op::Append, self.values(first)?, false)
            }
            Tok::Str(_) | Tok::Var(_) => (Op::Set, self.values(t)?, true),
            _ => return Err(self.syntax(&t)),
        };
        let end = self.next()?;
        if end.tok != Tok::Semi {
            return Err(self.syntax(&end));
        }
        Ok((
            Assignment {
                jail,
                block,
                name,
                var,
                op,
                values,
                at,
            },
            name_value,
        ))
    }

    /// `string { , string }` starting with `first`.
    fn values(&mut self, first: Token) -> Result<Vec<Text>> {
        let mut out = Vec::new();
        let mut t = first;
        loop {
            if !matches!(t.tok, Tok::Str(_) | Tok::Var(_)) {
                return Err(self.syntax(&t));
            }
            let w = self.word(t)?;
            out.push(self.text(&w)?);
            if self.peek()?.tok != Tok::Comma {
                return Ok(out);
            }
            self.next()?;
            t = self.next()?;
        }
    }

    /// The text of a word with its variable references. Bytes that are
    /// not UTF-8 are kept as they are ([`raw`]), as jail(8) keeps them.
    fn text(&self, w: &Word) -> Result<Text> {
        // The bytes between references are decoded together: a character
        // may be written in pieces (`\303\251`).
        let mut text = String::new();
        let mut vars = Vec::new();
        let mut bytes = Vec::new();
        for t in w.pieces() {
            match &t.tok {
                Tok::Str(s) => bytes.extend_from_slice(s),
                Tok::Var(v) => {
                    text.push_str(&raw::decode(&std::mem::take(&mut bytes)));
                    vars.push(VarRef {
                        pos: text.len(),
                        name: raw::decode(v),
                        at: t.at.clone(),
                    });
                }
                _ => {}
            }
        }
        text.push_str(&raw::decode(&bytes));
        Ok(Text { text, vars })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<ConfFile> {
        parse_bytes(src.as_bytes(), "t", Path::new("/nonexistent"))
    }

    fn err(src: &str) -> String {
        parse(src).unwrap_err().to_string()
    }

    fn assigns(src: &str) -> Vec<(String, String, bool, Op, Vec<String>)> {
        parse(src)
            .unwrap()
            .statements
            .into_iter()
            .filter_map(|s| match s {
                Statement::Assign(a) => Some((
                    a.jail.to_string(),
                    a.name,
                    a.var,
                    a.op,
                    a.values.into_iter().map(|t| t.text).collect(),
                )),
                Statement::Block { .. } => None,
            })
            .collect()
    }

    fn sv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn statements_in_order() {
        let got = assigns("a = 1; b { c += x, y; d; $v = \"q\"; e f; } ;; g;");
        let want: Vec<(String, String, bool, Op, Vec<String>)> = vec![
            ("*".into(), "a".into(), false, Op::Set, sv(&["1"])),
            ("b".into(), "c".into(), false, Op::Append, sv(&["x", "y"])),
            ("b".into(), "d".into(), false, Op::Flag, sv(&[])),
            ("b".into(), "v".into(), true, Op::Set, sv(&["q"])),
            ("b".into(), "e".into(), false, Op::Set, sv(&["f"])),
            ("*".into(), "g".into(), false, Op::Flag, sv(&[])),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn nested_and_wildcard_blocks() {
        let f = parse("a { b { c { } } * { } } \"foo.*\" { } \"x y\" { }").unwrap();
        let names: Vec<String> = f
            .statements
            .iter()
            .filter_map(|s| match s {
                Statement::Block { name, .. } => Some(name.to_string()),
                Statement::Assign(_) => None,
            })
            .collect();
        assert_eq!(names, ["a", "a.b", "a.b.c", "a.*", "foo.*", "x y"]);
    }

    #[test]
    fn variable_positions() {
        let f = parse("p = \"/x/${a.b}/$c\"/d;").unwrap();
        let Statement::Assign(a) = &f.statements[0] else {
            panic!()
        };
        assert_eq!(a.values[0].text, "/x///d");
        let vars: Vec<(usize, &str)> = a.values[0]
            .vars
            .iter()
            .map(|v| (v.pos, v.name.as_str()))
            .collect();
        assert_eq!(vars, [(3, "a.b"), (4, "c")]);
        assert_eq!(
            (a.values[0].vars[1].at.line, a.values[0].vars[1].at.column),
            (1, 16)
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(err("a = ;"), "t line 1 column 5: ;: syntax error");
        assert_eq!(err("a {"), "t line 1 column 4: unexpected EOF");
        assert_eq!(err("a = b"), "t line 1 column 6: unexpected EOF");
        assert_eq!(err("}"), "t line 1 column 1: }: syntax error");
        assert_eq!(err("a = b c;"), "t line 1 column 7: c: syntax error");
        assert_eq!(err("= b;"), "t line 1 column 1: =: syntax error");
        assert_eq!(err("a$x = 1;"), "t line 1 column 2: $x: syntax error");
        assert_eq!(err("$x$y = 1;"), "t line 1 column 3: $y: syntax error");
        assert_eq!(err("\"a$x\" { }"), "t line 1 column 3: $x: syntax error");
        assert_eq!(err("a { b = 1 }"), "t line 1 column 11: }: syntax error");
        // A block's or parameter's name is one token: jail(8) refuses
        // touching pieces (`foo.*` unquoted is `foo.` and `*`).
        assert_eq!(err("foo.* { }"), "t line 1 column 5: *: syntax error");
        assert_eq!(err("*.db { }"), "t line 1 column 2: .db: syntax error");
        assert_eq!(err("a\"b\" = 1;"), "t line 1 column 2: \"b\": syntax error");
        assert_eq!(err("a\\.b;"), "t line 1 column 2: \\.: syntax error");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let src = "a{".repeat(100_000);
        assert_eq!(err(&src), "t line 1 column 1025: jail name too long");
        let src = format!("{}{}", "a{".repeat(400), "}".repeat(400));
        assert!(parse(&src).is_ok());
    }

    #[test]
    fn include_needs_no_variables() {
        assert_eq!(
            err(".include \"$x.conf\";"),
            "t line 1 column 1: variables not permitted in '.include' filename"
        );
        assert_eq!(
            err(".include \"missing.conf\";"),
            "t line 1 column 1: /nonexistent/missing.conf: No such file or directory"
        );
        assert!(parse(".include \"*.conf\";").unwrap().statements.is_empty());
        // Only the `name value` form includes.
        assert_eq!(assigns(".include = x;")[0].1, ".include");
    }
}
