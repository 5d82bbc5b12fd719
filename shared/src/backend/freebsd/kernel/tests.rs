use std::time::Duration;

use nix::errno::Errno;

use super::fake::{FakeKernel, OnTerm};
use super::*;
use crate::backend::freebsd::jailparam::Native;
use crate::model::param::Access;

fn names(params: &[ParamInfo]) -> Vec<&str> {
    params.iter().map(|p| p.name.as_ref()).collect()
}

#[test]
fn the_table_is_the_kernels_own_in_jls_order() {
    let k = FakeKernel::new();
    let table = ParamTable::load(&k);
    let ParamTable::Kernel(params) = &table else {
        panic!("the kernel answered: {table:?}");
    };
    assert_eq!(
        names(params),
        [
            "dying",
            "enforce_statfs",
            "host",
            "ip4",
            "jid",
            "name",
            "osrelease",
            "parent",
            "path",
            "persist",
            "securelevel",
            "vnet",
            "allow.mount",
            "allow.mount.devfs",
            "allow.mount.nullfs",
            "allow.set_hostname",
            "host.hostid",
            "host.hostname",
            "ip4.addr",
            "mac.label",
        ]
    );
    let get = |n: &str| params.iter().find(|p| p.name == n).unwrap();
    assert_eq!(get("host").native, Native::JailSys);
    assert_eq!(get("host.hostid").native, Native::ULong);
    assert_eq!(get("osrelease").native, Native::Str { max: 32 });
    assert_eq!(get("ip4.addr").native, Native::InAddr);
    assert_eq!(get("jid").access, Access::CreateOnly);
    assert_eq!(get("dying").access, Access::ReadOnly);
    assert_eq!(get("persist").access, Access::ReadWrite);
}

#[test]
fn the_built_in_table_only_when_the_kernel_cannot_be_asked() {
    let k = FakeKernel::new();
    let table = ParamTable::load(&k);
    // jkit's list knows these; this kernel does not.
    assert_eq!(table.info(&k, "allow.raw_sockets").unwrap(), None);
    assert_eq!(table.info(&k, "children.max").unwrap(), None);
    assert_eq!(
        table.info(&k, "osrelease").unwrap().unwrap().native,
        Native::Str { max: 32 },
        "the kernel's limit, not the table's"
    );

    let mut k = FakeKernel::new();
    k.sysctl_error = Some(Errno::EPERM);
    let table = ParamTable::load(&k);
    assert!(matches!(table, ParamTable::BuiltIn(_)), "{table:?}");
    let raw = table.info(&k, "allow.raw_sockets").unwrap().unwrap();
    assert_eq!(raw.native, Native::Bool);
    assert_eq!(table.info(&k, "no.such.param").unwrap(), None);
}

#[test]
fn modules_are_those_libjail_loads() {
    let m = |n: &str| modules_of_param(n);
    assert_eq!(m("linux"), ["linux"]);
    assert_eq!(m("linux.osrelease"), ["linux"]);
    assert_eq!(m("sysvmsg"), ["sysvmsg"]);
    assert_eq!(m("sysvsem"), ["sysvsem"]);
    assert_eq!(m("sysvshm"), ["sysvshm"]);
    assert_eq!(m("allow.mount.fusefs"), ["fusefs"]);
    assert_eq!(m("allow.mount.nofusefs"), ["nofusefs", "fusefs"]);
    assert_eq!(m("allow.vmm"), ["vmm"]);
    assert_eq!(m("allow.vmm_ppt"), ["vmm"]);
    assert_eq!(m("mac.do"), ["mac_do"]);
    assert_eq!(m("mac.do.rules"), ["mac_do"]);
    assert!(m("mac.label").is_empty());
    assert!(m("allow.raw_sockets").is_empty());
    assert!(m("sysvipc").is_empty());
    assert!(m("linuxfoo").is_empty());
}

