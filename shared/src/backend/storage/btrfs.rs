//! btrfs: a subvolume per jail, snapshots as read-only subvolume
//! snapshots, through btrfs-progs' `btrfs` command.

use std::path::Path;

use super::run_command;
use super::send::{Subvol, parse_uuid};
use crate::error::{Error, Result};

/// Whether `dir` is on btrfs.
pub fn is_btrfs(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        nix::sys::statfs::statfs(dir)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::BTRFS_SUPER_MAGIC)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        false
    }
}

/// Whether btrfs-progs is here (without it, jails on btrfs are plain).
pub fn usable() -> bool {
    std::process::Command::new("btrfs")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether `dir` is the top of a subvolume (inode 256 on btrfs).
pub fn is_subvolume(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    is_btrfs(dir) && std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && m.ino() == 256)
}

fn arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Make the subvolume `dir`.
pub fn create(dir: &Path) -> Result<()> {
    run_command(&[
        "btrfs".into(),
        "subvolume".into(),
        "create".into(),
        arg(dir),
    ])
    .map(drop)
}

/// Snapshot the subvolume `src` as `dest`, read-only if asked.
pub fn snapshot(src: &Path, dest: &Path, read_only: bool) -> Result<()> {
    let mut argv = vec!["btrfs".to_string(), "subvolume".into(), "snapshot".into()];
    if read_only {
        argv.push("-r".into());
    }
    argv.extend([arg(src), arg(dest)]);
    run_command(&argv).map(drop)
}

/// Delete the subvolume `dir`.
pub fn delete(dir: &Path) -> Result<()> {
    run_command(&[
        "btrfs".into(),
        "subvolume".into(),
        "delete".into(),
        arg(dir),
    ])
    .map(drop)
}

/// `btrfs send` of the changes from snapshot `parent` to snapshot `snap`.
pub fn send_argv(parent: &Path, snap: &Path) -> Vec<String> {
    vec![
        "btrfs".into(),
        "send".into(),
        "-q".into(),
        "-p".into(),
        arg(parent),
        arg(snap),
    ]
}

/// `btrfs receive` into `dir`, ending at the stream's end.
pub fn receive_argv(dir: &Path) -> Vec<String> {
    vec!["btrfs".into(), "receive".into(), "-e".into(), arg(dir)]
}

/// The read-only snapshot `snap` as `btrfs send` names it (its received
/// UUID if it was received: the sender's; else its own), and as itself
/// (its own UUID), each with its generation (a read-only snapshot's
/// change transaction, as it changes no more).
pub fn identity(snap: &Path) -> Result<(Subvol, Subvol)> {
    let out = run_command(&["btrfs".into(), "subvolume".into(), "show".into(), arg(snap)])?;
    parse_show(&out).ok_or_else(|| {
        Error::Software(format!(
            "btrfs subvolume show {}: no UUID and generation",
            snap.display()
        ))
    })
}

/// The identities of [`identity`] in `btrfs subvolume show` output.
fn parse_show(out: &str) -> Option<(Subvol, Subvol)> {
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(str::trim))
    };
    let ctransid = field("Generation:")?.parse().ok()?;
    let own = Subvol {
        uuid: parse_uuid(field("UUID:")?)?,
        ctransid,
    };
    let named = match field("Received UUID:") {
        Some(r) if r != "-" => Subvol {
            uuid: parse_uuid(r)?,
            ctransid,
        },
        _ => own,
    };
    Some((named, own))
}

#[cfg(test)]
mod tests {
    use super::super::send::uuid_text;
    use super::*;

    #[test]
    fn command_lines_and_show_output() {
        assert_eq!(
            send_argv(Path::new("/s/t1"), Path::new("/s/t2")).join(" "),
            "btrfs send -q -p /s/t1 /s/t2"
        );
        assert_eq!(
            receive_argv(Path::new("/s")).join(" "),
            "btrfs receive -e /s"
        );
        let out = "t1\n\tName: \t\t\tt1\n\tUUID: \t\t\t81c090d5-e0ba-4342-af17-fe33ed471743\n\
                   \tParent UUID: \t\tf89d8f9b-a0f6-6d43-a68c-7de329e2ecb6\n\tReceived UUID: \t\t-\n\
                   \tGeneration: \t\t31\n\tGen at creation: \t31\n";
        let (named, own) = parse_show(out).unwrap();
        assert_eq!(named, own);
        assert_eq!(uuid_text(&own.uuid), "81c090d5-e0ba-4342-af17-fe33ed471743");
        assert_eq!(own.ctransid, 31);
        let received = out.replace("-\n", "35841e8d-8bbd-1744-a633-a8548164a20b\n");
        let (named, own) = parse_show(&received).unwrap();
        assert_eq!(
            uuid_text(&named.uuid),
            "35841e8d-8bbd-1744-a633-a8548164a20b"
        );
        assert_eq!(uuid_text(&own.uuid), "81c090d5-e0ba-4342-af17-fe33ed471743");
    }
}
