//! jail(8)'s creation and removal sequences (section 3.8 of the
//! reference) on top of a [`Backend`]: the `exec.*` hooks in their order,
//! the address aliases, the mounts, the jail itself, and on a failure
//! during creation the steps already done undone in reverse (the hooks
//! excepted), as jail(8) does.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use super::command::{self, ComLine, Ended, HostCommand};
use super::network;
use crate::backend::{Backend, Started, Support};
use crate::error::{Error, Result};
use crate::exec::Exit;
use crate::exec::{ExecSpec, UserOption};
use crate::fsio::raw;
use crate::model::param::{Access, lookup};
use crate::model::rdr::Targets;
use crate::model::{Jail, Params, Value, param};
use crate::paths::Paths;
use crate::wire::BackendKind;

/// jail(8)'s `stop.timeout` when none is set.
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;

/// Where jail(8)'s messages go. The binary prints them: notes
/// (`web: created`) on standard output, warnings (`web: skipped`, a
/// failed command) on standard error with its own name in front.
pub trait Report {
    /// A note, one line without its newline.
    fn note(&mut self, line: &str);
    /// A warning, one line without its newline.
    fn warn(&mut self, line: &str);
    /// The failure of a jail (the run goes on with the others).
    fn fail(&mut self, e: &Error) {
        self.warn(&e.to_string());
    }
}

/// A report that keeps nothing (for callers that take failures as errors
/// and want no warnings).
#[derive(Debug)]
pub struct Quiet;

impl Report for Quiet {
    fn note(&mut self, _line: &str) {}
    fn warn(&mut self, _line: &str) {}
}

/// How chatty a run is and what counts as failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `-q`: no `created` / `removed` notes.
    pub quiet: bool,
    /// `-v`: every command run, and every note.
    pub verbose: bool,
    /// `-i`: print each created jail's jid.
    pub print_jid: bool,
    /// Whether removals are noted (jail(8): with a configuration file,
    /// several targets or a wildcard).
    pub note_remove: bool,
    /// `jmk start`: how `command` ends is the result, not a failure.
    pub command_status: bool,
    /// The jail comes from the command line: jail(8) names it in no
    /// message and notes its creation only with `-v`.
    pub command_line: bool,
}

/// The state of one run of sequences over several jails.
pub(crate) struct Sequence<'a> {
    pub(crate) backend: &'a dyn Backend,
    pub(crate) report: &'a mut dyn Report,
    pub(crate) flags: Flags,
    /// Parameters already reported as ignored (reported once a run).
    ignored: HashSet<String>,
    /// Whether `allow.dying` was reported.
    dying_warned: bool,
    /// Where the jails' port forwarding rules (and the notes of which
    /// running jails depend on which) are kept, when a start applies them
    /// and a removal drops them.
    forwards: Option<&'a Paths>,
}

/// A step of a creation that can be undone.
#[derive(Debug)]
enum Done {
    /// An address alias, with the command that removes it.
    Alias(Vec<String>),
    Mounted,
    Created(Jail),
    /// Taken back with this command.
    Attached(Vec<String>),
    /// Port forwarding to the jail.
    Redirected,
}

impl<'a> Sequence<'a> {
    pub(crate) fn new(backend: &'a dyn Backend, report: &'a mut dyn Report, flags: Flags) -> Self {
        Sequence {
            backend,
            report,
            flags,
            ignored: HashSet::new(),
            dying_warned: false,
            forwards: None,
        }
    }

    /// Apply the port forwarding rules kept under `paths` to the jails
    /// this sequence starts, and drop them when it removes them.
    pub(crate) fn with_forwards(mut self, paths: &'a Paths) -> Self {
        self.forwards = Some(paths);
        self
    }

