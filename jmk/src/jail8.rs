//! jmk's jail(8) front: `jmk -c|-m|-r|-R|-rc|-cm ... [jail]`, the
//! command-line form `jmk -c name=web path=/j/web command=/bin/sh`, and
//! `jmk -e SEP`, with jail(8)'s options (getopt `cCde:f:hiJ:lmn:p:qrRs:u:U:v`),
//! messages and exit status (0 when every jail succeeded, else 1).

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use jkit::Error;
use jkit::conf::is_wildcard;
use jkit::fsio::raw;
use jkit::ops::jail8::{self, Created};
use jkit::ops::{Config, ConfigSource, Flags, Jails, Jkit, Op, Report, Request, Summary};
use jkit::paths::Paths;

const USAGE: &str = "\
usage: jmk [-dhilqv] [-J jid_file] [-u username] [-U username]
            -[cmr] param=value ... [command=command ...]
       jmk [-dqv] [-f file] -[cmr] [jail]
       jmk [-qv] [-f file] -[rR] ['*' | jail ...]
       jmk [-dhilqv] [-J jid_file] [-u username] [-U username]
            [-n jailname] [-s securelevel]
            path hostname ip[,...] command ...
       jmk [-f file] -e separator
       jmk [--json] <COMMAND> ... (jmk --help)";

/// Whether `args` (without the program name) are jail(8)'s: none (jail(8)'s
/// usage), jail(8)'s option-less legacy form (`/path hostname ip command`),
/// or an option that is not one of the subcommands' own (`--json`,
/// `--help`, `--version`, `-V`, `-h` alone).
pub fn wanted(args: &[OsString]) -> bool {
    let Some(first) = args.first() else {
        return true;
    };
    let Some(first) = first.to_str() else {
        return false;
    };
    if first.starts_with('/') {
        return true;
    }
    let own = ["--json", "--help", "--version", "-V"].contains(&first)
        || (first == "-h" && args.len() == 1);
    first.starts_with('-') && first.len() > 1 && !first.starts_with("--") && !own
}

/// jail(8)'s options.
#[derive(Debug, Default)]
struct Opts {
    c: bool,
    m: bool,
    r: bool,
    big_r: bool,
    cleanup: bool,
    dying: bool,
    show: Option<String>,
    file: Option<PathBuf>,
    jid_only: bool,
    jid_file: Option<PathBuf>,
    quiet: bool,
    verbose: bool,
    /// Parameters from `-h -l -n -s -u -U`, which also mean "no
    /// configuration file".
    params: Vec<String>,
    operands: Vec<String>,
}

enum Parse {
    Opts(Opts),
    /// getopt's complaint, then the usage.
    Usage(String),
}

/// getopt(3) over `args`: options until `--` or the first operand,
/// bundled flags, an option's value attached or in the next argument.
fn parse(args: &[String]) -> Parse {
    let mut o = Opts::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a.len() == 1 {
            break;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            k += 1;
            if "efJnpsuU".contains(c) {
                let value = if k < chars.len() {
                    chars[k..].iter().collect::<String>()
                } else {
                    i += 1;
                    match args.get(i) {
                        Some(v) => v.clone(),
                        None => return Parse::Usage(format!("option requires an argument -- {c}")),
                    }
                };
                k = chars.len();
                match c {
                    'e' => o.show = Some(value),
                    'f' => o.file = Some(PathBuf::from(value)),
                    'J' => o.jid_file = Some(PathBuf::from(value)),
                    'n' => o.params.push(format!("name={value}")),
                    // A limit on parallel commands: jmk runs one at a time.
                    'p' => {}
                    's' => o.params.push(format!("securelevel={value}")),
                    'u' => o.params.extend([
                        format!("exec.jail_user={value}"),
                        "exec.system_jail_user".into(),
                    ]),
                    _ => o.params.extend([
                        format!("exec.jail_user={value}"),
                        "exec.system_jail_user=false".into(),
                    ]),
                }
                continue;
            }
            match c {
                'c' => o.c = true,
                'C' => o.cleanup = true,
                'd' => o.dying = true,
                'h' => o.params.push("ip_hostname".into()),
                'i' => o.jid_only = true,
                'l' => o.params.push("exec.clean".into()),
                'm' => o.m = true,
                'q' => o.quiet = true,
                'r' => o.r = true,
                'R' => {
                    o.r = true;
                    o.big_r = true;
                }
                'v' => o.verbose = true,
                other => return Parse::Usage(format!("illegal option -- {other}")),
            }
        }
        i += 1;
    }
    o.operands = args[i..].to_vec();
    Parse::Opts(o)
}

