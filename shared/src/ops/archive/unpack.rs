//! The root's members of an archive written to the new jail's directory:
//! each file made by this thread as its owner in the range (no chown after
//! the fact where the thread creates as the range's root, see
//! [`Owners::creating`]); a second thread, with the same credentials,
//! writes each regular file's data (in one write up to a MiB) and then sets
//! its mode, capabilities and time on the open file. Every directory is reached from the jail's
//! directory one real directory at a time (never through a symlink), and
//! nothing there is replaced, so no member writes outside the root.

use std::ffi::{CString, OsStr};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

use super::{END, damaged};
use crate::error::{Error, Result};
use crate::fsio::tree::{Owners, RANGE_SIZE, caps_in_range, creation_drops_bits, owner};

/// A file's data goes to the disk in writes of at most this.
const CHUNK: usize = 1 << 20;
/// How many jobs may wait for the file writer (at most this many
/// [`CHUNK`]s in memory).
const JOBS: usize = 64;

/// Where the members go, and what is known of them so far.
pub(super) struct Unpacker<'a> {
    /// The jail's directory, open.
    top: OwnedFd,
    owners: Owners<'a>,
    /// The directory the last member went in (members come directory by
    /// directory), open.
    last: Option<(PathBuf, OwnedFd)>,
    /// Every directory made, with its time: set last, once its files are in.
    dirs: Vec<(PathBuf, i64)>,
    /// The thread writing the files' data, while [`Unpacker::unpack`] runs.
    writer: Option<Writer>,
}

/// The sending end of [`write_files`]: the jobs, and the buffers it is
/// done with.
struct Writer {
    jobs: SyncSender<Job>,
    spare: Receiver<Vec<u8>>,
}

/// Some of a regular file's data for [`write_files`].
struct Job {
    /// The file just created (with its member's path), which this and
    /// the next jobs' data go to.
    new: Option<(std::fs::File, PathBuf)>,
    data: Vec<u8>,
    /// Set on the file's last job: what it gets once its data is in.
    last: Option<Finish>,
}

/// What a regular file gets after its data: its owner where this thread
/// did not create it as it, its mode where creating it dropped bits, its
/// capabilities (last: a write or a chown clears them) and its time.
struct Finish {
    chown: Option<(Option<Uid>, Option<Gid>)>,
    mode: Option<Mode>,
    caps: Option<Vec<u8>>,
    time: TimeSpec,
}

/// The error of member `path` for an errno.
fn failed(path: &Path, what: &str, e: Errno) -> Error {
    match e {
        Errno::ENOSPC | Errno::EDQUOT => {
            Error::TempFail(format!("no space left to unpack {}", path.display()))
        }
        Errno::EEXIST => Error::BadData(format!(
            "the archive's member {} is there twice",
            path.display()
        )),
        Errno::ELOOP | Errno::ENOTDIR => Error::BadData(format!(
            "the archive's member {} leaves the root",
            path.display()
        )),
        e => Error::at(what, path, e),
    }
}

fn cstr(name: &OsStr) -> CString {
    // Names come from paths split at '/', and tar names hold no NUL.
    CString::new(name.as_bytes()).unwrap_or_default()
}

impl<'a> Unpacker<'a> {
    /// An unpacker into `jail_dir`, the files going to `owners`.
    pub(super) fn new(jail_dir: &Path, owners: Owners<'a>) -> Result<Self> {
        let top = nix::fcntl::open(
            jail_dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::at("open", jail_dir, e))?;
        Ok(Unpacker {
            top,
            owners,
            last: None,
            dirs: Vec::new(),
            writer: None,
        })
    }

    /// The host ids of a member owned by `uid`/`gid` in the archive.
    fn ids(&self, path: &Path, uid: u64, gid: u64) -> Result<(u32, u32)> {
        let one = |id: u64| -> Result<u32> {
            let outside = || {
                Error::BadData(format!(
                    "the archive's member {} is owned by id {id}, outside the {RANGE_SIZE} ids of a jail's range",
                    path.display()
                ))
            };
            match self.owners.base {
                Some(base) if id < u64::from(RANGE_SIZE) => Ok(base + id as u32),
                Some(_) => Err(outside()),
                None => u32::try_from(id).map_err(|_| outside()),
            }
        };
        Ok((one(uid)?, one(gid)?))
    }

