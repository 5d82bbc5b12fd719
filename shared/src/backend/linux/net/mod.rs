//! Jail networking on Linux, done by jmk on the host through netlink once
//! the jail's network namespace exists and before anything runs in it:
//!
//! * `ip4.addr` / `ip6.addr`: a veth pair, `jk<JID>h` on the host (a port
//!   of the bridge `jkit.bridge`, default `jkit0`, created on first use
//!   with the `jkit.gateway` addresses) and `eth0` in the jail with the
//!   jail's addresses, up, and a default route via the gateway of each
//!   family the jail has addresses of.
//! * `vnet` without `vnet.interface`: the same veth with no address: the
//!   jail configures its own (it keeps CAP_NET_ADMIN in its namespace).
//! * `vnet` with `vnet.interface`: those host interfaces are moved into the
//!   jail, and back to the host when it stops.
//!
//! What a start does is written to `RUN/jails/NAME/net.json` before it is
//! done, so a stop, or the clean-up of a start or jail that died, undoes
//! exactly that: the veth, host routes, address claims, moved interfaces
//! (Linux would destroy a virtual interface with the namespace, where
//! FreeBSD returns it to the host).
//! Addresses are claimed under `RUN/addrs/` (a symlink to the jail's name,
//! created atomically), so two jails never get one address.

pub mod netlink;
mod nft;
pub mod rdr;

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use serde::{Deserialize, Serialize};

use crate::backend::linux::{mounted_under, state, write_runtime};
use crate::error::{Error, OsContext, Result};
use crate::lock::JailLock;
use crate::model::{Jail, JailSys, param};
use crate::paths::Paths;
use netlink::{Route, Socket};

/// The bridge jails join when `jkit.bridge` is not set.
pub const DEFAULT_BRIDGE: &str = "jkit0";

/// The addresses a bridge jkit creates gets when `jkit.gateway` is not set.
pub const DEFAULT_GATEWAYS: &[&str] = &["10.213.0.1/16", "fd00:213::1/64"];

/// The name of the jail's end of its veth.
pub const JAIL_IFNAME: &str = "eth0";

/// Longest interface name Linux takes (IFNAMSIZ less the NUL).
const IFNAME_MAX: usize = 15;

/// An address with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Net {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Net {
    /// Whether `a` lies in this network.
    pub fn contains(&self, a: IpAddr) -> bool {
        match (self.addr, a) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// The network's own address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(n) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(n) & mask))
            }
            IpAddr::V6(n) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(n) & mask))
            }
        }
    }
}

fn full_prefix(a: &IpAddr) -> u8 {
    if a.is_ipv4() { 32 } else { 128 }
}

/// What the jail's network needs from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A veth to a bridge, with these addresses on the jail's end.
    Bridge(BridgePlan),
    /// `vnet.interface`: these host interfaces move into the jail.
    Move(Vec<String>),
}

/// A jail on a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgePlan {
    /// The host bridge.
    pub bridge: String,
    /// The bridge's addresses, the jails' gateways.
    pub gateways: Vec<Net>,
    /// The jail's addresses, in `ip4.addr` then `ip6.addr` order.
    pub addrs: Vec<Net>,
    /// Whether the bridge's IPv4 networks are masqueraded on the way out.
    pub nat: bool,
}

impl BridgePlan {
    /// The gateway of `a`'s family.
    fn gateway_for(&self, a: &IpAddr) -> Option<&Net> {
        self.gateways
            .iter()
            .find(|g| g.addr.is_ipv4() == a.is_ipv4())
    }

    /// Jail addresses outside every gateway network: the host needs a
    /// route to each of them through the bridge.
    fn off_net(&self) -> Vec<Net> {
        self.addrs
            .iter()
            .filter(|a| !self.gateways.iter().any(|g| g.contains(a.addr)))
            .map(|a| Net {
                addr: a.addr,
                prefix: full_prefix(&a.addr),
            })
            .collect()
    }
}

/// The host end of jail `jid`'s veth: `jk<JID>h` for the jails of the
/// default run directory; under another one `j`, three hex digits of the
/// run directory's hash, the jid and `h` (jids are only unique within one
/// run directory; `k` is no hex digit, so the two forms never meet).
pub fn veth_name(paths: &Paths, jid: i64) -> String {
    format!("{}{jid}h", veth_prefix(paths))
}

