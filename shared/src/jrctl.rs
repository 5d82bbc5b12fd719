//! rctl(8)'s front: the command over any [`Racct`]: each rule or filter argument in
//! turn, rctl's messages for the ones that fail, and the number of
//! failures as the exit status. The binary parses flags and prints; this
//! decides what to print.

use crate::backend::Racct;
use crate::error::{Error, Result};
use crate::rctl::rule::{Users, expand};
use crate::rctl::{Filter, RctlError, Rule, SubjectType, Usage};
use crate::wire::{RuleRecord, UsageRecord};

/// rctl's usage line, printed (with status 1) for a bad command line.
pub const USAGE: &str = "usage: rctl [ -h ] [-a rule | -l filter | -r filter | -u filter | filter]";

/// Which of rctl's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// List the rules the filters match (no flag).
    #[default]
    List,
    /// `-a`: add rules.
    Add,
    /// `-l`: the rules that apply to a process.
    Limits,
    /// `-r`: remove the rules the filters match.
    Remove,
    /// `-u`: show a subject's resource usage.
    Usage,
}

/// A parsed command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The mode.
    pub mode: Mode,
    /// `-h`: humanize amounts (text output only).
    pub humanize: bool,
    /// `-n`: numeric user ids (and with `-a`, no name lookup).
    pub numeric: bool,
    /// `--json`: NDJSON records instead of text.
    pub json: bool,
    /// The rules or filters.
    pub args: Vec<String>,
}

/// A command line rctl refuses, and what it prints for it (status 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misuse {
    /// More than one of -a -l -r -u: this message.
    Message(String),
    /// The usage line.
    Usage,
}

impl Options {
    /// Check the combination as rctl does: at most one mode flag, and a
    /// mode flag needs arguments. `modes` is how many were given.
    pub fn check(&self, modes: usize) -> std::result::Result<(), Misuse> {
        if modes > 1 {
            return Err(Misuse::Message(
                "at most one of -a, -l, -r, or -u may be specified".into(),
            ));
        }
        if self.mode != Mode::List && self.args.is_empty() {
            return Err(Misuse::Usage);
        }
        Ok(())
    }
}

/// Where the command's output goes.
pub trait Sink {
    /// One line of text output.
    fn line(&mut self, text: &str) -> Result<()>;
    /// One NDJSON record, already serialized.
    fn json(&mut self, line: &str) -> Result<()>;
    /// One diagnostic (printed as `rctl: MESSAGE`).
    fn warn(&mut self, message: &str) -> Result<()>;
}

/// Run the command; returns the exit status (failed arguments, at most
/// 255). Failures of one argument are warned about and counted; only
/// output errors end the command early.
pub fn run(
    opts: &Options,
    racct: &dyn Racct,
    users: &dyn Users,
    sink: &mut dyn Sink,
) -> Result<u8> {
    let default = ["::".to_string()];
    let args: &[String] = if opts.args.is_empty() {
        &default
    } else {
        &opts.args
    };
    let mut failed: u32 = 0;
    for arg in args {
        // -n is ignored but with -a, so `rctl -n u:root` still resolves root.
        let numeric = opts.mode == Mode::Add && opts.numeric;
        let expanded = match expand(arg, numeric, users) {
            Ok(t) => t,
            Err(msg) => {
                sink.warn(&msg)?;
                failed += 1;
                continue;
            }
        };
        let outcome = match opts.mode {
            Mode::Add => racct
                .add_rule(&expanded)
                .map_err(|e| ("failed to add rule", e)),
            Mode::Remove => racct
                .remove_rule(&expanded)
                .map_err(|e| ("failed to remove rule", e)),
            Mode::List => match racct.get_rules(&expanded) {
                Ok(rules) => print_rules(opts, users, &rules, sink).map(Ok)?,
                Err(e) => Err(("failed to show rules for", e)),
            },
            Mode::Limits => match racct.get_limits(&expanded) {
                Ok(rules) => print_rules(opts, users, &rules, sink).map(Ok)?,
                Err(e) => Err(("failed to get limits for", e)),
            },
            Mode::Usage => match racct.get_racct(&expanded) {
                Ok(usage) => print_usage(opts, users, &expanded, &usage, sink).map(Ok)?,
                Err(e) => Err(("failed to show resource consumption for", e)),
            },
        };
        if let Err((_, RctlError::Unavailable(msg))) = outcome {
            return Err(Error::Compat { msg, code: 1 });
        }
        if let Err((what, e)) = outcome {
            sink.warn(&format!("{what} '{arg}': {e}"))?;
            failed += 1;
        }
    }
    Ok(failed.min(255) as u8)
}

