//! jls(8): the option model with its left-to-right flag rules, which
//! parameters are printed, and every output format of FreeBSD's jls, byte
//! for byte (the default table, `-N`, `-v`, parameter lists with `-h`,
//! `-n`, `-q`, `-s`, libxo JSON and XML), plus jkit's `--json` records.
//!
//! Formatting (a [`Printer`]) takes one jail at a time and writes to any
//! [`Write`], so it is tested with hand-built jails; fetching goes through
//! a [`Backend`], which hands over the jails one at a time too, so a
//! listing's memory does not grow with the number of jails.
//!
//! Beyond FreeBSD's jls: `--json` prints one [`JailRecord`](crate::wire::JailRecord) per line
//! (`params` holds just the named parameters when names are given), and
//! `--defined` adds the defined jails that do not run. Such a jail has no
//! jid and no kernel values: in text a missing value shows as an empty
//! list does (`-`, `""` with `-q`, nothing after `=` with `-n`; `-` in
//! the tables' jid column), in JSON as `null`, in XML as an empty element,
//! and `-v` calls its state `STOPPED`.

mod render;
mod xo;

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::model::param::{KERNEL_PARAMS, Spec, negated_name};
use crate::model::{Jail, JailKey, Kind, State, Value};
use crate::wire::{BackendKind, RecordOf};

pub use xo::Style;

/// jls's usage message (it omits `-s`, as FreeBSD's does).
pub const USAGE: &str = "usage: jls [-dhNnqv] [-j jail] [param ...]";

/// The `__version` libxo output carries (FreeBSD 11 to 14's jls).
pub const XO_VERSION: &str = "2";

/// A jls failure with its own exit status 1.
fn compat(msg: impl Into<String>) -> Error {
    Error::Compat {
        msg: msg.into(),
        code: 1,
    }
}

/// The usage error.
pub fn usage() -> Error {
    compat(USAGE)
}

/// What `--libxo` chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Libxo {
    /// Text, JSON or XML.
    pub style: Style,
    /// The `pretty` modifier (indented JSON and XML).
    pub pretty: bool,
}

impl Libxo {
    /// Apply one `--libxo` argument: comma-separated words (`json,pretty`)
    /// or, after a colon, libxo's letters (`:JP`). Later ones add to earlier.
    pub fn apply(&mut self, spec: &str) -> Result<()> {
        let bad = |what: &str| compat(format!("unknown libxo option value: '{what}'"));
        if let Some(letters) = spec.strip_prefix(':') {
            for c in letters.chars() {
                match c {
                    'J' => self.style = Style::Json,
                    'X' => self.style = Style::Xml,
                    'T' => self.style = Style::Text,
                    'P' => self.pretty = true,
                    c => return Err(bad(&c.to_string())),
                }
            }
            return Ok(());
        }
        for word in spec.split(',').filter(|w| !w.is_empty()) {
            match word {
                "json" => self.style = Style::Json,
                "xml" => self.style = Style::Xml,
                "text" => self.style = Style::Text,
                "pretty" => self.pretty = true,
                w => return Err(bad(w)),
            }
        }
        Ok(())
    }

    /// What jls leaves on stdout when it exits with an error before its
    /// document began (libxo's `xo_finish` from `xo_errx`): `{ }` in JSON.
    pub fn abort_output(&self) -> &'static [u8] {
        match self.style {
            Style::Json => b"{ }\n",
            Style::Text | Style::Xml => b"",
        }
    }
}

/// The command line, as jls's getopt loop leaves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `-d` / `-a`: also dying jails.
    pub dying: bool,
    /// `-c`: only check that the `-j` jail exists.
    pub check: bool,
    /// `-h`: a header line of parameter names.
    pub header: bool,
    /// `-N`: the default table shows names instead of jids.
    pub jail_name: bool,
    /// `-n`: name=value.
    pub nameval: bool,
    /// `-q`: quote values that need it.
    pub quoted: bool,
    /// `-s`: skip read-only parameters and those of a non-`new` jailsys parent.
    pub skip: bool,
    /// `-v`: the verbose table.
    pub verbose: bool,
    /// `-j`: the one jail to show.
    pub jail: Option<JailKey>,
    /// Parameter names, as given.
    pub params: Vec<String>,
    /// `--libxo`.
    pub libxo: Libxo,
    /// `--json`: one jail record per line instead.
    pub json: bool,
    /// `--defined`: also jails defined in the config dir but not running.
    pub defined: bool,
}

