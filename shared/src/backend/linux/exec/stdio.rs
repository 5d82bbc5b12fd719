//! The command's standard descriptors, and jexec's relay behind them.
//!
//! Every jail process may reopen the command's descriptors through
//! `/proc/PID/fd/N`: a new open of the same file, with the access the
//! opener has there, not the access the descriptor gave (the jail's root
//! writes a host file the caller gave read-only, or truncates one given
//! for appending), and a terminal reopened so is the caller's own, to read
//! what the admin types and to write on the screen, even after jexec has
//! returned; a host terminal a jail holds could even become a jail
//! process's controlling terminal once the host's session on it ended,
//! and be typed into (`TIOCSTI`). So the command gets none of jexec's
//! standard descriptors but those a reopen gains nothing from, and never
//! a host terminal:
//!
//! - a pipe, a socket or /dev/null: passed as they are (most scripts);
//! - interactive, with stdin on a terminal: a pseudo-terminal of the
//!   jail's own for each of 0, 1, 2 on a terminal, as lxc-attach does. The
//!   command's process, which the jail's init forked, opens it (the
//!   jail's `/dev/ptmx`; a jail without one, without `mount.devfs`, gets a
//!   devpts instance of its own, mounted nowhere), leads a new session
//!   with it as its controlling terminal (the jail's shell has job
//!   control), and sends its master back (`terminal` in
//!   [`crate::backend::linux::protocol`]). jexec puts the caller's
//!   terminal in raw mode, relays between it and the master, and copies
//!   its window size at the start and on every SIGWINCH;
//! - anything else (a terminal when not interactive, a regular file, a
//!   device): a pipe that jexec relays, reading the file or terminal into
//!   it for stdin, writing what comes out through its own descriptor for
//!   stdout and stderr (so a file's access mode, offset and `O_APPEND`
//!   hold); stdout and stderr on one file or terminal share one pipe,
//!   which keeps their order.
//!
//! When the command has ended, jexec passes on what it left in the pipes
//! and the pty, and returns. A process it left behind that still writes
//! to a relayed file or terminal keeps a child of jexec's copying (outside
//! the jail, in a session of its own) until the last writer is gone, as it
//! would have kept the file; stdin's pipe closes with the command.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl, open, openat};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::sys::stat::{Mode, SFlag, fstat, major, minor};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use nix::unistd::{ForkResult, dup2_stderr, dup2_stdin, dup2_stdout, pipe2, read, setsid, write};

use crate::backend::linux::protocol::{self, PtyOrder, Terminal, TerminalReceiver, TerminalSender};
use crate::backend::linux::sys;
use crate::error::{Error, Result};
use crate::exec;

/// The most a relay moves in one read.
const CHUNK: usize = 64 * 1024;

/// jexec's standard descriptor `n` (0, 1 or 2).
fn standard(n: usize) -> BorrowedFd<'static> {
    sys::standard_fd(n as u8)
}

/// What one of jexec's standard descriptors is, for the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A pipe, a socket or /dev/null: a reopen gains nothing.
    Harmless,
    /// A terminal: its device number.
    Terminal(u64),
    /// Anything else: the file's device and inode.
    File(u64, u64),
}

fn kind_of(fd: BorrowedFd) -> Kind {
    let Ok(st) = fstat(fd) else {
        return Kind::Harmless;
    };
    let rdev = (major(st.st_rdev), minor(st.st_rdev));
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFIFO | SFlag::S_IFSOCK => Kind::Harmless,
        SFlag::S_IFCHR if tcgetattr(fd).is_ok() => Kind::Terminal(st.st_rdev),
        SFlag::S_IFCHR if rdev == (1, 3) => Kind::Harmless,
        _ => Kind::File(st.st_dev, st.st_ino),
    }
}

/// What the command gets as one standard descriptor.
#[derive(Debug)]
enum Given {
    /// jexec's own.
    Own,
    /// The pseudo-terminal's slave.
    Terminal,
    /// Its end of a pipe that jexec relays.
    Pipe(OwnedFd),
    /// What it has as stdout (stderr on the file of stdout).
    Stdout,
}