/// A rule as printed: user ids as names unless `-n`.
fn shown(rule: &Rule, opts: &Options, users: &dyn Users) -> Rule {
    if rule.subject == SubjectType::User && !opts.numeric {
        if let Some(name) = rule.id.parse().ok().and_then(|uid| users.name(uid)) {
            return rule.with_id(&name);
        }
    }
    rule.clone()
}

fn print_rules(
    opts: &Options,
    users: &dyn Users,
    rules: &[Rule],
    sink: &mut dyn Sink,
) -> Result<()> {
    for rule in rules {
        let rule = shown(rule, opts, users);
        if opts.json {
            sink.json(&to_json(&RuleRecord::of(&rule))?)?;
        } else if opts.humanize {
            sink.line(&rule.humanized())?;
        } else {
            sink.line(&rule.to_string())?;
        }
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Software(e.to_string()))
}

fn print_usage(
    opts: &Options,
    users: &dyn Users,
    filter: &str,
    usage: &Usage,
    sink: &mut dyn Sink,
) -> Result<()> {
    if opts.json {
        let f = Filter::parse(filter).map_err(|e| Error::BadData(format!("{filter}: {e}")))?;
        let (subject, id) = f
            .subject_id()
            .map_err(|e| Error::BadData(format!("{filter}: {e}")))?;
        let id = match subject {
            SubjectType::User if !opts.numeric => id
                .parse()
                .ok()
                .and_then(|u| users.name(u))
                .unwrap_or_else(|| id.to_string()),
            _ => id.to_string(),
        };
        return sink.json(&to_json(&UsageRecord {
            subject,
            id,
            usage: usage.clone(),
        })?);
    }
    for line in usage.lines(opts.humanize) {
        sink.line(&line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::rctl::store;

    /// A kernel in memory: rules kept in FreeBSD's listing order.
    #[derive(Default)]
    struct FakeKernel {
        rules: RefCell<Vec<Rule>>,
    }

    impl Racct for FakeKernel {
        fn add_rule(&self, text: &str) -> Result<(), RctlError> {
            let rule = Filter::parse(text)?.to_rule()?;
            rule.check_kernel()?;
            store::insert(&mut self.rules.borrow_mut(), rule);
            Ok(())
        }
        fn remove_rule(&self, text: &str) -> Result<(), RctlError> {
            let f = Filter::parse(text)?;
            let before = self.rules.borrow().len();
            self.rules.borrow_mut().retain(|r| !f.matches(r));
            if self.rules.borrow().len() == before {
                Err(RctlError::NoSuch)
            } else {
                Ok(())
            }
        }
        fn get_rules(&self, text: &str) -> Result<Vec<Rule>, RctlError> {
            let f = Filter::parse(text)?;
            let mut v: Vec<Rule> = self
                .rules
                .borrow()
                .iter()
                .rev()
                .filter(|r| f.matches(r))
                .cloned()
                .collect();
            v.sort_by_key(|r| match r.subject {
                SubjectType::Process => 0,
                SubjectType::Loginclass => 1,
                SubjectType::User => 2,
                SubjectType::Jail => 3,
            });
            Ok(v)
        }
        fn get_racct(&self, text: &str) -> Result<Usage, RctlError> {
            let f = Filter::parse(text)?;
            let (s, _) = f.subject_id()?;
            Usage::parse_kernel(
                "cputime=12,datasize=8388608,stacksize=2097152,coredumpsize=0,memoryuse=123456789,memorylocked=0,\
                 maxproc=9,openfiles=312,vmemoryuse=536870912,pseudoterminals=0,swapuse=0,nthr=11,msgqqueued=0,\
                 msgqsize=0,nmsgq=0,nsem=0,nsemop=0,nshm=0,shmsize=0,wallclock=3600,pcpu=0,readbps=0,\
                 writebps=4096,readiops=0,writeiops=1,",
            )
            .map(|u| if s == SubjectType::Process { Usage::from_fn(s, |r| u.get(r).unwrap_or(0)) } else { u })
        }
        fn get_limits(&self, text: &str) -> Result<Vec<Rule>, RctlError> {
            let f = Filter::parse(text)?;
            match f.subject_id()? {
                (SubjectType::Process, _) => Ok(Vec::new()),
                _ => Err(RctlError::Invalid),
            }
        }
    }

    struct Users80;
    impl Users for Users80 {
        fn uid(&self, name: &str) -> Option<u32> {
            (name == "www").then_some(80)
        }
        fn name(&self, uid: u32) -> Option<String> {
            (uid == 80).then(|| "www".into())
        }
        fn gid(&self, _: &str) -> Option<u32> {
            None
        }
    }

    #[derive(Default)]
    struct Captured {
        out: String,
        err: String,
    }

    impl Sink for Captured {
        fn line(&mut self, text: &str) -> Result<()> {
            self.out.push_str(text);
            self.out.push('\n');
            Ok(())
        }
        fn json(&mut self, line: &str) -> Result<()> {
            self.line(line)
        }
        fn warn(&mut self, message: &str) -> Result<()> {
            self.err.push_str(&format!("rctl: {message}\n"));
            Ok(())
        }
    }

    fn rctl(k: &FakeKernel, mode: Mode, flags: &str, args: &[&str]) -> (u8, String, String) {
        let opts = Options {
            mode,
            humanize: flags.contains('h'),
            numeric: flags.contains('n'),
            json: flags.contains('j'),
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        let mut c = Captured::default();
        let code = run(&opts, k, &Users80, &mut c).unwrap();
        (code, c.out, c.err)
    }

    #[test]
    fn reference_rule_listing_samples() {
        let k = FakeKernel::default();
        assert_eq!(
            rctl(&k, Mode::Add, "", &["jail:web:memoryuse:deny=512m"]).0,
            0
        );
        assert_eq!(
            rctl(&k, Mode::Add, "", &["user:www:maxproc:deny=100/process"]).0,
            0
        );
        let (code, out, _) = rctl(&k, Mode::List, "", &[]);
        assert_eq!(
            (code, out.as_str()),
            (
                0,
                "user:www:maxproc:deny=100/process\njail:web:memoryuse:deny=536870912\n"
            )
        );
        let (_, out, _) = rctl(&k, Mode::List, "n", &[]);
        assert_eq!(
            out,
            "user:80:maxproc:deny=100/process\njail:web:memoryuse:deny=536870912\n"
        );
        let (_, out, _) = rctl(&k, Mode::List, "h", &["jail:"]);
        assert_eq!(out, "jail:web:memoryuse:deny=512M\n");
        assert_eq!(
            rctl(&k, Mode::Remove, "", &["jail:web"]),
            (0, String::new(), String::new())
        );
        let (code, out, err) = rctl(&k, Mode::Remove, "", &["jail:web"]);
        assert_eq!((code, out.as_str()), (1, ""));
        assert_eq!(
            err,
            "rctl: failed to remove rule 'jail:web': No such process\n"
        );
    }

    #[test]
    fn usage_samples_plain_humanized_and_json() {
        let k = FakeKernel::default();
        let (code, out, _) = rctl(&k, Mode::Usage, "", &["jail:web"]);
        assert_eq!(code, 0);
        assert!(out.starts_with("cputime=12\ndatasize=8388608\n"), "{out}");
        assert_eq!(out.lines().count(), 25);
        let (_, out, _) = rctl(&k, Mode::Usage, "h", &["jail:web"]);
        assert!(
            out.contains("\nmemoryuse=118M\n") && out.contains("\nvmemoryuse=512M\n"),
            "{out}"
        );
        let (_, out, _) = rctl(&k, Mode::Usage, "hj", &["jail:web"]);
        assert!(
            out.starts_with(
                r#"{"subject":"jail","id":"web","usage":{"cputime":12,"datasize":8388608,"#
            ),
            "{out}"
        );
        assert!(
            out.contains(r#""memoryuse":123456789"#),
            "machine output is exact: {out}"
        );
        let (_, out, _) = rctl(&k, Mode::Usage, "", &["process:1"]);
        assert_eq!(out.lines().count(), 17);
    }

    #[test]
    fn each_failed_argument_counts() {
        let k = FakeKernel::default();
        let (code, _, err) = rctl(
            &k,
            Mode::Add,
            "",
            &[
                "jail:web:maxproc:deny=10",
                "jail:web:cputime:deny=1",
                "jail:web:maxproc:deny=1x",
                "jail",
                "jail:web:maxproc",
            ],
        );
        assert_eq!(code, 4);
        assert_eq!(
            err,
            "rctl: failed to add rule 'jail:web:cputime:deny=1': Operation not supported\n\
             rctl: malformed rule 'jail:web:maxproc:deny=1x': invalid numeric value '1x'\n\
             rctl: malformed rule 'jail': missing subject\n\
             rctl: failed to add rule 'jail:web:maxproc': Invalid argument\n"
        );
        let (code, _, err) = rctl(&k, Mode::Usage, "", &["jail:"]);
        assert_eq!(
            (code, err.as_str()),
            (
                1,
                "rctl: failed to show resource consumption for 'jail:': Invalid argument\n"
            )
        );
        let (code, _, err) = rctl(&k, Mode::Limits, "", &["jail:web"]);
        assert_eq!(
            (code, err.as_str()),
            (
                1,
                "rctl: failed to get limits for 'jail:web': Invalid argument\n"
            )
        );
        let (code, _, err) = rctl(&k, Mode::List, "", &["bogus:"]);
        assert_eq!(
            (code, err.as_str()),
            (
                1,
                "rctl: failed to show rules for 'bogus:': Invalid argument\n"
            )
        );
    }

    #[test]
    fn json_rules_are_records() {
        let k = FakeKernel::default();
        rctl(
            &k,
            Mode::Add,
            "",
            &["j:web:memoryuse:deny=1g", "u:www:maxproc:deny=100/process"],
        );
        let (_, out, _) = rctl(&k, Mode::List, "hj", &[]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[1],
            r#"{"rule":"jail:web:memoryuse:deny=1073741824","subject":"jail","id":"web","resource":"memoryuse","action":"deny","amount":1073741824,"per":"jail"}"#
        );
        assert!(
            lines[0].contains(r#""id":"www""#) && lines[0].contains(r#""per":"process""#),
            "{}",
            lines[0]
        );
    }

    /// A kernel without racct, as FreeBSD's backend reports it.
    struct NoRacct;

    impl Racct for NoRacct {
        fn add_rule(&self, _: &str) -> Result<(), RctlError> {
            Err(RctlError::Unavailable(DISABLED.into()))
        }
        fn remove_rule(&self, _: &str) -> Result<(), RctlError> {
            Err(RctlError::Unavailable(DISABLED.into()))
        }
        fn get_rules(&self, _: &str) -> Result<Vec<Rule>, RctlError> {
            Err(RctlError::Unavailable(DISABLED.into()))
        }
        fn get_racct(&self, _: &str) -> Result<Usage, RctlError> {
            Err(RctlError::Unavailable(DISABLED.into()))
        }
        fn get_limits(&self, _: &str) -> Result<Vec<Rule>, RctlError> {
            Err(RctlError::Unavailable(DISABLED.into()))
        }
    }

    const DISABLED: &str =
        "RACCT/RCTL present, but disabled; enable using kern.racct.enable=1 tunable";

    #[test]
    fn racct_disabled_ends_the_command_with_rctls_message_and_status_1() {
        let opts = Options {
            mode: Mode::Usage,
            args: vec!["jail:web".into(), "jail:db".into()],
            ..Options::default()
        };
        let mut c = Captured::default();
        let e = run(&opts, &NoRacct, &Users80, &mut c).unwrap_err();
        assert_eq!((e.to_string().as_str(), e.exit_code()), (DISABLED, 1));
        assert_eq!(
            (c.out.as_str(), c.err.as_str()),
            ("", ""),
            "nothing before the message"
        );
    }

    #[test]
    fn misuse_is_rctls() {
        let o = |mode, args: &[&str]| Options {
            mode,
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Options::default()
        };
        assert_eq!(o(Mode::List, &[]).check(0), Ok(()));
        assert_eq!(o(Mode::Add, &[]).check(1), Err(Misuse::Usage));
        assert_eq!(
            o(Mode::Add, &["x"]).check(2),
            Err(Misuse::Message(
                "at most one of -a, -l, -r, or -u may be specified".into()
            ))
        );
    }
}
