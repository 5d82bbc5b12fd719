//! Jail rules that persist: `CONF/NAME.rctl` beside the jail's definition
//! `CONF/NAME.conf`, one rule per line in rctl.conf(5) syntax, oldest
//! first. Rules are applied again at every start of the jail, and the file
//! goes when the jail is destroyed. Changes to one jail's rules hold that
//! jail's rctl lock (`RUN/locks/rctl/NAME.lock`), apart from its jail lock
//! so that rules can change while a long `jmk start` runs.

use std::fs;

use super::names::{Action, SubjectType};
use super::rule::Rule;
use crate::error::{Error, Result};
use crate::lock::JailLock;
use crate::paths::Paths;

/// Take the rctl lock of jail `name` (waits for it).
pub fn lock(paths: &Paths, name: &str) -> Result<JailLock> {
    JailLock::acquire_file(&paths.rctl_lock_file(name))
}

/// The rules of jail `name`, oldest first; none when it has no file.
pub fn read(paths: &Paths, name: &str) -> Result<Vec<Rule>> {
    let f = paths.rctl_file(name);
    let text = match fs::read_to_string(&f) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::at("read", &f, e)),
    };
    parse(&text, name).map_err(|(n, why)| Error::BadData(format!("{}:{n}: {why}", f.display())))
}

/// Parse the text of jail `name`'s rules file; errors name the line.
fn parse(text: &str, name: &str) -> std::result::Result<Vec<Rule>, (usize, String)> {
    let mut rules = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let rule = Rule::parse(line).map_err(|e| (i + 1, format!("{line}: {e}")))?;
        if rule.subject != SubjectType::Jail || rule.id != name {
            return Err((i + 1, format!("{line}: not a rule of jail {name}")));
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// Write jail `name`'s rules (atomically); no rules removes the file.
pub fn write(paths: &Paths, name: &str, rules: &[Rule]) -> Result<()> {
    let f = paths.rctl_file(name);
    if rules.is_empty() {
        return match fs::remove_file(&f) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::at("remove", &f, e)),
        };
    }
    let mut text =
        format!("# rctl rules of jail {name} (rctl.conf(5) syntax), applied at every start\n");
    for r in rules {
        text.push_str(&r.to_string());
        text.push('\n');
    }
    crate::fsio::write_durable(&f, text.as_bytes())
}

/// Every jail that has a rules file, by name.
pub fn jails(paths: &Paths) -> Result<Vec<String>> {
    let mut names = Vec::new();
    match fs::read_dir(&paths.conf_dir) {
        Ok(entries) => {
            for e in entries.flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                if let Some(n) = f.strip_suffix(".rctl") {
                    if crate::model::name::validate(n).is_ok() {
                        names.push(n.to_string());
                    }
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::at("read", &paths.conf_dir, e)),
    }
    names.sort();
    Ok(names)
}

/// Add `rule` to `rules` as the kernel does: a `deny` rule first removes
/// the deny rules that differ from it only in amount, any other rule an
/// identical one; the new rule goes last (it is the newest).
pub fn insert(rules: &mut Vec<Rule>, rule: Rule) {
    if rule.action == Action::Deny {
        rules.retain(|r| !r.same_but_amount(&rule));
    } else {
        rules.retain(|r| *r != rule);
    }
    rules.push(rule);
}

/// Remove jail `name`'s rules file (when the jail is destroyed).
pub fn forget(paths: &Paths, name: &str) -> Result<()> {
    let _lock = lock(paths, name)?;
    write(paths, name, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(t: &str) -> Rule {
        Rule::parse(t).unwrap()
    }

    #[test]
    fn adding_twice_keeps_one_and_deny_replaces() {
        let mut rules = Vec::new();
        insert(&mut rules, r("jail:web:maxproc:deny=10"));
        insert(&mut rules, r("jail:web:memoryuse:deny=100"));
        insert(&mut rules, r("jail:web:maxproc:deny=10"));
        assert_eq!(
            rules,
            [
                r("jail:web:memoryuse:deny=100"),
                r("jail:web:maxproc:deny=10")
            ]
        );
        insert(&mut rules, r("jail:web:maxproc:deny=20"));
        assert_eq!(
            rules,
            [
                r("jail:web:memoryuse:deny=100"),
                r("jail:web:maxproc:deny=20")
            ]
        );
        // other actions keep differing amounts
        insert(&mut rules, r("jail:web:cputime:sigxcpu=5/process"));
        insert(&mut rules, r("jail:web:cputime:sigxcpu=6/process"));
        insert(&mut rules, r("jail:web:cputime:sigxcpu=5/process"));
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[3], r("jail:web:cputime:sigxcpu=5/process"));
    }

    #[test]
    fn files_round_trip_and_bad_lines_are_named() {
        let base = std::env::temp_dir().join(format!("jkit-rctl-store-{}", std::process::id()));
        let paths = Paths::under(&base);
        fs::create_dir_all(&paths.conf_dir).unwrap();
        let rules = vec![
            r("jail:web:memoryuse:deny=536870912"),
            r("jail:web:pcpu:deny=25"),
        ];
        write(&paths, "web", &rules).unwrap();
        assert_eq!(read(&paths, "web").unwrap(), rules);
        assert_eq!(jails(&paths).unwrap(), ["web"]);
        fs::write(
            paths.rctl_file("db"),
            "# comment\n\njail:db:maxproc:deny=5 # trailing\njail:web:maxproc:deny=1\n",
        )
        .unwrap();
        let e = read(&paths, "db").unwrap_err().to_string();
        assert!(
            e.ends_with("db.rctl:4: jail:web:maxproc:deny=1: not a rule of jail db"),
            "{e}"
        );
        fs::write(paths.rctl_file("db"), "jail:db:maxproc\n").unwrap();
        assert!(
            read(&paths, "db")
                .unwrap_err()
                .to_string()
                .ends_with("db.rctl:1: jail:db:maxproc: Invalid argument")
        );
        forget(&paths, "web").unwrap();
        assert!(read(&paths, "web").unwrap().is_empty());
        assert!(!paths.rctl_file("web").exists());
        fs::remove_dir_all(base).unwrap();
    }
}
