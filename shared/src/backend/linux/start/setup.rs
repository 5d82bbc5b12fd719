//! What happens inside a new jail's namespaces before anything runs there:
//! mounts (the jail's own entries, a minimal /dev, its own /proc),
//! pivot_root into the jail's path (the old root detached once the init has
//! reported), hostname, loopback, and the capability bounding set.

use std::ffi::{CStr, CString};
use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{Mode, SFlag, mkdirat, mknodat};
use nix::unistd::{chdir, fchdir, fchownat, pivot_root, sethostname, symlinkat};

use crate::backend::linux::{idmap, sys};
use crate::backend::mounts::MountEntry;
use crate::error::{Error, OsContext, Result};

/// Everything the setup needs, computed by jmk before the fork so that the
/// child only performs system calls.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The jail's root directory on the host.
    pub root: PathBuf,
    /// `host.hostname`, when set.
    pub hostname: Option<String>,
    /// `mount` and `mount.fstab` entries, in order (with a user
    /// namespace, those the namespace process has not made).
    pub mounts: Vec<MountEntry>,
    /// Whether the jail has its own user namespace (where the init is
    /// root, and the namespace process has made its root and /dev).
    pub user_ns: bool,
    /// `mount.devfs`.
    pub devfs: bool,
    /// `mount.procfs`.
    pub procfs: bool,
    /// Whether the jail has its own network namespace.
    pub own_network: bool,
    /// The capabilities jail processes keep.
    pub caps: u64,
    /// The highest capability number the kernel knows, read from the
    /// host's /proc (the jail may have none).
    pub last_cap: u32,
    /// Whether no process of the jail can type into a host terminal
    /// whatever ioctl it makes, so that the seccomp filter leaves ioctl to
    /// the kernel (see [`terminals_out_of_reach`]).
    pub terminals_out_of_reach: bool,
}

impl Plan {
    /// Whether the jail opens device nodes only in its own /dev: with a
    /// user namespace and `mount.devfs`, every mount the host makes for
    /// it (its root, binds, overlays) is `nodev` but /dev and a bind of a
    /// device node itself (see [`barring_devices`]); what the jail mounts
    /// itself the kernel makes so (a filesystem of a user namespace
    /// opens no device node).
    pub fn bars_host_devices(&self) -> bool {
        self.user_ns && self.devfs
    }
}

/// Whether a jail whose mounts are `plan`'s (the user namespace's
/// `host_mounts` among them) cannot type into a host terminal, so that
/// the seccomp filter may leave ioctl (`TIOCSTI`, `TIOCLINUX`) to the
/// kernel's action cache: the kernel refuses both to it on any terminal
/// (see [`kernel_guards_terminals`](crate::backend::linux::seccomp::kernel_guards_terminals)),
/// or it can hold none. The kernel lets a process without
/// `CAP_SYS_ADMIN` in the host's user namespace (every process of a jail
/// with a user namespace) type only into its controlling terminal, and
/// the jail's processes get no host terminal from jexec or jail(8)'s
/// commands (their standard descriptors are the jail's pty or pipes, see
/// `exec::stdio`) nor by opening a device node, which they find only in
/// their /dev ([`Plan::bars_host_devices`]) unless a mount entry binds a
/// character device: a terminal, maybe.
pub fn terminals_out_of_reach<'a>(
    plan: &'a Plan,
    host_mounts: impl IntoIterator<Item = &'a MountEntry>,
    kernel_guards_terminals: bool,
) -> bool {
    plan.user_ns
        && (kernel_guards_terminals
            || plan.bars_host_devices()
                && !host_mounts
                    .into_iter()
                    .chain(&plan.mounts)
                    .any(binds_character_device))
}

/// The type of the file entry `e` binds, if it is a bind of one there is.
fn bound_file_type(e: &MountEntry) -> Option<fs::FileType> {
    e.is_bind()
        .then(|| fs::metadata(&e.source).ok())
        .flatten()
        .map(|m| m.file_type())
}

