//! jexec(8) on Linux: run a command inside a running jail.
//!
//! The parent joins the jail's pid namespace (which only its children
//! enter) and forks. That child connects to the control socket of the
//! jail's init ([`relay`]), forks the command's process (on cgroup v2 into
//! the jail's cgroup), registers it with the init and exits, so the
//! command becomes a child of the jail's init while staying in the
//! caller's session, in a process group of its own (so that a `kill(0)`
//! in the jail reaches no process of the host's), unless stdin is a
//! terminal: then it runs on a pseudo-terminal of the jail's own, in a
//! session of its own, which jexec relays to the caller's terminal
//! ([`stdio`]; so are standard descriptors that are host files). The
//! command's process, in this order: makes
//! itself undumpable (so no jail process can reach its memory, descriptors
//! or host root through /proc while it is still privileged), moves itself
//! into the jail's v1 cgroups, takes the
//! jail's rlimits, joins the init's namespaces (all at once, through a
//! pidfd of the init; the mount namespace makes the jail's root its root),
//! takes its standard descriptors (the jail's pty, the relay's pipes),
//! installs the jail's seccomp filter, keeps only the jail's capabilities
//! (bounding, permitted, effective; ambient cleared), closes every
//! descriptor but 0, 1 and 2 (and its copy of the connection, until exec),
//! changes to the working directory, then takes jexec's user steps (look
//! the `-U` user up in the jail, `-l` environment, groups, gid, login.defs
//! as the login class, uid, `USER`/`HOME`/`SHELL`, home directory),
//! restores the caller's signal mask and SIGPIPE, waits until the init has
//! adopted it and the parent has reaped the intermediate child (the
//! `adopted` gate, which the parent opens then), and execs. The parent
//! waits for the statuses the init relays, passing the signals a process
//! sends it on through the init, then reads the close-on-exec `failure`
//! channel through which a failure before exec comes back as jexec's
//! message and status, and returns how the command ended. If the parent
//! dies first, its connection ends and the init kills the command. The
//! messages are EXEC in [`super::protocol`].

mod accounts;
pub(super) mod inject;
pub(super) mod relay;
mod stdio;

use std::convert::Infallible;
use std::ffi::{CString, OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SigSet, SignalFd};
use nix::sys::stat::{Mode, umask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, chdir, execvp, setgid, setgroups, setpgid, setuid};

use super::cgroup::JailCgroup;
use super::procfs::{self, Mount, ProcessCgroup};
use super::protocol::{self, Failure, Gate, GateHold, Receiver, Sender, Status};
use super::state::{self, Phase};
use super::{NAMESPACES, caps, idmap, own_network, params_of, seccomp, sys, user_namespace_base};
use crate::error::{Error, Result};
use crate::exec::Exit;
use crate::exec::{self, Account, Credentials, ExecSpec};
use crate::paths::Paths;
use accounts::LoginDefs;

/// The signals passed on to the command when a process sends them to the
/// waiting parent (as the command would get them if jexec had become it).
const FORWARDED: [Signal; 8] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGWINCH,
];

/// Everything the child needs, made before the fork so that the child
/// mostly makes system calls.
struct Plan<'a> {
    jid: i64,
    spec: &'a ExecSpec,
    /// The jail's init (a pidfd), whose namespaces the command joins.
    init: OwnedFd,
    /// Which of them the command joins after the pid namespace (all at
    /// once, through the pidfd).
    joins: CloneFlags,
    /// The files through which the command's process moves itself into
    /// the jail's cgroups: v1's `tasks`.
    cgroups: Vec<PathBuf>,
    /// The jail's v2 cgroup: the child is forked straight into it.
    v2_cgroup: Option<V2Cgroup>,
    /// The jail's rctl rlimits.
    rctl: JailCgroup,
    caps: u64,
    /// The bounding set (see `caps::bounding_mask`).
    bounding: u64,
    last_cap: u32,
    filter: Vec<libc::sock_filter>,
    /// The account for `-u`, or the caller's for `-l`.
    host_account: Option<Account>,
    /// The host's login.defs (for `-u` and `-l` without `-U`).
    host_defs: LoginDefs,
    /// The caller's environment.
    env: Vec<(OsString, OsString)>,
    command: Vec<CString>,
}

