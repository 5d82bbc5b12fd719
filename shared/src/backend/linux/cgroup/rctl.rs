//! rctl on Linux: jail rules kept beside the jail's definition
//! ([`crate::rctl::store`]) and enforced through the jail's cgroup and the
//! rlimits of its processes ([`super::limits`], [`super::jail`]); usage
//! read from the cgroup and /proc.
//!
//! Runtime files, beside the jail's other runtime state:
//!
//! ```text
//! RUN/jails/NAME/usage.json    the last usage samples, for the rates (pcpu, I/O per second)
//! ```

use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::jail::JailCgroup;
use super::limits::{self, Rlimit};
use super::{Cgroup, Counters, Hierarchy, block_device_of};
use crate::backend::Racct;
use crate::backend::linux::{procfs, state, sys, write_runtime};
use crate::error::Result;
use crate::model::name;
use crate::paths::Paths;
use crate::rctl::{Action, Filter, RctlError, Resource, Rule, SubjectType, Usage, store};

/// rctl over the Linux backend.
#[derive(Debug, Clone)]
pub struct LinuxRacct {
    paths: Paths,
}

impl LinuxRacct {
    /// rctl for the jails kept under `paths`.
    pub fn new(paths: Paths) -> Self {
        LinuxRacct { paths }
    }

    /// Make jail `name`'s rules hold: plan them (so a rule that cannot
    /// hold is refused even while the jail is stopped) and, when the jail
    /// runs, write them to its cgroup and its processes' rlimits.
    fn enforce(&self, name: &str, rules: &[Rule]) -> Result<(), RctlError> {
        let record = JailCgroup::of(&self.paths, name)?;
        let running = record
            .cgroup
            .as_ref()
            .filter(|cg| cg.exists() && self.alive(name));
        let host = match running {
            Some(cg) => cg.host(),
            None => match Hierarchy::detect()? {
                Some(h) => h.cgroup("jkit", name).host(),
                None => limits::Host {
                    v2: true,
                    swap_accounting: true,
                },
            },
        };
        let root = || -> std::result::Result<(u32, u32), String> {
            let def = crate::conf::definition(&self.paths, name).map_err(|e| e.to_string())?;
            let root = crate::backend::root_of(&def).map_err(|e| e.to_string())?;
            block_device_of(&root)
        };
        let limits = limits::plan(rules, host, root).map_err(RctlError::Unsupported)?;
        let Some(cg) = running else { return Ok(()) };
        cg.apply(&limits)?;
        let init = state::read(&self.paths, name)?
            .and_then(|s| s.init)
            .map(|i| i.pid);
        for pid in cg.pids().into_iter().filter(|p| Some(*p) != init) {
            set_rlimits(pid, &record.rlimits, &limits.rlimits);
        }
        JailCgroup {
            cgroup: Some(cg.clone()),
            rlimits: limits.rlimits,
        }
        .save(&self.paths, name)?;
        Ok(())
    }

    fn alive(&self, name: &str) -> bool {
        matches!(state::read(&self.paths, name), Ok(Some(st)) if st.alive())
    }

    /// The jails a filter's subject names: its jail, or every jail with
    /// rules; none for other subject types.
    fn jails_of(&self, f: &Filter) -> Result<Vec<String>, RctlError> {
        match (f.subject, &f.id) {
            (Some(s), _) if s != SubjectType::Jail => Ok(Vec::new()),
            (_, Some(id)) => Ok(if name::validate(id).is_ok() {
                vec![id.clone()]
            } else {
                Vec::new()
            }),
            _ => Ok(store::jails(&self.paths)?),
        }
    }

