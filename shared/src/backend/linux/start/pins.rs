//! Namespace pins, kept out of the host's mount table where the kernel
//! allows it.
//!
//! A jail's namespaces are pinned by bind mounts of `/proc/INIT/ns/*`, so
//! they outlive any process and can be entered by path. Bind mounts in the
//! host's mount namespace are copied, walked and detached again by every new
//! mount namespace on the host: six per jail made every start slower than
//! the one before (and every `unshare -m` on the host).
//! So the uts, ipc, pid, cgroup and net pins live in a **holder** mount
//! namespace of their own, itself pinned once at `RUN/holder`, on a private
//! tmpfs at `RUN/pins/NAME/` inside it (look with `nsenter
//! --mount=RUN/holder ls RUN/pins`).
//!
//! The mount namespace pin cannot go there: the kernel refuses to bind a
//! mount namespace file inside a mount namespace whose id is not smaller
//! (its loop check), and since Linux 6.18 those ids come from per-CPU
//! batches, so a jail made after the holder may still have a smaller id.
//! Only the host's initial namespace passes the check for certain, so the
//! mnt pin is the jail's one mount in the host's table:
//! `RUN/jails/NAME/mnt`.
//!
//! A jail with a user namespace also keeps a copy of its locked mounts in
//! the holder, at `RUN/pins/NAME/root`: their peer, through which a mount
//! into the running jail reaches it locked (see `userns`).

use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::stat::{Mode, fstat};
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};
use nix::sys::wait::waitpid;
use nix::unistd::ForkResult;

use super::setup::JailRoot;
use crate::backend::linux::protocol::{self, Gate, Outcome, Sender};
use crate::backend::linux::sys;
use crate::backend::mounts::MountEntry;
use crate::error::{Error, OsContext, Result};
use crate::lock::JailLock;
use crate::paths::Paths;

/// Whether `file` is a pinned namespace (a bind mount of an nsfs file).
fn is_namespace(file: &fs::File) -> bool {
    fstatfs(file.as_fd()).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC)
}

/// The holder namespace, made on first use.
pub fn holder(paths: &Paths) -> Result<fs::File> {
    let file = paths.holder_file();
    if let Ok(f) = fs::File::open(&file) {
        if is_namespace(&f) {
            return Ok(f);
        }
    }
    let _lock = JailLock::acquire_file(&paths.holder_lock_file())?;
    if let Ok(f) = fs::File::open(&file) {
        if is_namespace(&f) {
            return Ok(f);
        }
    }
    for d in ["jails", "pins"] {
        let dir = paths.run_dir.join(d);
        fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))?;
        // A jail's directories here come and go with every start and stop
        // (where /run is on disk, not a tmpfs).
        crate::backend::linux::spread_subdirectories(&dir);
    }
    fs::File::create(&file).what(|| format!("create {}", file.display()))?;
    let (made_tx, made_rx) = protocol::channel().what(|| "pipe".into())?;
    let (pinned, pinned_hold) = protocol::gate().what(|| "pipe".into())?;
    match sys::fork().what(|| "fork".into())? {
        ForkResult::Child => {
            drop((made_rx, pinned_hold));
            let made = make_holder(&paths.pins_dir(), &made_tx, &pinned);
            let _ = made_tx.send(&made);
            if let Outcome::Done(()) = made {
                // Stay until the parent has pinned this namespace.
                let _ = pinned.wait();
            }
            sys::exit_now(0);
        }
        ForkResult::Parent { child } => {
            drop((made_tx, pinned));
            let made = match made_rx.recv() {
                Ok(Some(Outcome::Done(()))) => Ok(()),
                Ok(Some(Outcome::Failed(e))) => Err(e),
                Ok(None) => Err(Error::Software(
                    "the namespace holder ended without a report".into(),
                )),
                Err(e) => Err(Error::os("read the namespace holder's report", e)),
            };
            let src = format!("/proc/{child}/ns/mnt");
            let pinned = made.and_then(|()| {
                mount(
                    Some(src.as_str()),
                    &file,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .what(|| format!("bind {src} on {}", file.display()))
            });
            drop(pinned_hold);
            let _ = waitpid(child, None);
            pinned.map_err(|e| e.context("make the namespace holder"))?;
            fs::File::open(&file).what(|| format!("open {}", file.display()))
        }
    }
}