/// What every host-side veth of the jails under `paths` starts with.
pub fn veth_prefix(paths: &Paths) -> String {
    match paths.run_dir_hash() {
        None => "jk".into(),
        Some(h) => format!("j{:03x}", h & 0xfff),
    }
}

/// Check an interface name as Linux would take it.
fn check_ifname(param: &str, name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > IFNAME_MAX
        || name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace());
    if bad {
        return Err(Error::Config(format!(
            "{param}: \"{name}\" is not a valid interface name (1 to {IFNAME_MAX} characters, no '/', ':' or white space)"
        )));
    }
    Ok(())
}

/// Parse a prefix: a length, or for IPv4 also a dotted netmask.
fn parse_prefix(text: &str, v4: bool) -> Option<u8> {
    let max = if v4 { 32 } else { 128 };
    if let Ok(n) = text.parse::<u8>() {
        return (n <= max).then_some(n);
    }
    let mask: Ipv4Addr = text.parse().ok().filter(|_| v4)?;
    let m = u32::from(mask);
    (m.leading_ones() + m.trailing_zeros() == 32).then(|| m.leading_ones() as u8)
}

/// An `ip4.addr`/`ip6.addr` entry (`[iface|]addr[/prefix] [ifconfig args]`)
/// as an address and the prefix written, if any.
fn parse_entry(param: &str, entry: &str) -> Result<(IpAddr, Option<u8>)> {
    let bad = || Error::BadData(format!("{param}: not an address: {entry}"));
    let addr: IpAddr = param::addr_part(entry).parse().map_err(|_| bad())?;
    if addr.is_ipv4() != (param == "ip4.addr") {
        return Err(bad());
    }
    let spec = entry.split_once('|').map_or(entry, |(_, a)| a);
    let spec = spec.split_whitespace().next().unwrap_or("");
    let prefix = match spec.split_once('/') {
        Some((_, p)) => Some(parse_prefix(p, addr.is_ipv4()).ok_or_else(bad)?),
        None => None,
    };
    Ok((addr, prefix))
}

/// A `jkit.gateway` entry: `addr/prefix`.
fn parse_gateway(entry: &str) -> Result<Net> {
    let bad = || {
        Error::BadData(format!(
            "jkit.gateway: not an address with a prefix length: {entry}"
        ))
    };
    let (a, p) = entry.trim().split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = a.parse().map_err(|_| bad())?;
    let prefix = parse_prefix(p, addr.is_ipv4()).ok_or_else(bad)?;
    if prefix == 0 || prefix == full_prefix(&addr) {
        return Err(bad());
    }
    Ok(Net { addr, prefix })
}

/// What jail `def` needs of the host's network, checked before anything
/// is created; `None` for `ip4=inherit` (the host's stack) and for a jail
/// with only loopback.
pub fn plan(def: &Jail) -> Result<Option<Plan>> {
    let p = &def.params;
    let err = |msg: String| Err(Error::Config(msg));
    let inherit = p.sys("ip4") == Some(JailSys::Inherit) || p.sys("ip6") == Some(JailSys::Inherit);
    let vnet = p.sys("vnet") == Some(JailSys::New);
    let (v4, v6) = (p.list("ip4.addr"), p.list("ip6.addr"));
    let interfaces = p.list("vnet.interface");
    if !interfaces.is_empty() && !vnet {
        return err("vnet.interface needs vnet".into());
    }
    if inherit {
        if vnet {
            return err("vnet jails cannot inherit the host's network (ip4/ip6=inherit)".into());
        }
        if !v4.is_empty() || !v6.is_empty() {
            return err(
                "ip4.addr/ip6.addr need the jail's own network, not ip4/ip6=inherit".into(),
            );
        }
        return Ok(None);
    }
    if vnet && (!v4.is_empty() || !v6.is_empty()) {
        return err("vnet jails cannot have IP address restrictions".into());
    }
    for (sys, list) in [("ip4", v4), ("ip6", v6)] {
        if p.sys(sys) == Some(JailSys::Disable) && !list.is_empty() {
            return err(format!("{sys}.addr is set but {sys}=disable"));
        }
    }
    if vnet && !interfaces.is_empty() {
        for i in interfaces {
            check_ifname("vnet.interface", i)?;
        }
        return Ok(Some(Plan::Move(interfaces.to_vec())));
    }
    if !vnet && v4.is_empty() && v6.is_empty() {
        return Ok(None);
    }
    let bridge = p.str("jkit.bridge").unwrap_or(DEFAULT_BRIDGE).to_string();
    check_ifname("jkit.bridge", &bridge)?;
    let gateways = gateways_of(p.list("jkit.gateway"))?;
    let addrs = addresses_of(v4, v6, &gateways)?;
    Ok(Some(Plan::Bridge(BridgePlan {
        bridge,
        gateways,
        addrs,
        nat: p.flag("jkit.nat"),
    })))
}