    /// The usage of jail `name`: zeros unless it runs.
    fn jail_usage(&self, name: &str) -> Result<Usage, RctlError> {
        let zeros = || Usage::from_fn(SubjectType::Jail, |_| 0);
        if name::validate(name).is_err() {
            return Ok(zeros());
        }
        let Some(st) = state::read(&self.paths, name)?.filter(|s| s.alive()) else {
            return Ok(zeros());
        };
        let Some(init) = st.init else {
            return Ok(zeros());
        };
        let record = JailCgroup::of(&self.paths, name)?;
        let counters = record
            .cgroup
            .as_ref()
            .map(Cgroup::counters)
            .unwrap_or_default();
        let pids: Vec<i32> = record.cgroup.as_ref().map(Cgroup::pids).unwrap_or_default();
        let procs: Vec<ProcStatus> = pids
            .iter()
            .filter(|p| **p != init.pid)
            .filter_map(|p| ProcStatus::read(*p))
            .collect();
        let sum = |f: fn(&ProcStatus) -> u64| procs.iter().map(f).sum::<u64>();
        let now = sys::boottime_us();
        let started = ticks_to_us(init.start);
        let rates = self.rates(name, now, started, &counters);
        let ipc = sys_v_ipc(Path::new(&format!("/proc/{}/ns/ipc", init.pid)));
        let root = JailDirs::of(init.pid);
        let (nposix, posix_size) = root.open(c"dev/shm").map_or((0, 0), |d| posix_shm(&d));
        Ok(Usage::from_fn(SubjectType::Jail, |r| match r {
            Resource::Cputime => counters.cpu_usec / 1_000_000,
            Resource::Datasize => sum(|p| p.data),
            Resource::Stacksize => sum(|p| p.stack),
            Resource::Memoryuse => counters.memory,
            Resource::Memorylocked => sum(|p| p.locked),
            Resource::Maxproc => procs.len() as u64,
            Resource::Openfiles => sum(|p| p.files),
            Resource::Vmemoryuse => sum(|p| p.vsize),
            Resource::Pseudoterminals => root.open(c"dev/pts").map_or(0, |d| count_ptys(&d)),
            Resource::Swapuse => counters.swap,
            Resource::Nthr => sum(|p| p.threads),
            Resource::Msgqqueued => ipc.msg_queued,
            Resource::Msgqsize => ipc.msg_bytes,
            Resource::Nmsgq => ipc.msg_queues,
            Resource::Nsem => ipc.semaphores,
            Resource::Nshm => ipc.shm_segments + nposix,
            Resource::Shmsize => ipc.shm_bytes + posix_size,
            Resource::Wallclock => now.saturating_sub(started) / 1_000_000,
            Resource::Pcpu => rates.pcpu,
            Resource::Readbps => rates.rbps,
            Resource::Writebps => rates.wbps,
            Resource::Readiops => rates.riops,
            Resource::Writeiops => rates.wiops,
            Resource::Coredumpsize | Resource::Nsemop => 0,
        }))
    }

    /// The rates since the newest sample at least a second old (or since
    /// the jail started), and this sample kept for the next reading.
    fn rates(&self, name: &str, now: u64, started: u64, c: &Counters) -> Rates {
        let file = self.paths.usage_samples_file(name);
        let mut samples: Vec<Sample> = fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        samples.retain(|s| s.t >= started && s.t <= now);
        let start = Sample {
            t: started,
            ..Sample::default()
        };
        let base = samples
            .iter()
            .rev()
            .find(|s| s.t + 1_000_000 <= now)
            .copied()
            .unwrap_or(start);
        let current = Sample {
            t: now,
            cpu: c.cpu_usec,
            rbytes: c.read_bytes,
            wbytes: c.write_bytes,
            rios: c.read_ios,
            wios: c.write_ios,
        };
        let dt = now.saturating_sub(base.t).max(1) as u128;
        let per_s =
            |a: u64, b: u64| ((u128::from(a.saturating_sub(b)) * 1_000_000 + dt / 2) / dt) as u64;
        let rates = Rates {
            pcpu: ((u128::from(current.cpu.saturating_sub(base.cpu)) * 100 + dt / 2) / dt) as u64,
            rbps: per_s(current.rbytes, base.rbytes),
            wbps: per_s(current.wbytes, base.wbytes),
            riops: per_s(current.rios, base.rios),
            wiops: per_s(current.wios, base.wios),
        };
        // A sample kept less than half a second ago serves the next
        // readings as well as this one would: no write.
        if samples.last().is_some_and(|s| s.t + 500_000 > now) {
            return rates;
        }
        let keep: Vec<Sample> = samples
            .into_iter()
            .filter(|s| s.t >= base.t)
            .chain([current])
            .collect();
        if let Ok(bytes) = serde_json::to_vec(&keep) {
            // A cache: a lost update only widens the next window.
            let _ = write_runtime(&file, &bytes);
        }
        rates
    }

