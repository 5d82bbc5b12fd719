//! jrctl against real Linux jails: rules that really hold, with real
//! processes, on the host's cgroup v1 and (the `enforce_` tests, run by
//! `.ci/run` in ../shared/tools/cgroup2-vm) on cgroup v2; usage that agrees
//! with what the processes did; rules kept with the jail's definition.

#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::{Lab, cpu_ticks};
use jkit::exec::Exit;
use jkit_tests::require_root;

const MIB: u64 = 1 << 20;

#[test]
fn enforce_maxproc_deny_20_refuses_the_21st_process() {
    require_root!();
    let lab = Lab::new("rctl-maxproc", "mp", &[]);
    // Added while stopped: it holds from the start on.
    lab.rctl_ok(&["-a", "jail:mp:maxproc:deny=20"]);
    lab.start();
    // The shell is the jail's first process; each sleep one more.
    let exit = lab.sh("i=1; while [ $i -le 25 ]; do sleep 60 & echo $i > /tmp/started; i=$((i+1)); done 2>/tmp/err");
    assert_ne!(exit, Exit::Code(0), "the shell fails when it cannot fork");
    assert_eq!(
        lab.read("/tmp/started"),
        "19",
        "shell + 19 sleeps = 20 processes; the 21st failed"
    );
    assert!(
        lab.read("/tmp/err").contains("fork"),
        "{}",
        lab.read("/tmp/err")
    );
    let u = lab.usage();
    assert_eq!(u["maxproc"], 19, "the sleeps are left: {u:?}");
    assert_eq!(u["nthr"], 19);
    // Lifted: more processes can start again.
    lab.rctl_ok(&["-r", "jail:mp:maxproc"]);
    assert_eq!(
        lab.sh("for i in 1 2 3 4 5; do sleep 60 & done"),
        Exit::Code(0)
    );
    assert_eq!(lab.usage()["maxproc"], 24);
}

#[test]
fn enforce_memoryuse_deny_64m_stops_a_256m_allocation() {
    require_root!();
    let lab = Lab::new("rctl-mem", "mem", &[]);
    lab.start();
    // Added while running: it holds at once.
    lab.rctl_ok(&[
        "-a",
        "jail:mem:memoryuse:deny=64m",
        "jail:mem:swapuse:deny=0",
    ]);
    let limit = if lab.v2() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    let written = std::fs::read_to_string(lab.cgroup("memory").join(limit)).unwrap();
    assert_eq!(written.trim(), (64 * MIB).to_string());
    let exit = lab.sh("dd if=/dev/zero of=/dev/null bs=256M count=1 2>/tmp/err; echo $? > /tmp/rc");
    assert_eq!(exit, Exit::Code(0));
    let rc = lab.read("/tmp/rc");
    assert!(
        rc == "137" || rc == "1",
        "dd is killed (137) or cannot allocate (1), not {rc}: {}",
        lab.read("/tmp/err")
    );
    // The jail lives on and its memory stayed under the limit; the host
    // (this test process) was never short of memory.
    assert_eq!(lab.sh("echo alive > /tmp/alive"), Exit::Code(0));
    assert_eq!(lab.read("/tmp/alive"), "alive");
    let u = lab.usage();
    assert!(u["memoryuse"] <= 64 * MIB, "{u:?}");
    assert_eq!(u["swapuse"], 0);
}

#[test]
fn enforce_pcpu_deny_25_holds_a_busy_loop_at_a_quarter_cpu() {
    require_root!();
    let lab = Lab::new("rctl-pcpu", "cpu", &[]);
    lab.rctl_ok(&["-a", "jail:cpu:pcpu:deny=25"]);
    lab.start();
    assert_eq!(
        lab.sh("while :; do :; done >/dev/null 2>&1 &"),
        Exit::Code(0)
    );
    let pid = lab.pids()[0];
    std::thread::sleep(Duration::from_millis(500));
    let hz = 100.0; // USER_HZ
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    lab.usage(); // a usage sample: the next pcpu covers the 3 s below
    std::thread::sleep(Duration::from_secs(3));
    let (t1, c1) = (Instant::now(), cpu_ticks(pid));
    let u = lab.usage();
    let measured = (c1 - c0) as f64 / hz / (t1 - t0).as_secs_f64() * 100.0;
    assert!(
        (15.0..=35.0).contains(&measured),
        "busy loop at {measured:.1}% of a CPU"
    );
    assert!(
        (15..=35).contains(&u["pcpu"]),
        "jrctl reports pcpu={} (measured {measured:.1})",
        u["pcpu"]
    );
}

