//! Deleting a jail's files without ever deleting through a mount: unmount
//! everything under the tree first (deepest first), then delete with
//! directory descriptors, refusing anything that is still a mount point or
//! on another filesystem.

use std::ffi::{CString, OsStr};
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
    // Reading the mount table costs with every mount on the host (2 ms
    // with 500 running jails): not again when nothing was mounted.
    if mounts.is_empty() {
        return Ok(());
    }
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
/// `top` is not an error. The walk holds one directory open at a time and
/// no stack frame per level, so a tree of any depth (a jail's root may
/// hold a chain of 100,000 directories) is removed in memory that grows
/// only with the names on the way down.
pub fn remove_tree(top: &Path) -> Result<()> {
    if std::fs::symlink_metadata(top).is_err() {
        return Ok(());
    }
    unmount_all_under(top)?;
    let dir =
        Dir::open(top, dir_flags(), Mode::empty()).what(|| format!("open {}", top.display()))?;
    let st = fstat(&dir).what(|| format!("stat {}", top.display()))?;
    empty_tree(dir, top, st.st_dev, st.st_ino)?;
    std::fs::remove_dir(top).what(|| format!("remove {}", top.display()))
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// A directory the walk went down through: its inode (what `..` must be
/// on the way back up), the name of the subdirectory the walk entered, and
/// its subdirectories still to empty.
struct Level {
    inode: u64,
    entered: CString,
    pending: Vec<CString>,
}

/// The path of the directory `levels` lead to from `top`, for messages.
fn path_of(top: &Path, levels: &[Level]) -> PathBuf {
    let mut p = top.to_path_buf();
    p.extend(
        levels
            .iter()
            .map(|l| OsStr::from_bytes(l.entered.to_bytes())),
    );
    p
}

/// Empty the directory `dir` (device `dev`, inode `inode`) at `top`: down
/// into each subdirectory through its descriptor, back up through `..`,
/// which must be the directory the walk came from (a directory moved
/// meanwhile stops the walk rather than lead it elsewhere).
fn empty_tree(dir: Dir, top: &Path, dev: u64, inode: u64) -> Result<()> {
    let mut levels: Vec<Level> = Vec::new();
    let mut dir = dir;
    let mut inode = inode;
    let mut pending = remove_files(&mut dir, &|| top.to_path_buf())?;
    loop {
        if let Some(name) = pending.pop() {
            let child_path = || path_of(top, &levels).join(OsStr::from_bytes(name.to_bytes()));
            let child = Dir::openat(&dir, name.as_c_str(), dir_flags(), Mode::empty())
                .what(|| format!("open {}", child_path().display()))?;
            let st = fstat(&child).what(|| format!("stat {}", child_path().display()))?;
            if st.st_dev != dev {
                return Err(Error::Permission(format!(
                    "refusing to delete {}: it is on another filesystem",
                    child_path().display()
                )));
            }
            levels.push(Level {
                inode,
                entered: name,
                pending,
            });
            dir = child;
            inode = st.st_ino;
            pending = remove_files(&mut dir, &|| path_of(top, &levels))?;
            continue;
        }
        let Some(level) = levels.pop() else {
            return Ok(());
        };
        let here = || path_of(top, &levels);
        let parent = Dir::openat(&dir, c"..", dir_flags(), Mode::empty())
            .what(|| format!("open {}", here().display()))?;
        let st = fstat(&parent).what(|| format!("stat {}", here().display()))?;
        if (st.st_dev, st.st_ino) != (dev, level.inode) {
            return Err(Error::TempFail(format!(
                "{} was moved while it was being deleted",
                here()
                    .join(OsStr::from_bytes(level.entered.to_bytes()))
                    .display()
            )));
        }
        unlinkat(&parent, level.entered.as_c_str(), UnlinkatFlags::RemoveDir).what(|| {
            format!(
                "remove {}",
                here()
                    .join(OsStr::from_bytes(level.entered.to_bytes()))
                    .display()
            )
        })?;
        dir = parent;
        inode = level.inode;
        pending = level.pending;
    }
}

/// Remove everything in `dir` but its subdirectories; their names. `path`
/// names `dir` in messages (worked out only for one: it takes as long as
/// the walk is deep).
fn remove_files(dir: &mut Dir, path: &dyn Fn() -> PathBuf) -> Result<Vec<CString>> {
    let mut listed = Vec::new();
    for entry in dir.iter() {
        let entry = entry.what(|| format!("read {}", path().display()))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            listed.push((entry.file_name().to_owned(), entry.file_type()));
        }
    }
    let mut subdirs = Vec::new();
    for (name, kind) in listed {
        let is_dir = match kind {
            Some(t) => t == Type::Directory,
            None => {
                let st =
                    nix::sys::stat::fstatat(&*dir, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                        .what(|| format!("stat {}", path().display()))?;
                st.st_mode & libc::S_IFMT == libc::S_IFDIR
            }
        };
        if is_dir {
            subdirs.push(name);
            continue;
        }
        unlinkat(&*dir, name.as_c_str(), UnlinkatFlags::NoRemoveDir).what(|| {
            format!(
                "remove {}",
                path().join(OsStr::from_bytes(name.to_bytes())).display()
            )
        })?;
    }
    Ok(subdirs)
}
