//! A backend for unit tests that needs no root: running jails held in
//! memory, every step asked of it recorded in order, and any step made to
//! fail, so that the engines' sequences, their undo and their order are
//! tested as plain unit tests.
//!
//! The host commands the sequences run (the `exec.*` hooks on the host,
//! and the alias and attach commands this backend hands out) really run;
//! given a host log, those this backend makes (and the hooks a test writes
//! with [`Fake::hook`]) append a line to it, which the fake reads back into
//! its record where it was written: one record, in order, of what a
//! sequence did on the host and through the backend.
//!
//! Commands "in the jail" (`exec.start`, `command`, `exec.stop`) are not
//! run: [`Backend::exec`] records them and succeeds. Queries (`visit`,
//! `support`, `updatable`, the commands handed out) and hints are not
//! recorded. Commands run with `exec.timeout` or `exec.consolelog` go
//! through a forked child, whose record this process never sees: tests
//! leave those out.

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::mounts::MountEntry;
use super::{Backend, Racct, Support};
use crate::error::{Error, Result};
use crate::exec::{ExecSpec, Exit};
use crate::model::rdr::{Ports, Proto, Targets};
use crate::model::{Jail, Params, State, Value};
use crate::rctl::{RctlError, Rule, Usage};
use crate::wire::BackendKind;

/// One step asked of the fake, or one line a host command logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    /// [`Backend::mount`] for jail NAME.
    Mount(String),
    /// [`Backend::create`].
    Create(String),
    /// [`Backend::settle`].
    Settle(String),
    /// [`Backend::terminate`], with `stop.timeout`.
    Terminate(String, Duration),
    /// [`Backend::remove`].
    Remove(String),
    /// [`Backend::unmount`].
    Unmount(String),
    /// [`Backend::exec`]: the jail and the command's argv.
    Exec(String, Vec<String>),
    /// [`Backend::exec`] of a command given a FIB (`exec.fib`), recorded
    /// before its `Exec`.
    Fib(String, i64),
    /// [`Backend::update`]: the jail and the names of what changes.
    Update(String, Vec<String>),
    /// [`Backend::clean`].
    Clean(String),
    /// [`Backend::mount_running`]: the jail and the mount's target.
    MountRunning(String, PathBuf),
    /// [`Backend::install_host_packages`].
    InstallHostPackages(String, Vec<String>),
    /// [`Backend::clone_storage`]: the clone's root.
    CloneStorage(PathBuf),
    /// [`Racct::forget_jail`].
    ForgetJail(String),
    /// [`Backend::redirect`]: the jail, and each rule's line with the
    /// addresses it sends to.
    Redirect(String, Vec<String>),
    /// A line a host command appended to the host log.
    Host(String),
}

/// What the fake holds, shared by its clones.
#[derive(Debug, Default)]
struct Held {
    /// The running (and dying) jails, ascending by jid.
    jails: Vec<Jail>,
    /// The jid the next jail created gets.
    next_jid: i64,
    /// The jails whose filesystems are mounted.
    mounted: Vec<String>,
    /// What was asked, in order.
    calls: Vec<Call>,
    /// The calls that fail.
    failing: Vec<Call>,
    /// The file host commands log to.
    host_log: Option<PathBuf>,
    /// How much of the host log is in `calls` already.
    host_log_read: usize,
    /// Host sockets [`Backend::port_listener`] reports: protocol, port, owner.
    listeners: Vec<(Proto, u16, String)>,
}

impl Held {
    /// The lines host commands logged since the last look, into `calls`.
    fn read_host_log(&mut self) {
        let Some(log) = &self.host_log else { return };
        let Ok(text) = fs::read_to_string(log) else {
            return;
        };
        let new = text.get(self.host_log_read..).unwrap_or_default();
        self.calls
            .extend(new.lines().map(|line| Call::Host(line.to_string())));
        self.host_log_read = text.len();
    }

    /// Record `call`; an error if it is one of those told to fail.
    fn record(&mut self, call: Call) -> Result<()> {
        self.read_host_log();
        let fails = self.failing.contains(&call);
        self.calls.push(call.clone());
        if fails {
            return Err(Error::Unavailable(format!("{call:?}: failing as told")));
        }
        Ok(())
    }
}

