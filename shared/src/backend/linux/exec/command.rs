//! The command's process: forked by the jail's init on a jexec's
//! [`Request::Spawn`](crate::backend::linux::protocol::Request::Spawn),
//! so it is born in the jail's namespaces, cgroups and Landlock domain,
//! and becomes the command (EXEC in [`crate::backend::linux::protocol`]).
//!
//! It has what it does not inherit from the init from the order jexec
//! wrote: in this order it reads the order, leads a process group of its
//! own (or, on a pty of the jail's, a session of its own: so a `kill(0)`
//! in the jail reaches no process outside it), takes the jail's rlimits,
//! its standard descriptors (those jexec passed, or the jail's pty, see
//! [`super::stdio`]), the jail's seccomp filter, keeps only the jail's
//! capabilities (bounding, permitted, effective; ambient cleared), closes
//! every descriptor but 0, 1 and 2 (and the `failure` channel, until
//! exec), changes to the working directory, takes jexec's user steps
//! (look the `-U` user up in the jail, `-l` environment, groups, gid,
//! login.defs as the login class, uid, `USER`/`HOME`/`SHELL`, home
//! directory), the caller's environment, signal mask and ignored signals
//! (SIGPIPE gets its default action), and execs. A failure before exec goes back to jexec on the `failure`
//! channel, and the process exits with its status, which the init relays.

use std::convert::Infallible;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{ForkResult, Gid, Pid, Uid, chdir, execvp, setgid, setgroups, setpgid, setuid};

use super::accounts::{self, LoginDefs};
use super::stdio;
use crate::backend::linux::protocol::{self, Failure, Order, Sender, SpawnFds};
use crate::backend::linux::{seccomp, sys};
use crate::error::{Error, Result};
use crate::exec::{self, Account, Credentials};

/// In the jail's init: fork the command's process for the descriptors
/// `fds` of a spawn request (`terminals_out_of_reach`: see
/// [`terminals_out_of_reach`](crate::backend::linux::start::setup::terminals_out_of_reach)). A fork that fails is reported on the `failure` channel,
/// as the command's process would have.
pub fn spawn(fds: SpawnFds, terminals_out_of_reach: bool) -> Option<Pid> {
    match sys::fork() {
        Ok(ForkResult::Child) => become_command(fds, terminals_out_of_reach),
        Ok(ForkResult::Parent { child }) => Some(child),
        Err(e) => {
            let failure = Sender::<Failure>::from(fds.failure);
            let _ = failure.send(&Failure(Error::os("fork", e)));
            None
        }
    }
}

/// The forked child: become the command, or report why not and exit.
fn become_command(fds: SpawnFds, terminals_out_of_reach: bool) -> ! {
    let SpawnFds {
        order,
        failure,
        rest,
    } = fds;
    let failure = Sender::<Failure>::from(failure);
    let Err(e) = protocol::read_order(order)
        .map_err(|e| Error::os("read the command's order", e))
        .and_then(|order| command(&order, &failure, rest, terminals_out_of_reach));
    report(&failure, e)
}

