//! Making files and trees with exact modes and owners: directories and
//! new files with the mode asked for whatever the umask, and copies of
//! whole trees that keep modes, owners, times and special files.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::Path;

use crate::error::{Error, OsContext, Result};

/// Make `dir` with `mode` (exactly, regardless of umask).
pub fn mkdir(dir: &Path, mode: u32) -> Result<()> {
    fs::DirBuilder::new()
        .mode(mode)
        .create(dir)
        .what(|| format!("mkdir {}", dir.display()))?;
    if creation_drops_bits(mode) {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .what(|| format!("chmod {}", dir.display()))?;
    }
    Ok(())
}

/// The process's umask, read once (by setting it and putting it back).
fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        use nix::sys::stat::{Mode, umask};
        let old = umask(Mode::from_bits_truncate(0o022));
        umask(old);
        // mode_t is u32 on Linux but u16 on FreeBSD.
        #[allow(clippy::useless_conversion)]
        u32::from(old.bits())
    })
}

/// This process's effective user and group, read once.
fn owner() -> (u32, u32) {
    static OWNER: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    *OWNER.get_or_init(|| {
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    })
}

/// Whether creating a file or directory with `mode` may leave it with
/// fewer bits: those of the umask (1777 /tmp, say) and the set-id bits
/// (mkdir drops set-group-id); most modes need no chmod afterwards.
fn creation_drops_bits(mode: u32) -> bool {
    mode & (umask() | 0o7000) != 0
}

/// Create the new file `path` open for writing, and run `fill` on it;
/// then give it `mode` exactly, regardless of umask (after the data: a
/// write by a process without CAP_FSETID clears set-id bits).
pub fn create_file(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    fill(&mut f)?;
    if creation_drops_bits(mode) {
        f.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Write the new file `path` with `mode` (exactly, regardless of umask).
pub fn write_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    create_file(path, mode, |f| f.write_all(text.as_bytes()))
        .what(|| format!("write {}", path.display()))
}

/// Copy the regular file `src` (`meta` its metadata) to the new file
/// `dst` with its mode: five system calls, where `fs::copy` makes nine
/// (it looks at both files again and asks for more data at the end).
pub fn copy_file(src: &Path, meta: &fs::Metadata, dst: &Path) -> Result<()> {
    let what = || format!("copy {} to {}", src.display(), dst.display());
    let mode = meta.mode() & 0o7777;
    let mut from = fs::File::open(src).what(what)?;
    // io::copy copies in the kernel (copy_file_range) where it can.
    create_file(dst, mode, |to| io::copy(&mut from, to).map(drop)).what(what)
}

/// How many directories deep [`copy_tree`] and [`shift_owners`] go: each
/// level is a frame of their recursion (and, for `shift_owners`, an open
/// directory), so a deeper tree (a jail's root can make one) ends in an
/// error rather than a stack overflow. No system's tree comes close.
const MAX_DEPTH: usize = 512;

/// The error for a tree deeper than [`MAX_DEPTH`], found at `dir`.
fn too_deep(dir: &Path) -> Error {
    Error::BadData(format!(
        "{}: more than {MAX_DEPTH} directories deep",
        dir.display()
    ))
}

/// Copy `src` to `dst` (which must not exist): directories recursively,
/// files, symlinks (not followed) and fifos/device nodes, keeping modes,
/// owners and modification times.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    copy_below(src, dst, 0)
}

