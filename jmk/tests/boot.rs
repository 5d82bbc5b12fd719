//! Boot and shutdown as jkit.service (`dist/systemd/jkit.service`) does
//! them: the commands of its `ExecStart=` and `ExecStop=` lines run here
//! for real against jails marked `jkit.boot` that depend on others, and
//! `systemd-analyze verify` checks the unit itself.

#![cfg(target_os = "linux")]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use jkit_tests::{Out, TestEnv, bin, mini_rootfs, require_root, with_dirs};

/// The unit as shipped.
fn unit() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/systemd/jkit.service");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where the unit expects jkit's binaries, as installed with the default
/// prefix (scripts/install rewrites it for another).
const INSTALLED: &str = "/usr/local/bin/";

/// The command lines of the unit's `key=` lines (systemd splits them on
/// white space; the unit quotes nothing), each program's installed path
/// replaced by the binary built for this test run.
fn commands(unit: &str, key: &str) -> Vec<Command> {
    let lines: Vec<Vec<&str>> = unit
        .lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(!lines.is_empty(), "the unit has no {key}=");
    lines
        .into_iter()
        .map(|words| {
            let program = words[0]
                .strip_prefix(INSTALLED)
                .unwrap_or_else(|| panic!("{key}={}: not under {INSTALLED}", words[0]));
            let mut cmd = Command::new(bin(program));
            cmd.args(&words[1..]);
            cmd
        })
        .collect()
}

/// Run the unit's `key=` commands as systemd would, one after the other,
/// against the jails of `env`.
fn run_unit(env: &TestEnv, key: &str) -> Vec<Out> {
    commands(&unit(), key)
        .iter_mut()
        .map(|c| Out::of(with_dirs(c, &env.paths)))
        .collect()
}

/// Which jails a host hook logged as `NAME up` / `NAME down`, in order.
fn logged(log: &Path, what: &str) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_suffix(&format!(" {what}")))
        .map(str::to_string)
        .collect()
}

/// Define jail `name` in its own file of the configuration directory, its
/// block's parameters `body`.
fn define(env: &TestEnv, name: &str, body: &str) {
    fs::create_dir_all(&env.paths.conf_dir).unwrap();
    fs::write(
        env.paths.conf_dir.join(format!("{name}.conf")),
        format!("{name} {{ {body} }}\n"),
    )
    .unwrap();
}

#[test]
fn jails_marked_for_boot_start_in_dependency_order_and_every_jail_stops_at_shutdown() {
    require_root!();
    let env = TestEnv::new("boot");
    let base = env.base.display().to_string();
    let log = env.base.join("log");
    for j in ["web", "cache", "db", "spare"] {
        mini_rootfs(&env.base.join("roots").join(j));
    }
    fs::create_dir_all(&env.paths.conf_dir).unwrap();
    fs::write(
        &env.paths.jail_conf_file,
        format!(
            "path = \"{base}/roots/$name\";\n\
             persist;\n\
             exec.poststart = 'echo \"$JNAME up\" >> {base}/log';\n\
             exec.poststop = 'echo \"$JNAME down\" >> {base}/log';\n"
        ),
    )
    .unwrap();
    // Definitions in an order that is not the dependency order: web,
    // marked, depends on db, which is not marked.
    for (name, body) in [
        ("web", "jkit.boot; depend = db;"),
        ("cache", "jkit.boot = 1;"),
        ("db", ""),
        ("spare", "jkit.boot = 0;"),
    ] {
        define(&env, name, body);
    }
    let running = || -> Vec<String> {
        let mut names: Vec<String> = env
            .jkit()
            .backend()
            .list(false)
            .unwrap()
            .into_iter()
            .map(|j| j.name)
            .collect();
        names.sort();
        names
    };

    for out in run_unit(&env, "ExecStart") {
        assert!(out.success(), "{out}");
        assert_eq!(out.stderr, "", "{out}");
    }
    assert_eq!(running(), ["cache", "db", "web"]);
    let up = logged(&log, "up");
    let at = |list: &[String], j: &str| list.iter().position(|n| n == j).unwrap();
    assert_eq!(up.len(), 3, "{up:?}");
    assert!(
        at(&up, "db") < at(&up, "web"),
        "db must start before web: {up:?}"
    );

    // Again (a restart of the unit with the jails up): nothing to do.
    for out in run_unit(&env, "ExecStart") {
        assert_eq!(out.parts(), (String::new(), String::new(), 0));
    }
    assert_eq!(logged(&log, "up").len(), 3);

    // A jail started by hand stops at shutdown too; web before db.
    env.jmk_ok(&["start", "spare"]);
    for out in run_unit(&env, "ExecStop") {
        assert!(out.success(), "{out}");
        assert_eq!(out.stderr, "", "{out}");
    }
    assert!(running().is_empty(), "{:?}", running());
    let down = logged(&log, "down");
    assert_eq!(down.len(), 4, "{down:?}");
    assert!(
        at(&down, "web") < at(&down, "db"),
        "web must stop before db: {down:?}"
    );
    assert!(
        env.leftover_mounts().is_empty(),
        "{:?}",
        env.leftover_mounts()
    );
}

