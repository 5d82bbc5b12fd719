//! A jail's own user namespace, which owns all its other namespaces: the
//! namespace process clones the init into all of them at once, maps the
//! init's ids to the jail's range, and makes what needs the host's
//! privileges in the init's mount namespace before the init goes on: the
//! jail's root bound onto itself (only the host's root may enter the
//! jails directory on the way to it), the read-only host directories
//! through idmapped mounts (what the host's root owns there, the jail's
//! root owns), read-write binds as they are (the host's files stay the
//! host's), and a clone's overlay, whose lower layer (the source jail's
//! root, owned by the source's range) is shown through an idmapped mount
//! in the clone's range; and the jail's /dev, whose device nodes a
//! filesystem of the jail's own would not open. Every mount point is
//! resolved beneath the root (see `setup`), and the init gets the root
//! as a descriptor.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns};
use nix::unistd::Pid;

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

/// One mount the namespace process makes in the init's mount namespace.
enum HostMount<'a> {
    /// A bind: the detached tree to attach on the entry's target.
    Bind(&'a MountEntry, OwnedFd),
    /// An overlay, with its lower layer shown in the jail's range by the
    /// detached tree (attached over the lower directory first), if the
    /// layer belongs to another range.
    Overlay(&'a MountEntry, Option<(OwnedFd, PathBuf)>),
}

/// In the namespace process, once the init is cloned into its new
/// namespaces: map its ids to the range of `ids`, and make the jail's
/// root of `plan`, the host's mounts and /dev (with `mount.devfs`) in its
/// mount namespace; the root, open, for the init.
pub fn prepare(init: Pid, plan: &setup::Plan, ids: &Ids) -> Result<OwnedFd> {
    idmap::write_maps(init, 0, ids.base)?;
    let userns: OwnedFd = open_ns(init, "user")?;
    // The trees are cloned from the host's mount table, before entering
    // the jail's.
    let mut steps = Vec::new();
    for m in &ids.host_mounts {
        if m.fstype == "overlay" {
            steps.push(HostMount::Overlay(m, shifted_lower(m, ids.base, &userns)?));
        } else {
            steps.push(HostMount::Bind(
                m,
                setup::bind_tree(m, Some(userns.as_fd()))?,
            ));
        }
    }
    let mnt = open_ns(init, "mnt")?;
    setns(mnt.as_fd(), CloneFlags::CLONE_NEWNS)
        .what(|| "enter the jail's mount namespace".into())?;
    let mut jail_root = setup::mount_root(&plan.root)?;
    for step in steps {
        match step {
            HostMount::Bind(m, tree) => jail_root.attach(m, &tree)?,
            HostMount::Overlay(m, lower) => {
                if let Some((tree, dir)) = lower {
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

/// The init's namespace `kind`.
fn open_ns(init: Pid, kind: &str) -> Result<OwnedFd> {
    let path = format!("/proc/{init}/ns/{kind}");
    fs::File::open(&path)
        .map(OwnedFd::from)
        .what(|| format!("open {path}"))
}

/// Attach the detached `tree` on the host directory `dir`, outside the
/// jail's root (an overlay's lower layer: another jail's root, whose path
/// only the host chose).
fn attach_outside(tree: &OwnedFd, dir: &Path) -> Result<()> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::BadData(format!("{}: a NUL byte in the path", dir.display())))?;
    sys::move_tree(tree, &path).what(|| format!("mount on {}", dir.display()))
}

/// The lower layer of the overlay `m` shown in the range at `base`, when
/// it belongs to another range (read from the owner of its top): a clone
/// of a jail sees its source's files as its own.
fn shifted_lower(
    m: &MountEntry,
    base: u32,
    userns: &OwnedFd,
) -> Result<Option<(OwnedFd, PathBuf)>> {
    let Some(lower) = m.options.iter().find_map(|o| o.strip_prefix("lowerdir=")) else {
        return Ok(None);
    };
    let owner = fs::metadata(lower).what(|| format!("stat {lower}"))?.uid();
    let from = owner - owner % RANGE_SIZE;
    if from == base {
        return Ok(None);
    }
    let what = || format!("idmap {lower}");
    let tree = if from == 0 {
        idmap::idmapped_tree(lower, userns.as_fd(), &what)?
    } else {
        let shift = idmap::user_namespace(from, base)?;
        idmap::idmapped_tree(lower, shift.as_fd(), &what)?
    };
    Ok(Some((tree, PathBuf::from(lower))))
}