/// [`copy_tree`] of `src`, `depth` directories below the top.
fn copy_below(src: &Path, dst: &Path, depth: usize) -> Result<()> {
    let meta = fs::symlink_metadata(src).what(|| format!("stat {}", src.display()))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(src).what(|| format!("readlink {}", src.display()))?;
        symlink(&target, dst).what(|| format!("symlink {}", dst.display()))?;
    } else if ft.is_dir() {
        if depth == MAX_DEPTH {
            return Err(too_deep(src));
        }
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dst)
            .what(|| format!("mkdir {}", dst.display()))?;
        for entry in fs::read_dir(src).what(|| format!("read {}", src.display()))? {
            let entry = entry.what(|| format!("read {}", src.display()))?;
            copy_below(&entry.path(), &dst.join(entry.file_name()), depth + 1)?;
        }
        fs::set_permissions(dst, meta.permissions()).what(|| format!("chmod {}", dst.display()))?;
    } else if ft.is_file() {
        copy_file(src, &meta, dst)?;
    } else {
        use nix::sys::stat::{Mode, SFlag, mknod};
        let mode = meta.mode() as libc::mode_t;
        let kind = SFlag::from_bits_truncate(mode & libc::S_IFMT);
        if kind == SFlag::S_IFSOCK {
            return Ok(());
        }
        mknod(
            dst,
            kind,
            Mode::from_bits_truncate(mode & 0o7777),
            meta.rdev() as _,
        )
        .what(|| format!("mknod {}", dst.display()))?;
    }
    // What this process creates is its own; chown only where the source
    // has another owner (chown clears set-id bits, so put the mode back).
    if (meta.uid(), meta.gid()) != owner() {
        std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()))
            .what(|| format!("chown {}", dst.display()))?;
        if !ft.is_symlink() {
            fs::set_permissions(dst, meta.permissions())
                .what(|| format!("chmod {}", dst.display()))?;
        }
    }
    Ok(())
}

/// How many ids a jail's range holds: jail id `n` (below this) is host id
/// `base + n`.
pub const RANGE_SIZE: u32 = 65_536;

/// The owner and group `uid`/`gid` take in the id range starting at
/// `base`: ids below [`RANGE_SIZE`] move up by `base`, others stay; `None`
/// when neither moves.
fn shifted_ids(uid: u32, gid: u32, base: u32) -> Option<(u32, u32)> {
    let shift = |id: u32| if id < RANGE_SIZE { base + id } else { id };
    let ids = (shift(uid), shift(gid));
    (ids != (uid, gid)).then_some(ids)
}

