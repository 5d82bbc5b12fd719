//! A plain directory's snapshot: a copy of the tree that keeps owners
//! (no range moves: a snapshot is the jail's files as they were), modes,
//! times, file capabilities and hard links, sharing the data of each file
//! where the filesystem can (a reflink), copying it otherwise.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{UtimensatFlags, futimens, utimensat};
use nix::sys::time::TimeSpec;

use crate::error::{Error, OsContext, Result};

/// How many directories deep a copy goes (as `fsio::tree`'s copies).
const MAX_DEPTH: usize = 512;

/// What a copy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// The bytes of the files it holds.
    pub bytes: u64,
    /// Whether every file's data is shared with its source (no byte was
    /// copied).
    pub reflinked: bool,
}

/// The walk's state: the progress so far and the files met with more
/// than one link.
struct Walk<'p> {
    total: u64,
    done: u64,
    copied: u64,
    links: HashMap<(u64, u64), PathBuf>,
    progress: &'p mut dyn FnMut(u64, u64),
}

/// Copy the tree `src` to `dst` (not there yet), telling `progress` (done,
/// total bytes) as files are copied.
pub fn copy_tree(src: &Path, dst: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<Copied> {
    let meta = fs::symlink_metadata(src).what(|| format!("stat {}", src.display()))?;
    let mut walk = Walk {
        total: size_of(src, 0)?,
        done: 0,
        copied: 0,
        links: HashMap::new(),
        progress,
    };
    walk.copy(src, &meta, dst, 0)?;
    Ok(Copied {
        bytes: walk.done,
        reflinked: walk.copied == 0,
    })
}

/// The bytes of the regular files under `dir`.
fn size_of(dir: &Path, depth: usize) -> Result<u64> {
    let mut sum = 0;
    if depth == MAX_DEPTH {
        return Err(too_deep(dir));
    }
    for e in fs::read_dir(dir).what(|| format!("read {}", dir.display()))? {
        let e = e.what(|| format!("read {}", dir.display()))?;
        let m = e.metadata().what(|| format!("stat {}", e.path().display()))?;
        if m.is_dir() {
            sum += size_of(&e.path(), depth + 1)?;
        } else if m.is_file() {
            sum += m.len();
        }
    }
    Ok(sum)
}

fn too_deep(dir: &Path) -> Error {
    Error::BadData(format!(
        "{}: more than {MAX_DEPTH} directories deep",
        dir.display()
    ))
}

fn times(meta: &fs::Metadata) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(meta.atime(), meta.atime_nsec()),
        TimeSpec::new(meta.mtime(), meta.mtime_nsec()),
    )
}

impl Walk<'_> {
    fn copy(&mut self, src: &Path, meta: &fs::Metadata, dst: &Path, depth: usize) -> Result<()> {
        let ft = meta.file_type();
        if !ft.is_dir() && meta.nlink() > 1 {
            if let Some(first) = self.links.get(&(meta.dev(), meta.ino())) {
                return fs::hard_link(first, dst).what(|| format!("link {}", dst.display()));
            }
            self.links
                .insert((meta.dev(), meta.ino()), dst.to_path_buf());
        }
        let (atime, mtime) = times(meta);
        let chown = || format!("chown {}", dst.display());
        if ft.is_file() {
            return self.copy_file(src, meta, dst);
        }
        if ft.is_symlink() {
            let target = fs::read_link(src).what(|| format!("readlink {}", src.display()))?;
            std::os::unix::fs::symlink(&target, dst).what(|| format!("symlink {}", dst.display()))?;
            std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid())).what(chown)?;
            return utimensat(nix::fcntl::AT_FDCWD, dst, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
                .what(|| format!("set times of {}", dst.display()));
        }
        if ft.is_dir() {
            if depth == MAX_DEPTH {
                return Err(too_deep(src));
            }
            crate::fsio::tree::mkdir(dst, 0o700)?;
            for e in fs::read_dir(src).what(|| format!("read {}", src.display()))? {
                let e = e.what(|| format!("read {}", src.display()))?;
                let m = e.metadata().what(|| format!("stat {}", e.path().display()))?;
                self.copy(&e.path(), &m, &dst.join(e.file_name()), depth + 1)?;
            }
        } else {
            use nix::sys::stat::{Mode, SFlag, mknod};
            let mode = meta.mode() as libc::mode_t;
            let kind = SFlag::from_bits_truncate(mode & libc::S_IFMT);
            if kind == SFlag::S_IFSOCK {
                return Ok(());
            }
            mknod(dst, kind, Mode::from_bits_truncate(mode & 0o7777), meta.rdev() as _)
                .what(|| format!("mknod {}", dst.display()))?;
        }
        std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid())).what(chown)?;
        fs::set_permissions(dst, meta.permissions()).what(|| format!("chmod {}", dst.display()))?;
        utimensat(nix::fcntl::AT_FDCWD, dst, &atime, &mtime, UtimensatFlags::FollowSymlink)
            .what(|| format!("set times of {}", dst.display()))
    }

    fn copy_file(&mut self, src: &Path, meta: &fs::Metadata, dst: &Path) -> Result<()> {
        let what = || format!("copy {} to {}", src.display(), dst.display());
        let from = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(src)
            .what(what)?;
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dst)
            .what(what)?;
        let len = meta.len();
        if len > 0 && !reflink(&from, &to) {
            copy_data(&from, &mut to, len).what(what)?;
            self.copied += len;
        }
        self.done += len;
        (self.progress)(self.done, self.total);
        std::os::unix::fs::fchown(&to, Some(meta.uid()), Some(meta.gid())).what(what)?;
        // The mode after the owner (a chown clears set-id bits), the
        // capabilities after both.
        to.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
            .what(what)?;
        copy_caps(&from, &to).what(what)?;
        let (atime, mtime) = times(meta);
        futimens(to.as_fd(), &atime, &mtime).what(what)
    }
}

