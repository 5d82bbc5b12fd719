//! End-to-end tests of `jtpl apply` on real Linux jails (thin jails of the
//! host's own system): the template that uses every hook a Linux jail can
//! run, checked inside the jail and on the host; a second run changes
//! nothing; the hooks that must fail on Linux, each with its message and
//! status; fail-fast with the step's own output; jails from NDJSON on
//! stdin; writes that stay inside the jail root.

#![cfg(target_os = "linux")]

use std::fs;
use std::path::{Path, PathBuf};

use jkit_tests::{Out, TestEnv, output_with_stdin, require_root};

fn templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/templates/jtpl")
}

/// A running thin jail `name` of the host's system in `env`.
fn jail(env: &TestEnv, name: &str) {
    env.create_host_jail(name, &[]);
    env.jkit().start(name).expect("start");
}

fn jtpl(env: &TestEnv, args: &[&str], stdin: Option<&str>) -> Out {
    output_with_stdin(
        env.cmd("jtpl")
            .args(args)
            .env("JKIT_TEMPLATES_DIR", templates())
            .current_dir(templates()),
        stdin.unwrap_or("").as_bytes(),
    )
}

/// Whether `script` succeeds under /bin/sh inside the running jail (run
/// as a one-line template: jtpl's CMD is jexec's path into the jail).
fn inside(env: &TestEnv, name: &str, script: &str) -> bool {
    let dir = env.base.join("check");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Bastillefile"), format!("CMD {script}\n")).unwrap();
    let out = jtpl(env, &["apply", name, dir.to_str().unwrap()], None);
    out.status.success()
}

fn read(root: &Path, rel: &str) -> String {
    fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn every_hook_applies_to_a_real_linux_jail() {
    require_root!();
    let env = TestEnv::new("tplevery");
    jail(&env, "web");
    let data = env.base.join("data-src");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("marker"), "m\n").unwrap();
    let data_arg = format!("DATA={}", data.display());
    let args = [
        "apply",
        "web",
        "every",
        "--arg",
        "ADMIN=ops@acme.test",
        "--arg",
        &data_arg,
    ];
    let out = jtpl(&env, &args, None);
    assert!(out.status.success(), "{}", out.stderr);
    let err = out.stderr;
    assert!(err.contains("trailing ';' removed"), "{err}");
    assert!(
        !err.contains("next start"),
        "MOUNT waited for a restart: {err}"
    );

    let root = env.paths.jail_root("web");
    files_show_every_hook(&root);
    mounts_and_definition_show_every_hook(&env, &root, &data);
    a_second_run_changes_nothing(&env, &args, &root);
}

/// What the hooks left in the jail's files.
fn files_show_every_hook(root: &Path) {
    // CMD: sh -c in the jail, cwd /root, ARG defaults with spaces
    assert_eq!(read(root, "srv/app/cmd.out"), "hello world from /root\n");
    // INCLUDE with --arg passed down, built-ins recomputed
    assert_eq!(
        read(root, "srv/app/include.out"),
        "included by ops@acme.test in web\n"
    );
    // CP of a directory merged into /, COPY of a file, OVERLAY
    assert_eq!(read(root, "etc/motd"), "welcome to a jtpl jail\n");
    assert_eq!(read(root, "srv/app/overlay.txt"), "overlaid\n");
    // RENDER: declared variables and built-ins; others left alone
    assert_eq!(
        read(root, "etc/app/app.ini"),
        "listen = :8000\nadmin = ops@acme.test\nname = web\nhome = ${HOME}\n"
    );
    // LINE_IN_FILE twice: one line
    let hosts = read(root, "etc/hosts");
    assert_eq!(hosts.matches("127.0.0.1 web.local\n").count(), 1, "{hosts}");
    // SYSRC with a continuation line
    assert_eq!(
        read(root, "etc/rc.conf"),
        "app_enable=\"YES\"\napp_flags=\"--port 8000\"\n"
    );
    // SERVICE ran the init.d script CP put in place, after RESTART
    assert_eq!(read(root, "srv/app/service.log"), "app start --now\n");
}

