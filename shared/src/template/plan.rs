//! From a template directory to the list of steps: variables resolved in
//! declaration order, INCLUDEs followed where they appear (each with its own
//! variables), every hook's arguments checked. Nothing touches a jail.

use std::path::{Component, Path, PathBuf};

use super::parse::{self, Statement};
use super::{Hook, Step, Warning, bad};
use crate::error::{Error, Result};
use crate::model::{Params, param};
use crate::rctl::Rule;

/// How deep INCLUDEs may nest.
pub const MAX_DEPTH: usize = 16;

/// What to plan.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The template: a directory, or `project/template` under the
    /// templates dir.
    pub template: String,
    /// `--arg NAME=VALUE`, in command-line order (the first one of a name
    /// wins).
    pub args: Vec<(String, String)>,
    /// `--arg-file FILE`.
    pub arg_file: Option<PathBuf>,
    /// The built-in variables (JAIL_NAME, JAIL_IP, JAIL_IP6) when a jail is
    /// known; without them `${JAIL_NAME}` stays as written.
    pub builtins: Vec<(String, String)>,
    /// Where `project/template` names are looked up.
    pub templates_dir: PathBuf,
}

/// The steps of a template and the warnings met while planning them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The steps, in the order they run.
    pub steps: Vec<Step>,
    /// The warnings.
    pub warnings: Vec<Warning>,
}

/// Parse `NAME=VALUE` as `--arg` takes it.
pub fn parse_arg(text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((n, v)) if !n.is_empty() => Ok((n.to_string(), v.to_string())),
        _ => Err(Error::Usage(format!("--arg {text}: expected NAME=VALUE"))),
    }
}

/// Plan the template of `req`.
pub fn plan(req: &Request) -> Result<Plan> {
    let arg_file = match &req.arg_file {
        Some(f) => Some(std::fs::read_to_string(f).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::NotFound(format!("--arg-file {}: No such file", f.display()))
            }
            _ => Error::at("read", f, e),
        })?),
        None => None,
    };
    let dir = locate(&req.template, None, &req.templates_dir)?;
    let mut out = Plan::default();
    let mut stack = Vec::new();
    let scope = Scope {
        args: &req.args,
        arg_file: arg_file.as_deref(),
        builtins: &req.builtins,
    };
    Planner {
        templates_dir: &req.templates_dir,
        out: &mut out,
        stack: &mut stack,
    }
    .template(&dir, &scope)?;
    Ok(out)
}

/// The directory a template name denotes: a URL Bastille takes
/// (`http?://HOST/OWNER/REPO...`) is `TEMPLATES/OWNER/REPO`, which must be
/// there (jtpl fetches nothing), any other URL is refused; an absolute
/// path is itself; otherwise `TEMPLATES/NAME` when that exists, else the
/// path relative to `base` (the including template's directory, or the
/// current directory at the top).
fn locate(spec: &str, base: Option<&Path>, templates: &Path) -> Result<PathBuf> {
    if let Some(project) = url_project(spec) {
        let dir = templates.join(&project);
        if dir.is_dir() {
            return Ok(dir);
        }
        return Err(Error::Unavailable(format!(
            "{spec}: jtpl does not fetch templates; clone it as {}",
            dir.display()
        )));
    }
    if spec.contains("://") {
        return Err(Error::Unavailable(format!(
            "{spec}: jtpl does not fetch templates; clone it under {} and name it project/template",
            templates.display()
        )));
    }
    if spec.is_empty() {
        return Err(Error::Usage("empty template name".into()));
    }
    let path = Path::new(spec);
    if path.is_absolute() {
        return found(path.to_path_buf(), spec);
    }
    let under = templates.join(path);
    if under.is_dir() {
        return Ok(under);
    }
    let local = base.map_or_else(|| path.to_path_buf(), |b| b.join(path));
    if local.is_dir() {
        return Ok(local);
    }
    Err(Error::NotFound(format!(
        "template {spec} not found (looked in {} and {})",
        under.display(),
        local.display()
    )))
}