/// Run `spec` in the running jail `name` and wait for it.
pub fn run(paths: &Paths, name: &str, spec: &ExecSpec) -> Result<Exit> {
    run_if(paths, name, |s| s.phase != Phase::Starting, spec)?
        .ok_or_else(|| exec::failure(format!("jail \"{name}\" not found")))
}

/// Run `spec` in the jail `name` if its state is `accept`ed and its init
/// is alive, and wait for it; `None` if not.
pub fn run_if(
    paths: &Paths,
    name: &str,
    accept: impl Fn(&state::RunState) -> bool,
    spec: &ExecSpec,
) -> Result<Option<Exit>> {
    let Some(st) = state::read(paths, name)?.filter(|s| accept(s)) else {
        return Ok(None);
    };
    let Some(init) = st.init else {
        return Ok(None);
    };
    // The init's own namespaces (the same as the pins, without entering
    // the pin holder), through a pidfd: setns(2) joins several at once
    // from it (Linux 5.8), one call instead of an open and a setns each.
    // Whether it is the init still (not a reused pid) is checked once open.
    let Some(init_fd) = sys::pidfd_open(Pid::from_raw(init.pid))
        .ok()
        .filter(|_| init.alive())
    else {
        return Ok(None);
    };
    let plan = Plan::make(paths, &st, (init.pid, init_fd), spec)?;
    let control = relay::Control::of(&paths.run_jail_dir(name))
        .map_err(|e| attach_failure(st.jid, errno(&e)))?;
    run_planned(&plan, &control).map(Some)
}

impl<'a> Plan<'a> {
    /// The plan of running `spec` in the jail `st` describes, whose init
    /// (its pid, and a pidfd of it) is `init`.
    fn make(
        paths: &Paths,
        st: &state::RunState,
        (init_pid, init): (i32, OwnedFd),
        spec: &'a ExecSpec,
    ) -> Result<Self> {
        let jid = st.jid;
        let attach = |e: std::io::Error| attach_failure(jid, errno(&e));
        let params = params_of(st);
        let mut joins = NAMESPACES
            .iter()
            .map(|(_, f)| *f)
            .filter(|f| *f != CloneFlags::CLONE_NEWPID)
            .fold(CloneFlags::empty(), |all, f| all | f);
        // ip4=inherit: the jail shares the host's network.
        if own_network(&params) {
            joins |= CloneFlags::CLONE_NEWNET;
        }
        // The kernel enters the user namespace first, so that the others,
        // which it owns, can be entered.
        if user_namespace_base(&params).is_some() {
            joins |= CloneFlags::CLONE_NEWUSER;
        }
        let host_account = match &spec.credentials {
            Credentials::Host(a) | Credentials::Login(a) => Some(a.clone()),
            Credentials::Caller if spec.login => Some(exec::invoking_account()?),
            Credentials::Caller | Credentials::Jail(_) => None,
        };
        let rctl = JailCgroup::of(paths, &st.name)?;
        let (v1, v2) = match &rctl.cgroup {
            Some(cg) => jail_cgroup_dirs(cg),
            None => cgroups_to_join(init_pid).map_err(attach)?,
        };
        Ok(Plan {
            jid,
            spec,
            init,
            joins,
            cgroups: v1.iter().map(|d| d.join("tasks")).collect(),
            v2_cgroup: v2.map(V2Cgroup::open).transpose().map_err(attach)?,
            rctl,
            caps: caps::keep_mask(&params, own_network(&params)),
            bounding: caps::bounding_mask(&params, own_network(&params)),
            last_cap: caps::last_cap(),
            filter: seccomp::program(params.int("children.max").unwrap_or(0) > 0),
            host_defs: match host_account {
                Some(_) => LoginDefs::parse(&fs::read("/etc/login.defs").unwrap_or_default()),
                None => LoginDefs::default(),
            },
            host_account,
            env: std::env::vars_os().collect(),
            command: spec
                .command
                .iter()
                .map(|a| exec::c_string(a))
                .collect::<Result<_>>()?,
        })
    }
}

