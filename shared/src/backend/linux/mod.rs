//! The Linux backend: a jail is a set of namespaces (mount, pid, uts, ipc,
//! cgroup, and net unless `ip4=inherit`) pinned by bind mounts under the run
//! directory, with our own init as pid 1, its root entered by pivot_root.
//! See docs/linux.md for how each jail concept maps.

mod caps;
pub mod cgroup;
mod exec;
mod handwritten;
pub mod idmap;
mod landlock;
pub mod net;
mod params;
mod procfs;
mod protocol;
pub mod rundir;
mod seccomp;
pub mod start;
pub mod state;
mod sys;

/// Swap two paths at once (the storage layer swaps a jail's root so).
pub(crate) use sys::rename_exchange;

use std::collections::HashMap;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use nix::mount::{MntFlags, umount2};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::CloneFlags;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{ForkResult, Pid};

use super::{Backend, Support, mounts};
use crate::backend::mounts::MountEntry;
use crate::error::{Error, OsContext, Result};
use crate::exec::{ExecSpec, Exit};
use crate::fsio::tree::mkdir;
use crate::model::{Jail, JailKey, JailSys, Params, State, Value, param};
use crate::paths::Paths;
use crate::wire::BackendKind;
use state::{Phase, ProcId, RunState};

/// The namespaces every jail gets, by their /proc/PID/ns names.
const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
];

/// The longest host or domain name Linux keeps (`__NEW_UTS_LEN`).
const UTS_NAME_MAX: usize = 64;

/// Whether a jail with `params` gets a user namespace of its own (unless
/// `jkit.userns=0`).
fn wants_user_namespace(params: &Params) -> bool {
    params
        .get("jkit.userns")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// The first host id of the id range of a jail with `params`, when it runs
/// in a user namespace of its own: one is wanted and `jkit.idbase` names
/// the range.
fn user_namespace_base(params: &Params) -> Option<u32> {
    let base = params.int("jkit.idbase")?;
    (wants_user_namespace(params))
        .then(|| u32::try_from(base).ok())
        .flatten()
}

/// Jails as Linux namespaces.
#[derive(Debug)]
pub struct Linux {
    paths: Paths,
    /// The jails this process created and has not settled yet.
    holds: Mutex<HashMap<String, start::Hold>>,
}

impl Linux {
    /// The backend keeping its runtime state under `paths.run_dir`.
    pub fn new(paths: Paths) -> Self {
        Linux {
            paths,
            holds: Mutex::new(HashMap::new()),
        }
    }

    /// A definition written by hand without `jkit.idbase`, with the range
    /// its jail runs in set there (see [`handwritten`]); `None` when the
    /// definition says what to do already, or its root is not a tree of
    /// its own.
    fn with_id_range(&self, def: &Jail) -> Result<Option<Jail>> {
        if !wants_user_namespace(&def.params) || def.params.get("jkit.idbase").is_some() {
            return Ok(None);
        }
        let root = crate::backend::root_of(def)?;
        if handwritten::not_own_tree(&root).is_some() {
            return Ok(None);
        }
        let base = handwritten::range_of(&self.paths, &def.name, &root)?;
        let mut def = def.clone();
        def.params.set("jkit.idbase", Value::Int(base.into()));
        Ok(Some(def))
    }

    /// The name whose state file may hold the jail `key` names: the name
    /// itself, or the one that reserved the jid; none for a name jkit
    /// cannot create (it cannot name a state file either).
    fn state_name(&self, key: &JailKey) -> Option<String> {
        let name = match key {
            JailKey::Name(n) => n.clone(),
            JailKey::Jid(j) => state::jid_owner(&self.paths, *j)?,
        };
        let anonymous = || state::anonymous_reservation(&self.paths, &name).is_some();
        (crate::model::name::validate(&name).is_ok() || anonymous()).then_some(name)
    }

    /// The jails held by this process.
    fn holds(&self) -> std::sync::MutexGuard<'_, HashMap<String, start::Hold>> {
        self.holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Unpin the namespaces, remove the runtime directory and the jid. A
    /// broken file of the jail's (which no retry mends) does not stop the
    /// rest: its error, saying what is left, comes once all else is done.
    fn remove_runtime(&self, name: &str) -> Result<()> {
        let dir = self.paths.run_jail_dir(name);
        if !dir.exists() {
            // A start makes the runtime directory before anything else of
            // the jail's (jid, network, cgroup, pins), and this removes it
            // last: without it, nothing is left.
            return Ok(());
        }
        let recorded_jid = state::read(&self.paths, name).ok().flatten().map(|s| s.jid);
        let broken = match net::teardown(&self.paths, name) {
            Ok(()) => None,
            Err(e @ Error::BadData(_)) => Some(e),
            Err(e) => return Err(e),
        };
        cgroup::jail::remove(&self.paths, name)?;
        start::pins::unpin(&self.paths, name)?;
        for m in mounted_under(&dir)?.into_iter().rev() {
            umount2(&m, MntFlags::MNT_DETACH).what(|| format!("unmount {}", m.display()))?;
        }
        match recorded_jid {
            Some(jid) => state::release_jid(&self.paths, name, jid)?,
            // Killed between reserving a jid and recording it (or its
            // record is unreadable): look for it.
            None => self.release_jids_of(name)?,
        }
        // Last: a clean killed before this finds the directory and ends it.
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::at("remove", &dir, e)),
        }
        broken.map_or(Ok(()), Err)
    }

    /// Release every jid reserved for jail `name`.
    fn release_jids_of(&self, name: &str) -> Result<()> {
        for (jid, owner) in state::reserved_jids(&self.paths)? {
            if owner == name {
                state::release_jid(&self.paths, name, jid)?;
            }
        }
        Ok(())
    }
}

