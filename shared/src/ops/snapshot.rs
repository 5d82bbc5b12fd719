//! `jmk snapshot`, `rollback`, `clone NAME@TAG` and `diff`: a jail's files
//! as they were at a moment, kept by its storage (see
//! [`crate::backend::storage`]), under the jail's lock.

use std::path::{Path, PathBuf};

use super::Jkit;
use super::record::{BuildRecord, read_record};
use crate::backend::storage::{self, Kind, Unit};
use crate::error::{Error, Result};
use crate::lock::JailLock;
use crate::model::{Jail, name};
use crate::paths::Paths;
use crate::wire::{DiffRecord, SnapshotRecord};

/// The storage of a new jail whose root is `root`: its filesystem's when
/// the root is in the jail's directory (the unit a snapshot holds), else
/// plain.
pub(super) fn storage_for(paths: &Paths, root: &Path) -> Kind {
    let jails = paths.jails_dir();
    if root.parent().and_then(Path::parent) == Some(jails.as_path()) {
        if jails.exists() {
            return Kind::of_dir(&jails);
        }
        // Where the jails directory will be made: a ZFS jail needs the
        // directory to be a dataset's mount point, a btrfs one only btrfs.
        match jails.ancestors().find(|d| d.exists()).map(Kind::of_dir) {
            Some(Kind::Btrfs) => Kind::Btrfs,
            _ => Kind::Plain,
        }
    } else {
        Kind::Plain
    }
}

/// `NAME@TAG` split; the tag is `None` without an `@`.
pub fn split_ref(arg: &str) -> Result<(&str, Option<&str>)> {
    let (jail, tag) = match arg.split_once('@') {
        Some((j, t)) => (j, Some(t)),
        None => (arg, None),
    };
    name::validate(jail)?;
    if let Some(t) = tag {
        validate_tag(t)?;
    }
    Ok((jail, tag))
}

/// Refuse a tag that is not 1 to 64 of `A-Z a-z 0-9 _ . : -`, starting
/// with neither `.` nor `-` (ZFS's snapshot names, and safe as a file name).
pub fn validate_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{tag:?}: a snapshot tag is 1 to 64 of A-Z a-z 0-9 _ . : - (not first . or -)"
        )))
    }
}

/// The UTC time `ns` nanoseconds after the epoch, RFC 3339 with
/// milliseconds (`2026-12-06T09:30:00.123Z`).
pub fn utc(ns: u128) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let ms = (ns / 1_000_000 % 1000) as u32;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// What a jail's snapshots are made of: its storage, and where its
/// files are within a snapshot.
pub(super) struct Kept {
    pub(super) unit: Unit,
    /// The jail's own files within the unit (its root; a layered root's
    /// private layer: a clone's, a thin jail's on a release).
    files: PathBuf,
    /// The layers below those files (a layered root's), top first.
    lowers: Vec<PathBuf>,
}

/// A jail's snapshot as a clone reads it: the directory the jail's
/// storage keeps, and the snapshot's copy of it.
pub(super) struct Frozen {
    data: PathBuf,
    snap: PathBuf,
}

impl Frozen {
    /// Where the snapshot holds `path` (a path in the jail's storage).
    pub(super) fn path(&self, path: &Path) -> Result<PathBuf> {
        match path.strip_prefix(&self.data) {
            Ok(rel) => Ok(self.snap.join(rel)),
            Err(_) => Err(Error::Unavailable(format!(
                "{}: outside the jail's storage {}, no snapshot holds it",
                path.display(),
                self.data.display()
            ))),
        }
    }
}