/// Prints jail(8)'s notes on stdout (a line at a time, so that they stay in
/// order with the commands' output) and its warnings on stderr.
struct Jail8Report;

impl Report for Jail8Report {
    fn note(&mut self, line: &str) {
        let mut out = io::stdout().lock();
        // A closed stdout loses the notes, not the work.
        let _ = write_line(&mut out, "", line).and_then(|()| out.flush());
    }

    fn warn(&mut self, line: &str) {
        let _ = write_line(&mut io::stderr().lock(), "jmk: ", line);
    }

    /// A jail's failure as jail(8) words it: `JAIL: message`, without the
    /// place in the file of the statement at fault (jail(8) knows it no
    /// more once the file is read).
    fn fail(&mut self, e: &Error) {
        let text = e.to_string();
        let line = match (e, split_location(&text)) {
            (Error::Config(_), Some((_, _, rest))) => rest,
            _ => &text,
        };
        self.warn(line);
    }
}

/// `prefix` and `line` and a newline, with the bytes of jail.conf that are
/// not UTF-8 written as they were read.
fn write_line(out: &mut dyn Write, prefix: &str, line: &str) -> io::Result<()> {
    out.write_all(prefix.as_bytes())?;
    out.write_all(&raw::encode(line))?;
    out.write_all(b"\n")
}

/// `FILE line N column M: rest` split into its file, line and the rest.
fn split_location(text: &str) -> Option<(&str, &str, &str)> {
    text.match_indices(" line ").find_map(|(at, _)| {
        let after = &text[at + " line ".len()..];
        let (line, after) = after.split_once(" column ")?;
        let (column, rest) = after.split_once(": ")?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        (digits(line) && digits(column)).then_some((&text[..at], line, rest))
    })
}

/// An error that stops jail(8) before any jail (the configuration cannot
/// be read) as jail(8) words it: `FILE line N: message`, or
/// `FILE: unexpected EOF`.
fn whole_run_message(e: &Error) -> String {
    let text = e.to_string();
    match (e, split_location(&text)) {
        (Error::Config(_), Some((file, _, "unexpected EOF"))) => format!("{file}: unexpected EOF"),
        (Error::Config(_), Some((file, line, rest))) => format!("{file} line {line}: {rest}"),
        _ => text,
    }
}

fn usage(complaint: Option<&str>) -> u8 {
    if let Some(c) = complaint {
        eprintln!("jmk: {c}");
    }
    eprintln!("{USAGE}");
    1
}

fn fail(e: &Error) -> u8 {
    let _ = write_line(&mut io::stderr().lock(), "jmk: ", &whole_run_message(e));
    1
}

/// Run jmk as jail(8) with `args` (without the program name).
pub fn main(args: &[OsString]) -> u8 {
    // Arguments keep their bytes, as jail(8) passes them on.
    let args: Vec<String> = args.iter().map(|a| raw::from_os(a)).collect();
    let o = match parse(&args) {
        Parse::Opts(o) => o,
        Parse::Usage(c) => return usage(Some(&c)),
    };
    let paths = Paths::from_env();
    let source = o
        .file
        .clone()
        .map_or(ConfigSource::Default, ConfigSource::File);
    if let Some(sep) = &o.show {
        return show(&paths, &source, &o, sep);
    }
    let jk = match Jkit::new(paths.clone()) {
        Ok(jk) => jk,
        Err(e) => return fail(&e),
    };
    let Some(op) = Op::of_flags(o.c, o.m, o.r) else {
        return legacy(&jk, o);
    };
    if o.dying {
        Jail8Report
            .warn("the 'allow.dying' parameter and '-d' flag are deprecated and have no effect.");
    }
    let jid_file = match &o.jid_file {
        Some(f) => match File::create(f) {
            Ok(file) => Some(file),
            Err(e) => return fail(&Error::os(format!("open {}", f.display()), e)),
        },
        None => None,
    };
    let summary = match run_op(&jk, &paths, &source, &o, op) {
        Ok(summary) => summary,
        Err(status) => return status,
    };
    if let Some(file) = jid_file {
        if let Err(e) = write_jids(file, &summary) {
            return fail(&e);
        }
    }
    summary.status()
}

