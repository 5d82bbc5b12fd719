//! The FreeBSD backend's kernel side: the [`Backend`] over the jail system
//! calls, whose encoding lives in [`super::jailparam`]; the system calls
//! themselves in `sys`.

mod exec;
mod mount;
pub mod racct;
mod sys;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use libc::c_int;
use nix::errno::Errno;

use super::errors;
use super::jailparam::{
    self, ARRAY_SANITY, GetKey, JAIL_CREATE, JAIL_DYING, JAIL_UPDATE, ParamInfo, Request,
};
use super::kernel::{self, ParamTable};
use super::mounts::{self, MountsRecord};
use super::network;
use crate::backend::mounts::MountEntry;
use crate::backend::{self, Backend, Support};
use crate::error::{Error, Result};
use crate::exec::{ExecSpec, Exit};
use crate::model::{Jail, JailKey, Params, State, Value, param};
use crate::paths::Paths;
use crate::wire::BackendKind;

/// The jails of the FreeBSD kernel.
#[derive(Debug)]
pub struct FreeBsd {
    paths: Paths,
    params: OnceLock<ParamTable>,
}

impl FreeBsd {
    /// The backend, keeping its runtime records under `paths`.
    pub fn new(paths: Paths) -> Self {
        FreeBsd {
            paths,
            params: OnceLock::new(),
        }
    }

    /// The kernel's parameters (read once), or jkit's table of them when
    /// the sysctls cannot be read.
    fn table(&self) -> &ParamTable {
        self.params
            .get_or_init(|| ParamTable::load(&sys::HostKernel))
    }

    fn params(&self) -> &[ParamInfo] {
        self.table().params()
    }

    /// The native type of parameter `name`: the kernel's (its module
    /// loaded when it provides it), or jkit's when the kernel cannot be
    /// asked.
    fn info(&self, name: &str) -> Result<Option<ParamInfo>> {
        self.table().info(&sys::HostKernel, name)
    }

    /// One jail with every parameter, or `None` when the kernel has no jail
    /// for `key` (for `LastJid`: no jail after it).
    fn fetch(&self, key: &GetKey, dying: bool) -> Result<Option<(c_int, Jail)>> {
        let flags = if dying { JAIL_DYING } else { 0 };
        // Copied only when this kernel refuses one of them.
        let mut params = Cow::Borrowed(self.params());
        let mut resized = 0;
        loop {
            let mut sizing = jailparam::sizing_request(key, &params)?;
            if let Some(req) = sizing.as_mut() {
                match sys::jail_get(req, flags) {
                    Ok(_) => {}
                    Err(Errno::ENOENT) => return Ok(None),
                    Err(e) if drop_unknown(params.to_mut(), e, req) => continue,
                    Err(e) => {
                        return Err(errors::kernel_error("jail_get", e as i32, req.errmsg()));
                    }
                }
            }
            let mut req = jailparam::fetch_request(key, &params, sizing.as_ref())?;
            match sys::jail_get(&mut req, flags) {
                Ok(jid) => return jailparam::jail_of(&req, &params, jid).map(|j| Some((jid, j))),
                Err(Errno::ENOENT) => return Ok(None),
                Err(e) if drop_unknown(params.to_mut(), e, &req) => {}
                // An array grew between the sizing call and this one.
                Err(Errno::EINVAL)
                    if req.errmsg().is_none() && sizing.is_some() && resized < ARRAY_SANITY =>
                {
                    resized += 1;
                }
                Err(e) => return Err(errors::kernel_error("jail_get", e as i32, req.errmsg())),
            }
        }
    }

    fn record(&self, name: &str) -> PathBuf {
        mount::record_path(&self.paths, name)
    }

    /// What jail `name` has mounted: the record its start wrote, else what
    /// its definition asks for (under the definition's path, or `path`).
    fn mounts_of(&self, name: &str, def: Option<&Jail>, path: &str) -> Result<MountsRecord> {
        if let Some(recorded) = mount::read_record(&self.record(name))? {
            return Ok(recorded);
        }
        let Some(def) = def else {
            return Ok(MountsRecord {
                root: PathBuf::from(path),
                mounts: Vec::new(),
            });
        };
        let root = PathBuf::from(if def.path().is_empty() {
            path
        } else {
            def.path()
        });
        let mounts = mounts::jail_mounts(def, &root)?;
        Ok(MountsRecord { root, mounts })
    }

