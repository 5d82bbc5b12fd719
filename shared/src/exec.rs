//! jexec(8): run a command inside a running jail, with jexec's user,
//! group, login-class and environment steps in jexec's order.
//!
//! What happens before the jail is entered lives here: the host account
//! for `-u` (and for `-l` without `-U`), the jail operand (a jid, a name,
//! or `-` for NDJSON jail records on stdin), and jexec's messages and exit
//! statuses. Entering the jail, changing credentials and exec are each
//! backend's [`Backend::exec`].

use std::ffi::{CString, OsStr, OsString};
use std::io::BufRead;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::{Gid, Uid, User};

use crate::backend::{Backend, Exit};
use crate::error::{Error, Result};
use crate::model::{Jail, JailKey};

/// jexec's usage message (FreeBSD prints it without the program name).
pub const USAGE: &str = "usage: jexec [-l] [-u username | -U username] jail [command ...]";

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
        })
    }

    /// Run `argv` with the caller's credentials and environment in the
    /// jail's root directory (how jail(8) runs `command`).
    pub fn command(argv: &[String]) -> Self {
        ExecSpec {
            credentials: Credentials::Caller,
            login: false,
            dir: None,
            command: argv.iter().map(OsString::from).collect(),
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

/// How jexec reads its jail operand: an all-digit string is a jid (0 is
/// the host itself), anything else a name.
pub fn jail_key(operand: &str) -> JailKey {
    if !operand.is_empty() && operand.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(jid) = operand.parse::<i64>() {
            return JailKey::Jid(jid);
        }
    }
    JailKey::Name(operand.to_string())
}

/// The running jail `key` names, or jexec's complaint.
pub fn resolve(backend: &dyn Backend, key: &JailKey) -> Result<Jail> {
    refuse_host(key)?;
    backend.find(key, false)?.ok_or_else(|| not_found(key))
}

/// jail_getid("0") is the host itself, which no one attaches to.
fn refuse_host(key: &JailKey) -> Result<()> {
    if *key == JailKey::Jid(0) {
        return Err(failure(format!("jail_attach(0): {}", Errno::EINVAL.desc())));
    }
    Ok(())
}

/// jexec's complaint about a jail that does not run.
fn not_found(key: &JailKey) -> Error {
    failure(match key {
        JailKey::Jid(j) => format!("jail {j} not found"),
        JailKey::Name(n) => format!("jail \"{n}\" not found"),
    })
}

/// Run `spec` in the jail named by `operand`, or, for `-`, in each jail of
/// the NDJSON records on `stdin` in turn, stopping at the first command
/// that does not succeed. Returns how the (last) command ended.
pub fn run(
    backend: &dyn Backend,
    operand: &str,
    spec: &ExecSpec,
    stdin: impl BufRead,
) -> Result<Exit> {
    if operand != "-" {
        let key = jail_key(operand);
        refuse_host(&key)?;
        return backend.exec_key(&key, spec)?.ok_or_else(|| not_found(&key));
    }
    let mut last = Exit::Code(0);
    for key in crate::wire::read_refs(stdin)? {
        let jail = resolve(backend, &key)?;
        last = backend.exec(&jail, spec)?;
        if !last.success() {
            break;
        }
    }
    Ok(last)
}

/// The exit status of a jexec that ran a command which ended so: its
/// status, or 128 + N for death by signal N, as a shell reports it.
pub fn status_byte(exit: Exit) -> u8 {
    exit.shell_status().clamp(0, 255) as u8
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
/// the shell's statuses: 127 when it does not exist, 126 when it cannot be
/// run.
pub fn exec_failure(call: &str, program: &OsStr, errno: Errno) -> Error {
    let code = if errno == Errno::ENOENT { 127 } else { 126 };
    Error::Compat {
        msg: format!("{call}: {}: {}", program.to_string_lossy(), errno.desc()),
        code,
    }
}

/// How a child that failed before exec tells its parent, over a
/// close-on-exec pipe: the exit status, then the message.
pub fn failure_report(e: &Error) -> Vec<u8> {
    let mut msg = vec![e.exit_code()];
    msg.extend_from_slice(e.to_string().as_bytes());
    msg
}

/// The failure a [`failure_report`] carries; none when the pipe held
/// nothing (the exec happened).
pub fn failure_of_report(msg: &[u8]) -> Option<Error> {
    let (&code, text) = msg.split_first()?;
    Some(Error::Compat {
        msg: String::from_utf8_lossy(text).into_owned(),
        code,
    })
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
    fn operands_are_jids_when_all_digits() {
        assert_eq!(jail_key("7"), JailKey::Jid(7));
        assert_eq!(jail_key("007"), JailKey::Jid(7));
        assert_eq!(jail_key("0"), JailKey::Jid(0));
        assert_eq!(jail_key("7a"), JailKey::Name("7a".into()));
        assert_eq!(jail_key("-7"), JailKey::Name("-7".into()));
        assert_eq!(jail_key(""), JailKey::Name(String::new()));
        assert_eq!(jail_key("web"), JailKey::Name("web".into()));
    }

    #[test]
    fn failure_reports_carry_status_and_message() {
        let e = exec_failure("execvp", OsStr::new("nope"), Errno::EACCES);
        let back = failure_of_report(&failure_report(&e)).expect("a failure");
        assert_eq!(
            (back.to_string(), back.exit_code()),
            (e.to_string(), e.exit_code())
        );
        assert!(
            failure_of_report(&[]).is_none(),
            "nothing: the exec happened"
        );
    }

    #[test]
    fn exec_failures_use_the_shells_statuses() {
        let e = exec_failure("execvp", OsStr::new("nope"), Errno::ENOENT);
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            ("execvp: nope: No such file or directory", 127)
        );
        let e = exec_failure("execlp", OsStr::new("/etc"), Errno::EACCES);
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            ("execlp: /etc: Permission denied", 126)
        );
        assert_eq!(os_failure("chdir(): /x", Errno::ENOENT).exit_code(), 1);
    }

    #[test]
    fn signal_deaths_read_as_a_shell_reports_them() {
        assert_eq!(status_byte(Exit::Code(3)), 3);
        assert_eq!(status_byte(Exit::Signal(15)), 143);
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
