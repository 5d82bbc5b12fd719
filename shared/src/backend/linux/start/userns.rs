//! A jail's own user namespace, which owns all its other namespaces: the
//! namespace process clones the init into all of them at once, maps the
//! init's ids to the jail's range, and makes the mounts that need the
//! host's privileges in the init's mount namespace before the init goes
//! on: the read-only host directories through idmapped mounts (what the
//! host's root owns there, the jail's root owns), read-write binds as they
//! are (the host's files stay the host's), and a clone's overlay, whose
//! lower layer (the source jail's root, owned by the source's range) is
//! shown through an idmapped mount in the clone's range.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::mount::mount;
use nix::sched::{CloneFlags, setns};
use nix::unistd::Pid;

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
    /// A detached tree to attach at `target`.
    Attach(OwnedFd, &'a Path),
    /// An overlay, with its lower layer shown in the jail's range by the
    /// detached tree (attached over the lower directory first), if the
    /// layer belongs to another range.
    Overlay(&'a MountEntry, Option<(OwnedFd, PathBuf)>),
}

/// In the namespace process, once the init is cloned into its new
/// namespaces: map its ids to the range of `ids`, and make the host's
/// mounts in its mount namespace.
pub fn prepare(init: Pid, ids: &Ids) -> Result<()> {
    idmap::write_maps(init, 0, ids.base)?;
    let userns: OwnedFd = open_ns(init, "user")?;
    // The trees are cloned from the host's mount table, before entering
    // the jail's.
    let mut steps = Vec::new();
    for m in &ids.host_mounts {
        if m.fstype == "overlay" {
            steps.push(HostMount::Overlay(m, shifted_lower(m, ids.base, &userns)?));
        } else {
            let what = || format!("mount {} on {}", m.source, m.target.display());
            let tree = if m.read_only() {
                idmap::idmapped_tree(&m.source, userns.as_fd(), true, &what)?
            } else {
                let path = std::ffi::CString::new(m.source.as_str())
                    .map_err(|_| Error::BadData(what()))?;
                sys::open_tree_clone(&path).what(what)?
            };
            steps.push(HostMount::Attach(tree, &m.target));
        }
    }
    let mnt = open_ns(init, "mnt")?;
    setns(mnt.as_fd(), CloneFlags::CLONE_NEWNS)
        .what(|| "enter the jail's mount namespace".into())?;
    for step in steps {
        match step {
            HostMount::Attach(tree, target) => attach(&tree, target)?,
            HostMount::Overlay(m, lower) => {
                if let Some((tree, dir)) = lower {
                    attach(&tree, &dir)?;
                }
                let (flags, data) = super::setup::split_options(&m.options);
                mount(
                    Some(m.source.as_str()),
                    &m.target,
                    Some("overlay"),
                    flags,
                    Some(data.join(",").as_str()),
                )
                .what(|| format!("mount overlay on {}", m.target.display()))?;
            }
        }
    }
    Ok(())
}

/// The init's namespace `kind`.
fn open_ns(init: Pid, kind: &str) -> Result<OwnedFd> {
    let path = format!("/proc/{init}/ns/{kind}");
    fs::File::open(&path)
        .map(OwnedFd::from)
        .what(|| format!("open {path}"))
}

/// Attach the detached `tree` at `target`, made when missing.
fn attach(tree: &OwnedFd, target: &Path) -> Result<()> {
    if !target.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(target)
            .what(|| format!("mkdir {}", target.display()))?;
    }
    let path = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::BadData(format!("mount on {}", target.display())))?;
    sys::move_tree(tree, &path).what(|| format!("mount on {}", target.display()))
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
        idmap::idmapped_tree(lower, userns.as_fd(), true, &what)?
    } else {
        let shift = idmap::user_namespace(from, base)?;
        idmap::idmapped_tree(lower, shift.as_fd(), true, &what)?
    };
    Ok(Some((tree, PathBuf::from(lower))))
}
