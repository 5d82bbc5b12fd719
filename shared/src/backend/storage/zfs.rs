//! ZFS: a dataset per jail, mounted at the jail's directory, below the
//! dataset mounted at the jails directory; snapshots, rollback and diff
//! are ZFS's own. The command lines are built here, apart from running
//! them, so that they are tested on hosts without ZFS.

use std::path::Path;

use super::run_command;
use crate::error::{Error, Result};

fn zfs(args: &[&str]) -> Vec<String> {
    std::iter::once("zfs")
        .chain(args.iter().copied())
        .map(str::to_string)
        .collect()
}

fn arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Whether `dir` may be on ZFS at all (Linux: its statfs magic; a host
/// without ZFS then never runs the command).
fn maybe_zfs(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        const ZFS_SUPER_MAGIC: nix::sys::statfs::FsType = nix::sys::statfs::FsType(0x2fc1_2fc1);
        nix::sys::statfs::statfs(dir).is_ok_and(|s| s.filesystem_type() == ZFS_SUPER_MAGIC)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        true
    }
}

/// `zfs list` of the dataset holding `dir`: its name and mount point.
pub fn list_holder(dir: &Path) -> Vec<String> {
    let mut argv = zfs(&["list", "-H", "-o", "name,mountpoint"]);
    argv.push(arg(dir));
    argv
}

/// The dataset of `list_holder`'s output whose mount point is `dir`.
pub fn mounted_at(output: &str, dir: &Path) -> Option<String> {
    let line = output.lines().next()?;
    let (name, mountpoint) = line.split_once('\t')?;
    (Path::new(mountpoint) == dir).then(|| name.to_string())
}

/// The dataset mounted at `dir`, if any.
pub fn dataset_at(dir: &Path) -> Option<String> {
    if !maybe_zfs(dir) {
        return None;
    }
    mounted_at(&run_command(&list_holder(dir)).ok()?, dir)
}

/// The dataset mounted at `dir`, which must be one.
pub fn dataset_of(dir: &Path) -> Result<String> {
    dataset_at(dir).ok_or_else(|| {
        Error::NotFound(format!(
            "{}: no ZFS dataset is mounted there",
            dir.display()
        ))
    })
}

/// `zfs create` of the dataset `name` below `parent`, mounted at `home`.
pub fn create_below(parent: &str, name: &str, home: &Path) -> Vec<String> {
    zfs(&[
        "create",
        "-o",
        &format!("mountpoint={}", home.display()),
        &format!("{parent}/{name}"),
    ])
}

/// Make the dataset of the jail whose directory is `home`, below the
/// dataset of the jails directory.
pub fn create(home: &Path) -> Result<()> {
    let (Some(parent_dir), Some(name)) = (home.parent(), home.file_name()) else {
        return Err(Error::Software(format!("{}: no parent", home.display())));
    };
    let parent = dataset_of(parent_dir)?;
    run(&create_below(&parent, &name.to_string_lossy(), home))
}

/// `zfs snapshot DATASET@TAG`.
pub fn snapshot(dataset: &str, tag: &str) -> Vec<String> {
    zfs(&["snapshot", &format!("{dataset}@{tag}")])
}

/// `zfs destroy DATASET@TAG`.
pub fn destroy_snapshot(dataset: &str, tag: &str) -> Vec<String> {
    zfs(&["destroy", &format!("{dataset}@{tag}")])
}

/// `zfs rollback DATASET@TAG` (newer snapshots are destroyed first, one by
/// one, by the caller: `-r`'s effect, with their facts).
pub fn rollback(dataset: &str, tag: &str) -> Vec<String> {
    zfs(&["rollback", &format!("{dataset}@{tag}")])
}

/// `zfs destroy -r DATASET`: the jail's dataset with its snapshots.
pub fn destroy_all(dataset: &str) -> Vec<String> {
    zfs(&["destroy", "-r", dataset])
}

/// `zfs list` of snapshot TAG's `used`, in bytes.
pub fn list_used(dataset: &str, tag: &str) -> Vec<String> {
    zfs(&[
        "list",
        "-Hp",
        "-t",
        "snapshot",
        "-o",
        "used",
        &format!("{dataset}@{tag}"),
    ])
}

