//! The jail's own account files, read from inside the jail for `-U`:
//! `/etc/passwd`, `/etc/group` and `/etc/login.defs` (Linux's nearest thing
//! to a login class: the `PATH` and umask that login(1) gives a user).
//!
//! The files belong to the jail, so they are read as untrusted input: only
//! regular files, never blocking (a FIFO is refused, not waited on), at
//! most [`MAX_FILE`] bytes, and no line that does not parse is used. The
//! jail's libc (NSS modules) is never loaded into the privileged process.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::exec::Account;

/// The largest account file read from a jail.
pub const MAX_FILE: u64 = 16 << 20;

/// Read a file of the jail (the caller is inside its mount namespace).
pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut buf = Vec::new();
    f.take(MAX_FILE + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_FILE {
        return Err(io::Error::from_raw_os_error(libc::EFBIG));
    }
    Ok(buf)
}

/// The first `passwd(5)` entry named `name` (as getpwnam returns it),
/// without its groups.
pub fn find_user(passwd: &[u8], name: &str) -> Option<Account> {
    passwd.split(|&b| b == b'\n').find_map(|line| {
        let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        if f.len() != 7 || f[0] != name.as_bytes() {
            return None;
        }
        Some(Account {
            name: name.to_string(),
            uid: number(f[2])?,
            gid: number(f[3])?,
            dir: PathBuf::from(OsString::from_vec(f[5].to_vec())),
            shell: PathBuf::from(OsString::from_vec(f[6].to_vec())),
            groups: Vec::new(),
        })
    })
}

/// The groups `initgroups(name, gid)` gives from a `group(5)` file: `gid`
/// first, then every group that lists `name` as a member.
pub fn group_list(group: &[u8], name: &str, gid: u32) -> Vec<u32> {
    let mut out = vec![gid];
    for line in group.split(|&b| b == b'\n') {
        let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        if f.len() != 4 {
            continue;
        }
        let member = f[3].split(|&b| b == b',').any(|m| m == name.as_bytes());
        if let Some(g) = number(f[2]).filter(|g| member && !out.contains(g)) {
            out.push(g);
        }
    }
    out
}

fn number(field: &[u8]) -> Option<u32> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// What `login.defs(5)` says about a login's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginDefs {
    env_supath: Option<Vec<u8>>,
    env_path: Option<Vec<u8>>,
    umask: Option<u32>,
}

impl LoginDefs {
    /// Parse `KEY VALUE` lines (comments, blank lines and other keys are
    /// skipped; a value may be double-quoted).
    pub fn parse(text: &[u8]) -> Self {
        let mut d = LoginDefs::default();
        for line in text.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            if line.starts_with(b"#") {
                continue;
            }
            let Some(split) = line.iter().position(u8::is_ascii_whitespace) else {
                continue;
            };
            let (key, value) = (&line[..split], line[split..].trim_ascii());
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value);
            match key {
                b"ENV_SUPATH" => d.env_supath = Some(value.to_vec()),
                b"ENV_PATH" => d.env_path = Some(value.to_vec()),
                b"UMASK" => {
                    d.umask = std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| u32::from_str_radix(v, 8).ok())
                }
                _ => {}
            }
        }
        d
    }

    /// The variable login(1) sets for a user with `uid`: `ENV_SUPATH` for
    /// root, `ENV_PATH` for others, given as `PATH=...` or as the bare
    /// path, with shadow's minimal defaults when absent.
    pub fn path_var(&self, uid: u32) -> (OsString, OsString) {
        let (value, default): (_, &[u8]) = if uid == 0 {
            (&self.env_supath, b"/sbin:/bin:/usr/sbin:/usr/bin")
        } else {
            (&self.env_path, b"/bin:/usr/bin")
        };
        let value = value.as_deref().unwrap_or(default);
        let (name, v) = match value.iter().position(|&b| b == b'=') {
            Some(eq) => (&value[..eq], &value[eq + 1..]),
            None => (&b"PATH"[..], value),
        };
        (
            OsString::from_vec(name.to_vec()),
            OsString::from_vec(v.to_vec()),
        )
    }

    /// The umask login(1) sets (`UMASK`, else 022).
    pub fn umask(&self) -> u32 {
        self.umask.unwrap_or(0o022) & 0o777
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\n\
        broken:x:zz:1::/:/bin/sh\n\
        short:x:1\n\
        www:x:80:80:web server:/var/www:\n\
        www:x:81:81:second:/elsewhere:/bin/false\n";
    const GROUP: &[u8] = b"root:x:0:\nwww:x:80:\nweb:x:500:alice,www\nbad:x:q:www\nlogs:x:501:www\nother:x:502:wwwx\n";

    #[test]
    fn users_are_found_by_exact_name_first_entry_wins() {
        let www = find_user(PASSWD, "www").unwrap();
        assert_eq!((www.uid, www.gid), (80, 80));
        assert_eq!(www.dir, Path::new("/var/www"));
        assert_eq!(www.shell, Path::new(""));
        assert_eq!(www.login_shell(), Path::new("/bin/sh"));
        assert!(find_user(PASSWD, "broken").is_none());
        assert!(find_user(PASSWD, "short").is_none());
        assert!(find_user(PASSWD, "ww").is_none());
        assert!(find_user(b"", "root").is_none());
    }

    #[test]
    fn groups_are_the_primary_then_memberships() {
        assert_eq!(group_list(GROUP, "www", 80), [80, 500, 501]);
        assert_eq!(group_list(GROUP, "root", 0), [0]);
        assert_eq!(group_list(GROUP, "alice", 500), [500]);
    }

    #[test]
    fn login_defs_give_path_and_umask() {
        let d = LoginDefs::parse(
            b"# comment\nENV_SUPATH\tPATH=/usr/local/sbin:/usr/sbin\nENV_PATH \"/usr/bin:/bin\"\nUMASK 027\nOTHER x\n",
        );
        assert_eq!(
            d.path_var(0),
            ("PATH".into(), "/usr/local/sbin:/usr/sbin".into())
        );
        assert_eq!(d.path_var(1000), ("PATH".into(), "/usr/bin:/bin".into()));
        assert_eq!(d.umask(), 0o027);
        let none = LoginDefs::parse(b"");
        assert_eq!(none.path_var(0).1, "/sbin:/bin:/usr/sbin:/usr/bin");
        assert_eq!(none.path_var(5).1, "/bin:/usr/bin");
        assert_eq!(none.umask(), 0o022);
    }

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = std::env::temp_dir().join(format!("jkit-accounts-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(
            read_file(&fifo).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
        assert_eq!(
            read_file(Path::new("/dev/zero"))
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EINVAL)
        );
        let big = dir.join("big");
        fs::File::create(&big)
            .unwrap()
            .set_len(MAX_FILE + 1)
            .unwrap();
        assert_eq!(
            read_file(&big).unwrap_err().raw_os_error(),
            Some(libc::EFBIG)
        );
        fs::write(dir.join("passwd"), PASSWD).unwrap();
        assert_eq!(read_file(&dir.join("passwd")).unwrap(), PASSWD);
        fs::remove_dir_all(&dir).unwrap();
    }
}
