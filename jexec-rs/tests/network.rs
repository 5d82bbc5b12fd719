//! jexec-rs in jails with their own network: it joins the jail's network
//! namespace, so the command sees the jail's interfaces only (`lo` and the
//! jail's `eth0`, none of the host's), and only a vnet jail may configure
//! them. Only the project's addresses (10.213.9.0/24) on a bridge of the
//! test's own, removed on drop.

#![cfg(target_os = "linux")]

use jkit_tests::{Out, TestEnv, require_root};

fn jexec(env: &TestEnv, args: &[&str]) -> Out {
    env.run("jexec-rs", args)
}

/// The interface names /proc/net/dev lists, sorted.
fn interfaces(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn a_jail_sees_only_its_own_interfaces_and_only_vnet_configures_them() {
    require_root!();
    let env = TestEnv::new("jexec-net");
    let bridge = format!("jkit.bridge={}", env.net_name("x"));
    let gw = "jkit.gateway=10.213.9.1/24";
    let jails = [
        ("a", vec!["persist", &bridge, gw, "ip4.addr=10.213.9.10"]),
        ("v", vec!["persist", &bridge, gw, "vnet=new"]),
    ];
    let jk = env.jkit();
    for (name, params) in &jails {
        env.create_host_jail(name, params);
        assert!(jk.start(name).unwrap().alive);
    }
    let host = interfaces(&std::fs::read_to_string("/proc/net/dev").unwrap());
    assert!(
        host.len() > 2,
        "the host has more than lo and eth0: {host:?}"
    );
    for name in ["a", "v"] {
        let out = jexec(&env, &[name, "cat", "/proc/net/dev"]);
        assert!(out.success(), "{}", out.stderr);
        assert_eq!(interfaces(&out.stdout), ["eth0", "lo"], "jail {name}");
    }
    // The vnet jail gives itself an address; the other one may not.
    let add = |jail: &str, addr: &str| {
        jexec(
            &env,
            &[jail, "/usr/sbin/ip", "addr", "add", addr, "dev", "eth0"],
        )
    };
    let out = add("v", "10.213.9.20/24");
    assert!(out.success(), "{}", out.stderr);
    let out = jexec(
        &env,
        &["v", "/usr/sbin/ip", "-o", "-4", "addr", "show", "eth0"],
    );
    assert!(out.stdout.contains("10.213.9.20/24"));
    let out = add("a", "10.213.9.21/24");
    assert!(
        !out.success(),
        "an addressed jail without vnet changed its addresses"
    );
    assert!(out.stderr.contains("Operation not permitted"));
}
