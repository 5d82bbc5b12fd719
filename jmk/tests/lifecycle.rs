//! End-to-end tests of jmk on the real Linux backend: real namespaces,
//! mounts and processes. Each test runs in its own state directory and
//! cleans up on drop, even when it fails.

#![cfg(target_os = "linux")]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use jkit::backend::linux::start::pins;
use jkit_tests::{
    Out, TestEnv, bin, mini_rootfs, mounts_containing, output_with_stdin, require_root, with_dirs,
};

fn records(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn create_start_list_stop_destroy() {
    require_root!();
    let env = TestEnv::new("life");
    let created = records(&env.jmk_ok(&["--json", "create", "web"]));
    assert_eq!(created[0]["state"], "stopped");
    assert_eq!(created[0]["jid"], serde_json::Value::Null);
    let conf = fs::read_to_string(env.paths.jail_conf("web")).unwrap();
    assert!(conf.starts_with("web {"), "{conf}");
    assert!(conf.contains("persist;"), "{conf}");

    let started = records(&env.jmk_ok(&["--json", "start", "web"]));
    assert_eq!(started[0]["state"], "running");
    assert_eq!(started[0]["jid"], 1);
    assert_eq!(started[0]["hostname"], "web");
    assert_eq!(started[0]["backend"], "linux");

    // the jail lives on with no jmk running: its init is pid 1 inside, and
    // its namespaces are pinned (in the holder, not in the host's table),
    // its user namespace among them
    assert_eq!(
        pins::pinned(&env.paths, "web").unwrap(),
        ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"]
    );
    // one mount in the host's table per running jail: its mnt pin
    let mnt_pin = env.paths.run_jail_dir("web").join("mnt");
    assert_eq!(env.leftover_mounts(), [mnt_pin.display().to_string()]);
    let jails = env.jkit().backend().list(false).unwrap();
    assert_eq!(jails.len(), 1);
    assert_eq!(jails[0].name, "web");

    // starting it twice is refused
    let again = env.run("jmk", &["start", "web"]);
    assert_eq!(again.status.code(), Some(73), "{}", again.stderr);

    let stopped = records(&env.jmk_ok(&["--json", "stop", "web"]));
    assert_eq!(stopped[0]["state"], "stopped");
    assert!(env.jkit().backend().list(true).unwrap().is_empty());
    assert!(
        env.leftover_mounts().is_empty(),
        "mounts left: {:?}",
        env.leftover_mounts()
    );
    assert!(
        pins::pinned(&env.paths, "web").unwrap().is_empty(),
        "pins left"
    );

    // what jtpl's TAGS and jrctl keep beside the definition goes with it
    let tags = env.paths.tags_file("web");
    fs::write(&tags, "www\n").unwrap();
    env.jmk_ok(&["destroy", "web"]);
    assert!(!tags.exists());
    assert!(!env.paths.jail_conf("web").exists());
    assert!(!env.paths.jail_dir("web").exists());
}

#[test]
fn command_runs_as_first_process_with_the_callers_stdio() {
    require_root!();
    let env = TestEnv::new("cmd");
    env.jmk_ok(&[
        "create",
        "t",
        "host.hostname=inside.example",
        "command=/bin/sh",
        "-c",
        "echo out:$(hostname):$(cat /etc/hostname); echo err >&2; cat; exit 7",
    ]);
    let out = output_with_stdin(env.cmd("jmk").args(["start", "t"]), b"from stdin\n");
    assert_eq!(out.status.code(), Some(7), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "out:inside.example:inside.example\nfrom stdin\n"
    );
    assert_eq!(out.stderr, "err\n");
    // not persistent: the jail ended with its command
    assert!(env.jkit().backend().list(true).unwrap().is_empty());
    assert!(env.leftover_mounts().is_empty());
    assert!(pins::pinned(&env.paths, "t").unwrap().is_empty());
}

#[test]
fn persistent_jail_keeps_running_after_its_command() {
    require_root!();
    let env = TestEnv::new("persist");
    env.jmk_ok(&["create", "p", "persist", "command=/bin/true"]);
    env.jmk_ok(&["start", "p"]);
    let jails = env.jkit().backend().list(false).unwrap();
    assert_eq!(jails.len(), 1, "persist keeps the jail with only its init");
    env.jmk_ok(&["stop", "p"]);
}

#[test]
fn jail_sees_its_own_world_only() {
    require_root!();
    let env = TestEnv::new("world");
    let script = "ps -e -o pid= | wc -l; cat /proc/1/cmdline >/dev/null 2>&1 && echo ok; \
                  ls /proc/1/root/ >/dev/null 2>&1 && echo escaped; \
                  test -e /etc/ssh && echo ssh; grep -c . /etc/shadow; ls -A /root | wc -l; \
                  ip -o link 2>/dev/null | wc -l; cat /proc/self/status | grep CapBnd";
    env.jmk_ok(&["create", "w", "command=/bin/sh", "-c", script]);
    let out = env.run("jmk", &["start", "w"]);
    assert!(out.status.success(), "{}", out.stderr);
    let text = &out.stdout;
    let lines: Vec<&str> = text.lines().collect();
    // init, sh, ps, wc: nothing of the host
    assert!(lines[0].trim().parse::<u32>().unwrap() <= 4, "{text}");
    assert!(!text.contains("escaped"), "/proc/1/root reachable: {text}");
    assert!(!text.contains("ssh"), "host ssh keys in the jail: {text}");
    // a fresh shadow with the five system accounts, none of the host's
    assert!(lines.contains(&"5"), "{text}");
    // own network namespace: loopback only
    let cap_line = lines.iter().find(|l| l.starts_with("CapBnd")).unwrap();
    let bnd = u64::from_str_radix(cap_line.split_whitespace().nth(1).unwrap(), 16).unwrap();
    for cap in [21u32, 16, 19, 27, 13, 12] {
        assert_eq!(bnd & (1 << cap), 0, "capability {cap} kept: {text}");
    }
}

#[test]
fn dev_holds_the_hosts_harmless_devices() {
    require_root!();
    let env = TestEnv::new("dev");
    let nodes = "null zero full random urandom tty";
    let script = format!(
        "cd /dev && stat -c '%n %A %t:%T %u:%g' {nodes}; ls -A | tr '\\n' ' '; echo; \
         echo x >/dev/null && head -c 3 /dev/zero | od -An -tx1"
    );
    env.jmk_ok(&["create", "d", "command=/bin/sh", "-c", &script]);
    let out = env.run("jmk", &["start", "d"]);
    assert!(out.status.success(), "{}", out.stderr);
    let text = &out.stdout;
    let mut lines = text.lines();
    for name in nodes.split(' ') {
        let host = Out::of(std::process::Command::new("stat").args([
            "-c",
            "%n %A %t:%T %u:%g",
            &format!("/dev/{name}"),
        ]))
        .stdout;
        // Made as the host has them, owned by the jail's range: in its
        // user namespace the jail sees them owned as on the host.
        let host = host.trim().trim_start_matches("/dev/");
        assert_eq!(Some(host), lines.next(), "{text}");
    }
    assert_eq!(
        lines.next(),
        Some("fd full null ptmx pts random shm stderr stdin stdout tty urandom zero "),
        "{text}"
    );
    assert_eq!(lines.next().map(str::trim), Some("00 00 00"), "{text}");
}

#[test]
fn names_match_exactly() {
    require_root!();
    let env = TestEnv::new("names");
    env.jmk_ok(&["create", "web"]);
    env.jmk_ok(&["create", "web-dev"]);
    env.jmk_ok(&["start", "web", "web-dev"]);
    env.jmk_ok(&["stop", "web"]);
    let left: Vec<String> = env
        .jkit()
        .backend()
        .list(false)
        .unwrap()
        .into_iter()
        .map(|j| j.name)
        .collect();
    assert_eq!(left, ["web-dev"]);
    let out = env.run("jmk", &["stop", "we"]);
    assert!(!out.status.success());
    assert_eq!(env.jkit().backend().list(false).unwrap().len(), 1);
    env.jmk_ok(&["destroy", "-f", "web-dev"]);
    assert!(
        env.paths.jail_conf("web").exists(),
        "destroying web-dev must not touch web"
    );
}

#[test]
fn the_jails_directory_spreads_its_subdirectories() {
    require_root!();
    let env = TestEnv::new("topdir");
    env.jmk_ok(&["create", "a"]);
    let jails = env.paths.data_dir.join("jails");
    let out = Out::of(std::process::Command::new("lsattr").arg("-d").arg(&jails));
    let text = &out.stdout;
    if out.status.success() {
        // ext4 (and ext2/3): chattr +T, the hint to spread subdirectories.
        let flags = text.split_whitespace().next().unwrap_or("");
        assert!(flags.contains('T'), "lsattr -d {}: {text}", jails.display());
    } else {
        // A filesystem without attributes: the hint is skipped, and the
        // jail was made all the same.
        assert!(env.paths.jail_root("a").join("etc/passwd").exists());
    }
}

/// The type of the filesystem `dir` is on, as stat(1) names it.
fn fs_type(dir: &Path) -> String {
    let out = Out::of(
        std::process::Command::new("stat")
            .args(["-f", "-c", "%T"])
            .arg(dir),
    );
    out.stdout.trim().to_string()
}

/// A directory on a disk (cargo's own scratch directory under target/),
/// for tests of what jkit does where its run directory is not a tmpfs.
fn on_disk() -> &'static Path {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    assert_ne!(fs_type(dir), "tmpfs", "{} must be on a disk", dir.display());
    dir
}

