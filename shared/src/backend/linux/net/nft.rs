//! jkit's nftables rules for a bridge, sent as one netlink batch (one
//! transaction): the table `inet jkit_BRIDGE` is replaced whole each time a
//! jail joins the bridge.
//!
//! ```text
//! table inet jkit_BRIDGE {
//!   chain forward { type filter hook forward priority filter; policy accept;
//!     ct state established,related accept
//!     iifname BRIDGE oifname BRIDGE accept
//!     oifname BRIDGE ct status dnat accept          # port forwarding
//!     oifname BRIDGE drop
//!     iifname BRIDGE ct status dnat accept  # without jkit.nat
//!     iifname BRIDGE drop                  # without jkit.nat
//!   }
//!   chain postrouting { type nat hook postrouting priority srcnat;   # jkit.nat
//!     meta nfproto ipv4 ip saddr NET/PREFIX oifname != BRIDGE masquerade
//!   }
//! }
//! ```
//!
//! So nothing is routed into a bridge but answers to its jails' own
//! connections (jails on different bridges never reach each other, even
//! on a host that forwards), and nothing leaves it unless `jkit.nat` is
//! on, which also turns the host's IPv4 forwarding on. Connections the
//! host forwards to a jail (`jmk rdr`: a DNAT of jkit's port forwarding
//! table, see [`rdr_batch`]) and their answers pass.
//!
//! Only a connection's first packet meets the interface rules: every
//! forwarded packet runs the chain of every jkit bridge, and a name match
//! copies the interface's name for each rule, so established and related
//! packets leave at the first rule, on one conntrack load. The
//! connections these rules let in are the only ones ever established
//! across a bridge (a first packet the chain drops confirms no conntrack
//! entry).

use std::net::IpAddr;

use super::Net;
use super::netlink::{Message, Socket};
use crate::error::{OsContext, Result};
use crate::model::rdr::{Proto, Rule, octets};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETTABLE: u16 = 1;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;

const NFPROTO_INET: u8 = 1;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;

const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_FORWARD: u32 = 2;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_INET_POST_ROUTING: u32 = 4;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
const NFT_REG_2: u32 = 2;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_CMP_LTE: u32 = 3;
const NFT_CMP_GTE: u32 = 5;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
const NFT_META_NFPROTO: u32 = 15;
const NFT_META_L4PROTO: u32 = 16;
const NFT_CT_STATE: u32 = 0;
const NFT_CT_STATUS: u32 = 2;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
/// The conntrack status bit of a connection whose destination was NATed.
const IPS_DST_NAT: u32 = 1 << 5;
/// fib: the type of the route to the destination (`fib daddr type`).
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
const NFTA_FIB_F_DADDR: u32 = 1 << 1;
/// A route type: an address of this host.
const RTN_LOCAL: u32 = 2;
const NFT_NAT_DNAT: u32 = 1;
/// ct state established (1 << 1) | related (1 << 2).
const CT_ESTABLISHED_RELATED: u32 = 0b110;

/// One nftables expression of a rule.
#[derive(Debug, Clone)]
enum Expr {
    /// Load a meta key into register 1.
    Meta(u32),
    /// Compare register 1 with bytes.
    Cmp(u32, Vec<u8>),
    /// Load a conntrack key into register 1.
    Ct(u32),
    /// Register 1 &= mask.
    And(Vec<u8>),
    /// Load `len` bytes of the network header at `offset` into register 1.
    Payload(u32, u32),
    /// The same, of the transport header.
    Transport(u32, u32),
    /// Load the type of the route to the destination into register 1.
    FibDaddrType,
    /// Load bytes into a register.
    Load(u32, Vec<u8>),
    /// DNAT to the address in register 1 (of family NFPROTO_*), and the
    /// port in register 2 when `true`.
    Dnat(u8, bool),
    /// A verdict.
    Verdict(u32),
    /// Masquerade.
    Masq,
}

