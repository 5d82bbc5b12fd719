//! btrfs: a subvolume per jail, snapshots as read-only subvolume
//! snapshots, through btrfs-progs' `btrfs` command.

use std::path::Path;

use super::run_command;
use crate::error::Result;

/// Whether `dir` is on btrfs.
pub fn is_btrfs(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        nix::sys::statfs::statfs(dir)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::BTRFS_SUPER_MAGIC)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        false
    }
}

/// Whether btrfs-progs is here (without it, jails on btrfs are plain).
pub fn usable() -> bool {
    std::process::Command::new("btrfs")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether `dir` is the top of a subvolume (inode 256 on btrfs).
pub fn is_subvolume(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    is_btrfs(dir) && std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && m.ino() == 256)
}

fn arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Make the subvolume `dir`.
pub fn create(dir: &Path) -> Result<()> {
    run_command(&[
        "btrfs".into(),
        "subvolume".into(),
        "create".into(),
        arg(dir),
    ])
    .map(drop)
}

/// Snapshot the subvolume `src` as `dest`, read-only if asked.
pub fn snapshot(src: &Path, dest: &Path, read_only: bool) -> Result<()> {
    let mut argv = vec!["btrfs".to_string(), "subvolume".into(), "snapshot".into()];
    if read_only {
        argv.push("-r".into());
    }
    argv.extend([arg(src), arg(dest)]);
    run_command(&argv).map(drop)
}

/// Delete the subvolume `dir`.
pub fn delete(dir: &Path) -> Result<()> {
    run_command(&[
        "btrfs".into(),
        "subvolume".into(),
        "delete".into(),
        arg(dir),
    ])
    .map(drop)
}
