//! Resource control: one cgroup per jail, on cgroup v1 (one directory per
//! controller, as on hybrid hosts) or v2 (one directory in the unified
//! hierarchy):
//!
//! ```text
//! v1: /sys/fs/cgroup/{memory,pids,cpu,cpuacct,blkio}/BASE/NAME
//! v2: /sys/fs/cgroup/BASE/NAME      (cpu io memory pids enabled on the way)
//! ```
//!
//! BASE is `jkit` for the default run directory and `jkit-HASH` for any
//! other, so that test environments never share cgroups. Every file step
//! goes through the directories held in [`Cgroup`], so tests run it
//! against a temporary directory as well as against the kernel.
//!
//! [`jail`] is a jail's cgroup from start to stop, [`limits`] what its rctl
//! rules ask of the kernel, [`rctl`] the rules and usage behind jrctl.

pub mod jail;
pub mod limits;
pub mod rctl;

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::backend::linux::procfs::{self, Mount};
use crate::error::{Error, OsContext, Result};
use crate::paths::Paths;
pub use jail::{JailCgroup, remove_all};
use limits::{CPU_PERIOD_US, Host, IoLimits, Limits};

/// Where systemd mounts the cgroup file systems.
const USUAL_ROOT: &str = "/sys/fs/cgroup";
/// The v1 controllers a jail joins.
pub const V1_CONTROLLERS: [&str; 5] = ["memory", "pids", "cpu", "cpuacct", "blkio"];
/// The v2 controllers enabled for jails.
pub const V2_CONTROLLERS: [&str; 4] = ["cpu", "io", "memory", "pids"];

/// Where the cgroup controllers are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v1: the mount point of each controller jkit uses.
    V1(Vec<(String, PathBuf)>),
    /// cgroup v2: the mount point of the unified hierarchy.
    V2(PathBuf),
}

impl Hierarchy {
    /// The hierarchy of this host; `None` when no usable cgroup file
    /// system is mounted. Where it is mounted as systemd mounts it, that is
    /// found without formatting the whole mount table (a tenth of a
    /// millisecond on every start); else from /proc/self/mountinfo.
    pub fn detect() -> Result<Option<Self>> {
        if let Some(h) = Self::at_usual_places() {
            return Ok(Some(h));
        }
        let info = procfs::mountinfo().what(|| format!("read {}", procfs::MOUNTINFO))?;
        Ok(Self::from_mounts(procfs::mounts_in(&info)))
    }

    /// The hierarchy from this process's cgroups (/proc/self/cgroup names
    /// each v1 hierarchy's controllers) when each is mounted where systemd
    /// mounts it, under /sys/fs/cgroup in a directory named by its
    /// controllers, and the unified hierarchy at /sys/fs/cgroup or its
    /// `unified` directory; `None` when anything is elsewhere. Chooses as
    /// [`Hierarchy::from_mounts`] does.
    fn at_usual_places() -> Option<Self> {
        use nix::sys::statfs::{CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, FsType, statfs};
        let is = |dir: &Path, kind: FsType| statfs(dir).is_ok_and(|s| s.filesystem_type() == kind);
        let root = Path::new(USUAL_ROOT);
        let own = fs::read_to_string("/proc/self/cgroup").ok()?;
        let mut v1: Vec<(String, PathBuf)> = Vec::new();
        for line in own.lines() {
            let controllers = line.split(':').nth(1)?;
            let used = controllers
                .split(',')
                .filter(|c| V1_CONTROLLERS.contains(c))
                .collect::<Vec<_>>();
            if used.is_empty() {
                continue;
            }
            let dir = root.join(controllers);
            if !is(&dir, CGROUP_SUPER_MAGIC) {
                return None;
            }
            v1.extend(used.into_iter().map(|c| (c.to_string(), dir.clone())));
        }
        if v1.iter().any(|(c, _)| c == "memory") {
            v1.sort_by_key(|(c, _)| V1_CONTROLLERS.iter().position(|x| x == c));
            return Some(Hierarchy::V1(v1));
        }
        [root.to_path_buf(), root.join("unified")]
            .into_iter()
            .find(|dir| is(dir, CGROUP2_SUPER_MAGIC))
            .map(Hierarchy::V2)
    }

