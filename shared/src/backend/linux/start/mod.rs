//! Starting a jail: jmk forks a process that joins the jail's cgroup and
//! unshares its namespaces; that process forks the jail's init (`init`),
//! pid 1 of the new pid namespace, and pins the init's namespaces
//! ([`pins`]) while the init sets the jail up (`setup`). The messages they
//! exchange are START in [`super::protocol`].
//!
//! With a user namespace (`userns`) the process unshares only a staging
//! mount namespace and the cgroup namespace (both the host's user
//! namespace's), clones the init into the others, owned by the jail's new
//! user namespace, and makes the jail's mounts that need the host's
//! privileges in staging; the init makes its own mount namespace as a
//! copy of staging, in which the kernel locks them.

mod init;
pub mod pins;
pub mod program;
pub(super) mod setup;
mod userns;

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigmaskHow, sigprocmask};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, setsid};

use super::cgroup::jail::{self as jail_cgroup, JailCgroup};
use super::exec::relay;
use super::protocol::{self, Go, InitReport, Receiver, Sender, Spawned};
use super::state::{self, Phase, ProcId, RunState};
use super::{
    NAMESPACES, caps, idmap, net, own_network, seccomp, sys, to_json_map, user_namespace_base,
    wait_exit,
};
use crate::backend::mounts;
use crate::error::{Error, OsContext, Result};
use crate::model::Jail;
use crate::paths::Paths;

/// What keeps a jail this process just created alive whatever its
/// `persist`: the open `go` channel to its init (closed by [`settle`], or
/// by the kernel if this process dies).
#[derive(Debug)]
pub(super) struct Hold {
    go: Sender<Go>,
    report: Receiver<InitReport>,
    init: OwnedFd,
    persist: bool,
}

/// What a start needs that is known before anything is made: worked out
/// first, so that a definition that cannot start makes nothing.
#[derive(Debug)]
struct Start {
    /// What the init sets up in the jail's namespaces.
    plan: setup::Plan,
    persist: bool,
    /// What the jail's network needs from the host.
    network: Option<net::Plan>,
    /// The namespaces the jail gets.
    flags: CloneFlags,
    /// The ones pinned in the holder: all but mnt.
    held: Vec<&'static str>,
    /// The jail's user namespace, when it has one.
    ids: Option<userns::Ids>,
}

impl Start {
    fn of(def: &Jail) -> Result<Self> {
        let root = crate::backend::root_of(def)?;
        let params = &def.params;
        let network = net::plan(def)?;
        let own_network = own_network(params);
        let mut flags = NAMESPACES
            .iter()
            .fold(CloneFlags::empty(), |all, (_, f)| all | *f);
        let mut held: Vec<&'static str> = NAMESPACES
            .iter()
            .map(|(ns, _)| *ns)
            .filter(|ns| *ns != "mnt")
            .collect();
        if own_network {
            flags |= CloneFlags::CLONE_NEWNET;
            held.push("net");
        }
        let mut mounts = mounts::planned(def, &root)?;
        let ids = user_namespace_base(params).map(|base| {
            let (host_mounts, others) = mounts.drain(..).partition(userns::needs_host);
            mounts = others;
            held.push("user");
            userns::Ids { base, host_mounts }
        });
        let mut plan = setup::Plan {
            root: root.clone(),
            hostname: params.str("host.hostname").map(str::to_string),
            mounts,
            user_ns: ids.is_some(),
            devfs: params.flag("mount.devfs"),
            procfs: params.flag("mount.procfs"),
            own_network,
            caps: caps::keep_mask(params, own_network),
            last_cap: caps::last_cap(),
            terminals_out_of_reach: false,
        };
        plan.terminals_out_of_reach = setup::terminals_out_of_reach(
            &plan,
            ids.iter().flat_map(|ids| &ids.host_mounts),
            seccomp::kernel_guards_terminals(),
        );
        Ok(Start {
            plan,
            persist: params.flag("persist"),
            network,
            flags,
            held,
            ids,
        })
    }
}

