//! Deleting a jail's files without ever deleting through a mount: unmount
//! everything under the tree first (deepest first), then delete with
//! directory descriptors, refusing anything that is still a mount point or
//! on another filesystem.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::{Dir, Type};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, fstat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::error::{Error, OsContext, Result};

/// Mount points at or under `dir` in the host's mount table, in mount order.
pub fn mounted_under(dir: &Path) -> Result<Vec<PathBuf>> {
    #[cfg(target_os = "linux")]
    {
        crate::backend::linux::mounted_under(dir)
    }
    #[cfg(not(target_os = "linux"))]
    {
        // `mount -p` prints the table in fstab form on the BSDs.
        let out = std::process::Command::new("mount")
            .arg("-p")
            .output()
            .what(|| "run mount -p".into())?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(|p| PathBuf::from(p.replace("\\040", " ")))
            .filter(|p| p.starts_with(dir))
            .collect())
    }
}

/// Unmount every mount at or under `dir`, deepest first.
pub fn unmount_all_under(dir: &Path) -> Result<()> {
    let mut mounts = mounted_under(dir)?;
    mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for m in mounts {
        unmount(&m)?;
    }
    let left = mounted_under(dir)?;
    if let Some(m) = left.first() {
        return Err(Error::TempFail(format!("{} is still mounted", m.display())));
    }
    Ok(())
}

fn unmount(path: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    let r = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
    #[cfg(not(target_os = "linux"))]
    let r = nix::mount::unmount(path, nix::mount::MntFlags::empty());
    match r {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::at("unmount", path, e)),
    }
}

/// Delete `top` and everything under it, on `top`'s own filesystem only.
/// Unmounts first and deletes nothing while any mount remains under `top`
/// (bind mounts of the same filesystem included); then refuses, and
/// deletes nothing further, where it meets another filesystem. A missing
/// `top` is not an error.
pub fn remove_tree(top: &Path) -> Result<()> {
    if std::fs::symlink_metadata(top).is_err() {
        return Ok(());
    }
    unmount_all_under(top)?;
    let dir = Dir::open(
        top,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .what(|| format!("open {}", top.display()))?;
    let dev = fstat(&dir)
        .what(|| format!("stat {}", top.display()))?
        .st_dev;
    empty_dir(dir, top, dev)?;
    std::fs::remove_dir(top).what(|| format!("remove {}", top.display()))
}

fn empty_dir(mut dir: Dir, path: &Path, dev: u64) -> Result<()> {
    let mut listed = Vec::new();
    for entry in dir.iter() {
        let entry = entry.what(|| format!("read {}", path.display()))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            listed.push((entry.file_name().to_owned(), entry.file_type()));
        }
    }
    let mut subdirs = Vec::new();
    let mut files = Vec::new();
    for (name, kind) in listed {
        let is_dir = match kind {
            Some(t) => t == Type::Directory,
            None => {
                let st =
                    nix::sys::stat::fstatat(&dir, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                        .what(|| format!("stat {}", path.display()))?;
                st.st_mode & libc::S_IFMT == libc::S_IFDIR
            }
        };
        if is_dir {
            subdirs.push(name);
        } else {
            files.push(name);
        }
    }
    for name in files {
        unlinkat(&dir, name.as_c_str(), UnlinkatFlags::NoRemoveDir).what(|| {
            format!(
                "remove {}",
                path.join(OsStr::from_bytes(name.to_bytes())).display()
            )
        })?;
    }
    for name in subdirs {
        let child_path = path.join(OsStr::from_bytes(name.to_bytes()));
        let child = Dir::openat(
            &dir,
            name.as_c_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )
        .what(|| format!("open {}", child_path.display()))?;
        let st = fstat(&child).what(|| format!("stat {}", child_path.display()))?;
        if st.st_dev != dev {
            return Err(Error::Permission(format!(
                "refusing to delete {}: it is on another filesystem",
                child_path.display()
            )));
        }
        empty_dir(child, &child_path, dev)?;
        unlinkat(&dir, name.as_c_str(), UnlinkatFlags::RemoveDir)
            .what(|| format!("remove {}", child_path.display()))?;
    }
    Ok(())
}
