//! End-to-end tests of jmk's jail(8) front on the real Linux backend:
//! jail.conf files with `depend` and every `exec.*` hook, started and
//! stopped with `jmk -c` / `jmk -r`, the hooks' order recorded in a host
//! file and compared with jail(8)'s; rollback when a step fails;
//! `exec.timeout`; `stop.timeout` against a process that ignores SIGTERM;
//! the command-line form; dependency errors; ignored parameters; `-J`.

#![cfg(target_os = "linux")]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jkit_tests::{Out, TestEnv, mini_rootfs, require_root};

/// A jail root for each of `names` under the test's base, and a shared
/// host directory `hooks/` that every jail mounts at `/hooks`: writable by
/// all, its log too (the host's hooks make it with umask 0), since a
/// jail's root is its id range's on the host, and a host directory bound
/// read-write keeps its owners.
fn roots(env: &TestEnv, names: &[&str]) -> PathBuf {
    let hooks = env.base.join("hooks");
    fs::create_dir_all(&hooks).unwrap();
    fs::set_permissions(&hooks, PermissionsExt::from_mode(0o777)).unwrap();
    for n in names {
        let root = env.base.join("roots").join(n);
        mini_rootfs(&root);
        fs::create_dir_all(root.join("hooks")).unwrap();
    }
    hooks
}

/// Hooks that write `JAIL HOOK` lines to `hooks/log`: the system ones on
/// the host (with what they see of JID/JNAME/JPATH), `exec.start` inside
/// the jail through the `/hooks` mount, `exec.stop` and `command` inside
/// the jail through `exec.consolelog`.
fn hooked_conf(env: &TestEnv) -> String {
    let base = env.base.display();
    let host = |hook: &str| {
        format!(
            "{hook} = 'umask 0; echo \"$JNAME {hook} jid=${{JID:-none}} path=$JPATH\" >> {base}/hooks/log';\n"
        )
    };
    let mut conf = String::new();
    for hook in [
        "exec.prepare",
        "exec.prestart",
        "exec.created",
        "exec.poststart",
        "exec.prestop",
        "exec.poststop",
        "exec.release",
    ] {
        conf.push_str(&host(hook));
    }
    conf.push_str(&format!(
        "exec.start = \"echo ${{name}} exec.start >> /hooks/log\";\n\
         exec.stop = \"echo ${{name}} exec.stop\";\n\
         exec.consolelog = \"{base}/hooks/log\";\n\
         path = \"{base}/roots/$name\";\n\
         host.hostname = \"$name.example\";\n\
         mount = \"{base}/hooks {base}/roots/$name/hooks nullfs rw\";\n\
         mount.devfs;\n\
         persist;\n\
         web {{ depend = db; command = \"echo web command\"; }}\n\
         db {{ }}\n"
    ));
    conf
}

