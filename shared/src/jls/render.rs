//! The text, JSON and XML renderings of jls: the calls of FreeBSD's
//! jls.c, in its order, through the libxo emitter.

use std::borrow::Cow;
use std::io::{self, Write};

use super::xo::{Enc, Style, Xo};
use super::{Mode, Plan, XO_VERSION};
use crate::model::param::{Access, addr_part};
use crate::model::{Jail, JailSys, State, Value};

/// Start the document: the header, the container and the list of jails.
pub(super) fn begin<'w, W: Write>(plan: &Plan, out: &'w mut W) -> Xo<'w, W> {
    let mut xo = Xo::new(out, plan.libxo.style, plan.libxo.pretty, XO_VERSION);
    header(plan, &mut xo);
    xo.open_container("jail-information");
    xo.open_list("jail");
    xo
}

/// One instance: `jail`'s row(s). `text` is scratch for values' text.
pub(super) fn jail<W: Write>(
    plan: &Plan,
    xo: &mut Xo<'_, W>,
    jail: &Jail,
    text: &mut String,
) -> io::Result<()> {
    let values = plan.values(jail);
    xo.open_instance("jail");
    match plan.mode {
        Mode::Default { by_name } => default_row(xo, by_name, &values),
        Mode::Verbose => verbose_rows(xo, jail.state, &values),
        Mode::List | Mode::Records => list_row(plan, xo, &values, text),
    }
    xo.close_instance();
    xo.take_error()
}

/// End the document.
pub(super) fn end<W: Write>(mut xo: Xo<'_, W>) -> io::Result<()> {
    xo.close_list();
    xo.close_container();
    xo.finish()
}

fn header<W: Write>(plan: &Plan, xo: &mut Xo<'_, W>) {
    match plan.mode {
        Mode::Verbose => {
            xo.text("   JID  Hostname                      Path\n");
            xo.text("        Name                          State\n");
            xo.text("        CPUSetID\n");
            xo.text("        IP Address(es)\n");
        }
        Mode::Default { by_name: true } => {
            xo.text(" JID             IP Address      Hostname                      Path\n");
        }
        Mode::Default { by_name: false } => {
            xo.text("   JID  IP Address      Hostname                      Path\n");
        }
        Mode::List if plan.header => {
            let names: Vec<&str> = plan.columns[..plan.user]
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            xo.text(&names.join(" "));
            xo.text("\n");
        }
        Mode::List | Mode::Records => {}
    }
}

type Values<'j> = [Option<Cow<'j, Value>>];

/// libjail's export form: decimal, `true`/`false`, jailsys words, bare
/// addresses joined by commas.
fn export(v: Option<&Cow<'_, Value>>) -> String {
    v.map(|v| v.export().join(",")).unwrap_or_default()
}

/// printf's `%-W.Ms` (or `%.Ms` with `width` 0): at most `max` bytes of
/// whole characters, padded with blanks to `width` characters.
fn fit(s: &str, width: usize, max: usize) -> String {
    let mut end = 0;
    for (i, c) in s.char_indices() {
        if i + c.len_utf8() > max {
            break;
        }
        end = i + c.len_utf8();
    }
    let cut = &s[..end];
    let pad = width.saturating_sub(cut.chars().count());
    format!("{cut}{}", " ".repeat(pad))
}

/// `{:jid/%6d}`: right-aligned in text, a number in JSON (`-`/null for a
/// jail that does not run).
fn jid_field<W: Write>(xo: &mut Xo<'_, W>, v: Option<&Cow<'_, Value>>) {
    match v.and_then(|v| v.as_int()) {
        Some(j) => xo.value("jid", &format!("{j:>6}"), Enc::Bare(&j.to_string())),
        None => xo.value("jid", &format!("{:>6}", "-"), Enc::Null),
    }
}

fn default_row<W: Write>(xo: &mut Xo<'_, W>, by_name: bool, v: &Values<'_>) {
    if by_name {
        let name = export(v[0].as_ref());
        xo.text(" ");
        xo.value("name", &fit(&name, 15, usize::MAX), Enc::Str(&name));
        xo.text(" ");
    } else {
        jid_field(xo, v[0].as_ref());
        xo.text("  ");
    }
    let ip = v[1]
        .as_ref()
        .map(|a| a.export())
        .and_then(|a| a.into_iter().next())
        .unwrap_or_default();
    xo.value("ipv4", &fit(&ip, 15, 15), Enc::Str(&ip));
    xo.text(" ");
    let host = export(v[2].as_ref());
    xo.value("hostname", &fit(&host, 29, 29), Enc::Str(&host));
    xo.text(" ");
    let path = export(v[3].as_ref());
    xo.value("path", &fit(&path, 0, 74), Enc::Str(&path));
    xo.text("\n");
}