fn ifname(name: &str) -> Vec<u8> {
    let mut b = name.as_bytes().to_vec();
    b.resize(16, 0);
    b
}

fn iif(name: &str) -> [Expr; 2] {
    [
        Expr::Meta(NFT_META_IIFNAME),
        Expr::Cmp(NFT_CMP_EQ, ifname(name)),
    ]
}

fn oif(op: u32, name: &str) -> [Expr; 2] {
    [Expr::Meta(NFT_META_OIFNAME), Expr::Cmp(op, ifname(name))]
}

fn header(ty: u16, flags: u16, family: u8) -> Message {
    let nfgen = [family, 0, 0, 0];
    Message::new((NFNL_SUBSYS_NFTABLES << 8) | ty, flags, &nfgen)
}

fn delimiter(ty: u16) -> Message {
    let res_id = NFNL_SUBSYS_NFTABLES.to_be_bytes();
    Message::new(ty, 0, &[0, 0, res_id[0], res_id[1]]).without_ack()
}

fn table_name(bridge: &str) -> String {
    format!("jkit_{bridge}")
}

fn table_msg(ty: u16, flags: u16, table: &str) -> Message {
    let mut m = header(ty, flags, NFPROTO_INET);
    m.attr_str(NFTA_TABLE_NAME, table);
    m
}

fn chain_msg(table: &str, chain: &str, kind: &str, hook: u32, priority: i32) -> Message {
    let mut m = header(NFT_MSG_NEWCHAIN, NLM_F_CREATE, NFPROTO_INET);
    m.attr_str(NFTA_CHAIN_TABLE, table);
    m.attr_str(NFTA_CHAIN_NAME, chain);
    let h = m.begin(NFTA_CHAIN_HOOK);
    m.attr_be32(NFTA_HOOK_HOOKNUM, hook);
    m.attr_be32(NFTA_HOOK_PRIORITY, priority as u32);
    m.end(h);
    m.attr_str(NFTA_CHAIN_TYPE, kind);
    m
}

