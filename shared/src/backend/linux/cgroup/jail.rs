//! The cgroup of one jail, from start to stop: made ready before the
//! jail's namespaces exist ([`prepare`]), joined by the process that makes
//! them, its limits written once that process has left it, and removed
//! with the jail. What the jail's processes join is recorded beside the
//! jail's other runtime state:
//!
//! ```text
//! RUN/jails/NAME/cgroup.json   the jail's cgroup directories and the rlimits its processes get
//! ```

use std::fs;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use super::limits::{self, Limits, Rlimit};
use super::{Cgroup, Hierarchy, base_name, block_device_of};
use crate::backend::linux::write_runtime;
use crate::error::{Error, Result};
use crate::lock::JailLock;
use crate::model::Jail;
use crate::paths::Paths;
use crate::rctl::store;

/// A jail's cgroup record: what its processes join (its cgroup, when the
/// host has cgroups, and the rlimits they take), recorded at start in
/// `cgroup.json`, updated when rules change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailCgroup {
    /// The jail's cgroup, when the host has cgroups.
    pub cgroup: Option<Cgroup>,
    /// The rlimits every process of the jail gets (not jkit's init).
    pub rlimits: Vec<Rlimit>,
}

impl JailCgroup {
    /// The record of the running jail `name` (empty when it has none).
    pub fn of(paths: &Paths, name: &str) -> Result<Self> {
        let f = paths.cgroup_record_file(name);
        match fs::read(&f) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::BadData(format!("{}: {e}", f.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(JailCgroup::default()),
            Err(e) => Err(Error::at("read", &f, e)),
        }
    }

    /// Record it for the running jail `name`.
    pub fn save(&self, paths: &Paths, name: &str) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Software(e.to_string()))?;
        write_runtime(&paths.cgroup_record_file(name), &bytes)
    }

    /// In the process that makes the jail's namespaces (forked, before
    /// it unshares them, so that the jail's cgroup namespace is rooted at
    /// the jail's cgroup): join the cgroup, and keep jkit's init, which
    /// this process forks, out of the OOM killer's way (the jail lives as
    /// long as its init).
    pub fn join_as_init(&self, born_inside: bool) -> std::io::Result<()> {
        if let Some(cg) = self.cgroup.as_ref().filter(|_| !born_inside) {
            // On v1, the per-thread `tasks` file: this process is
            // single-threaded (just forked), and writing `cgroup.procs`
            // waits for an RCU grace period on every start (on v2 the
            // process is born inside instead, see `v2_dir`).
            let file = if cg.v2 { "cgroup.procs" } else { "tasks" };
            for f in cg.procs_files() {
                let f = f.parent().map_or(f.clone(), |d| d.join(file));
                fs::write(&f, "0")?;
            }
        }
        // Best effort: lowering the score needs CAP_SYS_RESOURCE.
        let _ = fs::write("/proc/self/oom_score_adj", "-1000");
        Ok(())
    }

    /// The jail's v2 cgroup directory, open, for forking the process that
    /// makes the jail's namespaces straight into it (`CLONE_INTO_CGROUP`):
    /// on v2 no thread can move itself alone, and a process's move waits
    /// for an RCU grace period unless another move just passed one.
    pub fn v2_dir(&self) -> Option<OwnedFd> {
        let cg = self.cgroup.as_ref().filter(|c| c.v2)?;
        let dir = cg.procs_files().first()?.parent()?.to_path_buf();
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        nix::fcntl::open(&dir, flags, Mode::empty()).ok()
    }

    /// In a process on its way into the jail (forked, before exec): take
    /// the rlimits of the jail's processes.
    pub fn take_rlimits(&self) -> std::io::Result<()> {
        for r in &self.rlimits {
            let v = |x: u64| {
                if x == u64::MAX {
                    nix::sys::resource::RLIM_INFINITY
                } else {
                    x
                }
            };
            nix::sys::resource::setrlimit(r.kind.resource(), v(r.soft), v(r.hard))
                .map_err(std::io::Error::from)?;
        }
        Ok(())
    }
}

