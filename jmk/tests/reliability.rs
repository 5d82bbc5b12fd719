//! One broken jail never breaks another, and every failure leaves nothing
//! behind: each test injects a fault (a corrupt file, a full disk, a kill
//! at a random point, a race) and checks that the other jails work, that
//! the broken one's error names its file, and what is left.

#![cfg(target_os = "linux")]

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use jkit_tests::{Out, TestEnv, require_root};

/// The names listed by `jls-rs -n name` (one `name=NAME` a line).
fn names(out: &Out) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("name="))
        .map(str::to_string)
        .collect()
}

/// The entries of `dir` (none when it is missing), sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Whether any process runs in jail `name`'s cgroup (its pids controller).
fn init_pid(env: &TestEnv, name: &str) -> i32 {
    let st: serde_json::Value =
        serde_json::from_slice(&fs::read(env.paths.run_state_file(name)).unwrap()).unwrap();
    st["init"]["pid"].as_i64().unwrap() as i32
}

fn gone(pid: i32) -> bool {
    (0..200).any(|_| {
        let dead =
            fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "));
        if !dead {
            std::thread::sleep(Duration::from_millis(10));
        }
        dead
    })
}

#[test]
fn a_broken_state_file_hides_only_its_own_jail() {
    require_root!();
    let env = TestEnv::new("rel-state");
    for j in ["a", "b", "c"] {
        env.create_host_jail(j, &[]);
    }
    env.jmk_ok(&["start", "a", "b", "c"]);
    let pid = init_pid(&env, "b");
    let state = env.paths.run_state_file("b");
    fs::write(&state, "{\"name\": \"b\",\n garbage").unwrap();

    // listed: every other jail, then the broken file's error
    let out = env.run("jls-rs", &["-n", "name"]);
    assert_eq!(names(&out), ["a", "c"], "{out}");
    assert_eq!(out.code(), 65, "{out}");
    let why = format!("{}: ", state.display());
    assert!(out.stderr.starts_with(&format!("jls: {why}")), "{out}");
    assert!(out.stderr.contains("line 2"), "{out}");
    // a start names it too and ends nothing
    let out = env.run("jmk", &["start", "b"]);
    assert_eq!(out.code(), 65, "{out}");
    assert!(out.stderr.contains(&why), "{out}");
    assert!(!gone(pid) || panic!("a start ended the jail"));

    // stopped all the same: its processes end, its runtime goes
    let out = env.run("jmk", &["stop", "b"]);
    assert!(out.success(), "{out}");
    assert!(out.stderr.contains(&why), "{out}");
    assert!(gone(pid), "b's init still runs");
    assert!(!env.paths.run_jail_dir("b").exists());
    let out = env.run("jls-rs", &["-n", "name"]);
    assert_eq!((names(&out), out.code()), (vec!["a".into(), "c".into()], 0));

    // destroy -f of a running jail whose state is broken
    env.jmk_ok(&["start", "b"]);
    let pid = init_pid(&env, "b");
    fs::write(env.paths.run_state_file("b"), "").unwrap();
    let out = env.run("jmk", &["destroy", "b"]);
    assert_eq!(out.code(), 75, "refused without -f: {out}");
    env.jmk_ok(&["destroy", "-f", "b"]);
    assert!(gone(pid));
    assert!(!env.paths.jail_conf("b").exists());
    assert!(!env.paths.jail_dir("b").exists());
    env.jmk_ok(&["stop", "a", "c"]);
}

#[test]
fn a_broken_definition_hides_only_its_own_jail() {
    require_root!();
    let env = TestEnv::new("rel-conf");
    for j in ["a", "b", "c"] {
        env.create_host_jail(j, &[]);
    }
    env.jmk_ok(&["start", "a", "b", "c"]);
    let conf = env.paths.jail_conf("b");
    fs::write(&conf, "b {\n  path = ;\n").unwrap();
    let why = format!("{} line 2", conf.display());

    // the others' stops never read it: no warning, their hooks run
    for args in [&["stop", "a"][..], &["restart", "c"], &["start", "a"]] {
        let out = env.run("jmk", args);
        assert!(out.success() && out.stderr.is_empty(), "{args:?}: {out}");
    }
    let out = env.run("jls-rs", &["--defined", "-n", "name"]);
    assert!(names(&out).contains(&"a".to_string()), "{out}");
    assert!(names(&out).contains(&"c".to_string()), "{out}");
    assert!(out.stderr.contains(&why), "{out}");
    assert_ne!(out.code(), 0);

    // its own start fails naming the file and line; its stop and destroy
    // still do their work and say what they could not
    let out = env.run("jmk", &["start", "b"]);
    assert!(out.stderr.contains(&why), "{out}");
    let out = env.run("jmk", &["stop", "b"]);
    assert!(out.success(), "{out}");
    assert!(out.stderr.contains(&why), "{out}");
    assert!(!env.paths.run_jail_dir("b").exists());
    let out = env.run("jmk", &["destroy", "-f", "b"]);
    assert_eq!(out.code(), 65, "{out}");
    assert!(
        out.stderr.contains("destroyed without its definition"),
        "{out}"
    );
    assert!(!conf.exists());
    assert!(!env.paths.jail_dir("b").exists());
    env.jmk_ok(&["stop", "a", "c"]);
}

