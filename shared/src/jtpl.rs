//! jtpl's front (`bastille template`): a template's steps run against one
//! running jail, in order, stopping
//! at the first step that fails. Commands run through the backend's exec
//! (as `jexec -l -U root JAIL /bin/sh -c TEXT`); files in the jail are
//! reached through [`Root`], never through a path the host resolves; the
//! jail's definition is rewritten atomically under the jail's lock.

use std::path::{Path, PathBuf};

use crate::backend::{self, mounts::MountEntry};
use crate::error::{Error, Result};
use crate::exec::{Credentials, ExecSpec, Exit};
use crate::fsio::beneath::{Kind, Root};
use crate::lock::JailLock;
use crate::model::{Jail, JailKey, Value, param};
use crate::ops::Jkit;
use crate::rctl::{self, RctlError};
use crate::template::plan::{self, Request, limit_rule};
use crate::template::sysrc::{sysrc_edit, sysrc_ops};
use crate::template::{Hook, Step, Warning, parse};
use crate::wire::BackendKind;

/// Apply the template of `req` to the running jail `name`. Warnings (the
/// planner's and the steps') go to `warn` as they happen. Returns the
/// number of steps run.
pub fn apply(
    jkit: &Jkit,
    name: &str,
    req: &Request,
    warn: &mut dyn FnMut(&Warning),
) -> Result<usize> {
    let def = jkit.definition(name)?;
    let running = jkit
        .backend()
        .find(&JailKey::Name(name.to_string()), false)?
        .ok_or_else(|| {
            Error::Unavailable(format!(
                "jail \"{name}\" is not running (templates apply to running jails: jmk start {name})"
            ))
        })?;
    let mut req = req.clone();
    req.builtins = builtins(&def);
    let planned = plan::plan(&req)?;
    for w in &planned.warnings {
        warn(w);
    }
    let root_path = backend::root_of(&def)?;
    // A layered root's files are in the layers mounted over its path in
    // the jail's namespaces only: reached through the host's mounts for
    // the running jail.
    let layered =
        backend::mounts::root_layer(&backend::mounts::planned(&def, &root_path)?, &root_path)
            .is_some();
    let shown = match layered {
        true => jkit.backend().running_root(name)?,
        false => None,
    };
    let through_layers = shown.is_some();
    let mut root = match shown {
        Some(dir) => Root::at(dir, &root_path),
        None => Root::open(&root_path)?,
    };
    root.keep_file_caps(jkit.backend().file_caps());
    // A Linux jail with its own user namespace owns what is copied in: the
    // range it runs in (a definition written by hand gets one at start).
    let userns = def.params.get("jkit.userns").and_then(Value::as_bool) != Some(false);
    if let (BackendKind::Linux, true, Some(base)) = (
        jkit.backend().kind(),
        userns,
        running
            .params
            .int("jkit.idbase")
            .and_then(|b| u32::try_from(b).ok()),
    ) {
        root.own_by_range(base);
    }
    for (rel, source) in jail_mounts(&def, &root_path)? {
        // The layers over the root itself are what `root` shows.
        if !(through_layers && rel.as_os_str().is_empty()) {
            root.fence(rel, source);
        }
    }
    let mut run = Run {
        jkit,
        name: name.to_string(),
        root,
        root_path,
        running: Some(running),
    };
    for step in &planned.steps {
        let mut step_warn = |message: String| {
            warn(&Warning {
                file: step.file.clone(),
                line: step.line,
                message: format!("{}: {message}", step.hook),
            })
        };
        run.step(step, &mut step_warn)
            .map_err(|e| e.context(&format!("{}: {}", step.at(), step.hook)))?;
    }
    Ok(planned.steps.len())
}

/// What the jail mounts over its own directories (relative to its `/`,
/// with the source): its `mount` entries and `mount.fstab` lines, and
/// `/dev` and `/proc` when it mounts devfs and procfs.
fn jail_mounts(def: &Jail, root: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut out: Vec<(PathBuf, String)> = backend::mounts::planned(def, root)?
        .into_iter()
        .filter_map(|e| {
            let rel = e.target.strip_prefix(root).ok()?.to_path_buf();
            Some((rel, e.source))
        })
        .collect();
    for (flag, dir, fs) in [
        ("mount.devfs", "dev", "devfs"),
        ("mount.procfs", "proc", "procfs"),
    ] {
        if def.params.flag(flag) {
            out.push((PathBuf::from(dir), fs.to_string()));
        }
    }
    Ok(out)
}

