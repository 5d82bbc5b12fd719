//! jls-rs: FreeBSD's jls(8), byte for byte, on FreeBSD and Linux.
//!
//! `jls-rs [--libxo ...] [-dhNnqsv] [-j jail] [param ...]`,
//! `jls-rs -c [-d] -j jail`, plus `--json` (one jail record per line) and
//! `--defined` (also the jails defined in the config dir but not running).
//! Arguments are parsed as jls's getopt does; the rest is `jkit::jls`.

// The entry point is jkit's (`jkit::entry!`): see there for why.
#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

use std::ffi::OsString;
use std::io::{self, Write};

use jkit::cli::{self, Output};
use jkit::fsio::raw;
use jkit::jls::{self, Libxo, Options};
use jkit::ops::Jkit;
use jkit::paths::Paths;
use jkit::{Error, Result};

jkit::entry!(tool);

fn tool() -> u8 {
    cli::run("jls", || {
        let (libxo, args) = take_libxo(std::env::args_os().skip(1).collect())?;
        let mut out = Output::new();
        let opts = match parse(libxo, args) {
            Ok(o) => o,
            Err(e) => {
                out.raw(libxo.abort_output())?;
                out.flush()?;
                return Err(e);
            }
        };
        // Parameters keep the bytes of jail.conf that are not UTF-8: they
        // are printed as those bytes, as jls prints the kernel's.
        let mut sink = raw::Bytes::new(Sink(&mut out));
        let result = jls::run(
            &opts,
            jkit::backend::native_kind(),
            |each| {
                let jk = Jkit::new(Paths::from_env())?;
                jls::fetch(&opts, jk.backend(), || jk.definitions(), each)
            },
            &mut sink,
        );
        sink.flush().map_err(|e| Error::os("write to stdout", e))?;
        out.flush()?;
        result
    })
}

/// Take the `--libxo` arguments out wherever they are, as libxo's
/// `xo_parse_args` does before getopt runs: `--libxo OPTS`,
/// `--libxo=OPTS`, `--libxo:FLAGS`.
fn take_libxo(args: Vec<OsString>) -> Result<(Libxo, Vec<OsString>)> {
    let mut libxo = Libxo::default();
    let mut rest = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let Some(tail) = arg.to_str().and_then(|a| a.strip_prefix("--libxo")) else {
            rest.push(arg);
            continue;
        };
        if tail.is_empty() {
            let spec = it.next().ok_or_else(|| compat("missing libxo option"))?;
            libxo.apply(&spec.to_string_lossy())?;
        } else if let Some(spec) = tail.strip_prefix('=') {
            libxo.apply(spec)?;
        } else if tail.starts_with(':') {
            libxo.apply(tail)?;
        } else {
            return Err(compat(format!("unknown libxo option: '--libxo{tail}'")));
        }
    }
    Ok((libxo, rest))
}

/// jls's getopt loop (`acdj:hNnqsv`) and its operands: options end at the
/// first operand or at `--`; `-nq` bundles, `-jweb` and `-j web` both work.
fn parse(libxo: Libxo, args: Vec<OsString>) -> Result<Options> {
    use lexopt::Arg::{Long, Short, Value};
    let mut o = Options {
        libxo,
        ..Options::default()
    };
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|_| usage_after("illegal option -- -"))? {
        match arg {
            Short('j') => {
                let v = p
                    .value()
                    .map_err(|_| usage_after("option requires an argument -- j"))?;
                o.select(&text(v)?);
            }
            Short(c) => {
                if !o.flag(c) {
                    return Err(usage_after(&format!("illegal option -- {c}")));
                }
            }
            Long("json") => o.json = true,
            Long("defined") => o.defined = true,
            Long(_) => return Err(usage_after("illegal option -- -")),
            Value(v) => {
                o.params.push(text(v)?);
                for raw in p.raw_args().map_err(|_| jls::usage())? {
                    o.params.push(text(raw)?);
                }
            }
        }
    }
    Ok(o)
}

/// getopt's own complaint goes to stderr first, then jls's usage.
fn usage_after(complaint: &str) -> Error {
    eprintln!("jls: {complaint}");
    jls::usage()
}

fn text(v: OsString) -> Result<String> {
    v.into_string()
        .map_err(|v| compat(format!("not valid UTF-8: {}", v.to_string_lossy())))
}

fn compat(msg: impl Into<String>) -> Error {
    Error::Compat {
        msg: msg.into(),
        code: 1,
    }
}

/// `Write` onto the tool's buffered stdout, keeping the errno of a failed
/// write (so a closed pipe still ends quietly).
#[derive(Debug)]
struct Sink<'a>(&'a mut Output);

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.raw(buf).map_err(into_io)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(into_io)
    }
}

fn into_io(e: Error) -> io::Error {
    match e {
        Error::Os { source, .. } => source,
        other => io::Error::other(other.to_string()),
    }
}
