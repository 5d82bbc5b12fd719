//! The isolation boundary of Linux jails, attack by attack: each test runs
//! the attack as root inside a real jail (entered with jexec-rs) and
//! asserts that it fails, and where it can, runs the same attack on the
//! host, or in a jail whose `allow.*` parameter permits it, to show that
//! the attack itself works. docs/linux.md ("Isolation boundary") lists
//! each defence with its test. The attacks are `examples/jail-attack.rs`,
//! plus perl (perl-base is in every Debian) and ip(8) where noted.

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use common::{Jail, Pty, expect, lines};
use jkit_tests::{Out, require_root};
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// A file on the host, outside the jail (the test's own directory).
fn host_secret(j: &Jail) -> String {
    let p = j.env.base.join("host-secret");
    fs::write(&p, "the host's\n").unwrap();
    p.display().to_string()
}

/// Run the attack helper on the host itself, as root: the control.
fn on_host(args: &[&str]) -> std::collections::BTreeMap<String, String> {
    let helper = std::path::PathBuf::from(env!("CARGO_BIN_EXE_jexec-rs"))
        .parent()
        .unwrap()
        .join("examples/jail-attack");
    lines(&Out::of(Command::new(helper).args(args)).stdout)
}

#[test]
fn chroot_escape_stays_in_the_jail() {
    require_root!();
    let j = Jail::start("iso-chroot", &[]);
    j.install_attack();
    let secret = host_secret(&j);
    let got = j.attack(&["chroot", &secret]);
    // The jail keeps CAP_SYS_CHROOT (as FreeBSD's jailed root may chroot),
    // so every step runs; climbing ends at the jail's root all the same:
    // pivot_root left no old root above it.
    expect(
        &got,
        &[
            ("chroot", "ok"),
            ("fchdir", "ok"),
            ("chroot-dot", "ok"),
            ("host-path", "absent"),
            ("jail-marker", "visible"),
            ("chroot-cwd", "ok"),
            ("chroot-dot2", "ok"),
            ("host-path2", "absent"),
            ("jail-marker2", "visible"),
        ],
    );
}