    /// Unmount what `record` lists (last first) and forget the record once
    /// all of it is unmounted.
    fn unmount_record(&self, name: &str, record: &MountsRecord) -> Result<()> {
        mount::unmount_all(&record.mounts, &record.root)?;
        mount::remove_record(&self.record(name))
    }

    /// The running jail `jail` still is: its jid, unless that jid now
    /// belongs to another jail. `None` when it is gone.
    fn current(&self, jail: &Jail) -> Result<Option<c_int>> {
        let jid =
            jid_of(jail).ok_or_else(|| Error::NotFound(format!("{}: not running", jail.name)))?;
        match self.fetch(&GetKey::Jid(jid), true)? {
            Some((_, now)) if now.name != jail.name => Err(Error::NotFound(format!(
                "{}: jail {jid} is now \"{}\"",
                jail.name, now.name
            ))),
            Some(_) => Ok(Some(jid)),
            None => Ok(None),
        }
    }
}

/// Whether the failed call `req` named a parameter this kernel does not
/// have (`unknown parameter: NAME`), which is then dropped from `params`.
fn drop_unknown(params: &mut Vec<ParamInfo>, errno: Errno, req: &Request) -> bool {
    if errno != Errno::EINVAL {
        return false;
    }
    let msg = req.errmsg();
    let Some(name) = msg.as_deref().and_then(errors::unknown_parameter) else {
        return false;
    };
    let before = params.len();
    params.retain(|p| p.name != name || matches!(name, "jid" | "name"));
    params.len() < before
}

/// Run `body` in a forked child that ends with the status it returns
/// ([`crate::backend::fork_child`]).
pub(crate) fn fork_child(body: impl FnOnce() -> i32) -> Result<nix::unistd::Pid> {
    match sys::fork().map_err(|e| Error::os("fork", e))? {
        nix::unistd::ForkResult::Child => sys::exit_now(body()),
        nix::unistd::ForkResult::Parent { child } => Ok(child),
    }
}

fn jid_of(jail: &Jail) -> Option<c_int> {
    jail.jid.and_then(|j| c_int::try_from(j).ok())
}

impl Backend for FreeBsd {
    fn kind(&self) -> BackendKind {
        BackendKind::Freebsd
    }

    fn racct(&self) -> Box<dyn crate::backend::Racct> {
        Box::new(racct::FreeBsdRacct::new(self.paths.clone()))
    }

    fn mount_running(&self, _name: &str, entry: &MountEntry) -> Result<()> {
        mount::run_mount_program(entry)
    }