/// JAIL_NAME, JAIL_IP and JAIL_IP6 of a jail's definition (the first
/// address of each family, interface and mask removed).
pub fn builtins(def: &Jail) -> Vec<(String, String)> {
    let first = |list: Vec<String>| {
        list.first()
            .map(|a| param::addr_part(a).to_string())
            .unwrap_or_default()
    };
    vec![
        ("JAIL_NAME".into(), def.name.clone()),
        ("JAIL_IP".into(), first(def.ip4())),
        ("JAIL_IP6".into(), first(def.ip6())),
    ]
}

struct Run<'a> {
    jkit: &'a Jkit,
    name: String,
    root: Root,
    root_path: PathBuf,
    running: Option<Jail>,
}

/// A step whose command ran and failed: status 1, as `bastille template`.
fn step_failed(msg: String) -> Error {
    Error::Compat { msg, code: 1 }
}

impl Run<'_> {
    fn step(&mut self, step: &Step, warn: &mut dyn FnMut(String)) -> Result<()> {
        let a = &step.args;
        match step.hook {
            Hook::Arg | Hook::ArgRequired | Hook::Include => Ok(()),
            Hook::Cmd => self.command(vec!["/bin/sh".into(), "-c".into(), a[0].clone()]),
            Hook::Config => self.config(a),
            Hook::Cp => self.copy(step, &a[0], &a[1]),
            Hook::Overlay => self.copy(step, &a[0], "/"),
            Hook::Limits => self.limits(a),
            Hook::LineInFile => self.line_in_file(&a[0], &a[1]),
            Hook::Mount => self.mount(a, warn),
            Hook::Pkg => self.pkg(a),
            Hook::Hpkg => self.jkit.backend().install_host_packages(&self.name, a),
            Hook::Rdr => {
                let action = crate::model::rdr::Action::parse_words(a)?;
                self.jkit.rdr(&self.name, &action).map(drop)
            }
            Hook::Render => self.render(&a[0], &step.vars, warn),
            Hook::Restart => {
                self.running = None;
                let started = self.jkit.restart(&self.name)?;
                self.running = Some(started.jail);
                Ok(())
            }
            Hook::Service => self.service(a),
            Hook::Sysrc => self.sysrc(a),
            Hook::Tags => self.tags(a),
        }
    }

    /// Run `argv` in the jail as `jexec -l -U root` does; how it ended.
    fn exec(&mut self, argv: Vec<String>) -> Result<Exit> {
        let jail = match self.running.take() {
            Some(j) => j,
            None => self
                .jkit
                .backend()
                .find(&JailKey::Name(self.name.clone()), false)?
                .ok_or_else(|| {
                    Error::Unavailable(format!("jail \"{}\" is not running", self.name))
                })?,
        };
        let spec = ExecSpec {
            credentials: Credentials::Jail("root".into()),
            login: true,
            dir: None,
            command: argv.into_iter().map(Into::into).collect(),
            relay_terminal: false,
            fib: None,
        };
        let exit = self.jkit.backend().exec(&jail, &spec);
        self.running = Some(jail);
        exit
    }

    /// Run `argv` in the jail; a non-zero status fails the step.
    fn command(&mut self, argv: Vec<String>) -> Result<()> {
        match self.exec(argv)? {
            Exit::Code(0) => Ok(()),
            Exit::Code(c) => Err(step_failed(format!("exited with status {c}"))),
            Exit::Signal(s) => Err(step_failed(format!("killed by signal {s}"))),
        }
    }

    fn config(&self, a: &[String]) -> Result<()> {
        let paths = &self.jkit.paths;
        let _lock = JailLock::acquire(paths, &self.name)?;
        let mut def = self.jkit.definition(&self.name)?;
        let (spec, _) = param::lookup(&a[1])
            .ok_or_else(|| Error::BadData(format!("unknown jail parameter {}", a[1])))?;
        if a[0] == "set" {
            let assignment = match a.get(2) {
                Some(v) => format!("{}={v}", a[1]),
                None => a[1].clone(),
            };
            // A fresh value (a list is replaced, not appended to), set in
            // place so that setting it again changes nothing.
            let mut fresh = crate::model::Params::new();
            fresh.assign(&assignment)?;
            for (n, v) in fresh.iter() {
                def.params.set(n, v.clone());
            }
        } else {
            def.params.remove(spec.name);
        }
        // A definition the jail could not start with (its next RESTART,
        // or any start) is refused before it is written.
        crate::ops::check::definition(self.jkit.backend(), &def)?;
        write_definition(paths.jail_conf(&self.name).as_path(), &def)
    }

    fn copy(&self, step: &Step, src: &str, dst: &str) -> Result<()> {
        let path = copy_source(step.dir(), src)?;
        self.root.copy_in(&path, src.ends_with('/'), dst)
    }

    fn limits(&self, a: &[String]) -> Result<()> {
        let racct = self.jkit.backend().racct();
        let users = rctl::rule::SystemUsers;
        let fail = |e: RctlError| limits_refused(a, e);
        match a[0].as_str() {
            res if plan::is_cpuset(res) => Err(no_cpusets()),
            "remove" if plan::is_cpuset(&a[1]) => Err(no_cpusets()),
            "remove" | "clear" | "reset" => {
                let filter = match a.get(1) {
                    Some(res) => format!("jail:{}:{res}", self.name),
                    None => format!("jail:{}:", self.name),
                };
                match racct.remove_rule(&filter) {
                    Ok(()) | Err(RctlError::NoSuch) => Ok(()),
                    Err(e) => Err(fail(e)),
                }
            }
            res => {
                let text = rctl::rule::expand(&limit_rule(&self.name, res, &a[1]), false, &users)
                    .map_err(Error::BadData)?;
                racct.add_rule(&text).map_err(fail)
            }
        }
    }

    fn line_in_file(&self, line: &str, path: &str) -> Result<()> {
        let rel = Path::new(path);
        let old = self.root.read(rel)?.unwrap_or_default();
        let text = String::from_utf8_lossy(&old);
        if text.lines().any(|l| l == line) {
            return Ok(());
        }
        let mut new = old.clone();
        if !new.is_empty() && !new.ends_with(b"\n") {
            new.push(b'\n');
        }
        new.extend_from_slice(line.as_bytes());
        new.push(b'\n');
        self.root.write(rel, &new)
    }

    fn mount(&mut self, a: &[String], warn: &mut dyn FnMut(String)) -> Result<()> {
        let (source, rel, fstype) = (&a[0], Path::new(&a[1]), &a[2]);
        let host = Path::new(source);
        let pseudo = !host.is_absolute();
        if fstype == "nullfs" && host.is_absolute() && !host.exists() {
            std::fs::create_dir_all(host).map_err(|e| Error::at("mkdir", host, e))?;
        }
        if !pseudo {
            if host.is_dir() {
                self.root.mkdir_p(rel)?;
            } else if self.root.kind(rel)?.is_none() {
                self.root.write(rel, b"")?;
            }
        }
        let target = self.root_path.join(rel.strip_prefix("/").unwrap_or(rel));
        let entry = MountEntry {
            source: source.clone(),
            target: target.clone(),
            fstype: fstype.clone(),
            options: a[3].split(',').map(str::to_string).collect(),
        };
        let paths = &self.jkit.paths;
        {
            let _lock = JailLock::acquire(paths, &self.name)?;
            let mut def = self.jkit.definition(&self.name)?;
            let mut mounts = def.params.list("mount").to_vec();
            for line in &mounts {
                if let Ok(Some(e)) = MountEntry::parse(line) {
                    if e.target == target {
                        warn(format!(
                            "{} is already mounted by the definition: skipped",
                            target.display()
                        ));
                        return Ok(());
                    }
                }
            }
            // Mounted first, recorded once mounted: a mount that fails is
            // not in the definition for the next start to fail on.
            self.jkit
                .backend()
                .mount_running(&self.name, &entry)
                .map_err(|e| step_failed(e.to_string()))?;
            mounts.push(entry.to_line());
            self.root.fence(
                rel.strip_prefix("/").unwrap_or(rel).to_path_buf(),
                source.clone(),
            );
            def.params.set("mount", crate::model::Value::List(mounts));
            write_definition(paths.jail_conf(&self.name).as_path(), &def)
        }
    }

    fn pkg(&mut self, pkgs: &[String]) -> Result<()> {
        let mut argv: Vec<String> = if self.jkit.backend().kind() == BackendKind::Freebsd {
            [
                "/usr/bin/env",
                "ASSUME_ALWAYS_YES=yes",
                "pkg",
                "install",
                "-y",
            ]
            .map(String::from)
            .to_vec()
        } else {
            // Probed inside the jail: a thin jail's /usr is a mount in the
            // jail's own namespace, not visible under its root on the host.
            let probe = "if [ -x /usr/bin/apt-get ]; then m=10; elif [ -x /sbin/apk ]; then m=11; \
                 elif [ -x /usr/bin/dnf ]; then m=12; else exit 3; fi; [ -w /usr ] || exit 4; exit $m";
            let argv: &[&str] = match self.exec(vec![
                "/bin/sh".into(),
                "-c".into(),
                probe.into(),
            ])? {
                Exit::Code(10) => &[
                    "/usr/bin/env",
                    "DEBIAN_FRONTEND=noninteractive",
                    "apt-get",
                    "install",
                    "-y",
                    "--no-install-recommends",
                ],
                Exit::Code(11) => &["/sbin/apk", "add", "--no-interactive"],
                Exit::Code(12) => &["/usr/bin/dnf", "install", "-y"],
                Exit::Code(4) => {
                    return Err(Error::Unavailable(format!(
                        "the jail's /usr is read-only (a thin jail shares it with its release): cannot install {}; use a thick jail",
                        pkgs.join(" ")
                    )));
                }
                _ => {
                    return Err(Error::Unavailable(
                        "the jail has no package manager (looked for apt-get, apk and dnf)".into(),
                    ));
                }
            };
            argv.iter().map(|s| s.to_string()).collect()
        };
        argv.extend(pkgs.iter().cloned());
        self.command(argv)
    }

    fn render(
        &self,
        path: &str,
        vars: &[(String, String)],
        warn: &mut dyn FnMut(String),
    ) -> Result<()> {
        let rel = Path::new(path);
        if self.root.kind(rel)?.is_none() {
            warn(format!("{path}: no such file or directory in the jail"));
            return Ok(());
        }
        for file in self.root.files_under(rel)? {
            let Some(old) = self.root.read(&file)? else {
                continue;
            };
            let Ok(text) = String::from_utf8(old) else {
                continue;
            };
            let new = parse::substitute(&text, vars);
            if new != text {
                self.root.write(&file, new.as_bytes())?;
            }
        }
        Ok(())
    }

    fn service(&mut self, a: &[String]) -> Result<()> {
        if self.jkit.backend().kind() == BackendKind::Freebsd {
            let mut argv = vec!["/usr/sbin/service".to_string()];
            argv.extend(a.iter().cloned());
            return self.command(argv);
        }
        let script = format!("etc/init.d/{}", a[0]);
        if a[0].contains('/') || self.root.kind(Path::new(&script))? != Some(Kind::File) {
            return Err(Error::Unavailable(format!(
                "{}: the jail has no /{script} (service(8) exists only in FreeBSD jails; a Linux jail needs an init.d script)",
                a[0]
            )));
        }
        let mut argv = vec![format!("/{script}")];
        argv.extend(a[1..].iter().cloned());
        self.command(argv)
    }

    fn sysrc(&self, a: &[String]) -> Result<()> {
        let ops = sysrc_ops(a).map_err(Error::BadData)?;
        let rel = Path::new(&ops.file);
        let old = self.root.read(rel)?.unwrap_or_default();
        let mut text = String::from_utf8_lossy(&old).into_owned();
        for op in &ops.ops {
            text = sysrc_edit(&text, op);
        }
        if text.as_bytes() != old {
            self.root.write(rel, text.as_bytes())?;
        }
        Ok(())
    }

    fn tags(&self, a: &[String]) -> Result<()> {
        let paths = &self.jkit.paths;
        let _lock = JailLock::acquire(paths, &self.name)?;
        let file = paths.tags_file(&self.name);
        let mut tags = read_tags(&file)?;
        let before = tags.len();
        for t in a {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        if tags.len() == before {
            return Ok(());
        }
        let text: String = tags.iter().map(|t| format!("{t}\n")).collect();
        crate::fsio::write_durable(&file, text.as_bytes())
    }
}

