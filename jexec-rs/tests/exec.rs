//! jexec-rs against real Linux jails: what passes through (exit status,
//! signal deaths, stdio, the terminal, the environment), what does not
//! (descriptors), `-u`/`-U`/`-l`/`-d` in jexec's order, `-` with records
//! on stdin, and where the command ends up (the jail's pid namespace under
//! its init, the jail's cgroups). Each test runs its own jails as root.

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::io::{BufRead, BufReader, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, symlink};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Jail, Pty, expect};
use jkit_tests::{Out, output_with_stdin, require_root, with_dirs};
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr, UnixCredentials,
    connect, sendmsg, socket,
};
use nix::unistd::Pid;

#[test]
fn exit_status_and_signal_deaths_pass_through() {
    require_root!();
    let j = Jail::start("jexec-status", &[]);
    assert_eq!(j.jexec(&["j", "/bin/sh", "-c", "exit 42"]).code(), 42);
    assert_eq!(j.jexec(&["j", "true"]).code(), 0);
    // A command's death by a signal is jexec-rs's own death by it, as with
    // FreeBSD's jexec, which becomes the command: the same signal, no core.
    // Cores allowed, in a directory of its own: jexec-rs still makes none.
    let cwd = j.env.paths.run_dir.join("cores");
    fs::create_dir_all(&cwd).unwrap();
    // 36, a real-time signal, which the init must still relay.
    for (sig, name) in [
        (15, "TERM"),
        (9, "KILL"),
        (3, "QUIT"),
        (11, "SEGV"),
        (36, "36"),
    ] {
        let mut sh = Command::new("/bin/sh");
        with_dirs(&mut sh, &j.env.paths)
            .current_dir(&cwd)
            .args(["-c", "ulimit -c unlimited; exec \"$@\"", "sh"])
            .arg(jkit_tests::bin("jexec-rs"))
            .args(["j", "/bin/sh", "-c", &format!("kill -{name} $$")]);
        let out = Out::of(&mut sh);
        assert_eq!(out.status.signal(), Some(sig), "{name}: {out:?}");
        assert!(!out.status.core_dumped(), "{name}: {out:?}");
        assert_eq!(out.stderr, "", "{name}");
    }
    assert_eq!(fs::read_dir(&cwd).unwrap().count(), 0, "no core file");
    // A shell running jexec-rs sees 128 + N.
    let shell_status = |script: &str| {
        let mut sh = Command::new("/bin/sh");
        with_dirs(&mut sh, &j.env.paths)
            .args(["-c", "\"$@\"; echo $?", "sh"])
            .arg(jkit_tests::bin("jexec-rs"))
            .args(["j", "/bin/sh", "-c", script]);
        Out::of(&mut sh).stdout
    };
    assert_eq!(shell_status("kill -KILL $$"), "137\n");
    assert_eq!(shell_status("exit 3"), "3\n");
}

#[test]
fn stdin_stdout_and_stderr_pass_through() {
    require_root!();
    let j = Jail::start("jexec-stdio", &[]);
    let out = output_with_stdin(
        j.cmd().args(["j", "/bin/sh", "-c", "cat; echo to-err >&2"]),
        b"from the host\n",
    );
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str(), out.code()),
        ("from the host\n", "to-err\n", 0)
    );
}

#[test]
fn commands_that_cannot_run_fail_with_status_1_as_jexec_errs() {
    require_root!();
    let j = Jail::start("jexec-noexec", &[]);
    let out = j.jexec(&["j", "no-such-command"]);
    assert_eq!(
        (out.stderr.as_str(), out.code()),
        (
            "jexec: execvp: no-such-command: No such file or directory\n",
            1
        )
    );
    let out = j.jexec(&["j", "/etc/passwd"]);
    assert_eq!(
        (out.stderr.as_str(), out.code()),
        ("jexec: execvp: /etc/passwd: Permission denied\n", 1)
    );
    let out = j.jexec(&["j", "/tmp"]);
    assert_eq!(
        (out.stderr.as_str(), out.code()),
        ("jexec: execvp: /tmp: Permission denied\n", 1)
    );
    // Unknown users, looked up on the host (-u) before the jail, or in the
    // jail (-U) after it.
    let out = j.jexec(&["-u", "jkit-nobody", "no-such-jail", "true"]);
    assert_eq!(
        (out.stderr.as_str(), out.code()),
        ("jexec: jkit-nobody: no such user\n", 1)
    );
    let out = j.jexec(&["-U", "jkit-nobody", "j", "true"]);
    assert_eq!(
        (out.stderr.as_str(), out.code()),
        ("jexec: jkit-nobody: no such user\n", 1)
    );
    let out = j.jexec(&["-U", "jkit-nobody", "no-such-jail", "true"]);
    assert_eq!(
        (out.stderr.as_str(), out.code()),
        ("jexec: jail \"no-such-jail\" not found\n", 1)
    );
    let out = j.jexec(&["-d", "/no/such/dir", "j", "true"]);
    assert_eq!(
        (out.stderr.as_str(), out.code()),
        (
            "jexec: chdir(): /no/such/dir: No such file or directory\n",
            1
        )
    );
}

#[test]
fn jails_are_named_by_jid_or_name() {
    require_root!();
    let j = Jail::start("jexec-names", &["host.hostname=by-name.example"]);
    j.add("other", &["host.hostname=other.example"]);
    assert_eq!(j.jexec(&["j", "hostname"]).ok(), "by-name.example\n");
    assert_eq!(j.jexec(&["1", "hostname"]).ok(), "by-name.example\n");
    assert_eq!(j.jexec(&["02", "hostname"]).ok(), "other.example\n");
    let out = j.jexec(&["3", "hostname"]);
    assert_eq!(
        (out.stderr.as_str(), out.code()),
        ("jexec: jail 3 not found\n", 1)
    );
}

