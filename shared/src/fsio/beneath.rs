//! Files inside a jail root, reached from the host without ever leaving
//! the root: every path is walked one component at a time from a
//! descriptor of the root with `O_NOFOLLOW`, and a symlink met on the way
//! is resolved as the jail would see it (an absolute target starts again at
//! the jail's root, `..` stops at the root), never as the host would.
//! Writes go to a temporary file in the same directory and are renamed
//! over the old file, so a symlink planted at the last component is
//! replaced, not followed.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat, renameat};
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstatat, futimens, mkdirat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, symlinkat, unlinkat};

use super::tree::{FileCaps, NoFileCaps, caps_in_range};
use crate::error::{Error, Result};

/// How many symlinks one lookup may follow (as the kernel's MAXSYMLINKS).
const MAX_LINKS: usize = 40;

/// How many directories deep [`Root::files_under`] goes.
const MAX_DEPTH: usize = 256;

/// What a path inside the jail is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// Anything else (device, fifo, socket).
    Other,
}

/// A jail root, opened.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
    /// Directories the jail mounts over (relative to its `/`, with what is
    /// mounted there): what the host writes beneath them only the host
    /// sees, so writes there are refused.
    fences: Vec<(PathBuf, String)>,
    /// The first host id of the jail's id range: what is made here is
    /// owned by the range (id `n` of a copied file's owner becomes
    /// `base + n`), never by the host's root.
    id_base: Option<u32>,
    /// The platform's access to file capabilities, which copied files
    /// keep (made for the range, if any).
    caps: &'static dyn FileCaps,
}

/// A resolved directory: its descriptor and its path inside the jail.
struct Dir {
    fd: OwnedFd,
    rel: PathBuf,
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

fn kind_of(st: &FileStat) -> Option<SFlag> {
    Some(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()))
}

