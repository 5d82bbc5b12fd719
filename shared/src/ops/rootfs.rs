//! Building a jail's root: thin (the system directories of a release bound
//! read-only, everything else private), thick (a full copy), or unpacked
//! from a tarball. A thin jail on the host's own system gets a fresh /etc
//! made for it: the host's secrets (shadow, ssh keys, root's home) never
//! enter it.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::backend::mounts::MountEntry;
use crate::error::{Error, OsContext, Result};
use crate::fsio::tree::Owners;

/// Directories that hold the system itself: bound read-only into thin jails.
pub const SYSTEM_DIRS: &[&str] = &[
    "bin", "sbin", "lib", "lib32", "lib64", "libx32", "libexec", "rescue", "usr",
];

/// Host files copied into a fresh /etc: configuration programs need that
/// holds no secret (PAM's: see [`copy_pam`]).
const HOST_ETC_COPIES: &[&str] = &[
    "bash.bashrc",
    "debian_version",
    "environment",
    "host.conf",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "login.defs",
    "mime.types",
    "networks",
    "nsswitch.conf",
    "os-release",
    "pam.conf",
    "profile",
    "profile.d",
    "protocols",
    "rpc",
    "services",
    "shells",
    "timezone",
];

/// A host path whose status a host thin root's shared part depends on:
/// the whole tree below it (`whole`), else the entry alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consulted {
    pub path: PathBuf,
    pub whole: bool,
}

/// Lay out a thin root at `root` (which must not exist) over the system
/// directories of `system` (`/` for the host), its files owned by
/// `owners`. Returns the read-only bind mounts the jail needs at start.
pub fn build_thin(
    root: &Path,
    system: &Path,
    hostname: &str,
    owners: Owners,
) -> Result<Vec<MountEntry>> {
    if system == Path::new("/") {
        host_shared(root, owners, &mut Vec::new())?;
        own_etc(&root.join("etc"), hostname, owners)?;
        return Ok(host_binds(root));
    }
    owners.mkdir(root, 0o755)?;
    system_links(root, system, owners, &mut Vec::new())?;
    // A release's own /etc, /var and the rest hold no host secrets:
    // each jail gets a private copy.
    for entry in fs::read_dir(system).what(|| format!("read {}", system.display()))? {
        let entry = entry.what(|| format!("read {}", system.display()))?;
        let name = entry.file_name();
        let n = name.to_string_lossy();
        if SYSTEM_DIRS.contains(&n.as_ref()) || root.join(&name).exists() {
            continue;
        }
        owners.copy_tree(&entry.path(), &root.join(&name))?;
    }
    mount_points(root, root, owners)?;
    Ok(system_binds(root, system))
}

/// Make at `dir` (which must not exist) what a thin root on the host holds
/// that is the same for every jail: the system directories' symlinks and
/// mount points, the private directories, and /etc with the host files
/// copied into it (not the jail's own: see [`own_etc`]). Notes in
/// `consulted` the host paths it read.
pub fn host_shared(dir: &Path, owners: Owners, consulted: &mut Vec<Consulted>) -> Result<()> {
    owners.mkdir(dir, 0o755)?;
    system_links(dir, Path::new("/"), owners, consulted)?;
    private_dirs(dir, owners)?;
    let etc = dir.join("etc");
    for name in HOST_ETC_COPIES {
        let src = Path::new("/etc").join(name);
        consulted.push(Consulted {
            path: src.clone(),
            whole: true,
        });
        if let Ok(meta) = fs::symlink_metadata(&src) {
            owners.copy_found(&src, &meta, &etc.join(name))?;
        }
    }
    copy_pam(Path::new("/etc"), &etc, owners, consulted)?;
    for name in HOST_ETC_BINDS {
        let src = Path::new("/etc").join(name);
        consulted.push(Consulted {
            path: src.clone(),
            whole: false,
        });
        if src.is_dir() {
            owners.mkdir(&etc.join(name), 0o755)?;
        }
    }
    Ok(())
}

