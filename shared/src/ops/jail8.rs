//! jail(8)'s front on top of the sequences: which jails an operation
//! selects (names, wildcards, all), the jails dependencies pull in, the
//! order they are worked in, what is done to each one given whether it
//! runs (`-c`, `-m`, `-r`, `-rc`, `-cm`, `-mr`, `-cmr`, `-R`), and the
//! records of `-e` and `-J`. A jail that fails does not stop the others;
//! the jails that depend on it are skipped.

use super::config::{ConfJail, Config};
use super::order::{Direction, Graph};
use super::sequence::{Flags, Report, Sequence};
use crate::backend::Started;
use crate::conf::{ConfFile, RawJail, is_wildcard, wildcard_matches};
use crate::error::{Error, Result};
use crate::lock::JailLock;
use crate::model::{Jail, JailKey, name};

/// The operations of jail(8)'s `-c`, `-m` and `-r` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `-c`: create.
    Create,
    /// `-m`: modify a running jail.
    Modify,
    /// `-r`: remove.
    Remove,
    /// `-rc`: remove, then create.
    Restart,
    /// `-cm`: create if absent, else modify.
    CreateModify,
    /// `-mr`: modify; restart if a parameter that is set at creation
    /// changes.
    ModifyRestart,
    /// `-cmr`: create if absent, else modify or restart.
    CreateModifyRestart,
}

impl Op {
    /// The operation of a set of flags, if they make one.
    pub fn of_flags(c: bool, m: bool, r: bool) -> Option<Op> {
        Some(match (c, m, r) {
            (true, false, false) => Op::Create,
            (false, true, false) => Op::Modify,
            (false, false, true) => Op::Remove,
            (true, false, true) => Op::Restart,
            (true, true, false) => Op::CreateModify,
            (false, true, true) => Op::ModifyRestart,
            (true, true, true) => Op::CreateModifyRestart,
            (false, false, false) => return None,
        })
    }

    fn creates(self) -> bool {
        matches!(
            self,
            Op::Create | Op::Restart | Op::CreateModify | Op::CreateModifyRestart
        )
    }
}

/// The jails an operation works on.
#[derive(Debug, Clone)]
pub enum Jails {
    /// A configuration (its file, or jail.conf and the definitions).
    Config(Config),
    /// The one jail of the command line.
    CommandLine(Jail),
}

impl Jails {
    /// The jails as a configuration, and whether they are the command
    /// line's one jail.
    fn as_config(&self) -> (Config, bool) {
        match self {
            Jails::Config(c) => (c.clone(), false),
            Jails::CommandLine(j) => (
                Config {
                    jails: vec![ConfJail::from(j)],
                    from_file: false,
                },
                true,
            ),
        }
    }
}

/// One jail(8) run.
#[derive(Debug, Clone)]
pub struct Request {
    /// What to do.
    pub op: Op,
    /// To which jails.
    pub jails: Jails,
    /// The jail operands: names, wildcards, `*`; none for all.
    pub targets: Vec<String>,
    /// Messages and failure rules.
    pub flags: Flags,
    /// `-C`: for a jail to remove that is already gone, run the steps that
    /// follow the removal (`exec.poststop`, unmounts, aliases,
    /// `exec.release`).
    pub cleanup: bool,
}

/// A jail a run created.
#[derive(Debug, Clone)]
pub struct Created {
    /// What creating it did.
    pub started: Started,
    /// Its parameters as configured (for `-J`).
    pub raw: Option<RawJail>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// The jails created, in order.
    pub created: Vec<Created>,
    /// Every failure, in order (each already given to the report).
    pub errors: Vec<Error>,
}

impl Summary {
    /// jail(8)'s exit status: 0 when every jail succeeded, else 1.
    pub fn status(&self) -> u8 {
        u8::from(!self.errors.is_empty())
    }
}

/// The state of a run.
struct Run<'s, 'a> {
    seq: &'s mut Sequence<'a>,
    paths: &'s crate::paths::Paths,
    summary: Summary,
    failed: Vec<bool>,
    /// `-C`.
    cleanup: bool,
    /// The name of the command line's jail, which jail(8) puts in no
    /// message (it names only jails of a configuration file).
    unnamed: Option<String>,
    /// Whether the configuration's failures (its jails' variables, their
    /// dependencies) were warned about before the run, as jail(8) does as
    /// it loads the file and sets up the dependencies: a jail that has one
    /// then fails without a second message.
    warned: bool,
    /// Whether the command line's jail is anonymous: its name is its jid,
    /// which is no name a jail may be given.
    anonymous: bool,
}

