//! File writes that readers never see half done, file access inside a
//! directory tree that never leaves it ([`beneath`]), files and trees
//! made with exact modes and owners ([`tree`]), bytes that are not
//! UTF-8 kept in strings ([`raw`]), and SHA-256 ([`sha256`]).

pub mod beneath;
pub mod raw;
pub mod sha256;
pub mod tree;

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{OsContext, Result};

/// Write `bytes` to `path` so that readers see the old or the new content,
/// never a part, and the new content is on disk before this returns: for
/// what the user wrote or asked for (jail definitions, rctl rules).
pub fn write_durable(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, bytes, true, |_, _| Ok(false))
}

/// Write `bytes` to `path` so that readers see the old or the new content,
/// never a part, without waiting for the disk. For what jkit derives while
/// building a jail (its fstab and build record): the dozens of files of
/// the jail's new root are not flushed either, and a jail caught
/// half-built by a crash is removed by `jmk destroy` like one caught by a
/// kill.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, bytes, false, |_, _| Ok(false))
}

/// [`write_atomic`] whose last step is `swap(tmp, path)` when it returns
/// true (it put the new file in place itself), else a rename: for a
/// platform's faster way to replace an existing file.
pub fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    swap: impl FnOnce(&Path, &Path) -> Result<bool>,
) -> Result<()> {
    replace(path, bytes, false, swap)
}

fn replace(
    path: &Path,
    bytes: &[u8],
    durable: bool,
    swap: impl FnOnce(&Path, &Path) -> Result<bool>,
) -> Result<()> {
    let tmp = temp_name(path);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .what(|| format!("create {}", tmp.display()))?;
    let replaced = f
        .write_all(bytes)
        .and_then(|_| if durable { f.sync_all() } else { Ok(()) })
        .what(|| format!("write {}", tmp.display()))
        .and_then(|_| swap(&tmp, path))
        .and_then(|swapped| {
            if swapped {
                return Ok(());
            }
            fs::rename(&tmp, path)
                .what(|| format!("rename {} to {}", tmp.display(), path.display()))
        });
    if replaced.is_err() {
        // A full disk or a failed rename: the old content stays, and no
        // half-written temporary file beside it.
        let _ = fs::remove_file(&tmp);
    }
    replaced
}

/// The temporary files of [`temp_name`]'s for `path` that writers killed
/// before their rename left (of any process: the pid is not checked).
pub fn stale_temps(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem()) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|f| {
            f.file_stem() == Some(stem)
                && f.extension()
                    .and_then(|e| e.to_str())
                    .and_then(|e| e.strip_prefix("tmp"))
                    .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

/// The name of the file a write to `path` by this process fills before it
/// takes `path`'s place.
pub fn temp_name(path: &Path) -> PathBuf {
    path.with_extension(format!("tmp{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory for test `tag`.
    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("jkit-fsio-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_replacement_leaves_the_new_content_and_no_temporary_file() {
        let dir = scratch("replace");
        let f = dir.join("state.json");
        write_atomic(&f, b"first").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"first");
        write_atomic(&f, b"second, longer").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"second, longer");
        write_durable(&f, b"third").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"third");
        assert_eq!(names(&dir), ["state.json"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_replacement_leaves_no_temporary_file() {
        let dir = scratch("failed");
        // A directory in the way: the rename fails after the write.
        let f = dir.join("web.conf");
        fs::create_dir_all(f.join("inside")).unwrap();
        assert!(write_atomic(&f, b"x").is_err());
        assert!(write_durable(&f, b"x").is_err());
        assert_eq!(names(&dir), ["web.conf"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_temporary_files_are_found_by_the_file_they_were_for() {
        let dir = scratch("stale");
        for f in [
            "web.tmp12",
            "web.tmp3",
            "web.tmpx",
            "web.conf",
            "webs.tmp4",
            "db.tmp5",
        ] {
            fs::write(dir.join(f), "").unwrap();
        }
        let mut found: Vec<String> = stale_temps(&dir.join("web.conf"))
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        found.sort();
        assert_eq!(found, ["web.tmp12", "web.tmp3"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_into_a_missing_directory_fails_naming_the_file() {
        let dir = scratch("missing");
        let f = dir.join("gone/state.json");
        let e = write_atomic(&f, b"x").unwrap_err().to_string();
        assert!(e.contains("gone/state.tmp"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