#[test]
fn a_run_directory_on_a_disk_keeps_its_busy_parts_on_a_tmpfs() {
    require_root!();
    let env = TestEnv::new_in(on_disk(), "runfs");
    let run = &env.paths.run_dir;
    env.jmk_ok(&["create", "a"]);
    env.jmk_ok(&["start", "a"]);
    for busy in ["jails", "jids"] {
        let dir = run.join(busy);
        assert_eq!(fs_type(&dir), "tmpfs", "{}", dir.display());
        let on_it = mounts_containing(&dir)
            .into_iter()
            .filter(|m| Path::new(m) == dir)
            .count();
        assert_eq!(on_it, 1, "one mount on {}", dir.display());
    }
    // The locks stay below, on the disk.
    assert_ne!(fs_type(&env.paths.lock_file("a")), "tmpfs");
    assert!(env.paths.run_jail_dir("a").join("state.json").exists());
    env.jmk_ok(&["stop", "a"]);
    env.jmk_ok(&["start", "a"]);
    env.jmk_ok(&["destroy", "-f", "a"]);
    // Kept for the next jail, as /run itself is.
    assert_eq!(fs_type(&run.join("jails")), "tmpfs");
    assert!(
        env.leftover_mounts().is_empty(),
        "{:?}",
        env.leftover_mounts()
    );
}

#[test]
fn run_directories_that_hold_anything_are_never_covered() {
    require_root!();
    let env = TestEnv::new_in(on_disk(), "runkept");
    let run = &env.paths.run_dir;
    // What a jail started before this version left (it is still running).
    let old = run.join("jails/old");
    fs::create_dir_all(&old).unwrap();
    fs::write(old.join("kept"), "from before\n").unwrap();
    env.jmk_ok(&["create", "a"]);
    env.jmk_ok(&["start", "a"]);
    assert_ne!(fs_type(&run.join("jails")), "tmpfs");
    assert_eq!(
        fs::read_to_string(old.join("kept")).unwrap(),
        "from before\n"
    );
    assert!(env.paths.run_jail_dir("a").join("state.json").exists());
    env.jmk_ok(&["destroy", "-f", "a"]);
    // Emptied, it stays on the disk all the same: a command that found it
    // holding something may still be writing there.
    fs::remove_dir_all(&old).unwrap();
    env.jmk_ok(&["create", "b"]);
    env.jmk_ok(&["start", "b"]);
    assert_ne!(fs_type(&run.join("jails")), "tmpfs");
    assert!(env.paths.run_jail_dir("b").join("state.json").exists());
    env.jmk_ok(&["destroy", "-f", "b"]);
}

