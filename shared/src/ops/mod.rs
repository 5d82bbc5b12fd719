//! What jmk does to jails, on top of a backend: create, start, stop,
//! restart, destroy, clone, snapshot, rollback, diff, export, import. Every operation on a jail holds that jail's
//! lock; definitions are jail.conf files written atomically; every step
//! that builds something is undone, or left for `destroy` to clean, when a
//! later step fails or the process is killed.

mod archive;
pub mod boot;
pub mod check;
mod clone;
mod clones;
pub mod command;
pub mod config;
mod create;
mod destroy;
pub mod fetch;
mod hostlayer;
pub mod jail8;
mod lifecycle;
pub mod network;
pub mod order;
mod rdr;
mod record;
pub mod release;
pub mod rootfs;
pub mod sequence;
pub mod snapshot;

use std::fs;
use std::io::BufRead;
use std::path::Path;

use crate::backend::{self, Backend};
use crate::error::{Error, Result};
use crate::model::{Jail, JailKey, Params, State, Value, name};
use crate::paths::Paths;
pub use config::{Config, ConfigSource};
pub use create::{CreateRequest, Creating, Layout, RootSource};
pub use jail8::{Jails, Op, Request, Summary};
pub use record::BuildRecord;
pub use rootfs::Progress;
pub use sequence::{Flags, Report};

/// jkit's operations on one host.
pub struct Jkit {
    /// Where state lives.
    pub paths: Paths,
    backend: Box<dyn Backend>,
}

impl std::fmt::Debug for Jkit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jkit")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl Jkit {
    /// The operations on the native backend, with state under `paths`.
    pub fn new(paths: Paths) -> Result<Self> {
        let backend = backend::native(&paths)?;
        Ok(Self::with_backend(paths, backend))
    }

    /// The operations on `backend`, with state under `paths`.
    pub fn with_backend(paths: Paths, backend: Box<dyn Backend>) -> Self {
        Jkit { paths, backend }
    }

    /// The backend.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// The definition of jail `name` from `NAME.conf`.
    pub fn definition(&self, name: &str) -> Result<Jail> {
        crate::conf::definition(&self.paths, name)
    }

    /// Every defined jail whose definition reads, by name; beside them,
    /// the error of the first that does not (naming its file and line),
    /// with how many more do not: one broken definition hides only its
    /// own jail.
    pub fn definitions(&self) -> (Vec<Jail>, Option<Error>) {
        let mut names = Vec::new();
        if let Ok(entries) = fs::read_dir(&self.paths.conf_dir) {
            for e in entries.flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                if let Some(n) = f.strip_suffix(".conf") {
                    if name::validate(n).is_ok() {
                        names.push(n.to_string());
                    }
                }
            }
        }
        names.sort();
        let mut jails = Vec::with_capacity(names.len());
        let mut broken: Option<Error> = None;
        let mut more = 0;
        for n in &names {
            match self.definition(n) {
                Ok(j) => jails.push(j),
                Err(e) if broken.is_none() => broken = Some(e),
                Err(_) => more += 1,
            }
        }
        let broken = broken.map(|e| match more {
            0 => e,
            n => Error::BadData(format!("{e} (and {n} more unreadable definitions)")),
        });
        (jails, broken)
    }

    /// The jail `name` as it is now: running (from the backend) or stopped
    /// (from its definition).
    pub fn status(&self, name: &str) -> Result<Jail> {
        if let Some(j) = self.backend.find(&JailKey::Name(name.to_string()), true)? {
            return Ok(j);
        }
        let mut def = self.definition(name)?;
        def.state = State::Stopped;
        Ok(def)
    }

    /// The names that jail operands denote: names as given, or, for the
    /// single operand `-`, the jails of the NDJSON records on `stdin`.
    pub fn operands(&self, operands: &[String], stdin: impl BufRead) -> Result<Vec<String>> {
        if operands.len() == 1 && operands[0] == "-" {
            let (running, _) = self.backend.list_readable(true);
            return crate::wire::read_refs(stdin)?
                .into_iter()
                .map(|key| match key {
                    JailKey::Name(n) => Ok(n),
                    JailKey::Jid(j) => running
                        .iter()
                        .find(|r| r.jid == Some(j))
                        .map(|r| r.name.clone())
                        .ok_or_else(|| Error::NotFound(format!("jail {j} not found"))),
                })
                .collect();
        }
        if operands.iter().any(|o| o == "-") {
            return Err(Error::Usage("- must be the only jail operand".into()));
        }
        Ok(operands.to_vec())
    }

    /// The jails of jail.conf and the definitions directory (none when
    /// neither exists).
    pub fn configuration(&self) -> Result<Config> {
        if !Config::exists(&self.paths, &ConfigSource::Default) {
            return Ok(Config::default());
        }
        Config::load(&self.paths, &ConfigSource::Default, std::io::empty())
    }

    fn running(&self, name: &str) -> Result<Option<Jail>> {
        self.backend.find(&JailKey::Name(name.to_string()), true)
    }
}

/// Parse `param=value` arguments; from `command=` on, the rest is the
/// command and its arguments, as in jail(8). The definition keeps them as
/// one command string, which jail(8) runs as that argv from a
/// configuration too (it runs each value of `command` there as a command
/// of its own).
pub fn parse_params(args: &[String]) -> Result<Params> {
    let mut params = Params::new();
    for (i, arg) in args.iter().enumerate() {
        if let Some(argv) = trailing_command(args, i) {
            params.set("command", Value::List(vec![command::shell_line(&argv)]));
            break;
        }
        params.assign(arg)?;
    }
    for fixed in ["name", "jid"] {
        if params.get(fixed).is_some() {
            return Err(Error::Usage(format!(
                "{fixed} is set by jmk and cannot be given"
            )));
        }
    }
    Ok(params)
}

/// The command of jail(8)'s `param=value` arguments when `args[i]` is
/// `command=ARG`: ARG and every argument after it, as its argv.
pub(crate) fn trailing_command(args: &[String], i: usize) -> Option<Vec<String>> {
    let first = args[i].strip_prefix("command=")?;
    let mut argv = vec![first.to_string()];
    argv.extend(args[i + 1..].iter().cloned());
    Some(argv)
}

/// Remove a file; one that is not there is fine.
fn remove_if_present(file: &Path) -> Result<()> {
    match fs::remove_file(file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::at("remove", file, e)),
    }
}

fn write_definition(conf: &Path, def: &Jail) -> Result<()> {
    crate::fsio::write_durable(conf, crate::conf::write_jail(def).as_bytes())
}

#[cfg(test)]
mod tests;
