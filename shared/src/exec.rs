//! The exec spec: what to run in a jail and as whom, as jexec(8)'s options
//! describe it, the host account for `-u` (and for `-l` without `-U`), how
//! a process ended, and jexec's messages and exit statuses for failures
//! before the command runs. Entering the jail, changing credentials and
//! exec are each backend's `Backend::exec`; the jexec front (operands,
//! `-` for NDJSON records) is `crate::jexec`.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::{Gid, Uid, User};

use crate::error::{Error, Result};
use crate::fsio::raw;

/// How a process ended, as a shell reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this status.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Exit {
    /// The shell's `$?` for this ending (128 + signal for a signal).
    pub fn shell_status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }

    /// Whether the process succeeded.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

/// The shell jexec falls back to (`_PATH_BSHELL`).
pub const DEFAULT_SHELL: &str = "/bin/sh";

/// The `PATH` that `-l` starts from before the login class adds its own.
pub const LOGIN_PATH: &str = "/bin:/usr/bin";

/// `-u USER` or `-U USER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserOption {
    /// `-u`: looked up in the host's password database, before the jail is
    /// entered.
    Host(String),
    /// `-U`: looked up in the jail's own password database, after the jail
    /// is entered.
    Jail(String),
}

/// An account from a password database, with the group list `initgroups`
/// gives it (its primary group first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `pw_name`.
    pub name: String,
    /// `pw_uid`.
    pub uid: u32,
    /// `pw_gid`.
    pub gid: u32,
    /// `pw_dir`.
    pub dir: PathBuf,
    /// `pw_shell` (may be empty).
    pub shell: PathBuf,
    /// The supplementary groups.
    pub groups: Vec<u32>,
}

impl Account {
    /// What jexec sets `SHELL` to: `pw_shell`, or `/bin/sh` when empty.
    pub fn login_shell(&self) -> &Path {
        if self.shell.as_os_str().is_empty() {
            Path::new(DEFAULT_SHELL)
        } else {
            &self.shell
        }
    }
}

/// Whose credentials the command runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// The caller's own, untouched (no `-u`, `-U` or `-l`).
    Caller,
    /// `-l` alone: the caller's account from the host's database. Its group
    /// and groups and its login class's `PATH` and environment apply; the
    /// uid stays.
    Login(Account),
    /// `-u`: an account from the host's database.
    Host(Account),
    /// `-U`: a user to look up in the jail's database once inside.
    Jail(String),
}

/// What to run in a jail, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    /// The credentials.
    pub credentials: Credentials,
    /// `-l`: a clean login environment (and the user's home directory as
    /// the working directory unless `-d` is given).
    pub login: bool,
    /// `-d`: the working directory inside the jail (default `/`).
    pub dir: Option<PathBuf>,
    /// The command and its arguments; empty runs the user's shell with `-i`.
    pub command: Vec<OsString>,
    /// Whether a terminal on stdin is relayed through a pseudo-terminal of
    /// the jail's own (an interactive `jexec-rs`; jail(8)'s `command`,
    /// whose status `jmk start` returns), rather than through pipes
    /// (jail(8)'s `exec.*`, whose background processes the pty's hangup
    /// at their end would kill). On Linux the command never gets the
    /// caller's terminal itself (see the backend's `exec::stdio`).
    pub relay_terminal: bool,
    /// jail(8)'s `exec.fib`: the routing table (FIB) the command is given
    /// on FreeBSD, chosen before it enters the jail. Linux has no FIBs.
    pub fib: Option<i64>,
}

impl ExecSpec {
    /// The spec of a jexec command line, looking the host user up as jexec
    /// does before it attaches: for `-u`, and for `-l` without `-U` (the
    /// invoking user).
    pub fn new(
        user: Option<UserOption>,
        login: bool,
        dir: Option<PathBuf>,
        command: Vec<OsString>,
    ) -> Result<Self> {
        let credentials = match user {
            Some(UserOption::Host(name)) => Credentials::Host(host_user(&name)?),
            Some(UserOption::Jail(name)) => Credentials::Jail(name),
            None if login => Credentials::Login(invoking_account()?),
            None => Credentials::Caller,
        };
        Ok(ExecSpec {
            credentials,
            login,
            dir,
            command,
            relay_terminal: false,
            fib: None,
        })
    }

    /// Run `argv` with the caller's credentials and environment in the
    /// jail's root directory (how jail(8) runs `command`).
    pub fn command(argv: &[String]) -> Self {
        ExecSpec {
            credentials: Credentials::Caller,
            login: false,
            dir: None,
            command: argv.iter().map(|a| raw::os(a)).collect(),
            relay_terminal: false,
            fib: None,
        }
    }