/// Run `plan` through the jail's `control` socket and wait for the
/// command (EXEC in [`super::protocol`]).
fn run_planned(plan: &Plan, control: &relay::Control) -> Result<Exit> {
    let jid = plan.jid;
    let host_pid_ns =
        fs::File::open("/proc/self/ns/pid").map_err(|e| attach_failure(jid, errno(&e)))?;
    // Connected by the intermediate child (the init then wakes once, for
    // the connection and the registration together).
    let conn = relay::unconnected().map_err(|e| attach_failure(jid, errno(&e)))?;
    let (failure_tx, failure_rx) = protocol::channel().map_err(|e| Error::os("pipe", e))?;
    // The command's process execs only once this gate opens: once the
    // intermediate child has exited and this process has reaped it.
    let (adopted, adopted_hold) = protocol::gate().map_err(|e| Error::os("pipe", e))?;
    let mut wait_for = SigSet::empty();
    for s in FORWARDED.iter().chain(&[Signal::SIGCHLD]) {
        wait_for.add(*s);
    }
    // The caller's terminal goes into raw mode before the signals are
    // blocked (a jexec in the background stops there until brought back).
    let (for_command, relay) = stdio::prepare(plan.spec.relay_terminal)?;
    // SIGTTOU too: giving the caller's terminal its settings back must not
    // stop us (it is not waited for, so not in the fd).
    let mut block = wait_for;
    block.add(Signal::SIGTTOU);
    let blocked = Blocked::block(&block)?;
    setns(&plan.init, CloneFlags::CLONE_NEWPID).map_err(|e| attach_failure(jid, e))?;
    let forked = sys::fork();
    if let Ok(ForkResult::Child) = forked {
        drop((failure_rx, adopted_hold));
        let Err(e) = hand_over(
            plan,
            &blocked.caller,
            &failure_tx,
            (control, conn.as_fd()),
            &adopted,
            &for_command,
        );
        report(&failure_tx, e);
    }
    // Back to the host's pid namespace at once: a later fork of this
    // process must not land in the jail. Checked once the child is handled.
    let back = setns(&host_pid_ns, CloneFlags::CLONE_NEWPID);
    let child = match forked {
        Ok(ForkResult::Parent { child }) => child,
        Ok(ForkResult::Child) => unreachable!("the child execs or exits in `report`"),
        Err(e) => return Err(Error::os("fork", e)),
    };
    // The command's ends of its descriptors are its own: a pipe's end
    // left here would keep it from ending.
    drop((failure_tx, adopted, for_command));
    // Wait first and read the failure after: the exec closes its channel,
    // so it holds a failure or nothing by then.
    let outcome = wait_relayed(child, adopted_hold, conn.as_fd(), &wait_for, relay);
    let failure = read_failure(failure_rx);
    back.map_err(|e| Error::os("return to the host's pid namespace", e))?;
    match failure {
        Some(e) => Err(e),
        None => outcome,
    }
}