/// Create the jail `def` with jid `jid` and hold it (see [`Hold`]):
/// returns its running state and the hold.
pub(super) fn create(paths: &Paths, def: &Jail, jid: i64) -> Result<(RunState, Hold)> {
    let name = &def.name;
    let start = Start::of(def)?;
    if let Some(ids) = &start.ids {
        idmap::confirm(paths, name, ids.base)?;
    }
    let mut st = RunState {
        name: name.clone(),
        jid,
        phase: Phase::Starting,
        owner: ProcId::current(),
        init: None,
        params: to_json_map(&def.params),
    };
    state::write(paths, &st)?;
    let cgroup = jail_cgroup::prepare(paths, def, &start.plan.root)?;
    let holder = pins::holder(paths)?;
    let mut spawned = spawn(paths, name, &start, &cgroup.record, &holder)?;
    // Recorded with the running phase below: until then a kill of this
    // jmk ends the init (it reads the end of `go`), and clean() finds the
    // rest by the jail's name (cgroup, pins).
    st.init = ProcId::of(spawned.init_pid);
    if cgroup.writes_limits() {
        // A process limit counts the namespace process until it is gone.
        spawned.maker.reap();
    }
    cgroup.finish()?;
    let init = sys::pidfd_open(Pid::from_raw(spawned.init_pid)).what(|| "pidfd_open".into())?;
    await_setup(name, &spawned.report, &init)?;
    if let Some(e) = spawned.pin_failure {
        return Err(e.context(&format!("{name}: pin namespaces")));
    }
    pins::pin_mount_ns(paths, name, spawned.init_pid)?;
    if let Some(plan) = &start.network {
        if let Err(e) = net::attach(paths, name, jid, plan, spawned.init_pid) {
            // Without "go" the init ends the jail; clean() then undoes
            // what attach recorded.
            drop(spawned.go);
            wait_exit(&init, Duration::from_secs(10));
            return Err(e);
        }
    }
    st.phase = Phase::Running;
    state::write(paths, &st)?;
    spawned
        .go
        .send(&Go)
        .what(|| format!("{name}: signal init"))?;
    let hold = Hold {
        go: spawned.go,
        report: spawned.report,
        init,
        persist: start.persist,
    };
    Ok((st, hold))
}

/// Let the jail of `hold` live by its own `persist`: close `go` and hear
/// from the init whether the jail lives on; when it does not, wait for the
/// init to end. Returns whether the jail lives.
pub(super) fn settle(hold: Hold) -> bool {
    let Hold {
        go,
        report,
        init,
        persist,
    } = hold;
    drop(go);
    if persist {
        // A persistent jail lives on, empty or not, until it is stopped
        // (which waits for this process's jail lock): the init's answer
        // is known, and waiting for it would add two wake-ups between
        // processes to every start. Its own end is seen without waiting.
        return !wait_exit(&init, Duration::ZERO);
    }
    let alive = matches!(report.recv(), Ok(Some(InitReport::Live)));
    if !alive {
        wait_exit(&init, Duration::from_secs(10));
    }
    alive
}

/// The jail's init as the namespace process left it: its pid, why its
/// namespaces are not pinned (if they are not), and jmk's ends of the
/// init's channels; and the namespace process, ending.
struct ForkedInit {
    init_pid: i32,
    pin_failure: Option<Error>,
    report: Receiver<InitReport>,
    go: Sender<Go>,
    maker: Ending,
}

/// The namespace process once it has reported: its exit tears staging
/// down (a copy of the host's mount table, unmounted after an RCU grace
/// period), which need not delay the start: unless a process limit needs
/// it gone, it is reaped at the end if it has ended by then, and is
/// otherwise left to the reaper of jmk's orphans.
struct Ending(Option<Pid>);

impl Ending {
    /// Wait for the process to end (once).
    fn reap(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = waitpid(pid, None);
        }
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        }
    }
}

