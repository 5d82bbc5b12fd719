//! Glue shared by the binaries: their entry point, turning a result into a
//! message and an exit status, and the stdout sink that ends quietly on a
//! broken pipe.

use std::io::{self, BufWriter, Write};
use std::os::fd::{AsRawFd, IntoRawFd};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::error::{Error, Result};
use crate::exec::Exit;

mod sys;

/// Define a binary's entry point: `jkit::entry!(body)`, with `body` a
/// `fn() -> u8` returning the exit status, and the binary's crate root
/// starting `#![cfg_attr(all(target_os = "linux", target_env = "gnu",
/// not(test)), no_main)]`.
///
/// On Linux with glibc the binary's C `main` calls [`enter`] directly,
/// without std's runtime start-up: that start-up reads /proc/self/maps to
/// find the main thread's stack guard and installs the stack-overflow
/// handlers, a sizeable part of a short-lived tool's start, paid by every
/// `jexec-rs` and each `jmk` of a create-and-start (a stack overflow is
/// then a plain SIGSEGV without std's message). std still finds the arguments there
/// (glibc hands them to its initialisers). Elsewhere std's `main` is kept,
/// since that is where std learns the arguments.
#[macro_export]
macro_rules! entry {
    ($body:path) => {
        #[cfg(all(target_os = "linux", target_env = "gnu", not(test)))]
        #[unsafe(no_mangle)]
        extern "C" fn main(
            _argc: ::std::ffi::c_int,
            _argv: *const *const ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            ::std::ffi::c_int::from($crate::cli::enter($body))
        }

        #[cfg(not(all(target_os = "linux", target_env = "gnu", not(test))))]
        fn main() -> ::std::process::ExitCode {
            ::std::process::ExitCode::from($crate::cli::enter($body))
        }
    };
}

/// What std's runtime does around `main` that the tools rely on: standard
/// descriptors that are open (a closed one is opened on /dev/null, so no
/// file the tool opens becomes its stdout), SIGPIPE ignored (a write to a
/// closed pipe is an error the tool handles, see [`is_broken_pipe`]), and
/// stdout flushed at the end. Returns the exit status.
pub fn enter(body: fn() -> u8) -> u8 {
    open_standard_fds();
    sys::ignore_sigpipe();
    let status = body();
    let _ = io::stdout().flush();
    status
}

fn open_standard_fds() {
    let Some(closed) = sys::closed_standard_fds() else {
        return;
    };
    for fd in closed {
        // The lowest free descriptor is the closed one, lowest first; not
        // close-on-exec, as the descriptor it stands in for.
        match nix::fcntl::open("/dev/null", OFlag::O_RDWR, Mode::empty()) {
            // Kept open for the life of the process.
            Ok(null) if null.as_raw_fd() == fd => _ = null.into_raw_fd(),
            _ => std::process::abort(),
        }
    }
}

/// Run a tool's body: on error print `tool: message` to stderr and return
/// the error's status; a broken pipe on stdout is status 0, quietly.
pub fn run(tool: &str, body: impl FnOnce() -> Result<u8>) -> u8 {
    match body() {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("{tool}: {e}");
            e.exit_code()
        }
    }
}

/// End as a command that ended so ends: by the same signal when a signal
/// killed it (for a tool that stands in for the command it ran, as
/// FreeBSD's jexec does by executing it in place), without a core dump of
/// its own; otherwise return its status. Should the signal not end this
/// process, the status is the shell's 128 + N.
pub fn end_as(exit: Exit) -> u8 {
    let sig = match exit {
        Exit::Code(c) => return c.clamp(0, 255) as u8,
        Exit::Signal(s) => s,
    };
    let _ = io::stdout().flush();
    let no_core = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
    // A core_pattern that pipes to a helper ignores RLIMIT_CORE; a process
    // that is not dumpable dumps no core anywhere.
    #[cfg(target_os = "linux")]
    let no_core = no_core.and(nix::sys::prctl::set_dumpable(false));
    if no_core.is_ok() {
        sys::raise_with_default_action(sig);
    }
    exit.shell_status().clamp(0, 255) as u8
}

/// Whether `e` is a write to a closed pipe (`tool | head -1`).
pub fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Os { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
}

/// Buffered stdout whose write errors become [`Error`]s.
#[derive(Debug)]
pub struct Output {
    out: BufWriter<io::Stdout>,
}

impl Default for Output {
    fn default() -> Self {
        Self::new()
    }
}

impl Output {
    /// Standard output, buffered.
    pub fn new() -> Self {
        Output {
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
        }
    }

    /// Write one line (a newline is added).
    pub fn line(&mut self, text: &str) -> Result<()> {
        self.out
            .write_all(text.as_bytes())
            .and_then(|_| self.out.write_all(b"\n"))
            .map_err(stdout_error)
    }

    /// Write `value` as one JSON line.
    pub fn json<T: serde::Serialize>(&mut self, value: &T) -> Result<()> {
        crate::wire::write_line(&mut self.out, value)
    }

    /// Write raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(stdout_error)
    }

    /// Flush what is buffered.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(stdout_error)
    }
}

fn stdout_error(e: io::Error) -> Error {
    Error::os("write to stdout", e)
}
