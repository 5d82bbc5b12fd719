//! Making files and trees with exact modes and owners: directories and
//! new files with the mode asked for whatever the umask, and copies of
//! whole trees that keep modes, owners, times and special files.

use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::Path;

use crate::error::{Error, OsContext, Result};

/// Make `dir` with `mode` (exactly, regardless of umask).
pub fn mkdir(dir: &Path, mode: u32) -> Result<()> {
    fs::DirBuilder::new()
        .mode(mode)
        .create(dir)
        .what(|| format!("mkdir {}", dir.display()))?;
    if creation_drops_bits(mode) {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .what(|| format!("chmod {}", dir.display()))?;
    }
    Ok(())
}

/// The process's umask, read once (by setting it and putting it back).
fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        use nix::sys::stat::{Mode, umask};
        let old = umask(Mode::from_bits_truncate(0o022));
        umask(old);
        // mode_t is u32 on Linux but u16 on FreeBSD.
        #[allow(clippy::useless_conversion)]
        u32::from(old.bits())
    })
}

thread_local! {
    /// The owner and group this thread's new files get, when
    /// [`Owners::creating`] has made them other than its own.
    static CREATOR: std::cell::Cell<Option<(u32, u32)>> = const { std::cell::Cell::new(None) };
}

/// The owner and group of the files this thread makes: this process's
/// effective user and group (read once), or those [`Owners::creating`] set.
pub fn owner() -> (u32, u32) {
    static OWNER: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    CREATOR.get().unwrap_or_else(|| {
        *OWNER.get_or_init(|| {
            (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            )
        })
    })
}

/// Whether creating a file or directory with `mode` may leave it with
/// fewer bits: those of the umask (1777 /tmp, say) and the set-id bits
/// (mkdir drops set-group-id); most modes need no chmod afterwards.
pub fn creation_drops_bits(mode: u32) -> bool {
    mode & (umask() | 0o7000) != 0
}

/// Create the new file `path` open for writing, and run `fill` on it;
/// then give it `mode` exactly, regardless of umask (after the data: a
/// write by a process without CAP_FSETID clears set-id bits).
pub fn create_file(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> io::Result<()> {
    create_owned(path, mode, None, fill).map(drop)
}

/// [`create_file`], then owned by `ids` (uid, gid) when given: the owner
/// goes after the data and before the mode (a chown clears set-id bits).
/// Returns the file, still open.
fn create_owned(
    path: &Path,
    mode: u32,
    ids: Option<(u32, u32)>,
    fill: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> io::Result<fs::File> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    fill(&mut f)?;
    let ids = ids.filter(|&ids| ids != owner());
    if let Some((uid, gid)) = ids {
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
    }
    if creation_drops_bits(mode) || (ids.is_some() && mode & 0o6000 != 0) {
        f.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    Ok(f)
}

/// Copy the data of `from`, `len` bytes long, to the empty file `to`: in
/// the kernel, asking for all of it at once (io::copy would first look at
/// both files and ask for more at the end), else with io::copy. A length
/// of 0 may be a file whose size says nothing (procfs): io::copy's.
fn copy_data(from: &mut fs::File, to: &mut fs::File, len: u64) -> io::Result<()> {
    if len == 0 {
        return io::copy(from, to).map(drop);
    }
    let mut left = usize::try_from(len).unwrap_or(usize::MAX);
    while left > 0 {
        match nix::fcntl::copy_file_range(&*from, None, &*to, None, left) {
            Ok(0) => return Ok(()),
            Ok(n) => left -= n,
            Err(nix::errno::Errno::EINTR) => {}
            // A kernel or filesystem that cannot: from where it stopped
            // (the same offsets), by reads and writes.
            Err(_) => return io::copy(from, to).map(drop),
        }
    }
    Ok(())
}

/// Write the new file `path` with `mode` (exactly, regardless of umask).
pub fn write_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    Owners::host().write_file(path, text, mode)
}

/// How many directories deep [`copy_tree`] and [`Owners::shift`] go: each
/// level is a frame of their recursion (and, for `shift`, an open
/// directory), so a deeper tree (a jail's root can make one) ends in an
/// error rather than a stack overflow. No system's tree comes close.
const MAX_DEPTH: usize = 512;

/// The error for a tree deeper than [`MAX_DEPTH`], found at `dir`.
fn too_deep(dir: &Path) -> Error {
    Error::BadData(format!(
        "{}: more than {MAX_DEPTH} directories deep",
        dir.display()
    ))
}

/// Copy `src` to `dst` (which must not exist): directories recursively,
/// files, symlinks (not followed) and fifos/device nodes, keeping modes,
/// owners and modification times.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    Owners::host().copy_tree(src, dst)
}