/// `-e SEP`: print the configuration's jails and parameters.
fn show(paths: &Paths, source: &ConfigSource, o: &Opts, sep: &str) -> u8 {
    if o.c || o.m || o.r || !o.operands.is_empty() {
        return usage(None);
    }
    let file = match jkit::ops::config::read(paths, source, io::stdin().lock()) {
        Ok(file) => file,
        Err(e) => return fail(&e),
    };
    // jail(8) warns about a jail that fails and prints the others: 0.
    let mut out = io::BufWriter::new(io::stdout().lock());
    jail8::show(&file, sep, &mut |line| match line {
        // A closed stdout loses the listing, not the status.
        Ok(line) => {
            let _ = write_line(&mut out, "", &line);
        }
        Err(e) => {
            let _ = out.flush();
            Jail8Report.fail(&e);
        }
    });
    let _ = out.flush();
    0
}

/// The flags every form takes from the options.
fn flags_of(o: &Opts) -> Flags {
    Flags {
        quiet: o.quiet || o.jid_only,
        verbose: o.verbose,
        print_jid: o.jid_only,
        ..Flags::default()
    }
}

/// Do `op` to the jails the operands name: jail(8)'s `-r`/`-R`, its
/// command-line form (`param=value` operands), or jails of the
/// configuration. `Err` holds the exit status of a failure already told.
fn run_op(
    jk: &Jkit,
    paths: &Paths,
    source: &ConfigSource,
    o: &Opts,
    op: Op,
) -> Result<Summary, u8> {
    // Parameters given as options mean "no configuration file".
    let docf = o.params.is_empty();
    let mut flags = flags_of(o);
    let run = |jails: Jails, targets: Vec<String>, flags: Flags, cleanup: bool| {
        let req = Request {
            op,
            jails,
            targets,
            flags,
            cleanup,
        };
        jk.jail8(&req, &mut Jail8Report)
    };
    if op == Op::Remove {
        if !docf || o.operands.is_empty() {
            return Err(usage(None));
        }
        if !o.big_r && o.operands.iter().any(|a| a.contains('=')) {
            return Err(usage(None));
        }
        let wild = is_wildcard(&o.operands[0]) || o.operands[0] == "*";
        if o.big_r {
            flags.note_remove = o.operands.len() > 1 || wild;
            return Ok(jk.remove_running(&o.operands, flags, &mut Jail8Report));
        }
        let config = if Config::exists(paths, source) {
            Config::load(paths, source, io::stdin().lock()).map_err(|e| fail(&e))?
        } else {
            Config::default()
        };
        flags.note_remove = config.from_file || o.operands.len() > 1 || wild;
        Ok(run(
            Jails::Config(config),
            o.operands.clone(),
            flags,
            o.cleanup,
        ))
    } else if o.operands.len() > 1 || o.operands.first().is_some_and(|a| a.contains('=')) {
        if o.big_r || o.cleanup {
            return Err(usage(None));
        }
        let mut params = o.params.clone();
        params.extend(o.operands.iter().cloned());
        let jail = Config::command_line(&params).map_err(|e| fail(&e))?;
        Ok(run(Jails::CommandLine(jail), Vec::new(), flags, false))
    } else {
        if o.big_r || !docf {
            return Err(usage(None));
        }
        let config = Config::load(paths, source, io::stdin().lock()).map_err(|e| fail(&e))?;
        Ok(run(
            Jails::Config(config),
            o.operands.clone(),
            flags,
            o.cleanup,
        ))
    }
}

/// `-J FILE`: a line for each jail created, as jail(8) writes it.
fn write_jids(mut file: File, summary: &Summary) -> Result<(), Error> {
    for Created { started, raw } in &summary.created {
        if let (Some(jid), Some(raw)) = (started.jail.jid, raw) {
            write_line(&mut file, "", &jail8::record(Some(jid), raw, "\t"))
                .map_err(|e| Error::os("write the jid file", e))?;
        }
    }
    Ok(())
}