#[test]
fn broken_rules_and_build_records_hide_only_their_own_jail() {
    require_root!();
    let env = TestEnv::new("rel-rctl");
    for j in ["a", "b"] {
        env.create_host_jail(j, &[]);
    }
    let rctl = |args: &[&str]| env.run("jrctl", args);
    assert!(rctl(&["-a", "jail:a:maxproc:deny=100"]).success());
    assert!(rctl(&["-a", "jail:b:maxproc:deny=100"]).success());
    fs::write(
        env.paths.rctl_file("b"),
        "jail:b:maxproc:deny=100\ngarbage\n",
    )
    .unwrap();
    let all = rctl(&[]);
    assert_eq!(all.stdout, "jail:a:maxproc:deny=100\n", "{all}");
    let own = rctl(&["jail:b"]);
    assert!(!own.success());
    assert!(own.stderr.contains("b.rctl:2"), "{own}");

    // a broken build record: destroy removes all it can and says so
    fs::write(env.paths.build_record_file("b"), "{").unwrap();
    let out = env.run("jmk", &["destroy", "b"]);
    assert_eq!(out.code(), 65, "{out}");
    assert!(out.stderr.contains("jkit.json"), "{out}");
    assert!(out.stderr.contains("is left"), "{out}");
    assert!(!env.paths.jail_conf("b").exists());
    assert!(!env.paths.jail_dir("b").exists());
    assert!(!env.paths.rctl_file("b").exists());
    env.jmk_ok(&["destroy", "a"]);
}

#[test]
fn a_full_disk_leaves_nothing_half_made() {
    require_root!();
    let env = TestEnv::new("rel-full");
    env.create_host_jail("a", &[]);
    // definitions on a full tmpfs: the write of a new one fails
    let conf = &env.paths.conf_dir;
    let mount = |dir: &Path, size: &str| {
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "jkit-test-full",
            ])
            .arg(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount a tmpfs on {}", dir.display());
    };
    let saved = fs::read(env.paths.jail_conf("a")).unwrap();
    mount(conf, "8k");
    fs::write(env.paths.jail_conf("a"), &saved).unwrap();
    let filler = conf.join("filler");
    let _ = fs::write(&filler, vec![0u8; 64 * 1024]);
    let out = env.run("jmk", &["create", "b"]);
    assert!(!out.success(), "{out}");
    assert_eq!(entries(conf), ["a.conf", "filler"], "{out}");
    assert_eq!(entries(&env.paths.jails_dir()), ["a"], "{out}");
    fs::remove_file(&filler).unwrap();

    // roots on a full tmpfs: the create fails and removes its files
    let jails = env.paths.jails_dir();
    mount(&jails, "64k");
    let out = env.run("jmk", &["create", "--thick", "c"]);
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("No space left"), "{out}");
    assert_eq!(entries(&jails), Vec::<String>::new(), "{out}");
    assert_eq!(entries(conf), ["a.conf"], "{out}");
    assert!(!env.paths.lock_file("c").exists());
}

