//! rctl(8): resource rules and accounting.
//!
//! - [`names`]: resources (in kernel order), actions, subject types;
//! - [`amount`]: `expand_number` and `humanize_number`, exact integers;
//! - [`rule`]: the rule grammar, filters and matching;
//! - [`usage`]: per-resource figures as `rctl -u` prints them;
//! - [`store`]: jail rules kept beside the jail's definition;
//! - [`RctlError`]: why a request failed, in FreeBSD's words.
//!
//! What a platform provides is `backend::Racct`; the rctl command itself
//! is `crate::jrctl`; its JSON records are in `crate::wire`.

pub mod amount;
pub mod names;
pub mod rule;
pub mod store;
pub mod usage;

use std::fmt;

pub use names::{Action, Resource, SubjectType};
pub use rule::{Filter, Rule};
pub use usage::Usage;

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
    /// Something only this platform cannot do, with the reason: printed
    /// as the kernel's EOPNOTSUPP, as rctl prints a refusal (the reasons
    /// are listed in the docs; [`RctlError::reason`] gives it).
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
            RctlError::NotSupported | RctlError::Unsupported(_) => {
                f.write_str("Operation not supported")
            }
            RctlError::Range => f.write_str("Result too large"),
            RctlError::NoSuch => f.write_str("No such process"),
            RctlError::Permission => f.write_str("Operation not permitted"),
            RctlError::Os(e) => f.write_str(&crate::error::strerror(*e)),
            RctlError::Failed(m) | RctlError::Unavailable(m) => f.write_str(m),
        }
    }
}

impl From<crate::Error> for RctlError {
    fn from(e: crate::Error) -> Self {
        RctlError::Failed(e.to_string())
    }
}

impl RctlError {
    /// Why this platform refuses what FreeBSD's kernel would take, for a
    /// refusal of [`RctlError::Unsupported`].
    pub fn reason(&self) -> Option<&str> {
        match self {
            RctlError::Unsupported(why) => Some(why),
            _ => None,
        }
    }

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
