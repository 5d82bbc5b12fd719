//! jexec(8) on FreeBSD, step for step: the host user and its login class
//! are looked up before the jail is entered (`-u`, and `-l` without `-U`),
//! with `initgroups` from the host's group database; then jail_attach(2)
//! (which also changes root to the jail's path), the working directory,
//! and the user block: the `-U` user and its class from the jail's own
//! databases, the `-l` environment (`TERM` kept, `PATH=/bin:/usr/bin`),
//! setgid, setusercontext (every class setting but groups and login name
//! for a named user, which also sets the uid; only `PATH` and the
//! environment for `-l` alone), `USER`, `HOME`, `SHELL`, and with `-l` the
//! home directory; then execvp, or the shell with `-i`.
//!
//! A single command replaces this process, as jexec does; with several
//! jails (`-`) each runs in a forked child that is waited for.

use std::convert::Infallible;
use std::ffi::{CString, OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use libc::c_int;
use nix::fcntl::OFlag;
use nix::unistd::{ForkResult, Gid, Pid, chdir, execvp, pipe2, setgid, setgroups};

use super::{jid_of, kernel, sys};
use crate::error::{Error, Result};
use crate::exec::Exit;
use crate::exec::{self, Credentials, ExecSpec};
use crate::model::Jail;

/// What is settled before the fork (or the attach): the jail, the host
/// account with its login class, and the command.
#[derive(Debug)]
struct Plan<'a> {
    jid: c_int,
    spec: &'a ExecSpec,
    /// For `-u`, or `-l` without `-U`: the host's entry, its login class
    /// and its host groups (initgroups).
    host: Option<HostUser>,
    command: Vec<CString>,
}

#[derive(Debug)]
struct HostUser {
    pw: sys::Passwd,
    class: sys::LoginCap,
    groups: Vec<Gid>,
}

impl<'a> Plan<'a> {
    fn new(jail: &Jail, spec: &'a ExecSpec) -> Result<Self> {
        let jid = jid_of(jail)
            .ok_or_else(|| exec::failure(format!("jail \"{}\" not found", jail.name)))?;
        let account = match &spec.credentials {
            Credentials::Host(a) | Credentials::Login(a) => Some(a.clone()),
            Credentials::Caller if spec.login => Some(exec::invoking_account()?),
            Credentials::Caller | Credentials::Jail(_) => None,
        };
        let host = match account {
            None => None,
            Some(a) => {
                let pw = match &spec.credentials {
                    Credentials::Host(_) => sys::Passwd::by_name(&a.name),
                    _ => sys::Passwd::by_uid(a.uid),
                }
                .map_err(|e| exec::os_failure(format_args!("getpwnam: {}", a.name), e))?
                .ok_or_else(|| exec::failure(format!("{}: no such user", a.name)))?;
                let class = sys::LoginCap::of(&pw)
                    .map_err(|e| exec::os_failure(format_args!("getpwclass: {}", a.name), e))?;
                let groups = a.groups.iter().map(|g| Gid::from_raw(*g)).collect();
                Some(HostUser { pw, class, groups })
            }
        };
        let command = spec
            .command
            .iter()
            .map(|a| exec::c_string(a))
            .collect::<Result<_>>()?;
        Ok(Plan {
            jid,
            spec,
            host,
            command,
        })
    }
}

/// Run `spec` in `jail` in a forked child and wait for it.
pub fn run(jail: &Jail, spec: &ExecSpec) -> Result<Exit> {
    let plan = Plan::new(jail, spec)?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::os("pipe", e))?;
    match sys::fork().map_err(|e| Error::os("fork", e))? {
        ForkResult::Child => {
            drop(err_r);
            let Err(e) = enter(&plan);
            report(err_w, &e)
        }
        ForkResult::Parent { child } => {
            drop(err_w);
            if let Some(e) = read_failure(err_r) {
                let _ = sys::wait_ignoring_interrupts(child);
                return Err(e);
            }
            wait(child)
        }
    }
}

/// Become the command in `jail`, as jexec does: returns only on failure.
pub fn replace(jail: &Jail, spec: &ExecSpec) -> Result<Exit> {
    let plan = Plan::new(jail, spec)?;
    let Err(e) = enter(&plan);
    Err(e)
}