impl Options {
    /// Apply a flag letter as jls's getopt loop does (later flags cancel
    /// earlier ones); false if `c` is not a flag (`j` takes a value: see
    /// [`Options::select`]).
    pub fn flag(&mut self, c: char) -> bool {
        match c {
            'a' | 'd' => self.dying = true,
            'c' => self.check = true,
            'h' => {
                self.header = true;
                self.skip = false;
                self.verbose = false;
            }
            'N' => self.jail_name = true,
            'n' => {
                self.nameval = true;
                self.verbose = false;
            }
            'q' => self.quoted = true,
            's' => {
                self.nameval = true;
                self.quoted = true;
                self.skip = true;
                self.header = false;
                self.verbose = false;
            }
            'v' => {
                self.verbose = true;
                self.header = false;
                self.nameval = false;
                self.skip = false;
            }
            _ => return false,
        }
        true
    }

    /// `-j jail`: a jid when the text is a non-zero decimal number, else a name.
    pub fn select(&mut self, jail: &str) {
        self.jail = Some(JailKey::parse(jail));
    }

    /// Decide what to print; fails on an unknown parameter name.
    pub fn plan(&self) -> Result<Plan> {
        let mut cols = Columns::default();
        let mode = if self.json {
            for p in &self.params {
                cols.add(p)?;
            }
            Mode::Records
        } else if !self.params.is_empty() {
            for p in &self.params {
                cols.add(p)?;
            }
            Mode::List
        } else if self.header || self.nameval {
            cols.add("all")?;
            Mode::List
        } else if self.verbose {
            for p in [
                "jid",
                "host.hostname",
                "path",
                "name",
                "dying",
                "cpuset.id",
                "ip4.addr",
                "ip6.addr",
            ] {
                cols.add(p)?;
            }
            Mode::Verbose
        } else {
            let first = if self.jail_name { "name" } else { "jid" };
            for p in [first, "ip4.addr", "host.hostname", "path"] {
                cols.add(p)?;
            }
            Mode::Default {
                by_name: self.jail_name,
            }
        };
        let user = cols.list.len();
        if mode == Mode::List && self.skip {
            for i in 0..user {
                let parent = match cols.list[i].name.split_once('.') {
                    Some((p, _)) => p.to_string(),
                    None => continue,
                };
                cols.list[i].parent = cols.add_hidden(&parent);
            }
        }
        let index = KERNEL_PARAMS
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name, i))
            .collect();
        Ok(Plan {
            mode,
            columns: cols.list,
            user,
            header: self.header,
            nameval: self.nameval,
            quoted: self.quoted,
            skip: self.skip,
            libxo: self.libxo,
            index,
        })
    }
}

/// Which output jls produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// jid (or name), first IPv4 address, hostname, path.
    Default { by_name: bool },
    /// `-v`: four lines and the addresses per jail.
    Verbose,
    /// Parameter values, one line per jail.
    List,
    /// `--json`: jail records.
    Records,
}

/// One parameter to fetch.
#[derive(Debug, Clone)]
struct Column {
    /// As named on the command line (`nopersist` keeps its `no`).
    name: String,
    /// Its index in [`KERNEL_PARAMS`].
    kidx: usize,
    /// Named with the `no` prefix: the value is the boolean's inverse.
    negated: bool,
    /// What `-n` shows for a false boolean: the `no` form of the name
    /// (`nopersist`), or for a name given with `no` the positive one.
    off_name: String,
    /// With `-s`: the column of its jailsys parent (`ip4` for `ip4.addr`).
    parent: Option<usize>,
}