impl Jkit {
    /// The storage of jail `name` (defined as `def`, built as `record`).
    pub(super) fn kept(
        &self,
        name: &str,
        def: &Jail,
        record: Option<&BuildRecord>,
    ) -> Result<Kept> {
        let record = record.ok_or_else(|| {
            Error::Unavailable(format!(
                "jail \"{name}\" was not built by jmk: it has no storage of jmk's to snapshot"
            ))
        })?;
        let kind = def
            .params
            .str("jkit.storage")
            .and_then(Kind::parse)
            .unwrap_or(Kind::Plain);
        let jail_dir = self.paths.jail_dir(name);
        let (data, root) = match record.root.strip_prefix(&jail_dir) {
            Ok(rel) => (jail_dir.clone(), rel.to_path_buf()),
            Err(_) => (record.root.clone(), PathBuf::new()),
        };
        // A layered root's own files are its overlay's private layer (the
        // root on the host is where the layers are mounted).
        let planned = crate::backend::mounts::planned(def, &record.root)?;
        let layers = crate::backend::mounts::root_layer(&planned, &record.root)
            .and_then(crate::backend::mounts::MountEntry::overlay_layers);
        let lowers = layers.clone().map(|l| l.0).unwrap_or_default();
        let files = match layers {
            Some((_, Some(upper))) => upper
                .strip_prefix(&data)
                .map_err(|_| {
                    Error::Unavailable(format!(
                        "jail \"{name}\": its private layer {} is outside its storage {}",
                        upper.display(),
                        data.display()
                    ))
                })?
                .to_path_buf(),
            _ => root,
        };
        Ok(Kept {
            unit: Unit {
                kind,
                data,
                snaps: self.paths.snapshots_dir(name),
            },
            files,
            lowers,
        })
    }

    fn kept_of(&self, name: &str) -> Result<(Jail, Kept)> {
        let def = self.definition(name)?;
        let record = read_record(&self.paths, name)?;
        let kept = self.kept(name, &def, record.as_ref())?;
        Ok((def, kept))
    }

    /// Remove the snapshots of jail `name` and what its storage holds of
    /// it (a dataset or subvolume; a plain directory is the caller's).
    pub(super) fn destroy_storage(
        &self,
        name: &str,
        def: Option<&Jail>,
        record: Option<&BuildRecord>,
    ) -> Result<()> {
        let (Some(def), Some(_)) = (def, record) else {
            // Snapshots are taken of defined jails only.
            return storage::Unit {
                kind: Kind::Plain,
                data: self.paths.jail_dir(name),
                snaps: self.paths.snapshots_dir(name),
            }
            .destroy();
        };
        self.kept(name, def, record)?.unit.destroy()
    }

    /// Jail `name`'s snapshot `tag`, for a clone's lower layers.
    pub(super) fn frozen(
        &self,
        name: &str,
        def: &Jail,
        record: Option<&BuildRecord>,
        tag: &str,
    ) -> Result<Frozen> {
        let kept = self.kept(name, def, record)?;
        self.facts_of(name, &kept, tag)?;
        Ok(Frozen {
            snap: kept.unit.snapshot_dir(tag),
            data: kept.unit.data,
        })
    }

    pub(super) fn facts_of(&self, name: &str, kept: &Kept, tag: &str) -> Result<storage::Facts> {
        kept.unit
            .facts(tag)?
            .ok_or_else(|| Error::NotFound(format!("snapshot {name}@{tag} not found")))
    }

    fn record_of(
        &self,
        name: &str,
        kept: &Kept,
        tag: &str,
        facts: &storage::Facts,
    ) -> SnapshotRecord {
        SnapshotRecord {
            jail: name.to_string(),
            tag: tag.to_string(),
            created: utc(facts.taken_ns),
            kind: facts.kind.clone(),
            bytes: kept.unit.held_alone(tag, facts),
        }
    }

