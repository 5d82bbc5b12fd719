//! What a jail's rctl rules become on Linux: cgroup limits for the jail as
//! a whole, and rlimits for each of its processes. Pure: the plan is
//! computed from the rules and a description of the host, so every
//! mapping is testable without a kernel. docs/linux.md ("Resource
//! limits") says the same, resource by resource.

use serde::{Deserialize, Serialize};

use crate::rctl::{Action, Resource, Rule, SubjectType};

/// The CPU period jkit uses for pcpu quotas (100 ms, the kernel default).
pub const CPU_PERIOD_US: u64 = 100_000;

/// An rlimit a jail's processes get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RlimitKind {
    /// RLIMIT_CPU (seconds).
    Cpu,
    /// RLIMIT_DATA (bytes).
    Data,
    /// RLIMIT_STACK (bytes).
    Stack,
    /// RLIMIT_CORE (bytes).
    Core,
    /// RLIMIT_MEMLOCK (bytes).
    Memlock,
    /// RLIMIT_NOFILE (descriptors).
    Nofile,
    /// RLIMIT_AS (bytes).
    As,
}

impl RlimitKind {
    /// Every kind jkit sets.
    pub const ALL: [RlimitKind; 7] = [
        RlimitKind::Cpu,
        RlimitKind::Data,
        RlimitKind::Stack,
        RlimitKind::Core,
        RlimitKind::Memlock,
        RlimitKind::Nofile,
        RlimitKind::As,
    ];

    /// The kernel's resource.
    pub fn resource(self) -> nix::sys::resource::Resource {
        use nix::sys::resource::Resource as R;
        match self {
            RlimitKind::Cpu => R::RLIMIT_CPU,
            RlimitKind::Data => R::RLIMIT_DATA,
            RlimitKind::Stack => R::RLIMIT_STACK,
            RlimitKind::Core => R::RLIMIT_CORE,
            RlimitKind::Memlock => R::RLIMIT_MEMLOCK,
            RlimitKind::Nofile => R::RLIMIT_NOFILE,
            RlimitKind::As => R::RLIMIT_AS,
        }
    }
}

/// One rlimit: soft and hard values (`u64::MAX` is unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// Which.
    pub kind: RlimitKind,
    /// The soft limit.
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// I/O throttling on one block device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoLimits {
    /// The device, `(major, minor)`.
    pub device: (u32, u32),
    /// Read bytes per second.
    pub rbps: Option<u64>,
    /// Written bytes per second.
    pub wbps: Option<u64>,
    /// Read operations per second.
    pub riops: Option<u64>,
    /// Write operations per second.
    pub wiops: Option<u64>,
}

/// Everything a jail's rules ask of Linux. `None` is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// memoryuse: the jail's memory, bytes.
    pub memory: Option<u64>,
    /// swapuse: the jail's swap, bytes.
    pub swap: Option<u64>,
    /// maxproc and nthr: the jail's tasks (processes and threads), not
    /// counting jkit's init.
    pub tasks: Option<u64>,
    /// pcpu: percent of one CPU.
    pub cpu_percent: Option<u64>,
    /// The four I/O rates, on the jail root's device.
    pub io: Option<IoLimits>,
    /// Per-process limits of every process in the jail.
    pub rlimits: Vec<Rlimit>,
}

/// What the plan needs to know of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// cgroup v2 (else v1).
    pub v2: bool,
    /// Whether swap is accounted (v1: `memory.memsw.*` exist; v2:
    /// `memory.swap.max` exists).
    pub swap_accounting: bool,
}