/// The intermediate child, in the jail's pid namespace: connect `conn` to
/// the jail's control socket, fork the command's process (into the jail's
/// v2 cgroup, or move it there on a kernel without `CLONE_INTO_CGROUP`),
/// register it with the init on `conn` and exit, which hands it to the
/// init (the reaper of the pid namespace). The command's process execs
/// only once this process has exited. Returns only a failure.
fn hand_over(
    plan: &Plan,
    caller_mask: &SigSet,
    failure: &Sender<Failure>,
    (control, conn): (&relay::Control, BorrowedFd),
    adopted: &Gate,
    stdio: &stdio::ForCommand,
) -> Result<Infallible> {
    // Visible in the jail's /proc while it holds the host's root, mounts
    // and descriptors: as the command's process does, first of all.
    nix::sys::prctl::set_dumpable(false).map_err(|e| attach_failure(plan.jid, e))?;
    control
        .connect(conn)
        .map_err(|e| attach_failure(plan.jid, errno(&e)))?;
    // Into the jail's v2 cgroup (the intermediate child is single-threaded,
    // as that needs); on a kernel before 5.7 moved through `cgroup.procs`.
    let v2 = plan.v2_cgroup.as_ref();
    let (forked, born_inside) = sys::fork_in_cgroup(v2.map(|c| c.fd.as_fd()));
    let v2_to_join = v2.filter(|_| !born_inside).map(|c| &c.dir);
    match forked {
        Ok(ForkResult::Child) => enter(plan, caller_mask, failure, (conn, adopted), stdio),
        Ok(ForkResult::Parent { child }) => {
            let attach = |e: std::io::Error| attach_failure(plan.jid, errno(&e));
            let v2_procs = v2_to_join.map(|d| d.join("cgroup.procs"));
            let handed = v2_procs
                .map_or(Ok(()), |file| move_to_cgroup(&file, child))
                .map_err(attach)
                .and_then(|()| lead_group(stdio, child))
                .and_then(|()| relay::register(conn, child).map_err(attach));
            match handed {
                Ok(()) => sys::exit_now(0),
                Err(e) => {
                    let _ = kill(child, Signal::SIGKILL);
                    Err(e)
                }
            }
        }
        Err(e) => Err(Error::os("fork", e)),
    }
}

/// A process group of its own for the command's process `child` (see
/// [`stdio::ForCommand::own_group`]): in the caller's group, a `kill(0)`
/// in the jail would reach the caller and the host's other processes of
/// its group. Set before the command's process may exec (it waits for
/// this process's end).
fn lead_group(stdio: &stdio::ForCommand, child: Pid) -> Result<()> {
    if stdio.own_group() {
        setpgid(child, child).map_err(|e| exec::os_failure("setpgid", e))?;
    }
    Ok(())
}

