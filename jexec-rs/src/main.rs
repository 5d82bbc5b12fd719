//! jexec-rs: FreeBSD's jexec(8) on FreeBSD and Linux.
//!
//! `jexec-rs [-l] [-u user | -U user] [-d dir] jail [command ...]`; the jail
//! is a jid or a name, or `-` to read jail records (NDJSON) from stdin and
//! run the command in each in turn. Arguments are parsed as jexec's getopt
//! (`d:lnu:U:`) does; the rest is `jkit::exec`.

// The entry point is jkit's (`jkit::entry!`): see there for why.
#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

use jkit::cli;
use jkit::exec::{ExecSpec, UserOption};
use jkit::jexec;
use jkit::paths::Paths;

/// The command line, parsed.
#[derive(Debug)]
struct Options {
    user: Option<UserOption>,
    login: bool,
    dir: Option<PathBuf>,
    jail: String,
    command: Vec<OsString>,
}

jkit::entry!(tool);

fn tool() -> u8 {
    let opts = match parse(std::env::args_os().skip(1)) {
        Ok(o) => o,
        Err(complaint) => {
            if let Some(c) = complaint {
                eprintln!("jexec: {c}");
            }
            eprintln!("{}", jexec::USAGE);
            return 1;
        }
    };
    cli::run("jexec", || {
        let spec = ExecSpec {
            relay_terminal: true,
            ..ExecSpec::new(opts.user, opts.login, opts.dir, opts.command)?
        };
        let backend = jkit::backend::native(&Paths::from_env())?;
        let exit = jexec::run(backend.as_ref(), &opts.jail, &spec, io::stdin().lock())?;
        Ok(cli::end_as(exit))
    })
}

/// jexec's getopt loop (`d:lnu:U:`): options end at the first operand or
/// at `--`; `-lu root` bundles, `-uroot` and `-u root` both work. An error
/// carries getopt's complaint (if any) for the usage message.
fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Options, Option<String>> {
    use lexopt::Arg::{Long, Short, Value};
    let mut p = lexopt::Parser::from_args(args);
    let (mut host, mut jail_user, mut login, mut dir) = (None, None, false, None);
    let mut operands = Vec::new();
    loop {
        let arg = match p.next() {
            Ok(Some(a)) => a,
            Ok(None) => break,
            Err(_) => return Err(Some("illegal option -- -".into())),
        };
        let opt = match arg {
            Short(c) => c,
            Long(_) => return Err(Some("illegal option -- -".into())),
            Value(v) => {
                operands.push(v);
                operands.extend(p.raw_args().map_err(|_| None)?);
                continue;
            }
        };
        match opt {
            'l' => login = true,
            'n' => {}
            'd' => dir = Some(PathBuf::from(value(&mut p, 'd')?)),
            'u' => host = Some(text(value(&mut p, 'u')?)?),
            'U' => jail_user = Some(text(value(&mut p, 'U')?)?),
            c => return Err(Some(format!("illegal option -- {c}"))),
        }
    }
    let user = match (host, jail_user) {
        (Some(_), Some(_)) => return Err(None),
        (Some(u), None) => Some(UserOption::Host(u)),
        (None, Some(u)) => Some(UserOption::Jail(u)),
        (None, None) => None,
    };
    let mut operands = operands.into_iter();
    let jail = text(operands.next().ok_or(None)?)?;
    Ok(Options {
        user,
        login,
        dir,
        jail,
        command: operands.collect(),
    })
}

/// The argument of option `opt`.
fn value(p: &mut lexopt::Parser, opt: char) -> Result<OsString, Option<String>> {
    p.value()
        .map_err(|_| Some(format!("option requires an argument -- {opt}")))
}

/// A user or jail name: names are text (a name that is not cannot exist).
fn text(v: OsString) -> Result<String, Option<String>> {
    v.into_string()
        .map_err(|v| Some(format!("{}: not valid UTF-8", v.to_string_lossy())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, Option<String>> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn options_stop_at_the_first_operand() {
        let o = p(&["-l", "-uroot", "-d", "/tmp", "web", "ls", "-l", "--", "x"]).unwrap();
        assert_eq!(o.user, Some(UserOption::Host("root".into())));
        assert!(o.login);
        assert_eq!(o.dir, Some(PathBuf::from("/tmp")));
        assert_eq!(o.jail, "web");
        assert_eq!(o.command, ["ls", "-l", "--", "x"]);
        let o = p(&["-nlU", "www", "--", "-", "id"]).unwrap();
        assert_eq!(o.user, Some(UserOption::Jail("www".into())));
        assert_eq!((o.jail.as_str(), o.command.len()), ("-", 1));
        assert_eq!(
            p(&["-u", "-l", "7"]).unwrap().user,
            Some(UserOption::Host("-l".into()))
        );
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        assert_eq!(p(&[]).unwrap_err(), None);
        assert_eq!(p(&["-l"]).unwrap_err(), None);
        assert_eq!(p(&["-u", "a", "-U", "b", "web"]).unwrap_err(), None);
        assert_eq!(
            p(&["-x", "web"]).unwrap_err(),
            Some("illegal option -- x".into())
        );
        assert_eq!(p(&["web", "-x"]).unwrap().command, ["-x"]);
        assert_eq!(
            p(&["-u"]).unwrap_err(),
            Some("option requires an argument -- u".into())
        );
        assert_eq!(
            p(&["--help"]).unwrap_err(),
            Some("illegal option -- -".into())
        );
    }
}