impl Backend for Linux {
    fn kind(&self) -> BackendKind {
        BackendKind::Linux
    }

    fn racct(&self) -> Box<dyn crate::backend::Racct> {
        Box::new(cgroup::rctl::LinuxRacct::new(self.paths.clone()))
    }

    /// The network a start plans first: one namespace for both address
    /// families, so `ip6=inherit` with `ip4.addr` (or the reverse) cannot
    /// start on Linux. Linux's host and domain names hold 64 bytes.
    fn check_startable(&self, def: &Jail) -> Result<()> {
        for name in ["host.hostname", "host.domainname"] {
            if let Some(text) = def.params.str(name).filter(|t| t.len() > UTS_NAME_MAX) {
                return Err(Error::Config(format!(
                    "{name}: {} bytes: longer than {UTS_NAME_MAX} on Linux",
                    text.len()
                )));
            }
        }
        net::plan(def).map(drop)
    }

    fn redirect(
        &self,
        name: &str,
        targets: &crate::model::rdr::Targets,
        rules: &[crate::model::rdr::Rule],
    ) -> Result<()> {
        net::rdr::set(&self.paths, name, targets, rules)
    }

    fn port_listener(
        &self,
        proto: crate::model::rdr::Proto,
        ports: crate::model::rdr::Ports,
    ) -> Result<Option<String>> {
        net::rdr::listener(proto, ports)
    }

    fn mount_running(&self, name: &str, entry: &MountEntry) -> Result<()> {
        exec::inject::mount_into(&self.paths, name, entry)
    }

    fn install_host_packages(&self, _name: &str, _packages: &[String]) -> Result<()> {
        Err(Error::Unavailable(
            "installing with the host's pkg (pkg -j) needs FreeBSD; use PKG".into(),
        ))
    }

    fn running_root(&self, name: &str) -> Result<Option<OwnedFd>> {
        start::pins::open_peer_root(&self.paths, name)
    }

    fn claim_id_range(&self, name: &str, params: &Params) -> Result<Option<u32>> {
        if !wants_user_namespace(params) {
            return Ok(None);
        }
        idmap::claim(&self.paths, name, params.int("jkit.idbase")).map(Some)
    }

    fn check_id_mapping(&self, base: u32, binds: &[MountEntry]) -> Result<()> {
        idmap::check_binds(&self.paths, base, binds)
    }

    fn filesystem_sync(&self) -> Option<fn(&fs::File) -> std::io::Result<()>> {
        Some(|dir| nix::unistd::syncfs(dir).map_err(std::io::Error::from))
    }