    /// The jail whose cgroup holds process `pid`, if any.
    fn jail_of_pid(&self, pid: i32) -> Option<String> {
        let base = Path::new("/").join(super::base_name(&self.paths));
        procfs::cgroups_of(&pid.to_string())
            .ok()?
            .into_iter()
            .find_map(|c| {
                let jail = c.path.strip_prefix(&base).ok()?.iter().next()?;
                Some(jail.to_string_lossy().into_owned())
            })
    }
}

impl Racct for LinuxRacct {
    /// Once the last defined jail is destroyed, its cgroup base goes too
    /// (one per run directory: tests and benchmarks each leave one
    /// otherwise). A start making a cgroup there meanwhile keeps it: a
    /// cgroup with children is not removed.
    fn forget_jail(&self, _name: &str) {
        let defined = fs::read_dir(&self.paths.conf_dir).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "conf")))
        });
        if !defined {
            super::remove_base(&self.paths);
        }
    }

    fn can_enforce(&self, rule: &Rule) -> Result<(), RctlError> {
        // FreeBSD refuses pcpu throttling; on Linux it is the same CPU quota.
        if !(rule.resource == Resource::Pcpu && rule.action == Action::Throttle) {
            rule.check_kernel()?;
        }
        limits::support(rule).map_err(RctlError::Unsupported)
    }

    fn add_rule(&self, text: &str) -> Result<(), RctlError> {
        let rule = Filter::parse(text)?.to_rule()?;
        self.can_enforce(&rule)?;
        let name = rule.id.clone();
        // A jail's rules live beside its definition: without one there is
        // no such subject (ESRCH, the kernel's word for a missing one).
        if name::validate(&name).is_err() || !self.paths.jail_conf(&name).exists() {
            return Err(RctlError::NoSuch);
        }
        let _lock = store::lock(&self.paths, &name)?;
        let mut rules = store::read(&self.paths, &name)?;
        store::insert(&mut rules, rule);
        self.enforce(&name, &rules)?;
        store::write(&self.paths, &name, &rules)?;
        Ok(())
    }

    fn remove_rule(&self, text: &str) -> Result<(), RctlError> {
        let f = Filter::parse(text)?;
        let mut removed = false;
        for name in self.jails_of(&f)? {
            let _lock = store::lock(&self.paths, &name)?;
            let mut rules = store::read(&self.paths, &name)?;
            let before = rules.len();
            rules.retain(|r| !f.matches(r));
            if rules.len() != before {
                removed = true;
                self.enforce(&name, &rules)?;
                store::write(&self.paths, &name, &rules)?;
            }
        }
        if removed {
            Ok(())
        } else {
            Err(RctlError::NoSuch)
        }
    }

    fn get_rules(&self, text: &str) -> Result<Vec<Rule>, RctlError> {
        let f = Filter::parse(text)?;
        let mut out = Vec::new();
        let jails = self.jails_of(&f)?;
        for name in &jails {
            // A broken rules file is its own jail's error: a listing of
            // several jails goes on with the others.
            let rules = match store::read(&self.paths, name) {
                Ok(rules) => rules,
                Err(_) if jails.len() > 1 => continue,
                Err(e) => return Err(e.into()),
            };
            // Newest first, as the kernel lists a subject's rules.
            out.extend(rules.into_iter().rev().filter(|r| f.matches(r)));
        }
        Ok(out)
    }

    fn get_racct(&self, text: &str) -> Result<Usage, RctlError> {
        let f = Filter::parse(text)?;
        match f.subject_id()? {
            (SubjectType::Jail, id) => self.jail_usage(id),
            (SubjectType::Process, pid) => {
                process_usage(pid.parse().map_err(|_| RctlError::Invalid)?)
            }
            (s, _) => Err(RctlError::Unsupported(format!(
                "{s} usage is not accounted on Linux (jkit accounts jails and processes)"
            ))),
        }
    }

    fn get_limits(&self, text: &str) -> Result<Vec<Rule>, RctlError> {
        let f = Filter::parse(text)?;
        let (SubjectType::Process, pid) = f.subject_id()? else {
            return Err(RctlError::Invalid);
        };
        let pid: i32 = pid.parse().map_err(|_| RctlError::Invalid)?;
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return Err(RctlError::NoSuch);
        }
        match self.jail_of_pid(pid) {
            Some(jail) => Ok(store::read(&self.paths, &jail)?.into_iter().rev().collect()),
            None => Ok(Vec::new()),
        }
    }
}

