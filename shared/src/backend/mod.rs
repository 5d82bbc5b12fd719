//! The Backend trait: what the tools need from the platform that holds
//! running jails, with one implementation per platform.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::exec::{ExecSpec, Exit};
use crate::model::rdr::{self, Ports, Proto, Targets};
use crate::model::{Jail, JailKey, Params, Value};
use crate::rctl::{RctlError, Rule, Usage};
use crate::wire::BackendKind;
use mounts::MountEntry;

#[cfg(test)]
pub(crate) mod fake;
pub mod freebsd;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod mounts;
pub mod remove;
pub mod storage;

/// What starting a jail did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The jail as it runs now (or as it ran, if it already ended).
    pub jail: Jail,
    /// How `command` ended, when the definition had one.
    pub command: Option<Exit>,
    /// Whether the jail is still alive after `command` ended (a persistent
    /// jail, or one with processes left).
    pub alive: bool,
}

/// What a platform does with a parameter of a jail's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// The platform does what the parameter asks.
    Yes,
    /// The parameter means nothing here: it is accepted (and reported
    /// with the jail) but does nothing.
    Ignored,
    /// The platform cannot do what the parameter asks, for this reason.
    No(String),
}

/// Where the private layer of a layered root (see
/// [`Backend::layered_root`]) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnLayer {
    /// `overlay/upper` in the jail's directory: the root on the host is
    /// only where the layers are mounted.
    Beside,
    /// The root itself: the host sees the jail's own files where they
    /// were, the shared layer's only through the jail.
    Root,
}

/// A platform that holds running jails. Creating and removing a jail are
/// jail(8)'s sequences (section 3.8 of the reference), run by
/// [`crate::ops`]: the backend provides their steps.
pub trait Backend {
    /// Which platform this is.
    fn kind(&self) -> BackendKind;

    /// The platform's resource accounting (rctl), with jail rules kept
    /// beside this backend's jail definitions.
    fn racct(&self) -> Box<dyn Racct>;

    /// Hand `each` the running jails (and dying ones if `dying`) one at a
    /// time, ascending by jid as FreeBSD's `lastjid` walk finds them, each
    /// with every parameter the platform reports. Nothing is kept of a jail
    /// once `each` has it, so a listing takes the same memory for ten jails
    /// or ten thousand. The first error (of the platform, or of `each`)
    /// ends the walk and is returned.
    fn visit(&self, dying: bool, each: &mut dyn FnMut(Jail) -> Result<()>) -> Result<()>;

    /// The running jails (and dying ones if `dying`), ascending by jid: the
    /// jails of [`Backend::visit`], all at once.
    fn list(&self, dying: bool) -> Result<Vec<Jail>> {
        let mut jails = Vec::new();
        self.visit(dying, &mut |jail| {
            jails.push(jail);
            Ok(())
        })?;
        Ok(jails)
    }

    /// [`Backend::list`], with the jails whose runtime state cannot be
    /// read left out (one broken jail never hides the others): the error
    /// naming the unreadable files comes beside the list.
    fn list_readable(&self, dying: bool) -> (Vec<Jail>, Option<Error>) {
        let mut jails = Vec::new();
        let broken = self
            .visit(dying, &mut |jail| {
                jails.push(jail);
                Ok(())
            })
            .err();
        (jails, broken)
    }