/// `OWNER/REPO` of a URL matching Bastille's `http?://*/*/*` (so
/// `https://HOST/OWNER/REPO`, not `http://`): the 4th and 5th fields of
/// the URL split at `/`, as its `awk -F /` takes them.
fn url_project(spec: &str) -> Option<String> {
    let scheme = spec.get(..8)?;
    if !(scheme.starts_with("http") && scheme.ends_with("://")) {
        return None;
    }
    let rest = &spec[8..];
    if rest.matches('/').count() < 2 {
        return None;
    }
    let fields: Vec<&str> = spec.split('/').collect();
    let (owner, repo) = (fields[3], fields[4]);
    // An empty field would make TEMPLATES itself (or its parent) the template.
    if [owner, repo]
        .iter()
        .any(|f| f.is_empty() || *f == "." || *f == "..")
    {
        return None;
    }
    Some(format!("{owner}/{repo}"))
}

fn found(dir: PathBuf, spec: &str) -> Result<PathBuf> {
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(Error::NotFound(format!("template {spec} not found")))
    }
}

/// Where a template's variables come from.
struct Scope<'a> {
    args: &'a [(String, String)],
    arg_file: Option<&'a str>,
    builtins: &'a [(String, String)],
}

impl Scope<'_> {
    /// `--arg`, then the arg file, then the default.
    fn value(&self, name: &str, default: &str) -> String {
        if let Some((_, v)) = self.args.iter().find(|(n, _)| n == name) {
            return v.clone();
        }
        if let Some(text) = self.arg_file {
            let key = format!("{name}=");
            if let Some(l) = text.lines().find(|l| l.starts_with(&key)) {
                return parse::unquote(l[key.len()..].trim_end()).to_string();
            }
        }
        default.to_string()
    }
}

struct Planner<'a> {
    templates_dir: &'a Path,
    out: &'a mut Plan,
    stack: &'a mut Vec<PathBuf>,
}

