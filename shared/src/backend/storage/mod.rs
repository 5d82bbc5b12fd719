//! How a jail's files are kept, chosen at create from the filesystem of
//! the jails directory, and its snapshots: a ZFS dataset per jail (where
//! the `zfs` command works and the jails directory is a dataset's mount
//! point), a btrfs subvolume per jail (Linux, with btrfs-progs), else a
//! plain directory whose snapshots are copies sharing the data where the
//! filesystem can (reflinks), full copies otherwise.
//!
//! The unit of storage is a jail's directory (its root, build record and
//! clone layer), or its root alone when it lives elsewhere (`path=`): a
//! snapshot holds the unit as it was. Snapshots other than ZFS's live in
//! the jails directory's `.snapshots/NAME/TAG`, on the same filesystem,
//! each with its facts in `.snapshots/NAME/.TAG.json`.

mod btrfs;
mod copy;
pub mod diff;
pub mod zfs;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{Error, OsContext, Result};

pub use copy::Copied;

/// How a jail's files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A ZFS dataset.
    Zfs,
    /// A btrfs subvolume.
    Btrfs,
    /// A directory.
    Plain,
}

impl Kind {
    /// Its name, as `jkit.storage` records it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Zfs => "zfs",
            Kind::Btrfs => "btrfs",
            Kind::Plain => "plain",
        }
    }

    /// The kind `jkit.storage` names (`None` for another word).
    pub fn parse(word: &str) -> Option<Kind> {
        match word {
            "zfs" => Some(Kind::Zfs),
            "btrfs" => Some(Kind::Btrfs),
            "plain" => Some(Kind::Plain),
            _ => None,
        }
    }

    /// The storage for the jails kept in `dir` (the jails directory): its
    /// filesystem's own when it has snapshots and its command is here.
    pub fn of_dir(dir: &Path) -> Kind {
        if zfs::dataset_at(dir).is_some() {
            Kind::Zfs
        } else if btrfs::is_btrfs(dir) && btrfs::usable() {
            Kind::Btrfs
        } else {
            Kind::Plain
        }
    }
}

/// Make `dir` (not there yet) the directory a new jail's files go in,
/// reached at `home` in the end: a dataset mounted at `home`; a subvolume or
/// directory at `dir`, then renamed to `home`.
pub fn make_jail_dir(kind: Kind, dir: &Path, home: &Path) -> Result<()> {
    match kind {
        Kind::Zfs => return zfs::create(home),
        Kind::Btrfs => btrfs::create(dir)?,
        Kind::Plain => crate::fsio::tree::mkdir(dir, 0o755)?,
    }
    fs::rename(dir, home).what(|| format!("rename {}", dir.display()))
}

/// What a snapshot is and holds, kept beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// When it was taken: nanoseconds since the epoch (orders snapshots).
    pub taken_ns: u128,
    /// `zfs`, `btrfs`, `reflink` or `copy`.
    pub kind: String,
    /// The bytes only it holds, where known when it was taken.
    pub bytes: Option<u64>,
}

/// A jail's storage: its kind, the directory it keeps (`data`), and where
/// its snapshots go.
#[derive(Debug, Clone)]
pub struct Unit {
    /// How the files are kept.
    pub kind: Kind,
    /// The directory a snapshot holds.
    pub data: PathBuf,
    /// The directory of its snapshots (and their facts).
    pub snaps: PathBuf,
}

impl Unit {
    /// The directory snapshot `tag` is read from.
    pub fn snapshot_dir(&self, tag: &str) -> PathBuf {
        match self.kind {
            Kind::Zfs => self.data.join(".zfs/snapshot").join(tag),
            _ => self.snaps.join(tag),
        }
    }

    fn facts_file(&self, tag: &str) -> PathBuf {
        self.snaps.join(format!(".{tag}.json"))
    }

    /// The facts of snapshot `tag`, if it exists.
    pub fn facts(&self, tag: &str) -> Result<Option<Facts>> {
        let file = self.facts_file(tag);
        match fs::read(&file) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::BadData(format!("{}: {e}", file.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::at("read", &file, e)),
        }
    }

