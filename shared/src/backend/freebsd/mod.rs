//! The FreeBSD backend: jails held by the kernel, read with jail_get(2)
//! (`lastjid` iteration, one batched call per jail with the kernel's
//! `errmsg`), created with jail_set(2), entered with jail_attach(2) and
//! removed with jail_remove(2); parameter types come from the
//! `security.jail.param.*` sysctls. The encoding lives in
//! [`crate::backend::jailparam`]; the system calls in `sys`.

mod exec;
mod mount;
mod params;
pub mod racct;
mod sys;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use libc::c_int;
use nix::errno::Errno;

use crate::backend::jailparam::{
    self, ARRAY_SANITY, GetKey, JAIL_CREATE, JAIL_DYING, JAIL_UPDATE, MountsRecord, ParamInfo,
    Request,
};
use crate::backend::mounts::MountEntry;
use crate::backend::{self, Backend, Exit, Started};
use crate::error::{Error, Result};
use crate::exec::ExecSpec;
use crate::model::{Jail, JailKey, State, param};
use crate::paths::Paths;
use crate::wire::BackendKind;

/// The jails of the FreeBSD kernel.
#[derive(Debug)]
pub struct FreeBsd {
    paths: Paths,
    params: OnceLock<Vec<ParamInfo>>,
}

/// What a start has done so far, to be undone if a later step fails.
#[derive(Debug, Default)]
struct Undo {
    record: Option<PathBuf>,
    mounted: Vec<MountEntry>,
    jid: Option<c_int>,
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
    fn params(&self) -> &[ParamInfo] {
        self.params
            .get_or_init(|| params::discover().unwrap_or_else(|_| jailparam::fallback_params()))
    }

    /// The native type of parameter `name`: the kernel's, else the table's.
    fn info(&self, name: &str) -> Option<ParamInfo> {
        self.params()
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .or_else(|| param::spec(name).and_then(ParamInfo::from_spec))
    }

    /// One jail with every parameter, or `None` when the kernel has no jail
    /// for `key` (for `LastJid`: no jail after it).
    fn fetch(&self, key: &GetKey, dying: bool) -> Result<Option<(c_int, Jail)>> {
        let flags = if dying { JAIL_DYING } else { 0 };
        let mut params = self.params().to_vec();
        let mut resized = 0;
        loop {
            let mut sizing = jailparam::sizing_request(key, &params)?;
            if let Some(req) = sizing.as_mut() {
                match sys::jail_get(req, flags) {
                    Ok(_) => {}
                    Err(Errno::ENOENT) => return Ok(None),
                    Err(e) if drop_unknown(&mut params, e, req) => continue,
                    Err(e) => {
                        return Err(jailparam::kernel_error("jail_get", e as i32, req.errmsg()));
                    }
                }
            }
            let mut req = jailparam::fetch_request(key, &params, sizing.as_ref())?;
            match sys::jail_get(&mut req, flags) {
                Ok(jid) => return jailparam::jail_of(&req, &params, jid).map(|j| Some((jid, j))),
                Err(Errno::ENOENT) => return Ok(None),
                Err(e) if drop_unknown(&mut params, e, &req) => {}
                // An array grew between the sizing call and this one.
                Err(Errno::EINVAL)
                    if req.errmsg().is_none() && sizing.is_some() && resized < ARRAY_SANITY =>
                {
                    resized += 1;
                }
                Err(e) => return Err(jailparam::kernel_error("jail_get", e as i32, req.errmsg())),
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
        let mounts = jailparam::jail_mounts(def, &root)?;
        Ok(MountsRecord { root, mounts })
    }

    /// Unmount what `record` lists (last first) and forget the record once
    /// all of it is unmounted.
    fn unmount(&self, name: &str, record: &MountsRecord) -> Result<()> {
        mount::unmount_all(&record.mounts, &record.root)?;
        mount::remove_record(&self.record(name))
    }

    /// The steps of `start` that `undo` can take back: record and make the
    /// mounts of `record`, create the jail, run `argv` in it.
    fn create(
        &self,
        def: &Jail,
        record: &MountsRecord,
        argv: Option<&[String]>,
        undo: &mut Undo,
    ) -> Result<Started> {
        if !record.mounts.is_empty() {
            let path = self.record(&def.name);
            mount::write_record(&path, record)?;
            undo.record = Some(path);
        }
        for e in &record.mounts {
            jailparam::check_no_symlinks(&record.root, &e.target)?;
            mount::mount(e)?;
            undo.mounted.push(e.clone());
        }

        let temporary = argv.is_some() && !def.params.flag("persist");
        let mut req = jailparam::create_request(def, |n| self.info(n), temporary)?;
        let jid = sys::jail_set(&mut req, JAIL_CREATE)
            .map_err(|e| jailparam::kernel_error("jail_set", e as i32, req.errmsg()))?;
        undo.jid = Some(jid);

        let command = argv.map(|argv| run_in_jail(jid, argv)).transpose()?;
        let jail = match self.fetch(&GetKey::Jid(jid), true)? {
            Some((_, jail)) => jail,
            None => Jail {
                jid: Some(i64::from(jid)),
                state: State::Stopped,
                ..def.clone()
            },
        };
        if temporary {
            let mut req = jailparam::nopersist_request(jid)?;
            sys::jail_set(&mut req, JAIL_UPDATE)
                .map_err(|e| jailparam::kernel_error("jail_set", e as i32, req.errmsg()))?;
        }
        let alive = self.fetch(&GetKey::Jid(jid), false)?.is_some();
        Ok(Started {
            jail,
            command,
            alive,
        })
    }

    /// Undo a failed start: remove the jail, unmount what was mounted, and
    /// drop the record when everything is unmounted. Failures here are not
    /// reported: the error that made the start fail is the one that counts,
    /// and `clean` removes what is left.
    fn rollback(&self, undo: Undo, root: &Path) {
        if let Some(jid) = undo.jid {
            let _ = sys::jail_remove(jid);
        }
        if mount::unmount_all(&undo.mounted, root).is_ok()
            && let Some(record) = undo.record
        {
            let _ = mount::remove_record(&record);
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
    let Some(name) = msg.as_deref().and_then(jailparam::unknown_parameter) else {
        return false;
    };
    let before = params.len();
    params.retain(|p| p.name != name || matches!(name, "jid" | "name"));
    params.len() < before
}

/// Run `argv` inside jail `jid` (attached, in its root directory) and wait
/// for it.
fn run_in_jail(jid: c_int, argv: &[String]) -> Result<Exit> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::Config("command: empty command".into()))?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    sys::attach_before_exec(&mut cmd, jid);
    let status = cmd
        .status()
        .map_err(|e| Error::os(format!("exec {program}"), e))?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Code(status.into_raw()),
    })
}

