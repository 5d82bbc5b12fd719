//! What jmk does to jails, on top of a backend: create, start, stop,
//! restart, destroy, clone. Every operation on a jail holds that jail's
//! lock; definitions are jail.conf files written atomically; every step
//! that builds something is undone, or left for `destroy` to clean, when a
//! later step fails or the process is killed.

pub mod command;
pub mod config;
pub mod jail8;
pub mod network;
pub mod order;
pub mod release;
pub mod rootfs;
pub mod sequence;

use std::fs;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::mounts::MountEntry;
use crate::backend::{self, Backend, Started};
use crate::error::{Error, OsContext, Result};
use crate::lock::JailLock;
use crate::model::{Jail, JailKey, Params, State, Value, name};
use crate::paths::Paths;
pub use config::{Config, ConfigSource};
pub use jail8::{Jails, Op, Request, Summary};
pub use rootfs::Progress;
pub use sequence::{Flags, Report};

/// Thin or thick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// System directories bound read-only from a release.
    Thin,
    /// A full private copy.
    Thick,
    /// An overlay (or ZFS clone) of another jail.
    Clone,
}

/// Where `jmk create` takes the root from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSource {
    /// A release by name (`host` when none is given).
    Release(String),
    /// A directory tree (`--from`).
    Dir(PathBuf),
    /// A tarball (`--from-tarball`).
    Tarball(PathBuf),
}

/// A `jmk create` request.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// The new jail's name.
    pub name: String,
    /// `--thin` / `--thick`; `None` picks thin for releases, thick otherwise.
    pub layout: Option<Layout>,
    /// Where the root comes from.
    pub from: RootSource,
    /// `param=value` arguments as jail(8) takes them; `command=` takes the
    /// rest of the arguments as the command.
    pub params: Vec<String>,
}

/// What jmk records of a jail it built, beside its definition, so that
/// `destroy` removes exactly what `create` made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// The jail's root.
    pub root: PathBuf,
    /// How it was built.
    pub layout: Layout,
    /// The release it was built from.
    pub release: Option<String>,
    /// The jail it is a clone of.
    pub clone_of: Option<String>,
}

/// jkit's operations on one host.
pub struct Jkit {
    /// Where state lives.
    pub paths: Paths,
    backend: Box<dyn Backend>,
}

