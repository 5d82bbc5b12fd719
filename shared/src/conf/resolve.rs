//! From statements to jails, as FreeBSD's config.c does it: wildcard blocks
//! and the top-level pseudo-jail merged in file order around each jail's own
//! block, then `$variables` expanded per jail, then values typed.

use std::collections::HashMap;

use super::{Assignment, ConfFile, Location, Op, RawJail, RawParam, Statement, Text};
use crate::error::{Error, Result};
use crate::model::param::lookup;
use crate::model::{Jail, JailKey, Params, State, Value};

/// How many bytes variable expansion may produce in one resolve (a guard
/// against definitions that double in size at every level).
const MAX_EXPANSION: usize = 64 << 20;

/// Whether a block name is a wildcard: `*` or a name with a `*` component
/// (`foo.*`, `*.bar`). `a*` is a plain name.
pub fn is_wildcard(name: &str) -> bool {
    name.split('.').any(|c| c == "*")
}

/// Whether wildcard `pattern` applies to jail `jail`: a non-final `*`
/// component matches exactly one name component, a final `*` one or more.
/// A plain pattern matches only itself.
pub fn wildcard_matches(jail: &str, pattern: &str) -> bool {
    let (mut j, mut w) = (jail, pattern);
    while let (Some(jd), Some(wd)) = (j.find('.'), w.find('.')) {
        if j[..=jd] != w[..=wd] && !w.starts_with("*.") {
            return false;
        }
        j = &j[jd + 1..];
        w = &w[wd + 1..];
    }
    j == w || w == "*"
}

/// Every non-wildcard jail of `file` with its parameters merged in jail(8)'s
/// precedence and variables expanded, typed with the parameter table. The
/// `name` parameter comes from the block's name (a positive integer name
/// also gives `jid`); the jail is [`State::Stopped`] with no jid.
///
/// An unknown parameter, a bad value or a failed expansion is an
/// [`Error::Config`](crate::Error::Config) naming the file, line and column
/// of the statement, the jail and the parameter.
pub fn resolve(file: &ConfFile) -> Result<Vec<Jail>> {
    resolve_raw(file)?.into_iter().map(typed).collect()
}

/// Like [`resolve`], but stop before typing: the parameters keep the names
/// they were last spelled with and their text values (what `jail -e`
/// prints). Unknown parameters are not an error here; `$variables` are
/// dropped.
pub fn resolve_raw(file: &ConfFile) -> Result<Vec<RawJail>> {
    resolve_each(file).into_iter().map(|(_, raw)| raw).collect()
}

/// Like [`resolve_raw`], but each jail on its own, in file order: a jail
/// whose expansion fails (a missing variable, a loop) gives its error
/// without taking the others with it, as jail(8) fails only that jail.
pub fn resolve_each(file: &ConfFile) -> Vec<(String, Result<RawJail>)> {
    let mut out = Vec::new();
    for_each_jail(file, &mut |name, raw| {
        out.push((name.to_string(), raw.map_err(Failed::first)));
    });
    out
}

/// A jail whose parameters did not all resolve.
#[derive(Debug)]
pub struct Failed {
    /// The first failure met.
    pub error: Error,
    /// The others, in the order met.
    pub more: Vec<Error>,
    /// What jail(8) still prints of the jail (`-e`): its parameters with
    /// every failed reference expanded to nothing; none when merging its
    /// parameters failed.
    pub partial: Option<RawJail>,
}

impl Failed {
    /// The first failure.
    pub fn first(self) -> Error {
        self.error
    }
}

/// [`resolve_each`] one jail at a time: `each` gets every jail as it is
/// resolved, so a caller that keeps none holds one jail's parameters at
/// most (`jail -e` over many jails and many global parameters).
pub fn for_each_jail(
    file: &ConfFile,
    each: &mut dyn FnMut(&str, std::result::Result<RawJail, Failed>),
) {
    let blocks = blocks(file);
    let wild: Vec<&Block> = blocks
        .iter()
        .filter(|b| is_wildcard(b.name) && !b.assigns.is_empty())
        .collect();
    let mut budget = MAX_EXPANSION;
    for (seq, b) in blocks.iter().enumerate() {
        if is_wildcard(b.name) {
            continue;
        }
        let resolved = match merge(b, seq, &wild).and_then(|m| m.expand(&mut budget)) {
            Ok((raw, errors)) => {
                let mut errors = errors.into_iter();
                match errors.next() {
                    None => Ok(raw),
                    Some(error) => Err(Failed {
                        error,
                        more: errors.collect(),
                        partial: Some(raw),
                    }),
                }
            }
            Err(error) => Err(Failed {
                error,
                more: Vec::new(),
                partial: None,
            }),
        };
        each(b.name, resolved);
    }
}