#[test]
fn a_marked_jail_that_fails_fails_the_boot_and_the_others_still_start() {
    require_root!();
    let env = TestEnv::new("boot-fail");
    let base = env.base.display().to_string();
    mini_rootfs(&env.base.join("roots/good"));
    define(
        &env,
        "good",
        &format!("path = \"{base}/roots/good\"; persist; jkit.boot;"),
    );
    // Its root is missing, and a jail that depends on it is skipped.
    define(
        &env,
        "bad",
        &format!("path = \"{base}/roots/missing\"; persist; jkit.boot;"),
    );
    define(
        &env,
        "after",
        &format!("path = \"{base}/roots/good\"; persist; jkit.boot; depend = bad;"),
    );
    let out = env.run("jmk", &["start", "--boot"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stdout.contains("good: created"), "{out}");
    assert!(out.stderr.contains("jmk: bad: "), "{out}");
    assert!(out.stderr.contains("jmk: after: skipped"), "{out}");
    let names: Vec<String> = env
        .jkit()
        .backend()
        .list(false)
        .unwrap()
        .into_iter()
        .map(|j| j.name)
        .collect();
    assert_eq!(names, ["good"]);
    env.jmk_ok(&["stop", "--all"]);
    assert!(env.jkit().backend().list(true).unwrap().is_empty());
}

#[test]
fn no_jails_at_all_is_a_quiet_boot_and_shutdown() {
    require_root!();
    let env = TestEnv::new("boot-none");
    for args in [["start", "--boot"], ["stop", "--all"]] {
        let out = env.run("jmk", &args);
        assert_eq!(out.parts(), (String::new(), String::new(), 0), "{args:?}");
    }
}

#[test]
fn start_boot_and_stop_all_take_no_jail_names_and_print_no_json() {
    let env = TestEnv::new("boot-usage");
    for args in [
        &["start", "--boot", "web"][..],
        &["stop", "--all", "web"],
        &["--json", "start", "--boot"],
        &["--json", "stop", "--all"],
    ] {
        let out = env.run("jmk", args);
        assert_eq!(out.code(), 2, "{out}");
        assert!(out.stderr.contains("cannot be used with"), "{out}");
    }
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("systemd-analyze (Debian package systemd) is needed to verify jkit.service");
    // The unit as installed with its binaries where this run built them.
    let dir = tempdir("jkit-unit");
    let built = bin("jmk");
    let unit = unit().replace(
        &format!("{INSTALLED}jmk"),
        built.to_str().expect("a UTF-8 target path"),
    );
    let path = dir.join("jkit.service");
    fs::write(&path, unit).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let out = Out::of(
        Command::new(analyze)
            .args(["verify", "--man=no"])
            .arg(&path),
    );
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.parts(), (String::new(), String::new(), 0));
}

/// A fresh private directory under the temporary directory.
fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_configuration_that_no_longer_parses_still_lets_every_jail_stop() {
    require_root!();
    let env = TestEnv::new("boot-broken");
    let base = env.base.display().to_string();
    mini_rootfs(&env.base.join("roots/web"));
    define(
        &env,
        "web",
        &format!("path = \"{base}/roots/web\"; persist; jkit.boot;"),
    );
    env.jmk_ok(&["start", "--boot"]);
    // An admin's edit in progress, at shutdown.
    fs::write(env.paths.conf_dir.join("db.conf"), "db { path = \n").unwrap();
    let out = env.run("jmk", &["stop", "--all"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("db.conf"), "{out}");
    assert!(env.jkit().backend().list(true).unwrap().is_empty(), "{out}");
}