/// In the holder's forked child: keep only its own channel ends open (it
/// was forked from a process that may have other threads: two such
/// children each holding the other's pipe open would each wait for ever),
/// then make the holder's mount namespace with the pins' tmpfs at `pins`.
fn make_holder(pins: &Path, made: &Sender<Outcome<()>>, pinned: &Gate) -> Outcome<()> {
    let made = sys::close_fds_from(3, &[made.as_raw_fd(), pinned.as_raw_fd()])
        .what(|| "close descriptors".into())
        .and_then(|()| unshare(CloneFlags::CLONE_NEWNS).what(|| "unshare".into()))
        .and_then(|()| super::setup::make_mounts_private())
        .and_then(|()| {
            mount(
                Some("jkit-pins"),
                pins,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("mode=700"),
            )
            .what(|| format!("mount tmpfs on {}", pins.display()))
        });
    match made {
        Ok(()) => Outcome::Done(()),
        Err(e) => Outcome::Failed(e),
    }
}

/// Run `step` in a child that has entered the holder namespace; what it
/// returns comes back.
fn in_holder(paths: &Paths, step: impl FnOnce() -> Result<String>) -> Result<String> {
    in_mount_ns(&holder(paths)?, &[], step)
}

/// Run `step` in a forked child that has entered the mount namespace `ns`
/// (the caller's own namespace is never changed), keeping open only `ns`,
/// its channel and `keep`; what it returns comes back (STEP in
/// [`crate::backend::linux::protocol`]).
pub(in crate::backend::linux) fn in_mount_ns(
    ns: &fs::File,
    keep: &[std::os::fd::RawFd],
    step: impl FnOnce() -> Result<String>,
) -> Result<String> {
    let (done_tx, done_rx) = protocol::channel().what(|| "pipe".into())?;
    match sys::fork().what(|| "fork".into())? {
        ForkResult::Child => {
            drop(done_rx);
            // As in `holder`: nothing of another thread stays open here.
            let mut open = vec![ns.as_raw_fd(), done_tx.as_raw_fd()];
            open.extend_from_slice(keep);
            let done = sys::close_fds_from(3, &open)
                .what(|| "close descriptors".into())
                .and_then(|()| {
                    setns(ns.as_fd(), CloneFlags::CLONE_NEWNS)
                        .what(|| "enter the mount namespace".into())
                })
                .and_then(|()| step());
            let outcome = match done {
                Ok(output) => Outcome::Done(output),
                Err(e) => Outcome::Failed(e),
            };
            let _ = done_tx.send(&outcome);
            sys::exit_now(0);
        }
        ForkResult::Parent { child } => {
            drop(done_tx);
            let outcome = done_rx.recv();
            waitpid(child, None).what(|| "wait".into())?;
            match outcome {
                Ok(Some(Outcome::Done(output))) => Ok(output),
                Ok(Some(Outcome::Failed(e))) => Err(e),
                Ok(None) => Err(Error::Software(
                    "a child in a mount namespace ended without a report".into(),
                )),
                Err(e) => Err(Error::os(
                    "read the report of a child in a mount namespace",
                    e,
                )),
            }
        }
    }
}