/// Share the data of `from` with the empty `to`, where the filesystem can.
fn reflink(from: &fs::File, to: &fs::File) -> bool {
    #[cfg(target_os = "linux")]
    {
        crate::backend::linux::clone_file(from.as_fd(), to.as_fd()).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, to);
        false
    }
}

/// Copy `len` bytes of `from` to `to` in the kernel, else by reads and
/// writes from where the kernel stopped.
fn copy_data(from: &fs::File, to: &mut fs::File, len: u64) -> io::Result<()> {
    let mut left = usize::try_from(len).unwrap_or(usize::MAX);
    while left > 0 {
        match nix::fcntl::copy_file_range(from, None, &*to, None, left) {
            Ok(0) => return Ok(()),
            Ok(n) => left -= n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::ENOSPC) => return Err(io::Error::from_raw_os_error(libc::ENOSPC)),
            Err(_) => {
                let mut from = from;
                return io::copy(&mut from, to).map(drop);
            }
        }
    }
    Ok(())
}

/// Give `to` the file capabilities of `from`, as they are (the copy stays
/// in the source's id range).
fn copy_caps(from: &fs::File, to: &fs::File) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use crate::fsio::tree::FileCaps;
        let caps = crate::backend::linux::idmap::XattrCaps;
        if let Some(value) = caps.get(from.as_fd())? {
            caps.set(to.as_fd(), &value)?;
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (from, to);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_keeps_modes_times_links_and_hard_links() {
        let d = std::env::temp_dir().join(format!("jkit-storage-copy-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let src = d.join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), "hello").unwrap();
        fs::set_permissions(src.join("sub/f"), fs::Permissions::from_mode(0o4750)).unwrap();
        fs::hard_link(src.join("sub/f"), src.join("g")).unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("l")).unwrap();
        let old = TimeSpec::new(1_000_000, 5);
        utimensat(nix::fcntl::AT_FDCWD, &src.join("sub/f"), &old, &old, UtimensatFlags::FollowSymlink).unwrap();
        let mut seen = Vec::new();
        let c = copy_tree(&src, &d.join("dst"), &mut |done, total| seen.push((done, total)))
            .unwrap();
        assert_eq!(c.bytes, 5);
        assert_eq!(seen.last(), Some(&(5, 5)));
        let m = fs::metadata(d.join("dst/sub/f")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o4750);
        assert_eq!((m.mtime(), m.mtime_nsec()), (1_000_000, 5));
        assert_eq!(m.ino(), fs::metadata(d.join("dst/g")).unwrap().ino());
        assert_eq!(fs::read_link(d.join("dst/l")).unwrap(), PathBuf::from("sub/f"));
        fs::remove_dir_all(&d).unwrap();
    }
}
