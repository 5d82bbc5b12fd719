//! The id range of a jail defined by hand (jail.conf, jail(8)'s command
//! line) without `jkit.idbase`: its first start claims one, as `jmk
//! create` does, and gives its root's files to it; later starts take the
//! range it claimed (`DATA/idranges/BASE -> NAME`), until `jmk destroy`
//! frees it (for a definition of its own). A root that is not a tree of the jail's own (the host's `/`,
//! a system directory, a read-only filesystem) keeps its owners, and the
//! jail runs without a user namespace, with a warning.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::idmap;
use crate::error::{OsContext, Result};
use crate::fsio::tree::{Owners, RANGE_SIZE};
use crate::paths::Paths;

/// Host directories no jail owns: a root among them, or under the first
/// ones, is the host's system.
const SYSTEM_TREES: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/boot", "/dev",
    "/proc", "/sys", "/run",
];
const SYSTEM_DIRS: &[&str] = &[
    "/", "/var", "/var/lib", "/home", "/root", "/tmp", "/var/tmp", "/opt", "/srv", "/mnt", "/media",
];

/// Why the root `root` cannot be given to a range, if it cannot: what
/// the warning says.
pub fn not_own_tree(root: &Path) -> Option<String> {
    let real = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let system = SYSTEM_DIRS.iter().any(|d| real == Path::new(d))
        || SYSTEM_TREES.iter().any(|d| real.starts_with(d));
    if system {
        return Some(format!(
            "path {}: a directory of the host's system",
            real.display()
        ));
    }
    let read_only = nix::sys::statvfs::statvfs(&real)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    read_only.then(|| format!("path {}: on a read-only filesystem", real.display()))
}

/// Why the root `root` of jail `name` is not its own to use, if its top
/// is owned by an id of another range (another jail's, given the tree
/// before): what the warning says.
pub fn foreign_owner(paths: &Paths, name: &str, root: &Path) -> Option<String> {
    let owner = fs::metadata(root).ok()?.uid();
    if owner < RANGE_SIZE {
        return None;
    }
    let mine = idmap::claimed(paths, name)
        .ok()
        .flatten()
        .is_some_and(|base| (base..base + RANGE_SIZE).contains(&owner));
    (!mine).then(|| {
        format!(
            "path {}: its files belong to another id range (uid {owner}): root in this jail does not own them",
            root.display()
        )
    })
}

/// The range of jail `name`, whose root is `root` (a tree of its own): the
/// one it claimed before, else a new one; its root's owners shifted to it
/// unless they were.
pub fn range_of(paths: &Paths, name: &str, root: &Path) -> Result<u32> {
    let base = match idmap::claimed(paths, name)? {
        Some(base) => base,
        None => idmap::claim(paths, name, None)?,
    };
    shift_root(root, base)?;
    Ok(base)
}

/// Give the tree `root` to the range at `base`, its top last: a top in
/// the range says the whole tree is (a shift cut short is done again,
/// and what it had shifted stays).
fn shift_root(root: &Path, base: u32) -> Result<()> {
    let top = fs::metadata(root).what(|| format!("stat {}", root.display()))?;
    let in_range = |id: u32| (base..base + RANGE_SIZE).contains(&id);
    // A top in another range says the tree was given to that range (the
    // top goes last), and a shift moves only ids below a range: it would
    // walk the whole tree to change nothing (see `foreign_owner`).
    if in_range(top.uid()) || top.uid() >= RANGE_SIZE {
        return Ok(());
    }
    let entries: Vec<PathBuf> = fs::read_dir(root)
        .what(|| format!("read {}", root.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .what(|| format!("read {}", root.display()))?;
    for entry in entries {
        // What another filesystem mounted here holds is not the tree's.
        let meta = fs::symlink_metadata(&entry).what(|| format!("stat {}", entry.display()))?;
        if meta.dev() == top.dev() {
            Owners {
                base: Some(base),
                caps: &idmap::XattrCaps,
            }
            .shift(&entry)?;
        }
    }
    let shift = |id: u32| if id < RANGE_SIZE { base + id } else { id };
    std::os::unix::fs::chown(root, Some(shift(top.uid())), Some(shift(top.gid())))
        .what(|| format!("chown {}", root.display()))
}