#[test]
fn jids_are_lowest_free() {
    require_root!();
    let env = TestEnv::new("jids");
    for n in ["a", "b", "c"] {
        env.jmk_ok(&["create", n]);
    }
    env.jmk_ok(&["start", "a", "b", "c"]);
    env.jmk_ok(&["stop", "b"]);
    let started = records(&env.jmk_ok(&["--json", "start", "b"]));
    assert_eq!(started[0]["jid"], 2);
    env.jmk_ok(&["stop", "a"]);
    env.jmk_ok(&["create", "d"]);
    let started = records(&env.jmk_ok(&["--json", "start", "d"]));
    assert_eq!(started[0]["jid"], 1);
}

#[test]
fn destroy_never_deletes_through_a_mount() {
    require_root!();
    let env = TestEnv::new("destroy");
    let host_dir = env.base.join("host-data");
    fs::create_dir_all(host_dir.join("sub")).unwrap();
    fs::write(host_dir.join("precious"), "keep me").unwrap();
    fs::write(host_dir.join("sub/also"), "keep me too").unwrap();
    let root = env.paths.jail_root("m");
    let entry = format!(
        "mount={} {}/mnt/host nullfs rw 0 0",
        host_dir.display(),
        root.display()
    );
    env.jmk_ok(&["create", "m", &entry]);
    env.jmk_ok(&["start", "m"]);
    // a bind mount made by hand in the host's namespace, under the root
    let by_hand = root.join("srv/hand");
    fs::create_dir_all(&by_hand).unwrap();
    nix::mount::mount(
        Some(&host_dir),
        &by_hand,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();

    let refused = env.run("jmk", &["destroy", "m"]);
    assert_eq!(
        refused.status.code(),
        Some(75),
        "a running jail needs -f: {}",
        refused.stderr
    );
    env.jmk_ok(&["destroy", "-f", "m"]);

    assert_eq!(
        fs::read_to_string(host_dir.join("precious")).unwrap(),
        "keep me"
    );
    assert_eq!(
        fs::read_to_string(host_dir.join("sub/also")).unwrap(),
        "keep me too"
    );
    assert!(!env.paths.jail_dir("m").exists());
    assert!(mounts_containing(&env.paths.data_dir).is_empty());
}

#[test]
fn remove_tree_unmounts_instead_of_deleting_through() {
    require_root!();
    let env = TestEnv::new("rmtree");
    let host_dir = env.base.join("host-data");
    fs::create_dir_all(&host_dir).unwrap();
    fs::write(host_dir.join("precious"), "keep").unwrap();
    let top = env.base.join("tree");
    let bind = top.join("a/b/bind");
    let tmpfs = top.join("tmpfs");
    fs::create_dir_all(&bind).unwrap();
    fs::create_dir_all(&tmpfs).unwrap();
    fs::write(top.join("mine"), "x").unwrap();
    use nix::mount::{MsFlags, mount};
    mount(
        Some(&host_dir),
        &bind,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();
    mount(
        Some("tmpfs"),
        &tmpfs,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    // a mount on top of a mount inside the bind: unmounted deepest first
    let nested = bind.join("nested");
    fs::create_dir_all(&nested).unwrap();
    mount(
        Some("tmpfs"),
        &nested,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    jkit::backend::remove::remove_tree(&top).unwrap();
    assert!(!top.exists());
    assert_eq!(
        fs::read_to_string(host_dir.join("precious")).unwrap(),
        "keep"
    );
    assert!(
        host_dir.join("nested").is_dir(),
        "the mount point directory in the host tree is kept"
    );
    assert!(
        env.leftover_mounts().is_empty(),
        "{:?}",
        env.leftover_mounts()
    );
}

#[test]
fn commands_on_one_jail_wait_for_its_lock_and_others_do_not() {
    require_root!();
    let env = TestEnv::new("lock");
    env.jmk_ok(&["create", "a"]);
    env.jmk_ok(&["create", "b"]);
    let held = jkit::lock::JailLock::acquire(&env.paths, "a").unwrap();
    let mut blocked = env.cmd("jmk").args(["start", "a"]).spawn().unwrap();
    // a different jail goes ahead while a is locked
    let t = Instant::now();
    env.jmk_ok(&["start", "b"]);
    assert!(t.elapsed() < Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        blocked.try_wait().unwrap().is_none(),
        "start a did not wait for the lock"
    );
    drop(held);
    let status = blocked.wait().unwrap();
    assert!(status.success());
    assert_eq!(env.jkit().backend().list(false).unwrap().len(), 2);
}

#[test]
fn sigkill_during_start_leaves_nothing_destroy_cannot_clean() {
    require_root!();
    let env = TestEnv::new("kill-start");
    env.jmk_ok(&["create", "k"]);
    for delay_us in [0u64, 200, 500, 1000, 2000, 4000, 8000, 15000] {
        let mut child = env.cmd("jmk").args(["start", "k"]).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(delay_us));
        let _ = child.kill();
        let _ = child.wait();
        // whatever state it is in now, stop (if it got that far) and clean
        let _ = env.run("jmk", &["stop", "k"]);
        let out = env.run("jmk", &["start", "k"]);
        assert!(
            out.status.success(),
            "delay {delay_us}µs: restart after kill failed: {}",
            out.stderr
        );
        env.jmk_ok(&["stop", "k"]);
    }
    let mut child = env.cmd("jmk").args(["start", "k"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(2));
    let _ = child.kill();
    let _ = child.wait();
    env.jmk_ok(&["destroy", "-f", "k"]);
    assert!(
        env.leftover_mounts().is_empty(),
        "{:?}",
        env.leftover_mounts()
    );
    assert!(!env.paths.run_jail_dir("k").exists());
    assert!(!env.paths.jail_dir("k").exists());
    // no jail process survives
    let ps = Out::of(std::process::Command::new("sh").args([
        "-c",
        &format!(
            "grep -l {} /proc/[0-9]*/environ 2>/dev/null | wc -l",
            env.paths.run_dir.display()
        ),
    ]));
    assert_eq!(
        ps.stdout.trim(),
        "0",
        "a process of the killed start survives"
    );
}

#[test]
fn sigkill_during_create_leaves_nothing_destroy_cannot_clean() {
    require_root!();
    let env = TestEnv::new("kill-create");
    // a tree big enough that a thick copy takes a while
    let src = env.base.join("big");
    for d in 0..40 {
        let dir = src.join(format!("d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..50 {
            fs::write(dir.join(format!("f{f}")), vec![b'x'; 4096]).unwrap();
        }
    }
    let src_s = src.to_str().unwrap();
    for delay_ms in [1u64, 5, 20] {
        let mut child = env
            .cmd("jmk")
            .args(["create", "c", "--from", src_s])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let out = env.run("jmk", &["destroy", "c"]);
        // either create finished (a real jail) or left a partial one: both go
        assert!(
            out.status.success() || !env.paths.jail_dir("c").exists(),
            "delay {delay_ms}ms: {}",
            out.stderr
        );
        assert!(
            !env.paths.jail_dir("c").exists(),
            "delay {delay_ms}ms: left {}",
            env.paths.jail_dir("c").display()
        );
        assert!(!env.paths.jail_conf("c").exists());
        assert_eq!(passing_dirs(&env, "c"), Vec::<String>::new());
        env.jmk_ok(&["create", "c", "--from", src_s]);
        env.jmk_ok(&["destroy", "c"]);
    }
    assert_eq!(
        fs::read_dir(src.join("d0")).unwrap().count(),
        50,
        "the source is untouched"
    );
}

/// The entries of the jails directory made under a passing name for jail
/// `name` (`.NAME.PID`, renamed to NAME once made).
fn passing_dirs(env: &TestEnv, name: &str) -> Vec<String> {
    let prefix = format!(".{name}.");
    fs::read_dir(env.paths.data_dir.join("jails"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_create_killed_before_it_named_the_jails_directory_is_cleaned_by_destroy() {
    require_root!();
    let env = TestEnv::new("kill-passing");
    env.jmk_ok(&["create", "c"]);
    assert_eq!(passing_dirs(&env, "c"), Vec::<String>::new());
    env.jmk_ok(&["destroy", "c"]);
    // What a create killed between making the directory and renaming it
    // leaves: its directory under the passing name, with no definition.
    let passing = env.paths.data_dir.join("jails/.c.4242");
    fs::create_dir_all(passing.join("root/etc")).unwrap();
    // Another jail's name that merely starts the same is not touched.
    let other = env.paths.data_dir.join("jails/.c.d");
    fs::create_dir_all(&other).unwrap();
    env.jmk_ok(&["destroy", "c"]);
    assert!(!passing.exists());
    assert!(other.exists());
    // Nothing left: the name is unknown again.
    let out = env.run("jmk", &["destroy", "c"]);
    assert_eq!(out.status.code(), Some(66), "{}", out.stderr);
}

#[test]
fn bad_input_is_refused_with_one_line_and_changes_nothing() {
    require_root!();
    let env = TestEnv::new("bad");
    env.jmk_ok(&["create", "ok"]);
    let existing = env.base.join("exists");
    fs::create_dir_all(&existing).unwrap();
    let path_arg = format!("path={}", existing.display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["create", "w", "bogus=1"],
            "jmk: unknown parameter: bogus\n",
        ),
        (
            vec!["create", "../x"],
            "jmk: invalid jail name \"../x\": contains \"..\"\n",
        ),
        (
            vec!["create", "a/b"],
            "jmk: invalid jail name \"a/b\": contains a slash\n",
        ),
        (
            vec!["create", "a b"],
            "jmk: invalid jail name \"a b\": contains white space (letters, digits, _ and - only)\n",
        ),
        (
            vec!["create", ".."],
            "jmk: invalid jail name \"..\": contains \"..\"\n",
        ),
        (
            vec!["create", "w", "--release", "nope"],
            "jmk: unknown release: nope\n",
        ),
        (vec!["create", "w", &path_arg], ""),
        (vec!["create", "ok"], "jmk: jail \"ok\" already exists\n"),
        (
            vec!["create", "w", "persist=maybe"],
            "jmk: persist: unknown boolean value \"maybe\"\n",
        ),
        (
            vec!["start", "nosuch"],
            "jmk: nosuch: jail \"nosuch\" not found\n",
        ),
        (
            vec!["destroy", "nosuch"],
            "jmk: jail \"nosuch\" not found\n",
        ),
        (
            vec!["create", "w", "--from-tarball", "/nonexistent.tar"],
            "jmk: /nonexistent.tar: no such file\n",
        ),
        (
            vec!["create", "w", "--thin", "--from-tarball", "/x.tar"],
            "",
        ),
    ];
    let snapshot = || {
        let mut v: Vec<String> = Vec::new();
        for d in [&env.paths.conf_dir, &env.paths.data_dir.join("jails")] {
            for e in fs::read_dir(d).unwrap() {
                v.push(e.unwrap().path().display().to_string());
            }
        }
        v.sort();
        v
    };
    let before = snapshot();
    for (args, expected) in cases {
        let out = env.run("jmk", &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = out.stderr;
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        if !expected.is_empty() {
            assert_eq!(err, expected, "{args:?}");
        }
        assert_eq!(snapshot(), before, "{args:?} changed the state");
    }
    assert!(existing.exists() && fs::read_dir(&existing).unwrap().count() == 0);
}

#[test]
fn stdin_records_select_jails() {
    require_root!();
    let env = TestEnv::new("stdin");
    let created =
        env.jmk_ok(&["--json", "create", "s1"]) + &env.jmk_ok(&["--json", "create", "s2"]);
    let out = output_with_stdin(
        env.cmd("jmk").args(["--json", "start", "-"]),
        created.as_bytes(),
    );
    assert!(out.status.success());
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r["state"] == "running"));
    // by jid when the name is absent
    let out = output_with_stdin(env.cmd("jmk").args(["stop", "-"]), b"{\"jid\":2}\n");
    assert!(out.status.success(), "{}", out.stderr);
    let left: Vec<String> = env
        .jkit()
        .backend()
        .list(false)
        .unwrap()
        .into_iter()
        .map(|j| j.name)
        .collect();
    assert_eq!(left, ["s1"]);
}

#[test]
fn tarball_and_directory_sources_and_releases() {
    require_root!();
    let env = TestEnv::new("sources");
    let tree = env.base.join("mini");
    mini_rootfs(&tree);
    fs::write(tree.join("etc/marker"), "mini\n").unwrap();
    for (ext, flag) in [
        ("tar", ""),
        ("tar.gz", "z"),
        ("tar.xz", "J"),
        ("tar.zst", "--zstd"),
    ] {
        let file = env.base.join(format!("mini.{ext}"));
        let mut tar = std::process::Command::new("tar");
        tar.arg("-c").arg("-f").arg(&file).arg("-C").arg(&tree);
        if flag.starts_with("--") {
            tar.arg(flag);
        } else if !flag.is_empty() {
            tar.arg(format!("-{flag}"));
        }
        assert!(tar.arg(".").status().unwrap().success());
        let name = format!("t{}", ext.replace('.', ""));
        env.jmk_ok(&[
            "create",
            &name,
            "--from-tarball",
            file.to_str().unwrap(),
            "command=/bin/cat",
            "/etc/marker",
        ]);
        let out = env.run("jmk", &["start", &name]);
        assert_eq!(out.stdout, "mini\n", "{ext}: {}", out.stderr);
        env.jmk_ok(&["destroy", &name]);
    }
    // a directory registered as a release, used thin: /bin is read-only
    env.jmk_ok(&["release", "add", "mini", tree.to_str().unwrap()]);
    let list = env.jmk_ok(&["release", "list"]);
    assert!(list.starts_with("host\thost\t/\n"), "{list}");
    assert!(list.contains("mini\tdirectory\t"), "{list}");
    env.jmk_ok(&[
        "create",
        "th",
        "--release",
        "mini",
        "command=/bin/sh",
        "-c",
        "cat /etc/marker; echo x > /bin/new || echo read-only",
    ]);
    let out = env.run("jmk", &["start", "th"]);
    let text = &out.stdout;
    assert!(
        text.contains("mini\n") && text.contains("read-only"),
        "{text} {}",
        out.stderr
    );
    assert!(!tree.join("bin/new").exists());
    let busy = env.run("jmk", &["release", "remove", "mini"]);
    assert!(!busy.status.success(), "a release in use cannot be removed");
    env.jmk_ok(&["destroy", "th"]);
    env.jmk_ok(&["release", "remove", "mini"]);
    assert!(
        tree.join("bin/sh").exists(),
        "unregistering keeps the directory"
    );
    // --from DIR is a thick copy
    env.jmk_ok(&["create", "thick", "--from", tree.to_str().unwrap()]);
    let copied = env.paths.jail_root("thick").join("etc/marker");
    assert_eq!(fs::read_to_string(copied).unwrap(), "mini\n");
    assert_eq!(
        fs::metadata(env.paths.jail_root("thick").join("tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        fs::metadata(tree.join("tmp")).unwrap().permissions().mode() & 0o777
    );
}

/// How many files and directories lie under `dir`, itself included.
fn inodes(dir: &Path) -> usize {
    1 + fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => inodes(&e.path()),
                    _ => 1,
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_thin_jail_on_a_release_shares_it_below_a_private_layer() {
    require_root!();
    let env = TestEnv::new("layered");
    let tree = env.base.join("rel");
    mini_rootfs(&tree);
    fs::write(tree.join("etc/motd"), "release\n").unwrap();
    let release_inodes = inodes(&tree);
    env.jmk_ok(&["release", "add", "rel", tree.to_str().unwrap()]);
    env.jmk_ok(&["create", "a", "--release", "rel"]);
    // Nothing of the release is copied: the root on the host is where
    // the layers are mounted at start, empty.
    let root = env.paths.jail_root("a");
    assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
    let made = inodes(&env.paths.jail_dir("a"));
    assert!(made < 12, "{made} inodes made for the jail");
    env.jmk_ok(&["start", "a"]);
    // The release's files are the jail's root's; what it changes is its own.
    let out = jail_sh(
        &env,
        "a",
        "ls -ln /etc/motd; cat /etc/motd; echo a > /etc/motd; echo x > /bin/x || echo read-only",
    );
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields[2..4], ["0", "0"], "{out}");
    assert!(
        out.contains("release\n") && out.ends_with("read-only\n"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(tree.join("etc/motd")).unwrap(),
        "release\n"
    );
    assert!(!tree.join("bin/x").exists());
    // A clone sees its source's changes over the release, and keeps its own.
    env.jmk_ok(&["clone", "a", "b"]);
    env.jmk_ok(&["start", "b"]);
    let out = jail_sh(
        &env,
        "b",
        "cat /etc/motd; echo b > /etc/motd; cat /etc/motd",
    );
    assert_eq!(out, "a\nb\n");
    assert_eq!(jail_sh(&env, "a", "cat /etc/motd"), "a\n");
    assert_eq!(
        fs::read_to_string(tree.join("etc/motd")).unwrap(),
        "release\n"
    );
    env.jmk_ok(&["destroy", "-f", "b"]);
    env.jmk_ok(&["destroy", "-f", "a"]);
    assert!(!env.paths.jail_dir("a").exists());
    assert!(
        env.leftover_mounts().is_empty(),
        "{:?}",
        env.leftover_mounts()
    );
    assert_eq!(
        inodes(&tree),
        release_inodes,
        "the release is kept as it was"
    );
    // A root at a path of the admin's choosing holds the jail's files.
    let chosen = env.base.join("chosen");
    env.jmk_ok(&[
        "create",
        "p",
        "--release",
        "rel",
        &format!("path={}", chosen.display()),
    ]);
    assert_eq!(
        fs::read_to_string(chosen.join("etc/motd")).unwrap(),
        "release\n"
    );
    env.jmk_ok(&["destroy", "p"]);
    // A tree overlayfs cannot take as a layer: one error, nothing made.
    let odd = env.base.join("a:b");
    fs::rename(&tree, &odd).unwrap();
    env.jmk_ok(&["release", "add", "odd", odd.to_str().unwrap()]);
    let refused = env.run("jmk", &["create", "o", "--release", "odd"]);
    assert_eq!(refused.code(), 64, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("cannot be an overlay's layer"),
        "{}",
        refused.stderr
    );
    assert!(!env.paths.jail_dir("o").exists() && !env.paths.jail_conf("o").exists());
}

#[test]
fn clone_is_copy_on_write() {
    require_root!();
    let env = TestEnv::new("clone");
    env.jmk_ok(&["create", "src"]);
    let src_root = env.paths.jail_root("src");
    fs::write(src_root.join("from-src"), "s").unwrap();
    env.jmk_ok(&["clone", "src", "dst"]);
    let conf = fs::read_to_string(env.paths.jail_conf("dst")).unwrap();
    assert!(conf.contains("host.hostname = dst;"), "{conf}");
    env.jmk_ok(&["start", "dst"]);
    let out = jail_sh(
        &env,
        "dst",
        "cat /from-src; echo changed > /from-src; touch /only-dst; echo ok",
    );
    assert_eq!(out, "sok\n");
    assert_eq!(
        fs::read_to_string(src_root.join("from-src")).unwrap(),
        "s",
        "the source is untouched"
    );
    assert!(!src_root.join("only-dst").exists());
    let refused = env.run("jmk", &["destroy", "src"]);
    assert!(
        !refused.status.success(),
        "a jail with clones cannot be destroyed"
    );
    env.jmk_ok(&["destroy", "-f", "dst"]);
    env.jmk_ok(&["destroy", "src"]);
    assert!(
        env.leftover_mounts().is_empty(),
        "{:?}",
        env.leftover_mounts()
    );
}

#[test]
fn a_setup_failure_exits_with_the_class_of_its_cause() {
    require_root!();
    let env = TestEnv::new("setup-fails");
    let missing = env.base.join("no-such-source");
    let target = env.paths.jail_root("m").join("mnt/x");
    let entry = format!(
        "mount={} {} nullfs ro 0 0",
        missing.display(),
        target.display()
    );
    env.jmk_ok(&["create", "m", &entry]);
    let (stdout, stderr, code) = env.run("jmk", &["start", "m"]).parts();
    // The bind failed with ENOENT (in the namespace process, which makes
    // the jail's binds with the host's privileges): an OS error (71), as
    // it would be in jmk itself, not a configuration error (78).
    assert_eq!(
        (stdout.as_str(), stderr, code),
        (
            "",
            format!(
                "jmk: m: create namespaces: mount {} on {}: No such file or directory (os error 2)\n",
                missing.display(),
                target.display()
            ),
            71
        )
    );
    assert!(env.jkit().backend().list(true).unwrap().is_empty());
    assert!(pins::pinned(&env.paths, "m").unwrap().is_empty());
    assert!(
        env.leftover_mounts().is_empty(),
        "{:?}",
        env.leftover_mounts()
    );
}

#[test]
fn a_refused_unshare_exits_with_its_errno() {
    require_root!();
    let env = TestEnv::new("unshare-refused");
    env.jmk_ok(&["create", "a"]);
    env.jmk_ok(&["create", "b"]);
    // A first start makes what every start shares (the pin holder), so
    // that the second fails where the jail's namespaces are made.
    env.jmk_ok(&["start", "a"]);
    let mut without_sys_admin = Command::new("setpriv");
    without_sys_admin.args(["--bounding-set", "-sys_admin"]);
    without_sys_admin.arg(bin("jmk")).args(["start", "b"]);
    let (_, stderr, code) = Out::of(with_dirs(&mut without_sys_admin, &env.paths)).parts();
    // The staging mount namespace, the host's, is the first step refused.
    assert_eq!(
        (stderr, code),
        (
            "jmk: b: create namespaces: unshare: Operation not permitted (os error 1)\n"
                .to_string(),
            77
        ),
        "the kernel's EPERM, from the process that made the namespaces"
    );
    let names: Vec<String> = env
        .jkit()
        .backend()
        .list(true)
        .unwrap()
        .into_iter()
        .map(|j| j.name)
        .collect();
    assert_eq!(names, ["a"]);
    // What the failed start left, the next one cleans.
    env.jmk_ok(&["start", "b"]);
    env.jmk_ok(&["stop", "a", "b"]);
}

/// Run a shell command in a running jail with jexec-rs.
fn jail_sh(env: &TestEnv, jail: &str, script: &str) -> String {
    env.run("jexec-rs", &[jail, "/bin/sh", "-c", script])
        .ok()
        .to_string()
}

/// The first host id of jail `name`'s range, from its definition.
fn id_base(env: &TestEnv, name: &str) -> u32 {
    let def = env.jkit().definition(name).unwrap();
    u32::try_from(def.params.int("jkit.idbase").expect("jkit.idbase")).unwrap()
}

#[test]
fn root_in_a_jail_is_its_ranges_base_on_the_host() {
    use std::os::unix::fs::MetadataExt;
    require_root!();
    let env = TestEnv::new("userns");
    let shared = env.base.join("shared");
    fs::create_dir_all(&shared).unwrap();
    fs::write(shared.join("hosts-file"), "host\n").unwrap();
    let entry = format!(
        "mount={} {} nullfs rw 0 0",
        shared.display(),
        env.paths.jail_root("a").join("mnt/shared").display()
    );
    env.jmk_ok(&["create", "a", &entry]);
    env.jmk_ok(&["create", "b"]);
    let (a, b) = (id_base(&env, "a"), id_base(&env, "b"));
    assert!(a >= 1 << 20 && a % 65536 == 0 && b % 65536 == 0, "{a} {b}");
    assert!(a.abs_diff(b) >= 65536, "overlapping ranges {a} {b}");
    env.jmk_ok(&["start", "a"]);
    // The jails directory stays the host root's alone: the init, the
    // range's base on the host, got its root without walking it.
    let jails = fs::metadata(env.paths.jails_dir()).unwrap();
    assert_eq!((jails.mode() & 0o7777, jails.uid()), (0o700, 0));
    // Inside: root is 0, /usr (the host's, idmapped) is root's.
    assert_eq!(jail_sh(&env, "a", "id -u; id -g"), "0\n0\n");
    assert_eq!(
        jail_sh(&env, "a", "stat -c %u:%g /usr /usr/bin/env"),
        "0:0\n0:0\n"
    );
    // A file root makes in the jail is the range's base on the host.
    jail_sh(&env, "a", "touch /root/made; mkdir /tmp/d");
    let root = env.paths.jail_root("a");
    for f in ["root/made", "tmp/d"] {
        let m = fs::metadata(root.join(f)).unwrap();
        assert_eq!((m.uid(), m.gid()), (a, a), "{f}");
    }
    // A host file bound read-write stays the host root's: the jail's root
    // cannot write it, nor make files beside it.
    let out = env.run(
        "jexec-rs",
        &["a", "/bin/sh", "-c", "echo x >> /mnt/shared/hosts-file || echo refused; touch /mnt/shared/new || echo refused"],
    );
    assert_eq!(out.stdout, "refused\nrefused\n", "{out}");
    assert_eq!(
        fs::read_to_string(shared.join("hosts-file")).unwrap(),
        "host\n"
    );
    // jexec -U runs as a jail user: its id on the host is in the range too.
    let out = env.run(
        "jexec-rs",
        &["-U", "nobody", "a", "/bin/sh", "-c", "id -u; touch /tmp/n"],
    );
    assert_eq!(out.ok(), "65534\n");
    assert_eq!(fs::metadata(root.join("tmp/n")).unwrap().uid(), a + 65534);
    // The range survives a restart.
    env.jmk_ok(&["restart", "a"]);
    assert_eq!(id_base(&env, "a"), a);
    assert_eq!(
        jail_sh(&env, "a", "cat /proc/self/uid_map")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", &a.to_string(), "65536"]
    );
    env.jmk_ok(&["stop", "a"]);
    // Destroyed, its range is free again.
    env.jmk_ok(&["destroy", "a"]);
    env.jmk_ok(&["create", "c"]);
    assert_eq!(id_base(&env, "c"), a);
}

/// Give `file` the file capabilities `caps` with setcap(8).
fn setcap(caps: &str, file: &Path) {
    let out = Out::of(Command::new("setcap").arg(caps).arg(file));
    assert!(out.success(), "setcap {caps}: {out}");
}

#[test]
fn file_capabilities_and_set_id_bits_follow_the_files_into_the_range() {
    use std::os::unix::fs::MetadataExt;
    require_root!();
    let env = TestEnv::new("filecaps");
    let tree = env.base.join("mini");
    mini_rootfs(&tree);
    for (file, line) in [
        ("passwd", "nobody:x:65534:65534::/:/bin/sh\n"),
        ("group", "nogroup:x:65534:\n"),
    ] {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(tree.join("etc").join(file))
            .unwrap();
        std::io::Write::write_all(&mut f, line.as_bytes()).unwrap();
    }
    // A cat that reads any file (as ping sends raw packets), and an id
    // that runs as its owner, root.
    fs::copy(tree.join("bin/cat"), tree.join("bin/capcat")).unwrap();
    setcap("cap_dac_override+ep", &tree.join("bin/capcat"));
    fs::copy(tree.join("bin/id"), tree.join("bin/suid-id")).unwrap();
    fs::set_permissions(tree.join("bin/suid-id"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(tree.join("root/secret"), "secret\n").unwrap();
    fs::set_permissions(tree.join("root/secret"), fs::Permissions::from_mode(0o600)).unwrap();
    // The capabilities go into a tarball as GNU tar keeps them.
    let tarball = env.base.join("mini.tar");
    let tar = Out::of(
        Command::new("tar")
            .args([
                "--xattrs",
                "--xattrs-include=security.capability",
                "-c",
                "-f",
            ])
            .arg(&tarball)
            .arg("-C")
            .arg(&tree)
            .arg("."),
    );
    assert!(tar.success(), "{tar}");
    // A copy (set as it is made) and a tarball (shifted once unpacked).
    for (jail, from, source) in [("c", "--from", &tree), ("t", "--from-tarball", &tarball)] {
        env.jmk_ok(&["create", jail, from, source.to_str().unwrap()]);
        let base = id_base(&env, jail);
        let root = env.paths.jail_root(jail);
        // On the host: a capability set for the range's root alone
        // (revision 3, its root id the base), owned by the range,
        // set-user-id kept.
        let shown = Out::of(
            Command::new("getcap")
                .arg("-n")
                .arg(root.join("bin/capcat")),
        );
        assert!(
            shown.ok().contains("cap_dac_override=ep")
                && shown.stdout.contains(&format!("[rootid={base}]")),
            "{jail}: {shown}"
        );
        let suid = fs::metadata(root.join("bin/suid-id")).unwrap();
        assert_eq!((suid.uid(), suid.mode() & 0o7777), (base, 0o4755), "{jail}");
        // In the jail, a user that is not root gets what the files grant.
        env.jmk_ok(&["start", jail]);
        let as_nobody = |argv: &[&str]| {
            let mut args = vec!["-U", "nobody", jail];
            args.extend_from_slice(argv);
            env.run("jexec-rs", &args)
        };
        assert_eq!(as_nobody(&["/bin/capcat", "/root/secret"]).ok(), "secret\n");
        assert_eq!(as_nobody(&["/bin/suid-id", "-u"]).ok(), "0\n");
        // Control: without them, nobody is refused.
        let refused = as_nobody(&["/bin/cat", "/root/secret"]);
        assert!(!refused.success() && refused.stdout.is_empty(), "{refused}");
        assert_eq!(as_nobody(&["/bin/id", "-u"]).ok(), "65534\n");
        env.jmk_ok(&["stop", jail]);
    }
}

#[test]
fn jkit_userns_0_runs_the_jail_as_the_hosts_root_with_a_warning() {
    require_root!();
    let env = TestEnv::new("nouserns");
    let out = env.run("jmk", &["create", "h", "jkit.userns=0"]);
    assert_eq!(
        out.stderr, "jmk: h: jkit.userns=0: root in this jail is the host's root\n",
        "{out}"
    );
    assert!(
        env.jkit()
            .definition("h")
            .unwrap()
            .params
            .int("jkit.idbase")
            .is_none()
    );
    let out = env.run("jmk", &["start", "h"]);
    assert!(out.success(), "{out}");
    assert_eq!(
        out.stderr,
        "jmk: h: jkit.userns=0: root in this jail is the host's root\n"
    );
    assert_eq!(
        jail_sh(&env, "h", "cat /proc/self/uid_map")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
    env.jmk_ok(&["stop", "h"]);
}

#[test]
fn an_id_range_that_cannot_be_had_makes_nothing() {
    require_root!();
    let env = TestEnv::new("badrange");
    let (_, stderr, code) = env.run("jmk", &["create", "r", "jkit.idbase=0"]).parts();
    assert_eq!(
        (stderr.as_str(), code),
        (
            "jmk: jkit.idbase=0: ids 0-65535 overlap ids of the host's accounts\n",
            78
        )
    );
    env.jmk_ok(&["create", "s", "jkit.idbase=6553600"]);
    let (_, stderr, code) = env
        .run("jmk", &["create", "t", "jkit.idbase=6553600"])
        .parts();
    assert_eq!(
        (stderr.as_str(), code),
        (
            "jmk: jkit.idbase=6553600: ids 6553600-6619135 belong to another jail\n",
            73
        )
    );
    for name in ["r", "t"] {
        assert!(!env.paths.jail_conf(name).exists());
        assert!(!env.paths.jail_dir(name).exists());
    }
}

/// The anonymous memory (kB) of process `pid`: what it holds alone.
fn anonymous_kb(pid: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Anonymous:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("Anonymous in smaps_rollup")
}

#[test]
fn an_installed_jmks_idle_jail_holds_the_inits_own_program_not_a_fork_of_jmk() {
    require_root!();
    let env = TestEnv::new("initprog");
    let installed = jkit_tests::jmk_with_init_program();
    for name in ["forked", "own"] {
        env.jmk_ok(&["create", name]);
    }
    // The test run's jmk: its jkit-init (for the host's glibc) is not
    // taken, and the init stays the fork of jmk it is.
    env.jmk_ok(&["start", "forked"]);
    let mut start = Command::new(installed.join("jmk"));
    with_dirs(&mut start, &env.paths);
    let out = Out::of(start.args(["start", "own"]));
    assert!(out.success(), "{out}");
    let (forked, own) = (env.init_pid("forked"), env.init_pid("own"));
    assert_eq!(
        jkit_tests::exe_once_it_runs(&own, "jkit-init"),
        installed.join("jkit-init")
    );
    assert_eq!(
        fs::read_link(format!("/proc/{forked}/exe")).unwrap(),
        bin("jmk")
    );
    let cmdline = fs::read(format!("/proc/{own}/cmdline")).unwrap();
    assert!(cmdline.starts_with(b"jkit-init\0"), "{cmdline:?}");
    assert_eq!(
        fs::read(format!("/proc/{own}/environ")).unwrap(),
        b"container=jkit\0"
    );
    // The static release build's: about 41 kB against a fork's 104 (and
    // a fork of this run's unoptimized jmk, several times that).
    let (forked_kb, own_kb) = (anonymous_kb(&forked), anonymous_kb(&own));
    assert!(own_kb <= 64, "the init's program holds {own_kb} kB");
    assert!(
        own_kb < forked_kb,
        "{own_kb} kB against the fork's {forked_kb}"
    );
    // It serves the jail as the fork does: commands, and the stop.
    let ran = env.run("jexec-rs", &["own", "/bin/echo", "served"]);
    assert_eq!(ran.ok(), "served\n", "{ran}");
    env.jmk_ok(&["stop", "own"]);
    let running = env.jkit().backend().list(false).unwrap();
    assert_eq!(
        running.len(),
        1,
        "only the fork's jail is left: {running:?}"
    );
}
