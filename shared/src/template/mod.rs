//! Bastillefile templates (Bastille 1.4's format): parsed, planned and
//! applied to a jail.
//!
//! - [`parse`]: physical lines into statements (continuations, comments,
//!   hook words) and sh-style word splitting without any shell;
//! - [`plan`]: variables (ARG, ARG+, `--arg`, `--arg-file`, built-ins),
//!   INCLUDE, per-hook argument checks, the list of [`Step`]s;
//! - [`sysrc`]: SYSRC's edits of rc.conf files.
//!
//! The steps are applied to a jail by `crate::jtpl`.
//!
//! Differences from Bastille, on purpose: values are substituted, never
//! evaluated by a host shell; leading whitespace, tabs and CRLF are
//! accepted; a trailing `;` in CONFIG is stripped with a warning; INCLUDE
//! cycles are errors; paths that leave the template dir or the jail root
//! are refused; an empty ARG is the empty string everywhere.

pub mod parse;
pub mod plan;
pub mod sysrc;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::paths::Paths;

pub use plan::{Request, plan};

/// A hook of the Bastillefile format, by its canonical (upper-case) word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hook {
    /// `ARG NAME[=DEFAULT]`.
    #[serde(rename = "ARG")]
    Arg,
    /// `ARG+ NAME[=DEFAULT]`: a value is mandatory.
    #[serde(rename = "ARG+")]
    ArgRequired,
    /// `CMD shell text`, run by `/bin/sh -c` in the jail.
    #[serde(rename = "CMD")]
    Cmd,
    /// `CONFIG set|add|remove PARAM [VALUE]` on the jail's definition.
    #[serde(rename = "CONFIG")]
    Config,
    /// `CP SRC DST` (alias `COPY`).
    #[serde(rename = "CP")]
    Cp,
    /// `OVERLAY DIR`, the same as `CP DIR /`.
    #[serde(rename = "OVERLAY")]
    Overlay,
    /// `INCLUDE TEMPLATE [--arg NAME=VALUE]...`.
    #[serde(rename = "INCLUDE")]
    Include,
    /// `LIMITS RESOURCE VALUE` and its actions.
    #[serde(rename = "LIMITS")]
    Limits,
    /// `LINE_IN_FILE LINE PATH` (aliases `LIF`, `LINEINFILE`).
    #[serde(rename = "LINE_IN_FILE")]
    LineInFile,
    /// `MOUNT HOST JAIL [TYPE OPTIONS DUMP PASS]` (alias `FSTAB`).
    #[serde(rename = "MOUNT")]
    Mount,
    /// `PKG PACKAGE...` with the jail's own package manager.
    #[serde(rename = "PKG")]
    Pkg,
    /// `HPKG PACKAGE...` with the host's pkg.
    #[serde(rename = "HPKG")]
    Hpkg,
    /// `RDR ...`: port forwarding.
    #[serde(rename = "RDR")]
    Rdr,
    /// `RENDER PATH`: substitute variables in files of the jail.
    #[serde(rename = "RENDER")]
    Render,
    /// `RESTART`.
    #[serde(rename = "RESTART")]
    Restart,
    /// `SERVICE NAME VERB [ARGS]`.
    #[serde(rename = "SERVICE")]
    Service,
    /// `SYSRC [-f FILE] [-x NAME] NAME[+|-]=VALUE...` on rc.conf in the jail.
    #[serde(rename = "SYSRC")]
    Sysrc,
    /// `TAGS TAG...` (alias `TAG`).
    #[serde(rename = "TAGS")]
    Tags,
}

impl Hook {
    /// The hook a statement's first word names (any case, aliases too).
    pub fn from_word(word: &str) -> Option<Hook> {
        Some(match word.to_ascii_uppercase().as_str() {
            "ARG" => Hook::Arg,
            "ARG+" => Hook::ArgRequired,
            "CMD" => Hook::Cmd,
            "CONFIG" => Hook::Config,
            "CP" | "COPY" => Hook::Cp,
            "OVERLAY" => Hook::Overlay,
            "INCLUDE" => Hook::Include,
            "LIMITS" => Hook::Limits,
            "LINE_IN_FILE" | "LIF" | "LINEINFILE" => Hook::LineInFile,
            "MOUNT" | "FSTAB" => Hook::Mount,
            "PKG" => Hook::Pkg,
            "HPKG" => Hook::Hpkg,
            "RDR" => Hook::Rdr,
            "RENDER" => Hook::Render,
            "RESTART" => Hook::Restart,
            "SERVICE" => Hook::Service,
            "SYSRC" => Hook::Sysrc,
            "TAGS" | "TAG" => Hook::Tags,
            _ => return None,
        })
    }

    /// The canonical word.
    pub fn word(self) -> &'static str {
        match self {
            Hook::Arg => "ARG",
            Hook::ArgRequired => "ARG+",
            Hook::Cmd => "CMD",
            Hook::Config => "CONFIG",
            Hook::Cp => "CP",
            Hook::Overlay => "OVERLAY",
            Hook::Include => "INCLUDE",
            Hook::Limits => "LIMITS",
            Hook::LineInFile => "LINE_IN_FILE",
            Hook::Mount => "MOUNT",
            Hook::Pkg => "PKG",
            Hook::Hpkg => "HPKG",
            Hook::Rdr => "RDR",
            Hook::Render => "RENDER",
            Hook::Restart => "RESTART",
            Hook::Service => "SERVICE",
            Hook::Sysrc => "SYSRC",
            Hook::Tags => "TAGS",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// One planned step: a statement with its arguments substituted and split
/// (CMD keeps its text as one argument, RENDER its raw path). It prints
/// as the `template-step` record (`crate::wire::StepRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The hook.
    pub hook: Hook,
    /// The arguments after substitution (ARG: name and resolved value).
    pub args: Vec<String>,
    /// The Bastillefile the statement is in.
    pub file: PathBuf,
    /// Its first physical line.
    pub line: u32,
    /// The variables in force at a RENDER step (its template's own, and
    /// the built-ins), which it substitutes in files; empty for the others.
    pub vars: Vec<(String, String)>,
}

impl Step {
    /// The template directory the step's relative sources are taken from.
    pub fn dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    /// `FILE:LINE`, for messages.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// Something worth telling the user that does not stop the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The Bastillefile.
    pub file: PathBuf,
    /// The line.
    pub line: u32,
    /// What.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: warning: {}",
            self.file.display(),
            self.line,
            self.message
        )
    }
}

/// Where `project/template` names are looked up: `JKIT_TEMPLATES_DIR`, or
/// `templates` under the data directory.
pub fn templates_dir(paths: &Paths) -> PathBuf {
    std::env::var_os("JKIT_TEMPLATES_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| paths.data_dir.join("templates"), PathBuf::from)
}

/// A bad template at `file:line` (EX_DATAERR).
pub(crate) fn bad(file: &Path, line: u32, msg: impl fmt::Display) -> Error {
    Error::BadData(format!("{}:{line}: {msg}", file.display()))
}