    /// One running jail by jid or name.
    fn find(&self, key: &JailKey, dying: bool) -> Result<Option<Jail>> {
        let mut found = None;
        self.visit(dying, &mut |jail| {
            if found.is_none() && key.matches(&jail) {
                found = Some(jail);
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// What this platform does with parameter `name` set to `value`.
    fn support(&self, name: &str, value: &Value) -> Support;

    /// The host commands that give jail `def` its addresses as jail(8)
    /// does, aliases on a host interface (`interface`, `IFACE|addr`):
    /// added before the jail is created (`up`), removed after it is gone,
    /// one removal for each addition, last first. None where a jail's
    /// addresses live in its own network stack.
    fn alias_commands(&self, def: &Jail, up: bool) -> Vec<Vec<String>>;

    /// The host commands that hand `vnet.interface` and `zfs.dataset` to
    /// the created jail `jid`, each with the command that takes it back
    /// if creation fails later. None where creating the jail does it.
    fn attach_commands(&self, def: &Jail, jid: i64) -> Vec<(Vec<String>, Option<Vec<String>>)>;

    /// Mount the filesystems `def` asks for (`mount`, `mount.fstab`,
    /// `mount.devfs`, `mount.fdescfs`, `mount.procfs`) where jail(8) mounts
    /// them: before the jail exists. A backend that mounts them inside the
    /// jail as it creates it only checks them here. On failure nothing
    /// stays mounted. The caller holds the jail's lock.
    fn mount(&self, def: &Jail) -> Result<()>;

    /// Create the jail `def` (typed parameters, `path` set), after
    /// [`Backend::mount`]. It lives at least until [`Backend::settle`],
    /// whether or not it is persistent, so that commands can run in it.
    /// Returns the jail as it now runs. The caller holds the jail's lock.
    fn create(&self, def: &Jail) -> Result<Jail>;

    /// The name of a new jail of the command line that has none: the jid
    /// it will have, reserved now, as the kernel names such a jail by its
    /// jid. [`Backend::create`] of a jail so named takes that jid.
    fn anonymous_name(&self) -> Result<String> {
        Err(Error::Usage(
            "a jail on the command line needs name=NAME here".into(),
        ))
    }

    /// Give back what [`Backend::anonymous_name`] reserved, for a jail
    /// that was not made or is already gone.
    fn release_anonymous(&self, _name: &str) -> Result<()> {
        Ok(())
    }

    /// Let a jail that [`Backend::create`] made live by its own `persist`:
    /// a jail that is not persistent and has no process left ends now.
    /// Returns whether it still lives.
    fn settle(&self, jail: &Jail, def: &Jail) -> Result<bool>;

    /// Send SIGTERM to every process of the running `jail` and wait up to
    /// `timeout` for them to end (`stop.timeout`).
    fn terminate(&self, jail: &Jail, timeout: Duration) -> Result<()>;

    /// Remove the running `jail`: kill what is left in it and remove it.
    fn remove(&self, jail: &Jail) -> Result<()>;

    /// Unmount what [`Backend::mount`] mounted for jail `name`, last first,
    /// after the jail is removed (`def` says what, when no record does).
    fn unmount(&self, name: &str, def: Option<&Jail>) -> Result<()>;

    /// Mount `entry` (an fstab entry whose target lies under the jail's root
    /// on the host) into the running jail `name` at once (jtpl's MOUNT).
    fn mount_running(&self, name: &str, entry: &MountEntry) -> Result<()>;

    /// Install `packages` into the running jail `name` with the host's own
    /// package manager (Bastille's HPKG, `pkg -j`).
    fn install_host_packages(&self, name: &str, packages: &[String]) -> Result<()>;

    /// Tune `dir`, the directory that holds the jails' own directories, for
    /// many directories made and removed (a hint: nothing where the
    /// filesystem has no such setting).
    fn prepare_jails_dir(&self, dir: &Path);

    /// Make the storage of a clone whose root is `root` (which must not
    /// exist) from the jail root `src_root`, with room for the clone's own
    /// files in `jail_dir`: a copy-on-write layer where the platform has
    /// one, else a copy; what the clone's root will own is the id range at
    /// `ids`, when it has one. Returns the mount the clone needs at start,
    /// if any.
    fn clone_storage(
        &self,
        src_root: &Path,
        root: &Path,
        jail_dir: &Path,
        ids: Option<u32>,
    ) -> Result<Option<MountEntry>>;

    /// Make the storage of a root at `root` (which must not exist) whose
    /// files are those of the directories `lowers` (the first on top),
    /// shared read-only, below a private layer (where `own` says) that
    /// takes the root's own changes, owned by the id range at `ids` when it has one:
    /// the mount the root needs at start (it goes over the root itself), or
    /// `None` where the platform layers no roots (the caller copies).
    fn layered_root(
        &self,
        lowers: &[PathBuf],
        root: &Path,
        jail_dir: &Path,
        ids: Option<u32>,
        own: OwnLayer,
    ) -> Result<Option<MountEntry>> {
        let _ = (lowers, root, jail_dir, ids, own);
        Ok(None)
    }

    /// Whether [`Backend::layered_root`] layers roots here.
    fn layers_roots(&self) -> bool {
        false
    }

    /// The root of the running jail `name`, open, as the host's mounts for
    /// it show it, where its path on the host does not (a layered root:
    /// see [`Backend::layered_root`]); `None` where the platform has no
    /// such view of it.
    fn running_root(&self, name: &str) -> Result<Option<std::os::fd::OwnedFd>> {
        let _ = name;
        Ok(None)
    }

    /// Claim a range of host ids for the new jail `name` whose root will be
    /// owned by it (the base `jkit.idbase` in `params` asks for, else a
    /// free one): its first id, or `None` where jails have no id range of
    /// their own (FreeBSD: a jail's root is confined by the kernel; Linux
    /// with `jkit.userns=0`). The caller holds the jail's lock.
    fn claim_id_range(&self, name: &str, params: &Params) -> Result<Option<u32>> {
        let _ = (name, params);
        Ok(None)
    }

    /// Check, once a root is built, that the read-only host directories
    /// among `binds` can be shown to a jail whose range starts at `base`
    /// as they are on the host (Linux: idmapped mounts).
    fn check_id_mapping(&self, base: u32, binds: &[MountEntry]) -> Result<()> {
        let _ = (base, binds);
        Ok(())
    }

    /// The platform's access to file capabilities, which the files of a
    /// jail's root keep when they are copied or given to its id range.
    fn file_caps(&self) -> &'static dyn crate::fsio::tree::FileCaps {
        &crate::fsio::tree::NoFileCaps
    }

    /// The platform's sync of one filesystem: write out what is written
    /// but not yet on disk in the filesystem of an open directory, and wait
    /// for it; `None` where it has none.
    fn filesystem_sync(&self) -> Option<fn(&std::fs::File) -> std::io::Result<()>> {
        None
    }

    /// Drop the id range of jail `name` (none is fine); `base`, its first
    /// id when the definition tells it, spares looking through every
    /// jail's claim.
    fn release_id_range(&self, name: &str, base: Option<u32>) -> Result<()> {
        let _ = (name, base);
        Ok(())
    }

    /// One line for each way the jail `def` is less isolated than the
    /// platform's jails are by default, for a create or start to warn.
    fn isolation_warnings(&self, def: &Jail) -> Vec<String> {
        let _ = def;
        Vec::new()
    }

    /// Refuse a definition this platform could not start, as far as that
    /// can be told without starting it (what a start checks before it makes
    /// anything), so that a change to it can be refused before it is
    /// written. The platform's kernel judges the rest when it starts.
    fn check_startable(&self, def: &Jail) -> Result<()> {
        let _ = def;
        Ok(())
    }

    /// Forward host ports to the running jail `name` as `rules` say, to its
    /// addresses `targets`, in place of what it forwarded before; no rules
    /// drop its forwarding (nothing when it has none). The caller has
    /// checked the rules (addresses, other jails, host listeners).
    fn redirect(&self, name: &str, targets: &Targets, rules: &[rdr::Rule]) -> Result<()>;

    /// A line naming the host process whose socket `proto` forwarding of
    /// `ports` would take the traffic of (a TCP listener, a bound UDP
    /// socket), if any.
    fn port_listener(&self, proto: Proto, ports: Ports) -> Result<Option<String>>;

    /// Set `changes` (parameters that may change while a jail runs) on the
    /// running `jail` (`jmk -m`).
    fn update(&self, jail: &Jail, changes: &Params) -> Result<()>;

    /// Whether parameter `name` may be changed on a running jail.
    fn updatable(&self, name: &str) -> bool;

    /// Remove whatever a start or stop that was killed half-way left behind
    /// for the jail `name` (runtime state, mounts, processes). Does nothing
    /// when there is nothing to clean. The caller holds the jail's lock.
    fn clean(&self, name: &str, def: Option<&Jail>) -> Result<()>;

    /// Run `spec` inside the running `jail` as a child of this process, with
    /// jexec(8)'s steps in its order (enter the jail, working directory,
    /// user, group, login class, environment, exec), and wait for it.
    /// Failures before the command runs are errors carrying jexec's
    /// messages and statuses (see [`crate::exec`]).
    fn exec(&self, jail: &Jail, spec: &ExecSpec) -> Result<Exit>;

    /// [`Backend::exec`] for the last command this process runs: where a
    /// process can enter a jail itself (FreeBSD's jail_attach), this process
    /// becomes the command, as jexec does, and the call returns only on
    /// failure. Elsewhere (Linux: a pid namespace holds only the children of
    /// whoever joins it) the command runs as a child and is waited for.
    fn exec_replace(&self, jail: &Jail, spec: &ExecSpec) -> Result<Exit> {
        self.exec(jail, spec)
    }

    /// jexec with one jail operand: [`Backend::exec_replace`] in the
    /// running jail `key` names (not jid 0), or `None` when no running jail
    /// has that name or jid. A backend may go there without building the
    /// jail's whole [`Backend::find`] view.
    fn exec_key(&self, key: &JailKey, spec: &ExecSpec) -> Result<Option<Exit>> {
        match self.find(key, false)? {
            Some(jail) => self.exec_replace(&jail, spec).map(Some),
            None => Ok(None),
        }
    }
}

/// What a platform provides, shaped like FreeBSD's five system calls: each
/// takes rule or filter text as rctl passes it to the kernel (abbreviations
/// expanded, users as uids, amounts as plain integers).
pub trait Racct {
    /// `rctl_add_rule(2)`: add a rule (replacing an identical one, and for
    /// `deny` one that differs only in amount).
    fn add_rule(&self, rule: &str) -> Result<(), RctlError>;
    /// `rctl_remove_rule(2)`: remove every rule the filter matches; ESRCH
    /// when none does.
    fn remove_rule(&self, filter: &str) -> Result<(), RctlError>;
    /// `rctl_get_rules(2)`: the rules the filter matches, in listing order.
    fn get_rules(&self, filter: &str) -> Result<Vec<Rule>, RctlError>;
    /// `rctl_get_racct(2)`: the usage of the filter's subject.
    fn get_racct(&self, filter: &str) -> Result<Usage, RctlError>;
    /// `rctl_get_limits(2)`: the rules that apply to the filter's process.
    fn get_limits(&self, filter: &str) -> Result<Vec<Rule>, RctlError>;
    /// Whether this platform can enforce `rule` for any jail: what
    /// [`Racct::add_rule`] refuses whatever the jail. FreeBSD's kernel
    /// takes what it parses and its own checks allow.
    fn can_enforce(&self, rule: &Rule) -> Result<(), RctlError> {
        rule.check_kernel()
    }
    /// Drop whatever the platform itself holds for jail `name` once the
    /// jail is destroyed (its rules file is the caller's).
    fn forget_jail(&self, name: &str) {
        let _ = name;
    }
}

/// Which backend [`native`] gives on the platform this binary was built for.
pub fn native_kind() -> BackendKind {
    if cfg!(target_os = "freebsd") {
        BackendKind::Freebsd
    } else {
        BackendKind::Linux
    }
}

/// The backend of the platform this binary runs on.
pub fn native(paths: &crate::paths::Paths) -> Result<Box<dyn Backend>> {
    #[cfg(target_os = "linux")]
    {
        Ok(Box::new(linux::Linux::new(paths.clone())))
    }
    #[cfg(target_os = "freebsd")]
    {
        Ok(Box::new(freebsd::FreeBsd::new(paths.clone())))
    }
    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    {
        let _ = paths;
        Err(Error::Unavailable("jails need FreeBSD or Linux".into()))
    }
}

/// The body of `jkit-init`, the program a Linux jail's init execs once
/// the jail is set up (see `linux::start::program`); its exit status.
pub fn serve_as_jail_init() -> Result<u8> {
    #[cfg(target_os = "linux")]
    {
        linux::start::program::serve(std::env::args_os())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(Error::Unavailable(
            "the init of a Linux jail: FreeBSD's jails have none".into(),
        ))
    }
}

/// Run `body` in a child forked from this process, which ends with the
/// status `body` returns; the child's pid. Only for single-threaded
/// callers (the binaries), as the child runs arbitrary code.
pub fn fork_child(body: impl FnOnce() -> i32) -> Result<nix::unistd::Pid> {
    #[cfg(target_os = "linux")]
    {
        linux::fork_child(body)
    }
    #[cfg(target_os = "freebsd")]
    {
        freebsd::fork_child(body)
    }
    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    {
        let _ = body;
        Err(Error::Unavailable("fork needs FreeBSD or Linux".into()))
    }
}

/// The absolute root directory of a definition, checked as jail(8) does.
pub fn root_of(def: &Jail) -> Result<PathBuf> {
    let path = def
        .params
        .str("path")
        .ok_or_else(|| Error::Config(format!("{}: no path is set", def.name)))?;
    let p = crate::fsio::raw::path(path);
    if !p.is_absolute() {
        return Err(Error::Config(format!(
            "{}: path {path}: not an absolute pathname",
            def.name
        )));
    }
    if !p.is_dir() {
        return Err(Error::NotFound(format!(
            "{}: path {path}: No such file or directory",
            def.name
        )));
    }
    Ok(p)
}
