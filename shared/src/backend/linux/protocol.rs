//! The one protocol of the Linux backend's parent-child exchanges: every
//! message that a process sends to a child it forked, to its parent or to
//! a jail's init is a type here, and is encoded and decoded here only.
//!
//! ```text
//! START  jmk start: Linux::create, then Linux::settle
//!
//!   jmk                        namespace process         init (pid 1 in the jail)
//!    | fork ------------------->| join the cgroup,
//!    |                          | setsid, unshare
//!    |                          | fork ------------------->| set the jail up
//!    |                          |  (with a user namespace: clone3 into all
//!    |                          |  namespaces; map the init's ids, bind the
//!    |                          |  root and the host's directories in its
//!    |                          |  mount namespace)
//!    |                          |--- prepared: the root -->| (a descriptor)
//!    |                          | pin the init's           |
//!    |                          | namespaces               |
//!    |<-- spawn ----------------|                          |
//!    |    Spawned::Init { pid, pin_failure }               |
//!    |    or Spawned::Failed(Error)                        |
//!    |                          x exits                    |
//!    |<-- report ------------------------------------------|
//!    |    InitReport::Ready or InitReport::SetupFailed(Error)
//!    | pin mnt, attach the network,                        |
//!    | record the jail as running                          |
//!    |--- go: Go ----------------------------------------->| serve the control
//!    |    (the jail's command runs: EXEC)                  | socket, reap
//!    |--- go: closed ------------------------------------->| settle
//!    |<-- report: InitReport::Live or InitReport::End -----|
//!    |    (read without `persist` only: a persistent jail  |
//!    |    lives until a stop, which waits for jmk's lock)  |
//!
//! EXEC  jexec-rs, and jmk's exec.* and command=: exec::run
//!
//!   jexec                                 init                  command's process
//!    | order: Order in a memfd             |                              |
//!    | connect --------------------------->| accept                       |
//!    |--- control: Request::Spawn -------->| fork ----------------------->| read the order;
//!    |    SCM_RIGHTS: the order, failure's |  (in the jail's namespaces,  | process group,
//!    |    sending end, stdio (SpawnFds)    |  cgroups, Landlock domain)   | rlimits, stdio,
//!    |                                     |                              | seccomp, caps,
//!    |                                     |                              | user steps; exec
//!    |--- control: Request::Signal(n) ---->| kill ----------------------->|
//!    |    or SignalGroup(n)                | (its group)                  |
//!    |<-- control: Status::Stopped, Continued, Exited or Signaled --------|
//!    |<-- failure: Failure(Error) ----------------------------------------| when the command
//!    |    (an exec closes it empty; the init sends one if it cannot fork)     cannot run
//!
//!   interactive (stdin a terminal), the terminal channel's end passed too:
//!    |<-- terminal: Terminal (SCM_RIGHTS) --------------------------------| a pty of the jail's
//!    |    the master, relayed to the caller's terminal (exec/stdio.rs)     devpts: its
//!    |                                                                      controlling terminal
//!    |                                                                      and fds 0, 1, 2
//!
//! STOP  jmk stop, and every removal of a running jail: Linux::terminate
//!
//!   jmk                                                  init
//!    | connect ------------------------------------------->| accept
//!    |--- control: Request::Stop ------------------------->| SIGTERM to every
//!    | wait up to stop.timeout for the init's end          | process, end once
//!    |                                                     x none is left
//!
//! HOLDER  the first start under a run directory: pins::holder
//!
//!   jmk                        child
//!    | fork ------------------->| unshare mnt, mount the pins' tmpfs
//!    |<-- made -----------------|
//!    |    Outcome::Done(()) or Outcome::Failed(Error)
//!    | bind /proc/CHILD/ns/mnt  |
//!    |--- pinned: closed ------>| exits
//!
//! USERNS  a user namespace for idmapped mounts: idmap::user_namespace
//!
//!   caller                     child (clone3 into a new user namespace)
//!    | write uid_map, gid_map   | waits
//!    | open /proc/CHILD/ns/user |
//!    |--- made: closed -------->| exits
//!
//! STEP  a task in a mount namespace (unpin, pinned, a mount into a
//!       running jail): pins::in_mount_ns
//!
//!   caller                     child
//!    | fork ------------------->| setns(mnt), the task
//!    |<-- done -----------------|
//!    |    Outcome::Done(output) or Outcome::Failed(Error)
//!    |                          x exits
//! ```
//!
//! A child's failure travels as the [`Error`] itself, class and text, so
//! the parent fails as the child did (a missing mount source is a failed
//! system call with its errno, not a configuration error).
//!
//! Each channel carries one message type, on a pipe ([`channel`]), on
//! the jail's control socket (`exec::relay`), in a memfd (the [`Order`]),
//! or, for the one message that carries a descriptor, on a socket pair
//! ([`terminal_channel`]). Closing says something too: `go` closed after
//! [`Go`] says the command has ended; `pinned` and USERNS's `made` are
//! [`gate`]s, whose closing is their only message.
//! `prepared` carries one descriptor on a socket pair ([`fd_channel`]);
//! closed without one, it says that the namespace process failed.
//!
//! Encoding: a body is a tag byte and the variant's fields; integers are
//! little endian, strings a `u32` length and their UTF-8 bytes, an
//! [`Error`] its class (tagged by its sysexits status) and what that class
//! holds. On a pipe a message is a frame, the body's `u32` length and the
//! body; on the control socket (`SOCK_SEQPACKET`, which keeps boundaries)
//! a packet is the body alone. Both ends of a pipe are one binary (a
//! fork), but the control socket outlives the binary that made it (a jail
//! started before an upgrade keeps its init), so its packets keep the
//! bytes they had: `K` and a signal; `S`; (new) `G` and a signal; `x`, `s`, `t` and a number, or
//! `c` and 0; `E` (a spawn) replaced `R` (a registration, of a command
//! forked from outside), which an init ignores now.

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::unistd::pipe2;

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use super::cgroup::limits::{Rlimit, RlimitKind};
use super::sys;
use crate::error::Error;
use crate::exec::{Account, Credentials, ExecSpec};

