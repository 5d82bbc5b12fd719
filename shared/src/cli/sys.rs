//! The calls of the binaries' start and end that Rust has no safe form of:
//! the descriptors 0, 1 and 2 may be closed, and signal dispositions are
//! process-wide.

use std::os::fd::RawFd;

/// Ignore SIGPIPE, so that a write to a closed pipe fails with EPIPE (and
/// the tool ends quietly) instead of killing the process.
pub fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Which of the standard descriptors 0, 1 and 2 are closed, lowest first;
/// None when the kernel could not tell.
pub fn closed_standard_fds() -> Option<Vec<RawFd>> {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd for the call's length.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return None;
    }
    Some(
        fds.iter()
            .filter(|p| p.revents & libc::POLLNVAL != 0)
            .map(|p| p.fd)
            .collect(),
    )
}

/// Die by signal `sig` (any, real-time ones too): its default action
/// restored, unblocked, raised. Returns only if that action does not end
/// the process (or `sig` is no signal).
pub fn raise_with_default_action(sig: libc::c_int) {
    // SAFETY: setting a disposition to SIG_DFL installs no handler; `set`
    // is a local sigset_t initialised by sigemptyset before use; raise
    // only sends a signal to this thread.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
}
