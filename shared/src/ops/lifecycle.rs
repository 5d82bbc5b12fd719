//! `jmk start`, `stop` and `restart`: jail(8)'s creation and removal
//! sequences for one defined jail, under its lock.

use super::{Config, Flags, Jails, Jkit, Op, Report, Request, sequence};
use crate::backend::Started;
use crate::error::{Error, Result};
use crate::model::{Jail, State, name};

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
            return Err(e);
        }
        summary
            .created
            .into_iter()
            .map(|c| c.started)
            .find(|s| s.jail.name == name)
            .ok_or_else(|| Error::Software(format!("{name}: not started")))
    }

    /// Stop jail `name` as `jmk -r NAME` does (the jails that depend on it
    /// first); returns it as it now is (stopped).
    pub fn stop(&self, name: &str) -> Result<Jail> {
        self.stop_with(name, &mut sequence::Quiet)
    }

    /// [`Jkit::stop`], with warnings given to `report`.
    pub fn stop_with(&self, name: &str, report: &mut dyn Report) -> Result<Jail> {
        name::validate(name)?;
        let config = self.configuration()?;
        let mut jail = match config.get(name) {
            Some(c) => c.typed()?,
            None => self
                .running(name)?
                .ok_or_else(|| Error::NotFound(format!("jail \"{name}\" is not running")))?,
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

    /// Stop jail `name` (its lock held), running its stop hooks.
    pub(super) fn stop_locked(&self, name: &str, def: &Jail) -> Result<()> {
        let jail = self
            .running(name)?
            .ok_or_else(|| Error::NotFound(format!("jail \"{name}\" is not running")))?;
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
