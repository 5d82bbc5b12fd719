//! jrctl: FreeBSD's rctl(8) on FreeBSD and Linux.
//!
//! `jrctl [-h] [-n] [-a rule ... | -l filter ... | -r filter ... | -u filter ... | filter ...]`
//! with rctl's flag rules: `-a -h -l -n -r -u` take no value, options end
//! at the first operand, at most one of `-a -l -r -u`, and the exit status
//! is the number of arguments that failed. Added: `--json` (rules and
//! usage as NDJSON records) and `-` as the only operand (the jails of the
//! NDJSON jail records on stdin, as `jail:NAME` filters).

// The entry point is jkit's (`jkit::entry!`): see there for why.
#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

use std::io::{self, Write};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, Parser};
use jkit::Result;
use jkit::cli::{self, Output};
use jkit::jrctl::{self, Misuse, Mode, Options, Sink, USAGE};
use jkit::ops::Jkit;
use jkit::paths::Paths;
use jkit::rctl::rule::SystemUsers;

/// rctl's command line; getopt semantics come from the settings below.
#[derive(Debug, Parser)]
#[command(name = "rctl", disable_help_flag = true, disable_version_flag = true)]
struct Cli {
    /// Add rules.
    #[arg(short = 'a', action = ArgAction::Count)]
    add: u8,
    /// Show the rules that apply to a process.
    #[arg(short = 'l', action = ArgAction::Count)]
    limits: u8,
    /// Remove the rules the filters match.
    #[arg(short = 'r', action = ArgAction::Count)]
    remove: u8,
    /// Show the resource usage of a subject.
    #[arg(short = 'u', action = ArgAction::Count)]
    usage: u8,
    /// Humanize amounts (text output).
    #[arg(short = 'h', action = ArgAction::Count)]
    humanize: u8,
    /// Numeric user ids.
    #[arg(short = 'n', action = ArgAction::Count)]
    numeric: u8,
    /// Print rules and usage as NDJSON records.
    #[arg(long)]
    json: bool,
    /// Rules or filters; `-` reads jail records from stdin.
    #[arg(trailing_var_arg = true)]
    args: Vec<String>,
}

jkit::entry!(tool);

fn tool() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if e.kind() == ErrorKind::UnknownArgument {
                if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
                    let c = if arg.starts_with("--") {
                        '-'
                    } else {
                        arg.chars().nth(1).unwrap_or('-')
                    };
                    eprintln!("rctl: illegal option -- {c}");
                }
            }
            eprintln!("{USAGE}");
            return 1;
        }
    };
    cli::run("rctl", || run(cli))
}

fn run(cli: Cli) -> Result<u8> {
    let flags = [
        (cli.add, Mode::Add),
        (cli.limits, Mode::Limits),
        (cli.remove, Mode::Remove),
        (cli.usage, Mode::Usage),
    ];
    let modes = flags.iter().filter(|(n, _)| *n > 0).count();
    let mode = flags
        .iter()
        .find(|(n, _)| *n > 0)
        .map_or(Mode::List, |(_, m)| *m);
    let mut opts = Options {
        mode,
        humanize: cli.humanize > 0,
        numeric: cli.numeric > 0,
        json: cli.json,
        args: cli.args,
    };
    if let Err(m) = opts.check(modes) {
        match m {
            Misuse::Message(msg) => eprintln!("rctl: {msg}"),
            Misuse::Usage => eprintln!("{USAGE}"),
        }
        return Ok(1);
    }
    let paths = Paths::from_env();
    if opts.args.len() == 1 && opts.args[0] == "-" {
        let names = Jkit::new(paths.clone())?.operands(&opts.args, io::stdin().lock())?;
        opts.args = names.into_iter().map(|n| format!("jail:{n}")).collect();
        if opts.args.is_empty() {
            return Ok(0);
        }
    }
    let racct = jkit::backend::native(&paths)?.racct();
    let mut sink = Std { out: Output::new() };
    let code = jrctl::run(&opts, racct.as_ref(), &SystemUsers, &mut sink)?;
    sink.out.flush()?;
    Ok(code)
}

/// stdout (buffered) and stderr, flushed in turn so they interleave.
struct Std {
    out: Output,
}

impl Sink for Std {
    fn line(&mut self, text: &str) -> Result<()> {
        self.out.line(text)
    }

    fn json(&mut self, line: &str) -> Result<()> {
        self.out.line(line)
    }

    fn warn(&mut self, message: &str) -> Result<()> {
        self.out.flush()?;
        let _ = writeln!(io::stderr(), "rctl: {message}");
        Ok(())
    }
}