#[test]
fn the_environment_is_left_as_the_caller_has_it() {
    require_root!();
    let j = Jail::start("jexec-env", &[]);
    let out = Out::of(
        j.cmd()
            .env_clear()
            .env("JKIT_RUN_DIR", &j.env.paths.run_dir)
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", "/host/home")
            .env("FOO", "bar baz")
            .args(["j", "env"]),
    );
    let env = out.ok().to_string();
    let mut vars: Vec<&str> = env.lines().collect();
    vars.sort_unstable();
    let run = format!("JKIT_RUN_DIR={}", j.env.paths.run_dir.display());
    assert_eq!(
        vars,
        ["FOO=bar baz", "HOME=/host/home", &run, "PATH=/usr/bin:/bin"]
    );
}

#[test]
fn l_gives_a_clean_login_environment() {
    require_root!();
    let j = Jail::start("jexec-login", &[]);
    let out = Out::of(j.cmd().env("TERM", "vt100").env("FOO", "bar").args([
        "-l",
        "j",
        "/bin/sh",
        "-c",
        "env; echo cwd=$(pwd)",
    ]));
    let text = out.ok().to_string();
    let vars = env_of(&text);
    let names: Vec<&str> = vars.keys().map(String::as_str).collect();
    // PWD is the shell's own.
    assert_eq!(
        names,
        ["HOME", "PATH", "PWD", "SHELL", "TERM", "USER"],
        "{text}"
    );
    assert_eq!(vars["TERM"], "vt100");
    assert_eq!(vars["USER"], "root");
    assert_eq!(vars["HOME"], "/root");
    // The login class on Linux: the host's login.defs ENV_SUPATH for root.
    assert_eq!(
        vars["PATH"],
        login_defs_path(
            "/etc/login.defs",
            "ENV_SUPATH",
            "/sbin:/bin:/usr/sbin:/usr/bin"
        )
    );
    assert!(text.contains("cwd=/root\n"), "{text}");
    // -d wins over the home directory.
    let out = j.jexec(&["-l", "-d", "/tmp", "j", "pwd"]);
    assert_eq!(out.ok(), "/tmp\n");
}

#[test]
fn d_sets_the_working_directory() {
    require_root!();
    let j = Jail::start("jexec-dir", &[]);
    assert_eq!(j.jexec(&["j", "pwd"]).ok(), "/\n");
    assert_eq!(j.jexec(&["-d", "/etc", "j", "pwd"]).ok(), "/etc\n");
}

#[test]
fn u_looks_up_the_host_and_capital_u_the_jail() {
    require_root!();
    let j = Jail::start("jexec-users", &[]);
    let etc = j.root().join("etc");
    // The jail's own accounts: a daemon that differs from the host's, a
    // user the host does not have, with supplementary groups, and its own
    // login.defs. /etc/passwd is a symlink that only resolves inside the
    // jail (the host has no /etc/passwd.jail).
    let passwd = fs::read_to_string(etc.join("passwd"))
        .unwrap()
        .replace("daemon:x:1:1:", "daemon:x:4000:4000:");
    fs::write(
        etc.join("passwd.jail"),
        format!("{passwd}jkuser:x:4242:4242:JK:/home/jkuser:/bin/sh\n"),
    )
    .unwrap();
    fs::remove_file(etc.join("passwd")).unwrap();
    symlink("/etc/passwd.jail", etc.join("passwd")).unwrap();
    assert!(!Path::new("/etc/passwd.jail").exists());
    let mut group = fs::read_to_string(etc.join("group")).unwrap();
    group.push_str("jkgrp:x:4300:jkuser\njkother:x:4301:alice,jkuser\njkelse:x:4302:alice\n");
    fs::write(etc.join("group"), group).unwrap();
    fs::write(
        etc.join("login.defs"),
        "ENV_PATH PATH=/jail/bin:/usr/bin:/bin\nUMASK 027\n",
    )
    .unwrap();
    fs::create_dir_all(j.root().join("home/jkuser")).unwrap();

    let show = "id -u; id -g; id -G; umask; echo $USER $HOME $SHELL $PATH; pwd";
    let out = j.jexec(&["-U", "jkuser", "j", "/bin/sh", "-c", show]);
    assert_eq!(
        out.ok(),
        "4242\n4242\n4242 4300 4301\n0027\njkuser /home/jkuser /bin/sh /jail/bin:/usr/bin:/bin\n/\n"
    );
    let out = j.jexec(&["-lU", "jkuser", "j", "/bin/sh", "-c", "pwd"]);
    assert_eq!(out.ok(), "/home/jkuser\n");
    // The same name on each side: -u takes the host's daemon, -U the jail's.
    let host_daemon = nix::unistd::User::from_name("daemon")
        .unwrap()
        .expect("the host has daemon");
    let host_groups = Out::of(std::process::Command::new("id").args(["-G", "daemon"]));
    let out = j.jexec(&["-u", "daemon", "j", "/bin/sh", "-c", "id -u; id -G"]);
    assert_eq!(
        out.ok(),
        format!("{}\n{}", host_daemon.uid, host_groups.stdout)
    );
    let out = j.jexec(&["-U", "daemon", "j", "id", "-u"]);
    assert_eq!(out.ok(), "4000\n");
    // jkuser exists only in the jail.
    let out = j.jexec(&["-u", "jkuser", "j", "true"]);
    assert_eq!(
        (out.stderr.as_str(), out.code()),
        ("jexec: jkuser: no such user\n", 1)
    );
}

