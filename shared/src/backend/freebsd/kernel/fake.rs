//! A FreeBSD kernel that answers from recorded answers: the
//! `security.jail.param` sysctl tree as a FreeBSD 14 kernel describes it
//! (names, OIDs in tree order, kinds, formats, string limits), modules that
//! add parameters when loaded, a process table whose processes exit when
//! signalled (or not), and a log of every call in order.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use libc::c_int;
use nix::errno::Errno;

use super::{Kernel, Process, SYSCTL_NAME, SYSCTL_NEXT, SYSCTL_OIDFMT};

const RD: u32 = 0x8000_0000;
const WR: u32 = 0x4000_0000;
const TUN: u32 = 0x0008_0000;
const MPSAFE: u32 = 0x0004_0000;
/// `CTLFLAG_RW`, as `SYSCTL_JAIL_PARAM` gives a settable parameter.
pub const RW: u32 = RD | WR | MPSAFE;
/// `CTLFLAG_RDTUN`: settable at creation only.
pub const RDTUN: u32 = RD | TUN | MPSAFE;
/// `CTLFLAG_RD`: read-only.
pub const RO: u32 = RD | MPSAFE;

/// One recorded sysctl: full name, kind, format, value.
#[derive(Debug, Clone)]
struct Oid {
    name: String,
    kind: u32,
    fmt: String,
    value: Vec<u8>,
}

/// The OID of `security.jail.param` in the recording.
const PREFIX: [c_int; 3] = [7, 20, 2];

/// What a FreeBSD 14.2 amd64 kernel answered for these parameters
/// (`sysctl -t`/`-F`-style: name, kind flags and type, format, string
/// limit), in its OID order. Type numbers: 2 int, 3 string, 5 struct,
/// 6 uint, 8 ulong.
const RECORDED: &[(&str, u32, &str, &str)] = &[
    ("jid", RDTUN | 2, "I", ""),
    ("name", RW | 3, "A", "256"),
    ("path", RDTUN | 3, "A", "1024"),
    ("securelevel", RW | 2, "I", ""),
    ("enforce_statfs", RW | 2, "I", ""),
    ("persist", RW | 2, "B", ""),
    ("dying", RO | 2, "B", ""),
    ("parent", RO | 2, "I", ""),
    ("osrelease", RDTUN | 3, "A", "32"),
    ("host.", RW | 2, "E,jailsys", ""),
    ("host.hostname", RW | 3, "A", "256"),
    ("host.hostid", RW | 8, "LU", ""),
    ("ip4.", RW | 2, "E,jailsys", ""),
    ("ip4.addr", RW | 5, "S,in_addr,a", ""),
    ("vnet.", RDTUN | 2, "E,jailsys", ""),
    ("allow.set_hostname", RW | 2, "B", ""),
    ("allow.mount.", RW | 2, "B", ""),
    ("allow.mount.devfs", RW | 2, "B", ""),
    ("allow.mount.nullfs", RW | 2, "B", ""),
    ("mac.label", RW | 5, "S,mac", ""),
];

/// A kernel module: the file name kldload takes, and the parameters it
/// adds (as [`RECORDED`] lists them).
pub type Module = (
    &'static str,
    &'static [(&'static str, u32, &'static str, &'static str)],
);

/// The modules of the recording that are not loaded at first.
pub const MODULES: &[Module] = &[
    (
        "linux",
        &[
            ("linux.", RW | 2, "E,jailsys", ""),
            ("linux.osname", RW | 3, "A", "16"),
        ],
    ),
    ("sysvshm", &[("sysvshm", RW | 2, "E,jailsys", "")]),
    ("fdescfs", &[("allow.mount.fdescfs", RW | 2, "B", "")]),
    ("vmm", &[("allow.vmm", RW | 2, "B", "")]),
    ("mac_do", &[("mac.do.", RW | 2, "E,jailsys", "")]),
];

/// What a signalled process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTerm {
    /// Exits (a zombie until reaped) at once.
    Exits,
    /// Ignores SIGTERM.
    Ignores,
}

/// The recorded kernel.
#[derive(Debug)]
pub struct FakeKernel {
    oids: RefCell<BTreeMap<Vec<c_int>, Oid>>,
    loaded: RefCell<Vec<String>>,
    next_oid: RefCell<c_int>,
    procs: RefCell<Vec<(Process, OnTerm)>>,
    /// Every call made, in order.
    pub calls: RefCell<Vec<String>>,
    /// Errno of every sysctl read, when the kernel may not be asked.
    pub sysctl_error: Option<Errno>,
    /// Errno of setfib(2), for a FIB the kernel does not have.
    pub setfib_error: Option<Errno>,
}

impl FakeKernel {
    /// The recorded kernel with no process and none of [`MODULES`] loaded.
    pub fn new() -> Self {
        let k = FakeKernel {
            oids: RefCell::new(BTreeMap::new()),
            loaded: RefCell::new(Vec::new()),
            next_oid: RefCell::new(100),
            procs: RefCell::new(Vec::new()),
            calls: RefCell::new(Vec::new()),
            sysctl_error: None,
            setfib_error: None,
        };
        k.add(RECORDED);
        k
    }