/// A jail's cgroup made ready for a start: created, with its limits
/// planned, the rctl lock held until [`Prepared::finish`] has written
/// them.
#[derive(Debug)]
pub struct Prepared {
    /// What the jail's processes join.
    pub record: JailCgroup,
    limits: Limits,
    /// Whether [`Prepared::finish`] has limits to write.
    write_limits: bool,
    _lock: JailLock,
}

/// Prepare the cgroup of jail `def` (root `root`) for a start: read its
/// rules, create its cgroup and plan the limits (failing when a rule
/// cannot hold), record it. A jail without rules starts without a
/// cgroup where none can be made.
pub fn prepare(paths: &Paths, def: &Jail, root: &Path) -> Result<Prepared> {
    let name = &def.name;
    let lock = store::lock(paths, name)?;
    let rules = store::read(paths, name)?;
    let mut fresh = false;
    let cg = match Hierarchy::detect()? {
        Some(h) => {
            let cg = h.cgroup(&base_name(paths), name);
            match cg.create() {
                Ok(new) => {
                    fresh = new;
                    Some(cg)
                }
                Err(_) if rules.is_empty() => None,
                Err(e) => return Err(e.context(name)),
            }
        }
        None if rules.is_empty() => None,
        None => {
            return Err(Error::Unavailable(format!(
                "{name}: its rctl rules need cgroups, and no cgroup file system is mounted"
            )));
        }
    };
    let host = cg.as_ref().map_or(
        limits::Host {
            v2: true,
            swap_accounting: true,
        },
        Cgroup::host,
    );
    let limits = limits::plan(&rules, host, || block_device_of(root))
        .map_err(|e| Error::Config(format!("{name}: rctl: {e}")))?;
    let record = JailCgroup {
        cgroup: cg,
        rlimits: limits.rlimits.clone(),
    };
    record.save(paths, name)?;
    // A new cgroup already holds "no limit" everywhere: writing it again
    // costs ten writes and reads per start (on v1, setting the CFS period
    // takes a lock of the scheduler).
    let unlimited = Limits {
        rlimits: limits.rlimits.clone(),
        ..Limits::default()
    };
    Ok(Prepared {
        record,
        write_limits: !(fresh && limits == unlimited),
        limits,
        _lock: lock,
    })
}

impl Prepared {
    /// Whether [`Prepared::finish`] writes limits.
    pub fn writes_limits(&self) -> bool {
        self.record.cgroup.is_some() && self.write_limits
    }

    /// Write the limits to the cgroup, once the process that made the
    /// namespaces has left it (so that a process limit counts the jail's
    /// processes only), and release the rctl lock.
    pub fn finish(self) -> Result<()> {
        match &self.record.cgroup {
            Some(cg) if self.write_limits => cg.apply(&self.limits),
            _ => Ok(()),
        }
    }
}

/// Remove the cgroup of jail `name` (at stop, or when cleaning up).
pub fn remove(paths: &Paths, name: &str) -> Result<()> {
    let _lock = store::lock(paths, name)?;
    let cg = match JailCgroup::of(paths, name).ok().and_then(|e| e.cgroup) {
        Some(cg) => cg,
        None => match Hierarchy::detect()? {
            Some(h) => h.cgroup(&base_name(paths), name),
            None => return Ok(()),
        },
    };
    cg.remove().map_err(|e| e.context(name))
}

/// Remove every jail cgroup of the jails kept under `paths`, and their
/// base (test environments call this when they end).
pub fn remove_all(paths: &Paths) -> Result<()> {
    let Some(h) = Hierarchy::detect()? else {
        return Ok(());
    };
    let base = base_name(paths);
    let probe = h.cgroup(&base, "probe");
    let mut names: Vec<String> = Vec::new();
    for d in probe.distinct_dirs() {
        let Some(base_dir) = d.parent() else { continue };
        if let Ok(entries) = fs::read_dir(base_dir) {
            for e in entries.flatten() {
                if e.path().is_dir() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
        }
    }
    for n in names {
        h.cgroup(&base, &n).remove()?;
    }
    for d in probe.distinct_dirs() {
        if let Some(base_dir) = d.parent() {
            let _ = fs::remove_dir(base_dir);
        }
    }
    Ok(())
}