/// The parameters of jail block `b` (the `seq`th block) merged with the
/// wildcard blocks around it, in file order.
fn merge<'f>(b: &Block<'f>, seq: usize, wild: &[&Block<'f>]) -> Result<Merge<'f>> {
    let mut m = Merge::new(b.name);
    // A block named by a number gives the jid, which stays; config.c
    // implies no `name` there, so one set comes where it is set, and jkit
    // names the jail by the number otherwise.
    let numeric = matches!(JailKey::parse(b.name), JailKey::Jid(_));
    if numeric {
        m.implied("jid", b.name, b.at, true);
    } else {
        m.implied("name", b.name, b.at, true);
    }
    let mut did_self = false;
    for w in wild {
        if w.seq > seq && !did_self {
            m.add_all(&b.assigns)?;
            did_self = true;
        }
        if wildcard_matches(b.name, w.name) {
            m.add_all(&w.assigns)?;
        }
    }
    if !did_self {
        m.add_all(&b.assigns)?;
    }
    if numeric && !m.keys.contains_key("name") {
        m.implied("name", b.name, b.at, false);
        let name = m.items.pop();
        m.items.splice(1..1, name);
        m.reindex();
    }
    match m.clash.take() {
        Some(e) => Err(e),
        None => Ok(m),
    }
}

fn clash_message(jail: &str, var: &str) -> String {
    format!("{jail}: variable \"${var}\" cannot have the same name as a parameter.")
}

/// A block (or the top-level pseudo-jail) with every assignment made in it.
#[derive(Debug)]
struct Block<'f> {
    name: &'f str,
    seq: usize,
    at: &'f Location,
    assigns: Vec<&'f Assignment>,
}

/// The blocks in file order: the global pseudo-jail where its first
/// statement is, and every block where it is written. Two blocks of one
/// name are two jails, as jailparse.y makes a jail of every block (a block
/// nested in another, or an included file's statements, add to the block
/// they are written in).
fn blocks(file: &ConfFile) -> Vec<Block<'_>> {
    let mut list: Vec<Block> = Vec::new();
    let mut jails: HashMap<&str, usize> = HashMap::new();
    let mut by_statement: HashMap<usize, usize> = HashMap::new();
    let mut global = None;
    fn open<'f>(list: &mut Vec<Block<'f>>, name: &'f str, at: &'f Location) -> usize {
        list.push(Block {
            name,
            seq: list.len(),
            at,
            assigns: Vec::new(),
        });
        list.len() - 1
    }
    for (n, s) in file.statements.iter().enumerate() {
        match s {
            Statement::Block { name, at } => {
                let i = open(&mut list, name, at);
                if !is_wildcard(name) {
                    jails.entry(name).or_insert(i);
                }
                by_statement.insert(n, i);
            }
            Statement::Assign(a) => {
                let i = match a.block.and_then(|b| by_statement.get(&b)) {
                    Some(&i) => i,
                    None if a.block.is_none() => {
                        *global.get_or_insert_with(|| open(&mut list, &a.jail, &a.at))
                    }
                    None => match jails.get(&*a.jail) {
                        Some(&i) => i,
                        None => {
                            let i = open(&mut list, &a.jail, &a.at);
                            jails.insert(&a.jail, i);
                            i
                        }
                    },
                };
                list[i].assigns.push(a);
            }
        }
    }
    list
}