/// MOUNT, CONFIG, TAGS and LIMITS: in the running jail and its definition.
fn mounts_and_definition_show_every_hook(env: &TestEnv, root: &Path, data: &Path) {
    // MOUNT: mounted at once (the CMD right after it checks) and in the
    // definition, so mounted again after RESTART (checked in the jail)
    assert!(inside(env, "web", "test -f /mnt/data/marker"));
    assert!(inside(
        env,
        "web",
        "grep -qx 'hello world from /root' /srv/app/cmd.out"
    ));
    assert!(!inside(env, "web", "test -f /mnt/data/absent"));
    let conf = fs::read_to_string(env.paths.jail_conf("web")).unwrap();
    assert!(conf.contains("\tallow.mlock;\n"), "{conf}");
    assert!(!conf.contains("children.max"), "{conf}");
    assert!(
        conf.contains(&format!(
            "\"{} {}/mnt/data nullfs ro 0 0\";",
            data.display(),
            root.display()
        )),
        "{conf}"
    );
    // TAGS, de-duplicated; LIMITS through jrctl's rules
    assert_eq!(
        fs::read_to_string(env.paths.conf_dir.join("web.tags")).unwrap(),
        "web\nprod\n"
    );
    let rules = fs::read_to_string(env.paths.conf_dir.join("web.rctl")).unwrap();
    assert!(rules.contains("jail:web:maxproc:deny=200\n"), "{rules}");
}

/// A second run changes nothing the first one did.
fn a_second_run_changes_nothing(env: &TestEnv, args: &[&str], root: &Path) {
    let definition = || fs::read_to_string(env.paths.jail_conf("web")).unwrap();
    let before = (
        definition(),
        read(root, "etc/hosts"),
        read(root, "etc/rc.conf"),
    );
    let again = jtpl(env, args, None);
    assert!(again.status.success(), "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("already mounted by the definition: skipped"),
        "{}",
        again.stderr
    );
    let after = (
        definition(),
        read(root, "etc/hosts"),
        read(root, "etc/rc.conf"),
    );
    assert_eq!(before, after);
}

#[test]
fn a_failing_step_stops_the_run_with_its_place_and_output() {
    require_root!();
    let env = TestEnv::new("tplfail");
    jail(&env, "web");
    let out = jtpl(&env, &["apply", "web", "fails"], None);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let err = out.stderr;
    assert!(err.contains("step output on stderr\n"), "{err}");
    assert!(
        err.ends_with("fails/Bastillefile:2: CMD: exited with status 3\n"),
        "{err}"
    );
    let root = env.paths.jail_root("web");
    assert!(root.join("tmp/jtpl-before").exists());
    assert!(!root.join("tmp/jtpl-after").exists());
}