impl Column {
    fn new(name: &str, kidx: usize, negated: bool) -> Self {
        let off_name = if negated {
            KERNEL_PARAMS[kidx].name.to_string()
        } else {
            negated_name(name)
        };
        Column {
            name: name.to_string(),
            kidx,
            negated,
            off_name,
            parent: None,
        }
    }

    fn spec(&self) -> &'static Spec {
        &KERNEL_PARAMS[self.kidx]
    }
}

#[derive(Debug, Default)]
struct Columns {
    list: Vec<Column>,
}

impl Columns {
    /// Add a user-named parameter (or `all`), keeping the first of duplicates.
    fn add(&mut self, name: &str) -> Result<()> {
        if name == "all" {
            for s in KERNEL_PARAMS {
                self.add(s.name)?;
            }
            return Ok(());
        }
        if self.list.iter().any(|c| c.name == name) {
            return Ok(());
        }
        let (kidx, negated) =
            kernel_param(name).ok_or_else(|| compat(format!("unknown parameter: {name}")))?;
        self.list.push(Column::new(name, kidx, negated));
        Ok(())
    }

    /// Add a parameter fetched only to decide on another; `None` when the
    /// name is not a parameter (`allow` of `allow.mount`).
    fn add_hidden(&mut self, name: &str) -> Option<usize> {
        if let Some(i) = self.list.iter().position(|c| c.name == name) {
            return Some(i);
        }
        let (kidx, negated) = kernel_param(name)?;
        self.list.push(Column::new(name, kidx, negated));
        Some(self.list.len() - 1)
    }
}

/// A kernel parameter by name, also with the `no` prefix of a boolean
/// (`nopersist`, `allow.nomount`): its index and whether it is negated.
fn kernel_param(name: &str) -> Option<(usize, bool)> {
    let find = |n: &str| KERNEL_PARAMS.iter().position(|s| s.name == n);
    if let Some(i) = find(name) {
        return Some((i, false));
    }
    let (head, last) = match name.rfind('.') {
        Some(i) => (&name[..=i], &name[i + 1..]),
        None => ("", name),
    };
    let i = find(&format!("{head}{}", last.strip_prefix("no")?))?;
    (KERNEL_PARAMS[i].kind == Kind::Bool).then_some((i, true))
}

/// What to print, decided from the options before any jail is fetched.
#[derive(Debug, Clone)]
pub struct Plan {
    mode: Mode,
    /// The user's columns first, then hidden ones (jailsys parents).
    columns: Vec<Column>,
    user: usize,
    header: bool,
    nameval: bool,
    quoted: bool,
    skip: bool,
    libxo: Libxo,
    /// Kernel parameter name → index in [`KERNEL_PARAMS`].
    index: HashMap<&'static str, usize>,
}

impl Plan {
    /// A printer of jails in the planned format onto `out`; it prints the
    /// header now.
    pub fn printer<'p, W: Write>(&'p self, backend: BackendKind, out: &'p mut W) -> Printer<'p, W> {
        let output = match self.mode {
            Mode::Records => Output::Records(out),
            _ => Output::Document(render::begin(self, out)),
        };
        Printer {
            plan: self,
            backend,
            output,
            text: String::new(),
            line: Vec::new(),
        }
    }

    /// `jail`'s record line: every parameter, or with parameter names just
    /// those (as the kernel reports them).
    fn record<W: Write>(
        &self,
        jail: &Jail,
        backend: BackendKind,
        line: &mut Vec<u8>,
        out: &mut W,
    ) -> std::io::Result<()> {
        let record = if self.columns.is_empty() {
            RecordOf::of(jail, backend)
        } else {
            let values = self.values(jail);
            let params = self
                .columns
                .iter()
                .zip(values)
                .filter(|(c, _)| !RECORD_FIELDS.contains(&c.spec().name))
                .filter_map(|(c, v)| Some((c.name.as_str(), v?)))
                .collect();
            RecordOf::with_params(jail, backend, params)
        };
        line.clear();
        serde_json::to_writer(&mut *line, &record)?;
        line.push(b'\n');
        out.write_all(line)
    }