#[test]
fn two_jails_start_and_stop_in_jail8_order() {
    require_root!();
    let env = TestEnv::new("j8-order");
    let hooks = roots(&env, &["db", "web"]);
    fs::write(&env.paths.jail_conf_file, hooked_conf(&env)).unwrap();

    let out = env.run("jmk", &["-c"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "db: created\nweb: created\n", "{out}");
    assert_eq!(out.stderr, "");
    let running: Vec<(String, Option<i64>)> = env
        .jkit()
        .backend()
        .list(false)
        .unwrap()
        .into_iter()
        .map(|j| (j.name, j.jid))
        .collect();
    assert_eq!(
        running,
        [("db".to_string(), Some(1)), ("web".to_string(), Some(2))]
    );

    let out = env.run("jmk", &["-r", "web", "db"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "web: removed\ndb: removed\n");
    assert!(env.jkit().backend().list(true).unwrap().is_empty());
    assert!(
        env.leftover_mounts().is_empty(),
        "{:?}",
        env.leftover_mounts()
    );

    // jail(8)'s startcommands and stopcommands (section 3.8): a jail's
    // dependencies are created through exec.poststart before it, and
    // removed after it.
    let path = |j: &str| format!("{}/roots/{j}", env.base.display());
    let mut want = Vec::new();
    for (j, jid) in [("db", 1), ("web", 2)] {
        want.push(format!("{j} exec.prepare jid=none path={}", path(j)));
        want.push(format!("{j} exec.prestart jid=none path={}", path(j)));
        want.push(format!("{j} exec.created jid={jid} path={}", path(j)));
        want.push(format!("{j} exec.start"));
        if j == "web" {
            want.push("web command".into());
        }
        want.push(format!("{j} exec.poststart jid={jid} path={}", path(j)));
    }
    for (j, jid) in [("web", 2), ("db", 1)] {
        want.push(format!("{j} exec.prestop jid={jid} path={}", path(j)));
        want.push(format!("{j} exec.stop"));
        want.push(format!("{j} exec.poststop jid={jid} path={}", path(j)));
        want.push(format!("{j} exec.release jid={jid} path={}", path(j)));
    }
    let log = fs::read_to_string(hooks.join("log")).unwrap();
    assert_eq!(log.lines().collect::<Vec<_>>(), want, "{log}");
}

#[test]
fn dependencies_are_pulled_in_and_jmk_start_takes_the_same_path() {
    require_root!();
    let env = TestEnv::new("j8-deps");
    let hooks = roots(&env, &["db", "web"]);
    // The same configuration as definitions, one NAME.conf each, with the
    // shared settings in jail.conf.
    let conf = hooked_conf(&env);
    let (shared, blocks) = conf.split_at(conf.find("web {").unwrap());
    fs::create_dir_all(&env.paths.conf_dir).unwrap();
    fs::write(&env.paths.jail_conf_file, shared).unwrap();
    let (web, db) = blocks.split_at(blocks.find("db {").unwrap());
    fs::write(env.paths.conf_dir.join("web.conf"), web).unwrap();
    fs::write(env.paths.conf_dir.join("db.conf"), db).unwrap();

    // `jmk -c web` creates db first, quietly.
    let out = env.run("jmk", &["-c", "web"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "db: created\nweb: created\n");
    // a named jail that runs is an error; "all" skips the running ones
    let out = env.run("jmk", &["-c", "web"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stderr, "jmk: \"web\" already exists\n");
    let out = env.run("jmk", &["-c"]);
    assert!(out.status.success(), "{out}");
    // removing db removes web, which depends on it, first
    let out = env.run("jmk", &["-r", "db"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "web: removed\ndb: removed\n");
    assert!(env.jkit().backend().list(true).unwrap().is_empty());

    // `jmk start` runs the same sequence, with nothing on stdout
    fs::remove_file(hooks.join("log")).unwrap();
    env.jmk_ok(&["start", "web"]);
    let log = fs::read_to_string(hooks.join("log")).unwrap();
    let hooks_seen: Vec<String> = log
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        hooks_seen,
        [
            "db exec.prepare",
            "db exec.prestart",
            "db exec.created",
            "db exec.start",
            "db exec.poststart",
            "web exec.prepare",
            "web exec.prestart",
            "web exec.created",
            "web exec.start",
            "web command",
            "web exec.poststart"
        ]
    );
    env.jmk_ok(&["stop", "db"]);
    assert!(env.jkit().backend().list(true).unwrap().is_empty());
    assert!(env.leftover_mounts().is_empty());
}

/// One jail `w` with a mount and `extra` statements; returns the conf file.
fn one_jail(env: &TestEnv, extra: &str) -> PathBuf {
    roots(env, &["w"]);
    let base = env.base.display();
    let file = env.base.join("w.conf");
    let conf = format!(
        "w {{\n path = \"{base}/roots/w\";\n mount = \"{base}/hooks {base}/roots/w/hooks nullfs rw\";\n \
         mount.devfs;\n mount.procfs;\n persist;\n \
         exec.prepare = 'umask 0; echo prepare >> {base}/hooks/log';\n \
         exec.poststart = 'umask 0; echo poststart >> {base}/hooks/log';\n \
         exec.release = 'umask 0; echo release >> {base}/hooks/log';\n{extra}\n}}\n"
    );
    fs::write(&file, conf).unwrap();
    file
}

fn nothing_left(env: &TestEnv) {
    assert!(
        env.jkit().backend().list(true).unwrap().is_empty(),
        "a jail is left"
    );
    assert!(
        env.leftover_mounts().is_empty(),
        "mounts left: {:?}",
        env.leftover_mounts()
    );
    assert!(!env.paths.run_jail_dir("w").exists(), "runtime state left");
}

#[test]
fn a_jail_with_neither_persist_nor_a_command_is_refused() {
    require_root!();
    let env = TestEnv::new("j8-persist");
    roots(&env, &["w"]);
    let base = env.base.display();
    let log = env.base.join("hooks/log");
    let conf = env.base.join("w.conf");
    let write = |extra: &str| {
        let text = format!(
            "w {{\n path = \"{base}/roots/w\";\n mount.devfs;\n \
             exec.prepare = 'umask 0; echo prepare >> {base}/hooks/log';\n{extra}\n}}\n"
        );
        fs::write(&conf, text).unwrap();
    };
    write("");
    let out = env.run("jmk", &["-f", conf.to_str().unwrap(), "-c"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(out.stderr, "jmk: w: new jail must persist or attach\n");
    assert_eq!(out.stdout, "");
    assert_eq!(fs::read_to_string(&log).unwrap(), "prepare\n");
    nothing_left(&env);

    // The command line names no jail in its messages.
    let path = format!("path={base}/roots/w");
    let out = env.run("jmk", &["-c", "name=w", &path]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(out.stderr, "jmk: new jail must persist or attach\n");
    nothing_left(&env);

    // Control: persist makes it.
    write(" persist;");
    let out = env.run("jmk", &["-f", conf.to_str().unwrap(), "-c"]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "w: created\n");
    let out = env.run("jmk", &["-f", conf.to_str().unwrap(), "-r", "w"]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    nothing_left(&env);
}

#[test]
fn removing_a_parent_passes_over_a_nested_jail_that_cannot_run() {
    require_root!();
    let env = TestEnv::new("j8-nested");
    roots(&env, &["a"]);
    let base = env.base.display();
    let conf = env.base.join("nested.conf");
    fs::write(
        &conf,
        format!(
            "a {{ path = \"{base}/roots/a\"; persist; \
             exec.poststop = 'umask 0; echo a poststop >> {base}/hooks/log'; }}\n\
             a.b {{ path = \"{base}/roots/a\"; persist; }}\n"
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let out = env.run("jmk", &["-f", conf, "-c", "a"]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    // a.b, which Linux cannot nest in a, is not running: jail(8) removes
    // the parent's children first and finds none.
    let out = env.run("jmk", &["-f", conf, "-r", "a"]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "a: removed\n");
    assert_eq!(out.stderr, "");
    let log = fs::read_to_string(env.base.join("hooks/log")).unwrap();
    assert_eq!(log, "a poststop\n");
    assert!(env.jkit().backend().list(true).unwrap().is_empty());
}

#[test]
fn a_failing_hook_rolls_back_what_was_done() {
    require_root!();
    let env = TestEnv::new("j8-rollback");
    let log = env.base.join("hooks/log");

    // Before the jail exists: nothing to undo but the mounts' plan.
    let conf = one_jail(&env, "exec.prestart = false;");
    let out = env.run("jmk", &["-f", conf.to_str().unwrap(), "-c"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(out.stderr, "jmk: w: false: failed\n");
    assert_eq!(out.stdout, "");
    assert_eq!(fs::read_to_string(&log).unwrap(), "prepare\n");
    nothing_left(&env);

    // After it exists: removed again, mounts gone, no poststart.
    fs::remove_file(&log).unwrap();
    let conf = one_jail(
        &env,
        "exec.start = \"sh -c 'echo started >> /hooks/log; exit 3'\";",
    );
    let out = env.run("jmk", &["-f", conf.to_str().unwrap(), "-c"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(out.stdout, "w: created\nw: removed\n");
    assert_eq!(
        out.stderr,
        "jmk: w: /bin/sh -c sh -c 'echo started >> /hooks/log; exit 3': failed\n"
    );
    assert_eq!(fs::read_to_string(&log).unwrap(), "prepare\nstarted\n");
    nothing_left(&env);

    // A command that cannot be run at all
    let conf = one_jail(&env, "exec.created = /nonexistent/hook;");
    let out = env.run("jmk", &["-f", conf.to_str().unwrap(), "-c"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(
        out.stderr,
        "jmk: w: exec /nonexistent/hook: No such file or directory\njmk: w: /nonexistent/hook: failed\n"
    );
    nothing_left(&env);
}

#[test]
fn exec_timeout_stops_a_hook_that_hangs() {
    require_root!();
    let env = TestEnv::new("j8-timeout");
    for (hook, line) in [("exec.prestart", "sleep 30"), ("exec.start", "sleep 30")] {
        let conf = one_jail(&env, &format!("exec.timeout = 1;\n {hook} = \"{line}\";"));
        let t = Instant::now();
        let out = env.run("jmk", &["-f", conf.to_str().unwrap(), "-q", "-c"]);
        let took = t.elapsed();
        assert_eq!(out.status.code(), Some(1), "{out}");
        assert_eq!(out.stderr, "jmk: w: sleep 30: timed out\n", "{hook}");
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(8),
            "{hook}: took {took:?}"
        );
        nothing_left(&env);
    }
    // within the limit all is well
    let conf = one_jail(&env, "exec.timeout = 5;\n exec.start = \"sleep 0.2\";");
    let out = env.run("jmk", &["-f", conf.to_str().unwrap(), "-q", "-c"]);
    assert!(out.status.success(), "{out}");
    let out = env.run("jmk", &["-f", conf.to_str().unwrap(), "-q", "-r", "w"]);
    assert!(out.status.success(), "{out}");
    nothing_left(&env);
}

#[test]
fn stop_timeout_waits_for_a_process_that_ignores_sigterm() {
    require_root!();
    let env = TestEnv::new("j8-stoptimeout");
    let stubborn = "exec.start = \"trap '' TERM; sleep 1000 > /dev/null 2>&1 &\";";
    for (timeout, min, max) in [(2u64, 2.0, 6.0), (0, 0.0, 1.5)] {
        let conf = one_jail(&env, &format!("{stubborn}\n stop.timeout = {timeout};"));
        let f = conf.to_str().unwrap();
        let out = env.run("jmk", &["-f", f, "-c"]);
        assert!(out.status.success(), "{out}");
        let jail = env.jkit().backend().list(false).unwrap().remove(0);
        let init = jkit::backend::linux::state::read(&env.paths, "w")
            .unwrap()
            .unwrap()
            .init
            .unwrap();
        assert!(init.alive() && jail.name == "w");
        let t = Instant::now();
        let out = env.run("jmk", &["-f", f, "-r", "w"]);
        let took = t.elapsed().as_secs_f64();
        assert!(out.status.success(), "{out}");
        assert_eq!(out.stdout, "w: removed\n");
        assert!(
            took >= min && took < max,
            "stop.timeout={timeout}: took {took:.2}s"
        );
        assert!(!init.alive(), "the jail's processes are gone");
        nothing_left(&env);
    }
    // The default is jail(8)'s 10 seconds: a jail whose processes end on
    // SIGTERM does not wait for it.
    let conf = one_jail(&env, "exec.start = \"sleep 1000 > /dev/null 2>&1 &\";");
    let f = conf.to_str().unwrap();
    assert!(env.run("jmk", &["-f", f, "-q", "-c"]).status.success());
    let t = Instant::now();
    assert!(env.run("jmk", &["-f", f, "-q", "-r", "w"]).status.success());
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    nothing_left(&env);
}

#[test]
fn a_command_ending_in_a_lone_ampersand_runs_in_the_background() {
    require_root!();
    let env = TestEnv::new("j8-bg");
    let mark = env.base.join("hooks/bg");
    let conf = one_jail(
        &env,
        &format!(
            "exec.start = \"sleep 1 &\";\n exec.poststop = \"touch {} &\";",
            mark.display()
        ),
    );
    let f = conf.to_str().unwrap();
    let out = env.run("jmk", &["-f", f, "-v", "-c"]);
    assert!(out.status.success(), "{out}");
    assert!(
        out.stdout.contains("w: run command in jail: sleep 1\n"),
        "its words, without a shell: {out}"
    );
    let out = env.run("jmk", &["-f", f, "-v", "-r", "w"]);
    assert!(out.status.success(), "{out}");
    assert!(
        out.stdout
            .contains(&format!("w: run command: touch {}\n", mark.display())),
        "{out}"
    );
    let t = Instant::now();
    while !mark.exists() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(mark.exists(), "the background hook ran");
    nothing_left(&env);
}

#[test]
fn command_line_form_runs_one_jail() {
    require_root!();
    let env = TestEnv::new("j8-cli");
    roots(&env, &["t"]);
    let path = format!("path={}", env.base.join("roots/t").display());
    let out = env.run(
        "jmk",
        &[
            "-c",
            "name=t",
            &path,
            "mount.devfs",
            "host.hostname=t.example",
            "command=/bin/sh",
            "-c",
            "echo hi from $0; exit 0",
        ],
    );
    assert!(out.status.success(), "{out}");
    assert_eq!(
        out.stdout, "hi from /bin/sh\n",
        "no note for a command-line jail"
    );
    assert!(
        env.jkit().backend().list(true).unwrap().is_empty(),
        "not persistent: gone with its command"
    );
    let out = env.run(
        "jmk",
        &["-cv", "name=t", &path, "command=/bin/sh", "-c", "exit 3"],
    );
    assert_eq!(out.status.code(), Some(1), "{out}");
    // -v: jail(8)'s jail_set line, `persist` set for the command's time.
    let root = env.base.join("roots/t");
    let set = format!(
        "jail_set(JAIL_CREATE) persist name=t path={}",
        root.display()
    );
    assert_eq!(
        out.stdout,
        format!("{set}\ncreated\nrun command in jail: /bin/sh -c exit 3\nremoved\n")
    );
    assert_eq!(out.stderr, "jmk: /bin/sh -c exit 3: failed\n");
    let out = env.run("jmk", &["-cv", "name=t", &path, "command=/bin/true"]);
    assert!(out.status.success(), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [set.as_str(), "created", "run command in jail: /bin/true"]
    );
    assert!(
        lines[3].starts_with("jail_set(JAIL_UPDATE) jid=") && lines[3].ends_with(" nopersist"),
        "{out}"
    );
    assert_eq!(lines.len(), 4, "{out}");
    // persist keeps it; -J records it
    let jids = env.base.join("jids");
    let out = env.run(
        "jmk",
        &[
            "-J",
            jids.to_str().unwrap(),
            "-c",
            "name=t",
            &path,
            "persist",
            "securelevel=3",
            "exec.fib=1",
        ],
    );
    assert!(out.status.success(), "{out}");
    assert_eq!(
        out.stderr,
        "jmk: exec.fib: has no meaning on Linux, ignored\n"
    );
    assert_eq!(
        fs::read_to_string(&jids).unwrap(),
        format!("jid=1\tname=t\t{path}\tpersist\tsecurelevel=3\texec.fib=1\n")
    );
    let out = env.run("jmk", &["-R", "t"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "");
    assert!(env.jkit().backend().list(true).unwrap().is_empty());
}

#[test]
fn a_command_line_jail_without_name_or_path_is_named_by_its_jid_and_rooted_at_slash() {
    require_root!();
    let env = TestEnv::new("j8-anon");
    let marker = env.base.join("marker");
    fs::write(&marker, "").unwrap();
    let jids = env.paths.jids_dir();
    // No name: the jail is its jid, as the kernel names it; no path: the
    // kernel's default root, the host's `/`.
    let out = env.run("jmk", &["-c", "persist", "host.hostname=anon"]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "", "no note for a command-line jail");
    assert_eq!(
        out.stderr,
        "jmk: path /: a directory of the host's system: root in this jail is the host's root\n"
    );
    let out = env.run("jls-rs", &["-n", "jid", "name", "path", "host.hostname"]);
    assert_eq!(
        out.stdout, "jid=1 name=1 path=/ host.hostname=anon\n",
        "{out}"
    );
    let probe = format!("test -f {} && echo host root", marker.display());
    let out = env.run("jexec-rs", &["1", "/bin/sh", "-c", &probe]);
    assert_eq!(out.stdout, "host root\n", "{out}");
    // Named by jid, removed by it; the jid is free again.
    let out = env.run("jmk", &["-r", "1"]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(env.run("jls-rs", &[]).stdout.lines().count(), 1);
    assert_eq!(fs::read_dir(&jids).unwrap().count(), 0, "jid 1 kept");
    // One that fails gives its jid back.
    let out = env.run("jmk", &["-c", "path=/nonexistent", "persist"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(
        out.stderr,
        "jmk: path /nonexistent: No such file or directory\n"
    );
    assert_eq!(
        fs::read_dir(&jids).unwrap().count(),
        0,
        "a failed jail's jid kept"
    );
    // The old form without -n is anonymous too.
    let out = env.run("jmk", &["/nonexistent", "old.example", "", "/bin/sh"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(
        out.stderr,
        "jmk: path /nonexistent: No such file or directory\n"
    );
    assert_eq!(
        fs::read_dir(&jids).unwrap().count(),
        0,
        "the old form's jid kept"
    );
    // A named jail without a path: jail(8) passes none to the kernel (-v).
    let out = env.run("jmk", &["-cv", "name=r", "persist"]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(
        out.stdout.lines().next(),
        Some("jail_set(JAIL_CREATE) name=r persist=true"),
        "{out}"
    );
    let out = env.run("jls-rs", &["-j", "r", "-n", "path"]);
    assert_eq!(out.stdout, "path=/\n", "{out}");
    env.jmk_ok(&["-r", "r"]);
    // Bytes that are not UTF-8 reach the commands as they were given.
    use std::os::unix::ffi::OsStrExt;
    let bytes = |b: &'static [u8]| std::ffi::OsStr::from_bytes(b);
    let out = env
        .cmd("jmk")
        .args(["-c", "name=b"])
        .arg(bytes(b"exec.prepare=/bin/echo pr\xe9"))
        .arg("command=/bin/echo")
        .arg(bytes(b"caf\xe9"))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"pr\xe9\ncaf\xe9\n", "{out:?}");
    let out = env
        .cmd("jmk")
        .args(["-c", "name=h", "persist"])
        .arg(bytes(b"host.hostname=caf\xe9"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let shown = env.cmd("jls-rs").args(["-n", "host.hostname"]).output();
    assert_eq!(shown.unwrap().stdout, b"host.hostname=caf\xe9\n");
    let inside = env.cmd("jexec-rs").args(["h", "hostname"]).output();
    assert_eq!(inside.unwrap().stdout, b"caf\xe9\n");
    env.jmk_ok(&["-r", "h"]);
    assert!(env.jkit().backend().list(true).unwrap().is_empty());
    assert!(
        env.leftover_mounts().is_empty(),
        "{:?}",
        env.leftover_mounts()
    );
}

#[test]
fn dependency_errors_are_reported_as_jail8_does() {
    require_root!();
    let env = TestEnv::new("j8-deperr");
    roots(&env, &["a", "b", "c", "d"]);
    let base = env.base.display();
    let conf = env.base.join("deps.conf");
    fs::write(
        &conf,
        format!(
            "path = \"{base}/roots/$name\";\npersist;\n\
             a {{ depend = b; }}\nb {{ depend = a; }}\nc {{ depend = nowhere; }}\nd {{ }}\ne {{ depend = c; }}\n"
        ),
    )
    .unwrap();
    fs::create_dir_all(env.base.join("roots/e")).unwrap();
    let f = conf.to_str().unwrap();
    let out = env.run("jmk", &["-f", f, "-c"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(
        out.stderr,
        "jmk: c: depends on undefined jail \"nowhere\"\njmk: a: dependency loop\njmk: e: skipped\njmk: b: skipped\n",
        "{}",
        out
    );
    assert_eq!(out.stdout, "d: created\n");
    let names: Vec<String> = env
        .jkit()
        .backend()
        .list(false)
        .unwrap()
        .into_iter()
        .map(|j| j.name)
        .collect();
    assert_eq!(names, ["d"]);
    let out = env.run("jmk", &["-f", f, "-r", "d", "nosuch"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    // jail(8) sets up the dependencies of the whole file for -r too.
    assert_eq!(
        out.stderr,
        "jmk: c: depends on undefined jail \"nowhere\"\njmk: a: dependency loop\njmk: \"nosuch\" not found\n"
    );
    assert_eq!(out.stdout, "d: removed\n");
}

#[test]
fn parameters_linux_cannot_honour_stop_before_anything_runs() {
    require_root!();
    let env = TestEnv::new("j8-unsupported");
    let conf = one_jail(&env, "zfs.dataset = tank/jails/w;");
    let out = env.run("jmk", &["-f", conf.to_str().unwrap(), "-c"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(
        out.stderr,
        "jmk: w: zfs.dataset: ZFS datasets cannot be handed to a jail on Linux\n"
    );
    assert!(!env.base.join("hooks/log").exists(), "no hook ran");
    nothing_left(&env);
}

#[test]
fn hooks_run_as_their_users_and_with_a_clean_environment() {
    require_root!();
    let env = TestEnv::new("j8-users");
    let base = env.base.display();
    // jail `w` with a user `www` in its own password file, and a log any
    // user may write
    let jail_with_www = |extra: &str| {
        let conf = one_jail(&env, extra);
        let root = env.base.join("roots/w");
        let passwd = "root:x:0:0:root:/root:/bin/sh\nwww:x:1001:1001:www:/home/www:/bin/sh\n";
        fs::write(root.join("etc/passwd"), passwd).unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\nwww:x:1001:\n").unwrap();
        fs::create_dir_all(root.join("home/www")).unwrap();
        std::os::unix::fs::chown(root.join("home/www"), Some(1001), Some(1001)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(env.base.join("hooks"), fs::Permissions::from_mode(0o1777)).unwrap();
        let log = env.base.join("hooks/log");
        fs::write(&log, "").unwrap();
        fs::set_permissions(&log, fs::Permissions::from_mode(0o666)).unwrap();
        conf
    };
    let conf = jail_with_www(&format!(
        "exec.system_user = nobody;\n \
         exec.prestart = 'echo \"host $(id -un) $JNAME\" >> {base}/hooks/log';\n \
         exec.jail_user = www;\n \
         exec.start = 'echo \"jail $(id -u) $USER $HOME $(pwd)\" >> /hooks/log';"
    ));
    let f = conf.to_str().unwrap();
    let out = env.run("jmk", &["-f", f, "-q", "-c"]);
    assert!(out.status.success(), "{out}");
    let out = env.run("jmk", &["-f", f, "-q", "-r", "w"]);
    assert!(out.status.success(), "{out}");
    let log = fs::read_to_string(env.base.join("hooks/log")).unwrap();
    assert_eq!(
        log, "prepare\nhost nobody w\njail 1001 www /home/www /\npoststart\nrelease\n",
        "{log}"
    );

    // exec.clean: only PATH (and TERM) of the caller's environment; in the
    // jail the user's home is the working directory.
    let conf = jail_with_www(&format!(
        "exec.clean;\n exec.jail_user = www;\n \
         exec.prestart = 'echo \"host $PATH ${{FOO:-unset}} ${{JNAME:-unset}}\" >> {base}/hooks/log';\n \
         exec.start = 'echo \"jail ${{FOO:-unset}} $(pwd)\" >> /hooks/log';"
    ));
    let f = conf.to_str().unwrap();
    let out = Out::of(env.cmd("jmk").args(["-f", f, "-q", "-c"]).env("FOO", "set"));
    assert!(out.status.success(), "{out}");
    assert!(env.run("jmk", &["-f", f, "-q", "-r", "w"]).status.success());
    let log = fs::read_to_string(env.base.join("hooks/log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[1], "host /bin:/usr/bin unset unset", "{log}");
    assert_eq!(lines[2], "jail unset /home/www", "{log}");
    nothing_left(&env);
}

#[test]
fn modify_changes_what_it_can_and_restarts_with_r() {
    require_root!();
    let env = TestEnv::new("j8-modify");
    let conf = one_jail(&env, "host.hostname = one;");
    let f = conf.to_str().unwrap().to_string();
    assert!(env.run("jmk", &["-f", &f, "-c"]).status.success());
    let jid = |env: &TestEnv| env.jkit().backend().list(false).unwrap()[0].jid;
    let before = jid(&env);
    // nothing changed: updated, still the same jail
    let out = env.run("jmk", &["-f", &f, "-m", "w"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "w: updated\n");
    // a change Linux cannot make to a running jail
    fs::write(
        &conf,
        fs::read_to_string(&conf)
            .unwrap()
            .replace("host.hostname = one;", "host.hostname = two;"),
    )
    .unwrap();
    let out = env.run("jmk", &["-f", &f, "-m", "w"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(
        out.stderr,
        "jmk: w: host.hostname cannot be changed after creation\n"
    );
    // -mr restarts it instead (jail(8) then notes only the creation); -cm
    // on a running jail modifies
    let out = env.run("jmk", &["-f", &f, "-mr", "w"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "w: created\n");
    let j = env.jkit().backend().list(false).unwrap().remove(0);
    assert_eq!(j.hostname(), "two");
    assert_eq!(j.jid, before, "the lowest free jid again");
    let out = env.run("jmk", &["-f", &f, "-cm", "w"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "w: updated\n");
    // -rc: removed and created again
    let out = env.run("jmk", &["-f", &f, "-rc", "w"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "w: created\n");
    assert!(
        env.run("jmk", &["-f", &f, "-q", "-r", "*"])
            .status
            .success()
    );
    nothing_left(&env);
    // -rc of a jail that does not run is jail(8)'s "not found"
    let out = env.run("jmk", &["-f", &f, "-rc", "w"]);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(out.stderr, "jmk: \"w\" not found\n");
}

#[test]
fn legacy_form_with_a_name() {
    require_root!();
    let env = TestEnv::new("j8-legacy");
    roots(&env, &["t"]);
    let root = env.base.join("roots/t");
    let out = env.run(
        "jmk",
        &[
            "-n",
            "t",
            root.to_str().unwrap(),
            "t.example",
            "",
            "/bin/sh",
            "-c",
            "echo legacy",
        ],
    );
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "legacy\n");
    assert!(env.jkit().backend().list(true).unwrap().is_empty());
}

/// The id ranges claimed in `env`: (base, jail).
fn id_ranges(env: &TestEnv) -> Vec<(u32, String)> {
    let Ok(entries) = fs::read_dir(env.paths.id_ranges_dir()) else {
        return Vec::new();
    };
    let mut ranges: Vec<(u32, String)> = entries
        .map(|e| {
            let e = e.unwrap();
            let owner = fs::read_link(e.path()).unwrap();
            let base = e.file_name().to_str().unwrap().parse().unwrap();
            (base, owner.to_string_lossy().into_owned())
        })
        .collect();
    ranges.sort();
    ranges
}

#[test]
fn a_jail_conf_jail_runs_in_an_id_range_of_its_own() {
    use std::os::unix::fs::MetadataExt;
    require_root!();
    let env = TestEnv::new("j8-idrange");
    roots(&env, &["r"]);
    let root = env.base.join("roots/r");
    // Written by hand, as NAME.conf (so that jmk destroy knows it).
    fs::create_dir_all(&env.paths.conf_dir).unwrap();
    fs::write(
        env.paths.conf_dir.join("r.conf"),
        format!("r {{ path = \"{}\"; persist; }}\n", root.display()),
    )
    .unwrap();
    let out = env.run("jmk", &["-c", "r"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stderr, "", "no warning: its root is its range's");
    let ranges = id_ranges(&env);
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    let (base, ref owner) = ranges[0];
    assert_eq!(owner, "r");
    // Its files were given to the range, and what its root makes is the
    // range's root's on the host, not the host's root's.
    let owners = |p: &str| {
        let m = fs::symlink_metadata(root.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(owners(""), (base, base));
    assert_eq!(owners("bin/sh"), (base, base));
    let out = env.run(
        "jexec-rs",
        &["r", "/bin/sh", "-c", "id -u; echo x > /tmp/made"],
    );
    assert_eq!(out.stdout, "0\n", "{out}");
    assert_eq!(owners("tmp/made"), (base, base));
    // A second start takes the same range.
    let out = env.run("jmk", &["-r", "r"]);
    assert!(out.status.success(), "{out}");
    let out = env.run("jmk", &["-c", "r"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(id_ranges(&env), [(base, "r".to_string())]);
    let out = env.run("jexec-rs", &["r", "/bin/sh", "-c", "echo y > /tmp/made2"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(owners("tmp/made2"), (base, base));
    // What jtpl writes into it is the range's too.
    let tpl = env.base.join("tpl");
    fs::create_dir_all(&tpl).unwrap();
    fs::write(tpl.join("Bastillefile"), "LINE_IN_FILE hello /etc/motd\n").unwrap();
    let out = env.run("jtpl", &["apply", "r", tpl.to_str().unwrap()]);
    assert!(out.status.success(), "{out}");
    assert_eq!(owners("etc/motd"), (base, base));
    let out = env.run("jmk", &["-r", "r"]);
    assert!(out.status.success(), "{out}");
    // A system directory of the host's (its /usr here, whose bin and lib
    // are a root's) is no jail's tree: such a jail runs without a user
    // namespace, and says so.
    let out = env.run(
        "jmk",
        &[
            "-c",
            "name=h",
            "path=/usr",
            "command=/bin/sh",
            "-c",
            "id -u",
        ],
    );
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "0\n");
    assert_eq!(
        out.stderr,
        "jmk: path /usr: a directory of the host's system: root in this jail is the host's root\n"
    );
    assert_eq!(id_ranges(&env), [(base, "r".to_string())]);
    // A second jail on r's tree runs in a range of its own, where the tree
    // is another range's: it says so, and the tree stays r's.
    let path = format!("path={}", root.display());
    let out = env.run(
        "jmk",
        &["-c", "name=s", &path, "command=/bin/sh", "-c", "id -u"],
    );
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "0\n");
    assert_eq!(
        out.stderr,
        format!(
            "jmk: path {}: its files belong to another id range (uid {base}): root in this jail does not own them\n",
            root.display()
        )
    );
    assert_eq!(owners(""), (base, base));
    assert_eq!(owners("bin/sh"), (base, base));
    // destroy frees the range (and leaves the admin's tree).
    let out = env.run("jmk", &["destroy", "r"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(id_ranges(&env).iter().filter(|(_, n)| n == "r").count(), 0);
    assert_eq!(owners("tmp/made"), (base, base));
}
