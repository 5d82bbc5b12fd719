//! End-to-end tests of jail networking on the real Linux backend: bridges,
//! veths, addresses, routes, vnet, NAT, through jmk. Only the project's own
//! addresses (10.213.0.0/16, fd00:213::/64-style networks) are used, on
//! bridges and namespaces the tests make and remove (TestEnv removes its
//! interfaces on drop, even when a test fails). Reachability is tested
//! with TCP connections from threads that join a jail's network namespace.
//!
//! Veth names come from jids, which are per state directory, so these
//! tests run one at a time.

#![cfg(target_os = "linux")]

use std::fs;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Mutex;
use std::time::Duration;

use jkit::backend::linux::net::netlink::{Link, Socket};
use jkit::backend::linux::{net, state};
use jkit_tests::{TestEnv, require_root};
use nix::sched::{CloneFlags, setns, unshare};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The host pid of jail `name`'s init.
fn init_pid(env: &TestEnv, name: &str) -> i32 {
    state::read(&env.paths, name)
        .unwrap()
        .and_then(|s| s.init)
        .unwrap_or_else(|| panic!("{name} has no init"))
        .pid
}

/// Run `f` in the network namespace of process `pid` (the host's for
/// `None`), in a thread of its own.
fn in_ns<T: Send>(pid: Option<i32>, f: impl FnOnce() -> T + Send) -> T {
    let ns = pid.map(|p| fs::File::open(format!("/proc/{p}/ns/net")).unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(ns) = &ns {
                setns(ns, CloneFlags::CLONE_NEWNET).unwrap();
            }
            f()
        })
        .join()
        .unwrap()
    })
}

/// A TCP listener on `addr` (any port) in `pid`'s network namespace.
fn listen(pid: Option<i32>, addr: &str) -> TcpListener {
    let ip: IpAddr = addr.parse().unwrap();
    in_ns(pid, || TcpListener::bind(SocketAddr::new(ip, 0)).unwrap())
}

/// Whether a TCP connection from `pid`'s namespace to `l` succeeds.
fn reaches(pid: Option<i32>, l: &TcpListener) -> bool {
    let to = l.local_addr().unwrap();
    in_ns(pid, || {
        TcpStream::connect_timeout(&to, Duration::from_secs(2)).is_ok()
    })
}

fn links(pid: Option<i32>) -> Vec<Link> {
    in_ns(pid, || Socket::open().unwrap().links().unwrap())
}

fn link_names(pid: Option<i32>) -> Vec<String> {
    let mut v: Vec<String> = links(pid).into_iter().map(|l| l.name).collect();
    v.sort();
    v
}

fn host_link(name: &str) -> Option<Link> {
    links(None).into_iter().find(|l| l.name == name)
}

/// `addr/prefix` of every address in `pid`'s namespace on interface `ifname`.
fn addresses(pid: Option<i32>, ifname: &str) -> Vec<String> {
    in_ns(pid, || {
        let mut s = Socket::open().unwrap();
        let idx = s.link(ifname).unwrap().map(|l| l.index);
        s.addresses()
            .unwrap()
            .into_iter()
            .filter(|a| Some(a.index) == idx)
            .map(|a| format!("{}/{}", a.addr, a.prefix))
            .collect()
    })
}

/// Routes in `pid`'s namespace as `dst/prefix via gw`.
fn routes(pid: Option<i32>) -> Vec<String> {
    in_ns(pid, || {
        Socket::open()
            .unwrap()
            .routes()
            .unwrap()
            .into_iter()
            .map(|r| match r.gateway {
                Some(g) => format!("{}/{} via {g}", r.dst, r.prefix),
                None => format!("{}/{}", r.dst, r.prefix),
            })
            .collect()
    })
}