    /// Whether jexec's user block runs at all (`-l`, `-u` or `-U`).
    pub fn changes_user(&self) -> bool {
        self.login || self.credentials != Credentials::Caller
    }

    /// Whether a user name was given (`-u` or `-U`): then every login-class
    /// setting applies and the uid changes; with `-l` alone only the class's
    /// `PATH` and environment do.
    pub fn named_user(&self) -> bool {
        matches!(
            self.credentials,
            Credentials::Host(_) | Credentials::Jail(_)
        )
    }

    /// The first working directory: `-d`, else the jail's root.
    pub fn start_dir(&self) -> &Path {
        self.dir.as_deref().unwrap_or(Path::new("/"))
    }
}

/// Look `name` up in the host's password database (jexec's `-u`).
fn host_user(name: &str) -> Result<Account> {
    match User::from_name(name) {
        Ok(Some(u)) => account_of(u),
        Ok(None) => Err(failure(format!("{name}: no such user"))),
        Err(e) => Err(failure(format!("getpwnam: {name}: {}", e.desc()))),
    }
}

/// The invoking user's entry in the host's database (what `-l` without a
/// user name applies).
pub fn invoking_account() -> Result<Account> {
    let uid = Uid::current();
    match User::from_uid(uid) {
        Ok(Some(u)) => account_of(u),
        Ok(None) => Err(failure(format!("unknown uid: {uid}"))),
        Err(e) => Err(failure(format!("getpwuid: {uid}: {}", e.desc()))),
    }
}

fn account_of(u: User) -> Result<Account> {
    let cname = CString::new(u.name.as_bytes())
        .map_err(|_| failure(format!("{}: no such user", u.name)))?;
    let groups = nix::unistd::getgrouplist(&cname, u.gid)
        .map_err(|e| failure(format!("initgroups: {}: {}", u.name, e.desc())))?;
    Ok(Account {
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        dir: u.dir,
        shell: u.shell,
        groups: groups.into_iter().map(Gid::as_raw).collect(),
        name: u.name,
    })
}

/// A failure jexec reports with status 1 (its `err(1, ...)`).
pub fn failure(msg: impl Into<String>) -> Error {
    Error::Compat {
        msg: msg.into(),
        code: 1,
    }
}

/// `what: strerror(errno)` with status 1.
pub fn os_failure(what: impl std::fmt::Display, errno: Errno) -> Error {
    failure(format!("{what}: {}", errno.desc()))
}

/// A command that could not be executed: `call: PROGRAM: strerror`, with
/// status 1 whatever the reason, as jexec's `err(1, ...)` and jail(8)'s
/// child's `exit(1)` after a failed exec.
pub fn exec_failure(call: &str, program: &OsStr, errno: Errno) -> Error {
    failure(format!(
        "{call}: {}: {}",
        program.to_string_lossy(),
        errno.desc()
    ))
}

/// `s` as a C string, for a program, argument, path or variable
/// (a NUL byte cannot be passed to the kernel).
pub fn c_string(s: &OsStr) -> Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| Error::Compat {
        msg: format!("{}: {}", s.to_string_lossy(), Errno::EINVAL.desc()),
        code: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_failures_are_status_1_as_jexec_errs() {
        let e = exec_failure("execvp", OsStr::new("nope"), Errno::ENOENT);
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            ("execvp: nope: No such file or directory", 1)
        );
        let e = exec_failure("execlp", OsStr::new("/etc"), Errno::EACCES);
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            ("execlp: /etc: Permission denied", 1)
        );
        assert_eq!(os_failure("chdir(): /x", Errno::ENOENT).exit_code(), 1);
    }

    #[test]
    fn the_user_block_runs_for_l_u_and_capital_u() {
        let mut s = ExecSpec::command(&["true".into()]);
        assert!(!s.changes_user() && !s.named_user());
        assert_eq!(s.start_dir(), Path::new("/"));
        s.login = true;
        assert!(s.changes_user() && !s.named_user());
        s.credentials = Credentials::Jail("www".into());
        assert!(s.named_user());
        let root = host_user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(root.groups.first(), Some(&0));
        let e = host_user("no-such-user-jkit").unwrap_err();
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            ("no-such-user-jkit: no such user", 1)
        );
    }

    #[test]
    fn an_empty_shell_is_bin_sh() {
        let a = Account {
            name: "x".into(),
            uid: 1,
            gid: 1,
            dir: "/".into(),
            shell: PathBuf::new(),
            groups: vec![1],
        };
        assert_eq!(a.login_shell(), Path::new("/bin/sh"));
    }
}