/// Whether entry `e` binds a character device node itself.
pub(in crate::backend::linux) fn binds_character_device(e: &MountEntry) -> bool {
    use std::os::unix::fs::FileTypeExt;
    bound_file_type(e).is_some_and(|t| t.is_char_device())
}

/// Entry `e`, mounted for a jail that [bars host devices](Plan::bars_host_devices):
/// `nodev` unless it binds a device node itself (as a devfs rule
/// unhiding one would, on FreeBSD).
pub(in crate::backend::linux) fn barring_devices(e: &MountEntry) -> MountEntry {
    use std::os::unix::fs::FileTypeExt;
    let device = bound_file_type(e).is_some_and(|t| t.is_char_device() || t.is_block_device());
    let mut e = e.clone();
    if !device && !e.options.iter().any(|o| o == "nodev") {
        e.options.push("nodev".into());
    }
    e
}

/// Run the whole setup in the current (new) namespaces. With a user
/// namespace, `prepared` is the jail's root as the namespace process left
/// it in staging, bound onto itself with the host's mounts made (see
/// `userns`): the init, root of the jail's range, cannot reach it through
/// the jails directory, which only the host's root may enter; it makes
/// its own mount namespace from there.
pub fn run(plan: &Plan, prepared: Option<OwnedFd>) -> Result<()> {
    let mut jail_root = match prepared {
        Some(fd) => {
            idmap::become_root().what(|| "become the jail's root".into())?;
            JailRoot {
                fd: super::userns::enter_copy(fd)?,
                path: plan.root.clone(),
                under: None,
            }
        }
        None => mount_root(&plan.root)?,
    };
    for entry in &plan.mounts {
        jail_root.mount(entry)?;
    }
    let dev = match (plan.devfs, plan.user_ns) {
        (false, _) => None,
        (true, false) => Some(mount_dev(&jail_root, None)?),
        (true, true) => Some(open_dev(&jail_root)?),
    };
    if let Some(dev) = &dev {
        mount_dev_filesystems(dev)?;
    }
    if plan.procfs {
        mount_proc(&jail_root, dev.as_ref())?;
    }
    if plan.own_network {
        mount_sys(&jail_root)?;
    }
    enter_root(&jail_root)?;
    mark_container();
    if let Some(h) = &plan.hostname {
        sethostname(crate::fsio::raw::os(h)).what(|| format!("set hostname {h}"))?;
    }
    if plan.own_network {
        sys::loopback_up().what(|| "bring up lo".into())?;
    }
    drop_bounding_caps(plan.caps, plan.last_cap)?;
    Ok(())
}

/// In a new mount namespace: make every mount private, so that nothing
/// mounted or unmounted here reaches the namespace it was copied from.
pub(super) fn make_mounts_private() -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .what(|| "make mounts private".into())
}

/// In the jail's new mount namespace: make every mount private, bind the
/// jail's root `root` onto itself (pivot_root takes a mount) and keep the
/// bind's own descriptor: a path finds no mount stacked on the root of
/// the namespace, so a jail rooted at `/` (jail(8)'s default) is entered
/// only through it.
pub(super) fn mount_root(root: &Path) -> Result<JailRoot> {
    make_mounts_private()?;
    let JailRoot { fd: dir, path, .. } = JailRoot::open(root)?;
    let what = || format!("bind {}", root.display());
    let tree = sys::open_tree_clone_of(dir.as_fd()).what(what)?;
    sys::move_tree_onto(&tree, dir.as_fd()).what(what)?;
    Ok(JailRoot {
        fd: tree,
        path,
        under: Some(dir),
    })
}

/// The jail's root, open, and every path under it resolved as the jail
/// will see it once inside: a symlink the jail planted (`/etc` made a link
/// to `/root`, a mount point made a link to `/`) resolves inside the root,
/// never to the host's files. Mounts go onto the descriptor a path
/// resolved to, so that nothing can redirect them afterwards.
pub(super) struct JailRoot {
    fd: OwnedFd,
    path: PathBuf,
    /// The root's directory beneath its bind onto itself, on the mount of
    /// the directory that holds it: an overlay whose private layer is the
    /// root itself takes it from there, beside its work directory (the
    /// kernel wants both on one mount).
    under: Option<OwnedFd>,
}

