//! Rules and filters: `subject:subject-id:resource:action=amount/per`.
//!
//! Text goes through two steps, as with FreeBSD's rctl(8) and kernel:
//! [`expand`] is what the rctl command does to what the user typed
//! (subject abbreviations, user names to uids, amount units to exact
//! integers); [`Filter::parse`] is what the kernel does with the result.
//! A rule prints back in the kernel's form, which parses to the same rule.

use std::fmt;

use super::RctlError;
use super::amount::expand_number;
use super::names::{Action, Resource, SubjectType};

/// A rule with every field set, as stored and enforced.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Who it applies to.
    pub subject: SubjectType,
    /// The subject's id: a pid, a uid, a login class or a jail name.
    pub id: String,
    /// The resource it limits.
    pub resource: Resource,
    /// What happens beyond the amount.
    pub action: Action,
    /// The limit, in the resource's user unit (seconds, bytes, percent...).
    pub amount: u64,
    /// What the amount is counted by (the subject type when not given).
    pub per: SubjectType,
}

/// A rule with any field left out; a left-out field matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The subject type.
    pub subject: Option<SubjectType>,
    /// The subject's id (needs `subject`).
    pub id: Option<String>,
    /// The resource.
    pub resource: Option<Resource>,
    /// The action.
    pub action: Option<Action>,
    /// The amount, exactly.
    pub amount: Option<u64>,
    /// The `per` subject type.
    pub per: Option<SubjectType>,
}

/// C's `strsep`: the text up to the first of `delims`, and what follows
/// it (`None` when no delimiter was found).
fn strsep<'a>(rest: &mut Option<&'a str>, delims: &[char]) -> Option<&'a str> {
    let s = rest.take()?;
    match s.find(delims) {
        Some(i) => {
            *rest = Some(&s[i + 1..]);
            Some(&s[..i])
        }
        None => Some(s),
    }
}

/// The six raw fields of rule text, split as rctl and the kernel split it.
#[derive(Debug, Clone, Copy)]
struct Fields<'a> {
    subject: Option<&'a str>,
    id: Option<&'a str>,
    resource: Option<&'a str>,
    action: Option<&'a str>,
    amount: Option<&'a str>,
    per: Option<&'a str>,
}

impl<'a> Fields<'a> {
    fn split(text: &'a str) -> Self {
        let mut rest = Some(text);
        let subject = strsep(&mut rest, &[':']);
        let id = strsep(&mut rest, &[':']);
        let resource = strsep(&mut rest, &[':']);
        let action = strsep(&mut rest, &['=', '/']);
        let amount = strsep(&mut rest, &['/']);
        Fields {
            subject,
            id,
            resource,
            action,
            amount,
            per: rest,
        }
    }
}

fn present(field: Option<&str>) -> Option<&str> {
    field.filter(|s| !s.is_empty())
}

impl Filter {
    /// Everything (`::`).
    pub fn all() -> Self {
        Filter::default()
    }

    /// All rules of jail `name`.
    pub fn jail(name: &str) -> Self {
        Filter {
            subject: Some(SubjectType::Jail),
            id: Some(name.to_string()),
            ..Filter::default()
        }
    }

    /// Parse expanded rule text as the kernel does (`rctl_string_to_rule`):
    /// names case-insensitive, amounts as plain decimal. Errors are the
    /// kernel's: EINVAL for what does not parse, ERANGE for amounts too
    /// large to keep.
    pub fn parse(text: &str) -> Result<Self, RctlError> {
        let f = Fields::split(text);
        let mut out = Filter::default();
        if let Some(s) = present(f.subject) {
            out.subject = Some(SubjectType::from_name(s).ok_or(RctlError::Invalid)?);
        }
        if let Some(id) = present(f.id) {
            let Some(subject) = out.subject else {
                return Err(RctlError::Invalid);
            };
            if matches!(subject, SubjectType::Process | SubjectType::User) && !is_decimal_id(id) {
                return Err(RctlError::Invalid);
            }
            out.id = Some(id.to_string());
        }
        if let Some(r) = present(f.resource) {
            out.resource = Some(Resource::from_name(r).ok_or(RctlError::Invalid)?);
        }
        if let Some(a) = present(f.action) {
            out.action = Some(Action::from_name(a).ok_or(RctlError::Invalid)?);
        }
        if let Some(a) = present(f.amount) {
            if !a.bytes().all(|c| c.is_ascii_digit()) {
                return Err(RctlError::Invalid);
            }
            let n: u64 = a.parse().map_err(|_| RctlError::Range)?;
            let limit = match out.resource {
                Some(r) if r.in_millions() => i64::MAX as u64 / 1_000_000,
                _ => i64::MAX as u64,
            };
            if n > limit {
                return Err(RctlError::Range);
            }
            out.amount = Some(n);
        }
        if let Some(p) = present(f.per) {
            out.per = Some(SubjectType::from_name(p).ok_or(RctlError::Invalid)?);
        }
        Ok(out)
    }

