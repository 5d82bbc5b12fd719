//! Jail names: what a name may be, so it can never escape a directory or be
//! mistaken for a jid.

use crate::error::{Error, Result};

/// The longest name jkit accepts (FreeBSD allows 255 bytes; ours must also
/// fit in a file name with a suffix).
pub const MAX_NAME_LEN: usize = 200;

/// Check that `name` is a name jkit can create: ASCII letters, digits, `_`
/// and `-`, starting with a letter, digit or `_`, not all digits (that would
/// read as a jid), and no dot (dots name child jails in FreeBSD).
pub fn validate(name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::Usage(format!("invalid jail name \"{name}\": {why}")));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("longer than 200 bytes");
    }
    if name.contains("..") {
        return bad("contains \"..\"");
    }
    if name.contains('/') {
        return bad("contains a slash");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        let what = match c {
            '.' => "a dot".to_string(),
            c if c.is_whitespace() => "white space".to_string(),
            c => format!("the character {c:?}"),
        };
        return bad(&format!("contains {what} (letters, digits, _ and - only)"));
    }
    if name.starts_with('-') {
        return bad("starts with -");
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return bad("all digits (reads as a jid)");
    }
    Ok(())
}

/// The jid an anonymous jail's name is: a jail made with no name is named
/// by its jid, as FreeBSD's kernel names it (`5`, never `05` or `0`).
pub fn anonymous_jid(name: &str) -> Option<i64> {
    let jid: i64 = name.parse().ok()?;
    (jid > 0 && jid.to_string() == name).then_some(jid)
}

#[cfg(test)]
mod tests {
    use super::{anonymous_jid, validate};

    #[test]
    fn an_anonymous_jails_name_is_its_jid() {
        assert_eq!(anonymous_jid("5"), Some(5));
        assert_eq!(anonymous_jid("120"), Some(120));
        for n in ["05", "0", "-1", "+5", "5a", "", "web"] {
            assert_eq!(anonymous_jid(n), None, "{n}");
        }
    }

    #[test]
    fn accepts_plain_names() {
        for n in ["web", "web-dev", "db_1", "_x", "a1"] {
            validate(n).unwrap();
        }
    }

    #[test]
    fn rejects_escaping_or_ambiguous_names() {
        for n in [
            "", "../x", "a/b", "a b", "..", ".", "a.b", "-x", "42", "a\nb", "a*",
        ] {
            let e = validate(n).unwrap_err();
            assert_eq!(e.exit_code(), 64, "{n}");
            assert!(e.to_string().starts_with("invalid jail name"), "{e}");
        }
    }
}
