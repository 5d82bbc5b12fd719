//! Per-jail locks: every operation on a jail holds its lock, so commands on
//! one jail are serialized while commands on different jails run in
//! parallel. The lock is an flock(2) on a file that outlives the jail, and
//! the kernel drops it when its holder dies, even by SIGKILL.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, OsContext, Result};
use crate::paths::Paths;

/// Open (making it if missing) the file at `path` whose flock(2) is a
/// lock, for its holder alone.
pub fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .what(|| format!("open {}", path.display()))
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct JailLock {
    lock: Flock<File>,
    path: PathBuf,
}

impl JailLock {
    /// Wait for and take the lock of jail `name`.
    pub fn acquire(paths: &Paths, name: &str) -> Result<Self> {
        Self::acquire_file(&paths.lock_file(name))
    }

    /// Wait for and take an exclusive lock on `path`, creating it. A lock
    /// file removed (by [`JailLock::remove_file`]) while this waited on it
    /// is not the lock any more: the lock is taken again on the file now
    /// at `path`.
    pub fn acquire_file(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).what(|| format!("mkdir {}", dir.display()))?;
        }
        loop {
            let file = open_lock_file(path)?;
            let lock = Flock::lock(file, FlockArg::LockExclusive)
                .map_err(|(_, e)| Error::os(format!("lock {}", path.display()), e))?;
            let held = lock
                .metadata()
                .what(|| format!("stat {}", path.display()))?;
            let current = std::fs::metadata(path).ok();
            if current.is_some_and(|c| c.ino() == held.ino() && c.dev() == held.dev()) {
                return Ok(JailLock {
                    lock,
                    path: path.to_path_buf(),
                });
            }
        }
    }

    /// Release the lock and remove its file (a jail that is gone keeps no
    /// lock file): whoever waits on the removed file takes the lock of a
    /// new one instead.
    pub fn remove_file(self) {
        let _ = std::fs::remove_file(&self.path);
        drop(self.lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn one_holder_at_a_time() {
        let dir = std::env::temp_dir().join(format!("jkit-lock-{}", std::process::id()));
        let paths = Paths::under(&dir);
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (paths, inside, max) = (paths.clone(), inside.clone(), max.clone());
                std::thread::spawn(move || {
                    let _l = JailLock::acquire(&paths, "web").unwrap();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(max.load(Ordering::SeqCst), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
