//! A small synchronous netlink client: just the rtnetlink requests jail
//! networking needs (links, veth pairs, bridges, addresses, routes, moving
//! links between network namespaces) and the nftables batches of outbound
//! NAT. Messages are built and parsed here as bytes; the sockets are nix's
//! safe wrappers, so this module holds no `unsafe`.
//!
//! A socket works in the network namespace it was opened in: [`Socket::open_in`]
//! opens one in another namespace from a short-lived thread that joins it,
//! so the calling thread never changes namespace.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    setsockopt, socket, sockopt::ReceiveTimeout,
};
use nix::sys::time::TimeVal;

// Netlink message header flags and types (linux/netlink.h).
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_F_NESTED: u16 = 0x8000;

// rtnetlink message types (linux/rtnetlink.h).
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;

// Link attributes (linux/if_link.h).
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFF_UP: u32 = 0x1;

// Address attributes (linux/if_addr.h).
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const IFA_F_NODAD: u32 = 0x02;

// Route attributes and values (linux/rtnetlink.h).
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_STATIC: u8 = 4;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;
const RTNH_F_ONLINK: u32 = 4;

const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;
const AF_UNSPEC: u8 = libc::AF_UNSPEC as u8;

/// One netlink message being built: header, fixed part, attributes.
#[derive(Debug, Clone)]
pub struct Message {
    buf: Vec<u8>,
    ack: bool,
}

impl Message {
    /// A message of type `ty` with `flags` (NLM_F_REQUEST is always added)
    /// and the fixed-size family header `fixed`.
    pub fn new(ty: u16, flags: u16, fixed: &[u8]) -> Self {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(fixed);
        pad(&mut buf);
        Message { buf, ack: true }
    }

    /// The same message without asking for an acknowledgement (nftables'
    /// batch delimiters, which older kernels never acknowledge).
    pub fn without_ack(mut self) -> Self {
        self.ack = false;
        self
    }

    /// Append attribute `ty` with payload `data`.
    pub fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        pad(&mut self.buf);
        self
    }

    /// Append a NUL-terminated string attribute.
    pub fn attr_str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(ty, &data)
    }

    /// Append a native-endian u32 attribute.
    pub fn attr_u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// Append a big-endian u32 attribute (nftables' integers).
    pub fn attr_be32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_be_bytes())
    }

    /// Open a nested attribute; returns its position for [`Message::end`].
    pub fn begin(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        at
    }

    /// Append raw bytes inside an open nest (a fixed header such as the
    /// veth peer's ifinfomsg).
    pub fn raw(&mut self, data: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(data);
        pad(&mut self.buf);
        self
    }

    /// Close the nested attribute opened at `at`.
    pub fn end(&mut self, at: usize) -> &mut Self {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    /// The finished bytes with sequence number `seq`.
    fn finish(&self, seq: u32) -> Vec<u8> {
        let mut b = self.buf.clone();
        let len = b.len() as u32;
        b[0..4].copy_from_slice(&len.to_ne_bytes());
        b[8..12].copy_from_slice(&seq.to_ne_bytes());
        b
    }
}

fn pad(buf: &mut Vec<u8>) {
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

/// struct ifinfomsg.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = AF_UNSPEC;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// struct ifaddrmsg.
fn ifaddrmsg(family: u8, prefix: u8, index: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = family;
    b[1] = prefix;
    b[2] = IFA_F_NODAD as u8;
    b[3] = RT_SCOPE_UNIVERSE;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b
}

fn family_of(addr: &IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

fn addr_bytes(addr: &IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn addr_of(family: u8, b: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        AF_INET6 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// The attributes of a message part, as (type without flags, payload).
pub fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        let next = (len + 3) & !3;
        b = &b[next.min(b.len())..];
    }
    out
}

fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn u32_of(b: &[u8]) -> u32 {
    <[u8; 4]>::try_from(b).map_or(0, u32::from_ne_bytes)
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its index in its namespace.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Its kind (`bridge`, `veth`, …), empty for a physical device.
    pub kind: String,
    /// The index of its bridge (master), 0 when it has none.
    pub master: u32,
    /// Whether it is administratively up.
    pub up: bool,
}

/// An address on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// The interface's index.
    pub index: u32,
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix: u8,
}

/// A route of the main table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The destination network (`0.0.0.0`/`::` with prefix 0 for a default
    /// route).
    pub dst: IpAddr,
    /// The destination's prefix length.
    pub prefix: u8,
    /// The next hop, if any.
    pub gateway: Option<IpAddr>,
    /// The outgoing interface's index.
    pub oif: u32,
}

