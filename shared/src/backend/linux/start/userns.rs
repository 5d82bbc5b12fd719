//! A jail's own user namespace, which owns its other namespaces but its
//! cgroup namespace, and the jail's mounts made with the host's
//! privileges, locked.
//!
//! The namespace process first enters a **staging** mount namespace of
//! its own (and the jail's cgroup namespace, both owned by the host's
//! user namespace), then clones the init into the jail's new user, pid,
//! uts, ipc and network namespaces, maps the init's ids to the jail's
//! range, and makes in staging what needs the host's privileges: the
//! jail's root bound onto itself (only the host's root may enter the
//! jails directory on the way to it) and made shared, the read-only host
//! directories through idmapped mounts (what the host's root owns there,
//! the jail's root owns), read-write binds as they are (the host's files
//! stay the host's), a clone's overlay, whose lower layer (the source
//! jail's root, owned by the source's range) is shown through an idmapped
//! mount in the clone's range, and the jail's /dev, whose device nodes a
//! filesystem of the jail's own would not open. Every mount point is
//! resolved beneath the root (see `setup`), and the init gets the root as
//! a descriptor.
//!
//! The init then makes its own mount namespace from staging
//! ([`enter_copy`]): the kernel copies a mount namespace into one owned
//! by a less privileged user namespace with every mount **locked**
//! (mount_namespaces(7)): the jail's root, even with `allow.mount`,
//! cannot unmount them (what they cover stays hidden), change their
//! read-only, nosuid, nodev or noexec flags, or undo an id mapping.
//! The copies are slaves of the shared staging mounts, and a copy of the
//! jail's tree stays in the holder namespace as their peer (see
//! `pins`): a mount made there later (jtpl's MOUNT on a running jail)
//! reaches the jail the same way, read-only and its flags locked. A
//! cgroup namespace owned by the host's user namespace is one in which
//! the jail's root may mount no cgroup hierarchy.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use nix::unistd::{Pid, fchdir};

use super::setup;
use crate::backend::linux::{idmap, sys};
use crate::backend::mounts::MountEntry;
use crate::error::{Error, OsContext, Result};
use crate::fsio::tree::RANGE_SIZE;

/// What a jail with a user namespace needs from the namespace process.
#[derive(Debug, Clone)]
pub struct Ids {
    /// The first host id of the jail's range.
    pub base: u32,
    /// The entries mounted with the host's privileges (binds and
    /// overlays), in order, before the init mounts the others.
    pub host_mounts: Vec<MountEntry>,
}

/// Whether entry `m` needs the host's privileges: a bind of a host
/// directory (an idmapped mount is made by the host's root only) or an
/// overlay (its layers are the host's files).
pub fn needs_host(m: &MountEntry) -> bool {
    m.is_bind() || m.fstype == "overlay"
}

