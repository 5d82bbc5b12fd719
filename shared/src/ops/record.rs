//! The build record: what jmk made for a jail, kept beside its definition
//! so that `destroy` removes exactly that.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Layout;
use crate::error::{Error, Result};
use crate::paths::Paths;

/// What jmk records of a jail it built, beside its definition, so that
/// `destroy` removes exactly what `create` made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// The jail's root.
    pub root: PathBuf,
    /// How it was built.
    pub layout: Layout,
    /// The release it was built from.
    pub release: Option<String>,
    /// The jail it is a clone of.
    pub clone_of: Option<String>,
    /// The snapshot of that jail it is a clone of, if it is one of a
    /// snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

pub(super) fn write_record(paths: &Paths, name: &str, r: &BuildRecord) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(r).map_err(|e| Error::Software(e.to_string()))?;
    crate::fsio::write_atomic(&paths.build_record_file(name), &bytes)
}

pub(super) fn read_record(paths: &Paths, name: &str) -> Result<Option<BuildRecord>> {
    let f = paths.build_record_file(name);
    match fs::read(&f) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::BadData(format!("{}: {e}", f.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::at("read", &f, e)),
    }
}