fn rule_msg(table: &str, chain: &str, exprs: &[Expr]) -> Message {
    let mut m = header(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, NFPROTO_INET);
    m.attr_str(NFTA_RULE_TABLE, table);
    m.attr_str(NFTA_RULE_CHAIN, chain);
    let list = m.begin(NFTA_RULE_EXPRESSIONS);
    for e in exprs {
        let elem = m.begin(NFTA_LIST_ELEM);
        let name = match e {
            Expr::Meta(_) => "meta",
            Expr::Cmp(..) => "cmp",
            Expr::Ct(_) => "ct",
            Expr::And(_) => "bitwise",
            Expr::Payload(..) | Expr::Transport(..) => "payload",
            Expr::Verdict(_) | Expr::Load(..) => "immediate",
            Expr::Masq => "masq",
            Expr::FibDaddrType => "fib",
            Expr::Dnat(..) => "nat",
        };
        m.attr_str(NFTA_EXPR_NAME, name);
        if !matches!(e, Expr::Masq) {
            let data = m.begin(NFTA_EXPR_DATA);
            match e {
                Expr::Meta(key) => {
                    // NFTA_META_DREG, NFTA_META_KEY
                    m.attr_be32(1, NFT_REG_1).attr_be32(2, *key);
                }
                Expr::Cmp(op, bytes) => {
                    // NFTA_CMP_SREG, NFTA_CMP_OP, NFTA_CMP_DATA
                    m.attr_be32(1, NFT_REG_1).attr_be32(2, *op);
                    let d = m.begin(3);
                    m.attr(NFTA_DATA_VALUE, bytes);
                    m.end(d);
                }
                Expr::Ct(key) => {
                    // NFTA_CT_DREG, NFTA_CT_KEY
                    m.attr_be32(1, NFT_REG_1).attr_be32(2, *key);
                }
                Expr::And(mask) => {
                    // NFTA_BITWISE_SREG, _DREG, _LEN, _MASK, _XOR
                    m.attr_be32(1, NFT_REG_1)
                        .attr_be32(2, NFT_REG_1)
                        .attr_be32(3, mask.len() as u32);
                    let d = m.begin(4);
                    m.attr(NFTA_DATA_VALUE, mask);
                    m.end(d);
                    let d = m.begin(5);
                    m.attr(NFTA_DATA_VALUE, &vec![0u8; mask.len()]);
                    m.end(d);
                }
                Expr::Payload(offset, len) | Expr::Transport(offset, len) => {
                    let base = match e {
                        Expr::Payload(..) => NFT_PAYLOAD_NETWORK_HEADER,
                        _ => NFT_PAYLOAD_TRANSPORT_HEADER,
                    };
                    // NFTA_PAYLOAD_DREG, _BASE, _OFFSET, _LEN
                    m.attr_be32(1, NFT_REG_1)
                        .attr_be32(2, base)
                        .attr_be32(3, *offset)
                        .attr_be32(4, *len);
                }
                Expr::FibDaddrType => {
                    // NFTA_FIB_DREG, _RESULT, _FLAGS
                    m.attr_be32(1, NFT_REG_1)
                        .attr_be32(2, NFT_FIB_RESULT_ADDRTYPE)
                        .attr_be32(3, NFTA_FIB_F_DADDR);
                }
                Expr::Load(reg, bytes) => {
                    // NFTA_IMMEDIATE_DREG, NFTA_IMMEDIATE_DATA
                    m.attr_be32(1, *reg);
                    let d = m.begin(2);
                    m.attr(NFTA_DATA_VALUE, bytes);
                    m.end(d);
                }
                Expr::Dnat(family, port) => {
                    // NFTA_NAT_TYPE, _FAMILY, _REG_ADDR_MIN, _REG_ADDR_MAX
                    m.attr_be32(1, NFT_NAT_DNAT)
                        .attr_be32(2, u32::from(*family))
                        .attr_be32(3, NFT_REG_1)
                        .attr_be32(4, NFT_REG_1);
                    if *port {
                        // NFTA_NAT_REG_PROTO_MIN, _MAX
                        m.attr_be32(5, NFT_REG_2).attr_be32(6, NFT_REG_2);
                    }
                }
                Expr::Verdict(code) => {
                    // NFTA_IMMEDIATE_DREG, NFTA_IMMEDIATE_DATA
                    m.attr_be32(1, NFT_REG_VERDICT);
                    let d = m.begin(2);
                    let v = m.begin(NFTA_DATA_VERDICT);
                    m.attr_be32(NFTA_VERDICT_CODE, *code);
                    m.end(v);
                    m.end(d);
                }
                Expr::Masq => {}
            }
            m.end(data);
        }
        m.end(elem);
    }
    m.end(list);
    m
}

/// `ct status dnat accept`: a connection jkit's port forwarding sent to a
/// jail, either way.
fn forwarded() -> [Expr; 4] {
    [
        Expr::Ct(NFT_CT_STATUS),
        Expr::And(IPS_DST_NAT.to_ne_bytes().to_vec()),
        Expr::Cmp(NFT_CMP_NEQ, vec![0; 4]),
        Expr::Verdict(NF_ACCEPT),
    ]
}

