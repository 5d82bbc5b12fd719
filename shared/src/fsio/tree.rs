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

/// How many directories deep [`copy_tree`] goes: each level is a frame of
/// its recursion, so a deeper tree (a jail's root can make one) ends in an
/// error rather than a stack overflow. No system's tree comes close.
const MAX_COPY_DEPTH: usize = 512;

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
        if depth == MAX_COPY_DEPTH {
            return Err(Error::BadData(format!(
                "{}: more than {MAX_COPY_DEPTH} directories deep",
                src.display()
            )));
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
    fn copy_tree_refuses_a_tree_deeper_than_its_bound() {
        let d = tmp("deep");
        let mut bottom = d.join("src");
        for _ in 0..=MAX_COPY_DEPTH {
            bottom.push("d");
        }
        fs::create_dir_all(&bottom).unwrap();
        let e = copy_tree(&d.join("src"), &d.join("dst")).unwrap_err();
        assert!(e.to_string().contains("directories deep"), "{e}");
        assert_eq!(e.exit_code(), 65);
        fs::remove_dir_all(&d).unwrap();
    }
}