/// The namespace process → jmk (`spawn`), once, just before it exits.
#[derive(Debug)]
pub enum Spawned {
    /// The jail's init runs as `pid` (host numbering); pinning its
    /// namespaces in the holder failed with `pin_failure`, if it did.
    Init {
        /// The init's pid.
        pid: i32,
        /// Why its namespaces are not pinned.
        pin_failure: Option<Error>,
    },
    /// The namespaces could not be made.
    Failed(Error),
}

/// The jail's init → jmk (`report`).
#[derive(Debug)]
pub enum InitReport {
    /// The jail is set up.
    Ready,
    /// Setting the jail up failed; the init ends.
    SetupFailed(Error),
    /// Once `go` is closed: the jail lives on (persistent, or processes
    /// left).
    Live,
    /// Once `go` is closed: the jail ends with its init.
    End,
}

/// jmk → the jail's init (`go`): the jail is recorded as running; serve
/// it. jmk closes `go` once the jail's command has ended (or died itself).
#[derive(Debug, PartialEq, Eq)]
pub struct Go;

/// A forked child → its parent (`made`, `done`): how its one task went,
/// with what the task gives back.
#[derive(Debug)]
pub enum Outcome<T> {
    /// Done.
    Done(T),
    /// Failed.
    Failed(Error),
}

/// The command's process → jexec (`failure`): why it could not exec. The
/// exec closes the channel with nothing on it.
#[derive(Debug)]
pub struct Failure(pub Error);

/// jexec → the command's process, which the jail's init forks for it
/// (EXEC): what to run, and what the process makes of itself before it
/// execs. It travels in a memfd passed with [`Request::Spawn`] and is
/// read by the forked process, never by the init, so a large one (argv
/// and environment) or a client that never finishes writing costs the
/// init nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The jail's jid, for jexec's messages.
    pub jid: i64,
    /// What jexec was asked (its `relay_terminal` is jexec's own business
    /// and not sent).
    pub spec: ExecSpec,
    /// The caller's environment.
    pub env: Vec<(OsString, OsString)>,
    /// The host's login.defs (for `-u`, and `-l` without `-U`).
    pub host_defs: Vec<u8>,
    /// The account for `-u`, or the caller's for `-l`.
    pub host_account: Option<Account>,
    /// The jail's rctl rlimits.
    pub rlimits: Vec<Rlimit>,
    /// The capabilities the command keeps.
    pub caps: u64,
    /// Its bounding set (see `caps::bounding_mask`).
    pub bounding: u64,
    /// The host's highest capability number.
    pub last_cap: u32,
    /// Whether the jail may make jails (`children.max`): the seccomp
    /// filter then lets it make namespaces.
    pub nested: bool,
    /// The caller's signal mask (bit n-1 for signal n), which the command
    /// starts with.
    pub mask: u64,
    /// The signals the caller ignores (bit n-1 for signal n; SIGPIPE
    /// aside), which the command starts ignoring: the others get their
    /// default action.
    pub ignored: u64,
    /// Interactive: the pseudo-terminal to make (the caller's terminal's
    /// settings and size), and which of 0, 1 and 2 it becomes.
    pub pty: Option<PtyOrder>,
}

/// The pseudo-terminal of an interactive jexec's command: it starts with
/// the caller's terminal's settings and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtyOrder {
    /// The settings (`struct termios`).
    pub settings: Termios,
    /// The window size: rows, columns, x and y pixels.
    pub size: [u16; 4],
    /// Which of the standard descriptors 0, 1, 2 are the pty's slave.
    pub slots: [bool; 3],
}

/// `struct termios`, field by field (`c_cc` has `NCCS` bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termios {
    /// `c_iflag`, `c_oflag`, `c_cflag`, `c_lflag`.
    pub flags: [u32; 4],
    /// `c_line`.
    pub line: u8,
    /// `c_cc`.
    pub cc: Vec<u8>,
    /// `c_ispeed`, `c_ospeed`.
    pub speeds: [u32; 2],
}

/// The descriptors beside a [`Request::Spawn`], in their order: the
/// memfd of the [`Order`], the sending end of the `failure` channel, then
/// the command's standard descriptors but those the pty becomes (in the
/// order 0, 1, 2) and, interactive, the sending end of the `terminal`
/// channel. The init checks only their number; the command's process
/// reads which are which from the order.
#[derive(Debug)]
pub struct SpawnFds {
    /// The memfd that holds the [`Order`].
    pub order: OwnedFd,
    /// The sending end of the `failure` channel.
    pub failure: OwnedFd,
    /// The others.
    pub rest: Vec<OwnedFd>,
}

impl SpawnFds {
    /// The descriptors a packet carried, if they can be a spawn's.
    pub fn of(fds: Vec<OwnedFd>) -> Option<Self> {
        if !(3..=6).contains(&fds.len()) {
            return None;
        }
        let mut it = fds.into_iter();
        Some(SpawnFds {
            order: it.next()?,
            failure: it.next()?,
            rest: it.collect(),
        })
    }
}

/// The longest [`Order`] a command's process reads.
const MAX_ORDER: u64 = 64 << 20;

/// `order` in a memfd (close-on-exec), ready to pass with
/// [`Request::Spawn`].
pub fn order_memfd(order: &Order) -> io::Result<OwnedFd> {
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let fd = memfd_create(c"jkit-exec-order", MFdFlags::MFD_CLOEXEC)?;
    File::from(fd.try_clone()?).write_all(&packet(order))?;
    Ok(fd)
}

/// The [`Order`] in the memfd `fd` (from its start, whatever its offset).
pub fn read_order(fd: OwnedFd) -> io::Result<Order> {
    let mut file = File::from(fd);
    let len = file.metadata()?.len();
    if len > MAX_ORDER {
        return Err(malformed());
    }
    std::io::Seek::rewind(&mut file)?;
    let mut body = Vec::with_capacity(len as usize);
    (&mut file).take(MAX_ORDER).read_to_end(&mut body)?;
    from_packet(&body).ok_or_else(malformed)
}