/// Run jmk `args` and SIGKILL it after `delay`.
fn killed(env: &TestEnv, args: &[&str], delay: Duration) {
    let mut child = env
        .cmd("jmk")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn killed_commands_leave_what_the_next_command_cleans() {
    require_root!();
    let env = TestEnv::new("rel-kill");
    // A pseudo-random delay for each round (no crate for it): where in
    // its work each command dies differs from round to round and run to
    // run.
    let mut seed = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let mut delay = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Duration::from_millis(seed % 60)
    };
    for round in 0..6 {
        // create: what a killed one leaves, the next create cleans
        killed(&env, &["create", "j"], delay());
        if !env.paths.jail_conf("j").exists() {
            env.jmk_ok(&["create", "j"]);
        }
        // start, then stop: the stop cleans what a killed start left
        killed(&env, &["start", "j"], delay());
        let out = env.run("jmk", &["stop", "j"]);
        assert!(
            out.success() || out.stderr.contains("is not running"),
            "round {round}: {out}"
        );
        assert!(!env.paths.run_jail_dir("j").exists(), "round {round}");
        env.jmk_ok(&["start", "j"]);
        // stop: the next stop finishes it
        killed(&env, &["stop", "j"], delay());
        let out = env.run("jmk", &["stop", "j"]);
        assert!(
            out.success() || out.stderr.contains("is not running"),
            "round {round}: {out}"
        );
        assert!(!env.paths.run_jail_dir("j").exists(), "round {round}");
        // destroy: no definition is left that cannot start; the next
        // destroy (or create) finishes it
        killed(&env, &["destroy", "j"], delay());
        if env.paths.jail_conf("j").exists() {
            env.jmk_ok(&["start", "j"]);
            env.jmk_ok(&["destroy", "-f", "j"]);
        } else if round % 2 == 0 {
            let out = env.run("jmk", &["destroy", "j"]);
            assert!(
                out.success() || out.stderr.contains("not found"),
                "round {round}: {out}"
            );
        }
        if round % 2 == 1 || env.paths.jail_conf("j").exists() {
            let _ = env.run("jmk", &["destroy", "-f", "j"]);
        }
        assert_eq!(
            entries(&env.paths.conf_dir),
            Vec::<String>::new(),
            "round {round}"
        );
        assert_eq!(
            entries(&env.paths.jails_dir()),
            Vec::<String>::new(),
            "round {round}"
        );
        assert!(!env.paths.lock_file("j").exists(), "round {round}");
    }
}

#[test]
fn a_killed_clone_blocks_nothing() {
    require_root!();
    let env = TestEnv::new("rel-clone");
    env.create_host_jail("src", &[]);
    // what a clone killed before naming its definition leaves
    let dir = env.paths.jail_dir("cl");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        env.paths.build_record_file("cl"),
        format!(
            "{{\"root\": \"{}\", \"layout\": \"clone\", \"release\": null, \"clone_of\": \"src\"}}",
            dir.join("root").display()
        ),
    )
    .unwrap();
    fs::write(env.paths.conf_dir.join("cl.tmp4242"), "").unwrap();
    // the next clone of the name cleans it
    env.jmk_ok(&["clone", "src", "cl"]);
    assert_eq!(entries(&env.paths.conf_dir), ["cl.conf", "src.conf"]);
    env.jmk_ok(&["destroy", "cl"]);
    // a failed clone's record does not hold its source
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        env.paths.build_record_file("cl"),
        "{\"root\": \"/nonexistent\", \"layout\": \"clone\", \"release\": null, \"clone_of\": \"src\"}",
    )
    .unwrap();
    env.jmk_ok(&["destroy", "src"]);
    env.jmk_ok(&["destroy", "cl"]);
    assert_eq!(entries(&env.paths.jails_dir()), Vec::<String>::new());
}

#[test]
fn a_create_killed_writing_its_record_blocks_nothing() {
    require_root!();
    let env = TestEnv::new("rel-record");
    // What a create killed while writing its build record leaves: its id
    // range claimed, its directory holding the record's temporary file.
    env.jmk_ok(&["create", "j"]);
    let claims = entries(&env.paths.id_ranges_dir());
    assert_eq!(claims.len(), 1);
    fs::remove_file(env.paths.jail_conf("j")).unwrap();
    let dir = env.paths.jail_dir("j");
    fs::remove_dir_all(&dir).unwrap();
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("jkit.tmp4242"), "{\"root\":").unwrap();
    // the next create of the name cleans it, and claims the same range
    env.jmk_ok(&["create", "j"]);
    assert_eq!(entries(&env.paths.id_ranges_dir()), claims);
    assert_eq!(entries(&dir), ["fstab", "jkit.json", "overlay", "root"]);
    // a file of anyone else's in the directory is not taken for it
    env.jmk_ok(&["destroy", "j"]);
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("jkit.tmp4242"), "").unwrap();
    fs::write(dir.join("notes"), "").unwrap();
    let out = env.run("jmk", &["create", "j"]);
    assert!(out.stderr.contains("already exists"), "{out}");
    assert_eq!(entries(&dir), ["jkit.tmp4242", "notes"]);
}