/// The bridge's addresses, from `jkit.gateway` (`given`) or the defaults:
/// one per family.
fn gateways_of(given: &[String]) -> Result<Vec<Net>> {
    let gw_text: Vec<String> = match given {
        [] => DEFAULT_GATEWAYS.iter().map(|s| s.to_string()).collect(),
        given => given.to_vec(),
    };
    let mut gateways: Vec<Net> = Vec::new();
    for g in &gw_text {
        let g = parse_gateway(g)?;
        if let Some(o) = gateways
            .iter()
            .find(|o| o.addr.is_ipv4() == g.addr.is_ipv4())
        {
            return Err(Error::Config(format!(
                "jkit.gateway: one address per family ({} and {})",
                o.addr, g.addr
            )));
        }
        gateways.push(g);
    }
    Ok(gateways)
}

/// The jail's addresses, `ip4.addr` (`v4`) then `ip6.addr` (`v6`), each
/// with its prefix: the one written, else the network of the gateway
/// that holds it, else a host address (the host routes it).
fn addresses_of(v4: &[String], v6: &[String], gateways: &[Net]) -> Result<Vec<Net>> {
    let mut addrs: Vec<Net> = Vec::new();
    for (param, list) in [("ip4.addr", v4), ("ip6.addr", v6)] {
        for entry in list {
            let (addr, prefix) = parse_entry(param, entry)?;
            if addrs.iter().any(|a| a.addr == addr) {
                let fam = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
                return Err(Error::Config(format!(
                    "{param}: {fam} addresses clash ({addr} twice)"
                )));
            }
            let prefix = prefix.unwrap_or_else(|| {
                gateways
                    .iter()
                    .find(|g| g.contains(addr))
                    .map_or(full_prefix(&addr), |g| g.prefix)
            });
            addrs.push(Net { addr, prefix });
        }
    }
    Ok(addrs)
}

/// An interface `vnet.interface` moved into a jail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Moved {
    /// Its name on the host (and in the jail, unless the jail renamed it).
    name: String,
    /// Its index in the jail's namespace, 0 until it is there.
    index: u32,
}

/// What a start did to the host, for the stop or clean-up that undoes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    /// The host end of the jail's veth.
    veth: Option<String>,
    /// Routes on the host to jail addresses outside the bridge's networks.
    host_routes: Vec<Net>,
    /// The bridge those routes go through.
    bridge: Option<String>,
    /// Addresses claimed under `RUN/addrs`.
    claims: Vec<IpAddr>,
    /// Interfaces moved into the jail.
    moved: Vec<Moved>,
}

fn save(paths: &Paths, name: &str, rec: &Record) -> Result<()> {
    let bytes = serde_json::to_vec(rec).map_err(|e| Error::Software(e.to_string()))?;
    write_runtime(&paths.net_record_file(name), &bytes)
}

fn load(paths: &Paths, name: &str) -> Result<Option<Record>> {
    let file = paths.net_record_file(name);
    match fs::read(&file) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::BadData(format!("{}: {e}", file.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::at("read", &file, e)),
    }
}

/// Claim `addr` for jail `name`: a symlink `RUN/addrs/ADDR -> NAME`. A
/// claim of a jail that no longer exists is taken over.
fn claim(paths: &Paths, name: &str, addr: IpAddr) -> Result<()> {
    let dir = paths.address_claims_dir();
    fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))?;
    let link = dir.join(addr.to_string());
    loop {
        match std::os::unix::fs::symlink(name, &link) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::at("claim", &link, e)),
        }
        let Ok(owner) = fs::read_link(&link) else {
            continue;
        };
        let owner = owner.to_string_lossy().into_owned();
        if owner == name {
            return Ok(());
        }
        let alive = state::read(paths, &owner)?.is_some_and(|s| s.alive());
        if alive {
            let fam = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
            return Err(Error::Exists(format!(
                "{fam} addresses clash: {addr} is jail \"{owner}\"'s"
            )));
        }
        // Stale: remove it unless someone took it over meanwhile, and
        // never forward to the address once it is someone else's.
        rdr::forget(paths, &owner)?;
        if fs::read_link(&link).ok().as_deref() == Some(Path::new(&owner)) {
            let _ = fs::remove_file(&link);
        }
    }
}