impl JailRoot {
    fn open(path: &Path) -> Result<Self> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .what(|| format!("open {}", path.display()))?;
        Ok(JailRoot {
            fd,
            path: path.to_path_buf(),
            under: None,
        })
    }

    /// The jail's root, whose path is `root`, as it lies at `at` (its
    /// peer in the holder, see `pins`).
    pub(super) fn open_at(at: &Path, root: &Path) -> Result<Self> {
        let JailRoot { fd, .. } = JailRoot::open(at)?;
        Ok(JailRoot {
            fd,
            path: root.to_path_buf(),
            under: None,
        })
    }

    /// What entry `e` was mounted on, open (`O_PATH`).
    pub(super) fn target_of(&self, e: &MountEntry) -> Result<OwnedFd> {
        self.mount_point(self.relative(&e.target)?)
    }

    /// Make the root `nodev`, before anything is mounted beneath it.
    pub(super) fn bar_devices(&self) -> Result<()> {
        sys::set_tree_attrs(&self.fd, sys::MOUNT_ATTR_NODEV)
            .what(|| format!("make {} nodev", self.path.display()))
    }

    /// The root's descriptor, for the init (see [`run`]).
    pub(super) fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Mount one fstab-style entry: `nullfs` (FreeBSD's name) and `bind`
    /// are bind mounts, anything else is passed to mount(2) with its
    /// options.
    fn mount(&mut self, e: &MountEntry) -> Result<()> {
        if e.is_bind() {
            self.attach(e, &bind_tree(e, None)?)
        } else {
            self.mount_fs(e)
        }
    }

    /// Attach `tree`, the detached tree of entry `e`, on `e`'s target.
    pub(super) fn attach(&mut self, e: &MountEntry, tree: &OwnedFd) -> Result<()> {
        let point = self.mount_point(self.relative(&e.target)?)?;
        sys::move_tree_onto(tree, point.as_fd())
            .what(|| format!("mount {} on {}", e.source, e.target.display()))?;
        self.follow(e)
    }

    /// Mount the filesystem of entry `e` (not a bind) with mount(2).
    pub(super) fn mount_fs(&mut self, e: &MountEntry) -> Result<()> {
        let point = self.mount_point(self.relative(&e.target)?)?;
        let (flags, mut data) = split_options(&e.options);
        if let (Some(under), "overlay") = (&self.under, e.fstype.as_str()) {
            let own = format!("upperdir={}", self.path.display());
            for option in data.iter_mut().filter(|o| **o == own) {
                *option = format!("upperdir={}", fd_path(under));
            }
        }
        let data = (!data.is_empty()).then(|| data.join(","));
        mount(
            Some(e.source.as_str()),
            fd_path(&point).as_str(),
            Some(e.fstype.as_str()),
            flags,
            data.as_deref(),
        )
        .what(|| format!("mount {} on {}", e.source, e.target.display()))?;
        self.follow(e)
    }

    /// After entry `e` is mounted: when it went over the root itself (a
    /// clone's overlay), what follows goes on what was mounted.
    fn follow(&mut self, e: &MountEntry) -> Result<()> {
        if e.target == self.path {
            *self = JailRoot::open(&self.path)?;
        }
        Ok(())
    }

    /// `rel` (relative to the jail's `/`), opened as a path (`O_PATH`):
    /// when it is missing, made as a directory with its missing parents.
    fn mount_point(&self, rel: &Path) -> Result<OwnedFd> {
        let at = |p: &Path, flags: OFlag| {
            if p.as_os_str().is_empty() {
                return self.fd.try_clone();
            }
            let p = CString::new(p.as_os_str().as_bytes())
                .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
            sys::open_in_root(self.fd.as_fd(), &p, (OFlag::O_PATH | flags).bits())
        };
        let failed = |what: &str, e: std::io::Error| {
            Error::os(
                format!(
                    "{what} /{} in the jail's root {}",
                    rel.display(),
                    self.path.display()
                ),
                e,
            )
        };
        match at(rel, OFlag::empty()) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(failed("open", e)),
        }
        let mut dir = self.fd.try_clone().map_err(|e| failed("open", e))?;
        let mut here = PathBuf::new();
        for name in rel.iter() {
            here.push(name);
            dir = match at(&here, OFlag::O_DIRECTORY) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match mkdirat(&dir, name, Mode::from_bits_truncate(0o755)) {
                        Ok(()) => at(&here, OFlag::O_DIRECTORY).map_err(|e| failed("open", e))?,
                        // Missing, yet there: a symlink to nothing inside
                        // the jail (what it leads to on the host does not
                        // count).
                        Err(Errno::EEXIST) => {
                            return Err(Error::BadData(format!(
                                "mount point /{}: /{} in the jail's root {} is a symlink that leads nowhere inside the jail",
                                rel.display(),
                                here.display(),
                                self.path.display()
                            )));
                        }
                        Err(e) => return Err(failed("make", e.into())),
                    }
                }
                Err(e) => return Err(failed("open", e)),
            };
        }
        Ok(dir)
    }

    /// Where `target` (a host path under the root) is, relative to the
    /// jail's `/`.
    fn relative<'t>(&self, target: &'t Path) -> Result<&'t Path> {
        target.strip_prefix(&self.path).map_err(|_| {
            Error::Config(format!(
                "mount point {} is not under the jail's path {}",
                target.display(),
                self.path.display()
            ))
        })
    }
}