/// A netlink socket of one protocol, in one network namespace.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    /// An rtnetlink socket in this thread's network namespace.
    pub fn open() -> io::Result<Self> {
        Self::open_protocol(SockProtocol::NetlinkRoute)
    }

    /// An nftables (netfilter) socket in this thread's network namespace.
    pub fn open_netfilter() -> io::Result<Self> {
        Self::open_protocol(SockProtocol::NetlinkNetFilter)
    }

    fn open_protocol(proto: SockProtocol) -> io::Result<Self> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            proto,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        // A kernel that never answers must not hang jmk.
        setsockopt(&fd, ReceiveTimeout, &TimeVal::new(10, 0))?;
        Ok(Socket { fd, seq: 0 })
    }

    /// An rtnetlink socket in the network namespace `ns` (a `/proc/PID/ns/net`
    /// file or a pin of one), opened by a thread that joins it and ends.
    pub fn open_in(ns: &Path) -> io::Result<Self> {
        let file = std::fs::File::open(ns)?;
        std::thread::scope(|s| {
            s.spawn(|| {
                setns(&file, CloneFlags::CLONE_NEWNET)?;
                Self::open()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netlink thread panicked")))
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Send `msg` and wait for the kernel's acknowledgement.
    pub fn request(&mut self, msg: &Message) -> io::Result<()> {
        self.batch(std::slice::from_ref(msg))
    }

    /// Send several messages in one datagram (an nftables batch needs
    /// them so), each asking for an acknowledgement unless built
    /// [`Message::without_ack`], and wait until every one is acknowledged
    /// or the first error arrives (the kernel answers a failed batch with
    /// the error of the message that failed).
    pub fn batch(&mut self, msgs: &[Message]) -> io::Result<()> {
        let mut bytes = Vec::new();
        let mut pending = Vec::new();
        for m in msgs {
            let seq = self.next_seq();
            let mut m = m.clone();
            if m.ack {
                let flags = u16::from_ne_bytes([m.buf[6], m.buf[7]]) | NLM_F_ACK;
                m.buf[6..8].copy_from_slice(&flags.to_ne_bytes());
                pending.push(seq);
            }
            bytes.extend(m.finish(seq));
        }
        send(self.fd.as_raw_fd(), &bytes, MsgFlags::empty())?;
        let mut buf = vec![0u8; 65536];
        while !pending.is_empty() {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            for (ty, seq, body) in messages(&buf[..n]) {
                if ty == NLMSG_ERROR && pending.contains(&seq) {
                    errno_of(body)?;
                    pending.retain(|s| *s != seq);
                }
            }
        }
        Ok(())
    }

    /// Run a dump request and return every answer's (type, body).
    pub fn dump(&mut self, msg: &Message) -> io::Result<Vec<(u16, Vec<u8>)>> {
        let seq = self.next_seq();
        let mut m = msg.clone();
        let flags = u16::from_ne_bytes([m.buf[6], m.buf[7]]) | NLM_F_DUMP;
        m.buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        send(self.fd.as_raw_fd(), &m.finish(seq), MsgFlags::empty())?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            for (ty, mseq, body) in messages(&buf[..n]) {
                if mseq != seq {
                    continue;
                }
                match ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        errno_of(body)?;
                        return Ok(out);
                    }
                    _ => out.push((ty, body.to_vec())),
                }
            }
        }
    }

    /// Every interface of the namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let req = Message::new(RTM_GETLINK, 0, &ifinfomsg(0, 0, 0));
        let mut out = Vec::new();
        for (ty, body) in self.dump(&req)? {
            if ty != RTM_NEWLINK || body.len() < 16 {
                continue;
            }
            let index = u32_of(&body[4..8]);
            let flags = u32_of(&body[8..12]);
            let mut link = Link {
                index,
                name: String::new(),
                kind: String::new(),
                master: 0,
                up: flags & IFF_UP != 0,
            };
            for (aty, data) in attrs(&body[16..]) {
                match aty {
                    IFLA_IFNAME => link.name = c_str(data),
                    IFLA_MASTER => link.master = u32_of(data),
                    IFLA_LINKINFO => {
                        for (ity, idata) in attrs(data) {
                            if ity == IFLA_INFO_KIND {
                                link.kind = c_str(idata);
                            }
                        }
                    }
                    _ => {}
                }
            }
            out.push(link);
        }
        Ok(out)
    }

    /// The interface called `name`, if there is one.
    pub fn link(&mut self, name: &str) -> io::Result<Option<Link>> {
        Ok(self.links()?.into_iter().find(|l| l.name == name))
    }

    /// Create a bridge called `name` (EEXIST when it exists).
    pub fn create_bridge(&mut self, name: &str) -> io::Result<()> {
        let mut m = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifinfomsg(0, 0, 0));
        m.attr_str(IFLA_IFNAME, name);
        let info = m.begin(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "bridge");
        m.end(info);
        self.request(&m)
    }

    /// Create a veth pair: `name` here, its peer `peer` in the network
    /// namespace `peer_ns`.
    pub fn create_veth(
        &mut self,
        name: &str,
        peer: &str,
        peer_ns: BorrowedFd<'_>,
    ) -> io::Result<()> {
        let mut m = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifinfomsg(0, 0, 0));
        m.attr_str(IFLA_IFNAME, name);
        let info = m.begin(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "veth");
        let data = m.begin(IFLA_INFO_DATA);
        let p = m.begin(VETH_INFO_PEER);
        m.raw(&ifinfomsg(0, 0, 0));
        m.attr_str(IFLA_IFNAME, peer);
        m.attr_u32(IFLA_NET_NS_FD, peer_ns.as_raw_fd() as u32);
        m.end(p);
        m.end(data);
        m.end(info);
        self.request(&m)
    }

    /// Bring interface `index` up.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let m = Message::new(RTM_NEWLINK, 0, &ifinfomsg(index, IFF_UP, IFF_UP));
        self.request(&m)
    }

    /// Make bridge `master` the master of interface `index`.
    pub fn set_master(&mut self, index: u32, master: u32) -> io::Result<()> {
        let mut m = Message::new(RTM_NEWLINK, 0, &ifinfomsg(index, 0, 0));
        m.attr_u32(IFLA_MASTER, master);
        self.request(&m)
    }

    /// Move interface `index` into the network namespace `ns`, renamed to
    /// `name` there when given.
    pub fn move_link(
        &mut self,
        index: u32,
        ns: BorrowedFd<'_>,
        name: Option<&str>,
    ) -> io::Result<()> {
        let mut m = Message::new(RTM_NEWLINK, 0, &ifinfomsg(index, 0, 0));
        m.attr_u32(IFLA_NET_NS_FD, ns.as_fd().as_raw_fd() as u32);
        if let Some(n) = name {
            m.attr_str(IFLA_IFNAME, n);
        }
        self.request(&m)
    }

    /// Delete interface `index` (a veth's peer goes with it).
    pub fn delete_link(&mut self, index: u32) -> io::Result<()> {
        self.request(&Message::new(RTM_DELLINK, 0, &ifinfomsg(index, 0, 0)))
    }

    /// Add `addr/prefix` to interface `index`, without duplicate address
    /// detection (jkit checks for clashes itself, and a tentative IPv6
    /// address would be unusable for a second or more).
    pub fn add_address(&mut self, index: u32, addr: IpAddr, prefix: u8) -> io::Result<()> {
        let mut m = Message::new(
            RTM_NEWADDR,
            NLM_F_CREATE | NLM_F_EXCL,
            &ifaddrmsg(family_of(&addr), prefix, index),
        );
        m.attr(IFA_LOCAL, &addr_bytes(&addr));
        m.attr(IFA_ADDRESS, &addr_bytes(&addr));
        m.attr_u32(IFA_FLAGS, IFA_F_NODAD);
        self.request(&m)
    }

    /// Every address of the namespace.
    pub fn addresses(&mut self) -> io::Result<Vec<Address>> {
        let req = Message::new(RTM_GETADDR, 0, &ifaddrmsg(AF_UNSPEC, 0, 0));
        let mut out = Vec::new();
        for (_, body) in self.dump(&req)? {
            if body.len() < 8 {
                continue;
            }
            let (family, prefix, index) = (body[0], body[1], u32_of(&body[4..8]));
            let mut local = None;
            let mut address = None;
            for (ty, data) in attrs(&body[8..]) {
                match ty {
                    IFA_LOCAL => local = addr_of(family, data),
                    IFA_ADDRESS => address = addr_of(family, data),
                    _ => {}
                }
            }
            if let Some(addr) = local.or(address) {
                out.push(Address {
                    index,
                    addr,
                    prefix,
                });
            }
        }
        Ok(out)
    }

    fn route_message(ty: u16, flags: u16, r: &Route) -> Message {
        let mut rt = [0u8; 12];
        rt[0] = family_of(&r.dst);
        rt[1] = r.prefix;
        rt[4] = RT_TABLE_MAIN;
        rt[5] = RTPROT_STATIC;
        rt[6] = if r.gateway.is_some() {
            RT_SCOPE_UNIVERSE
        } else {
            RT_SCOPE_LINK
        };
        rt[7] = RTN_UNICAST;
        if r.gateway.is_some() {
            rt[8..12].copy_from_slice(&RTNH_F_ONLINK.to_ne_bytes());
        }
        let mut m = Message::new(ty, flags, &rt);
        if r.prefix > 0 {
            m.attr(RTA_DST, &addr_bytes(&r.dst));
        }
        if let Some(g) = &r.gateway {
            m.attr(RTA_GATEWAY, &addr_bytes(g));
        }
        m.attr_u32(RTA_OIF, r.oif);
        m
    }

    /// Add a route to the main table (a gateway is taken as on-link).
    pub fn add_route(&mut self, r: &Route) -> io::Result<()> {
        self.request(&Self::route_message(
            RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL,
            r,
        ))
    }

    /// Delete a route of the main table.
    pub fn delete_route(&mut self, r: &Route) -> io::Result<()> {
        self.request(&Self::route_message(RTM_DELROUTE, 0, r))
    }

    /// The routes of the main table, both families.
    pub fn routes(&mut self) -> io::Result<Vec<Route>> {
        let req = Message::new(RTM_GETROUTE, 0, &[0u8; 12]);
        let mut out = Vec::new();
        for (_, body) in self.dump(&req)? {
            if body.len() < 12 {
                continue;
            }
            let (family, prefix) = (body[0], body[1]);
            let mut table = u32::from(body[4]);
            let mut dst = None;
            let mut gateway = None;
            let mut oif = 0;
            for (ty, data) in attrs(&body[12..]) {
                match ty {
                    RTA_DST => dst = addr_of(family, data),
                    RTA_GATEWAY => gateway = addr_of(family, data),
                    RTA_OIF => oif = u32_of(data),
                    RTA_TABLE => table = u32_of(data),
                    _ => {}
                }
            }
            let unspecified = match family {
                AF_INET => IpAddr::from([0u8; 4]),
                AF_INET6 => IpAddr::from([0u8; 16]),
                _ => continue,
            };
            if table != u32::from(RT_TABLE_MAIN) {
                continue;
            }
            out.push(Route {
                dst: dst.unwrap_or(unspecified),
                prefix,
                gateway,
                oif,
            });
        }
        Ok(out)
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The messages of one datagram as (type, sequence, body).
fn messages(mut b: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 16 {
        let len = u32_of(&b[0..4]) as usize;
        if len < 16 || len > b.len() {
            break;
        }
        let ty = u16::from_ne_bytes([b[4], b[5]]);
        let seq = u32_of(&b[8..12]);
        out.push((ty, seq, &b[16..len]));
        let next = (len + 3) & !3;
        b = &b[next.min(b.len())..];
    }
    out
}

/// The result an NLMSG_ERROR body carries (0 is an acknowledgement).
fn errno_of(body: &[u8]) -> io::Result<()> {
    let code = body
        .get(0..4)
        .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(-code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nests_sized() {
        let mut m = Message::new(RTM_NEWLINK, NLM_F_CREATE, &ifinfomsg(0, 0, 0));
        m.attr_str(IFLA_IFNAME, "br0");
        let n = m.begin(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "bridge");
        m.end(n);
        let b = m.finish(7);
        assert_eq!(b.len() % 4, 0);
        assert_eq!(u32_of(&b[0..4]) as usize, b.len());
        assert_eq!(u32_of(&b[8..12]), 7);
        let a = attrs(&b[32..]);
        assert_eq!(a[0], (IFLA_IFNAME, &b"br0\0"[..]));
        assert_eq!(a[1].0, IFLA_LINKINFO);
        assert_eq!(attrs(a[1].1), [(IFLA_INFO_KIND, &b"bridge\0"[..])]);
    }

    #[test]
    fn error_bodies_carry_negative_errno() {
        assert!(errno_of(&0i32.to_ne_bytes()).is_ok());
        let e = errno_of(&(-libc::EEXIST).to_ne_bytes()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
    }
}