/// The parameters of config.c's own table (`intparams`: its pseudo-parameters
/// and the kernel parameters it reads itself). A variable named like one of
/// them (`$interface`, `$path`, `$nopersist`) fails the jail, whether or not
/// the jail sets that parameter.
const JAIL8_TABLE: &[&str] = &[
    "allow.dying",
    "command",
    "depend",
    "exec.clean",
    "exec.consolelog",
    "exec.fib",
    "exec.jail_user",
    "exec.poststart",
    "exec.poststop",
    "exec.prepare",
    "exec.prestart",
    "exec.prestop",
    "exec.release",
    "exec.created",
    "exec.start",
    "exec.stop",
    "exec.system_jail_user",
    "exec.system_user",
    "exec.timeout",
    "interface",
    "ip_hostname",
    "mount",
    "mount.devfs",
    "mount.fdescfs",
    "mount.procfs",
    "mount.fstab",
    "stop.timeout",
    "vnet.interface",
    "allow.chflags",
    "allow.mount",
    "allow.raw_sockets",
    "allow.set_hostname",
    "allow.socket_af",
    "allow.sysvipc",
    "devfs_ruleset",
    "host.hostname",
    "ip4.addr",
    "ip6.addr",
    "jid",
    "name",
    "path",
    "persist",
    "securelevel",
    "vnet",
];

/// jail(8)'s `equalopts`: the same name, or the same but for a `no` at the
/// start of one component in one of them (`persist` / `nopersist`,
/// `allow.mount` / `allow.nomount`).
fn equalopts(a: &str, b: &str) -> bool {
    let no_eq =
        |x: &str, y: &str| x.strip_prefix("no") == Some(y) || y.strip_prefix("no") == Some(x);
    if a == b || no_eq(a, b) {
        return true;
    }
    let (mut a, mut b) = (a, b);
    while let Some(dot) = a.find('.') {
        if !b.starts_with(&a[..=dot]) {
            return false;
        }
        a = &a[dot + 1..];
        b = &b[dot + 1..];
        if no_eq(a, b) {
            return true;
        }
    }
    false
}

/// A key that names that are [`equalopts`] share: every component without
/// its leading `no`s.
fn equal_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for (i, c) in name.split('.').enumerate() {
        if i > 0 {
            key.push('.');
        }
        let mut c = c;
        while let Some(rest) = c.strip_prefix("no") {
            c = rest;
        }
        key.push_str(c);
    }
    key
}

/// One parameter or variable of a jail while merging.
#[derive(Debug)]
struct Item {
    name: String,
    var: bool,
    /// `name` / `jid` implied by the block name.
    fixed: bool,
    values: Vec<Text>,
    at: Location,
}

/// A jail's parameters being merged (config.c's `add_param`).
#[derive(Debug)]
struct Merge<'f> {
    jail: &'f str,
    items: Vec<Item>,
    /// Item indexes by [`equal_key`], ascending.
    keys: HashMap<String, Vec<usize>>,
    /// The first variable named like a parameter of [`JAIL8_TABLE`]: the
    /// jail fails once merged, unless a clash with a parameter it sets
    /// fails it first.
    clash: Option<crate::error::Error>,
}

impl<'f> Merge<'f> {
    fn new(jail: &'f str) -> Self {
        Merge {
            jail,
            items: Vec::new(),
            keys: HashMap::new(),
            clash: None,
        }
    }

    fn push(&mut self, item: Item) {
        self.keys
            .entry(equal_key(&item.name))
            .or_default()
            .push(self.items.len());
        self.items.push(item);
    }

    /// Rebuild [`Self::keys`] after items moved.
    fn reindex(&mut self) {
        self.keys.clear();
        for (i, item) in self.items.iter().enumerate() {
            self.keys.entry(equal_key(&item.name)).or_default().push(i);
        }
    }

    /// A parameter the block's name implies; `fixed` if it cannot be set
    /// again.
    fn implied(&mut self, name: &str, value: &str, at: &Location, fixed: bool) {
        self.push(Item {
            name: name.to_string(),
            var: false,
            fixed,
            values: vec![Text {
                text: value.to_string(),
                vars: Vec::new(),
            }],
            at: at.clone(),
        });
    }

    fn add_all(&mut self, assigns: &[&Assignment]) -> Result<()> {
        assigns.iter().try_for_each(|a| self.add(a))
    }

