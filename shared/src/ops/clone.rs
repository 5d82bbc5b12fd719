//! `jmk clone`: a new jail whose root is a copy-on-write layer (or a copy)
//! of another jail's.

use std::fs;
use std::path::{Path, PathBuf};

use super::record::{BuildRecord, read_record, write_record};
use super::snapshot::Frozen;
use super::{Jkit, Layout, write_definition};
use crate::backend::mounts::MountEntry;
use crate::backend::{self, storage};
use crate::error::{Error, OsContext, Result};
use crate::lock::JailLock;
use crate::model::{Jail, State, Value, name};

impl Jkit {
    /// Make jail `new` a copy-on-write clone of jail `src`: an overlay on
    /// Linux (lower: the source's root), a ZFS clone on FreeBSD where the
    /// source lives on ZFS, else a copy.
    pub fn clone_jail(&self, src: &str, new: &str) -> Result<Jail> {
        self.clone_from(src, None, new)
    }

    /// Make jail `new` a copy-on-write clone of jail `src` as it is, or
    /// as its snapshot `tag` holds it (an overlay whose lower layers are
    /// the snapshot's root, or the snapshot's private layer of a layered
    /// source over the source's lower layers).
    pub(super) fn clone_from(&self, src: &str, tag: Option<&str>, new: &str) -> Result<Jail> {
        name::validate(new)?;
        let src_def = self.definition(src)?;
        // Lock both, in name order, so two clones cannot deadlock.
        let (first, second) = if src < new { (src, new) } else { (new, src) };
        let l1 = JailLock::acquire(&self.paths, first)?;
        let l2 = JailLock::acquire(&self.paths, second)?;
        let conf = self.paths.jail_conf(new);
        let jail_dir = self.paths.jail_dir(new);
        if conf.exists() {
            return Err(Error::Exists(format!("jail \"{new}\" already exists")));
        }
        self.remove_killed_create(new)?;
        if fs::symlink_metadata(&jail_dir).is_ok() {
            return Err(Error::Exists(format!(
                "{} already exists",
                jail_dir.display()
            )));
        }
        let src_root = backend::root_of(&src_def)?;
        let src_record = read_record(&self.paths, src)?;
        let frozen = match tag {
            Some(tag) => Some(self.frozen(src, &src_def, src_record.as_ref(), tag)?),
            None => None,
        };
        let root = self.paths.jail_root(new);
        let storage = super::snapshot::storage_for(&self.paths, &root);
        let passing = self.paths.passing_jail_dir(new, std::process::id());
        crate::backend::remove::remove_tree(&passing)?;
        storage::make_jail_dir(storage, &passing, &jail_dir)?;
        let record = BuildRecord {
            root: root.clone(),
            layout: Layout::Clone,
            release: src_record.and_then(|r| r.release),
            clone_of: Some(src.to_string()),
            snapshot: tag.map(str::to_string),
        };
        let made = super::clones::note(&self.paths, src, new)
            .and_then(|()| write_record(&self.paths, new, &record))
            .and_then(|_| {
                let mut def = self.clone_root(
                    &src_def,
                    (&src_root, frozen.as_ref()),
                    new,
                    &root,
                    &jail_dir,
                )?;
                def.params
                    .set("jkit.storage", Value::Str(storage.name().into()));
                Ok(def)
            });
        let new_lock = if first == new { l1 } else { l2 };
        match made.and_then(|def| write_definition(&conf, &def).map(|()| def)) {
            Ok(def) => Ok(def),
            Err(e) => {
                let _ = self.destroy_storage(new, None, Some(&record));
                super::clones::forget(&self.paths, src, new);
                Err(self.undo_create(new, &record, new_lock, e))
            }
        }
    }

    fn clone_root(
        &self,
        src_def: &Jail,
        (src_root, frozen): (&Path, Option<&Frozen>),
        new: &str,
        root: &Path,
        jail_dir: &Path,
    ) -> Result<Jail> {
        let rebase = |m: MountEntry| -> MountEntry {
            let target = match m.target.strip_prefix(src_root) {
                Ok(rel) => root.join(rel),
                Err(_) => m.target.clone(),
            };
            MountEntry { target, ..m }
        };
        let mut params = src_def.params.clone();
        // A range of its own: never the source's.
        params.remove("jkit.idbase");
        let ids = self.backend.claim_id_range(new, &params)?;
        if let Some(base) = ids {
            params.set("jkit.idbase", Value::Int(i64::from(base)));
        }
        let mut mounts: Vec<String> = Vec::new();
        // A layered source's files are its layers (its root on the host
        // is only where they are mounted): the clone goes over them, its
        // private layer as the snapshot holds it when cloning one.
        let planned = backend::mounts::planned(src_def, src_root)?;
        let src_layer = backend::mounts::root_layer(&planned, src_root);
        let copy_on_write = match src_layer.and_then(MountEntry::overlay_layers) {
            Some((lowers, upper)) => {
                let upper = match (upper, frozen) {
                    (Some(u), Some(f)) => Some(f.path(&u)?),
                    (upper, _) => upper,
                };
                let below: Vec<PathBuf> = upper.into_iter().chain(lowers).collect();
                Some(
                    self.backend
                        .layered_root(&below, root, jail_dir, ids, backend::OwnLayer::Beside)?
                        .ok_or_else(|| {
                            Error::Software("a layered root on a platform without layers".into())
                        })?,
                )
            }
            None => {
                let lower = match frozen {
                    Some(f) => f.path(src_root)?,
                    None => src_root.to_path_buf(),
                };
                self.backend.clone_storage(&lower, root, jail_dir, ids)?
            }
        };
        if let Some(entry) = copy_on_write {
            mounts.push(entry.to_line());
        }
        let not_layer = |m: &MountEntry| Some(m) != src_layer;
        for line in src_def.params.list("mount") {
            if let Some(m) = MountEntry::parse(line)?.filter(not_layer) {
                mounts.push(rebase(m).to_line());
            }
        }
        params.set("mount", Value::List(mounts));
        if params
            .get("mount")
            .and_then(Value::as_list)
            .is_some_and(<[String]>::is_empty)
        {
            params.remove("mount");
        }
        let mut fstab_text = String::new();
        for file in src_def.params.list("mount.fstab") {
            let text = fs::read_to_string(file).what(|| format!("read {file}"))?;
            for line in text.lines() {
                if let Some(m) = MountEntry::parse(line)?.filter(not_layer) {
                    fstab_text.push_str(&(rebase(m).to_line() + "\n"));
                }
            }
        }
        if src_def.params.get("mount.fstab").is_some() {
            let file = self.paths.jail_fstab(new);
            crate::fsio::write_atomic(&file, fstab_text.as_bytes())?;
            params.set(
                "mount.fstab",
                Value::List(vec![file.to_string_lossy().into_owned()]),
            );
        }
        params.set("name", Value::Str(new.to_string()));
        params.set("path", Value::Str(root.to_string_lossy().into_owned()));
        if params.str("host.hostname") == Some(src_def.name.as_str()) {
            params.set("host.hostname", Value::Str(new.to_string()));
        }
        Ok(Jail {
            name: new.to_string(),
            jid: None,
            state: State::Stopped,
            params,
        })
    }
}