    /// The name messages about jail `name` start with (none for a jail
    /// of the command line).
    fn who<'n>(&self, name: &'n str) -> Option<&'n str> {
        (!self.flags.command_line).then_some(name)
    }

    /// A note about jail `name`; with `always` false, only when jail(8)
    /// prints it (not with `-q`; for a command-line jail only with `-v`).
    fn note(&mut self, name: &str, what: &str, always: bool) {
        if !always && (self.flags.quiet || self.flags.command_line) && !self.flags.verbose {
            return;
        }
        match self.who(name) {
            Some(n) => self.report.note(&format!("{n}: {what}")),
            None => self.report.note(what),
        }
    }

    /// `e` about jail `name`, in jail(8)'s words.
    fn named(&self, e: Error, name: &str) -> Error {
        named(e, self.who(name))
    }

    /// The definition as this platform runs it: `ip_hostname` resolved,
    /// parameters without meaning here reported (once a run) and kept, as
    /// the platform's record of the jail shows them, and an error for one
    /// that cannot be honoured.
    pub(crate) fn effective(&mut self, def: &Jail) -> Result<Jail> {
        let mut def = def.clone();
        let who = self.who(&def.name).map(str::to_string);
        if def.params.remove("allow.dying").is_some() && !self.dying_warned {
            self.dying_warned = true;
            self.report.warn(
                "the 'allow.dying' parameter and '-d' flag are deprecated and have no effect.",
            );
        }
        if def.params.flag("ip_hostname") {
            network::add_hostname_addresses(&mut def.params)
                .map_err(|e| named(e, who.as_deref()))?;
        }
        let platform = match self.backend.kind() {
            BackendKind::Linux => "Linux",
            BackendKind::Freebsd => "FreeBSD",
        };
        for (name, value) in def.params.iter() {
            match self.backend.support(name, value) {
                Support::Yes => {}
                Support::Ignored => {
                    if self.ignored.insert(name.to_string()) {
                        let e =
                            Error::Config(format!("{name}: has no meaning on {platform}, ignored"));
                        self.report.warn(&named(e, who.as_deref()).to_string());
                    }
                }
                Support::No(why) => {
                    return Err(named(
                        Error::Config(format!("{name}: {why}")),
                        who.as_deref(),
                    ));
                }
            }
        }
        let rooted = match def.params.get("path") {
            Some(_) => None,
            None => Some(with_default_path(&def)),
        };
        for w in self
            .backend
            .isolation_warnings(rooted.as_ref().unwrap_or(&def))
        {
            self.report
                .warn(&named(Error::Config(w), who.as_deref()).to_string());
        }
        Ok(def)
    }

    /// Create jail `def` (an [`Sequence::effective`] definition) in
    /// jail(8)'s order; on failure undo what was done and return the error.
    pub(crate) fn create(&mut self, def: &Jail) -> Result<Started> {
        let mut done = Vec::new();
        let result = self.create_steps(def, &mut done);
        if result.is_err() {
            self.undo(def, done);
        }
        result
    }

    fn create_steps(&mut self, def: &Jail, done: &mut Vec<Done>) -> Result<Started> {
        // Without `path` the kernel roots the jail where its creator is:
        // at the host's `/` (jail(8) passes none, so `-v` names none).
        let path_given = def.params.get("path").is_some();
        let rooted;
        let def = if path_given {
            def
        } else {
            rooted = with_default_path(def);
            &rooted
        };
        let name = def.name.as_str();
        let who = self.who(name);
        super::check::definition(self.backend, def).map_err(|e| named(e, who))?;
        let forwards = match self.forwards {
            Some(paths) => {
                super::rdr::for_start(paths, self.backend, def).map_err(|e| named(e, who))?
            }
            None => Vec::new(),
        };
        self.host_hooks(def, None, "exec.prepare")?;
        // Each alias is undone by its own `-alias` command, which jail(8)
        // builds without the extra words of the `alias` one.
        let ups = self.backend.alias_commands(def, true);
        let mut downs = self.backend.alias_commands(def, false);
        downs.reverse();
        for (up, down) in ups.into_iter().zip(downs) {
            self.run_host(def, None, &up)?;
            done.push(Done::Alias(down));
        }
        self.backend.mount(def).map_err(|e| named(e, who))?;
        done.push(Done::Mounted);
        self.host_hooks(def, None, "exec.prestart")?;
        if let Some(path) = def.params.str("path") {
            check_path(who, path)?;
        }
        // jail(8) makes the jail persist while it has commands to run;
        // with none and no `persist` the kernel refuses it.
        let commands = ["exec.start", "command", "exec.poststart"]
            .iter()
            .any(|p| def.params.get(p).is_some());
        let persist = def.params.flag("persist");
        if !commands && !persist {
            return Err(named(
                Error::Compat {
                    msg: "new jail must persist or attach".into(),
                    code: 1,
                },
                who,
            ));
        }
        let persist_for_commands = commands && !persist;
        if self.flags.verbose {
            let line = jail_set_note(def, persist_for_commands, path_given);
            self.note(name, &line, true);
        }
        let jail = self.backend.create(def).map_err(|e| named(e, who))?;
        done.push(Done::Created(jail.clone()));
        if let Some(paths) = self.forwards {
            super::lifecycle::note_dependent(paths, name, def.params.list("depend"))
                .map_err(|e| named(e, who))?;
        }
        if self.flags.print_jid {
            self.report.note(&jail.jid.unwrap_or(0).to_string());
        }
        self.note(name, "created", false);
        self.host_hooks(def, Some(&jail), "exec.created")?;
        for (argv, undo) in self.backend.attach_commands(def, jail.jid.unwrap_or(0)) {
            self.run_host(def, Some(&jail), &argv)?;
            done.extend(undo.map(Done::Attached));
        }
        if !forwards.is_empty() {
            // Undone even when it fails: it may have got half-way.
            done.push(Done::Redirected);
            self.backend
                .redirect(name, &Targets::of(def), &forwards)
                .map_err(|e| named(e, who))?;
        }
        for value in def.params.list("exec.start") {
            if let Some(line) = command::parse_command(value) {
                self.jail_line(def, &jail, &line)?;
            }
        }
        // `jmk start`'s result is how the last command ends.
        let mut command_exit = None;
        let lines = command::command_lines(def.params.list("command"), self.flags.command_line);
        let count = lines.len();
        for (k, line) in lines.iter().enumerate() {
            if self.flags.command_status && !line.background && k + 1 == count {
                command_exit = Some(self.jail_command(def, &jail, &line.argv)?);
            } else {
                self.jail_line(def, &jail, line)?;
            }
        }
        self.host_hooks(def, Some(&jail), "exec.poststart")?;
        if persist_for_commands && self.flags.verbose {
            let jid = jail.jid.unwrap_or(0);
            self.note(
                name,
                &format!("jail_set(JAIL_UPDATE) jid={jid} nopersist"),
                true,
            );
        }
        let alive = self.backend.settle(&jail, def).map_err(|e| named(e, who))?;
        Ok(Started {
            jail,
            command: command_exit,
            alive,
        })
    }

    /// Undo the steps of a failed creation, last first. The error that
    /// made it fail is the one reported; failures here only add warnings.
    fn undo(&mut self, def: &Jail, done: Vec<Done>) {
        for step in done.into_iter().rev() {
            let result = match step {
                Done::Alias(down) => self.run_host(def, None, &down),
                Done::Attached(argv) => self.run_host(def, None, &argv),
                Done::Redirected => self.backend.redirect(&def.name, &Targets::default(), &[]),
                Done::Mounted => self.backend.unmount(&def.name, Some(def)),
                Done::Created(jail) => {
                    let removed = self.backend.remove(&jail);
                    if removed.is_ok() {
                        self.note(&def.name, "removed", false);
                    }
                    removed
                }
            };
            if let Err(e) = result {
                let e = self.named(e, &def.name);
                self.report.warn(&e.to_string());
            }
        }
    }

    /// Remove the running `jail` (defined by `def`, when it is) in jail(8)'s
    /// order. A failing `exec.prestop` or `exec.stop` leaves it running;
    /// after the jail is gone every step is tried and the first error
    /// returned.
    pub(crate) fn remove(&mut self, jail: &Jail, def: Option<&Jail>) -> Result<()> {
        let name = jail.name.as_str();
        let who = self.who(name);
        let empty = Jail {
            params: Params::new(),
            ..jail.clone()
        };
        let d = def.unwrap_or(&empty);
        self.host_hooks(d, Some(jail), "exec.prestop")?;
        for value in d.params.list("exec.stop") {
            if let Some(line) = command::parse_command(value) {
                self.jail_line(d, jail, &line)?;
            }
        }
        let secs = d
            .params
            .int("stop.timeout")
            .unwrap_or(DEFAULT_STOP_TIMEOUT)
            .max(0);
        self.backend
            .terminate(jail, Duration::from_secs(secs as u64))
            .map_err(|e| named(e, who))?;
        self.backend.remove(jail).map_err(|e| named(e, who))?;
        if let Some(paths) = self.forwards {
            super::lifecycle::forget_dependent(paths, name, d.params.list("depend"))
                .map_err(|e| named(e, who))?;
        }
        if self.flags.verbose || (!self.flags.quiet && self.flags.note_remove) {
            self.note(name, "removed", true);
        }
        self.after_removal(d, Some(jail), def.is_some())
    }

    /// `-C`: the steps that follow the removal of jail `def`, which is
    /// already gone.
    pub(crate) fn cleanup(&mut self, def: &Jail) -> Result<()> {
        // What a start or stop killed half-way left of the jail first.
        self.backend
            .clean(&def.name, Some(def))
            .map_err(|e| named(e, self.who(&def.name)))?;
        self.after_removal(def, None, true)
    }

    /// What follows a jail's removal: `exec.poststop`, the unmounts (of
    /// what its definition mounted, when `defined`), the aliases,
    /// `exec.release`. Every step is tried; the first error is returned.
    fn after_removal(&mut self, def: &Jail, jail: Option<&Jail>, defined: bool) -> Result<()> {
        let who = self.who(&def.name);
        let mut first: Option<Error> = None;
        let keep = |r: Result<()>, first: &mut Option<Error>| {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        };
        if self
            .forwards
            .is_some_and(|p| p.rdr_file(&def.name).exists())
        {
            let dropped = self.backend.redirect(&def.name, &Targets::default(), &[]);
            keep(dropped.map_err(|e| named(e, who)), &mut first);
        }
        keep(self.host_hooks(def, jail, "exec.poststop"), &mut first);
        let unmounted = self.backend.unmount(&def.name, defined.then_some(def));
        keep(unmounted.map_err(|e| named(e, who)), &mut first);
        for argv in self.backend.alias_commands(def, false) {
            keep(self.run_host(def, jail, &argv), &mut first);
        }
        keep(self.host_hooks(def, jail, "exec.release"), &mut first);
        first.map_or(Ok(()), Err)
    }

    /// Run every command of the system hook `param`.
    fn host_hooks(&mut self, def: &Jail, jail: Option<&Jail>, param: &str) -> Result<()> {
        for value in def.params.list(param) {
            if let Some(line) = command::parse_command(value) {
                if line.background {
                    self.background(def, &line.argv, false, |seq| {
                        seq.run_host(def, jail, &line.argv)
                    })?;
                } else {
                    self.run_host(def, jail, &line.argv)?;
                }
            }
        }
        Ok(())
    }

    /// Run `line` inside `jail`: waited for, or in the background.
    fn jail_line(&mut self, def: &Jail, jail: &Jail, line: &ComLine) -> Result<()> {
        if line.background {
            self.background(def, &line.argv, true, |seq| {
                seq.run_jail(def, jail, &line.argv)
            })
        } else {
            self.run_jail(def, jail, &line.argv)
        }
    }

    /// `-v`'s line for command `argv` of jail `def`, run inside the jail
    /// or on the host.
    fn note_command(&mut self, def: &Jail, argv: &[String], in_jail: bool) {
        if !self.flags.verbose {
            return;
        }
        let (place, user) = if in_jail {
            (" in jail", def.params.str("exec.jail_user"))
        } else {
            ("", def.params.str("exec.system_user"))
        };
        let as_user = user.map(|u| format!(" as {u}")).unwrap_or_default();
        let line = format!("run command{place}{as_user}: {}", command::comline(argv));
        self.note(&def.name, &line, true);
    }

    /// Start `run` (of command `argv` of jail `def`) as jail(8) starts a
    /// command ending in a lone `&`: noted here, then run in a child of
    /// its own session that is not waited for and reports its own
    /// warnings; its failure fails nothing here.
    fn background(
        &mut self,
        def: &Jail,
        argv: &[String],
        in_jail: bool,
        run: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        self.note_command(def, argv, in_jail);
        crate::backend::fork_child(|| {
            let _ = nix::unistd::setsid();
            self.flags.verbose = false;
            i32::from(run(self).is_err())
        })
        .map(drop)
    }

    /// Run `argv` on the host for jail `def` (running as `jail`, once it
    /// exists).
    fn run_host(&mut self, def: &Jail, jail: Option<&Jail>, argv: &[String]) -> Result<()> {
        let p = &def.params;
        let user = p.str("exec.system_user").map(str::to_string);
        self.note_command(def, argv, false);
        let mut env = vec![("JNAME".to_string(), def.name.clone())];
        if let Some(path) = p.str("path") {
            env.push(("JPATH".into(), path.to_string()));
        }
        if let Some(jid) = jail.and_then(|j| j.jid) {
            env.push(("JID".into(), jid.to_string()));
        }
        let cmd = HostCommand {
            argv: argv.to_vec(),
            user,
            clean: p.flag("exec.clean"),
            env,
            timeout: timeout_of(p),
        };
        let who = self.who(&def.name);
        let ended = cmd.run().map_err(|e| {
            self.report.warn(&named(e, who).to_string());
            failed(who, argv, Ended::Exit(Exit::Code(1)))
        });
        check(who, argv, ended?)
    }

    /// Run `argv` inside `jail` (`exec.start`, `command`, `exec.stop`);
    /// anything but success fails the step.
    fn run_jail(&mut self, def: &Jail, jail: &Jail, argv: &[String]) -> Result<()> {
        let ended = self.in_jail(def, jail, argv, false)?;
        check(self.who(&def.name), argv, ended)
    }

    /// `command` for `jmk start`: its ending is returned, a timeout fails.
    /// Run from a terminal it is interactive, as jexec is (`jmk -c
    /// command=/bin/sh` is a shell with job control), unless it may time
    /// out: its runner, killed then, could not give the terminal back.
    fn jail_command(&mut self, def: &Jail, jail: &Jail, argv: &[String]) -> Result<Exit> {
        let interactive = timeout_of(&def.params).is_none();
        match self.in_jail(def, jail, argv, interactive)? {
            Ended::Exit(e) => Ok(e),
            Ended::TimedOut => Err(failed(self.who(&def.name), argv, Ended::TimedOut)),
        }
    }

    /// Run `argv` in `jail`; `interactive`: see [`ExecSpec::relay_terminal`].
    fn in_jail(
        &mut self,
        def: &Jail,
        jail: &Jail,
        argv: &[String],
        interactive: bool,
    ) -> Result<Ended> {
        let p = &def.params;
        let user = p.str("exec.jail_user");
        self.note_command(def, argv, true);
        let clean = p.flag("exec.clean");
        let spec = match user {
            None if !clean => Ok(ExecSpec::command(argv)),
            None => ExecSpec::new(None, true, None, argv.iter().map(|a| raw::os(a)).collect()),
            Some(u) => {
                let who = if p.flag("exec.system_jail_user") {
                    UserOption::Host(u.to_string())
                } else {
                    UserOption::Jail(u.to_string())
                };
                ExecSpec::new(
                    Some(who),
                    clean,
                    None,
                    argv.iter().map(|a| raw::os(a)).collect(),
                )
            }
        };
        let log = match p.str("exec.consolelog") {
            Some(file) => Some(open_consolelog(self.who(&def.name), p.str("path"), file)?),
            None => None,
        };
        let fib = p.int("exec.fib");
        let spec = spec.map(|spec| ExecSpec {
            fib,
            relay_terminal: interactive,
            ..spec
        });
        let ended = spec
            .and_then(|spec| command::run_in_jail(self.backend, jail, &spec, log, timeout_of(p)));
        let who = self.who(&def.name);
        ended.map_err(|e| {
            self.report.warn(&named(e, who).to_string());
            failed(who, argv, Ended::Exit(Exit::Code(1)))
        })
    }

    /// `jail -m`: set the parameters of `def` that differ from the running
    /// `jail`'s. Returns whether it needs a restart instead: a parameter
    /// that can only be set at creation changed (an error unless
    /// `restart` allows it).
    pub(crate) fn modify(&mut self, jail: &Jail, def: &Jail, restart: bool) -> Result<bool> {
        let mut changes = Params::new();
        for (name, value) in def.params.iter() {
            let kernel = param::spec(name).is_some_and(|s| s.access != param::Access::Pseudo);
            if !kernel || matches!(name, "name" | "jid") || same(jail.params.get(name), value) {
                continue;
            }
            if !self.backend.updatable(name) {
                if restart {
                    return Ok(true);
                }
                let e = Error::Compat {
                    msg: format!("{name} cannot be changed after creation"),
                    code: 1,
                };
                return Err(self.named(e, &def.name));
            }
            changes.set(name, value.clone());
        }
        self.backend
            .update(jail, &changes)
            .map_err(|e| self.named(e, &def.name))?;
        self.note(&def.name, "updated", false);
        Ok(false)
    }
}