impl std::fmt::Debug for Jkit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jkit")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl Jkit {
    /// The operations on the native backend, with state under `paths`.
    pub fn new(paths: Paths) -> Result<Self> {
        let backend = backend::native(&paths)?;
        Ok(Self::with_backend(paths, backend))
    }

    /// The operations on `backend`, with state under `paths`.
    pub fn with_backend(paths: Paths, backend: Box<dyn Backend>) -> Self {
        Jkit { paths, backend }
    }

    /// The backend.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// The definition of jail `name` from `NAME.conf`.
    pub fn definition(&self, name: &str) -> Result<Jail> {
        crate::conf::definition(&self.paths, name)
    }

    /// Every defined jail, by name.
    pub fn definitions(&self) -> Result<Vec<Jail>> {
        let mut names = Vec::new();
        if let Ok(entries) = fs::read_dir(&self.paths.conf_dir) {
            for e in entries.flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                if let Some(n) = f.strip_suffix(".conf") {
                    if name::validate(n).is_ok() {
                        names.push(n.to_string());
                    }
                }
            }
        }
        names.sort();
        names.iter().map(|n| self.definition(n)).collect()
    }

    /// The jail `name` as it is now: running (from the backend) or stopped
    /// (from its definition).
    pub fn status(&self, name: &str) -> Result<Jail> {
        if let Some(j) = self.backend.find(&JailKey::Name(name.to_string()), true)? {
            return Ok(j);
        }
        let mut def = self.definition(name)?;
        def.state = State::Stopped;
        Ok(def)
    }

    /// The names that jail operands denote: names as given, or, for the
    /// single operand `-`, the jails of the NDJSON records on `stdin`.
    pub fn operands(&self, operands: &[String], stdin: impl BufRead) -> Result<Vec<String>> {
        if operands.len() == 1 && operands[0] == "-" {
            let running = self.backend.list(true)?;
            return crate::wire::read_refs(stdin)?
                .into_iter()
                .map(|key| match key {
                    JailKey::Name(n) => Ok(n),
                    JailKey::Jid(j) => running
                        .iter()
                        .find(|r| r.jid == Some(j))
                        .map(|r| r.name.clone())
                        .ok_or_else(|| Error::NotFound(format!("jail {j} not found"))),
                })
                .collect();
        }
        if operands.iter().any(|o| o == "-") {
            return Err(Error::Usage("- must be the only jail operand".into()));
        }
        Ok(operands.to_vec())
    }

    /// Build a jail's root and write its definition, telling `progress`
    /// how far the unpacking of a tarball has got.
    pub fn create(&self, req: &CreateRequest, progress: &mut dyn FnMut(Progress)) -> Result<Jail> {
        let name = req.name.as_str();
        name::validate(name)?;
        let user = parse_params(&req.params)?;
        let layout = layout_of(req)?;
        let (release, system) = self.source_tree(&req.from)?;
        let conf = self.paths.jail_conf(name);
        let jail_dir = self.paths.jail_dir(name);
        let root = match user.str("path") {
            Some(p) if !Path::new(p).is_absolute() => {
                return Err(Error::Usage(format!("path {p}: not an absolute pathname")));
            }
            Some(p) => PathBuf::from(p),
            None => self.paths.jail_root(name),
        };
        let _lock = JailLock::acquire(&self.paths, name)?;
        refuse_taken(name, &conf, &jail_dir, &root)?;
        self.make_dirs(name, &jail_dir)?;
        let record = BuildRecord {
            root: root.clone(),
            layout,
            release,
            clone_of: None,
        };
        let build = Build {
            name,
            root: &root,
            jail_dir: &jail_dir,
            layout,
            from: &req.from,
            system: system.as_deref(),
            user: &user,
        };
        let built = write_record(&jail_dir, &record).and_then(|_| self.build(&build, progress));
        let def = match built {
            Ok(def) => def,
            Err(e) => {
                // Leave nothing behind; what a kill leaves, destroy removes.
                let _ = self.remove_files(name, Some(&record));
                return Err(e);
            }
        };
        write_definition(&conf, &def)?;
        Ok(def)
    }

    /// The release `from` names (when it names one) and the directory tree
    /// the root is made from (`None` for a tarball), once checked.
    fn source_tree(&self, from: &RootSource) -> Result<(Option<String>, Option<PathBuf>)> {
        match from {
            RootSource::Release(r) => Ok((Some(r.clone()), Some(release::tree(&self.paths, r)?))),
            RootSource::Dir(d) => {
                if !d.is_dir() {
                    return Err(Error::NotFound(format!(
                        "{}: no such directory",
                        d.display()
                    )));
                }
                Ok((None, Some(d.clone())))
            }
            RootSource::Tarball(t) => {
                if !t.is_file() {
                    return Err(Error::NotFound(format!("{}: no such file", t.display())));
                }
                Ok((None, None))
            }
        }
    }

    /// Make the directories a new jail's files go in: the definitions
    /// directory, the jails directory and, empty, the jail's own.
    fn make_dirs(&self, name: &str, jail_dir: &Path) -> Result<()> {
        fs::create_dir_all(&self.paths.conf_dir)
            .what(|| format!("mkdir {}", self.paths.conf_dir.display()))?;
        let jails_dir = jail_dir.parent().unwrap_or(jail_dir);
        fs::create_dir_all(jails_dir).what(|| "mkdir jails dir".into())?;
        self.backend.prepare_jails_dir(jails_dir);
        make_jail_dir(jails_dir, jail_dir, name)
    }

    /// Build the root `build` describes; its definition.
    fn build(&self, build: &Build, progress: &mut dyn FnMut(Progress)) -> Result<Jail> {
        let hostname = build.user.str("host.hostname").unwrap_or(build.name);
        let fstab = fill_root(build, hostname, progress)?;
        let mut params = Params::new();
        params.set(
            "path",
            Value::Str(build.root.to_string_lossy().into_owned()),
        );
        params.set("host.hostname", Value::Str(hostname.to_string()));
        for (n, v) in build.user.iter() {
            params.set(n, v.clone());
        }
        if !fstab.is_empty() {
            let file = build.jail_dir.join("fstab");
            let text: String = fstab.iter().map(|m| m.to_line() + "\n").collect();
            crate::fsio::write_atomic(&file, text.as_bytes())?;
            let mut files = params.list("mount.fstab").to_vec();
            files.insert(0, file.to_string_lossy().into_owned());
            params.set("mount.fstab", Value::List(files));
        }
        for flag in ["mount.devfs", "mount.procfs"] {
            if params.get(flag).is_none() {
                params.set(flag, Value::Bool(true));
            }
        }
        if params.get("persist").is_none() && params.get("command").is_none() {
            params.set("persist", Value::Bool(true));
        }
        params.set("name", Value::Str(build.name.to_string()));
        Ok(Jail {
            name: build.name.to_string(),
            jid: None,
            state: State::Stopped,
            params,
        })
    }

    /// Start jail `name` from its definition as `jmk -c NAME` does (its
    /// dependencies first, every hook in jail(8)'s order), except that how
    /// its `command` ends is the result rather than a failure, and nothing
    /// is noted. Failures are returned, not reported. Of the definitions,
    /// only those of `name` and its dependencies are read (with
    /// jail.conf), so that starting a jail takes no longer with more
    /// jails defined.
    pub fn start(&self, name: &str) -> Result<Started> {
        self.start_with(name, &mut sequence::Quiet)
    }

    /// [`Jkit::start`], with warnings (a parameter ignored on this
    /// platform) given to `report`.
    pub fn start_with(&self, name: &str, report: &mut dyn Report) -> Result<Started> {
        name::validate(name)?;
        let config = Config::load_for(&self.paths, name)?;
        if config.get(name).is_none() {
            return Err(Error::NotFound(format!("jail \"{name}\" not found")));
        }
        let flags = Flags {
            quiet: true,
            command_status: true,
            ..Flags::default()
        };
        let req = Request {
            op: Op::Create,
            jails: Jails::Config(config),
            targets: vec![name.to_string()],
            flags,
            cleanup: false,
        };
        let summary = self.jail8(&req, report);
        if let Some(e) = summary.errors.into_iter().next() {
            return Err(e);
        }
        summary
            .created
            .into_iter()
            .map(|c| c.started)
            .find(|s| s.jail.name == name)
            .ok_or_else(|| Error::Software(format!("{name}: not started")))
    }

    /// Stop jail `name` as `jmk -r NAME` does (the jails that depend on it
    /// first); returns it as it now is (stopped).
    pub fn stop(&self, name: &str) -> Result<Jail> {
        self.stop_with(name, &mut sequence::Quiet)
    }

    /// [`Jkit::stop`], with warnings given to `report`.
    pub fn stop_with(&self, name: &str, report: &mut dyn Report) -> Result<Jail> {
        name::validate(name)?;
        let config = self.configuration()?;
        let mut jail = match config.get(name) {
            Some(c) => c.typed()?,
            None => self
                .running(name)?
                .ok_or_else(|| Error::NotFound(format!("jail \"{name}\" is not running")))?,
        };
        let flags = Flags {
            quiet: true,
            ..Flags::default()
        };
        let req = Request {
            op: Op::Remove,
            jails: Jails::Config(config),
            targets: vec![name.to_string()],
            flags,
            cleanup: false,
        };
        if let Some(e) = self.jail8(&req, report).errors.into_iter().next() {
            return Err(e);
        }
        jail.jid = None;
        jail.state = State::Stopped;
        Ok(jail)
    }

    /// Stop jail `name` (its lock held), running its stop hooks.
    fn stop_locked(&self, name: &str, def: &Jail) -> Result<()> {
        let jail = self
            .running(name)?
            .ok_or_else(|| Error::NotFound(format!("jail \"{name}\" is not running")))?;
        let mut quiet = sequence::Quiet;
        let mut seq = sequence::Sequence::new(
            self.backend(),
            &mut quiet,
            Flags {
                quiet: true,
                ..Flags::default()
            },
        );
        let def = seq.effective(def)?;
        seq.remove(&jail, Some(&def))
    }

    /// Stop jail `name` if it runs, then start it.
    pub fn restart(&self, name: &str) -> Result<Started> {
        self.restart_with(name, &mut sequence::Quiet)
    }

    /// [`Jkit::restart`], with warnings given to `report`.
    pub fn restart_with(&self, name: &str, report: &mut dyn Report) -> Result<Started> {
        if self.running(name)?.is_some() {
            self.stop_with(name, report)?;
        }
        self.start_with(name, report)
    }

    /// The jails of jail.conf and the definitions directory (none when
    /// neither exists).
    pub fn configuration(&self) -> Result<Config> {
        if !Config::exists(&self.paths, &ConfigSource::Default) {
            return Ok(Config::default());
        }
        Config::load(&self.paths, &ConfigSource::Default, std::io::empty())
    }

    fn running(&self, name: &str) -> Result<Option<Jail>> {
        self.backend.find(&JailKey::Name(name.to_string()), true)
    }

    /// Destroy jail `name`: its definition, its root and everything jmk
    /// made for it. A running jail is refused unless `force`, which stops
    /// it first; a jail with clones is refused, even with `force`. Also
    /// cleans what an interrupted create or start left.
    pub fn destroy(&self, name: &str, force: bool) -> Result<()> {
        name::validate(name)?;
        let _lock = JailLock::acquire(&self.paths, name)?;
        let conf = self.paths.jail_conf(name);
        let def = if conf.exists() {
            Some(self.definition(name)?)
        } else {
            None
        };
        let jail_dir = self.paths.jail_dir(name);
        let record = read_record(&jail_dir)?;
        let leftovers = fs::symlink_metadata(&jail_dir).is_ok()
            || fs::symlink_metadata(self.paths.run_jail_dir(name)).is_ok()
            || !passing_dirs(&self.paths, name).is_empty();
        if def.is_none() && !leftovers {
            return Err(Error::NotFound(format!("jail \"{name}\" not found")));
        }
        // Refused before anything is done (a running jail is not stopped):
        // its clones are built on its root.
        let clones = self.clones_of(name)?;
        if !clones.is_empty() {
            return Err(Error::TempFail(format!(
                "jail \"{name}\" has clones ({}): destroy them first",
                clones.join(", ")
            )));
        }
        if self.running(name)?.is_some() {
            if !force {
                return Err(Error::TempFail(format!(
                    "jail \"{name}\" is running (stop it first, or use -f)"
                )));
            }
            let stop_def = def.clone().unwrap_or_else(|| Jail {
                name: name.to_string(),
                jid: None,
                state: State::Stopped,
                params: Params::new(),
            });
            self.stop_locked(name, &stop_def)?;
        }
        self.backend.clean(name, def.as_ref())?;
        self.remove_files(name, record.as_ref())?;
        crate::rctl::store::forget(&self.paths, name)?;
        self.backend.racct().forget_jail(name);
        remove_if_present(&self.paths.tags_file(name))?;
        remove_if_present(&conf)
    }

    /// Remove the root (if jmk built it outside the jail's directory) and
    /// the jail's directory, never through a mount.
    fn remove_files(&self, name: &str, record: Option<&BuildRecord>) -> Result<()> {
        let jail_dir = self.paths.jail_dir(name);
        if let Some(r) = record {
            if !r.root.starts_with(&jail_dir) {
                crate::backend::remove::remove_tree(&r.root)?;
            }
        }
        for passing in passing_dirs(&self.paths, name) {
            crate::backend::remove::remove_tree(&passing)?;
        }
        crate::backend::remove::remove_tree(&jail_dir)
    }

    fn build_records(&self) -> Result<Vec<(String, BuildRecord)>> {
        let dir = self.paths.data_dir.join("jails");
        let mut out = Vec::new();
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries.flatten() {
                if let Some(r) = read_record(&e.path())? {
                    out.push((e.file_name().to_string_lossy().into_owned(), r));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn clones_of(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .build_records()?
            .into_iter()
            .filter(|(_, r)| r.clone_of.as_deref() == Some(name))
            .map(|(n, _)| n)
            .collect())
    }

    /// The jails built from release `release`.
    pub fn users_of_release(&self, release: &str) -> Result<Vec<String>> {
        Ok(self
            .build_records()?
            .into_iter()
            .filter(|(_, r)| r.release.as_deref() == Some(release))
            .map(|(n, _)| n)
            .collect())
    }

    /// Make jail `new` a copy-on-write clone of jail `src`: an overlay on
    /// Linux (lower: the source's root), a ZFS clone on FreeBSD where the
    /// source lives on ZFS, else a copy.
    pub fn clone_jail(&self, src: &str, new: &str) -> Result<Jail> {
        name::validate(new)?;
        let src_def = self.definition(src)?;
        // Lock both, in name order, so two clones cannot deadlock.
        let (first, second) = if src < new { (src, new) } else { (new, src) };
        let _l1 = JailLock::acquire(&self.paths, first)?;
        let _l2 = JailLock::acquire(&self.paths, second)?;
        let conf = self.paths.jail_conf(new);
        let jail_dir = self.paths.jail_dir(new);
        if conf.exists() {
            return Err(Error::Exists(format!("jail \"{new}\" already exists")));
        }
        if fs::symlink_metadata(&jail_dir).is_ok() {
            return Err(Error::Exists(format!(
                "{} already exists",
                jail_dir.display()
            )));
        }
        let src_root = backend::root_of(&src_def)?;
        let src_record = read_record(&self.paths.jail_dir(src))?;
        let root = self.paths.jail_root(new);
        crate::fsio::tree::mkdir(&jail_dir, 0o755)?;
        let record = BuildRecord {
            root: root.clone(),
            layout: Layout::Clone,
            release: src_record.and_then(|r| r.release),
            clone_of: Some(src.to_string()),
        };
        let made = write_record(&jail_dir, &record)
            .and_then(|_| self.clone_root(&src_def, &src_root, new, &root, &jail_dir));
        match made {
            Ok(def) => {
                write_definition(&conf, &def)?;
                Ok(def)
            }
            Err(e) => {
                let _ = self.remove_files(new, Some(&record));
                Err(e)
            }
        }
    }

    fn clone_root(
        &self,
        src_def: &Jail,
        src_root: &Path,
        new: &str,
        root: &Path,
        jail_dir: &Path,
    ) -> Result<Jail> {
        let rebase = |m: MountEntry| -> MountEntry {
            let target = match m.target.strip_prefix(src_root) {
                Ok(rel) => root.join(rel),
                Err(_) => m.target.clone(),
            };
            MountEntry { target, ..m }
        };
        let mut params = src_def.params.clone();
        let mut mounts: Vec<String> = Vec::new();
        let copy_on_write = self.backend.clone_storage(src_root, root, jail_dir)?;
        if let Some(entry) = copy_on_write {
            mounts.push(entry.to_line());
        }
        for line in src_def.params.list("mount") {
            if let Some(m) = MountEntry::parse(line)? {
                mounts.push(rebase(m).to_line());
            }
        }
        params.set("mount", Value::List(mounts));
        if params
            .get("mount")
            .and_then(Value::as_list)
            .is_some_and(<[String]>::is_empty)
        {
            params.remove("mount");
        }
        let mut fstab_text = String::new();
        for file in src_def.params.list("mount.fstab") {
            let text = fs::read_to_string(file).what(|| format!("read {file}"))?;
            for line in text.lines() {
                if let Some(m) = MountEntry::parse(line)? {
                    fstab_text.push_str(&(rebase(m).to_line() + "\n"));
                }
            }
        }
        if src_def.params.get("mount.fstab").is_some() {
            let file = jail_dir.join("fstab");
            crate::fsio::write_atomic(&file, fstab_text.as_bytes())?;
            params.set(
                "mount.fstab",
                Value::List(vec![file.to_string_lossy().into_owned()]),
            );
        }
        params.set("name", Value::Str(new.to_string()));
        params.set("path", Value::Str(root.to_string_lossy().into_owned()));
        if params.str("host.hostname") == Some(src_def.name.as_str()) {
            params.set("host.hostname", Value::Str(new.to_string()));
        }
        Ok(Jail {
            name: new.to_string(),
            jid: None,
            state: State::Stopped,
            params,
        })
    }
}

/// What `create` has settled before it builds a root: its name, where it
/// goes, how and from what.
struct Build<'a> {
    name: &'a str,
    root: &'a Path,
    jail_dir: &'a Path,
    layout: Layout,
    from: &'a RootSource,
    /// The directory tree the root is made from; `None` for a tarball.
    system: Option<&'a Path>,
    /// The `param=value` arguments.
    user: &'a Params,
}