    /// The directory `dir` (relative to the jail's directory, plain names
    /// only) open, reached one real directory at a time.
    fn open_dir(&self, dir: &Path) -> std::result::Result<OwnedFd, Errno> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut fd = nix::fcntl::openat(self.top.as_fd(), ".", flags, Mode::empty())?;
        for c in dir.components() {
            fd = nix::fcntl::openat(
                fd.as_fd(),
                cstr(c.as_os_str()).as_c_str(),
                flags,
                Mode::empty(),
            )?;
        }
        Ok(fd)
    }

    /// The directory of `path`, open (the last member's, kept).
    fn parent(&mut self, path: &Path) -> Result<BorrowedFd<'_>> {
        let dir = path.parent().unwrap_or(Path::new(""));
        if self.last.as_ref().is_none_or(|(d, _)| d != dir) {
            let fd = self
                .open_dir(dir)
                .map_err(|e| failed(path, "open the directory of", e))?;
            self.last = Some((dir.to_path_buf(), fd));
        }
        Ok(self
            .last
            .as_ref()
            .map(|(_, fd)| fd.as_fd())
            .unwrap_or(self.top.as_fd()))
    }

    /// Unpack the root's members, up to `jkit-end`: the files' data is
    /// written by a thread of its own (created with this one's
    /// credentials), so that creating the next files does not wait for it.
    pub(super) fn unpack<R: Read>(&mut self, entries: &mut tar::Entries<R>) -> Result<()> {
        let (jobs, todo) = std::sync::mpsc::sync_channel(JOBS);
        let (done, spare) = std::sync::mpsc::sync_channel(JOBS + 2);
        let caps = self.owners.caps;
        std::thread::scope(|threads| {
            let writer = threads.spawn(move || write_files(&todo, &done, caps));
            self.writer = Some(Writer { jobs, spare });
            let unpacked = self.members(entries);
            self.writer = None;
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(Error::Software("the file writer panicked".into())));
            // The writer's error first: it is why a job could not be sent.
            written.and(unpacked)
        })?;
        self.set_dir_times()
    }

    /// The members up to `jkit-end`.
    fn members<R: Read>(&mut self, entries: &mut tar::Entries<R>) -> Result<()> {
        for entry in entries {
            let mut entry = entry.map_err(damaged)?;
            let path = entry.path().map_err(damaged)?.into_owned();
            if path == Path::new(END) {
                return Ok(());
            }
            let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
            if !path.starts_with("root") || !plain {
                return Err(Error::BadData(format!(
                    "the archive's member {} is outside the root",
                    path.display()
                )));
            }
            self.member(&mut entry, &path)?;
        }
        Err(Error::BadData("the archive is truncated".into()))
    }

    /// Make the member `entry` at `path`.
    fn member<R: Read>(&mut self, entry: &mut tar::Entry<R>, path: &Path) -> Result<()> {
        let h = entry.header();
        let bad =
            |why: &str| Error::BadData(format!("the archive's member {}: {why}", path.display()));
        let mode = h.mode().map_err(|_| bad("no mode"))? & 0o7777;
        let (uid, gid) = self.ids(
            path,
            h.uid().map_err(|_| bad("no owner"))?,
            h.gid().map_err(|_| bad("no group"))?,
        )?;
        let mtime = h.mtime().map_err(|_| bad("no time"))? as i64;
        let kind = h.entry_type();
        let num = |v: io::Result<Option<u32>>| v.ok().flatten().unwrap_or(0);
        let dev = libc::makedev(num(h.device_major()), num(h.device_minor()));
        let chown = (uid, gid) != owner();
        let name = cstr(path.file_name().unwrap_or_default());
        let name = name.as_c_str();
        let perm = Mode::from_bits_truncate((mode & 0o777) as _);
        let (owner_id, group_id) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        let time = TimeSpec::new(mtime, 0);
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let caps = caps_of(entry)?;
                let size = entry.size();
                let last = Finish {
                    chown: chown.then_some((owner_id, group_id)),
                    mode: (chown && mode & 0o6000 != 0 || creation_drops_bits(mode))
                        .then(|| Mode::from_bits_truncate(mode as _)),
                    caps: caps.and_then(|v| caps_in_range(&v, self.owners.base)),
                    time,
                };
                let dir = self.parent(path)?;
                let file = nix::fcntl::openat(
                    dir,
                    name,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    perm,
                )
                .map_err(|e| failed(path, "create", e))?;
                self.send_file(entry, (file.into(), path), size, last)?;
            }
            tar::EntryType::Directory => {
                let opaque = pax_value(entry, super::OPAQUE_PAX)?.is_some_and(|v| v == b"y");
                let fcaps = self.owners.caps;
                let dir = self.parent(path)?;
                nix::sys::stat::mkdirat(dir, name, perm).map_err(|e| failed(path, "mkdir", e))?;
                if opaque {
                    let made = nix::fcntl::openat(
                        dir,
                        name,
                        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| failed(path, "open", e))?;
                    fcaps
                        .set_opaque(made.as_fd())
                        .map_err(|e| Error::at("mark opaque", path, e))?;
                }
                self.finish(path, name, chown, (uid, gid), mode)?;
                self.dirs.push((path.to_path_buf(), mtime));
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(damaged)?
                    .ok_or_else(|| bad("no target"))?
                    .into_owned();
                let dir = self.parent(path)?;
                nix::unistd::symlinkat(&target, dir, name)
                    .map_err(|e| failed(path, "symlink", e))?;
                if chown {
                    nix::unistd::fchownat(
                        dir,
                        name,
                        owner_id,
                        group_id,
                        AtFlags::AT_SYMLINK_NOFOLLOW,
                    )
                    .map_err(|e| failed(path, "chown", e))?;
                }
                nix::sys::stat::utimensat(dir, name, &time, &time, UtimensatFlags::NoFollowSymlink)
                    .map_err(|e| failed(path, "set the time of", e))?;
            }
            tar::EntryType::Link => {
                let first = entry
                    .link_name()
                    .map_err(damaged)?
                    .ok_or_else(|| bad("no target"))?
                    .into_owned();
                let inside = first.starts_with("root")
                    && first
                        .components()
                        .all(|c| matches!(c, Component::Normal(_)));
                if !inside {
                    return Err(bad("a link to a file outside the root"));
                }
                let from = self
                    .open_dir(first.parent().unwrap_or(Path::new("")))
                    .map_err(|e| failed(path, "link", e))?;
                let first_name = cstr(first.file_name().unwrap_or_default());
                let dir = self.parent(path)?;
                nix::unistd::linkat(
                    from.as_fd(),
                    first_name.as_c_str(),
                    dir,
                    name,
                    AtFlags::empty(),
                )
                .map_err(|e| failed(path, "link", e))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let sflag = match kind {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let dir = self.parent(path)?;
                nix::sys::stat::mknodat(dir, name, sflag, perm, dev)
                    .map_err(|e| failed(path, "mknod", e))?;
                self.finish(path, name, chown, (uid, gid), mode)?;
            }
            tar::EntryType::XGlobalHeader => {}
            _ => return Err(bad("a kind of file jkit does not unpack")),
        }
        Ok(())
    }

    /// Send the new regular file `file` (member `path`) and its `size`
    /// bytes of `data` to the writer, in jobs of at most [`CHUNK`] bytes,
    /// `last` with the last.
    fn send_file(
        &mut self,
        data: &mut dyn Read,
        (file, path): (std::fs::File, &Path),
        size: u64,
        last: Finish,
    ) -> Result<()> {
        let gone = || Error::Software("the file writer stopped".into());
        let writer = self.writer.as_ref().ok_or_else(gone)?;
        let mut new = Some((file, path.to_path_buf()));
        let mut left = size;
        let mut last = Some(last);
        loop {
            let n = CHUNK.min(usize::try_from(left).unwrap_or(CHUNK));
            let mut buf = writer.spare.try_recv().unwrap_or_default();
            buf.resize(n, 0);
            data.read_exact(&mut buf).map_err(damaged)?;
            left -= n as u64;
            let job = Job {
                new: new.take(),
                data: buf,
                last: if left == 0 { last.take() } else { None },
            };
            writer.jobs.send(job).map_err(|_| gone())?;
            if left == 0 {
                return Ok(());
            }
        }
    }

    /// The owner and mode of the directory, device node or fifo `name`
    /// just made in the last member's directory.
    fn finish(
        &mut self,
        path: &Path,
        name: &std::ffi::CStr,
        chown: bool,
        (uid, gid): (u32, u32),
        mode: u32,
    ) -> Result<()> {
        let dir = self.parent(path)?;
        if chown {
            nix::unistd::fchownat(
                dir,
                name,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| failed(path, "chown", e))?;
        }
        // The mode last: a chown clears set-id bits.
        if chown && mode & 0o6000 != 0 || creation_drops_bits(mode) {
            nix::sys::stat::fchmodat(
                dir,
                name,
                Mode::from_bits_truncate(mode as _),
                FchmodatFlags::NoFollowSymlink,
            )
            .map_err(|e| failed(path, "chmod", e))?;
        }
        Ok(())
    }

    /// The directories' times, deepest first (each was changed by what
    /// went in it).
    fn set_dir_times(&mut self) -> Result<()> {
        for (path, mtime) in self.dirs.iter().rev() {
            let time = TimeSpec::new(*mtime, 0);
            nix::sys::stat::utimensat(
                self.top.as_fd(),
                path.as_path(),
                &time,
                &time,
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(|e| failed(path, "set the time of", e))?;
        }
        Ok(())
    }
}