    /// Take snapshot `tag` of jail `name` (a UTC timestamp when `None`),
    /// telling `progress` (done, total bytes) how far a full copy has got.
    pub fn snapshot(
        &self,
        name: &str,
        tag: Option<&str>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<SnapshotRecord> {
        name::validate(name)?;
        let _lock = JailLock::acquire(&self.paths, name)?;
        let (_, kept) = self.kept_of(name)?;
        let stamp;
        let tag = match tag {
            Some(t) => t,
            None => {
                stamp = utc(now_ns()).replace(['-', ':'], "");
                &stamp
            }
        };
        validate_tag(tag)?;
        if kept.unit.facts(tag)?.is_some() || kept.unit.snapshot_dir(tag).exists() {
            return Err(Error::Exists(format!(
                "snapshot {name}@{tag} already exists"
            )));
        }
        let facts = kept.unit.snapshot(tag, progress)?;
        Ok(self.record_of(name, &kept, tag, &facts))
    }

    /// The snapshots of jail `name`, or of every jail, oldest first.
    pub fn snapshots(&self, name: Option<&str>) -> Result<Vec<SnapshotRecord>> {
        let names = match name {
            Some(n) => {
                name::validate(n)?;
                vec![n.to_string()]
            }
            // A jail whose definition is broken is left out (its own
            // listing names the file): the others are listed.
            None => self.definitions().0.into_iter().map(|j| j.name).collect(),
        };
        let mut out = Vec::new();
        for n in names {
            let def = self.definition(&n)?;
            let record = read_record(&self.paths, &n)?;
            if record.is_none() && name.is_none() {
                continue;
            }
            let kept = self.kept(&n, &def, record.as_ref())?;
            for (tag, facts) in kept.unit.list()? {
                out.push(self.record_of(&n, &kept, &tag, &facts));
            }
        }
        Ok(out)
    }

    /// The clones of jail `name`'s snapshot `tag`.
    fn clones_of_snapshot(&self, name: &str, tag: &str) -> Result<Vec<String>> {
        Ok(
            super::clones::of(&self.paths, name, || self.build_records())?
                .into_iter()
                .filter(|(_, r)| r.snapshot.as_deref() == Some(tag))
                .map(|(n, _)| n)
                .collect(),
        )
    }

    fn refuse_clones(&self, name: &str, tag: &str) -> Result<()> {
        let clones = self.clones_of_snapshot(name, tag)?;
        if clones.is_empty() {
            return Ok(());
        }
        Err(Error::TempFail(format!(
            "snapshot {name}@{tag} has clones ({}): destroy them first",
            clones.join(", ")
        )))
    }

    /// Delete jail `name`'s snapshot `tag` (refused while clones use it).
    pub fn delete_snapshot(&self, name: &str, tag: &str) -> Result<()> {
        name::validate(name)?;
        validate_tag(tag)?;
        let _lock = JailLock::acquire(&self.paths, name)?;
        let (_, kept) = self.kept_of(name)?;
        self.facts_of(name, &kept, tag)?;
        self.refuse_clones(name, tag)?;
        kept.unit.delete(tag)
    }

    /// Put jail `name`'s files back as its snapshot `tag` holds them. A
    /// running jail is refused unless `force` (stopped, rolled back and
    /// started again); newer snapshots are refused unless `recursive`
    /// (destroyed first, as `zfs rollback -r`).
    pub fn rollback(
        &self,
        name: &str,
        tag: &str,
        (force, recursive): (bool, bool),
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        name::validate(name)?;
        validate_tag(tag)?;
        let was_running = {
            let _lock = JailLock::acquire(&self.paths, name)?;
            let (def, kept) = self.kept_of(name)?;
            let facts = self.facts_of(name, &kept, tag)?;
            let newer: Vec<String> = kept
                .unit
                .list()?
                .into_iter()
                .filter(|(t, f)| t != tag && f.taken_ns >= facts.taken_ns)
                .map(|(t, _)| t)
                .collect();
            if !newer.is_empty() && !recursive {
                return Err(Error::TempFail(format!(
                    "{name}@{tag} is not the latest snapshot ({} newer: {}): use -r to destroy them",
                    newer.len(),
                    newer.join(", ")
                )));
            }
            for t in &newer {
                self.refuse_clones(name, t)?;
            }
            // A clone of the jail as it is has the jail's files as its
            // lower layer: a rollback would change them under it.
            let live = super::clones::of(&self.paths, name, || self.build_records())?
                .into_iter()
                .filter(|(_, r)| r.snapshot.is_none())
                .map(|(n, _)| n)
                .collect::<Vec<_>>();
            if !live.is_empty() {
                return Err(Error::TempFail(format!(
                    "jail \"{name}\" has clones of its files as they are ({}): destroy them first",
                    live.join(", ")
                )));
            }
            let running = self.running(name)?.is_some();
            if running && !force {
                return Err(Error::TempFail(format!(
                    "jail \"{name}\" is running (use -f to stop it, roll back and start it again)"
                )));
            }
            if running {
                self.stop_locked(name, &def)?;
            }
            for t in &newer {
                kept.unit.delete(t)?;
            }
            let spare = match kept.unit.data == self.paths.jail_dir(name) {
                true => self.paths.passing_jail_dir(name, std::process::id()),
                false => kept.unit.data.with_file_name(format!(
                    ".{}.rollback",
                    kept.unit
                        .data
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                )),
            };
            crate::backend::remove::remove_tree(&spare)?;
            kept.unit.rollback(tag, &spare, progress)?;
            running
        };
        if was_running {
            self.start(name)?;
        }
        Ok(())
    }

    /// Make jail `new` a copy-on-write clone of jail `name`'s snapshot `tag`.
    pub fn clone_snapshot(&self, name: &str, tag: &str, new: &str) -> Result<Jail> {
        validate_tag(tag)?;
        self.clone_from(name, Some(tag), new)
    }

    /// What changed in jail `name` from its snapshot `from` (its latest
    /// when `None`) to its snapshot `to` (its files now when `None`).
    pub fn diff(
        &self,
        name: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<DiffRecord>> {
        name::validate(name)?;
        let _lock = JailLock::acquire(&self.paths, name)?;
        let (_, kept) = self.kept_of(name)?;
        let from = match from {
            Some(t) => t.to_string(),
            None => kept
                .unit
                .list()?
                .pop()
                .map(|(t, _)| t)
                .ok_or_else(|| Error::NotFound(format!("jail \"{name}\" has no snapshot")))?,
        };
        self.facts_of(name, &kept, &from)?;
        if let Some(t) = to {
            self.facts_of(name, &kept, t)?;
        }
        let record = |(letter, path, to): (String, String, Option<String>)| DiffRecord {
            jail: name.to_string(),
            change: letter,
            path,
            to,
        };
        let old = kept.unit.snapshot_dir(&from).join(&kept.files);
        let new = match to {
            Some(t) => kept.unit.snapshot_dir(t).join(&kept.files),
            None => kept.unit.data.join(&kept.files),
        };
        let mut changes = if kept.unit.kind == Kind::Zfs {
            let ds = storage::zfs::dataset_of(&kept.unit.data)?;
            let argv = storage::zfs::diff(&ds, &from, to);
            let out = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .output()
                .map_err(|e| Error::os("run zfs diff", e))?;
            if !out.status.success() {
                return Err(Error::Software(format!(
                    "zfs diff: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            let top = kept.unit.data.join(&kept.files);
            let text = String::from_utf8_lossy(&out.stdout);
            let whiteout = |dir: &Path, path: &str| {
                storage::diff::is_whiteout_at(&dir.join(path.trim_start_matches('/')))
            };
            storage::zfs::parse_diff(&text, &top)
                .into_iter()
                .map(|(letter, path, to)| storage::diff::Change {
                    whiteout: (whiteout(&old, &path), whiteout(&new, &path)),
                    letter: letter.chars().next().unwrap_or('M'),
                    path,
                    to,
                })
                .collect()
        } else {
            storage::diff::trees(&old, &new, kept.unit.kind == Kind::Btrfs)?
        };
        if !kept.lowers.is_empty() {
            let lowers = kept
                .lowers
                .iter()
                .map(|l| crate::fsio::beneath::Root::open(l))
                .collect::<Result<Vec<_>>>()?;
            changes = storage::diff::through_layers(changes, &mut |path| {
                let rel = Path::new(path.trim_start_matches('/'));
                for l in &lowers {
                    if l.kind(rel)?.is_some() {
                        return Ok(true);
                    }
                }
                Ok(false)
            })?;
        }
        Ok(changes
            .into_iter()
            .map(|c| record((c.letter.to_string(), c.path, c.to)))
            .collect())
    }
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_times() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_796_549_400_123_000_000), "2026-12-06T09:30:00.123Z");
        assert_eq!(utc(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
        assert!(validate_tag("before-upgrade_1.2:x").is_ok());
        for bad in ["", ".x", "-x", "a/b", "a@b", &"x".repeat(65)] {
            assert_eq!(validate_tag(bad).unwrap_err().exit_code(), 64, "{bad}");
        }
        assert_eq!(split_ref("web@t1").unwrap(), ("web", Some("t1")));
        assert_eq!(split_ref("web").unwrap(), ("web", None));
        assert!(split_ref("web@").is_err());
    }
}