/// The child's way to the command; returns only the failure that stopped
/// it.
fn enter(
    plan: &Plan,
    caller_mask: &SigSet,
    failure: &Sender<Failure>,
    (conn, adopted): (BorrowedFd, &Gate),
    stdio: &stdio::ForCommand,
) -> Result<Infallible> {
    let spec = plan.spec;
    let attach = |e: Errno| attach_failure(plan.jid, e);
    nix::sys::prctl::set_dumpable(false).map_err(attach)?;
    // "0", this thread (the process has no other): a move of the caller
    // itself needs no global lock, where writing another process's pid
    // waits for an RCU grace period when no other cgroup move came just
    // before, as with a jexec now and then.
    for tasks in &plan.cgroups {
        fs::write(tasks, "0").map_err(|e| attach(errno(&e)))?;
    }
    plan.rctl.take_rlimits().map_err(|e| attach(errno(&e)))?;
    setns(&plan.init, plan.joins).map_err(attach)?;
    if plan.joins.contains(CloneFlags::CLONE_NEWUSER) {
        // The host's root has no id in the jail: be the jail's root
        // before anything, the user steps below included.
        idmap::become_root().map_err(attach)?;
    }
    // Inside the jail's mount namespace (its devpts), and before the
    // filter and the capabilities go (a devpts of its own needs them).
    stdio.install()?;
    // Installing a filter without no_new_privs needs CAP_SYS_ADMIN: first.
    sys::install_seccomp(&plan.filter).map_err(|e| attach(errno(&e)))?;
    limit_caps(plan.bounding, plan.caps, plan.last_cap).map_err(|e| attach(errno(&e)))?;
    // The connection stays open until exec (close-on-exec): jexec's death
    // cannot end it before the init has adopted this process.
    // The gate's holding end goes too: only jexec's and the intermediate
    // child's copies hold it shut.
    sys::close_fds_from(
        3,
        &[failure.as_raw_fd(), conn.as_raw_fd(), adopted.as_raw_fd()],
    )
    .map_err(|e| attach(errno(&e)))?;
    let dir = spec.start_dir();
    chdir(dir).map_err(|e| exec::os_failure(format_args!("chdir(): {}", dir.display()), e))?;

    let env = if spec.changes_user() {
        Some(user_steps(plan)?)
    } else {
        None
    };
    if let Some(vars) = &env {
        let vars = vars
            .iter()
            .map(|(k, v)| Ok((exec::c_string(k)?, exec::c_string(v)?)))
            .collect::<Result<Vec<_>>>()?;
        sys::replace_environment(&vars).map_err(|e| exec::os_failure("setenv", errno(&e)))?;
    }
    sys::default_sigpipe().map_err(|e| exec::os_failure("signal", errno(&e)))?;
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(caller_mask), None)
        .map_err(|e| exec::os_failure("sigprocmask", e))?;
    // The intermediate child that forked this process has exited, so its
    // parent is now the jail's init (pid 1 of its namespace), whose to
    // signal and reap the command is; and jexec has reaped it (or died),
    // so no zombie of jexec's is left in the jail's pid namespace for the
    // command to see in `ps` or reach with `kill(-1)`.
    adopted.wait().map_err(|e| attach(errno(&e)))?;

    if let Some(program) = plan.command.first() {
        let e = execvp(program, &plan.command).unwrap_err();
        return Err(exec::exec_failure(
            "execvp",
            OsStr::from_bytes(program.as_bytes()),
            e,
        ));
    }
    let vars = env.as_deref().unwrap_or(&plan.env);
    let shell = lookup(vars, "SHELL")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| exec::DEFAULT_SHELL.into());
    let cshell = exec::c_string(&shell)?;
    let e = execvp(&cshell, &[cshell.clone(), c"-i".into()]).unwrap_err();
    Err(exec::exec_failure("execlp", &shell, e))
}

/// jexec's block for `-l`, `-u` and `-U`: the account, groups, gid, the
/// login class (login.defs: `PATH`, and for a named user the umask and
/// uid), `USER`, `HOME`, `SHELL`, and with `-l` the home directory.
/// Returns the environment the command gets.
fn user_steps(plan: &Plan) -> Result<Vec<(OsString, OsString)>> {
    let spec = plan.spec;
    let (account, defs) = match (&spec.credentials, &plan.host_account) {
        (Credentials::Jail(name), _) => jail_account(name)?,
        (_, Some(a)) => (a.clone(), plan.host_defs.clone()),
        (_, None) => return Err(exec::failure(format!("unknown uid: {}", Uid::current()))),
    };
    let mut vars = plan.env.clone();
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
/// `last`, read from the host's /proc before entering, as the jail may
/// have no /proc), clear the ambient set, and limit the permitted and
/// effective sets.
fn limit_caps(bounding: u64, keep: u64, last: u32) -> std::io::Result<()> {
    for c in (0..=last).filter(|c| bounding & (1u64 << c) == 0) {
        sys::capbset_drop(c)?;
    }
    sys::clear_ambient_caps()?;
    sys::capset(keep)
}

/// Send the failure to jexec and end the child with its status.
fn report(failure: &Sender<Failure>, e: Error) -> ! {
    let code = e.exit_code();
    let _ = failure.send(&Failure(e));
    sys::exit_now(i32::from(code))
}

/// What the command's process sent before exec, if anything (read once it
/// has ended: nothing means the exec happened).
fn read_failure(failure: Receiver<Failure>) -> Option<Error> {
    match failure.recv_left() {
        Ok(Some(Failure(e))) => Some(e),
        Ok(None) => None,
        Err(e) => Some(Error::os("read the command's failure", e)),
    }
}

/// Wait for the statuses the init relays on `conn` about the command,
/// reaping the intermediate child `middle` (then opening the `adopted`
/// gate, which lets the command's process exec), pass on through the init
/// the signals in `set` that a process sent (`kill`, `sigqueue`), and move
/// the bytes of the `relay` meanwhile. Without a pty the kernel's own
/// signals (the terminal's ^C, ^\\, hangup, resize) reach the command's
/// process group directly; with one, the caller's terminal is in raw mode
/// and its keys reach the jail's pty as bytes, a resize is copied to the
/// pty, and a hangup is passed on as SIGHUP.
fn wait_relayed(
    middle: Pid,
    adopted: GateHold,
    conn: BorrowedFd,
    set: &SigSet,
    relay: stdio::Relay,
) -> Result<Exit> {
    let signals = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::os("signalfd", e))?;
    let mut waiter = Waiter {
        conn,
        middle: Some(middle),
        adopted: Some(adopted),
        held: Vec::new(),
        relay,
    };
    let ended = waiter.relay.receive_terminal().and_then(|()| {
        loop {
            match waiter.round(&signals) {
                Ok(Some(exit)) => break Ok(exit),
                Ok(None) => waiter.sleep(&signals),
                Err(e) => break Err(e),
            }
        }
    });
    waiter.finish();
    ended
}