/// Values `jmk create` used to accept that no start could use.
const BAD: &[&str] = &[
    "ip4.addr=10.213.0.5/99",
    "ip6.addr=fd00::1/200",
    "host.hostname=a\nb",
    "cpuset.id=3",
    "vnet.interface=eth9",
    "mount=garbage",
    "children.max=-5",
    "stop.timeout=-1",
    "enforce_statfs=3",
];

#[test]
fn one_check_of_definitions_for_create_start_jtpl_and_jail8() {
    require_root!();
    let env = TestEnv::new("rel-check");
    let long = format!("host.hostname={}", "x".repeat(65));
    let bridge = [
        "ip4.addr=10.213.0.5/24",
        "jkit.bridge=bad/name",
        "jkit.gateway=nota/24",
    ];
    env.create_host_jail("t", &[]);
    env.create_host_jail("running", &[]);
    env.jmk_ok(&["start", "running"]);
    let saved = fs::read_to_string(env.paths.jail_conf("t")).unwrap();
    let running = fs::read_to_string(env.paths.jail_conf("running")).unwrap();
    let template = env.base.join("tpl");
    fs::create_dir_all(&template).unwrap();
    let mut cases: Vec<Vec<&str>> = BAD.iter().map(|b| vec![*b]).collect();
    cases.push(vec![&long]);
    cases.push(bridge[..2].to_vec());
    cases.push(vec![bridge[0], bridge[2]]);
    for case in &cases {
        let mut create = vec!["create", "n"];
        create.extend(case);
        let created = env.run("jmk", &create);
        assert!(!created.success(), "{case:?}: {created}");
        assert!(!env.paths.jail_conf("n").exists(), "{case:?}");
        assert!(!env.paths.jail_dir("n").exists(), "{case:?}");
        let why = created.stderr.trim().trim_start_matches("jmk: ");
        assert!(!why.contains('\n'), "{case:?}: one line: {created}");

        // the same definition written by hand: the start refuses it alike
        let mut by_hand = saved.clone();
        for p in case {
            let (n, v) = p.split_once('=').unwrap();
            let line = format!("  {n} = \"{v}\";\n");
            // last, over what the definition sets of it already
            let end = by_hand.rfind('}').unwrap();
            by_hand.insert_str(end, &line);
        }
        fs::write(env.paths.jail_conf("t"), &by_hand).unwrap();
        let started = env.run("jmk", &["start", "t"]);
        assert!(!started.success(), "{case:?}: {started}");
        assert!(started.stderr.contains(why), "{case:?}: {why} / {started}");
        fs::write(env.paths.jail_conf("t"), &saved).unwrap();

        // jail(8) mode
        let mut jail8 = vec!["-c", "name=n8", "path=/", "persist"];
        jail8.extend(case);
        let run = env.run("jmk", &jail8);
        assert!(!run.success(), "{case:?}: {run}");
        assert!(run.stderr.contains(why), "{case:?}: {why} / {run}");

        // jtpl's CONFIG (a template's lines hold no newline)
        if let [one] = case[..] {
            let (n, v) = one.split_once('=').unwrap();
            if !v.contains('\n') {
                let line = format!("CONFIG set {n} {v}\n");
                fs::write(template.join("Bastillefile"), line).unwrap();
                let tpl = template.to_str().unwrap();
                let out = env.run("jtpl", &["apply", "running", tpl]);
                assert!(!out.success(), "{case:?}: {out}");
                assert!(out.stderr.contains(why), "{case:?}: {why} / {out}");
                let now = fs::read_to_string(env.paths.jail_conf("running")).unwrap();
                assert_eq!(now, running);
            }
        }
    }
    // what jail(8) takes as true, all take alike
    env.jmk_ok(&["create", "n", "allow.raw_sockets=2"]);
    env.jmk_ok(&["start", "n"]);
    env.jmk_ok(&["destroy", "-f", "n"]);
    env.jmk_ok(&["stop", "running"]);
}