/// The error of `LIMITS cpu`: jkit has no CPU sets.
fn no_cpusets() -> Error {
    Error::Unavailable("CPU sets are not supported by jkit (use an rctl resource)".into())
}

/// The host file CP or OVERLAY copies for `src`: an absolute host path as
/// it is, a relative one in the template directory `dir`, which it must
/// not leave through a symlink; NotFound when there is nothing there.
fn copy_source(dir: &Path, src: &str) -> Result<PathBuf> {
    let path = if Path::new(src).is_absolute() {
        PathBuf::from(src)
    } else {
        dir.join(src)
    };
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(Error::NotFound(format!(
            "{src}: no such file or directory ({})",
            path.display()
        )));
    }
    if Path::new(src).is_absolute() {
        return Ok(path);
    }
    let real = std::fs::canonicalize(&path).map_err(|e| Error::at("copy", &path, e))?;
    let top = std::fs::canonicalize(dir).map_err(|e| Error::at("resolve", dir, e))?;
    if !real.starts_with(&top) {
        return Err(Error::Permission(format!(
            "{src}: leaves the template dir {} (through a symlink to {})",
            dir.display(),
            real.display()
        )));
    }
    Ok(path)
}

/// What of a planned template this platform cannot run, each as the error
/// its step would end with, found without a jail: `LIMITS cpu`, LIMITS
/// rules the platform's rctl refuses, CP and OVERLAY sources that are not
/// there (or leave the template directory), and HPKG where there is no
/// host pkg. Each comes with its step.
pub fn check(backend: &dyn backend::Backend, steps: &[Step]) -> Vec<(Step, Error)> {
    let racct = backend.racct();
    let mut found = Vec::new();
    for step in steps {
        let a = &step.args;
        let problem = match step.hook {
            Hook::Limits if plan::is_cpuset(&a[0]) => Some(no_cpusets()),
            Hook::Limits if a[0] == "remove" && plan::is_cpuset(&a[1]) => Some(no_cpusets()),
            Hook::Limits if !["remove", "clear", "reset"].contains(&a[0].as_str()) => {
                let text = limit_rule("j", &a[0], &a[1]);
                rctl::rule::expand(&text, true, &rctl::rule::SystemUsers)
                    .map_err(Error::BadData)
                    .and_then(|t| rctl::Rule::parse(&t).map_err(|e| Error::BadData(e.to_string())))
                    .and_then(|rule| racct.can_enforce(&rule).map_err(|e| limits_refused(a, e)))
                    .err()
            }
            Hook::Cp => copy_source(step.dir(), &a[0]).err(),
            Hook::Overlay => copy_source(step.dir(), &a[0]).err(),
            Hook::Hpkg if backend.kind() != BackendKind::Freebsd => Some(Error::Unavailable(
                "installing with the host's pkg (pkg -j) needs FreeBSD; use PKG".into(),
            )),
            _ => None,
        };
        if let Some(e) = problem {
            found.push((step.clone(), e));
        }
    }
    found
}

/// A LIMITS rule the platform's rctl refused: rctl's error, and why this
/// platform refuses it where FreeBSD would not.
fn limits_refused(a: &[String], e: RctlError) -> Error {
    match e.reason() {
        Some(why) => Error::Unavailable(format!("{}: {e}: {why}", a.join(" "))),
        None => Error::Unavailable(format!("{}: {e}", a.join(" "))),
    }
}

fn write_definition(file: &Path, def: &Jail) -> Result<()> {
    let text = crate::conf::write_jail(def);
    if std::fs::read(file).ok().as_deref() == Some(text.as_bytes()) {
        return Ok(());
    }
    crate::fsio::write_durable(file, text.as_bytes())
}

/// A jail's tags, oldest first; none when it has no tags file.
pub fn read_tags(file: &Path) -> Result<Vec<String>> {
    match std::fs::read_to_string(file) {
        Ok(t) => Ok(t
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::at("read", file, e)),
    }
}