fn jid_of(jail: &Jail) -> Option<c_int> {
    jail.jid.and_then(|j| c_int::try_from(j).ok())
}

impl Backend for FreeBsd {
    fn kind(&self) -> BackendKind {
        BackendKind::Freebsd
    }

    fn list(&self, dying: bool) -> Result<Vec<Jail>> {
        let mut jails = Vec::new();
        let mut last = 0;
        while let Some((jid, jail)) = self.fetch(&GetKey::LastJid(last), dying)? {
            last = jid;
            jails.push(jail);
        }
        Ok(jails)
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

    fn start(&self, def: &Jail) -> Result<Started> {
        if self
            .fetch(&GetKey::Name(def.name.clone()), false)?
            .is_some()
        {
            return Err(Error::Exists(format!("\"{}\" already exists", def.name)));
        }
        let root = backend::root_of(def)?;
        let mounts = jailparam::jail_mounts(def, &root)?;
        let argv = jailparam::command_argv(def.params.list("command"));
        // The jail's kept rctl rules hold from its first process on.
        racct::apply_stored(&self.paths, &def.name)?;
        let mut undo = Undo::default();
        let record = MountsRecord { root, mounts };
        let started = self.create(def, &record, argv.as_deref(), &mut undo);
        if started.is_err() {
            self.rollback(undo, &record.root);
        }
        started.map_err(|e| e.context(&def.name))
    }

    fn stop(&self, jail: &Jail, def: Option<&Jail>, timeout: Duration) -> Result<()> {
        let jid =
            jid_of(jail).ok_or_else(|| Error::NotFound(format!("{}: not running", jail.name)))?;
        let mounts = self.mounts_of(&jail.name, def, jail.path());
        let current = self.fetch(&GetKey::Jid(jid), true)?;
        if let Some((_, now)) = &current
            && now.name != jail.name
        {
            return Err(Error::NotFound(format!(
                "{}: jail {jid} is now \"{}\"",
                jail.name, now.name
            )));
        }
        if current.is_some() {
            if !timeout.is_zero() {
                sys::terminate_processes(jid, timeout).map_err(|e| {
                    Error::os(format!("{}: stop the jail's processes", jail.name), e)
                })?;
            }
            match sys::jail_remove(jid) {
                // EINVAL: the jail went away by itself meanwhile.
                Ok(()) | Err(Errno::EINVAL) => {}
                Err(e) => return Err(Error::os(format!("{}: jail_remove {jid}", jail.name), e)),
            }
        }
        self.unmount(&jail.name, &mounts?)
            .map_err(|e| e.context(&jail.name))
    }

    fn clean(&self, name: &str, def: Option<&Jail>) -> Result<()> {
        if self
            .fetch(&GetKey::Name(name.to_string()), false)?
            .is_some()
        {
            return Ok(());
        }
        let mounts = self.mounts_of(name, def, def.map_or("", Jail::path))?;
        self.unmount(name, &mounts).map_err(|e| e.context(name))
    }

    fn exec(&self, jail: &Jail, spec: &ExecSpec) -> Result<Exit> {
        exec::run(jail, spec)
    }

    fn exec_replace(&self, jail: &Jail, spec: &ExecSpec) -> Result<Exit> {
        exec::replace(jail, spec)
    }
}
