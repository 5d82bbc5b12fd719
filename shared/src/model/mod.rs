//! Jail identity, typed parameters and the in-memory jail.

pub mod name;
pub mod param;
pub mod rdr;

use std::borrow::Cow;
use std::fmt;

use crate::error::{Error, Result};
pub use param::{JailSys, Kind, Spec, Value};

/// An ordered set of typed parameters, unique by canonical name. Names of
/// the parameter table are held as its `&'static str`; only a name jkit
/// does not know (a newer FreeBSD kernel's) is copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    entries: Vec<(Cow<'static, str>, Value)>,
}

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// No parameters, with room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        Params {
            entries: Vec::with_capacity(n),
        }
    }

    /// Set `name` to `value`, replacing an earlier value in place.
    pub fn set(&mut self, name: &str, value: Value) {
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => {
                let name = param::spec(name)
                    .map_or_else(|| Cow::Owned(name.to_string()), |s| Cow::Borrowed(s.name));
                self.entries.push((name, value));
            }
        }
    }

    /// Append `name`, which the caller knows is not set yet (a builder
    /// walking the parameter table, or the kernel's list): no search, and
    /// no copy of a name of the table.
    pub fn push_new(&mut self, name: impl Into<Cow<'static, str>>, value: Value) {
        let name = name.into();
        debug_assert!(self.get(&name).is_none(), "{name} set twice");
        self.entries.push((name, value));
    }

    /// Move every parameter of `other` that is not set here to the end.
    pub fn append_missing(&mut self, other: Params) {
        for (n, v) in other.entries {
            if self.get(&n).is_none() {
                self.entries.push((n, v));
            }
        }
    }

    /// Remove `name`; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.entries.iter().position(|(n, _)| n == name)?;
        Some(self.entries.remove(i).1)
    }

    /// The parameters in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(n, v)| (n.as_ref(), v))
    }

    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A boolean parameter; false when unset.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).and_then(Value::as_bool).unwrap_or(false)
    }

    /// A string parameter.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_int)
    }

    /// A list parameter's elements; empty when unset.
    pub fn list(&self, name: &str) -> &[String] {
        self.get(name).and_then(Value::as_list).unwrap_or(&[])
    }

    /// A jailsys parameter.
    pub fn sys(&self, name: &str) -> Option<JailSys> {
        match self.get(name) {
            Some(Value::Sys(s)) => Some(*s),
            _ => None,
        }
    }

    /// Apply one command-line assignment as jail(8) takes it: `name=value`,
    /// a bare boolean `persist` / `nopersist`; list parameters split on
    /// commas and append, scalars keep the last value.
    pub fn assign(&mut self, arg: &str) -> Result<()> {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg, None),
        };
        let (spec, flag) = param::lookup(name)
            .ok_or_else(|| Error::BadData(format!("unknown parameter: {name}")))?;
        let new = match (value, flag) {
            (None, f) => Value::import(spec.name, spec.kind, &[], Some(f.unwrap_or(true)))?,
            (Some(_), Some(_)) => {
                return Err(Error::BadData(format!(
                    "{name}: a \"no\" parameter takes no value"
                )));
            }
            (Some(v), None) => match spec.kind {
                Kind::List | Kind::Ip4 | Kind::Ip6 => {
                    let items: Vec<String> = if spec.name == "command" {
                        vec![v.to_string()]
                    } else {
                        v.split(',').map(str::to_string).collect()
                    };
                    let mut all = self.list(spec.name).to_vec();
                    all.extend(items);
                    Value::import(spec.name, spec.kind, &all, None)?
                }
                _ => Value::import(spec.name, spec.kind, &[v.to_string()], None)?,
            },
        };
        self.set(spec.name, new);
        Ok(())
    }
}

/// Whether a jail runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Created in the kernel (or namespaces) and alive.
    Running,
    /// Defined but not running.
    Stopped,
    /// Being removed; still holds resources.
    Dying,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Running => "running",
            State::Stopped => "stopped",
            State::Dying => "dying",
        })
    }
}