/// The command's process → jexec (`terminal`), for an interactive jexec:
/// the master of the pseudo-terminal the command runs on, allocated in the
/// jail. The descriptor travels as `SCM_RIGHTS` beside a one-byte body.
#[derive(Debug)]
pub struct Terminal(pub OwnedFd);

/// jexec → the jail's init, on the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Fork the command's process and make it this connection's: the
    /// packet carries, as `SCM_RIGHTS`, the [`Order`] (a memfd), the
    /// `failure` channel's sending end, the command's standard descriptors
    /// 0, 1 and 2, and for an interactive jexec the `terminal` channel's
    /// sending end ([`SpawnFds`]). Once per connection.
    Spawn,
    /// Send this signal to the connection's process.
    Signal(i32),
    /// Send this signal to the process group the connection's process
    /// leads (to it alone if it leads none): what a terminal sends its
    /// foreground job, passed on by a jexec without a pty of the jail's.
    SignalGroup(i32),
    /// Stop the jail (jmk's stop): pass SIGTERM to every process of the
    /// jail and end once none is left. Only here, on a socket no jail
    /// process reaches: a signal to the init could be the jail's own (one
    /// it has the kernel send through `F_SETOWN`, from pid 0, as the
    /// host's seem).
    Stop,
}

/// The jail's init → jexec, on the control socket: how the connection's
/// process changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exited with this status.
    Exited(u8),
    /// Killed by this signal.
    Signaled(i32),
    /// Stopped by this signal.
    Stopped(i32),
    /// Continued.
    Continued,
}

impl Status {
    /// What a raw wait status says, `None` for one that says nothing of
    /// these (ptrace events).
    pub fn of_wait(raw: i32) -> Option<Self> {
        if libc::WIFEXITED(raw) {
            Some(Status::Exited(libc::WEXITSTATUS(raw) as u8))
        } else if libc::WIFSIGNALED(raw) {
            Some(Status::Signaled(libc::WTERMSIG(raw)))
        } else if libc::WIFSTOPPED(raw) {
            Some(Status::Stopped(libc::WSTOPSIG(raw)))
        } else if libc::WIFCONTINUED(raw) {
            Some(Status::Continued)
        } else {
            None
        }
    }

    /// Whether the process has ended (nothing follows).
    pub fn is_final(self) -> bool {
        matches!(self, Status::Exited(_) | Status::Signaled(_))
    }
}

/// A message: how its body is written and read back.
pub trait Message: Sized {
    /// Append the body.
    fn encode(&self, out: &mut Encoder);
    /// Read a body; `None` when the bytes are not one.
    fn decode(body: &mut Decoder<'_>) -> Option<Self>;
}

impl Message for Spawned {
    fn encode(&self, out: &mut Encoder) {
        match self {
            Spawned::Init { pid, pin_failure } => {
                out.u8(b'i').i32(*pid);
                match pin_failure {
                    None => out.u8(0),
                    Some(e) => out.u8(1).error(e),
                };
            }
            Spawned::Failed(e) => {
                out.u8(b'f').error(e);
            }
        }
    }

    fn decode(body: &mut Decoder<'_>) -> Option<Self> {
        match body.u8()? {
            b'i' => Some(Spawned::Init {
                pid: body.i32()?,
                pin_failure: match body.u8()? {
                    0 => None,
                    1 => Some(body.error()?),
                    _ => return None,
                },
            }),
            b'f' => Some(Spawned::Failed(body.error()?)),
            _ => None,
        }
    }
}

impl Message for InitReport {
    fn encode(&self, out: &mut Encoder) {
        match self {
            InitReport::Ready => out.u8(b'r'),
            InitReport::SetupFailed(e) => out.u8(b'f').error(e),
            InitReport::Live => out.u8(b'l'),
            InitReport::End => out.u8(b'e'),
        };
    }

    fn decode(body: &mut Decoder<'_>) -> Option<Self> {
        match body.u8()? {
            b'r' => Some(InitReport::Ready),
            b'f' => Some(InitReport::SetupFailed(body.error()?)),
            b'l' => Some(InitReport::Live),
            b'e' => Some(InitReport::End),
            _ => None,
        }
    }
}

impl Message for Go {
    fn encode(&self, out: &mut Encoder) {
        out.u8(b'g');
    }

    fn decode(body: &mut Decoder<'_>) -> Option<Self> {
        (body.u8()? == b'g').then_some(Go)
    }
}

/// What an [`Outcome`] gives back when it is done.
pub trait Output: Sized {
    /// Append it.
    fn encode(&self, out: &mut Encoder);
    /// Read it back.
    fn decode(body: &mut Decoder<'_>) -> Option<Self>;
}

impl Output for () {
    fn encode(&self, _: &mut Encoder) {}

    fn decode(_: &mut Decoder<'_>) -> Option<Self> {
        Some(())
    }
}

impl Output for String {
    fn encode(&self, out: &mut Encoder) {
        out.str(self);
    }

    fn decode(body: &mut Decoder<'_>) -> Option<Self> {
        body.str()
    }
}

impl<T: Output> Message for Outcome<T> {
    fn encode(&self, out: &mut Encoder) {
        match self {
            Outcome::Done(t) => t.encode(out.u8(b'd')),
            Outcome::Failed(e) => {
                out.u8(b'f').error(e);
            }
        }
    }

    fn decode(body: &mut Decoder<'_>) -> Option<Self> {
        match body.u8()? {
            b'd' => Some(Outcome::Done(T::decode(body)?)),
            b'f' => Some(Outcome::Failed(body.error()?)),
            _ => None,
        }
    }
}

impl Message for Failure {
    fn encode(&self, out: &mut Encoder) {
        out.u8(b'f').error(&self.0);
    }