/// The read-only binds of a thin root on the host at `root`: the system
/// directories and [`HOST_ETC_BINDS`].
pub fn host_binds(root: &Path) -> Vec<MountEntry> {
    let mut mounts = system_binds(root, Path::new("/"));
    for name in HOST_ETC_BINDS {
        let src = Path::new("/etc").join(name);
        if src.is_dir() {
            mounts.push(MountEntry::read_only_bind(
                &src,
                root.join("etc").join(name),
            ));
        }
    }
    mounts
}

/// In `root`, the symlinks of `system`'s system directories that are
/// symlinks (merged-/usr systems: /bin -> usr/bin and the like) and the
/// mount points of those that are directories.
fn system_links(
    root: &Path,
    system: &Path,
    owners: Owners,
    consulted: &mut Vec<Consulted>,
) -> Result<()> {
    for name in SYSTEM_DIRS {
        let src = system.join(name);
        consulted.push(Consulted {
            path: src.clone(),
            whole: false,
        });
        if fs::symlink_metadata(&src).is_ok_and(|m| m.file_type().is_symlink()) {
            let target = fs::read_link(&src).what(|| format!("readlink {}", src.display()))?;
            owners.symlink(&target, &root.join(name))?;
        }
    }
    for m in system_binds(root, system) {
        owners.mkdir(&m.target, 0o755)?;
    }
    Ok(())
}

/// The read-only binds of the system directories of `system` (those that
/// are directories, not symlinks) into the root at `root`.
pub fn system_binds(root: &Path, system: &Path) -> Vec<MountEntry> {
    SYSTEM_DIRS
        .iter()
        .map(|name| system.join(name))
        .filter(|src| fs::symlink_metadata(src).is_ok_and(|m| m.is_dir()))
        .map(|src| {
            let dst = root.join(src.file_name().unwrap_or_default());
            MountEntry::read_only_bind(&src, dst)
        })
        .collect()
}

/// Make in `dir` (a root, or the private layer above the release `system`)
/// the directories the jail mounts on that `system` lacks.
pub fn mount_points(system: &Path, dir: &Path, owners: Owners) -> Result<()> {
    for (d, mode) in [("dev", 0o755), ("proc", 0o555), ("tmp", 0o1777)] {
        if fs::symlink_metadata(system.join(d)).is_err() {
            owners.mkdir(&dir.join(d), mode)?;
        }
    }
    Ok(())
}