/// Whether a running jail's value is the one asked for.
fn same(running: Option<&Value>, wanted: &Value) -> bool {
    running.is_some_and(|r| r == wanted || r.export() == wanted.export())
}

/// `exec.timeout`, when set and not 0.
fn timeout_of(p: &Params) -> Option<Duration> {
    p.int("exec.timeout")
        .filter(|&t| t > 0)
        .map(|t| Duration::from_secs(t as u64))
}

/// The error of a command that did not succeed, in jail(8)'s words,
/// about jail `who`.
fn failed(who: Option<&str>, argv: &[String], ended: Ended) -> Error {
    let line = command::comline(argv);
    let msg = match ended {
        Ended::TimedOut => format!("{line}: timed out"),
        Ended::Exit(Exit::Signal(s)) => format!("{line}: exited on signal {s}"),
        Ended::Exit(_) => format!("{line}: failed"),
    };
    named(Error::Compat { msg, code: 1 }, who)
}

fn check(who: Option<&str>, argv: &[String], ended: Ended) -> Result<()> {
    match ended {
        Ended::Exit(e) if e.success() => Ok(()),
        other => Err(failed(who, argv, other)),
    }
}

/// `e` with the jail's name `who` in front, unless it names it already.
pub fn named(e: Error, who: Option<&str>) -> Error {
    match who {
        Some(jail) if !e.to_string().starts_with(&format!("{jail}: ")) => e.context(jail),
        _ => e,
    }
}