/// Why a rule cannot be enforced on Linux, or `Ok` when it can.
pub fn support(rule: &Rule) -> Result<(), String> {
    use Action as A;
    use Resource as R;
    use SubjectType as S;
    let (r, a, per) = (rule.resource, rule.action, rule.per);
    if rule.subject != S::Jail {
        return Err(format!(
            "{} rules cannot be enforced on Linux: jkit enforces jail rules only (jail:NAME:...)",
            rule.subject
        ));
    }
    if matches!(per, S::User | S::Loginclass) {
        return Err(format!(
            "{r}: per {per} cannot be enforced on Linux (only per jail, and per process where an rlimit exists)"
        ));
    }
    if matches!(a, A::Log | A::Devctl) {
        return Err(format!(
            "{r}: the {a} action cannot be done on Linux (there is no rctl console log or devd, and jkit runs no watcher)"
        ));
    }
    let ok = matches!(
        (r, a, per),
        (
            R::Memoryuse | R::Swapuse | R::Maxproc | R::Nthr,
            A::Deny,
            S::Jail
        ) | (R::Pcpu, A::Deny | A::Throttle, S::Jail)
            | (
                R::Readbps | R::Writebps | R::Readiops | R::Writeiops,
                A::Throttle,
                S::Jail
            )
            | (R::Openfiles, A::Deny, S::Jail | S::Process)
            | (
                R::Datasize | R::Stacksize | R::Coredumpsize | R::Memorylocked | R::Vmemoryuse,
                A::Deny,
                S::Process
            )
            | (R::Cputime, A::Sigxcpu | A::Sigkill, S::Process)
    );
    if ok {
        return Ok(());
    }
    Err(match (r, a, per) {
        (R::Cputime, _, S::Jail) => "cputime: a jail's total CPU time cannot be limited on Linux without a watcher; \
             use cputime:sigxcpu=N/process or cputime:sigkill=N/process (RLIMIT_CPU), or pcpu for a CPU share"
            .into(),
        (R::Cputime, _, _) => format!(
            "cputime: per process Linux can only send sigxcpu (soft RLIMIT_CPU) or sigkill (hard RLIMIT_CPU), not {a}"
        ),
        (R::Wallclock, _, _) => "wallclock: Linux has no kernel timer on a jail's or a process's age, and jkit runs no watcher \
             (stop the jail from a cron job or a systemd timer instead)"
            .into(),
        (R::Readbps | R::Writebps | R::Readiops | R::Writeiops, _, S::Jail) => {
            format!("{r}: Linux can only throttle I/O (blkio/io.max), not {a}")
        }
        (R::Memoryuse | R::Swapuse | R::Maxproc | R::Nthr | R::Pcpu, _, S::Jail) => {
            format!("{r}: Linux enforces it as a cgroup limit, which can only deny{}, not {a}", if r == R::Pcpu { " or throttle" } else { "" })
        }
        (R::Datasize | R::Stacksize | R::Coredumpsize | R::Memorylocked | R::Vmemoryuse, _, S::Jail) => format!(
            "{r}: Linux limits it per process only (an rlimit): use {r}:deny=N/process"
        ),
        (R::Openfiles | R::Datasize | R::Stacksize | R::Coredumpsize | R::Memorylocked | R::Vmemoryuse, _, S::Process) => {
            format!("{r}: an rlimit can only deny, not {a}")
        }
        (_, _, S::Process) => format!("{r}: Linux has no per-process limit for it"),
        _ => format!("{r}: Linux has no limit for it (its usage is reported)"),
    })
}