#[test]
fn races_and_missing_jails_are_named_as_they_are() {
    require_root!();
    let env = TestEnv::new("rel-race");
    env.create_host_jail("a", &[]);
    let starts: Vec<_> = (0..6)
        .map(|_| {
            env.cmd("jmk")
                .args(["start", "a"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Out> = starts
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().into())
        .collect();
    assert_eq!(outs.iter().filter(|o| o.success()).count(), 1);
    for o in outs.iter().filter(|o| !o.success()) {
        assert_eq!(o.code(), 73, "{o}");
        assert_eq!(o.stderr, "jmk: a: jail \"a\" is already running\n");
    }
    env.jmk_ok(&["stop", "a"]);
    let stopped = env.run("jmk", &["stop", "a"]);
    assert_eq!(stopped.stderr, "jmk: jail \"a\" is not running\n");
    let undefined = env.run("jmk", &["stop", "nosuch"]);
    assert_eq!(undefined.stderr, "jmk: jail \"nosuch\" not found\n");
    // several jails: each failure is said, the others are done
    env.create_host_jail("b", &[]);
    let out = env.run("jmk", &["start", "a", "nosuch", "b"]);
    assert_eq!(out.code(), 66, "{out}");
    assert_eq!(out.stderr, "jmk: nosuch: jail \"nosuch\" not found\n");
    let out = env.run("jls-rs", &["-n", "name"]);
    assert_eq!(names(&out), ["a", "b"]);
    let out = env.run("jmk", &["destroy", "-f", "a", "nosuch", "b"]);
    assert_eq!(out.code(), 66, "{out}");
    assert_eq!(entries(&env.paths.conf_dir), Vec::<String>::new());
    // a start racing a destroy: started (and then destroyed), or not found
    for _ in 0..4 {
        env.create_host_jail("r", &[]);
        let start = env
            .cmd("jmk")
            .args(["start", "r"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let destroy = env.run("jmk", &["destroy", "-f", "r"]);
        let start: Out = start.wait_with_output().unwrap().into();
        assert!(destroy.success(), "{destroy}");
        assert!(
            start.success() || start.stderr == "jmk: r: jail \"r\" not found\n",
            "{start}"
        );
    }
    // a failed jail(8) creation of a command-line jail
    let out = env.run("jmk", &["-c", "name=n8", "path=/nonexistent", "persist"]);
    assert!(!out.success(), "{out}");
    // no lock file is kept for a name that is gone, nor a cgroup base
    let locks = env.paths.run_dir.join("locks");
    assert!(
        entries(&locks).iter().all(|l| !l.ends_with(".lock")),
        "{:?}",
        entries(&locks)
    );
    assert!(entries(&locks.join("rctl")).is_empty());
    let base = jkit::backend::linux::cgroup::base_name(&env.paths);
    for controller in entries(Path::new("/sys/fs/cgroup")) {
        let dir = Path::new("/sys/fs/cgroup").join(controller).join(&base);
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

#[test]
fn what_a_dead_jail_left_is_cleaned_by_stop_and_by_jail8s_cleanup() {
    require_root!();
    let env = TestEnv::new("rel-dead");
    env.create_host_jail("k", &[]);
    for clean in [&["stop", "k"][..], &["-r", "-C", "k"][..]] {
        env.jmk_ok(&["start", "k"]);
        let pid = init_pid(&env, "k");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        assert!(gone(pid));
        assert!(env.paths.run_jail_dir("k").exists());
        let out = env.run("jmk", clean);
        assert!(out.success(), "{clean:?}: {out}");
        assert!(!env.paths.run_jail_dir("k").exists(), "{clean:?}");
    }
    env.jmk_ok(&["destroy", "k"]);
}

#[test]
fn a_destroy_that_stops_half_way_leaves_no_definition_that_cannot_start() {
    require_root!();
    let env = TestEnv::new("rel-half");
    env.create_host_jail("h", &[]);
    // A file the destroy cannot remove (as a kill would stop it there).
    let stuck = env.paths.jail_root("h").join("stuck");
    fs::write(&stuck, "").unwrap();
    let chattr = |flag: &str| {
        let ok = Command::new("chattr").arg(flag).arg(&stuck).status();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "chattr {flag} (e2fsprogs) failed"
        );
    };
    chattr("+i");
    let out = env.run("jmk", &["destroy", "h"]);
    chattr("-i");
    assert!(!out.success(), "{out}");
    assert!(!env.paths.jail_conf("h").exists(), "{out}");
    let again = env.run("jmk", &["start", "h"]);
    assert_eq!(again.stderr, "jmk: h: jail \"h\" not found\n");
    env.jmk_ok(&["destroy", "h"]);
    assert_eq!(entries(&env.paths.jails_dir()), Vec::<String>::new());
}
