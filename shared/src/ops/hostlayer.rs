//! The layer thin jails of the host share: what every thin root on the
//! host holds alike (its skeleton, and /etc with the host files copied into
//! it: [`rootfs::host_shared`]), made once and kept in the layers
//! directory while those host files stay as they were. Such a jail's root
//! holds only its own files (its accounts, its name, what it writes), and
//! at start the layer goes below it, read-only, in an overlay: a create
//! makes a handful of files instead of the skeleton's eighty.
//!
//! A layer is a directory `host-TIME.PID` holding the tree and
//! `sources.json`, the status of every host path the tree was made from.
//! `host`, a symlink, names the current one. A create checks the
//! current layer's sources against the host and makes a new layer when one
//! changed; a layer no jail's definition names any more is removed when a
//! new one is made.

use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::rootfs::{self, Consulted};
use crate::backend::remove::remove_tree;
use crate::error::{Error, OsContext, Result};
use crate::fsio::tree::{FileCaps, Owners};
use crate::paths::Paths;

/// The current layer's name, a symlink in the layers directory.
const CURRENT: &str = "host";
/// The start of a layer's name.
const PREFIX: &str = "host-";
/// The start of the name a layer is made under.
const MAKING: &str = ".host.";
/// The file type bits of a mode (S_IFMT, typed alike on every platform).
const FILE_TYPE_BITS: u32 = 0o170_000;
/// How deep the status of a consulted tree goes.
const MAX_DEPTH: usize = 16;

/// The status of one host path: what a change of the file changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    path: PathBuf,
    /// The file type bits of its mode; 0 when it does not exist.
    kind: u32,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// A layer's `sources.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Sources {
    consulted: Vec<Consulted>,
    stamps: Vec<Stamp>,
}

/// The shared layer a new jail's root goes over, held in use (a shared
/// lock on the layers directory) until the jail's definition names it.
pub(super) struct HostLayer {
    /// The layer's tree: the overlay's lower directory.
    pub(super) tree: PathBuf,
    _in_use: Flock<File>,
}

/// Whether `dir` is a host layer's tree under `paths`.
pub(super) fn is_host_layer(paths: &Paths, dir: &Path) -> bool {
    dir.parent()
        .is_some_and(|layer| layer.parent() == Some(paths.layers_dir().as_path()))
        && dir.file_name() == Some("tree".as_ref())
        && dir
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n.to_string_lossy().starts_with(PREFIX))
}

/// The current host layer, made first when there is none or the host
/// files it was made from changed; its files are owned by the host's root
/// (each jail sees them as its own root's through an idmapped mount),
/// with `caps` for file capabilities.
pub(super) fn current(paths: &Paths, caps: &'static dyn FileCaps) -> Result<HostLayer> {
    let dir = paths.layers_dir();
    // As the jails directory: the host's root alone goes in.
    if let Err(e) = fs::DirBuilder::new().mode(0o700).create(&dir) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(Error::at("mkdir", &dir, e));
        }
    }
    let lock_path = dir.join("lock");
    let file = crate::lock::open_lock_file(&lock_path)?;
    let in_use = Flock::lock(file, FlockArg::LockShared)
        .map_err(|(_, e)| Error::os(format!("lock {}", lock_path.display()), e))?;
    if let Some(name) = current_name(&dir) {
        if unchanged(&dir.join(&name))? {
            return Ok(HostLayer {
                tree: dir.join(name).join("tree"),
                _in_use: in_use,
            });
        }
    }
    let (name, settled) = make(&dir, caps)?;
    if settled {
        let link = dir.join(format!("{MAKING}{}.link", std::process::id()));
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&name, &link).what(|| format!("symlink {}", link.display()))?;
        fs::rename(&link, dir.join(CURRENT)).what(|| format!("rename {}", link.display()))?;
        // Only while no other create holds a layer it has not named yet.
        if in_use.relock(FlockArg::LockExclusiveNonblock).is_ok() {
            let swept = sweep(paths, &dir, &name);
            in_use
                .relock(FlockArg::LockShared)
                .map_err(|e| Error::os(format!("lock {}", lock_path.display()), e))?;
            swept?;
        }
    }
    Ok(HostLayer {
        tree: dir.join(name).join("tree"),
        _in_use: in_use,
    })
}

/// The name the current-layer symlink in `dir` holds, if it holds one of a
/// layer.
fn current_name(dir: &Path) -> Option<String> {
    let name = fs::read_link(dir.join(CURRENT)).ok()?;
    let name = name.to_str()?;
    (name.starts_with(PREFIX) && !name.contains('/')).then(|| name.to_string())
}

/// Whether the host paths the layer `layer` was made from are as they
/// were (false for a layer whose sources cannot be read).
fn unchanged(layer: &Path) -> Result<bool> {
    let Ok(text) = fs::read(layer.join("sources.json")) else {
        return Ok(false);
    };
    let Ok(sources) = serde_json::from_slice::<Sources>(&text) else {
        return Ok(false);
    };
    Ok(stamps(&sources.consulted)? == sources.stamps)
}