/// Give every file of the tree `top` to the id range starting at `base`
/// (see [`shifted_ids`]), keeping each mode as it was, set-user-id and
/// set-group-id bits included (chown clears them). Symlinks are never
/// followed, and the walk stays on `top`'s filesystem and within
/// [`MAX_DEPTH`] directories.
pub fn shift_owners(top: &Path, base: u32) -> Result<()> {
    use nix::fcntl::OFlag;
    let meta = fs::symlink_metadata(top).what(|| format!("stat {}", top.display()))?;
    if let Some((uid, gid)) = shifted_ids(meta.uid(), meta.gid(), base) {
        std::os::unix::fs::lchown(top, Some(uid), Some(gid))
            .what(|| format!("chown {}", top.display()))?;
        if !meta.file_type().is_symlink() && meta.mode() & 0o6000 != 0 {
            fs::set_permissions(top, meta.permissions())
                .what(|| format!("chmod {}", top.display()))?;
        }
    }
    if !meta.is_dir() {
        return Ok(());
    }
    let dir = nix::dir::Dir::open(
        top,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .what(|| format!("open {}", top.display()))?;
    shift_below(dir, top, (meta.dev(), 1), base)
}

/// [`shift_owners`] for what the open directory `dir` (at `path`, on
/// device `dev`, `depth` directories below the top) holds.
fn shift_below(
    mut dir: nix::dir::Dir,
    path: &Path,
    (dev, depth): (u64, usize),
    base: u32,
) -> Result<()> {
    use std::ffi::OsStr;
    use std::os::fd::AsFd;
    use std::os::unix::ffi::OsStrExt;

    use nix::fcntl::{AtFlags, OFlag};
    use nix::sys::stat::{FchmodatFlags, Mode, fstatat};
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry.what(|| format!("read {}", path.display()))?;
        let name = entry.file_name();
        if name != c"." && name != c".." {
            names.push(name.to_owned());
        }
    }
    for name in names {
        let here = || path.join(OsStr::from_bytes(name.to_bytes()));
        let st = fstatat(dir.as_fd(), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            .what(|| format!("stat {}", here().display()))?;
        let kind = st.st_mode & libc::S_IFMT;
        if let Some((uid, gid)) = shifted_ids(st.st_uid, st.st_gid, base) {
            nix::unistd::fchownat(
                dir.as_fd(),
                name.as_c_str(),
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .what(|| format!("chown {}", here().display()))?;
            if kind != libc::S_IFLNK && st.st_mode & 0o6000 != 0 {
                nix::sys::stat::fchmodat(
                    dir.as_fd(),
                    name.as_c_str(),
                    Mode::from_bits_truncate(st.st_mode & 0o7777),
                    FchmodatFlags::FollowSymlink,
                )
                .what(|| format!("chmod {}", here().display()))?;
            }
        }
        // st_dev is u64 on Linux, u32 on FreeBSD.
        #[allow(clippy::useless_conversion)]
        let same_fs = u64::from(st.st_dev) == dev;
        if kind == libc::S_IFDIR && same_fs {
            if depth == MAX_DEPTH {
                return Err(too_deep(&here()));
            }
            let sub = nix::dir::Dir::openat(
                dir.as_fd(),
                name.as_c_str(),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .what(|| format!("open {}", here().display()))?;
            shift_below(sub, &here(), (dev, depth + 1), base)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("jkit-tree-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn copy_tree_keeps_links_modes_and_nodes() {
        let d = tmp("copy");
        let src = d.join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), "x").unwrap();
        fs::set_permissions(src.join("sub/f"), fs::Permissions::from_mode(0o4750)).unwrap();
        symlink("../etc/shadow", src.join("link")).unwrap();
        nix::unistd::mkfifo(
            &src.join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        copy_tree(&src, &d.join("dst")).unwrap();
        let m = fs::metadata(d.join("dst/sub/f")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o4750);
        assert_eq!(
            fs::read_link(d.join("dst/link")).unwrap(),
            PathBuf::from("../etc/shadow")
        );
        use std::os::unix::fs::FileTypeExt;
        assert!(
            fs::symlink_metadata(d.join("dst/fifo"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn copy_tree_and_shift_owners_refuse_a_tree_deeper_than_their_bound() {
        let d = tmp("deep");
        let mut bottom = d.join("src");
        for _ in 0..=MAX_DEPTH {
            bottom.push("d");
        }
        fs::create_dir_all(&bottom).unwrap();
        let e = copy_tree(&d.join("src"), &d.join("dst")).unwrap_err();
        assert!(e.to_string().contains("directories deep"), "{e}");
        assert_eq!(e.exit_code(), 65);
        if nix::unistd::geteuid().is_root() {
            let e = shift_owners(&d.join("src"), 16 * RANGE_SIZE).unwrap_err();
            assert!(e.to_string().contains("directories deep"), "{e}");
        }
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn shifting_owners_keeps_set_id_bits_and_leaves_links_alone() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let d = tmp("shift");
        fs::create_dir_all(d.join("sub")).unwrap();
        fs::write(d.join("sub/suid"), "x").unwrap();
        std::os::unix::fs::lchown(d.join("sub/suid"), Some(0), Some(5)).unwrap();
        fs::set_permissions(d.join("sub/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
        fs::write(d.join("foreign"), "x").unwrap();
        std::os::unix::fs::lchown(d.join("foreign"), Some(70_000), Some(70_000)).unwrap();
        symlink("/etc/passwd", d.join("link")).unwrap();
        let base = 16 * RANGE_SIZE;
        shift_owners(&d, base).unwrap();
        let m = fs::metadata(d.join("sub/suid")).unwrap();
        assert_eq!((m.uid(), m.gid()), (base, base + 5));
        assert_eq!(m.mode() & 0o7777, 0o4755);
        let m = fs::metadata(d.join("foreign")).unwrap();
        assert_eq!((m.uid(), m.gid()), (70_000, 70_000));
        let l = fs::symlink_metadata(d.join("link")).unwrap();
        assert_eq!(l.uid(), base);
        assert_eq!(fs::metadata("/etc/passwd").unwrap().uid(), 0);
        assert_eq!(fs::metadata(&d).unwrap().uid(), base);
        // A second shift changes nothing.
        shift_owners(&d, base).unwrap();
        assert_eq!(fs::metadata(d.join("sub")).unwrap().uid(), base);
        fs::remove_dir_all(&d).unwrap();
    }
}
