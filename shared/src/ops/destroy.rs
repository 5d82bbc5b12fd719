//! `jmk destroy`: stop a jail if asked, then remove exactly what `create`
//! made, never through a mount; refused while the jail runs (without
//! force) or has clones.

use std::fs;
use std::path::PathBuf;

use super::record::{BuildRecord, read_record};
use super::{Jkit, remove_if_present};
use crate::error::{Error, Result};
use crate::lock::JailLock;
use crate::model::{Jail, Params, State, name};
use crate::paths::Paths;

/// What an interrupted create left of jail `name` under a passing name.
fn passing_dirs(paths: &Paths, name: &str) -> Vec<PathBuf> {
    let prefix = Paths::passing_prefix(name);
    let Ok(entries) = fs::read_dir(paths.jails_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.strip_prefix(&prefix)
                    .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            })
        })
        .map(|e| e.path())
        .collect()
}

impl Jkit {
    /// Destroy jail `name`: its definition, its root and everything jmk
    /// made for it. A running jail is refused unless `force`, which stops
    /// it first; a jail with clones is refused, even with `force`. Also
    /// cleans what an interrupted create, start or destroy left. The
    /// definition goes first once the jail is stopped: a destroy killed
    /// after that leaves no definition that cannot start, only files the
    /// next `jmk destroy` (or `jmk create`) of the name removes. A broken
    /// file of the jail's does not stop it: the error says what is left.
    pub fn destroy(&self, name: &str, force: bool) -> Result<()> {
        name::validate(name)?;
        let lock = JailLock::acquire(&self.paths, name)?;
        let conf = self.paths.jail_conf(name);
        let (def, broken_def) = match conf.exists().then(|| self.definition(name)) {
            None => (None, None),
            Some(Ok(def)) => (Some(def), None),
            Some(Err(e)) => (None, Some(e)),
        };
        let (record, broken_record) = match read_record(&self.paths, name) {
            Ok(r) => (r, None),
            Err(e @ Error::BadData(_)) => (None, Some(e)),
            Err(e) => return Err(e),
        };
        if def.is_none() && broken_def.is_none() && !self.leftovers(name) {
            lock.remove_file();
            return Err(Error::NotFound(format!("jail \"{name}\" not found")));
        }
        // Refused before anything is done (a running jail is not stopped):
        // its clones are built on its root.
        let clones = self.clones_of(name)?;
        if !clones.is_empty() {
            return Err(Error::TempFail(format!(
                "jail \"{name}\" has clones ({}): destroy them first",
                clones.join(", ")
            )));
        }
        match self.running(name) {
            Ok(None) => {}
            Ok(Some(_)) | Err(Error::BadData(_)) if !force => {
                return Err(Error::TempFail(format!(
                    "jail \"{name}\" is running (stop it first, or use -f)"
                )));
            }
            Ok(Some(_)) => {
                let stop_def = def.clone().unwrap_or_else(|| Jail {
                    name: name.to_string(),
                    jid: None,
                    state: State::Stopped,
                    params: Params::new(),
                });
                self.stop_locked(name, &stop_def)?;
            }
            // Its state is unreadable: the clean below ends it.
            Err(Error::BadData(_)) => {}
            Err(e) => return Err(e),
        }
        remove_if_present(&conf)?;
        if self.paths.rdr_file(name).exists() {
            // What a jail removed behind jmk's back may still forward.
            self.backend
                .redirect(name, &crate::model::rdr::Targets::default(), &[])?;
        }
        self.backend.clean(name, def.as_ref())?;
        self.destroy_storage(name, def.as_ref(), record.as_ref())?;
        self.remove_files(name, record.as_ref())?;
        if let Some(src) = record.as_ref().and_then(|r| r.clone_of.as_deref()) {
            super::clones::forget(&self.paths, src, name);
        }
        let base = def.as_ref().and_then(|d| d.params.int("jkit.idbase"));
        self.backend
            .release_id_range(name, base.and_then(|b| u32::try_from(b).ok()))?;
        crate::rctl::store::forget(&self.paths, name)?;
        crate::rctl::store::lock(&self.paths, name)?.remove_file();
        self.backend.racct().forget_jail(name);
        remove_if_present(&self.paths.tags_file(name))?;
        remove_if_present(&self.paths.rdr_file(name))?;
        for temp in crate::fsio::stale_temps(&conf) {
            remove_if_present(&temp)?;
        }
        lock.remove_file();
        if let Some(e) = broken_record {
            return Err(Error::BadData(format!(
                "{e} (the jail is destroyed; a root it had outside {} is left)",
                self.paths.jail_dir(name).display()
            )));
        }
        match broken_def {
            None => Ok(()),
            Some(e) => Err(Error::BadData(format!(
                "{e} (the jail is destroyed without its definition's hooks and mounts)"
            ))),
        }
    }

    /// Whether files of jail `name` are there without its definition: what
    /// a killed create, start or destroy left.
    fn leftovers(&self, name: &str) -> bool {
        let there = |p: PathBuf| fs::symlink_metadata(p).is_ok();
        there(self.paths.jail_dir(name))
            || there(self.paths.run_jail_dir(name))
            || there(self.paths.rctl_file(name))
            || there(self.paths.rdr_file(name))
            || there(self.paths.tags_file(name))
            || !passing_dirs(&self.paths, name).is_empty()
            || !crate::fsio::stale_temps(&self.paths.jail_conf(name)).is_empty()
    }

    /// Remove the root (if jmk built it outside the jail's directory) and
    /// the jail's directory, never through a mount.
    pub(super) fn remove_files(&self, name: &str, record: Option<&BuildRecord>) -> Result<()> {
        let jail_dir = self.paths.jail_dir(name);
        if let Some(r) = record {
            if !r.root.starts_with(&jail_dir) {
                crate::backend::remove::remove_tree(&r.root)?;
            }
        }
        for passing in passing_dirs(&self.paths, name) {
            crate::backend::remove::remove_tree(&passing)?;
        }
        crate::backend::remove::remove_tree(&jail_dir)
    }

    pub(super) fn build_records(&self) -> Result<Vec<(String, BuildRecord)>> {
        let dir = self.paths.jails_dir();
        let mut out = Vec::new();
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // Another jail's broken record is its own jail's error.
                if let Ok(Some(r)) = read_record(&self.paths, &name) {
                    out.push((name, r));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The defined clones of jail `name`: a clone that a failed or killed
    /// `jmk clone` left without a definition has never mounted its
    /// source's root, and does not hold it.
    fn clones_of(&self, name: &str) -> Result<Vec<String>> {
        Ok(
            super::clones::of(&self.paths, name, || self.build_records())?
                .into_iter()
                .map(|(n, _)| n)
                .filter(|n| self.paths.jail_conf(n).exists())
                .collect(),
        )
    }

    /// The jails built from release `release`.
    pub fn users_of_release(&self, release: &str) -> Result<Vec<String>> {
        Ok(self
            .build_records()?
            .into_iter()
            .filter(|(_, r)| r.release.as_deref() == Some(release))
            .map(|(n, _)| n)
            .collect())
    }
}