/// A jail as the tools see it: its definition or kernel state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jail {
    /// The jail's name.
    pub name: String,
    /// The jid while it runs.
    pub jid: Option<i64>,
    /// Running, stopped or dying.
    pub state: State,
    /// Every parameter, typed (name, jid and path included when known).
    pub params: Params,
}

impl Jail {
    /// The root directory.
    pub fn path(&self) -> &str {
        self.params.str("path").unwrap_or("")
    }

    /// `host.hostname`.
    pub fn hostname(&self) -> &str {
        self.params.str("host.hostname").unwrap_or("")
    }

    /// The bare IPv4 addresses.
    pub fn ip4(&self) -> Vec<String> {
        self.params
            .get("ip4.addr")
            .map(Value::export)
            .unwrap_or_default()
    }

    /// The bare IPv6 addresses.
    pub fn ip6(&self) -> Vec<String> {
        self.params
            .get("ip6.addr")
            .map(Value::export)
            .unwrap_or_default()
    }
}

/// How a jail is named on a command line: a jid when the text is a
/// non-zero decimal integer (as jls decides), else a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JailKey {
    /// By jail id.
    Jid(i64),
    /// By name.
    Name(String),
}

impl JailKey {
    /// Decide as jls does: `-j 0` and `-j 12abc` are names.
    pub fn parse(text: &str) -> Self {
        match text.parse::<i64>() {
            Ok(n) if n > 0 && text.bytes().all(|b| b.is_ascii_digit()) => JailKey::Jid(n),
            _ => JailKey::Name(text.to_string()),
        }
    }

    /// Whether `jail` is the one this key names (exact match only).
    pub fn matches(&self, jail: &Jail) -> bool {
        match self {
            JailKey::Jid(j) => jail.jid == Some(*j),
            JailKey::Name(n) => jail.name == *n,
        }
    }
}

impl fmt::Display for JailKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JailKey::Jid(j) => write!(f, "{j}"),
            JailKey::Name(n) => write!(f, "\"{n}\""),
        }
    }
}

/// Parameters from `name=value` assignments, for tests.
#[cfg(test)]
pub(crate) fn test_params(assignments: &[&str]) -> Params {
    let mut p = Params::new();
    for a in assignments {
        p.assign(a).expect("a valid assignment");
    }
    p
}

/// The stopped jail `web` with parameters from `name=value` assignments,
/// for tests.
#[cfg(test)]
pub(crate) fn test_jail(assignments: &[&str]) -> Jail {
    Jail {
        name: "web".into(),
        jid: None,
        state: State::Stopped,
        params: test_params(assignments),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_assignments_follow_jail8() {
        let mut p = Params::new();
        p.assign("persist").unwrap();
        p.assign("host.hostname=a").unwrap();
        p.assign("host.hostname=b").unwrap();
        p.assign("ip4.addr=10.213.0.1,10.213.0.2").unwrap();
        p.assign("ip4.addr=10.213.0.3").unwrap();
        p.assign("allow.noraw_sockets").unwrap();
        assert!(p.flag("persist"));
        assert_eq!(p.str("host.hostname"), Some("b"));
        assert_eq!(
            p.list("ip4.addr"),
            ["10.213.0.1", "10.213.0.2", "10.213.0.3"]
        );
        assert_eq!(p.get("allow.raw_sockets"), Some(&Value::Bool(false)));
        let e = p.assign("bogus=1").unwrap_err();
        assert_eq!(e.to_string(), "unknown parameter: bogus");
        assert!(p.assign("nopersist=1").is_err());
    }

    #[test]
    fn keys_decide_like_jls() {
        assert_eq!(JailKey::parse("7"), JailKey::Jid(7));
        assert_eq!(JailKey::parse("0"), JailKey::Name("0".into()));
        assert_eq!(JailKey::parse("12abc"), JailKey::Name("12abc".into()));
        assert_eq!(JailKey::parse("+7"), JailKey::Name("+7".into()));
        assert_eq!(JailKey::parse("web"), JailKey::Name("web".into()));
    }
}