impl Run<'_, '_> {
    fn fail(&mut self, i: Option<usize>, e: Error) {
        if let Some(i) = i {
            self.failed[i] = true;
        }
        let e = match &self.unnamed {
            Some(name) => match e.to_string().strip_prefix(&format!("{name}: ")) {
                Some(msg) => compat(msg.to_string()),
                None => e,
            },
            None => e,
        };
        self.seq.report.fail(&e);
        self.summary.errors.push(e);
    }

    /// A jail's failure counted without a message (a dependency that
    /// failed pulls it down).
    fn fail_quietly(&mut self, i: usize, name: &str) {
        self.failed[i] = true;
        self.summary.errors.push(compat(format!("{name}: skipped")));
    }
}

fn compat(msg: String) -> Error {
    Error::Compat { msg, code: 1 }
}

/// The jails selected (index, by a wildcard), each once and in the order
/// first selected: a jail also named outright is not a wildcard's.
fn merge_selected(selected: Vec<(usize, bool)>) -> Vec<(usize, bool)> {
    let mut kept: Vec<(usize, bool)> = Vec::new();
    for (i, wild) in selected {
        match kept.iter_mut().find(|(k, _)| *k == i) {
            Some(k) => k.1 &= wild,
            None => kept.push((i, wild)),
        }
    }
    kept
}

/// What happens to one jail of the order.
#[derive(Debug, Clone, Copy)]
struct Step {
    jail: usize,
    /// Named, or matched by a wildcard, rather than pulled in.
    selected: bool,
    /// Matched by a wildcard (or "all"): a state that does not fit the
    /// operation is no error.
    wild: bool,
}

impl super::Jkit {
    /// Run jail(8)'s operation `req`, reporting as jail(8) does.
    pub fn jail8(&self, req: &Request, report: &mut dyn Report) -> Summary {
        let (mut config, from_cli) = req.jails.as_config();
        // A command-line jail without a name is named by its jid, as the
        // kernel names it; the name is reserved before anything runs.
        let anonymous = match config.jails.first_mut() {
            Some(j) if from_cli && j.name.is_empty() => match self.backend().anonymous_name() {
                Ok(name) => {
                    j.name.clone_from(&name);
                    if let Ok(raw) = &mut j.raw {
                        raw.name.clone_from(&name);
                    }
                    Some(name)
                }
                Err(e) => {
                    report.fail(&e);
                    return Summary {
                        errors: vec![e],
                        ..Summary::default()
                    };
                }
            },
            _ => None,
        };
        let mut flags = req.flags;
        flags.command_line = from_cli;
        let graph = Graph::new(
            &config
                .jails
                .iter()
                .map(|j| (j.name.clone(), j.depends()))
                .collect::<Vec<_>>(),
        );
        let mut seq = Sequence::new(self.backend(), report, flags).with_forwards(&self.paths);
        let mut run = Run {
            seq: &mut seq,
            paths: &self.paths,
            summary: Summary::default(),
            failed: vec![false; graph.len()],
            cleanup: false,
            unnamed: config
                .jails
                .first()
                .filter(|_| from_cli)
                .map(|j| j.name.clone()),
            // `jmk start` tells its own jail's failure as its result.
            warned: config.from_file && !flags.command_status,
            anonymous: anonymous.is_some(),
        };
        if run.warned {
            run.warn_at_load(&config, &graph);
        }
        let mut selected: Vec<(usize, bool)> = Vec::new();
        let mut running_only: Vec<Jail> = Vec::new();
        if from_cli {
            selected.push((0, false));
            if let Some(missing) = config.jails[0]
                .depends()
                .into_iter()
                .find(|d| !self.runs(d))
            {
                run.fail(
                    Some(0),
                    compat(format!("depends on nonexistent jail \"{missing}\"")),
                );
            }
        } else if req.targets.is_empty() {
            selected.extend((0..graph.len()).map(|i| (i, true)));
        } else {
            for t in &req.targets {
                if t == "*" || is_wildcard(t) {
                    selected.extend(
                        (0..graph.len())
                            .filter(|&i| t == "*" || wildcard_matches(graph.name(i), t))
                            .map(|i| (i, true)),
                    );
                } else if let Some(i) = graph.index(t) {
                    selected.push((i, false));
                } else if req.op == Op::Remove
                    && let Ok(Some(j)) = self.backend().find(&JailKey::parse(t), false)
                {
                    // A running jail named by its jid is the configuration's
                    // jail of its name, hooks and all (state.c's
                    // running_jail).
                    match graph.index(&j.name) {
                        Some(i) => selected.push((i, false)),
                        None => running_only.push(j),
                    }
                } else {
                    run.fail(None, compat(format!("\"{t}\" not found")));
                }
            }
        }
        let kept = merge_selected(selected);
        if !matches!(req.op, Op::Remove | Op::Modify)
            && let Err(e) = super::create::seal_jails_dir(&self.paths)
        {
            run.fail(None, e);
        }
        match req.op {
            Op::Remove => {
                run.cleanup = req.cleanup;
                run.remove_phase(&config, &graph, &kept);
                for j in running_only {
                    run.remove_one(&j, None);
                }
            }
            Op::Restart => {
                run.cleanup = req.cleanup;
                let done = run.remove_phase(&config, &graph, &kept);
                let again: Vec<(usize, bool)> =
                    kept.into_iter().filter(|(i, _)| done.contains(i)).collect();
                run.create_phase(&config, &graph, &again, Op::Create);
            }
            op => run.create_phase(&config, &graph, &kept, op),
        }
        if let Some(name) = anonymous {
            if let Err(e) = self.backend().release_anonymous(&name) {
                run.fail(None, e);
            }
        }
        run.summary
    }