/// The way to the command; returns only the failure that stopped it.
fn command(
    order: &Order,
    failure: &Sender<Failure>,
    passed: Vec<OwnedFd>,
    terminals_out_of_reach: bool,
) -> Result<Infallible> {
    let spec = &order.spec;
    let attach = |e: Errno| exec::os_failure(format_args!("jail_attach({})", order.jid), e);
    if order.pty.is_none() {
        setpgid(Pid::from_raw(0), Pid::from_raw(0)).map_err(|e| exec::os_failure("setpgid", e))?;
    }
    for r in &order.rlimits {
        let v = |x: u64| {
            if x == u64::MAX {
                nix::sys::resource::RLIM_INFINITY
            } else {
                x
            }
        };
        nix::sys::resource::setrlimit(r.kind.resource(), v(r.soft), v(r.hard)).map_err(attach)?;
    }
    // Before the filter and the capabilities go (a devpts of its own
    // needs them).
    stdio::install(order.pty.as_ref(), passed)?;
    // Installing a filter without no_new_privs needs CAP_SYS_ADMIN: first.
    sys::install_seccomp(&seccomp::program(order.nested, !terminals_out_of_reach))
        .map_err(|e| attach(errno(&e)))?;
    limit_caps(order.bounding, order.caps, order.last_cap).map_err(|e| attach(errno(&e)))?;
    // What the init had open is not the command's.
    sys::close_fds_from(3, &[failure.as_raw_fd()]).map_err(|e| attach(errno(&e)))?;
    let dir = spec.start_dir();
    chdir(dir).map_err(|e| exec::os_failure(format_args!("chdir(): {}", dir.display()), e))?;

    let env = if spec.changes_user() {
        user_steps(order)?
    } else {
        order.env.clone()
    };
    let vars = env
        .iter()
        .map(|(k, v)| Ok((exec::c_string(k)?, exec::c_string(v)?)))
        .collect::<Result<Vec<_>>>()?;
    sys::replace_environment(&vars).map_err(|e| exec::os_failure("setenv", errno(&e)))?;
    let sigpipe = 1u64 << (Signal::SIGPIPE as i32 - 1);
    sys::set_signal_dispositions(order.ignored & !sigpipe)
        .map_err(|e| exec::os_failure("signal", errno(&e)))?;
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&mask_of(order.mask)), None)
        .map_err(|e| exec::os_failure("sigprocmask", e))?;

    let command = spec
        .command
        .iter()
        .map(|a| exec::c_string(a))
        .collect::<Result<Vec<_>>>()?;
    if let Some(program) = command.first() {
        let e = execvp(program, &command).unwrap_err();
        return Err(exec::exec_failure(
            "execvp",
            OsStr::from_bytes(program.as_bytes()),
            e,
        ));
    }
    let shell = lookup(&env, "SHELL")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| exec::DEFAULT_SHELL.into());
    let cshell = exec::c_string(&shell)?;
    let e = execvp(&cshell, &[cshell.clone(), c"-i".into()]).unwrap_err();
    Err(exec::exec_failure("execlp", &shell, e))
}

/// A signal mask as an order carries it (bit n-1 for signal n).
pub(super) fn mask_bits(set: &SigSet) -> u64 {
    Signal::iterator()
        .filter(|s| set.contains(*s))
        .fold(0, |bits, s| bits | 1u64 << (s as i32 - 1))
}

fn mask_of(bits: u64) -> SigSet {
    let mut set = SigSet::empty();
    for s in Signal::iterator().filter(|s| bits & (1u64 << (*s as i32 - 1)) != 0) {
        set.add(s);
    }
    set
}

/// jexec's block for `-l`, `-u` and `-U`: the account, groups, gid, the
/// login class (login.defs: `PATH`, and for a named user the umask and
/// uid), `USER`, `HOME`, `SHELL`, and with `-l` the home directory.
/// Returns the environment the command gets.
fn user_steps(order: &Order) -> Result<Vec<(OsString, OsString)>> {
    let spec = &order.spec;
    let (account, defs) = match (&spec.credentials, &order.host_account) {
        (Credentials::Jail(name), _) => jail_account(name)?,
        (_, Some(a)) => (a.clone(), LoginDefs::parse(&order.host_defs)),
        (_, None) => return Err(exec::failure(format!("unknown uid: {}", Uid::current()))),
    };
    let mut vars = order.env.clone();
    if spec.login {
        let term = lookup(&vars, "TERM").cloned();
        vars.clear();
        set(&mut vars, "PATH".into(), exec::LOGIN_PATH.into());
        if let Some(t) = term {
            set(&mut vars, "TERM".into(), t);
        }
    }
    let groups: Vec<Gid> = account.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups)
        .map_err(|e| exec::os_failure(format_args!("initgroups: {}", account.name), e))?;
    setgid(Gid::from_raw(account.gid)).map_err(|e| exec::os_failure("setgid", e))?;
    let (path_name, path) = defs.path_var(account.uid);
    set(&mut vars, path_name, path);
    if spec.named_user() {
        umask(Mode::from_bits_truncate(defs.umask()));
        setuid(Uid::from_raw(account.uid)).map_err(|e| exec::os_failure("setusercontext", e))?;
    }
    set(&mut vars, "USER".into(), account.name.clone().into());
    set(
        &mut vars,
        "HOME".into(),
        account.dir.clone().into_os_string(),
    );
    set(
        &mut vars,
        "SHELL".into(),
        account.login_shell().as_os_str().to_owned(),
    );
    if spec.login && spec.dir.is_none() {
        chdir(&account.dir)
            .map_err(|e| exec::os_failure(format_args!("chdir: {}", account.dir.display()), e))?;
    }
    Ok(vars)
}