/// What [`wait_relayed`] keeps between its rounds.
#[derive(Debug)]
struct Waiter<'a> {
    conn: BorrowedFd<'a>,
    /// The intermediate child, until it is reaped.
    middle: Option<Pid>,
    /// Shut until the intermediate child is reaped.
    adopted: Option<GateHold>,
    /// Signals to pass on once the intermediate child has connected and
    /// registered the command (it has once it exited).
    held: Vec<Signal>,
    relay: stdio::Relay,
}

impl Waiter<'_> {
    /// One round: the intermediate child, the signals sent to this
    /// process, the statuses relayed; the command's ending once it came.
    fn round(&mut self, signals: &SignalFd) -> Result<Option<Exit>> {
        if let Some(pid) = self.middle {
            self.reap_middle(pid)?;
        }
        self.forward(signals)?;
        self.statuses()
    }

    /// Reap the intermediate child `pid` if it has ended; once it has
    /// (registered the command), the command's process may exec.
    fn reap_middle(&mut self, pid: Pid) -> Result<()> {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, 0)) => {
                self.middle = None;
                for sig in self.held.drain(..) {
                    relay::request_signal(self.conn, sig);
                }
                drop(self.adopted.take());
                Ok(())
            }
            // Its failure is on the failure channel.
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => {
                self.middle = None;
                Err(exec::failure(
                    "jail_attach: the jail's init was not reached",
                ))
            }
            Ok(_) | Err(Errno::EINTR) => Ok(()),
            Err(e) => Err(Error::os("wait", e)),
        }
    }

    /// Pass on the signals a process sent (held until the command is
    /// registered); on a pty, copy a resize and pass a hangup on.
    fn forward(&mut self, signals: &SignalFd) -> Result<()> {
        loop {
            let info = match signals.read_signal() {
                Ok(Some(info)) => info,
                Ok(None) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::os("read signals", e)),
            };
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            let from_process = info.ssi_code <= 0;
            let pass_on = match sig {
                Signal::SIGCHLD => false,
                Signal::SIGWINCH if self.relay.interactive() => {
                    self.relay.resize();
                    false
                }
                Signal::SIGHUP => from_process || self.relay.interactive(),
                _ => from_process,
            };
            if pass_on {
                match self.middle {
                    Some(_) => self.held.push(sig),
                    None => relay::request_signal(self.conn, sig),
                }
            }
        }
    }

    /// The statuses the init relayed so far: how the command ended, once
    /// it has.
    fn statuses(&self) -> Result<Option<Exit>> {
        while self.middle.is_none() {
            match relay::next_status(self.conn) {
                Ok(Some(Status::Exited(code))) => return Ok(Some(Exit::Code(i32::from(code)))),
                Ok(Some(Status::Signaled(sig))) => return Ok(Some(Exit::Signal(sig))),
                Ok(Some(Status::Stopped(_) | Status::Continued)) => {}
                Ok(None) => break,
                // The init ended (the jail stopped) and took the command
                // with it.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(Some(Exit::Signal(Signal::SIGKILL as i32)));
                }
                Err(e) => return Err(Error::os("read from the jail's init", e)),
            }
        }
        Ok(None)
    }

    /// Wait for a signal, a status once the connection counts, or bytes
    /// to relay, and relay them.
    fn sleep(&mut self, signals: &SignalFd) {
        // Only this thread blocks SIGCHLD: in a multi-threaded caller
        // another thread may take it, so the intermediate child is looked
        // at again at least every 100 ms. The connection counts once the
        // intermediate child has connected it.
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        let timeout = match self.middle {
            Some(_) => PollTimeout::from(100u16),
            None => {
                fds.push(PollFd::new(self.conn, PollFlags::POLLIN));
                PollTimeout::NONE
            }
        };
        let ours = fds.len();
        fds.extend(
            self.relay
                .watched()
                .into_iter()
                .map(|(fd, events)| PollFd::new(fd, events)),
        );
        let polled = poll(&mut fds, timeout);
        let ready: Vec<PollFlags> = fds[ours..]
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        if polled.is_ok() {
            self.relay.transfer(&ready);
        }
    }

    /// Reap the intermediate child if the wait ended before it did, and
    /// end the relay.
    fn finish(self) {
        if let Some(pid) = self.middle {
            let _ = waitpid(pid, None);
        }
        self.relay.finish();
    }
}