/// In a forked, single-threaded child: enter `holder` and pin the
/// namespaces `kinds` (never `mnt`) of `init_pid` for jail `name`, and
/// attach `peer`, the peer of a jail's locked mounts (see `userns`), at
/// [`peer_root`].
pub fn pin_in_holder(
    holder: &fs::File,
    paths: &Paths,
    name: &str,
    init_pid: i32,
    kinds: &[&str],
    peer: Option<&OwnedFd>,
) -> Result<()> {
    setns(holder.as_fd(), CloneFlags::CLONE_NEWNS).what(|| "enter the namespace holder".into())?;
    let dir = paths.jail_pins_dir(name);
    fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))?;
    for ns in kinds {
        bind_namespace(init_pid, ns, &dir.join(ns))?;
    }
    if let Some(tree) = peer {
        let point = peer_root(paths, name);
        fs::create_dir(&point).what(|| format!("mkdir {}", point.display()))?;
        sys::move_tree_onto(
            tree,
            fs::File::open(&point)
                .what(|| format!("open {}", point.display()))?
                .as_fd(),
        )
        .what(|| format!("mount the jail's mounts on {}", point.display()))?;
    }
    Ok(())
}

/// Where, in the holder, the peer of jail `name`'s locked mounts lies:
/// its root as the jail sees it, where a mount made reaches the jail
/// (see `userns`). Only jails with a user namespace have one.
pub fn peer_root(paths: &Paths, name: &str) -> PathBuf {
    paths.jail_pins_dir(name).join("root")
}

