//! The mounts of a FreeBSD jail, decided without the kernel: every mount
//! jail(8) makes for a jail in its order, the nmount(2) pairs for each, the
//! check that no mount point passes through a symbolic link, and the record
//! of what a started jail mounted.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::backend::mounts::{self, MountEntry};
use crate::error::{Error, Result};
use crate::model::Jail;

/// Every mount jail(8) makes for `def` whose root is `root`, in its order:
/// the `mount` and `mount.fstab` entries, then devfs on `ROOT/dev` (with
/// ruleset `devfs_ruleset`, default 4), fdescfs on `ROOT/dev/fd`, procfs on
/// `ROOT/proc`. Stopping unmounts them in reverse.
pub fn jail_mounts(def: &Jail, root: &Path) -> Result<Vec<MountEntry>> {
    let mut all = mounts::planned(def, root)?;
    let special = |fstype: &str, target: &str, options: Vec<String>| MountEntry {
        source: fstype.to_string(),
        target: root.join(target),
        fstype: fstype.to_string(),
        options,
    };
    if def.params.flag("mount.devfs") {
        let ruleset = def.params.int("devfs_ruleset").unwrap_or(4);
        all.push(special("devfs", "dev", vec![format!("ruleset={ruleset}")]));
    }
    if def.params.flag("mount.fdescfs") {
        all.push(special("fdescfs", "dev/fd", Vec::new()));
    }
    if def.params.flag("mount.procfs") {
        all.push(special("procfs", "proc", Vec::new()));
    }
    Ok(all)
}

/// fstab options that only mount(8) reads; nmount(2) would reject them.
const FSTAB_ONLY: &[&str] = &[
    "auto",
    "noauto",
    "late",
    "failok",
    "userquota",
    "groupquota",
    "sw",
    "xx",
];

/// The nmount(2) name/value pairs that mount `e` as mount(8) would:
/// `fstype`, `fspath`, the source (`target` for nullfs, `from` otherwise),
/// then each option (`k=v` as a string, a bare word with a NULL value).
pub fn nmount_args(e: &MountEntry) -> Vec<(String, Option<OsString>)> {
    let source_key = if e.fstype == "nullfs" {
        "target"
    } else {
        "from"
    };
    let mut args = vec![
        ("fstype".to_string(), Some(OsString::from(&e.fstype))),
        (
            "fspath".to_string(),
            Some(e.target.clone().into_os_string()),
        ),
        (source_key.to_string(), Some(OsString::from(&e.source))),
    ];
    for o in e
        .options
        .iter()
        .filter(|o| !FSTAB_ONLY.contains(&o.as_str()))
    {
        args.push(match o.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(OsString::from(v))),
            None => (o.clone(), None),
        });
    }
    args
}

/// Filesystem types mount(8) mounts through a helper program
/// (`mount_TYPE`, as its `use_mountprog` list and its FUSE handling
/// decide): they need what the helper does before nmount(2) (an NFS
/// handshake, an SMB login, a FUSE daemon, a device's geometry), so jkit
/// runs mount(8) for them as jail(8) does for every entry.
const HELPER_TYPES: &[&str] = &[
    "cd9660", "fusefs", "mfs", "msdosfs", "nfs", "smbfs", "udf", "unionfs",
];

/// Whether `fstype` is mounted through mount(8) (a type of its helpers);
/// the others are mounted with nmount(2) directly.
pub fn needs_mount_program(fstype: &str) -> bool {
    HELPER_TYPES.contains(&fstype) || fstype.starts_with("fusefs.")
}

/// jail(8)'s mount(8) command line for `e`: `mount -t TYPE [-o OPTS] SOURCE
/// TARGET`, the options as written (mount(8) reads the fstab-only ones).
pub fn mount_command(e: &MountEntry) -> Vec<String> {
    let mut argv = vec!["/sbin/mount".to_string(), "-t".into(), e.fstype.clone()];
    if !e.options.is_empty() {
        argv.push("-o".into());
        argv.push(e.options.join(","));
    }
    argv.push(e.source.clone());
    argv.push(e.target.to_string_lossy().into_owned());
    argv
}

/// Refuse a mount point under `root` that passes through a symbolic link
/// (a jail's root is writable from inside the jail, so a link there could
/// point a mount at the host's own directories), as jail(8)'s check_path.
pub fn check_no_symlinks(root: &Path, target: &Path) -> Result<()> {
    let Ok(rel) = target.strip_prefix(root) else {
        return Ok(());
    };
    let mut p = root.to_path_buf();
    for c in rel.components() {
        p.push(c);
        let meta = std::fs::symlink_metadata(&p).map_err(|e| Error::at("lstat", &p, e))?;
        if meta.file_type().is_symlink() {
            return Err(Error::Config(format!("{} is a symbolic link", p.display())));
        }
    }
    Ok(())
}

/// What a started jail has mounted, kept while it runs so that stopping
/// (or cleaning up after a start that was killed) unmounts exactly that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountsRecord {
    /// The jail's root: nothing below it may be a symbolic link when
    /// unmounting (the jail could have planted one).
    pub root: PathBuf,
    /// The mounts, in the order they were made.
    pub mounts: Vec<MountEntry>,
}

#[derive(Debug, serde::Deserialize)]
struct RecordFile {
    root: String,
    mounts: Vec<String>,
}

impl MountsRecord {
    /// The record as one JSON object (mounts as fstab lines).
    pub fn to_text(&self) -> String {
        let mounts: Vec<String> = self.mounts.iter().map(MountEntry::to_line).collect();
        let json = serde_json::json!({ "root": self.root.to_string_lossy(), "mounts": mounts });
        json.to_string() + "\n"
    }