#[test]
fn no_descriptor_but_0_1_2_reaches_the_jail() {
    require_root!();
    let j = Jail::start("jexec-fds", &[]);
    j.install_attack();
    let secret = j.env.base.join("host-secret");
    fs::write(&secret, "host only\n").unwrap();
    // Opened without O_CLOEXEC, so jexec-rs inherits it.
    let fd = nix::fcntl::open(
        &secret,
        nix::fcntl::OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let fds = j.attack(&["fds"]);
    drop(fd);
    let names: Vec<&str> = fds.keys().map(String::as_str).collect();
    assert_eq!(names, ["fd 0", "fd 1", "fd 2", "fd 3"], "{fds:?}");
    expect(&fds, &[("fd 0", "/dev/null")]);
    // fd 3 is the listing's own directory.
    assert!(
        fds["fd 3"].starts_with("/proc/") && fds["fd 3"].ends_with("/fd"),
        "{fds:?}"
    );
    assert!(fds.values().all(|t| !t.contains("host-secret")), "{fds:?}");
}

/// A standard descriptor closed in the caller reaches the command as
/// /dev/null, not closed (where the command's first open would take its
/// place) and not as whatever jexec-rs opened first: std's start-up did
/// this for jexec-rs until it took its own entry point (`jkit::entry!`).
#[test]
fn a_closed_standard_descriptor_reaches_the_command_as_dev_null() {
    require_root!();
    let j = Jail::start("jexec-closed", &[]);
    let jexec = j.cmd();
    let envs = jexec.get_envs().filter_map(|(k, v)| Some((k, v?)));
    let out = Out::of(
        std::process::Command::new("sh")
            .args(["-c", "exec \"$@\" <&- 2>&-", "sh"])
            .arg(jexec.get_program())
            .args(["j", "readlink", "/proc/self/fd/0", "/proc/self/fd/2"])
            .envs(envs),
    );
    assert_eq!(
        (out.stdout.as_str(), out.code()),
        ("/dev/null\n/dev/null\n", 0)
    );
}

#[test]
fn an_interactive_shell_works_on_a_real_terminal() {
    require_root!();
    let j = Jail::start("jexec-pty", &[]);
    let mut cmd = j.cmd();
    // No command: the shell of $SHELL, with -i.
    cmd.env("SHELL", "/bin/sh").arg("j");
    let mut pty = Pty::spawn(cmd);
    // The markers are computed, so the terminal's echo of the typed line
    // does not show them.
    pty.type_in("echo ans=$((6*7))\n");
    pty.wait_for("ans=42");
    pty.type_in(
        "[ -t 0 ] && [ -t 1 ] && echo tty$((0))ok; case $- in *i*) echo inter$((0))active;; esac\n",
    );
    pty.wait_for("inter0active");
    // /dev/tty opens only with a controlling terminal.
    pty.type_in("echo x >/dev/tty && echo ctty$((0))ok\n");
    pty.wait_for("ctty0ok");
    // ^C reaches the jail's foreground job, not the shell or jexec-rs.
    pty.type_in("echo sleeping$((1)); sleep 30; echo slept$((1))\n");
    pty.wait_for("sleeping1");
    std::thread::sleep(Duration::from_millis(300));
    pty.type_in("\x03");
    pty.type_in("echo after$((1))int\n");
    pty.wait_for("after1int");
    pty.type_in("exit 3\n");
    let (code, screen) = pty.finish();
    assert_eq!(code, 3, "{screen}");
    assert!(screen.contains("tty0ok"), "{screen}");
    assert!(
        !screen.contains("slept1"),
        "^C did not stop the sleep: {screen}"
    );
}

/// The host's interactive shell (prompt `host> `) on a new terminal, with
/// the workspace's tools on its PATH and the jail's state directories.
fn host_shell(j: &Jail) -> Pty {
    let bin = jkit_tests::bin("jexec-rs");
    let mut shell = std::process::Command::new("/bin/sh");
    shell
        .arg("-i")
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", bin.parent().unwrap().display()),
        )
        .env("SHELL", "/bin/sh")
        .env("PS1", "host> ");
    with_dirs(&mut shell, &j.env.paths);
    Pty::spawn(shell)
}

#[test]
fn job_control_works_in_the_jails_shell_and_the_callers_terminal_comes_back() {
    require_root!();
    let j = Jail::start("jexec-jobs", &[]);
    // The host's interactive shell runs jexec-rs as a job.
    let mut pty = host_shell(&j);
    pty.type_in("echo before=$(stty -g)=\n");
    pty.wait_for("before=");
    // The jail's interactive shell, on a terminal of the jail's own.
    pty.type_in("PS1='jail> ' jexec-rs j\n");
    pty.type_in("echo in$((1))jail\n");
    pty.wait_for("in1jail");
    // ^Z stops a job of the jail's shell, fg brings it back, ^C ends it.
    pty.type_in("echo start$((1))\n");
    pty.wait_for("start1");
    pty.type_in("sleep 30 && echo end$((1))\n");
    std::thread::sleep(Duration::from_millis(300));
    pty.type_in("\x1a");
    pty.wait_for("Stopped");
    pty.type_in("echo stopped$((1))\n");
    pty.wait_for("stopped1");
    pty.type_in("fg\n");
    std::thread::sleep(Duration::from_millis(500));
    pty.type_in("\x03");
    pty.type_in("echo rc=$((0+$?))\n");
    pty.wait_for("rc=130");
    // The exit status comes back, and so do the terminal's settings.
    // (What is typed before the jail's shell has gone is the jail's.)
    pty.type_in("exit 7\n");
    let start = Instant::now();
    while !pty.screen().ends_with("host> ") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            pty.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    pty.type_in("echo status=$((0+$?)) after=$(stty -g)=\n");
    pty.wait_for("status=7");
    pty.type_in("exit\n");
    let (_, screen) = pty.finish();
    assert!(!screen.contains("end1"), "{screen}");
    let settings = |label: &str| {
        let at = screen.rfind(label).expect(label) + label.len();
        screen[at..].split('=').next().unwrap().to_string()
    };
    assert_eq!(settings("before="), settings("after="), "{screen}");
}