/// Drop jail `name`'s claim of `addr`, if it holds it.
fn release(paths: &Paths, name: &str, addr: IpAddr) -> Result<()> {
    let link = paths.address_claims_dir().join(addr.to_string());
    if fs::read_link(&link).ok().as_deref() == Some(Path::new(name)) {
        fs::remove_file(&link).what(|| format!("remove {}", link.display()))?;
    }
    Ok(())
}

/// Set the network of jail `name` up from the host, in the network
/// namespace of its init `init_pid`. On failure the record already says
/// what to undo: the caller ends the jail and [`teardown`] cleans.
pub fn attach(paths: &Paths, name: &str, jid: i64, plan: &Plan, init_pid: i32) -> Result<()> {
    let ns = PathBuf::from(format!("/proc/{init_pid}/ns/net"));
    let ns_file = fs::File::open(&ns).what(|| format!("open {}", ns.display()))?;
    let ns = (ns.as_path(), &ns_file);
    let mut host = Socket::open().what(|| "netlink".to_string())?;
    match plan {
        Plan::Move(interfaces) => move_in(paths, name, interfaces, ns, &mut host),
        Plan::Bridge(p) => {
            let veth = veth_name(paths, jid);
            let rec = Record {
                veth: Some(veth.clone()),
                host_routes: p.off_net(),
                bridge: Some(p.bridge.clone()),
                claims: p.addrs.iter().map(|a| a.addr).collect(),
                moved: Vec::new(),
            };
            save(paths, name, &rec)?;
            for a in &p.addrs {
                claim(paths, name, a.addr)?;
            }
            refuse_host_addresses(&mut host, &p.addrs)?;
            let br = ensure_bridge(paths, &mut host, p)?;
            plug_veth(&mut host, &veth, ns.1, (br, &p.bridge))?;
            configure_jail_end(ns.0, p)?;
            for r in &rec.host_routes {
                host.add_route(&Route {
                    dst: r.addr,
                    prefix: r.prefix,
                    gateway: None,
                    oif: br,
                })
                .what(|| format!("route {}/{} to {}", r.addr, r.prefix, p.bridge))?;
            }
            Ok(())
        }
    }
}