    fn add(&mut self, a: &Assignment) -> Result<()> {
        let found = self.keys.get(&equal_key(&a.name)).and_then(|list| {
            list.iter()
                .copied()
                .find(|&i| equalopts(&self.items[i].name, &a.name))
        });
        let Some(i) = found else {
            if a.var && self.clash.is_none() && JAIL8_TABLE.iter().any(|p| equalopts(p, &a.name)) {
                self.clash = Some(a.at.error(clash_message(self.jail, &a.name)));
            }
            self.push(Item {
                name: a.name.clone(),
                var: a.var,
                fixed: false,
                values: a.values.clone(),
                at: a.at.clone(),
            });
            return Ok(());
        };
        let item = &mut self.items[i];
        if item.var != a.var {
            let var = if item.var { &item.name } else { &a.name };
            return Err(a.at.error(clash_message(self.jail, var)));
        }
        if item.fixed {
            return Err(a.at.error(format!(
                "{}: cannot redefine parameter \"{}\".",
                self.jail, item.name
            )));
        }
        if item.name != a.name {
            item.name.clone_from(&a.name);
        }
        if a.op != Op::Append || a.values.is_empty() {
            item.values.clear();
        }
        item.values.extend(a.values.iter().cloned());
        item.at = a.at.clone();
        Ok(())
    }

    /// Expand every reference (config.c's loop over `vars`), drop the
    /// variables.
    /// A reference that fails (a variable not found, a loop, an array
    /// inline) fails the jail, as config.c marks it failed, and expands to
    /// nothing: the errors come with what jail(8) still prints of the jail.
    /// Only an expansion too long stops it outright.
    fn expand(self, budget: &mut usize) -> Result<(RawJail, Vec<Error>)> {
        let items = &self.items;
        let mut errors = Vec::new();
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for (i, it) in items.iter().enumerate() {
            by_name.entry(it.name.as_str()).or_insert(i);
        }
        let mut done: Vec<Option<Vec<String>>> = vec![None; items.len()];
        let mut active = vec![false; items.len()];
        // config.c moves a parameter that still holds references in front of
        // the one that refers to it before expanding it: items with
        // references come out in the order their expansion finishes, the
        // others where they are.
        let has_refs = |i: usize| items[i].values.iter().any(|t| !t.vars.is_empty());
        let mut order = Vec::with_capacity(items.len());
        for i in 0..items.len() {
            if !has_refs(i) {
                order.push(i);
            }
            if done[i].is_some() {
                continue;
            }
            // Depth-first over references, with an explicit stack of
            // (item, value index, reference index).
            let mut stack = vec![(i, 0usize, 0usize)];
            active[i] = true;
            while let Some(frame) = stack.last_mut() {
                let (top, ti, vi) = *frame;
                if let Some(text) = items[top].values.get(ti) {
                    let Some(v) = text.vars.get(vi) else {
                        *frame = (top, ti + 1, 0);
                        continue;
                    };
                    frame.2 += 1;
                    let target = by_name
                        .get(v.name.as_str())
                        .copied()
                        .filter(|&j| !items[j].values.is_empty());
                    let Some(j) = target else {
                        errors.push(v.at.error(format!(
                            "{}: {}: variable \"{}\" not found",
                            self.jail, items[top].name, v.name
                        )));
                        continue;
                    };
                    if done[j].is_some() {
                        continue;
                    }
                    if active[j] {
                        errors
                            .push(v.at.error(format!("{}: {}: variable loop", self.jail, v.name)));
                        continue;
                    }
                    active[j] = true;
                    stack.push((j, 0, 0));
                    continue;
                }
                let values = self.substitute(&items[top], &by_name, &done, budget, &mut errors)?;
                done[top] = Some(values);
                if has_refs(top) {
                    order.push(top);
                }
                active[top] = false;
                stack.pop();
            }
        }
        let params = order
            .into_iter()
            .filter(|&i| !items[i].var)
            .map(|i| RawParam {
                name: items[i].name.clone(),
                values: done[i].take().unwrap_or_default(),
                at: items[i].at.clone(),
            })
            .collect();
        let raw = RawJail {
            name: self.jail.to_string(),
            params,
        };
        Ok((raw, errors))
    }

