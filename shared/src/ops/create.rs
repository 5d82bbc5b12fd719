//! `jmk create`: a new jail's definition, directory and root (thin, thick
//! or from a tarball), made under the jail's lock; a create that fails
//! removes what it made.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hostlayer::{self, HostLayer};
use super::record::{BuildRecord, read_record, write_record};
use super::{Jkit, Progress, parse_params, release, rootfs};
use crate::backend::mounts::MountEntry;
use crate::backend::storage;
use crate::backend::{Backend, OwnLayer};
use crate::error::{Error, OsContext, Result};
use crate::fsio::tree::Owners;
use crate::lock::JailLock;
use crate::model::{Jail, Params, State, Value, name};
use crate::paths::Paths;

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

/// What a create tells as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Creating {
    /// How far the unpacking of a tarball has got.
    Unpacked(Progress),
    /// A warning, one line: the jail will be less isolated than jails
    /// are by default.
    Warning(String),
}

/// What `create` has settled before it builds a root: its name, where it
/// goes, how and from what.
struct Build<'a> {
    name: &'a str,
    root: &'a Path,
    layout: Layout,
    from: &'a RootSource,
    /// The directory tree the root is made from; `None` for a tarball.
    system: Option<&'a Path>,
    /// The `param=value` arguments.
    user: &'a Params,
    /// The first host id of the jail's id range, if it has one.
    ids: Option<u32>,
    /// Whether the jail is Linux's (its files can have capabilities).
    linux: bool,
    /// How its files are kept.
    storage: storage::Kind,
}

impl Build<'_> {
    /// Who owns the files of the root: the jail's range, if it has one.
    fn owners<'c>(&self, caps: &'c dyn crate::fsio::tree::FileCaps) -> Owners<'c> {
        Owners {
            base: self.ids,
            caps,
        }
    }
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