    /// The value of every column for `jail`, as the kernel reports it: the
    /// jail's own `jid`, `name` and `dying`, a parameter's value, the zero
    /// of its type when a running jail lacks it, and nothing for what a
    /// stopped jail (from `--defined`) does not define.
    fn values<'j>(&self, jail: &'j Jail) -> Vec<Option<Cow<'j, Value>>> {
        let mut by_kidx: Vec<Option<&'j Value>> = vec![None; KERNEL_PARAMS.len()];
        // Backends report parameters in the kernel's order, a few left out
        // here and there: look a few entries past the last match before
        // hashing.
        let mut next = 0;
        for (name, value) in jail.params.iter() {
            let ahead = KERNEL_PARAMS[next..]
                .iter()
                .take(LOOKAHEAD)
                .position(|s| s.name == name)
                .map(|i| next + i);
            if let Some(i) = ahead.or_else(|| self.index.get(name).copied()) {
                by_kidx[i] = Some(value);
                next = i + 1;
            }
        }
        self.columns
            .iter()
            .map(|c| {
                let spec = c.spec();
                let v = match spec.name {
                    "jid" => jail.jid.map(|j| Cow::Owned(Value::Int(j))),
                    "name" => Some(Cow::Owned(Value::Str(jail.name.clone()))),
                    "dying" => Some(Cow::Owned(Value::Bool(jail.state == State::Dying))),
                    _ => match by_kidx[c.kidx] {
                        Some(v) => Some(Cow::Borrowed(v)),
                        None if jail.state == State::Stopped => None,
                        None => Some(Cow::Owned(zero(spec.kind))),
                    },
                };
                match (v, c.negated) {
                    (Some(v), true) => Some(Cow::Owned(Value::Bool(!v.as_bool().unwrap_or(false)))),
                    (v, _) => v,
                }
            })
            .collect()
    }
}

/// Prints jails one at a time in a [`Plan`]'s format: the header when it
/// is made, an entry per [`Printer::jail`], the document's end at
/// [`Printer::finish`]. It holds nothing of a jail once printed.
#[derive(Debug)]
pub struct Printer<'p, W: Write> {
    plan: &'p Plan,
    backend: BackendKind,
    output: Output<'p, W>,
    /// Scratch for the text of a value, reused by every value.
    text: String,
    /// A record line being made, reused by every jail: serde writes many
    /// small pieces, which is cheaper into memory than through `out`.
    line: Vec<u8>,
}

#[derive(Debug)]
enum Output<'p, W: Write> {
    /// A libxo document (text, JSON or XML).
    Document(xo::Xo<'p, W>),
    /// `--json`: jail records, one per line.
    Records(&'p mut W),
}

impl<W: Write> Printer<'_, W> {
    /// Print `jail`.
    pub fn jail(&mut self, jail: &Jail) -> Result<()> {
        let written = match &mut self.output {
            Output::Document(xo) => render::jail(self.plan, xo, jail, &mut self.text),
            Output::Records(out) => self.plan.record(jail, self.backend, &mut self.line, out),
        };
        written.map_err(|e| Error::os("write to stdout", e))
    }

    /// End the document.
    pub fn finish(self) -> Result<()> {
        let written = match self.output {
            Output::Document(xo) => render::end(xo),
            Output::Records(out) => out.flush(),
        };
        written.map_err(|e| Error::os("write to stdout", e))
    }
}

/// How many entries of the table [`Plan::values`] tries past the last
/// match before it hashes a name.
const LOOKAHEAD: usize = 6;

/// Parameters a jail record carries as its own fields, not in `params`.
const RECORD_FIELDS: &[&str] = &[
    "jid",
    "name",
    "path",
    "host.hostname",
    "ip4.addr",
    "ip6.addr",
];

