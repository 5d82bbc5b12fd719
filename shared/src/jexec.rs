//! jexec(8)'s front: the jail operand (a jid, a name, or `-` for NDJSON
//! jail records on stdin), the jail it names, and the exit status of the
//! command that ran there.

use std::io::BufRead;

use nix::errno::Errno;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::exec::{ExecSpec, Exit, failure};
use crate::model::{Jail, JailKey, State};

/// jexec's usage message (FreeBSD prints it without the program name).
pub const USAGE: &str = "usage: jexec [-l] [-u username | -U username] jail [command ...]";

/// How jexec reads its jail operand: an all-digit string is a jid (0 is
/// the host itself), anything else a name.
pub fn jail_key(operand: &str) -> JailKey {
    if !operand.is_empty() && operand.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(jid) = operand.parse::<i64>() {
            return JailKey::Jid(jid);
        }
    }
    JailKey::Name(operand.to_string())
}

/// The running jail `key` names, or jexec's complaint: for a dying jail
/// what FreeBSD's jexec says of one (the kernel's `jail "NAME" is dying`
/// for a name; for a jid, which jexec attaches to without a lookup,
/// jail_attach's EINVAL).
pub fn resolve(backend: &dyn Backend, key: &JailKey) -> Result<Jail> {
    refuse_host(key)?;
    if let Some(jail) = backend.find(key, false)? {
        return Ok(jail);
    }
    match backend.find(key, true)? {
        Some(jail) if jail.state == State::Dying => Err(failure(match key {
            JailKey::Jid(j) => format!("jail_attach({j}): {}", Errno::EINVAL.desc()),
            JailKey::Name(n) => format!("jail \"{n}\" is dying"),
        })),
        _ => Err(not_found(key)),
    }
}

/// jail_getid("0") is the host itself, which no one attaches to.
fn refuse_host(key: &JailKey) -> Result<()> {
    if *key == JailKey::Jid(0) {
        return Err(failure(format!("jail_attach(0): {}", Errno::EINVAL.desc())));
    }
    Ok(())
}

/// jexec's complaint about a jail that does not run.
fn not_found(key: &JailKey) -> Error {
    failure(match key {
        JailKey::Jid(j) => format!("jail {j} not found"),
        JailKey::Name(n) => format!("jail \"{n}\" not found"),
    })
}

/// Run `spec` in the jail named by `operand`, or, for `-`, in each jail of
/// the NDJSON records on `stdin` in turn, stopping at the first command
/// that does not succeed. Returns how the (last) command ended.
pub fn run(
    backend: &dyn Backend,
    operand: &str,
    spec: &ExecSpec,
    stdin: impl BufRead,
) -> Result<Exit> {
    if operand != "-" {
        let key = jail_key(operand);
        refuse_host(&key)?;
        return backend.exec_key(&key, spec)?.ok_or_else(|| not_found(&key));
    }
    let mut last = Exit::Code(0);
    for key in crate::wire::read_refs(stdin)? {
        let jail = resolve(backend, &key)?;
        last = backend.exec(&jail, spec)?;
        if !last.success() {
            break;
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operands_are_jids_when_all_digits() {
        assert_eq!(jail_key("7"), JailKey::Jid(7));
        assert_eq!(jail_key("007"), JailKey::Jid(7));
        assert_eq!(jail_key("0"), JailKey::Jid(0));
        assert_eq!(jail_key("7a"), JailKey::Name("7a".into()));
        assert_eq!(jail_key("-7"), JailKey::Name("-7".into()));
        assert_eq!(jail_key(""), JailKey::Name(String::new()));
        assert_eq!(jail_key("web"), JailKey::Name("web".into()));
    }

    #[test]
    fn a_dying_jail_is_reported_as_jexec_reports_it() {
        let mut dying = crate::model::test_jail(&["path=/j/old"]);
        dying.name = "old".into();
        dying.jid = Some(4);
        dying.state = State::Dying;
        let mut live = crate::model::test_jail(&["path=/j/web"]);
        live.name = "web".into();
        live.jid = Some(5);
        live.state = State::Running;
        let b = crate::backend::fake::Fake::with_jails(vec![dying, live]);
        let err = |key: JailKey| {
            let e = resolve(&b, &key).unwrap_err();
            (e.to_string(), e.exit_code())
        };
        assert_eq!(
            err(JailKey::Name("old".into())),
            ("jail \"old\" is dying".into(), 1)
        );
        assert_eq!(
            err(JailKey::Jid(4)),
            ("jail_attach(4): Invalid argument".into(), 1)
        );
        assert_eq!(
            err(JailKey::Name("gone".into())),
            ("jail \"gone\" not found".into(), 1)
        );
        assert_eq!(resolve(&b, &JailKey::Jid(5)).unwrap().name, "web");
    }
}