/// The line jail(8) `-v` prints for the creation: the kernel parameters
/// it passes, in the jail's order, values exported and quoted as jail(8)
/// prints them; `persist` first, bare, when it is set only while the
/// jail's commands run.
fn jail_set_note(def: &Jail, persist_for_commands: bool, path_given: bool) -> String {
    let mut line = String::from("jail_set(JAIL_CREATE)");
    if persist_for_commands {
        line.push_str(" persist");
    }
    for (name, value) in def.params.iter() {
        let kernel = lookup(name).is_some_and(|(spec, _)| spec.access != Access::Pseudo);
        let passed = path_given || name != "path";
        if !kernel || !passed || (persist_for_commands && name == "persist") {
            continue;
        }
        let text = value.export().join(",");
        line.push_str(&format!(" {name}={}", super::jail8::quoted(&text)));
    }
    line
}

/// `def` rooted at `/`, the kernel's default root (the creator's).
fn with_default_path(def: &Jail) -> Jail {
    let mut def = def.clone();
    def.params.set("path", Value::Str("/".into()));
    def
}

/// jail(8)'s check of `path` before creating: absolute, an existing
/// directory.
fn check_path(who: Option<&str>, path: &str) -> Result<()> {
    let fail = |msg: String| {
        Err(named(
            Error::Compat {
                msg: format!("path {path}: {msg}"),
                code: 1,
            },
            who,
        ))
    };
    if !path.starts_with('/') {
        return fail("not an absolute pathname".into());
    }
    match std::fs::metadata(raw::path(path)) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => fail("Not a directory".into()),
        Err(e) => fail(crate::error::io_strerror(&e)),
    }
}