/// The file capabilities the member carries (a pax extension).
fn caps_of<R: Read>(entry: &mut tar::Entry<R>) -> Result<Option<Vec<u8>>> {
    pax_value(entry, "SCHILY.xattr.security.capability")
}

/// The value of the member's pax record `key`, if it has one.
fn pax_value<R: Read>(entry: &mut tar::Entry<R>, key: &str) -> Result<Option<Vec<u8>>> {
    let Some(exts) = entry.pax_extensions().map_err(damaged)? else {
        return Ok(None);
    };
    for ext in exts {
        let ext = ext.map_err(damaged)?;
        if ext.key_bytes() == key.as_bytes() {
            return Ok(Some(ext.value_bytes().to_vec()));
        }
    }
    Ok(None)
}

/// Write the data of [`Job`]s to their files, each file given what its
/// last job says once its data is in; the buffers written go back to
/// `done`. Stops at the first error (the sender's next send then fails).
fn write_files(
    todo: &Receiver<Job>,
    done: &SyncSender<Vec<u8>>,
    caps: &dyn crate::fsio::tree::FileCaps,
) -> Result<()> {
    use std::io::Write;
    let mut open: Option<(std::fs::File, PathBuf)> = None;
    for job in todo {
        if job.new.is_some() {
            open = job.new;
        }
        let Some((file, path)) = open.as_mut() else {
            return Err(Error::Software("file data without a file".into()));
        };
        file.write_all(&job.data).map_err(|e| {
            let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
            failed(path, "write", errno)
        })?;
        let _ = done.try_send(job.data);
        if let Some(last) = job.last {
            last.apply(file, path, caps)?;
            open = None;
        }
    }
    Ok(())
}

