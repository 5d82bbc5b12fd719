//! The jail's init: pid 1 of its pid namespace. It sets the jail up, tells
//! jmk, and then only reaps children and keeps the namespace usable, so a
//! persistent jail lives on with no daemon anywhere. It ends the jail when
//! the jail is empty and not persistent (once `command` has finished), or
//! when the host asks it to stop.
//!
//! Protocol with jmk, one line per message on `report`: `ready` or
//! `error MESSAGE` after setup; then, once jmk closes `go` (the command
//! finished, or there was none), `end` if the jail ends or `live` if it
//! lives on.
//!
//! The init also serves the jail's control socket ([`crate::backend::linux::exec::relay`]): the
//! commands jexec enters become its children, and it relays their wait
//! statuses to jexec.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::{SfdFlags, SigSet, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, dup2_stderr, dup2_stdin, dup2_stdout};

use super::setup::{self, Plan};
use crate::backend::linux::exec::relay::Server;
use crate::backend::linux::sys;

/// The signals init handles; the caller blocks them before forking it.
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
    /// Write end: init → jmk.
    pub report: OwnedFd,
    /// Read end: jmk → init; closed by jmk when init may settle.
    pub go: OwnedFd,
    /// The host's /dev/null, for init's own stdio.
    pub devnull: OwnedFd,
    /// The listening control socket (see [`crate::backend::linux::exec::relay`]).
    pub control: OwnedFd,
}

/// Run as the jail's pid 1; returns the exit status.
pub fn main(plan: &Plan, persist: bool, ch: Channels) -> i32 {
    // Jail processes must not read init's memory or /proc/1/exe (the host
    // binary).
    if nix::sys::prctl::set_dumpable(false).is_err() {
        return 1;
    }
    // What `ps` in the jail shows as pid 1 (it was forked from jmk).
    let _ = nix::sys::prctl::set_name(c"jkit-init");
    // Init never holds the caller's terminal or pipes.
    if dup2_stdin(&ch.devnull).is_err()
        || dup2_stdout(&ch.devnull).is_err()
        || dup2_stderr(&ch.devnull).is_err()
    {
        return 1;
    }
    let keep = [
        ch.report.as_raw_fd(),
        ch.go.as_raw_fd(),
        ch.control.as_raw_fd(),
    ];
    if sys::close_fds_from(3, &keep).is_err() {
        return 1;
    }
    let mut report = std::fs::File::from(ch.report);
    if let Err(e) = setup::run(plan) {
        let msg = e.to_string().replace('\n', " ");
        let _ = writeln!(report, "error {msg}");
        return 1;
    }
    if writeln!(report, "ready").is_err() {
        return 1;
    }
    let mut go = std::fs::File::from(ch.go);
    let mut word = [0u8; 3];
    // jmk writes "go\n" once the jail is recorded; EOF means jmk died.
    if go.read_exact(&mut word).is_err() || &word != b"go\n" {
        return 1;
    }
    let server = Server::new(ch.control);
    settle(persist, Some(go), Some(report), server)
}

fn settle(
    persist: bool,
    mut go: Option<std::fs::File>,
    mut report: Option<std::fs::File>,
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
        for status in statuses {
            server.deliver(status);
        }
        let command_pending = go.is_some();
        if jail_empty() && (stopping || (!persist && !command_pending)) {
            if let Some(mut r) = report.take() {
                let _ = writeln!(r, "end");
            }
            return 0;
        }
        if !command_pending && !stopping {
            if let Some(mut r) = report.take() {
                let _ = writeln!(r, "live");
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
            while let Ok(Some(info)) = signals.read_signal() {
                // Only the host (a sender outside this pid namespace, seen
                // as pid 0) may stop the jail through its init.
                if info.ssi_signo == Signal::SIGTERM as u32 && info.ssi_pid == 0 && !stopping {
                    stopping = true;
                    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
                }
            }
        }
        if go_ready {
            // Any data or EOF: the command has finished (or jmk is gone).
            go = None;
        }
    }
}

/// Reap every child that has ended; returns what happened to the
/// children (stops and continues too, for [`crate::backend::linux::exec::relay`]).
fn reap() -> Vec<WaitStatus> {
    let flags = WaitPidFlag::WNOHANG | WaitPidFlag::WUNTRACED | WaitPidFlag::WCONTINUED;
    let mut seen = Vec::new();
    while let Ok(status) = waitpid(Pid::from_raw(-1), Some(flags)) {
        if status == WaitStatus::StillAlive {
            break;
        }
        seen.push(status);
    }
    seen
}

/// Whether no process but init is left in the jail.
fn jail_empty() -> bool {
    kill(Pid::from_raw(-1), None) == Err(Errno::ESRCH)
}