    /// jail(8)'s `-R`: remove running jails by name, jid or wildcard, with
    /// no configuration (no hooks; SIGTERM and `stop.timeout`'s default).
    pub fn remove_running(
        &self,
        targets: &[String],
        flags: Flags,
        report: &mut dyn Report,
    ) -> Summary {
        let mut seq = Sequence::new(self.backend(), report, flags).with_forwards(&self.paths);
        let mut run = Run {
            seq: &mut seq,
            paths: &self.paths,
            summary: Summary::default(),
            failed: Vec::new(),
            cleanup: false,
            unnamed: None,
            warned: false,
            anonymous: false,
        };
        // A jail whose state is unreadable fails on its own; the others
        // are removed.
        let (running, broken) = self.backend().list_readable(false);
        if let Some(e) = broken {
            run.fail(None, e);
        }
        let mut chosen: Vec<Jail> = Vec::new();
        for t in targets {
            let found: Vec<&Jail> = if t == "*" || is_wildcard(t) {
                running
                    .iter()
                    .filter(|j| t == "*" || wildcard_matches(&j.name, t))
                    .collect()
            } else {
                let key = JailKey::parse(t);
                let one: Vec<&Jail> = running.iter().filter(|j| key.matches(j)).collect();
                if one.is_empty() {
                    run.fail(None, compat(format!("\"{t}\" not found")));
                }
                one
            };
            for j in found {
                if !chosen.iter().any(|c| c.name == j.name) {
                    chosen.push(j.clone());
                }
            }
        }
        for j in chosen {
            run.remove_one(&j, None);
        }
        run.summary
    }

    fn runs(&self, name: &str) -> bool {
        matches!(
            self.backend().find(&JailKey::parse(name), false),
            Ok(Some(_))
        )
    }
}

impl Run<'_, '_> {
    /// The steps of the order in direction `dir` for `selected`.
    fn steps(graph: &Graph, selected: &[(usize, bool)], dir: Direction) -> Vec<Step> {
        let ids: Vec<usize> = selected.iter().map(|(i, _)| *i).collect();
        graph
            .order(&ids, dir)
            .into_iter()
            .map(|s| Step {
                jail: s.jail,
                selected: s.selected,
                wild: selected.iter().any(|&(i, w)| i == s.jail && w),
            })
            .collect()
    }

