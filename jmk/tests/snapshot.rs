//! Snapshots, rollback, clones of snapshots, diff, export and import on
//! real filesystems: btrfs (a subvolume per jail) and ext4 (plain copies),
//! each in a loop file the test makes and mounts, the jails' state on it.

#![cfg(target_os = "linux")]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use jkit_tests::{Out, TestEnv, mini_rootfs, require_root};

/// A filesystem of `kind` in a loop file, mounted; unmounted and deleted
/// on drop (after the environment on it, which is dropped first).
struct LoopFs {
    env: Option<TestEnv>,
    mnt: PathBuf,
    image: PathBuf,
}

impl LoopFs {
    /// A `mb` MiB filesystem made by `mkfs.KIND`, with a test environment
    /// on it.
    fn new(kind: &str, mb: u64, tag: &str) -> LoopFs {
        let mkfs = format!("mkfs.{kind}");
        let found = Command::new(&mkfs).arg("-V").output().is_ok();
        assert!(
            found,
            "{mkfs} is missing: install btrfs-progs / e2fsprogs (.ci/run does)"
        );
        let dir = std::env::temp_dir().join(format!("jkit-loop-{tag}-{}", std::process::id()));
        let _ = Command::new("umount")
            .arg("-l")
            .arg(dir.join("mnt"))
            .output();
        let _ = fs::remove_dir_all(&dir);
        let (mnt, image) = (dir.join("mnt"), dir.join("fs.img"));
        fs::create_dir_all(&mnt).unwrap();
        fs::File::create(&image).unwrap().set_len(mb << 20).unwrap();
        let made = Out::of(Command::new(&mkfs).arg("-q").arg(&image));
        assert!(made.success(), "{mkfs}: {made}");
        let mounted = Out::of(
            Command::new("mount")
                .arg("-o")
                .arg("loop")
                .arg(&image)
                .arg(&mnt),
        );
        assert!(mounted.success(), "mount: {mounted}");
        let env = TestEnv::new_in(&mnt, tag);
        LoopFs {
            env: Some(env),
            mnt,
            image,
        }
    }

    fn env(&self) -> &TestEnv {
        self.env.as_ref().unwrap()
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        drop(self.env.take());
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).output();
        let _ = fs::remove_dir_all(self.image.parent().unwrap());
    }
}