/// The `-U` user from the jail's own files (the process is inside the
/// jail's mount namespace), with its groups and the jail's login.defs.
fn jail_account(name: &str) -> Result<(Account, LoginDefs)> {
    let lookup_failure =
        |e: std::io::Error| exec::os_failure(format_args!("getpwnam: {name}"), errno(&e));
    let passwd = accounts::read_file(Path::new("/etc/passwd")).map_err(lookup_failure)?;
    let mut account = accounts::find_user(&passwd, name)
        .ok_or_else(|| exec::failure(format!("{name}: no such user")))?;
    let group = match accounts::read_file(Path::new("/etc/group")) {
        Ok(g) => g,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(exec::os_failure(
                format_args!("initgroups: {name}"),
                errno(&e),
            ));
        }
    };
    account.groups = accounts::group_list(&group, name, account.gid);
    let defs =
        LoginDefs::parse(&accounts::read_file(Path::new("/etc/login.defs")).unwrap_or_default());
    Ok((account, defs))
}

fn lookup<'a>(vars: &'a [(OsString, OsString)], name: &str) -> Option<&'a OsString> {
    vars.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// setenv(3): replace in place, or append.
fn set(vars: &mut Vec<(OsString, OsString)>, name: OsString, value: OsString) {
    match vars.iter_mut().find(|(k, _)| *k == name) {
        Some(slot) => slot.1 = value,
        None => vars.push((name, value)),
    }
}

/// Keep only the capabilities in `keep`, and in the bounding set only
/// those in `bounding`: drop the rest from the bounding set (numbers up to
/// `last`, read from the host's /proc by jexec, as the jail may have no
/// /proc), clear the ambient set, and limit the permitted and effective
/// sets.
fn limit_caps(bounding: u64, keep: u64, last: u32) -> std::io::Result<()> {
    for c in (0..=last).filter(|c| bounding & (1u64 << c) == 0) {
        sys::capbset_drop(c)?;
    }
    sys::clear_ambient_caps()?;
    sys::capset(keep)
}

/// Send the failure to jexec and end the process with its status.
fn report(failure: &Sender<Failure>, e: Error) -> ! {
    let code = e.exit_code();
    let _ = failure.send(&Failure(e));
    sys::exit_now(i32::from(code))
}

fn errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_updates_keep_order() {
        let mut v: Vec<(OsString, OsString)> =
            vec![("A".into(), "1".into()), ("B".into(), "2".into())];
        set(&mut v, "A".into(), "3".into());
        set(&mut v, "C".into(), "4".into());
        assert_eq!(
            v,
            [
                ("A".into(), "3".into()),
                ("B".into(), "2".into()),
                ("C".into(), "4".into())
            ]
        );
        assert_eq!(lookup(&v, "B"), Some(&OsString::from("2")));
        assert_eq!(lookup(&v, "Z"), None);
    }

    #[test]
    fn signal_masks_cross_as_bits() {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGCHLD);
        let bits = mask_bits(&set);
        assert_eq!(bits, 1 << 1 | 1 << 16);
        let back = mask_of(bits);
        assert!(back.contains(Signal::SIGINT) && back.contains(Signal::SIGCHLD));
        assert!(!back.contains(Signal::SIGTERM));
    }
}