    fn decode(body: &mut Decoder<'_>) -> Option<Self> {
        (body.u8()? == b'f').then_some(())?;
        Some(Failure(body.error()?))
    }
}

// Signal numbers fit a byte (at most 64 on Linux).
impl Message for Request {
    fn encode(&self, out: &mut Encoder) {
        match *self {
            Request::Spawn => out.u8(b'E'),
            Request::Signal(sig) => out.u8(b'K').u8(sig as u8),
            Request::SignalGroup(sig) => out.u8(b'G').u8(sig as u8),
            Request::Stop => out.u8(b'S'),
        };
    }

    fn decode(body: &mut Decoder<'_>) -> Option<Self> {
        match body.u8()? {
            b'E' => Some(Request::Spawn),
            b'K' => Some(Request::Signal(i32::from(body.u8()?))),
            b'G' => Some(Request::SignalGroup(i32::from(body.u8()?))),
            b'S' => Some(Request::Stop),
            _ => None,
        }
    }
}

impl Message for Status {
    fn encode(&self, out: &mut Encoder) {
        match *self {
            Status::Exited(code) => out.u8(b'x').u8(code),
            Status::Signaled(sig) => out.u8(b's').u8(sig as u8),
            Status::Stopped(sig) => out.u8(b't').u8(sig as u8),
            Status::Continued => out.u8(b'c').u8(0),
        };
    }

    fn decode(body: &mut Decoder<'_>) -> Option<Self> {
        match (body.u8()?, body.u8()?) {
            (b'x', code) => Some(Status::Exited(code)),
            (b's', sig) => Some(Status::Signaled(i32::from(sig))),
            (b't', sig) => Some(Status::Stopped(i32::from(sig))),
            (b'c', 0) => Some(Status::Continued),
            _ => None,
        }
    }
}

impl Message for Order {
    fn encode(&self, out: &mut Encoder) {
        out.u8(b'o').i64(self.jid);
        let spec = &self.spec;
        match &spec.credentials {
            Credentials::Caller => out.u8(b'c'),
            Credentials::Login(a) => out.u8(b'l').account(a),
            Credentials::Host(a) => out.u8(b'h').account(a),
            Credentials::Jail(name) => out.u8(b'j').str(name),
        };
        out.bool(spec.login);
        match &spec.dir {
            None => out.u8(0),
            Some(d) => out.u8(1).bytes(d.as_os_str().as_bytes()),
        };
        out.u32(spec.command.len() as u32);
        for a in &spec.command {
            out.bytes(a.as_bytes());
        }
        out.u32(self.env.len() as u32);
        for (k, v) in &self.env {
            out.bytes(k.as_bytes()).bytes(v.as_bytes());
        }
        out.bytes(&self.host_defs);
        match &self.host_account {
            None => out.u8(0),
            Some(a) => out.u8(1).account(a),
        };
        out.u32(self.rlimits.len() as u32);
        for r in &self.rlimits {
            let kind = RlimitKind::ALL
                .iter()
                .position(|k| *k == r.kind)
                .unwrap_or(0);
            out.u8(kind as u8).u64(r.soft).u64(r.hard);
        }
        out.u64(self.caps)
            .u64(self.bounding)
            .u32(self.last_cap)
            .bool(self.nested)
            .u64(self.mask)
            .u64(self.ignored);
        match &self.pty {
            None => out.u8(0),
            Some(p) => {
                out.u8(1);
                for f in p.settings.flags {
                    out.u32(f);
                }
                out.u8(p.settings.line).bytes(&p.settings.cc);
                for s in p.settings.speeds {
                    out.u32(s);
                }
                for n in p.size {
                    out.u32(u32::from(n));
                }
                for s in p.slots {
                    out.bool(s);
                }
                out
            }
        };
    }

    fn decode(body: &mut Decoder<'_>) -> Option<Self> {
        (body.u8()? == b'o').then_some(())?;
        let jid = body.i64()?;
        let credentials = match body.u8()? {
            b'c' => Credentials::Caller,
            b'l' => Credentials::Login(body.account()?),
            b'h' => Credentials::Host(body.account()?),
            b'j' => Credentials::Jail(body.str()?),
            _ => return None,
        };
        let login = body.bool()?;
        let dir = match body.u8()? {
            0 => None,
            1 => Some(PathBuf::from(body.os_string()?)),
            _ => return None,
        };
        let command = body.list(|b| b.os_string())?;
        let env = body.list(|b| Some((b.os_string()?, b.os_string()?)))?;
        let host_defs = body.bytes()?;
        let host_account = match body.u8()? {
            0 => None,
            1 => Some(body.account()?),
            _ => return None,
        };
        let rlimits = body.list(|b| {
            Some(Rlimit {
                kind: *RlimitKind::ALL.get(usize::from(b.u8()?))?,
                soft: b.u64()?,
                hard: b.u64()?,
            })
        })?;
        let (caps, bounding) = (body.u64()?, body.u64()?);
        let (last_cap, nested) = (body.u32()?, body.bool()?);
        let (mask, ignored) = (body.u64()?, body.u64()?);
        let pty = match body.u8()? {
            0 => None,
            1 => {
                let flags = [body.u32()?, body.u32()?, body.u32()?, body.u32()?];
                let (line, cc) = (body.u8()?, body.bytes()?);
                let speeds = [body.u32()?, body.u32()?];
                let mut size = [0u16; 4];
                for n in &mut size {
                    *n = u16::try_from(body.u32()?).ok()?;
                }
                let slots = [body.bool()?, body.bool()?, body.bool()?];
                Some(PtyOrder {
                    settings: Termios {
                        flags,
                        line,
                        cc,
                        speeds,
                    },
                    size,
                    slots,
                })
            }
            _ => return None,
        };
        Some(Order {
            jid,
            spec: ExecSpec {
                credentials,
                login,
                dir,
                command,
                relay_terminal: false,
                fib: None,
            },
            env,
            host_defs,
            host_account,
            rlimits,
            caps,
            bounding,
            last_cap,
            nested,
            mask,
            ignored,
            pty,
        })
    }
}

/// A body being written.
#[derive(Debug, Default)]
pub struct Encoder(Vec<u8>);

impl Encoder {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }

    fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        // A message never nears 4 GiB: its texts are paths, errors and a
        // command line (an order is at most `MAX_ORDER`).
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
        self
    }

    fn account(&mut self, a: &Account) -> &mut Self {
        self.str(&a.name).u32(a.uid).u32(a.gid);
        self.bytes(a.dir.as_os_str().as_bytes())
            .bytes(a.shell.as_os_str().as_bytes());
        self.u32(a.groups.len() as u32);
        for g in &a.groups {
            self.u32(*g);
        }
        self
    }

    /// The error's class (tagged by its sysexits status, 0 for a
    /// FreeBSD-compatible one, which carries its own) and its text; an OS
    /// error's errno, or the text of an I/O error that has none.
    fn error(&mut self, e: &Error) -> &mut Self {
        match e {
            Error::Usage(m) => self.u8(64).str(m),
            Error::BadData(m) => self.u8(65).str(m),
            Error::NotFound(m) => self.u8(66).str(m),
            Error::Unavailable(m) => self.u8(69).str(m),
            Error::Software(m) => self.u8(70).str(m),
            Error::Os { what, source } => match source.raw_os_error() {
                Some(errno) => self.u8(71).str(what).i32(errno),
                None => self.u8(71).str(what).i32(0).str(&source.to_string()),
            },
            Error::Exists(m) => self.u8(73).str(m),
            Error::TempFail(m) => self.u8(75).str(m),
            Error::Permission(m) => self.u8(77).str(m),
            Error::Config(m) => self.u8(78).str(m),
            Error::Compat { msg, code } => self.u8(0).u8(*code).str(msg),
        }
    }
}

/// A body being read.
#[derive(Debug)]
pub struct Decoder<'a>(&'a [u8]);

impl Decoder<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_le_bytes)
    }

    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }

    fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = usize::try_from(self.u32()?).ok()?;
        let bytes = self.0.get(..len)?;
        self.0 = &self.0[len..];
        Some(bytes.to_vec())
    }

    fn os_string(&mut self) -> Option<OsString> {
        self.bytes().map(OsString::from_vec)
    }

    /// A `u32` count of items, each read by `item`.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let n = self.u32()?;
        // Each item takes a byte at least: a count beyond the bytes left
        // is a lie, and must not reserve memory.
        if n as usize > self.0.len() {
            return None;
        }
        (0..n).map(|_| item(self)).collect()
    }

    fn account(&mut self) -> Option<Account> {
        Some(Account {
            name: self.str()?,
            uid: self.u32()?,
            gid: self.u32()?,
            dir: PathBuf::from(self.os_string()?),
            shell: PathBuf::from(self.os_string()?),
            groups: self.list(Self::u32)?,
        })
    }

    fn error(&mut self) -> Option<Error> {
        Some(match self.u8()? {
            64 => Error::Usage(self.str()?),
            65 => Error::BadData(self.str()?),
            66 => Error::NotFound(self.str()?),
            69 => Error::Unavailable(self.str()?),
            70 => Error::Software(self.str()?),
            71 => {
                let what = self.str()?;
                let source = match self.i32()? {
                    0 => io::Error::other(self.str()?),
                    errno => io::Error::from_raw_os_error(errno),
                };
                Error::Os { what, source }
            }
            73 => Error::Exists(self.str()?),
            75 => Error::TempFail(self.str()?),
            77 => Error::Permission(self.str()?),
            78 => Error::Config(self.str()?),
            0 => {
                let code = self.u8()?;
                Error::Compat {
                    msg: self.str()?,
                    code,
                }
            }
            _ => return None,
        })
    }
}

/// `msg`'s body: a packet on the control socket, and what a frame on a
/// pipe holds.
pub fn packet<M: Message>(msg: &M) -> Vec<u8> {
    let mut out = Encoder::default();
    msg.encode(&mut out);
    out.0
}

/// The message a body holds, all of it; `None` for anything else.
pub fn from_packet<M: Message>(packet: &[u8]) -> Option<M> {
    let mut d = Decoder(packet);
    let msg = M::decode(&mut d)?;
    d.0.is_empty().then_some(msg)
}

/// The longest body a pipe channel takes: more is not a message of ours.
const MAX_BODY: u32 = 1 << 20;

/// `msg` as a frame on a pipe: the body's length, then the body.
fn frame<M: Message>(msg: &M) -> Vec<u8> {
    let mut out = Encoder(vec![0; 4]);
    msg.encode(&mut out);
    let len = (out.0.len() - 4) as u32;
    out.0[..4].copy_from_slice(&len.to_le_bytes());
    out.0
}

/// The message of the first frame in `bytes`: `Ok(None)` for no bytes at
/// all; an error for a partial frame or one that is not a message.
fn from_frame<M: Message>(bytes: &[u8]) -> io::Result<Option<M>> {
    let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
        return match bytes {
            [] => Ok(None),
            _ => Err(io::ErrorKind::UnexpectedEof.into()),
        };
    };
    let len = u32::from_le_bytes(*len);
    if len > MAX_BODY {
        return Err(malformed());
    }
    let body = rest
        .get(..len as usize)
        .ok_or(io::ErrorKind::UnexpectedEof)?;
    from_packet(body).map(Some).ok_or_else(malformed)
}

fn malformed() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "malformed message")
}

/// A one-way channel of messages `M` on a pipe (close-on-exec), both
/// ends: each side of a fork drops the end it does not use.
pub fn channel<M: Message>() -> io::Result<(Sender<M>, Receiver<M>)> {
    let (r, w) = pipe2(OFlag::O_CLOEXEC)?;
    Ok((
        Sender {
            pipe: File::from(w),
            kind: PhantomData,
        },
        Receiver {
            pipe: File::from(r),
            kind: PhantomData,
        },
    ))
}