    /// Whether `rule` matches: every field present here is equal there.
    pub fn matches(&self, rule: &Rule) -> bool {
        self.subject.is_none_or(|s| s == rule.subject)
            && self.id.as_ref().is_none_or(|i| *i == rule.id)
            && self.resource.is_none_or(|r| r == rule.resource)
            && self.action.is_none_or(|a| a == rule.action)
            && self.amount.is_none_or(|a| a == rule.amount)
            && self.per.is_none_or(|p| p == rule.per)
    }

    /// The rule this filter spells out in full, as `rctl -a` needs it
    /// (`per` defaults to the subject type); EINVAL when a field is missing.
    pub fn to_rule(&self) -> Result<Rule, RctlError> {
        match (
            self.subject,
            &self.id,
            self.resource,
            self.action,
            self.amount,
        ) {
            (Some(subject), Some(id), Some(resource), Some(action), Some(amount)) => Ok(Rule {
                subject,
                id: id.clone(),
                resource,
                action,
                amount,
                per: self.per.unwrap_or(subject),
            }),
            _ => Err(RctlError::Invalid),
        }
    }

    /// The subject's type and id, which `-u` and `-l` need (EINVAL without).
    pub fn subject_id(&self) -> Result<(SubjectType, &str), RctlError> {
        match (self.subject, &self.id) {
            (Some(s), Some(id)) => Ok((s, id)),
            _ => Err(RctlError::Invalid),
        }
    }
}

fn is_decimal_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) && s.parse::<u32>().is_ok()
}

impl Rule {
    /// Parse a complete rule (kernel syntax, as stored in rules files).
    pub fn parse(text: &str) -> Result<Self, RctlError> {
        Filter::parse(text)?.to_rule()
    }

    /// Check the rule as the kernel's `rctl_rule_add` does before taking
    /// it: EOPNOTSUPP for `deny` on a resource that cannot be denied,
    /// `throttle` on anything but the I/O rates, and per-process rules on
    /// sloppy resources.
    pub fn check_kernel(&self) -> Result<(), RctlError> {
        let r = self.resource;
        if self.action == Action::Deny && !r.deniable() {
            return Err(RctlError::NotSupported);
        }
        if self.action == Action::Throttle && (!r.decaying() || r == Resource::Pcpu) {
            return Err(RctlError::NotSupported);
        }
        if self.per == SubjectType::Process && r.sloppy() {
            return Err(RctlError::NotSupported);
        }
        Ok(())
    }

    /// Whether `other` is the same rule but for its amount (what a new
    /// `deny` rule replaces).
    pub fn same_but_amount(&self, other: &Rule) -> bool {
        self.subject == other.subject
            && self.id == other.id
            && self.resource == other.resource
            && self.action == other.action
            && self.per == other.per
    }

    /// The text with the amount humanized (`-h`).
    pub fn humanized(&self) -> String {
        self.with_amount(&super::amount::humanize_number(
            self.amount.min(i64::MAX as u64) as i64,
        ))
    }

    /// The text with the subject id replaced (user names for uids).
    pub fn with_id(&self, id: &str) -> Rule {
        Rule {
            id: id.to_string(),
            ..self.clone()
        }
    }

    fn with_amount(&self, amount: &str) -> String {
        let mut s = format!(
            "{}:{}:{}:{}={amount}",
            self.subject, self.id, self.resource, self.action
        );
        if self.per != self.subject {
            s.push('/');
            s.push_str(self.per.name());
        }
        s
    }
}

impl fmt::Display for Rule {
    /// The kernel's form: `/per` only when it differs from the subject.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_amount(&self.amount.to_string()))
    }
}

/// How rctl resolves user names (`getpwnam`), so tests can stand in.
pub trait Users {
    /// The uid of user `name`.
    fn uid(&self, name: &str) -> Option<u32>;
    /// The name of uid `uid`.
    fn name(&self, uid: u32) -> Option<String>;
    /// The gid of group `name`.
    fn gid(&self, name: &str) -> Option<u32>;
}

/// The system's password database.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemUsers;