/// The definition a create of jail `name` at `root` with `user`'s
/// parameters plans, as far as the check of definitions looks at it,
/// before anything is built.
fn planned(name: &str, root: &Path, user: &Params) -> Jail {
    let mut params = user.clone();
    params.set("path", Value::Str(root.to_string_lossy().into_owned()));
    if params.get("host.hostname").is_none() {
        params.set("host.hostname", Value::Str(name.to_string()));
    }
    params.set("name", Value::Str(name.to_string()));
    Jail {
        name: name.to_string(),
        jid: None,
        state: State::Stopped,
        params,
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

/// What a root needs at start: the overlay that goes over it, if it is
/// layered, and then the read-only binds of a thin root's system
/// directories.
struct Mounts {
    layer: Option<MountEntry>,
    fstab: Vec<MountEntry>,
}

/// Make the files of the root `build` describes, owned by `owners` as
/// they are made (tar's, once it is done); what it needs at start. A thin
/// root on a release, in `jail_dir`, is layered where `backend` layers
/// roots: the release below a private layer in `jail_dir`, nothing copied.
fn fill_root(
    build: &Build,
    owners: Owners,
    hostname: &str,
    (backend, host_layer): (&dyn Backend, Option<&Path>),
    jail_dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Mounts> {
    let root = build.root;
    let mut layer = None;
    let mut fstab = Vec::new();
    match (build.layout, build.from, build.system) {
        (_, RootSource::Tarball(t), _) => {
            rootfs::extract_tarball(t, root, build.linux, progress)?;
            owners.shift(root)?;
        }
        (Layout::Thin, _, Some(_)) if host_layer.is_some() => {
            let lowers: Vec<PathBuf> = host_layer.into_iter().map(Path::to_path_buf).collect();
            layer = backend.layered_root(&lowers, root, jail_dir, build.ids, OwnLayer::Root)?;
            if layer.is_none() {
                return Err(Error::Software(
                    "a host layer on a platform without layers".into(),
                ));
            }
            let etc = root.join("etc");
            owners.creating(|| {
                owners.mkdir(&etc, 0o755)?;
                rootfs::own_etc(&etc, hostname, owners)
            })?;
            fstab = rootfs::host_binds(root);
        }
        // Layered only in the jail's own directory: a root at a `path=`
        // of the admin's choosing holds the jail's files itself.
        (Layout::Thin, _, Some(sys)) if sys != Path::new("/") && root.starts_with(jail_dir) => {
            match backend.layered_root(
                &[sys.to_path_buf()],
                root,
                jail_dir,
                build.ids,
                OwnLayer::Beside,
            )? {
                Some(overlay) => {
                    if let Some((_, Some(upper))) = overlay.overlay_layers() {
                        rootfs::mount_points(sys, &upper, owners)?;
                    }
                    layer = Some(overlay);
                    fstab = rootfs::system_binds(root, sys);
                }
                None => {
                    fstab = owners.creating(|| rootfs::build_thin(root, sys, hostname, owners))?;
                }
            }
        }
        (Layout::Thin, _, Some(sys)) => {
            fstab = owners.creating(|| rootfs::build_thin(root, sys, hostname, owners))?;
        }
        (_, RootSource::Release(_), Some(sys)) if sys == Path::new("/") => {
            // A thick jail of the host's system: the thin layout with
            // private copies of the system directories.
            owners.creating(|| {
                for m in rootfs::build_thin(root, sys, hostname, owners)? {
                    fs::remove_dir(&m.target).what(|| format!("rmdir {}", m.target.display()))?;
                    owners.copy_tree(Path::new(&m.source), &m.target)?;
                }
                Ok(())
            })?;
        }
        (_, _, Some(sys)) => owners.creating(|| owners.copy_tree(sys, root))?,
        (_, _, None) => return Err(Error::Software("no source for the root".into())),
    }
    Ok(Mounts { layer, fstab })
}

/// Give the jails directory mode 0700 (an install made before jkit did so
/// keeps 0755 until its next create or start), as FreeBSD's handbook asks
/// of the directory that holds jails: a host user who can reach a jail's
/// root can run a set-user-id program the jail's root put there.
pub(super) fn seal_jails_dir(paths: &Paths) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = paths.jails_dir();
    match fs::symlink_metadata(&dir) {
        Ok(meta) if meta.permissions().mode() & 0o7777 != 0o700 => {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .what(|| format!("chmod {}", dir.display()))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::at("stat", &dir, e)),
    }
}

/// Make the directory of jail `name` in the jails directory, under a passing
/// name first, then renamed. ext4 places a directory made in the jails
/// directory (chattr +T there) in the emptiest block group it finds from a
/// hash of the new name on; under the name of a jail just destroyed, that
/// is the group the destroy has just emptied. On a filesystem without a
/// journal, each new inode there skips, one by one, every inode freed in
/// the last 30 seconds, so each of a create's inodes would walk past the
/// destroyed jail's. The passing name (the process id in it) starts that
/// search elsewhere.
fn make_jail_dir(paths: &Paths, name: &str, storage: storage::Kind) -> Result<()> {
    let passing = paths.passing_jail_dir(name, std::process::id());
    // Left by a killed create of this name whose pid this one reuses.
    crate::backend::remove::remove_tree(&passing)?;
    storage::make_jail_dir(storage, &passing, &paths.jail_dir(name))
}

impl Jkit {
    /// Build a jail's root and write its definition, telling `progress`
    /// how far the unpacking of a tarball has got and what to warn about.
    pub fn create(&self, req: &CreateRequest, progress: &mut dyn FnMut(Creating)) -> Result<Jail> {
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
        super::check::definition(self.backend(), &planned(name, &root, &user))?;
        let lock = JailLock::acquire(&self.paths, name)?;
        if !conf.exists() {
            self.remove_killed_create(name)?;
        }
        refuse_taken(name, &conf, &jail_dir, &root)?;
        let ids = self.backend.claim_id_range(name, &user)?;
        let storage = super::snapshot::storage_for(&self.paths, &root);
        if let Err(e) = self.make_dirs(name, storage) {
            let _ = self.backend.release_id_range(name, None);
            lock.remove_file();
            return Err(e);
        }
        let record = BuildRecord {
            root: root.clone(),
            layout,
            release,
            clone_of: None,
            snapshot: None,
        };
        let build = Build {
            name,
            root: &root,
            layout,
            from: &req.from,
            system: system.as_deref(),
            user: &user,
            ids,
            linux: self.backend.kind() == crate::wire::BackendKind::Linux,
            storage,
        };
        let built =
            write_record(&self.paths, name, &record).and_then(|_| self.build(&build, progress));
        // The shared layer the root goes over stays in use until the
        // definition names it.
        let (def, _layer_in_use) = match built {
            Ok(built) => built,
            Err(e) => return Err(self.undo_create(name, &record, lock, e)),
        };
        for w in self.backend.isolation_warnings(&def) {
            progress(Creating::Warning(w));
        }
        // Not flushed: the root's files are not either, so a crash soon
        // after leaves a jail half on disk whatever this does; without
        // its definition, the next create or destroy of the name removes
        // the rest as after a kill.
        if let Err(e) = crate::fsio::write_atomic(&conf, crate::conf::write_jail(&def).as_bytes()) {
            return Err(self.undo_create(name, &record, lock, e));
        }
        Ok(def)
    }

    /// Remove what a create of jail `name` that failed with `e` made (its
    /// lock file too), and return `e`: a create that fails leaves nothing.
    pub(super) fn undo_create(
        &self,
        name: &str,
        record: &BuildRecord,
        lock: JailLock,
        e: Error,
    ) -> Error {
        let _ = self.remove_files(name, Some(record));
        let _ = self.backend.release_id_range(name, None);
        lock.remove_file();
        e
    }

    /// Remove what a create (or clone) of jail `name` that was killed
    /// left, or a destroy killed once it had removed the definition: a
    /// jail directory holding jkit's build record (or nothing), passing
    /// directories, a temporary definition. The caller holds the lock
    /// and has seen that no definition exists. Anything else in the
    /// jail's directory is not jmk's and stays (`refuse_taken` names it).
    pub(super) fn remove_killed_create(&self, name: &str) -> Result<()> {
        let jail_dir = self.paths.jail_dir(name);
        let dir_there = fs::symlink_metadata(&jail_dir).is_ok();
        if !dir_there && !self.paths.run_jail_dir(name).exists() {
            return Ok(());
        }
        let record = read_record(&self.paths, name).ok().flatten();
        // Empty, or holding only the record a create was killed writing.
        let ours = record.is_some() || {
            let record_temps = crate::fsio::stale_temps(&self.paths.build_record_file(name));
            fs::read_dir(&jail_dir)
                .is_ok_and(|d| d.flatten().all(|e| record_temps.contains(&e.path())))
        };
        if dir_there && !ours {
            return Ok(());
        }
        if self.paths.run_jail_dir(name).exists() {
            self.backend.clean(name, None)?;
        }
        self.destroy_storage(name, None, record.as_ref())?;
        self.remove_files(name, record.as_ref())?;
        // No definition names the jail: a range it claims is the killed
        // create's.
        self.backend.release_id_range(name, None)?;
        for temp in crate::fsio::stale_temps(&self.paths.jail_conf(name)) {
            super::remove_if_present(&temp)?;
        }
        Ok(())
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
    fn make_dirs(&self, name: &str, storage: storage::Kind) -> Result<()> {
        fs::create_dir_all(&self.paths.conf_dir)
            .what(|| format!("mkdir {}", self.paths.conf_dir.display()))?;
        let jails_dir = self.paths.jails_dir();
        fs::create_dir_all(&jails_dir).what(|| "mkdir jails dir".into())?;
        seal_jails_dir(&self.paths)?;
        self.backend.prepare_jails_dir(&jails_dir);
        make_jail_dir(&self.paths, name, storage)
    }

    /// Build the root `build` describes; its definition, and the shared
    /// layer its root goes over, if it has one, held in use.
    fn build(
        &self,
        build: &Build,
        progress: &mut dyn FnMut(Creating),
    ) -> Result<(Jail, Option<HostLayer>)> {
        let hostname = build.user.str("host.hostname").unwrap_or(build.name);
        // The jail's root owns its files; the host's directories it binds
        // are shown to it through idmapped mounts at start.
        let owners = build.owners(self.backend.file_caps());
        let jail_dir = self.paths.jail_dir(build.name);
        // Layered only in the jail's own directory: a root at a `path=`
        // of the admin's choosing holds the jail's files itself.
        let host_layer = match (build.layout, build.system) {
            (Layout::Thin, Some(sys))
                if sys == Path::new("/")
                    && build.root.starts_with(&jail_dir)
                    && self.backend.layers_roots() =>
            {
                Some(hostlayer::current(&self.paths, self.backend.file_caps())?)
            }
            _ => None,
        };
        let Mounts { layer, fstab } = fill_root(
            build,
            owners,
            hostname,
            (
                self.backend.as_ref(),
                host_layer.as_ref().map(|l| l.tree.as_path()),
            ),
            &jail_dir,
            &mut |p| progress(Creating::Unpacked(p)),
        )?;
        if let Some(base) = build.ids {
            // The layer's lower directories are shown to the jail as the
            // read-only binds are.
            let (lowers, _) = layer
                .as_ref()
                .and_then(MountEntry::overlay_layers)
                .unwrap_or_default();
            let mut shown = fstab.clone();
            shown.extend(
                lowers
                    .iter()
                    .map(|l| MountEntry::read_only_bind(l, build.root.to_path_buf())),
            );
            self.backend.check_id_mapping(base, &shown)?;
        }
        let mut params = Params::new();
        params.set(
            "path",
            Value::Str(build.root.to_string_lossy().into_owned()),
        );
        params.set("host.hostname", Value::Str(hostname.to_string()));
        for (n, v) in build.user.iter() {
            params.set(n, v.clone());
        }
        if let Some(layer) = layer {
            // First: what else the jail mounts goes on top of it.
            let mut entries = params.list("mount").to_vec();
            entries.insert(0, layer.to_line());
            params.set("mount", Value::List(entries));
        }
        if !fstab.is_empty() {
            let file = self.paths.jail_fstab(build.name);
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
        if let Some(base) = build.ids {
            params.set("jkit.idbase", Value::Int(i64::from(base)));
        }
        params.set("jkit.storage", Value::Str(build.storage.name().into()));
        params.set("name", Value::Str(build.name.to_string()));
        let def = Jail {
            name: build.name.to_string(),
            jid: None,
            state: State::Stopped,
            params,
        };
        Ok((def, host_layer))
    }
}
