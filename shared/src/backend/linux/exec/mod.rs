//! jexec(8) on Linux: run a command inside a running jail.
//!
//! Every process of a jail descends from its init: so they share the
//! jail's Landlock domain (signals and abstract unix sockets only within
//! the jail, see [`super::landlock`]), its namespaces and its cgroups. jexec
//! asks the init, on its control socket ([`relay`]), to fork the command's
//! process: one packet
//! ([`Request::Spawn`](super::protocol::Request::Spawn)) carries the order (what to
//! run, as whom, with which rlimits, capabilities and filter: a memfd the
//! forked process reads, never the init), the sending end of a `failure`
//! channel and the command's standard descriptors, as `SCM_RIGHTS`. Those
//! are jexec's own where a reopen through `/proc/PID/fd` gains nothing,
//! pipes that jexec relays for host files and terminals, and, when stdin
//! is a terminal and jexec is interactive, a pseudo-terminal of the
//! jail's own that the command's process opens and sends back on a
//! `terminal` channel, and jexec relays to the caller's terminal
//! ([`stdio`]): no jail process ever holds a host terminal. The command's process makes itself
//! the command ([`command`]); the command is never in the caller's session
//! or process group (so a `kill(0)` in the jail reaches no process of the
//! host's).
//!
//! jexec waits for the statuses the init relays, passing the signals it
//! gets on through the init: those a process sends it, and, without a
//! pty, those its terminal sends its process group (^C, ^\\, a hangup, a
//! resize), which no longer reach the command directly. Then it reads the
//! close-on-exec `failure` channel, through which a failure before exec
//! comes back as jexec's message and status, and returns how the command
//! ended. If jexec dies first, its connection ends and the init kills the
//! command. The messages are EXEC in [`super::protocol`].

mod accounts;
mod command;
pub(super) mod inject;
pub(super) mod relay;
mod stdio;

use std::fs;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SigSet, SignalFd};

use super::cgroup::JailCgroup;
use super::protocol::{self, Failure, Order, Receiver, Status};
use super::state::{self, Phase};
use super::{caps, own_network, params_of, sys};
use crate::error::{Error, Result};
use crate::exec::Exit;
use crate::exec::{self, Credentials, ExecSpec};
use crate::paths::Paths;

/// The signals passed on to the command when jexec gets them (as the
/// command would get them if jexec had become it).
const FORWARDED: [Signal; 8] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGWINCH,
];

/// Run `spec` in the running jail `name` and wait for it.
pub fn run(paths: &Paths, name: &str, spec: &ExecSpec) -> Result<Exit> {
    run_if(paths, name, |s| s.phase != Phase::Starting, spec)?
        .ok_or_else(|| exec::failure(format!("jail \"{name}\" not found")))
}

/// Run `spec` in the jail `name` if its state is `accept`ed and its init
/// is alive, and wait for it; `None` if not.
pub fn run_if(
    paths: &Paths,
    name: &str,
    accept: impl Fn(&state::RunState) -> bool,
    spec: &ExecSpec,
) -> Result<Option<Exit>> {
    let Some(st) = state::read(paths, name)?.filter(|s| accept(s)) else {
        return Ok(None);
    };
    if !st.init.is_some_and(|init| init.alive()) {
        return Ok(None);
    }
    let order = order(paths, &st, spec)?;
    let control = relay::Control::spawning(&paths.run_jail_dir(name))
        .map_err(|e| attach_failure(st.jid, errno(&e)))?
        .ok_or_else(|| {
            exec::failure(format!(
                "jail \"{name}\" was started by an older jkit, whose init cannot run commands: restart it"
            ))
        })?;
    run_ordered(order, &control, spec.relay_terminal).map(Some)
}