impl Users for SystemUsers {
    fn uid(&self, name: &str) -> Option<u32> {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    }

    fn name(&self, uid: u32) -> Option<String> {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name)
    }

    fn gid(&self, name: &str) -> Option<u32> {
        nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    }
}

/// What rctl(8) does to a rule or filter before the kernel sees it
/// (`expand_rule`): expand the subject abbreviation, turn a user or group
/// name into its id (unless `numeric`, as with `-n`), and expand the
/// amount's unit. Errors carry rctl's own messages, which quote the rule
/// as typed.
pub fn expand(text: &str, numeric: bool, users: &dyn Users) -> Result<String, String> {
    let mut rest = Some(text);
    let subject = strsep(&mut rest, &[':']).unwrap_or("");
    let Some(id) = strsep(&mut rest, &[':']) else {
        return Err(format!("malformed rule '{text}': missing subject"));
    };
    let tail = rest.unwrap_or("");
    let subject = SubjectType::expand_abbreviation(subject);
    let resolved = if !numeric && subject.eq_ignore_ascii_case("user") && !id.is_empty() {
        let uid = parse_id(users.uid(id), id, "user", text)?;
        format!("{subject}:{uid}:{tail}")
    } else if !numeric && subject.eq_ignore_ascii_case("group") && !id.is_empty() {
        // Resolved like a user; the kernel then refuses the subject.
        let gid = parse_id(users.gid(id), id, "group", text)?;
        format!("{subject}:{gid}:{tail}")
    } else {
        format!("{subject}:{id}:{tail}")
    };
    expand_amount(&resolved, text)
}

/// rctl's `parse_user` and `parse_group`: the id the database gives the
/// name, else, for a name that starts with a digit, the number `strtod`
/// reads in all of it, as `id_t` (rctl prints it back as an `int`).
fn parse_id(found: Option<u32>, id: &str, what: &str, text: &str) -> Result<i32, String> {
    if let Some(n) = found {
        return Ok(n as i32);
    }
    if !id.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("malformed rule '{text}': unknown {what} '{id}'"));
    }
    match strtod_whole(id) {
        // C converts a double to the unsigned id_t by truncation; out of
        // its range the result is the platform's, here saturation.
        Some(v) => Ok(v as u32 as i32),
        None => Err(format!(
            "malformed rule '{text}': trailing characters after numerical id"
        )),
    }
}