fn records(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// A failure of `jmk args` with status `code` and one line on stderr.
fn fails(env: &TestEnv, args: &[&str], code: i32) -> String {
    let out = env.run("jmk", args);
    assert_eq!(out.code(), code, "jmk {args:?}: {out}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out}");
    out.stderr
}

fn jexec(env: &TestEnv, jail: &str, script: &str) -> String {
    env.run("jexec-rs", &[jail, "sh", "-c", script])
        .ok()
        .to_string()
}

#[test]
fn btrfs_snapshot_rollback_clone_diff_export_import() {
    require_root!();
    let lfs = LoopFs::new("btrfs", 256, "snapbtrfs");
    let env = lfs.env();
    env.create_host_jail("a", &[]);
    let conf = fs::read_to_string(env.paths.jail_conf("a")).unwrap();
    assert!(conf.contains("jkit.storage = btrfs;"), "{conf}");
    let root = env.paths.jail_root("a");
    env.jmk_ok(&["start", "a"]);
    let jls = env.run("jls-rs", &["--json"]);
    assert!(jls.ok().contains(r#""jkit.storage":"btrfs""#), "{jls}");
    jexec(env, "a", "echo one > /etc/ver; echo x > /etc/old");

    // A snapshot of the running jail; its tag taken twice is refused.
    let taken = records(&env.jmk_ok(&["--json", "snapshot", "a@t1"]));
    assert_eq!(taken[0]["kind"], "btrfs");
    assert_eq!(taken[0]["tag"], "t1");
    assert!(fails(env, &["snapshot", "a@t1"], 73).contains("already exists"));
    jexec(
        env,
        "a",
        "echo two > /etc/ver; mv /etc/old /etc/moved; echo n > /etc/new",
    );
    env.jmk_ok(&["snapshot", "a@t2"]);
    let diff = env.jmk_ok(&["diff", "a@t1"]);
    for line in ["M\t/etc/ver", "R\t/etc/old -> /etc/moved", "+\t/etc/new"] {
        assert!(diff.lines().any(|l| l == line), "{line:?} in\n{diff}");
    }
    let json = records(&env.jmk_ok(&["--json", "diff", "a@t1", "@t2"]));
    assert!(
        json.iter()
            .any(|r| r["change"] == "R" && r["to"] == "/etc/moved"),
        "{json:?}"
    );
    // Nothing changed since the latest snapshot.
    assert_eq!(env.jmk_ok(&["diff", "a"]), "");
    let listed = env.jmk_ok(&["snapshot", "-l", "a"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.starts_with("a@t1\t"), "{listed}");

    // Rollback: refused while the jail runs and past a newer snapshot,
    // the jail untouched; -f -r stops, rolls back and starts it.
    assert!(fails(env, &["rollback", "a@t1"], 75).contains("-r"));
    assert!(fails(env, &["rollback", "-r", "a@t1"], 75).contains("running"));
    assert_eq!(jexec(env, "a", "cat /etc/ver"), "two\n");
    fails(env, &["rollback", "a@nope"], 66);
    env.jmk_ok(&["rollback", "-f", "-r", "a@t1"]);
    assert_eq!(jexec(env, "a", "cat /etc/ver /etc/old"), "one\nx\n");
    assert_eq!(env.jmk_ok(&["snapshot", "-l", "a"]).lines().count(), 1);

    // A clone of the snapshot, in its own id range; the snapshot cannot
    // go while the clone uses it.
    env.jmk_ok(&["clone", "a@t1", "c"]);
    env.jmk_ok(&["start", "c"]);
    assert_eq!(
        jexec(env, "c", "cat /etc/ver; stat -c %u /etc/ver"),
        "one\n0\n"
    );
    assert!(fails(env, &["snapshot", "-d", "a@t1"], 75).contains("clones (c)"));
    env.jmk_ok(&["destroy", "-f", "c"]);
    env.jmk_ok(&["snapshot", "-d", "a@t1"]);
    fails(env, &["snapshot", "-d", "a@t1"], 66);

    // Export of a snapshot, import as another jail in its own range.
    env.jmk_ok(&["snapshot", "a@t3"]);
    let archive = lfs.mnt.join("a.jkit");
    env.jmk_ok(&["export", "a@t3", archive.to_str().unwrap()]);
    let live = lfs.mnt.join("live.jkit");
    assert!(fails(env, &["export", "a", live.to_str().unwrap()], 75).contains("running"));
    assert!(!live.exists());
    env.jmk_ok(&["import", archive.to_str().unwrap(), "b"]);
    let base_a = fs::metadata(root.join("etc/ver")).unwrap().uid();
    let base_b = fs::metadata(env.paths.jail_root("b").join("etc/ver"))
        .unwrap()
        .uid();
    assert_ne!(base_a, base_b);
    assert_eq!(base_b % 65_536, 0);
    env.jmk_ok(&["start", "b"]);
    assert_eq!(
        jexec(env, "b", "cat /etc/ver; stat -c %u /etc/ver"),
        "one\n0\n"
    );

    // Archives that are not jkit's or are cut short: one line, no jail.
    let cut = lfs.mnt.join("cut.jkit");
    let bytes = fs::read(&archive).unwrap();
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(fails(env, &["import", cut.to_str().unwrap(), "d"], 65).contains("truncated"));
    fails(env, &["import", "/etc/passwd", "d"], 65);
    assert!(!env.paths.jail_conf("d").exists());
    assert!(!env.paths.jail_dir("d").exists());
    assert!(fails(env, &["import", archive.to_str().unwrap(), "b"], 73).contains("exists"));

    env.jmk_ok(&["destroy", "-f", "b"]);
    env.jmk_ok(&["destroy", "-f", "a"]);
    assert_eq!(
        fs::read_dir(env.paths.jails_dir().join(".snapshots"))
            .unwrap()
            .count(),
        0
    );
}

/// Every file under `dir` (not following links), with its owner.
fn owners(dir: &Path, out: &mut Vec<(PathBuf, u32, u32)>) {
    let meta = fs::symlink_metadata(dir).unwrap();
    out.push((dir.to_path_buf(), meta.uid(), meta.gid()));
    if meta.is_dir() {
        for e in fs::read_dir(dir).unwrap() {
            owners(&e.unwrap().path(), out);
        }
    }
}

/// The jail's first host id.
fn id_base(env: &TestEnv, jail: &str) -> u32 {
    let conf = fs::read_to_string(env.paths.jail_conf(jail)).unwrap();
    let line = conf.lines().find(|l| l.contains("jkit.idbase")).unwrap();
    line.trim()
        .trim_start_matches("jkit.idbase = ")
        .trim_end_matches(';')
        .parse()
        .unwrap()
}

#[test]
fn btrfs_incremental_export_applies_the_changes_to_a_jail_in_another_range() {
    require_root!();
    let lfs = LoopFs::new("btrfs", 256, "snapinc");
    let env = lfs.env();
    let path = |name: &str| lfs.mnt.join(name).to_str().unwrap().to_string();
    env.create_host_jail("a", &[]);
    env.jmk_ok(&["start", "a"]);
    jexec(
        env,
        "a",
        "echo one > /etc/ver; echo x > /etc/gone; mkdir /etc/d; echo f > /etc/d/f; \
         ln /etc/ver /etc/hard; ln -s ver /etc/sym; mkfifo /etc/fifo; \
         touch /etc/suid; chown 1000:1001 /etc/suid; chmod 4750 /etc/suid",
    );
    env.jmk_ok(&["snapshot", "a@t1"]);
    env.jmk_ok(&["export", "a@t1", &path("full.jkit")]);
    env.jmk_ok(&["import", &path("full.jkit"), "b"]);
    // The import keeps the snapshot it was made of, for what follows.
    assert!(env.jmk_ok(&["snapshot", "-l", "b"]).starts_with("b@t1\t"));
    // Links, fifos, owners and set-id bits as they were, in b's range.
    let root_b = env.paths.jail_root("b");
    let base_b = id_base(env, "b");
    let meta = |p: &str| fs::symlink_metadata(root_b.join(p)).unwrap();
    assert_eq!(meta("etc/hard").ino(), meta("etc/ver").ino());
    assert_eq!(
        fs::read_link(root_b.join("etc/sym")).unwrap(),
        Path::new("ver")
    );
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(
        &meta("etc/fifo").file_type()
    ));
    let suid = meta("etc/suid");
    assert_eq!(
        (suid.uid(), suid.gid(), suid.mode() & 0o7777),
        (base_b + 1000, base_b + 1001, 0o4750)
    );
    assert_eq!((meta("etc/ver").uid(), meta("etc").gid()), (base_b, base_b));

    // Added, modified, deleted, renamed and given to a user of the jail.
    jexec(
        env,
        "a",
        "echo two > /etc/ver; rm /etc/gone; echo n > /etc/new; chown 1000:1001 /etc/new; \
         mv /etc/d /etc/e",
    );
    env.jmk_ok(&["snapshot", "a@t2"]);
    assert!(fails(env, &["export", "-i", "nope", "a@t2", &path("x.jkit")], 66).contains("a@nope"));
    env.jmk_ok(&["export", "-i", "t1", "a@t2", &path("inc.jkit")]);

    // Refused, the jail as it was: a cut archive, a missing base, another
    // lineage, a stream that is not btrfs's.
    let bytes = fs::read(path("inc.jkit")).unwrap();
    fs::write(path("cut.jkit"), &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = fails(env, &["import", &path("cut.jkit"), "b"], 65);
    assert!(err.contains("truncated"), "{err}");
    env.jmk_ok(&["import", &path("full.jkit"), "c"]);
    env.jmk_ok(&["snapshot", "-d", "c@t1"]);
    assert!(fails(env, &["import", &path("inc.jkit"), "c"], 66).contains("c@t1 not found"));
    env.jmk_ok(&["snapshot", "c@t1"]);
    assert!(fails(env, &["import", &path("inc.jkit"), "c"], 65).contains("another lineage"));
    assert_eq!(env.jmk_ok(&["snapshot", "-l", "c"]).lines().count(), 1);
    let foreign = lfs.mnt.join("foreign");
    fs::create_dir_all(foreign.join("stream")).unwrap();
    let mut manifest: serde_json::Value = {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "zstd -dc {} | tar -xOf - jkit-export.json",
                path("inc.jkit")
            ))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    manifest["name"] = "a".into();
    fs::write(foreign.join("jkit-export.json"), manifest.to_string()).unwrap();
    fs::write(foreign.join("stream/000000"), "not a btrfs stream").unwrap();
    fs::write(foreign.join("jkit-end"), "").unwrap();
    let sh = format!(
        "tar -C {f} -cf - jkit-export.json stream/000000 jkit-end | zstd -q -o {f}.jkit",
        f = foreign.display()
    );
    assert!(Out::of(Command::new("sh").arg("-c").arg(&sh)).success());
    let err = fails(
        env,
        &["import", &format!("{}.jkit", foreign.display()), "b"],
        65,
    );
    assert!(err.contains("btrfs send stream"), "{err}");
    let root_b = env.paths.jail_root("b");
    assert_eq!(fs::read_to_string(root_b.join("etc/ver")).unwrap(), "one\n");
    assert_eq!(env.jmk_ok(&["snapshot", "-l", "b"]).lines().count(), 1);

    env.jmk_ok(&["import", &path("inc.jkit"), "b"]);
    assert!(fails(env, &["import", &path("inc.jkit"), "b"], 73).contains("b@t2 already exists"));
    let listed = env.jmk_ok(&["snapshot", "-l", "b"]);
    assert!(
        listed.lines().nth(1).unwrap().starts_with("b@t2\t"),
        "{listed}"
    );
    assert_eq!(fs::read_to_string(root_b.join("etc/ver")).unwrap(), "two\n");
    assert!(!root_b.join("etc/gone").exists());
    assert!(root_b.join("etc/e/f").exists() && !root_b.join("etc/d").exists());
    assert_eq!(
        fs::read_to_string(root_b.join("etc/hard")).unwrap(),
        "two\n"
    );
    // Every file is the range's of b, the user's moved with it.
    let base_a = id_base(env, "a");
    assert_ne!(base_a, base_b);
    let new = fs::metadata(root_b.join("etc/new")).unwrap();
    assert_eq!((new.uid(), new.gid()), (base_b + 1000, base_b + 1001));
    let mut found = Vec::new();
    owners(&root_b, &mut found);
    let outside: Vec<_> = found
        .iter()
        .filter(|(_, u, g)| {
            !(base_b..base_b + 65_536).contains(u) || !(base_b..base_b + 65_536).contains(g)
        })
        .collect();
    assert!(outside.is_empty(), "outside b's range: {outside:?}");
    env.jmk_ok(&["start", "b"]);
    assert_eq!(
        jexec(
            env,
            "b",
            "cat /etc/ver /etc/new /etc/e/f; stat -c '%u %g' /etc/new; test -e /etc/gone || echo gone"
        ),
        "two\nn\nf\n1000 1001\ngone\n"
    );
    // The next changes build on the snapshot received.
    jexec(env, "a", "echo three > /etc/ver; chown 1002 /etc/e/f");
    env.jmk_ok(&["snapshot", "a@t3"]);
    env.jmk_ok(&["export", "-i", "@t2", "a@t3", &path("inc3.jkit")]);
    assert!(fails(env, &["import", &path("inc3.jkit"), "b"], 75).contains("running"));
    env.jmk_ok(&["stop", "b"]);
    env.jmk_ok(&["import", &path("inc3.jkit"), "b"]);
    assert_eq!(
        fs::read_to_string(root_b.join("etc/ver")).unwrap(),
        "three\n"
    );
    assert_eq!(
        fs::metadata(root_b.join("etc/e/f")).unwrap().uid(),
        base_b + 1002
    );
    // A jail of the received snapshot, and changes made in b after it.
    env.jmk_ok(&["export", "b@t3", &path("b3.jkit")]);
    env.jmk_ok(&["import", &path("b3.jkit"), "d"]);
    env.jmk_ok(&["start", "b"]);
    jexec(env, "b", "echo four > /etc/ver");
    env.jmk_ok(&["snapshot", "b@t4"]);
    env.jmk_ok(&["export", "-i", "t3", "b@t4", &path("b4.jkit")]);
    env.jmk_ok(&["import", &path("b4.jkit"), "d"]);
    let ver = env.paths.jail_root("d").join("etc/ver");
    assert_eq!(fs::read_to_string(ver).unwrap(), "four\n");
    for j in ["a", "b", "c", "d"] {
        env.jmk_ok(&["destroy", "-f", j]);
    }
}

#[test]
fn plain_snapshots_on_ext4_are_copies_and_a_full_disk_leaves_the_jail_alone_and_refuses_an_import()
{
    require_root!();
    let lfs = LoopFs::new("ext4", 64, "snapext4");
    let env = lfs.env();
    let src = lfs.mnt.join("src");
    mini_rootfs(&src);
    env.jmk_ok(&["create", "--from", src.to_str().unwrap(), "p"]);
    let conf = fs::read_to_string(env.paths.jail_conf("p")).unwrap();
    assert!(conf.contains("jkit.storage = plain;"), "{conf}");
    let root = env.paths.jail_root("p");
    fs::write(root.join("etc/ver"), "one\n").unwrap();
    let taken = records(&env.jmk_ok(&["--json", "snapshot", "p@t1"]));
    assert_eq!(taken[0]["kind"], "copy");
    assert!(taken[0]["bytes"].as_u64().unwrap() > 0, "{taken:?}");
    fs::write(root.join("etc/ver"), "two!\n").unwrap();
    fs::remove_file(root.join("etc/group")).unwrap();
    assert_eq!(
        env.jmk_ok(&["diff", "p@t1"]),
        "M\t/etc\n-\t/etc/group\nM\t/etc/ver\n"
    );
    env.jmk_ok(&["rollback", "p@t1"]);
    assert_eq!(fs::read_to_string(root.join("etc/ver")).unwrap(), "one\n");
    let inc = lfs.mnt.join("inc.jkit");
    let err = fails(
        env,
        &["export", "-i", "t1", "p@t1", inc.to_str().unwrap()],
        69,
    );
    assert!(err.contains("plain directories"), "{err}");
    assert!(!inc.exists());
    assert!(root.join("etc/group").exists());

    // No room for a second copy: one line, the jail and its snapshots as
    // they were, nothing of the failed snapshot left.
    let big = root.join("big");
    fs::write(&big, vec![7u8; 30 << 20]).unwrap();
    let err = fails(env, &["snapshot", "p@t2"], 71);
    assert!(err.contains("No space left"), "{err}");
    assert_eq!(env.jmk_ok(&["snapshot", "-l"]).lines().count(), 1);
    assert!(!env.paths.snapshots_dir("p").join("t2").exists());
    assert_eq!(fs::metadata(&big).unwrap().len(), 30 << 20);

    // No room to import it again (the data is written by the import's
    // writer thread): its error, one line, and nothing of the new jail.
    let archive = std::env::temp_dir().join(format!("jkit-full-{}.jkit", std::process::id()));
    env.jmk_ok(&["export", "p", archive.to_str().unwrap()]);
    let err = fails(env, &["import", archive.to_str().unwrap(), "q"], 75);
    let _ = fs::remove_file(&archive);
    assert!(err.contains("no space left to unpack root/big"), "{err}");
    assert!(!env.paths.jail_conf("q").exists());
    assert!(!env.paths.jail_dir("q").exists());
    env.jmk_ok(&["destroy", "p"]);
    assert!(!Path::new(&env.paths.snapshots_dir("p")).exists());
}

#[test]
fn an_archive_cannot_write_through_a_link_out_of_the_root() {
    require_root!();
    let env = TestEnv::new("snapevil");
    let stage = env.base.join("stage");
    let outside = env.base.join("outside");
    fs::create_dir_all(stage.join("root")).unwrap();
    fs::create_dir_all(stage.join("evil")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let manifest = serde_json::json!({
        "format": "jkit-export", "version": 1, "name": "evil", "layout": "thick",
        "release": null, "definition": "evil {\n\tpath = /nowhere;\n}\n",
        "fstab": [], "rctl": [], "rdr": "", "tags": ""
    });
    fs::write(stage.join("jkit-export.json"), manifest.to_string()).unwrap();
    std::os::unix::fs::symlink(&outside, stage.join("root/x")).unwrap();
    fs::write(stage.join("evil/pwned"), "pwned\n").unwrap();
    fs::write(stage.join("jkit-end"), "").unwrap();
    let tar = env.base.join("a.tar");
    let sh = format!(
        "tar -C {s} -cf {t} jkit-export.json root && \
         tar -C {s} -rf {t} --transform 's,^evil,root/x,' evil/pwned && \
         tar -C {s} -rf {t} jkit-end && zstd -q {t} -o {t}.zst",
        s = stage.display(),
        t = tar.display()
    );
    assert!(Out::of(Command::new("sh").arg("-c").arg(&sh)).success());
    let archive = format!("{}.zst", tar.display());
    let err = fails(&env, &["import", &archive], 65);
    assert!(err.contains("root/x/pwned"), "{err}");
    assert!(!outside.join("pwned").exists(), "written outside the root");
    assert!(!env.paths.jail_dir("evil").exists());
    assert!(!env.paths.jail_conf("evil").exists());
}

#[test]
fn a_plain_snapshot_of_a_running_jail_never_follows_a_link_the_jail_swaps_in() {
    require_root!();
    let env = TestEnv::new("snaprace");
    let secret = env.base.join("secret");
    fs::create_dir_all(&secret).unwrap();
    fs::write(secret.join("marker"), "host\n").unwrap();
    env.create_host_jail("r", &[]);
    env.jmk_ok(&["start", "r"]);
    // The jail's root swaps directories of its own with symlinks to a host
    // directory, as fast as it can, while the host copies its files.
    let swap = format!(
        "for i in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do mkdir -p /d$i/x; ln -s {} /l$i; done; \
         nohup perl -e 'while (1) {{ for my $i (0..15) {{ rename \"/d$i\", \"/t$i\"; \
         rename \"/l$i\", \"/d$i\"; rename \"/d$i\", \"/l$i\"; rename \"/t$i\", \"/d$i\" }} }}' \
         >/dev/null 2>&1 &",
        secret.display()
    );
    jexec(&env, "r", &swap);
    let snaps = env.paths.snapshots_dir("r");
    let mut taken = 0;
    for n in 0..15 {
        let tag = format!("s{n}");
        // A copy may meet a file swapped under it: refused, nothing left.
        let out = env.run("jmk", &["snapshot", &format!("r@{tag}")]);
        if !out.success() {
            eprintln!("{out}");
        }
        taken += usize::from(out.success());
        let copy = snaps.join(&tag).join("root");
        for name in (0..16).flat_map(|i| ["d", "t", "l"].map(|p| format!("{p}{i}"))) {
            // A directory of the copy (not the symlink the jail made).
            let dir = copy.join(name);
            let real_dir = fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
            let leak = real_dir && dir.join("marker").exists();
            assert!(!leak, "{} holds the host's file: {out}", dir.display());
        }
    }
    // The copies went on through the swaps.
    assert!(taken >= 12, "{taken} of 15 snapshots taken");
    env.jmk_ok(&["stop", "r"]);
}

#[test]
fn a_thin_jail_on_a_release_snapshots_rolls_back_and_clones_its_private_layer() {
    require_root!();
    let lfs = LoopFs::new("btrfs", 256, "snaplayer");
    let env = lfs.env();
    let tree = env.base.join("rel");
    mini_rootfs(&tree);
    fs::write(tree.join("etc/motd"), "release\n").unwrap();
    fs::write(tree.join("etc/gone"), "g\n").unwrap();
    // rm loads what ls does.
    fs::copy("/bin/rm", tree.join("bin/rm")).unwrap();
    env.jmk_ok(&["release", "add", "rel", tree.to_str().unwrap()]);
    env.jmk_ok(&["create", "a", "--release", "rel"]);
    env.jmk_ok(&["start", "a"]);
    jexec(env, "a", "echo a > /etc/motd; echo n > /etc/new");
    env.jmk_ok(&["snapshot", "a@t1"]);
    jexec(env, "a", "echo later > /etc/motd; rm /etc/gone /etc/new");
    // The merged tree's changes: a release file removed (a whiteout in
    // the private layer) is a removal, not an addition.
    let diff = env.jmk_ok(&["diff", "a@t1"]);
    for line in ["M\t/etc/motd", "-\t/etc/gone", "-\t/etc/new"] {
        assert!(diff.lines().any(|l| l == line), "{line:?} in\n{diff}");
    }
    assert!(!diff.contains("+\t"), "{diff}");

    // A clone of the snapshot: the snapshot's private layer over the release.
    env.jmk_ok(&["clone", "a@t1", "c"]);
    env.jmk_ok(&["start", "c"]);
    assert_eq!(
        jexec(env, "c", "cat /etc/motd /etc/gone /etc/new"),
        "a\ng\nn\n"
    );
    assert!(fails(env, &["snapshot", "-d", "a@t1"], 75).contains("clones (c)"));
    // A clone's snapshot is cloned over the same layers: its own private
    // layer as the snapshot holds it, then a@t1's, then the release.
    jexec(env, "c", "echo c > /etc/motd");
    env.jmk_ok(&["snapshot", "c@s1"]);
    jexec(env, "c", "echo c2 > /etc/motd");
    env.jmk_ok(&["clone", "c@s1", "d"]);
    env.jmk_ok(&["start", "d"]);
    assert_eq!(jexec(env, "d", "cat /etc/motd /etc/gone"), "c\ng\n");
    env.jmk_ok(&["destroy", "-f", "d"]);

    // A clone of the jail as it is stands on its private layer: no
    // rollback under it.
    env.jmk_ok(&["clone", "a", "live"]);
    let err = fails(env, &["rollback", "-f", "a@t1"], 75);
    assert!(
        err.contains("clones of its files as they are (live)"),
        "{err}"
    );
    assert_eq!(jexec(env, "a", "cat /etc/motd"), "later\n");
    env.jmk_ok(&["destroy", "live"]);

    // Rollback of the running jail: its private layer as it was, the
    // release below it untouched.
    env.jmk_ok(&["rollback", "-f", "a@t1"]);
    assert_eq!(
        jexec(env, "a", "cat /etc/motd /etc/gone /etc/new"),
        "a\ng\nn\n"
    );
    assert_eq!(env.jmk_ok(&["diff", "a"]), "");
    assert_eq!(
        fs::read_to_string(tree.join("etc/motd")).unwrap(),
        "release\n"
    );
    // After the rollback, the jail's changes go on being its own.
    jexec(env, "a", "rm /etc/motd");
    assert_eq!(env.jmk_ok(&["diff", "a"]), "M\t/etc\n-\t/etc/motd\n");
    assert!(tree.join("etc/motd").exists());

    // An archive holds one whole root: a layered jail is refused, in one
    // line, nothing written.
    let archive = lfs.mnt.join("a.jkit");
    let err = fails(env, &["export", "a@t1", archive.to_str().unwrap()], 69);
    assert!(err.contains("layered"), "{err}");
    assert!(!archive.exists());

    env.jmk_ok(&["destroy", "-f", "c"]);
    env.jmk_ok(&["destroy", "-f", "a"]);
    assert!(
        env.leftover_mounts().is_empty(),
        "{:?}",
        env.leftover_mounts()
    );
}

#[test]
fn plain_copies_of_a_thin_jail_on_a_release_keep_its_whiteouts_and_opaque_directories() {
    require_root!();
    let lfs = LoopFs::new("ext4", 64, "snaplayext4");
    let env = lfs.env();
    let tree = env.base.join("rel");
    mini_rootfs(&tree);
    fs::copy("/bin/rm", tree.join("bin/rm")).unwrap();
    fs::create_dir_all(tree.join("etc/sub")).unwrap();
    fs::write(tree.join("etc/sub/f"), "f\n").unwrap();
    fs::write(tree.join("etc/gone"), "g\n").unwrap();
    env.jmk_ok(&["release", "add", "rel", tree.to_str().unwrap()]);
    env.jmk_ok(&["create", "a", "--release", "rel"]);
    env.jmk_ok(&["start", "a"]);
    // A release directory removed and made again hides the release's
    // files in it (an opaque directory); a removed file stays removed.
    jexec(
        env,
        "a",
        "rm -r /etc/sub /etc/gone; mkdir /etc/sub; echo o > /etc/sub/own",
    );
    let taken = records(&env.jmk_ok(&["--json", "snapshot", "a@t1"]));
    assert_eq!(taken[0]["kind"], "copy");
    jexec(env, "a", "echo later > /etc/sub/own");
    env.jmk_ok(&["rollback", "-f", "a@t1"]);
    assert_eq!(
        jexec(
            env,
            "a",
            "ls /etc/sub; cat /etc/gone 2>/dev/null || echo none"
        ),
        "own\nnone\n"
    );
    env.jmk_ok(&["clone", "a@t1", "c"]);
    env.jmk_ok(&["start", "c"]);
    assert_eq!(jexec(env, "c", "ls /etc/sub"), "own\n");
    env.jmk_ok(&["destroy", "-f", "c"]);
    env.jmk_ok(&["destroy", "-f", "a"]);
}