/// The layout a create request asks for, or the one its source implies:
/// thin for releases, thick otherwise (a tarball cannot be thin).
fn layout_of(req: &CreateRequest) -> Result<Layout> {
    match (&req.from, req.layout) {
        (RootSource::Tarball(_), Some(Layout::Thin)) => Err(Error::Usage(
            "--thin needs a directory tree: register the tarball with `jmk release add` first"
                .into(),
        )),
        (_, Some(l)) => Ok(l),
        (RootSource::Release(_), None) => Ok(Layout::Thin),
        (_, None) => Ok(Layout::Thick),
    }
}

/// Refuse a new jail `name` whose definition, directory or root is
/// already there.
fn refuse_taken(name: &str, conf: &Path, jail_dir: &Path, root: &Path) -> Result<()> {
    if conf.exists() {
        return Err(Error::Exists(format!("jail \"{name}\" already exists")));
    }
    if fs::symlink_metadata(jail_dir).is_ok() {
        return Err(Error::Exists(format!(
            "{} already exists (left by an interrupted create? `jmk destroy {name}` removes it)",
            jail_dir.display()
        )));
    }
    if fs::symlink_metadata(root).is_ok() {
        return Err(Error::Exists(format!(
            "path {} already exists",
            root.display()
        )));
    }
    Ok(())
}

