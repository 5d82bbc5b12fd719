//! What happens inside a new jail's namespaces before anything runs there:
//! mounts (the jail's own entries, a minimal /dev, its own /proc),
//! pivot_root into the jail's path with the old root detached, hostname,
//! loopback, and the capability bounding set.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, symlink};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{Mode, SFlag, mknod};
use nix::unistd::{chdir, pivot_root, sethostname};

use crate::backend::linux::{caps, sys};
use crate::backend::mounts::MountEntry;
use crate::error::{OsContext, Result};

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
    /// root, and makes no device node).
    pub user_ns: bool,
    /// `mount.devfs`.
    pub devfs: bool,
    /// `mount.procfs`.
    pub procfs: bool,
    /// Whether the jail has its own network namespace.
    pub own_network: bool,
    /// The capabilities jail processes keep.
    pub caps: u64,
}

/// Run the whole setup in the current (new) namespaces.
pub fn run(plan: &Plan) -> Result<()> {
    if plan.user_ns {
        crate::backend::linux::idmap::become_root().what(|| "become the jail's root".into())?;
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .what(|| "make mounts private".into())?;
    let root = &plan.root;
    mount(
        Some(root),
        root,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .what(|| format!("bind {}", root.display()))?;
    for entry in &plan.mounts {
        mount_entry(entry)?;
    }
    if plan.devfs {
        mount_dev(&root.join("dev"), plan.user_ns)?;
    }
    if plan.procfs {
        mount_proc(&root.join("proc"))?;
    }
    enter_root(root)?;
    if let Some(h) = &plan.hostname {
        sethostname(h).what(|| format!("set hostname {h}"))?;
    }
    if plan.own_network {
        sys::loopback_up().what(|| "bring up lo".into())?;
    }
    drop_bounding_caps(plan.caps)?;
    Ok(())
}

/// Mount one fstab-style entry: `nullfs` (FreeBSD's name) and `bind` are
/// bind mounts, anything else is passed to mount(2) with its options.
fn mount_entry(e: &MountEntry) -> Result<()> {
    let target = &e.target;
    let what = || format!("mount {} on {}", e.source, target.display());
    if !target.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(target)
            .what(|| format!("mkdir {}", target.display()))?;
    }
    let (flags, data) = split_options(&e.options);
    if e.is_bind() {
        mount(
            Some(e.source.as_str()),
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .what(what)?;
        let extra = flags
            & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
        if !extra.is_empty() {
            mount(
                None::<&str>,
                target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra,
                None::<&str>,
            )
            .what(what)?;
        }
    } else {
        let data = (!data.is_empty()).then(|| data.join(","));
        mount(
            Some(e.source.as_str()),
            target,
            Some(e.fstype.as_str()),
            flags,
            data.as_deref(),
        )
        .what(what)?;
    }
    Ok(())
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

fn mkdir_p(dir: &Path, mode: u32) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .what(|| format!("mkdir {}", dir.display()))
}

/// The device nodes a jail sees: made in its private /dev like the host's
/// (mknod is one call on every start where binding the host's node is
/// three, a mount among them), or bound from the host's in a user
/// namespace, where the kernel refuses mknod. The jail itself can make
/// none: it has no `CAP_MKNOD`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// A minimal /dev: a private tmpfs with the harmless devices (bound from
/// the host's with `bind_nodes`), its own devpts instance and /dev/shm.
fn mount_dev(dev: &Path, bind_nodes: bool) -> Result<()> {
    mkdir_p(dev, 0o755)?;
    mount(
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=755,size=64k"),
    )
    .what(|| format!("mount tmpfs on {}", dev.display()))?;
    if bind_nodes {
        bind_devices(dev)?;
    } else {
        make_devices(dev)?;
    }
    mount_dev_rest(dev)
}

/// Bind the host's nodes of [`DEVICES`] onto empty files in `dev`.
fn bind_devices(dev: &Path) -> Result<()> {
    for name in DEVICES {
        let host = Path::new("/dev").join(name);
        let node = dev.join(name);
        fs::File::create(&node).what(|| format!("create {}", node.display()))?;
        mount(
            Some(&host),
            &node,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .what(|| format!("bind {} on {}", host.display(), node.display()))?;
    }
    Ok(())
}

/// Make the nodes of [`DEVICES`] in `dev` as the host has them.
fn make_devices(dev: &Path) -> Result<()> {
    // The nodes get the host's modes exactly.
    let umask = nix::sys::stat::umask(Mode::empty());
    let made: Result<()> = DEVICES.iter().try_for_each(|name| {
        let host = Path::new("/dev").join(name);
        let node = dev.join(name);
        let meta = fs::metadata(&host).what(|| format!("stat {}", host.display()))?;
        mknod(
            &node,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(meta.mode() & 0o777),
            meta.rdev(),
        )
        .what(|| format!("mknod {}", node.display()))?;
        if (meta.uid(), meta.gid()) != (0, 0) {
            std::os::unix::fs::chown(&node, Some(meta.uid()), Some(meta.gid()))
                .what(|| format!("chown {}", node.display()))?;
        }
        Ok(())
    });
    nix::sys::stat::umask(umask);
    made
}

/// The rest of a minimal /dev: devpts, /dev/shm and the links.
fn mount_dev_rest(dev: &Path) -> Result<()> {
    let pts = dev.join("pts");
    mkdir_p(&pts, 0o755)?;
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620,gid=5"),
    )
    .what(|| format!("mount devpts on {}", pts.display()))?;
    let shm = dev.join("shm");
    mkdir_p(&shm, 0o1777)?;
    mount(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
    .what(|| format!("mount tmpfs on {}", shm.display()))?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(link)).what(|| format!("symlink {}/{link}", dev.display()))?;
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

/// proc of the jail's own pid namespace (this process is its pid 1).
fn mount_proc(proc_dir: &Path) -> Result<()> {
    mkdir_p(proc_dir, 0o555)?;
    mount(
        Some("proc"),
        proc_dir,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .what(|| format!("mount proc on {}", proc_dir.display()))?;
    for name in PROC_READ_ONLY {
        let p = proc_dir.join(name);
        if p.exists() {
            mount(
                Some(&p),
                &p,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .and_then(|_| {
                mount(
                    None::<&str>,
                    &p,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                )
            })
            .what(|| format!("make {} read-only", p.display()))?;
        }
    }
    for name in PROC_MASKED {
        let p = proc_dir.join(name);
        if p.exists() {
            mount(
                Some("/dev/null"),
                &p,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .what(|| format!("mask {}", p.display()))?;
        }
    }
    Ok(())
}

/// pivot_root into `root` and detach the old root, so nothing of the host
/// stays reachable from the jail's mount namespace.
fn enter_root(root: &Path) -> Result<()> {
    chdir(root).what(|| format!("chdir {}", root.display()))?;
    pivot_root(".", ".").what(|| format!("pivot_root {}", root.display()))?;
    umount2(".", MntFlags::MNT_DETACH).what(|| "detach the old root".into())?;
    chdir("/").what(|| "chdir /".into())
}

/// Drop every capability outside `keep` from the bounding set and from this
/// process's own sets.
pub fn drop_bounding_caps(keep: u64) -> Result<()> {
    for c in 0..=caps::last_cap() {
        if keep & (1u64 << c) == 0 {
            sys::capbset_drop(c).what(|| format!("drop capability {c}"))?;
        }
    }
    sys::clear_ambient_caps().what(|| "clear ambient capabilities".into())?;
    sys::capset(keep).what(|| "set capabilities".into())
}

#[cfg(test)]
mod tests {
    use super::*;

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