/// The command's side: what its process makes its standard descriptors,
/// inside the jail (it gets them from the jail's init with its order).
#[derive(Debug)]
pub(super) struct ForCommand {
    given: [Given; 3],
    /// Interactive: the pseudo-terminal to open, and the channel its
    /// master comes back on.
    pty: Option<(PtyOrder, TerminalSender)>,
}

/// jexec's side: the caller's terminal in raw mode, and the bytes to move
/// between jexec's standard descriptors and the command's.
#[derive(Debug, Default)]
pub(super) struct Relay {
    raw: Option<RawMode>,
    /// Where the pty's master comes from, until it has.
    master_back: Option<TerminalReceiver>,
    master: Option<OwnedFd>,
    /// jexec's stdin to the command.
    input: Option<Input>,
    /// The command's output to jexec's descriptors.
    outputs: Vec<Output>,
}

/// jexec's stdin to the command: into a pipe, or the pty's master.
#[derive(Debug)]
struct Input {
    /// The pipe the command reads (`None`: the pty's master).
    pipe: Option<OwnedFd>,
    /// Read, not written yet.
    pending: Vec<u8>,
}

/// The command's output to one of jexec's descriptors.
#[derive(Debug)]
struct Output {
    /// The pipe the command writes (`None`: the pty's master).
    pipe: Option<OwnedFd>,
    to: BorrowedFd<'static>,
    /// Whether `to` is a terminal: what cannot be written there (it hung
    /// up) is dropped, as a hung-up terminal takes it, rather than ending
    /// the pipe, whose writers would then die of SIGPIPE.
    to_terminal: bool,
    ended: bool,
}

/// Which relay a watched descriptor serves.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Input,
    Output(usize),
}

/// The two sides for jexec's standard descriptors as they are now. With
/// stdin on a terminal, that terminal goes into raw mode here: before
/// jexec blocks its signals, so a jexec in the background stops here
/// (SIGTTOU) until it is brought to the foreground, as any program that
/// takes its terminal over does.
pub(super) fn prepare(relay_terminal: bool) -> Result<(ForCommand, Relay)> {
    let kinds = [0, 1, 2].map(|n| kind_of(standard(n)));
    let interactive = relay_terminal && is_terminal(kinds[0]);
    let mut relay = Relay::default();
    let mut pty = None;
    if interactive {
        let stdin = standard(0);
        let settings = tcgetattr(stdin).map_err(|e| exec::os_failure("tcgetattr", e))?;
        let size =
            sys::window_size(stdin).map_err(|e| exec::os_failure("tcgetwinsize", errno(&e)))?;
        relay.raw = Some(RawMode::enter(&settings)?);
        let (back, master_back) =
            protocol::terminal_channel().map_err(|e| Error::os("socketpair", e))?;
        let slots = [0, 1, 2].map(|n| is_terminal(kinds[n]));
        let size = [size.ws_row, size.ws_col, size.ws_xpixel, size.ws_ypixel];
        pty = Some((
            PtyOrder {
                settings: termios_order(&settings),
                size,
                slots,
            },
            back,
        ));
        relay.master_back = Some(master_back);
        relay.input = Some(Input {
            pipe: None,
            pending: Vec::new(),
        });
        // The pty's output is for the caller's screen: stdout when it is a
        // terminal, else stderr, else stdin's terminal.
        let screen = [1, 2]
            .into_iter()
            .find(|&n| is_terminal(kinds[n]))
            .unwrap_or(0);
        relay.outputs.push(Output {
            pipe: None,
            to: standard(screen),
            to_terminal: true,
            ended: false,
        });
    }
    let mut given = [Given::Own, Given::Own, Given::Own];
    for (n, kind) in kinds.iter().enumerate() {
        given[n] = match kind {
            Kind::Harmless => Given::Own,
            Kind::Terminal(_) if interactive => Given::Terminal,
            // One file or terminal for both: one pipe, in the order written.
            _ if n == 2 && kinds[1] == kinds[2] => Given::Stdout,
            Kind::Terminal(_) | Kind::File(..) => {
                let (read_end, write_end) =
                    pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::os("pipe", e))?;
                if n == 0 {
                    set_nonblocking(&write_end)?;
                    relay.input = Some(Input {
                        pipe: Some(write_end),
                        pending: Vec::new(),
                    });
                    Given::Pipe(read_end)
                } else {
                    set_nonblocking(&read_end)?;
                    relay.outputs.push(Output {
                        pipe: Some(read_end),
                        to: standard(n),
                        to_terminal: is_terminal(*kind),
                        ended: false,
                    });
                    Given::Pipe(write_end)
                }
            }
        };
    }
    Ok((ForCommand { given, pty }, relay))
}