/// Make the files of the root `build` describes; the read-only binds of
/// the system directories a thin root needs at start.
fn fill_root(
    build: &Build,
    hostname: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<MountEntry>> {
    let root = build.root;
    match (build.layout, build.from, build.system) {
        (_, RootSource::Tarball(t), _) => rootfs::extract_tarball(t, root, progress)?,
        (Layout::Thin, _, Some(sys)) => return rootfs::build_thin(root, sys, hostname),
        (_, RootSource::Release(_), Some(sys)) if sys == Path::new("/") => {
            // A thick jail of the host's system: the thin layout with
            // private copies of the system directories.
            for m in rootfs::build_thin(root, sys, hostname)? {
                fs::remove_dir(&m.target).what(|| format!("rmdir {}", m.target.display()))?;
                crate::fsio::tree::copy_tree(Path::new(&m.source), &m.target)?;
            }
        }
        (_, _, Some(sys)) => crate::fsio::tree::copy_tree(sys, root)?,
        (_, _, None) => return Err(Error::Software("no source for the root".into())),
    }
    Ok(Vec::new())
}

/// Parse `param=value` arguments; from `command=` on, the rest is the
/// command and its arguments, as in jail(8).
pub fn parse_params(args: &[String]) -> Result<Params> {
    let mut params = Params::new();
    for (i, arg) in args.iter().enumerate() {
        if let Some(argv) = trailing_command(args, i) {
            params.set("command", Value::List(argv));
            break;
        }
        params.assign(arg)?;
    }
    for fixed in ["name", "jid"] {
        if params.get(fixed).is_some() {
            return Err(Error::Usage(format!(
                "{fixed} is set by jmk and cannot be given"
            )));
        }
    }
    Ok(params)
}

/// The command of jail(8)'s `param=value` arguments when `args[i]` is
/// `command=ARG`: ARG and every argument after it, as its argv.
pub(crate) fn trailing_command(args: &[String], i: usize) -> Option<Vec<String>> {
    let first = args[i].strip_prefix("command=")?;
    let mut argv = vec![first.to_string()];
    argv.extend(args[i + 1..].iter().cloned());
    Some(argv)
}

/// Remove a file; one that is not there is fine.
fn remove_if_present(file: &Path) -> Result<()> {
    match fs::remove_file(file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::at("remove", file, e)),
    }
}