    fn file_caps(&self) -> &'static dyn crate::fsio::tree::FileCaps {
        &idmap::XattrCaps
    }

    fn release_id_range(&self, name: &str, base: Option<u32>) -> Result<()> {
        idmap::release(&self.paths, name, base)
    }

    /// A definition written by hand without `jkit.idbase` whose root is
    /// not a tree of its own runs without a user namespace: warned about
    /// too (see [`handwritten`]); so is a kernel without Landlock's scopes
    /// (see [`landlock`]).
    fn isolation_warnings(&self, def: &Jail) -> Vec<String> {
        let mut warnings = Vec::new();
        if !wants_user_namespace(&def.params) {
            warnings.push("jkit.userns=0: root in this jail is the host's root".into());
        } else if def.params.get("jkit.idbase").is_none() {
            let root = crate::backend::root_of(def).ok();
            let shared_root = root.as_deref().and_then(handwritten::not_own_tree);
            match shared_root {
                Some(why) => warnings.push(format!("{why}: root in this jail is the host's root")),
                None => warnings.extend(
                    root.and_then(|r| handwritten::foreign_owner(&self.paths, &def.name, &r)),
                ),
            }
        }
        warnings.extend(landlock::warning());
        warnings
    }

    fn prepare_jails_dir(&self, dir: &Path) {
        spread_subdirectories(dir);
    }

    fn clone_storage(
        &self,
        src_root: &Path,
        root: &Path,
        jail_dir: &Path,
        ids: Option<u32>,
    ) -> Result<Option<MountEntry>> {
        // The source's files shown in the clone's id range at start (see
        // start::userns).
        self.layered_root(
            &[src_root.to_path_buf()],
            root,
            jail_dir,
            ids,
            super::OwnLayer::Beside,
        )
    }

    fn layers_roots(&self) -> bool {
        true
    }

    /// An overlay, mounted by the jail at start over its root, each lower
    /// layer shown in the jail's id range (see start::userns).
    fn layered_root(
        &self,
        lowers: &[PathBuf],
        root: &Path,
        jail_dir: &Path,
        ids: Option<u32>,
        own: super::OwnLayer,
    ) -> Result<Option<MountEntry>> {
        // overlayfs's options separate layers with ':' and options with ','.
        let layers = lowers.iter().map(PathBuf::as_path).chain([jail_dir]);
        if let Some(bad) = layers
            .into_iter()
            .find(|p| p.to_string_lossy().contains([':', ',']))
        {
            return Err(Error::Usage(format!(
                "{}: a ':' or ',' in the path: it cannot be an overlay's layer",
                bad.display()
            )));
        }
        let work = jail_dir.join("overlay/work");
        let owners = crate::fsio::tree::Owners {
            base: ids,
            caps: &idmap::XattrCaps,
        };
        mkdir(&jail_dir.join("overlay"), 0o700)?;
        mkdir(&work, 0o700)?;
        // The top of the overlay is its upper directory's. A root that is
        // its own layer may hold the jail's files already (an import).
        let made =
            own == super::OwnLayer::Root && fs::symlink_metadata(root).is_ok_and(|m| m.is_dir());
        if !made {
            owners.mkdir(root, 0o755)?;
        }
        let upper = match own {
            super::OwnLayer::Root => root.to_path_buf(),
            super::OwnLayer::Beside => {
                let upper = jail_dir.join("overlay/upper");
                owners.mkdir(&upper, 0o755)?;
                upper
            }
        };
        let lowerdir: Vec<String> = lowers
            .iter()
            .map(|l| l.to_string_lossy().into_owned())
            .collect();
        Ok(Some(MountEntry {
            source: "overlay".into(),
            target: root.to_path_buf(),
            fstype: "overlay".into(),
            options: vec![
                format!("lowerdir={}", lowerdir.join(":")),
                format!("upperdir={}", upper.display()),
                format!("workdir={}", work.display()),
            ],
        }))
    }

    fn visit(&self, dying: bool, each: &mut dyn FnMut(Jail) -> Result<()>) -> Result<()> {
        let Some(walk) = state::Walk::open(&self.paths)? else {
            return Ok(());
        };
        let host = Host::now();
        // A broken state file hides only its own jail: the others are
        // visited, and its error comes last.
        let mut broken: Option<Error> = None;
        let mut more = 0;
        for st in walk {
            match st {
                Ok(st) => {
                    if let Some(jail) = live_view(st, dying, &host) {
                        each(jail)?;
                    }
                }
                Err(e) if broken.is_none() => broken = Some(e),
                Err(_) => more += 1,
            }
        }
        match broken {
            None => Ok(()),
            Some(e) if more == 0 => Err(e),
            Some(e) => Err(Error::BadData(format!(
                "{e} (and {more} more unreadable state files)"
            ))),
        }
    }

    /// One jail by its own state file, without listing the others.
    fn find(&self, key: &JailKey, dying: bool) -> Result<Option<Jail>> {
        let Some(name) = self.state_name(key) else {
            return Ok(None);
        };
        let Some(st) = state::read_typed(&self.paths, &name)? else {
            return Ok(None);
        };
        if matches!(key, JailKey::Jid(j) if *j != st.jid) {
            return Ok(None);
        }
        Ok(live_view(st, dying, &Host::now()))
    }

    fn support(&self, name: &str, value: &Value) -> Support {
        params::support(name, value)
    }

    fn alias_commands(&self, _def: &Jail, _up: bool) -> Vec<Vec<String>> {
        // A jail's addresses are on its own veth (see `net`).
        Vec::new()
    }

    fn attach_commands(&self, _def: &Jail, _jid: i64) -> Vec<(Vec<String>, Option<Vec<String>>)> {
        // `create` moves `vnet.interface` in; `zfs.dataset` is refused.
        Vec::new()
    }

    fn mount(&self, def: &Jail) -> Result<()> {
        // Mounted in the jail's own mount namespace when it is created:
        // only the plan is checked here.
        let root = super::root_of(def)?;
        mounts::planned(def, &root).map(drop)
    }

    fn create(&self, def: &Jail) -> Result<Jail> {
        // What a start killed half-way left; state and pins only exist
        // once the runtime directory does, so most starts skip this.
        if self.paths.run_jail_dir(&def.name).exists() {
            // An unreadable state file may be a running jail's: not ended
            // by a start, only by a stop.
            if let Err(Error::BadData(why)) = state::read(&self.paths, &def.name) {
                return Err(Error::BadData(format!(
                    "{why} (a stop of the jail ends it and removes its runtime)"
                )));
            }
            self.clean(&def.name, Some(def))?;
        }
        if let Some(st) = state::read(&self.paths, &def.name)? {
            if st.alive() {
                return Err(Error::Exists(format!(
                    "jail \"{}\" is already running",
                    def.name
                )));
            }
        }
        let with_range = self.with_id_range(def)?;
        let def = with_range.as_ref().unwrap_or(def);
        state::make_dir(&self.paths, &def.name)?;
        let jid = match state::anonymous_reservation(&self.paths, &def.name) {
            Some(jid) => jid,
            None => state::reserve_jid(&self.paths, &def.name)?,
        };
        match start::create(&self.paths, def, jid) {
            Ok((st, hold)) => {
                self.holds().insert(def.name.clone(), hold);
                let params = params_of(&st);
                Ok(view(st.name, st.jid, params, State::Running, &Host::now()))
            }
            Err(e) => {
                // The start's own failure is the one to report (its cause,
                // with its class); what this clean-up cannot undo, the
                // next start or clean of the jail does.
                let _ = self.clean(&def.name, Some(def));
                Err(e)
            }
        }
    }

    fn anonymous_name(&self) -> Result<String> {
        state::reserve_anonymous(&self.paths)
    }

    fn release_anonymous(&self, name: &str) -> Result<()> {
        match state::anonymous_reservation(&self.paths, name) {
            Some(jid) if self.find(&JailKey::Jid(jid), true)?.is_none() => {
                state::release_jid(&self.paths, name, jid)
            }
            _ => Ok(()),
        }
    }

    fn settle(&self, jail: &Jail, _def: &Jail) -> Result<bool> {
        let Some(hold) = self.holds().remove(&jail.name) else {
            return Ok(self
                .find(&JailKey::Name(jail.name.clone()), false)?
                .is_some());
        };
        let alive = start::settle(hold);
        if !alive {
            self.remove_runtime(&jail.name)?;
        }
        Ok(alive)
    }

    fn terminate(&self, jail: &Jail, timeout: Duration) -> Result<()> {
        let name = &jail.name;
        let Some(mut st) = state::read(&self.paths, name)? else {
            return Err(Error::NotFound(format!("jail \"{name}\" not found")));
        };
        let Some(init) = st.init.filter(|i| i.alive()) else {
            return Ok(());
        };
        st.phase = Phase::Dying;
        st.owner = ProcId::current();
        state::write(&self.paths, &st)?;
        let pid = Pid::from_raw(init.pid);
        let fd = sys::pidfd_open(pid).what(|| format!("{name}: pidfd_open"))?;
        // The init passes SIGTERM on to every process of the jail and ends
        // when none is left. The init of a jail started by an older jkit
        // does not know the request and stops on SIGTERM instead (today's
        // ignores signals). An init that hears neither is killed by
        // `remove` once the wait is over.
        let _ = exec::relay::request_stop(&self.paths.run_jail_dir(name));
        let _ = kill(pid, Signal::SIGTERM);
        wait_exit(&fd, timeout);
        Ok(())
    }

    fn remove(&self, jail: &Jail) -> Result<()> {
        let name = &jail.name;
        self.holds().remove(name);
        let Some(mut st) = state::read(&self.paths, name)? else {
            return Err(Error::NotFound(format!("jail \"{name}\" not found")));
        };
        if let Some(init) = st.init.filter(|i| i.alive()) {
            st.phase = Phase::Dying;
            st.owner = ProcId::current();
            state::write(&self.paths, &st)?;
            let pid = Pid::from_raw(init.pid);
            let fd = sys::pidfd_open(pid).what(|| format!("{name}: pidfd_open"))?;
            // The end of a pid namespace's init kills everything in it.
            let _ = kill(pid, Signal::SIGKILL);
            if !wait_exit(&fd, Duration::from_secs(10)) {
                return Err(Error::TempFail(format!(
                    "{name}: init {} did not exit",
                    init.pid
                )));
            }
        }
        self.remove_runtime(name)
    }

    fn unmount(&self, _name: &str, _def: Option<&Jail>) -> Result<()> {
        // The jail's mounts lived in its own mount namespace, gone with it.
        Ok(())
    }

    fn update(&self, jail: &Jail, changes: &Params) -> Result<()> {
        match changes.iter().next() {
            None => Ok(()),
            Some((n, _)) => Err(Error::Unavailable(format!(
                "{}: {n} cannot be changed after creation",
                jail.name
            ))),
        }
    }

    fn updatable(&self, _name: &str) -> bool {
        false
    }

    /// A jail whose state file is unreadable is ended too: its processes
    /// through its cgroup, as its runtime is removed.
    fn clean(&self, name: &str, _def: Option<&Jail>) -> Result<()> {
        let st = match state::read(&self.paths, name) {
            Err(Error::BadData(_)) => None,
            other => other?,
        };
        if let Some(st) = st {
            // A start killed half-way, or one that failed in this very
            // process (its init is not recorded until it runs).
            let abandoned = st.phase == Phase::Starting
                && (st.owner.pid == std::process::id() as i32 || !st.owner.alive());
            if st.alive() && !abandoned {
                return Ok(());
            }
            // A start that was killed half-way: its init may still wait.
            if let Some(init) = st.init.filter(|i| i.alive()) {
                let pid = Pid::from_raw(init.pid);
                if let Ok(fd) = sys::pidfd_open(pid) {
                    let _ = kill(pid, Signal::SIGKILL);
                    wait_exit(&fd, Duration::from_secs(10));
                }
            }
        }
        self.remove_runtime(name)
    }

    fn exec(&self, jail: &Jail, spec: &ExecSpec) -> Result<Exit> {
        exec::run(&self.paths, &jail.name, spec)
    }

    /// Straight from the jail's state file to the exec (the view that
    /// [`Backend::find`] builds is not needed).
    fn exec_key(&self, key: &JailKey, spec: &ExecSpec) -> Result<Option<Exit>> {
        let Some(name) = self.state_name(key) else {
            return Ok(None);
        };
        let jid = match key {
            JailKey::Jid(j) => Some(*j),
            JailKey::Name(_) => None,
        };
        // Running, as `find` would show it (not dying).
        let running =
            |s: &state::RunState| s.phase == Phase::Running && jid.is_none_or(|j| j == s.jid);
        exec::run_if(&self.paths, &name, running, spec)
    }
}