/// The sending end of a [`channel`].
#[derive(Debug)]
pub struct Sender<M> {
    pipe: File,
    kind: PhantomData<fn(&M)>,
}

impl<M: Message> Sender<M> {
    /// Send `msg`, in one write.
    pub fn send(&self, msg: &M) -> io::Result<()> {
        (&self.pipe).write_all(&frame(msg))
    }
}

impl<M> From<OwnedFd> for Sender<M> {
    /// The sending end of a channel passed to this process.
    fn from(fd: OwnedFd) -> Self {
        Sender {
            pipe: File::from(fd),
            kind: PhantomData,
        }
    }
}

/// The receiving end of a [`channel`].
#[derive(Debug)]
pub struct Receiver<M> {
    pipe: File,
    kind: PhantomData<fn() -> M>,
}

impl<M> From<OwnedFd> for Receiver<M> {
    /// The receiving end of a channel passed to this process.
    fn from(fd: OwnedFd) -> Self {
        Receiver {
            pipe: File::from(fd),
            kind: PhantomData,
        }
    }
}

impl<M: Message> Receiver<M> {
    /// The next message, waiting for it; `None` when the channel is closed
    /// first.
    pub fn recv(&self) -> io::Result<Option<M>> {
        let mut len = [0u8; 4];
        let got = loop {
            match (&self.pipe).read(&mut len) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                read => break read?,
            }
        };
        if got == 0 {
            return Ok(None);
        }
        (&self.pipe).read_exact(&mut len[got..])?;
        let n = u32::from_le_bytes(len);
        if n > MAX_BODY {
            return Err(malformed());
        }
        let mut body = vec![0; n as usize];
        (&self.pipe).read_exact(&mut body)?;
        from_packet(&body).map(Some).ok_or_else(malformed)
    }

    /// The message a sender that has ended left, without waiting for the
    /// end of the channel: in a multi-threaded caller, a process another
    /// thread forked meanwhile may hold a copy of the sending end. `None`
    /// when it left nothing.
    pub fn recv_left(self) -> io::Result<Option<M>> {
        fcntl(&self.pipe, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match (&self.pipe).read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        from_frame(&bytes)
    }
}

/// A signal given by closing, both ends: [`Gate::wait`] returns once every
/// copy of the [`GateHold`] is closed (dropped, or its process gone).
pub fn gate() -> io::Result<(Gate, GateHold)> {
    let (r, w) = pipe2(OFlag::O_CLOEXEC)?;
    Ok((Gate(File::from(r)), GateHold { _write_end: w }))
}

/// A channel for one descriptor: a unix socket pair (a pipe carries no
/// descriptor), close-on-exec.
pub fn fd_channel() -> io::Result<(FdSender, FdReceiver)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((FdSender(a), FdReceiver(b)))
}

/// The sending end of an [`fd_channel`].
#[derive(Debug)]
pub struct FdSender(OwnedFd);

impl FdSender {
    /// Send (a copy of) `fd`; the channel ends with it.
    pub fn send(self, fd: BorrowedFd) -> io::Result<()> {
        sys::send_fd(self.0.as_fd(), fd)
    }
}

impl AsRawFd for FdSender {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// The receiving end of an [`fd_channel`].
#[derive(Debug)]
pub struct FdReceiver(OwnedFd);

impl FdReceiver {
    /// The descriptor sent, or `None` once the sender is gone without one.
    pub fn recv(self) -> io::Result<Option<OwnedFd>> {
        sys::recv_fd(self.0.as_fd())
    }
}

/// The waiting end of a [`gate`].
#[derive(Debug)]
pub struct Gate(File);

impl Gate {
    /// Wait until the gate opens.
    pub fn wait(&self) -> io::Result<()> {
        let mut byte = [0u8; 1];
        loop {
            match (&self.0).read(&mut byte) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The end of a [`gate`] that keeps it shut until dropped.
#[derive(Debug)]
pub struct GateHold {
    _write_end: OwnedFd,
}

/// The body of a [`Terminal`] message (its descriptor goes beside it).
const TERMINAL: &[u8] = b"T";

/// The channel of a [`Terminal`]: a socket pair (close-on-exec), both
/// ends; each side of a fork drops the end it does not use.
pub fn terminal_channel() -> io::Result<(TerminalSender, TerminalReceiver)> {
    let (tx, rx) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((TerminalSender(tx), TerminalReceiver(rx)))
}

/// The sending end of a [`terminal_channel`].
#[derive(Debug)]
pub struct TerminalSender(OwnedFd);

impl TerminalSender {
    /// Send `terminal`, descriptor and all.
    pub fn send(&self, terminal: &Terminal) -> io::Result<()> {
        let fds = [terminal.0.as_raw_fd()];
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &[IoSlice::new(TERMINAL)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
        Ok(())
    }
}

impl From<OwnedFd> for TerminalSender {
    /// The sending end of a channel passed to this process.
    fn from(fd: OwnedFd) -> Self {
        TerminalSender(fd)
    }
}

impl AsFd for TerminalSender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// The receiving end of a [`terminal_channel`].
#[derive(Debug)]
pub struct TerminalReceiver(OwnedFd);

impl TerminalReceiver {
    /// The terminal, waiting for it; `None` when every sending end is
    /// closed first (the command's process failed before it had one).
    pub fn recv(&self) -> io::Result<Option<Terminal>> {
        let mut body = [0u8; 2];
        let mut iov = [IoSliceMut::new(&mut body)];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let msg = loop {
            match recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(Errno::EINTR) => {}
                got => break got?,
            }
        };
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(got) = c {
                fds.extend(sys::received_fds(got));
            }
        }
        let len = msg.bytes;
        match (&body[..len.min(body.len())], fds.pop()) {
            ([], None) => Ok(None),
            (TERMINAL, Some(fd)) if fds.is_empty() => Ok(Some(Terminal(fd))),
            _ => Err(malformed()),
        }
    }
}

impl<M> AsFd for Sender<M> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pipe.as_fd()
    }
}

impl<M> AsRawFd for Sender<M> {
    fn as_raw_fd(&self) -> RawFd {
        self.pipe.as_raw_fd()
    }
}

impl<M> AsFd for Receiver<M> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pipe.as_fd()
    }
}

