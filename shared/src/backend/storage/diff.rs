//! What changed between two trees (a snapshot and a later snapshot, or
//! the live files), in `zfs diff`'s terms: added, removed, modified and
//! renamed paths. Trees that share inode numbers (a btrfs snapshot and
//! its subvolume) show renames, and any change of a file's status
//! (its ctime); copies are compared by type, size, mode, owner, mtime and
//! link target.

// The status fields differ in type between Linux and FreeBSD (mode_t is
// u32 on one, u16 on the other; nlink_t, dev_t): conversions that are
// no-ops on one are needed on the other.
#![allow(clippy::useless_conversion, clippy::unnecessary_cast)]

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, fstatat};

use crate::error::{Error, OsContext, Result};

/// How far a tree is walked (as `fsio::tree`'s walks).
const MAX_DEPTH: usize = 512;

/// One change: `+`, `-`, `M` or `R`, the path (from the top, with a
/// leading `/`), and a rename's new path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// zfs diff's letter.
    pub letter: char,
    /// The path (the old one, for a rename).
    pub path: String,
    /// A rename's new path.
    pub to: Option<String>,
    /// Whether the path was, and is, an overlay's whiteout (a character
    /// device 0:0: a lower layer's file removed), on the sides the change
    /// saw.
    pub whiteout: (bool, bool),
}

/// What is compared of each path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Status {
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    link: Option<PathBuf>,
    rdev: u64,
}

