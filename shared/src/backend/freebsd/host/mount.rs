//! Mounting a jail's filesystems with nmount(2), unmounting them only where
//! they are still mounted with the expected type, and the record of what a
//! started jail mounted.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{MntFlags, Nmount};

use super::sys;
use crate::backend::freebsd::mounts::{self, MountsRecord};
use crate::backend::mounts::MountEntry;
use crate::error::{Error, OsContext, Result};
use crate::paths::Paths;

/// How often an unmount is retried while the filesystem is busy (the
/// processes of a just-removed jail may still be exiting).
const BUSY_RETRIES: u32 = 30;
/// The pause between those retries.
const BUSY_WAIT: Duration = Duration::from_millis(100);

/// Mount `e` as mount(8) would (`mount -t TYPE -o OPTS SOURCE TARGET`):
/// through mount(8) itself for the types that need its helper programs,
/// else with nmount(2).
pub fn mount(e: &MountEntry) -> Result<()> {
    if mounts::needs_mount_program(&e.fstype) {
        return run_mount_program(e);
    }
    let args = mounts::nmount_args(e);
    let mut nm = Nmount::new();
    for (name, value) in &args {
        match value {
            Some(v) => nm.str_opt_owned(name.as_str(), v.as_os_str()),
            None => nm.null_opt_owned(name.as_str()),
        };
    }
    nm.nmount(MntFlags::empty()).map_err(|err| {
        let what = format!("mount -t {} {} {}", e.fstype, e.source, e.target.display());
        let what = match err.errmsg() {
            Some(msg) => format!("{what}: {msg}"),
            None => what,
        };
        Error::os(what, err)
    })
}

/// Run mount(8) for `e`; it prints its own complaint.
pub fn run_mount_program(e: &MountEntry) -> Result<()> {
    let argv = mounts::mount_command(e);
    let status = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .status()
        .map_err(|err| Error::os(format!("exec {}", argv[0]), err))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Compat {
            msg: format!("{}: failed", argv.join(" ")),
            code: 1,
        })
    }
}

/// Unmount `e` if its target is a mount point with `e`'s filesystem type; a
/// target that is not (never mounted, already unmounted, or covered by
/// something else) is left alone. A target that passes through a symbolic
/// link below the jail's `root` is refused: the jail may have planted it to
/// point at a mount of the host's.
pub fn unmount(e: &MountEntry, root: &Path) -> Result<()> {
    match mounts::check_no_symlinks(root, &e.target) {
        Ok(()) => {}
        Err(Error::Os { source, .. }) if source.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    }
    let target = match fs::canonicalize(&e.target) {
        Ok(t) => t,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(Error::at("realpath", &e.target, err)),
    };
    let info = match sys::mount_info(&target) {
        Ok(info) => info,
        Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(()),
        Err(err) => return Err(Error::at("statfs", &target, err)),
    };
    if info.on != target || info.fstype != e.fstype {
        return Ok(());
    }
    let mut attempt = 0;
    loop {
        match nix::mount::unmount(&target, MntFlags::empty()) {
            Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => return Ok(()),
            Err(Errno::EBUSY) if attempt < BUSY_RETRIES => {
                attempt += 1;
                sleep(BUSY_WAIT);
            }
            Err(err) => return Err(Error::at("unmount", &target, err)),
        }
    }
}

/// Unmount every entry of `entries` of the jail whose root is `root`, last
/// first; every one is tried, and the first failure is returned.
pub fn unmount_all(entries: &[MountEntry], root: &Path) -> Result<()> {
    let mut first = None;
    for e in entries.iter().rev() {
        if let Err(err) = unmount(e, root) {
            first.get_or_insert(err);
        }
    }
    first.map_or(Ok(()), Err)
}

/// Where the mounts of the running jail `name` are recorded.
pub fn record_path(paths: &Paths, name: &str) -> PathBuf {
    paths.run_jail_dir(name).join("mounts")
}

/// Write `record` to `path` atomically and durably.
pub fn write_record(path: &Path, record: &MountsRecord) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Software(format!("{}: no parent directory", path.display())))?;
    fs::create_dir_all(dir).what(|| format!("mkdir {}", dir.display()))?;
    crate::fsio::write_durable(path, record.to_text().as_bytes())
}

/// The record at `path`, if there is one.
pub fn read_record(path: &Path) -> Result<Option<MountsRecord>> {
    match fs::read_to_string(path) {
        Ok(text) => MountsRecord::parse(&text)
            .map(Some)
            .map_err(|e| e.context(&path.display().to_string())),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::at("read", path, err)),
    }
}

/// Remove the record at `path`, and its directory when that is then empty.
pub fn remove_record(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(Error::at("remove", path, err)),
    }
    if let Some(dir) = path.parent() {
        // Other tools may keep files there; a directory that is not empty stays.
        let _ = fs::remove_dir(dir);
    }
    Ok(())
}
