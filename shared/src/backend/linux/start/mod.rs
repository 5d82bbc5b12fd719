//! Starting a jail: jmk forks a process that joins the jail's cgroup and
//! unshares its namespaces; that process forks the jail's init (`init`),
//! pid 1 of the new pid namespace, and pins the init's namespaces
//! ([`pins`]) while the init sets the jail up (`setup`).

mod init;
pub mod pins;
pub(super) mod setup;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigmaskHow, sigprocmask};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, pipe2, setsid};

use super::cgroup::jail::{self as jail_cgroup, JailCgroup};
use super::exec::relay;
use super::state::{self, Phase, ProcId, RunState};
use super::{NAMESPACES, caps, net, own_network, sys, to_json_map, wait_exit};
use crate::backend::mounts;
use crate::error::{Error, OsContext, Result};
use crate::model::Jail;
use crate::paths::Paths;

/// What keeps a jail this process just created alive whatever its
/// `persist`: the open `go` channel to its init (closed by
/// [`crate::backend::Backend::settle`], or by the kernel if this process dies).
#[derive(Debug)]
pub(super) struct Hold {
    go: fs::File,
    report: BufReader<fs::File>,
    init: OwnedFd,
}

/// Create the jail `def` with jid `jid` and hold it (see [`Hold`]):
/// its running state and the hold.
pub(super) fn create(paths: &Paths, def: &Jail, jid: i64) -> Result<(RunState, Hold)> {
    let name = &def.name;
    let root = crate::backend::root_of(def)?;
    let params = &def.params;
    let net_plan = net::plan(def)?;
    let own_network = own_network(params);
    let plan = setup::Plan {
        root: root.clone(),
        hostname: params.str("host.hostname").map(str::to_string),
        mounts: mounts::planned(def, &root)?,
        devfs: params.flag("mount.devfs"),
        procfs: params.flag("mount.procfs"),
        own_network,
        caps: caps::keep_mask(params, own_network),
    };
    let persist = params.flag("persist");

    let mut st = RunState {
        name: name.clone(),
        jid,
        phase: Phase::Starting,
        owner: ProcId::current(),
        init: None,
        params: to_json_map(params),
    };
    state::write(paths, &st)?;
    let cgroup = jail_cgroup::prepare(paths, def, &root)?;
    let holder = pins::holder(paths)?;
    let mut held: Vec<&str> = NAMESPACES
        .iter()
        .map(|(ns, _)| *ns)
        .filter(|ns| *ns != "mnt")
        .collect();
    if own_network {
        held.push("net");
    }
    let pinning = Pinning {
        holder: &holder,
        paths,
        name,
        kinds: &held,
    };

    let devnull = fs::File::open("/dev/null").what(|| "open /dev/null".into())?;
    let control = relay::listen_at(&state::jail_dir(paths, name))
        .what(|| format!("{name}: control socket"))?;
    let (pid_r, pid_w) = pipe2(OFlag::O_CLOEXEC).what(|| "pipe".into())?;
    let (report_r, report_w) = pipe2(OFlag::O_CLOEXEC).what(|| "pipe".into())?;
    let (go_r, go_w) = pipe2(OFlag::O_CLOEXEC).what(|| "pipe".into())?;
    let mut flags = CloneFlags::empty();
    for (_, f) in NAMESPACES {
        flags |= *f;
    }
    if own_network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let v2_dir = cgroup.record.v2_dir();
    let (forked, born_inside) = sys::fork_in_cgroup(v2_dir.as_ref().map(|d| d.as_fd()));
    match forked.what(|| "fork".into())? {
        ForkResult::Child => {
            drop((pid_r, report_r, go_w));
            let channels = init::Channels {
                report: report_w,
                go: go_r,
                devnull: devnull.into(),
                control,
            };
            let code = spawn_init(
                flags,
                &plan,
                persist,
                pid_w,
                channels,
                (&cgroup.record, born_inside),
                &pinning,
            );
            sys::exit_now(code);
        }
        ForkResult::Parent { child } => {
            drop((pid_w, report_w, go_r, control));
            let status = waitpid(child, None).what(|| "wait".into())?;
            // The init's pid, then whether its namespaces were pinned.
            let mut report_c = [0u8; 5];
            let got = fs::File::from(pid_r).read_exact_or_eof(&mut report_c);
            let pid = [report_c[0], report_c[1], report_c[2], report_c[3]];
            if status != WaitStatus::Exited(child, 0) || !got {
                return Err(Error::os(
                    format!("{name}: create namespaces"),
                    std::io::Error::last_os_error(),
                ));
            }
            let init_pid = i32::from_le_bytes(pid);
            // Recorded with the running phase below: until then a kill
            // of this jmk ends the init (it reads the end of "go"), and
            // clean() finds the rest by the jail's name (cgroup, pins).
            st.init = ProcId::of(init_pid);
            cgroup.finish()?;
            let init_fd = sys::pidfd_open(Pid::from_raw(init_pid)).what(|| "pidfd_open".into())?;
            let mut report = BufReader::new(fs::File::from(report_r));
            let first = read_line(&mut report);
            if first != "ready" {
                wait_exit(&init_fd, Duration::from_secs(5));
                let msg = first
                    .strip_prefix("error ")
                    .unwrap_or("jail setup failed")
                    .to_string();
                return Err(Error::Config(format!("{name}: {msg}")));
            }
            if report_c[4] != 0 {
                return Err(Error::os(
                    format!("{name}: pin namespaces"),
                    std::io::Error::other("failed"),
                ));
            }
            pins::pin_mount_ns(paths, name, init_pid)?;
            if let Some(plan) = &net_plan {
                if let Err(e) = net::attach(paths, name, jid, plan, init_pid) {
                    // Without "go" the init ends the jail; clean() then
                    // undoes what attach recorded.
                    drop(go_w);
                    wait_exit(&init_fd, Duration::from_secs(10));
                    return Err(e);
                }
            }
            st.phase = Phase::Running;
            state::write(paths, &st)?;
            let mut go = fs::File::from(go_w);
            go.write_all(b"go\n")
                .what(|| format!("{name}: signal init"))?;
            let hold = Hold {
                go,
                report,
                init: init_fd,
            };
            Ok((st, hold))
        }
    }
}

