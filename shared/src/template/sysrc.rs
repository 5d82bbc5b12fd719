//! sysrc(8) as SYSRC lines use it: the edits a line asks for, and each
//! edit applied to an rc.conf text.

use super::{parse, plan};

/// What a SYSRC line does to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysrcOps {
    /// The file in the jail (`-f`, default `/etc/rc.conf`).
    pub file: String,
    /// The edits, in order.
    pub ops: Vec<SysrcOp>,
}

/// One sysrc(8) edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysrcOp {
    /// `name=value`.
    Set(String, String),
    /// `name+=value`: add the word unless present.
    Add(String, String),
    /// `name-=value`: remove the word.
    Sub(String, String),
    /// `-x name`: delete the variable.
    Delete(String),
}

/// Parse the words of a SYSRC line: `-f FILE`, `-x` (the operands are
/// names to delete), and `name[+|-]=value` operands.
pub fn sysrc_ops(words: &[String]) -> std::result::Result<SysrcOps, String> {
    let mut file = "/etc/rc.conf".to_string();
    let mut delete = false;
    let mut ops = Vec::new();
    let mut it = words.iter();
    let valid =
        |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    while let Some(w) = it.next() {
        match w.as_str() {
            "-f" => {
                file = it.next().ok_or("-f needs a file")?.clone();
                plan::jail_path(&file)?;
            }
            "-x" => delete = true,
            o if o.starts_with('-') => return Err(format!("unsupported sysrc option {o}")),
            _ if delete => {
                if !valid(w) {
                    return Err(format!("{w}: not a variable name"));
                }
                ops.push(SysrcOp::Delete(w.clone()));
            }
            _ => {
                let (lhs, value) = w
                    .split_once('=')
                    .ok_or_else(|| format!("{w}: expected NAME=VALUE (SYSRC only sets values)"))?;
                let (op, name): (fn(String, String) -> SysrcOp, &str) =
                    if let Some(n) = lhs.strip_suffix('+') {
                        (SysrcOp::Add, n)
                    } else if let Some(n) = lhs.strip_suffix('-') {
                        (SysrcOp::Sub, n)
                    } else {
                        (SysrcOp::Set, lhs)
                    };
                if !valid(name) {
                    return Err(format!("{lhs}: not a variable name"));
                }
                ops.push(op(name.to_string(), value.to_string()));
            }
        }
    }
    if ops.is_empty() {
        return Err("expected NAME=VALUE...".into());
    }
    Ok(SysrcOps { file, ops })
}

/// The value of `name` in rc.conf text (the last assignment), unquoted.
fn sysrc_value(text: &str, name: &str) -> Option<String> {
    text.lines().rev().find_map(|l| {
        let v = l.trim_start().strip_prefix(name)?.strip_prefix('=')?;
        Some(parse::words(v).ok()?.join(" "))
    })
}

/// `text` with one edit applied: the variable's assignments replaced by
/// one `name="value"` line where the first was (or appended).
pub fn sysrc_edit(text: &str, op: &SysrcOp) -> String {
    let (name, value) = match op {
        SysrcOp::Set(n, v) => (n, Some(v.clone())),
        SysrcOp::Add(n, v) => {
            let mut words: Vec<String> = sysrc_value(text, n)
                .map(|c| c.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default();
            for w in v.split_whitespace() {
                if !words.iter().any(|x| x == w) {
                    words.push(w.to_string());
                }
            }
            (n, Some(words.join(" ")))
        }
        SysrcOp::Sub(n, v) => {
            let drop: Vec<&str> = v.split_whitespace().collect();
            let words: Vec<String> = sysrc_value(text, n)
                .map(|c| {
                    c.split_whitespace()
                        .filter(|w| !drop.contains(w))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            (n, Some(words.join(" ")))
        }
        SysrcOp::Delete(n) => (n, None),
    };
    let new_line = value.map(|v| {
        let mut q = String::from("\"");
        for c in v.chars() {
            if matches!(c, '"' | '\\' | '$' | '`') {
                q.push('\\');
            }
            q.push(c);
        }
        format!("{name}={q}\"")
    });
    let is_it = |l: &str| {
        l.trim_start()
            .strip_prefix(name.as_str())
            .is_some_and(|r| r.starts_with('='))
    };
    let mut out = String::with_capacity(text.len() + 32);
    let mut placed = false;
    for l in text.lines() {
        if is_it(l) {
            if !placed {
                if let Some(n) = &new_line {
                    out.push_str(n);
                    out.push('\n');
                }
                placed = true;
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if !placed {
        if let Some(n) = &new_line {
            out.push_str(n);
            out.push('\n');
        }
    }
    out
}
