//! The records of the other tools: a template's planned step (`jtpl
//! plan`) and a release (`jmk release list --json`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::template::{Hook, Step};

/// One planned template step, as one line of `jtpl plan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    /// The hook.
    pub hook: Hook,
    /// The arguments after substitution (ARG: name and resolved value).
    pub args: Vec<String>,
    /// The Bastillefile the statement is in.
    pub file: PathBuf,
    /// Its first physical line.
    pub line: u32,
}

impl StepRecord {
    /// The record of `step`.
    pub fn of(step: &Step) -> Self {
        StepRecord {
            hook: step.hook,
            args: step.args.clone(),
            file: step.file.clone(),
            line: step.line,
        }
    }
}

/// One release, as `jmk release list` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// Its name.
    pub name: String,
    /// Its directory tree.
    pub path: String,
    /// `host`, `directory` (registered in place) or `tarball` (unpacked).
    pub kind: String,
}