fn claims(env: &TestEnv) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(env.paths.run_dir.join("addrs"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The host veths of this environment's jails (`net::veth_name`: its own
/// prefix, the jid, `h`).
fn jail_veths(env: &TestEnv) -> Vec<String> {
    let prefix = net::veth_prefix(&env.paths);
    links(None)
        .into_iter()
        .filter(|l| l.name.starts_with(&prefix) && l.name.ends_with('h') && l.kind == "veth")
        .map(|l| l.name)
        .collect()
}

/// The host end of jail `jid`'s veth in this environment.
fn veth(env: &TestEnv, jid: i64) -> String {
    net::veth_name(&env.paths, jid)
}

/// Set a sysctl file for the life of the guard, then put the old value back.
struct Sysctl {
    path: &'static str,
    old: String,
}

impl Sysctl {
    fn set(path: &'static str, value: &str) -> Self {
        let old = fs::read_to_string(path).unwrap();
        fs::write(path, value).unwrap();
        Sysctl { path, old }
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        let _ = fs::write(self.path, self.old.trim());
    }
}

#[test]
fn jails_on_one_bridge_reach_each_other_and_leave_nothing() {
    require_root!();
    let _one = serial();
    let env = TestEnv::new("net-bridge");
    let br = env.net_name("b");
    let bridge = format!("jkit.bridge={br}");
    let gw = "jkit.gateway=10.213.1.1/24,fd00:213:1::1/64";
    env.jmk_ok(&[
        "create",
        "a",
        "persist",
        &bridge,
        gw,
        "ip4.addr=10.213.1.10",
        "ip6.addr=fd00:213:1::10",
    ]);
    env.jmk_ok(&[
        "create",
        "b",
        "persist",
        &bridge,
        gw,
        "ip4.addr=10.213.1.11/24",
        "ip6.addr=fd00:213:1:0:0::11",
    ]);
    let started = env.jmk_ok(&["--json", "start", "a", "b"]);
    let recs: Vec<serde_json::Value> = started
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs[0]["ip4"], serde_json::json!(["10.213.1.10"]));
    assert_eq!(recs[1]["ip6"], serde_json::json!(["fd00:213:1::11"]));

    bridge_has_a_veth_per_jail(&env, &br);
    let (pa, pb) = (init_pid(&env, "a"), init_pid(&env, "b"));
    jail_sees_its_addresses_and_routes(pa);
    jails_reach_each_other_and_the_host(pa, pb);
    clashing_addresses_are_refused(&env, &br, &bridge, gw);
    stops_leave_nothing_behind(&env, &br, pb);
}

/// The bridge, made on first use with the gateway addresses; one veth per
/// jail, its host end a port of the bridge.
fn bridge_has_a_veth_per_jail(env: &TestEnv, br: &str) {
    let b = host_link(br).expect("bridge created");
    assert_eq!(b.kind, "bridge");
    let mut on_bridge = addresses(None, br);
    on_bridge.retain(|a| !a.starts_with("fe80"));
    assert_eq!(on_bridge, ["10.213.1.1/24", "fd00:213:1::1/64"]);
    for v in [veth(env, 1), veth(env, 2)] {
        let l = host_link(&v).unwrap_or_else(|| panic!("{v} missing"));
        assert_eq!((l.kind.as_str(), l.master, l.up), ("veth", b.index, true));
    }
    assert_eq!(net::bridge_nat(br).unwrap(), Some(false));
}

/// Inside a: loopback and eth0 only, the addresses (the gateway's prefix
/// when none is given), a default route per family via the bridge.
fn jail_sees_its_addresses_and_routes(pa: i32) {
    assert_eq!(link_names(Some(pa)), ["eth0", "lo"]);
    let mut addrs = addresses(Some(pa), "eth0");
    addrs.retain(|a| !a.starts_with("fe80"));
    assert_eq!(addrs, ["10.213.1.10/24", "fd00:213:1::10/64"]);
    let r = routes(Some(pa));
    assert!(r.contains(&"0.0.0.0/0 via 10.213.1.1".to_string()), "{r:?}");
    assert!(r.contains(&"::/0 via fd00:213:1::1".to_string()), "{r:?}");
}

/// a and b reach each other, both families; a reaches the bridge's
/// addresses, and the host reaches a.
fn jails_reach_each_other_and_the_host(pa: i32, pb: i32) {
    for (to, addr) in [(pb, "10.213.1.11"), (pb, "fd00:213:1::11")] {
        let l = listen(Some(to), addr);
        assert!(reaches(Some(pa), &l), "a -> {addr}");
    }
    for addr in ["10.213.1.1", "fd00:213:1::1"] {
        let l = listen(None, addr);
        assert!(reaches(Some(pa), &l), "a -> bridge {addr}");
    }
    let la = listen(Some(pa), "10.213.1.10");
    assert!(reaches(None, &la), "host -> a");
    assert!(reaches(Some(pb), &la), "b -> a");
}

/// The addresses claimed; a third jail with b's address and a fourth with
/// the bridge's fail to start, and leave no veth or claim.
fn clashing_addresses_are_refused(env: &TestEnv, br: &str, bridge: &str, gw: &str) {
    assert_eq!(
        claims(env),
        [
            "10.213.1.10",
            "10.213.1.11",
            "fd00:213:1::10",
            "fd00:213:1::11"
        ]
    );
    env.jmk_ok(&["create", "c", "persist", bridge, gw, "ip4.addr=10.213.1.11"]);
    let out = env.run("jmk", &["start", "c"]);
    assert_eq!(out.status.code(), Some(73), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "jmk: c: IPv4 addresses clash: 10.213.1.11 is jail \"b\"'s\n"
    );
    env.jmk_ok(&["create", "d", "persist", bridge, gw, "ip4.addr=10.213.1.1"]);
    let out = env.run("jmk", &["start", "d"]);
    assert_eq!(out.status.code(), Some(73), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!("jmk: d: 10.213.1.1 is in use on the host ({br})\n")
    );
    assert_eq!(
        jail_veths(env),
        [veth(env, 1), veth(env, 2)],
        "a failed start leaves no veth"
    );
    assert_eq!(claims(env).len(), 4, "a failed start leaves no claim");
    assert!(!env.paths.run_jail_dir("c").exists());
}

/// Stopping leaves no veth, claim or address behind; b lives on until it
/// stops too, and the bridge stays.
fn stops_leave_nothing_behind(env: &TestEnv, br: &str, pb: i32) {
    env.jmk_ok(&["stop", "a"]);
    assert_eq!(jail_veths(env), [veth(env, 2)]);
    assert_eq!(claims(env), ["10.213.1.11", "fd00:213:1::11"]);
    let lb = listen(Some(pb), "10.213.1.11");
    assert!(reaches(None, &lb));
    env.jmk_ok(&["stop", "b"]);
    assert!(jail_veths(env).is_empty());
    assert!(claims(env).is_empty());
    // The bridge stays, with only its own addresses and connected routes.
    assert!(host_link(br).is_some());
    let host_routes: Vec<String> = routes(None)
        .into_iter()
        .filter(|r| r.contains("10.213.1.") || r.contains("fd00:213:1:"))
        .collect();
    assert_eq!(host_routes, ["10.213.1.0/24", "fd00:213:1::/64"]);
}

/// "Outside" (see [`outside`], 10.213.250.1/30 on the host's end) and a
/// listener there; the namespace's handle keeps it alive.
fn outside_listener(env: &TestEnv) -> (TcpListener, fs::File) {
    let ns = outside(env, "up", ("10.213.250.1", "10.213.250.2"));
    let far = in_file_ns(&ns, || TcpListener::bind("10.213.250.2:0").unwrap());
    (far, ns)
}

#[test]
fn bridges_are_isolated_even_when_the_host_forwards_and_nat_goes_out() {
    require_root!();
    let _one = serial();
    let env = TestEnv::new("net-iso");
    let (b1, b2, b3) = (env.net_name("1"), env.net_name("2"), env.net_name("3"));
    let def = |jail: &str, br: &str, gw: &str, addr: &str, nat: bool| {
        let mut args = vec![
            "create".to_string(),
            jail.into(),
            "persist".into(),
            format!("jkit.bridge={br}"),
            format!("jkit.gateway={gw}"),
            format!("ip4.addr={addr}"),
        ];
        if nat {
            args.push("jkit.nat".into());
        }
        env.jmk_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    };
    def("x", &b1, "10.213.2.1/24", "10.213.2.10", false);
    def("y", &b2, "10.213.3.1/24", "10.213.3.10", false);
    def("z", &b3, "10.213.4.1/24", "10.213.4.10", true);
    env.jmk_ok(&["start", "x", "y"]);
    let (px, py) = (init_pid(&env, "x"), init_pid(&env, "y"));

    let (far, _outside) = outside_listener(&env);
    assert!(reaches(None, &far), "host -> outside");

    let _fwd = Sysctl::set("/proc/sys/net/ipv4/ip_forward", "1");
    let ly = listen(Some(py), "10.213.3.10");
    let lx = listen(Some(px), "10.213.2.10");
    assert!(!reaches(Some(px), &ly), "x reached y across bridges");
    assert!(!reaches(Some(py), &lx), "y reached x across bridges");
    assert!(!reaches(Some(px), &far), "x went out without jkit.nat");
    let gw1 = listen(None, "10.213.2.1");
    assert!(reaches(Some(px), &gw1), "x -> its own gateway");
    assert!(reaches(None, &lx), "host -> x");

    // jkit.nat: z goes out, masqueraded behind the host's address.
    env.jmk_ok(&["start", "z"]);
    assert_eq!(net::bridge_nat(&b3).unwrap(), Some(true));
    let pz = init_pid(&env, "z");
    let to = far.local_addr().unwrap();
    let conn = in_ns(Some(pz), || {
        TcpStream::connect_timeout(&to, Duration::from_secs(2))
    });
    assert!(conn.is_ok(), "z did not get out: {conn:?}");
    let (_, peer) = far.accept().unwrap();
    assert_eq!(peer.ip().to_string(), "10.213.250.1", "not masqueraded");
    // Still nothing routed into a bridge from elsewhere.
    let lz = listen(Some(pz), "10.213.4.10");
    assert!(!reaches(Some(px), &lz), "x reached z");
    assert!(!reaches(Some(pz), &lx), "z reached x");
}

#[test]
fn address_outside_the_bridge_network_gets_a_host_route_and_crashes_are_cleaned() {
    require_root!();
    let _one = serial();
    let env = TestEnv::new("net-route");
    let br = env.net_name("r");
    env.jmk_ok(&[
        "create",
        "w",
        "persist",
        &format!("jkit.bridge={br}"),
        "jkit.gateway=10.213.6.1/24",
        "ip4.addr=10.213.5.10",
    ]);
    env.jmk_ok(&["start", "w"]);
    let pw = init_pid(&env, "w");
    let mut addrs = addresses(Some(pw), "eth0");
    addrs.retain(|a| !a.starts_with("fe80"));
    assert_eq!(addrs, ["10.213.5.10/32"]);
    assert!(routes(None).contains(&"10.213.5.10/32".to_string()));
    let lw = listen(Some(pw), "10.213.5.10");
    assert!(reaches(None, &lw), "host -> w through its host route");
    let gw = listen(None, "10.213.6.1");
    assert!(reaches(Some(pw), &gw), "w -> its gateway, on-link");

    // The jail dies under jkit's feet; the clean-up finds everything.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pw), nix::sys::signal::SIGKILL).unwrap();
    for _ in 0..100 {
        if !std::path::Path::new(&format!("/proc/{pw}")).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(env.jkit().backend().list(true).unwrap().is_empty());
    env.jkit().backend().clean("w", None).unwrap();
    assert!(jail_veths(&env).is_empty());
    assert!(!routes(None).contains(&"10.213.5.10/32".to_string()));
    assert!(claims(&env).is_empty());
    // and it starts again
    env.jmk_ok(&["start", "w"]);
    env.jmk_ok(&["stop", "w"]);
    assert!(jail_veths(&env).is_empty());
}

#[test]
fn vnet_jail_configures_its_own_network_and_others_cannot() {
    require_root!();
    let _one = serial();
    let env = TestEnv::new("net-vnet");
    let br = env.net_name("v");
    let bridge = format!("jkit.bridge={br}");
    let gw = "jkit.gateway=10.213.7.1/24";
    env.jmk_ok(&[
        "create",
        "v",
        "persist",
        "vnet",
        &bridge,
        gw,
        "command=/bin/sh",
        "-c",
        "/usr/sbin/ip addr add 10.213.7.10/24 dev eth0 && /usr/sbin/ip route add default via 10.213.7.1",
    ]);
    let out = env.run("jmk", &["start", "v"]);
    assert!(out.status.success(), "{}", out.stderr);
    let pv = init_pid(&env, "v");
    assert_eq!(link_names(Some(pv)), ["eth0", "lo"]);
    let lv = listen(Some(pv), "10.213.7.10");
    assert!(reaches(None, &lv), "host -> the address v gave itself");
    assert!(routes(Some(pv)).contains(&"0.0.0.0/0 via 10.213.7.1".to_string()));

    // A jail with jkit-managed addresses cannot change them.
    env.jmk_ok(&[
        "create",
        "n",
        "persist",
        &bridge,
        gw,
        "ip4.addr=10.213.7.20",
        "command=/usr/sbin/ip",
        "addr",
        "add",
        "10.213.7.21/24",
        "dev",
        "eth0",
    ]);
    let out = env.run("jmk", &["start", "n"]);
    assert!(!out.status.success(), "ip addr add worked without vnet");
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.stderr
    );
    let pn = init_pid(&env, "n");
    let mut addrs = addresses(Some(pn), "eth0");
    addrs.retain(|a| !a.starts_with("fe80"));
    assert_eq!(addrs, ["10.213.7.20/24"]);
    env.jmk_ok(&["stop", "v", "n"]);
    assert!(jail_veths(&env).is_empty());
}

#[test]
fn vnet_interface_moves_into_the_jail_and_back() {
    require_root!();
    let _one = serial();
    let env = TestEnv::new("net-move");
    let (inner, outer) = (env.net_name("i"), env.net_name("o"));
    {
        use std::os::fd::AsFd;
        let host_ns = fs::File::open("/proc/self/ns/net").unwrap();
        let mut s = Socket::open().unwrap();
        s.create_veth(&outer, &inner, host_ns.as_fd()).unwrap();
    }
    env.jmk_ok(&[
        "create",
        "m",
        "persist",
        "vnet=new",
        &format!("vnet.interface={inner}"),
    ]);
    for crash in [false, true] {
        env.jmk_ok(&["start", "m"]);
        let pm = init_pid(&env, "m");
        assert_eq!(
            link_names(Some(pm)),
            [inner.clone(), "lo".into()],
            "no veth: the interface only"
        );
        assert!(host_link(&inner).is_none(), "still on the host");
        if crash {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pm), nix::sys::signal::SIGKILL)
                .unwrap();
            for _ in 0..100 {
                if !std::path::Path::new(&format!("/proc/{pm}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            env.jkit().backend().clean("m", None).unwrap();
        } else {
            env.jmk_ok(&["stop", "m"]);
        }
        let back = host_link(&inner).unwrap_or_else(|| panic!("{inner} not back (crash: {crash})"));
        assert_eq!(back.kind, "veth");
    }
    // A missing interface fails the start cleanly.
    env.jmk_ok(&["create", "g", "vnet=new", "vnet.interface=jtnosuch0"]);
    let out = env.run("jmk", &["start", "g"]);
    assert_eq!(out.status.code(), Some(66), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "jmk: g: vnet.interface jtnosuch0: no such interface\n"
    );
    assert!(!env.paths.run_jail_dir("g").exists());
}

/// An "outside" network namespace of the test's own, joined to the host
/// by a veth whose host end has `host_addr/30` (the host's "external"
/// address) and the other end `far_addr/30`; its handle keeps it alive.
fn outside(env: &TestEnv, tag: &str, (host_addr, far_addr): (&str, &str)) -> fs::File {
    let up = env.net_name(tag);
    let ns = in_ns(None, || {
        unshare(CloneFlags::CLONE_NEWNET).unwrap();
        fs::File::open("/proc/thread-self/ns/net").unwrap()
    });
    {
        use std::os::fd::AsFd;
        let mut host = Socket::open().unwrap();
        host.create_veth(&up, "eth0", ns.as_fd()).unwrap();
        let l = host.link(&up).unwrap().unwrap();
        host.add_address(l.index, host_addr.parse().unwrap(), 30)
            .unwrap();
        host.add_address(l.index, HOST6.parse().unwrap(), 64)
            .unwrap();
        // No duplicate address detection for the link-local address
        // either: until it is done the host sends no neighbor
        // solicitation there for what it forwards.
        fs::write(format!("/proc/sys/net/ipv6/conf/{up}/accept_dad"), "0").unwrap();
        host.set_up(l.index).unwrap();
    }
    in_file_ns(&ns, || {
        let mut s = Socket::open().unwrap();
        let e = s.link("eth0").unwrap().unwrap();
        s.add_address(e.index, far_addr.parse().unwrap(), 30)
            .unwrap();
        s.add_address(e.index, FAR6.parse().unwrap(), 64).unwrap();
        fs::write("/proc/sys/net/ipv6/conf/eth0/accept_dad", "0").unwrap();
        s.set_up(e.index).unwrap();
    });
    ns
}

/// The host's and the outside's IPv6 addresses on the outside veth.
const HOST6: &str = "fd00:213:251::1";
const FAR6: &str = "fd00:213:251::2";

/// Run `f` in the network namespace `ns`, in a thread of its own.
fn in_file_ns<T: Send>(ns: &fs::File, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(ns, CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

/// The nftables tables of jkit's port forwarding for this environment.
fn rdr_tables(env: &TestEnv) -> Vec<String> {
    let mine = net::rdr::table_name(&env.paths);
    net::rdr::nft_tables()
        .unwrap()
        .into_iter()
        .filter(|t| *t == mine)
        .collect()
}

/// A TCP connection from `connect` (a thread in some namespace) to `to`
/// is accepted by `l`; the peer address the listener sees.
fn forwarded_tcp(
    l: &TcpListener,
    connect: impl FnOnce() -> std::io::Result<TcpStream> + Send,
) -> Option<IpAddr> {
    l.set_nonblocking(false).unwrap();
    let conn = std::thread::scope(|s| s.spawn(connect).join().unwrap());
    conn.ok()?;
    let (_, peer) = l.accept().ok()?;
    Some(peer.ip())
}

/// A UDP round trip: `client` (in namespace `ns`) sends to `to`, the jail
/// socket `jail_sock` answers; what the client hears back and from where.
fn udp_round_trip(
    ns: &fs::File,
    to: SocketAddr,
    jail_sock: &UdpSocket,
) -> Option<(String, SocketAddr)> {
    jail_sock
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    in_file_ns(ns, || {
        let c = UdpSocket::bind("0.0.0.0:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c.send_to(b"ping", to).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = jail_sock.recv_from(&mut buf).ok()?;
        jail_sock
            .send_to(&[&buf[..n], b"-pong"].concat(), from)
            .unwrap();
        let (n, from) = c.recv_from(&mut buf).ok()?;
        Some((String::from_utf8_lossy(&buf[..n]).into_owned(), from))
    })
}

#[test]
fn rdr_forwards_host_ports_to_the_jail_from_outside_and_the_host_and_leaves_nothing() {
    require_root!();
    let _one = serial();
    let env = TestEnv::new("net-rdr");
    let br = env.net_name("f");
    let bridge = format!("jkit.bridge={br}");
    let gw = "jkit.gateway=10.213.8.1/24,fd00:213:8::1/64";
    env.jmk_ok(&[
        "create",
        "web",
        "persist",
        &bridge,
        gw,
        "ip4.addr=10.213.8.10",
        "ip6.addr=fd00:213:8::10",
    ]);
    env.jmk_ok(&[
        "create",
        "other",
        "persist",
        &bridge,
        gw,
        "ip4.addr=10.213.8.11",
    ]);
    env.jmk_ok(&["create", "bare", "persist"]);
    env.jmk_ok(&["rdr", "web", "tcp", "18080", "80"]);
    env.jmk_ok(&["rdr", "web", "udp", "15353", "53"]);
    env.jmk_ok(&["rdr", "web", "tcp", "18100:18102", "18100:18102"]);
    rdr_refusals_change_nothing(&env);

    let _fwd6 = Sysctl::set("/proc/sys/net/ipv6/conf/all/forwarding", "1");
    env.jmk_ok(&["start", "web", "other"]);
    assert_eq!(rdr_tables(&env).len(), 1, "the forwarding table is there");
    let listed = env.jmk_ok(&["--json", "rdr", "web", "list"]);
    let first: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(
        first["to"],
        serde_json::json!(["10.213.8.10", "fd00:213:8::10"])
    );
    assert_eq!(first["rule"], "dual any any any tcp 18080 80");

    let pw = init_pid(&env, "web");
    let out_ns = outside(&env, "x", ("10.213.251.1", "10.213.251.2"));
    let jail4 = in_ns(Some(pw), || TcpListener::bind("10.213.8.10:80").unwrap());
    let jail6 = in_ns(Some(pw), || {
        TcpListener::bind("[fd00:213:8::10]:80").unwrap()
    });
    let jail_udp = in_ns(Some(pw), || UdpSocket::bind("10.213.8.10:53").unwrap());
    let host_ext: SocketAddr = "10.213.251.1:18080".parse().unwrap();
    let connect = |to: SocketAddr| move || TcpStream::connect_timeout(&to, Duration::from_secs(2));

    // From outside, through the host's address: the client's own address
    // arrives (no masquerade), over TCP and UDP.
    let peer = forwarded_tcp(&jail4, || in_file_ns(&out_ns, connect(host_ext)));
    assert_eq!(
        peer,
        Some("10.213.251.2".parse().unwrap()),
        "outside -> host:18080 -> web:80"
    );
    let (reply, from) = udp_round_trip(&out_ns, "10.213.251.1:15353".parse().unwrap(), &jail_udp)
        .expect("outside -> host:15353/udp -> web:53");
    assert_eq!(
        (reply.as_str(), from.to_string().as_str()),
        ("ping-pong", "10.213.251.1:15353")
    );
    // IPv6 from outside, the host forwarding IPv6 (the admin's choice).
    {
        let to: SocketAddr = format!("[{HOST6}]:18080").parse().unwrap();
        let peer = forwarded_tcp(&jail6, || in_file_ns(&out_ns, connect(to)));
        assert_eq!(
            peer,
            Some(FAR6.parse().unwrap()),
            "outside -> [host]:18080 -> [web]:80"
        );
    }
    // The host itself, to its own addresses, IPv4 and IPv6; a range.
    assert!(
        forwarded_tcp(&jail4, connect(host_ext)).is_some(),
        "host -> own address"
    );
    let bridge6: SocketAddr = "[fd00:213:8::1]:18080".parse().unwrap();
    assert!(
        forwarded_tcp(&jail6, connect(bridge6)).is_some(),
        "host -> own IPv6 address"
    );
    let ranged = in_ns(Some(pw), || TcpListener::bind("10.213.8.10:18101").unwrap());
    let to: SocketAddr = "10.213.251.1:18101".parse().unwrap();
    assert!(
        forwarded_tcp(&ranged, || in_file_ns(&out_ns, connect(to))).is_some(),
        "range"
    );

    // Removed while running: gone at once.
    env.jmk_ok(&["rdr", "web", "rm", "udp", "15353"]);
    assert!(udp_round_trip(&out_ns, "10.213.251.1:15353".parse().unwrap(), &jail_udp).is_none());
    // jtpl's RDR does what jmk rdr does, at once on a running jail.
    let tpl = env.base.join("tpl-rdr");
    fs::create_dir_all(&tpl).unwrap();
    fs::write(tpl.join("Bastillefile"), "RDR -t ipv4 udp 15354 53\n").unwrap();
    let out = jkit_tests::Out::of(env.cmd("jtpl").arg("apply").arg("web").arg(&tpl));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        env.jmk_ok(&["rdr", "web", "list"])
            .contains("ipv4 any any any udp 15354 53\n")
    );
    let (reply, _) = udp_round_trip(&out_ns, "10.213.251.1:15354".parse().unwrap(), &jail_udp)
        .expect("outside -> host:15354/udp (jtpl's RDR) -> web:53");
    assert_eq!(reply, "ping-pong");

    // A rule of another jail for the same port is refused at its start.
    fs::write(
        env.paths.rdr_file("bare"),
        "dual any any any tcp 18080 80\n",
    )
    .unwrap();
    env.jmk_ok(&["stop", "other"]);
    fs::write(
        env.paths.rdr_file("other"),
        "dual any any any tcp 18080 80\n",
    )
    .unwrap();
    let out = env.run("jmk", &["start", "other"]);
    assert_eq!(out.status.code(), Some(73), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "jmk: other: host port tcp/18080 is already forwarded to jail \"web\" (dual any any any tcp 18080 80)\n"
    );
    fs::remove_file(env.paths.rdr_file("other")).unwrap();
    fs::remove_file(env.paths.rdr_file("bare")).unwrap();

    env.jmk_ok(&["stop", "web"]);
    assert!(
        rdr_tables(&env).is_empty(),
        "stop leaves no forwarding table"
    );
    assert!(forwarded_tcp(&jail4, || in_file_ns(&out_ns, connect(host_ext))).is_none());
    // and at the next start it is back, as after a host reboot
    env.jmk_ok(&["start", "web"]);
    assert_eq!(rdr_tables(&env).len(), 1);
    let pw = init_pid(&env, "web");
    let jail4 = in_ns(Some(pw), || TcpListener::bind("10.213.8.10:80").unwrap());
    assert!(forwarded_tcp(&jail4, || in_file_ns(&out_ns, connect(host_ext))).is_some());
    env.jmk_ok(&["destroy", "-f", "web"]);
    assert!(
        rdr_tables(&env).is_empty(),
        "destroy leaves no forwarding table"
    );
    assert!(!env.paths.rdr_file("web").exists());
}

/// Refused rules: one line each, and the rules files untouched.
fn rdr_refusals_change_nothing(env: &TestEnv) {
    let web_rules = fs::read_to_string(env.paths.rdr_file("web")).unwrap();
    let tcp_host = TcpListener::bind("0.0.0.0:0").unwrap();
    let udp_host = UdpSocket::bind("[::]:0").unwrap();
    let (tp, up) = (
        tcp_host.local_addr().unwrap().port().to_string(),
        udp_host.local_addr().unwrap().port().to_string(),
    );
    let me = std::process::id();
    let cases: Vec<(Vec<&str>, i32, String)> = vec![
        (
            vec!["other", "tcp", "18080", "81"],
            73,
            "host port tcp/18080 is already forwarded to jail \"web\" (dual any any any tcp 18080 80)".into(),
        ),
        (
            vec!["web", "tcp", "18101", "81"],
            73,
            "host port tcp/18101 is already forwarded to jail \"web\" (dual any any any tcp 18100:18102 18100:18102)".into(),
        ),
        (vec!["other", "tcp", &tp, "80"], 73, format!("tcp port {tp} is in use on the host by ")),
        (vec!["other", "udp", &up, "53"], 73, format!("udp port {up} is in use on the host by ")),
        (
            vec!["other", "-t", "ipv6", "tcp", "18200", "80"],
            78,
            "jail \"other\" has no IPv6 address (ip6.addr) to forward tcp/18200 to".into(),
        ),
        (
            vec!["bare", "udp", "18200", "80"],
            78,
            "jail \"bare\" has no IPv4 or IPv6 address (ip4.addr, ip6.addr) to forward udp/18200 to".into(),
        ),
    ];
    for (args, code, msg) in cases {
        let name = args[0];
        let mut argv = vec!["rdr"];
        argv.extend(&args);
        let out = env.run("jmk", &argv);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with(&format!("jmk: {name}: {msg}")),
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        if msg.contains("in use") {
            assert!(
                out.stderr.ends_with(&format!("(pid {me})\n")),
                "{}",
                out.stderr
            );
        }
    }
    assert_eq!(
        fs::read_to_string(env.paths.rdr_file("web")).unwrap(),
        web_rules
    );
    for j in ["other", "bare"] {
        assert!(
            !env.paths.rdr_file(j).exists(),
            "{j}: a refused rule was kept"
        );
    }
}

/// Wait up to 10 s for `cond`.
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn rdr_left_by_a_killed_jmk_and_a_dead_jail_never_reaches_the_next_owner_of_its_address() {
    require_root!();
    let _one = serial();
    let env = TestEnv::new("net-rdrkill");
    let br = env.net_name("k");
    let bridge = format!("jkit.bridge={br}");
    let gw = "jkit.gateway=10.213.9.1/24";
    env.jmk_ok(&[
        "create",
        "k",
        "persist",
        &bridge,
        gw,
        "ip4.addr=10.213.9.10",
        "exec.start=/bin/sleep 30",
    ]);
    env.jmk_ok(&["rdr", "k", "tcp", "18090", "80"]);
    // jmk is killed mid-start, once the forwarding is up; then the jail
    // dies too, as in a crash: its forwarding stays behind for now.
    let mut jmk = env.cmd("jmk").args(["start", "k"]).spawn().unwrap();
    assert!(
        wait_for(|| !rdr_tables(&env).is_empty()),
        "forwarding never came up"
    );
    jmk.kill().unwrap();
    jmk.wait().unwrap();
    let pk = init_pid(&env, "k");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pk), nix::sys::signal::SIGKILL).unwrap();
    assert!(wait_for(
        || !std::path::Path::new(&format!("/proc/{pk}")).exists()
    ));
    assert_eq!(
        rdr_tables(&env).len(),
        1,
        "the dead jail's forwarding is still there"
    );

    // Another jail takes the address over: the forwarding goes first.
    env.jmk_ok(&[
        "create",
        "n",
        "persist",
        &bridge,
        gw,
        "ip4.addr=10.213.9.10",
    ]);
    env.jmk_ok(&["start", "n"]);
    assert!(rdr_tables(&env).is_empty(), "a rule points at n's address");
    let pn = init_pid(&env, "n");
    let ln = in_ns(Some(pn), || TcpListener::bind("10.213.9.10:80").unwrap());
    let to: SocketAddr = "10.213.9.1:18090".parse().unwrap();
    assert!(
        forwarded_tcp(&ln, || TcpStream::connect_timeout(
            &to,
            Duration::from_secs(1)
        ))
        .is_none(),
        "the host's port 18090 still reaches n"
    );
    env.jmk_ok(&["stop", "n"]);

    // k starts again (its remains cleaned first) with its forwarding; its
    // stop leaves nothing.
    let mut jmk = env.cmd("jmk").args(["start", "k"]).spawn().unwrap();
    assert!(
        wait_for(|| !rdr_tables(&env).is_empty()),
        "k's forwarding is back"
    );
    jmk.kill().unwrap();
    jmk.wait().unwrap();
    env.jmk_ok(&["stop", "k"]);
    assert!(
        rdr_tables(&env).is_empty(),
        "stop after a killed start leaves no rule"
    );
}
