//! rctl(8): resource rules and accounting.
//!
//! - [`names`]: resources (in kernel order), actions, subject types;
//! - [`amount`]: `expand_number` and `humanize_number`, exact integers;
//! - [`rule`]: the rule grammar, filters and matching;
//! - [`usage`]: per-resource figures as `rctl -u` prints them;
//! - [`store`]: jail rules kept beside the jail's definition;
//! - [`cmd`]: the rctl command itself, over any [`Racct`];
//! - [`Racct`]: what a platform provides, with FreeBSD's five system calls
//!   as its model (the FreeBSD backend calls them, the Linux backend
//!   enforces jail rules through cgroups and rlimits).

pub mod amount;
pub mod cmd;
pub mod names;
pub mod rule;
pub mod store;
pub mod usage;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use names::{Action, Resource, SubjectType};
pub use rule::{Filter, Rule};
pub use usage::Usage;

use crate::paths::Paths;

/// Why an rctl request failed. The errno-like variants print FreeBSD's
/// `strerror` text, so messages read as FreeBSD's rctl prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RctlError {
    /// EINVAL: the rule or filter is incomplete or names something unknown.
    Invalid,
    /// EOPNOTSUPP: the kernel does not take this combination.
    NotSupported,
    /// ERANGE: the amount is too large.
    Range,
    /// ESRCH: no such process, or no rule matched.
    NoSuch,
    /// EPERM: not allowed (non-root, or inside a jail).
    Permission,
    /// Another errno from the kernel (the platform's number).
    Os(i32),
    /// Something this platform cannot enforce, with the reason.
    Unsupported(String),
    /// A failure of jkit's own (state files, cgroup files), with the reason.
    Failed(String),
    /// No resource accounting at all (FreeBSD without racct): rctl's
    /// message, which ends the command with status 1.
    Unavailable(String),
}

impl fmt::Display for RctlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RctlError::Invalid => f.write_str("Invalid argument"),
            RctlError::NotSupported => f.write_str("Operation not supported"),
            RctlError::Range => f.write_str("Result too large"),
            RctlError::NoSuch => f.write_str("No such process"),
            RctlError::Permission => f.write_str("Operation not permitted"),
            RctlError::Os(e) => f.write_str(&strerror(*e)),
            RctlError::Unsupported(m) | RctlError::Failed(m) | RctlError::Unavailable(m) => {
                f.write_str(m)
            }
        }
    }
}

impl From<crate::Error> for RctlError {
    fn from(e: crate::Error) -> Self {
        RctlError::Failed(e.to_string())
    }
}

impl RctlError {
    /// The error for errno `e` as the kernel returned it.
    pub fn from_errno(e: i32) -> Self {
        match e {
            libc::EINVAL => RctlError::Invalid,
            libc::EOPNOTSUPP => RctlError::NotSupported,
            libc::ERANGE => RctlError::Range,
            libc::ESRCH => RctlError::NoSuch,
            libc::EPERM => RctlError::Permission,
            e => RctlError::Os(e),
        }
    }
}