/// The recording backend. Clones share their jails and record, so a test
/// keeps one while [`crate::ops::Jkit`] owns another.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fake {
    held: Rc<RefCell<Held>>,
}

impl Fake {
    /// A fake with `jails` running (their states as given).
    pub(crate) fn with_jails(jails: Vec<Jail>) -> Self {
        let fake = Fake::default();
        {
            let mut held = fake.held.borrow_mut();
            held.next_jid = jails.iter().filter_map(|j| j.jid).max().unwrap_or(0) + 1;
            held.jails = jails;
            held.jails.sort_by_key(|j| j.jid);
        }
        fake
    }

    /// A fake with no jail whose host commands log to `file`.
    pub(crate) fn with_host_log(file: PathBuf) -> Self {
        let fake = Fake::default();
        {
            let mut held = fake.held.borrow_mut();
            held.next_jid = 1;
            held.host_log = Some(file);
        }
        fake
    }

    /// Make every later call equal to `call` fail: a backend step returns
    /// an error, a command in a jail exits 1, and a host command the fake
    /// makes afterwards (a hook of [`Fake::hook`], an alias or attach
    /// command) whose line is `Call::Host(line)` exits 1 after logging.
    pub(crate) fn fail(&self, call: Call) {
        self.held.borrow_mut().failing.push(call);
    }

    /// A host command (for an `exec.*` hook) that logs `line`, and fails
    /// if `Call::Host(line)` was told to fail.
    pub(crate) fn hook(&self, line: &str) -> String {
        self.shell_logging(&format!("'{line}'"), line)
    }

    /// `sh -c` script text that appends `echoed` (shell words) to the host
    /// log, then exits 1 if `Call::Host(line)` is to fail.
    fn shell_logging(&self, echoed: &str, line: &str) -> String {
        let held = self.held.borrow();
        let log = held
            .host_log
            .as_deref()
            .expect("host commands of a fake need a host log");
        let fails = held.failing.contains(&Call::Host(line.to_string()));
        format!(
            "echo {echoed} >> '{}'{}",
            log.display(),
            if fails { "; exit 1" } else { "" }
        )
    }

    /// Everything recorded so far, in order.
    pub(crate) fn calls(&self) -> Vec<Call> {
        let mut held = self.held.borrow_mut();
        held.read_host_log();
        held.calls.clone()
    }

    /// Everything recorded so far, which is then forgotten.
    pub(crate) fn take_calls(&self) -> Vec<Call> {
        let mut held = self.held.borrow_mut();
        held.read_host_log();
        std::mem::take(&mut held.calls)
    }

    /// A host socket on `proto` port `port` of process `owner`.
    pub(crate) fn listen(&self, proto: Proto, port: u16, owner: &str) {
        self.held
            .borrow_mut()
            .listeners
            .push((proto, port, owner.to_string()));
    }

    /// The names of the jails the fake holds (running or dying), by jid.
    pub(crate) fn running(&self) -> Vec<String> {
        let held = self.held.borrow();
        held.jails.iter().map(|j| j.name.clone()).collect()
    }

    /// The jails whose filesystems are mounted.
    pub(crate) fn mounted(&self) -> Vec<String> {
        self.held.borrow().mounted.clone()
    }

    fn record(&self, call: Call) -> Result<()> {
        self.held.borrow_mut().record(call)
    }

    /// A host command logging `line`, built when the fake hands it out.
    fn host_command(&self, echoed: &str, line: &str, args: &[&str]) -> Vec<String> {
        let mut argv = vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            self.shell_logging(echoed, line),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// The alias command for address `addr`: `sh -c 'echo "ADDR $0"' alias
    /// extra` logs `ADDR alias`, and its `-alias` command `ADDR -alias`.
    /// Going up it has an argument more, as FreeBSD's `ifconfig ... alias`
    /// has the `IFACE|ADDR EXTRA...` words, which its `-alias` leaves out.
    fn alias_command(&self, addr: &str, up: bool) -> Vec<String> {
        let (line, args): (String, &[&str]) = if up {
            (format!("{addr} alias"), &["alias", "extra"])
        } else {
            (format!("{addr} -alias"), &["-alias"])
        };
        self.host_command(&format!("\"{addr} $0\""), &line, args)
    }
}

impl Backend for Fake {
    fn kind(&self) -> BackendKind {
        BackendKind::Linux
    }