fn is_terminal(kind: Kind) -> bool {
    matches!(kind, Kind::Terminal(_))
}

fn set_nonblocking(fd: &OwnedFd) -> Result<()> {
    fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map(drop)
        .map_err(|e| Error::os("fcntl", e))
}

fn errno(e: &io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

impl ForCommand {
    /// What the command's process makes of the pseudo-terminal, if it
    /// gets one.
    pub(super) fn pty(&self) -> Option<&PtyOrder> {
        self.pty.as_ref().map(|(order, _)| order)
    }

    /// The descriptors the command's process gets (after the order and
    /// the failure channel, see [`protocol::SpawnFds`]): its standard
    /// descriptors but the pty's, then the `terminal` channel's end.
    pub(super) fn passed(&self) -> Vec<BorrowedFd<'_>> {
        let mut fds = Vec::new();
        for (n, given) in self.given.iter().enumerate() {
            let fd = match given {
                Given::Own => standard(n),
                Given::Terminal => continue,
                Given::Pipe(end) => end.as_fd(),
                Given::Stdout => match &self.given[1] {
                    Given::Pipe(end) => end.as_fd(),
                    _ => standard(1),
                },
            };
            fds.push(fd);
        }
        fds.extend(self.pty.as_ref().map(|(_, back)| back.as_fd()));
        fds
    }
}

/// In the command's process (forked by the jail's init, in the jail's
/// namespaces, still holding its capabilities: a devpts of its own needs
/// CAP_SYS_ADMIN): make `passed` (see [`ForCommand::passed`]) its
/// standard descriptors, and with a `pty` order the pseudo-terminal, in a
/// session of its own with it as the controlling terminal, its master
/// sent back on the `terminal` channel's end passed last.
pub(super) fn install(pty: Option<&PtyOrder>, passed: Vec<OwnedFd>) -> Result<()> {
    let slots = pty.map_or([false; 3], |p| p.slots);
    let wanted = slots.iter().filter(|s| !**s).count() + usize::from(pty.is_some());
    if passed.len() != wanted {
        return Err(Error::Software(format!(
            "the jail's init passed {} descriptors for {wanted}",
            passed.len()
        )));
    }
    let mut passed = passed.into_iter();
    let slave = match pty {
        Some(p) => {
            let back = passed.next_back().map(TerminalSender::from);
            Some(open_pty(p, back)?)
        }
        None => None,
    };
    for (n, on_pty) in slots.into_iter().enumerate() {
        let fd = match (&slave, on_pty) {
            (Some(s), true) => s.try_clone(),
            _ => passed.next().ok_or(io::ErrorKind::NotFound.into()),
        }
        .map_err(|e| exec::os_failure("dup", errno(&e)))?;
        let done = match n {
            0 => dup2_stdin(&fd),
            1 => dup2_stdout(&fd),
            _ => dup2_stderr(&fd),
        };
        done.map_err(|e| exec::os_failure("dup2", e))?;
    }
    Ok(())
}

/// Open the jail's pseudo-terminal as `order` says, make it this
/// process's controlling terminal in a new session, and send its master
/// on `back`; returns the slave.
fn open_pty(order: &PtyOrder, back: Option<TerminalSender>) -> Result<OwnedFd> {
    let fail = |e: Errno| exec::os_failure("a terminal in the jail", e);
    let back = back.ok_or_else(|| fail(Errno::EBADF))?;
    // First: a session of its own, which the terminal can belong to.
    setsid().map_err(fail)?;
    let master = jail_ptmx().map_err(fail)?;
    let slave = sys::open_pty_slave(master.as_fd()).map_err(|e| fail(errno(&e)))?;
    let settings = termios_of(&order.settings).ok_or_else(|| fail(Errno::EINVAL))?;
    tcsetattr(&slave, SetArg::TCSANOW, &settings).map_err(fail)?;
    let [ws_row, ws_col, ws_xpixel, ws_ypixel] = order.size;
    let size = libc::winsize {
        ws_row,
        ws_col,
        ws_xpixel,
        ws_ypixel,
    };
    sys::set_window_size(slave.as_fd(), &size).map_err(|e| fail(errno(&e)))?;
    sys::set_controlling_terminal(slave.as_fd()).map_err(|e| fail(errno(&e)))?;
    back.send(&Terminal(master)).map_err(|e| fail(errno(&e)))?;
    Ok(slave)
}