impl Planner<'_> {
    fn template(&mut self, dir: &Path, scope: &Scope) -> Result<()> {
        let file = dir.join("Bastillefile");
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.warn(&file, 0, "no Bastillefile: nothing to do".into());
                return Ok(());
            }
            Err(e) => return Err(Error::at("read", &file, e)),
        };
        let mut vars: Vec<(String, String)> = scope.builtins.to_vec();
        for st in parse::statements(&text) {
            self.statement(&file, &st, scope, &mut vars)?;
        }
        Ok(())
    }

    fn warn(&mut self, file: &Path, line: u32, message: String) {
        self.out.warnings.push(Warning {
            file: file.to_path_buf(),
            line,
            message,
        });
    }

    fn statement(
        &mut self,
        file: &Path,
        st: &Statement,
        scope: &Scope,
        vars: &mut Vec<(String, String)>,
    ) -> Result<()> {
        let line = st.line;
        let hook = Hook::from_word(&st.word)
            .ok_or_else(|| bad(file, line, format!("unknown hook {}", st.word)))?;
        let mut text = parse::substitute(&st.args, vars);
        // Bastille evaluates most hook lines in the host's shell, which
        // drops a comment; CMD's text goes to the jail's shell (which drops
        // it there), RENDER's path is not evaluated, and TAGS joins its
        // words with commas first, so a `#` there no longer starts a word.
        if !matches!(hook, Hook::Cmd | Hook::Render | Hook::Tags) {
            text.truncate(parse::strip_comment(&text).len());
        }
        let step = |args: Vec<String>| Step {
            hook,
            args,
            file: file.to_path_buf(),
            line,
            vars: Vec::new(),
        };
        let fail = |msg: String| bad(file, line, format!("{hook}: {msg}"));
        match hook {
            Hook::Arg | Hook::ArgRequired => {
                let decl = text.trim_end();
                let (name, default) = decl.split_once('=').unwrap_or((decl, ""));
                let name = name.trim();
                if name.is_empty() || name.contains([' ', '\t']) {
                    return Err(fail(format!("expected NAME[=DEFAULT], got \"{decl}\"")));
                }
                let value = scope.value(name, parse::unquote(default.trim()));
                if value.is_empty() {
                    if hook == Hook::ArgRequired {
                        return Err(Error::Usage(format!(
                            "{}:{line}: No value provided for mandatory arg: {name}",
                            file.display()
                        )));
                    }
                    self.warn(file, line, format!("No value provided for arg: {name}"));
                }
                vars.push((name.to_string(), value.clone()));
                self.out.steps.push(step(vec![name.to_string(), value]));
            }
            Hook::Cmd => {
                if text.trim().is_empty() {
                    return Err(fail("needs a command".into()));
                }
                self.out.steps.push(step(vec![text]));
            }
            Hook::Render => {
                let path = text.trim_end().to_string();
                jail_path(&path).map_err(fail)?;
                let mut s = step(vec![path]);
                s.vars = vars.clone();
                self.out.steps.push(s);
            }
            Hook::Include => {
                let words = parse::words(&text).map_err(fail)?;
                self.include(file, line, &words, scope)?;
            }
            _ => {
                let words = parse::words(&text).map_err(fail)?;
                let mut warnings = Vec::new();
                let args = check(hook, words, &mut warnings).map_err(fail)?;
                for w in warnings {
                    self.warn(file, line, format!("{hook}: {w}"));
                }
                self.out.steps.push(step(args));
            }
        }
        Ok(())
    }

    fn include(&mut self, file: &Path, line: u32, words: &[String], scope: &Scope) -> Result<()> {
        let fail = |msg: String| bad(file, line, format!("INCLUDE: {msg}"));
        let (spec, rest) = words
            .split_first()
            .ok_or_else(|| fail("needs a template".into()))?;
        let mut args = Vec::new();
        let mut it = rest.iter();
        while let Some(w) = it.next() {
            let pair = match w.strip_prefix("--arg=") {
                Some(p) => p,
                None if w == "--arg" => it
                    .next()
                    .ok_or_else(|| fail("--arg needs NAME=VALUE".into()))?,
                None => return Err(fail(format!("unexpected argument {w}"))),
            };
            args.push(parse_arg(pair).map_err(|e| fail(e.to_string()))?);
        }
        let here = file.parent().unwrap_or(Path::new("."));
        let dir = locate(spec, Some(here), self.templates_dir).map_err(|e| {
            let code = e.exit_code();
            let msg = format!("{}:{line}: INCLUDE: {e}", file.display());
            if code == 66 {
                Error::NotFound(msg)
            } else {
                Error::Unavailable(msg)
            }
        })?;
        let key = std::fs::canonicalize(&dir).map_err(|e| Error::at("resolve", &dir, e))?;
        if self.stack.is_empty() {
            let top = std::fs::canonicalize(here).map_err(|e| Error::at("resolve", here, e))?;
            self.stack.push(top);
        }
        if self.stack.contains(&key) {
            let chain: Vec<String> = self
                .stack
                .iter()
                .chain(std::iter::once(&key))
                .map(|p| p.display().to_string())
                .collect();
            return Err(fail(format!("cycle: {}", chain.join(" -> "))));
        }
        if self.stack.len() > MAX_DEPTH {
            return Err(fail(format!("more than {MAX_DEPTH} levels of INCLUDE")));
        }
        self.out.steps.push(Step {
            hook: Hook::Include,
            args: words.to_vec(),
            file: file.to_path_buf(),
            line,
            vars: Vec::new(),
        });
        let inner = Scope {
            args: &args,
            arg_file: None,
            builtins: scope.builtins,
        };
        self.stack.push(key);
        let r = self.template(&dir, &inner);
        self.stack.pop();
        r
    }
}

/// A path inside the jail (or the template dir) given by a template: not
/// empty and without `..`.
pub fn jail_path(p: &str) -> std::result::Result<(), String> {
    if p.is_empty() {
        return Err("needs a path".into());
    }
    if Path::new(p)
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(format!("{p}: a path with .. is refused"));
    }
    Ok(())
}

fn count(words: &[String], min: usize, max: usize, shape: &str) -> std::result::Result<(), String> {
    if words.len() < min || words.len() > max {
        return Err(format!("expected {shape}, got {} arguments", words.len()));
    }
    Ok(())
}