/// jail(8)'s old form: `path hostname ip[,ip...] command ...` (named by
/// `-n`, else by its jid).
fn legacy(jk: &Jkit, o: Opts) -> u8 {
    if o.operands.len() < 4 || !o.operands[0].starts_with('/') {
        return usage(None);
    }
    let mut params = o.params.clone();
    params.push(format!("path={}", o.operands[0]));
    params.push(format!("host.hostname={}", o.operands[1]));
    for addr in o.operands[2].split(',').filter(|a| !a.is_empty()) {
        let v6 = addr.parse::<std::net::Ipv6Addr>().is_ok();
        params.push(format!(
            "{}={addr}",
            if v6 { "ip6.addr" } else { "ip4.addr" }
        ));
    }
    params.push(format!("command={}", o.operands[3]));
    params.extend(o.operands[4..].iter().cloned());
    let jail = match Config::command_line(&params) {
        Ok(j) => j,
        Err(e) => return fail(&e),
    };
    let req = Request {
        op: Op::Create,
        jails: Jails::CommandLine(jail),
        targets: Vec::new(),
        flags: flags_of(&o),
        cleanup: false,
    };
    jk.jail8(&req, &mut Jail8Report).status()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn opts(v: &[&str]) -> Opts {
        match parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()) {
            Parse::Opts(o) => o,
            Parse::Usage(c) => panic!("{c}"),
        }
    }

    #[test]
    fn jail8_form_is_told_from_subcommands() {
        assert!(wanted(&os(&["-c"])));
        assert!(wanted(&os(&["-rc", "web"])));
        assert!(wanted(&os(&["-f", "x.conf", "-c"])));
        assert!(wanted(&os(&["-h", "path=/"])));
        assert!(!wanted(&os(&["start", "web"])));
        assert!(!wanted(&os(&["--json", "start", "web"])));
        assert!(!wanted(&os(&["--help"])));
        assert!(!wanted(&os(&["-h"])));
        assert!(!wanted(&os(&["-V"])));
        assert!(wanted(&os(&[])));
        assert!(wanted(&os(&["/j/web", "web", "10.213.0.1", "/bin/sh"])));
    }

    #[test]
    fn messages_lose_the_column_or_the_place_as_jail8_words_them() {
        let conf = |m: &str| Error::Config(m.to_string());
        let parse = conf("/etc/my line 1.conf line 3 column 7: unterminated string");
        assert_eq!(
            whole_run_message(&parse),
            "/etc/my line 1.conf line 3: unterminated string"
        );
        let eof = conf("STDIN line 9 column 1: unexpected EOF");
        assert_eq!(whole_run_message(&eof), "STDIN: unexpected EOF");
        let other = Error::Usage("x line 1 column 2: y".into());
        assert_eq!(whole_run_message(&other), "x line 1 column 2: y");
        assert_eq!(
            split_location("f line 2 column 32: bad: unknown parameter: bogus"),
            Some(("f", "2", "bad: unknown parameter: bogus"))
        );
        assert_eq!(split_location("web: path /x: No such file"), None);
    }

    #[test]
    fn getopt_bundles_values_and_stops_at_operands() {
        let o = opts(&["-rc", "-fx.conf", "-J", "jids", "-p4", "web", "-q"]);
        assert!(o.r && o.c && !o.m && !o.quiet);
        assert_eq!(o.file, Some(PathBuf::from("x.conf")));
        assert_eq!(o.jid_file, Some(PathBuf::from("jids")));
        assert_eq!(o.operands, ["web", "-q"]);
        let o = opts(&["-cu", "www", "-n", "t", "--", "-x"]);
        assert_eq!(
            o.params,
            ["exec.jail_user=www", "exec.system_jail_user", "name=t"]
        );
        assert_eq!(o.operands, ["-x"]);
        assert!(
            matches!(parse(&["-cx".to_string()]), Parse::Usage(c) if c == "illegal option -- x")
        );
        assert!(
            matches!(parse(&["-f".to_string()]), Parse::Usage(c) if c == "option requires an argument -- f")
        );
    }
}