#[test]
fn an_interactive_jexec_gets_the_jails_terminal_at_the_callers_size() {
    require_root!();
    let j = Jail::start("jexec-winsize", &[]);
    let mut cmd = j.cmd();
    cmd.env("SHELL", "/bin/sh").arg("j");
    let mut pty = Pty::spawn(cmd);
    // A pty of the jail's devpts (its /dev/pts), not the caller's.
    pty.type_in("echo pts=$(ls /dev/pts)= tty=$(tty)= size=$(stty size)=\n");
    pty.wait_for("size=24 80=");
    let screen = pty.screen();
    assert!(screen.contains("pts=0 ptmx= tty=/dev/pts/0="), "{screen}");
    // A resize of the caller's terminal reaches the jail's.
    let resized = Out::of(
        std::process::Command::new("stty")
            .arg("-F")
            .arg(&pty.device)
            .args(["rows", "50", "cols", "132"]),
    );
    assert_eq!(resized.code(), 0, "{resized:?}");
    std::thread::sleep(Duration::from_millis(300));
    pty.type_in("echo size=$(stty size)=\n");
    pty.wait_for("size=50 132=");
    pty.type_in("exit 4\n");
    assert_eq!(pty.finish().0, 4);
}

#[test]
fn without_devfs_an_interactive_jexec_gets_a_devpts_of_its_own() {
    require_root!();
    // No /dev of the jail's own, so no devpts: the command's process
    // mounts an instance nowhere and takes its pty from there.
    let j = Jail::start("jexec-nodevfs", &["mount.devfs=0"]);
    let mut cmd = j.cmd();
    cmd.env("SHELL", "/bin/sh").arg("j");
    let mut pty = Pty::spawn(cmd);
    pty.type_in(
        "[ -t 0 ] && [ -t 2 ] && echo tty$((0))ok; echo size=$(stty size)= id=$(stat -L -c %d:%i /proc/self/fd/0)=\n",
    );
    pty.wait_for("size=24 80=");
    let screen = pty.screen();
    assert!(screen.contains("tty0ok"), "{screen}");
    let at = screen.rfind("id=").unwrap() + 3;
    let id = screen[at..].split('=').next().unwrap();
    assert!(id.contains(':') && id.bytes().all(|b| b.is_ascii_digit() || b == b':'));
    let ours = fs::metadata(&pty.device).unwrap();
    assert_ne!(id, format!("{}:{}", ours.dev(), ours.ino()), "{screen}");
    pty.type_in("exit 6\n");
    assert_eq!(pty.finish().0, 6);
}

#[test]
fn host_files_on_stdio_reach_the_command_through_pipes() {
    require_root!();
    let j = Jail::start("jexec-files", &[]);
    let input = j.env.base.join("input");
    fs::write(&input, "from a file\n").unwrap();
    let log = j.env.base.join("log");
    fs::write(&log, "kept\n").unwrap();
    let append = || fs::OpenOptions::new().append(true).open(&log).unwrap();
    // stdout and stderr on one file keep their order; the file's O_APPEND
    // holds.
    let out = Out::of(
        j.cmd()
            .args([
                "j",
                "/bin/sh",
                "-c",
                "readlink /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2 | cut -c1-5; cat; echo err >&2; echo out; exit 3",
            ])
            .stdin(fs::File::open(&input).unwrap())
            .stdout(append())
            .stderr(append()),
    );
    assert_eq!(out.code(), 3);
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "kept\npipe:\npipe:\npipe:\nfrom a file\nerr\nout\n"
    );
    // What a process the command left behind writes later still reaches
    // the file, and jexec-rs does not wait for it.
    let late = j.env.base.join("late");
    let started = Instant::now();
    let out = Out::of(
        j.cmd()
            .args(["j", "/bin/sh", "-c", "(sleep 8; echo late) & echo now"])
            .stdout(fs::File::create(&late).unwrap())
            .stderr(Stdio::null()),
    );
    assert_eq!(out.code(), 0);
    // Well under the writer's 8 s, on a loaded machine too.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "jexec-rs waited"
    );
    while fs::read_to_string(&late).unwrap() != "now\nlate\n" {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            fs::read_to_string(&late)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn without_a_command_the_shell_runs_with_dash_i() {
    require_root!();
    let j = Jail::start("jexec-shell", &[]);
    let script = "echo $0; case $- in *i*) echo interactive;; esac\n";
    for (shell, want) in [(Some("/bin/sh"), "/bin/sh"), (None, "/bin/sh")] {
        let mut cmd = j.cmd();
        cmd.env_remove("SHELL");
        if let Some(s) = shell {
            cmd.env("SHELL", s);
        }
        let out = output_with_stdin(cmd.arg("j"), script.as_bytes());
        assert!(
            out.stdout.contains(&format!("{want}\ninteractive\n")),
            "{out:?}"
        );
    }
}

#[test]
fn dash_runs_the_command_in_each_jail_of_the_records() {
    require_root!();
    let j = Jail::start("jexec-records", &["host.hostname=first.example"]);
    j.add("second", &["host.hostname=second.example"]);
    let run = |input: &str, args: &[&str]| -> Out {
        output_with_stdin(j.cmd().args(args), input.as_bytes())
    };
    // Records as jls-rs --json prints them, or reshaped: name, else jid.
    let records = "{\"jid\":1,\"name\":\"j\",\"hostname\":\"x\"}\n\n{\"jid\":2}\n";
    let out = run(records, &["-", "hostname"]);
    assert_eq!(
        (out.stdout.as_str(), out.code()),
        ("first.example\nsecond.example\n", 0),
        "{out:?}"
    );
    // The first failure ends the run with its status.
    let out = run(records, &["-", "/bin/sh", "-c", "hostname; exit 5"]);
    assert_eq!(
        (out.stdout.as_str(), out.code()),
        ("first.example\n", 5),
        "{out:?}"
    );
    let out = run(
        "{\"name\":\"j\"}\n{\"name\":\"gone\"}\n",
        &["-", "hostname"],
    );
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str(), out.code()),
        ("first.example\n", "jexec: jail \"gone\" not found\n", 1)
    );
    let out = run("", &["-", "hostname"]);
    assert_eq!((out.stdout.as_str(), out.code()), ("", 0));
}