/// The private, initially empty directories of a thin jail on the host.
fn private_dirs(root: &Path, owners: Owners) -> Result<()> {
    for (d, mode) in [
        ("dev", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("etc", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
        ("home", 0o755),
        ("run", 0o755),
        ("mnt", 0o755),
        ("opt", 0o755),
        ("srv", 0o755),
        ("var", 0o755),
        ("var/tmp", 0o1777),
        ("var/log", 0o755),
        ("var/cache", 0o755),
        ("var/lib", 0o755),
        ("var/spool", 0o755),
        ("var/mail", 0o2775),
    ] {
        owners.mkdir(&root.join(d), mode)?;
    }
    owners.symlink(Path::new("/run"), &root.join("var/run"))?;
    owners.symlink(Path::new("/run/lock"), &root.join("var/lock"))
}

/// Host /etc directories bound read-only into thin jails on the host: they
/// only hold symlinks into the host's /usr (Debian's alternatives), so a
/// jail needs them to match the /usr it sees, and binding is much cheaper
/// than copying hundreds of symlinks.
const HOST_ETC_BINDS: &[&str] = &["alternatives"];

/// The files of the /etc of a thin root on the host that are the jail's
/// own (in `etc`, which exists): its accounts, its name, the resolver the
/// host has now.
pub fn own_etc(etc: &Path, hostname: &str, owners: Owners) -> Result<()> {
    owners.write_file(
        &etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
         bin:x:2:2:bin:/bin:/usr/sbin/nologin\n\
         sys:x:3:3:sys:/dev:/usr/sbin/nologin\n\
         nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        0o644,
    )?;
    owners.write_file(
        &etc.join("group"),
        "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\n\
         staff:x:50:\nusers:x:100:\nnogroup:x:65534:\n",
        0o644,
    )?;
    // No password for anyone: root's account is locked, as in a fresh install.
    owners.write_file(
        &etc.join("shadow"),
        "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n\
         sys:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
        0o640,
    )?;
    owners.write_file(&etc.join("hostname"), &format!("{hostname}\n"), 0o644)?;
    owners.write_file(
        &etc.join("hosts"),
        &format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        ),
        0o644,
    )?;
    let resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    owners.write_file(&etc.join("resolv.conf"), &resolv, 0o644)?;
    Ok(())
}

/// The PAM services the jail's root needs to become another user.
const PAM_SERVICES: &[&str] = &["su", "su-l", "runuser", "runuser-l", "other"];

/// What PAM modules read in /etc/security, by module. Not opasswd
/// (pam_pwhistory's old password hashes): a secret, and a missing one is
/// an empty history.
const PAM_MODULE_FILES: &[(&str, &[&str])] = &[
    ("pam_access", &["access.conf"]),
    ("pam_cap", &["capability.conf"]),
    ("pam_env", &["pam_env.conf"]),
    ("pam_faillock", &["faillock.conf"]),
    ("pam_group", &["group.conf"]),
    ("pam_limits", &["limits.conf", "limits.d"]),
    (
        "pam_namespace",
        &["namespace.conf", "namespace.d", "namespace.init"],
    ),
    ("pam_sepermit", &["sepermit.conf"]),
    ("pam_time", &["time.conf"]),
];

/// Copy from `host` (the host's /etc) into `etc` what su and runuser's
/// PAM stacks read: their services' files in pam.d and those they include,
/// and what the modules named there read in security/. Only those: each
/// file copied is time on every create.
fn copy_pam(host: &Path, etc: &Path, owners: Owners, consulted: &mut Vec<Consulted>) -> Result<()> {
    let pam_d = host.join("pam.d");
    consulted.push(Consulted {
        path: pam_d.clone(),
        whole: false,
    });
    let Ok(meta) = fs::metadata(&pam_d) else {
        return Ok(());
    };
    owners.mkdir(&etc.join("pam.d"), meta.mode() & 0o7777)?;
    let mut services: Vec<String> = PAM_SERVICES.iter().map(|s| s.to_string()).collect();
    let mut modules = Vec::new();
    let mut next = 0;
    while next < services.len() {
        let src = pam_d.join(&services[next]);
        next += 1;
        consulted.push(Consulted {
            path: src.clone(),
            whole: true,
        });
        let Ok(meta) = fs::symlink_metadata(&src) else {
            continue;
        };
        let text = fs::read_to_string(&src).unwrap_or_default();
        let dst = etc.join("pam.d").join(src.file_name().unwrap_or_default());
        if meta.is_file() {
            // The text just read, rather than a second read of the file.
            owners.write_file(&dst, &text, meta.mode() & 0o7777)?;
        } else {
            owners.copy_found(&src, &meta, &dst)?;
        }
        for line in text.lines() {
            let (service, module) = pam_line(line);
            for name in service.into_iter().filter(|n| !n.contains('/')) {
                if !services.iter().any(|s| s == name) {
                    services.push(name.to_string());
                }
            }
            modules.extend(module.map(str::to_string));
        }
    }
    let security = host.join("security");
    consulted.push(Consulted {
        path: security.clone(),
        whole: false,
    });
    let Ok(meta) = fs::metadata(&security) else {
        return Ok(());
    };
    owners.mkdir(&etc.join("security"), meta.mode() & 0o7777)?;
    for (module, files) in PAM_MODULE_FILES {
        if !modules.iter().any(|m| m == module) {
            continue;
        }
        for name in *files {
            let src = security.join(name);
            consulted.push(Consulted {
                path: src.clone(),
                whole: true,
            });
            if let Ok(meta) = fs::symlink_metadata(&src) {
                owners.copy_found(&src, &meta, &etc.join("security").join(name))?;
            }
        }
    }
    Ok(())
}

/// What a line of a pam.d file names: a service file it includes, or a
/// module (its name without directory and `.so`).
fn pam_line(line: &str) -> (Option<&str>, Option<&str>) {
    let line = line.split('#').next().unwrap_or_default();
    let mut words = line.split_whitespace();
    let Some(kind) = words.next() else {
        return (None, None);
    };
    if kind == "@include" {
        return (words.next(), None);
    }
    // The control: one word, or a bracketed list that may hold spaces.
    let Some(mut control) = words.next() else {
        return (None, None);
    };
    let bracketed = control.starts_with('[');
    while bracketed && !control.ends_with(']') {
        let Some(w) = words.next() else {
            return (None, None);
        };
        control = w;
    }
    let Some(target) = words.next() else {
        return (None, None);
    };
    if !bracketed && (control == "include" || control == "substack") {
        return (Some(target), None);
    }
    let module = target.rsplit('/').next().unwrap_or(target);
    (None, Some(module.strip_suffix(".so").unwrap_or(module)))
}

/// The tar flag for a tarball's compression, by its name.
fn compression_flag(file: &Path) -> Result<Option<&'static str>> {
    let name = file.to_string_lossy();
    let flag = [
        (".tar", None),
        (".tar.gz", Some("-z")),
        (".tgz", Some("-z")),
        (".tar.xz", Some("-J")),
        (".txz", Some("-J")),
        (".tar.zst", Some("--zstd")),
        (".tzst", Some("--zstd")),
    ]
    .iter()
    .find(|(ext, _)| name.ends_with(ext))
    .map(|(_, f)| *f);
    flag.ok_or_else(|| {
        Error::Usage(format!(
            "{}: not a tarball (.tar, .tar.gz, .tar.xz or .tar.zst)",
            file.display()
        ))
    })
}