/// The limits `rules` (a jail's, each passing [`support`]) ask for on
/// `host`. `device` names the block device of the jail's root, asked for
/// only when an I/O rule needs it.
pub fn plan(
    rules: &[Rule],
    host: Host,
    device: impl FnOnce() -> Result<(u32, u32), String>,
) -> Result<Limits, String> {
    use Action as A;
    use Resource as R;
    let mut l = Limits::default();
    let min = |slot: &mut Option<u64>, v: u64| *slot = Some(slot.map_or(v, |s| s.min(v)));
    let mut io = IoLimits::default();
    let mut cpu_soft: Option<u64> = None;
    let mut cpu_hard: Option<u64> = None;
    let mut rl: Vec<(RlimitKind, u64)> = Vec::new();
    for rule in rules {
        support(rule).map_err(|e| format!("{rule}: {e}"))?;
        let n = rule.amount;
        match (rule.resource, rule.action) {
            (R::Memoryuse, _) => min(&mut l.memory, n),
            (R::Swapuse, _) => min(&mut l.swap, n),
            (R::Maxproc | R::Nthr, _) => min(&mut l.tasks, n),
            (R::Pcpu, _) => {
                if n == 0 {
                    return Err(format!(
                        "{rule}: Linux cannot give a jail 0% of a CPU (the smallest quota is 1%)"
                    ));
                }
                min(&mut l.cpu_percent, n)
            }
            (R::Readbps, _) => min(&mut io.rbps, n),
            (R::Writebps, _) => min(&mut io.wbps, n),
            (R::Readiops, _) => min(&mut io.riops, n),
            (R::Writeiops, _) => min(&mut io.wiops, n),
            (R::Cputime, A::Sigxcpu) => min(&mut cpu_soft, n),
            (R::Cputime, _) => {
                min(&mut cpu_soft, n);
                min(&mut cpu_hard, n);
            }
            (r, _) => {
                let kind = match r {
                    R::Datasize => RlimitKind::Data,
                    R::Stacksize => RlimitKind::Stack,
                    R::Coredumpsize => RlimitKind::Core,
                    R::Memorylocked => RlimitKind::Memlock,
                    R::Vmemoryuse => RlimitKind::As,
                    _ => RlimitKind::Nofile,
                };
                match rl.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, v)) => *v = (*v).min(n),
                    None => rl.push((kind, n)),
                }
            }
        }
    }
    check_on(&l, host)?;
    if io != IoLimits::default() {
        io.device = device()?;
        l.io = Some(io);
    }
    l.rlimits = rlimits_of((cpu_soft, cpu_hard), &rl);
    Ok(l)
}

/// Refuse what `host` cannot hold of the limits `l`.
fn check_on(l: &Limits, host: Host) -> Result<(), String> {
    if l.swap.is_some() && !host.swap_accounting {
        return Err(if host.v2 {
            "swapuse: this kernel does not account swap (no memory.swap.max)".into()
        } else {
            "swapuse: this kernel does not account swap (no memory.memsw.*; boot with swapaccount=1)".into()
        });
    }
    if l.swap.is_some() && l.memory.is_none() && !host.v2 {
        return Err(
            "swapuse: on cgroup v1 a swap limit needs a memoryuse limit too \
                    (v1 limits memory plus swap together)"
                .into(),
        );
    }
    if l.cpu_percent
        .is_some_and(|p| p > u64::MAX / 1000 / CPU_PERIOD_US)
    {
        return Err("pcpu: amount too large".into());
    }
    Ok(())
}