/// Open `exec.consolelog` as jail(8) does: an absolute path with no
/// symbolic link below the jail's path, created `0666 & ~umask`, appended.
fn open_consolelog(who: Option<&str>, root: Option<&str>, file: &str) -> Result<File> {
    let fail = |msg: String| named(Error::Compat { msg, code: 1 }, who);
    if !file.starts_with('/') {
        return Err(fail(format!(
            "exec.consolelog: {file}: not an absolute pathname"
        )));
    }
    if let Some(root) = root.filter(|r| !r.is_empty() && Path::new(file).starts_with(r)) {
        let mut p = std::path::PathBuf::from(root);
        let rel = Path::new(file).strip_prefix(root).unwrap_or(Path::new(""));
        let parts: Vec<_> = rel.components().collect();
        for (i, c) in parts.iter().enumerate() {
            p.push(c);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(fail(format!(
                        "exec.consolelog: {} is a symbolic link",
                        p.display()
                    )));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && i + 1 == parts.len() => {}
                Err(e) => {
                    return Err(fail(format!(
                        "exec.consolelog: {}: {}",
                        p.display(),
                        crate::error::io_strerror(&e)
                    )));
                }
            }
        }
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o666)
        .open(file)
        .map_err(|e| fail(format!("open {file}: {}", crate::error::io_strerror(&e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_jail8_words() {
        let argv: Vec<String> = vec!["/bin/sh".into(), "-c".into(), "exit 3".into()];
        assert_eq!(
            failed(Some("w"), &argv, Ended::Exit(Exit::Code(3))).to_string(),
            "w: /bin/sh -c exit 3: failed"
        );
        assert_eq!(
            failed(Some("w"), &argv, Ended::Exit(Exit::Signal(9))).to_string(),
            "w: /bin/sh -c exit 3: exited on signal 9"
        );
        assert_eq!(
            failed(Some("w"), &argv, Ended::TimedOut).to_string(),
            "w: /bin/sh -c exit 3: timed out"
        );
        assert_eq!(failed(Some("w"), &argv, Ended::TimedOut).exit_code(), 1);
        assert!(check(Some("w"), &argv, Ended::Exit(Exit::Code(0))).is_ok());
        assert_eq!(
            failed(None, &argv, Ended::TimedOut).to_string(),
            "/bin/sh -c exit 3: timed out"
        );
    }

    #[test]
    fn paths_are_checked_like_jail8() {
        assert_eq!(
            check_path(Some("w"), "rel").unwrap_err().to_string(),
            "w: path rel: not an absolute pathname"
        );
        assert_eq!(
            check_path(Some("w"), "/nonexistent/x")
                .unwrap_err()
                .to_string(),
            "w: path /nonexistent/x: No such file or directory"
        );
        assert!(check_path(Some("w"), "/").is_ok());
    }

    #[test]
    fn consolelog_refuses_links_below_the_jail() {
        let dir = std::env::temp_dir().join(format!("jkit-conslog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("var")).unwrap();
        std::os::unix::fs::symlink("/tmp", dir.join("link")).unwrap();
        let root = dir.to_str().unwrap();
        let e = open_consolelog(Some("w"), Some(root), &format!("{root}/link/log")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("w: exec.consolelog: {root}/link is a symbolic link")
        );
        assert!(open_consolelog(Some("w"), Some(root), &format!("{root}/var/log")).is_ok());
        assert!(dir.join("var/log").exists());
        let e = open_consolelog(Some("w"), Some(root), "log").unwrap_err();
        assert_eq!(
            e.to_string(),
            "w: exec.consolelog: log: not an absolute pathname"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
