//! The host's boot and shutdown (what jkit.service runs): at boot the
//! jails whose definition sets `jkit.boot` start, with the jails they
//! depend on, dependencies first; at shutdown every running jail stops,
//! the jails that depend on a jail before it. Both are jail(8)'s `-c` and
//! `-r` over the whole configuration, so `depend` orders them as it orders
//! `jmk -c` and `jmk -r`, and a jail that fails does not stop the others.

use super::config::{ConfJail, Config};
use super::{Flags, Jails, Jkit, Op, Report, Request, Summary};
use crate::error::Result;

/// The parameter that marks a jail to start at boot.
pub const BOOT_PARAM: &str = "jkit.boot";

impl Jkit {
    /// Start the jails marked `jkit.boot` that do not run, and the jails
    /// they depend on, in dependency order. Jails already running are left
    /// as they are, so a second run starts only what is missing.
    pub fn boot(&self, report: &mut dyn Report) -> Result<Summary> {
        let config = self.configuration()?;
        let targets: Vec<String> = config
            .jails
            .iter()
            .filter(|j| marked(j) && !matches!(self.running(&j.name), Ok(Some(_))))
            .map(|j| j.name.clone())
            .collect();
        if targets.is_empty() {
            return Ok(Summary::default());
        }
        Ok(self.jail8(&request(Op::Create, config, targets), report))
    }

    /// Stop every running jail, the jails that depend on a jail first
    /// (running jails without a definition too, with no hooks). When the
    /// configuration cannot be read, that is reported and the jails are
    /// stopped all the same, without hooks or order: a shutdown must not
    /// leave them to be killed.
    pub fn shutdown(&self, report: &mut dyn Report) -> Result<Summary> {
        let targets: Vec<String> = self
            .backend()
            .list(false)?
            .into_iter()
            .map(|j| j.name)
            .collect();
        if targets.is_empty() {
            return Ok(Summary::default());
        }
        match self.configuration() {
            Ok(config) => Ok(self.jail8(&request(Op::Remove, config, targets), report)),
            Err(e) => {
                report.fail(&e);
                let mut summary = self.remove_running(&targets, flags(), report);
                summary.errors.insert(0, e);
                Ok(summary)
            }
        }
    }
}

fn request(op: Op, config: Config, targets: Vec<String>) -> Request {
    Request {
        op,
        jails: Jails::Config(config),
        targets,
        flags: flags(),
        cleanup: false,
    }
}

/// jail(8)'s messages for many jails: each creation and removal noted.
fn flags() -> Flags {
    Flags {
        note_remove: true,
        ..Flags::default()
    }
}

/// Whether a jail is marked to start at boot. A definition that does not
/// type (a bad value somewhere) but names `jkit.boot` counts as marked, so
/// that the boot reports its error instead of passing it over.
fn marked(jail: &ConfJail) -> bool {
    match jail.typed() {
        Ok(def) => def.params.flag(BOOT_PARAM),
        Err(_) => jail
            .raw
            .as_ref()
            .is_ok_and(|raw| raw.params.iter().any(|p| p.name == BOOT_PARAM)),
    }
}