#[test]
fn proc_leads_nowhere_outside() {
    require_root!();
    let j = Jail::start("iso-proc", &[]);
    j.install_attack();
    let secret = host_secret(&j);
    // A jexec'd process that stays while the attack runs: its root and cwd
    // are the jail's, like every other process the jail can see.
    let mut sleeper = j.cmd().args(["j", "sleep", "30"]).spawn().unwrap();
    let got = j.attack(&["proc", &secret]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    expect(
        &got,
        &[
            ("pids-checked", "yes"),
            ("proc-leaks", "0"),
            // The init runs a host binary; it is not dumpable, so neither
            // its executable nor its memory is reachable.
            ("init-exe", "EACCES"),
            ("init-mem", "EACCES"),
            ("init-environ", "EACCES"),
            // Its /proc files are the host's root's.
            ("init-oom-score", "EACCES"),
            ("sysctl-write", "EROFS"),
            ("kcore-bytes", "0"),
        ],
    );
    // /proc/sysrq-trigger is read-only (or absent from this kernel).
    let sysrq = got["sysrq-write"].as_str();
    assert!(sysrq == "EROFS" || sysrq == "ENOENT", "{got:?}");
}

/// Create jail `j` and start it with a jmk installed as `scripts/install`
/// installs it, the init's own program beside it (see
/// [`jkit_tests::jmk_with_init_program`]).
fn start_installed(tag: &str) -> Jail {
    let env = jkit_tests::TestEnv::new(tag);
    let _forks = common::forks();
    env.create_host_jail("j", &[]);
    let mut start = Command::new(jkit_tests::jmk_with_init_program().join("jmk"));
    jkit_tests::with_dirs(&mut start, &env.paths);
    let out = Out::of(start.args(["start", "j"]));
    assert!(out.success(), "jmk start j: {out}");
    Jail {
        env,
        name: "j".into(),
    }
}

#[test]
fn the_inits_own_program_is_as_far_out_of_reach_as_its_fork() {
    require_root!();
    // Started by jmk as installed: its init execs jkit-init, the jail's
    // own (see jkit's start::program), where a test run's jmk keeps the
    // fork.
    let j = start_installed("iso-program");
    let exe = jkit_tests::exe_once_it_runs(&init_pid(&j), "jkit-init");
    assert_eq!(exe.file_name().unwrap(), "jkit-init", "{exe:?}");
    j.install_attack();
    let secret = host_secret(&j);
    expect(
        &j.attack(&["proc", &secret]),
        &[
            ("proc-leaks", "0"),
            ("init-exe", "EACCES"),
            ("init-mem", "EACCES"),
            ("init-environ", "EACCES"),
            ("init-oom-score", "EACCES"),
        ],
    );
    let mut host = Command::new("sleep").arg("30").spawn().unwrap();
    expect(
        &j.attack(&["ptrace", &host.id().to_string()]),
        &[("ptrace-init", "EPERM"), ("ptrace-seize-init", "EPERM")],
    );
    let _ = host.kill();
    let _ = host.wait();
    // The commands it forks hold what every jail process holds: the
    // jail's capabilities, none to inherit.
    let status = j.jexec(&["j", "cat", "/proc/self/status"]);
    let caps = lines(&status.stdout.replace(":\t", ": "));
    assert_eq!(caps["CapInh"], "0000000000000000", "{caps:?}");
    assert_eq!(caps["CapPrm"], caps["CapBnd"], "{caps:?}");
    let from_fork = Jail::start("iso-fork", &[]);
    let forked = lines(
        &from_fork
            .jexec(&["j", "cat", "/proc/self/status"])
            .stdout
            .replace(":\t", ": "),
    );
    for set in ["CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(caps[set], forked[set], "{set}");
    }
}

#[test]
fn host_processes_can_be_neither_seen_nor_signalled() {
    require_root!();
    let j = Jail::start("iso-signal", &[]);
    j.install_attack();
    let mut host = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = host.id().to_string();
    let got = j.attack(&["signal", &pid]);
    expect(
        &got,
        &[
            ("host-process-listed", "no"),
            ("kill-0", "ESRCH"),
            ("kill-9", "ESRCH"),
        ],
    );
    // kill(-1) reaches every process the jail can see but its init: none
    // here, and nothing of the host.
    expect(&j.attack(&["kill-all"]), &[("kill-all", "ESRCH")]);
    assert_eq!(
        host.try_wait().unwrap(),
        None,
        "the host's process survives"
    );
    let _ = host.kill();
    let _ = host.wait();
}

#[test]
fn nothing_outside_can_be_ptraced() {
    require_root!();
    let j = Jail::start("iso-ptrace", &[]);
    j.install_attack();
    let mut host = Command::new("sleep").arg("30").spawn().unwrap();
    let got = j.attack(&["ptrace", &host.id().to_string()]);
    // No CAP_SYS_PTRACE, and the init (a host binary) is not dumpable.
    expect(
        &got,
        &[
            ("ptrace-init", "EPERM"),
            ("ptrace-seize-init", "EPERM"),
            ("ptrace-host", "ESRCH"),
        ],
    );
    let _ = host.kill();
    let _ = host.wait();
}

#[test]
fn nothing_can_be_mounted_unless_allow_mount() {
    require_root!();
    let j = Jail::start("iso-mount", &[]);
    j.install_attack();
    let got = j.attack(&["mount"]);
    expect(
        &got,
        &[
            ("mount-tmpfs", "EPERM"),
            ("mount-proc", "EPERM"),
            ("mount-bind", "EPERM"),
            ("remount-usr-rw", "EPERM"),
            ("umount-usr", "EPERM"),
            ("unshare-mnt", "EPERM"),
            // A user namespace would give back every capability inside it
            // (and mounts with them): the seccomp filter refuses it.
            ("unshare-user", "EPERM"),
        ],
    );
    // allow.mount keeps CAP_SYS_ADMIN: the same mount then works.
    let allowed = Jail::start("iso-mount-allowed", &["allow.mount"]);
    allowed.install_attack();
    let got = allowed.attack(&["mount"]);
    expect(&got, &[("mount-tmpfs", "ok")]);
}

#[test]
fn allow_mount_cannot_unlock_the_hosts_mounts_nor_mount_cgroups() {
    require_root!();
    // allow.mount gives CAP_SYS_ADMIN in the jail's user namespace. The
    // host's mounts of its root (/usr, bound read-only and idmapped) were
    // made in a mount namespace of the host's and copied into the jail's,
    // so they are locked: neither made writable (which, idmapped, would
    // write the host's /usr as the host's root) nor taken away.
    let j = Jail::start(
        "iso-mount-locked",
        &["allow.mount", "mount.devfs", "mount.procfs"],
    );
    j.install_attack();
    let got = j.attack(&["mount-locked"]);
    let planted = std::path::Path::new("/usr/jkit-attack");
    let written = planted.exists();
    let _ = fs::remove_file(planted);
    assert!(!written, "the jail wrote the host's /usr: {got:?}");
    expect(
        &got,
        &[
            ("remount-usr-rw", "EPERM"),
            ("umount-usr", "EINVAL"),
            ("umount-usr-lazy", "EINVAL"),
            ("bind-usr", "ok"),
            ("remount-copy-rw", "EPERM"),
            ("clone-usr-rw", "EPERM"),
            ("write-usr", "EROFS"),
            // The jail's cgroup namespace is the host's user namespace's,
            // and it may not make one of its own.
            ("mount-cgroup2", "EPERM"),
            ("unshare-cgroup", "EPERM"),
            ("mount-cgroup2-after", "EPERM"),
            // What a user namespace may mount still works: a tmpfs, a
            // bind inside the jail, proc of its own pid namespace.
            ("mount-tmpfs", "ok"),
            ("bind-inside", "ok"),
            ("bind-inside-mark", "visible"),
            ("mount-proc", "ok"),
            ("proc-pid1", "jkit-init"),
            // A mount namespace of its own is a copy, as locked.
            ("unshare-mnt", "ok"),
            ("copy-umount-usr", "EINVAL"),
            ("copy-remount-usr-rw", "EPERM"),
        ],
    );
    let v1 = got.get("mount-cgroup1").map(String::as_str);
    assert!(
        matches!(v1, Some("EPERM" | "no-v1-hierarchy")),
        "mount-cgroup1 in {got:?}"
    );
}

#[test]
fn mounts_into_a_running_jail_are_locked_too() {
    require_root!();
    let j = Jail::start("iso-mount-runtime", &["allow.mount"]);
    j.install_attack();
    // A host directory bound read-only into the running jail (as jtpl's
    // MOUNT does): it reaches the jail through the holder's copy of its
    // mounts, so it arrives locked read-only.
    let src = j.env.base.join("runtime-src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("host-file"), "the host's\n").unwrap();
    let target = j.root().join("mnt/runtime");
    fs::create_dir_all(&target).unwrap();
    let entry = jkit::backend::mounts::MountEntry {
        source: src.display().to_string(),
        target,
        fstype: "nullfs".into(),
        options: vec!["ro".into()],
    };
    j.env
        .jkit()
        .backend()
        .mount_running(&j.name, &entry)
        .expect("mount into the running jail");
    let seen = j.jexec(&["j", "cat", "/mnt/runtime/host-file"]);
    assert_eq!(seen.stdout, "the host's\n", "{seen:?}");
    let got = j.attack(&["mount-runtime", "/mnt/runtime"]);
    let written = src.join("jkit-attack").exists();
    assert!(!written, "the jail wrote the host's directory: {got:?}");
    // The kernel lets a mount that arrived later be unmounted: it covered
    // the jail's own (empty) directory, nothing the jail could not see.
    expect(
        &got,
        &[
            ("remount-rw", "EPERM"),
            ("write", "EROFS"),
            ("umount", "ok"),
            ("host-file", "absent"),
        ],
    );
}

#[test]
fn a_mount_that_cannot_reach_a_running_jail_is_undone() {
    require_root!();
    // With allow.mount the jail may stop receiving mounts: the mount made
    // for it is then taken back, and the caller told.
    let j = Jail::start("iso-mount-private", &["allow.mount"]);
    let private = j.jexec(&["j", "mount", "--make-rprivate", "/"]);
    assert_eq!(private.code(), 0, "{private:?}");
    let src = j.env.base.join("runtime-src");
    fs::create_dir_all(&src).unwrap();
    let target = j.root().join("mnt/runtime");
    let entry = jkit::backend::mounts::MountEntry {
        source: src.display().to_string(),
        target: target.clone(),
        fstype: "nullfs".into(),
        options: vec!["ro".into()],
    };
    let err = j
        .env
        .jkit()
        .backend()
        .mount_running(&j.name, &entry)
        .unwrap_err();
    assert!(err.to_string().contains("does not reach the jail"), "{err}");
    let holder = j.env.paths.run_dir.join("holder");
    let left = Out::of(
        Command::new("nsenter")
            .arg(format!("--mount={}", holder.display()))
            .args(["cat", "/proc/self/mountinfo"]),
    );
    assert!(left.success(), "{left:?}");
    assert!(!left.stdout.contains("mnt/runtime"), "{}", left.stdout);
}

#[test]
fn kernel_modules_cannot_be_loaded() {
    require_root!();
    let j = Jail::start("iso-module", &[]);
    j.install_attack();
    let got = j.attack(&["module"]);
    let host = on_host(&["module"]);
    if host["init-module"] == "ENOSYS" {
        // This kernel has no module support at all (the host's own root
        // cannot load one either); the jail is refused the same way, and
        // it lacks CAP_SYS_MODULE besides.
        expect(
            &got,
            &[
                ("init-module", "ENOSYS"),
                ("finit-module", "ENOSYS"),
                ("delete-module", "ENOSYS"),
            ],
        );
        let status = j.jexec(&["j", "grep", "-E", "^Cap(Bnd|Eff)", "/proc/self/status"]);
        for line in status.stdout.lines() {
            let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
            assert_eq!(mask & (1 << 16), 0, "CAP_SYS_MODULE in {line}");
        }
    } else {
        // The host's root gets past the permission check (and fails on the
        // garbage image); the jail's root does not.
        assert_ne!(host["init-module"], "EPERM", "{host:?}");
        expect(
            &got,
            &[
                ("init-module", "EPERM"),
                ("finit-module", "EPERM"),
                ("delete-module", "EPERM"),
            ],
        );
    }
    let modprobe = got["modprobe-path"].as_str();
    assert!(modprobe == "EROFS" || modprobe == "ENOENT", "{got:?}");
}

#[test]
fn hostname_and_clock_cannot_be_changed() {
    require_root!();
    let j = Jail::start("iso-uts", &["host.hostname=jail.example"]);
    j.install_attack();
    let before = nix::unistd::gethostname().unwrap();
    let got = j.attack(&["uts"]);
    expect(
        &got,
        &[("sethostname", "EPERM"), ("sysctl-domainname", "EROFS")],
    );
    let got = j.attack(&["clock"]);
    expect(&got, &[("clock-settime", "EPERM")]);
    assert_eq!(nix::unistd::gethostname().unwrap(), before);
    assert_eq!(j.jexec(&["j", "hostname"]).stdout, "jail.example\n");
}

#[test]
fn the_hosts_network_cannot_be_changed_from_a_jail_that_shares_it() {
    require_root!();
    // ip4=inherit: the jail uses the host's own network stack.
    let j = Jail::start("iso-net", &["ip4=inherit", "ip6=inherit"]);
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("ip(8) from iproute2 (.ci/run installs it)");
    let host_links = Out::of(Command::new(ip).args(["-o", "link"])).stdout;
    let jail_links = j.jexec(&["j", ip, "-o", "link"]);
    assert_eq!(
        jail_links.stdout.lines().count(),
        host_links.lines().count(),
        "the jail sees the host's interfaces: {jail_links:?}"
    );
    let attacks: [&[&str]; 3] = [
        &["addr", "add", "10.213.254.1/32", "dev", "lo"],
        &["link", "add", "jkatk0", "type", "dummy"],
        &["route", "add", "10.213.254.0/24", "dev", "lo"],
    ];
    let mut failures = Vec::new();
    for args in attacks {
        let mut full = vec!["j", ip];
        full.extend_from_slice(args);
        let out = j.jexec(&full);
        if out.code() == 0 || !out.stderr.contains("Operation not permitted") {
            failures.push(format!("ip {}: {out:?}", args.join(" ")));
        }
    }
    // Undo whatever got through before failing.
    for undo in [
        &["addr", "del", "10.213.254.1/32", "dev", "lo"][..],
        &["link", "del", "jkatk0"],
        &["route", "del", "10.213.254.0/24", "dev", "lo"],
    ] {
        let _ = Command::new(ip).args(undo).stderr(Stdio::null()).status();
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn device_nodes_cannot_be_made() {
    require_root!();
    let j = Jail::start("iso-mknod", &[]);
    j.install_attack();
    let got = j.attack(&["mknod"]);
    // A FIFO is no device: that stays allowed.
    expect(
        &got,
        &[
            ("mknod-mem", "EPERM"),
            ("mknod-disk", "EPERM"),
            ("mknod-fifo", "ok"),
        ],
    );
    assert!(!j.root().join("tmp/mem").exists());
}

#[test]
fn raw_sockets_need_allow_raw_sockets() {
    require_root!();
    let j = Jail::start("iso-raw", &[]);
    j.install_attack();
    expect(
        &j.attack(&["raw"]),
        &[("raw-icmp", "EPERM"), ("packet", "EPERM")],
    );
    let allowed = Jail::start("iso-raw-allowed", &["allow.raw_sockets"]);
    allowed.install_attack();
    expect(
        &allowed.attack(&["raw"]),
        &[("raw-icmp", "ok"), ("packet", "ok")],
    );
}

/// What a jail hears of the kernel's device events while the host makes
/// one (a `change` of /dev/null, a device of no network namespace).
fn uevents_heard(j: &Jail) -> String {
    let mut attack = j
        .cmd()
        .args(["j", "/attack", "uevents"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = std::io::BufReader::new(attack.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut said, &mut line).unwrap();
    assert_eq!(line, "listening: ok\n");
    fs::write("/sys/devices/virtual/mem/null/uevent", "change").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut said, &mut line).unwrap();
    assert!(attack.wait().unwrap().success());
    line.trim().to_string()
}

#[test]
fn a_jail_with_its_own_network_hears_no_device_event_of_the_hosts() {
    require_root!();
    // The kernel hands its device events (udev's) to every network
    // namespace its own user namespace owns: a jail's belongs to the
    // jail's user namespace.
    let j = Jail::start("iso-uevent", &[]);
    j.install_attack();
    assert_eq!(uevents_heard(&j), "uevent: none");
    // The control: without a user namespace the same jail hears it.
    let open = Jail::start("iso-uevent-open", &["jkit.userns=0"]);
    open.install_attack();
    assert_eq!(uevents_heard(&open), "uevent: heard");
}

#[test]
fn a_jail_sharing_the_hosts_network_cannot_share_a_host_services_port() {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, getsockname, listen,
        setsockopt, socket, sockopt::ReusePort,
    };
    use std::os::fd::AsRawFd;
    require_root!();
    // A host service (root's) listening with SO_REUSEPORT on loopback.
    let service = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    setsockopt(&service, ReusePort, &true).unwrap();
    bind(service.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
    listen(&service, Backlog::new(4).unwrap()).unwrap();
    let port = getsockname::<SockaddrIn>(service.as_raw_fd())
        .unwrap()
        .port()
        .to_string();
    // The kernel shares a port between SO_REUSEPORT sockets of one owner
    // only: the jail's root is its range's base on the host.
    let j = Jail::start("iso-reuseport", &["ip4=inherit"]);
    j.install_attack();
    expect(
        &j.attack(&["reuseport", &port]),
        &[("reuseport", "EADDRINUSE")],
    );
    // The control: a jail whose root is the host's root joins the group.
    let open = Jail::start("iso-reuseport-open", &["ip4=inherit", "jkit.userns=0"]);
    open.install_attack();
    expect(&open.attack(&["reuseport", &port]), &[("reuseport", "ok")]);
}

#[test]
fn a_jail_sharing_the_hosts_network_cannot_capture_its_traffic() {
    require_root!();
    // With the host's network (ip4=inherit), an AF_PACKET socket would see
    // every packet of the host, its loopback included. allow.raw_sockets
    // gives the jail CAP_NET_RAW in its own user namespace, which the
    // host's network namespace does not answer to.
    let j = Jail::start("iso-raw-inherit", &["ip4=inherit", "allow.raw_sockets"]);
    j.install_attack();
    expect(
        &j.attack(&["raw"]),
        &[("raw-icmp", "EPERM"), ("packet", "EPERM")],
    );
}

#[test]
fn open_by_handle_at_is_refused() {
    require_root!();
    let j = Jail::start("iso-handle", &[]);
    // The "shocker" escape: a handle for inode 2 (the root directory of an
    // ext2/3/4 filesystem, where the jail's root lies here) opened from a
    // descriptor inside the jail gives the filesystem's own root. perl's
    // syscall() makes the call; numbers are the platform's.
    let script = format!(
        "open(my $d, '<', '/') or die; my $h = pack('IiII', 8, 1, 2, 0); \
         for my $flags (0, {dir}) {{ my $r = syscall({nr}, fileno($d), $h, $flags); \
         print $r < 0 ? \"$!\\n\" : \"opened\\n\"; }}",
        nr = nix::libc::SYS_open_by_handle_at,
        dir = nix::libc::O_DIRECTORY,
    );
    let out = j.jexec(&["j", "perl", "-e", &script]);
    assert_eq!(
        out.stdout, "Operation not permitted\nOperation not permitted\n",
        "{out:?}"
    );
    // The host's root (with CAP_DAC_READ_SEARCH) gets past the permission
    // check: on ext2/3/4 it opens the filesystem's root, so the attack is
    // real; where the forged handle means nothing (9p, as in the cgroup2
    // VM) it is merely stale.
    let host = Out::of(Command::new("perl").args(["-e", &script]));
    assert!(
        host.stdout == "opened\nopened\n"
            || host.stdout == "Stale file handle\nStale file handle\n",
        "{host:?}"
    );
}

#[test]
fn host_files_are_out_of_reach() {
    require_root!();
    let j = Jail::start("iso-files", &[]);
    j.install_attack();
    let secret = host_secret(&j);
    expect(
        &j.attack(&["read", &secret]),
        &[("absolute", "ENOENT"), ("climb", "ENOENT")],
    );
    // The jail's /etc/shadow is its own: locked accounts, none of the
    // host's password hashes.
    let shadow = j.jexec(&["j", "cat", "/etc/shadow"]);
    assert_eq!(shadow.code(), 0, "{shadow:?}");
    assert!(
        shadow
            .stdout
            .lines()
            .all(|l| l.split(':').nth(1) == Some("*")),
        "{shadow:?}"
    );
    let host_shadow = fs::read_to_string("/etc/shadow").unwrap_or_default();
    assert_ne!(shadow.stdout, host_shadow);
    // Read-only system directories: nothing of the host can be changed.
    let out = j.jexec(&["j", "touch", "/usr/jkit-was-here"]);
    assert_ne!(out.code(), 0);
    assert!(!std::path::Path::new("/usr/jkit-was-here").exists());
}

/// Run `line` with `sh -c` on a new pty as an admin's shell, the pty its
/// controlling terminal, with `j`'s jexec-rs as `$JEXEC` and the attack
/// helper as `$ATTACK`; once the screen shows `typed: done` and the
/// shell's `reading`, type a line that the shell reads and shows as
/// `read[LINE]`: what was typed into its terminal comes first. The
/// attack's lines and the line read.
fn typed_into_a_shell(
    j: &Jail,
    line: &str,
) -> (std::collections::BTreeMap<String, String>, String) {
    let jexec = j.cmd();
    let helper = std::path::PathBuf::from(env!("CARGO_BIN_EXE_jexec-rs"))
        .parent()
        .unwrap()
        .join("examples/jail-attack");
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!(
            "{line}; echo reading; read line; echo \"read[$line]\""
        ))
        .env("JEXEC", jexec.get_program())
        .env("ATTACK", helper);
    for (k, v) in jexec.get_envs() {
        if let Some(v) = v {
            sh.env(k, v);
        }
    }
    let mut pty = Pty::spawn(sh);
    pty.wait_for("typed: done");
    pty.wait_for("reading");
    pty.type_in("\n");
    pty.wait_for("]");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    let screen = screen.replace('\r', "");
    let read = screen
        .split_once("read[")
        .and_then(|(_, r)| r.split_once(']'))
        .map(|(r, _)| r.to_string())
        .unwrap_or_else(|| panic!("nothing read: {screen}"));
    (lines(&screen), read)
}

/// A terminal of the host's that no session controls (a pty the test
/// makes, in raw mode, so that what is pushed into its input can be read
/// back at once), to give commands as their standard descriptors.
struct HostTerminal {
    slave: std::os::fd::OwnedFd,
    /// The slave's `DEV:INO`, as the attack helper shows descriptors.
    id: String,
    shown: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl HostTerminal {
    fn new() -> Self {
        use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut raw = tcgetattr(&pty.slave).unwrap();
        cfmakeraw(&mut raw);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &raw).unwrap();
        let meta = fs::metadata(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).unwrap();
        let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&shown);
        let mut master = fs::File::from(pty.master);
        // Until EIO, once the slave is closed.
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = master.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        HostTerminal {
            slave: pty.slave,
            id: format!("{}:{}", meta.dev(), meta.ino()),
            shown,
        }
    }

    fn stdio(&self) -> Stdio {
        Stdio::from(self.slave.try_clone().unwrap())
    }

    /// Wait (up to 20 s) until the screen shows `text` `count` times;
    /// the screen.
    fn wait_for(&self, text: &str, count: usize) -> String {
        let start = std::time::Instant::now();
        loop {
            let screen = String::from_utf8_lossy(&self.shown.lock().unwrap()).replace('\r', "");
            if screen.matches(text).count() >= count {
                return screen;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "no {text:?} on the screen: {screen:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// What was pushed into the terminal's input: what the host would
    /// read from it next.
    fn typed(&self) -> Vec<u8> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let mut typed = Vec::new();
        loop {
            let mut fds = [PollFd::new(self.slave.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::ZERO).unwrap() == 0 {
                return typed;
            }
            let mut buf = [0u8; 256];
            let n = nix::unistd::read(&self.slave, &mut buf).unwrap();
            typed.extend_from_slice(&buf[..n]);
        }
    }
}

/// Whether the kernel refuses TIOCSTI to a process without CAP_SYS_ADMIN
/// in the host's user namespace even on its own terminal.
fn kernel_refuses_tiocsti() -> bool {
    fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti").is_ok_and(|v| v.trim() == "0")
}

#[test]
fn a_jail_never_holds_a_host_terminal() {
    require_root!();
    // A host terminal no session controls, which a jail process holding
    // it could make its own controlling terminal (setsid, TIOCSCTTY) and
    // type into (TIOCSTI): the kernel allows that on one's own terminal
    // (`dev.tty.legacy_tiocsti` 1) and the seccomp filter of a jail with
    // a user namespace no longer looks into ioctl. So no jail process
    // gets one: commands run on it get pipes or the jail's own pty, and
    // a device node of it in the jail's root does not open there.
    let term = HostTerminal::new();
    let j = Jail::start("iso-host-tty", &[]);
    j.install_attack();
    let not_held = |got: &std::collections::BTreeMap<String, String>, how: &str| {
        for n in 0..3 {
            let id = got.get(&format!("fd{n}-id"));
            assert!(id.is_some(), "{how}: {got:?}");
            assert_ne!(id, Some(&term.id), "{how}: fd {n} is the host's terminal");
        }
    };
    // jexec-rs with stdout and stderr on it (stdin not a terminal): pipes.
    let status = j
        .cmd()
        .args(["j", "/attack", "type", "1"])
        .stdout(term.stdio())
        .stderr(term.stdio())
        .status()
        .unwrap();
    assert!(status.success());
    let got = lines(&term.wait_for("typed: done", 1));
    assert_eq!(term.typed(), b"", "typed into the host's terminal: {got:?}");
    not_held(&got, "jexec-rs");
    for label in ["sti", "steal", "sti-stolen"] {
        assert_eq!(
            got.get(label).map(String::as_str),
            Some("ENOTTY"),
            "{got:?}"
        );
    }
    // jail(8)'s commands run by `jmk start` from it: exec.start gets
    // pipes, `command` (interactive) the jail's own pty, into which it
    // may type as any process into its own terminal (the filter leaves
    // ioctl to the kernel), which reaches only the jail.
    let start = "exec.start=/attack type 1";
    j.env.jmk_ok(&[
        "create",
        "d",
        "persist",
        start,
        "command=/attack",
        "type",
        "0",
    ]);
    let d = j.env.paths.jail_root("d");
    fs::copy(j.root().join("attack"), d.join("attack")).unwrap();
    let status = j
        .env
        .cmd("jmk")
        .args(["start", "d"])
        .stdin(term.stdio())
        .stdout(term.stdio())
        .stderr(term.stdio())
        .status()
        .unwrap();
    assert!(status.success());
    let screen = term.wait_for("typed: done", 3);
    // What jexec-rs showed, then exec.start, then command.
    let parts: Vec<&str> = screen.split("typed: done").collect();
    let (hook, command) = (lines(parts[1]), lines(parts[2]));
    not_held(&hook, "exec.start");
    not_held(&command, "command");
    assert_eq!(
        hook.get("sti").map(String::as_str),
        Some("ENOTTY"),
        "{hook:?}"
    );
    let own = if kernel_refuses_tiocsti() {
        "EIO"
    } else {
        "ok"
    };
    assert_eq!(
        command.get("sti").map(String::as_str),
        Some(own),
        "{command:?}"
    );
    assert_eq!(term.typed(), b"", "{command:?}");
    j.env.jmk_ok(&["stop", "d"]);
    // A device node in the jail's root (the host's: the jail can make
    // none), such as a console's or a serial line's that a root from an
    // archive or a debootstrap may hold, does not open: the root is
    // nodev. (A pty's slave opens only through its own devpts, so /dev/zero
    // stands for them here; without nodev it opens.)
    // Made at the top of the root, a name the running jail has not looked
    // up (a thin root is an overlay, which keeps what it has seen).
    let node = j.root().join("host-tty");
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 5),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&node, fs::Permissions::from_mode(0o666)).unwrap();
    let got = j.attack(&["type", "/host-tty"]);
    assert_eq!(
        got.get("open").map(String::as_str),
        Some("EACCES"),
        "{got:?}"
    );
    assert_eq!(term.typed(), b"", "{got:?}");
    // Nor does one that a mount into the running jail brings (jtpl's
    // MOUNT): it is nodev; a character device itself is refused there.
    let dir = j.env.base.join("with-device");
    fs::create_dir_all(&dir).unwrap();
    fs::rename(&node, dir.join("zero")).unwrap();
    let running = |source: &std::path::Path, target: std::path::PathBuf| {
        let entry = jkit::backend::mounts::MountEntry {
            source: source.display().to_string(),
            target,
            fstype: "nullfs".into(),
            options: vec![],
        };
        j.env.jkit().backend().mount_running(&j.name, &entry)
    };
    let target = j.root().join("mnt/with-device");
    fs::create_dir_all(&target).unwrap();
    running(&dir, target).expect("mount into the running jail");
    let got = j.attack(&["type", "/mnt/with-device/zero"]);
    assert_eq!(
        got.get("open").map(String::as_str),
        Some("EACCES"),
        "{got:?}"
    );
    let target = j.root().join("null-target");
    fs::write(&target, "").unwrap();
    let refused = running(std::path::Path::new("/dev/null"), target).unwrap_err();
    assert!(
        refused.to_string().contains("character device"),
        "{refused}"
    );
}

#[test]
fn keystrokes_cannot_be_pushed_into_the_hosts_terminal() {
    require_root!();
    // A jail run from the admin's terminal (stdout on it): it gets a pipe
    // instead, so TIOCSTI, TIOCLINUX and taking the terminal over from
    // the admin's session (which the kernel refuses to a process without
    // CAP_SYS_ADMIN in the host's user namespace) find no terminal.
    let j = Jail::start("iso-tiocsti", &[]);
    j.install_attack();
    let (got, read) = typed_into_a_shell(&j, "$JEXEC j /attack type 1 </dev/null");
    expect(
        &got,
        &[("sti", "ENOTTY"), ("setsid", "ok"), ("steal", "ENOTTY")],
    );
    assert_eq!(read, "", "{got:?}");
    // In an interactive jexec the command's terminal is the jail's own
    // pty: what it pushes there (the kernel allows it on one's own
    // terminal unless `dev.tty.legacy_tiocsti` is 0) reaches the jail's
    // processes only, never what the admin's shell reads once jexec
    // returns.
    let (got, read) = typed_into_a_shell(&j, "$JEXEC j /attack type 0");
    assert!(got.contains_key("sti"), "{got:?}");
    assert_eq!(read, "", "{got:?}");
    // A jail whose root is the host's root with CAP_SYS_ADMIN
    // (`jkit.userns=0`, `allow.mount`), which the kernel would let type
    // into any terminal it reaches (a host's console or serial line
    // through a devtmpfs it mounts, a device node in its root): its
    // seccomp filter still looks into ioctl and refuses TIOCSTI and
    // TIOCLINUX, on its own pty too (the theft of a terminal it does not
    // stop).
    let admin = Jail::start("iso-tiocsti-admin", &["jkit.userns=0", "allow.mount"]);
    admin.install_attack();
    let (got, read) = typed_into_a_shell(&admin, "$JEXEC j /attack type 0");
    expect(
        &got,
        &[
            ("sti", "EPERM"),
            ("linux-paste", "EPERM"),
            ("steal", "ok"),
            ("sti-stolen", "EPERM"),
            ("sti-reopened", "EPERM"),
        ],
    );
    assert_eq!(read, "", "{got:?}");
    // The control: the host's root types into the same terminal.
    let (got, read) = typed_into_a_shell(&j, "$ATTACK type 1 </dev/null");
    expect(&got, &[("sti", "ok")]);
    assert!(read.starts_with('x'), "{read:?} {got:?}");
}

#[test]
fn a_running_jexec_cannot_be_reached_from_inside() {
    require_root!();
    let j = Jail::start("iso-jexec", &[]);
    j.install_attack();
    // jexec-rs itself waits outside the jail's pid namespace: the jail
    // cannot name it, let alone signal it.
    let mut waiting = j.cmd().args(["j", "sleep", "30"]).spawn().unwrap();
    let got = j.attack(&["signal", &waiting.id().to_string()]);
    expect(&got, &[("kill-0", "ESRCH"), ("kill-9", "ESRCH")]);
    assert_eq!(waiting.try_wait().unwrap(), None);
    kill(
        Pid::from_raw(waiting.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = waiting.wait().unwrap();
    // It ends as its command did: by SIGTERM.
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15)
    );
}

#[test]
fn the_hosts_keyrings_and_io_uring_are_out_of_reach() {
    require_root!();
    let j = Jail::start("iso-keys", &[]);
    j.install_attack();
    // Keyrings are not namespaced: the jail's root would read and plant
    // keys in the keyrings of the host's uid 0. The seccomp filter
    // refuses the calls, as Docker's default profile does.
    expect(
        &j.attack(&["keys"]),
        &[
            ("keyctl-user-keyring", "EPERM"),
            ("add-key-user", "EPERM"),
            ("request-key", "EPERM"),
        ],
    );
    expect(&j.attack(&["io-uring"]), &[("io-uring-setup", "EPERM")]);
    // The host's root reaches its own keyring (the control; the key it
    // plants is unlinked at once).
    expect(
        &on_host(&["keys"]),
        &[("keyctl-user-keyring", "ok"), ("add-key-user", "ok")],
    );
}

#[test]
fn the_jail_cannot_forge_the_hosts_stop() {
    require_root!();
    let j = Jail::start("iso-sigio", &[]);
    j.install_attack();
    let mut sleeper = j.cmd().args(["j", "sleep", "30"]).spawn().unwrap();
    // A SIGTERM the kernel sends the init for the jail (F_SETOWN and
    // F_SETSIG on a pipe), from pid 0 as the host's kill(2) is seen; and
    // one queued with a sender pid of 0 written in.
    expect(
        &j.attack(&["sigio-init"]),
        &[
            ("sigio-armed", "ok"),
            ("sigio-sent", "ok"),
            ("sigqueue-sent", "ok"),
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(sleeper.try_wait().unwrap(), None, "the jail was stopped");
    assert_eq!(j.jexec(&["j", "true"]).code(), 0, "the jail runs");
    // The host's stop (on the init's control socket) still ends the jail,
    // its processes by SIGTERM, well before stop.timeout.
    let start = std::time::Instant::now();
    let out = j.env.run("jmk", &["stop", "j"]);
    assert!(out.success(), "{out}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(j.env.jkit().backend().list(false).unwrap().is_empty());
    let status = sleeper.wait().unwrap();
    assert_ne!(status.code(), Some(0), "{status:?}");
}

#[test]
fn kill_0_in_the_jail_spares_the_callers_process_group() {
    use std::os::unix::process::CommandExt;
    require_root!();
    let j = Jail::start("iso-kill0", &[]);
    // A host process leading a group of its own, which the caller of each
    // command below joins: a script and its tools, as cron runs them.
    let mut bystander = Command::new("sleep")
        .arg("30")
        .process_group(0)
        .spawn()
        .unwrap();
    let group = bystander.id() as i32;
    // The shell ignores the SIGTERM it sends its own group, so that each
    // command succeeds whatever its group holds.
    let attack = "trap '' TERM; kill -TERM 0";
    let mut survived = |how: &str, out: Out| {
        assert_eq!(out.code(), 0, "{how}: {out:?}");
        assert_eq!(
            bystander.try_wait().unwrap(),
            None,
            "{how} killed the caller's process group"
        );
    };
    // jexec-rs without a terminal.
    let jexec = Out::of(
        j.cmd()
            .args(["j", "/bin/sh", "-c", attack])
            .process_group(group),
    );
    survived("jexec-rs", jexec);
    // command= of `jmk start`, and exec.stop of `jmk stop`.
    let stop = format!("exec.stop={attack}");
    let create = [
        "create",
        "c",
        "persist",
        &stop,
        "command=/bin/sh",
        "-c",
        attack,
    ];
    j.env.jmk_ok(&create);
    let jmk = |args: &[&str]| Out::of(j.env.cmd("jmk").args(args).process_group(group));
    survived("command=", jmk(&["start", "c"]));
    survived("exec.stop", jmk(&["stop", "c"]));
    let _ = bystander.kill();
    let _ = bystander.wait();
}

#[test]
fn an_interactive_jexecs_terminal_cannot_be_reached_through_proc() {
    require_root!();
    let j = Jail::start("iso-pty", &[]);
    j.install_attack();
    // The admin's interactive session in the jail.
    let mut cmd = j.cmd();
    cmd.env("SHELL", "/bin/sh").arg("j");
    let mut admin = Pty::spawn(cmd);
    admin.type_in("echo pid=$$=\n");
    // The shell's answer, not the echo of what was typed ("pid=$$=").
    let answer = |screen: &str| {
        screen.match_indices("pid=").find_map(|(at, _)| {
            let pid = screen[at + 4..].split('=').next()?;
            (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then(|| pid.to_string())
        })
    };
    let start = std::time::Instant::now();
    let shell = loop {
        if let Some(pid) = answer(&admin.screen()) {
            break pid;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            admin.screen()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // Another jail process opens the shell's terminal through /proc, and
    // holds it.
    let mut attack = j
        .cmd()
        .args(["j", "/attack", "tty", &shell])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = std::io::BufReader::new(attack.stdout.take().unwrap());
    let mut line = String::new();
    let mut got = std::collections::BTreeMap::new();
    while !got.contains_key("file") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut said, &mut line).unwrap() > 0,
            "{got:?}"
        );
        got.extend(lines(&line));
    }
    // It is the jail's own pseudo-terminal, not the admin's.
    let admin_tty = fs::metadata(&admin.device).unwrap();
    let admins = format!("{}:{}", admin_tty.dev(), admin_tty.ino());
    assert_ne!(got.get("file"), Some(&admins), "{got:?}");
    // Once the session has ended, what it writes reaches no one.
    admin.type_in("exit\n");
    assert_eq!(admin.wait(), 0, "{}", admin.screen());
    attack.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut said, &mut rest).unwrap();
    assert_eq!(attack.wait().unwrap().code(), Some(0));
    expect(&lines(&rest), &[("write-after", "EIO")]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !admin.screen().contains("jkit-planted"),
        "{}",
        admin.screen()
    );
}

#[test]
fn reopening_standard_descriptors_gains_nothing_on_host_files() {
    require_root!();
    let j = Jail::start("iso-reopen", &[]);
    j.install_attack();
    let input = j.env.base.join("input");
    let log = j.env.base.join("log");
    let run = |cmd: &mut Command| {
        fs::write(&input, "the host's\n").unwrap();
        fs::write(&log, "kept\n").unwrap();
        let out = Out::of(
            cmd.stdin(fs::File::open(&input).unwrap())
                .stdout(fs::OpenOptions::new().append(true).open(&log).unwrap()),
        );
        assert_eq!(out.code(), 0, "{out:?}");
        let files = (
            fs::read_to_string(&input).unwrap(),
            fs::read_to_string(&log).unwrap(),
        );
        (lines(&out.stderr), files)
    };
    // stdin given read-only, stdout given for appending: reopened through
    // /proc/self/fd inside the jail, they are the pipes of jexec's relay.
    let (got, (input_after, log_after)) = run(j.cmd().args(["j", "/attack", "reopen"]));
    expect(&got, &[("fd 0", "pipe"), ("fd 1", "pipe")]);
    assert_eq!(input_after, "the host's\n", "{got:?}");
    assert!(log_after.starts_with("kept\n"), "{log_after:?} {got:?}");
    // The same attack on the host's own files gets through (the control).
    let helper = std::path::PathBuf::from(env!("CARGO_BIN_EXE_jexec-rs"))
        .parent()
        .unwrap()
        .join("examples/jail-attack");
    let (got, (input_after, log_after)) = run(Command::new(helper).arg("reopen"));
    expect(
        &got,
        &[
            ("fd 0", "file"),
            ("stdin-for-writing", "ok"),
            ("stdout-truncated", "ok"),
        ],
    );
    assert!(input_after.starts_with("planted\n"), "{input_after:?}");
    assert_eq!(log_after, "replaced\n");
}

/// A capability's bit in a `CapEff`/`CapBnd` mask of /proc/PID/status.
fn has_cap(mask: &str, cap: u32) -> bool {
    u64::from_str_radix(mask, 16).unwrap() & (1 << cap) != 0
}

#[test]
fn securelevel_takes_away_what_freebsd_forbids_at_each_level() {
    require_root!();
    // Without a user namespace the jail's capabilities are the host's
    // (in one, the kernel refuses all of this anyway): at securelevel 0
    // allow.chflags and allow.settime let the jail do each thing.
    let jail = |tag: &str, level: &str| {
        let level = format!("securelevel={level}");
        let j = Jail::start(
            tag,
            &["jkit.userns=0", "allow.chflags", "allow.settime", &level],
        );
        j.install_attack();
        j
    };
    let open = jail("iso-securelevel-0", "0");
    expect(
        &open.attack(&["chflags"]),
        &[("immutable", "ok"), ("append", "ok")],
    );
    expect(&open.attack(&["clock"]), &[("clock-settime", "ok")]);
    // 1: no flag changes; clock steps stay allowed, as on FreeBSD.
    let one = jail("iso-securelevel-1", "1");
    expect(
        &one.attack(&["chflags"]),
        &[
            ("getflags", "ok"),
            ("immutable", "EPERM"),
            ("append", "EPERM"),
        ],
    );
    expect(&one.attack(&["clock"]), &[("clock-settime", "ok")]);
    // Raw I/O and modules were never the jail's: I/O ports, which the
    // host's root has (the control; a kernel without them answers ENOSYS
    // to both), and the capabilities.
    let host = on_host(&["rawio"]);
    for call in ["ioperm", "iopl"] {
        let want = if host[call] == "ok" {
            "EPERM"
        } else {
            &host[call]
        };
        expect(&one.attack(&["rawio"]), &[(call, want)]);
    }
    let caps = one.attack(&["suser"]);
    for cap in [9, 16, 17] {
        assert!(!has_cap(&caps["CapBnd"], cap), "cap {cap}: {caps:?}");
    }
    // 2: no clock steps either.
    let two = jail("iso-securelevel-2", "2");
    expect(&two.attack(&["chflags"]), &[("immutable", "EPERM")]);
    expect(&two.attack(&["clock"]), &[("clock-settime", "EPERM")]);
}

#[test]
fn securelevel_3_keeps_a_vnet_jail_off_its_network_configuration() {
    require_root!();
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("ip(8) from iproute2 (.ci/run installs it)");
    let add = ["j", ip, "addr", "add", "10.213.254.1/32", "dev", "lo"];
    // The control: a vnet jail at securelevel 2 configures its own network.
    let two = Jail::start("iso-securelevel-vnet-2", &["vnet=new", "securelevel=2"]);
    let out = two.jexec(&add);
    assert_eq!(out.code(), 0, "{out:?}");
    let three = Jail::start("iso-securelevel-vnet-3", &["vnet=new", "securelevel=3"]);
    let out = three.jexec(&add);
    assert!(
        out.code() != 0 && out.stderr.contains("Operation not permitted"),
        "{out:?}"
    );
}

#[test]
fn allow_suser_0_leaves_root_in_the_jail_no_privilege() {
    require_root!();
    let want_with = |suser: bool| -> [(&str, &str); 3] {
        if suser {
            [("chown", "ok"), ("bind-80", "ok"), ("setuid", "ok")]
        } else {
            [
                ("chown", "EPERM"),
                ("bind-80", "EACCES"),
                ("setuid", "EPERM"),
            ]
        }
    };
    for suser in [true, false] {
        let tag = format!("iso-suser-{}", u8::from(suser));
        let param = format!("allow.suser={}", u8::from(suser));
        let j = Jail::start(&tag, &[&param]);
        j.install_attack();
        // A set-user-id program of the jail's root (made so before the jail
        // first looks at it: the overlay over a thin root keeps what it
        // has seen of a file).
        let attack = j.root().join("attack");
        let range_root = fs::metadata(j.root()).unwrap().uid();
        std::os::unix::fs::chown(&attack, Some(range_root), Some(range_root)).unwrap();
        fs::set_permissions(
            &attack,
            std::os::unix::fs::PermissionsExt::from_mode(0o4755),
        )
        .unwrap();
        let got = j.attack(&["suser"]);
        expect(&got, &want_with(suser));
        assert_eq!(got["euid"], "0");
        assert_eq!(has_cap(&got["CapEff"], 0), suser, "{got:?}");
        assert_eq!(got["CapBnd"] == "0000000000000000", !suser, "{got:?}");
        // Run by another user of the jail, it becomes root, and with
        // allow.suser=0 gains nothing.
        let out = j.jexec(&["-u", "nobody", "j", "/attack", "suser"]);
        assert_eq!(out.code(), 0, "{out:?}");
        let got = lines(&out.stdout);
        assert_eq!(got["euid"], "0", "{got:?}");
        expect(&got, &want_with(suser));
    }
}

/// The host pid of the init of jail `j`.
fn init_pid(j: &Jail) -> String {
    j.env.init_pid(&j.name)
}

/// `nsenter` into every namespace of jail `j`'s init (its root with its
/// mount namespace) running `args`: a process of the host placed in the
/// jail's namespaces, but not in its Landlock domain.
fn nsenter(j: &Jail, args: &[&str]) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.args(["--all", "-t", &init_pid(j)]).args(args);
    cmd
}

#[test]
fn a_jail_sharing_the_hosts_network_cannot_reach_its_abstract_unix_sockets() {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, listen, socket,
    };
    use std::os::fd::AsRawFd;
    require_root!();
    // A host service on an abstract unix socket: no file, no permission,
    // any process of the network namespace may connect (D-Bus, X11,
    // systemd's, containerd's shims have such sockets).
    let name = format!("jkit-test-abstract-{}", std::process::id());
    let service = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    bind(
        service.as_raw_fd(),
        &UnixAddr::new_abstract(name.as_bytes()).unwrap(),
    )
    .unwrap();
    listen(&service, Backlog::new(8).unwrap()).unwrap();
    let j = Jail::start("iso-abstract", &["ip4=inherit"]);
    j.install_attack();
    // Landlock's LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET.
    expect(
        &j.attack(&["abstract", &name]),
        &[("abstract-connect", "EPERM")],
    );
    // The control: the jail's namespaces alone (its user namespace, the
    // host's network) would let it connect.
    let outside = Out::of(&mut nsenter(&j, &["/attack", "abstract", &name]));
    expect(&lines(&outside.stdout), &[("abstract-connect", "ok")]);
}

#[test]
fn a_process_outside_the_jails_domain_cannot_be_signalled_even_in_its_namespaces() {
    require_root!();
    // The jail's root is the host's root (no user namespace), so neither
    // the uid nor the pid namespace keeps the jail from a process the host
    // puts into the jail's namespaces (as nsenter or a container runtime's
    // exec does): only Landlock's LANDLOCK_SCOPE_SIGNAL does.
    let j = Jail::start("iso-ll-signal", &["jkit.userns=0"]);
    j.install_attack();
    let mut outsider = nsenter(&j, &["/bin/sh", "-c", "echo $$; exec sleep 60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(outsider.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let pid = line.trim().to_string();
    std::thread::sleep(std::time::Duration::from_millis(100));
    expect(
        &j.attack(&["signal", &pid]),
        &[
            ("host-process-listed", "yes"),
            ("kill-0", "EPERM"),
            ("kill-9", "EPERM"),
        ],
    );
    assert_eq!(outsider.try_wait().unwrap(), None, "the outsider survives");
    // The control: from outside the domain, the same kill works.
    let outside = Out::of(&mut nsenter(&j, &["/attack", "signal", &pid]));
    expect(&lines(&outside.stdout), &[("kill-9", "ok")]);
    let status = outsider.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
}

#[test]
fn the_jails_processes_share_one_domain_whoever_started_them() {
    require_root!();
    // Each jexec-rs, exec.* and command= is forked by the jail's init, in
    // its one Landlock domain: they signal each other and reach each
    // other's abstract sockets (a domain of their own each would part
    // them, as siblings).
    let j = Jail::start("iso-ll-shared", &[]);
    j.install_attack();
    let daemon = j.jexec(&["j", "/bin/sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"]);
    let pid = daemon.ok().trim().to_string();
    let killed = j.jexec(&["j", "kill", &pid]);
    assert_eq!(killed.code(), 0, "{killed:?}");
    let mut listener = j
        .cmd()
        .args(["j", "/attack", "abstract-listen", "jkit-shared"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(listener.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "abstract-listen: ok\n");
    expect(
        &j.attack(&["abstract", "jkit-shared"]),
        &[("abstract-connect", "ok")],
    );
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "abstract-accept: ok\n");
    assert!(listener.wait().unwrap().success());

    // exec.start's daemon, stopped by a jexec-rs; a jexec-rs's daemon,
    // stopped by exec.stop; then jmk stop ends the jail.
    let start = "exec.start=/bin/sh -c 'sleep 301 >/dev/null 2>&1 & echo $! > /tmp/start.pid'";
    let stop = "exec.stop=/bin/sh -c 'kill $(cat /tmp/jexec.pid) && echo killed > /tmp/stop.out'";
    j.env.jmk_ok(&["create", "d", "persist", start, stop]);
    j.env.jmk_ok(&["start", "d"]);
    let root = j.env.paths.jail_root("d");
    let started = fs::read_to_string(root.join("tmp/start.pid")).unwrap();
    let killed = j.jexec(&["d", "kill", started.trim()]);
    assert_eq!(killed.code(), 0, "{killed:?}");
    let daemon = j.jexec(&[
        "d",
        "/bin/sh",
        "-c",
        "sleep 302 >/dev/null 2>&1 & echo $! > /tmp/jexec.pid",
    ]);
    assert_eq!(daemon.code(), 0, "{daemon:?}");
    j.env.jmk_ok(&["stop", "d"]);
    assert_eq!(
        fs::read_to_string(root.join("tmp/stop.out")).unwrap(),
        "killed\n"
    );
    assert!(
        j.env
            .jkit()
            .backend()
            .list(false)
            .unwrap()
            .iter()
            .all(|s| s.name != "d")
    );
}