#[test]
fn the_command_runs_in_the_jails_pid_namespace_under_its_init() {
    require_root!();
    let j = Jail::start("jexec-pidns", &[]);
    // The inner shell leaves its sleep behind: an orphan in the jail.
    let script = "echo $$; grep PPid /proc/$$/status; sh -c 'sleep 30 & echo $!'; exec sleep 30";
    let (mut child, mut stdout) = spawn_sh(&j, script);
    let mut read = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    };
    let (pid, ppid, orphan) = (read(), read(), read());
    // A pid of the jail's namespace, whose parent is the jail's init.
    assert!(pid.parse::<u32>().unwrap() < 100, "{pid}");
    assert_eq!(ppid, "PPid:\t1");
    // Seen from the host: a child of the init (not of jexec-rs), in the
    // same pid namespace.
    let init = init_pid(&j);
    let command = host_pid(&j, &pid);
    assert_eq!(parent_of(command), init);
    assert!(children_of(child.id().into()).is_empty());
    let ns = |pid: i64| fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    assert_eq!(ns(command), ns(init));
    // What the command leaves behind, the init adopts (once the inner
    // shell that printed its pid has exited).
    let status = format!("/proc/{orphan}/status");
    let adopted = (0..100).any(|_| {
        let out = j.jexec(&["j", "grep", "PPid", &status]);
        out.ok() == "PPid:\t1\n" || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            false
        }
    });
    assert!(adopted, "the orphan {orphan} was not adopted by the init");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(15));
}

#[test]
fn the_commands_parent_is_the_jails_init() {
    require_root!();
    let j = Jail::start("jexec-parent", &[]);
    let out = j.jexec(&["j", "cat", "/proc/self/status", "/proc/1/comm"]);
    let text = out.ok();
    assert!(text.contains("\nPPid:\t1\n"), "{text}");
    assert!(text.ends_with("\njkit-init\n"), "{text}");
    // A command that cannot be run fails as jexec's err(1).
    let out = j.jexec(&["j", "/nonexistent"]);
    assert_eq!(out.code(), 1, "{out:?}");
}

