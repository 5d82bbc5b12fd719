//! The control socket of a jail's init, through which jexec has the init
//! fork a command and still waits for it.
//!
//! jmk binds `RUN/jails/NAME/init.sock` (root-only, on the host, outside
//! the jail's root, linked as `exec.sock` too) before it forks the init,
//! which keeps it. jexec connects (through `exec.sock`) and asks for its command's process ([`request_spawn`]); the
//! init forks it ([`super::command`]), relays its wait statuses, signals
//! it on request, and kills it when the connection ends (jexec died).
//!
//! jmk's stop asks the init on a connection of its own to stop the jail
//! ([`request_stop`]).
//!
//! One message per packet (`SOCK_SEQPACKET`): a [`Request`] from jexec's
//! or jmk's side (a spawn with its descriptors as `SCM_RIGHTS`), a
//! [`Status`] from the init (EXEC and STOP in
//! [`crate::backend::linux::protocol`]). The init reads nothing but
//! these few bytes: the command's order is read by the process it forks.

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{
    AddressFamily, Backlog, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    UnixAddr, bind, connect, getsockopt, listen, recvmsg, sendmsg, socket, sockopt,
};
use nix::unistd::{Pid, getpgid};

use super::command;
use crate::backend::linux::protocol::{self, Request, SpawnFds, Status};
use crate::backend::linux::sys;

use crate::paths::Paths;

/// The socket's name in the jail's runtime directory.
const SOCKET: &str = Paths::CONTROL_SOCKET;

/// A second name of the socket (a hard link), made for an init that forks
/// the commands: a jail whose init does not (started by an older jkit,
/// whose init expects commands forked from outside and ignores a spawn)
/// has none, so jexec says so at once instead of waiting for nothing.
const SPAWN_SOCKET: &str = "exec.sock";

/// The most descriptors one message carries (Linux's `SCM_MAX_FD`).
const SCM_MAX_FD: usize = 253;

/// Connections an init keeps at most (one per running jexec); more are
/// refused.
const MAX_CONNECTIONS: usize = 1024;

/// Bind the control socket of the jail whose runtime directory is `dir`
/// (jmk, before forking the init), readable and writable by root only.
pub fn listen_at(dir: &Path) -> io::Result<OwnedFd> {
    let path = dir.join(SOCKET);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let sock = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    let (addr, _dir) = address(&path)?;
    bind(sock.as_raw_fd(), &addr)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let spawn = dir.join(SPAWN_SOCKET);
    match std::fs::remove_file(&spawn) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::hard_link(&path, &spawn)?;
    listen(&sock, Backlog::new(64)?)?;
    Ok(sock)
}

/// A socket for a connection to a jail's control socket, not connected
/// yet (see [`Control::connect`]).
pub fn unconnected() -> io::Result<OwnedFd> {
    Ok(socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?)
}

/// The address of the control socket of one jail.
#[derive(Debug)]
pub struct Control {
    addr: UnixAddr,
    /// For a path longer than `sun_path`: its directory, open, which the
    /// address names through /proc/self/fd.
    _dir: Option<std::fs::File>,
}

impl Control {
    /// The control socket of the jail whose runtime directory is `dir`.
    pub fn of(dir: &Path) -> io::Result<Self> {
        let (addr, dir) = address(&dir.join(SOCKET))?;
        Ok(Control { addr, _dir: dir })
    }

    /// The control socket of the jail whose runtime directory is `dir`,
    /// by the name that says its init forks commands; `None` for an init
    /// that does not.
    pub fn spawning(dir: &Path) -> io::Result<Option<Self>> {
        let path = dir.join(SPAWN_SOCKET);
        if !path.exists() {
            return Ok(None);
        }
        let (addr, dir) = address(&path)?;
        Ok(Some(Control { addr, _dir: dir }))
    }

    /// Connect `sock` (from [`unconnected`]) to it.
    pub fn connect(&self, sock: BorrowedFd) -> io::Result<()> {
        Ok(connect(sock.as_raw_fd(), &self.addr)?)
    }
}

/// The address of the socket at `path`; a path longer than `sun_path`
/// goes through an open descriptor of its directory (returned, to be kept
/// open while the address is used).
fn address(path: &Path) -> io::Result<(UnixAddr, Option<std::fs::File>)> {
    if let Ok(a) = UnixAddr::new(path) {
        return Ok((a, None));
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    let dir = std::fs::File::open(parent)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let short = PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()));
    Ok((UnixAddr::new(&short)?, Some(dir)))
}

/// Ask the init of the jail whose runtime directory is `dir` to stop the
/// jail (STOP in [`crate::backend::linux::protocol`]); returns once the
/// request is sent.
pub fn request_stop(dir: &Path) -> io::Result<()> {
    let sock = unconnected()?;
    Control::of(dir)?.connect(sock.as_fd())?;
    nix::sys::socket::send(
        sock.as_raw_fd(),
        &protocol::packet(&Request::Stop),
        MsgFlags::MSG_NOSIGNAL,
    )?;
    Ok(())
}