    fn racct(&self) -> Box<dyn Racct> {
        Box::new(FakeRacct(self.clone()))
    }

    fn visit(&self, dying: bool, each: &mut dyn FnMut(Jail) -> Result<()>) -> Result<()> {
        let jails = self.held.borrow().jails.clone();
        jails
            .into_iter()
            .filter(|j| dying || j.state != State::Dying)
            .try_for_each(each)
    }

    fn support(&self, _name: &str, _value: &Value) -> Support {
        Support::Yes
    }

    /// With a host log: a command per `ip4.addr` and `ip6.addr` entry,
    /// logging `ADDR alias` (`ADDR -alias` going down, last first).
    fn alias_commands(&self, def: &Jail, up: bool) -> Vec<Vec<String>> {
        if self.held.borrow().host_log.is_none() {
            return Vec::new();
        }
        let mut out: Vec<Vec<String>> = ["ip4.addr", "ip6.addr"]
            .iter()
            .flat_map(|p| def.params.list(p))
            .map(|addr| self.alias_command(addr, up))
            .collect();
        if !up {
            out.reverse();
        }
        out
    }

    /// With a host log: a command per `vnet.interface`, logging
    /// `IFACE vnet JID`, taken back by one logging `IFACE -vnet JID`.
    fn attach_commands(&self, def: &Jail, jid: i64) -> Vec<(Vec<String>, Option<Vec<String>>)> {
        if self.held.borrow().host_log.is_none() {
            return Vec::new();
        }
        def.params
            .list("vnet.interface")
            .iter()
            .map(|iface| {
                let line = |word: &str| format!("{iface} {word} {jid}");
                let command =
                    |word: &str| self.host_command(&format!("'{}'", line(word)), &line(word), &[]);
                (command("vnet"), Some(command("-vnet")))
            })
            .collect()
    }

    fn mount(&self, def: &Jail) -> Result<()> {
        self.record(Call::Mount(def.name.clone()))?;
        let mut held = self.held.borrow_mut();
        if !held.mounted.contains(&def.name) {
            held.mounted.push(def.name.clone());
        }
        Ok(())
    }

    fn create(&self, def: &Jail) -> Result<Jail> {
        self.record(Call::Create(def.name.clone()))?;
        let mut held = self.held.borrow_mut();
        if held.jails.iter().any(|j| j.name == def.name) {
            return Err(Error::Exists(format!("\"{}\" already exists", def.name)));
        }
        let jid = held.next_jid;
        held.next_jid += 1;
        let mut params = def.params.clone();
        params.set("jid", Value::Int(jid));
        params.set("name", Value::Str(def.name.clone()));
        let jail = Jail {
            name: def.name.clone(),
            jid: Some(jid),
            state: State::Running,
            params,
        };
        held.jails.push(jail.clone());
        Ok(jail)
    }

    /// No process ever runs in a fake jail: one that is not `persist`
    /// ends here.
    fn settle(&self, jail: &Jail, def: &Jail) -> Result<bool> {
        self.record(Call::Settle(jail.name.clone()))?;
        if def.params.flag("persist") {
            return Ok(true);
        }
        self.held.borrow_mut().jails.retain(|j| j.name != jail.name);
        Ok(false)
    }

    fn terminate(&self, jail: &Jail, timeout: Duration) -> Result<()> {
        self.record(Call::Terminate(jail.name.clone(), timeout))
    }

    fn remove(&self, jail: &Jail) -> Result<()> {
        self.record(Call::Remove(jail.name.clone()))?;
        let mut held = self.held.borrow_mut();
        let before = held.jails.len();
        held.jails.retain(|j| j.name != jail.name);
        if held.jails.len() == before {
            return Err(Error::NotFound(format!("jail \"{}\" not found", jail.name)));
        }
        Ok(())
    }

