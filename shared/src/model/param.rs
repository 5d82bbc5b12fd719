//! Typed jail parameters: the table of known parameters (kernel ones and
//! jail(8)'s pseudo-parameters), their kinds, and conversion from the text
//! forms used by jail.conf and the command line.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

/// The type of a parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A decimal integer.
    Int,
    /// A string; given several values, the last one counts.
    Str,
    /// A boolean, also spelled with the `no` prefix.
    Bool,
    /// `disable` / `new` / `inherit` (FreeBSD's jailsys type).
    Sys,
    /// A list of IPv4 addresses (jail.conf's `iface|addr/mask` forms allowed).
    Ip4,
    /// A list of IPv6 addresses.
    Ip6,
    /// A list of strings (commands, mount entries, names).
    List,
}

/// When a parameter may be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Settable at any time.
    ReadWrite,
    /// Settable only when the jail is created.
    CreateOnly,
    /// Reported by the kernel, never set.
    ReadOnly,
    /// Handled by jail(8)/jmk, never passed to the kernel.
    Pseudo,
}

/// What jkit knows of one parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The canonical (positive) name.
    pub name: &'static str,
    /// Its value type.
    pub kind: Kind,
    /// Whether and when it may be set.
    pub access: Access,
}

const fn p(name: &'static str, kind: Kind, access: Access) -> Spec {
    Spec { name, kind, access }
}

use Access::{CreateOnly as CT, Pseudo as PS, ReadOnly as RO, ReadWrite as RW};
use Kind::{Bool, Int, Ip4, Ip6, List, Str, Sys};

/// Every parameter jkit accepts, kernel parameters first, in FreeBSD's
/// `jls all` order (undotted names, then dotted, each in byte order).
pub static KERNEL_PARAMS: &[Spec] = &[
    p("devfs_ruleset", Int, RW),
    p("dying", Bool, RO),
    p("enforce_statfs", Int, RW),
    p("env", Str, RW),
    p("host", Sys, RW),
    p("ip4", Sys, RW),
    p("ip6", Sys, RW),
    p("jid", Int, CT),
    p("linux", Sys, RW),
    p("meta", Str, RW),
    p("name", Str, RW),
    p("osreldate", Int, CT),
    p("osrelease", Str, CT),
    p("parent", Int, RO),
    p("path", Str, CT),
    p("persist", Bool, RW),
    p("securelevel", Int, RW),
    p("sysvmsg", Sys, RW),
    p("sysvsem", Sys, RW),
    p("sysvshm", Sys, RW),
    p("vnet", Sys, CT),
    p("allow.adjtime", Bool, RW),
    p("allow.chflags", Bool, RW),
    p("allow.extattr", Bool, RW),
    p("allow.mlock", Bool, RW),
    p("allow.mount", Bool, RW),
    p("allow.mount.devfs", Bool, RW),
    p("allow.mount.fdescfs", Bool, RW),
    p("allow.mount.fusefs", Bool, RW),
    p("allow.mount.linprocfs", Bool, RW),
    p("allow.mount.linsysfs", Bool, RW),
    p("allow.mount.nullfs", Bool, RW),
    p("allow.mount.procfs", Bool, RW),
    p("allow.mount.tmpfs", Bool, RW),
    p("allow.mount.zfs", Bool, RW),
    p("allow.nfsd", Bool, RW),
    p("allow.quotas", Bool, RW),
    p("allow.raw_sockets", Bool, RW),
    p("allow.read_msgbuf", Bool, RW),
    p("allow.reserved_ports", Bool, RW),
    p("allow.routing", Bool, RW),
    p("allow.set_hostname", Bool, RW),
    p("allow.setaudit", Bool, RW),
    p("allow.settime", Bool, RW),
    p("allow.socket_af", Bool, RW),
    p("allow.suser", Bool, RW),
    p("allow.sysvipc", Bool, RW),
    p("allow.unprivileged_parent_tampering", Bool, RW),
    p("allow.unprivileged_proc_debug", Bool, RW),
    p("allow.vmm", Bool, RW),
    p("children.cur", Int, RO),
    p("children.max", Int, RW),
    p("cpuset.id", Int, RO),
    p("host.domainname", Str, RW),
    p("host.hostid", Int, RW),
    p("host.hostname", Str, RW),
    p("host.hostuuid", Str, RW),
    p("ip4.addr", Ip4, RW),
    p("ip4.saddrsel", Bool, RW),
    p("ip6.addr", Ip6, RW),
    p("ip6.saddrsel", Bool, RW),
    p("linux.osname", Str, RW),
    p("linux.osrelease", Str, RW),
    p("linux.oss_version", Int, RW),
    p("mac.label", Str, RW),
    p("zfs.mount_snapshot", Int, RW),
];