/// Fork the namespace process (born in the jail's v2 cgroup where the
/// kernel can) and hear from it once it has ended.
fn spawn(
    paths: &Paths,
    name: &str,
    start: &Start,
    cgroup: &JailCgroup,
    holder: &fs::File,
) -> Result<ForkedInit> {
    let devnull = fs::File::open("/dev/null").what(|| "open /dev/null".into())?;
    let control =
        relay::listen_at(&paths.run_jail_dir(name)).what(|| format!("{name}: control socket"))?;
    let (spawn_tx, spawn_rx) = protocol::channel::<Spawned>().what(|| "pipe".into())?;
    let (report_tx, report_rx) = protocol::channel().what(|| "pipe".into())?;
    let (go_tx, go_rx) = protocol::channel().what(|| "pipe".into())?;
    let program = program::beside_current_exe();
    let v2_dir = cgroup.v2_dir();
    let (forked, born_inside) = sys::fork_in_cgroup(v2_dir.as_ref().map(|d| d.as_fd()));
    match forked.what(|| "fork".into())? {
        ForkResult::Child => {
            drop((spawn_rx, report_rx, go_tx));
            let init = init::Channels {
                report: report_tx,
                go: go_rx,
                devnull: devnull.into(),
                control,
                program,
            };
            let pinning = Pinning {
                holder,
                paths,
                name,
                kinds: &start.held,
            };
            let code = make_namespaces(start, spawn_tx, init, (cgroup, born_inside), &pinning);
            sys::exit_now(code);
        }
        ForkResult::Parent { child } => {
            drop((spawn_tx, report_tx, go_rx, control, program));
            let mut maker = Ending(Some(child));
            let failed = |e: Error| Err(e.context(&format!("{name}: create namespaces")));
            match spawn_rx.recv() {
                Ok(Some(Spawned::Init { pid, pin_failure })) => Ok(ForkedInit {
                    init_pid: pid,
                    pin_failure,
                    report: report_rx,
                    go: go_tx,
                    maker,
                }),
                Ok(Some(Spawned::Failed(e))) => failed(e),
                Ok(None) => {
                    maker.0 = None;
                    let status = waitpid(child, None).what(|| "wait".into())?;
                    failed(Error::Software(format!(
                        "the namespace process ended without a report ({status:?})"
                    )))
                }
                Err(e) => failed(Error::os("read the namespace process's report", e)),
            }
        }
    }
}

/// What the namespace process pins in the holder.
struct Pinning<'a> {
    holder: &'a fs::File,
    paths: &'a Paths,
    name: &'a str,
    kinds: &'a [&'a str],
}