    fn redirect(
        &self,
        name: &str,
        targets: &crate::model::rdr::Targets,
        rules: &[crate::model::rdr::Rule],
    ) -> Result<()> {
        use std::io::Write;
        let argv = if rules.is_empty() {
            network::pfctl_flush(name)
        } else {
            network::pfctl_load(name)
        };
        let mut child = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| Error::os("run pfctl", e))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(network::pf_rules(targets, rules).as_bytes())
                .map_err(|e| Error::os("write to pfctl", e))?;
        }
        let st = child.wait().map_err(|e| Error::os("wait for pfctl", e))?;
        // Flushing an anchor that was never loaded fails: nothing to drop.
        if st.success() || rules.is_empty() {
            Ok(())
        } else {
            Err(Error::Unavailable(format!(
                "pfctl could not load the rdr rules of anchor {} (is pf enabled, with rdr-anchor \"jkit/*\" in pf.conf?)",
                network::anchor(name)
            )))
        }
    }

    fn port_listener(
        &self,
        proto: crate::model::rdr::Proto,
        ports: crate::model::rdr::Ports,
    ) -> Result<Option<String>> {
        let argv = network::sockstat_command(proto, ports);
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .map_err(|e| Error::os("run sockstat", e))?;
        Ok(network::listener_of(
            proto,
            &String::from_utf8_lossy(&out.stdout),
        ))
    }

    fn install_host_packages(&self, name: &str, packages: &[String]) -> Result<()> {
        let st = std::process::Command::new("pkg")
            .args(["-j", name, "install", "-y"])
            .args(packages)
            .status()
            .map_err(|e| Error::os("run pkg", e))?;
        if st.success() {
            Ok(())
        } else {
            Err(Error::Compat {
                msg: format!("pkg -j {name} install failed"),
                code: 1,
            })
        }
    }

    fn prepare_jails_dir(&self, _dir: &Path) {}

    fn clone_storage(
        &self,
        src_root: &Path,
        root: &Path,
        _jail_dir: &Path,
        _ids: Option<u32>,
    ) -> Result<Option<MountEntry>> {
        // A ZFS clone when the source is a dataset's mount point, else a copy.
        if let Some(dataset) = zfs_dataset_of(src_root) {
            let snap = format!("{dataset}@jkit-clone-{}", std::process::id());
            let target = format!(
                "{}/{}",
                dataset
                    .rsplit_once('/')
                    .map_or(dataset.as_str(), |(p, _)| p),
                root.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            run_zfs(&["snapshot", &snap])?;
            run_zfs(&[
                "clone",
                "-o",
                &format!("mountpoint={}", root.display()),
                &snap,
                &target,
            ])?;
        } else {
            crate::fsio::tree::copy_tree(src_root, root)?;
        }
        Ok(None)
    }

    fn visit(&self, dying: bool, each: &mut dyn FnMut(Jail) -> Result<()>) -> Result<()> {
        let mut last = 0;
        while let Some((jid, jail)) = self.fetch(&GetKey::LastJid(last), dying)? {
            last = jid;
            each(jail)?;
        }
        Ok(())
    }

    fn find(&self, key: &JailKey, dying: bool) -> Result<Option<Jail>> {
        let key = match key {
            JailKey::Jid(j) => match c_int::try_from(*j) {
                Ok(j) => GetKey::Jid(j),
                Err(_) => return Ok(None),
            },
            JailKey::Name(n) => GetKey::Name(n.clone()),
        };
        Ok(self.fetch(&key, dying)?.map(|(_, jail)| jail))
    }

    fn support(&self, name: &str, _value: &Value) -> Support {
        if name.starts_with("jkit.") {
            // jmk's Linux networking knobs.
            return Support::Ignored;
        }
        // The kernel is the judge: jail_set(2) names what it refuses.
        Support::Yes
    }

    fn alias_commands(&self, def: &Jail, up: bool) -> Vec<Vec<String>> {
        network::alias_commands(&def.params, up)
    }

    fn attach_commands(&self, def: &Jail, jid: i64) -> Vec<(Vec<String>, Option<Vec<String>>)> {
        let datasets = def
            .params
            .list("zfs.dataset")
            .iter()
            .map(|d| (network::zfs_command(d, jid), None));
        let ifaces = def.params.list("vnet.interface").iter().map(|i| {
            (
                network::vnet_command(i, jid, true),
                Some(network::vnet_command(i, jid, false)),
            )
        });
        datasets.chain(ifaces).collect()
    }

    fn mount(&self, def: &Jail) -> Result<()> {
        let root = backend::root_of(def)?;
        let record = MountsRecord {
            mounts: mounts::jail_mounts(def, &root)?,
            root,
        };
        if record.mounts.is_empty() {
            return Ok(());
        }
        let path = self.record(&def.name);
        mount::write_record(&path, &record)?;
        let mut done = 0;
        let mounted: Result<()> = record.mounts.iter().try_for_each(|e| {
            mounts::check_no_symlinks(&record.root, &e.target)?;
            mount::mount(e)?;
            done += 1;
            Ok(())
        });
        if let Err(e) = mounted {
            // Undo what was mounted; what cannot be undone stays recorded
            // for `clean`.
            if mount::unmount_all(&record.mounts[..done], &record.root).is_ok() {
                let _ = mount::remove_record(&path);
            }
            return Err(e.context(&def.name));
        }
        Ok(())
    }

    fn create(&self, def: &Jail) -> Result<Jail> {
        if self
            .fetch(&GetKey::Name(def.name.clone()), false)?
            .is_some()
        {
            return Err(Error::Exists(format!("\"{}\" already exists", def.name)));
        }
        backend::root_of(def)?;
        // The jail's kept rctl rules hold from its first process on.
        racct::apply_stored(&self.paths, &def.name)?;
        // Persistent until `settle`, so that the commands can run in it.
        let mut req = jailparam::create_request(def, |n| self.info(n), true)?;
        let jid = sys::jail_set(&mut req, JAIL_CREATE).map_err(|e| {
            errors::kernel_error("jail_set", e as i32, req.errmsg()).context(&def.name)
        })?;
        Ok(match self.fetch(&GetKey::Jid(jid), true)? {
            Some((_, jail)) => jail,
            None => Jail {
                jid: Some(i64::from(jid)),
                state: State::Running,
                ..def.clone()
            },
        })
    }

    /// The lowest jid no jail has: the jail asks the kernel for it
    /// ([`jailparam::create_request`]).
    fn anonymous_name(&self) -> Result<String> {
        let mut taken = Vec::new();
        self.visit(true, &mut |j| {
            taken.extend(j.jid);
            Ok(())
        })?;
        taken.sort_unstable();
        let mut next = 1;
        for jid in taken {
            if jid == next {
                next += 1;
            }
        }
        Ok(next.to_string())
    }

    fn settle(&self, jail: &Jail, def: &Jail) -> Result<bool> {
        let Some(jid) = self.current(jail)? else {
            return Ok(false);
        };
        if !def.params.flag("persist") {
            let mut req = jailparam::nopersist_request(jid)?;
            match sys::jail_set(&mut req, JAIL_UPDATE) {
                // ENOENT: it ended meanwhile.
                Ok(_) | Err(Errno::ENOENT) => {}
                Err(e) => {
                    return Err(errors::kernel_error("jail_set", e as i32, req.errmsg())
                        .context(&jail.name));
                }
            }
        }
        Ok(self.fetch(&GetKey::Jid(jid), false)?.is_some())
    }

    fn terminate(&self, jail: &Jail, timeout: Duration) -> Result<()> {
        match self.current(jail)? {
            Some(jid) => kernel::term_procs(&sys::HostKernel, jid, timeout)
                .map(drop)
                .map_err(|e| Error::os(format!("{}: stop the jail's processes", jail.name), e)),
            _ => Ok(()),
        }
    }

    fn remove(&self, jail: &Jail) -> Result<()> {
        let Some(jid) = self.current(jail)? else {
            return Ok(());
        };
        match sys::jail_remove(jid) {
            // EINVAL: the jail went away by itself meanwhile.
            Ok(()) | Err(Errno::EINVAL) => Ok(()),
            Err(e) => Err(Error::os(format!("{}: jail_remove: {jid}", jail.name), e)),
        }
    }

    fn unmount(&self, name: &str, def: Option<&Jail>) -> Result<()> {
        let mounts = self.mounts_of(name, def, def.map_or("", Jail::path))?;
        self.unmount_record(name, &mounts)
            .map_err(|e| e.context(name))
    }

    fn update(&self, jail: &Jail, changes: &Params) -> Result<()> {
        let jid = self
            .current(jail)?
            .ok_or_else(|| Error::NotFound(format!("\"{}\" not found", jail.name)))?;
        let mut req = jailparam::update_request(jid, changes, |n| self.info(n))?;
        sys::jail_set(&mut req, JAIL_UPDATE).map(drop).map_err(|e| {
            errors::kernel_error("jail_set", e as i32, req.errmsg()).context(&jail.name)
        })
    }

    fn updatable(&self, name: &str) -> bool {
        matches!(self.info(name), Ok(Some(p)) if p.access == param::Access::ReadWrite)
    }

    fn clean(&self, name: &str, def: Option<&Jail>) -> Result<()> {
        if self
            .fetch(&GetKey::Name(name.to_string()), false)?
            .is_some()
        {
            return Ok(());
        }
        let mounts = self.mounts_of(name, def, def.map_or("", Jail::path))?;
        self.unmount_record(name, &mounts)
            .map_err(|e| e.context(name))
    }

    fn exec(&self, jail: &Jail, spec: &ExecSpec) -> Result<Exit> {
        exec::run(jail, spec)
    }

    fn exec_replace(&self, jail: &Jail, spec: &ExecSpec) -> Result<Exit> {
        exec::replace(jail, spec)
    }
}

/// The ZFS dataset mounted at `dir`, if any.
fn zfs_dataset_of(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("zfs")
        .args(["list", "-H", "-o", "name,mountpoint"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let (name, mp) = l.split_once('\t')?;
        (Path::new(mp) == dir).then(|| name.to_string())
    })
}

fn run_zfs(args: &[&str]) -> Result<()> {
    let st = std::process::Command::new("zfs")
        .args(args)
        .status()
        .map_err(|e| Error::os("run zfs", e))?;
    if st.success() {
        Ok(())
    } else {
        Err(Error::os(
            format!("zfs {}", args.join(" ")),
            std::io::Error::other("failed"),
        ))
    }
}