/// jail(8)'s pseudo-parameters: read by the tools, never passed to the kernel.
pub static PSEUDO_PARAMS: &[Spec] = &[
    p("allow.dying", Bool, PS),
    p("command", List, PS),
    p("depend", List, PS),
    p("exec.clean", Bool, PS),
    p("exec.consolelog", Str, PS),
    p("exec.created", List, PS),
    p("exec.fib", Int, PS),
    p("exec.jail_user", Str, PS),
    p("exec.poststart", List, PS),
    p("exec.poststop", List, PS),
    p("exec.prepare", List, PS),
    p("exec.prestart", List, PS),
    p("exec.prestop", List, PS),
    p("exec.release", List, PS),
    p("exec.start", List, PS),
    p("exec.stop", List, PS),
    p("exec.system_jail_user", Bool, PS),
    p("exec.system_user", Str, PS),
    p("exec.timeout", Int, PS),
    p("interface", Str, PS),
    p("ip_hostname", Bool, PS),
    // jkit's own: whether jkit.service starts the jail at boot (Linux; on
    // FreeBSD rc.conf's jail_list says it); the host bridge of a jail's
    // veth, the bridge's gateway addresses, the first host id of the
    // jail's id range, outbound NAT of the bridge's IPv4 networks, how
    // the jail's files are kept (zfs, btrfs, plain: chosen at create), the
    // jail's own user namespace (Linux).
    p("jkit.boot", Bool, PS),
    p("jkit.bridge", Str, PS),
    p("jkit.gateway", List, PS),
    p("jkit.idbase", Int, PS),
    p("jkit.nat", Bool, PS),
    p("jkit.storage", Str, PS),
    p("jkit.userns", Bool, PS),
    p("mount", List, PS),
    p("mount.devfs", Bool, PS),
    p("mount.fdescfs", Bool, PS),
    p("mount.fstab", List, PS),
    p("mount.procfs", Bool, PS),
    p("stop.timeout", Int, PS),
    p("vnet.interface", List, PS),
    p("zfs.dataset", List, PS),
];

/// Look a parameter up by its canonical name.
pub fn spec(name: &str) -> Option<&'static Spec> {
    KERNEL_PARAMS
        .iter()
        .chain(PSEUDO_PARAMS)
        .find(|s| s.name == name)
}

/// Resolve a name that may carry the `no` prefix (`nopersist`,
/// `allow.nomount`) to its spec and the boolean the prefix implies.
/// Returns `None` for an unknown name.
pub fn lookup(name: &str) -> Option<(&'static Spec, Option<bool>)> {
    if let Some(s) = spec(name) {
        return Some((s, None));
    }
    let (head, last) = match name.rfind('.') {
        Some(i) => (&name[..=i], &name[i + 1..]),
        None => ("", name),
    };
    let positive = format!("{head}{}", last.strip_prefix("no")?);
    let s = spec(&positive)?;
    (s.kind == Kind::Bool).then_some((s, Some(false)))
}

/// The `no` form of a boolean parameter's name (`persist` → `nopersist`,
/// `allow.mount` → `allow.nomount`).
pub fn negated_name(name: &str) -> String {
    match name.rfind('.') {
        Some(i) => format!("{}no{}", &name[..=i], &name[i + 1..]),
        None => format!("no{name}"),
    }
}

/// FreeBSD's jailsys values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JailSys {
    /// The facility is not available in the jail.
    Disable,
    /// The jail has its own instance.
    New,
    /// The jail shares its parent's.
    Inherit,
}

impl JailSys {
    /// The kernel's integer for this value.
    pub fn as_int(self) -> i32 {
        match self {
            JailSys::Disable => 0,
            JailSys::New => 1,
            JailSys::Inherit => 2,
        }
    }

    /// The value for a kernel integer.
    pub fn from_int(v: i64) -> Option<Self> {
        match v {
            0 => Some(JailSys::Disable),
            1 => Some(JailSys::New),
            2 => Some(JailSys::Inherit),
            _ => None,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "disable" => Some(JailSys::Disable),
            "" | "new" => Some(JailSys::New),
            "inherit" => Some(JailSys::Inherit),
            n => n.parse().ok().and_then(Self::from_int),
        }
    }
}

impl JailSys {
    /// The value's word, as jail.conf and jls write it.
    pub fn word(self) -> &'static str {
        match self {
            JailSys::Disable => "disable",
            JailSys::New => "new",
            JailSys::Inherit => "inherit",
        }
    }
}

