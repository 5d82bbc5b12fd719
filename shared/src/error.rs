//! The one error type of jkit. Every error knows its exit status (sysexits),
//! so binaries only print `tool: message` and exit with [`Error::exit_code`].

use std::io;
use std::path::Path;

/// Result alias used across the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error with the class that decides its exit status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command line (EX_USAGE, 64).
    #[error("{0}")]
    Usage(String),
    /// Input data that does not parse or is not valid (EX_DATAERR, 65).
    #[error("{0}")]
    BadData(String),
    /// A named thing (jail, release, file) that does not exist (EX_NOINPUT, 66).
    #[error("{0}")]
    NotFound(String),
    /// A service or platform feature that is not available here (EX_UNAVAILABLE, 69).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an impossible state (EX_SOFTWARE, 70).
    #[error("{0}")]
    Software(String),
    /// A system call failed (EX_OSERR, 71; EX_NOPERM for EPERM/EACCES).
    #[error("{what}: {source}")]
    Os {
        /// What was being done, e.g. `mount /usr`.
        what: String,
        /// The errno.
        source: io::Error,
    },
    /// Something that must not exist already does (EX_CANTCREAT, 73).
    #[error("{0}")]
    Exists(String),
    /// A temporary condition: try again (EX_TEMPFAIL, 75).
    #[error("{0}")]
    TempFail(String),
    /// Not allowed (EX_NOPERM, 77).
    #[error("{0}")]
    Permission(String),
    /// A configuration that cannot be used (EX_CONFIG, 78).
    #[error("{0}")]
    Config(String),
    /// A FreeBSD-compatible failure with FreeBSD's own exit status.
    #[error("{msg}")]
    Compat {
        /// The message, without the tool's name.
        msg: String,
        /// The exit status the FreeBSD tool uses.
        code: u8,
    },
}

/// errno `e` as FreeBSD's strerror(3) words it: FreeBSD's text for the
/// errnos whose wording differs between the C libraries, the platform's for
/// the others, never with Rust's `(os error N)`.
pub fn strerror(e: i32) -> String {
    match e {
        libc::E2BIG => "Argument list too long".into(),
        libc::ENOSYS => "Function not implemented".into(),
        libc::ENOMEM => "Cannot allocate memory".into(),
        libc::EFAULT => "Bad address".into(),
        libc::ENAMETOOLONG => "File name too long".into(),
        libc::EBUSY => "Device busy".into(),
        e => io_text(&io::Error::from_raw_os_error(e)),
    }
}

/// An I/O error as strerror(3) words it (see [`strerror`]).
pub fn io_strerror(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => strerror(n),
        None => io_text(e),
    }
}

fn io_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl Error {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 64,
            Error::BadData(_) => 65,
            Error::NotFound(_) => 66,
            Error::Unavailable(_) => 69,
            Error::Software(_) => 70,
            Error::Os { source, .. } => match source.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => 77,
                _ => 71,
            },
            Error::Exists(_) => 73,
            Error::TempFail(_) => 75,
            Error::Permission(_) => 77,
            Error::Config(_) => 78,
            Error::Compat { code, .. } => *code,
        }
    }

    /// A failed system call or I/O step, described by `what`.
    pub fn os(what: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Error::Os {
            what: what.into(),
            source: source.into(),
        }
    }

    /// A failed operation on `path`, e.g. `Error::at("mkdir", path, e)`.
    pub fn at(what: &str, path: &Path, source: impl Into<io::Error>) -> Self {
        Error::os(format!("{what} {}", path.display()), source)
    }

    /// Prefix the message with `ctx: ` (typically the jail's name), keeping the class.
    pub fn context(self, ctx: &str) -> Self {
        match self {
            Error::Os { what, source } => Error::Os {
                what: format!("{ctx}: {what}"),
                source,
            },
            Error::Compat { msg, code } => Error::Compat {
                msg: format!("{ctx}: {msg}"),
                code,
            },
            other => {
                let code = other.exit_code();
                let msg = format!("{ctx}: {other}");
                match code {
                    64 => Error::Usage(msg),
                    65 => Error::BadData(msg),
                    66 => Error::NotFound(msg),
                    69 => Error::Unavailable(msg),
                    73 => Error::Exists(msg),
                    75 => Error::TempFail(msg),
                    77 => Error::Permission(msg),
                    78 => Error::Config(msg),
                    _ => Error::Software(msg),
                }
            }
        }
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Self {
        Error::os("system call", io::Error::from(e))
    }
}

/// Attach a description to a failing `io`/`nix` result.
pub trait OsContext<T> {
    /// Describe what was being done when the call failed.
    fn what(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<io::Error>> OsContext<T> for std::result::Result<T, E> {
    fn what(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::os(what(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_sysexits() {
        assert_eq!(Error::Usage("x".into()).exit_code(), 64);
        assert_eq!(Error::BadData("x".into()).exit_code(), 65);
        assert_eq!(Error::NotFound("x".into()).exit_code(), 66);
        assert_eq!(
            Error::os("open", io::Error::from_raw_os_error(libc::EACCES)).exit_code(),
            77
        );
        assert_eq!(
            Error::os("open", io::Error::from_raw_os_error(libc::EIO)).exit_code(),
            71
        );
        assert_eq!(
            Error::Compat {
                msg: "m".into(),
                code: 1
            }
            .exit_code(),
            1
        );
    }

    #[test]
    fn context_keeps_the_class() {
        let e = Error::NotFound("no such release".into()).context("web");
        assert_eq!(e.to_string(), "web: no such release");
        assert_eq!(e.exit_code(), 66);
    }
}