#[test]
fn hooks_that_cannot_run_on_linux_fail_clearly() {
    require_root!();
    let env = TestEnv::new("tplerr");
    jail(&env, "web");
    let cases: [(&str, i32, &str); 8] = [
        (
            "pkg",
            69,
            "pkg/Bastillefile:1: PKG: the jail's /usr is read-only (a thin jail shares it with its release): cannot install curl; use a thick jail\n",
        ),
        (
            "hpkg",
            69,
            "hpkg/Bastillefile:1: HPKG: installing with the host's pkg (pkg -j) needs FreeBSD; use PKG\n",
        ),
        (
            "rdr",
            78,
            "rdr/Bastillefile:1: RDR: jail \"web\" has no IPv4 or IPv6 address (ip4.addr, ip6.addr) to forward tcp/8080 to\n",
        ),
        (
            "service-missing",
            69,
            "service-missing/Bastillefile:1: SERVICE: nginx: the jail has no /etc/init.d/nginx (service(8) exists only in FreeBSD jails; a Linux jail needs an init.d script)\n",
        ),
        (
            "limits-cpu",
            69,
            "limits-cpu/Bastillefile:1: LIMITS: CPU sets are not supported by jkit (use an rctl resource)\n",
        ),
        (
            "escape-cp",
            77,
            "escape-cp/Bastillefile:1: CP: hostetc/hostname: leaves the template dir ",
        ),
        // the thin jail's /usr is the host's, mounted in the jail only:
        // a write from the host there (or through /bin -> usr/bin) is refused
        (
            "fenced-usr",
            69,
            "fenced-usr/Bastillefile:1: LINE_IN_FILE: /usr/local/etc/x.conf is under /usr, where the jail mounts /usr: the host cannot write there (use CMD inside the jail)\n",
        ),
        (
            "fenced-bin",
            69,
            "fenced-bin/Bastillefile:1: LINE_IN_FILE: /usr/bin/jtpl-x is under /usr, where the jail mounts /usr: the host cannot write there (use CMD inside the jail)\n",
        ),
    ];
    for (tpl, code, msg) in cases {
        let out = jtpl(&env, &["apply", "web", tpl], None);
        let err = out.stderr;
        assert_eq!(out.status.code(), Some(code), "{tpl}: {err}");
        assert!(err.starts_with("jtpl: "), "{tpl}: {err}");
        assert!(err.contains(msg), "{tpl}: {err}");
    }
    assert!(!env.paths.jail_root("web").join("etc/stolen").exists());

    // RENDER of a missing path only warns
    let out = jtpl(&env, &["apply", "web", "render-missing"], None);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "render-missing/Bastillefile:1: warning: RENDER: /no/such/file: no such file or directory in the jail"
        ),
        "{}",
        out.stderr
    );

    // a stopped jail is refused before anything runs
    env.jkit().stop("web").unwrap();
    let out = jtpl(&env, &["apply", "web", "acme/base"], None);
    assert_eq!(out.status.code(), Some(69), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "jtpl: jail \"web\" is not running (templates apply to running jails: jmk start web)\n"
    );
}

#[test]
fn jails_from_stdin_and_writes_that_stay_in_the_root() {
    require_root!();
    let env = TestEnv::new("tplstdin");
    jail(&env, "a");
    jail(&env, "b");
    // a symlink planted in jail a pointing at a host file
    let host_file = env.base.join("host-secret");
    fs::write(&host_file, "secret\n").unwrap();
    let root_a = env.paths.jail_root("a");
    std::os::unix::fs::symlink(&host_file, root_a.join("etc/planted")).unwrap();
    let tpl = env.base.join("tpl");
    fs::create_dir_all(&tpl).unwrap();
    fs::write(
        tpl.join("Bastillefile"),
        "INCLUDE acme/base --arg DOMAIN=${JAIL_NAME}.test\nLINE_IN_FILE owned /etc/planted\n",
    )
    .unwrap();
    let out = jtpl(
        &env,
        &["apply", "-", tpl.to_str().unwrap()],
        Some("{\"name\":\"a\"}\n{\"name\":\"b\",\"jid\":null}\n"),
    );
    assert!(out.status.success(), "{}", out.stderr);
    for (name, root) in [("a", &root_a), ("b", &env.paths.jail_root("b"))] {
        assert_eq!(read(root, "etc/domain"), format!("{name}.test\n"));
        assert_eq!(read(root, "etc/rc.conf"), "timezone=\"UTC\"\n");
    }
    // the host's file is untouched; the line went inside jail a's root
    assert_eq!(fs::read_to_string(&host_file).unwrap(), "secret\n");
    let inside_root = root_a.join(host_file.strip_prefix("/").unwrap());
    assert_eq!(fs::read_to_string(inside_root).unwrap(), "owned\n");
}