/// `vnet.interface`: move `interfaces` from the host into the jail's
/// network namespace (its path, and open), pinned first (see
/// [`vnet_pin`]), recording each one's index in the jail as it arrives.
fn move_in(
    paths: &Paths,
    name: &str,
    interfaces: &[String],
    (ns, ns_file): (&Path, &fs::File),
    host: &mut Socket,
) -> Result<()> {
    let mut rec = Record {
        moved: interfaces
            .iter()
            .map(|i| Moved {
                name: i.clone(),
                index: 0,
            })
            .collect(),
        ..Record::default()
    };
    save(paths, name, &rec)?;
    let pin = paths.vnet_pin(name);
    fs::File::create(&pin).what(|| format!("create {}", pin.display()))?;
    mount(Some(ns), &pin, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .what(|| "pin the network namespace".to_string())?;
    let mut jail = Socket::open_in(ns).what(|| "netlink in the jail".to_string())?;
    for (i, iface) in interfaces.iter().enumerate() {
        let link = host
            .link(iface)
            .what(|| "list interfaces".to_string())?
            .ok_or_else(|| Error::NotFound(format!("vnet.interface {iface}: no such interface")))?;
        host.move_link(link.index, ns_file.as_fd(), None)
            .what(|| format!("move {iface} into the jail"))?;
        let inside = jail
            .link(iface)
            .what(|| "list the jail's interfaces".to_string())?
            .ok_or_else(|| Error::Software(format!("{iface} vanished")))?;
        rec.moved[i].index = inside.index;
        save(paths, name, &rec)?;
    }
    Ok(())
}

/// Refuse jail addresses `addrs` that the host itself has.
fn refuse_host_addresses(host: &mut Socket, addrs: &[Net]) -> Result<()> {
    let links = host.links().what(|| "list interfaces".to_string())?;
    for a in host.addresses().what(|| "list addresses".to_string())? {
        if addrs.iter().any(|j| j.addr == a.addr) {
            let on = links
                .iter()
                .find(|l| l.index == a.index)
                .map_or("?", |l| l.name.as_str());
            return Err(Error::Exists(format!(
                "{} is in use on the host ({on})",
                a.addr
            )));
        }
    }
    Ok(())
}

/// Create the veth `veth` with its other end in the jail's network
/// namespace `ns` (as `eth0`), and make it an up port of bridge `br`.
fn plug_veth(
    host: &mut Socket,
    veth: &str,
    ns: &fs::File,
    (br, bridge): (u32, &str),
) -> Result<()> {
    host.create_veth(veth, JAIL_IFNAME, ns.as_fd())
        .what(|| format!("create veth {veth}"))?;
    let v = host
        .link(veth)
        .what(|| "list interfaces".to_string())?
        .ok_or_else(|| Error::Software(format!("{veth} vanished")))?;
    host.set_master(v.index, br)
        .what(|| format!("add {veth} to bridge {bridge}"))?;
    host.set_up(v.index).what(|| format!("bring {veth} up"))
}

/// Inside the jail's network namespace `ns`: `eth0` up with the jail's
/// addresses, and a default route via the gateway of each family the jail
/// has addresses of.
fn configure_jail_end(ns: &Path, p: &BridgePlan) -> Result<()> {
    let mut jail = Socket::open_in(ns).what(|| "netlink in the jail".to_string())?;
    let eth = jail
        .link(JAIL_IFNAME)
        .what(|| "list the jail's interfaces".to_string())?
        .ok_or_else(|| Error::Software("the jail's eth0 vanished".to_string()))?;
    jail.set_up(eth.index)
        .what(|| "bring eth0 up".to_string())?;
    for a in &p.addrs {
        jail.add_address(eth.index, a.addr, a.prefix)
            .what(|| format!("add {}/{} to eth0", a.addr, a.prefix))?;
    }
    for v4 in [true, false] {
        let Some(first) = p.addrs.iter().find(|a| a.addr.is_ipv4() == v4) else {
            continue;
        };
        let Some(gw) = p.gateway_for(&first.addr) else {
            continue;
        };
        let any = if v4 {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        jail.add_route(&Route {
            dst: any,
            prefix: 0,
            gateway: Some(gw.addr),
            oif: eth.index,
        })
        .what(|| format!("default route via {}", gw.addr))?;
    }
    Ok(())
}

/// Make sure bridge `p.bridge` exists, holds the gateway addresses, is up
/// and has jkit's forwarding rules; returns its index.
fn ensure_bridge(paths: &Paths, host: &mut Socket, p: &BridgePlan) -> Result<u32> {
    let lock_file = paths
        .run_dir
        .join("locks")
        .join(format!("bridge-{}.lock", p.bridge));
    let _lock = JailLock::acquire_file(&lock_file)?;
    let link = match host.link(&p.bridge).what(|| "list interfaces".into())? {
        Some(l) => l,
        None => {
            host.create_bridge(&p.bridge)
                .what(|| format!("create bridge {}", p.bridge))?;
            // Its addresses skip duplicate address detection, and so must
            // its link-local one: until that is done Linux sends no
            // neighbor solicitation there for what it forwards (IPv6 port
            // forwarding to a jail would stall for seconds).
            let dad = format!("/proc/sys/net/ipv6/conf/{}/accept_dad", p.bridge);
            match fs::write(&dad, b"0") {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(Error::at("write", Path::new(&dad), e));
                }
                _ => {}
            }
            host.link(&p.bridge)
                .what(|| "list interfaces".into())?
                .ok_or_else(|| Error::Software(format!("bridge {} vanished", p.bridge)))?
        }
    };
    if link.kind != "bridge" {
        return Err(Error::Config(format!(
            "jkit.bridge: {} exists and is not a bridge",
            p.bridge
        )));
    }
    let present = host.addresses().what(|| "list addresses".into())?;
    for g in &p.gateways {
        let here = present
            .iter()
            .any(|a| a.index == link.index && a.addr == g.addr);
        if !here {
            host.add_address(link.index, g.addr, g.prefix)
                .what(|| format!("add {}/{} to bridge {}", g.addr, g.prefix, p.bridge))?;
        }
    }
    if !link.up {
        host.set_up(link.index)
            .what(|| format!("bring bridge {} up", p.bridge))?;
    }
    let v4: Vec<Net> = p
        .gateways
        .iter()
        .filter(|g| g.addr.is_ipv4())
        .map(|g| Net {
            addr: g.network(),
            prefix: g.prefix,
        })
        .collect();
    nft::guard_bridge(&p.bridge, p.nat.then_some(v4.as_slice()))?;
    Ok(link.index)
}

/// Undo what [`attach`] recorded for jail `name` (nothing when it has no
/// record): move `vnet.interface`s back to the host, delete the veth (its
/// jail end goes with it), the host routes, the address claims and its
/// port forwarding. Runs while the namespace pins still exist; safe to
/// run again.
pub fn teardown(paths: &Paths, name: &str) -> Result<()> {
    rdr::forget(paths, name)?;
    let rec = match load(paths, name) {
        Ok(Some(rec)) => rec,
        Ok(None) => return Ok(()),
        Err(Error::BadData(why)) => return teardown_unrecorded(paths, name, why),
        Err(e) => return Err(e),
    };
    let mut host = Socket::open().what(|| "netlink".to_string())?;
    let pin = paths.vnet_pin(name);
    if !rec.moved.is_empty() && mounted_under(&pin)?.contains(&pin) {
        let mut jail = Socket::open_in(&pin).what(|| "netlink in the jail".to_string())?;
        let host_ns =
            fs::File::open("/proc/self/ns/net").what(|| "open the host's namespace".to_string())?;
        let links = jail
            .links()
            .what(|| "list the jail's interfaces".to_string())?;
        for m in &rec.moved {
            let found = links
                .iter()
                .find(|l| m.index != 0 && l.index == m.index)
                .or_else(|| links.iter().find(|l| l.name == m.name));
            if let Some(l) = found {
                let rename = (l.name != m.name).then_some(m.name.as_str());
                jail.move_link(l.index, host_ns.as_fd(), rename)
                    .what(|| format!("move {} back to the host", m.name))?;
            }
        }
        umount2(&pin, MntFlags::MNT_DETACH).what(|| format!("unmount {}", pin.display()))?;
    }
    if let Some(veth) = &rec.veth {
        if let Some(l) = host.link(veth).what(|| "list interfaces".to_string())? {
            match host.delete_link(l.index) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {}
                Err(e) => return Err(Error::os(format!("delete {veth}"), e)),
            }
        }
    }
    if let Some(bridge) = &rec.bridge {
        let br = host.link(bridge).what(|| "list interfaces".to_string())?;
        if let Some(br) = br {
            let routes = host.routes().what(|| "list routes".to_string())?;
            for r in &rec.host_routes {
                let route = Route {
                    dst: r.addr,
                    prefix: r.prefix,
                    gateway: None,
                    oif: br.index,
                };
                if routes.contains(&route) {
                    host.delete_route(&route)
                        .what(|| format!("delete route {}/{}", r.addr, r.prefix))?;
                }
            }
        }
    }
    for a in &rec.claims {
        release(paths, name, *a)?;
    }
    let file = paths.net_record_file(name);
    fs::remove_file(&file).or_else(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            Ok(())
        } else {
            Err(Error::at("remove", &file, e))
        }
    })
}