impl fmt::Display for JailSys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A typed parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A jailsys value.
    Sys(JailSys),
    /// IPv4 entries as written (`addr`, `iface|addr/mask`).
    Ip4(Vec<String>),
    /// IPv6 entries as written.
    Ip6(Vec<String>),
    /// A list of strings.
    List(Vec<String>),
}

impl Value {
    /// Build a value of `kind` for parameter `name` from its text values, as
    /// jail.conf gives them (a valueless statement gives `flag`).
    pub fn import(name: &str, kind: Kind, values: &[String], flag: Option<bool>) -> Result<Self> {
        if let Some(b) = flag {
            return match kind {
                Kind::Bool => Ok(Value::Bool(b)),
                // `vnet;` as jail.conf files write it: a new instance.
                Kind::Sys if b => Ok(Value::Sys(JailSys::New)),
                Kind::List | Kind::Ip4 | Kind::Ip6 if b => Ok(empty_list(kind)),
                _ => Err(Error::BadData(format!("{name}: missing value"))),
            };
        }
        let last = || values.last().map(String::as_str).unwrap_or("");
        Ok(match kind {
            Kind::Int => Value::Int(parse_int(name, last())?),
            Kind::Str => Value::Str(last().to_string()),
            Kind::Bool => Value::Bool(parse_bool(name, last())?),
            Kind::Sys => Value::Sys(JailSys::parse(last()).ok_or_else(|| {
                Error::BadData(format!("{name}: unknown jailsys value \"{}\"", last()))
            })?),
            Kind::Ip4 => {
                for v in values {
                    ip4_of_entry(v).ok_or_else(|| {
                        Error::BadData(format!("{name}: not an IPv4 address: {v}"))
                    })?;
                }
                Value::Ip4(values.to_vec())
            }
            Kind::Ip6 => {
                for v in values {
                    ip6_of_entry(v).ok_or_else(|| {
                        Error::BadData(format!("{name}: not an IPv6 address: {v}"))
                    })?;
                }
                Value::Ip6(values.to_vec())
            }
            Kind::List => Value::List(values.to_vec()),
        })
    }

    /// The values as jail.conf and jls print them: one string per list
    /// element, a single string otherwise.
    pub fn export(&self) -> Vec<String> {
        match self {
            Value::Int(i) => vec![i.to_string()],
            Value::Str(s) => vec![s.clone()],
            Value::Bool(b) => vec![b.to_string()],
            Value::Sys(s) => vec![s.to_string()],
            Value::Ip4(v) => v.iter().map(|e| addr_part(e).to_string()).collect(),
            Value::Ip6(v) => v.iter().map(|e| addr_part(e).to_string()).collect(),
            Value::List(v) => v.clone(),
        }
    }

    /// The value in JSON: integers as numbers, booleans as booleans, lists
    /// as arrays, everything else as a string.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Int(i) => J::from(*i),
            Value::Bool(b) => J::Bool(*b),
            Value::Str(s) => J::String(s.clone()),
            Value::Sys(s) => J::String(s.to_string()),
            Value::Ip4(_) | Value::Ip6(_) | Value::List(_) => {
                J::Array(self.export().into_iter().map(J::String).collect())
            }
        }
    }

    /// The value of a JSON record's param, typed as `kind`.
    pub fn from_json(name: &str, kind: Kind, json: &serde_json::Value) -> Result<Self> {
        use serde_json::Value as J;
        let bad = || Error::BadData(format!("{name}: unexpected JSON value {json}"));
        let values: Vec<String> = match json {
            J::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string).ok_or_else(bad))
                .collect::<Result<_>>()?,
            J::String(s) => vec![s.clone()],
            J::Number(n) => vec![n.to_string()],
            J::Bool(b) => vec![b.to_string()],
            _ => return Err(bad()),
        };
        Value::import(name, kind, &values, None)
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The list elements, if this is a list kind.
    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::Ip4(v) | Value::Ip6(v) | Value::List(v) => Some(v),
            _ => None,
        }
    }
}

/// JSON as [`Value::to_json`] gives it, written without building it.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Value::Int(i) => s.serialize_i64(*i),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Str(v) => s.serialize_str(v),
            Value::Sys(v) => s.serialize_str(v.word()),
            Value::Ip4(v) | Value::Ip6(v) => s.collect_seq(v.iter().map(|e| addr_part(e))),
            Value::List(v) => s.collect_seq(v),
        }
    }
}

fn empty_list(kind: Kind) -> Value {
    match kind {
        Kind::Ip4 => Value::Ip4(Vec::new()),
        Kind::Ip6 => Value::Ip6(Vec::new()),
        _ => Value::List(Vec::new()),
    }
}