/// Make a new layer in `dir`: its name, and whether it is settled (no host
/// file it copies changed while it was made, so it may become the current
/// one).
fn make(dir: &Path, caps: &'static dyn FileCaps) -> Result<(String, bool)> {
    let making = dir.join(format!("{MAKING}{}", std::process::id()));
    remove_tree(&making)?;
    fs::create_dir(&making).what(|| format!("mkdir {}", making.display()))?;
    let made = (|| {
        let began = now();
        let mut consulted = Vec::new();
        let owners = Owners { base: None, caps };
        rootfs::host_shared(&making.join("tree"), owners, &mut consulted)?;
        let stamps = stamps(&consulted)?;
        // A file changed within the clock's step of the start may have
        // been copied as it was before the change.
        let settled = stamps.iter().all(|s| s.ctime < began);
        let sources = Sources { consulted, stamps };
        let text = serde_json::to_vec(&sources).map_err(|e| {
            Error::BadData(format!("a host file name the layer cannot record: {e}"))
        })?;
        crate::fsio::write_atomic(&making.join("sources.json"), &text)?;
        let made_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        Ok((
            format!("{PREFIX}{made_ns:x}.{}", std::process::id()),
            settled,
        ))
    })();
    let (name, settled) = match made {
        Ok(m) => m,
        Err(e) => {
            let _ = remove_tree(&making);
            return Err(e);
        }
    };
    if let Err(e) = fs::rename(&making, dir.join(&name)) {
        let _ = remove_tree(&making);
        return Err(Error::at("rename", &making, e));
    }
    Ok((name, settled))
}

/// The time now, a little before (the clock's step: a file's ctime is
/// taken from a coarser clock than this one).
fn now() -> (i64, i64) {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(std::time::Duration::from_millis(50));
    (
        i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
        i64::from(t.subsec_nanos()),
    )
}

/// The status of every consulted path, and of the whole tree below those
/// whose trees count.
fn stamps(consulted: &[Consulted]) -> Result<Vec<Stamp>> {
    let mut out = Vec::new();
    for c in consulted {
        stamp(&c.path, c.whole, 0, &mut out)?;
    }
    Ok(out)
}

fn stamp(path: &Path, whole: bool, depth: usize, out: &mut Vec<Stamp>) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(_) => {
            out.push(Stamp {
                path: path.to_path_buf(),
                kind: 0,
                ino: 0,
                size: 0,
                mtime: (0, 0),
                ctime: (0, 0),
            });
            return Ok(());
        }
    };
    out.push(Stamp {
        path: path.to_path_buf(),
        kind: meta.mode() & FILE_TYPE_BITS,
        ino: meta.ino(),
        size: meta.size(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
    });
    if whole && meta.is_dir() && depth < MAX_DEPTH {
        let mut names: Vec<_> = fs::read_dir(path)
            .what(|| format!("read {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for n in names {
            stamp(&path.join(n), true, depth + 1, out)?;
        }
    }
    Ok(())
}

/// Remove from `dir` the layers other than `keep` that no jail's
/// definition names, and layers left half made by killed creates. The
/// caller holds the layers' lock alone.
fn sweep(paths: &Paths, dir: &Path, keep: &str) -> Result<()> {
    let mut definitions = Vec::new();
    if let Ok(entries) = fs::read_dir(&paths.conf_dir) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "conf") {
                definitions.push(fs::read(e.path()).unwrap_or_default());
            }
        }
    }
    for e in fs::read_dir(dir).what(|| format!("read {}", dir.display()))? {
        let e = e.what(|| format!("read {}", dir.display()))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(MAKING) && !name.ends_with(".link") {
            remove_tree(&e.path())?;
        } else if name.starts_with(PREFIX) && name != keep {
            let tree = e.path().join("tree");
            let named = tree.to_string_lossy();
            if !definitions.iter().any(|d| contains(d, named.as_bytes())) {
                remove_tree(&e.path())?;
            }
        }
    }
    Ok(())
}

/// Whether `text` holds `part`.
fn contains(text: &[u8], part: &[u8]) -> bool {
    text.windows(part.len()).any(|w| w == part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_change_with_a_file_below_a_consulted_tree_and_with_a_new_one() {
        let d = std::env::temp_dir().join(format!("jkit-hostlayer-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("conf.d")).unwrap();
        fs::write(d.join("conf.d/a"), "1").unwrap();
        let consulted = [
            Consulted {
                path: d.join("conf.d"),
                whole: true,
            },
            Consulted {
                path: d.join("absent"),
                whole: false,
            },
        ];
        let before = stamps(&consulted).unwrap();
        assert_eq!(before.len(), 3);
        assert_eq!(stamps(&consulted).unwrap(), before);
        // Rewritten in place: the directory's own status stays.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(d.join("conf.d/a"), "2").unwrap();
        let rewritten = stamps(&consulted).unwrap();
        assert_ne!(rewritten, before);
        assert_eq!(rewritten[0], before[0]);
        fs::write(d.join("absent"), "").unwrap();
        assert_ne!(stamps(&consulted).unwrap(), rewritten);
        fs::remove_dir_all(&d).unwrap();
    }
}