    /// jail(8)'s warnings before the run, for every jail of the
    /// configuration whether selected or not: each failure of its
    /// variables (load_config), then each undefined dependency and each
    /// jail left in a dependency loop (dep_setup).
    fn warn_at_load(&mut self, config: &Config, graph: &Graph) {
        for j in &config.jails {
            for msg in &j.load_errors {
                self.seq.report.fail(&Error::Config(msg.clone()));
            }
        }
        let broken = |i: &usize| graph.broken(*i).map(|why| (*i, why));
        let (undefined, loops): (Vec<_>, Vec<_>) = (0..graph.len())
            .filter(|&i| config.jails[i].load_errors.is_empty())
            .filter_map(|i| broken(&i))
            .partition(|(_, why)| why.starts_with("depends on"));
        for (i, why) in undefined.into_iter().chain(loops) {
            let e = compat(format!("{}: {why}", graph.name(i)));
            self.seq.report.fail(&e);
        }
    }

    /// Whether step `s` can go on: not broken, no dependency failed, a
    /// usable name and definition. Reports what stops it.
    fn ready(&mut self, config: &Config, graph: &Graph, s: Step, dir: Direction) -> Option<Jail> {
        let i = s.jail;
        let name = graph.name(i).to_string();
        let load_error = config.jails[i].load_errors.first();
        if let (true, Some(msg)) = (self.warned, load_error) {
            self.failed[i] = true;
            self.summary.errors.push(Error::Config(msg.clone()));
            return None;
        }
        if let Some(why) = graph.broken(i) {
            let e = compat(format!("{name}: {why}"));
            if self.warned {
                self.failed[i] = true;
                self.summary.errors.push(e);
            } else {
                self.fail(Some(i), e);
            }
            return None;
        }
        if graph.before(i, dir).iter().any(|&d| self.failed[d]) {
            if s.selected {
                self.fail(Some(i), compat(format!("{name}: skipped")));
            } else {
                self.fail_quietly(i, &name);
            }
            return None;
        }
        // The jail's own name: a block named by a number may set it.
        let check = |def: Jail| match self.anonymous {
            true => Ok(def),
            false => name::validate(&def.name).map(|()| def),
        };
        match config.jails[i].typed().and_then(check) {
            Ok(def) => Some(def),
            Err(e) => {
                self.fail(Some(i), e);
                None
            }
        }
    }

    fn running(&mut self, i: usize, name: &str) -> Option<Option<Jail>> {
        match self
            .seq
            .backend
            .find(&JailKey::Name(name.to_string()), false)
        {
            Ok(j) => Some(j),
            Err(e) => {
                self.fail(Some(i), e);
                None
            }
        }
    }

    fn lock(&mut self, i: usize, name: &str) -> Option<JailLock> {
        JailLock::acquire(self.paths, name)
            .map_err(|e| self.fail(Some(i), e))
            .ok()
    }

    /// What every step of either phase starts with: the jail's definition
    /// once its dependencies are settled, its lock, and whether it runs.
    /// `None` (the failure already recorded) skips the step.
    fn enter(
        &mut self,
        config: &Config,
        graph: &Graph,
        s: Step,
        dir: Direction,
    ) -> Option<(Jail, JailLock, Option<Jail>)> {
        let def = self.ready(config, graph, s, dir)?;
        let lock = self.lock(s.jail, &def.name)?;
        let running = self.running(s.jail, &def.name)?;
        Some((def, lock, running))
    }

    /// Create (or modify) the jails of `selected` and the ones they need,
    /// dependencies first.
    fn create_phase(&mut self, config: &Config, graph: &Graph, selected: &[(usize, bool)], op: Op) {
        for s in Self::steps(graph, selected, Direction::Up) {
            let Some((def, lock, running)) = self.enter(config, graph, s, Direction::Up) else {
                continue;
            };
            let (i, name) = (s.jail, def.name.clone());
            let result = match (running, op) {
                (Some(_), Op::Create) if s.selected && !s.wild => {
                    Err(Error::Exists(format!("\"{name}\" already exists")))
                }
                (Some(_), _) if !s.selected => Ok(()),
                (Some(_), Op::Create) => Ok(()),
                (Some(j), Op::Modify | Op::CreateModify) => self.modify(&j, &def, false),
                (Some(j), _) => self.modify(&j, &def, true),
                (None, op) if op.creates() => self.create(&config.jails[i], &def),
                (None, _) if !s.selected => Ok(()),
                (None, _) => Err(Error::NotFound(format!("\"{name}\" not found"))),
            };
            if let Err(e) = result {
                self.fail(Some(i), e);
                // No lock file is kept for a jail that neither runs nor
                // is jmk's: a failed `jail -c` of a command-line jail.
                let runs = self.paths.run_jail_dir(&name).exists();
                if !runs && !self.paths.jail_conf(&name).exists() {
                    lock.remove_file();
                }
            }
        }
    }