/// Check and normalize the words of every hook but ARG, CMD, RENDER and
/// INCLUDE.
fn check(
    hook: Hook,
    mut w: Vec<String>,
    warnings: &mut Vec<String>,
) -> std::result::Result<Vec<String>, String> {
    match hook {
        Hook::Config => return config(w, warnings),
        Hook::Cp => {
            count(&w, 2, 2, "SRC DST")?;
            jail_path(&w[0])?;
            jail_path(&w[1])?;
        }
        Hook::Overlay => {
            count(&w, 1, 1, "DIR")?;
            jail_path(&w[0])?;
        }
        Hook::Limits => return limits(w, warnings),
        Hook::LineInFile => {
            count(&w, 2, 2, "LINE PATH")?;
            jail_path(&w[1])?;
        }
        Hook::Mount => {
            if w.len() == 2 {
                w.extend(["nullfs", "ro", "0", "0"].map(String::from));
            }
            count(&w, 6, 6, "HOST JAIL [TYPE OPTIONS DUMP PASS]")?;
            jail_path(&w[1])?;
            if !w[3]
                .split(',')
                .any(|o| ["ro", "rw", "rq", "sw", "xx"].contains(&o))
            {
                return Err(format!("options {}: need one of ro rw rq sw xx", w[3]));
            }
            for n in &w[4..] {
                if n != "0" && n != "1" {
                    return Err(format!("dump and pass must be 0 or 1, got {n}"));
                }
            }
        }
        Hook::Pkg | Hook::Hpkg => count(&w, 1, usize::MAX, "PACKAGE...")?,
        Hook::Rdr => {
            count(&w, 1, usize::MAX, "[OPTIONS] PROTO HOSTPORT JAILPORT")?;
            crate::model::rdr::Action::parse_words(&w).map_err(|e| {
                let msg = e.to_string();
                msg.strip_prefix("rdr: ").unwrap_or(&msg).to_string()
            })?;
        }
        Hook::Restart => count(&w, 0, 0, "no arguments")?,
        Hook::Service => count(&w, 2, usize::MAX, "NAME VERB [ARGS]")?,
        Hook::Sysrc => {
            super::sysrc::sysrc_ops(&w)?;
        }
        Hook::Tags => {
            // `bastille tags JAIL add a,b`: words and commas both separate.
            w = w
                .iter()
                .flat_map(|t| t.split(','))
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect();
            count(&w, 1, usize::MAX, "TAG...")?;
            if let Some(t) = w.iter().find(|t| t.contains('/')) {
                return Err(format!("{t}: a tag has no /"));
            }
        }
        Hook::Arg | Hook::ArgRequired | Hook::Cmd | Hook::Render | Hook::Include => {}
    }
    Ok(w)
}

/// CONFIG: `set|add PARAM [VALUE]`, `set PARAM=VALUE`, `remove PARAM`,
/// normalized to `set PARAM [VALUE]` / `remove PARAM`.
fn config(w: Vec<String>, warnings: &mut Vec<String>) -> std::result::Result<Vec<String>, String> {
    let (action, rest) = w
        .split_first()
        .ok_or("expected set|add|remove PARAM [VALUE]")?;
    let mut rest = rest.to_vec();
    if let Some(last) = rest.last_mut() {
        if let Some(s) = last.strip_suffix(';') {
            warnings.push(format!(
                "trailing ';' removed from \"{last}\" (Bastille 1.4 rejects it)"
            ));
            *last = s.to_string();
        }
    }
    if rest.len() == 1 {
        if let Some((p, v)) = rest[0].clone().split_once('=') {
            rest = vec![p.to_string(), v.to_string()];
        }
    }
    let Some(prop) = rest.first().cloned() else {
        return Err(format!("{action} needs a parameter"));
    };
    if ["boot", "priority", "prio", "depend", "depends"].contains(&prop.as_str()) {
        return Err(format!(
            "{prop} is a Bastille setting, not a jail parameter"
        ));
    }
    let Some((spec, _)) = param::lookup(&prop) else {
        return Err(format!("unknown jail parameter {prop}"));
    };
    if ["name", "jid", "path"].contains(&spec.name) {
        return Err(format!("{prop} cannot be changed by a template"));
    }
    match action.to_ascii_lowercase().as_str() {
        "set" | "add" => {
            let mut out = vec!["set".to_string(), prop.clone()];
            if rest.len() > 1 {
                out.push(rest[1..].join(" "));
            }
            let assignment = match out.get(2) {
                Some(v) => format!("{prop}={v}"),
                None => prop,
            };
            Params::new()
                .assign(&assignment)
                .map_err(|e| e.to_string())?;
            Ok(out)
        }
        "remove" => {
            if rest.len() != 1 {
                return Err("remove takes one parameter".into());
            }
            Ok(vec!["remove".into(), prop])
        }
        "get" => Err("get only reads; a template may set or remove".into()),
        other => Err(format!("unknown action {other} (set, add or remove)")),
    }
}

