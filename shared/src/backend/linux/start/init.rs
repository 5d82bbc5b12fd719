//! The jail's init: pid 1 of its pid namespace. It sets the jail up, tells
//! jmk, and then only reaps children and keeps the namespace usable, so a
//! persistent jail lives on with no daemon anywhere. It ends the jail when
//! the jail is empty and not persistent (once `command` has finished), or
//! when the host asks it to stop (on the control socket, STOP in
//! [`crate::backend::linux::protocol`]).
//!
//! It tells jmk on `report` how the setup went, waits for jmk's `go`, and
//! once jmk closes `go` (the command finished, or there was none) tells
//! whether the jail lives on (START in
//! [`crate::backend::linux::protocol`]).
//!
//! Once set up, the init restricts itself with the jail's Landlock scopes
//! ([`crate::backend::linux::landlock`]): signals and abstract unix
//! sockets only within the jail. It sets no no_new_privs (setuid programs
//! in the jail keep working): it holds CAP_SYS_ADMIN in its user
//! namespace, and keeps its capabilities (only its bounding set is the
//! jail's) for the commands it forks, which need them until they exec.
//!
//! The init also serves the jail's control socket
//! ([`crate::backend::linux::exec::relay`]): it forks every command that
//! jexec, `exec.*` and `command=` run in the jail, in its Landlock domain
//! (one domain for the whole jail: a domain passes only from a process to
//! those it forks), and relays their wait statuses to jexec.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::{SfdFlags, SigSet, SignalFd};
use nix::unistd::{Pid, dup2_stderr, dup2_stdin, dup2_stdout};

use super::program;
use super::setup::{self, Plan};
use crate::backend::linux::exec::relay::Server;
use crate::backend::linux::landlock;
use crate::backend::linux::protocol::{Go, InitReport, Receiver, Sender, Status};
use crate::backend::linux::sys;
use crate::error::{OsContext, Result};

/// The signals the init takes through its signalfd (the caller blocks
/// them before forking it): SIGCHLD wakes it; the others, which would
/// end it when sent from the host, it ignores. No signal says who asked
/// for it (the jail can have the kernel send one, from pid 0, as the
/// host's seem): the host's stop comes on the control socket.
pub fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(s);
    }
    set
}

/// The descriptors init talks to jmk through.
#[derive(Debug)]
pub struct Channels {
    /// init → jmk.
    pub report: Sender<InitReport>,
    /// jmk → init; closed by jmk when init may settle.
    pub go: Receiver<Go>,
    /// The host's /dev/null, for init's own stdio.
    pub devnull: OwnedFd,
    /// The listening control socket (see [`crate::backend::linux::exec::relay`]).
    pub control: OwnedFd,
    /// The init's own program (see [`program`]), when jmk found it.
    pub program: Option<OwnedFd>,
}

/// Run as the jail's pid 1; returns the exit status. `root` is the jail's
/// root when the namespace process has made it (see [`setup::run`]).
pub fn main(plan: &Plan, persist: bool, ch: Channels, root: Option<OwnedFd>) -> i32 {
    let Channels {
        report,
        go,
        devnull,
        control,
        program,
    } = ch;
    // Opened while the host's /proc is still there (see `Server::new`).
    let oom_score = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/oom_score_adj")
        .ok();
    let mut keep = vec![report.as_raw_fd(), go.as_raw_fd(), control.as_raw_fd()];
    keep.extend(root.as_ref().map(|fd| fd.as_raw_fd()));
    keep.extend(oom_score.as_ref().map(|f| f.as_raw_fd()));
    keep.extend(program.as_ref().map(|fd| fd.as_raw_fd()));
    let setup = detach(&devnull, &keep)
        .and_then(|()| match program {
            // Before the setup drops the bounding set (see `program`).
            Some(_) => sys::set_inheritable_caps(true)
                .what(|| "keep the init's capabilities for its program".into()),
            None => Ok(()),
        })
        .and_then(|()| setup::run(plan, root))
        .and_then(|()| {
            landlock::scope_init()
                .map(drop)
                .what(|| "restrict the init with Landlock scopes".into())
        });
    let (ready, msg) = match setup {
        Ok(()) => (true, InitReport::Ready),
        Err(e) => (false, InitReport::SetupFailed(e)),
    };
    if report.send(&msg).is_err() || !ready {
        return 1;
    }
    // While jmk records the jail; nothing enters it before "go".
    if setup::detach_old_root().is_err() {
        return 1;
    }
    let served = Served {
        persist,
        terminals_out_of_reach: plan.terminals_out_of_reach,
        control,
        report,
        go,
        oom_score,
    };
    // Still while jmk records the jail, after the old root's detach as
    // before: the exec's teardown of this fork's copy of jmk's memory does
    // not overlap jmk's own at its exit, and jmk then writes to pages no
    // other process maps (no copy). Nothing but the init is in the jail
    // until it serves: the exec needs no guard against a jail process
    // that would ptrace it in between.
    let served = match program {
        Some(program) => program::exec(&program, served),
        None => served,
    };
    // The init is a fork of jmk (its program's exec failed or there is
    // none) and lives as long as the jail: what jmk's work left in its
    // heap and stack is of no more use.
    sys::release_unused_memory();
    served.serve()
}