/// jexec's steps from the attach to the exec; returns only the failure
/// that stopped them.
fn enter(plan: &Plan) -> Result<Infallible> {
    let spec = plan.spec;
    if let Some(h) = &plan.host {
        // jexec's initgroups ran at the host lookup, before the attach.
        setgroups(&h.groups)
            .map_err(|e| exec::os_failure(format_args!("initgroups: {}", h.pw.name()), e))?;
    }
    kernel::enter_jail(&sys::HostKernel, plan.jid, spec.fib)
        .map_err(|(call, e)| exec::os_failure(call, e))?;
    let dir = spec.start_dir();
    chdir(dir).map_err(|e| exec::os_failure(format_args!("chdir(): {}", dir.display()), e))?;

    if spec.changes_user() {
        let jail_user;
        let (pw, class) = match (&spec.credentials, &plan.host) {
            (Credentials::Jail(name), _) => {
                jail_user = jail_account(name)?;
                (&jail_user.0, &jail_user.1)
            }
            (_, Some(h)) => (&h.pw, &h.class),
            (_, None) => return Err(exec::failure("unknown uid")),
        };
        if spec.login {
            let term = std::env::var_os("TERM");
            sys::clear_environment().map_err(|e| exec::os_failure("unsetenv", e))?;
            setenv("PATH", OsStr::new(exec::LOGIN_PATH))?;
            if let Some(t) = term {
                setenv("TERM", &t)?;
            }
        }
        setgid(Gid::from_raw(pw.gid())).map_err(|e| exec::os_failure("setgid", e))?;
        let flags = if spec.named_user() {
            sys::LOGIN_SETALL & !sys::LOGIN_SETGROUP & !sys::LOGIN_SETLOGIN
        } else {
            sys::LOGIN_SETPATH | sys::LOGIN_SETENV
        };
        sys::setusercontext(class, pw, pw.uid(), flags)
            .map_err(|e| exec::os_failure("setusercontext", e))?;
        setenv("USER", OsStr::new(pw.name()))?;
        setenv("HOME", pw.dir())?;
        let shell = if pw.shell().is_empty() {
            OsStr::new(exec::DEFAULT_SHELL)
        } else {
            pw.shell()
        };
        setenv("SHELL", shell)?;
        if spec.login && spec.dir.is_none() {
            chdir(pw.dir()).map_err(|e| {
                exec::os_failure(format_args!("chdir: {}", pw.dir().to_string_lossy()), e)
            })?;
        }
    }

    if let Some(program) = plan.command.first() {
        let e = execvp(program, &plan.command).unwrap_err();
        return Err(exec::exec_failure(
            "execvp",
            OsStr::from_bytes(program.as_bytes()),
            e,
        ));
    }
    let shell: OsString = std::env::var_os("SHELL").unwrap_or_else(|| exec::DEFAULT_SHELL.into());
    let cshell = exec::c_string(&shell)?;
    let e = execvp(&cshell, &[cshell.clone(), c"-i".into()]).unwrap_err();
    Err(exec::exec_failure("execlp", &shell, e))
}

/// The `-U` user from the jail's own databases (after the attach), its
/// login class, and initgroups from the jail's group database.
fn jail_account(name: &str) -> Result<(sys::Passwd, sys::LoginCap)> {
    let pw = sys::Passwd::by_name(name)
        .map_err(|e| exec::os_failure(format_args!("getpwnam: {name}"), e))?
        .ok_or_else(|| exec::failure(format!("{name}: no such user")))?;
    let class = sys::LoginCap::of(&pw)
        .map_err(|e| exec::os_failure(format_args!("getpwclass: {name}"), e))?;
    let cname = exec::c_string(OsStr::new(name))?;
    nix::unistd::initgroups(&cname, Gid::from_raw(pw.gid()))
        .map_err(|e| exec::os_failure(format_args!("initgroups: {name}"), e))?;
    Ok((pw, class))
}

fn setenv(name: &str, value: &OsStr) -> Result<()> {
    let n = exec::c_string(OsStr::new(name))?;
    let v = exec::c_string(value)?;
    sys::set_environment_variable(&n, &v).map_err(|e| exec::os_failure("setenv", e))
}

/// Write the failure to the parent, over the close-on-exec pipe (its exit
/// status, then its message), and end the child.
fn report(err_w: OwnedFd, e: &Error) -> ! {
    let mut msg = vec![e.exit_code()];
    msg.extend_from_slice(e.to_string().as_bytes());
    let _ = fs::File::from(err_w).write_all(&msg);
    sys::exit_now(i32::from(e.exit_code()))
}

/// What the child reported before exec, if anything (nothing: the exec
/// happened).
fn read_failure(err_r: OwnedFd) -> Option<Error> {
    let mut msg = Vec::new();
    let _ = fs::File::from(err_r).read_to_end(&mut msg);
    let (&code, text) = msg.split_first()?;
    Some(Error::Compat {
        msg: String::from_utf8_lossy(text).into_owned(),
        code,
    })
}

/// Wait for the command as system(3) does (the terminal's SIGINT and
/// SIGQUIT are for it, not for us).
fn wait(child: Pid) -> Result<Exit> {
    use nix::sys::wait::WaitStatus;
    match sys::wait_ignoring_interrupts(child).map_err(|e| Error::os("wait", e))? {
        WaitStatus::Exited(_, code) => Ok(Exit::Code(code)),
        WaitStatus::Signaled(_, sig, _) => Ok(Exit::Signal(sig as i32)),
        other => Err(Error::Software(format!("unexpected wait status {other:?}"))),
    }
}