    fn create(&mut self, conf: &ConfJail, def: &Jail) -> Result<()> {
        let def = self.seq.effective(def)?;
        let started = self.seq.create(&def)?;
        self.summary.created.push(Created {
            started,
            raw: conf.raw.as_ref().ok().cloned(),
        });
        Ok(())
    }

    fn modify(&mut self, jail: &Jail, def: &Jail, restart: bool) -> Result<()> {
        let def = self.seq.effective(def)?;
        if self.seq.modify(jail, &def, restart)? {
            self.seq.remove(jail, Some(&def))?;
            let started = self.seq.create(&def)?;
            self.summary.created.push(Created { started, raw: None });
        }
        Ok(())
    }

    /// Remove the jails of `selected` and the ones that depend on them,
    /// dependents first. Returns the selected jails that are now gone
    /// (removed, or not running when matched by a wildcard).
    fn remove_phase(
        &mut self,
        config: &Config,
        graph: &Graph,
        selected: &[(usize, bool)],
    ) -> Vec<usize> {
        let mut gone = Vec::new();
        for s in Self::steps(graph, selected, Direction::Down) {
            // A jail jmk cannot run (a nested `a.b`: Linux has no jails in
            // jails) is not running: as a dependent of one removed it is
            // gone, as jail(8) finds a child that is not running.
            let unrunnable = config.jails[s.jail]
                .typed()
                .is_ok_and(|d| name::validate(&d.name).is_err());
            if unrunnable && (s.wild || !s.selected) {
                gone.push(s.jail);
                continue;
            }
            let Some((def, _lock, running)) = self.enter(config, graph, s, Direction::Down) else {
                continue;
            };
            let (i, name) = (s.jail, def.name.clone());
            match running {
                None if self.cleanup => {
                    let cleaned = self.seq.effective(&def).and_then(|d| self.seq.cleanup(&d));
                    match cleaned {
                        Ok(()) => gone.push(i),
                        Err(e) => self.fail(Some(i), e),
                    }
                }
                // jail(8) says so unless -q (its verbose < 0); the jail
                // fails either way.
                None if s.selected && !s.wild => {
                    let e = Error::NotFound(format!("\"{name}\" not found"));
                    if self.seq.flags.quiet {
                        self.failed[i] = true;
                        self.summary.errors.push(e);
                    } else {
                        self.fail(Some(i), e);
                    }
                }
                None => gone.push(i),
                Some(j) => {
                    let removed = self
                        .seq
                        .effective(&def)
                        .and_then(|d| self.seq.remove(&j, Some(&d)));
                    match removed {
                        Ok(()) => gone.push(i),
                        Err(e) => self.fail(Some(i), e),
                    }
                }
            }
        }
        gone
    }

    /// Remove running jail `j` that no configuration defines.
    fn remove_one(&mut self, j: &Jail, def: Option<&Jail>) {
        let Ok(_lock) = JailLock::acquire(self.paths, &j.name).map_err(|e| self.fail(None, e))
        else {
            return;
        };
        if let Err(e) = self.seq.remove(j, def) {
            self.fail(None, e);
        }
    }
}

/// `jail -e SEP`: every configured jail's parameters, one jail a line
/// (without its newline), `name=value` pairs (`jid` left out) separated by
/// `sep`. A jail that fails gives its errors first (jail(8) warns about
/// them) and then what jail(8) still prints of it, a failed reference
/// expanded to nothing. One jail at a time: memory holds one jail's line,
/// not the output.
pub fn show(file: &ConfFile, sep: &str, each: &mut dyn FnMut(Result<String>)) {
    crate::conf::for_each_jail(file, &mut |_, raw| match raw {
        Ok(raw) => each(Ok(record(None, &raw, sep))),
        Err(failed) => {
            each(Err(failed.error));
            for e in failed.more {
                each(Err(e));
            }
            if let Some(raw) = failed.partial {
                each(Ok(record(None, &raw, sep)));
            }
        }
    });
}

