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

/// Every path under `top` (relative, with a leading `/`) with its status,
/// walked by descriptors (a running jail's tree may change under the walk;
/// it never follows a symlink out of it).
fn walk(top: &Path) -> Result<HashMap<String, Status>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut out = HashMap::new();
    let first = Dir::open(top, flags, Mode::empty()).what(|| format!("open {}", top.display()))?;
    let mut stack = vec![(first, String::new(), 0usize)];
    while let Some((mut dir, rel, depth)) = stack.pop() {
        if depth == MAX_DEPTH {
            return Err(Error::BadData(format!(
                "{}{rel}: more than {MAX_DEPTH} directories deep",
                top.display()
            )));
        }
        let mut names = Vec::new();
        for e in dir.iter() {
            let e = e.what(|| format!("read {}{rel}", top.display()))?;
            if e.file_name() != c"." && e.file_name() != c".." {
                names.push(e.file_name().to_owned());
            }
        }
        for name in names {
            let path = format!("{rel}/{}", name.to_string_lossy());
            let st = fstatat(dir.as_fd(), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .what(|| format!("stat {}{path}", top.display()))?;
            let kind = u32::from(st.st_mode) & u32::from(libc::S_IFMT);
            let link = (kind == u32::from(libc::S_IFLNK))
                .then(|| nix::fcntl::readlinkat(dir.as_fd(), name.as_c_str()).map(PathBuf::from))
                .transpose()
                .what(|| format!("readlink {}{path}", top.display()))?;
            if kind == u32::from(libc::S_IFDIR) {
                let sub = Dir::openat(dir.as_fd(), name.as_c_str(), flags, Mode::empty())
                    .what(|| format!("open {}{path}", top.display()))?;
                stack.push((sub, path.clone(), depth + 1));
            }
            out.insert(
                path,
                Status {
                    ino: st.st_ino as u64,
                    mode: u32::from(st.st_mode),
                    uid: st.st_uid,
                    gid: st.st_gid,
                    size: st.st_size as u64,
                    mtime: (st.st_mtime, st.st_mtime_nsec),
                    ctime: (st.st_ctime, st.st_ctime_nsec),
                    link,
                },
            );
        }
    }
    Ok(out)
}

/// The changes from tree `old` to tree `new`, by path; renames found by
/// inode number when the trees share them (`same_inodes`).
pub fn trees(old: &Path, new: &Path, same_inodes: bool) -> Result<Vec<Change>> {
    let before = walk(old)?;
    let after = walk(new)?;
    let mut changes = Vec::new();
    let mut removed: Vec<(&String, &Status)> = Vec::new();
    let mut added: HashMap<u64, Vec<&String>> = HashMap::new();
    for (path, st) in &before {
        match after.get(path) {
            Some(now) if now.differs(st, same_inodes) => {
                if same_inodes && now.ino != st.ino {
                    removed.push((path, st));
                    added.entry(now.ino).or_default().push(path);
                } else {
                    changes.push(Change {
                        letter: 'M',
                        path: path.clone(),
                        to: None,
                    });
                }
            }
            Some(_) => {}
            None => removed.push((path, st)),
        }
    }
    for (path, st) in &after {
        if !before.contains_key(path) {
            added.entry(st.ino).or_default().push(path);
        }
    }
    for (path, st) in removed {
        let renamed = same_inodes
            .then(|| added.get_mut(&st.ino))
            .flatten()
            .filter(|to| to.len() == 1 && !before.contains_key(to[0]))
            .and_then(Vec::pop);
        changes.push(match renamed {
            Some(to) => Change {
                letter: 'R',
                path: path.clone(),
                to: Some(to.clone()),
            },
            None => Change {
                letter: '-',
                path: path.clone(),
                to: None,
            },
        });
    }
    for path in added.into_values().flatten() {
        changes.push(Change {
            letter: '+',
            path: path.clone(),
            to: None,
        });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path).then(a.letter.cmp(&b.letter)));
    Ok(changes)
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
        // Within one tree (inodes shared): a rename is one.
        let before = walk(&b).unwrap();
        fs::rename(b.join("new"), b.join("etc/moved")).unwrap();
        let after = walk(&b).unwrap();
        let ino = after["/etc/moved"].ino;
        assert_eq!(before["/new"].ino, ino);
        fs::remove_dir_all(&d).unwrap();
    }
}