/// Run `body` in a forked child that ends with the status it returns
/// ([`crate::backend::fork_child`]).
pub(crate) fn fork_child(body: impl FnOnce() -> i32) -> Result<Pid> {
    match sys::fork().what(|| "fork".into())? {
        ForkResult::Child => sys::exit_now(body()),
        ForkResult::Parent { child } => Ok(child),
    }
}

fn own_network(params: &Params) -> bool {
    params.sys("ip4") != Some(JailSys::Inherit) && params.sys("ip6") != Some(JailSys::Inherit)
}

/// Wait up to `timeout` for the process behind `pidfd` to exit.
fn wait_exit(pidfd: &OwnedFd, timeout: Duration) -> bool {
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    matches!(poll(&mut fds, ms), Ok(n) if n > 0)
}

/// Write runtime state (which describes namespaces, processes and cgroups
/// that end with the host's uptime, so it is never flushed) to `path`
/// atomically. An existing file is replaced by exchanging the two and
/// removing the old content: on ext4 a rename over an existing file
/// flushes the new file's data first (`auto_da_alloc`), a disk round trip
/// on every start and stop where `/run` is not a tmpfs.
pub(crate) fn write_runtime(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fsio::write_atomic_with(path, bytes, |tmp, path| {
        match sys::rename_exchange(tmp, path) {
            Ok(()) => {
                fs::remove_file(tmp).what(|| format!("remove {}", tmp.display()))?;
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::EINVAL | libc::ENOSYS)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(Error::at("exchange", path, e)),
        }
    })
}