/// The path through which mount(2) reaches what descriptor `fd` refers
/// to, exactly: the kernel follows the link to that file, it does not
/// look the path up again.
fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// A detached copy of what the bind entry `e` binds, with its options
/// `ro`, `nosuid`, `nodev` and `noexec`; when read-only and `userns` is
/// given, shown through that user namespace's ids (what the host's root
/// owns there, the jail's root owns).
pub(in crate::backend::linux) fn bind_tree(
    e: &MountEntry,
    userns: Option<BorrowedFd>,
) -> Result<OwnedFd> {
    let what = || format!("mount {} on {}", e.source, e.target.display());
    let source = CString::new(e.source.as_bytes())
        .map_err(|_| Error::BadData(format!("{}: a NUL byte in the path", e.source)))?;
    let tree = sys::open_tree_clone(&source).what(what)?;
    let (flags, _) = split_options(&e.options);
    let attrs = [
        (MsFlags::MS_RDONLY, sys::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, sys::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, sys::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, sys::MOUNT_ATTR_NOEXEC),
    ]
    .iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .fold(0, |all, (_, attr)| all | attr);
    match userns {
        Some(userns) if flags.contains(MsFlags::MS_RDONLY) => {
            idmap::map_tree(&tree, &e.source, userns, attrs, &what)?;
        }
        _ if attrs != 0 => sys::set_tree_attrs(&tree, attrs).what(what)?,
        _ => {}
    }
    Ok(tree)
}

/// Split fstab options into mount flags and filesystem data.
pub(in crate::backend::linux) fn split_options(options: &[String]) -> (MsFlags, Vec<String>) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" | "rdonly" => flags |= MsFlags::MS_RDONLY,
            "rw" | "defaults" | "bind" | "rbind" | "auto" | "noauto" | "late" => {}
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            other => data.push(other.to_string()),
        }
    }
    (flags, data)
}

/// A fresh filesystem of type `fstype` with `options`, mounted on
/// `point` with the mount attributes `attrs`; its root, open.
fn mount_new(
    fstype: &CStr,
    options: &[(&CStr, Option<&CStr>)],
    attrs: u64,
    point: &OwnedFd,
    fill: impl FnOnce(&OwnedFd) -> Result<()>,
) -> Result<OwnedFd> {
    let what = || format!("mount {}", fstype.to_string_lossy());
    let fs = sys::new_mount(fstype, options, attrs).what(what)?;
    fill(&fs)?;
    sys::move_tree_onto(&fs, point.as_fd()).what(what)?;
    Ok(fs)
}

