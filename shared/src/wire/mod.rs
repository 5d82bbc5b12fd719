//! The JSON wire format (version 1, `docs/json.md`): NDJSON jail records,
//! kept apart from the internal types so that the format only changes on
//! purpose.

use std::borrow::Cow;
use std::io::{BufRead, Write};

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::model::param::addr_part;
use crate::model::{Jail, JailKey, State, Value};

/// Which backend produced a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// FreeBSD's kernel jails.
    Freebsd,
    /// Linux namespaces, pivot_root and cgroups.
    Linux,
}

/// One jail, as one line of `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JailRecord {
    /// The jail id, or null when not running.
    pub jid: Option<i64>,
    /// The jail's name.
    pub name: String,
    /// The jail's root directory.
    pub path: String,
    /// `host.hostname`.
    pub hostname: String,
    /// IPv4 addresses, bare.
    pub ip4: Vec<String>,
    /// IPv6 addresses, bare.
    pub ip6: Vec<String>,
    /// `running`, `stopped` or `dying`.
    pub state: State,
    /// `freebsd` or `linux`.
    pub backend: BackendKind,
    /// Every other parameter, typed.
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// Parameters that the record carries as top-level fields.
const TOP_LEVEL: &[&str] = &[
    "jid",
    "name",
    "path",
    "host.hostname",
    "ip4.addr",
    "ip6.addr",
];

impl JailRecord {
    /// The record of `jail`, with every parameter in `params`.
    pub fn of(jail: &Jail, backend: BackendKind) -> Self {
        let params = jail
            .params
            .iter()
            .filter(|(n, _)| !TOP_LEVEL.contains(n))
            .map(|(n, v)| (n.to_string(), v.to_json()))
            .collect();
        Self::with_params(jail, backend, params)
    }

    /// The record of `jail` whose `params` holds just `names` (as jls-rs
    /// prints when parameter names are given).
    pub fn with_params(
        jail: &Jail,
        backend: BackendKind,
        params: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        JailRecord {
            jid: jail.jid,
            name: jail.name.clone(),
            path: jail.path().to_string(),
            hostname: jail.hostname().to_string(),
            ip4: jail.ip4(),
            ip6: jail.ip6(),
            state: jail.state,
            backend,
            params,
        }
    }
}

/// A jail's record written straight from the jail, without building a
/// [`JailRecord`] (no copy of a name or value, `params` sorted as the
/// record's map sorts it): what a listing prints, byte for byte the
/// record's JSON.
#[derive(Debug)]
pub struct RecordOf<'a> {
    jail: &'a Jail,
    backend: BackendKind,
    params: Vec<(&'a str, Cow<'a, Value>)>,
}

impl<'a> RecordOf<'a> {
    /// The record of `jail`, with every parameter in `params`.
    pub fn of(jail: &'a Jail, backend: BackendKind) -> Self {
        let params = jail
            .params
            .iter()
            .filter(|(n, _)| !TOP_LEVEL.contains(n))
            .map(|(n, v)| (n, Cow::Borrowed(v)))
            .collect();
        Self::with_params(jail, backend, params)
    }

    /// The record of `jail` whose `params` holds just `params` (names
    /// unique), as [`JailRecord::with_params`].
    pub fn with_params(
        jail: &'a Jail,
        backend: BackendKind,
        mut params: Vec<(&'a str, Cow<'a, Value>)>,
    ) -> Self {
        // Stable: backends give names in sorted runs (the table's undotted
        // names, its dotted ones, then pseudo-parameters), which it merges.
        params.sort_by(|a, b| a.0.cmp(b.0));
        RecordOf {
            jail,
            backend,
            params,
        }
    }
}

impl Serialize for RecordOf<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        /// The bare addresses of an address parameter.
        struct Addrs<'a>(Option<&'a Value>);
        impl Serialize for Addrs<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let entries = self.0.and_then(Value::as_list).unwrap_or(&[]);
                s.collect_seq(entries.iter().map(|e| addr_part(e)))
            }
        }
        /// The `params` map, in its order.
        struct Map<'a>(&'a [(&'a str, Cow<'a, Value>)]);
        impl Serialize for Map<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(n, v)| (n, v.as_ref())))
            }
        }
        let jail = self.jail;
        let mut r = s.serialize_struct("JailRecord", 9)?;
        r.serialize_field("jid", &jail.jid)?;
        r.serialize_field("name", &jail.name)?;
        r.serialize_field("path", jail.path())?;
        r.serialize_field("hostname", jail.hostname())?;
        r.serialize_field("ip4", &Addrs(jail.params.get("ip4.addr")))?;
        r.serialize_field("ip6", &Addrs(jail.params.get("ip6.addr")))?;
        r.serialize_field("state", &jail.state)?;
        r.serialize_field("backend", &self.backend)?;
        r.serialize_field("params", &Map(&self.params))?;
        r.end()
    }
}

/// What a tool needs of a record read from stdin to find the jail: its
/// name, or its jid when the name is absent. Other fields are ignored, so
/// records filtered or reshaped by `jq` still work.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JailRef {
    /// The jail id.
    #[serde(default)]
    pub jid: Option<i64>,
    /// The jail's name.
    #[serde(default)]
    pub name: Option<String>,
}

