//! One check of a jail's definition, run by `jmk create`, `jmk start`,
//! jtpl's CONFIG and jail(8) mode alike, so that what one accepts the
//! others accept too: a definition `jmk create` writes can start.

use crate::backend::mounts::MountEntry;
use crate::backend::{Backend, Support};
use crate::error::{Error, Result};
use crate::model::Jail;

/// The integer parameters whose negative values mean nothing, with the
/// largest value each takes where it has one.
const NON_NEGATIVE: &[(&str, Option<i64>)] = &[
    ("children.max", None),
    ("devfs_ruleset", None),
    ("enforce_statfs", Some(2)),
    ("exec.fib", None),
    ("exec.timeout", None),
    ("host.hostid", None),
    ("jkit.idbase", Some(u32::MAX as i64)),
    ("stop.timeout", None),
];

/// The longest host or domain name (FreeBSD's MAXHOSTNAMELEN less its
/// terminating NUL); the backend may allow fewer.
const NAME_MAX: usize = 255;

/// Refuse definition `def` if `backend` could not start it, as far as that
/// can be told without starting it. Errors name the parameter.
pub fn definition(backend: &dyn Backend, def: &Jail) -> Result<()> {
    let p = &def.params;
    for (name, value) in p.iter() {
        if let Support::No(why) = backend.support(name, value) {
            return Err(Error::Config(format!("{name}: {why}")));
        }
    }
    for &(name, max) in NON_NEGATIVE {
        if let Some(n) = p.int(name) {
            if n < 0 || max.is_some_and(|m| n > m) {
                let range = max.map_or("0 or more".to_string(), |m| format!("0 to {m}"));
                return Err(Error::Config(format!("{name}: {n}: must be {range}")));
            }
        }
    }
    for name in ["host.hostname", "host.domainname"] {
        if let Some(text) = p.str(name) {
            if let Some(c) = text.chars().find(|c| c.is_control()) {
                return Err(Error::Config(format!(
                    "{name}: {text:?}: holds the control character {c:?}"
                )));
            }
            if text.len() > NAME_MAX {
                return Err(Error::Config(format!(
                    "{name}: {} bytes: longer than {NAME_MAX}",
                    text.len()
                )));
            }
        }
    }
    for line in p.list("mount") {
        MountEntry::parse(line).map_err(|e| Error::Config(format!("mount: {e}")))?;
    }
    backend.check_startable(def)
}
