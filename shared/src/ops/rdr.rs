//! `jmk rdr`: a jail's port forwarding (Bastille's `rdr`). The rules are
//! kept beside its definition, in `CONF/NAME.rdr`; the backend applies
//! them while the jail runs: at its start, and at once when they change
//! while it runs. Every change is checked first (the jail has an address
//! of the rule's family, no other jail forwards the port, no host process
//! listens on it) and changes nothing when refused.

use std::fs;
use std::io;

use super::Jkit;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::lock::JailLock;
use crate::model::rdr::{Action, Rule, Targets, parse_rules};
use crate::model::{Jail, name};
use crate::paths::Paths;
use crate::wire::RdrRecord;

/// The rules kept for jail `name` (none when it has no rules file).
fn load(paths: &Paths, name: &str) -> Result<Vec<Rule>> {
    let file = paths.rdr_file(name);
    match fs::read_to_string(&file) {
        Ok(text) => {
            parse_rules(&text).map_err(|e| Error::BadData(format!("{}: {e}", file.display())))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::at("read", &file, e)),
    }
}

fn save(paths: &Paths, name: &str, rules: &[Rule]) -> Result<()> {
    let file = paths.rdr_file(name);
    if rules.is_empty() {
        return super::remove_if_present(&file);
    }
    let text: String = rules.iter().map(|r| format!("{r}\n")).collect();
    // A jail of jail.conf may have no definitions directory yet.
    fs::create_dir_all(&paths.conf_dir).map_err(|e| Error::at("mkdir", &paths.conf_dir, e))?;
    crate::fsio::write_durable(&file, text.as_bytes())
}

/// Refuse `rules` of jail `name` that take a host port another jail of
/// `others` forwards, or that a host process listens on.
fn check_host_ports(
    paths: &Paths,
    backend: &dyn Backend,
    name: &str,
    rules: &[Rule],
    others: &[String],
) -> Result<()> {
    for other in others.iter().filter(|o| *o != name) {
        for theirs in load(paths, other)? {
            if let Some(r) = rules.iter().find(|r| r.overlaps(&theirs)) {
                return Err(Error::Exists(format!(
                    "host port {}/{} is already forwarded to jail \"{other}\" ({theirs})",
                    r.proto.as_str(),
                    r.host
                )));
            }
        }
    }
    for r in rules {
        if let Some(owner) = backend.port_listener(r.proto, r.host)? {
            return Err(Error::Exists(owner));
        }
    }
    Ok(())
}

/// The names of the jails that have a rules file.
fn with_rules(paths: &Paths) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(&paths.conf_dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let f = e.file_name().to_string_lossy().into_owned();
                    f.strip_suffix(".rdr").map(str::to_string)
                })
                .filter(|n| name::validate(n).is_ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

impl Jkit {
    /// `jmk rdr NAME ...`: do `action` to jail `name`'s port forwarding;
    /// returns its rules as they now are (`list`), or none.
    pub fn rdr(&self, name: &str, action: &Action) -> Result<Vec<RdrRecord>> {
        name::validate(name)?;
        // Its definition: NAME.conf, or jail.conf's.
        let config = super::Config::load_for(&self.paths, name)?;
        let def = config
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("jail \"{name}\" not found")))?
            .typed()?;
        let _lock = JailLock::acquire(&self.paths, name)?;
        let running = self.running(name)?;
        let mut rules = load(&self.paths, name)?;
        let new = match action {
            Action::List => {
                let targets = running.as_ref().map(Targets::of).unwrap_or_default();
                return Ok(rules
                    .iter()
                    .map(|r| {
                        let to = targets.for_rule(r).iter().map(|a| a.to_string()).collect();
                        RdrRecord::of(name, r, to)
                    })
                    .collect());
            }
            Action::Clear => Vec::new(),
            Action::Remove(proto, ports, opts) => {
                let before = rules.len();
                rules.retain(|r| !r.matches(*proto, *ports, opts));
                if rules.len() == before {
                    return Err(Error::NotFound(format!(
                        "jail \"{name}\" forwards no host port {}/{ports}",
                        proto.as_str()
                    )));
                }
                rules
            }
            Action::Add(rule) => {
                if let Some(had) = rules.iter().find(|r| r.overlaps(rule)) {
                    return Err(Error::Exists(format!(
                        "host port {}/{} is already forwarded to jail \"{name}\" ({had})",
                        rule.proto.as_str(),
                        rule.host
                    )));
                }
                Targets::of(running.as_ref().unwrap_or(&def))
                    .check(name, std::slice::from_ref(rule))?;
                check_host_ports(
                    &self.paths,
                    self.backend(),
                    name,
                    std::slice::from_ref(rule),
                    &with_rules(&self.paths),
                )?;
                rules.push(rule.clone());
                rules
            }
        };
        if let Some(jail) = &running {
            self.backend().redirect(name, &Targets::of(jail), &new)?;
        }
        save(&self.paths, name, &new)?;
        Ok(Vec::new())
    }
}

/// The rules jail `def` forwards when it starts, checked: it has the
/// addresses, no running jail forwards their ports, no host process
/// listens on them.
pub(crate) fn for_start(paths: &Paths, backend: &dyn Backend, def: &Jail) -> Result<Vec<Rule>> {
    let rules = load(paths, &def.name)?;
    if rules.is_empty() {
        return Ok(rules);
    }
    Targets::of(def).check(&def.name, &rules)?;
    // A jail whose state is unreadable is not running as far as its
    // ports go: its stop mends it.
    let (running, _) = backend.list_readable(false);
    let running: Vec<String> = running.into_iter().map(|j| j.name).collect();
    check_host_ports(paths, backend, &def.name, &rules, &running)?;
    Ok(rules)
}