fn write_definition(conf: &Path, def: &Jail) -> Result<()> {
    crate::fsio::write_durable(conf, crate::conf::write_jail(def).as_bytes())
}

fn record_file(jail_dir: &Path) -> PathBuf {
    jail_dir.join("jkit.json")
}

/// The start of the passing names a jail's directory is made under before
/// it is renamed to `name` ([`make_jail_dir`]): the process id follows.
fn passing_prefix(name: &str) -> String {
    format!(".{name}.")
}

/// What an interrupted create left of jail `name` under a passing name.
fn passing_dirs(paths: &Paths, name: &str) -> Vec<PathBuf> {
    let prefix = passing_prefix(name);
    let Ok(entries) = fs::read_dir(paths.data_dir.join("jails")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.strip_prefix(&prefix)
                    .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            })
        })
        .map(|e| e.path())
        .collect()
}

/// Make the jail's directory `jail_dir` in `jails_dir`, under a passing
/// name first, then renamed. ext4 places a directory made in the jails
/// directory (chattr +T there) in the emptiest block group it finds from a
/// hash of the new name on; under the name of a jail just destroyed, that
/// is the group the destroy has just emptied. On a filesystem without a
/// journal, each new inode there skips, one by one, every inode freed in
/// the last 30 seconds, so each of a create's inodes would walk past the
/// destroyed jail's. The passing name (the process id in it) starts that
/// search elsewhere.
fn make_jail_dir(jails_dir: &Path, jail_dir: &Path, name: &str) -> Result<()> {
    let passing = jails_dir.join(format!("{}{}", passing_prefix(name), std::process::id()));
    // Left by a killed create of this name whose pid this one reuses.
    crate::backend::remove::remove_tree(&passing)?;
    crate::fsio::tree::mkdir(&passing, 0o755)?;
    fs::rename(&passing, jail_dir).what(|| format!("rename {}", passing.display()))
}

fn write_record(jail_dir: &Path, r: &BuildRecord) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(r).map_err(|e| Error::Software(e.to_string()))?;
    crate::fsio::write_atomic(&record_file(jail_dir), &bytes)
}

fn read_record(jail_dir: &Path) -> Result<Option<BuildRecord>> {
    let f = record_file(jail_dir);
    match fs::read(&f) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::BadData(format!("{}: {e}", f.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::at("read", &f, e)),
    }
}

#[cfg(test)]
mod tests;