fn verbose_rows<W: Write>(xo: &mut Xo<'_, W>, state: State, v: &Values<'_>) {
    jid_field(xo, v[0].as_ref());
    xo.text("  ");
    let host = export(v[1].as_ref());
    xo.value("hostname", &fit(&host, 29, 29), Enc::Str(&host));
    xo.text(" ");
    let path = export(v[2].as_ref());
    xo.value("path", &fit(&path, 0, 74), Enc::Str(&path));
    xo.text("\n        ");
    let name = export(v[3].as_ref());
    xo.value("name", &fit(&name, 29, 29), Enc::Str(&name));
    xo.text(" ");
    let state = match state {
        State::Running => "ACTIVE",
        State::Dying => "DYING",
        State::Stopped => "STOPPED",
    };
    xo.value("state", state, Enc::Str(state));
    xo.text("\n        ");
    match v[5].as_ref() {
        Some(id) => {
            let id = export(Some(id));
            xo.value("cpusetid", &id, Enc::Bare(&id));
        }
        None => xo.field("cpusetid", Enc::Null),
    }
    xo.text("\n");
    for (list, value) in [("ipv4_addrs", &v[6]), ("ipv6_addrs", &v[7])] {
        xo.open_list(list);
        for addr in value.as_ref().map(|a| a.export()).unwrap_or_default() {
            xo.text("        ");
            xo.leaf(&addr);
            xo.text("\n");
        }
        xo.close_list();
    }
}

/// Whether `-s` leaves out column `i`: read-only, or its jailsys parent
/// is not `new`.
fn skipped(plan: &Plan, i: usize, v: &Values<'_>) -> bool {
    let col = &plan.columns[i];
    col.spec().access == Access::ReadOnly
        || col
            .parent
            .is_some_and(|p| v[p].as_deref() != Some(&Value::Sys(JailSys::New)))
}

fn list_row<W: Write>(plan: &Plan, xo: &mut Xo<'_, W>, v: &Values<'_>, text: &mut String) {
    let structured = xo.style() != Style::Text;
    let mut first = true;
    for (i, col) in plan.columns[..plan.user].iter().enumerate() {
        if plan.skip && skipped(plan, i, v) {
            continue;
        }
        if !std::mem::replace(&mut first, false) {
            xo.text(" ");
        }
        let value = v[i].as_deref();
        if plan.nameval {
            if let Some(Value::Bool(b)) = value {
                // jls.c encodes a `no`-named boolean as true whatever its value.
                xo.field(
                    &col.name,
                    Enc::Bare(if *b || col.negated { "true" } else { "false" }),
                );
                xo.text(if *b { &col.name } else { &col.off_name });
                continue;
            }
            xo.text(&col.name);
            xo.text("=");
        }
        match value {
            Some(list @ (Value::Ip4(_) | Value::Ip6(_) | Value::List(_))) if structured => {
                xo.open_list(&col.name);
                for item in list.export() {
                    xo.leaf(&item);
                }
                xo.close_list();
            }
            None if structured => xo.field(&col.name, Enc::Null),
            Some(Value::Ip4(items) | Value::Ip6(items) | Value::List(items))
                if items.is_empty() =>
            {
                empty(plan, xo)
            }
            None => empty(plan, xo),
            Some(value) => {
                text.clear();
                export_into(value, text);
                quoted(plan, xo, &col.name, text);
            }
        }
    }
    xo.text("\n");
}

/// [`Value::export`] joined by commas (libjail's text of a value), into
/// `out` without building the list.
fn export_into(value: &Value, out: &mut String) {
    use std::fmt::Write as _;
    let join = |out: &mut String, items: &mut dyn Iterator<Item = &str>| {
        for (i, item) in items.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(item);
        }
    };
    match value {
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Str(s) => out.push_str(s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Sys(s) => out.push_str(s.word()),
        Value::Ip4(items) | Value::Ip6(items) => join(out, &mut items.iter().map(|e| addr_part(e))),
        Value::List(items) => join(out, &mut items.iter().map(String::as_str)),
    }
}

/// An array with no elements in text: `""` with `-q`, `-` without `-n`,
/// else nothing.
fn empty<W: Write>(plan: &Plan, xo: &mut Xo<'_, W>) {
    if plan.quoted {
        xo.text("\"\"");
    } else if !plan.nameval {
        xo.text("-");
    }
}

/// jls's `quoted_print`: `""` for an empty string; with `-q` quotes only
/// when needed (`"` if the value holds `'`, `'` if it holds `"`, `"` if it
/// holds a blank or a tab), and nothing is escaped inside them.
fn quoted<W: Write>(plan: &Plan, xo: &mut Xo<'_, W>, name: &str, text: &str) {
    if text.is_empty() {
        xo.value(name, "\"\"", Enc::Str(""));
        return;
    }
    let qc = if text.contains('\'') {
        Some('"')
    } else if text.contains('"') {
        Some('\'')
    } else if text.contains([' ', '\t']) {
        Some('"')
    } else {
        None
    };
    match qc.filter(|_| plan.quoted) {
        Some(q) => xo.value(name, &format!("{q}{text}{q}"), Enc::Str(text)),
        None => xo.value(name, text, Enc::Str(text)),
    }
}