/// The device nodes a jail sees: made in its private /dev like the host's
/// (mknod is one call on every start where binding the host's node is
/// three, a mount among them). The jail itself can make none: it has no
/// `CAP_MKNOD`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// A minimal /dev: a private tmpfs with the harmless devices, `pts` and
/// `shm` to mount on and the usual links, made through the new tmpfs's
/// own descriptor; that descriptor. With a user namespace whose range
/// starts at `base`, the namespace process makes it: a tmpfs of a jail's
/// user namespace opens no device node (and there the kernel refuses
/// mknod), and the jail's root owns what it holds, as root in the range.
pub(super) fn mount_dev(root: &JailRoot, base: Option<u32>) -> Result<OwnedFd> {
    let point = root.mount_point(Path::new("dev"))?;
    mount_new(
        c"tmpfs",
        &[
            (c"source", Some(c"tmpfs")),
            (c"mode", Some(c"755")),
            (c"size", Some(c"64k")),
        ],
        sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC,
        &point,
        |dev| fill_dev(dev, base.unwrap_or(0)),
    )
}

/// The /dev the namespace process made in the jail's root (see
/// [`mount_dev`]), open.
fn open_dev(root: &JailRoot) -> Result<OwnedFd> {
    root.mount_point(Path::new("dev"))
}

/// The filesystems of a jail's own in its /dev `dev`: its own devpts
/// instance and /dev/shm.
fn mount_dev_filesystems(dev: &OwnedFd) -> Result<()> {
    let sub = |name: &str| {
        nix::fcntl::openat(
            dev,
            name,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .what(|| format!("open /dev/{name}"))
    };
    mount_new(
        c"devpts",
        &[
            (c"source", Some(c"devpts")),
            (c"newinstance", None),
            (c"ptmxmode", Some(c"0666")),
            (c"mode", Some(c"620")),
            (c"gid", Some(c"5")),
        ],
        sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC,
        &sub("pts")?,
        |_| Ok(()),
    )?;
    mount_new(
        c"tmpfs",
        &[(c"source", Some(c"shm")), (c"mode", Some(c"1777"))],
        sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV,
        &sub("shm")?,
        |_| Ok(()),
    )?;
    Ok(())
}

/// What a new /dev holds: the devices, `pts` and `shm` to mount on, and
/// the usual links; /dev and each of these owned as on the host, shifted
/// up by `base` (a jail's range, or 0).
fn fill_dev(dev: &OwnedFd, base: u32) -> Result<()> {
    // `name` "" is /dev itself.
    let chown = |name: &str, (uid, gid): (u32, u32)| {
        if (uid, gid) == (0, 0) {
            return Ok(());
        }
        fchownat(
            dev,
            name,
            Some(uid.into()),
            Some(gid.into()),
            AtFlags::AT_SYMLINK_NOFOLLOW | AtFlags::AT_EMPTY_PATH,
        )
        .what(|| format!("chown /dev/{name}"))
    };
    chown("", (base, base))?;
    // The nodes get the host's modes exactly.
    let umask = nix::sys::stat::umask(Mode::empty());
    let made: Result<()> = DEVICES.iter().try_for_each(|name| {
        let host = Path::new("/dev").join(name);
        let meta = fs::metadata(&host).what(|| format!("stat {}", host.display()))?;
        mknodat(
            dev,
            *name,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(meta.mode() & 0o777),
            meta.rdev(),
        )
        .what(|| format!("mknod /dev/{name}"))?;
        chown(name, (base + meta.uid(), base + meta.gid()))
    });
    nix::sys::stat::umask(umask);
    made?;
    for name in ["pts", "shm"] {
        mkdirat(dev, name, Mode::from_bits_truncate(0o755))
            .what(|| format!("mkdir /dev/{name}"))?;
        chown(name, (base, base))?;
    }
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlinkat(target, dev, link).what(|| format!("symlink /dev/{link}"))?;
        chown(link, (base, base))?;
    }
    Ok(())
}

