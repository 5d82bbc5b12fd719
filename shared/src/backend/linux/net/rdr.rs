//! Port forwarding (`jmk rdr`) on Linux: one nftables table of DNAT rules
//! for all the running jails of a run directory (`jkit-rdr`, or
//! `jkit-rdr-` and the veth prefix under another run directory), rewritten
//! whole in one transaction whenever a jail's forwarding changes, from
//! the records `RUN/jails/NAME/rdr.json` of the jails that are alive.
//! So a record left by a jail that died is dropped by the next rewrite,
//! and a rule never outlives its jail's address claim: a start that takes
//! over the claim of a dead jail rewrites the table first.

use std::fs;
use std::io;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::nft;
use crate::backend::linux::{state, write_runtime};
use crate::error::{Error, Result};
use crate::lock::JailLock;
use crate::model::rdr::{Ports, Proto, Rule, Targets};
use crate::paths::Paths;

/// What a running jail forwards.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Record {
    /// The rules, as rules-file lines.
    rules: Vec<String>,
    /// The jail's first IPv4 address, where IPv4 rules send to.
    v4: Option<IpAddr>,
    /// The jail's first IPv6 address.
    v6: Option<IpAddr>,
}

/// The name of the port forwarding table of the jails under `paths`.
pub fn table_name(paths: &Paths) -> String {
    match paths.run_dir_hash() {
        None => "jkit-rdr".into(),
        Some(_) => format!("jkit-rdr-{}", super::veth_prefix(paths)),
    }
}

/// Forward as `rules` say to the running jail `name` at `targets` (none:
/// drop its forwarding).
pub fn set(paths: &Paths, name: &str, targets: &Targets, rules: &[Rule]) -> Result<()> {
    let _lock = JailLock::acquire_file(&paths.rdr_lock_file())?;
    let file = paths.rdr_record_file(name);
    if rules.is_empty() {
        remove(&file)?;
    } else {
        let rec = Record {
            rules: rules.iter().map(Rule::to_string).collect(),
            v4: targets.v4,
            v6: targets.v6,
        };
        let bytes = serde_json::to_vec(&rec).map_err(|e| Error::Software(e.to_string()))?;
        write_runtime(&file, &bytes)?;
    }
    rewrite(paths)
}

/// Drop the forwarding of jail `name` (stopped, or dead) if it has any.
pub fn forget(paths: &Paths, name: &str) -> Result<()> {
    if paths.rdr_record_file(name).exists() {
        set(paths, name, &Targets::default(), &[])?;
    }
    Ok(())
}

fn remove(file: &std::path::Path) -> Result<()> {
    match fs::remove_file(file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::at("remove", file, e)),
    }
}

/// Rewrite the table from the records of the jails alive (the lock held).
fn rewrite(paths: &Paths) -> Result<()> {
    let mut forwards = Vec::new();
    let dir = paths.run_jails_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e.flatten().collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::at("read", &dir, e)),
    };
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let file = paths.rdr_record_file(&name);
        let bytes = match fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::at("read", &file, e)),
        };
        // A state that cannot be read is no live jail's (it is written
        // atomically).
        let alive = state::read(paths, &name)
            .ok()
            .flatten()
            .is_some_and(|s| s.alive());
        if !alive {
            remove(&file)?;
            continue;
        }
        let rec: Record = serde_json::from_slice(&bytes)
            .map_err(|e| Error::BadData(format!("{}: {e}", file.display())))?;
        let targets = Targets {
            v4: rec.v4,
            v6: rec.v6,
        };
        for line in &rec.rules {
            let rule = Rule::parse_line(line)?;
            for to in targets.for_rule(&rule) {
                forwards.push((rule.clone(), to));
            }
        }
    }
    nft::set_forwards(&table_name(paths), &forwards)
}

/// The names of the host's inet nftables tables (jkit's start with `jkit`).
pub fn nft_tables() -> Result<Vec<String>> {
    nft::tables()
}

/// What says that a host process has a socket that `proto` port
/// forwarding on `ports` would take the traffic of, naming it
/// (`NAME (pid PID)`): a TCP listener, or a bound UDP
/// socket, of the host's network on a port of `ports`, unless bound to
/// loopback only (forwarding never takes loopback traffic).
pub fn listener(proto: Proto, ports: Ports) -> Result<Option<String>> {
    let (files, state) = match proto {
        Proto::Tcp => (["/proc/net/tcp", "/proc/net/tcp6"], "0A"),
        Proto::Udp => (["/proc/net/udp", "/proc/net/udp6"], "07"),
    };
    for file in files {
        let text = match fs::read_to_string(file) {
            Ok(t) => t,
            // No IPv6 in this kernel.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::at("read", std::path::Path::new(file), e)),
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(st), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            let Some((addr, port)) = local.split_once(':') else {
                continue;
            };
            let Ok(port) = u16::from_str_radix(port, 16) else {
                continue;
            };
            if *st != state || port < ports.first || port > ports.last || loopback(addr) {
                continue;
            }
            let owner = socket_owner(inode).unwrap_or_else(|| "a process jkit cannot see".into());
            return Ok(Some(format!(
                "{} port {port} is in use on the host by {owner}",
                proto.as_str()
            )));
        }
    }
    Ok(None)
}

/// Whether a `/proc/net` address (hex words in host order) is loopback.
fn loopback(hex: &str) -> bool {
    let bytes: Vec<u8> = (0..hex.len() / 8)
        .filter_map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok())
        .flat_map(u32::to_ne_bytes)
        .collect();
    match bytes.len() {
        4 => bytes[0] == 127,
        16 => {
            let a = std::net::Ipv6Addr::from(
                <[u8; 16]>::try_from(bytes.as_slice()).unwrap_or_default(),
            );
            a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        _ => false,
    }
}

/// `NAME (pid PID)` of a process holding socket `inode`.
fn socket_owner(inode: &str) -> Option<String> {
    let want = format!("socket:[{inode}]");
    for p in fs::read_dir("/proc").ok()?.flatten() {
        let pid = p.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == want.as_str()));
        if holds {
            let comm = fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            return Some(format!("{} (pid {pid})", comm.trim()));
        }
    }
    None
}
