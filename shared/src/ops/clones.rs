//! Which jails are clones of which, for a destroy or rollback of a source
//! that must not read every jail's build record: a link `DATA/clones/SRC/NEW` that
//! `jmk clone` makes before the clone's build record and the clone's
//! destroy removes. An install whose clones predate the index is indexed
//! once, by the first destroy that finds no `.indexed` mark; the build
//! record stays the truth (a link a killed clone left, or one whose name
//! was later given to another jail, is passed over).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::record::{BuildRecord, read_record};
use crate::error::{OsContext, Result};
use crate::paths::Paths;

/// The mark that every clone made before the index is in it.
const INDEXED: &str = ".indexed";

/// Where the clones of `src` are noted.
fn dir_of(paths: &Paths, src: &str) -> PathBuf {
    paths.clones_dir().join(src)
}

/// Note that `new` is being made a clone of `src`.
pub(super) fn note(paths: &Paths, src: &str, new: &str) -> Result<()> {
    let dir = dir_of(paths, src);
    fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))?;
    link(&dir, new)
}

fn link(dir: &Path, new: &str) -> Result<()> {
    match std::os::unix::fs::symlink(new, dir.join(new)) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => {
            Err(e).what(|| format!("symlink {}", dir.join(new).display()))
        }
        _ => Ok(()),
    }
}

/// Forget that `new` was a clone of `src` (its destroy, or a clone that
/// failed): what cannot be removed is passed over by [`of`].
pub(super) fn forget(paths: &Paths, src: &str, new: &str) {
    let dir = dir_of(paths, src);
    let _ = fs::remove_file(dir.join(new));
    // Only when empty: another clone of `src` may be noted meanwhile.
    let _ = fs::remove_dir(&dir);
}

/// The jails whose build record says they are clones of `src`, with their
/// records, by name; `all_records` reads every jail's build record, for an
/// install not indexed yet (which it then indexes).
pub(super) fn of(
    paths: &Paths,
    src: &str,
    all_records: impl FnOnce() -> Result<Vec<(String, BuildRecord)>>,
) -> Result<Vec<(String, BuildRecord)>> {
    let is_clone = |r: &BuildRecord| r.clone_of.as_deref() == Some(src);
    let mut clones = Vec::new();
    if paths.clones_dir().join(INDEXED).exists() {
        let Ok(entries) = fs::read_dir(dir_of(paths, src)) else {
            return Ok(clones);
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(Some(r)) = read_record(paths, &name) {
                if is_clone(&r) {
                    clones.push((name, r));
                }
            }
        }
    } else {
        for (name, r) in all_records()? {
            if let Some(source) = &r.clone_of {
                note(paths, source, &name)?;
            }
            if is_clone(&r) {
                clones.push((name, r));
            }
        }
        let mark = paths.clones_dir().join(INDEXED);
        fs::create_dir_all(paths.clones_dir())
            .and_then(|()| fs::File::create(&mark).map(drop))
            .what(|| format!("create {}", mark.display()))?;
    }
    clones.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(clones)
}