/// The rlimits: RLIMIT_CPU from the cputime rules' soft and hard amounts
/// (`cpu`), the others from `rl`, in [`RlimitKind::ALL`]'s order.
fn rlimits_of(
    (cpu_soft, cpu_hard): (Option<u64>, Option<u64>),
    rl: &[(RlimitKind, u64)],
) -> Vec<Rlimit> {
    let mut rlimits = Vec::new();
    for kind in RlimitKind::ALL {
        let value = rl.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v);
        let (soft, hard) = match kind {
            RlimitKind::Cpu => match (cpu_soft, cpu_hard) {
                (None, None) => continue,
                (soft, hard) => (soft.unwrap_or(u64::MAX), hard.unwrap_or(u64::MAX)),
            },
            _ => match value {
                Some(v) => (v, v),
                None => continue,
            },
        };
        rlimits.push(Rlimit { kind, soft, hard });
    }
    rlimits
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: Host = Host {
        v2: false,
        swap_accounting: true,
    };
    const V2: Host = Host {
        v2: true,
        swap_accounting: true,
    };

    fn rules(t: &[&str]) -> Vec<Rule> {
        t.iter().map(|r| Rule::parse(r).unwrap()).collect()
    }

    fn no_device() -> Result<(u32, u32), String> {
        panic!("no I/O rule, no device asked for")
    }

    #[test]
    fn every_supported_rule_maps() {
        let l = plan(
            &rules(&[
                "jail:w:memoryuse:deny=67108864",
                "jail:w:swapuse:deny=0",
                "jail:w:maxproc:deny=20",
                "jail:w:nthr:deny=50",
                "jail:w:pcpu:deny=25",
                "jail:w:pcpu:throttle=50",
                "jail:w:openfiles:deny=64",
                "jail:w:cputime:sigxcpu=5/process",
                "jail:w:cputime:sigkill=10/process",
                "jail:w:vmemoryuse:deny=1073741824/process",
                "jail:w:writebps:throttle=1048576",
                "jail:w:readiops:throttle=100",
            ]),
            V1,
            || Ok((254, 0)),
        )
        .unwrap();
        assert_eq!(l.memory, Some(64 << 20));
        assert_eq!(l.swap, Some(0));
        assert_eq!(l.tasks, Some(20));
        assert_eq!(l.cpu_percent, Some(25));
        assert_eq!(
            l.io,
            Some(IoLimits {
                device: (254, 0),
                rbps: None,
                wbps: Some(1 << 20),
                riops: Some(100),
                wiops: None
            })
        );
        assert_eq!(
            l.rlimits,
            [
                Rlimit {
                    kind: RlimitKind::Cpu,
                    soft: 5,
                    hard: 10
                },
                Rlimit {
                    kind: RlimitKind::Nofile,
                    soft: 64,
                    hard: 64
                },
                Rlimit {
                    kind: RlimitKind::As,
                    soft: 1 << 30,
                    hard: 1 << 30
                },
            ]
        );
        let only_xcpu = plan(&rules(&["jail:w:cputime:sigxcpu=7/process"]), V2, no_device).unwrap();
        assert_eq!(
            only_xcpu.rlimits,
            [Rlimit {
                kind: RlimitKind::Cpu,
                soft: 7,
                hard: u64::MAX
            }]
        );
        assert_eq!(plan(&[], V2, no_device).unwrap(), Limits::default());
    }

    #[test]
    fn what_linux_cannot_do_is_named() {
        let why = |t: &str| support(&Rule::parse(t).unwrap()).unwrap_err();
        assert!(
            why("user:80:maxproc:deny=1").starts_with("user rules cannot be enforced on Linux")
        );
        assert!(why("jail:w:cputime:sigkill=10").starts_with("cputime: a jail's total CPU time"));
        assert!(why("jail:w:cputime:sigterm=10/process").contains("not sigterm"));
        assert!(why("jail:w:wallclock:sigkill=10").starts_with("wallclock:"));
        assert!(why("jail:w:maxproc:log=10").contains("the log action"));
        assert!(why("jail:w:nshm:deny=10").starts_with("nshm: Linux has no limit"));
        assert!(
            why("jail:w:memoryuse:deny=10/process")
                .starts_with("memoryuse: Linux has no per-process limit")
        );
        assert!(why("jail:w:datasize:deny=10").contains("datasize:deny=N/process"));
        assert!(why("jail:w:maxproc:sigkill=10").contains("can only deny"));
        assert!(why("jail:w:writebps:sigkill=10").contains("only throttle"));
        assert!(why("jail:w:maxproc:deny=10/user").contains("per user"));
    }

    #[test]
    fn host_dependent_refusals() {
        let swap_only = rules(&["jail:w:swapuse:deny=0"]);
        assert!(
            plan(&swap_only, V1, no_device)
                .unwrap_err()
                .contains("needs a memoryuse limit")
        );
        assert_eq!(plan(&swap_only, V2, no_device).unwrap().swap, Some(0));
        let no_acct = Host {
            v2: true,
            swap_accounting: false,
        };
        assert!(
            plan(&swap_only, no_acct, no_device)
                .unwrap_err()
                .contains("does not account swap")
        );
        let e = plan(&rules(&["jail:w:writebps:throttle=1"]), V2, || {
            Err("not a block device".into())
        })
        .unwrap_err();
        assert_eq!(e, "not a block device");
        assert!(
            plan(&rules(&["jail:w:pcpu:deny=0"]), V2, no_device)
                .unwrap_err()
                .contains("0%")
        );
    }
}