#[test]
fn a_parameter_of_an_unloaded_module_loads_it() {
    let k = FakeKernel::new();
    let table = ParamTable::load(&k);
    k.take_calls();
    let p = table.info(&k, "linux.osname").unwrap().unwrap();
    assert_eq!(p.native, Native::Str { max: 16 });
    assert_eq!(
        k.take_calls(),
        [
            "sysctlnametomib security.jail.param.linux.osname",
            "sysctlnametomib security.jail.param.linux.osname.",
            "kldload linux",
            "sysctlnametomib security.jail.param.linux.osname",
            "sysctl security.jail.param.linux.osname",
        ]
    );
    // A node's own parameter: `linux.` in the sysctl tree.
    let p = table.info(&k, "linux").unwrap().unwrap();
    assert_eq!(p.native, Native::JailSys);
    assert_eq!(
        k.take_calls(),
        [
            "sysctlnametomib security.jail.param.linux",
            "sysctlnametomib security.jail.param.linux.",
        ],
        "already loaded: found without loading"
    );

    let p = table.info(&k, "allow.vmm").unwrap().unwrap();
    assert_eq!((p.native, p.access), (Native::Bool, Access::ReadWrite));
    assert!(k.take_calls().contains(&"kldload vmm".to_string()));
    assert_eq!(
        table.info(&k, "sysvshm").unwrap().unwrap().native,
        Native::JailSys
    );
    assert!(table.info(&k, "mac.do").unwrap().is_some());
    assert!(k.take_calls().contains(&"kldload mac_do".to_string()));
    assert!(table.info(&k, "allow.mount.fdescfs").unwrap().is_some());
    assert!(k.take_calls().contains(&"kldload fdescfs".to_string()));

    // A module that is loaded but lacks the parameter: EEXIST, no retry.
    assert_eq!(table.info(&k, "linux.nothere").unwrap(), None);
    let calls = k.take_calls();
    assert_eq!(calls.iter().filter(|c| c.starts_with("kldload")).count(), 1);
    assert_eq!(calls.len(), 3, "{calls:?}");
    // No module for it: asked once, nothing loaded.
    assert_eq!(table.info(&k, "allow.nothing").unwrap(), None);
    assert!(!k.take_calls().iter().any(|c| c.starts_with("kldload")));
}

#[test]
fn a_negated_mount_name_loads_the_filesystem() {
    let k = FakeKernel::new();
    assert!(load_module_of(&k, "allow.mount.nofdescfs"));
    assert_eq!(k.take_calls(), ["kldload nofdescfs", "kldload fdescfs"]);
    assert!(!load_module_of(&k, "allow.mount.fdescfs"), "already loaded");
    assert!(!load_module_of(&k, "allow.mount.nothing"));
}

#[test]
fn stop_signals_the_jails_own_live_processes() {
    let k = FakeKernel::new();
    k.spawn(100, 5, false, OnTerm::Exits);
    k.spawn(101, 5, true, OnTerm::Exits);
    k.spawn(102, 6, false, OnTerm::Exits);
    k.spawn(103, 0, false, OnTerm::Exits);
    k.spawn(104, 5, false, OnTerm::Exits);
    let sent = term_procs(&k, 5, Duration::from_secs(10)).unwrap();
    assert_eq!(sent, [100, 104]);
    assert_eq!(
        k.take_calls(),
        ["kill 100 15", "kill 104 15"],
        "no signal to the zombie, the child jail or the host; no wait once they exited"
    );
}

#[test]
fn stop_waits_for_the_signalled_until_the_timeout() {
    let k = FakeKernel::new();
    k.spawn(100, 5, false, OnTerm::Ignores);
    k.spawn(101, 5, false, OnTerm::Exits);
    term_procs(&k, 5, Duration::from_millis(200)).unwrap();
    let calls = k.take_calls();
    assert_eq!(calls[..2], ["kill 100 15", "kill 101 15"]);
    assert_eq!(calls[2..], ["pause 50ms"; 4]);
    assert!(term_procs(&k, 5, Duration::ZERO).unwrap().is_empty());
    assert!(k.take_calls().is_empty(), "stop.timeout=0 signals nothing");
}

#[test]
fn a_jail_is_entered_through_its_fib() {
    let k = FakeKernel::new();
    enter_jail(&k, 5, Some(2)).unwrap();
    assert_eq!(k.take_calls(), ["setfib 2", "jail_attach 5"]);
    enter_jail(&k, 5, None).unwrap();
    assert_eq!(k.take_calls(), ["jail_attach 5"]);
    let mut k = FakeKernel::new();
    k.setfib_error = Some(Errno::EINVAL);
    assert_eq!(
        enter_jail(&k, 5, Some(9)),
        Err(("setfib".to_string(), Errno::EINVAL))
    );
    assert_eq!(k.take_calls(), ["setfib 9"], "not attached");
}
