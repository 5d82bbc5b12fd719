//! The two /proc files that several jobs of the Linux backend read, each
//! parsed here only: a mount table (`/proc/self/mountinfo`, proc(5)) and a
//! process's cgroups (`/proc/PID/cgroup`, cgroups(7)).
//!
//! Both are read as bytes and their paths built from bytes: a path is any
//! bytes but NUL and `/` in its names, UTF-8 or not. In mountinfo the
//! kernel writes space, tab, newline and backslash as octal escapes
//! (`\040`); every other byte stands as itself.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// One mount of a mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the filesystem that is mounted there (`/` unless
    /// a bind mount or a cgroup below the hierarchy's root).
    pub root: PathBuf,
    /// The mount point.
    pub point: PathBuf,
    /// The filesystem type.
    pub fstype: String,
    /// The filesystem's own options (a v1 cgroup hierarchy's controllers
    /// are among them), comma-separated.
    pub super_options: String,
}

impl Mount {
    /// A mountinfo line: `ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...]
    /// - FSTYPE SOURCE SUPER_OPTIONS`. None for anything else.
    pub fn parse(line: &[u8]) -> Option<Mount> {
        let at = line.windows(3).position(|w| w == b" - ")?;
        let (left, right) = (&line[..at], &line[at + 3..]);
        let mut fields = left.split(|&b| b == b' ').skip(3);
        let (root, point) = (fields.next()?, fields.next()?);
        fields.next()?;
        let mut right = right.split(|&b| b == b' ');
        let fstype = right.next()?;
        let super_options = right.nth(1)?;
        Some(Mount {
            root: path_of(unescape(root)),
            point: path_of(unescape(point)),
            fstype: String::from_utf8_lossy(&unescape(fstype)).into_owned(),
            super_options: String::from_utf8_lossy(&unescape(super_options)).into_owned(),
        })
    }
}

/// The mounts of a mountinfo text, in its order (mount order).
pub fn mounts_in(mountinfo: &[u8]) -> impl Iterator<Item = Mount> + '_ {
    mountinfo.split(|&b| b == b'\n').filter_map(Mount::parse)
}

/// This process's mount table: the bytes of `/proc/self/mountinfo`, for
/// [`mounts_in`].
pub fn mountinfo() -> std::io::Result<Vec<u8>> {
    fs::read(MOUNTINFO)
}

/// Where [`mountinfo`] reads, for messages.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// A mountinfo field with its octal escapes (`\` and three octal digits,
/// at most `\377`) turned back into the bytes they stand for.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        match field.get(i..i + 4) {
            Some([b'\\', a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7']) => {
                out.push((a - b'0') * 64 + (b - b'0') * 8 + (c - b'0'));
                i += 4;
            }
            _ => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

fn path_of(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes))
}

/// A process's cgroup in one hierarchy: a line `ID:CONTROLLERS:PATH` of
/// `/proc/PID/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessCgroup {
    /// The hierarchy's v1 controllers (and `name=`), comma-separated;
    /// empty for the v2 hierarchy.
    pub controllers: String,
    /// The cgroup, from the root of the hierarchy.
    pub path: PathBuf,
}

/// The cgroups of a `/proc/PID/cgroup` text, one per hierarchy.
pub fn cgroups_in(text: &[u8]) -> Vec<ProcessCgroup> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            let mut fields = line.splitn(3, |&b| b == b':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some(ProcessCgroup {
                controllers: String::from_utf8_lossy(controllers).into_owned(),
                path: path_of(path.to_vec()),
            })
        })
        .collect()
}

/// The cgroups of process `pid` (`"self"` or a number).
pub fn cgroups_of(pid: &str) -> std::io::Result<Vec<ProcessCgroup>> {
    Ok(cgroups_in(&fs::read(format!("/proc/{pid}/cgroup"))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    #[test]
    fn escapes_decode_to_the_bytes_they_stand_for() {
        assert_eq!(unescape(br"/a\040b\011c\012d\134e"), b"/a b\tc\nd\\e");
        assert_eq!(unescape(b"/plain"), b"/plain");
        // Not escapes: too short, not octal, beyond a byte.
        assert_eq!(unescape(br"/x\04"), br"/x\04");
        assert_eq!(unescape(br"/x\089"), br"/x\089");
        assert_eq!(unescape(br"/x\777"), br"/x\777");
    }

    #[test]
    fn non_ascii_paths_keep_their_bytes() {
        // UTF-8 as the kernel writes it (each byte as itself), an escaped
        // space beside it, and a name that is not UTF-8 at all.
        let line = "36 25 0:40 / /mnt/caf\u{e9}\\040cr\u{e8}me rw - tmpfs tmpfs rw".as_bytes();
        let m = Mount::parse(line).unwrap();
        assert_eq!(m.point, Path::new("/mnt/caf\u{e9} cr\u{e8}me"));
        let line = b"36 25 0:40 / /mnt/\xff\xfe\\040x rw - tmpfs tmpfs rw";
        let m = Mount::parse(line).unwrap();
        assert_eq!(m.point.as_os_str().as_bytes(), b"/mnt/\xff\xfe x");
        // What the old decoder made of it: each byte as a Latin-1 char.
        assert_ne!(m.point, Path::new("/mnt/\u{ff}\u{fe} x"));
    }

    #[test]
    fn mountinfo_lines_give_root_point_type_and_options() {
        let text = b"22 1 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n\
            40 31 0:37 /sub /mnt/a\\040b rw - cgroup cgroup rw,xattr,name=systemd\n\
            not a mount line\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let mounts: Vec<Mount> = mounts_in(text).collect();
        assert_eq!(mounts.len(), 3);
        assert_eq!(
            mounts[1],
            Mount {
                root: "/sub".into(),
                point: "/mnt/a b".into(),
                fstype: "cgroup".into(),
                super_options: "rw,xattr,name=systemd".into(),
            }
        );
        assert_eq!(mounts[2].fstype, "cgroup2");
        assert_eq!(Mount::parse(b"1 2 3:4 / /x rw"), None, "no separator");
    }

    #[test]
    fn this_process_has_a_root_mount() {
        let info = mountinfo().unwrap();
        assert!(mounts_in(&info).any(|m| m.point == Path::new("/")));
    }

    #[test]
    fn cgroup_lines_give_controllers_and_path() {
        let text = b"12:cpu,cpuacct:/jkit/web\n1:name=systemd:/a:b\n0::/user.slice/\xc3\xa9\n";
        assert_eq!(
            cgroups_in(text),
            [
                ProcessCgroup {
                    controllers: "cpu,cpuacct".into(),
                    path: "/jkit/web".into()
                },
                ProcessCgroup {
                    controllers: "name=systemd".into(),
                    path: "/a:b".into()
                },
                ProcessCgroup {
                    controllers: String::new(),
                    path: "/user.slice/\u{e9}".into()
                },
            ]
        );
        assert!(!cgroups_of("self").unwrap().is_empty());
    }
}