/// A terminal's settings as an order carries them.
fn termios_order(t: &Termios) -> protocol::Termios {
    let raw = libc::termios::from(t.clone());
    protocol::Termios {
        flags: [raw.c_iflag, raw.c_oflag, raw.c_cflag, raw.c_lflag],
        line: raw.c_line,
        cc: raw.c_cc.to_vec(),
        #[cfg(target_env = "musl")]
        speeds: [raw.__c_ispeed, raw.__c_ospeed],
        #[cfg(not(target_env = "musl"))]
        speeds: [raw.c_ispeed, raw.c_ospeed],
    }
}

/// The settings an order carries; `None` for a `c_cc` of another size.
fn termios_of(t: &protocol::Termios) -> Option<Termios> {
    let [c_iflag, c_oflag, c_cflag, c_lflag] = t.flags;
    let [c_ispeed, c_ospeed] = t.speeds;
    Some(Termios::from(libc::termios {
        c_iflag,
        c_oflag,
        c_cflag,
        c_lflag,
        c_line: t.line,
        c_cc: t.cc.as_slice().try_into().ok()?,
        #[cfg(target_env = "musl")]
        __c_ispeed: c_ispeed,
        #[cfg(target_env = "musl")]
        __c_ospeed: c_ospeed,
        #[cfg(not(target_env = "musl"))]
        c_ispeed,
        #[cfg(not(target_env = "musl"))]
        c_ospeed,
    }))
}

/// The pty multiplexer's device number (char 5:2), which allocates a new
/// pair in the devpts instance beside it.
const PTMX: (u64, u64) = (5, 2);

/// The master of a new pseudo-terminal of the jail (this process is in
/// its mount namespace, whose root is the jail's root): from the jail's
/// `/dev/ptmx` when that is the pty multiplexer (whatever the jail made of
/// the path, it resolves inside the jail), else from a devpts instance of
/// its own, mounted nowhere.
fn jail_ptmx() -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    if let Ok(fd) = open("/dev/ptmx", flags, Mode::empty()) {
        let is_ptmx = fstat(&fd).is_ok_and(|st| {
            st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFCHR.bits()
                && (major(st.st_rdev), minor(st.st_rdev)) == PTMX
        });
        if is_ptmx {
            return Ok(fd);
        }
    }
    let devpts = sys::unattached_devpts().map_err(|e| errno(&e))?;
    openat(&devpts, "ptmx", flags, Mode::empty())
}