fn parse_int(name: &str, text: &str) -> Result<i64> {
    text.parse()
        .map_err(|_| Error::BadData(format!("{name}: non-integer value \"{text}\"")))
}

fn parse_bool(name: &str, text: &str) -> Result<bool> {
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else if let Ok(n) = text.parse::<i64>() {
        Ok(n != 0)
    } else {
        Err(Error::BadData(format!(
            "{name}: unknown boolean value \"{text}\""
        )))
    }
}

/// The bare address of a jail.conf address entry: `em0|10.0.0.1/24 up` → `10.0.0.1`.
pub fn addr_part(entry: &str) -> &str {
    let e = entry.split_once('|').map_or(entry, |(_, a)| a);
    let e = e.split_whitespace().next().unwrap_or("");
    e.split_once('/').map_or(e, |(a, _)| a)
}

/// The IPv4 address of an `ip4.addr` entry.
pub fn ip4_of_entry(entry: &str) -> Option<Ipv4Addr> {
    addr_part(entry).parse().ok()
}

/// The IPv6 address of an `ip6.addr` entry.
pub fn ip6_of_entry(entry: &str) -> Option<Ipv6Addr> {
    addr_part(entry).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn no_prefix_resolves_to_the_boolean() {
        let (spec, flag) = lookup("nopersist").unwrap();
        assert_eq!((spec.name, flag), ("persist", Some(false)));
        let (spec, flag) = lookup("allow.nomount").unwrap();
        assert_eq!((spec.name, flag), ("allow.mount", Some(false)));
        assert!(
            lookup("nopath").is_none(),
            "no prefix only applies to booleans"
        );
        assert!(lookup("bogus").is_none());
        assert_eq!(negated_name("allow.raw_sockets"), "allow.noraw_sockets");
    }

    #[test]
    fn import_types_values() {
        assert_eq!(
            Value::import("securelevel", Kind::Int, &s(&["3"]), None).unwrap(),
            Value::Int(3)
        );
        assert_eq!(
            Value::import("persist", Kind::Bool, &s(&["TRUE"]), None).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            Value::import("persist", Kind::Bool, &s(&["0"]), None).unwrap(),
            Value::Bool(false)
        );
        assert_eq!(
            Value::import("persist", Kind::Bool, &[], Some(false)).unwrap(),
            Value::Bool(false)
        );
        assert_eq!(
            Value::import("ip4", Kind::Sys, &s(&["inherit"]), None).unwrap(),
            Value::Sys(JailSys::Inherit)
        );
        let e = Value::import("persist", Kind::Bool, &s(&["maybe"]), None).unwrap_err();
        assert_eq!(e.to_string(), "persist: unknown boolean value \"maybe\"");
        let e = Value::import("securelevel", Kind::Int, &s(&["x"]), None).unwrap_err();
        assert_eq!(e.to_string(), "securelevel: non-integer value \"x\"");
        assert!(Value::import("ip4.addr", Kind::Ip4, &s(&["10.0.0.300"]), None).is_err());
    }

    #[test]
    fn address_entries_keep_their_form_but_export_bare() {
        let v = Value::import(
            "ip4.addr",
            Kind::Ip4,
            &s(&["em0|10.0.0.1/24", "10.0.0.2"]),
            None,
        )
        .unwrap();
        assert_eq!(v.export(), s(&["10.0.0.1", "10.0.0.2"]));
        assert_eq!(v.to_json(), serde_json::json!(["10.0.0.1", "10.0.0.2"]));
        assert!(ip6_of_entry("lo0|fd00:213::5/64").is_some());
    }

    #[test]
    fn serialized_values_are_their_json() {
        for v in [
            Value::Int(-3),
            Value::Str("a \"b\"".into()),
            Value::Bool(true),
            Value::Sys(JailSys::Inherit),
            Value::Ip4(s(&["em0|10.0.0.1/24", "10.0.0.2"])),
            Value::Ip6(s(&["fd00::1"])),
            Value::List(s(&["sh /etc/rc", "x"])),
            Value::List(Vec::new()),
        ] {
            assert_eq!(serde_json::to_value(&v).unwrap(), v.to_json(), "{v:?}");
        }
    }

    #[test]
    fn scalars_keep_the_last_value() {
        let v = Value::import("host.hostname", Kind::Str, &s(&["a", "b"]), None).unwrap();
        assert_eq!(v, Value::Str("b".into()));
    }

    #[test]
    fn table_is_in_jls_all_order() {
        let names: Vec<&str> = KERNEL_PARAMS.iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort_by_key(|n| (n.contains('.'), n.to_string()));
        assert_eq!(names, sorted);
    }
}
