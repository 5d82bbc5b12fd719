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
    /// cleans what an interrupted create or start left.
    pub fn destroy(&self, name: &str, force: bool) -> Result<()> {
        name::validate(name)?;
        let _lock = JailLock::acquire(&self.paths, name)?;
        let conf = self.paths.jail_conf(name);
        let def = if conf.exists() {
            Some(self.definition(name)?)
        } else {
            None
        };
        let jail_dir = self.paths.jail_dir(name);
        let record = read_record(&self.paths, name)?;
        let leftovers = fs::symlink_metadata(&jail_dir).is_ok()
            || fs::symlink_metadata(self.paths.run_jail_dir(name)).is_ok()
            || !passing_dirs(&self.paths, name).is_empty();
        if def.is_none() && !leftovers {
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
        if self.running(name)?.is_some() {
            if !force {
                return Err(Error::TempFail(format!(
                    "jail \"{name}\" is running (stop it first, or use -f)"
                )));
            }
            let stop_def = def.clone().unwrap_or_else(|| Jail {
                name: name.to_string(),
                jid: None,
                state: State::Stopped,
                params: Params::new(),
            });
            self.stop_locked(name, &stop_def)?;
        }
        if self.paths.rdr_file(name).exists() {
            // What a jail removed behind jmk's back may still forward.
            self.backend
                .redirect(name, &crate::model::rdr::Targets::default(), &[])?;
        }
        self.backend.clean(name, def.as_ref())?;
        self.destroy_storage(name, def.as_ref(), record.as_ref())?;
        self.remove_files(name, record.as_ref())?;
        self.backend.release_id_range(name)?;
        crate::rctl::store::forget(&self.paths, name)?;
        self.backend.racct().forget_jail(name);
        remove_if_present(&self.paths.tags_file(name))?;
        remove_if_present(&self.paths.rdr_file(name))?;
        remove_if_present(&conf)
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
                if let Some(r) = read_record(&self.paths, &name)? {
                    out.push((name, r));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn clones_of(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .build_records()?
            .into_iter()
            .filter(|(_, r)| r.clone_of.as_deref() == Some(name))
            .map(|(n, _)| n)
            .collect())
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