/// The rules of bridge `bridge`'s forward chain, in order (the last two
/// only without `jkit.nat`). Established and related packets leave at the
/// first, so only a connection's first packet meets the name matches.
fn forward_rules(bridge: &str, nat: bool) -> Vec<Vec<Expr>> {
    let mut rules = vec![
        vec![
            Expr::Ct(NFT_CT_STATE),
            Expr::And(CT_ESTABLISHED_RELATED.to_ne_bytes().to_vec()),
            Expr::Cmp(NFT_CMP_NEQ, vec![0; 4]),
            Expr::Verdict(NF_ACCEPT),
        ],
        [
            &iif(bridge)[..],
            &oif(NFT_CMP_EQ, bridge),
            &[Expr::Verdict(NF_ACCEPT)],
        ]
        .concat(),
        [&oif(NFT_CMP_EQ, bridge)[..], &forwarded()].concat(),
        [&oif(NFT_CMP_EQ, bridge)[..], &[Expr::Verdict(NF_DROP)]].concat(),
    ];
    if !nat {
        rules.push([&iif(bridge)[..], &forwarded()].concat());
        rules.push([&iif(bridge)[..], &[Expr::Verdict(NF_DROP)]].concat());
    }
    rules
}

/// The batch that (re)writes bridge `bridge`'s table; `nat` holds the
/// IPv4 networks to masquerade when `jkit.nat` is on.
fn guard_batch(bridge: &str, nat: Option<&[Net]>) -> Vec<Message> {
    let t = table_name(bridge);
    let fw = "forward";
    let mut b = vec![
        delimiter(NFNL_MSG_BATCH_BEGIN),
        // Create, delete, create: replaces any older version in the same
        // transaction, and works whether or not it existed.
        table_msg(NFT_MSG_NEWTABLE, NLM_F_CREATE, &t),
        table_msg(NFT_MSG_DELTABLE, 0, &t),
        table_msg(NFT_MSG_NEWTABLE, NLM_F_CREATE, &t),
        chain_msg(&t, fw, "filter", NF_INET_FORWARD, 0),
    ];
    for r in forward_rules(bridge, nat.is_some()) {
        b.push(rule_msg(&t, fw, &r));
    }
    if let Some(nets) = nat {
        let pr = "postrouting";
        b.push(chain_msg(&t, pr, "nat", NF_INET_POST_ROUTING, 100));
        for n in nets {
            let IpAddr::V4(net) = n.network() else {
                continue;
            };
            let mask = u32::MAX.checked_shl(32 - u32::from(n.prefix)).unwrap_or(0);
            b.push(rule_msg(
                &t,
                pr,
                &[
                    Expr::Meta(NFT_META_NFPROTO),
                    Expr::Cmp(NFT_CMP_EQ, vec![NFPROTO_IPV4]),
                    // ip saddr: 4 bytes at offset 12
                    Expr::Payload(12, 4),
                    Expr::And(mask.to_be_bytes().to_vec()),
                    Expr::Cmp(NFT_CMP_EQ, net.octets().to_vec()),
                    Expr::Meta(NFT_META_OIFNAME),
                    Expr::Cmp(NFT_CMP_NEQ, ifname(bridge)),
                    Expr::Masq,
                ],
            ));
        }
    }
    b.push(delimiter(NFNL_MSG_BATCH_END));
    b
}

/// Write bridge `bridge`'s forwarding rules (and its NAT, with `nat`: the
/// IPv4 networks to masquerade; IPv4 forwarding is then turned on).
pub fn guard_bridge(bridge: &str, nat: Option<&[Net]>) -> Result<()> {
    let mut s = Socket::open_netfilter().what(|| "nftables netlink".into())?;
    s.batch(&guard_batch(bridge, nat))
        .what(|| format!("nftables table {}", table_name(bridge)))?;
    if nat.is_some() {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", b"1")
            .what(|| "turn IPv4 forwarding on (jkit.nat)".into())?;
    }
    Ok(())
}

/// Delete bridge `bridge`'s table, if it has one.
pub fn forget_bridge(bridge: &str) -> Result<()> {
    let t = table_name(bridge);
    let mut s = Socket::open_netfilter().what(|| "nftables netlink".into())?;
    let batch = [
        delimiter(NFNL_MSG_BATCH_BEGIN),
        table_msg(NFT_MSG_DELTABLE, 0, &t),
        delimiter(NFNL_MSG_BATCH_END),
    ];
    match s.batch(&batch) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r.what(|| format!("delete nftables table {t}")),
    }
}