#[test]
fn enforce_writebps_throttle_holds_writes_near_the_limit() {
    require_root!();
    let lab = Lab::on_block_device("rctl-io", "io");
    lab.start();
    let write = |file: &str| {
        let t0 = Instant::now();
        let exit = lab.sh(&format!(
            "dd if=/dev/zero of=/tmp/{file} bs=256k count=16 oflag=direct 2>/tmp/err"
        ));
        let report = lab.read("/tmp/err");
        assert_eq!(exit, Exit::Code(0), "{report}");
        // dd's own time: what the limit governs, without the start-up of
        // jexec, sh and dd, which a slow or emulated machine stretches.
        let secs = dd_seconds(&report).unwrap_or_else(|| t0.elapsed().as_secs_f64());
        (4 * MIB) as f64 / secs / MIB as f64
    };
    let free = write("free");
    // Added while the jail runs, on the device of its root.
    lab.rctl_ok(&[
        "-a",
        "jail:io:writebps:throttle=1m",
        "jail:io:writeiops:throttle=1000",
    ]);
    let s0 = Instant::now();
    lab.usage(); // a sample right before the write
    let s1 = Instant::now();
    let limited = write("limited");
    let (e0, u, e1) = (Instant::now(), lab.usage(), Instant::now());
    assert!(
        free > 2.0,
        "unthrottled, the disk writes {free:.2} MiB/s: too slow to show a 1 MiB/s limit"
    );
    assert!(
        (0.7..=1.3).contains(&limited),
        "4 MiB at {limited:.2} MiB/s against a 1 MiB/s limit ({free:.2} MiB/s without)"
    );
    // jrctl's rate is over the time between its two samples, which these
    // instants bracket.
    let bytes = (4 * MIB) as f64;
    let (least, most) = (
        bytes / (e1 - s0).as_secs_f64(),
        bytes / (e0 - s1).as_secs_f64(),
    );
    let wbps = u["writebps"] as f64;
    assert!(
        (least * 0.9..=most * 1.1).contains(&wbps),
        "jrctl reports writebps={wbps}, the write was {least:.0} to {most:.0} bytes/s over its window"
    );
    assert!(u["writeiops"] >= 1, "{u:?}");
}

