//! `jmk start`, `stop` and `restart`: jail(8)'s creation and removal
//! sequences for one defined jail, under its lock.

use std::fs;

use super::{Config, Flags, Jails, Jkit, Op, Report, Request, sequence};
use crate::backend::Started;
use crate::error::{Error, OsContext, Result};
use crate::lock::JailLock;
use crate::model::{Jail, Params, State, name};
use crate::paths::Paths;

impl Jkit {
    /// Start jail `name` from its definition as `jmk -c NAME` does (its
    /// dependencies first, every hook in jail(8)'s order), except that how
    /// its `command` ends is the result rather than a failure, and nothing
    /// is noted. Failures are returned, not reported. Of the definitions,
    /// only those of `name` and its dependencies are read (with
    /// jail.conf), so that starting a jail takes no longer with more
    /// jails defined.
    pub fn start(&self, name: &str) -> Result<Started> {
        self.start_with(name, &mut sequence::Quiet)
    }

    /// [`Jkit::start`], with warnings (a parameter ignored on this
    /// platform) given to `report`.
    pub fn start_with(&self, name: &str, report: &mut dyn Report) -> Result<Started> {
        name::validate(name)?;
        let config = Config::load_for(&self.paths, name)?;
        if config.get(name).is_none() {
            return Err(Error::NotFound(format!("jail \"{name}\" not found")));
        }
        let flags = Flags {
            quiet: true,
            command_status: true,
            ..Flags::default()
        };
        let req = Request {
            op: Op::Create,
            jails: Jails::Config(config),
            targets: vec![name.to_string()],
            flags,
            cleanup: false,
        };
        let summary = self.jail8(&req, report);
        if let Some(e) = summary.errors.into_iter().next() {
            return Err(self.start_failure(name, e));
        }
        summary
            .created
            .into_iter()
            .map(|c| c.started)
            .find(|s| s.jail.name == name)
            .ok_or_else(|| Error::Software(format!("{name}: not started")))
    }

    /// What a start of jail `name` that failed with `e` reports: a start
    /// that lost a race to another start says the jail runs; one that
    /// lost it to a destroy, that the jail is not found.
    fn start_failure(&self, name: &str, e: Error) -> Error {
        if !self.paths.jail_conf(name).exists()
            && Config::load_for(&self.paths, name).is_ok_and(|c| c.get(name).is_none())
        {
            return Error::NotFound(format!("jail \"{name}\" not found"));
        }
        match e {
            Error::Exists(_) if self.running(name).is_ok_and(|r| r.is_some()) => {
                Error::Exists(format!("jail \"{name}\" is already running"))
            }
            e => e,
        }
    }

    /// Stop jail `name` as `jmk -r NAME` does (the jails that depend on it
    /// first); returns it as it now is (stopped).
    pub fn stop(&self, name: &str) -> Result<Jail> {
        self.stop_with(name, &mut sequence::Quiet)
    }

    /// [`Jkit::stop`], with warnings given to `report`. Of the
    /// definitions, only those of `name` and of the running jails that
    /// depend on it are read (with jail.conf), so that a stop costs the
    /// same however many jails are defined, and a broken definition of
    /// another jail does not matter. A jail whose runtime state is
    /// unreadable is still ended (through its cgroup) and its runtime
    /// removed; what a killed start or stop left is cleaned.
    pub fn stop_with(&self, name: &str, report: &mut dyn Report) -> Result<Jail> {
        name::validate(name)?;
        let running = match self.running(name) {
            Ok(r) => r,
            Err(broken @ Error::BadData(_)) => return self.stop_broken(name, broken, report),
            Err(e) => return Err(e),
        };
        match &running {
            None => return self.clean_stopped(name),
            // A stop killed before its jail's init ended.
            Some(j) if j.state == State::Dying => {
                let _lock = JailLock::acquire(&self.paths, name)?;
                let def = self.definition(name).unwrap_or_else(|_| stopped(name));
                self.stop_locked(name, &def)?;
                return Ok(stopped(name));
            }
            Some(_) => {}
        }
        let mut names = vec![name.to_string()];
        names.extend(dependents(&self.paths, name));
        let config = match Config::load_for_each(&self.paths, &names) {
            Ok(c) => c,
            // Stopped all the same, without its definition's hooks.
            Err(broken) => {
                let _lock = JailLock::acquire(&self.paths, name)?;
                report.warn(&format!(
                    "{name}: {broken}: stopped without its definition's hooks"
                ));
                self.stop_locked(name, &stopped(name))?;
                return Ok(stopped(name));
            }
        };
        let mut jail = match config.get(name) {
            Some(c) => c.typed()?,
            None => running.ok_or_else(|| not_running(name))?,
        };
        let flags = Flags {
            quiet: true,
            ..Flags::default()
        };
        let req = Request {
            op: Op::Remove,
            jails: Jails::Config(config),
            targets: vec![name.to_string()],
            flags,
            cleanup: false,
        };
        if let Some(e) = self.jail8(&req, report).errors.into_iter().next() {
            return Err(e);
        }
        jail.jid = None;
        jail.state = State::Stopped;
        Ok(jail)
    }