/// Whether bridge `bridge` has a jkit table, and whether it masquerades.
pub fn inspect(bridge: &str) -> Result<Option<bool>> {
    let t = table_name(bridge);
    let mut s = Socket::open_netfilter().what(|| "nftables netlink".into())?;
    // NFT_MSG_GETCHAIN dump of the inet family, filtered by table here.
    let chains = s
        .dump(&header(4, 0, NFPROTO_INET))
        .what(|| "list nftables chains".into())?;
    let mut found = None;
    for (_, body) in chains {
        let Some(attrs) = body.get(4..) else { continue };
        let attrs = super::netlink::attrs(attrs);
        let get = |ty: u16| {
            attrs.iter().find(|(t, _)| *t == ty).map(|(_, d)| {
                String::from_utf8_lossy(d)
                    .trim_end_matches('\0')
                    .to_string()
            })
        };
        if get(NFTA_CHAIN_TABLE).as_deref() == Some(t.as_str()) {
            let nat = get(NFTA_CHAIN_NAME).as_deref() == Some("postrouting");
            found = Some(found.unwrap_or(false) || nat);
        }
    }
    Ok(found)
}

/// The expressions that match what `rule` forwards of family `v4` arriving
/// on host ports `first..=last` (`output`: sent by the host itself, to
/// one of its own addresses other than loopback), then DNAT it to `to`,
/// port `port` when given (else the port stays).
fn forward_exprs(
    rule: &Rule,
    to: IpAddr,
    (first, last): (u16, u16),
    port: Option<u16>,
    output: bool,
) -> Vec<Expr> {
    let v4 = to.is_ipv4();
    let (family, saddr, daddr, len) = if v4 {
        (NFPROTO_IPV4, 12, 16, 4)
    } else {
        (NFPROTO_IPV6, 8, 24, 16)
    };
    let mut e = Vec::new();
    if let (Some(i), false) = (&rule.interface, output) {
        e.extend(iif(i));
    }
    e.extend([
        Expr::Meta(NFT_META_NFPROTO),
        Expr::Cmp(NFT_CMP_EQ, vec![family]),
        Expr::Meta(NFT_META_L4PROTO),
        Expr::Cmp(
            NFT_CMP_EQ,
            vec![match rule.proto {
                Proto::Tcp => libc::IPPROTO_TCP as u8,
                Proto::Udp => libc::IPPROTO_UDP as u8,
            }],
        ),
    ]);
    if let Some(src) = &rule.source {
        e.extend([
            Expr::Payload(saddr, len),
            Expr::And(src.mask()),
            Expr::Cmp(NFT_CMP_EQ, src.masked()),
        ]);
    }
    match rule.destination {
        Some(d) => e.extend([Expr::Payload(daddr, len), Expr::Cmp(NFT_CMP_EQ, octets(d))]),
        None => {
            e.extend([
                Expr::FibDaddrType,
                Expr::Cmp(NFT_CMP_EQ, RTN_LOCAL.to_ne_bytes().to_vec()),
            ]);
            // A DNAT of loopback would leave with a loopback source.
            if output && v4 {
                e.extend([
                    Expr::Payload(daddr, len),
                    Expr::And(vec![255, 0, 0, 0]),
                    Expr::Cmp(NFT_CMP_NEQ, vec![127, 0, 0, 0]),
                ]);
            } else if output {
                e.extend([
                    Expr::Payload(daddr, len),
                    Expr::Cmp(NFT_CMP_NEQ, octets(std::net::Ipv6Addr::LOCALHOST.into())),
                ]);
            }
        }
    }
    // th dport: 2 bytes at offset 2 of the TCP or UDP header.
    e.push(Expr::Transport(2, 2));
    if first == last {
        e.push(Expr::Cmp(NFT_CMP_EQ, first.to_be_bytes().to_vec()));
    } else {
        e.push(Expr::Cmp(NFT_CMP_GTE, first.to_be_bytes().to_vec()));
        e.push(Expr::Cmp(NFT_CMP_LTE, last.to_be_bytes().to_vec()));
    }
    e.push(Expr::Load(NFT_REG_1, octets(to)));
    if let Some(p) = port {
        e.push(Expr::Load(NFT_REG_2, p.to_be_bytes().to_vec()));
    }
    e.push(Expr::Dnat(family, port.is_some()));
    e
}