/// The order for running `spec` in the jail `st` describes (without the
/// caller's signal mask and pty, which come once they are known).
fn order(paths: &Paths, st: &state::RunState, spec: &ExecSpec) -> Result<Order> {
    let params = params_of(st);
    let host_account = match &spec.credentials {
        Credentials::Host(a) | Credentials::Login(a) => Some(a.clone()),
        Credentials::Caller if spec.login => Some(exec::invoking_account()?),
        Credentials::Caller | Credentials::Jail(_) => None,
    };
    let rctl = JailCgroup::of(paths, &st.name)?;
    Ok(Order {
        jid: st.jid,
        spec: spec.clone(),
        env: std::env::vars_os().collect(),
        host_defs: match host_account {
            Some(_) => fs::read("/etc/login.defs").unwrap_or_default(),
            None => Vec::new(),
        },
        host_account,
        rlimits: rctl.rlimits,
        caps: caps::keep_mask(&params, own_network(&params)),
        bounding: caps::bounding_mask(&params, own_network(&params)),
        last_cap: caps::last_cap(),
        nested: params.int("children.max").unwrap_or(0) > 0,
        mask: 0,
        ignored: sys::ignored_signals(),
        pty: None,
    })
}

/// Have the jail's init (its `control` socket) fork the command of
/// `order`, and wait for it (EXEC in [`super::protocol`]).
fn run_ordered(mut order: Order, control: &relay::Control, relay_terminal: bool) -> Result<Exit> {
    let jid = order.jid;
    let attach = |e: std::io::Error| attach_failure(jid, errno(&e));
    let (failure_tx, failure_rx) = protocol::channel().map_err(|e| Error::os("pipe", e))?;
    let mut wait_for = SigSet::empty();
    for s in FORWARDED {
        wait_for.add(s);
    }
    // The caller's terminal goes into raw mode before the signals are
    // blocked (a jexec in the background stops there until brought back).
    let (for_command, relay) = stdio::prepare(relay_terminal)?;
    // SIGTTOU too: giving the caller's terminal its settings back must not
    // stop us; and SIGTTIN: a jexec in the background that relays its
    // terminal to the command's stdin pipe reads EIO there, which ends
    // that pipe, rather than stopping (neither is waited for, so not in
    // the fd).
    let mut block = wait_for;
    block.add(Signal::SIGTTOU);
    block.add(Signal::SIGTTIN);
    let blocked = Blocked::block(&block)?;
    order.mask = command::mask_bits(&blocked.caller);
    order.pty = for_command.pty().cloned();
    let memfd = protocol::order_memfd(&order).map_err(|e| Error::os("memfd", e))?;
    let conn = relay::unconnected().map_err(attach)?;
    control.connect(conn.as_fd()).map_err(attach)?;
    let mut passed = vec![memfd.as_fd(), failure_tx.as_fd()];
    passed.extend(for_command.passed());
    relay::request_spawn(conn.as_fd(), &passed).map_err(attach)?;
    // The command's ends of its descriptors are its own: a pipe's end
    // left here would keep it from ending.
    drop((failure_tx, for_command, memfd));
    // Wait first and read the failure after: the exec closes its channel,
    // so it holds a failure or nothing by then.
    let outcome = wait_relayed(conn.as_fd(), &wait_for, relay);
    match read_failure(failure_rx) {
        Some(e) => Err(e),
        None => outcome,
    }
}

/// What the command's process sent before exec, if anything (read once it
/// has ended: nothing means the exec happened).
fn read_failure(failure: Receiver<Failure>) -> Option<Error> {
    match failure.recv_left() {
        Ok(Some(Failure(e))) => Some(e),
        Ok(None) => None,
        Err(e) => Some(Error::os("read the command's failure", e)),
    }
}