    /// The hierarchy a mount table holds: v1 when the v1 memory
    /// controller is mounted (hybrid hosts), else v2 when the unified
    /// hierarchy is.
    pub fn from_mounts(mounts: impl IntoIterator<Item = Mount>) -> Option<Self> {
        let mut v1: Vec<(String, PathBuf)> = Vec::new();
        let mut v2: Option<PathBuf> = None;
        for m in mounts {
            match m.fstype.as_str() {
                "cgroup" => {
                    for c in m.super_options.split(',') {
                        if V1_CONTROLLERS.contains(&c) && !v1.iter().any(|(n, _)| n == c) {
                            v1.push((c.to_string(), m.point.clone()));
                        }
                    }
                }
                "cgroup2" if v2.is_none() => v2 = Some(m.point),
                _ => {}
            }
        }
        if v1.iter().any(|(c, _)| c == "memory") {
            v1.sort_by_key(|(c, _)| V1_CONTROLLERS.iter().position(|x| x == c));
            Some(Hierarchy::V1(v1))
        } else {
            v2.map(Hierarchy::V2)
        }
    }

    /// The cgroup of jail `name` under `base` in this hierarchy.
    pub fn cgroup(&self, base: &str, name: &str) -> Cgroup {
        match self {
            Hierarchy::V1(mounts) => Cgroup {
                v2: false,
                dirs: mounts
                    .iter()
                    .map(|(c, mp)| (c.clone(), mp.join(base).join(name)))
                    .collect(),
            },
            Hierarchy::V2(root) => Cgroup {
                v2: true,
                dirs: vec![("unified".into(), root.join(base).join(name))],
            },
        }
    }
}

/// The base cgroup name for the jails kept under `paths`: `jkit` for the
/// default run directory, else `jkit-` and a hash of the run directory.
pub fn base_name(paths: &Paths) -> String {
    match paths.run_dir_hash() {
        None => "jkit".into(),
        Some(h) => format!("jkit-{h:016x}"),
    }
}

/// Remove the base cgroup of the jails kept under `paths` where it holds
/// no jail's cgroup (a cgroup with children is not removed).
pub fn remove_base(paths: &Paths) {
    let Ok(Some(h)) = Hierarchy::detect() else {
        return;
    };
    for d in h.cgroup(&base_name(paths), "probe").distinct_dirs() {
        if let Some(base) = d.parent() {
            let _ = fs::remove_dir(base);
        }
    }
}

/// Raw counters of a cgroup, summed over its devices where per device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// CPU time, microseconds.
    pub cpu_usec: u64,
    /// Memory charged, bytes.
    pub memory: u64,
    /// Swap used, bytes.
    pub swap: u64,
    /// Tasks (processes and threads).
    pub tasks: u64,
    /// Bytes read from block devices.
    pub read_bytes: u64,
    /// Bytes written to block devices.
    pub write_bytes: u64,
    /// Read operations.
    pub read_ios: u64,
    /// Write operations.
    pub write_ios: u64,
}

/// A jail's cgroup: its directory per controller (v1) or its one
/// directory (v2, controller `unified`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    /// cgroup v2.
    pub v2: bool,
    /// `(controller, directory)`.
    pub dirs: Vec<(String, PathBuf)>,
}

/// Write `value` to a cgroup file, with the file named in the error.
fn put(file: &Path, value: &str) -> Result<()> {
    fs::write(file, value)
        .map_err(|e| Error::os(format!("write {value:?} to {}", file.display()), e))
}

fn get(file: &Path) -> io::Result<String> {
    fs::read_to_string(file)
}