/// FreeBSD's text for the errnos rctl meets; the platform's for others.
fn strerror(e: i32) -> String {
    match e {
        libc::E2BIG => "Argument list too long".into(),
        libc::ENOSYS => "Function not implemented".into(),
        libc::ENOMEM => "Cannot allocate memory".into(),
        libc::EFAULT => "Bad address".into(),
        libc::ENAMETOOLONG => "File name too long".into(),
        libc::EBUSY => "Device busy".into(),
        e => {
            let s = std::io::Error::from_raw_os_error(e).to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

/// What a platform provides, shaped like FreeBSD's five system calls: each
/// takes rule or filter text as rctl passes it to the kernel (abbreviations
/// expanded, users as uids, amounts as plain integers).
pub trait Racct {
    /// `rctl_add_rule(2)`: add a rule (replacing an identical one, and for
    /// `deny` one that differs only in amount).
    fn add_rule(&self, rule: &str) -> Result<(), RctlError>;
    /// `rctl_remove_rule(2)`: remove every rule the filter matches; ESRCH
    /// when none does.
    fn remove_rule(&self, filter: &str) -> Result<(), RctlError>;
    /// `rctl_get_rules(2)`: the rules the filter matches, in listing order.
    fn get_rules(&self, filter: &str) -> Result<Vec<Rule>, RctlError>;
    /// `rctl_get_racct(2)`: the usage of the filter's subject.
    fn get_racct(&self, filter: &str) -> Result<Usage, RctlError>;
    /// `rctl_get_limits(2)`: the rules that apply to the filter's process.
    fn get_limits(&self, filter: &str) -> Result<Vec<Rule>, RctlError>;
}

/// The racct of the platform this binary runs on, with jail rules kept
/// under `paths`.
pub fn native(paths: &Paths) -> Box<dyn Racct> {
    #[cfg(target_os = "linux")]
    {
        Box::new(crate::backend::linux::racct::LinuxRacct::new(paths.clone()))
    }
    #[cfg(target_os = "freebsd")]
    {
        Box::new(crate::backend::freebsd::racct::FreeBsdRacct::new(
            paths.clone(),
        ))
    }
    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    {
        let _ = paths;
        Box::new(Unavailable)
    }
}

/// Remove every rule of jail `name` (when the jail is destroyed): its
/// rules file, and on FreeBSD the kernel's rules for it.
pub fn forget_jail(paths: &Paths, name: &str) -> crate::Result<()> {
    store::forget(paths, name)?;
    #[cfg(target_os = "freebsd")]
    {
        // None left, or no racct in this kernel: nothing to remove.
        let _ = native(paths).remove_rule(&format!("jail:{name}:"));
    }
    Ok(())
}

/// Where neither FreeBSD nor Linux runs: every call fails.
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
#[derive(Debug)]
struct Unavailable;

#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
impl Racct for Unavailable {
    fn add_rule(&self, _: &str) -> Result<(), RctlError> {
        Err(RctlError::Os(libc::ENOSYS))
    }
    fn remove_rule(&self, _: &str) -> Result<(), RctlError> {
        Err(RctlError::Os(libc::ENOSYS))
    }
    fn get_rules(&self, _: &str) -> Result<Vec<Rule>, RctlError> {
        Err(RctlError::Os(libc::ENOSYS))
    }
    fn get_racct(&self, _: &str) -> Result<Usage, RctlError> {
        Err(RctlError::Os(libc::ENOSYS))
    }
    fn get_limits(&self, _: &str) -> Result<Vec<Rule>, RctlError> {
        Err(RctlError::Os(libc::ENOSYS))
    }
}

/// One rule, as one line of `jrctl --json` (listing, `-l`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleRecord {
    /// The rule in rctl's syntax, amount exact.
    pub rule: String,
    /// The subject type.
    pub subject: SubjectType,
    /// The subject id (a user's name unless `-n`).
    pub id: String,
    /// The resource.
    pub resource: Resource,
    /// The action.
    pub action: Action,
    /// The amount, exact, in the resource's unit.
    pub amount: u64,
    /// What the amount counts by.
    pub per: SubjectType,
}

impl RuleRecord {
    /// The record of `rule`.
    pub fn of(rule: &Rule) -> Self {
        RuleRecord {
            rule: rule.to_string(),
            subject: rule.subject,
            id: rule.id.clone(),
            resource: rule.resource,
            action: rule.action,
            amount: rule.amount,
            per: rule.per,
        }
    }
}

/// The usage of one subject, as one line of `jrctl --json -u`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageRecord {
    /// The subject type.
    pub subject: SubjectType,
    /// The subject id.
    pub id: String,
    /// Every figure, by resource name, in the kernel's order.
    pub usage: Usage,
}