/// Have the filesystem spread the subdirectories of `dir` (the jails'
/// directories) over its block groups, as for /home: `chattr +T`, on ext4.
/// Without a journal, ext4 skips, one by one, every inode freed in the
/// last 30 seconds when it places a new one, and a new jail's directory
/// would land in the group its parent's last destroyed jail emptied,
/// slowing a create right after a destroy. Only a hint: where the
/// filesystem has no such flag, nothing changes.
pub fn spread_subdirectories(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = sys::set_topdir_flag(&d);
    }
}

/// Make the new file `to` share the data of `from` (a reflink), where the
/// filesystem can.
pub fn clone_file(
    from: std::os::fd::BorrowedFd,
    to: std::os::fd::BorrowedFd,
) -> std::io::Result<()> {
    sys::clone_file(from, to)
}

/// Give the open file `to` the extended attributes of `from` but the
/// `security.` ones (capabilities are copied on their own terms, labels
/// are the filesystem's): ACLs, and an overlay's marks on its private
/// layer (an opaque directory, a redirect).
pub fn copy_xattrs(
    from: std::os::fd::BorrowedFd,
    to: std::os::fd::BorrowedFd,
) -> std::io::Result<()> {
    for name in sys::xattr_names(from)? {
        if name.as_bytes().starts_with(b"security.") {
            continue;
        }
        if let Some(value) = sys::xattr(from, &name)? {
            sys::set_xattr(to, &name, &value)?;
        }
    }
    Ok(())
}