/// How far the unpacking of a tarball has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the tarball handed to tar so far: 0 when the unpacking
    /// begins, then after every block.
    pub done: u64,
    /// The tarball's size in bytes (0 when it cannot be known).
    pub total: u64,
}

/// Unpack `tarball` into `root` (which must not exist) with tar(1), telling
/// `progress` how many of its bytes have gone through; with the files'
/// capabilities when `caps` (GNU tar's `security.capability` extended
/// attributes, on Linux).
pub fn extract_tarball(
    tarball: &Path,
    root: &Path,
    caps: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let flag = compression_flag(tarball)?;
    let mut input = fs::File::open(tarball).what(|| format!("open {}", tarball.display()))?;
    let total = input.metadata().map(|m| m.len()).unwrap_or(0);
    crate::fsio::tree::mkdir(root, 0o755)?;
    let mut child = spawn_tar(root, flag, caps)?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| Error::Software("tar without stdin".into()))?;
    progress(Progress { done: 0, total });
    let copied = feed(&mut input, stdin, |done| progress(Progress { done, total }));
    let out = child.wait_with_output().what(|| "wait for tar".into())?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let first = msg.lines().next().unwrap_or("failed");
        return Err(Error::BadData(format!(
            "{}: tar: {first}",
            tarball.display()
        )));
    }
    copied.what(|| format!("read {}", tarball.display()))
}

