//! Writing one jail as a jail.conf block (what jmk keeps in NAME.conf).

use std::fmt::Write as _;

use super::lex::is_atom;
use crate::fsio::raw;
use crate::model::param::negated_name;
use crate::model::{Jail, JailKey, Value};

/// The text of one jail block: `name {` ... `}` with one statement per
/// parameter, in the jail's order. Booleans are `persist;` / `nopersist;`,
/// lists `a = x, "y z";` (an empty list is `a;`), and values are quoted and
/// escaped whenever they need to be, so that reading the text back with
/// [`resolve`](super::resolve) gives the same jail: same parameters, same
/// order, same values.
///
/// The `name` parameter is implied by the block's name and not written; so
/// is `jid` when the jail's name is that number. A jail whose jid comes
/// before its name (from a block named by a number that set the name) is
/// written that way: the block named by the jid, its name set inside.
pub fn write_jail(jail: &Jail) -> String {
    let names: Vec<&str> = jail.params.iter().map(|(n, _)| n).collect();
    let jid_first = jail
        .params
        .get("jid")
        .and_then(Value::as_int)
        .filter(|&j| j > 0)
        .filter(|_| {
            let at = |p: &str| names.iter().position(|n| *n == p);
            matches!((at("jid"), at("name")), (Some(j), Some(n)) if j < n)
        });
    let block = jid_first.map_or_else(|| jail.name.clone(), |j| j.to_string());
    let mut out = format!("{} {{\n", quote(&block));
    let implied_jid = match JailKey::parse(&block) {
        JailKey::Jid(j) => Some(j),
        JailKey::Name(_) => None,
    };
    for (name, value) in jail.params.iter() {
        if (name == "name" && jid_first.is_none())
            || (name == "jid" && value.as_int().is_some() && value.as_int() == implied_jid)
        {
            continue;
        }
        let name_text = quote(name);
        let values: Vec<String> = match value {
            Value::Bool(true) => {
                let _ = writeln!(out, "\t{name_text};");
                continue;
            }
            Value::Bool(false) => {
                let _ = writeln!(out, "\t{};", quote(&negated_name(name)));
                continue;
            }
            Value::Ip4(v) | Value::Ip6(v) | Value::List(v) => v.clone(),
            Value::Int(_) | Value::Str(_) | Value::Sys(_) => value.export(),
        };
        if values.is_empty() {
            let _ = writeln!(out, "\t{name_text};");
        } else {
            let list: Vec<String> = values.iter().map(|v| quote(v)).collect();
            let _ = writeln!(out, "\t{name_text} = {};", list.join(", "));
        }
    }
    out.push_str("}\n");
    out
}

/// A string as one jail.conf string token: bare when that reads back the
/// same, else double-quoted with `\ " $` and control characters escaped.
fn quote(s: &str) -> String {
    let bare = !s.is_empty() && s.bytes().all(|b| is_atom(b) || b == b'/') && !s.contains("//");
    if bare {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' | '"' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\{:03o}", u32::from(c));
            }
            // A byte that is not UTF-8, written as the byte itself reads.
            c => match raw::byte(c) {
                Some(b) => {
                    let _ = write!(out, "\\{b:03o}");
                }
                None => out.push(c),
            },
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("/usr/jails/web"), "/usr/jails/web");
        assert_eq!(quote("10.0.0.1"), "10.0.0.1");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("/a//b"), "\"/a//b\"");
        assert_eq!(quote("/bin/sh /etc/rc"), "\"/bin/sh /etc/rc\"");
        assert_eq!(quote("a$b\"c\\"), "\"a\\$b\\\"c\\\\\"");
        assert_eq!(quote("x\u{1}\n\u{7f}"), "\"x\\001\\n\\177\"");
        assert_eq!(quote("a*b"), "\"a*b\"");
        assert_eq!(quote("café"), "\"café\"");
        assert_eq!(quote("caf\u{10ffe9}"), "\"caf\\351\"");
    }
}