impl Status {
    /// Whether the file changed from `old` to `self`.
    fn differs(&self, old: &Status, same_inodes: bool) -> bool {
        if same_inodes {
            return self.ino != old.ino || self.ctime != old.ctime || self.mtime != old.mtime;
        }
        // A directory's size says nothing on every filesystem.
        let size = self.mode & u32::from(libc::S_IFMT) != u32::from(libc::S_IFDIR)
            && self.size != old.size;
        size || (self.mode, self.uid, self.gid, self.mtime, &self.link)
            != (old.mode, old.uid, old.gid, old.mtime, &old.link)
    }
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// The names in `dir` but `.` and `..`, sorted.
fn names(dir: &mut Dir, at: &dyn Fn() -> String) -> Result<Vec<CString>> {
    let mut out = Vec::new();
    for e in dir.iter() {
        let e = e.what(|| format!("read {}", at()))?;
        if e.file_name() != c"." && e.file_name() != c".." {
            out.push(e.file_name().to_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// The status of `name` in `dir`, `None` when it is gone (a running
/// jail's tree may change under the walk).
fn status(dir: &Dir, name: &CStr, at: &dyn Fn() -> String) -> Result<Option<Status>> {
    let st = match fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(nix::errno::Errno::ENOENT) => return Ok(None),
        st => st.what(|| format!("stat {}", at()))?,
    };
    let kind = u32::from(st.st_mode) & u32::from(libc::S_IFMT);
    let link = match (kind == u32::from(libc::S_IFLNK))
        .then(|| nix::fcntl::readlinkat(dir.as_fd(), name))
    {
        Some(Err(nix::errno::Errno::ENOENT | nix::errno::Errno::EINVAL)) => return Ok(None),
        l => l
            .transpose()
            .what(|| format!("readlink {}", at()))?
            .map(PathBuf::from),
    };
    Ok(Some(Status {
        ino: st.st_ino as u64,
        mode: u32::from(st.st_mode),
        uid: st.st_uid,
        gid: st.st_gid,
        size: st.st_size as u64,
        mtime: (st.st_mtime, st.st_mtime_nsec),
        ctime: (st.st_ctime, st.st_ctime_nsec),
        link,
        rdev: st.st_rdev as u64,
    }))
}

fn is_dir(st: &Status) -> bool {
    st.mode & u32::from(libc::S_IFMT) == u32::from(libc::S_IFDIR)
}

/// Whether `st` is an overlay's whiteout: a character device 0:0.
fn is_whiteout(st: &Status) -> bool {
    st.mode & u32::from(libc::S_IFMT) == u32::from(libc::S_IFCHR) && st.rdev == 0
}

/// The subdirectory `name` of `dir`, never through a symlink; `None` when
/// it is no longer a directory.
fn open_sub(dir: &Dir, name: &CStr, at: &dyn Fn() -> String) -> Result<Option<Dir>> {
    match Dir::openat(dir.as_fd(), name, DIR_FLAGS, Mode::empty()) {
        Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR | nix::errno::Errno::ELOOP) => {
            Ok(None)
        }
        d => d.what(|| format!("open {}", at())).map(Some),
    }
}

/// The walk of two trees side by side, by descriptors: what it found.
struct Walk {
    same_inodes: bool,
    changes: Vec<Change>,
    removed: Vec<(String, u64, bool)>,
    added: Vec<(String, u64, bool)>,
}

impl Walk {
    /// Note every path under `dir` (at `rel`) as removed or, if not
    /// `gone`, added.
    fn subtree(&mut self, mut dir: Dir, rel: &str, depth: usize, gone: bool) -> Result<()> {
        if depth == MAX_DEPTH {
            return Err(too_deep(rel));
        }
        for name in names(&mut dir, &|| rel.to_string())? {
            let path = format!("{rel}/{}", name.to_string_lossy());
            let Some(st) = status(&dir, &name, &|| path.clone())? else {
                continue;
            };
            self.one_side(&dir, (&name, path), &st, depth, gone)?;
        }
        Ok(())
    }

    /// Note `name` of `dir` (status `st`) and what it holds as removed or added.
    fn one_side(
        &mut self,
        dir: &Dir,
        (name, path): (&CStr, String),
        st: &Status,
        depth: usize,
        gone: bool,
    ) -> Result<()> {
        let sub = if is_dir(st) {
            open_sub(dir, name, &|| path.clone())?
        } else {
            None
        };
        if let Some(sub) = sub {
            self.subtree(sub, &path, depth + 1, gone)?;
        }
        if gone {
            self.removed.push((path, st.ino, is_whiteout(st)));
        } else {
            self.added.push((path, st.ino, is_whiteout(st)));
        }
        Ok(())
    }

    /// Compare the directories `old` and `new` (both at `rel`).
    fn pair(&mut self, (mut old, mut new): (Dir, Dir), rel: &str, depth: usize) -> Result<()> {
        if depth == MAX_DEPTH {
            return Err(too_deep(rel));
        }
        let before = names(&mut old, &|| rel.to_string())?;
        let after = names(&mut new, &|| rel.to_string())?;
        let (mut i, mut j) = (0, 0);
        while i < before.len() || j < after.len() {
            let order = match (before.get(i), after.get(j)) {
                (Some(a), Some(b)) => a.cmp(b),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            let name = if order == std::cmp::Ordering::Greater {
                &after[j]
            } else {
                &before[i]
            };
            let path = format!("{rel}/{}", name.to_string_lossy());
            let at = || path.clone();
            let was = if order != std::cmp::Ordering::Greater {
                status(&old, name, &at)?
            } else {
                None
            };
            let now = if order != std::cmp::Ordering::Less {
                status(&new, name, &at)?
            } else {
                None
            };
            match order {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                }
            }
            match (was, now) {
                (Some(was), Some(now)) if self.same_inodes && was.ino != now.ino => {
                    self.one_side(&old, (name, path.clone()), &was, depth, true)?;
                    self.one_side(&new, (name, path), &now, depth, false)?;
                }
                (Some(was), Some(now)) => {
                    if now.differs(&was, self.same_inodes) {
                        self.changes.push(Change {
                            letter: 'M',
                            path: path.clone(),
                            to: None,
                            whiteout: (is_whiteout(&was), is_whiteout(&now)),
                        });
                    }
                    match (is_dir(&was), is_dir(&now)) {
                        (true, true) => {
                            let a = open_sub(&old, name, &at)?;
                            let b = open_sub(&new, name, &at)?;
                            if let (Some(a), Some(b)) = (a, b) {
                                self.pair((a, b), &path, depth + 1)?;
                            }
                        }
                        (true, false) => {
                            if let Some(a) = open_sub(&old, name, &at)? {
                                self.subtree(a, &path, depth + 1, true)?;
                            }
                        }
                        (false, true) => {
                            if let Some(b) = open_sub(&new, name, &at)? {
                                self.subtree(b, &path, depth + 1, false)?;
                            }
                        }
                        (false, false) => {}
                    }
                }
                (Some(was), None) => self.one_side(&old, (name, path), &was, depth, true)?,
                (None, Some(now)) => self.one_side(&new, (name, path), &now, depth, false)?,
                (None, None) => {}
            }
        }
        Ok(())
    }
}

fn too_deep(rel: &str) -> Error {
    Error::BadData(format!("{rel}: more than {MAX_DEPTH} directories deep"))
}

/// The changes from tree `old` to tree `new`, by path; renames found by
/// inode number when the trees share them (`same_inodes`). Both are walked
/// side by side by descriptors, never through a symlink (a running jail's
/// tree may change under the walk).
pub fn trees(old: &Path, new: &Path, same_inodes: bool) -> Result<Vec<Change>> {
    let open =
        |p: &Path| Dir::open(p, DIR_FLAGS, Mode::empty()).what(|| format!("open {}", p.display()));
    let mut walk = Walk {
        same_inodes,
        changes: Vec::new(),
        removed: Vec::new(),
        added: Vec::new(),
    };
    walk.pair((open(old)?, open(new)?), "", 0)?;
    let mut added: HashMap<u64, Vec<(String, bool)>> = HashMap::new();
    for (path, ino, whiteout) in walk.added {
        added.entry(ino).or_default().push((path, whiteout));
    }
    let mut changes = walk.changes;
    for (path, ino, whiteout) in walk.removed {
        let renamed = same_inodes
            .then(|| added.get_mut(&ino))
            .flatten()
            .filter(|to| to.len() == 1 && to[0].0 != path)
            .and_then(Vec::pop);
        changes.push(Change {
            letter: if renamed.is_some() { 'R' } else { '-' },
            path,
            whiteout: (whiteout, renamed.as_ref().is_some_and(|r| r.1)),
            to: renamed.map(|r| r.0),
        });
    }
    for (path, whiteout) in added.into_values().flatten() {
        changes.push(Change {
            letter: '+',
            path,
            to: None,
            whiteout: (false, whiteout),
        });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path).then(a.letter.cmp(&b.letter)));
    Ok(changes)
}

/// Whether `path` is an overlay's whiteout (by path: for a listing's
/// letters only, nothing is read or written through it).
pub fn is_whiteout_at(path: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0)
}

/// Where a path stands on one side of a private layer's change.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Not in the private layer: the lower layers' file shows.
    Below,
    /// The private layer's own file.
    Own,
    /// A whiteout: hidden.
    Hidden,
}