/// Paths of /proc that reveal or change the host's kernel: read-only, or
/// hidden behind /dev/null.
const PROC_READ_ONLY: &[&str] = &["sys", "sysrq-trigger", "irq", "bus", "fs"];
const PROC_MASKED: &[&str] = &[
    "kcore",
    "keys",
    "timer_list",
    "sched_debug",
    "latency_stats",
];

/// proc of the jail's own pid namespace (this process is its pid 1), its
/// paths above reached through the new proc's own descriptor. The masks
/// are the jail's own /dev/null when it has a /dev (`dev`): the host's
/// would show the host's devtmpfs, and its size, in the jail's mountinfo.
fn mount_proc(root: &JailRoot, dev: Option<&OwnedFd>) -> Result<()> {
    let point = root.mount_point(Path::new("proc"))?;
    let proc = mount_new(
        c"proc",
        &[(c"source", Some(c"proc"))],
        sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC,
        &point,
        |_| Ok(()),
    )?;
    let existing = |name: &str| -> Result<Option<OwnedFd>> {
        match nix::fcntl::openat(
            &proc,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(Error::os(format!("open /proc/{name}"), e)),
        }
    };
    for name in PROC_READ_ONLY {
        if let Some(p) = existing(name)? {
            let what = || format!("make /proc/{name} read-only");
            let tree = sys::open_tree_clone_of(p.as_fd()).what(what)?;
            sys::set_tree_attrs(&tree, sys::MOUNT_ATTR_RDONLY).what(what)?;
            sys::move_tree_onto(&tree, p.as_fd()).what(what)?;
        }
    }
    for name in PROC_MASKED {
        if let Some(p) = existing(name)? {
            let what = || format!("mask /proc/{name}");
            let null = match dev {
                Some(dev) => nix::fcntl::openat(
                    dev,
                    "null",
                    OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(std::io::Error::from)
                .and_then(|null| sys::open_tree_clone_of(null.as_fd())),
                None => sys::open_tree_clone(c"/dev/null"),
            }
            .what(what)?;
            sys::move_tree_onto(&null, p.as_fd()).what(what)?;
        }
    }
    Ok(())
}

/// sysfs of the jail's own network namespace (the mounter's: this
/// process's), read-only: tools list the jail's interfaces in
/// /sys/class/net. Mounted before the old root is detached: with a user
/// namespace the kernel allows a new sysfs only in a mount namespace that
/// already shows one whole (the host's /sys of the copy, gone once
/// detached). A jail on the host's network gets none: its sysfs would be
/// the host's.
fn mount_sys(root: &JailRoot) -> Result<()> {
    let point = root.mount_point(Path::new("sys"))?;
    mount_new(
        c"sysfs",
        &[(c"source", Some(c"sysfs"))],
        sys::MOUNT_ATTR_RDONLY
            | sys::MOUNT_ATTR_NOSUID
            | sys::MOUNT_ATTR_NODEV
            | sys::MOUNT_ATTR_NOEXEC,
        &point,
        |_| Ok(()),
    )?;
    Ok(())
}

/// What tools that look for a container (systemd-detect-virt) find in the
/// jail's /run, as systemd's own containers mark it. Only a mark: a jail
/// without a writable /run starts without it.
fn mark_container() {
    const MARK: &str = "jkit\n";
    let dir = Path::new("/run/systemd");
    let file = dir.join("container");
    // A mark left by the last start stays: truncating it would free its
    // block, and a filesystem mounted with `discard` waits for the disk.
    if fs::read(&file).is_ok_and(|text| text == MARK.as_bytes()) {
        return;
    }
    if Path::new("/run").is_dir() && (dir.is_dir() || fs::create_dir(dir).is_ok()) {
        let _ = fs::write(file, MARK);
    }
}

/// pivot_root into `root` (through its descriptor). The old root stays
/// stacked on the new one until [`detach_old_root`]: paths from `/` and
/// `.` resolve in the jail's root, and only a `..` from it reaches the
/// old one, which no process but the init may do before then.
fn enter_root(root: &JailRoot) -> Result<()> {
    fchdir(&root.fd).what(|| format!("chdir {}", root.path.display()))?;
    pivot_root(".", ".").what(|| format!("pivot_root {}", root.path.display()))?;
    chdir("/").what(|| "chdir /".into())
}

/// Detach the old root [`run`] left stacked on the jail's, so nothing of
/// the host stays reachable from the jail's mount namespace. The init does
/// it once it has told jmk the jail is set up, before any other process
/// enters the jail: the kernel waits for an RCU grace period to end an
/// unmount, time a start need not wait for.
pub fn detach_old_root() -> Result<()> {
    umount2("/", MntFlags::MNT_DETACH).what(|| "detach the old root".into())
}

/// Drop every capability outside `keep` from the bounding set (numbers up
/// to `last`), and clear the ambient set: no process of the jail can have
/// more. The init keeps its own permitted and effective sets: the commands
/// it forks need them until they exec, and limit theirs to `keep` then
/// (exec::command).
pub fn drop_bounding_caps(keep: u64, last: u32) -> Result<()> {
    for c in 0..=last {
        if keep & (1u64 << c) == 0 {
            sys::capbset_drop(c).what(|| format!("drop capability {c}"))?;
        }
    }
    sys::clear_ambient_caps().what(|| "clear ambient capabilities".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(user_ns: bool, devfs: bool, mounts: Vec<MountEntry>) -> Plan {
        Plan {
            root: PathBuf::from("/nonexistent"),
            hostname: None,
            mounts,
            user_ns,
            devfs,
            procfs: true,
            own_network: false,
            caps: 0,
            last_cap: 40,
            terminals_out_of_reach: false,
        }
    }

    fn bind(source: &str) -> MountEntry {
        MountEntry::read_only_bind(Path::new(source), PathBuf::from("/nonexistent/x"))
    }

    #[test]
    fn only_a_jail_that_reaches_no_device_but_its_own_leaves_ioctl_to_the_kernel() {
        let usr = [bind("/usr")];
        let tty = [bind("/dev/null")];
        // A user namespace and /dev of jkit's: every other mount is nodev.
        assert!(terminals_out_of_reach(
            &plan(true, true, vec![]),
            &usr,
            false
        ));
        // A character device bound in may be a terminal.
        assert!(!terminals_out_of_reach(
            &plan(true, true, vec![]),
            &tty,
            false
        ));
        assert!(!terminals_out_of_reach(
            &plan(true, true, tty.to_vec()),
            [],
            false
        ));
        // The root's own /dev, or the host's CAP_SYS_ADMIN.
        assert!(!terminals_out_of_reach(
            &plan(true, false, vec![]),
            &usr,
            false
        ));
        assert!(!terminals_out_of_reach(
            &plan(false, true, vec![]),
            &usr,
            false
        ));
        // Where the kernel refuses TIOCSTI and TIOCLINUX to the jail itself.
        assert!(terminals_out_of_reach(
            &plan(true, false, vec![]),
            &tty,
            true
        ));
        assert!(!terminals_out_of_reach(
            &plan(false, true, vec![]),
            [],
            true
        ));
    }

    #[test]
    fn mounts_for_a_jail_that_bars_devices_are_nodev_but_a_device_itself() {
        let nodev = |e: &MountEntry| barring_devices(e).options.contains(&"nodev".to_string());
        assert!(nodev(&bind("/usr")));
        assert!(!nodev(&bind("/dev/null")));
        let tmpfs = MountEntry::parse("tmpfs /nonexistent/t tmpfs rw,nodev 0 0")
            .unwrap()
            .unwrap();
        assert_eq!(barring_devices(&tmpfs).options, ["rw", "nodev"]);
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let opts: Vec<String> = ["ro", "nosuid", "size=10m", "mode=700"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (flags, data) = split_options(&opts);
        assert!(flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID));
        assert_eq!(data, ["size=10m", "mode=700"]);
    }
}
