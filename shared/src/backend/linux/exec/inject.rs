//! Mounting into a running jail (jtpl's MOUNT applies at once): the host
//! path is cloned as a detached mount tree (open_tree), given its options
//! (mount_setattr; read-only, it is shown through the ids of the jail's
//! user namespace, if it has one, as at start; `nodev` in a jail that
//! opens device nodes only in its /dev, which refuses a character
//! device). A jail with a user namespace gets it, as every other
//! filesystem type, through the peer of its mounts in the holder, so that
//! it arrives locked as the start's mounts (see
//! `start::pins::mount_on_peer`). Into a jail without one the
//! tree is moved (move_mount) by a child that has entered the jail's mount
//! namespace, and other filesystem types are mounted by that child
//! directly; the target is resolved inside the jail's namespace, whose
//! root is the jail's root, so it cannot leave the jail.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::mount::mount;

use crate::backend::linux::params_of;
use crate::backend::linux::start::{pins, setup};
use crate::backend::linux::state::{self, Phase};
use crate::backend::linux::sys;
use crate::backend::mounts::MountEntry;
use crate::error::{Error, OsContext, Result};
use crate::paths::Paths;

/// Mount `entry` (an fstab entry whose target lies under the jail's root on
/// the host) into the running jail `name`.
pub fn mount_into(paths: &Paths, name: &str, entry: &MountEntry) -> Result<()> {
    let st = state::read(paths, name)?
        .filter(|s| s.phase == Phase::Running && s.alive())
        .ok_or_else(|| Error::NotFound(format!("jail \"{name}\" is not running")))?;
    let init = st
        .init
        .ok_or_else(|| Error::NotFound(format!("jail \"{name}\" is not running")))?;
    let root = st
        .params
        .get("path")
        .and_then(|v| v.as_str())
        .unwrap_or("/");
    let rel = entry.target.strip_prefix(root).map_err(|_| {
        Error::Config(format!(
            "{name}: mount point {} is not under the jail's path {root}",
            entry.target.display()
        ))
    })?;
    let inside = CString::new(Path::new("/").join(rel).as_os_str().as_bytes())
        .map_err(|_| Error::BadData("mount point has a NUL byte".into()))?;
    let ns_path = format!("/proc/{}/ns/mnt", init.pid);
    let ns = fs::File::open(&ns_path).what(|| format!("open {ns_path}"))?;
    if !init.alive() {
        return Err(Error::NotFound(format!("jail \"{name}\" is not running")));
    }
    let what = || format!("{name}: mount {} on {}", entry.source, rel.display());
    let userns = user_namespace_of(init.pid)?;
    // Such a jail opens device nodes only in its /dev, as at start (see
    // `Plan::bars_host_devices`): its processes' seccomp filter may leave
    // ioctl to the kernel, since they reach no host terminal.
    let bars_devices = userns.is_some() && params_of(&st).flag("mount.devfs");
    if bars_devices && setup::binds_character_device(entry) {
        return Err(Error::Unavailable(format!(
            "{name}: {} is a character device: it can be mounted into the jail when it starts, not while it runs",
            entry.source
        )));
    }
    let barred;
    let entry = if bars_devices {
        barred = setup::barring_devices(entry);
        &barred
    } else {
        entry
    };
    if entry.is_bind() {
        let tree = setup::bind_tree(entry, userns.as_ref().map(|ns| ns.as_fd()))
            .map_err(|e| e.context(name))?;
        if pins::mount_on_peer(paths, name, Path::new(root), entry, Some(&tree), &ns)? {
            return Ok(());
        }
        pins::in_mount_ns(&ns, &[tree.as_raw_fd()], || {
            sys::move_tree(&tree, &inside).what(what)?;
            Ok(String::new())
        })
        .map(drop)
    } else {
        if pins::mount_on_peer(paths, name, Path::new(root), entry, None, &ns)? {
            return Ok(());
        }
        let (flags, data) = setup::split_options(&entry.options);
        let data = (!data.is_empty()).then(|| data.join(","));
        pins::in_mount_ns(&ns, &[], || {
            mount(
                Some(entry.source.as_str()),
                inside.as_c_str(),
                Some(entry.fstype.as_str()),
                flags,
                data.as_deref(),
            )
            .what(what)?;
            Ok(String::new())
        })
        .map(drop)
    }
}

/// The user namespace of process `pid` (a jail's init), when it is not
/// this process's own.
fn user_namespace_of(pid: i32) -> Result<Option<fs::File>> {
    let path = format!("/proc/{pid}/ns/user");
    let ns = fs::File::open(&path).what(|| format!("open {path}"))?;
    let theirs = ns.metadata().what(|| format!("stat {path}"))?.ino();
    let ours = fs::metadata("/proc/self/ns/user")
        .what(|| "stat /proc/self/ns/user".into())?
        .ino();
    Ok((theirs != ours).then_some(ns))
}