/// What a teardown does when the record of what the network setup made is
/// unreadable: the address claims are found by name and released, the
/// record removed (the veth and the moved interfaces go back, or away,
/// with the jail's network namespace); the error says what is left: the
/// host routes to its addresses, which only the record names.
fn teardown_unrecorded(paths: &Paths, name: &str, why: String) -> Result<()> {
    if let Ok(entries) = fs::read_dir(paths.address_claims_dir()) {
        for e in entries.flatten() {
            if fs::read_link(e.path()).ok().as_deref() == Some(Path::new(name)) {
                fs::remove_file(e.path()).what(|| format!("remove {}", e.path().display()))?;
            }
        }
    }
    let file = paths.net_record_file(name);
    fs::remove_file(&file).what(|| format!("remove {}", file.display()))?;
    Err(Error::BadData(format!(
        "{why} (left: the host routes to the jail's addresses, if it had any)"
    )))
}

/// Remove bridge `name` and jkit's nftables table for it (no jail may
/// still use it; its ports go with it). Nothing happens when it does not
/// exist. jkit never removes a bridge by itself: this is for whoever made
/// one for a while (tests, an admin's scripts).
pub fn remove_bridge(name: &str) -> Result<()> {
    let mut host = Socket::open().what(|| "netlink".into())?;
    if let Some(l) = host.link(name).what(|| "list interfaces".into())? {
        if l.kind != "bridge" {
            return Err(Error::Config(format!("{name} is not a bridge")));
        }
        host.delete_link(l.index)
            .what(|| format!("delete bridge {name}"))?;
    }
    nft::forget_bridge(name)
}

