//! File writes that readers never see half done.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{OsContext, Result};

/// Write `bytes` to `path` so that readers see the old or the new content,
/// never a part, and the new content is on disk before this returns: for
/// what the user wrote or asked for (jail definitions, rctl rules).
pub fn write_durable(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, bytes, true)
}

/// Write `bytes` to `path` so that readers see the old or the new content,
/// never a part, without waiting for the disk. For runtime state, which
/// describes namespaces, processes and cgroups that end with the host's
/// uptime (after a crash of the host it is stale whether it was flushed or
/// not), and for what jkit derives while building a jail (its fstab and
/// build record): the dozens of files of the jail's new root are not
/// flushed either, and a jail caught half-built by a crash is removed by
/// `jmk destroy` like one caught by a kill. Each flush costs a disk round
/// trip (0.3 to 2.5 ms each on the development VM's disk), on every start
/// and stop where `/run` is not a tmpfs.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, bytes, false)
}

fn replace(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .what(|| format!("create {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| if durable { f.sync_all() } else { Ok(()) })
        .what(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, path).what(|| format!("rename {} to {}", tmp.display(), path.display()))
}