    fn add(&self, params: &[(&str, u32, &str, &str)]) {
        for (name, kind, fmt, value) in params {
            let mut n = self.next_oid.borrow_mut();
            *n += 1;
            let mut oid = PREFIX.to_vec();
            oid.push(*n);
            let mut value = value.as_bytes().to_vec();
            value.push(0);
            self.oids.borrow_mut().insert(
                oid,
                Oid {
                    name: format!("security.jail.param.{name}"),
                    kind: *kind,
                    fmt: fmt.to_string(),
                    value,
                },
            );
        }
    }

    /// A process `pid` in jail `jid`, doing `on_term` when signalled.
    pub fn spawn(&self, pid: c_int, jid: c_int, zombie: bool, on_term: OnTerm) {
        self.procs
            .borrow_mut()
            .push((Process { pid, jid, zombie }, on_term));
    }

    /// The calls made so far (and forget them).
    pub fn take_calls(&self) -> Vec<String> {
        self.calls.take()
    }

    fn log(&self, call: String) {
        self.calls.borrow_mut().push(call);
    }

    fn by_meta(&self, which: c_int, oid: &[c_int]) -> Result<Vec<u8>, Errno> {
        let oids = self.oids.borrow();
        if which == SYSCTL_NEXT {
            // The first leaf after `oid` in tree order; past the recording
            // the kernel goes on with the next subtree.
            return Ok(
                match oids.range(oid.to_vec()..).find(|(o, _)| o[..] != *oid) {
                    Some((next, _)) => next.clone(),
                    None => vec![7, 21, 1],
                }
                .iter()
                .flat_map(|i| i.to_ne_bytes())
                .collect(),
            );
        }
        let o = oids.get(oid).ok_or(Errno::ENOENT)?;
        Ok(match which {
            SYSCTL_NAME => {
                let mut b = o.name.clone().into_bytes();
                b.push(0);
                b
            }
            SYSCTL_OIDFMT => {
                let mut b = o.kind.to_ne_bytes().to_vec();
                b.extend_from_slice(o.fmt.as_bytes());
                b.push(0);
                b
            }
            _ => return Err(Errno::EOPNOTSUPP),
        })
    }
}

impl Kernel for FakeKernel {
    fn sysctl_oid(&self, name: &str) -> Result<Vec<c_int>, Errno> {
        self.log(format!("sysctlnametomib {name}"));
        if let Some(e) = self.sysctl_error {
            return Err(e);
        }
        if name == "security.jail.param" {
            return Ok(PREFIX.to_vec());
        }
        self.oids
            .borrow()
            .iter()
            .find(|(_, o)| o.name == name)
            .map(|(oid, _)| oid.clone())
            .ok_or(Errno::ENOENT)
    }

    fn sysctl_read(&self, oid: &[c_int]) -> Result<Vec<u8>, Errno> {
        if let Some(e) = self.sysctl_error {
            return Err(e);
        }
        match oid {
            [0, which, rest @ ..] => self.by_meta(*which, rest),
            _ => {
                let oids = self.oids.borrow();
                let o = oids.get(oid).ok_or(Errno::ENOENT)?;
                self.log(format!("sysctl {}", o.name));
                Ok(o.value.clone())
            }
        }
    }

    fn kldload(&self, name: &str) -> Result<(), Errno> {
        self.log(format!("kldload {name}"));
        if self.loaded.borrow().iter().any(|m| m == name) {
            return Err(Errno::EEXIST);
        }
        let (_, params) = MODULES
            .iter()
            .find(|(m, _)| *m == name)
            .ok_or(Errno::ENOENT)?;
        self.add(params);
        self.loaded.borrow_mut().push(name.to_string());
        Ok(())
    }

    fn processes(&self) -> Result<Vec<Process>, Errno> {
        Ok(self.procs.borrow().iter().map(|(p, _)| *p).collect())
    }

    fn kill(&self, pid: c_int, signal: c_int) -> Result<(), Errno> {
        self.log(format!("kill {pid} {signal}"));
        let mut procs = self.procs.borrow_mut();
        let (p, on_term) = procs
            .iter_mut()
            .find(|(p, _)| p.pid == pid)
            .ok_or(Errno::ESRCH)?;
        if *on_term == OnTerm::Exits {
            p.zombie = true;
        }
        Ok(())
    }

    fn pause(&self, pause: Duration) {
        self.log(format!("pause {}ms", pause.as_millis()));
    }

    fn setfib(&self, fib: c_int) -> Result<(), Errno> {
        self.log(format!("setfib {fib}"));
        self.setfib_error.map_or(Ok(()), Err)
    }

    fn jail_attach(&self, jid: c_int) -> Result<(), Errno> {
        self.log(format!("jail_attach {jid}"));
        Ok(())
    }
}