/// Let the jail of `hold` live by its own `persist`: close `go` and hear
/// from the init whether the jail lives on; when it does not, wait for the
/// init to end. Returns whether the jail lives.
pub(super) fn settle(hold: Hold) -> bool {
    let Hold {
        go,
        mut report,
        init,
    } = hold;
    drop(go);
    let alive = read_line(&mut report) == "live";
    if !alive {
        wait_exit(&init, Duration::from_secs(10));
    }
    alive
}

/// What the namespace-creating process pins in the holder.
struct Pinning<'a> {
    holder: &'a fs::File,
    paths: &'a Paths,
    name: &'a str,
    kinds: &'a [&'a str],
}

/// The body of the process that creates the namespaces: it joins the
/// jail's cgroup first (so the new cgroup namespace is rooted there); it
/// cannot enter a new pid namespace itself, so it forks the jail's init
/// into it, pins the init's namespaces in the holder while the init sets
/// up, reports the init's pid and exits.
fn spawn_init(
    flags: CloneFlags,
    plan: &setup::Plan,
    persist: bool,
    pid_w: OwnedFd,
    ch: init::Channels,
    (cgroup, born_inside): (&JailCgroup, bool),
    pinning: &Pinning,
) -> i32 {
    if cgroup.join_as_init(born_inside).is_err()
        || sigprocmask(SigmaskHow::SIG_BLOCK, Some(&init::handled_signals()), None).is_err()
        || setsid().is_err()
        || unshare(flags).is_err()
    {
        return 1;
    }
    match sys::fork() {
        Ok(ForkResult::Child) => {
            drop(pid_w);
            init::main(plan, persist, ch)
        }
        Ok(ForkResult::Parent { child }) => {
            // Pin while the init sets the jail up.
            let pinned = pins::pin_in_holder(
                pinning.holder,
                pinning.paths,
                pinning.name,
                child.as_raw(),
                pinning.kinds,
            );
            let mut msg = child.as_raw().to_le_bytes().to_vec();
            msg.push(u8::from(pinned.is_err()));
            let mut w = fs::File::from(pid_w);
            if w.write_all(&msg).is_err() {
                return 1;
            }
            0
        }
        Err(_) => 1,
    }
}

fn read_line(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    let _ = r.read_line(&mut line);
    line.trim_end().to_string()
}

trait ReadExactOrEof {
    fn read_exact_or_eof(self, buf: &mut [u8]) -> bool;
}

impl ReadExactOrEof for fs::File {
    fn read_exact_or_eof(mut self, buf: &mut [u8]) -> bool {
        std::io::Read::read_exact(&mut self, buf).is_ok()
    }
}