/// The changes `changes` between two states of an overlay's private
/// layer as the merged tree shows them, `in_lower` saying whether a path
/// is in the layers below: a whiteout made is a removal, a lower file
/// copied up a modification, a private file removed over a lower one a
/// modification (the lower one shows again). A directory removed and made
/// again (opaque) shows as modified, its lower files not as removed.
pub fn through_layers(
    changes: Vec<Change>,
    in_lower: &mut dyn FnMut(&str) -> Result<bool>,
) -> Result<Vec<Change>> {
    let side = |whiteout: bool| if whiteout { Side::Hidden } else { Side::Own };
    // (path, old side, new side), in the changes' order.
    let mut paths: Vec<(String, Side, Side)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for c in changes {
        let (old, new) = match c.letter {
            '+' => (None, Some(side(c.whiteout.1))),
            '-' => (Some(side(c.whiteout.0)), None),
            'M' => (Some(side(c.whiteout.0)), Some(side(c.whiteout.1))),
            _ => {
                out.push(c);
                continue;
            }
        };
        match index.get(&c.path) {
            Some(&i) => {
                let p = &mut paths[i];
                p.1 = old.unwrap_or(p.1);
                p.2 = new.unwrap_or(p.2);
            }
            None => {
                index.insert(c.path.clone(), paths.len());
                paths.push((
                    c.path,
                    old.unwrap_or(Side::Below),
                    new.unwrap_or(Side::Below),
                ));
            }
        }
    }
    for (path, old, new) in paths {
        let below = if old == Side::Below || new == Side::Below {
            in_lower(&path)?
        } else {
            false
        };
        let shown = |s: Side| s == Side::Own || (s == Side::Below && below);
        let letter = match (shown(old), shown(new)) {
            (false, true) => '+',
            (true, false) => '-',
            (true, true) => 'M',
            (false, false) => continue,
        };
        out.push(Change {
            letter,
            path,
            to: None,
            whiteout: (old == Side::Hidden, new == Side::Hidden),
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path).then(a.letter.cmp(&b.letter)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn changes_between_copies_and_within_a_tree() {
        let d = std::env::temp_dir().join(format!("jkit-storage-diff-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let (a, b) = (d.join("a"), d.join("b"));
        fs::create_dir_all(a.join("etc")).unwrap();
        fs::write(a.join("etc/keep"), "k").unwrap();
        fs::write(a.join("etc/edit"), "1").unwrap();
        fs::write(a.join("gone"), "g").unwrap();
        super::super::copy::copy_tree(&a, &b, &mut |_, _| {}).unwrap();
        fs::write(b.join("etc/edit"), "22").unwrap();
        fs::remove_file(b.join("gone")).unwrap();
        fs::write(b.join("new"), "n").unwrap();
        let text: Vec<String> = trees(&a, &b, false)
            .unwrap()
            .into_iter()
            .map(|c| format!("{} {}", c.letter, c.path))
            .collect();
        assert_eq!(text, ["M /etc/edit", "- /gone", "+ /new"]);
        // Trees that share inodes (one tree against itself, changed): a
        // rename is one, and so is a file moved into a new directory.
        let same = trees(&b, &b, true).unwrap();
        assert!(same.is_empty(), "{same:?}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_private_layers_changes_read_through_the_layers_below() {
        let c = |letter, path: &str, whiteout| Change {
            letter,
            path: path.to_string(),
            to: None,
            whiteout,
        };
        let changes = vec![
            c('+', "/wo", (false, true)),
            c('+', "/copied", (false, false)),
            c('+', "/new", (false, false)),
            c('-', "/reverted", (false, false)),
            c('-', "/back", (true, false)),
            c('-', "/never", (true, false)),
            c('-', "/swapped", (false, false)),
            c('+', "/swapped", (false, true)),
            c('M', "/edited", (false, false)),
            Change {
                letter: 'R',
                path: "/x".into(),
                to: Some("/y".into()),
                whiteout: (false, false),
            },
        ];
        let lower = ["/wo", "/copied", "/reverted", "/back", "/swapped"];
        let out = through_layers(changes, &mut |p| Ok(lower.contains(&p))).unwrap();
        let text: Vec<String> = out
            .iter()
            .map(|c| format!("{} {}", c.letter, c.path))
            .collect();
        assert_eq!(
            text,
            [
                "+ /back",
                "M /copied",
                "M /edited",
                "+ /new",
                "M /reverted",
                "- /swapped",
                "- /wo",
                "R /x"
            ]
        );
    }
}
