//! The run directory's busy parts on a tmpfs.
//!
//! A start and a stop make and delete half a dozen files under
//! `RUN/jails/NAME/` (state, cgroup record, control socket, mount namespace
//! pin) and a jid link under `RUN/jids/`; none of them means anything after
//! a reboot. Most hosts mount /run as a tmpfs; where the run directory is on
//! a disk instead (hosts without systemd, containers), each of those files
//! costs a disk inode on every start and outlives a reboot. There jkit
//! mounts a tmpfs of its own on `RUN/jails` and on `RUN/jids` the first
//! time a jail starts, and leaves them mounted, as /run itself stays. The
//! locks stay on the disk below: they outlive the jails, and hiding one
//! that a command holds would let a second command take the same jail's
//! lock.
//!
//! A directory that already holds anything (jails started before, their
//! jids) is never covered, then or later: it gets a marker, `.on-disk`, so
//! that it never empties again. A command that found it holding something
//! goes on writing there, and a mount made once it emptied would hide what
//! that command writes next.

use std::fs;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};
use nix::mount::{MsFlags, mount};
use nix::sys::statfs::{TMPFS_MAGIC, statfs};

use crate::error::{Error, OsContext, Result};

/// Whether `dir` is on a tmpfs.
fn on_tmpfs(dir: &Path) -> bool {
    statfs(dir).is_ok_and(|s| s.filesystem_type() == TMPFS_MAGIC)
}

/// Make directory `dir` (and its parents) and, where it is on a disk and
/// empty, mount a tmpfs on it; where it stays on the disk, mark it so.
/// Whoever writes into `dir` calls this first, so nobody writes on the
/// disk below while another mounts over it.
pub fn prepare(dir: &Path) -> Result<()> {
    if on_tmpfs(dir) {
        return Ok(());
    }
    fs::create_dir_all(dir).what(|| format!("mkdir {}", dir.display()))?;
    // The lock is on the directory below any mount: whoever waits for it
    // finds the tmpfs when it gets it.
    let below = fs::File::open(dir).what(|| format!("open {}", dir.display()))?;
    let _lock = Flock::lock(below, FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::os(format!("lock {}", dir.display()), e))?;
    if on_tmpfs(dir) {
        return Ok(());
    }
    let mut entries = fs::read_dir(dir).what(|| format!("read {}", dir.display()))?;
    if entries.next().is_none() {
        let mounted = mount(
            Some("jkit-run"),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=755"),
        );
        if mounted.is_ok() {
            return Ok(());
        }
    }
    let marker = dir.join(ON_DISK);
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&marker)
        .what(|| format!("create {}", marker.display()))?;
    Ok(())
}

/// The marker of a busy directory that stays on the disk.
const ON_DISK: &str = ".on-disk";