    /// Stop jail `name` whose runtime state `broken` cannot be read: end
    /// its processes and remove its runtime as a clean-up does, warn with
    /// the broken file's error, and fail only with what is left.
    fn stop_broken(&self, name: &str, broken: Error, report: &mut dyn Report) -> Result<Jail> {
        let _lock = JailLock::acquire(&self.paths, name)?;
        report.warn(&format!(
            "{name}: {broken}: its processes are ended through its cgroup"
        ));
        self.backend.clean(name, None)?;
        Ok(stopped(name))
    }

    /// `jmk stop` of a jail that does not run: clean what a killed start
    /// or stop left of it (and succeed), else say it is not running (a
    /// defined jail) or not found.
    fn clean_stopped(&self, name: &str) -> Result<Jail> {
        let lock = JailLock::acquire(&self.paths, name)?;
        if self.paths.run_jail_dir(name).exists() && self.running(name)?.is_none() {
            self.backend.clean(name, None)?;
            return Ok(stopped(name));
        }
        let defined = self.paths.jail_conf(name).exists()
            || Config::load_for(&self.paths, name).is_ok_and(|c| c.get(name).is_some());
        if defined {
            return Err(not_running(name));
        }
        lock.remove_file();
        Err(Error::NotFound(format!("jail \"{name}\" not found")))
    }

    /// Stop jail `name` (its lock held), running its stop hooks.
    pub(super) fn stop_locked(&self, name: &str, def: &Jail) -> Result<()> {
        let jail = self.running(name)?.ok_or_else(|| not_running(name))?;
        let mut quiet = sequence::Quiet;
        let mut seq = sequence::Sequence::new(
            self.backend(),
            &mut quiet,
            Flags {
                quiet: true,
                ..Flags::default()
            },
        )
        .with_forwards(&self.paths);
        let def = seq.effective(def)?;
        seq.remove(&jail, Some(&def))
    }

    /// Stop jail `name` if it runs, then start it.
    pub fn restart(&self, name: &str) -> Result<Started> {
        self.restart_with(name, &mut sequence::Quiet)
    }

    /// [`Jkit::restart`], with warnings given to `report`.
    pub fn restart_with(&self, name: &str, report: &mut dyn Report) -> Result<Started> {
        if self.running(name)?.is_some() {
            self.stop_with(name, report)?;
        }
        self.start_with(name, report)
    }
}

/// The error of a stop of jail `name`, defined but not running.
fn not_running(name: &str) -> Error {
    Error::NotFound(format!("jail \"{name}\" is not running"))
}

/// Jail `name` as a stop leaves it, when its definition is not read.
fn stopped(name: &str) -> Jail {
    Jail {
        name: name.to_string(),
        jid: None,
        state: State::Stopped,
        params: Params::new(),
    }
}

/// The running jails that noted, when they started, that they depend on
/// jail `name` (see [`note_dependent`]); a note of a jail stopped since
/// without its stop removing it (a kill) names a jail that is not running,
/// which a stop then passes over.
fn dependents(paths: &Paths, name: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(paths.dependents_dir(name)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| name::validate(n).is_ok())
        .collect();
    names.sort();
    names
}

/// Note that jail `name`, now running, depends on each of `depends`.
pub(super) fn note_dependent(paths: &Paths, name: &str, depends: &[String]) -> Result<()> {
    for d in depends.iter().filter(|d| name::validate(d).is_ok()) {
        let dir = paths.dependents_dir(d);
        fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))?;
        let note = dir.join(name);
        fs::write(&note, b"").what(|| format!("write {}", note.display()))?;
    }
    Ok(())
}

/// Drop the notes of [`note_dependent`] once jail `name` has stopped.
pub(super) fn forget_dependent(paths: &Paths, name: &str, depends: &[String]) -> Result<()> {
    for d in depends.iter().filter(|d| name::validate(d).is_ok()) {
        let dir = paths.dependents_dir(d);
        super::remove_if_present(&dir.join(name))?;
        // Empty now unless another jail depends on `d` too.
        let _ = fs::remove_dir(&dir);
    }
    Ok(())
}
