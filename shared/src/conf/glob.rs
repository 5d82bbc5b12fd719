//! The part of glob(3) that `.include` needs: `*`, `?` and `[...]` in any
//! path component, `\` to quote, hidden files only matched by an explicit
//! dot, results sorted, no match is no error.

use std::fs;
use std::path::{Path, PathBuf};

/// Whether `pattern` has an unquoted `*`, `?` or `[`.
pub(super) fn has_magic(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// The existing paths that match `pattern`, taken relative to `base` unless
/// it is absolute (`base` itself is literal), sorted.
pub(super) fn expand(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let (mut found, rest) = match pattern.strip_prefix('/') {
        Some(rest) => (vec![PathBuf::from("/")], rest),
        None => (vec![base.to_path_buf()], pattern),
    };
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for dir in &found {
            if has_magic(part) {
                next.extend(matching_entries(dir, part, last));
            } else {
                let path = dir.join(unquote(part));
                let ok = if last {
                    fs::symlink_metadata(&path).is_ok()
                } else {
                    path.is_dir()
                };
                if ok {
                    next.push(path);
                }
            }
        }
        found = next;
    }
    found.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    found
}

fn matching_entries(dir: &Path, part: &str, last: bool) -> Vec<PathBuf> {
    let list = if dir.as_os_str().is_empty() {
        fs::read_dir(".")
    } else {
        fs::read_dir(dir)
    };
    let Ok(list) = list else { return Vec::new() };
    let pat: Vec<char> = part.chars().collect();
    let mut out = Vec::new();
    for entry in list.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') && !part.starts_with('.') {
            continue;
        }
        let text: Vec<char> = name.chars().collect();
        if matches(&pat, &text) {
            let path = dir.join(name);
            if last || path.is_dir() {
                out.push(path);
            }
        }
    }
    out
}

/// A pattern component with its quoting backslashes taken out.
fn unquote(part: &str) -> String {
    let mut out = String::new();
    let mut chars = part.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// One pattern element.
enum Elem<'p> {
    Star,
    Any,
    Class(&'p [char]),
    Lit(char),
}

/// The element at `pat[i..]` and its length.
fn elem(pat: &[char], i: usize) -> (Elem<'_>, usize) {
    match pat[i] {
        '*' => (Elem::Star, 1),
        '?' => (Elem::Any, 1),
        '[' => {
            let mut j = i + 1;
            if matches!(pat.get(j), Some('!' | '^')) {
                j += 1;
            }
            if pat.get(j) == Some(&']') {
                j += 1;
            }
            while j < pat.len() && pat[j] != ']' {
                j += 1;
            }
            if j < pat.len() {
                (Elem::Class(&pat[i + 1..j]), j + 1 - i)
            } else {
                (Elem::Lit('['), 1)
            }
        }
        '\\' if i + 1 < pat.len() => (Elem::Lit(pat[i + 1]), 2),
        c => (Elem::Lit(c), 1),
    }
}

fn class_matches(class: &[char], c: char) -> bool {
    let (negated, class) = match class.first() {
        Some('!' | '^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut hit = false;
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == '-' {
            hit |= class[i] <= c && c <= class[i + 2];
            i += 3;
        } else {
            hit |= class[i] == c;
            i += 1;
        }
    }
    hit != negated
}

/// fnmatch(3) without flags but for the leading-dot rule (done by the
/// caller); linear backtracking on the last `*`.
fn matches(pat: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() {
            let (e, len) = elem(pat, p);
            let ok = match e {
                Elem::Star => {
                    star = Some((p + len, t));
                    p += len;
                    continue;
                }
                Elem::Any => true,
                Elem::Class(class) => class_matches(class, text[t]),
                Elem::Lit(c) => c == text[t],
            };
            if ok {
                p += len;
                t += 1;
                continue;
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while p < pat.len() && matches!(elem(pat, p).0, Elem::Star) {
        p += 1;
    }
    p == pat.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pat: &str, text: &str) -> bool {
        let p: Vec<char> = pat.chars().collect();
        let t: Vec<char> = text.chars().collect();
        matches(&p, &t)
    }

    #[test]
    fn fnmatch_rules() {
        assert!(m("*.conf", "web.conf"));
        assert!(!m("*.conf", "web.conf~"));
        assert!(m("w?b.conf", "web.conf"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("[]]", "]"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("[", "["));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("*", ""));
        assert!(m(&"*a".repeat(20), &"a".repeat(40)));
        assert!(!m(&"*a".repeat(20), &"a".repeat(19)));
    }

    #[test]
    fn magic() {
        assert!(has_magic("/etc/jail.conf.d/*.conf"));
        assert!(has_magic("a[12]"));
        assert!(!has_magic("plain.conf"));
        assert!(!has_magic("a\\*b"));
    }
}