impl Relay {
    /// Interactive: wait for the pty's master from the command's process.
    /// Without one (the process failed first, and says why on its failure
    /// channel) there is nothing to relay to.
    pub(super) fn receive_terminal(&mut self) -> Result<()> {
        let Some(back) = self.master_back.take() else {
            return Ok(());
        };
        match back.recv() {
            Ok(Some(Terminal(master))) => {
                set_nonblocking(&master)?;
                self.master = Some(master);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(Error::os("receive the jail's terminal", e)),
        }
    }

    /// Whether the command runs on a pseudo-terminal of the jail.
    pub(super) fn interactive(&self) -> bool {
        self.raw.is_some()
    }

    /// The caller's terminal may have changed size (SIGWINCH): give the
    /// pty the same (the kernel signals the jail's foreground group when
    /// that changes it).
    pub(super) fn resize(&self) {
        if let (Some(_), Some(master)) = (&self.raw, &self.master) {
            if let Ok(size) = sys::window_size(standard(0)) {
                let _ = sys::set_window_size(master.as_fd(), &size);
            }
        }
    }

    /// The descriptors to wait on, and what for.
    pub(super) fn watched(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        self.slots().into_iter().map(|(_, fd, f)| (fd, f)).collect()
    }

    fn slots(&self) -> Vec<(Slot, BorrowedFd<'_>, PollFlags)> {
        let mut w = Vec::new();
        if let Some(input) = &self.input {
            if input.pending.is_empty() {
                w.push((Slot::Input, standard(0), PollFlags::POLLIN));
            } else if let Some(sink) = input.pipe.as_ref().or(self.master.as_ref()) {
                w.push((Slot::Input, sink.as_fd(), PollFlags::POLLOUT));
            }
        }
        for (i, out) in self.outputs.iter().enumerate() {
            if let Some(source) = out.pipe.as_ref().or(self.master.as_ref()) {
                if !out.ended {
                    w.push((Slot::Output(i), source.as_fd(), PollFlags::POLLIN));
                }
            }
        }
        w
    }

    /// Move what is ready, given the events poll found on [`Relay::watched`]
    /// (in its order).
    pub(super) fn transfer(&mut self, ready: &[PollFlags]) {
        let slots: Vec<Slot> = self.slots().into_iter().map(|(s, ..)| s).collect();
        for (slot, events) in slots.into_iter().zip(ready) {
            if events.is_empty() {
                continue;
            }
            match slot {
                Slot::Input => self.pump_input(),
                Slot::Output(i) => self.pump_output(i, false),
            }
        }
    }

    /// jexec's stdin to the command: read when nothing is pending, then
    /// write what is. An end of stdin (or a hangup) ends the command's
    /// stdin pipe.
    fn pump_input(&mut self) {
        let Some(input) = &mut self.input else {
            return;
        };
        if input.pending.is_empty() {
            let mut buf = vec![0u8; CHUNK];
            match read(standard(0), &mut buf) {
                Ok(0) => {
                    self.input = None;
                    return;
                }
                Ok(n) => {
                    buf.truncate(n);
                    input.pending = buf;
                }
                Err(Errno::EINTR | Errno::EAGAIN) => return,
                Err(_) => {
                    self.input = None;
                    return;
                }
            }
        }
        let Some(sink) = input.pipe.as_ref().or(self.master.as_ref()) else {
            return;
        };
        match write(sink, &input.pending) {
            Ok(n) => {
                input.pending.drain(..n);
            }
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            // The command no longer reads it.
            Err(_) => self.input = None,
        }
    }

    /// The command's output `i` to jexec's descriptor: one read, or every
    /// read there is (`all`). An end of the pipe (every writer gone), or
    /// of the pty (every slave closed), ends it; so does a pipe whose
    /// bytes cannot be written on a file (the command then gets EPIPE, as
    /// from the descriptor itself), while output for a terminal is dropped
    /// instead.
    fn pump_output(&mut self, i: usize, all: bool) {
        let out = &mut self.outputs[i];
        let Some(source) = out.pipe.as_ref().or(self.master.as_ref()) else {
            return;
        };
        let mut buf = vec![0u8; CHUNK];
        loop {
            match read(source, &mut buf) {
                Ok(0) => out.ended = true,
                Ok(n) => {
                    if write_all(out.to, &buf[..n]).is_err() && !out.to_terminal {
                        out.ended = true;
                    } else if all {
                        continue;
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {}
                Err(_) => out.ended = true,
            }
            break;
        }
        if out.ended {
            out.pipe = None;
        }
    }

    /// The command has ended: pass on what it left in the pipes and the
    /// pty (a read of the master first pushes what the pty still holds),
    /// close its stdin, hand the pipes still written by processes it left
    /// behind to a child that copies on, and give the caller's terminal
    /// its settings back.
    pub(super) fn finish(mut self) {
        for i in 0..self.outputs.len() {
            self.pump_output(i, true);
        }
        drop(self.input.take());
        let written: Vec<Output> = self
            .outputs
            .drain(..)
            .filter(|o| o.pipe.as_ref().is_some_and(still_written))
            .collect();
        if !written.is_empty() {
            keep_copying(written);
        }
        drop(self.master.take());
        drop(self.raw.take());
    }
}

/// Whether some process still holds the write end of `pipe` (drained): a
/// pipe without writers polls as hung up.
fn still_written(pipe: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
    let polled = poll(&mut fds, PollTimeout::ZERO);
    polled.is_ok()
        && !fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLHUP))
}

/// Copy the `outputs` on in a child of this process until their last
/// writers are gone: a process the command left behind keeps writing its
/// file, as it would without the relay. The child leaves the caller's
/// session and job, takes the default signal mask, and keeps nothing else
/// of this process's (its other standard descriptors become /dev/null: a
/// reader of a pipe there must not wait for it); if it cannot be forked,
/// those writers get EPIPE.
fn keep_copying(outputs: Vec<Output>) {
    if let Ok(ForkResult::Child) = sys::fork() {
        let _ = setsid();
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
        if let Ok(null) = open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) {
            let written = |n: RawFd| outputs.iter().any(|o| o.to.as_raw_fd() == n);
            if !written(0) {
                let _ = dup2_stdin(&null);
            }
            if !written(1) {
                let _ = dup2_stdout(&null);
            }
            if !written(2) {
                let _ = dup2_stderr(&null);
            }
        }
        let keep: Vec<RawFd> = outputs
            .iter()
            .filter_map(|o| o.pipe.as_ref().map(AsRawFd::as_raw_fd))
            .collect();
        let _ = sys::close_fds_from(3, &keep);
        let mut relay = Relay {
            outputs,
            ..Relay::default()
        };
        while !relay.outputs.is_empty() {
            let ready: Vec<PollFlags> = {
                let mut fds: Vec<PollFd> = relay
                    .watched()
                    .into_iter()
                    .map(|(fd, f)| PollFd::new(fd, f))
                    .collect();
                if poll(&mut fds, PollTimeout::NONE).is_err() {
                    continue;
                }
                fds.iter()
                    .map(|f| f.revents().unwrap_or(PollFlags::empty()))
                    .collect()
            };
            relay.transfer(&ready);
            relay.outputs.retain(|o| !o.ended);
        }
        sys::exit_now(0);
    }
}