    /// Every snapshot, oldest first.
    pub fn list(&self) -> Result<Vec<(String, Facts)>> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(&self.snaps) else {
            return Ok(out);
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(tag) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".json")) {
                if let Some(f) = self.facts(tag)? {
                    out.push((tag.to_string(), f));
                }
            }
        }
        out.sort_by(|a, b| a.1.taken_ns.cmp(&b.1.taken_ns).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Take snapshot `tag` (which must not exist), telling `progress` how
    /// far a full copy has got.
    pub fn snapshot(&self, tag: &str, progress: &mut dyn FnMut(u64, u64)) -> Result<Facts> {
        make_private_dir(&self.snaps)?;
        let taken_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let (kind, bytes) = match self.kind {
            Kind::Zfs => {
                zfs::run(&zfs::snapshot(&zfs::dataset_of(&self.data)?, tag))?;
                ("zfs".to_string(), None)
            }
            Kind::Btrfs => {
                btrfs::snapshot(&self.data, &self.snaps.join(tag), true)?;
                ("btrfs".to_string(), None)
            }
            Kind::Plain => {
                let dest = self.snaps.join(tag);
                match copy::copy_tree(&self.data, &dest, progress) {
                    Ok(c) if c.reflinked => ("reflink".to_string(), None),
                    Ok(c) => ("copy".to_string(), Some(c.bytes)),
                    Err(e) => {
                        let _ = crate::backend::remove::remove_tree(&dest);
                        return Err(e);
                    }
                }
            }
        };
        let facts = Facts {
            taken_ns,
            kind,
            bytes,
        };
        let json = serde_json::to_vec(&facts).map_err(|e| Error::Software(e.to_string()))?;
        if let Err(e) = crate::fsio::write_atomic(&self.facts_file(tag), &json) {
            let _ = self.delete(tag);
            return Err(e);
        }
        Ok(facts)
    }

    /// The bytes only snapshot `tag` holds now, where the storage says.
    pub fn held_alone(&self, tag: &str, facts: &Facts) -> Option<u64> {
        match self.kind {
            Kind::Zfs => zfs::dataset_of(&self.data)
                .ok()
                .and_then(|ds| zfs::used(&ds, tag)),
            _ => facts.bytes,
        }
    }

    /// Delete snapshot `tag` (its facts last: a snapshot half deleted is
    /// still listed, and deleted again).
    pub fn delete(&self, tag: &str) -> Result<()> {
        match self.kind {
            Kind::Zfs => {
                let ds = zfs::dataset_of(&self.data)?;
                if zfs::has_snapshot(&ds, tag) {
                    zfs::run(&zfs::destroy_snapshot(&ds, tag))?;
                }
            }
            Kind::Btrfs if self.snaps.join(tag).exists() => {
                btrfs::delete(&self.snaps.join(tag))?;
            }
            _ => crate::backend::remove::remove_tree(&self.snaps.join(tag))?,
        }
        match fs::remove_file(self.facts_file(tag)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::at("remove", &self.facts_file(tag), e)),
        }
    }

    /// Put the files back as snapshot `tag` holds them (no newer snapshot
    /// may be left), by way of `spare`, a free name beside `data`.
    pub fn rollback(
        &self,
        tag: &str,
        spare: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        let snap = self.snaps.join(tag);
        match self.kind {
            Kind::Zfs => return zfs::run(&zfs::rollback(&zfs::dataset_of(&self.data)?, tag)),
            Kind::Btrfs => btrfs::snapshot(&snap, spare, false)?,
            Kind::Plain => {
                if let Err(e) = copy::copy_tree(&snap, spare, progress) {
                    let _ = crate::backend::remove::remove_tree(spare);
                    return Err(e);
                }
            }
        }
        // The copy takes the data's place at once; the old files go after.
        if let Err(e) = exchange(spare, &self.data) {
            let _ = self.remove_data(spare);
            return Err(e);
        }
        self.remove_data(spare)
    }

    /// Remove a directory this storage made for the data (`data` itself,
    /// or a rollback's spare).
    fn remove_data(&self, dir: &Path) -> Result<()> {
        match self.kind {
            Kind::Btrfs if dir.exists() => {
                crate::backend::remove::unmount_all_under(dir)?;
                btrfs::delete(dir)
            }
            _ => crate::backend::remove::remove_tree(dir),
        }
    }

    /// Remove every snapshot, then the data's own dataset or subvolume
    /// (a plain directory is left to the caller's removal).
    pub fn destroy(&self) -> Result<()> {
        for (tag, _) in self.list()? {
            self.delete(&tag)?;
        }
        // Snapshots whose facts a kill lost.
        if self.kind != Kind::Zfs {
            if let Ok(entries) = fs::read_dir(&self.snaps) {
                for e in entries.flatten() {
                    let tag = e.file_name().to_string_lossy().into_owned();
                    if !tag.starts_with('.') {
                        self.delete(&tag)?;
                    }
                }
            }
        }
        crate::backend::remove::remove_tree(&self.snaps)?;
        match self.kind {
            Kind::Zfs => match zfs::dataset_at(&self.data) {
                Some(ds) => zfs::run(&zfs::destroy_all(&ds)),
                None => Ok(()),
            },
            Kind::Btrfs if btrfs::is_subvolume(&self.data) => self.remove_data(&self.data),
            _ => Ok(()),
        }
    }
}

/// Make `dir` and its parents, `dir` itself private to the host's root.
fn make_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .what(|| format!("mkdir {}", dir.display()))
}

/// Swap the directories `a` and `b` at once where the platform can (Linux's
/// renameat2 RENAME_EXCHANGE), else by two renames.
fn exchange(a: &Path, b: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
        match renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) => {}
            Err(e) => return Err(Error::at("exchange", b, e)),
        }
    }
    let aside = a.with_extension("aside");
    fs::rename(b, &aside).what(|| format!("rename {}", b.display()))?;
    if let Err(e) = fs::rename(a, b) {
        let _ = fs::rename(&aside, b);
        return Err(Error::at("rename", a, e));
    }
    fs::rename(&aside, a).what(|| format!("rename {}", aside.display()))
}

/// Run `argv` (a storage command), its error output the error's text.
fn run_command(argv: &[String]) -> Result<String> {
    let (cmd, args) = argv
        .split_first()
        .ok_or_else(|| Error::Software("an empty command".into()))?;
    let out = Command::new(cmd).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Unavailable(format!("{cmd}: command not found"))
        } else {
            Error::os(format!("run {cmd}"), e)
        }
    })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("failed");
    let code = if text.contains("No space left") || text.contains("out of space") {
        Error::TempFail
    } else {
        Error::Software
    };
    Err(code(format!(
        "{}: {}",
        argv[..2.min(argv.len())].join(" "),
        first.trim()
    )))
}