impl<M> AsRawFd for Receiver<M> {
    fn as_raw_fd(&self) -> RawFd {
        self.pipe.as_raw_fd()
    }
}

impl AsRawFd for Gate {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec;
    use nix::errno::Errno;
    use std::ffi::OsStr;

    /// One error of every class, an OS error both with an errno and
    /// without one.
    fn every_class() -> Vec<Error> {
        vec![
            Error::Usage("usage: jmk".into()),
            Error::BadData("line 3: bad".into()),
            Error::NotFound("no such release".into()),
            Error::Unavailable("no cgroups".into()),
            Error::Software("a bug".into()),
            Error::os("mount /nope on /j/mnt", Errno::ENOENT),
            Error::os("unshare", Errno::EPERM),
            Error::os("pin", io::Error::other("failed")),
            Error::os("read", io::Error::from(io::ErrorKind::UnexpectedEof)),
            Error::Exists("\"web\" already exists".into()),
            Error::TempFail("busy".into()),
            Error::Permission("root only".into()),
            Error::Config("web: caf\u{e9}: bad\nline".into()),
            exec::exec_failure("execvp", OsStr::new("nope"), Errno::ENOENT),
            Error::Compat {
                msg: String::new(),
                code: 255,
            },
        ]
    }

    /// Error `i` of [`every_class`], a fresh one on every call (an error
    /// cannot be cloned).
    fn class(i: usize) -> Error {
        every_class().swap_remove(i)
    }

    /// Whether `a` and `b` are one error: class, text and exit status.
    fn same(a: &Error, b: &Error) -> bool {
        std::mem::discriminant(a) == std::mem::discriminant(b)
            && a.to_string() == b.to_string()
            && a.exit_code() == b.exit_code()
    }

    fn round_trip<M: Message>(msg: &M) -> M {
        from_frame(&frame(msg)).unwrap().expect("a message")
    }

    #[test]
    fn every_error_class_crosses_with_its_text_and_status() {
        for (i, e) in every_class().iter().enumerate() {
            let back = round_trip(&Failure(class(i)));
            assert!(same(&back.0, e), "{e:?} came back as {:?}", back.0);
        }
        // The classes that decide an exit status differently than 78.
        let codes: Vec<u8> = every_class().iter().map(Error::exit_code).collect();
        assert_eq!(
            codes,
            [64, 65, 66, 69, 70, 71, 77, 71, 71, 73, 75, 77, 78, 1, 255]
        );
    }

    #[test]
    fn every_start_message_round_trips() {
        for (i, e) in every_class().iter().enumerate() {
            let msg = Spawned::Init {
                pid: 4242,
                pin_failure: Some(class(i)),
            };
            let Spawned::Init { pid, pin_failure } = round_trip(&msg) else {
                panic!("not an init")
            };
            assert_eq!(pid, 4242);
            assert!(same(&pin_failure.unwrap(), e));
            let Spawned::Failed(back) = round_trip(&Spawned::Failed(class(i))) else {
                panic!("not a failure")
            };
            assert!(same(&back, e));
            let InitReport::SetupFailed(back) = round_trip(&InitReport::SetupFailed(class(i)))
            else {
                panic!("not a setup failure")
            };
            assert!(same(&back, e));
        }
        let Spawned::Init { pid, pin_failure } = round_trip(&Spawned::Init {
            pid: i32::MAX,
            pin_failure: None,
        }) else {
            panic!("not an init")
        };
        assert!(pid == i32::MAX && pin_failure.is_none());
        assert!(matches!(round_trip(&InitReport::Ready), InitReport::Ready));
        assert!(matches!(round_trip(&InitReport::Live), InitReport::Live));
        assert!(matches!(round_trip(&InitReport::End), InitReport::End));
        assert_eq!(round_trip(&Go), Go);
    }

    #[test]
    fn outcomes_round_trip() {
        let Outcome::Done(()) = round_trip(&Outcome::Done(())) else {
            panic!("not done")
        };
        let Outcome::Done(text) = round_trip(&Outcome::Done("ipc\nuts\n".to_string())) else {
            panic!("not done")
        };
        assert_eq!(text, "ipc\nuts\n");
        for (i, e) in every_class().iter().enumerate() {
            let Outcome::<String>::Failed(back) = round_trip(&Outcome::Failed(class(i))) else {
                panic!("not a failure")
            };
            assert!(same(&back, e));
        }
    }

    #[test]
    fn control_packets_keep_their_bytes() {
        let requests: [(Request, &[u8]); 4] = [
            (Request::Spawn, b"E"),
            (Request::Signal(15), b"K\x0f"),
            (Request::SignalGroup(2), b"G\x02"),
            (Request::Stop, b"S"),
        ];
        for (r, bytes) in requests {
            assert_eq!(packet(&r), bytes);
            assert_eq!(from_packet::<Request>(bytes), Some(r));
        }
        let statuses: [(Status, &[u8]); 5] = [
            (Status::Exited(0), b"x\0"),
            (Status::Exited(255), b"x\xff"),
            (Status::Signaled(9), b"s\x09"),
            (Status::Stopped(20), b"t\x14"),
            (Status::Continued, b"c\0"),
        ];
        for (s, bytes) in statuses {
            assert_eq!(packet(&s), bytes);
            assert_eq!(from_packet::<Status>(bytes), Some(s));
        }
        for garbage in [
            &b""[..],
            b"x",
            b"c1",
            b"q0",
            b"x00",
            b"R",
            b"EE",
            b"K",
            b"S0",
        ] {
            assert_eq!(from_packet::<Status>(garbage), None, "{garbage:?}");
            assert_eq!(from_packet::<Request>(garbage), None, "{garbage:?}");
        }
        assert!(Status::Exited(3).is_final() && !Status::Stopped(19).is_final());
    }