/// How many ids a jail's range holds: jail id `n` (below this) is host id
/// `base + n`.
pub const RANGE_SIZE: u32 = 65_536;

/// The id `id` takes in the id range starting at `base`: ids below
/// [`RANGE_SIZE`] move up by `base`, others stay.
fn shifted(id: u32, base: u32) -> u32 {
    if id < RANGE_SIZE { base + id } else { id }
}

/// A platform's access to a file's capabilities (Linux: the
/// `security.capability` extended attribute), which a chown clears and a
/// copy of the file's data does not carry.
pub trait FileCaps: std::fmt::Debug + Sync {
    /// The capabilities of the open file `file`, `None` when it has none.
    fn get(&self, file: BorrowedFd) -> io::Result<Option<Vec<u8>>>;
    /// Give the open file `file` the capabilities `value`.
    fn set(&self, file: BorrowedFd, value: &[u8]) -> io::Result<()>;
    /// Whether the open directory `dir` is opaque in an overlay's upper
    /// layer (the lower layers' entries below its name hidden): copies and
    /// archives of a layered jail's own files keep the mark.
    fn opaque(&self, dir: BorrowedFd) -> io::Result<bool> {
        let _ = dir;
        Ok(false)
    }
    /// Mark the open directory `dir` opaque (see [`FileCaps::opaque`]).
    fn set_opaque(&self, dir: BorrowedFd) -> io::Result<()> {
        let _ = dir;
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
    /// Make what this thread creates owned by `ids` (uid, gid) from the
    /// start, every privilege kept, or by the thread itself again with
    /// `None`: a tree then needs no chown per file. `false` where the
    /// platform cannot (files are then given their owner one by one).
    fn create_as(&self, ids: Option<(u32, u32)>) -> io::Result<bool> {
        let _ = ids;
        Ok(false)
    }
}

/// A platform without file capabilities.
#[derive(Debug)]
pub struct NoFileCaps;

impl FileCaps for NoFileCaps {
    fn get(&self, _file: BorrowedFd) -> io::Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn set(&self, _file: BorrowedFd, _value: &[u8]) -> io::Result<()> {
        Ok(())
    }
}

/// linux/capability.h: the revisions of `security.capability`, in the top
/// byte of its first little-endian word, whose bit 0 is the effective
/// flag. Revision 1 is 12 bytes, 2 is 20, 3 (a root id added) 24.
const VFS_CAP_REVISION_MASK: u32 = 0xFF00_0000;
const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x0000_0001;
const VFS_CAP_REVISION_1: u32 = 0x0100_0000;
const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_REVISION_3: u32 = 0x0300_0000;

/// A file's capabilities `value` (`security.capability`, any revision) as
/// they must read once the file is owned by the id range at `base`: a
/// revision 3 value (`struct vfs_ns_cap_data`) whose root id moves into
/// the range as the owners do, so that the capabilities apply to the
/// jail's processes and to no process of the host; unchanged without a
/// range. `None` for a value the kernel would not take.
pub fn caps_in_range(value: &[u8], base: Option<u32>) -> Option<Vec<u8>> {
    let Some(base) = base else {
        return Some(value.to_vec());
    };
    let word = |i: usize| -> Option<u32> {
        let b = value.get(4 * i..4 * i + 4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    };
    let magic = word(0)?;
    // Permitted and inheritable, low then high words; revision 1 has no
    // high words, revisions 1 and 2 no root id (the host's root).
    let (words, rootid) = match (magic & VFS_CAP_REVISION_MASK, value.len()) {
        (VFS_CAP_REVISION_1, 12) => ([word(1)?, word(2)?, 0, 0], 0),
        (VFS_CAP_REVISION_2, 20) => ([word(1)?, word(2)?, word(3)?, word(4)?], 0),
        (VFS_CAP_REVISION_3, 24) => ([word(1)?, word(2)?, word(3)?, word(4)?], word(5)?),
        _ => return None,
    };
    let magic = VFS_CAP_REVISION_3 | (magic & VFS_CAP_FLAGS_EFFECTIVE);
    let mut out = Vec::with_capacity(24);
    for w in [
        magic,
        words[0],
        words[1],
        words[2],
        words[3],
        shifted(rootid, base),
    ] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    Some(out)
}

/// Who owns the files a build writes: the ids the source has (`base`
/// `None`: the host's), or, for a jail with an id range, those ids moved
/// into the range starting at `base` (what this process makes itself is
/// the jail's root's), set as each file is made. File capabilities go
/// with the files (see [`caps_in_range`]), and modes stay as they are,
/// set-user-id and set-group-id bits included.
#[derive(Debug, Clone, Copy)]
pub struct Owners<'a> {
    /// The first host id of the jail's range, if the files go to one.
    pub base: Option<u32>,
    /// The platform's access to file capabilities.
    pub caps: &'a dyn FileCaps,
}

impl Owners<'static> {
    /// The source's ids, on the host, without file capabilities.
    pub fn host() -> Self {
        Owners {
            base: None,
            caps: &NoFileCaps,
        }
    }
}