/// Bind namespace `ns` of `init_pid` onto a new file `pin`.
fn bind_namespace(init_pid: i32, ns: &str, pin: &Path) -> Result<()> {
    fs::File::create(pin).what(|| format!("create {}", pin.display()))?;
    let src = format!("/proc/{init_pid}/ns/{ns}");
    mount(
        Some(src.as_str()),
        pin,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .what(|| format!("pin {ns} namespace"))
}

/// Pin the mount namespace of `init_pid` for jail `name`, in the host's
/// mount table (see the module's text for why there).
pub fn pin_mount_ns(paths: &Paths, name: &str, init_pid: i32) -> Result<()> {
    bind_namespace(init_pid, "mnt", &paths.mnt_pin(name))
}

/// Mount `entry` into the running jail `name`, whose root is `root` and
/// whose mount namespace is `jail_ns`, through its peer in the holder
/// (see `userns`), so that it reaches the jail locked: `tree` is the
/// detached tree of a bind entry. The target is resolved beneath the
/// peer's root, as at start. `Ok(false)`, with nothing done, when the
/// jail has no peer (no user namespace, or started by an older jkit).
/// A mount that does not reach the jail (it made its mounts private, or
/// covered the target with a mount of its own) is undone, and an error.
pub fn mount_on_peer(
    paths: &Paths,
    name: &str,
    root: &Path,
    entry: &MountEntry,
    tree: Option<&OwnedFd>,
    jail_ns: &fs::File,
) -> Result<bool> {
    let peer = peer_root(paths, name);
    let inside = Path::new("/").join(entry.target.strip_prefix(root).map_err(|_| {
        Error::Config(format!(
            "{name}: mount point {} is not under the jail's path {}",
            entry.target.display(),
            root.display()
        ))
    })?);
    let mut keep = vec![jail_ns.as_raw_fd()];
    keep.extend(tree.map(|t| t.as_raw_fd()));
    let holder = holder(paths)?;
    let done = in_mount_ns(&holder, &keep, || {
        if !peer.is_dir() {
            return Ok("no peer".into());
        }
        let mut jail_root = JailRoot::open_at(&peer, root)?;
        match tree {
            Some(tree) => jail_root.attach(entry, tree)?,
            None => jail_root.mount_fs(entry)?,
        }
        let mounted = jail_root.target_of(entry)?;
        let made = fstat(&mounted).what(|| format!("stat {}", entry.target.display()))?;
        setns(jail_ns.as_fd(), CloneFlags::CLONE_NEWNS)
            .what(|| "enter the jail's mount namespace".into())?;
        let seen = nix::sys::stat::stat(&inside).ok();
        if seen.is_some_and(|s| (s.st_dev, s.st_ino) == (made.st_dev, made.st_ino)) {
            return Ok("mounted".into());
        }
        setns(holder.as_fd(), CloneFlags::CLONE_NEWNS)
            .what(|| "enter the namespace holder".into())?;
        let undo = format!("/proc/self/fd/{}", mounted.as_raw_fd());
        umount2(undo.as_str(), MntFlags::MNT_DETACH)
            .what(|| format!("unmount {}", entry.target.display()))?;
        Err(Error::Unavailable(format!(
            "{name}: the mount on {} does not reach the jail (it made its mounts private, or covered the place with a mount of its own)",
            inside.display()
        )))
    })?;
    Ok(done == "mounted")
}

/// The root of the running jail `name` as its peer in the holder shows it
/// (see `userns`), open: the root with the mounts the host made for the
/// jail and none of the jail's own, so with the jail's files where an
/// overlay over the root holds them (the host's own view of the path
/// shows only what the overlay covers). `None` when the jail has no peer
/// (no user namespace, or started by an older jkit).
pub fn open_peer_root(paths: &Paths, name: &str) -> Result<Option<OwnedFd>> {
    let peer = peer_root(paths, name);
    let holder = holder(paths)?;
    let (tx, rx) = protocol::fd_channel().what(|| "socketpair".into())?;
    match sys::fork().what(|| "fork".into())? {
        ForkResult::Child => {
            drop(rx);
            // As in `holder`: nothing of another thread stays open here.
            let opened = sys::close_fds_from(3, &[holder.as_raw_fd(), tx.as_raw_fd()])
                .ok()
                .and_then(|()| setns(holder.as_fd(), CloneFlags::CLONE_NEWNS).ok())
                .and_then(|()| {
                    nix::fcntl::open(
                        &peer,
                        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )
                    .ok()
                });
            if let Some(dir) = opened {
                let _ = tx.send(dir.as_fd());
            }
            sys::exit_now(0);
        }
        ForkResult::Parent { child } => {
            drop(tx);
            let got = rx.recv();
            waitpid(child, None).what(|| "wait".into())?;
            got.what(|| format!("open {} in the namespace holder", peer.display()))
        }
    }
}

/// Remove the pins of jail `name` (none is fine).
pub fn unpin(paths: &Paths, name: &str) -> Result<()> {
    let mnt = paths.mnt_pin(name);
    match umount2(&mnt, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(err) => return Err(Error::at("unpin", &mnt, err)),
    }
    if !paths.holder_file().exists() {
        return Ok(());
    }
    let dir = paths.jail_pins_dir(name);
    in_holder(paths, || {
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(String::new());
        };
        for e in entries.flatten() {
            let p = e.path();
            match umount2(&p, MntFlags::MNT_DETACH) {
                Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
                Err(err) => return Err(Error::at("unpin", &p, err)),
            }
            // The namespaces are files, the peer's root a directory.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir(&p)
            } else {
                fs::remove_file(&p)
            }
            .what(|| format!("remove {}", p.display()))?;
        }
        fs::remove_dir(&dir).what(|| format!("remove {}", dir.display()))?;
        Ok(String::new())
    })
    .map(drop)
}

/// The namespaces pinned for jail `name`, by kind.
pub fn pinned(paths: &Paths, name: &str) -> Result<Vec<String>> {
    let dir = paths.jail_pins_dir(name);
    let listing = in_holder(paths, || {
        let mut kinds = String::new();
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if fs::File::open(e.path()).is_ok_and(|f| is_namespace(&f)) {
                kinds.push_str(&e.file_name().to_string_lossy());
                kinds.push('\n');
            }
        }
        Ok(kinds)
    })?;
    let mut kinds: Vec<String> = listing.lines().map(str::to_string).collect();
    if fs::File::open(paths.mnt_pin(name)).is_ok_and(|f| is_namespace(&f)) {
        kinds.push("mnt".into());
    }
    kinds.sort();
    Ok(kinds)
}