/// Give process `pid` the rlimits `new`, and put back those of `old`
/// that `new` no longer has (to this process's own, the host's default).
/// A process that ended meanwhile is skipped.
fn set_rlimits(pid: i32, old: &[Rlimit], new: &[Rlimit]) {
    for r in new {
        let _ = sys::prlimit(pid, r.kind.resource(), r.soft, r.hard);
    }
    for r in old.iter().filter(|o| !new.iter().any(|n| n.kind == o.kind)) {
        if let Ok((soft, hard)) = nix::sys::resource::getrlimit(r.kind.resource()) {
            let _ = sys::prlimit(pid, r.kind.resource(), soft, hard);
        }
    }
}

/// One usage sample (time in µs of CLOCK_BOOTTIME).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Sample {
    t: u64,
    cpu: u64,
    rbytes: u64,
    wbytes: u64,
    rios: u64,
    wios: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Rates {
    pcpu: u64,
    rbps: u64,
    wbps: u64,
    riops: u64,
    wiops: u64,
}

/// Clock ticks since boot (a /proc start time) in µs.
fn ticks_to_us(ticks: u64) -> u64 {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100)
        .max(1) as u64;
    ticks.saturating_mul(1_000_000) / hz
}

/// What /proc says of one process.
#[derive(Debug, Clone, Copy, Default)]
struct ProcStatus {
    data: u64,
    stack: u64,
    locked: u64,
    vsize: u64,
    threads: u64,
    files: u64,
}

impl ProcStatus {
    fn read(pid: i32) -> Option<Self> {
        let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let mut p = ProcStatus::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let n = || {
                v.split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            match k {
                "VmData" => p.data = n() * 1024,
                "VmStk" => p.stack = n() * 1024,
                "VmLck" => p.locked = n() * 1024,
                "VmSize" => p.vsize = n() * 1024,
                "Threads" => p.threads = n(),
                _ => {}
            }
        }
        p.files = fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        Some(p)
    }
}

/// `-u process:PID` on Linux, from /proc: rates are averages over the
/// process's life.
fn process_usage(pid: i32) -> Result<Usage, RctlError> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|_| RctlError::NoSuch)?;
    let status = ProcStatus::read(pid).ok_or(RctlError::NoSuch)?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the comm: state is 0, utime 11, stime 12, starttime 19.
    let cpu_us = ticks_to_us(field(11) + field(12));
    let started = ticks_to_us(field(19));
    let life = sys::boottime_us().saturating_sub(started).max(1);
    let io = fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let io_field = |k: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(k)?.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let rate = |n: u64| (u128::from(n) * 1_000_000 / u128::from(life)) as u64;
    Ok(Usage::from_fn(SubjectType::Process, |r| match r {
        Resource::Cputime => cpu_us / 1_000_000,
        Resource::Datasize => status.data,
        Resource::Stacksize => status.stack,
        Resource::Memoryuse => rss(pid),
        Resource::Memorylocked => status.locked,
        Resource::Maxproc => 1,
        Resource::Openfiles => status.files,
        Resource::Vmemoryuse => status.vsize,
        Resource::Nthr => status.threads,
        Resource::Wallclock => life / 1_000_000,
        Resource::Pcpu => (u128::from(cpu_us) * 100 / u128::from(life)) as u64,
        Resource::Readbps => rate(io_field("read_bytes:")),
        Resource::Writebps => rate(io_field("write_bytes:")),
        Resource::Readiops => rate(io_field("syscr:")),
        Resource::Writeiops => rate(io_field("syscw:")),
        _ => 0,
    }))
}

fn rss(pid: i32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The pseudo-terminals open in a jail's devpts.
/// The directories of a running jail, reached through its init's root
/// and resolved as the jail sees them: a symlink a jail without a /dev of
/// its own planted at `dev/shm` leads inside the jail, not to the host's
/// files.
struct JailDirs(Option<OwnedFd>);

impl JailDirs {
    fn of(init: i32) -> Self {
        use nix::fcntl::OFlag;
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let root = format!("/proc/{init}/root");
        JailDirs(nix::fcntl::open(root.as_str(), flags, nix::sys::stat::Mode::empty()).ok())
    }

    /// Directory `rel`, open.
    fn open(&self, rel: &std::ffi::CStr) -> Option<OwnedFd> {
        let root = self.0.as_ref()?;
        sys::open_in_root(root.as_fd(), rel, libc::O_RDONLY | libc::O_DIRECTORY).ok()
    }
}

/// A path that leads to the open directory `dir` and nowhere else.
fn path_of(dir: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()))
}