/// LIMITS, as `bastille limits JAIL ARGS` reads up to three words: an
/// action word (`add`, `remove`, `clear`, `reset`, `list`, `show`,
/// `stats`) or, without one, `add`; then `RESOURCE VALUE` for add
/// (`cpu LIST` too), `RESOURCE` for remove. Words past those are ignored,
/// as Bastille ignores them (with a warning). Normalized to `RESOURCE
/// VALUE`, `remove RESOURCE`, `clear` or `reset`.
fn limits(w: Vec<String>, warnings: &mut Vec<String>) -> std::result::Result<Vec<String>, String> {
    if w.len() > 3 {
        return Err(format!(
            "expected [add] RESOURCE VALUE, remove RESOURCE, clear or reset, got {} arguments",
            w.len()
        ));
    }
    let first = w.first().map(String::as_str).unwrap_or("");
    let (action, rest) = match first {
        "add" | "remove" | "clear" | "reset" | "list" | "show" | "stats" => (first, &w[1..]),
        "" => return Err("expected RESOURCE VALUE".into()),
        _ => ("add", &w[..]),
    };
    let used = match action {
        "add" => 2,
        "remove" => 1,
        _ => 0,
    };
    if rest.len() < used {
        return Err(match action {
            "add" => "expected [add] RESOURCE VALUE".into(),
            _ => "expected remove RESOURCE".into(),
        });
    }
    if rest.len() > used {
        warnings.push(format!(
            "ignored: {} (as Bastille ignores it)",
            rest[used..].join(" ")
        ));
    }
    match action {
        "list" | "show" | "stats" => Err(format!("{action} only prints rules: use jrctl")),
        "clear" | "reset" => Ok(vec![action.to_string()]),
        "remove" => {
            if !is_cpuset(&rest[0]) {
                rule(&rest[0], "0")?;
            }
            Ok(vec!["remove".into(), rest[0].clone()])
        }
        _ => {
            if !is_cpuset(&rest[0]) {
                rule(&rest[0], &rest[1])?;
            }
            Ok(rest[..2].to_vec())
        }
    }
}

/// Whether a LIMITS resource word names the jail's CPU set.
pub fn is_cpuset(resource: &str) -> bool {
    matches!(resource, "cpu" | "cpus" | "cpuset")
}

/// The deny rule a LIMITS line stands for, for a jail named `jail`.
pub fn limit_rule(jail: &str, resource: &str, value: &str) -> String {
    format!("jail:{jail}:{resource}:deny={value}")
}

/// The rule a LIMITS line adds, read as `rctl -a` reads it (units such
/// as `512M` expanded).
fn rule(resource: &str, value: &str) -> std::result::Result<Rule, String> {
    let text = limit_rule("j", resource, value);
    let expanded = crate::rctl::rule::expand(&text, true, &crate::rctl::rule::SystemUsers)
        .map_err(|e| {
            // rctl's message quotes the whole rule; the step names its words.
            let why = e.split_once("': ").map_or(e.as_str(), |(_, why)| why);
            format!("{resource} {value}: {why}")
        })?;
    Rule::parse(&expanded).map_err(|e| format!("{resource} {value}: {e}"))
}
