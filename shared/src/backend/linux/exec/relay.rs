//! The control socket of a jail's init, through which a command that jexec
//! enters becomes a child of the init and still is jexec's to wait for.
//!
//! jmk binds `RUN/jails/NAME/init.sock` (root-only, on the host, outside
//! the jail's root) before it forks the init, which keeps it. The
//! intermediate process that jexec forks into the jail's pid namespace
//! connects (jexec made the socket, so it shares it), forks the command's
//! process, registers it, and exits, so the command is reparented to the
//! init (its session and process group stay the caller's). The init then
//! relays the registered process's wait
//! statuses, signals it on request, and kills it when the connection ends
//! (jexec died).
//!
//! jmk's stop asks the init on a connection of its own to stop the jail
//! ([`request_stop`]).
//!
//! One message per packet (`SOCK_SEQPACKET`): a [`Request`] from jexec's
//! or jmk's side (a registration with `SCM_CREDENTIALS`, which name the
//! process), a [`Status`] from the init (EXEC and STOP in
//! [`crate::backend::linux::protocol`]).

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{
    AddressFamily, Backlog, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    UnixAddr, UnixCredentials, bind, connect, getsockopt, listen, recvmsg, sendmsg, setsockopt,
    socket, sockopt,
};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::{Gid, Pid, Uid};

use crate::backend::linux::protocol::{self, Request, Status};
use crate::backend::linux::sys;

use crate::paths::Paths;

/// The socket's name in the jail's runtime directory.
const SOCKET: &str = Paths::CONTROL_SOCKET;

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
    // Credentials come with every message: the registrations need them.
    setsockopt(&sock, sockopt::PassCred, &true)?;
    listen(&sock, Backlog::new(64)?)?;
    Ok(sock)
}

/// A socket for a connection to a jail's control socket, not connected
/// yet: jexec makes it before forking, and its intermediate child, which
/// shares it, connects it (see [`Control::connect`]).
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
    let short = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", dir.as_raw_fd()));
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

/// Register `pid` (a pid of the jail's namespace, where the caller is)
/// as the process of connection `conn`. The caller needs CAP_SYS_ADMIN to
/// name a process other than itself.
pub fn register(conn: BorrowedFd, pid: Pid) -> io::Result<()> {
    let creds = UnixCredentials::from(libc::ucred {
        pid: pid.as_raw(),
        uid: Uid::current().as_raw(),
        gid: Gid::current().as_raw(),
    });
    sendmsg::<()>(
        conn.as_raw_fd(),
        &[IoSlice::new(&protocol::packet(&Request::Register))],
        &[ControlMessage::ScmCredentials(&creds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}

/// Ask the init to send `sig` to the registered process; not waiting for
/// room (a signal the init cannot take now is dropped, as a signal already
/// pending would be).
pub fn request_signal(conn: BorrowedFd, sig: Signal) {
    let _ = nix::sys::socket::send(
        conn.as_raw_fd(),
        &protocol::packet(&Request::Signal(sig as i32)),
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
}

#[derive(Debug)]
struct Connection {
    sock: OwnedFd,
    /// Whether a process was registered (a second registration is
    /// ignored).
    registered: bool,
    /// Whether a stop of the jail was asked on it.
    stop_asked: bool,
    /// The registered process, until it is reaped.
    pid: Option<Pid>,
}

impl Server {
    pub fn new(listener: OwnedFd) -> Self {
        Server {
            listener,
            conns: Vec::new(),
            stop_asked: false,
        }
    }

    /// The descriptors to wait on: the listener, then every connection.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        std::iter::once(self.listener.as_fd()).chain(self.conns.iter().map(|c| c.sock.as_fd()))
    }

    /// Take new connections and every message waiting on the open ones; a
    /// connection that has ended takes its registered process with it.
    /// Called after the statuses of a round are collected and before they
    /// are delivered: a registration is sent before the command execs, so
    /// it is here before its process could have ended.
    pub fn drain(&mut self) {
        loop {
            match sys::accept(self.listener.as_fd()) {
                Ok(sock) => {
                    if self.conns.len() < MAX_CONNECTIONS && from_root(sock.as_fd()) {
                        self.conns.push(Connection {
                            sock,
                            registered: false,
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
        self.conns.retain_mut(|c| {
            let open = c.read_all();
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

    /// Pass `status` to the connection that registered its process; the
    /// connection is closed after the last one.
    pub fn deliver(&mut self, status: WaitStatus) {
        let (pid, relayed) = match status {
            WaitStatus::Exited(p, code) => (p, Status::Exited(code as u8)),
            WaitStatus::Signaled(p, sig, _) => (p, Status::Signaled(sig as i32)),
            WaitStatus::Stopped(p, sig) => (p, Status::Stopped(sig as i32)),
            WaitStatus::Continued(p) => (p, Status::Continued),
            _ => return,
        };
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
    /// (or failed).
    fn read_all(&mut self) -> bool {
        loop {
            let mut buf = [0u8; 8];
            let mut iov = [IoSliceMut::new(&mut buf)];
            let mut cmsg = nix::cmsg_space!(UnixCredentials, [std::os::fd::RawFd; 8]);
            let got = recvmsg::<()>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let (len, creds) = match got {
                Ok(msg) => {
                    let mut creds = None;
                    for c in msg.cmsgs().into_iter().flatten() {
                        match c {
                            ControlMessageOwned::ScmCredentials(u) => creds = Some(u),
                            // Descriptors are never part of the protocol.
                            ControlMessageOwned::ScmRights(fds) => {
                                for fd in fds {
                                    let _ = nix::unistd::close(fd);
                                }
                            }
                            _ => {}
                        }
                    }
                    (msg.bytes, creds)
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return true,
                Err(_) => return false,
            };
            if len == 0 {
                return false;
            }
            match (protocol::from_packet(&buf[..len.min(buf.len())]), creds) {
                (Some(Request::Register), Some(c)) if !self.registered && c.pid() > 1 => {
                    self.registered = true;
                    self.pid = Some(Pid::from_raw(c.pid()));
                }
                (Some(Request::Stop), _) => self.stop_asked = true,
                (Some(Request::Signal(sig)), _) => {
                    if let (Some(pid), Ok(sig)) = (self.pid, Signal::try_from(sig)) {
                        signal_child(pid, sig);
                    }
                }
                // Anything else is ignored.
                _ => {}
            }
        }
    }
}

/// Whether the peer of `sock` is root: the host's, which an init in a
/// user namespace of its own sees as the overflow uid (the host's root
/// has no id there). (jexec's intermediate child connects from inside the
/// jail's pid namespace, so its pid says nothing; the socket file itself
/// is root-only and outside the jail's root.)
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
    let flags = WaitPidFlag::WEXITED
        | WaitPidFlag::WSTOPPED
        | WaitPidFlag::WCONTINUED
        | WaitPidFlag::WNOHANG
        | WaitPidFlag::WNOWAIT;
    if waitid(Id::Pid(pid), flags).is_ok() {
        let _ = kill(pid, sig);
    }
}
