//! The Backend trait: what the tools need from the platform that holds
//! running jails, with one implementation per platform.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::exec::ExecSpec;
use crate::model::{Jail, JailKey};
use crate::wire::BackendKind;

#[cfg(target_os = "freebsd")]
pub mod freebsd;
pub mod jailparam;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod mounts;

/// How a process ended, as a shell reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this status.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Exit {
    /// The shell's `$?` for this ending (128 + signal for a signal).
    pub fn shell_status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }

    /// Whether the process succeeded.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

/// What `start` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The jail as it runs now (or as it ran, if it already ended).
    pub jail: Jail,
    /// How `command` ended, when the definition had one.
    pub command: Option<Exit>,
    /// Whether the jail is still alive after `command` ended (a persistent
    /// jail, or one with processes left).
    pub alive: bool,
}

/// A platform that holds running jails.
pub trait Backend {
    /// Which platform this is.
    fn kind(&self) -> BackendKind;

    /// The running jails (and dying ones if `dying`), ascending by jid, each
    /// with every parameter the platform reports.
    fn list(&self, dying: bool) -> Result<Vec<Jail>>;

    /// One running jail by jid or name.
    fn find(&self, key: &JailKey, dying: bool) -> Result<Option<Jail>> {
        Ok(self.list(dying)?.into_iter().find(|j| key.matches(j)))
    }

    /// Create and start the jail `def` (state stopped, typed parameters,
    /// `path` set): mount what it asks for, create it, run its `command`
    /// and wait for that. The caller holds the jail's lock.
    fn start(&self, def: &Jail) -> Result<Started>;

    /// Stop a running jail: ask its processes to end, wait up to `timeout`,
    /// then remove it and unmount what `start` mounted. The caller holds
    /// the jail's lock.
    fn stop(&self, jail: &Jail, def: Option<&Jail>, timeout: Duration) -> Result<()>;

    /// Remove whatever a start or stop that was killed half-way left behind
    /// for the jail `name` (runtime state, mounts, processes). Does nothing
    /// when there is nothing to clean. The caller holds the jail's lock.
    fn clean(&self, name: &str, def: Option<&Jail>) -> Result<()>;

    /// Run `spec` inside the running `jail` as a child of this process, with
    /// jexec(8)'s steps in its order (enter the jail, working directory,
    /// user, group, login class, environment, exec), and wait for it.
    /// Failures before the command runs are errors carrying jexec's
    /// messages and statuses (see [`crate::exec`]).
    fn exec(&self, jail: &Jail, spec: &ExecSpec) -> Result<Exit>;

    /// [`Backend::exec`] for the last command this process runs: where a
    /// process can enter a jail itself (FreeBSD's jail_attach), this process
    /// becomes the command, as jexec does, and the call returns only on
    /// failure. Elsewhere (Linux: a pid namespace holds only the children of
    /// whoever joins it) the command runs as a child and is waited for.
    fn exec_replace(&self, jail: &Jail, spec: &ExecSpec) -> Result<Exit> {
        self.exec(jail, spec)
    }
}

/// The backend of the platform this binary runs on.
pub fn native(paths: &crate::paths::Paths) -> Result<Box<dyn Backend>> {
    #[cfg(target_os = "linux")]
    {
        Ok(Box::new(linux::Linux::new(paths.clone())))
    }
    #[cfg(target_os = "freebsd")]
    {
        Ok(Box::new(freebsd::FreeBsd::new(paths.clone())))
    }
    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    {
        let _ = paths;
        Err(Error::Unavailable("jails need FreeBSD or Linux".into()))
    }
}

/// The absolute root directory of a definition, checked as jail(8) does.
pub fn root_of(def: &Jail) -> Result<PathBuf> {
    let path = def
        .params
        .str("path")
        .ok_or_else(|| Error::Config(format!("{}: no path is set", def.name)))?;
    let p = PathBuf::from(path);
    if !p.is_absolute() {
        return Err(Error::Config(format!(
            "{}: path {path}: not an absolute pathname",
            def.name
        )));
    }
    if !p.is_dir() {
        return Err(Error::NotFound(format!(
            "{}: path {path}: No such file or directory",
            def.name
        )));
    }
    Ok(p)
}