/// The body of the namespace process: it joins the jail's cgroup first
/// (so the new cgroup namespace is rooted there); it cannot enter a new
/// pid namespace itself, so it forks the jail's init into it, pins the
/// init's namespaces in the holder while the init sets up, and tells jmk
/// on `spawn` (or why it could not) before it exits.
fn make_namespaces(
    start: &Start,
    spawn: Sender<Spawned>,
    init: init::Channels,
    (cgroup, born_inside): (&JailCgroup, bool),
    pinning: &Pinning,
) -> i32 {
    // With a user namespace, the init waits until its ids are mapped and
    // the host's mounts made, for the jail's root (`prepared` in the
    // protocol's START).
    let prepared_channel = match start.ids {
        Some(_) => match protocol::fd_channel() {
            Ok(c) => Some(c),
            Err(e) => return report_failure(&spawn, Error::os("socketpair", e)),
        },
        None => None,
    };
    let forked = cgroup
        .join_as_init(born_inside)
        .what(|| "join the jail's cgroup".into())
        .and_then(|()| {
            sigprocmask(SigmaskHow::SIG_BLOCK, Some(&init::handled_signals()), None)
                .what(|| "block the init's signals".into())
        })
        .and_then(|()| setsid().what(|| "setsid".into()))
        .map(|_| {
            // Only a mark: a kernel without checkpoint/restore refuses it,
            // and the jail starts unmarked there.
            let _ = sys::set_environ_block(program::ENVIRON.to_bytes_with_nul());
        })
        .and_then(|()| match start.ids {
            // Staging and the cgroup namespace first, owned by the host's
            // user namespace (see `userns`); then the others at once: the
            // user namespace is made first and owns them, while this
            // process keeps the host's privileges to map it, mount in
            // staging and pin them.
            Some(_) => unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWCGROUP)
                .what(|| "unshare".into())
                .and_then(|()| {
                    let owned = start.flags - CloneFlags::CLONE_NEWNS - CloneFlags::CLONE_NEWCGROUP;
                    sys::fork_into_namespaces(owned | CloneFlags::CLONE_NEWUSER)
                        .what(|| "clone the init into new namespaces".into())
                }),
            None => unshare(start.flags)
                .what(|| "unshare".into())
                .and_then(|()| sys::fork().what(|| "fork the init".into())),
        });
    // Staging, held until the report is sent (see below).
    let mut staging = None;
    let spawned = match forked {
        Ok(ForkResult::Child) => {
            drop(spawn);
            let root = match prepared_channel {
                Some((sender, receiver)) => {
                    drop(sender);
                    match receiver.recv() {
                        Ok(Some(root)) => Some(root),
                        _ => return 1,
                    }
                }
                None => None,
            };
            return init::main(&start.plan, start.persist, init, root);
        }
        Ok(ForkResult::Parent { child }) => {
            let prepared = match (&start.ids, prepared_channel) {
                (Some(ids), Some((sender, receiver))) => {
                    drop(receiver);
                    userns::prepare(child, &start.plan, ids).and_then(|root| {
                        // Held, staging ends with this process, after its
                        // report: the teardown of a copy of the host's
                        // mounts would otherwise fall to the init, as it
                        // leaves staging, before its setup.
                        staging = fs::File::open("/proc/self/ns/mnt").ok();
                        sender
                            .send(root.as_fd())
                            .what(|| "hand the jail's root to the init".into())?;
                        // The holder's peer of the jail's mounts (see
                        // `userns`), while the init sets up: staging lives
                        // on while this process is in it.
                        let peer = sys::open_tree_clone_of(root.as_fd())
                            .what(|| "clone the jail's mounts for the holder".into())?;
                        Ok(Some(peer))
                    })
                }
                _ => Ok(None),
            };
            if prepared.is_err() {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            }
            match prepared {
                Ok(peer) => Spawned::Init {
                    pid: child.as_raw(),
                    // Pinned while the init sets the jail up.
                    pin_failure: pins::pin_in_holder(
                        pinning.holder,
                        pinning.paths,
                        pinning.name,
                        child.as_raw(),
                        pinning.kinds,
                        peer.as_ref(),
                    )
                    .err(),
                },
                Err(e) => Spawned::Failed(e),
            }
        }
        Err(e) => Spawned::Failed(e),
    };
    let sent = spawn.send(&spawned);
    drop(staging);
    match sent {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// Tell jmk on `spawn` that the namespaces could not be made; the
/// namespace process's exit status.
fn report_failure(spawn: &Sender<Spawned>, e: Error) -> i32 {
    match spawn.send(&Spawned::Failed(e)) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// Hear from the init how the setup went; when it failed, let the init end
/// first.
fn await_setup(name: &str, report: &Receiver<InitReport>, init: &OwnedFd) -> Result<()> {
    let failure = match report.recv() {
        Ok(Some(InitReport::Ready)) => return Ok(()),
        Ok(Some(InitReport::SetupFailed(e))) => e,
        Ok(Some(other)) => Error::Software(format!("jail setup: the init said {other:?}")),
        Ok(None) => Error::Software("jail setup failed: the init ended without a report".into()),
        Err(e) => Error::os("jail setup: read the init's report", e),
    };
    wait_exit(init, Duration::from_secs(5));
    Err(failure.context(name))
}