/// One mount the namespace process makes in staging.
enum HostMount<'a> {
    /// A bind: the detached tree to attach on the entry's target.
    Bind(&'a MountEntry, OwnedFd),
    /// An overlay, with those of its lower layers that belong to another
    /// range shown in the jail's by detached trees (each attached over its
    /// lower directory first).
    Overlay(&'a MountEntry, Vec<(OwnedFd, PathBuf)>),
}

/// In the namespace process, in its staging mount namespace, once the
/// init is cloned into its new namespaces: map its ids to the range of
/// `ids`, and make the jail's root of `plan`, the host's mounts and /dev
/// (with `mount.devfs`) in staging; the root, open, for the init (see
/// the module's text).
pub fn prepare(init: Pid, plan: &setup::Plan, ids: &Ids) -> Result<OwnedFd> {
    idmap::write_maps(init, 0, ids.base)?;
    let userns: OwnedFd = open_ns(init, "user")?;
    // The trees are cloned from the host's mounts as staging copied
    // them, before anything is mounted for the jail.
    let entries: Vec<MountEntry> = if plan.bars_host_devices() {
        ids.host_mounts.iter().map(setup::barring_devices).collect()
    } else {
        ids.host_mounts.clone()
    };
    let mut steps = Vec::new();
    for m in &entries {
        if m.fstype == "overlay" {
            steps.push(HostMount::Overlay(m, shifted_lowers(m, ids.base, &userns)?));
        } else {
            steps.push(HostMount::Bind(
                m,
                setup::bind_tree(m, Some(userns.as_fd()))?,
            ));
        }
    }
    let mut jail_root = setup::mount_root(&plan.root)?;
    if plan.bars_host_devices() {
        jail_root.bar_devices()?;
    }
    // Shared, so that the init's copy receives what is mounted here (and
    // in the holder's peer) later; what is mounted under it is shared
    // too.
    mount(
        None::<&str>,
        &plan.root,
        None::<&str>,
        MsFlags::MS_SHARED,
        None::<&str>,
    )
    .what(|| format!("share {}", plan.root.display()))?;
    for step in steps {
        match step {
            HostMount::Bind(m, tree) => jail_root.attach(m, &tree)?,
            HostMount::Overlay(m, lowers) => {
                for (tree, dir) in lowers {
                    attach_outside(&tree, &dir)?;
                }
                jail_root.mount_fs(m)?;
            }
        }
    }
    if plan.devfs {
        setup::mount_dev(&jail_root, Some(ids.base))?;
    }
    Ok(jail_root.into_fd())
}

/// In the init, in the jail's user namespace and still in staging: make
/// the jail's mount namespace, a copy of staging with every mount locked
/// (see the module's text), and return the jail's root in it, `root`
/// being the root in staging. pivot_root refuses a locked mount for the
/// new root: the root is bound onto itself in the copy, its submounts
/// locked as they were.
pub fn enter_copy(root: OwnedFd) -> Result<OwnedFd> {
    // The kernel moves the working directory into the copy.
    fchdir(&root).what(|| "enter the jail's root".into())?;
    drop(root);
    unshare(CloneFlags::CLONE_NEWNS).what(|| "make the jail's mount namespace".into())?;
    let copied = nix::fcntl::open(
        ".",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .what(|| "open the jail's root".into())?;
    let what = || "bind the jail's root".to_string();
    let tree = sys::open_tree_clone_of(copied.as_fd()).what(what)?;
    sys::move_tree_onto(&tree, copied.as_fd()).what(what)?;
    Ok(tree)
}

/// The init's namespace `kind`.
fn open_ns(init: Pid, kind: &str) -> Result<OwnedFd> {
    let path = format!("/proc/{init}/ns/{kind}");
    fs::File::open(&path)
        .map(OwnedFd::from)
        .what(|| format!("open {path}"))
}

/// Attach the detached `tree` on the host directory `dir`, outside the
/// jail's root (an overlay's lower layer: another jail's root or upper
/// layer, or a release, whose path only the host chose).
fn attach_outside(tree: &OwnedFd, dir: &Path) -> Result<()> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::BadData(format!("{}: a NUL byte in the path", dir.display())))?;
    sys::move_tree(tree, &path).what(|| format!("mount on {}", dir.display()))
}

/// The lower layers of the overlay `m` shown in the range at `base`, each
/// that belongs to another range (read from the owner of its top): a clone
/// of a jail sees its source's files as its own, a thin jail on a release
/// the release's files as its root's (the host's root owns them).
fn shifted_lowers(m: &MountEntry, base: u32, userns: &OwnedFd) -> Result<Vec<(OwnedFd, PathBuf)>> {
    let (lowers, _) = m.overlay_layers().unwrap_or_default();
    let mut shifted = Vec::new();
    for lower in lowers {
        let owner = fs::metadata(&lower)
            .what(|| format!("stat {}", lower.display()))?
            .uid();
        let from = owner - owner % RANGE_SIZE;
        if from == base {
            continue;
        }
        let source = lower.to_string_lossy();
        let what = || format!("idmap {source}");
        let tree = if from == 0 {
            idmap::idmapped_tree(&source, userns.as_fd(), &what)?
        } else {
            let shift = idmap::user_namespace(from, base)?;
            idmap::idmapped_tree(&source, shift.as_fd(), &what)?
        };
        shifted.push((tree, lower));
    }
    Ok(shifted)
}
