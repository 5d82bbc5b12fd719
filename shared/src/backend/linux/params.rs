//! Which jail parameters mean something on Linux: what the namespaces,
//! the capability set, the mounts and jmk's own steps make of them. The
//! rest is accepted and ignored (FreeBSD-only knobs such as `exec.fib`), or refused when the jail would not be what it asks for
//! (ZFS datasets, read-only parameters).

use crate::backend::Support;
use crate::model::{JailSys, Value, param};

/// The `allow.*` permissions the capability set grants or takes away (see
/// `caps`), and those a Linux jail's root has anyway.
const ALLOW_GRANTED: &[&str] = &[
    "allow.raw_sockets",
    "allow.mount",
    "allow.mlock",
    "allow.chflags",
    "allow.settime",
    "allow.adjtime",
    "allow.suser",
];
const ALLOW_ALWAYS: &[&str] = &["allow.reserved_ports"];

/// What Linux does with parameter `name` set to `value`.
pub fn support(name: &str, value: &Value) -> Support {
    let truthy = value.as_bool().unwrap_or(true);
    let empty = value.as_list().is_some_and(<[String]>::is_empty);
    match name {
        "name" | "path" | "host" | "host.hostname" | "persist" | "children.max" | "ip4" | "ip6"
        | "ip4.addr" | "ip6.addr" | "vnet" | "vnet.interface" | "securelevel" => Support::Yes,
        "zfs.dataset" if !empty => {
            Support::No("ZFS datasets cannot be handed to a jail on Linux".into())
        }
        "sysvmsg" | "sysvsem" | "sysvshm" if value == &Value::Sys(JailSys::New) => Support::Yes,
        // /dev/fd comes with mount.devfs; the jail's addresses are on its
        // own veth, not aliases on a host interface.
        "mount.fdescfs" | "exec.fib" | "interface" if truthy => Support::Ignored,
        n if ALLOW_GRANTED.contains(&n) => Support::Yes,
        n if ALLOW_ALWAYS.contains(&n) => {
            if truthy {
                Support::Yes
            } else {
                Support::Ignored
            }
        }
        // Not granted: the default of a Linux jail (denied) is what is asked.
        n if n.starts_with("allow.") && !truthy => Support::Yes,
        n => match param::spec(n).map(|s| s.access) {
            Some(param::Access::Pseudo) if n != "allow.dying" => Support::Yes,
            Some(param::Access::ReadOnly) => Support::No("read-only parameter".into()),
            _ => Support::Ignored,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_parameters() {
        let yes = |n: &str, v: Value| assert_eq!(support(n, &v), Support::Yes, "{n}");
        let ignored = |n: &str, v: Value| assert_eq!(support(n, &v), Support::Ignored, "{n}");
        yes("host.hostname", Value::Str("h".into()));
        yes("exec.start", Value::List(vec!["x".into()]));
        yes("exec.timeout", Value::Int(3));
        yes("mount.devfs", Value::Bool(true));
        yes("mount.fdescfs", Value::Bool(false));
        yes("allow.raw_sockets", Value::Bool(true));
        yes("allow.sysvipc", Value::Bool(false));
        yes("ip4", Value::Sys(JailSys::Inherit));
        yes("ip4.addr", Value::Ip4(vec!["10.213.0.2".into()]));
        yes("vnet", Value::Sys(JailSys::New));
        yes("jkit.bridge", Value::Str("jkit0".into()));
        yes("zfs.dataset", Value::List(Vec::new()));
        ignored("interface", Value::Str("em0".into()));
        yes("securelevel", Value::Int(3));
        ignored("exec.fib", Value::Int(1));
        ignored("mount.fdescfs", Value::Bool(true));
        ignored("allow.sysvipc", Value::Bool(true));
        yes("allow.suser", Value::Bool(false));
        ignored("devfs_ruleset", Value::Int(4));
        ignored("allow.dying", Value::Bool(true));
        assert!(matches!(
            support("zfs.dataset", &Value::List(vec!["t/j".into()])),
            Support::No(_)
        ));
        assert!(matches!(
            support("dying", &Value::Bool(true)),
            Support::No(_)
        ));
    }
}