/// Signals blocked for the parent's wait; the caller's mask comes back on
/// drop (and in the child, before exec).
struct Blocked {
    caller: SigSet,
}

impl Blocked {
    fn block(set: &SigSet) -> Result<Self> {
        let mut caller = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(set), Some(&mut caller))
            .map_err(|e| Error::os("sigprocmask", e))?;
        Ok(Blocked { caller })
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.caller), None);
    }
}

/// The directories of the jail's own cgroup (the one rctl made for it and
/// its init joined): v1 hierarchies', and the v2 one.
fn jail_cgroup_dirs(cg: &super::cgroup::Cgroup) -> (Vec<PathBuf>, Option<PathBuf>) {
    let dirs: Vec<PathBuf> = cg
        .procs_files()
        .iter()
        .filter_map(|p| p.parent())
        .map(Path::to_path_buf)
        .collect();
    if cg.v2 {
        (Vec::new(), dirs.into_iter().next())
    } else {
        (dirs, None)
    }
}

/// The jail's v2 cgroup: its directory, open for `CLONE_INTO_CGROUP`.
struct V2Cgroup {
    dir: PathBuf,
    fd: OwnedFd,
}

impl V2Cgroup {
    fn open(dir: PathBuf) -> std::io::Result<Self> {
        let fd = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&dir)?
            .into();
        Ok(V2Cgroup { dir, fd })
    }
}