/// Write all of `bytes` on `fd`, waiting for room if it does not block.
fn write_all(fd: BorrowedFd, mut bytes: &[u8]) -> nix::Result<()> {
    while !bytes.is_empty() {
        match write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                poll(&mut fds, PollTimeout::NONE)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The caller's terminal in raw mode: every byte reaches the jail's pty
/// as typed (^C, ^Z and ^D included: the jail's line discipline makes
/// them signals and ends), and its output is shown as it comes. Its
/// settings come back on drop.
#[derive(Debug)]
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter(saved: &Termios) -> Result<Self> {
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(standard(0), SetArg::TCSADRAIN, &raw)
            .map_err(|e| exec::os_failure("tcsetattr", e))?;
        Ok(RawMode {
            saved: saved.clone(),
        })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(standard(0), SetArg::TCSADRAIN, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

    #[test]
    fn only_pipes_sockets_and_dev_null_pass_as_they_are() {
        let (r, w) = pipe2(OFlag::O_CLOEXEC).unwrap();
        assert_eq!(kind_of(r.as_fd()), Kind::Harmless);
        assert_eq!(kind_of(w.as_fd()), Kind::Harmless);
        let (a, _b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        assert_eq!(kind_of(a.as_fd()), Kind::Harmless);
        let null = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(kind_of(null.as_fd()), Kind::Harmless);
        // Another device, and regular files: relayed; one file twice is
        // one file (stdout and stderr then share a pipe).
        let zero = std::fs::File::open("/dev/zero").unwrap();
        assert!(matches!(kind_of(zero.as_fd()), Kind::File(..)));
        let dir = std::env::temp_dir().join(format!("jkit-stdio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (one, other) = (dir.join("one"), dir.join("other"));
        std::fs::write(&one, "").unwrap();
        std::fs::write(&other, "").unwrap();
        let open = |p: &std::path::Path| kind_of(std::fs::File::open(p).unwrap().as_fd());
        assert!(matches!(open(&one), Kind::File(..)));
        assert_eq!(open(&one), open(&one));
        assert_ne!(open(&one), open(&other));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_terminal_is_a_terminal() {
        let pty = nix::pty::openpty(None, None).unwrap();
        assert!(is_terminal(kind_of(pty.slave.as_fd())));
    }
}