impl Owners<'_> {
    /// The owner and group a file of `uid`/`gid` gets.
    fn ids(&self, uid: u32, gid: u32) -> (u32, u32) {
        match self.base {
            Some(base) => (shifted(uid, base), shifted(gid, base)),
            None => (uid, gid),
        }
    }

    /// The owner and group of what this process makes itself: its own on
    /// the host, the jail's root in a range.
    fn made(&self) -> Option<(u32, u32)> {
        self.base.map(|base| (base, base))
    }

    /// Run `make`, whose new files go to the range, with this thread
    /// creating them as the range's root where the platform can: most
    /// then need no chown of their own.
    pub fn creating<T>(&self, make: impl FnOnce() -> Result<T>) -> Result<T> {
        let Some(ids) = self.made() else {
            return make();
        };
        let what = || format!("create files as {}:{}", ids.0, ids.1);
        match self.caps.create_as(Some(ids)) {
            Ok(true) => {}
            Ok(false) => return make(),
            Err(e) => {
                // Half done (the ids changed, the capabilities not
                // raised): this thread's own again before the error.
                let _ = self.caps.create_as(None);
                return Err(e).what(what);
            }
        }
        CREATOR.set(Some(ids));
        let made = make();
        CREATOR.set(None);
        let back = self.caps.create_as(None).what(what);
        let made = made?;
        back.map(|_| made)
    }

    /// Give `path` (just made, not a symlink's target) `ids` unless this
    /// process, its maker, already has them.
    fn chown(path: &Path, ids: Option<(u32, u32)>) -> Result<()> {
        match ids.filter(|&ids| ids != owner()) {
            Some((uid, gid)) => std::os::unix::fs::lchown(path, Some(uid), Some(gid))
                .what(|| format!("chown {}", path.display())),
            None => Ok(()),
        }
    }

    /// Make `dir` with `mode` (exactly, regardless of umask).
    pub fn mkdir(&self, dir: &Path, mode: u32) -> Result<()> {
        fs::DirBuilder::new()
            .mode(mode)
            .create(dir)
            .what(|| format!("mkdir {}", dir.display()))?;
        Self::chown(dir, self.made())?;
        if creation_drops_bits(mode) {
            fs::set_permissions(dir, fs::Permissions::from_mode(mode))
                .what(|| format!("chmod {}", dir.display()))?;
        }
        Ok(())
    }

    /// Make the symlink `link` to `target`.
    pub fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        symlink(target, link).what(|| format!("symlink {}", link.display()))?;
        Self::chown(link, self.made())
    }

    /// Write the new file `path` with `mode` (exactly, regardless of umask).
    pub fn write_file(&self, path: &Path, text: &str, mode: u32) -> Result<()> {
        create_owned(path, mode, self.made(), |f| f.write_all(text.as_bytes()))
            .map(drop)
            .what(|| format!("write {}", path.display()))
    }

    /// Copy the regular file `src` (`meta` its metadata) to the new file
    /// `dst` with its mode, owner and capabilities.
    fn copy_file(&self, src: &Path, meta: &fs::Metadata, dst: &Path) -> Result<()> {
        use std::os::fd::AsFd;
        let what = || format!("copy {} to {}", src.display(), dst.display());
        let mode = meta.mode() & 0o7777;
        let mut from = fs::File::open(src).what(what)?;
        // Capabilities act only when a file is executed.
        let caps = match mode & 0o111 {
            0 => None,
            _ => self.caps.get(from.as_fd()).what(what)?,
        };
        let ids = self.ids(meta.uid(), meta.gid());
        let to = create_owned(dst, mode, Some(ids), |to| {
            copy_data(&mut from, to, meta.len())
        })
        .what(what)?;
        // Last: a write or a chown would clear them.
        if let Some(value) = caps.and_then(|v| caps_in_range(&v, self.base)) {
            self.caps.set(to.as_fd(), &value).what(what)?;
        }
        Ok(())
    }

    /// Copy `src` to `dst` (which must not exist): directories
    /// recursively, files, symlinks (not followed) and fifos/device
    /// nodes, keeping modes, owners (in the range, if any), file
    /// capabilities and modification times.
    pub fn copy_tree(&self, src: &Path, dst: &Path) -> Result<()> {
        let meta = fs::symlink_metadata(src).what(|| format!("stat {}", src.display()))?;
        self.copy_below(src, &meta, dst, 0)
    }

    /// [`Owners::copy_tree`] of `src`, whose status (`lstat`) the caller
    /// has just read as `meta`.
    pub fn copy_found(&self, src: &Path, meta: &fs::Metadata, dst: &Path) -> Result<()> {
        self.copy_below(src, meta, dst, 0)
    }

    /// [`Owners::copy_tree`] of `src` (`meta` its status), `depth`
    /// directories below the top.
    fn copy_below(&self, src: &Path, meta: &fs::Metadata, dst: &Path, depth: usize) -> Result<()> {
        let ft = meta.file_type();
        let ids = Some(self.ids(meta.uid(), meta.gid()));
        if ft.is_file() {
            return self.copy_file(src, meta, dst);
        }
        if ft.is_symlink() {
            let target = fs::read_link(src).what(|| format!("readlink {}", src.display()))?;
            symlink(&target, dst).what(|| format!("symlink {}", dst.display()))?;
            return Self::chown(dst, ids);
        }
        if ft.is_dir() {
            if depth == MAX_DEPTH {
                return Err(too_deep(src));
            }
            fs::DirBuilder::new()
                .mode(0o700)
                .create(dst)
                .what(|| format!("mkdir {}", dst.display()))?;
            for entry in fs::read_dir(src).what(|| format!("read {}", src.display()))? {
                let entry = entry.what(|| format!("read {}", src.display()))?;
                let from = entry.path();
                let meta =
                    fs::symlink_metadata(&from).what(|| format!("stat {}", from.display()))?;
                self.copy_below(&from, &meta, &dst.join(entry.file_name()), depth + 1)?;
            }
        } else {
            use nix::sys::stat::{Mode, SFlag, mknod};
            let mode = meta.mode() as libc::mode_t;
            let kind = SFlag::from_bits_truncate(mode & libc::S_IFMT);
            if kind == SFlag::S_IFSOCK {
                return Ok(());
            }
            mknod(
                dst,
                kind,
                Mode::from_bits_truncate(mode & 0o7777),
                meta.rdev() as _,
            )
            .what(|| format!("mknod {}", dst.display()))?;
        }
        // The mode last: a chown clears set-id bits.
        Self::chown(dst, ids)?;
        fs::set_permissions(dst, meta.permissions()).what(|| format!("chmod {}", dst.display()))
    }

    /// Give every file of the tree `top`, made by someone else (tar(1)),
    /// to the owners: ids moved into the range (nothing changes without
    /// one), modes kept, set-id bits included, and file capabilities
    /// rewritten for the range. Symlinks are never followed, and the walk
    /// stays on `top`'s filesystem and within [`MAX_DEPTH`] directories.
    pub fn shift(&self, top: &Path) -> Result<()> {
        use std::os::unix::ffi::OsStrExt;

        use nix::fcntl::{AtFlags, OFlag};
        if self.base.is_none() {
            return Ok(());
        }
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let open = |dir: &Path, flags| {
            nix::dir::Dir::open(dir, flags, nix::sys::stat::Mode::empty())
                .what(|| format!("open {}", dir.display()))
        };
        let meta = fs::symlink_metadata(top).what(|| format!("stat {}", top.display()))?;
        if !meta.is_dir() {
            // A file, found from its directory.
            let (Some(parent), Some(name)) = (top.parent(), top.file_name()) else {
                return Err(Error::BadData(format!("{}: no file", top.display())));
            };
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            let dir = open(parent, flags)?;
            let name = std::ffi::CString::new(name.as_bytes())
                .map_err(|_| Error::BadData(format!("{}: no file", top.display())))?;
            let st =
                nix::sys::stat::fstatat(dir.as_fd(), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                    .what(|| format!("stat {}", top.display()))?;
            return self.shift_one(dir.as_fd(), Some(&name), &st, top);
        }
        let dir = open(top, flags | OFlag::O_NOFOLLOW)?;
        let st = nix::sys::stat::fstat(&dir).what(|| format!("stat {}", top.display()))?;
        self.shift_one(dir.as_fd(), None, &st, top)?;
        // st_dev is u64 on Linux, u32 on FreeBSD.
        #[allow(clippy::useless_conversion)]
        self.shift_below(dir, top, (u64::from(st.st_dev), 1))
    }

    /// Shift the owner of `name` in `dir` (`dir` itself when `None`),
    /// whose status is `st`, found at `path`.
    fn shift_one(
        &self,
        dir: BorrowedFd,
        name: Option<&std::ffi::CStr>,
        st: &nix::sys::stat::FileStat,
        path: &Path,
    ) -> Result<()> {
        use nix::fcntl::{AtFlags, OFlag};
        use nix::sys::stat::Mode;
        use nix::unistd::{Gid, Uid};
        let (uid, gid) = self.ids(st.st_uid, st.st_gid);
        if (uid, gid) == (st.st_uid, st.st_gid) {
            return Ok(());
        }
        let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let chown = || format!("chown {}", path.display());
        let kind = st.st_mode & libc::S_IFMT;
        match name {
            // A regular file is opened: its capabilities are read before
            // the chown clears them, and written back after.
            Some(name) if kind == libc::S_IFREG => {
                let file = nix::fcntl::openat(
                    dir,
                    name,
                    OFlag::O_RDONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_NONBLOCK
                        | OFlag::O_NOCTTY
                        | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .what(|| format!("open {}", path.display()))?;
                let caps = self.caps.get(file.as_fd()).what(chown)?;
                nix::unistd::fchown(&file, uid, gid).what(chown)?;
                if st.st_mode & 0o6000 != 0 {
                    nix::sys::stat::fchmod(&file, mode)
                        .what(|| format!("chmod {}", path.display()))?;
                }
                if let Some(value) = caps.and_then(|v| caps_in_range(&v, self.base)) {
                    self.caps.set(file.as_fd(), &value).what(chown)?;
                }
            }
            Some(name) => {
                nix::unistd::fchownat(dir, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .what(chown)?;
                // A device node or fifo loses its set-id bits too.
                if kind != libc::S_IFLNK && kind != libc::S_IFDIR && st.st_mode & 0o6000 != 0 {
                    nix::sys::stat::fchmodat(
                        dir,
                        name,
                        mode,
                        nix::sys::stat::FchmodatFlags::FollowSymlink,
                    )
                    .what(|| format!("chmod {}", path.display()))?;
                }
            }
            // The top, a directory: chown keeps a directory's set-id bits.
            None => nix::unistd::fchown(dir, uid, gid).what(chown)?,
        }
        Ok(())
    }

    /// [`Owners::shift`] for what the open directory `dir` (at `path`, on
    /// device `dev`, `depth` directories below the top) holds.
    fn shift_below(
        &self,
        mut dir: nix::dir::Dir,
        path: &Path,
        (dev, depth): (u64, usize),
    ) -> Result<()> {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;

        use nix::fcntl::{AtFlags, OFlag};
        use nix::sys::stat::{Mode, fstatat};
        let mut names = Vec::new();
        for entry in dir.iter() {
            let entry = entry.what(|| format!("read {}", path.display()))?;
            let name = entry.file_name();
            if name != c"." && name != c".." {
                names.push(name.to_owned());
            }
        }
        for name in names {
            let here = || path.join(OsStr::from_bytes(name.to_bytes()));
            let st = fstatat(dir.as_fd(), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .what(|| format!("stat {}", here().display()))?;
            self.shift_one(dir.as_fd(), Some(name.as_c_str()), &st, &here())?;
            // st_dev is u64 on Linux, u32 on FreeBSD.
            #[allow(clippy::useless_conversion)]
            let same_fs = u64::from(st.st_dev) == dev;
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR && same_fs {
                if depth == MAX_DEPTH {
                    return Err(too_deep(&here()));
                }
                let sub = nix::dir::Dir::openat(
                    dir.as_fd(),
                    name.as_c_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .what(|| format!("open {}", here().display()))?;
                self.shift_below(sub, &here(), (dev, depth + 1))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn ranged(base: u32) -> Owners<'static> {
        Owners {
            base: Some(base),
            caps: &NoFileCaps,
        }
    }

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("jkit-tree-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// A `security.capability` value of little-endian words.
    fn caps(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn capabilities_in_a_range_are_revision_3_for_its_root() {
        let base = 16 * RANGE_SIZE;
        let v2 = caps(&[0x0200_0001, 1 << 13, 1 << 1, 1, 0]);
        assert_eq!(
            caps_in_range(&v2, Some(base)),
            Some(caps(&[0x0300_0001, 1 << 13, 1 << 1, 1, 0, base]))
        );
        // Without the effective flag; revision 1 has no high words.
        let v1 = caps(&[0x0100_0000, 1 << 12, 0]);
        assert_eq!(
            caps_in_range(&v1, Some(base)),
            Some(caps(&[0x0300_0000, 1 << 12, 0, 0, 0, base]))
        );
        // A jail user's root id moves as the owners do; another range's stays.
        let v3 = caps(&[0x0300_0001, 1, 0, 0, 0, 1000]);
        assert_eq!(
            caps_in_range(&v3, Some(base)),
            Some(caps(&[0x0300_0001, 1, 0, 0, 0, base + 1000]))
        );
        let other = caps(&[0x0300_0001, 1, 0, 0, 0, 32 * RANGE_SIZE]);
        assert_eq!(caps_in_range(&other, Some(base)), Some(other.clone()));
        // Without a range, as it was; a value the kernel would not take, none.
        assert_eq!(caps_in_range(&v2, None), Some(v2));
        assert_eq!(caps_in_range(&caps(&[0x0200_0001, 1]), Some(base)), None);
        assert_eq!(
            caps_in_range(&caps(&[0x0400_0000, 1, 0, 0, 0]), Some(base)),
            None
        );
    }

    #[test]
    fn copy_tree_keeps_links_modes_and_nodes() {
        let d = tmp("copy");
        let src = d.join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), "x").unwrap();
        fs::set_permissions(src.join("sub/f"), fs::Permissions::from_mode(0o4750)).unwrap();
        symlink("../etc/shadow", src.join("link")).unwrap();
        nix::unistd::mkfifo(
            &src.join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        copy_tree(&src, &d.join("dst")).unwrap();
        let m = fs::metadata(d.join("dst/sub/f")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o4750);
        assert_eq!(
            fs::read_link(d.join("dst/link")).unwrap(),
            PathBuf::from("../etc/shadow")
        );
        use std::os::unix::fs::FileTypeExt;
        assert!(
            fs::symlink_metadata(d.join("dst/fifo"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn copy_tree_and_shift_owners_refuse_a_tree_deeper_than_their_bound() {
        let d = tmp("deep");
        let mut bottom = d.join("src");
        for _ in 0..=MAX_DEPTH {
            bottom.push("d");
        }
        fs::create_dir_all(&bottom).unwrap();
        let e = copy_tree(&d.join("src"), &d.join("dst")).unwrap_err();
        assert!(e.to_string().contains("directories deep"), "{e}");
        assert_eq!(e.exit_code(), 65);
        if nix::unistd::geteuid().is_root() {
            let e = ranged(16 * RANGE_SIZE).shift(&d.join("src")).unwrap_err();
            assert!(e.to_string().contains("directories deep"), "{e}");
        }
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn shifting_owners_keeps_set_id_bits_and_leaves_links_alone() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let d = tmp("shift");
        fs::create_dir_all(d.join("sub")).unwrap();
        fs::write(d.join("sub/suid"), "x").unwrap();
        std::os::unix::fs::lchown(d.join("sub/suid"), Some(0), Some(5)).unwrap();
        fs::set_permissions(d.join("sub/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
        fs::write(d.join("foreign"), "x").unwrap();
        std::os::unix::fs::lchown(d.join("foreign"), Some(70_000), Some(70_000)).unwrap();
        symlink("/etc/passwd", d.join("link")).unwrap();
        let base = 16 * RANGE_SIZE;
        ranged(base).shift(&d).unwrap();
        let m = fs::metadata(d.join("sub/suid")).unwrap();
        assert_eq!((m.uid(), m.gid()), (base, base + 5));
        assert_eq!(m.mode() & 0o7777, 0o4755);
        let m = fs::metadata(d.join("foreign")).unwrap();
        assert_eq!((m.uid(), m.gid()), (70_000, 70_000));
        let l = fs::symlink_metadata(d.join("link")).unwrap();
        assert_eq!(l.uid(), base);
        assert_eq!(fs::metadata("/etc/passwd").unwrap().uid(), 0);
        assert_eq!(fs::metadata(&d).unwrap().uid(), base);
        // A second shift changes nothing.
        ranged(base).shift(&d).unwrap();
        assert_eq!(fs::metadata(d.join("sub")).unwrap().uid(), base);
        // A copy into the range owns its files as it makes them.
        let copy = d.with_extension("copy");
        let _ = fs::remove_dir_all(&copy);
        fs::set_permissions(d.join("sub"), fs::Permissions::from_mode(0o2750)).unwrap();
        std::os::unix::fs::lchown(d.join("sub/suid"), Some(0), Some(5)).unwrap();
        fs::set_permissions(d.join("sub/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
        ranged(base).copy_tree(&d.join("sub"), &copy).unwrap();
        let m = fs::metadata(copy.join("suid")).unwrap();
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o7777),
            (base, base + 5, 0o4755)
        );
        let m = fs::metadata(&copy).unwrap();
        assert_eq!((m.uid(), m.mode() & 0o7777), (base, 0o2750));
        // A file alone.
        let single = copy.join("suid");
        std::os::unix::fs::lchown(&single, Some(1), Some(1)).unwrap();
        fs::set_permissions(&single, fs::Permissions::from_mode(0o4755)).unwrap();
        ranged(base).shift(&single).unwrap();
        let m = fs::metadata(&single).unwrap();
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o7777),
            (base + 1, base + 1, 0o4755)
        );
        fs::remove_dir_all(&copy).unwrap();
        fs::remove_dir_all(&d).unwrap();
    }
}