/// Mount points at or under `dir`, in mount order (from mountinfo).
pub fn mounted_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let info = procfs::mountinfo().what(|| format!("read {}", procfs::MOUNTINFO))?;
    Ok(procfs::mounts_in(&info)
        .map(|m| m.point)
        .filter(|p| p.starts_with(dir))
        .collect())
}

fn to_json_map(params: &Params) -> serde_json::Map<String, serde_json::Value> {
    params
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_json()))
        .collect()
}

fn params_of(st: &RunState) -> Params {
    let mut p = Params::new();
    for (n, j) in &st.params {
        if let Some(spec) = param::spec(n) {
            if let Ok(v) = Value::from_json(n, spec.kind, j) {
                p.set(n, v);
            }
        }
    }
    p
}

/// The jail `st` describes if it is alive (and running, or dying when
/// `dying` is asked for). The phase is checked first: only a jail that
/// would be shown costs the look at its init.
fn live_view(st: state::JailState, dying: bool, host: &Host) -> Option<Jail> {
    let state = match st.phase {
        Phase::Running => State::Running,
        Phase::Dying if dying => State::Dying,
        _ => return None,
    };
    st.alive()
        .then(|| view(st.name, st.jid, st.params.0, state, host))
}

/// The jail `name` (`jid`) as FreeBSD's kernel would report it: the
/// parameters it was made with (`def`), plus what the kernel adds, in the
/// kernel's order.
fn view(name: String, jid: i64, def: Params, state: State, host: &Host) -> Jail {
    let mut p = Params::with_capacity(param::KERNEL_PARAMS.len() + 8);
    let ip_sys = |sys: &str, addr: &str| {
        def.sys(sys).unwrap_or(if def.list(addr).is_empty() {
            JailSys::Disable
        } else {
            JailSys::New
        })
    };
    let flag_or = |n: &str, d: bool| def.get(n).and_then(Value::as_bool).unwrap_or(d);
    let text = |n: &str, d: &str| Value::Str(def.str(n).unwrap_or(d).to_string());
    for spec in param::KERNEL_PARAMS {
        let n = spec.name;
        let v = match n {
            "devfs_ruleset" => {
                Value::Int(
                    def.int(n)
                        .unwrap_or(if def.flag("mount.devfs") { 4 } else { 0 }),
                )
            }
            "dying" => Value::Bool(state == State::Dying),
            "enforce_statfs" => Value::Int(def.int(n).unwrap_or(2)),
            "host" => Value::Sys(JailSys::New),
            "ip4" => Value::Sys(ip_sys("ip4", "ip4.addr")),
            "ip6" => Value::Sys(ip_sys("ip6", "ip6.addr")),
            "jid" => Value::Int(jid),
            "name" => Value::Str(name.clone()),
            "osreldate" => Value::Int(def.int(n).unwrap_or(host.osreldate)),
            "osrelease" => text(n, &host.osrelease),
            "parent" | "children.cur" => Value::Int(0),
            "path" => text(n, "/"),
            "persist" => Value::Bool(def.flag("persist")),
            "securelevel" => Value::Int(def.int(n).unwrap_or(-1)),
            "sysvmsg" | "sysvsem" | "sysvshm" => Value::Sys(JailSys::New),
            "vnet" => Value::Sys(def.sys(n).unwrap_or(JailSys::Inherit)),
            "children.max" => Value::Int(def.int(n).unwrap_or(0)),
            "host.hostname" => text(n, &host.hostname),
            "host.domainname" | "host.hostuuid" => text(n, ""),
            "host.hostid" => Value::Int(def.int(n).unwrap_or(0)),
            "ip4.addr" => Value::Ip4(net::kernel_order(def.list(n))),
            "ip6.addr" => Value::Ip6(net::kernel_order(def.list(n))),
            "ip4.saddrsel" | "ip6.saddrsel" => Value::Bool(flag_or(n, true)),
            // allow.set_hostname needs CAP_SYS_ADMIN on Linux, which only
            // allow.mount grants: report what really holds.
            "allow.set_hostname" => Value::Bool(def.flag("allow.mount")),
            "allow.reserved_ports" | "allow.suser" => Value::Bool(flag_or(n, true)),
            n if n.starts_with("allow.") => Value::Bool(flag_or(n, false)),
            _ => continue,
        };
        p.push_new(n, v);
    }
    p.append_missing(def);
    Jail {
        name,
        jid: Some(jid),
        state,
        params: p,
    }
}

/// What every jail of a listing reports of the host, from one uname(2):
/// the kernel release, a FreeBSD-style osreldate made of it (6.18.44 →
/// 618044), and the host name (a jail without `host.hostname` has it).
#[derive(Debug)]
struct Host {
    osrelease: String,
    osreldate: i64,
    hostname: String,
}

impl Host {
    fn now() -> Self {
        let (osrelease, hostname) = nix::sys::utsname::uname()
            .map(|u| {
                (
                    u.release().to_string_lossy().into_owned(),
                    u.nodename().to_string_lossy().into_owned(),
                )
            })
            .unwrap_or_default();
        let nums: Vec<i64> = osrelease
            .split(|c: char| !c.is_ascii_digit())
            .take(3)
            .map(|s| s.parse().unwrap_or(0))
            .collect();
        let osreldate = nums.first().unwrap_or(&0) * 100_000
            + nums.get(1).unwrap_or(&0) * 1000
            + nums.get(2).unwrap_or(&0);
        Host {
            osrelease,
            osreldate,
            hostname,
        }
    }
}