/// `strtod(s, &end)` where `end` must reach the end of `s`, which starts
/// with a digit: a decimal number with an optional fraction and exponent,
/// or a `0x` hexadecimal one (fraction and `p` exponent included).
fn strtod_whole(s: &str) -> Option<f64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if let Some(v) = hex_float(hex) {
            return Some(v);
        }
        // strtod reads "0x" without hex digits as 0 followed by "x...".
        return None;
    }
    let b = s.as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = digits(0);
    if b.get(i) == Some(&b'.') {
        i += 1 + digits(i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        let exp = digits(i + 1 + sign);
        if exp > 0 {
            i += 1 + sign + exp;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse().ok()
}

/// The digits after `0x` of a C hexadecimal floating constant, all of
/// them: `H[.H][p[+-]D]`.
fn hex_float(s: &str) -> Option<f64> {
    let (mantissa, exponent) = match s.find(['p', 'P']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() || !(whole.bytes().chain(frac.bytes())).all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut v = 0f64;
    for c in whole.chars().chain(frac.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    v /= 16f64.powi(i32::try_from(frac.len()).ok()?);
    if let Some(e) = exponent {
        let digits = e.trim_start_matches(['+', '-']);
        if digits.is_empty()
            || e.len() - digits.len() > 1
            || !digits.bytes().all(|c| c.is_ascii_digit())
        {
            return None;
        }
        v *= 2f64.powi(e.parse::<i32>().ok()?);
    }
    Some(v)
}

/// rctl's `expand_amount`: replace the amount by its exact value; errors
/// quote `typed`, the rule as the user gave it.
fn expand_amount(rule: &str, typed: &str) -> Result<String, String> {
    let f = Fields::split(rule);
    let Some(amount) = present(f.amount) else {
        return Ok(rule.to_string());
    };
    let n = expand_number(amount)
        .ok_or_else(|| format!("malformed rule '{typed}': invalid numeric value '{amount}'"))?;
    let head = format!(
        "{}:{}:{}:{}={n}",
        f.subject.unwrap_or(""),
        f.id.unwrap_or(""),
        f.resource.unwrap_or(""),
        f.action.unwrap_or("")
    );
    Ok(match f.per {
        Some(per) => format!("{head}/{per}"),
        None => head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeUsers;
    impl Users for FakeUsers {
        fn uid(&self, name: &str) -> Option<u32> {
            (name == "www").then_some(80)
        }
        fn name(&self, uid: u32) -> Option<String> {
            (uid == 80).then(|| "www".to_string())
        }
        fn gid(&self, name: &str) -> Option<u32> {
            (name == "wheel").then_some(0)
        }
    }

    fn rule(text: &str) -> Rule {
        Rule::parse(&expand(text, false, &FakeUsers).unwrap()).unwrap()
    }

    #[test]
    fn rules_round_trip_in_kernel_form() {
        for text in [
            "jail:web:memoryuse:deny=536870912",
            "user:80:maxproc:deny=100/process",
            "process:1234:cputime:sigkill=10",
            "loginclass:daemon:openfiles:log=1000/process",
            "jail:db:pcpu:deny=25",
            "jail:db:writebps:throttle=1048576",
        ] {
            let r = Rule::parse(text).unwrap();
            assert_eq!(r.to_string(), text);
            assert_eq!(Rule::parse(&r.to_string()).unwrap(), r);
        }
    }

    #[test]
    fn units_become_exact_integers() {
        let r = rule("j:web:memoryuse:deny=512m");
        assert_eq!(r.to_string(), "jail:web:memoryuse:deny=536870912");
        assert_eq!(r.amount, 512 << 20);
        assert_eq!(r.humanized(), "jail:web:memoryuse:deny=512M");
        assert_eq!(
            rule("u:www:maxproc:deny=100/process").to_string(),
            "user:80:maxproc:deny=100/process"
        );
        assert_eq!(
            rule("jail:web:maxproc:deny=1k/jail").to_string(),
            "jail:web:maxproc:deny=1024"
        );
        assert_eq!(
            Rule::parse("JAIL:web:MaxProc:DENY=5").unwrap().to_string(),
            "jail:web:maxproc:deny=5"
        );
    }

    #[test]
    fn userland_errors_are_rctls_and_quote_the_rule_as_typed() {
        let e = |t: &str| expand(t, false, &FakeUsers).unwrap_err();
        assert_eq!(e("jail"), "malformed rule 'jail': missing subject");
        assert_eq!(e("foo"), "malformed rule 'foo': missing subject");
        assert_eq!(e(""), "malformed rule '': missing subject");
        assert_eq!(
            e("user:nobody99:maxproc:deny=1"),
            "malformed rule 'user:nobody99:maxproc:deny=1': unknown user 'nobody99'"
        );
        assert_eq!(
            e("u:www:maxproc:deny=1x"),
            "malformed rule 'u:www:maxproc:deny=1x': invalid numeric value '1x'"
        );
        assert_eq!(
            e("j:web:maxproc:deny/jail"),
            "malformed rule 'j:web:maxproc:deny/jail': invalid numeric value 'jail'"
        );
        // -n: names are not resolved, and the kernel refuses them
        let raw = expand("user:www:maxproc:deny=1", true, &FakeUsers).unwrap();
        assert_eq!(Filter::parse(&raw), Err(RctlError::Invalid));
        assert_eq!(
            expand("g:wheel:maxproc:deny=1", false, &FakeUsers).unwrap(),
            "group:0:maxproc:deny=1"
        );
        assert_eq!(
            e("g:staff:maxproc:deny=1"),
            "malformed rule 'g:staff:maxproc:deny=1': unknown group 'staff'"
        );
    }

    #[test]
    fn numeric_ids_are_read_as_strtod_reads_them() {
        let ok = |t: &str| expand(t, false, &FakeUsers).unwrap();
        assert_eq!(ok("user:123:maxproc:deny=1"), "user:123:maxproc:deny=1");
        assert_eq!(ok("u:1e3:maxproc"), "user:1000:maxproc");
        assert_eq!(ok("u:12.7"), "user:12:");
        assert_eq!(ok("u:0x10:"), "user:16:");
        assert_eq!(ok("g:0x1p4"), "group:16:");
        assert_eq!(ok("u:007"), "user:7:");
        let e = |t: &str| expand(t, false, &FakeUsers).unwrap_err();
        for typed in [
            "u:12abc:maxproc:deny=1",
            "user:1e",
            "group:5.5.5",
            "u:0x",
            "u:1 ",
        ] {
            assert_eq!(
                e(typed),
                format!("malformed rule '{typed}': trailing characters after numerical id"),
                "{typed}"
            );
        }
        // A name that does not start with a digit is a name.
        assert_eq!(e("u:+5"), "malformed rule 'u:+5': unknown user '+5'");
        // -n leaves the id as typed, for the kernel to judge.
        assert_eq!(
            expand("u:12abc:maxproc:deny=1", true, &FakeUsers).unwrap(),
            "user:12abc:maxproc:deny=1"
        );
    }

    #[test]
    fn amounts_are_read_as_expand_number_reads_them() {
        let ok = |t: &str| expand(t, false, &FakeUsers).unwrap();
        assert_eq!(ok("jail:w:maxproc:deny=+5"), "jail:w:maxproc:deny=5");
        assert_eq!(ok("jail:w:maxproc:deny= 5"), "jail:w:maxproc:deny=5");
        assert_eq!(
            ok("jail:w:memoryuse:deny=+1g/jail"),
            "jail:w:memoryuse:deny=1073741824/jail"
        );
        // A negative amount wraps around, and the kernel finds it too large.
        let wrapped = ok("jail:w:maxproc:deny=-5");
        assert_eq!(wrapped, "jail:w:maxproc:deny=18446744073709551611");
        assert_eq!(Filter::parse(&wrapped), Err(RctlError::Range));
    }

    #[test]
    fn kernel_parse_errors() {
        assert_eq!(Filter::parse("bogus:x"), Err(RctlError::Invalid));
        assert_eq!(Filter::parse(":web"), Err(RctlError::Invalid));
        assert_eq!(Filter::parse("jail:web:bogus"), Err(RctlError::Invalid));
        assert_eq!(
            Filter::parse("jail:web:maxproc:kill=1"),
            Err(RctlError::Invalid)
        );
        assert_eq!(
            Filter::parse("jail:web:maxproc:deny=1/everyone"),
            Err(RctlError::Invalid)
        );
        assert_eq!(Filter::parse("process:abc"), Err(RctlError::Invalid));
        assert_eq!(
            Filter::parse("jail:web:maxproc:deny=9223372036854775808"),
            Err(RctlError::Range)
        );
        assert_eq!(
            Filter::parse("jail:web:cputime:sigkill=9223372036855"),
            Err(RctlError::Range)
        );
        assert!(Filter::parse("jail:web:cputime:sigkill=9223372036854").is_ok());
        assert_eq!(
            Filter::parse("jail:web:maxproc").unwrap().to_rule(),
            Err(RctlError::Invalid)
        );
    }

    #[test]
    fn kernel_rule_checks() {
        let check = |t: &str| Rule::parse(t).unwrap().check_kernel();
        assert_eq!(check("jail:w:cputime:deny=1"), Err(RctlError::NotSupported));
        assert_eq!(
            check("jail:w:wallclock:deny=1"),
            Err(RctlError::NotSupported)
        );
        assert_eq!(check("jail:w:readbps:deny=1"), Err(RctlError::NotSupported));
        assert_eq!(
            check("jail:w:pcpu:throttle=1"),
            Err(RctlError::NotSupported)
        );
        assert_eq!(
            check("jail:w:maxproc:throttle=1"),
            Err(RctlError::NotSupported)
        );
        assert_eq!(
            check("jail:w:swapuse:deny=1/process"),
            Err(RctlError::NotSupported)
        );
        assert_eq!(check("jail:w:memoryuse:deny=1"), Ok(()));
        assert_eq!(check("jail:w:pcpu:deny=1"), Ok(()));
        assert_eq!(check("jail:w:writebps:throttle=1"), Ok(()));
        assert_eq!(check("jail:w:cputime:sigxcpu=1/process"), Ok(()));
    }

    #[test]
    fn filters_match_present_fields() {
        let r = Rule::parse("jail:web:memoryuse:deny=536870912").unwrap();
        for (f, m) in [
            ("", true),
            (":", true),
            (":::=/", true),
            ("jail:", true),
            ("jail:web", true),
            ("jail:db", false),
            ("::memoryuse", true),
            ("::maxproc", false),
            ("jail:web:memoryuse:deny", true),
            ("jail:web:memoryuse:log", false),
            ("jail:web:memoryuse:deny=536870912", true),
            ("jail:web:memoryuse:deny=1", false),
            ("jail:web:memoryuse:deny=536870912/jail", true),
            ("jail:web:memoryuse:deny=536870912/process", false),
            ("user:", false),
        ] {
            assert_eq!(Filter::parse(f).unwrap().matches(&r), m, "{f}");
        }
    }
}