#[test]
fn the_command_sees_no_process_of_jexecs_in_the_jail() {
    require_root!();
    let j = Jail::start("jexec-zombie", &[]);
    // No process of jexec-rs's is ever in the jail's pid namespace for the
    // command to list, or reach with kill(-1) (an intermediate child that
    // handed the command to the init once was, a race lost in about one
    // run in twenty: sixty runs).
    for run in 0..60 {
        let out = j.jexec(&["j", "ls", "/proc"]);
        let pids: Vec<&str> = out
            .ok()
            .lines()
            .filter(|l| l.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        assert_eq!(pids.len(), 2, "run {run}: init and ls only: {pids:?}");
        assert_eq!(pids[0], "1", "run {run}: {pids:?}");
    }
}

/// Start `jexec-rs j /bin/sh -c SCRIPT`, its stdout to read line by line.
fn spawn_sh(j: &Jail, script: &str) -> (Child, BufReader<ChildStdout>) {
    let mut child = j
        .cmd()
        .args(["j", "/bin/sh", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

/// The host pid of the init of jail `j`.
fn init_pid(j: &Jail) -> i64 {
    let file = j.env.paths.run_jail_dir(&j.name).join("state.json");
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    state["init"]["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("init pid in {state}"))
}

/// The children of process `pid`.
fn children_of(pid: i64) -> Vec<i64> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap()
        .split_whitespace()
        .map(|c| c.parse().unwrap())
        .collect()
}

/// The parent of process `pid` (host numbering).
fn parent_of(pid: i64) -> i64 {
    status_field(pid, "PPid").parse().unwrap()
}

/// A field of /proc/PID/status.
fn status_field(pid: i64, field: &str) -> String {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{field} of {pid}"))
        .trim()
        .to_string()
}

/// The host pid of the command that is pid `jail_pid` in jail `j` (a
/// child of the jail's init, as jexec-rs leaves it).
fn host_pid(j: &Jail, jail_pid: &str) -> i64 {
    children_of(init_pid(j))
        .into_iter()
        .find(|c| status_field(*c, "NSpid").split_whitespace().last() == Some(jail_pid))
        .unwrap_or_else(|| panic!("no child of the init is {jail_pid} in the jail"))
}

#[test]
fn the_command_joins_the_jails_cgroups() {
    require_root!();
    // Declared first, dropped last: after the jail's init has gone.
    let group = TestCgroup::new(&format!("jkit-jexec-test-{}", std::process::id()));
    let j = Jail::start("jexec-cgroup", &[]);
    let init = init_pid(&j);
    let cgroups = |pid: i64| fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let in_jail = |j: &Jail| {
        let (mut child, mut stdout) = spawn_sh(j, "echo $$; exec sleep 30");
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let seen = cgroups(host_pid(j, line.trim()));
        let _ = child.kill();
        let _ = child.wait();
        seen
    };
    // The jail's own cgroup (rctl's, which its init joined at start), not
    // the caller's: every hierarchy as the init's.
    assert_ne!(
        cgroups(init),
        cgroups(std::process::id().into()),
        "the jail has a cgroup of its own"
    );
    assert_eq!(in_jail(&j), cgroups(init));
    // A jail without a cgroup of its own (rctl found no cgroups on the
    // host): the command joins whatever cgroups its init is in.
    let entry = j.env.paths.run_jail_dir("j").join("cgroup.json");
    let saved = entry.with_extension("saved");
    fs::rename(&entry, &saved).unwrap();
    group.enter(init);
    let seen = in_jail(&j);
    fs::rename(&saved, &entry).unwrap();
    let line = |all: &str| all.lines().find(|l| group.matches(l)).map(str::to_string);
    assert_eq!(
        line(&cgroups(init)).map(|l| l.ends_with(&group.name)),
        Some(true)
    );
    assert_eq!(line(&seen), line(&cgroups(init)));
}

/// A cgroup made for a test (in the v2 hierarchy, else the v1 pids one),
/// removed on drop once its processes are gone.
struct TestCgroup {
    dir: PathBuf,
    name: String,
    /// The /proc/PID/cgroup line prefix of its hierarchy (`0::` or `N:pids:`).
    controllers: String,
}

impl TestCgroup {
    fn new(name: &str) -> Self {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mount = |fstype: &str, opt: &str| {
            info.lines().find_map(|l| {
                let (left, right) = l.split_once(" - ")?;
                let r: Vec<&str> = right.split(' ').collect();
                (r[0] == fstype && r.get(2)?.split(',').any(|o| o == opt || opt.is_empty()))
                    .then(|| left.split(' ').nth(4).map(PathBuf::from))?
            })
        };
        let (root, controllers) = match mount("cgroup2", "") {
            Some(m) => (m, String::new()),
            None => (
                mount("cgroup", "pids").expect("a cgroup hierarchy to test with"),
                "pids".to_string(),
            ),
        };
        let dir = root.join(name);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        TestCgroup {
            dir,
            name: format!("/{name}"),
            controllers,
        }
    }

    fn enter(&self, pid: i64) {
        fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap();
    }

    fn matches(&self, line: &str) -> bool {
        line.split(':').nth(1) == Some(self.controllers.as_str())
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let start = Instant::now();
        while fs::remove_dir(&self.dir).is_err() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn signals_sent_to_jexec_reach_the_command_and_its_death_ends_it() {
    require_root!();
    let j = Jail::start("jexec-signals", &[]);
    let script = "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done";
    let (mut child, mut stdout) = spawn_sh(&j, script);
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "got-term\n");
    assert_eq!(child.wait().unwrap().code(), Some(7));

    // SIGKILL cannot be passed on: the command dies with jexec-rs instead
    // (the init kills it when jexec-rs's connection ends).
    let mut child = j
        .cmd()
        .args(["j", "/bin/sh", "-c", "echo $$; exec sleep 60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let command = host_pid(&j, line.trim());
    assert_eq!(parent_of(command), init_pid(&j));
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    while Path::new(&format!("/proc/{command}")).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the command outlived jexec-rs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `NAME=value` lines (one per variable, values without newlines).
fn env_of(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The PATH login.defs gives (`KEY PATH=...` or `KEY /bin:...`).
fn login_defs_path(file: &str, key: &str, default: &str) -> String {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(key))
                .then(|| w.next().map(|v| v.trim_start_matches("PATH=").to_string()))?
        })
        .unwrap_or_else(|| default.to_string())
}

#[test]
fn the_inits_control_socket_survives_hostile_messages() {
    require_root!();
    let j = Jail::start("jexec-control", &[]);
    let init = init_pid(&j);
    let (mut bystander, sleep) = bystander_sleep(&j);
    let fds = |pid: i64| fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    let list = |pid: i64| {
        fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
            .map(|l| l.display().to_string())
            .collect::<Vec<_>>()
    };
    // The init closes what the bystander's spawn passed it (its order's
    // memfd, a pipe at least) once its fork returns, which can be after
    // the command has started: counted once they are gone.
    let start = Instant::now();
    while list(init)
        .iter()
        .any(|l| l.starts_with("/memfd:") || l.starts_with("pipe:"))
    {
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", list(init));
        std::thread::sleep(Duration::from_millis(20));
    }
    let init_fds = fds(init);

    let control = ControlSocket::of(&j);
    send_hostile_messages(&control, init, sleep);
    // A connection left open, with nothing spawned.
    let idle = control.open();

    let ok_after = j.jexec(&["j", "echo", "still"]);
    assert_eq!(ok_after.ok(), "still\n");
    assert!(
        kill(Pid::from_raw(init as i32), None).is_ok(),
        "the init died"
    );
    assert!(
        kill(Pid::from_raw(sleep as i32), None).is_ok(),
        "the init signalled a process it did not fork for a connection"
    );
    assert_eq!(status_field(sleep, "State").chars().next(), Some('S'));
    // The passed descriptors were closed and the ended connections too
    // (as the init gets to them): only the idle connection is new.
    let start = Instant::now();
    while fds(init) != init_fds + 1 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(fds(init), init_fds + 1, "{:?}", list(init));
    drop(idle);
    kill(Pid::from_raw(bystander.id() as i32), Signal::SIGTERM).unwrap();
    let _ = bystander.wait();
}

/// A jail process that is not the init's child: the sleep of a shell.
/// The shell, and the sleep's pid on the host.
fn bystander_sleep(j: &Jail) -> (Child, i64) {
    let (bystander, mut stdout) = spawn_sh(j, "sleep 60 & echo $$ $!; wait");
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let (shell, sleep) = line.trim().split_once(' ').unwrap();
    let shell = host_pid(j, shell);
    let sleep = children_of(shell)
        .into_iter()
        .find(|c| status_field(*c, "NSpid").split_whitespace().last() == Some(sleep))
        .expect("the shell's sleep");
    (bystander, sleep)
}

/// Messages the init must survive and refuse, from root on the host
/// (which may claim any pid): `init` and `sleep` are host pids.
fn send_hostile_messages(control: &ControlSocket, init: i64, sleep: i64) {
    // A connection has only the process the init forked for it: claims of
    // the init itself (pid 1 in the jail) or of a jail process that is
    // not the init's child (registrations, which older inits took) give
    // it none, so the kill requests that follow go nowhere, and nothing is
    // killed when the connection ends.
    let s = control.open();
    send(&s, b"R", &[ControlMessage::ScmCredentials(&as_pid(init))]);
    send(&s, b"K\x09", &[]);
    send(&s, b"K\x13", &[]);
    drop(s);
    let s = control.open();
    send(&s, b"R", &[ControlMessage::ScmCredentials(&as_pid(sleep))]);
    send(&s, b"K\x09", &[]);
    drop(s);
    // Garbage: nothing spawned, unknown messages, bad signal numbers,
    // oversized packets, descriptors, an empty packet (an end).
    let s = control.open();
    let file = fs::File::open("/etc/hostname").unwrap();
    let passed = [file.as_raw_fd(), file.as_raw_fd()];
    send(&s, b"K\x09", &[]);
    send(&s, b"K", &[]);
    send(&s, b"K\xff", &[]);
    send(&s, b"K\x00", &[]);
    send(&s, b"Kab", &[]);
    send(&s, &[b'x'; 4096], &[]);
    send(&s, b"R", &[ControlMessage::ScmRights(&passed)]);
    send(&s, b"?", &[ControlMessage::ScmRights(&passed)]);
    send(&s, b"", &[]);
    // Spawns the init cannot serve: without descriptors, with too many,
    // and with a file where the order should be (the process forked for
    // it finds no order and ends; a second spawn is ignored).
    let s = control.open();
    send(&s, b"E", &[]);
    let s = control.open();
    let many = [file.as_raw_fd(); 7];
    send(&s, b"E", &[ControlMessage::ScmRights(&many)]);
    let s = control.open();
    let three = [file.as_raw_fd(); 3];
    send(&s, b"E", &[ControlMessage::ScmRights(&three)]);
    send(&s, b"E", &[ControlMessage::ScmRights(&three)]);
    let mut status = [0u8; 2];
    let got = nix::sys::socket::recv(s.as_raw_fd(), &mut status, MsgFlags::empty()).unwrap();
    assert_eq!(&status[..got], b"x\x47", "the forked process exits 71");
}

/// A jail init's control socket, reached from the host.
struct ControlSocket(UnixAddr);

impl ControlSocket {
    fn of(j: &Jail) -> Self {
        let path = j.env.paths.run_jail_dir("j").join("init.sock");
        ControlSocket(UnixAddr::new(&path).unwrap())
    }

    /// A new connection.
    fn open(&self) -> OwnedFd {
        let s = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        connect(s.as_raw_fd(), &self.0).unwrap();
        s
    }
}

/// Send one packet of `data` with `cmsgs`.
fn send(s: &OwnedFd, data: &[u8], cmsgs: &[ControlMessage]) {
    sendmsg::<()>(
        s.as_raw_fd(),
        &[IoSlice::new(data)],
        cmsgs,
        MsgFlags::empty(),
        None,
    )
    .unwrap();
}

/// Credentials that claim to be process `pid` (root may claim any).
fn as_pid(pid: i64) -> UnixCredentials {
    UnixCredentials::from(nix::libc::ucred {
        pid: pid as i32,
        uid: 0,
        gid: 0,
    })
}

#[test]
fn jail8s_hooks_run_from_a_terminal_print_there_and_keep_their_background_processes() {
    require_root!();
    let j = Jail::start("jexec-j8-tty", &[]);
    // An rc script started from an admin's terminal leaves a daemon behind
    // with `&`, as FreeBSD's /etc/rc does. It gets pipes, not the
    // caller's terminal (see isolation.rs, `a_jail_never_holds_a_host_terminal`),
    // nor a pty of the jail's, whose hangup at the script's end would
    // kill what it left: the daemon lives on, and what it prints after
    // the script has ended still reaches the terminal, after what the
    // script printed.
    let start = "exec.start=/bin/sh -c 'stat -L -c %d:%i /proc/self/fd/0 > /tmp/start-tty; echo from-rc; (sleep 0.3; echo from-daemon; exec sleep 300) &'";
    j.env
        .jmk_ok(&["create", "d", "persist", start, "exec.stop=/bin/true"]);
    let mut pty = host_shell(&j);
    pty.type_in("jmk start d; echo rc=$((0+$?))=\n");
    pty.wait_for("rc=0=");
    let root = j.env.paths.jail_root("d");
    let tty = fs::read_to_string(root.join("tmp/start-tty")).unwrap();
    let callers = fs::metadata(&pty.device).unwrap();
    assert_ne!(
        tty.trim(),
        format!("{}:{}", callers.dev(), callers.ino()),
        "exec.start ran on the caller's terminal"
    );
    pty.wait_for("from-daemon");
    let screen = pty.screen();
    assert!(
        screen.find("from-rc") < screen.find("from-daemon"),
        "{screen}"
    );
    let out = Out::of(j.cmd().args(["d", "/bin/sh", "-c", "pgrep -x sleep"]));
    assert_eq!(out.code(), 0, "the daemon of exec.start is gone: {out}");
    pty.type_in("exit 0\n");
    pty.wait();
    j.env.jmk_ok(&["stop", "d"]);
}

#[test]
fn jail8s_command_run_from_a_terminal_is_an_interactive_shell_on_the_jails_pty() {
    require_root!();
    let j = Jail::start("jexec-j8-sh", &[]);
    // `jmk start` running `command=/bin/sh` from a terminal: the shell runs
    // on a pty of the jail's own, as an interactive jexec's does, so it is
    // a terminal there and ^C interrupts what it runs.
    j.env
        .jmk_ok(&["create", "c", "persist", "command=/bin/sh", "-i"]);
    let mut pty = host_shell(&j);
    pty.type_in("PS1='jail> ' jmk start c; echo rc=$((0+$?))=\n");
    pty.wait_for("jail> ");
    pty.type_in("tty; echo in$((1))jail\n");
    pty.wait_for("in1jail");
    pty.type_in("sleep 30\n");
    std::thread::sleep(Duration::from_millis(300));
    pty.type_in("\x03");
    pty.type_in("echo after$((1))int; exit 7\n");
    pty.wait_for("after1int");
    pty.wait_for("rc=");
    let screen = pty.screen();
    assert!(screen.contains("/dev/pts/"), "not on a terminal: {screen}");
    assert!(!screen.contains("not a tty"), "{screen}");
    pty.type_in("exit 0\n");
    pty.wait();
    j.env.jmk_ok(&["stop", "c"]);
}

#[test]
fn jail8s_commands_on_a_terminal_print_there_and_get_its_interrupt_through_jmk() {
    require_root!();
    let j = Jail::start("jexec-j8-int", &[]);
    // The jail's init forks exec.start, so it cannot be in the caller's
    // session: the terminal's ^C reaches jmk, which passes it on. What the
    // command prints still reaches the caller's terminal.
    let start = "exec.start=/bin/sh -c 'trap \"echo got-int; exit 3\" INT; echo ready$((1)); while :; do sleep 0.1; done'";
    j.env.jmk_ok(&["create", "d", "persist", start]);
    let mut pty = host_shell(&j);
    pty.type_in("jmk start d; echo rc=$((0+$?))=\n");
    pty.wait_for("ready1");
    pty.type_in("\x03");
    pty.wait_for("got-int");
    pty.wait_for("rc=");
    let screen = pty.screen();
    assert!(
        !screen.contains("rc=0="),
        "exec.start failed, so does the start: {screen}"
    );
    pty.type_in("exit 0\n");
    pty.wait();
}

#[test]
fn a_jail_whose_init_cannot_fork_commands_is_named_not_waited_for() {
    require_root!();
    let j = Jail::start("jexec-old-init", &[]);
    // The init of a jail started by an older jkit ignores a spawn, and has
    // only the control socket's first name (its stop still comes there).
    let dir = j.env.paths.run_jail_dir("j");
    fs::remove_file(dir.join("exec.sock")).unwrap();
    let out = j.jexec(&["j", "true"]);
    assert!(
        out.code() != 0 && out.stderr.contains("started by an older jkit"),
        "{out:?}"
    );
    assert!(dir.join("init.sock").exists());
}

#[test]
fn a_thin_jails_root_can_su_and_runuser_to_another_user() {
    require_root!();
    let j = Jail::start("exec-su", &[]);
    let out = j.jexec(&["j", "su", "-s", "/bin/sh", "nobody", "-c", "id -u"]);
    assert_eq!(out.ok(), "65534\n");
    let out = j.jexec(&["j", "runuser", "-u", "nobody", "--", "id", "-u"]);
    assert_eq!(out.ok(), "65534\n");
}

#[test]
fn a_jail_with_its_own_network_sees_its_interfaces_in_a_read_only_sys() {
    require_root!();
    let j = Jail::start("exec-sysfs", &["vnet=new", "allow.mount"]);
    let names = |listing: &str| -> Vec<String> {
        let mut names: Vec<String> = listing
            .lines()
            .filter_map(|l| Some(l.split_once(':')?.0.trim().to_string()))
            .collect();
        names.sort();
        names
    };
    let host = names(&fs::read_to_string("/proc/net/dev").unwrap());
    let sees_its_own = |jail: &str| {
        let own = names(j.jexec(&[jail, "cat", "/proc/net/dev"]).ok());
        assert!(
            own.contains(&"lo".to_string()) && own != host,
            "{own:?} {host:?}"
        );
        let out = j.jexec(&[jail, "ls", "-1", "/sys/class/net"]);
        assert_eq!(out.ok().lines().collect::<Vec<_>>(), own, "{jail}");
        let out = j.jexec(&[jail, "grep", " /sys ", "/proc/self/mounts"]);
        assert!(
            out.ok()
                .starts_with("sysfs /sys sysfs ro,nosuid,nodev,noexec"),
            "{jail}: {out:?}"
        );
    };
    sees_its_own("j");
    // Even a root that may mount cannot make it writable.
    let out = j.jexec(&["j", "mount", "-o", "remount,rw", "/sys"]);
    assert_ne!(out.code(), 0, "{out:?}");
    // So does a jail without a user namespace, whose init mounts it with
    // the host's privileges.
    j.add("hostids", &["vnet=new", "jkit.userns=false"]);
    sees_its_own("hostids");
    // The control: on the host's network, the jail's sysfs would be the
    // host's, so its /sys stays empty.
    j.add("shared", &["ip4=inherit", "allow.mount"]);
    let out = j.jexec(&["shared", "ls", "-A", "/sys"]);
    assert_eq!(out.ok(), "");
    let out = j.jexec(&["shared", "mount", "-t", "sysfs", "sysfs", "/mnt"]);
    assert_ne!(out.code(), 0, "{out:?}");
}

#[test]
fn a_jail_is_marked_as_a_container_for_the_tools_that_look() {
    require_root!();
    let j = Jail::start("exec-container", &[]);
    let out = j.jexec(&["j", "cat", "/run/systemd/container"]);
    assert_eq!(out.ok(), "jkit\n");
    // Read from the host: the jail's commands may not read their init's
    // memory (it holds capabilities they lack).
    let environ = fs::read(format!("/proc/{}/environ", init_pid(&j))).unwrap();
    assert_eq!(environ, b"container=jkit\0");
    // The next start keeps the mark as it is: rewriting it would truncate
    // a file, which waits for the disk where the filesystem discards.
    let mark = j.root().join("run/systemd/container");
    let before = fs::metadata(&mark).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    j.env.jkit().stop("j").unwrap();
    {
        let _forks = common::forks();
        assert!(j.env.jkit().start("j").unwrap().alive);
    }
    assert_eq!(fs::read_to_string(&mark).unwrap(), "jkit\n");
    assert_eq!(fs::metadata(&mark).unwrap().modified().unwrap(), before);
}