fn get_u64(file: &Path) -> u64 {
    get(file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

impl Cgroup {
    /// The directory of `controller` (v1), or the one directory (v2).
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(c, _)| self.v2 || c == controller)
            .map(|(_, d)| d.as_path())
    }

    /// The distinct directories.
    pub fn distinct_dirs(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        for (_, d) in &self.dirs {
            if !out.contains(&d.as_path()) {
                out.push(d);
            }
        }
        out
    }

    /// What limits this cgroup can hold.
    pub fn host(&self) -> Host {
        Host {
            v2: self.v2,
            // v1 accounts swap with memory.memsw.*, v2 with memory.swap.*;
            // the v1 root shows whether the kernel has it.
            swap_accounting: self.v2
                || self
                    .dir("memory")
                    .and_then(|d| d.parent()?.parent())
                    .is_some_and(|root| root.join("memory.memsw.limit_in_bytes").exists()),
        }
    }

    /// Whether the cgroup exists.
    pub fn exists(&self) -> bool {
        self.distinct_dirs().iter().all(|d| d.is_dir())
    }

    /// The `cgroup.procs` files a process writes to join the jail.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.distinct_dirs()
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    /// Create the cgroup (and its base); on v2, enable the controllers on
    /// the way down from the root when the base is new. Returns whether
    /// the cgroup is new (no directory of it was there before): a new
    /// cgroup holds the kernel's defaults, no limit.
    pub fn create(&self) -> Result<bool> {
        // The base may be removed (its last jail destroyed) between its
        // mkdir and the jail's: then it is made again.
        let mut tries = 0;
        loop {
            match self.create_once() {
                Err(Error::Os { source, .. })
                    if source.kind() == ErrorKind::NotFound && tries < 3 =>
                {
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    fn create_once(&self) -> Result<bool> {
        let mut new = true;
        for d in self.distinct_dirs() {
            if self.v2 {
                let base = d.parent().unwrap_or(d);
                let root = base.parent().unwrap_or(base);
                let available = get(&root.join("cgroup.controllers")).unwrap_or_default();
                let wanted: Vec<String> = V2_CONTROLLERS
                    .iter()
                    .filter(|c| available.split_whitespace().any(|a| a == **c))
                    .map(|c| format!("+{c}"))
                    .collect();
                if mkdir(base)? && !wanted.is_empty() {
                    let line = wanted.join(" ");
                    put(&root.join("cgroup.subtree_control"), &line)?;
                    put(&base.join("cgroup.subtree_control"), &line)?;
                }
            }
            new &= mkdir(d)?;
        }
        Ok(new)
    }

    /// Write every limit: those `limits` sets, and "unlimited" for the
    /// rest, so that applying again after a rule is removed lifts it.
    pub fn apply(&self, limits: &Limits) -> Result<()> {
        if self.v2 {
            self.apply_v2(limits)
        } else {
            self.apply_v1(limits)
        }
    }

    fn apply_v1(&self, l: &Limits) -> Result<()> {
        if let Some(d) = self.dir("memory") {
            let memsw = d.join("memory.memsw.limit_in_bytes");
            let has_memsw = memsw.exists();
            // memsw may never go below memory: lift it, set memory, set it.
            if has_memsw {
                put(&memsw, "-1")?;
            }
            put(
                &d.join("memory.limit_in_bytes"),
                &l.memory.map_or("-1".into(), |m| m.to_string()),
            )?;
            if let (Some(m), Some(s)) = (l.memory, l.swap) {
                if !has_memsw {
                    return Err(Error::Unavailable(
                        "swapuse: this kernel does not account swap (no memory.memsw.*)".into(),
                    ));
                }
                put(&memsw, &m.saturating_add(s).to_string())?;
            }
        }
        if let Some(d) = self.dir("pids") {
            put(&d.join("pids.max"), &tasks_max(l))?;
        }
        if let Some(d) = self.dir("cpu") {
            put(&d.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
            put(
                &d.join("cpu.cfs_quota_us"),
                &l.cpu_percent
                    .map_or("-1".into(), |p| (p * CPU_PERIOD_US / 100).to_string()),
            )?;
        }
        if let Some(d) = self.dir("blkio") {
            let io = l.io.unwrap_or_default();
            for (file, value) in [
                ("blkio.throttle.read_bps_device", io.rbps),
                ("blkio.throttle.write_bps_device", io.wbps),
                ("blkio.throttle.read_iops_device", io.riops),
                ("blkio.throttle.write_iops_device", io.wiops),
            ] {
                let f = d.join(file);
                // A 0 removes a device's limit.
                for dev in devices_in(&get(&f).unwrap_or_default()) {
                    if l.io.is_none_or(|io| io.device != dev) {
                        put(&f, &format!("{}:{} 0", dev.0, dev.1))?;
                    }
                }
                if let Some(io) = l.io {
                    put(
                        &f,
                        &format!("{}:{} {}", io.device.0, io.device.1, value.unwrap_or(0)),
                    )?;
                }
            }
        }
        Ok(())
    }

    fn apply_v2(&self, l: &Limits) -> Result<()> {
        let Some(d) = self.dir("unified") else {
            return Ok(());
        };
        let max = |v: Option<u64>| v.map_or("max".to_string(), |v| v.to_string());
        put(&d.join("memory.max"), &max(l.memory))?;
        let swap = d.join("memory.swap.max");
        if swap.exists() {
            put(&swap, &max(l.swap))?;
        } else if l.swap.is_some() {
            return Err(Error::Unavailable(
                "swapuse: this kernel does not account swap (no memory.swap.max)".into(),
            ));
        }
        put(&d.join("pids.max"), &tasks_max(l))?;
        let quota = l.cpu_percent.map(|p| p * CPU_PERIOD_US / 100);
        put(
            &d.join("cpu.max"),
            &format!("{} {CPU_PERIOD_US}", max(quota)),
        )?;
        let f = d.join("io.max");
        for dev in devices_in(&get(&f).unwrap_or_default()) {
            if l.io.is_none_or(|io| io.device != dev) {
                put(
                    &f,
                    &format!("{}:{} rbps=max wbps=max riops=max wiops=max", dev.0, dev.1),
                )?;
            }
        }
        if let Some(IoLimits {
            device,
            rbps,
            wbps,
            riops,
            wiops,
        }) = l.io
        {
            put(
                &f,
                &format!(
                    "{}:{} rbps={} wbps={} riops={} wiops={}",
                    device.0,
                    device.1,
                    max(rbps),
                    max(wbps),
                    max(riops),
                    max(wiops)
                ),
            )?;
        }
        Ok(())
    }

    /// The pids (in the caller's pid namespace) of every process in it.
    pub fn pids(&self) -> Vec<i32> {
        let dir = self
            .dir("pids")
            .or_else(|| self.dirs.first().map(|(_, d)| d.as_path()));
        dir.and_then(|d| get(&d.join("cgroup.procs")).ok())
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// The cgroup's counters (zeros where a file is missing).
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        if self.v2 {
            let Some(d) = self.dir("unified") else {
                return c;
            };
            c.cpu_usec = keyed(&get(&d.join("cpu.stat")).unwrap_or_default(), "usage_usec");
            c.memory = get_u64(&d.join("memory.current"));
            c.swap = get_u64(&d.join("memory.swap.current"));
            c.tasks = get_u64(&d.join("pids.current"));
            for line in get(&d.join("io.stat")).unwrap_or_default().lines() {
                for kv in line.split_whitespace().skip(1) {
                    let Some((k, v)) = kv.split_once('=') else {
                        continue;
                    };
                    let v: u64 = v.parse().unwrap_or(0);
                    match k {
                        "rbytes" => c.read_bytes += v,
                        "wbytes" => c.write_bytes += v,
                        "rios" => c.read_ios += v,
                        "wios" => c.write_ios += v,
                        _ => {}
                    }
                }
            }
        } else {
            if let Some(d) = self.dir("cpuacct") {
                c.cpu_usec = get_u64(&d.join("cpuacct.usage")) / 1000;
            }
            if let Some(d) = self.dir("memory") {
                c.memory = get_u64(&d.join("memory.usage_in_bytes"));
                let memsw = get_u64(&d.join("memory.memsw.usage_in_bytes"));
                c.swap = memsw.saturating_sub(c.memory);
            }
            if let Some(d) = self.dir("pids") {
                c.tasks = get_u64(&d.join("pids.current"));
            }
            if let Some(d) = self.dir("blkio") {
                (c.read_bytes, c.write_bytes) = read_write(
                    &get(&d.join("blkio.throttle.io_service_bytes")).unwrap_or_default(),
                );
                (c.read_ios, c.write_ios) =
                    read_write(&get(&d.join("blkio.throttle.io_serviced")).unwrap_or_default());
            }
        }
        c
    }

    /// Remove the cgroup: kill what is left in it (the jail's processes
    /// only), and remove its directories.
    pub fn remove(&self) -> Result<()> {
        for d in self.distinct_dirs() {
            let mut tries = 0;
            loop {
                match fs::remove_dir(d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::NotFound => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 200 => {
                        // A process may still be on its way out of the jail.
                        for pid in get(&d.join("cgroup.procs")).unwrap_or_default().lines() {
                            if let Ok(pid) = pid.trim().parse() {
                                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                            }
                        }
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => return Err(Error::at("remove cgroup", d, e)),
                }
            }
        }
        // The base stays, empty, for the next start (as systemd keeps its
        // slices): making a v1 cgroup directory populates every control
        // file of its controller, work that a start need not do twice. It
        // goes with the last defined jail (see `remove_base`).
        Ok(())
    }
}

/// `pids.max` for the limits: the jail's tasks plus jkit's init.
fn tasks_max(l: &Limits) -> String {
    l.tasks
        .map_or("max".into(), |t| t.saturating_add(1).to_string())
}

/// Make directory `d` and its parents; returns whether `d` is new.
fn mkdir(d: &Path) -> Result<bool> {
    let made = |r: std::io::Result<()>| match r {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::at("create cgroup", d, e)),
    };
    match fs::create_dir(d) {
        // The base, made for the first of its jails (two system calls
        // less per hierarchy on every other start).
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = d.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::at("create cgroup", parent, e))?;
            }
            made(fs::create_dir(d))
        }
        r => made(r),
    }
}

/// The value of `key` in a `key value` file (cpu.stat).
fn keyed(text: &str, key: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The `MAJ:MIN` devices named at the start of each line.
fn devices_in(text: &str) -> Vec<(u32, u32)> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|d| d.split_once(':'))
        .filter_map(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .collect()
}

/// The Read and Write totals of a v1 blkio statistics file.
fn read_write(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0, 0);
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, v] = f[..] {
            let v: u64 = v.parse().unwrap_or(0);
            match op {
                "Read" => r += v,
                "Write" => w += v,
                _ => {}
            }
        }
    }
    (r, w)
}

