//! jtpl: Bastillefile templates (Bastille 1.4's format), planned and applied.
//!
//! `jtpl plan TEMPLATE [--arg K=V ...] [--arg-file F]` prints the steps as
//! NDJSON without touching a jail; `jtpl check TEMPLATE` validates it and
//! reports the steps this platform cannot run;
//! `jtpl apply JAIL TEMPLATE [...]` runs the steps in the running jail
//! (`-` as the jail: the jails of NDJSON records on stdin, one after
//! another). Everything else is `jkit::template`.

// The entry point is jkit's (`jkit::entry!`): see there for why.
#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

use std::io;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};
use jkit::cli::{self, Output};
use jkit::ops::Jkit;
use jkit::paths::Paths;
use jkit::template::{self, Request, plan::parse_arg};

/// Plan, check and apply Bastillefile templates.
#[derive(Debug, Parser)]
#[command(name = "jtpl", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the steps of a template as NDJSON, touching no jail.
    Plan(Offline),
    /// Check a template: parse it, resolve its variables and includes.
    Check(Offline),
    /// Apply a template to a running jail (`-`: jails from NDJSON on stdin).
    Apply {
        /// The jail's name, or `-`.
        jail: String,
        #[command(flatten)]
        template: Template,
    },
    /// Print jtpl's completion script for a shell on stdout.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
struct Offline {
    #[command(flatten)]
    template: Template,
    /// Fill in JAIL_NAME, JAIL_IP and JAIL_IP6 from this jail's definition
    /// (the jail is only read, and need not run).
    #[arg(long, value_name = "NAME")]
    jail: Option<String>,
}

impl Offline {
    fn plan(&self, paths: Paths) -> jkit::Result<template::plan::Plan> {
        let mut req = self.template.request(&paths)?;
        if let Some(name) = &self.jail {
            let def = Jkit::new(paths)?.definition(name)?;
            req.builtins = jkit::jtpl::builtins(&def);
        }
        template::plan(&req)
    }
}

#[derive(Debug, Args)]
struct Template {
    /// A template directory, or project/template under the templates dir
    /// (JKIT_TEMPLATES_DIR).
    template: String,
    /// Set a variable: NAME=VALUE (beats --arg-file and the ARG default).
    #[arg(long = "arg", value_name = "NAME=VALUE")]
    args: Vec<String>,
    /// Read NAME=VALUE lines from a file.
    #[arg(long, value_name = "FILE")]
    arg_file: Option<PathBuf>,
}

impl Template {
    fn request(&self, paths: &Paths) -> jkit::Result<Request> {
        Ok(Request {
            template: self.template.clone(),
            args: self
                .args
                .iter()
                .map(|a| parse_arg(a))
                .collect::<jkit::Result<_>>()?,
            arg_file: self.arg_file.clone(),
            builtins: Vec::new(),
            templates_dir: template::templates_dir(paths),
        })
    }
}

jkit::entry!(tool);

fn tool() -> u8 {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        // Written through Output, which ends quietly on a broken pipe
        // (clap_complete's own writer panics there).
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "jtpl", &mut script);
        return jkit::cli::run("jtpl", || {
            let mut out = Output::new();
            out.raw(&script)?;
            out.flush()?;
            Ok(0)
        });
    }
    cli::run("jtpl", || run(cli))
}

fn run(cli: Cli) -> jkit::Result<u8> {
    let paths = Paths::from_env();
    let warn = |w: &template::Warning| eprintln!("jtpl: {w}");
    match cli.command {
        Command::Plan(t) => {
            let planned = t.plan(paths)?;
            planned.warnings.iter().for_each(warn);
            let mut out = Output::new();
            for step in &planned.steps {
                out.json(&jkit::wire::StepRecord::of(step))?;
            }
            out.flush()?;
        }
        Command::Check(t) => {
            let planned = t.plan(paths.clone())?;
            planned.warnings.iter().for_each(warn);
            // Every step this platform cannot run, each as apply would end
            // with it; the status is the first one's.
            let backend = jkit::backend::native(&paths)?;
            let problems = jkit::jtpl::check(backend.as_ref(), &planned.steps);
            for (step, e) in &problems {
                eprintln!("jtpl: {}: {}: {e}", step.at(), step.hook);
            }
            if let Some((_, e)) = problems.first() {
                return Ok(e.exit_code());
            }
        }
        Command::Apply { jail, template: t } => {
            let req = t.request(&paths)?;
            let jkit = Jkit::new(paths)?;
            for name in jkit.operands(&[jail], io::stdin().lock())? {
                jkit::jtpl::apply(&jkit, &name, &req, &mut |w| warn(w))?;
            }
        }
        Command::Completions { .. } => {}
    }
    Ok(0)
}