    fn order() -> Order {
        let account = Account {
            name: "www".into(),
            uid: 80,
            gid: 80,
            dir: PathBuf::from("/var/www"),
            shell: PathBuf::new(),
            groups: vec![80, 5],
        };
        Order {
            jid: 7,
            spec: ExecSpec {
                credentials: Credentials::Host(account.clone()),
                login: true,
                dir: Some(PathBuf::from("/tmp")),
                command: vec!["echo".into(), OsString::from_vec(vec![b'a', 0xff])],
                relay_terminal: false,
                fib: None,
            },
            env: vec![("PATH".into(), "/bin".into()), ("E".into(), "".into())],
            host_defs: b"ENV_PATH PATH=/bin\n".to_vec(),
            host_account: Some(account),
            rlimits: vec![Rlimit {
                kind: RlimitKind::Nofile,
                soft: 64,
                hard: u64::MAX,
            }],
            caps: 0xa00405fb,
            bounding: 0,
            last_cap: 40,
            nested: true,
            mask: 1 << 1,
            ignored: 1 << 2,
            pty: Some(PtyOrder {
                settings: Termios {
                    flags: [1, 2, 3, 4],
                    line: 0,
                    cc: vec![3; 32],
                    speeds: [15, 15],
                },
                size: [24, 80, 0, 0],
                slots: [true, true, false],
            }),
        }
    }

    #[test]
    fn an_order_crosses_in_a_memfd_whole_and_a_cut_one_is_refused() {
        let o = order();
        assert_eq!(read_order(order_memfd(&o).unwrap()).unwrap(), o);
        let plain = Order {
            spec: ExecSpec {
                credentials: Credentials::Jail("daemon".into()),
                ..o.spec.clone()
            },
            host_account: None,
            pty: None,
            ..o.clone()
        };
        assert_eq!(from_packet::<Order>(&packet(&plain)), Some(plain));
        let bytes = packet(&o);
        for cut in 0..bytes.len() {
            assert!(
                from_packet::<Order>(&bytes[..cut]).is_none(),
                "cut at {cut}"
            );
        }
        // A length beyond the bytes left is refused.
        let mut lying = bytes.clone();
        let at = 1 + 8 + 1;
        lying.truncate(at);
        lying.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(from_packet::<Order>(&lying).is_none());
    }

    #[test]
    fn a_spawn_takes_three_to_six_descriptors() {
        let fds = |n: usize| -> Vec<OwnedFd> {
            (0..n)
                .map(|_| OwnedFd::from(File::open("/dev/null").unwrap()))
                .collect()
        };
        for n in [0, 1, 2, 7] {
            assert!(SpawnFds::of(fds(n)).is_none(), "{n}");
        }
        for n in 3..=6 {
            assert_eq!(SpawnFds::of(fds(n)).unwrap().rest.len(), n - 2);
        }
    }

    #[test]
    fn malformed_frames_are_refused() {
        let good = frame(&Failure(Error::Config("x".into())));
        assert!(from_frame::<Failure>(&[]).unwrap().is_none(), "nothing");
        for cut in 1..good.len() {
            let e = from_frame::<Failure>(&good[..cut]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        trailing[0] += 1;
        assert_eq!(
            from_frame::<Failure>(&trailing).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        let mut unknown_class = good.clone();
        unknown_class[5] = 99;
        assert!(from_frame::<Failure>(&unknown_class).is_err());
        assert!(
            from_frame::<Go>(&good).is_err(),
            "another channel's message"
        );
        let huge = [0xff, 0xff, 0xff, 0xff, b'f'];
        assert!(from_frame::<Failure>(&huge).is_err());
    }

    #[test]
    fn a_child_failure_comes_back_through_a_pipe_and_an_exec_leaves_nothing() {
        let failure = || exec::exec_failure("execvp", OsStr::new("nope"), Errno::EACCES);
        let e = failure();
        let (tx, rx) = channel::<Failure>().unwrap();
        tx.send(&Failure(failure())).unwrap();
        drop(tx);
        let back = rx.recv_left().unwrap().expect("a failure");
        assert!(same(&back.0, &e));
        assert_eq!((back.0.to_string(), back.0.exit_code()), (e.to_string(), 1));
        let (tx, rx) = channel::<Failure>().unwrap();
        drop(tx);
        assert!(
            rx.recv_left().unwrap().is_none(),
            "nothing: the exec happened"
        );
    }

    #[test]
    fn a_terminal_crosses_with_its_descriptor_and_a_closed_channel_says_none() {
        let (tx, rx) = terminal_channel().unwrap();
        let (r, w) = pipe2(OFlag::O_CLOEXEC).unwrap();
        tx.send(&Terminal(w)).unwrap();
        let Terminal(got) = rx.recv().unwrap().expect("a terminal");
        nix::unistd::write(&got, b"x").unwrap();
        let mut byte = [0u8; 1];
        nix::unistd::read(&r, &mut byte).unwrap();
        assert_eq!(&byte, b"x");
        // A body without its descriptor is no message.
        nix::sys::socket::send(tx.0.as_raw_fd(), TERMINAL, MsgFlags::empty()).unwrap();
        assert!(rx.recv().is_err());
        drop(tx);
        assert!(rx.recv().unwrap().is_none());
    }

    #[test]
    fn messages_wait_on_an_open_pipe_and_end_with_it() {
        let (tx, rx) = channel::<InitReport>().unwrap();
        tx.send(&InitReport::Ready).unwrap();
        tx.send(&InitReport::Live).unwrap();
        assert!(matches!(rx.recv().unwrap(), Some(InitReport::Ready)));
        assert!(matches!(rx.recv().unwrap(), Some(InitReport::Live)));
        drop(tx);
        assert!(rx.recv().unwrap().is_none());
        let (gate, hold) = gate().unwrap();
        drop(hold);
        gate.wait().unwrap();
    }
}