/// One `-e` / `-J` record: `jid=N` first when given, then every parameter
/// but `jid`, list values joined with `,`, valueless ones bare, values
/// quoted as jail(8) quotes them.
pub fn record(jid: Option<i64>, raw: &RawJail, sep: &str) -> String {
    let mut fields: Vec<String> = Vec::new();
    if let Some(jid) = jid {
        fields.push(format!("jid={jid}"));
    }
    for p in raw.params.iter().filter(|p| p.name != "jid") {
        if p.values.is_empty() {
            fields.push(p.name.clone());
        } else {
            let values: Vec<String> = p.values.iter().map(|v| quoted(v)).collect();
            fields.push(format!("{}={}", p.name, values.join(",")));
        }
    }
    fields.join(sep)
}

/// A value as jail(8)'s `quoted_print` writes it: in double quotes when
/// empty or holding `'`, a space or a tab, in single quotes when holding
/// `"`; backslashes and the quote character escaped.
pub fn quoted(s: &str) -> String {
    let q = if s.is_empty() || s.contains('\'') {
        Some('"')
    } else if s.contains('"') {
        Some('\'')
    } else if s.contains([' ', '\t']) {
        Some('"')
    } else {
        None
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.extend(q);
    for c in s.chars() {
        if c == '\\' || Some(c) == q {
            out.push('\\');
        }
        out.push(c);
    }
    out.extend(q);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf;
    use std::path::Path;

    #[test]
    fn quoting_follows_quoted_print() {
        assert_eq!(quoted("plain"), "plain");
        assert_eq!(quoted(""), "\"\"");
        assert_eq!(quoted("a b"), "\"a b\"");
        assert_eq!(quoted("it's"), "\"it's\"");
        assert_eq!(quoted("say \"hi\""), "'say \"hi\"'");
        assert_eq!(quoted("a\\b"), "a\\\\b");
        assert_eq!(quoted("x'\"y"), "\"x'\\\"y\"");
    }

    #[test]
    fn show_prints_each_jail_on_a_line() {
        let f = conf::parse_str(
            "exec.clean;\nweb { path = /j/web; ip4.addr = 10.213.0.1, 10.213.0.2; exec.start = \"/bin/sh /etc/rc\"; }\n7 { persist; }\n",
            "t",
            Path::new("/"),
        )
        .unwrap();
        let mut lines = String::new();
        show(&f, "\t", &mut |line| {
            lines.push_str(&line.unwrap());
            lines.push('\n');
        });
        let c = Config::of(&f);
        assert_eq!(
            lines,
            "name=web\texec.clean\tpath=/j/web\tip4.addr=10.213.0.1,10.213.0.2\texec.start=\"/bin/sh /etc/rc\"\nname=7\texec.clean\tpersist\n"
        );
        let raw = c.jails[0].raw.as_ref().unwrap();
        assert!(record(Some(3), raw, " ").starts_with("jid=3 name=web exec.clean "));
    }

    #[test]
    fn show_prints_two_blocks_of_one_name_as_two_jails() {
        let f = conf::parse_str(
            "w { persist; } w { host.hostname = w2; }\n",
            "t",
            Path::new("/"),
        )
        .unwrap();
        let mut lines = Vec::new();
        show(&f, " ", &mut |line| lines.push(line.unwrap()));
        assert_eq!(lines, ["name=w persist", "name=w host.hostname=w2"]);
    }

    #[test]
    fn flags_make_operations() {
        assert_eq!(Op::of_flags(true, false, false), Some(Op::Create));
        assert_eq!(Op::of_flags(true, false, true), Some(Op::Restart));
        assert_eq!(
            Op::of_flags(true, true, true),
            Some(Op::CreateModifyRestart)
        );
        assert_eq!(Op::of_flags(false, false, false), None);
        assert!(Op::Restart.creates() && !Op::Modify.creates());
    }
}