/// tar(1) unpacking its standard input into `root`, with `flag` for the
/// compression, and file capabilities when `caps`.
fn spawn_tar(root: &Path, flag: Option<&str>, caps: bool) -> Result<Child> {
    let mut cmd = Command::new("tar");
    cmd.arg("-x")
        .arg("-p")
        .arg("--numeric-owner")
        .arg("-f")
        .arg("-")
        .arg("-C")
        .arg(root);
    if let Some(f) = flag {
        cmd.arg(f);
    }
    if caps {
        cmd.arg("--xattrs")
            .arg("--xattrs-include=security.capability");
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .what(|| "run tar".into())
}

/// Copy `input` into `output` (closed at the end, so that tar sees the end
/// of its input), telling `copied` the bytes copied so far after every
/// block.
fn feed(
    input: &mut impl Read,
    mut output: impl Write,
    mut copied: impl FnMut(u64),
) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut done: u64 = 0;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        output.write_all(&buf[..n])?;
        done += n as u64;
        copied(done);
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("jkit-rootfs-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn tarball_names_pick_the_decompressor() {
        assert_eq!(compression_flag(Path::new("base.txz")).unwrap(), Some("-J"));
        assert_eq!(
            compression_flag(Path::new("a.tar.zst")).unwrap(),
            Some("--zstd")
        );
        assert_eq!(compression_flag(Path::new("a.tar")).unwrap(), None);
        assert_eq!(
            compression_flag(Path::new("a.zip"))
                .unwrap_err()
                .exit_code(),
            64
        );
    }

    #[test]
    fn feeding_reports_the_bytes_copied_after_every_block() {
        let input = vec![7u8; 600 * 1024];
        let mut output = Vec::new();
        let mut reports = Vec::new();
        feed(&mut input.as_slice(), &mut output, |done| {
            reports.push(done)
        })
        .unwrap();
        assert_eq!(output, input);
        assert_eq!(reports, [256 * 1024, 512 * 1024, 600 * 1024]);
    }

    #[test]
    fn thin_root_on_the_host_has_a_fresh_etc_without_secrets() {
        let d = tmp("thin");
        let root = d.join("root");
        let mounts = build_thin(&root, Path::new("/"), "web", Owners::host()).unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m.target == root.join("usr") && m.read_only())
        );
        let shadow = fs::read_to_string(root.join("etc/shadow")).unwrap();
        assert!(
            shadow.lines().all(|l| l.split(':').nth(1) == Some("*")),
            "{shadow}"
        );
        assert!(!root.join("etc/ssh").exists());
        assert_eq!(
            fs::read_to_string(root.join("etc/hostname")).unwrap(),
            "web\n"
        );
        assert!(root.join("etc/ld.so.cache").exists() || !Path::new("/etc/ld.so.cache").exists());
        assert_eq!(fs::read_dir(root.join("root")).unwrap().count(), 0);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn pam_lines_name_included_services_and_modules() {
        assert_eq!(
            pam_line("@include common-auth"),
            (Some("common-auth"), None)
        );
        assert_eq!(
            pam_line("auth\t\tinclude\t\trunuser"),
            (Some("runuser"), None)
        );
        assert_eq!(
            pam_line("account [success=1 new_authtok_reqd=done default=ignore] pam_unix.so"),
            (None, Some("pam_unix"))
        );
        assert_eq!(
            pam_line("-session optional /lib/security/pam_systemd.so # x"),
            (None, Some("pam_systemd"))
        );
        assert_eq!(pam_line("# session required pam_limits.so"), (None, None));
    }

    #[test]
    fn a_fresh_etc_gets_the_pam_files_su_reads_and_no_others() {
        let d = tmp("pam");
        let host = d.join("host");
        fs::create_dir_all(host.join("pam.d")).unwrap();
        fs::create_dir_all(host.join("security/limits.d")).unwrap();
        for (name, text) in [
            (
                "pam.d/su",
                "auth sufficient pam_rootok.so\n@include common-session\n",
            ),
            ("pam.d/common-session", "session required pam_limits.so\n"),
            ("pam.d/login", "session required pam_time.so\n"),
            ("security/limits.conf", ""),
            ("security/time.conf", ""),
            ("security/opasswd", "root:0:1:$y$secret\n"),
        ] {
            fs::write(host.join(name), text).unwrap();
        }
        let etc = d.join("etc");
        fs::create_dir(&etc).unwrap();
        copy_pam(&host, &etc, Owners::host(), &mut Vec::new()).unwrap();
        let names = |dir: &str| {
            let mut n: Vec<String> = fs::read_dir(etc.join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            n.sort();
            n
        };
        assert_eq!(names("pam.d"), ["common-session", "su"]);
        assert_eq!(names("security"), ["limits.conf", "limits.d"]);
        fs::remove_dir_all(&d).unwrap();
    }
}