/// The host port ranges of `rule`, each with the jail port it goes to
/// (none: the port stays): one range for a range sent to one port or to
/// the same ports, one port each when the range is shifted.
fn port_map(rule: &Rule) -> Vec<((u16, u16), Option<u16>)> {
    let (h, j) = (rule.host, rule.jail);
    if j.span() == 0 {
        vec![((h.first, h.last), Some(j.first))]
    } else if h.first == j.first {
        vec![((h.first, h.last), None)]
    } else {
        (h.first..=h.last)
            .map(|p| ((p, p), Some(rule.jail_port(p))))
            .collect()
    }
}

/// The batch that (re)writes jkit's port forwarding table `table`:
///
/// ```text
/// table inet TABLE {
///   chain prerouting { type nat hook prerouting priority dstnat;
///     [iifname IF] meta nfproto ipv4 meta l4proto tcp [ip saddr NET]
///       (ip daddr DST | fib daddr type local) th dport PORTS dnat ip to JAIL[:PORT]
///   }
///   chain output { type nat hook output priority dstnat;      # the host itself
///     (the same, for rules without -i; never to loopback)
///   }
/// }
/// ```
///
/// or, with nothing to forward, deletes it.
fn rdr_batch(table: &str, forwards: &[(Rule, IpAddr)]) -> Vec<Message> {
    let mut b = vec![
        delimiter(NFNL_MSG_BATCH_BEGIN),
        table_msg(NFT_MSG_NEWTABLE, NLM_F_CREATE, table),
        table_msg(NFT_MSG_DELTABLE, 0, table),
    ];
    if !forwards.is_empty() {
        b.push(table_msg(NFT_MSG_NEWTABLE, NLM_F_CREATE, table));
        for (chain, hook) in [
            ("prerouting", NF_INET_PRE_ROUTING),
            ("output", NF_INET_LOCAL_OUT),
        ] {
            let output = hook == NF_INET_LOCAL_OUT;
            b.push(chain_msg(table, chain, "nat", hook, -100));
            for (rule, to) in forwards {
                if output && rule.interface.is_some() {
                    continue;
                }
                for (ports, port) in port_map(rule) {
                    b.push(rule_msg(
                        table,
                        chain,
                        &forward_exprs(rule, *to, ports, port, output),
                    ));
                }
            }
        }
    }
    b.push(delimiter(NFNL_MSG_BATCH_END));
    b
}

/// Write jkit's port forwarding table `table` with `forwards` (each rule
/// with the jail address it sends to), in one transaction; with none,
/// delete it. IPv4 forwarding is turned on for an IPv4 forward.
pub fn set_forwards(table: &str, forwards: &[(Rule, IpAddr)]) -> Result<()> {
    let mut s = Socket::open_netfilter().what(|| "nftables netlink".into())?;
    s.batch(&rdr_batch(table, forwards))
        .what(|| format!("nftables table {table}"))?;
    if forwards.iter().any(|(_, to)| to.is_ipv4()) {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", b"1")
            .what(|| "turn IPv4 forwarding on (port forwarding)".into())?;
    }
    Ok(())
}