#[test]
fn cp_keeps_file_capabilities_for_the_jails_root() {
    require_root!();
    let env = TestEnv::new("tplcaps");
    jail(&env, "caps");
    let base = env
        .jkit()
        .definition("caps")
        .unwrap()
        .params
        .int("jkit.idbase")
        .expect("jkit.idbase");
    // A cat that reads any file, as ping sends raw packets.
    let dir = env.base.join("tpl");
    fs::create_dir_all(&dir).unwrap();
    fs::copy("/bin/cat", dir.join("capcat")).unwrap();
    let set = Out::of(
        std::process::Command::new("setcap")
            .arg("cap_dac_override+ep")
            .arg(dir.join("capcat")),
    );
    assert!(set.success(), "{set}");
    fs::write(dir.join("Bastillefile"), "CP capcat /srv/\n").unwrap();
    let out = jtpl(&env, &["apply", "caps", dir.to_str().unwrap()], None);
    assert!(out.success(), "{out}");
    // On the host: for the jail's root alone (revision 3, root id the
    // range's base).
    let copied = env.paths.jail_root("caps").join("srv/capcat");
    let shown = Out::of(std::process::Command::new("getcap").arg("-n").arg(&copied));
    assert!(
        shown.ok().contains("cap_dac_override=ep")
            && shown.stdout.contains(&format!("[rootid={base}]")),
        "{shown}"
    );
    // In the jail: a user that is not root reads root's /etc/shadow with
    // it, and not without it.
    let as_nobody = |cat: &str| env.run("jexec-rs", &["-U", "nobody", "caps", cat, "/etc/shadow"]);
    assert!(as_nobody("/srv/capcat").ok().starts_with("root:"));
    assert!(!as_nobody("/bin/cat").success());
}

#[test]
fn a_config_the_jail_could_not_start_with_and_a_failed_mount_are_not_recorded() {
    require_root!();
    let env = TestEnv::new("tplkeep");
    env.create_host_jail("web", &["ip4.addr=10.213.77.2/24"]);
    env.jkit().start("web").expect("start");
    let conf = || fs::read_to_string(env.paths.jail_conf("web")).unwrap();
    let before = conf();
    // As public jellyfin and sonarr templates do: one network namespace on
    // Linux cannot be the host's for IPv6 and the jail's own for IPv4.
    let out = jtpl(&env, &["apply", "web", "config-inherit"], None);
    assert_eq!(out.status.code(), Some(78), "{}", out.stderr);
    assert!(
        out.stderr.ends_with(
            "config-inherit/Bastillefile:1: CONFIG: ip4.addr/ip6.addr need the jail's own network, not ip4/ip6=inherit\n"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(conf(), before, "the definition is as it was");
    assert!(inside(&env, "web", "true"), "the jail still runs");

    let out = jtpl(&env, &["apply", "web", "mount-fails"], None);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("mount-fails/Bastillefile:1: MOUNT: "),
        "{}",
        out.stderr
    );
    assert_eq!(conf(), before, "the failed mount is not in the definition");
    // The jail still restarts with its definition.
    env.jkit().stop("web").unwrap();
    env.jkit().start("web").expect("restart");
}

#[test]
fn cp_into_a_thin_jail_on_a_release_reaches_its_private_layer() {
    require_root!();
    let env = TestEnv::new("tpllayer");
    let tree = env.base.join("rel");
    jkit_tests::mini_rootfs(&tree);
    env.jmk_ok(&["release", "add", "rel", tree.to_str().unwrap()]);
    env.jmk_ok(&["create", "t", "--release", "rel"]);
    env.jmk_ok(&["start", "t"]);
    let dir = env.base.join("tpl");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("motd"), "from the template\n").unwrap();
    fs::write(dir.join("Bastillefile"), "CP motd /etc/motd\n").unwrap();
    let out = jtpl(&env, &["apply", "t", dir.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", out.stderr);
    let seen = env.run("jexec-rs", &["t", "/bin/cat", "/etc/motd"]);
    assert_eq!(seen.ok(), "from the template\n");
    // Owned by the jail's root, as what jtpl copies into any jail.
    let listed = env.run("jexec-rs", &["t", "/bin/ls", "-ln", "/etc/motd"]);
    let fields: Vec<&str> = listed.ok().split_whitespace().collect();
    assert_eq!(fields[2..4], ["0", "0"], "{fields:?}");
    // Not beneath the layers on the host, nor in the release.
    assert_eq!(fs::read_dir(env.paths.jail_root("t")).unwrap().count(), 0);
    assert!(!tree.join("etc/motd").exists());
    env.jmk_ok(&["destroy", "-f", "t"]);
}