    /// A record written by [`MountsRecord::to_text`].
    pub fn parse(text: &str) -> Result<Self> {
        let file: RecordFile = serde_json::from_str(text)
            .map_err(|e| Error::BadData(format!("mounts record: {e}")))?;
        let mut mounts = Vec::new();
        for line in &file.mounts {
            mounts.extend(MountEntry::parse(line)?);
        }
        Ok(MountsRecord {
            root: PathBuf::from(file.root),
            mounts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(params: &[&str]) -> Jail {
        crate::model::test_jail(params)
    }

    #[test]
    fn mounts_follow_jail8_order() {
        let mut d = def(&[
            "mount=/usr/local /j/web/usr/local nullfs ro",
            "mount.procfs",
            "mount.fdescfs",
            "mount.devfs",
        ]);
        let root = Path::new("/j/web");
        let all = jail_mounts(&d, root).unwrap();
        let summary: Vec<(String, PathBuf)> = all
            .iter()
            .map(|e| (e.fstype.clone(), e.target.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                ("nullfs".into(), PathBuf::from("/j/web/usr/local")),
                ("devfs".into(), PathBuf::from("/j/web/dev")),
                ("fdescfs".into(), PathBuf::from("/j/web/dev/fd")),
                ("procfs".into(), PathBuf::from("/j/web/proc")),
            ]
        );
        assert_eq!(all[1].options, ["ruleset=4"]);
        d.params.assign("devfs_ruleset=10").unwrap();
        assert_eq!(jail_mounts(&d, root).unwrap()[1].options, ["ruleset=10"]);
        assert!(jail_mounts(&def(&[]), root).unwrap().is_empty());
    }

    #[test]
    fn nmount_pairs_follow_mount8() {
        let e = MountEntry::parse("/usr/local /j/web/usr/local nullfs ro,late")
            .unwrap()
            .unwrap();
        let args = nmount_args(&e);
        let o = |s: &str| Some(OsString::from(s));
        assert_eq!(
            args,
            [
                ("fstype".to_string(), o("nullfs")),
                ("fspath".to_string(), o("/j/web/usr/local")),
                ("target".to_string(), o("/usr/local")),
                ("ro".to_string(), None),
            ]
        );
        let e = MountEntry {
            source: "devfs".into(),
            target: "/j/web/dev".into(),
            fstype: "devfs".into(),
            options: vec!["ruleset=4".into()],
        };
        let args = nmount_args(&e);
        assert_eq!(args[2], ("from".to_string(), o("devfs")));
        assert_eq!(args[3], ("ruleset".to_string(), o("4")));
    }

    #[test]
    fn helper_types_go_through_mount8() {
        for t in [
            "nfs",
            "smbfs",
            "fusefs",
            "fusefs.sshfs",
            "msdosfs",
            "cd9660",
            "unionfs",
            "udf",
        ] {
            assert!(needs_mount_program(t), "{t}");
        }
        for t in [
            "nullfs", "tmpfs", "devfs", "fdescfs", "procfs", "zfs", "ufs", "fusefsx",
        ] {
            assert!(!needs_mount_program(t), "{t}");
        }
        let e = MountEntry::parse("srv:/export /j/web/mnt nfs ro,nfsv4,late")
            .unwrap()
            .unwrap();
        assert_eq!(
            mount_command(&e),
            [
                "/sbin/mount",
                "-t",
                "nfs",
                "-o",
                "ro,nfsv4,late",
                "srv:/export",
                "/j/web/mnt"
            ]
        );
        let e = MountEntry::parse("/dev/cd0 /j/web/cdrom cd9660")
            .unwrap()
            .unwrap();
        assert_eq!(
            mount_command(&e),
            ["/sbin/mount", "-t", "cd9660", "/dev/cd0", "/j/web/cdrom"]
        );
    }

    #[test]
    fn mount_points_may_not_pass_through_symlinks() {
        let dir = std::env::temp_dir().join(format!("jkit-jailparam-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("dev")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("proc")).unwrap();
        check_no_symlinks(&root, &root.join("dev")).unwrap();
        let e = check_no_symlinks(&root, &root.join("proc")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{} is a symbolic link", root.join("proc").display())
        );
        assert!(check_no_symlinks(&root, &root.join("proc/x")).is_err());
        let e = check_no_symlinks(&root, &root.join("missing")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("lstat {}", root.join("missing").display())),
            "{e}"
        );
        check_no_symlinks(&root, Path::new("/elsewhere")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_mounts_record_round_trips() {
        let record = MountsRecord {
            root: "/j/w".into(),
            mounts: vec![
                MountEntry::parse("/my\\040dir /j/w/x nullfs ro")
                    .unwrap()
                    .unwrap(),
                MountEntry {
                    source: "devfs".into(),
                    target: "/j/w/dev".into(),
                    fstype: "devfs".into(),
                    options: vec!["ruleset=4".into()],
                },
            ],
        };
        let text = record.to_text();
        assert_eq!(
            text,
            "{\"mounts\":[\"/my\\\\040dir /j/w/x nullfs ro 0 0\",\"devfs /j/w/dev devfs ruleset=4 0 0\"],\"root\":\"/j/w\"}\n"
        );
        assert_eq!(MountsRecord::parse(&text).unwrap(), record);
        assert!(MountsRecord::parse("").is_err());
        assert!(MountsRecord::parse("{\"root\":\"/j\",\"mounts\":[\"x\"]}").is_err());
    }
}