#[test]
fn enforce_usage_agrees_with_what_the_processes_did() {
    require_root!();
    let lab = Lab::new("rctl-usage", "u", &[]);
    lab.start();
    let before = lab.usage();
    assert_eq!(
        (before["maxproc"], before["nthr"], before["openfiles"]),
        (0, 0, 0),
        "only init: {before:?}"
    );
    let t0 = Instant::now();
    let script = "for i in 1 2 3 4 5; do sleep 60 & done; \
                  ipcmk -M 65536 >/dev/null; ipcmk -Q >/dev/null; ipcmk -S 3 >/dev/null; \
                  head -c 4096 /dev/zero > /dev/shm/posix; \
                  (x=$(head -c 33554432 /dev/zero | tr '\\0' a); echo > /tmp/built; sleep 60; :) & \
                  sh -c 'while :; do :; done' &";
    assert_eq!(lab.sh(script), Exit::Code(0));
    // The string is built and the loop has run two seconds of CPU.
    let deadline = Instant::now() + Duration::from_secs(120);
    let busy = || {
        lab.pids()
            .into_iter()
            .max_by_key(|p| cpu_ticks(*p))
            .unwrap()
    };
    while !(lab.file("/tmp/built").exists() && cpu_ticks(busy()) >= 200) {
        assert!(
            Instant::now() < deadline,
            "the jail's processes did not get going"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Over two seconds of the loop alone, cputime grows by what /proc
    // says the loop used (whole seconds each side: within one).
    // cputime grows by what /proc says the processes used meanwhile; the
    // /proc readings bracket each usage reading (jrctl takes a while to
    // run), and cputime is in whole seconds.
    let ticks = || {
        (
            lab.pids().into_iter().map(cpu_ticks).sum::<u64>(),
            Instant::now(),
        )
    };
    let ((a1, at_a1), u1, (b1, at_b1)) = (ticks(), lab.usage(), ticks());
    std::thread::sleep(Duration::from_secs(2));
    let ((a2, at_a2), u, (b2, at_b2)) = (ticks(), lab.usage(), ticks());
    let grown = u["cputime"] - u1["cputime"];
    let (least, most) = ((a2 - b1) / 100, (b2 - a1).div_ceil(100));
    assert!(
        (least.saturating_sub(1)..=most + 1).contains(&grown),
        "cputime grew {grown} s while the processes used {least} to {most} s"
    );
    // pcpu is the CPU time between the two readings over the time between
    // them: what the processes used in the shortest and longest windows
    // that bracket it, in percent of a CPU (as much as the machine's load
    // let the loop have), give or take a clock tick each side.
    let percent = |ticks: u64, window: Duration| ticks as f64 / window.as_secs_f64();
    let low = percent(a2 - b1, at_b2 - at_a1) - 2.0;
    let high = percent(b2 - a1, at_a2 - at_b1) + 2.0;
    let pcpu = u["pcpu"] as f64;
    assert!(
        (low..=high).contains(&pcpu) && high > 2.0,
        "pcpu {pcpu} while the processes used {low:.0} to {high:.0} percent of a CPU"
    );
    assert_eq!(
        u["maxproc"], 8,
        "five sleeps, the subshell and its sleep, the loop: {u:?}"
    );
    assert_eq!(u["nthr"], 8);
    assert!(
        u["openfiles"] >= 8 * 3,
        "stdin, stdout, stderr at least: {u:?}"
    );
    assert!(u["wallclock"] >= t0.elapsed().as_secs(), "{u:?}");
    assert!(
        u["memoryuse"] >= 32 * MIB,
        "the subshell holds a 32 MiB string: {u:?}"
    );
    assert!(u["datasize"] >= 32 * MIB, "{u:?}");
    assert!(
        u["vmemoryuse"] > u["datasize"] && u["stacksize"] > 0,
        "{u:?}"
    );
    assert_eq!(
        (u["nshm"], u["shmsize"]),
        (2, 65536 + 4096),
        "a SysV segment and a POSIX one: {u:?}"
    );
    assert_eq!((u["nmsgq"], u["nsem"]), (1, 3), "{u:?}");
    assert_eq!(u.len(), 25);
}

#[test]
fn enforce_openfiles_and_cputime_are_rlimits_of_each_process() {
    require_root!();
    let lab = Lab::new("rctl-rlim", "rl", &[]);
    lab.rctl_ok(&[
        "-a",
        "jail:rl:openfiles:deny=64",
        "jail:rl:cputime:sigkill=1/process",
    ]);
    lab.start();
    assert_eq!(
        lab.sh("ulimit -n > /tmp/n; ulimit -t > /tmp/t"),
        Exit::Code(0)
    );
    assert_eq!(lab.read("/tmp/n"), "64");
    assert_eq!(lab.read("/tmp/t"), "1");
    let t0 = Instant::now();
    assert_eq!(
        lab.sh("{ sh -c 'while :; do :; done'; echo $? > /tmp/rc; } 2>/dev/null"),
        Exit::Code(0)
    );
    assert_eq!(lab.read("/tmp/rc"), "137", "killed at one second of CPU");
    assert!(t0.elapsed() < Duration::from_secs(30));
    // A rule added while the jail runs reaches the processes it has.
    assert_eq!(lab.sh("sleep 60 &"), Exit::Code(0));
    lab.rctl_ok(&["-a", "jail:rl:openfiles:deny=32"]);
    let pid = lab.pids()[0];
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().skip(3).take(2).collect::<Vec<_>>(),
        ["32", "32"],
        "{line}"
    );
}

/// The pids.max the jail's cgroup holds (the jail's tasks + jkit's init).
fn pids_max(lab: &Lab) -> String {
    std::fs::read_to_string(lab.cgroup("pids").join("pids.max"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn rules_persist_with_the_definition_and_hold_at_every_start() {
    require_root!();
    let lab = Lab::new("rctl-persist", "p", &[]);
    lab.rctl_ok(&[
        "-a",
        "jail:p:maxproc:deny=10",
        "jail:p:maxproc:deny=10",
        "j:p:pcpu:deny=50",
    ]);
    let file = lab.env.paths.conf_dir.join("p.rctl");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        ["jail:p:maxproc:deny=10", "jail:p:pcpu:deny=50"]
    );
    // A deny rule replaces the deny rule that differs only in amount.
    lab.rctl_ok(&["-a", "jail:p:maxproc:deny=30"]);
    assert_eq!(
        lab.rctl_ok(&["jail:p"]),
        "jail:p:maxproc:deny=30\njail:p:pcpu:deny=50\n"
    );
    lab.start();
    assert_eq!(pids_max(&lab), "31");
    lab.env.jkit().restart("p").unwrap();
    assert_eq!(pids_max(&lab), "31", "applied again at the next start");
    lab.env.jkit().stop("p").unwrap();
    lab.start();
    assert_eq!(pids_max(&lab), "31");
    // Removing lifts the limit in the running jail.
    lab.rctl_ok(&["-r", "jail:p:maxproc"]);
    assert_eq!(pids_max(&lab), "max");
    assert_eq!(lab.rctl_ok(&[]), "jail:p:pcpu:deny=50\n");
    // Destroying the jail removes its rules.
    lab.env.jkit().destroy("p", true).unwrap();
    assert!(!file.exists());
    assert_eq!(lab.rctl_ok(&[]), "");
    let again = lab.rctl(&["-r", "jail:p"]);
    assert_eq!(
        (again.code(), again.stderr.as_str()),
        (1, "rctl: failed to remove rule 'jail:p': No such process\n")
    );
}

#[test]
fn listing_humanizing_json_and_stdin_records() {
    require_root!();
    let lab = Lab::new("rctl-list", "web", &[]);
    lab.create("db", &[]);
    lab.rctl_ok(&["-a", "jail:web:memoryuse:deny=512m"]);
    lab.rctl_ok(&["-a", "jail:db:maxproc:deny=100"]);
    assert_eq!(
        lab.rctl_ok(&[]),
        "jail:db:maxproc:deny=100\njail:web:memoryuse:deny=536870912\n"
    );
    assert_eq!(
        lab.rctl_ok(&["-h", "jail:web"]),
        "jail:web:memoryuse:deny=512M\n"
    );
    assert_eq!(
        lab.rctl_ok(&["::memoryuse"]),
        "jail:web:memoryuse:deny=536870912\n"
    );
    assert_eq!(lab.rctl_ok(&["user:"]), "");
    let json = lab.rctl_ok(&["--json", "-h", "jail:web"]);
    assert_eq!(
        json,
        "{\"rule\":\"jail:web:memoryuse:deny=536870912\",\"subject\":\"jail\",\"id\":\"web\",\"resource\":\"memoryuse\",\"action\":\"deny\",\"amount\":536870912,\"per\":\"jail\"}\n"
    );
    // `-` takes the jails of NDJSON records: by name, or by jid when
    // running; other fields are ignored.
    lab.start();
    let jails = lab.env.jkit().backend().list(false).unwrap();
    let record = serde_json::to_string(&jkit::wire::JailRecord::of(
        &jails[0],
        jkit::wire::BackendKind::Linux,
    ))
    .unwrap();
    let input = format!("{record}\n{{\"name\":\"db\",\"hostname\":\"ignored\"}}\n");
    let o = lab.rctl_with(&["--json", "-u", "-"], Some(&input));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let ids: Vec<String> = o
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["web", "db"]);
    let o = lab.rctl_with(&["-u", "-"], Some("{\"jid\":1}\n"));
    assert_eq!(o.stdout.lines().count(), 25, "{}", o.stderr);
    assert_eq!(
        lab.rctl_with(&["-"], Some("{\"name\":\"db\"}\n")).stdout,
        "jail:db:maxproc:deny=100\n"
    );
    let o = lab.rctl_with(
        &["-r", "-"],
        Some("{\"name\":\"web\"}\n{\"name\":\"web\"}\n"),
    );
    assert_eq!(
        (o.code(), o.stderr.as_str()),
        (
            1,
            "rctl: failed to remove rule 'jail:web': No such process\n"
        )
    );
}

#[test]
fn what_linux_cannot_do_is_refused_as_the_kernel_refuses() {
    require_root!();
    let lab = Lab::new("rctl-refuse", "w", &[]);
    let o = lab.rctl(&[
        "-a",
        "jail:w:cputime:sigkill=10",
        "jail:w:wallclock:sigterm=3600",
        "jail:w:nshm:deny=5",
        "user:0:maxproc:deny=5",
        "jail:w:maxproc:log=5",
        "jail:w:cputime:deny=1",
        "jail:nosuch:maxproc:deny=5",
        "jail:w:pcpu:throttle=50",
    ]);
    assert_eq!(o.code(), 7, "{}", o.stderr);
    // Worded as the kernel's refusals are (docs/linux.md lists why each is
    // refused): EOPNOTSUPP, and ESRCH for a jail with no definition to
    // keep its rules beside.
    assert_eq!(
        o.stderr,
        "rctl: failed to add rule 'jail:w:cputime:sigkill=10': Operation not supported\n\
         rctl: failed to add rule 'jail:w:wallclock:sigterm=3600': Operation not supported\n\
         rctl: failed to add rule 'jail:w:nshm:deny=5': Operation not supported\n\
         rctl: failed to add rule 'user:0:maxproc:deny=5': Operation not supported\n\
         rctl: failed to add rule 'jail:w:maxproc:log=5': Operation not supported\n\
         rctl: failed to add rule 'jail:w:cputime:deny=1': Operation not supported\n\
         rctl: failed to add rule 'jail:nosuch:maxproc:deny=5': No such process\n"
    );
    // pcpu throttle, which FreeBSD refuses, is Linux's CPU quota.
    assert_eq!(lab.rctl_ok(&[]), "jail:w:pcpu:throttle=50\n");
    let o = lab.rctl(&["-u", "user:0"]);
    assert_eq!(o.code(), 1);
    assert_eq!(
        o.stderr,
        "rctl: failed to show resource consumption for 'user:0': Operation not supported\n"
    );
}

#[test]
fn limits_and_usage_of_a_jail_process() {
    require_root!();
    let lab = Lab::new("rctl-proc", "pr", &[]);
    lab.rctl_ok(&[
        "-a",
        "jail:pr:maxproc:deny=50",
        "jail:pr:openfiles:deny=100/process",
    ]);
    lab.start();
    assert_eq!(lab.sh("sleep 60 &"), Exit::Code(0));
    let pid = lab.pids()[0].to_string();
    let limits = lab.rctl_ok(&["-l", &format!("process:{pid}")]);
    assert_eq!(
        limits,
        "jail:pr:openfiles:deny=100/process\njail:pr:maxproc:deny=50\n"
    );
    let usage = lab.rctl_ok(&["-u", &format!("process:{pid}")]);
    assert_eq!(
        usage.lines().count(),
        17,
        "a process's usage leaves out the sloppy resources"
    );
    assert!(
        usage.contains("\nmaxproc=1\n") && usage.contains("\nnthr=1\n"),
        "{usage}"
    );
    // A process outside every jail has no rules; a gone one is ESRCH.
    assert_eq!(
        lab.rctl_ok(&["-l", &format!("process:{}", std::process::id())]),
        ""
    );
    let o = lab.rctl(&["-l", "process:999999999"]);
    assert_eq!(
        (o.code(), o.stderr.as_str()),
        (
            1,
            "rctl: failed to get limits for 'process:999999999': No such process\n"
        )
    );
}

/// The elapsed seconds GNU dd reports ("... copied, 4.00123 s, 1.0 MB/s").
fn dd_seconds(report: &str) -> Option<f64> {
    let after = report.rsplit_once("copied, ")?.1;
    after.split_once(" s")?.0.trim().parse().ok()
}

#[test]
fn dd_reports_are_read() {
    let r = "16+0 records in\n16+0 records out\n4194304 bytes (4.2 MB, 4.0 MiB) copied, 4.00123 s, 1.0 MB/s\n";
    assert_eq!(dd_seconds(r), Some(4.00123));
    assert_eq!(dd_seconds("dd: error"), None);
}