/// What the kernel reports for a parameter it holds no value of.
fn zero(kind: Kind) -> Value {
    match kind {
        Kind::Int => Value::Int(0),
        Kind::Str => Value::Str(String::new()),
        Kind::Bool => Value::Bool(false),
        Kind::Sys => Value::Sys(crate::model::JailSys::Disable),
        Kind::Ip4 => Value::Ip4(Vec::new()),
        Kind::Ip6 => Value::Ip6(Vec::new()),
        Kind::List => Value::List(Vec::new()),
    }
}

/// Hand `each` the jails the options ask for, one at a time: the running
/// ones (ascending jid, dying ones with `-d`), or the `-j` one; with
/// `--defined` then the jails of `defined()` that do not run (state
/// stopped, by name). A missing or dying `-j` jail is jls's exit-1 error.
pub fn fetch(
    opts: &Options,
    backend: &dyn Backend,
    defined: impl FnOnce() -> (Vec<Jail>, Option<Error>),
    each: &mut dyn FnMut(Jail) -> Result<()>,
) -> Result<()> {
    let stopped = |jails: Vec<Jail>| {
        jails.into_iter().map(|j| Jail {
            jid: None,
            state: State::Stopped,
            ..j
        })
    };
    match &opts.jail {
        Some(key) => {
            let jail = match backend.find(key, true)? {
                Some(j) if j.state == State::Dying && !opts.dying => {
                    return Err(compat(format!("jail {key} is dying")));
                }
                Some(j) => j,
                None if opts.defined && matches!(key, JailKey::Name(_)) => {
                    let (jails, broken) = defined();
                    let own = format!("/{key}.conf");
                    match stopped(jails).find(|j| key.matches(j)) {
                        Some(j) => j,
                        // Its own definition may be the broken one.
                        None => {
                            return Err(broken
                                .filter(|e| e.to_string().contains(&own))
                                .unwrap_or_else(|| compat(format!("jail {key} not found"))));
                        }
                    }
                }
                None => return Err(compat(format!("jail {key} not found"))),
            };
            each(jail)
        }
        None if opts.defined => {
            // A broken definition's error comes after the other jails.
            let (jails, broken) = defined();
            let mut extra: Vec<Jail> = stopped(jails).collect();
            extra.sort_by(|a, b| a.name.cmp(&b.name));
            extra.dedup_by(|a, b| a.name == b.name);
            let mut runs = vec![false; extra.len()];
            let visited = backend.visit(opts.dying, &mut |jail| {
                if let Ok(i) = extra.binary_search_by(|d| d.name.cmp(&jail.name)) {
                    runs[i] = true;
                }
                each(jail)
            });
            for (jail, runs) in extra.into_iter().zip(runs) {
                if !runs {
                    each(jail)?;
                }
            }
            visited.and(broken.map_or(Ok(()), Err))
        }
        None => backend.visit(opts.dying, each),
    }
}

/// Run jls: plan, then print the jails as `fetch` hands them over (see
/// [`fetch`]), as FreeBSD's jls orders it (an unknown parameter before any
/// output; a missing `-j` jail after the header). Returns the exit
/// status; `-c` only checks and prints nothing.
pub fn run<W: Write>(
    opts: &Options,
    backend: BackendKind,
    fetch: impl FnOnce(&mut dyn FnMut(Jail) -> Result<()>) -> Result<()>,
    out: &mut W,
) -> Result<u8> {
    let abort = |out: &mut W, e: Error| {
        out.write_all(opts.libxo.abort_output())
            .and_then(|()| out.flush())
            .map_err(|w| Error::os("write to stdout", w))?;
        Err(e)
    };
    if opts.check {
        if opts.jail.is_none() {
            return abort(out, usage());
        }
        return match fetch(&mut |_| Ok(())) {
            Ok(()) => Ok(0),
            Err(Error::Compat { code: 1, .. }) => Ok(1),
            Err(e) => Err(e),
        };
    }
    let plan = match opts.plan() {
        Ok(p) => p,
        Err(e) => return abort(out, e),
    };
    let mut printer = plan.printer(backend, out);
    match fetch(&mut |jail| printer.jail(&jail)) {
        Ok(()) => printer.finish().map(|()| 0),
        Err(e) => {
            printer.finish()?;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests;
