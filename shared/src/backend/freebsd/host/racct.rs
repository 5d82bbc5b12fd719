//! rctl on FreeBSD: the kernel's five rctl system calls, with jail rules
//! also kept beside the jail's definition ([`crate::rctl::store`]) so that
//! they are applied again at every start, and FreeBSD's messages when the
//! kernel has no racct or has it disabled.

use nix::errno::Errno;

use super::sys::{self, RctlCall};
use crate::backend::Racct;
use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::rctl::{Filter, RctlError, Rule, SubjectType, Usage, store};

/// rctl over the FreeBSD kernel.
#[derive(Debug, Clone)]
pub struct FreeBsdRacct {
    paths: Paths,
}

impl FreeBsdRacct {
    /// rctl for the jails defined under `paths`.
    pub fn new(paths: Paths) -> Self {
        FreeBsdRacct { paths }
    }

    fn call(&self, call: RctlCall, text: &str) -> Result<String, RctlError> {
        sys::rctl(call, text).map_err(|e| match e {
            Errno::ENOSYS => match racct_state() {
                Some(msg) => RctlError::Unavailable(msg.into()),
                None => RctlError::from_errno(e as i32),
            },
            e => RctlError::from_errno(e as i32),
        })
    }

    /// Whether jail `name` has a definition here to keep rules beside.
    fn defined(&self, name: &str) -> bool {
        crate::model::name::validate(name).is_ok() && self.paths.jail_conf(name).exists()
    }
}

/// Why racct cannot be used, in rctl(8)'s words, or `None` when it is
/// enabled (`kern.racct.enable`).
fn racct_state() -> Option<&'static str> {
    match sys::sysctl_oid("kern.racct.enable").and_then(|oid| sys::sysctl_read(&oid)) {
        Err(Errno::ENOENT) => {
            Some("RACCT/RCTL support not present in kernel; see rctl(8) for details")
        }
        Ok(v) if v.iter().all(|b| *b == 0) => {
            Some("RACCT/RCTL present, but disabled; enable using kern.racct.enable=1 tunable")
        }
        _ => None,
    }
}

/// The rules of a comma-separated kernel list.
fn parse_rules(text: &str) -> Result<Vec<Rule>, RctlError> {
    text.split(',')
        .filter(|r| !r.is_empty())
        .map(|r| {
            Rule::parse(r).map_err(|e| {
                RctlError::Failed(format!("unexpected rule from the kernel: {r}: {e}"))
            })
        })
        .collect()
}

impl Racct for FreeBsdRacct {
    fn add_rule(&self, text: &str) -> Result<(), RctlError> {
        self.call(RctlCall::AddRule, text)?;
        let rule = Rule::parse(text)?;
        if rule.subject == SubjectType::Jail && self.defined(&rule.id) {
            let _lock = store::lock(&self.paths, &rule.id)?;
            let mut rules = store::read(&self.paths, &rule.id)?;
            let name = rule.id.clone();
            store::insert(&mut rules, rule);
            store::write(&self.paths, &name, &rules)?;
        }
        Ok(())
    }

    fn remove_rule(&self, text: &str) -> Result<(), RctlError> {
        let kernel = self.call(RctlCall::RemoveRule, text);
        let f = Filter::parse(text)?;
        let names = match (f.subject, &f.id) {
            (Some(s), _) if s != SubjectType::Jail => Vec::new(),
            (_, Some(id)) => vec![id.clone()],
            _ => store::jails(&self.paths)?,
        };
        let mut kept_removed = false;
        for name in names.iter().filter(|n| self.defined(n)) {
            let _lock = store::lock(&self.paths, name)?;
            let mut rules = store::read(&self.paths, name)?;
            let before = rules.len();
            rules.retain(|r| !f.matches(r));
            if rules.len() != before {
                kept_removed = true;
                store::write(&self.paths, name, &rules)?;
            }
        }
        match kernel {
            Err(RctlError::NoSuch) if kept_removed => Ok(()),
            other => other.map(drop),
        }
    }

    fn get_rules(&self, text: &str) -> Result<Vec<Rule>, RctlError> {
        parse_rules(&self.call(RctlCall::GetRules, text)?)
    }

    fn get_racct(&self, text: &str) -> Result<Usage, RctlError> {
        Usage::parse_kernel(&self.call(RctlCall::GetRacct, text)?)
    }

    fn get_limits(&self, text: &str) -> Result<Vec<Rule>, RctlError> {
        parse_rules(&self.call(RctlCall::GetLimits, text)?)
    }

    fn forget_jail(&self, name: &str) {
        // None left, or no racct in this kernel: nothing to remove.
        let _ = self.remove_rule(&format!("jail:{name}:"));
    }
}

/// Give the kernel jail `name`'s kept rules again (at start; the kernel
/// replaces identical ones).
pub fn apply_stored(paths: &Paths, name: &str) -> Result<()> {
    let rules = store::read(paths, name)?;
    let racct = FreeBsdRacct::new(paths.clone());
    for rule in rules {
        racct
            .call(RctlCall::AddRule, &rule.to_string())
            .map_err(|e| Error::Config(format!("{name}: rctl rule {rule}: {e}")))?;
    }
    Ok(())
}