/// What the init serves once the jail is set up: the control socket, the
/// channels to jmk, and how the jail ends.
#[derive(Debug)]
pub(super) struct Served {
    pub persist: bool,
    pub terminals_out_of_reach: bool,
    pub control: OwnedFd,
    pub report: Sender<InitReport>,
    pub go: Receiver<Go>,
    pub oom_score: Option<std::fs::File>,
}

impl Served {
    /// Once jmk has recorded the jail, serve it until it ends; returns the
    /// init's exit status.
    pub fn serve(self) -> i32 {
        // jmk sends "go" once the jail is recorded; the end of `go` first
        // means jmk died.
        if !matches!(self.go.recv(), Ok(Some(Go))) {
            return 1;
        }
        let server = Server::new(self.control, self.oom_score, self.terminals_out_of_reach);
        settle(self.persist, Some(self.go), Some(self.report), server)
    }
}

/// Keep the init apart from the host before the setup: jail processes
/// must not read its memory or /proc/1/exe (the host's binary), it never
/// holds the caller's terminal or pipes, and it keeps no descriptor but
/// `keep`.
fn detach(devnull: &OwnedFd, keep: &[std::os::fd::RawFd]) -> Result<()> {
    nix::sys::prctl::set_dumpable(false).what(|| "make the init undumpable".into())?;
    // What `ps` in the jail shows as pid 1 (it was forked from jmk).
    let _ = nix::sys::prctl::set_name(c"jkit-init");
    dup2_stdin(devnull)
        .and_then(|()| dup2_stdout(devnull))
        .and_then(|()| dup2_stderr(devnull))
        .what(|| "detach the init's stdio".into())?;
    sys::close_fds_from(3, keep).what(|| "close the init's other descriptors".into())
}

fn settle(
    persist: bool,
    mut go: Option<Receiver<Go>>,
    mut report: Option<Sender<InitReport>>,
    mut server: Server,
) -> i32 {
    let Ok(signals) = SignalFd::with_flags(
        &handled_signals(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    ) else {
        return 1;
    };
    let mut stopping = false;
    loop {
        // Statuses first, then the messages: a command's registration is
        // sent before it execs, so it is read before its end is relayed.
        let statuses = reap();
        server.drain();
        for (pid, status) in statuses {
            server.deliver(pid, status);
        }
        if server.stop_asked() && !stopping {
            stopping = true;
            let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
        }
        let command_pending = go.is_some();
        if jail_empty() && (stopping || (!persist && !command_pending)) {
            if let Some(r) = report.take() {
                let _ = r.send(&InitReport::End);
            }
            return 0;
        }
        if !command_pending && !stopping {
            if let Some(r) = report.take() {
                let _ = r.send(&InitReport::Live);
            }
        }
        let timeout = if stopping {
            PollTimeout::try_from(Duration::from_millis(20)).unwrap_or(PollTimeout::NONE)
        } else {
            PollTimeout::NONE
        };
        let (sig_ready, go_ready) = {
            let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            if let Some(g) = &go {
                fds.push(PollFd::new(g.as_fd(), PollFlags::POLLIN));
            }
            let go_at = fds.len() - 1;
            fds.extend(server.fds().map(|f| PollFd::new(f, PollFlags::POLLIN)));
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return 1,
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), go.is_some() && ready(&fds[go_at]))
        };
        if sig_ready {
            while let Ok(Some(_)) = signals.read_signal() {}
        }
        if go_ready {
            // Any data or EOF: the command has finished (or jmk is gone).
            go = None;
        }
    }
}

/// Reap every child that has ended; returns what happened to the
/// children (stops and continues too, for [`crate::backend::linux::exec::relay`]).
fn reap() -> Vec<(Pid, Status)> {
    let mut seen = Vec::new();
    while let Ok(Some((pid, raw))) = sys::wait_any_child() {
        if let Some(status) = Status::of_wait(raw) {
            seen.push((pid, status));
        }
    }
    seen
}

/// Whether no process but init is left in the jail.
fn jail_empty() -> bool {
    kill(Pid::from_raw(-1), None) == Err(Errno::ESRCH)
}