/// A jail's addresses as FreeBSD's kernel reports them: bare, in
/// `inet_ntop` form, the first one first and the others sorted.
pub fn kernel_order(entries: &[String]) -> Vec<String> {
    let mut addrs: Vec<IpAddr> = entries
        .iter()
        .filter_map(|e| param::addr_part(e).parse().ok())
        .collect();
    if let Some(rest) = addrs.get_mut(1..) {
        rest.sort();
    }
    addrs.iter().map(IpAddr::to_string).collect()
}

/// Whether jkit guards bridge `name` (its nftables table exists), and if
/// so whether the bridge masquerades (`jkit.nat`).
pub fn bridge_nat(name: &str) -> Result<Option<bool>> {
    nft::inspect(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Params, State, Value};

    fn jail(params: &[(&str, Value)]) -> Jail {
        let mut p = Params::new();
        for (n, v) in params {
            p.set(n, v.clone());
        }
        Jail {
            name: "j".into(),
            jid: None,
            state: State::Stopped,
            params: p,
        }
    }

    fn ip4(v: &[&str]) -> Value {
        Value::Ip4(v.iter().map(|s| s.to_string()).collect())
    }

    fn ip6(v: &[&str]) -> Value {
        Value::Ip6(v.iter().map(|s| s.to_string()).collect())
    }

    fn list(v: &[&str]) -> Value {
        Value::List(v.iter().map(|s| s.to_string()).collect())
    }

    fn net(s: &str) -> Net {
        parse_gateway(s).unwrap()
    }

    #[test]
    fn addresses_take_the_gateway_prefix_or_their_own() {
        let def = jail(&[
            (
                "ip4.addr",
                ip4(&[
                    "10.213.0.10",
                    "em0|10.213.0.11/24",
                    "10.213.9.1/255.255.255.0",
                ]),
            ),
            ("ip6.addr", ip6(&["fd00:213::a", "fd00:214::b"])),
        ]);
        let Some(Plan::Bridge(p)) = plan(&def).unwrap() else {
            panic!("bridge plan expected")
        };
        assert_eq!(p.bridge, DEFAULT_BRIDGE);
        assert_eq!(p.gateways, [net("10.213.0.1/16"), net("fd00:213::1/64")]);
        let got: Vec<String> = p
            .addrs
            .iter()
            .map(|a| format!("{}/{}", a.addr, a.prefix))
            .collect();
        assert_eq!(
            got,
            [
                "10.213.0.10/16",
                "10.213.0.11/24",
                "10.213.9.1/24",
                "fd00:213::a/64",
                "fd00:214::b/128"
            ]
        );
        // only the address outside every gateway network needs a host route
        assert_eq!(
            p.off_net(),
            [Net {
                addr: "fd00:214::b".parse().unwrap(),
                prefix: 128
            }]
        );
        assert!(!p.nat);
    }

    #[test]
    fn jkit_parameters_choose_bridge_gateways_and_nat() {
        let def = jail(&[
            ("ip4.addr", ip4(&["10.213.7.2"])),
            ("jkit.bridge", Value::Str("jkt7".into())),
            ("jkit.gateway", list(&["10.213.7.1/24"])),
            ("jkit.nat", Value::Bool(true)),
        ]);
        let Some(Plan::Bridge(p)) = plan(&def).unwrap() else {
            panic!("bridge plan expected")
        };
        assert_eq!((p.bridge.as_str(), p.nat), ("jkt7", true));
        assert_eq!(p.gateways, [net("10.213.7.1/24")]);
        assert_eq!(p.addrs[0].prefix, 24);
        assert_eq!(
            net("10.213.7.1/24").network(),
            "10.213.7.0".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn loopback_inherit_vnet_and_interfaces() {
        assert_eq!(plan(&jail(&[])).unwrap(), None);
        assert_eq!(
            plan(&jail(&[("ip4", Value::Sys(JailSys::Inherit))])).unwrap(),
            None
        );
        let vnet = Value::Sys(JailSys::New);
        let Some(Plan::Bridge(p)) = plan(&jail(&[("vnet", vnet.clone())])).unwrap() else {
            panic!("a vnet jail without interfaces gets a veth")
        };
        assert!(p.addrs.is_empty());
        assert_eq!(
            plan(&jail(&[
                ("vnet", vnet.clone()),
                ("vnet.interface", list(&["dummy0"]))
            ]))
            .unwrap(),
            Some(Plan::Move(vec!["dummy0".into()]))
        );
    }

    #[test]
    fn contradictions_are_refused() {
        let cases: &[(&[(&str, Value)], &str)] = &[
            (
                &[("vnet.interface", list(&["x"]))],
                "vnet.interface needs vnet",
            ),
            (
                &[
                    ("vnet", Value::Sys(JailSys::New)),
                    ("ip4.addr", ip4(&["10.213.0.2"])),
                ],
                "vnet jails cannot have IP address restrictions",
            ),
            (
                &[
                    ("ip4", Value::Sys(JailSys::Inherit)),
                    ("ip6.addr", ip6(&["fd00:213::2"])),
                ],
                "ip4.addr/ip6.addr need the jail's own network, not ip4/ip6=inherit",
            ),
            (
                &[
                    ("ip4", Value::Sys(JailSys::Disable)),
                    ("ip4.addr", ip4(&["10.213.0.2"])),
                ],
                "ip4.addr is set but ip4=disable",
            ),
            (
                &[("ip4.addr", ip4(&["10.213.0.2", "lo|10.213.0.2/24"]))],
                "ip4.addr: IPv4 addresses clash (10.213.0.2 twice)",
            ),
            (
                &[("ip4.addr", ip4(&["10.213.0.2/33"]))],
                "ip4.addr: not an address: 10.213.0.2/33",
            ),
            (
                &[
                    ("ip4.addr", ip4(&["10.213.0.2"])),
                    ("jkit.bridge", Value::Str("a-very-long-bridge".into())),
                ],
                "jkit.bridge: \"a-very-long-bridge\" is not a valid interface name (1 to 15 characters, no '/', ':' or white space)",
            ),
            (
                &[
                    ("ip4.addr", ip4(&["10.213.0.2"])),
                    ("jkit.gateway", list(&["10.213.0.1"])),
                ],
                "jkit.gateway: not an address with a prefix length: 10.213.0.1",
            ),
            (
                &[
                    ("ip4.addr", ip4(&["10.213.0.2"])),
                    ("jkit.gateway", list(&["10.213.0.1/24", "10.213.1.1/24"])),
                ],
                "jkit.gateway: one address per family (10.213.0.1 and 10.213.1.1)",
            ),
        ];
        for (params, msg) in cases {
            let e = plan(&jail(params)).unwrap_err();
            assert_eq!(e.to_string(), *msg);
            assert_eq!(
                e.exit_code(),
                if msg.contains("not an address") {
                    65
                } else {
                    78
                },
                "{msg}"
            );
        }
    }

    #[test]
    fn addresses_are_reported_in_kernel_order() {
        let e: Vec<String> = ["em0|10.213.0.30/24", "10.213.0.21", "10.213.0.3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            kernel_order(&e),
            ["10.213.0.30", "10.213.0.3", "10.213.0.21"]
        );
        let e = vec!["fd00:213:0:0::5/64".to_string()];
        assert_eq!(kernel_order(&e), ["fd00:213::5"]);
    }

    #[test]
    fn veth_names_fit_ifnamsiz_and_separate_run_directories() {
        let default = Paths {
            run_dir: PathBuf::from("/run/jkit"),
            ..Paths::under(Path::new("/x"))
        };
        let (a, b) = (
            Paths::under(Path::new("/tmp/a")),
            Paths::under(Path::new("/tmp/b")),
        );
        assert_eq!(veth_name(&default, 3), "jk3h");
        let (va, vb) = (veth_name(&a, 3), veth_name(&b, 3));
        assert!(
            va.starts_with('j') && va.ends_with("3h") && va != vb,
            "{va} {vb}"
        );
        assert_ne!(va, veth_name(&a, 33));
        for p in [&default, &a] {
            assert!(veth_name(p, i64::from(i32::MAX)).len() <= IFNAME_MAX);
        }
    }

    #[test]
    fn netmasks_and_prefixes() {
        assert_eq!(parse_prefix("24", true), Some(24));
        assert_eq!(parse_prefix("255.255.0.0", true), Some(16));
        assert_eq!(parse_prefix("255.0.255.0", true), None);
        assert_eq!(parse_prefix("129", false), None);
        assert!(net("10.213.0.1/16").contains("10.213.200.3".parse().unwrap()));
        assert!(!net("10.213.0.1/16").contains("10.214.0.3".parse().unwrap()));
        assert!(net("fd00:213::1/64").contains("fd00:213::99".parse().unwrap()));
        assert!(!net("fd00:213::1/64").contains("10.213.0.3".parse().unwrap()));
    }
}