fn count_ptys(pts: &OwnedFd) -> u64 {
    fs::read_dir(path_of(pts))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                .count() as u64
        })
        .unwrap_or(0)
}

/// POSIX shared memory objects in a jail's /dev/shm: count and bytes.
fn posix_shm(dir: &OwnedFd) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let Ok(d) = fs::read_dir(path_of(dir)) else {
        return (0, 0);
    };
    d.flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .fold((0, 0), |(n, s), m| (n + 1, s + m.size()))
}

/// SysV IPC figures of one IPC namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ipc {
    msg_queues: u64,
    msg_queued: u64,
    msg_bytes: u64,
    semaphores: u64,
    shm_segments: u64,
    shm_bytes: u64,
}

/// The SysV IPC of the namespace at `ns` (read from
/// /proc/sysvipc, which shows the reader's namespace, so this thread
/// visits it and comes back). Zeros when it cannot.
fn sys_v_ipc(ns: &Path) -> Ipc {
    let read = || -> Option<Ipc> {
        let home = fs::File::open("/proc/thread-self/ns/ipc").ok()?;
        let jail = fs::File::open(ns).ok()?;
        nix::sched::setns(&jail, nix::sched::CloneFlags::CLONE_NEWIPC).ok()?;
        let texts = ["msg", "sem", "shm"]
            .map(|f| fs::read_to_string(format!("/proc/sysvipc/{f}")).unwrap_or_default());
        nix::sched::setns(&home, nix::sched::CloneFlags::CLONE_NEWIPC).ok()?;
        Some(parse_sysvipc(&texts[0], &texts[1], &texts[2]))
    };
    read().unwrap_or_default()
}

fn parse_sysvipc(msg: &str, sem: &str, shm: &str) -> Ipc {
    let rows = |t: &str| -> Vec<Vec<u64>> {
        t.lines()
            .skip(1)
            .map(|l| {
                l.split_whitespace()
                    .map(|f| f.parse().unwrap_or(0))
                    .collect()
            })
            .collect()
    };
    let col = |r: &Vec<u64>, i: usize| r.get(i).copied().unwrap_or(0);
    let mut ipc = Ipc::default();
    for r in rows(msg) {
        // key msqid perms cbytes qnum ...
        ipc.msg_queues += 1;
        ipc.msg_bytes += col(&r, 3);
        ipc.msg_queued += col(&r, 4);
    }
    for r in rows(sem) {
        // key semid perms nsems ...
        ipc.semaphores += col(&r, 3);
    }
    for r in rows(shm) {
        // key shmid perms size ...
        ipc.shm_segments += 1;
        ipc.shm_bytes += col(&r, 3);
    }
    ipc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysvipc_tables_are_summed() {
        let msg = "       key      msqid perms      cbytes       qnum lspid lrpid\n         1          0   600          20          2     0     0\n";
        let sem = "       key      semid perms      nsems   uid\n         5          0   600          3     0\n         6          1   600          2     0\n";
        let shm = "       key      shmid perms                  size  cpid\n         7          0   600               4096   10\n";
        assert_eq!(
            parse_sysvipc(msg, sem, shm),
            Ipc {
                msg_queues: 1,
                msg_queued: 2,
                msg_bytes: 20,
                semaphores: 5,
                shm_segments: 1,
                shm_bytes: 4096
            }
        );
        assert_eq!(
            parse_sysvipc("header\n", "header\n", "header\n"),
            Ipc::default()
        );
    }

    #[test]
    fn own_process_usage_is_plausible() {
        let u = process_usage(std::process::id() as i32).unwrap();
        assert_eq!(u.get(Resource::Maxproc), Some(1));
        assert!(u.get(Resource::Memoryuse).unwrap() > 0);
        assert!(u.get(Resource::Openfiles).unwrap() >= 3);
        assert!(u.get(Resource::Nthr).unwrap() >= 1);
        assert_eq!(
            u.get(Resource::Swapuse),
            None,
            "sloppy resources are left out for processes"
        );
        assert_eq!(process_usage(-5).unwrap_err(), RctlError::NoSuch);
    }
}
