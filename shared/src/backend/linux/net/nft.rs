//! jkit's nftables rules for a bridge, sent as one netlink batch (one
//! transaction): the table `inet jkit_BRIDGE` is replaced whole each time a
//! jail joins the bridge.
//!
//! ```text
//! table inet jkit_BRIDGE {
//!   chain forward { type filter hook forward priority filter; policy accept;
//!     iifname BRIDGE oifname BRIDGE accept
//!     oifname BRIDGE ct state established,related accept
//!     oifname BRIDGE drop
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
//! on, which also turns the host's IPv4 forwarding on.

use std::net::IpAddr;

use super::Net;
use super::netlink::{Message, Socket};
use crate::error::{OsContext, Result};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;

const NFPROTO_INET: u8 = 1;
const NFPROTO_IPV4: u8 = 2;

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

const NF_INET_FORWARD: u32 = 2;
const NF_INET_POST_ROUTING: u32 = 4;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
const NFT_META_NFPROTO: u32 = 15;
const NFT_CT_STATE: u32 = 0;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
/// ct state established (1 << 1) | related (1 << 2).
const CT_ESTABLISHED_RELATED: u32 = 0b110;

/// One nftables expression of a rule.
#[derive(Debug, Clone)]
enum Expr {
    /// Load a meta key into register 1.
    Meta(u32),
    /// Compare register 1 with bytes.
    Cmp(u32, Vec<u8>),
    /// Load conntrack state into register 1.
    CtState,
    /// Register 1 &= mask.
    And(Vec<u8>),
    /// Load `len` bytes of the network header at `offset` into register 1.
    Payload(u32, u32),
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
            Expr::CtState => "ct",
            Expr::And(_) => "bitwise",
            Expr::Payload(..) => "payload",
            Expr::Verdict(_) => "immediate",
            Expr::Masq => "masq",
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
                Expr::CtState => {
                    // NFTA_CT_DREG, NFTA_CT_KEY
                    m.attr_be32(1, NFT_REG_1).attr_be32(2, NFT_CT_STATE);
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
                Expr::Payload(offset, len) => {
                    // NFTA_PAYLOAD_DREG, _BASE, _OFFSET, _LEN
                    m.attr_be32(1, NFT_REG_1)
                        .attr_be32(2, NFT_PAYLOAD_NETWORK_HEADER)
                        .attr_be32(3, *offset)
                        .attr_be32(4, *len);
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

/// The batch that (re)writes bridge `bridge`'s table; `nat` holds the
/// IPv4 networks to masquerade when `jkit.nat` is on.
fn guard_batch(bridge: &str, nat: Option<&[Net]>) -> Vec<Message> {
    let t = table_name(bridge);
    let fw = "forward";
    let rule = |parts: &[&[Expr]]| rule_msg(&t, fw, &parts.concat());
    let mut b = vec![
        delimiter(NFNL_MSG_BATCH_BEGIN),
        // Create, delete, create: replaces any older version in the same
        // transaction, and works whether or not it existed.
        table_msg(NFT_MSG_NEWTABLE, NLM_F_CREATE, &t),
        table_msg(NFT_MSG_DELTABLE, 0, &t),
        table_msg(NFT_MSG_NEWTABLE, NLM_F_CREATE, &t),
        chain_msg(&t, fw, "filter", NF_INET_FORWARD, 0),
        rule(&[
            &iif(bridge),
            &oif(NFT_CMP_EQ, bridge),
            &[Expr::Verdict(NF_ACCEPT)],
        ]),
        rule(&[
            &oif(NFT_CMP_EQ, bridge),
            &[
                Expr::CtState,
                Expr::And(CT_ESTABLISHED_RELATED.to_ne_bytes().to_vec()),
                Expr::Cmp(NFT_CMP_NEQ, vec![0; 4]),
                Expr::Verdict(NF_ACCEPT),
            ],
        ]),
        rule(&[&oif(NFT_CMP_EQ, bridge), &[Expr::Verdict(NF_DROP)]]),
    ];
    match nat {
        None => b.push(rule(&[&iif(bridge), &[Expr::Verdict(NF_DROP)]])),
        Some(nets) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_delimited_and_nat_is_optional() {
        let plain = guard_batch("jkt1", None);
        // begin, table ×3, chain, four rules, end
        assert_eq!(plain.len(), 10);
        let nets = [Net {
            addr: "10.213.4.0".parse().unwrap(),
            prefix: 24,
        }];
        let nat = guard_batch("jkt1", Some(&nets));
        // begin, table ×3, chain, three rules, nat chain, masquerade, end
        assert_eq!(nat.len(), 11);
        assert_eq!(ifname("jkt1").len(), 16);
    }
}
