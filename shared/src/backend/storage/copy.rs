//! A plain directory's snapshot: a copy of the tree that keeps owners
//! (no range moves: a snapshot is the jail's files as they were), modes,
//! times, file capabilities and hard links, sharing the data of each file
//! where the filesystem can (a reflink), copying it otherwise. The source
//! may be a running jail's: it is walked by descriptors, never through a
//! symlink.

// The status fields differ in type between Linux and FreeBSD (mode_t is
// u32 on one, u16 on the other; nlink_t, dev_t): conversions that are
// no-ops on one are needed on the other.
#![allow(clippy::useless_conversion, clippy::unnecessary_cast)]

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr};
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag};
use nix::sys::stat::{
    FileStat, Mode, SFlag, UtimensatFlags, fstat, fstatat, futimens, mknod, utimensat,
};
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

/// How a directory of the source is opened: never through a symlink (a
/// running jail may swap one in for a directory it holds while the copy
/// walks it; the walk goes on from descriptors, so it stays in the tree).
fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// Copy the tree `src` to `dst` (not there yet), telling `progress` (done,
/// total bytes) as files are copied.
pub fn copy_tree(src: &Path, dst: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<Copied> {
    let open =
        || Dir::open(src, dir_flags(), Mode::empty()).what(|| format!("open {}", src.display()));
    let st = fstat(open()?.as_fd()).what(|| format!("stat {}", src.display()))?;
    let mut walk = Walk {
        total: size_of(open()?, src, 0, &mut HashSet::new())?,
        done: 0,
        copied: 0,
        links: HashMap::new(),
        progress,
    };
    crate::fsio::tree::mkdir(dst, 0o700)?;
    walk.copy_dir(open()?, src, dst, 0)?;
    set_status(dst, &st)?;
    Ok(Copied {
        bytes: walk.done,
        reflinked: walk.copied == 0,
    })
}

/// The names in `dir` but `.` and `..`.
fn names(dir: &mut Dir, path: &Path) -> Result<Vec<CString>> {
    let mut out = Vec::new();
    for e in dir.iter() {
        let e = e.what(|| format!("read {}", path.display()))?;
        let n = e.file_name();
        if n != c"." && n != c".." {
            out.push(n.to_owned());
        }
    }
    Ok(out)
}

fn kind(st: &FileStat) -> u32 {
    u32::from(st.st_mode) & u32::from(libc::S_IFMT)
}

/// The bytes of the regular files in `dir` (at `path`) and below, for the
/// progress: what a running jail changes meanwhile is skipped.
fn size_of(mut dir: Dir, path: &Path, depth: usize, seen: &mut HashSet<(u64, u64)>) -> Result<u64> {
    if depth == MAX_DEPTH {
        return Err(too_deep(path));
    }
    let mut sum = 0;
    for name in names(&mut dir, path)? {
        let here = || path.join(OsStr::from_bytes(name.to_bytes()));
        let Ok(st) = fstatat(dir.as_fd(), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) else {
            continue;
        };
        if kind(&st) == u32::from(libc::S_IFDIR) {
            if let Ok(sub) = Dir::openat(dir.as_fd(), name.as_c_str(), dir_flags(), Mode::empty()) {
                sum += size_of(sub, &here(), depth + 1, seen)?;
            }
        } else if kind(&st) == u32::from(libc::S_IFREG)
            && (st.st_nlink == 1 || seen.insert((st.st_dev as u64, st.st_ino as u64)))
        {
            // A file of several links counts once, as it is copied once.
            sum += st.st_size as u64;
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

fn times(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(st.st_atime, st.st_atime_nsec),
        TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}

/// Give the copy `dst` (not a regular file) the owner, mode and times of
/// `st`: the mode after the owner, whose change clears set-id bits.
fn set_status(dst: &Path, st: &FileStat) -> Result<()> {
    let (atime, mtime) = times(st);
    std::os::unix::fs::lchown(dst, Some(st.st_uid), Some(st.st_gid))
        .what(|| format!("chown {}", dst.display()))?;
    if kind(st) != u32::from(libc::S_IFLNK) {
        fs::set_permissions(
            dst,
            fs::Permissions::from_mode(u32::from(st.st_mode) & 0o7777),
        )
        .what(|| format!("chmod {}", dst.display()))?;
    }
    utimensat(
        AT_FDCWD,
        dst,
        &atime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .what(|| format!("set times of {}", dst.display()))
}

impl Walk<'_> {
    /// Copy what the directory `dir` (at `path`) holds into `dst`.
    fn copy_dir(&mut self, mut dir: Dir, path: &Path, dst: &Path, depth: usize) -> Result<()> {
        if depth == MAX_DEPTH {
            return Err(too_deep(path));
        }
        for name in names(&mut dir, path)? {
            let here = path.join(OsStr::from_bytes(name.to_bytes()));
            let to = dst.join(OsStr::from_bytes(name.to_bytes()));
            // An entry a running jail changes between its status and its
            // opening is taken again as it is then; one it removes is gone.
            let mut tries = 0;
            loop {
                let st = match fstatat(dir.as_fd(), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Err(nix::errno::Errno::ENOENT) => break,
                    st => st.what(|| format!("stat {}", here.display()))?,
                };
                if self.copy_entry(&dir, (&name, &here), &st, &to, depth)? {
                    break;
                }
                tries += 1;
                if tries == 8 {
                    return Err(Error::TempFail(format!(
                        "{} keeps changing while it is copied",
                        here.display()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Copy the entry `name` of `dir` (at `here`, status `st`) to `to`;
    /// false when it is no longer what `st` says (nothing copied).
    fn copy_entry(
        &mut self,
        dir: &Dir,
        (name, here): (&CString, &Path),
        st: &FileStat,
        to: &Path,
        depth: usize,
    ) -> Result<bool> {
        let k = kind(st);
        let linked = (k != u32::from(libc::S_IFDIR) && st.st_nlink > 1)
            .then_some((st.st_dev as u64, st.st_ino as u64));
        if let Some(first) = linked.and_then(|id| self.links.get(&id)) {
            return fs::hard_link(first, to)
                .map(|()| true)
                .what(|| format!("link {}", to.display()));
        }
        if let Some(id) = linked {
            self.links.insert(id, to.to_path_buf());
        }
        if k == u32::from(libc::S_IFREG) {
            let copied = self.copy_file(dir, (name, here), to)?;
            if !copied {
                linked.map(|id| self.links.remove(&id));
            }
            return Ok(copied);
        }
        if k == u32::from(libc::S_IFDIR) {
            let sub = match Dir::openat(dir.as_fd(), name.as_c_str(), dir_flags(), Mode::empty()) {
                Err(
                    nix::errno::Errno::ELOOP
                    | nix::errno::Errno::ENOTDIR
                    | nix::errno::Errno::ENOENT,
                ) => {
                    return Ok(false);
                }
                sub => sub.what(|| format!("open {}", here.display()))?,
            };
            crate::fsio::tree::mkdir(to, 0o700)?;
            let made = Dir::open(to, dir_flags(), Mode::empty())
                .what(|| format!("open {}", to.display()))?;
            copy_xattrs(sub.as_fd(), made.as_fd())
                .what(|| format!("copy the attributes of {}", here.display()))?;
            self.copy_dir(sub, here, to, depth + 1)?;
        } else if k == u32::from(libc::S_IFLNK) {
            let target = match nix::fcntl::readlinkat(dir.as_fd(), name.as_c_str()) {
                Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => return Ok(false),
                t => t.what(|| format!("readlink {}", here.display()))?,
            };
            std::os::unix::fs::symlink(&target, to).what(|| format!("symlink {}", to.display()))?;
        } else if k == u32::from(libc::S_IFSOCK) {
            return Ok(true);
        } else {
            let flag = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
            mknod(
                to,
                flag,
                Mode::from_bits_truncate(st.st_mode & 0o7777),
                st.st_rdev,
            )
            .what(|| format!("mknod {}", to.display()))?;
        }
        set_status(to, st).map(|()| true)
    }

    /// Copy the regular file `name` of `dir` to `to`, by its descriptor:
    /// what is copied is what was opened, whatever the name holds after;
    /// false when it is no longer a regular file (nothing copied).
    fn copy_file(&mut self, dir: &Dir, (name, here): (&CString, &Path), to: &Path) -> Result<bool> {
        let what = || format!("copy {} to {}", here.display(), to.display());
        let flags = OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC;
        let from = match nix::fcntl::openat(dir.as_fd(), name.as_c_str(), flags, Mode::empty()) {
            Err(nix::errno::Errno::ELOOP | nix::errno::Errno::ENOENT) => return Ok(false),
            from => fs::File::from(from.what(what)?),
        };
        let st = fstat(from.as_fd()).what(what)?;
        if kind(&st) != u32::from(libc::S_IFREG) {
            return Ok(false);
        }
        let mut dest = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(to)
            .what(what)?;
        let len = st.st_size as u64;
        if len > 0 && !reflink(&from, &dest) {
            copy_data(&from, &mut dest, len).what(what)?;
            self.copied += len;
        }
        self.done += len;
        (self.progress)(self.done, self.total);
        std::os::unix::fs::fchown(&dest, Some(st.st_uid), Some(st.st_gid)).what(what)?;
        // The mode after the owner (a chown clears set-id bits), the
        // capabilities after both.
        dest.set_permissions(fs::Permissions::from_mode(u32::from(st.st_mode) & 0o7777))
            .what(what)?;
        copy_caps(&from, &dest).what(what)?;
        copy_xattrs(from.as_fd(), dest.as_fd()).what(what)?;
        let (atime, mtime) = times(&st);
        futimens(dest.as_fd(), &atime, &mtime).what(what)?;
        Ok(true)
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
            Err(nix::errno::Errno::ENOSPC) => {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
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

/// Give `to` the extended attributes of `from` (Linux's: an overlay's
/// private layer keeps its opaque directories in them).
fn copy_xattrs(from: std::os::fd::BorrowedFd, to: std::os::fd::BorrowedFd) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        crate::backend::linux::copy_xattrs(from, to)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, to);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

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
        utimensat(
            nix::fcntl::AT_FDCWD,
            &src.join("sub/f"),
            &old,
            &old,
            UtimensatFlags::FollowSymlink,
        )
        .unwrap();
        let mut seen = Vec::new();
        let c = copy_tree(&src, &d.join("dst"), &mut |done, total| {
            seen.push((done, total))
        })
        .unwrap();
        assert_eq!(c.bytes, 5);
        assert_eq!(seen.last(), Some(&(5, 5)));
        let m = fs::metadata(d.join("dst/sub/f")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o4750);
        assert_eq!((m.mtime(), m.mtime_nsec()), (1_000_000, 5));
        assert_eq!(m.ino(), fs::metadata(d.join("dst/g")).unwrap().ino());
        assert_eq!(
            fs::read_link(d.join("dst/l")).unwrap(),
            PathBuf::from("sub/f")
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