/// The whole block device holding `path` (a partition's disk, since
/// throttling takes whole devices), as `(major, minor)`.
pub fn block_device_of(path: &Path) -> std::result::Result<(u32, u32), String> {
    use std::os::unix::fs::MetadataExt;
    let dev = fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    if major == 0 {
        return Err(format!(
            "I/O limits need the jail's root on a block device, and {} is not on one ({major}:{minor})",
            path.display()
        ));
    }
    let sys = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    if sys.join("partition").exists() {
        let disk = fs::read_to_string(sys.join("../dev"))
            .map_err(|e| format!("{}: {e}", sys.display()))?;
        if let Some((a, b)) = disk.trim().split_once(':') {
            if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                return Ok((a, b));
            }
        }
    }
    Ok((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 30 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:11 - cgroup cgroup rw,cpu,cpuacct
28 25 0:25 / /sys/fs/cgroup/memory rw,nosuid shared:12 - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/pids rw,nosuid shared:13 - cgroup cgroup rw,pids
30 25 0:27 / /sys/fs/cgroup/blkio rw,nosuid shared:14 - cgroup cgroup rw,blkio
31 25 0:28 / /sys/fs/cgroup/systemd rw shared:15 - cgroup cgroup rw,xattr,name=systemd
";

    fn from_mountinfo(text: &str) -> Option<Hierarchy> {
        Hierarchy::from_mounts(procfs::mounts_in(text.as_bytes()))
    }

    #[test]
    fn hybrid_hosts_use_v1_with_comounted_controllers() {
        let h = from_mountinfo(HYBRID).unwrap();
        let Hierarchy::V1(dirs) = &h else {
            panic!("{h:?}")
        };
        let names: Vec<&str> = dirs.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(names, V1_CONTROLLERS);
        let cg = h.cgroup("jkit", "web");
        assert_eq!(
            cg.dir("cpu"),
            Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/jkit/web"))
        );
        assert_eq!(cg.dir("cpuacct"), cg.dir("cpu"));
        assert_eq!(cg.distinct_dirs().len(), 4);
        assert_eq!(
            cg.procs_files()[0],
            Path::new("/sys/fs/cgroup/memory/jkit/web/cgroup.procs")
        );
    }

    #[test]
    fn unified_hosts_use_v2() {
        let text =
            "30 1 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = from_mountinfo(text).unwrap();
        assert_eq!(h, Hierarchy::V2("/sys/fs/cgroup".into()));
        assert_eq!(
            h.cgroup("jkit", "db").procs_files(),
            [PathBuf::from("/sys/fs/cgroup/jkit/db/cgroup.procs")]
        );
        assert_eq!(from_mountinfo("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"), None);
    }

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("jkit-cgroup-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// A v1 hierarchy with every controller under `root`.
    fn v1_under(root: &Path) -> Hierarchy {
        Hierarchy::V1(
            V1_CONTROLLERS
                .iter()
                .map(|c| (c.to_string(), root.join(c)))
                .collect(),
        )
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap()
    }

    #[test]
    fn v1_files_are_written_and_lifted() {
        let root = temp("v1");
        let h = v1_under(&root);
        let cg = h.cgroup("jkit-t", "web");
        assert!(cg.create().unwrap(), "a new cgroup");
        assert!(cg.exists());
        assert!(!cg.create().unwrap(), "one that was there");
        let mem = cg.dir("memory").unwrap();
        fs::write(mem.join("memory.memsw.limit_in_bytes"), "").unwrap();
        let limits = Limits {
            memory: Some(64 << 20),
            swap: Some(0),
            tasks: Some(20),
            cpu_percent: Some(25),
            io: Some(IoLimits {
                device: (254, 0),
                wbps: Some(1 << 20),
                ..IoLimits::default()
            }),
            rlimits: Vec::new(),
        };
        cg.apply(&limits).unwrap();
        assert_eq!(read(&mem.join("memory.limit_in_bytes")), "67108864");
        assert_eq!(read(&mem.join("memory.memsw.limit_in_bytes")), "67108864");
        assert_eq!(read(&cg.dir("pids").unwrap().join("pids.max")), "21");
        assert_eq!(
            read(&cg.dir("cpu").unwrap().join("cpu.cfs_quota_us")),
            "25000"
        );
        assert_eq!(
            read(&cg.dir("cpu").unwrap().join("cpu.cfs_period_us")),
            "100000"
        );
        let blk = cg.dir("blkio").unwrap();
        assert_eq!(
            read(&blk.join("blkio.throttle.write_bps_device")),
            "254:0 1048576"
        );
        assert_eq!(read(&blk.join("blkio.throttle.read_bps_device")), "254:0 0");
        cg.apply(&Limits::default()).unwrap();
        assert_eq!(read(&mem.join("memory.limit_in_bytes")), "-1");
        assert_eq!(read(&mem.join("memory.memsw.limit_in_bytes")), "-1");
        assert_eq!(read(&cg.dir("pids").unwrap().join("pids.max")), "max");
        assert_eq!(read(&cg.dir("cpu").unwrap().join("cpu.cfs_quota_us")), "-1");
        assert_eq!(
            read(&blk.join("blkio.throttle.write_bps_device")),
            "254:0 0"
        );
        fs::write(mem.join("memory.usage_in_bytes"), "4096\n").unwrap();
        fs::write(mem.join("memory.memsw.usage_in_bytes"), "8192\n").unwrap();
        fs::write(
            cg.dir("cpuacct").unwrap().join("cpuacct.usage"),
            "2500000000\n",
        )
        .unwrap();
        fs::write(
            blk.join("blkio.throttle.io_service_bytes"),
            "254:0 Read 10\n254:0 Write 4096\n254:0 Total 4106\nTotal 4106\n",
        )
        .unwrap();
        fs::write(
            blk.join("blkio.throttle.io_serviced"),
            "254:0 Read 1\n254:0 Write 2\nTotal 3\n",
        )
        .unwrap();
        let c = cg.counters();
        assert_eq!((c.cpu_usec, c.memory, c.swap), (2_500_000, 4096, 4096));
        assert_eq!(
            (c.read_bytes, c.write_bytes, c.read_ios, c.write_ios),
            (10, 4096, 1, 2)
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn v2_enables_controllers_and_writes_max() {
        let root = temp("v2");
        fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids\n",
        )
        .unwrap();
        let cg = Hierarchy::V2(root.clone()).cgroup("jkit-t", "db");
        cg.create().unwrap();
        assert_eq!(
            read(&root.join("cgroup.subtree_control")),
            "+cpu +io +memory +pids"
        );
        assert_eq!(
            read(&root.join("jkit-t/cgroup.subtree_control")),
            "+cpu +io +memory +pids"
        );
        let d = cg.dir("unified").unwrap().to_path_buf();
        assert_eq!(d, root.join("jkit-t/db"));
        let limits = Limits {
            memory: Some(1 << 26),
            tasks: Some(20),
            cpu_percent: Some(150),
            io: Some(IoLimits {
                device: (254, 0),
                wbps: Some(2 << 20),
                riops: Some(50),
                ..IoLimits::default()
            }),
            ..Limits::default()
        };
        cg.apply(&limits).unwrap();
        assert_eq!(read(&d.join("memory.max")), "67108864");
        assert!(
            !d.join("memory.swap.max").exists(),
            "no swap rule, no swap file written"
        );
        assert_eq!(read(&d.join("pids.max")), "21");
        assert_eq!(read(&d.join("cpu.max")), "150000 100000");
        assert_eq!(
            read(&d.join("io.max")),
            "254:0 rbps=max wbps=2097152 riops=50 wiops=max"
        );
        cg.apply(&Limits::default()).unwrap();
        assert_eq!(read(&d.join("memory.max")), "max");
        assert_eq!(read(&d.join("cpu.max")), "max 100000");
        assert_eq!(
            read(&d.join("io.max")),
            "254:0 rbps=max wbps=max riops=max wiops=max"
        );
        fs::write(
            d.join("cpu.stat"),
            "usage_usec 1500000\nuser_usec 1000000\n",
        )
        .unwrap();
        fs::write(d.join("io.stat"), "254:0 rbytes=100 wbytes=200 rios=3 wios=4 dbytes=0 dios=0\n7:0 rbytes=1 wbytes=2 rios=1 wios=1\n").unwrap();
        fs::write(d.join("pids.current"), "3\n").unwrap();
        fs::write(d.join("cgroup.procs"), "10\n11\n").unwrap();
        let c = cg.counters();
        assert_eq!((c.cpu_usec, c.tasks), (1_500_000, 3));
        assert_eq!(
            (c.read_bytes, c.write_bytes, c.read_ios, c.write_ios),
            (101, 202, 4, 5)
        );
        assert_eq!(cg.pids(), [10, 11]);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_removed_cgroup_leaves_its_base_for_the_next_start() {
        let root = temp("keep-base");
        let h = v1_under(&root);
        let cg = h.cgroup("jkit-t", "web");
        assert!(cg.create().unwrap());
        cg.remove().unwrap();
        for c in V1_CONTROLLERS {
            assert!(root.join(c).join("jkit-t").is_dir(), "{c} base kept");
            assert!(
                !root.join(c).join("jkit-t/web").exists(),
                "{c} jail removed"
            );
        }
        assert!(cg.create().unwrap(), "new again in the kept base");
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn the_usual_places_give_what_the_mount_table_gives() {
        let info = procfs::mountinfo().unwrap();
        let from_table = Hierarchy::from_mounts(procfs::mounts_in(&info));
        let usual = Hierarchy::at_usual_places();
        assert!(usual.is_some(), "cgroups mounted as systemd mounts them");
        assert_eq!(usual, from_table);
    }

    #[test]
    fn base_names_separate_run_directories() {
        let a = base_name(&Paths::under(Path::new("/tmp/a")));
        let b = base_name(&Paths::under(Path::new("/tmp/b")));
        assert!(a.starts_with("jkit-") && a.len() == 21 && a != b, "{a} {b}");
    }
}