/// Wait for the statuses the init relays on `conn` about the command,
/// pass on through the init the signals in `set` that this process gets,
/// and move the bytes of the `relay` meanwhile. With a pty the caller's
/// terminal is in raw mode and its keys reach the jail's pty as bytes, a
/// resize is copied to the pty, and a hangup is passed on as SIGHUP;
/// without one, the signals the terminal sends this process's group are
/// passed on like those a process sends.
fn wait_relayed(conn: BorrowedFd, set: &SigSet, relay: stdio::Relay) -> Result<Exit> {
    let signals = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::os("signalfd", e))?;
    let mut waiter = Waiter { conn, relay };
    let ended = waiter.relay.receive_terminal().and_then(|()| {
        loop {
            match waiter.round(&signals) {
                Ok(Some(exit)) => break Ok(exit),
                Ok(None) => waiter.sleep(&signals),
                Err(e) => break Err(e),
            }
        }
    });
    waiter.relay.finish();
    ended
}

/// What [`wait_relayed`] keeps between its rounds.
#[derive(Debug)]
struct Waiter<'a> {
    conn: BorrowedFd<'a>,
    relay: stdio::Relay,
}

impl Waiter<'_> {
    /// One round: the signals sent to this process, the statuses relayed;
    /// the command's ending once it came.
    fn round(&mut self, signals: &SignalFd) -> Result<Option<Exit>> {
        self.forward(signals)?;
        self.statuses()
    }

    /// Pass on the signals this process got; on a pty, copy a resize and
    /// pass a hangup on.
    fn forward(&mut self, signals: &SignalFd) -> Result<()> {
        loop {
            let info = match signals.read_signal() {
                Ok(Some(info)) => info,
                Ok(None) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::os("read signals", e)),
            };
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            let from_process = info.ssi_code <= 0;
            let interactive = self.relay.interactive();
            let pass_on = match sig {
                Signal::SIGWINCH if interactive => {
                    self.relay.resize();
                    false
                }
                Signal::SIGHUP => true,
                _ => from_process || !interactive,
            };
            if pass_on {
                // The terminal's own go to the command's whole job, as
                // they would have in the caller's process group.
                let group = !from_process && !interactive;
                relay::request_signal(self.conn, sig, group);
            }
        }
    }

    /// The statuses the init relayed so far: how the command ended, once
    /// it has.
    fn statuses(&self) -> Result<Option<Exit>> {
        loop {
            match relay::next_status(self.conn) {
                Ok(Some(Status::Exited(code))) => return Ok(Some(Exit::Code(i32::from(code)))),
                Ok(Some(Status::Signaled(sig))) => return Ok(Some(Exit::Signal(sig))),
                Ok(Some(Status::Stopped(_) | Status::Continued)) => {}
                Ok(None) => return Ok(None),
                // The init ended (the jail stopped) and took the command
                // with it, or could not fork it (its failure says why).
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(Some(Exit::Signal(Signal::SIGKILL as i32)));
                }
                Err(e) => return Err(Error::os("read from the jail's init", e)),
            }
        }
    }

    /// Wait for a signal, a status, or bytes to relay, and relay them.
    fn sleep(&mut self, signals: &SignalFd) {
        let mut fds = vec![
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.conn, PollFlags::POLLIN),
        ];
        let ours = fds.len();
        fds.extend(
            self.relay
                .watched()
                .into_iter()
                .map(|(fd, events)| PollFd::new(fd, events)),
        );
        let polled = poll(&mut fds, PollTimeout::NONE);
        let ready: Vec<PollFlags> = fds[ours..]
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        if polled.is_ok() {
            self.relay.transfer(&ready);
        }
    }
}

/// Signals blocked for jexec's wait; the caller's mask comes back on drop
/// (and the command starts with it, see [`Order::mask`]).
struct Blocked {
    caller: SigSet,
}

impl Blocked {
    fn block(set: &SigSet) -> Result<Self> {
        let mut caller = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(set), Some(&mut caller))
            .map_err(|e| Error::os("sigprocmask", e))?;
        Ok(Blocked { caller })
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.caller), None);
    }
}

/// jexec's failure to enter a jail: `jail_attach(JID): strerror`.
fn attach_failure(jid: i64, e: Errno) -> Error {
    exec::os_failure(format_args!("jail_attach({jid})"), e)
}

fn errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
