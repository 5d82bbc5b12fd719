//! Snapshots' records: one snapshot (`jmk --json snapshot -l`) and one
//! changed path (`jmk --json diff`).

use serde::{Deserialize, Serialize};

/// One snapshot of a jail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRecord {
    /// The jail.
    pub jail: String,
    /// The snapshot's tag (`NAME@TAG`).
    pub tag: String,
    /// When it was taken, UTC, RFC 3339 with milliseconds.
    pub created: String,
    /// How it keeps the files: `zfs` or `btrfs` (the filesystem's own
    /// snapshot), `reflink` (a copy sharing the data), `copy` (a full copy).
    pub kind: String,
    /// The bytes only this snapshot holds, where the storage knows (ZFS's
    /// `used`; a full copy's size), else null.
    pub bytes: Option<u64>,
}

/// One path a diff found changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffRecord {
    /// The jail.
    pub jail: String,
    /// `+` added, `-` removed, `M` modified, `R` renamed (zfs diff's letters).
    pub change: String,
    /// The path in the jail (its old path, for a rename).
    pub path: String,
    /// The new path of a renamed file, else null.
    pub to: Option<String>,
}

impl DiffRecord {
    /// The record as `zfs diff` prints it: the letter, a tab, the path (`OLD
    /// -> NEW` for a rename).
    pub fn text(&self) -> String {
        match &self.to {
            Some(to) => format!("{}\t{} -> {to}", self.change, self.path),
            None => format!("{}\t{}", self.change, self.path),
        }
    }
}