/// Ask the init to fork the command's process, with the descriptors
/// `fds` (see [`protocol::SpawnFds`]).
pub fn request_spawn(conn: BorrowedFd, fds: &[BorrowedFd]) -> io::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    sendmsg::<()>(
        conn.as_raw_fd(),
        &[IoSlice::new(&protocol::packet(&Request::Spawn))],
        &[ControlMessage::ScmRights(&raw)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}

/// Ask the init to send `sig` to the connection's process (with `group`,
/// to the process group it leads); not waiting for room (a signal the
/// init cannot take now is dropped, as a signal already pending would
/// be).
pub fn request_signal(conn: BorrowedFd, sig: Signal, group: bool) {
    let request = if group {
        Request::SignalGroup(sig as i32)
    } else {
        Request::Signal(sig as i32)
    };
    let _ = nix::sys::socket::send(
        conn.as_raw_fd(),
        &protocol::packet(&request),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
    );
}

/// The next status the init relayed, without waiting: `None` when there
/// is none yet, an error of kind `UnexpectedEof` when the connection has
/// ended (the init is gone).
pub fn next_status(conn: BorrowedFd) -> io::Result<Option<Status>> {
    let mut buf = [0u8; 2];
    loop {
        match nix::sys::socket::recv(conn.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => match protocol::from_packet(&buf[..n]) {
                Some(s) => return Ok(Some(s)),
                None => return Err(io::Error::other("malformed status from the jail's init")),
            },
            Err(Errno::EAGAIN) => return Ok(None),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The init's side: its listening socket and the connections of running
/// jexecs.
#[derive(Debug)]
pub struct Server {
    listener: OwnedFd,
    conns: Vec<Connection>,
    /// Whether the host asked for the jail's stop.
    stop_asked: bool,
    /// The init's `oom_score_adj`, open, and what it holds.
    oom_score: Option<(File, Vec<u8>)>,
    /// Whether the jail's processes cannot type into a host terminal
    /// (see [`terminals_out_of_reach`](crate::backend::linux::start::setup::terminals_out_of_reach)):
    /// their seccomp filter then leaves ioctl alone.
    terminals_out_of_reach: bool,
}

#[derive(Debug)]
struct Connection {
    sock: OwnedFd,
    /// Whether a spawn was asked (a second one is ignored).
    spawned: bool,
    /// Whether a stop of the jail was asked on it.
    stop_asked: bool,
    /// The connection's process, until it is reaped.
    pid: Option<Pid>,
}

impl Server {
    /// Serve on `listener`. `oom_score` is the init's `oom_score_adj`,
    /// open for writing: the init keeps out of the OOM killer's way, and
    /// puts its own score back to the kernel's default around each fork,
    /// so the commands do not inherit that (the jail may have no /proc
    /// through which they could set theirs). `terminals_out_of_reach`:
    /// the jail's processes cannot type into a host terminal.
    pub fn new(listener: OwnedFd, oom_score: Option<File>, terminals_out_of_reach: bool) -> Self {
        let oom_score = oom_score.and_then(|mut f| {
            let mut own = Vec::new();
            io::Read::read_to_end(&mut f, &mut own).ok()?;
            let own = own.trim_ascii().to_vec();
            // The default already: nothing to put back around a fork.
            (own != b"0").then_some((f, own))
        });
        Server {
            listener,
            conns: Vec::new(),
            stop_asked: false,
            oom_score,
            terminals_out_of_reach,
        }
    }

    /// The descriptors to wait on: the listener, then every connection.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        std::iter::once(self.listener.as_fd()).chain(self.conns.iter().map(|c| c.sock.as_fd()))
    }

    /// Take new connections and every message waiting on the open ones; a
    /// connection that has ended takes its process with it.
    pub fn drain(&mut self) {
        loop {
            match sys::accept(self.listener.as_fd()) {
                Ok(sock) => {
                    if self.conns.len() < MAX_CONNECTIONS && from_root(sock.as_fd()) {
                        self.conns.push(Connection {
                            sock,
                            spawned: false,
                            stop_asked: false,
                            pid: None,
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let mut stop_asked = false;
        let oom_score = self.oom_score.as_ref();
        let terminals_out_of_reach = self.terminals_out_of_reach;
        self.conns.retain_mut(|c| {
            let open = c.read_all(oom_score, terminals_out_of_reach);
            stop_asked |= c.stop_asked;
            if !open {
                if let Some(pid) = c.pid {
                    signal_child(pid, Signal::SIGKILL);
                }
            }
            open
        });
        self.stop_asked |= stop_asked;
    }

    /// Whether the host has asked for the jail's stop (on any connection,
    /// all of them root's).
    pub fn stop_asked(&self) -> bool {
        self.stop_asked
    }

    /// Pass `relayed`, what happened to child `pid`, to the connection of
    /// its process; the connection is closed after the last one.
    pub fn deliver(&mut self, pid: Pid, relayed: Status) {
        let Some(i) = self.conns.iter().position(|c| c.pid == Some(pid)) else {
            return;
        };
        let sent = nix::sys::socket::send(
            self.conns[i].sock.as_raw_fd(),
            &protocol::packet(&relayed),
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        );
        if relayed.is_final() {
            // Reaped: the pid is no longer this one's.
            self.conns.swap_remove(i);
        } else if sent.is_err_and(|e| e != Errno::EAGAIN) {
            // jexec is gone: the command goes with it.
            signal_child(pid, Signal::SIGKILL);
            self.conns.swap_remove(i);
        }
    }
}

impl Connection {
    /// Handle every message waiting; false once the connection has ended
    /// (or failed, or a spawn could not be forked).
    fn read_all(
        &mut self,
        oom_score: Option<&(File, Vec<u8>)>,
        terminals_out_of_reach: bool,
    ) -> bool {
        loop {
            let mut buf = [0u8; 8];
            let mut iov = [IoSliceMut::new(&mut buf)];
            // Room for the most descriptors a message carries: a control
            // message cut short would leave some open here unseen.
            let mut cmsg = nix::cmsg_space!([RawFd; SCM_MAX_FD]);
            let got = recvmsg::<()>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let (len, fds) = match got {
                Ok(msg) => {
                    // Taken at once, so that every descriptor passed is
                    // closed with them when not used.
                    let mut fds = Vec::new();
                    for c in msg.cmsgs().into_iter().flatten() {
                        if let ControlMessageOwned::ScmRights(got) = c {
                            fds.extend(sys::received_fds(got));
                        }
                    }
                    (msg.bytes, fds)
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return true,
                Err(_) => return false,
            };
            if len == 0 {
                return false;
            }
            match protocol::from_packet(&buf[..len.min(buf.len())]) {
                Some(Request::Spawn) if !self.spawned => {
                    self.spawned = true;
                    let Some(fds) = SpawnFds::of(fds) else {
                        return false;
                    };
                    set_oom_score(oom_score, |_| b"0");
                    let pid = command::spawn(fds, terminals_out_of_reach);
                    set_oom_score(oom_score, |own| own);
                    match pid {
                        Some(pid) => self.pid = Some(pid),
                        None => return false,
                    }
                }
                Some(Request::Stop) => self.stop_asked = true,
                Some(Request::Signal(sig)) => {
                    if let (Some(pid), Ok(sig)) = (self.pid, Signal::try_from(sig)) {
                        signal_child(pid, sig);
                    }
                }
                Some(Request::SignalGroup(sig)) => {
                    if let (Some(pid), Ok(sig)) = (self.pid, Signal::try_from(sig)) {
                        signal_child_group(pid, sig);
                    }
                }
                // Anything else is ignored.
                _ => {}
            }
        }
    }
}

/// Write `score` (of the init's own) to the init's `oom_score_adj`
/// (going back down to its own needs no privilege once it has been there).
fn set_oom_score(file: Option<&(File, Vec<u8>)>, score: impl Fn(&[u8]) -> &[u8]) {
    if let Some((f, own)) = file {
        let _ = (&*f).write_all(score(own));
    }
}

/// Whether the peer of `sock` is root: the host's, which an init in a
/// user namespace of its own sees as the overflow uid (the host's root
/// has no id there). (The socket file itself is root-only and outside the
/// jail's root.)
fn from_root(sock: BorrowedFd) -> bool {
    getsockopt(&sock, sockopt::PeerCredentials)
        .is_ok_and(|c| c.uid() == 0 || c.uid() == overflow_uid())
}

/// The uid a process sees for an id its user namespace does not map.
fn overflow_uid() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/overflowuid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65534)
}

/// Send `sig` to `pid` if it is a child of this process (the init) not
/// yet reaped: only the init reaps it, so the pid cannot name another
/// process meanwhile.
fn signal_child(pid: Pid, sig: Signal) {
    if sys::is_unreaped_child(pid) {
        let _ = kill(pid, sig);
    }
}

/// Send `sig` to the process group that `pid`, a child of this process
/// not yet reaped, leads (a group lives while its leader has not been
/// reaped, so its id names no other); to `pid` alone if it leads none.
fn signal_child_group(pid: Pid, sig: Signal) {
    if sys::is_unreaped_child(pid) {
        let target = match getpgid(Some(pid)) {
            Ok(group) if group == pid => Pid::from_raw(-pid.as_raw()),
            _ => pid,
        };
        let _ = kill(target, sig);
    }
}
