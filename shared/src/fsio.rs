//! File writes that readers never see half done.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{OsContext, Result};

/// Write `bytes` to `path` so that readers see the old or the new content,
/// never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .what(|| format!("create {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .what(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, path).what(|| format!("rename {} to {}", tmp.display(), path.display()))
}