impl Finish {
    /// Give the open file `file` (member `path`) what it gets after its data.
    fn apply(
        &self,
        file: &std::fs::File,
        path: &Path,
        caps: &dyn crate::fsio::tree::FileCaps,
    ) -> Result<()> {
        if let Some((uid, gid)) = self.chown {
            nix::unistd::fchown(file, uid, gid).map_err(|e| failed(path, "chown", e))?;
        }
        if let Some(mode) = self.mode {
            nix::sys::stat::fchmod(file, mode).map_err(|e| failed(path, "chmod", e))?;
        }
        if let Some(value) = &self.caps {
            caps.set(file.as_fd(), value)
                .map_err(|e| Error::at("set the capabilities of", path, e))?;
        }
        nix::sys::stat::futimens(file, &self.time, &self.time)
            .map_err(|e| failed(path, "set the time of", e))
    }
}

/// Run `unpack`, with `write_out` (the platform's sync of a filesystem)
/// writing what it has written so far out to disk in a thread of its own
/// meanwhile: the snapshot an import takes at the end then waits for the
/// little left instead of the whole root (on btrfs a snapshot first
/// writes its subvolume's dirty data out).
pub(super) fn with_writeback<T>(
    dir: &Path,
    write_out: Option<fn(&std::fs::File) -> io::Result<()>>,
    unpack: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let (Some(write_out), Ok(fs)) = (write_out, std::fs::File::open(dir)) else {
        return unpack();
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|threads| {
        threads.spawn(|| {
            while !done.load(Ordering::Relaxed) && write_out(&fs).is_ok() {
                std::thread::sleep(WRITE_OUT_EVERY);
            }
        });
        let unpacked = unpack();
        done.store(true, Ordering::Relaxed);
        unpacked
    })
}

/// How often [`with_writeback`] writes out.
const WRITE_OUT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);
