//! Port forwarding's record: one rule (`jmk --json rdr NAME list`).

use serde::{Deserialize, Serialize};

use crate::model::rdr::Rule;

/// One port forwarding rule of a jail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdrRecord {
    /// The jail the rule forwards to.
    pub jail: String,
    /// The rule as the rules file and `list` write it.
    pub rule: String,
    /// `dual`, `ipv4` or `ipv6`.
    pub family: String,
    /// `-i`: only what arrives on this host interface.
    pub interface: Option<String>,
    /// `-s`: only what comes from this address or network.
    pub source: Option<String>,
    /// `-d`: only what goes to this host address (else any of the host's).
    pub destination: Option<String>,
    /// `tcp` or `udp`.
    pub proto: String,
    /// The first host port.
    pub host_port: u16,
    /// The last host port (`host_port` for a single port).
    pub host_port_last: u16,
    /// The jail port the first host port goes to.
    pub jail_port: u16,
    /// The last jail port (`jail_port` when every host port goes to one).
    pub jail_port_last: u16,
    /// The jail addresses it sends to while the jail runs (none when it
    /// does not).
    pub to: Vec<String>,
}

impl RdrRecord {
    /// The record of jail `jail`'s `rule`, sending to `to`.
    pub fn of(jail: &str, rule: &Rule, to: Vec<String>) -> Self {
        RdrRecord {
            jail: jail.to_string(),
            rule: rule.to_string(),
            family: rule.family.as_str().into(),
            interface: rule.interface.clone(),
            source: rule.source.map(|s| s.to_string()),
            destination: rule.destination.map(|d| d.to_string()),
            proto: rule.proto.as_str().into(),
            host_port: rule.host.first,
            host_port_last: rule.host.last,
            jail_port: rule.jail.first,
            jail_port_last: rule.jail.last,
            to,
        }
    }
}