    fn unmount(&self, name: &str, _def: Option<&Jail>) -> Result<()> {
        self.record(Call::Unmount(name.to_string()))?;
        self.held.borrow_mut().mounted.retain(|m| m != name);
        Ok(())
    }

    fn mount_running(&self, name: &str, entry: &MountEntry) -> Result<()> {
        self.record(Call::MountRunning(name.to_string(), entry.target.clone()))
    }

    fn install_host_packages(&self, name: &str, packages: &[String]) -> Result<()> {
        self.record(Call::InstallHostPackages(
            name.to_string(),
            packages.to_vec(),
        ))
    }

    fn prepare_jails_dir(&self, _dir: &Path) {}

    /// An empty root: the fake copies nothing.
    fn clone_storage(
        &self,
        _src_root: &Path,
        root: &Path,
        _jail_dir: &Path,
        _ids: Option<u32>,
    ) -> Result<Option<MountEntry>> {
        self.record(Call::CloneStorage(root.to_path_buf()))?;
        crate::fsio::tree::mkdir(root, 0o755)?;
        Ok(None)
    }

    fn update(&self, jail: &Jail, changes: &Params) -> Result<()> {
        let names = changes.iter().map(|(n, _)| n.to_string()).collect();
        self.record(Call::Update(jail.name.clone(), names))?;
        let mut held = self.held.borrow_mut();
        if let Some(j) = held.jails.iter_mut().find(|j| j.name == jail.name) {
            for (n, v) in changes.iter() {
                j.params.set(n, v.clone());
            }
        }
        Ok(())
    }

    fn updatable(&self, _name: &str) -> bool {
        true
    }

    fn redirect(
        &self,
        name: &str,
        targets: &Targets,
        rules: &[crate::model::rdr::Rule],
    ) -> Result<()> {
        let lines = rules
            .iter()
            .map(|r| {
                let to: Vec<String> = targets.for_rule(r).iter().map(|a| a.to_string()).collect();
                format!("{r} -> {}", to.join(","))
            })
            .collect();
        self.record(Call::Redirect(name.to_string(), lines))
    }

    fn port_listener(&self, proto: Proto, ports: Ports) -> Result<Option<String>> {
        let held = self.held.borrow();
        Ok(held
            .listeners
            .iter()
            .find(|(p, port, _)| *p == proto && (ports.first..=ports.last).contains(port))
            .map(|(p, port, owner)| {
                format!(
                    "{} port {port} is in use on the host by {owner}",
                    p.as_str()
                )
            }))
    }

    fn clean(&self, name: &str, _def: Option<&Jail>) -> Result<()> {
        self.record(Call::Clean(name.to_string()))?;
        self.held.borrow_mut().mounted.retain(|m| m != name);
        Ok(())
    }

    /// Records the command; it "exits" 0, or 1 when told to fail.
    fn exec(&self, jail: &Jail, spec: &ExecSpec) -> Result<Exit> {
        let argv = spec
            .command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if let Some(fib) = spec.fib {
            self.record(Call::Fib(jail.name.clone(), fib))?;
        }
        match self.record(Call::Exec(jail.name.clone(), argv)) {
            Ok(()) => Ok(Exit::Code(0)),
            Err(_) => Ok(Exit::Code(1)),
        }
    }
}

/// The fake's resource accounting: none, but it records what is forgotten.
struct FakeRacct(Fake);

impl Racct for FakeRacct {
    fn add_rule(&self, _rule: &str) -> Result<(), RctlError> {
        Err(RctlError::NotSupported)
    }
    fn remove_rule(&self, _filter: &str) -> Result<(), RctlError> {
        Err(RctlError::NotSupported)
    }
    fn get_rules(&self, _filter: &str) -> Result<Vec<Rule>, RctlError> {
        Err(RctlError::NotSupported)
    }
    fn get_racct(&self, _filter: &str) -> Result<Usage, RctlError> {
        Err(RctlError::NotSupported)
    }
    fn get_limits(&self, _filter: &str) -> Result<Vec<Rule>, RctlError> {
        Err(RctlError::NotSupported)
    }
    fn forget_jail(&self, name: &str) {
        // Forgetting cannot fail: one told to fail is only recorded.
        let _ = self.0.record(Call::ForgetJail(name.to_string()));
    }
}