impl JailRef {
    /// The key to look the jail up by.
    pub fn key(&self) -> Option<JailKey> {
        match (&self.name, self.jid) {
            (Some(n), _) => Some(JailKey::Name(n.clone())),
            (None, Some(j)) => Some(JailKey::Jid(j)),
            (None, None) => None,
        }
    }
}

/// Write `value` as one JSON line.
pub fn write_line<W: Write, T: Serialize>(out: &mut W, value: &T) -> Result<()> {
    serde_json::to_writer(&mut *out, value)
        .map_err(|e| Error::os("write to stdout", std::io::Error::from(e)))?;
    out.write_all(b"\n")
        .map_err(|e| Error::os("write to stdout", e))
}

/// Read jail references, one JSON object per line (blank lines skipped),
/// as `-` operands take them from stdin.
pub fn read_refs<R: BufRead>(input: R) -> Result<Vec<JailKey>> {
    let mut keys = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| Error::os("read stdin", e))?;
        if line.trim().is_empty() {
            continue;
        }
        let r: JailRef = serde_json::from_str(&line)
            .map_err(|e| Error::BadData(format!("stdin line {}: {e}", n + 1)))?;
        keys.push(r.key().ok_or_else(|| {
            Error::BadData(format!(
                "stdin line {}: record has neither name nor jid",
                n + 1
            ))
        })?);
    }
    Ok(keys)
}

#[cfg(test)]
mod docs;
mod rctl;
mod rdr;
mod snapshot;
mod tools;

pub use rctl::{RuleRecord, UsageRecord};
pub use rdr::RdrRecord;
pub use snapshot::{DiffRecord, SnapshotRecord};
pub use tools::{ReleaseRecord, StepRecord};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Params, Value};

    fn jail() -> Jail {
        let mut params = Params::new();
        params.set("name", Value::Str("web".into()));
        params.set("path", Value::Str("/jails/web".into()));
        params.set("host.hostname", Value::Str("web.example.org".into()));
        params.set("ip4.addr", Value::Ip4(vec!["em0|10.0.0.10/24".into()]));
        params.set("persist", Value::Bool(true));
        params.set("securelevel", Value::Int(-1));
        Jail {
            name: "web".into(),
            jid: Some(1),
            state: State::Running,
            params,
        }
    }

    #[test]
    fn record_lifts_identity_and_types_params() {
        let r = JailRecord::of(&jail(), BackendKind::Linux);
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(
            line,
            r#"{"jid":1,"name":"web","path":"/jails/web","hostname":"web.example.org","ip4":["10.0.0.10"],"ip6":[],"state":"running","backend":"linux","params":{"persist":true,"securelevel":-1}}"#
        );
        let back: JailRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn record_of_a_jail_is_the_record_byte_for_byte() {
        let mut busy = jail();
        let p = &mut busy.params;
        p.set("zfs.dataset", Value::List(vec!["t/a".into(), "t/b".into()]));
        p.set("ip6.addr", Value::Ip6(vec!["lo0|fd00::5/64".into()]));
        p.set("host.domainname", Value::Str("say \"hi\"\n\\".into()));
        p.set("allow.mount", Value::Bool(false));
        p.set("vnet", Value::Sys(crate::model::JailSys::Inherit));
        p.set("mount.devfs", Value::Bool(true));
        p.set("a.newer.kernel.param", Value::Int(7));
        let stopped = Jail {
            name: "stopped".into(),
            jid: None,
            state: State::Stopped,
            params: Params::new(),
        };
        for j in [jail(), busy, stopped] {
            for backend in [BackendKind::Linux, BackendKind::Freebsd] {
                let owned = serde_json::to_string(&JailRecord::of(&j, backend)).unwrap();
                let borrowed = serde_json::to_string(&RecordOf::of(&j, backend)).unwrap();
                assert_eq!(borrowed, owned);
            }
        }
        let j = jail();
        let some: Vec<(&str, Cow<Value>)> = vec![
            ("persist", Cow::Owned(Value::Bool(false))),
            ("nopersist", Cow::Owned(Value::Bool(true))),
            ("allow.mount", Cow::Owned(Value::Bool(false))),
        ];
        let owned = JailRecord::with_params(
            &j,
            BackendKind::Linux,
            some.iter()
                .map(|(n, v)| (n.to_string(), v.to_json()))
                .collect(),
        );
        assert_eq!(
            serde_json::to_string(&RecordOf::with_params(&j, BackendKind::Linux, some)).unwrap(),
            serde_json::to_string(&owned).unwrap()
        );
    }

    #[test]
    fn refs_match_on_name_then_jid() {
        let input = "{\"name\":\"web\",\"jid\":3}\n\n{\"jid\":4,\"extra\":1}\n";
        let keys = read_refs(input.as_bytes()).unwrap();
        assert_eq!(keys, [JailKey::Name("web".into()), JailKey::Jid(4)]);
        let e = read_refs("{}\n".as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "stdin line 1: record has neither name nor jid"
        );
        assert!(read_refs("not json\n".as_bytes()).is_err());
    }
}