impl Root {
    /// Open the jail root at `path`.
    pub fn open(path: &Path) -> Result<Root> {
        let fd = nix::fcntl::open(path, dir_flags(), Mode::empty())
            .map_err(|e| Error::at("open jail root", path, e))?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
            fences: Vec::new(),
            id_base: None,
            caps: &NoFileCaps,
        })
    }

    /// The jail root at `path` as the open directory `dir` shows it (a
    /// view of it with mounts the host's path does not have).
    pub fn at(dir: OwnedFd, path: &Path) -> Root {
        Root {
            fd: dir,
            path: path.to_path_buf(),
            fences: Vec::new(),
            id_base: None,
            caps: &NoFileCaps,
        }
    }

    /// Let copied files keep their capabilities, through `caps`.
    pub fn keep_file_caps(&mut self, caps: &'static dyn FileCaps) {
        self.caps = caps;
    }

    /// Make what is made here owned by the id range starting at `base`.
    pub fn own_by_range(&mut self, base: u32) {
        self.id_base = Some(base);
    }

    /// The owner a file of the host owned by `uid`/`gid` gets in the jail.
    fn owner_in_jail(&self, uid: u32, gid: u32) -> (Uid, Gid) {
        let shift = |id: u32| match self.id_base {
            Some(base) if id < crate::fsio::tree::RANGE_SIZE => base + id,
            _ => id,
        };
        (Uid::from_raw(shift(uid)), Gid::from_raw(shift(gid)))
    }

    /// Give what this process just made at `name` in `dir` to the jail's
    /// root, where the jail has an id range.
    fn own_new(&self, dir: std::os::fd::BorrowedFd, name: &OsStr, rel: &Path) -> Result<()> {
        if self.id_base.is_none() {
            return Ok(());
        }
        let (uid, gid) = self.owner_in_jail(0, 0);
        nix::unistd::fchownat(
            dir,
            name,
            Some(uid),
            Some(gid),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.err("chown", rel, e))
    }

    /// Refuse writes beneath `rel` (a directory the jail mounts `source`
    /// on).
    pub fn fence(&mut self, rel: PathBuf, source: String) {
        self.fences.push((rel, source));
    }

    fn check_fences(&self, rel: &Path) -> Result<()> {
        match self.fences.iter().find(|(f, _)| rel.starts_with(f)) {
            Some((f, source)) => Err(Error::Unavailable(format!(
                "/{} is under /{}, where the jail mounts {source}: the host cannot write there (use CMD inside the jail)",
                rel.display(),
                f.display()
            ))),
            None => Ok(()),
        }
    }

    fn err(&self, what: &str, rel: &Path, e: Errno) -> Error {
        Error::os(
            format!(
                "{what} {} (in jail root {})",
                rel.display(),
                self.path.display()
            ),
            e,
        )
    }

    /// The directory `rel` (relative to the jail's `/`), every component
    /// resolved inside the root; missing ones are made (mode 0755) when
    /// `create`.
    fn dir(&self, rel: &Path, create: bool) -> Result<Dir> {
        let mut stack: Vec<(OwnedFd, OsString)> = Vec::new();
        let mut queue: VecDeque<OsString> = components(rel);
        let mut links = 0;
        while let Some(c) = queue.pop_front() {
            if c == ".." {
                stack.pop();
                continue;
            }
            let cur = stack.last().map_or(self.fd.as_fd(), |(fd, _)| fd.as_fd());
            let st = match fstatat(cur, c.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => Some(st),
                Err(Errno::ENOENT) if create => None,
                Err(e) => return Err(self.err("look up", rel, e)),
            };
            match st.as_ref().and_then(kind_of) {
                None => {
                    let here: PathBuf = stack.iter().map(|(_, n)| n.as_os_str()).collect();
                    self.check_fences(&here.join(&c))?;
                    match mkdirat(cur, c.as_os_str(), Mode::from_bits_truncate(0o755)) {
                        Ok(()) => self.own_new(cur, c.as_os_str(), rel)?,
                        Err(Errno::EEXIST) => {}
                        Err(e) => return Err(self.err("mkdir", rel, e)),
                    }
                }
                Some(SFlag::S_IFLNK) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(self.err("look up", rel, Errno::ELOOP));
                    }
                    let target =
                        readlinkat(cur, c.as_os_str()).map_err(|e| self.err("readlink", rel, e))?;
                    if Path::new(&target).is_absolute() {
                        stack.clear();
                    }
                    for t in components(Path::new(&target)).into_iter().rev() {
                        queue.push_front(t);
                    }
                    continue;
                }
                Some(SFlag::S_IFDIR) => {}
                Some(_) => return Err(self.err("look up", rel, Errno::ENOTDIR)),
            }
            let fd = openat(cur, c.as_os_str(), dir_flags(), Mode::empty())
                .map_err(|e| self.err("open", rel, e))?;
            stack.push((fd, c));
        }
        let rel: PathBuf = stack.iter().map(|(_, n)| n.as_os_str()).collect();
        let fd = match stack.pop() {
            Some((fd, _)) => fd,
            None => self
                .fd
                .try_clone()
                .map_err(|e| Error::at("dup", &self.path, e))?,
        };
        Ok(Dir { fd, rel })
    }

    /// The directory holding `rel` and the name of `rel` in it, symlinks at
    /// the last component resolved inside the root too. `None` as the name
    /// when `rel` is the root itself.
    fn entry(&self, rel: &Path, create: bool) -> Result<(Dir, Option<OsString>)> {
        let mut path = rel.to_path_buf();
        for _ in 0..MAX_LINKS {
            let mut parts = components(&path);
            let Some(name) = parts.pop_back() else {
                return Ok((self.dir(Path::new(""), false)?, None));
            };
            if name == ".." {
                return Ok((self.dir(&path, create)?, None));
            }
            let parent: PathBuf = parts.iter().collect();
            let dir = self.dir(&parent, create)?;
            match fstatat(
                dir.fd.as_fd(),
                name.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(st) if kind_of(&st) == Some(SFlag::S_IFLNK) => {
                    let target = readlinkat(dir.fd.as_fd(), name.as_os_str())
                        .map_err(|e| self.err("readlink", rel, e))?;
                    path = if Path::new(&target).is_absolute() {
                        PathBuf::from(target)
                    } else {
                        dir.rel.join(target)
                    };
                }
                _ => return Ok((dir, Some(name))),
            }
        }
        Err(self.err("look up", rel, Errno::ELOOP))
    }

    /// What `rel` is, or `None` when it does not exist.
    pub fn kind(&self, rel: &Path) -> Result<Option<Kind>> {
        let (dir, name) = match self.entry(rel, false) {
            Ok(x) => x,
            Err(Error::Os { source, .. })
                if source.raw_os_error() == Some(libc::ENOENT)
                    || source.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let Some(name) = name else {
            return Ok(Some(Kind::Dir));
        };
        match fstatat(
            dir.fd.as_fd(),
            name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => Ok(Some(match kind_of(&st) {
                Some(SFlag::S_IFDIR) => Kind::Dir,
                Some(SFlag::S_IFREG) => Kind::File,
                _ => Kind::Other,
            })),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(self.err("look up", rel, e)),
        }
    }

    /// Make directory `rel` and its parents.
    pub fn mkdir_p(&self, rel: &Path) -> Result<()> {
        self.dir(rel, true).map(drop)
    }

    /// The content of file `rel`, or `None` when it does not exist.
    pub fn read(&self, rel: &Path) -> Result<Option<Vec<u8>>> {
        if self.kind(rel)?.is_none() {
            return Ok(None);
        }
        let (dir, name) = self.entry(rel, false)?;
        let name = name.ok_or_else(|| self.err("read", rel, Errno::EISDIR))?;
        let fd = openat(
            dir.fd.as_fd(),
            name.as_os_str(),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.err("open", rel, e))?;
        let mut bytes = Vec::new();
        File::from(fd)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::os(format!("read {}", rel.display()), e))?;
        Ok(Some(bytes))
    }

    /// Replace file `rel` with `bytes` (parents made as needed), keeping
    /// the old file's mode and owner, or mode 0644 for a new one.
    pub fn write(&self, rel: &Path, bytes: &[u8]) -> Result<()> {
        let (dir, name) = self.entry(rel, true)?;
        let name = name.ok_or_else(|| self.err("write", rel, Errno::EISDIR))?;
        let old = fstatat(
            dir.fd.as_fd(),
            name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .ok();
        let (mode, owner) = match old {
            Some(st) if kind_of(&st) == Some(SFlag::S_IFREG) => (
                Mode::from_bits_truncate(st.st_mode & 0o7777),
                Some((Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid))),
            ),
            Some(_) => return Err(self.err("write", rel, Errno::EISDIR)),
            None => (
                Mode::from_bits_truncate(0o644),
                self.id_base.map(|_| self.owner_in_jail(0, 0)),
            ),
        };
        self.put(&dir, &name, mode, owner, None, None, &mut &bytes[..], rel)
    }

    /// Write `content` to `name` in `dir` through a temporary file renamed
    /// over it, with `mode`, `owner` and `times` (atime, mtime), and the
    /// file capabilities `caps`.
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        dir: &Dir,
        name: &OsStr,
        mode: Mode,
        owner: Option<(Uid, Gid)>,
        times: Option<(TimeSpec, TimeSpec)>,
        caps: Option<&[u8]>,
        content: &mut dyn Read,
        rel: &Path,
    ) -> Result<()> {
        self.check_fences(&dir.rel.join(name))?;
        let mut tmp = OsString::from(".jtpl.");
        tmp.push(name);
        tmp.push(format!(".{}", std::process::id()));
        let _ = unlinkat(dir.fd.as_fd(), tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
        let fd = openat(
            dir.fd.as_fd(),
            tmp.as_os_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            mode,
        )
        .map_err(|e| self.err("create", rel, e))?;
        let mut file = File::from(fd);
        let done = std::io::copy(content, &mut file)
            .and_then(|_| file.flush())
            .map_err(|e| Error::os(format!("write {}", rel.display()), e))
            .and_then(|()| {
                if let Some((uid, gid)) = owner {
                    fchown(file.as_fd(), Some(uid), Some(gid))
                        .map_err(|e| self.err("chown", rel, e))?;
                }
                fchmod(file.as_fd(), mode).map_err(|e| self.err("chmod", rel, e))?;
                if let Some((a, m)) = times {
                    futimens(file.as_fd(), &a, &m).map_err(|e| self.err("set times of", rel, e))?;
                }
                // Last: a write or a chown clears them.
                if let Some(value) = caps {
                    self.caps.set(file.as_fd(), value).map_err(|e| {
                        Error::os(format!("set capabilities of {}", rel.display()), e)
                    })?;
                }
                file.sync_all()
                    .map_err(|e| Error::os(format!("write {}", rel.display()), e))?;
                renameat(dir.fd.as_fd(), tmp.as_os_str(), dir.fd.as_fd(), name)
                    .map_err(|e| self.err("rename", rel, e))
            });
        if done.is_err() {
            let _ = unlinkat(dir.fd.as_fd(), tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
        done
    }

    /// `cp -a SRC DST` into the jail: `src` is a host path; a directory is
    /// copied as `DST/NAME` when `DST` is an existing directory (its
    /// contents when `contents`, a source written with a trailing `/`),
    /// else as `DST`; a file goes into `DST` when that is a directory or
    /// ends in `/`. Modes, owners and times are kept; symlinks in the
    /// source are copied as symlinks.
    pub fn copy_in(&self, src: &Path, contents: bool, dst: &str) -> Result<()> {
        let meta = std::fs::metadata(src).map_err(|e| Error::at("copy", src, e))?;
        let dst_path = Path::new(dst);
        let dst_is_dir = self.kind(dst_path)? == Some(Kind::Dir);
        let base = || src.file_name().map(PathBuf::from).unwrap_or_default();
        if meta.is_dir() {
            let target = if contents || !dst_is_dir {
                dst_path.to_path_buf()
            } else {
                dst_path.join(base())
            };
            self.copy_dir(src, &target)
        } else {
            let target = if dst_is_dir || dst.ends_with('/') {
                dst_path.join(base())
            } else {
                dst_path.to_path_buf()
            };
            self.copy_file(src, &meta, &target)
        }
    }

    fn copy_dir(&self, src: &Path, rel: &Path) -> Result<()> {
        let dir = self.dir(rel, true)?;
        let entries = std::fs::read_dir(src).map_err(|e| Error::at("read", src, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::at("read", src, e))?;
            let from = entry.path();
            let meta = std::fs::symlink_metadata(&from).map_err(|e| Error::at("stat", &from, e))?;
            let to = rel.join(entry.file_name());
            if meta.file_type().is_symlink() {
                let target =
                    std::fs::read_link(&from).map_err(|e| Error::at("readlink", &from, e))?;
                let name = entry.file_name();
                self.check_fences(&dir.rel.join(&name))?;
                match unlinkat(dir.fd.as_fd(), name.as_os_str(), UnlinkatFlags::NoRemoveDir) {
                    Ok(()) | Err(Errno::ENOENT) => {}
                    Err(e) => return Err(self.err("replace", &to, e)),
                }
                symlinkat(target.as_os_str(), dir.fd.as_fd(), name.as_os_str())
                    .map_err(|e| self.err("symlink", &to, e))?;
                self.own_new(dir.fd.as_fd(), &name, &to)?;
            } else if meta.is_dir() {
                self.copy_dir(&from, &to)?;
            } else if meta.is_file() {
                self.copy_file(&from, &meta, &to)?;
            }
        }
        let meta = std::fs::metadata(src).map_err(|e| Error::at("stat", src, e))?;
        let (uid, gid) = self.owner_in_jail(meta.uid(), meta.gid());
        fchown(dir.fd.as_fd(), Some(uid), Some(gid)).map_err(|e| self.err("chown", rel, e))?;
        fchmod(
            dir.fd.as_fd(),
            Mode::from_bits_truncate((meta.mode() & 0o7777) as libc::mode_t),
        )
        .map_err(|e| self.err("chmod", rel, e))
    }

    fn copy_file(&self, src: &Path, meta: &std::fs::Metadata, rel: &Path) -> Result<()> {
        let (dir, name) = self.entry(rel, true)?;
        let name = name.ok_or_else(|| self.err("copy to", rel, Errno::EISDIR))?;
        if let Ok(st) = fstatat(
            dir.fd.as_fd(),
            name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            if kind_of(&st) == Some(SFlag::S_IFDIR) {
                return Err(self.err("copy a file over", rel, Errno::EISDIR));
            }
        }
        let mut from = File::open(src).map_err(|e| Error::at("open", src, e))?;
        let caps = self
            .caps
            .get(from.as_fd())
            .map_err(|e| Error::at("read capabilities of", src, e))?
            .and_then(|v| caps_in_range(&v, self.id_base));
        self.put(
            &dir,
            &name,
            Mode::from_bits_truncate((meta.mode() & 0o7777) as libc::mode_t),
            Some(self.owner_in_jail(meta.uid(), meta.gid())),
            Some((
                TimeSpec::new(meta.atime(), meta.atime_nsec()),
                TimeSpec::new(meta.mtime(), meta.mtime_nsec()),
            )),
            caps.as_deref(),
            &mut from,
            rel,
        )
    }

    /// Every regular file under `rel` (itself when it is a file), skipping
    /// `.git` directories, as paths inside the jail; symlinks are not
    /// followed.
    pub fn files_under(&self, rel: &Path) -> Result<Vec<PathBuf>> {
        match self.kind(rel)? {
            Some(Kind::File) => Ok(vec![rel.to_path_buf()]),
            Some(Kind::Dir) => {
                let mut out = Vec::new();
                let dir = self.dir(rel, false)?;
                self.walk(dir, &mut out, 0)?;
                Ok(out)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The files under `dir`, `depth` directories below where the walk
    /// began: a jail can make its tree as deep as it likes, and each level
    /// holds a descriptor and a stack frame, so the walk stops with an
    /// error past [`MAX_DEPTH`].
    fn walk(&self, dir: Dir, out: &mut Vec<PathBuf>, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::BadData(format!(
                "/{} (in jail root {}): more than {MAX_DEPTH} directories deep",
                dir.rel.display(),
                self.path.display()
            )));
        }
        let fd = dir
            .fd
            .try_clone()
            .map_err(|e| Error::os(format!("dup {}", dir.rel.display()), e))?;
        let mut d = nix::dir::Dir::from_fd(fd).map_err(|e| self.err("read", &dir.rel, e))?;
        let mut names = Vec::new();
        for entry in d.iter() {
            let entry = entry.map_err(|e| self.err("read", &dir.rel, e))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes()).to_os_string();
            if name != "." && name != ".." && name != ".git" {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let st = fstatat(
                dir.fd.as_fd(),
                name.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| self.err("look up", &dir.rel.join(&name), e))?;
            let rel = dir.rel.join(&name);
            match kind_of(&st) {
                Some(SFlag::S_IFREG) => out.push(rel),
                Some(SFlag::S_IFDIR) => {
                    let fd = openat(dir.fd.as_fd(), name.as_os_str(), dir_flags(), Mode::empty())
                        .map_err(|e| self.err("open", &rel, e))?;
                    self.walk(Dir { fd, rel }, out, depth + 1)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The normal components of a path inside the jail (`/` and `.` dropped,
/// `..` kept for the walk to handle).
fn components(p: &Path) -> VecDeque<OsString> {
    p.as_os_str()
        .as_bytes()
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect()
}