/// The names of the host's nftables tables of the inet family.
pub fn tables() -> Result<Vec<String>> {
    let mut s = Socket::open_netfilter().what(|| "nftables netlink".into())?;
    let dump = s
        .dump(&header(NFT_MSG_GETTABLE, 0, NFPROTO_INET))
        .what(|| "list nftables tables".into())?;
    let mut names = Vec::new();
    for (_, body) in dump {
        let Some(attrs) = body.get(4..) else { continue };
        for (t, d) in super::netlink::attrs(attrs) {
            if t == NFTA_TABLE_NAME {
                names.push(
                    String::from_utf8_lossy(d)
                        .trim_end_matches('\0')
                        .to_string(),
                );
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_delimited_and_nat_is_optional() {
        let plain = guard_batch("jkt1", None);
        // begin, table ×3, chain, six rules, end
        assert_eq!(plain.len(), 12);
        let nets = [Net {
            addr: "10.213.4.0".parse().unwrap(),
            prefix: 24,
        }];
        let nat = guard_batch("jkt1", Some(&nets));
        // begin, table ×3, chain, four rules, nat chain, masquerade, end
        assert_eq!(nat.len(), 12);
        assert_eq!(ifname("jkt1").len(), 16);
    }

    #[test]
    fn established_packets_leave_the_forward_chain_before_any_name_match() {
        for nat in [false, true] {
            let rules = forward_rules("jkt1", nat);
            assert!(matches!(
                rules[0][..],
                [
                    Expr::Ct(NFT_CT_STATE),
                    Expr::And(_),
                    Expr::Cmp(NFT_CMP_NEQ, _),
                    Expr::Verdict(NF_ACCEPT)
                ]
            ));
            // Every later rule is about the bridge, and only two drop.
            assert!(rules[1..].iter().all(|r| matches!(r[0], Expr::Meta(_))));
            let drops = rules
                .iter()
                .filter(|r| matches!(r.last(), Some(Expr::Verdict(NF_DROP))))
                .count();
            assert_eq!(drops, if nat { 1 } else { 2 });
        }
    }

    fn rule(words: &str) -> Rule {
        let w: Vec<String> = words.split_whitespace().map(str::to_string).collect();
        match crate::model::rdr::Action::parse_words(&w).unwrap() {
            crate::model::rdr::Action::Add(r) => r,
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn forwards_map_ports_and_skip_the_output_hook_for_an_interface() {
        assert_eq!(port_map(&rule("tcp 8080 80")), [((8080, 8080), Some(80))]);
        assert_eq!(
            port_map(&rule("udp 5000:5009 5000:5009")),
            [((5000, 5009), None)]
        );
        assert_eq!(
            port_map(&rule("tcp 5000:5009 80")),
            [((5000, 5009), Some(80))]
        );
        let shifted = port_map(&rule("tcp 5000:5002 6000:6002"));
        assert_eq!(shifted[2], ((5002, 5002), Some(6002)));
        let to: IpAddr = "10.213.0.5".parse().unwrap();
        // begin, table ×3, chain, rule, chain, rule, end
        assert_eq!(rdr_batch("t", &[(rule("tcp 80 80"), to)]).len(), 9);
        // the rule on eth1 is not in the output chain
        assert_eq!(rdr_batch("t", &[(rule("-i eth1 tcp 80 80"), to)]).len(), 8);
        // nothing to forward: the table goes
        assert_eq!(rdr_batch("t", &[]).len(), 4);
        let out = forward_exprs(&rule("tcp 80 80"), to, (80, 80), Some(8080), true);
        assert!(matches!(out.last(), Some(Expr::Dnat(NFPROTO_IPV4, true))));
        let v6: IpAddr = "fd00:213::5".parse().unwrap();
        let e = forward_exprs(
            &rule("-t ipv6 -s fd00:213::/64 -d fd00:213::1 udp 53 53"),
            v6,
            (53, 53),
            None,
            false,
        );
        assert!(matches!(e.last(), Some(Expr::Dnat(NFPROTO_IPV6, false))));
        assert!(!e.iter().any(|x| matches!(x, Expr::FibDaddrType)));
    }
}