/// The bytes only snapshot `tag` of `dataset` holds.
pub fn used(dataset: &str, tag: &str) -> Option<u64> {
    run_command(&list_used(dataset, tag))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether `dataset` has snapshot `tag`.
pub fn has_snapshot(dataset: &str, tag: &str) -> bool {
    run_command(&list_used(dataset, tag)).is_ok()
}

/// `zfs diff -H` from snapshot `from` to snapshot `to` (the live dataset
/// when `None`).
pub fn diff(dataset: &str, from: &str, to: Option<&str>) -> Vec<String> {
    let to = to.map_or_else(|| dataset.to_string(), |t| format!("{dataset}@{t}"));
    zfs(&["diff", "-H", &format!("{dataset}@{from}"), &to])
}

/// The changes of `zfs diff -H` output under `top` (the directory the
/// paths are relative to): (letter, path, new path of a rename).
pub fn parse_diff(output: &str, top: &Path) -> Vec<(String, String, Option<String>)> {
    let inside = |p: &str| -> Option<String> {
        let rel = Path::new(p).strip_prefix(top).ok()?;
        Some(format!("/{}", rel.display()))
    };
    output
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let change = f.next()?.to_string();
            let path = inside(f.next()?)?;
            let to = f.next().and_then(inside);
            Some((change, path, to))
        })
        .collect()
}

/// `zfs send -i` of the changes from snapshot `from` to snapshot `to`.
pub fn send_incremental(dataset: &str, from: &str, to: &str) -> Vec<String> {
    zfs(&[
        "send",
        "-i",
        &format!("@{from}"),
        &format!("{dataset}@{to}"),
    ])
}

/// `zfs recv -F` into `dataset`: its files become the stream's last
/// snapshot's (ZFS checks the stream's base is the dataset's latest).
pub fn receive_into(dataset: &str) -> Vec<String> {
    zfs(&["recv", "-F", dataset])
}

/// Run a zfs command line.
pub fn run(argv: &[String]) -> Result<()> {
    run_command(argv).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(argv: &[String]) -> String {
        argv.join(" ")
    }

    #[test]
    fn command_lines() {
        assert_eq!(
            line(&list_holder(Path::new("/j"))),
            "zfs list -H -o name,mountpoint /j"
        );
        assert_eq!(
            line(&create_below("tank/jails", "web", Path::new("/j/web"))),
            "zfs create -o mountpoint=/j/web tank/jails/web"
        );
        assert_eq!(
            line(&snapshot("tank/jails/web", "t1")),
            "zfs snapshot tank/jails/web@t1"
        );
        assert_eq!(
            line(&destroy_snapshot("tank/jails/web", "t1")),
            "zfs destroy tank/jails/web@t1"
        );
        assert_eq!(
            line(&rollback("tank/jails/web", "t1")),
            "zfs rollback tank/jails/web@t1"
        );
        assert_eq!(
            line(&destroy_all("tank/jails/web")),
            "zfs destroy -r tank/jails/web"
        );
        assert_eq!(
            line(&list_used("tank/jails/web", "t1")),
            "zfs list -Hp -t snapshot -o used tank/jails/web@t1"
        );
        assert_eq!(
            line(&diff("tank/jails/web", "t1", None)),
            "zfs diff -H tank/jails/web@t1 tank/jails/web"
        );
        assert_eq!(
            line(&diff("tank/jails/web", "t1", Some("t2"))),
            "zfs diff -H tank/jails/web@t1 tank/jails/web@t2"
        );
        assert_eq!(
            line(&send_incremental("tank/jails/web", "t1", "t2")),
            "zfs send -i @t1 tank/jails/web@t2"
        );
        assert_eq!(
            line(&receive_into("tank/jails/b")),
            "zfs recv -F tank/jails/b"
        );
    }

    #[test]
    fn outputs() {
        let dir = Path::new("/j");
        assert_eq!(
            mounted_at("tank/jails\t/j\n", dir),
            Some("tank/jails".into())
        );
        // The dataset holding a directory that is not its mount point.
        assert_eq!(mounted_at("tank\t/\n", dir), None);
        let out = "M\t/j/web/root/etc\n+\t/j/web/root/etc/new\n-\t/j/web/root/old\n\
                   R\t/j/web/root/a\t/j/web/root/b\nM\t/j/web/jkit.json\n";
        assert_eq!(
            parse_diff(out, Path::new("/j/web/root")),
            vec![
                ("M".into(), "/etc".into(), None),
                ("+".into(), "/etc/new".into(), None),
                ("-".into(), "/old".into(), None),
                ("R".into(), "/a".into(), Some("/b".into())),
            ]
        );
    }
}