/// For a jail without a cgroup of its own (a host without cgroups for
/// rctl): the cgroups the jail's init (`init_pid`) is in and this process
/// is not, one per hierarchy: the v1 directories, and the v2 one.
fn cgroups_to_join(init_pid: i32) -> std::io::Result<(Vec<PathBuf>, Option<PathBuf>)> {
    let ours = procfs::cgroups_of("self")?;
    let mut wanted: Vec<ProcessCgroup> = procfs::cgroups_of(&init_pid.to_string())?
        .into_iter()
        .filter(|c| !ours.contains(c))
        .collect();
    let (mut v1, mut v2) = (Vec::new(), None);
    if wanted.is_empty() {
        return Ok((v1, v2));
    }
    let info = procfs::mountinfo()?;
    for m in procfs::mounts_in(&info).filter_map(CgroupMount::of) {
        let Some(rel) = wanted
            .iter()
            .position(|c| m.holds(&c.controllers) && m.relative(&c.path).is_some())
            .and_then(|i| m.relative(&wanted.remove(i).path))
        else {
            continue;
        };
        match m.controllers {
            Some(_) => v1.push(m.point.join(rel)),
            None => v2 = Some(m.point.join(rel)),
        }
        if wanted.is_empty() {
            break;
        }
    }
    Ok((v1, v2))
}

/// A cgroup hierarchy's mount.
#[derive(Debug, PartialEq, Eq)]
struct CgroupMount {
    /// The cgroup mounted (root of the mount within the hierarchy).
    root: PathBuf,
    /// Where.
    point: PathBuf,
    /// `None` for cgroup2; the controllers and `name=` of a v1 hierarchy.
    controllers: Option<Vec<String>>,
}

impl CgroupMount {
    /// The cgroup hierarchy mounted by `m`, if it is one.
    fn of(m: Mount) -> Option<Self> {
        let controllers = match m.fstype.as_str() {
            "cgroup2" => None,
            "cgroup" => Some(m.super_options.split(',').map(str::to_string).collect()),
            _ => return None,
        };
        Some(CgroupMount {
            root: m.root,
            point: m.point,
            controllers,
        })
    }

    /// Whether this is the hierarchy of a /proc/PID/cgroup line's
    /// controllers (empty: the v2 hierarchy).
    fn holds(&self, controllers: &str) -> bool {
        match &self.controllers {
            None => controllers.is_empty(),
            Some(opts) => {
                !controllers.is_empty()
                    && controllers.split(',').all(|c| opts.iter().any(|o| o == c))
            }
        }
    }

    /// Where cgroup `path` lies below this mount, if it does.
    fn relative(&self, path: &Path) -> Option<PathBuf> {
        Some(path.strip_prefix(&self.root).ok()?.to_path_buf())
    }
}

/// Move the process `pid` into a v2 cgroup through its `cgroup.procs`.
fn move_to_cgroup(file: &Path, pid: Pid) -> std::io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(file)?
        .write_all(pid.to_string().as_bytes())
}

/// jexec's failure to enter a jail: `jail_attach(JID): strerror`.
fn attach_failure(jid: i64, e: Errno) -> Error {
    exec::os_failure(format_args!("jail_attach({jid})"), e)
}

fn errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_mounts_are_read_from_mountinfo() {
        let parse = |line: &str| Mount::parse(line.as_bytes()).and_then(CgroupMount::of);
        let v2 =
            parse("41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw").unwrap();
        assert!(v2.holds("") && !v2.holds("pids"));
        assert_eq!(v2.relative(Path::new("/a/b")), Some(PathBuf::from("a/b")));
        let cpu = parse(
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct",
        )
        .unwrap();
        assert_eq!(cpu.point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert!(
            cpu.holds("cpu,cpuacct") && cpu.holds("cpu") && !cpu.holds("memory") && !cpu.holds("")
        );
        let named =
            parse("40 31 0:37 /sub /mnt/a\\040b rw - cgroup cgroup rw,xattr,name=systemd").unwrap();
        assert!(named.holds("name=systemd"));
        assert_eq!(named.point, Path::new("/mnt/a b"));
        assert_eq!(
            named.relative(Path::new("/sub/x")),
            Some(PathBuf::from("x"))
        );
        assert_eq!(named.relative(Path::new("/other")), None);
        assert!(parse("22 1 0:21 / /proc rw - proc proc rw").is_none());
    }

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
}