    /// The values of `item` with every reference replaced; all the items it
    /// refers to are done.
    fn substitute(
        &self,
        item: &Item,
        by_name: &HashMap<&str, usize>,
        done: &[Option<Vec<String>>],
        budget: &mut usize,
        errors: &mut Vec<Error>,
    ) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(item.values.len());
        for text in &item.values {
            if text.vars.is_empty() {
                out.push(text.text.clone());
                continue;
            }
            let mut s = String::new();
            let mut last = 0;
            let mut extra: &[String] = &[];
            for (k, v) in text.vars.iter().enumerate() {
                let values = by_name
                    .get(v.name.as_str())
                    .and_then(|&j| done[j].as_deref())
                    .unwrap_or(&[]);
                let mut first = values.first().map(String::as_str).unwrap_or("");
                if values.len() > 1 {
                    let inline = !text.text.is_empty() || !s.is_empty() || k + 1 < text.vars.len();
                    if inline {
                        errors.push(v.at.error(format!(
                            "{}: {}: array cannot be substituted inline",
                            self.jail, item.name
                        )));
                        first = "";
                    } else {
                        extra = &values[1..];
                    }
                }
                // Positions come sorted and on char boundaries from the
                // parser; a hand-built Text may not have them so.
                let Some(literal) = text.text.get(last..v.pos) else {
                    return Err(v.at.error(format!(
                        "{}: {}: bad position of variable \"{}\"",
                        self.jail, item.name, v.name
                    )));
                };
                let grow = literal.len() + first.len();
                if grow > *budget {
                    return Err(v.at.error(format!(
                        "{}: {}: variable expansion too long",
                        self.jail, item.name
                    )));
                }
                *budget -= grow;
                s.push_str(literal);
                s.push_str(first);
                last = v.pos;
            }
            s.push_str(text.text.get(last..).unwrap_or_default());
            out.push(s);
            out.extend(extra.iter().cloned());
        }
        Ok(out)
    }
}

/// Type a jail's raw parameters with the parameter table (what
/// [`resolve`] does to each jail): an unknown parameter or a bad value is
/// an error at the statement that set it.
pub fn typed(raw: RawJail) -> Result<Jail> {
    let mut params = Params::new();
    for p in &raw.params {
        let Some((spec, flag)) = lookup(&p.name) else {
            return Err(p
                .at
                .error(format!("{}: unknown parameter: {}", raw.name, p.name)));
        };
        let value = if p.values.is_empty() {
            Value::import(spec.name, spec.kind, &[], Some(flag.unwrap_or(true)))
        } else {
            Value::import(spec.name, spec.kind, &p.values, None).map(|v| match (flag, v) {
                (Some(false), Value::Bool(b)) => Value::Bool(!b),
                (_, v) => v,
            })
        };
        let value = value.map_err(|e| p.at.error(format!("{}: {e}", raw.name)))?;
        params.set(spec.name, value);
    }
    // A block named by a number may name its jail.
    let name = params.str("name").map_or(raw.name, str::to_string);
    Ok(Jail {
        name,
        jid: None,
        state: State::Stopped,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_names() {
        assert!(is_wildcard("*"));
        assert!(is_wildcard("foo.*"));
        assert!(is_wildcard("*.bar"));
        assert!(!is_wildcard("a*"));
        assert!(!is_wildcard("foo.b*"));
    }

    #[test]
    fn wildcard_matching_follows_jail8() {
        assert!(wildcard_matches("a", "*"));
        assert!(wildcard_matches("a.b.c", "*"));
        assert!(wildcard_matches("foo.bar", "foo.*"));
        assert!(wildcard_matches("foo.bar.baz", "foo.*"));
        assert!(!wildcard_matches("foo", "foo.*"));
        assert!(!wildcard_matches("foobar.x", "foo.*"));
        assert!(wildcard_matches("x.bar", "*.bar"));
        assert!(!wildcard_matches("x.y.bar", "*.bar"));
        assert!(!wildcard_matches("x.baz", "*.bar"));
        assert!(wildcard_matches("web", "web"));
    }

    #[test]
    fn equalopts_like_jail8() {
        assert!(equalopts("persist", "nopersist"));
        assert!(equalopts("nopersist", "persist"));
        assert!(equalopts("allow.mount", "allow.nomount"));
        assert!(equalopts("allow.nomount.devfs", "allow.mount.devfs"));
        assert!(!equalopts("allow.mount", "allow.mount.devfs"));
        assert!(!equalopts("nonopersist", "persist"));
        assert!(!equalopts("x.nop", "y.p"));
        for (a, b) in [("persist", "nopersist"), ("a.nob.c", "a.b.c"), ("no", "")] {
            assert_eq!(equal_key(a), equal_key(b));
        }
    }
}
