//! What the FreeBSD backend asks of the kernel besides the jail system
//! calls, as platform-neutral sequences over the [`Kernel`] trait: the
//! parameter table read from the `security.jail.param.*` sysctls (libjail's
//! `jailparam_all`), one parameter's type asked for by name with its module
//! loaded on demand (`jailparam_type` and `kldload_param`), the stop
//! sequence's SIGTERM to the jail's own processes (jail(8)'s `term_procs`),
//! and the entry into a jail for its commands (`setfib` then
//! `jail_attach`). The FreeBSD host implements [`Kernel`] with system
//! calls; the tests answer with the kernel's recorded answers.

use std::time::Duration;

use libc::c_int;
use nix::errno::Errno;

use super::jailparam::{
    OidFormat, PARAM_SYSCTL, ParamInfo, c_text, fallback_params, oid_of_bytes,
    param_name_of_sysctl, sort_params,
};
use crate::error::{Error, Result};
use crate::model::param;

/// The sysctl meta-OID `{0, 1, OID}`: the name of OID.
pub const SYSCTL_NAME: c_int = 1;
/// The sysctl meta-OID `{0, 2, OID}`: the OID after OID.
pub const SYSCTL_NEXT: c_int = 2;
/// The sysctl meta-OID `{0, 4, OID}`: the kind and format of OID.
pub const SYSCTL_OIDFMT: c_int = 4;

/// SIGTERM (the same number on every Unix this builds for).
const SIGTERM: c_int = 15;

/// A process as the kernel's process table (`kern.proc.proc`) has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: c_int,
    /// The jail it is in (`ki_jid`; 0 for the host). A process of a child
    /// jail has the child's jid.
    pub jid: c_int,
    /// Whether it has exited and waits to be reaped (`SZOMB`).
    pub zombie: bool,
}

/// The kernel calls the FreeBSD backend makes outside jail_get/jail_set.
pub trait Kernel {
    /// sysctlnametomib(3): the OID of the sysctl named `name`.
    fn sysctl_oid(&self, name: &str) -> std::result::Result<Vec<c_int>, Errno>;
    /// sysctl(3): the value of `oid` (which may be a meta-OID `{0, N, ...}`).
    fn sysctl_read(&self, oid: &[c_int]) -> std::result::Result<Vec<u8>, Errno>;
    /// kldload(2) of the module file `name`.
    fn kldload(&self, name: &str) -> std::result::Result<(), Errno>;
    /// The kernel's process table (`kern.proc.proc`: one entry per process).
    fn processes(&self) -> std::result::Result<Vec<Process>, Errno>;
    /// kill(2).
    fn kill(&self, pid: c_int, signal: c_int) -> std::result::Result<(), Errno>;
    /// Wait `pause` before looking again.
    fn pause(&self, pause: Duration);
    /// setfib(2) for this process.
    fn setfib(&self, fib: c_int) -> std::result::Result<(), Errno>;
    /// jail_attach(2) of this process.
    fn jail_attach(&self, jid: c_int) -> std::result::Result<(), Errno>;
}

/// Every jail parameter the kernel describes, typed by its sysctl metadata
/// (types jkit cannot represent left out), in jls's order, walking the
/// sysctl tree from `security.jail.param` as libjail's `jailparam_all`.
pub fn discover(k: &dyn Kernel) -> std::result::Result<Vec<ParamInfo>, Errno> {
    let prefix = k.sysctl_oid(PARAM_SYSCTL)?;
    let mut cur = prefix.clone();
    let mut found = Vec::new();
    loop {
        let next = match k.sysctl_read(&meta(SYSCTL_NEXT, &cur)) {
            Ok(bytes) => oid_of_bytes(&bytes),
            Err(Errno::ENOENT) => break,
            Err(e) => return Err(e),
        };
        if !next.starts_with(&prefix) || next.len() <= prefix.len() {
            break;
        }
        let sysctl_name = c_text(&k.sysctl_read(&meta(SYSCTL_NAME, &next))?);
        if let Some(name) = param_name_of_sysctl(&sysctl_name) {
            found.extend(describe(k, name, &next)?);
        }
        cur = next;
    }
    if found.is_empty() {
        return Err(Errno::ENOENT);
    }
    sort_params(&mut found);
    Ok(found)
}

fn meta(which: c_int, oid: &[c_int]) -> Vec<c_int> {
    let mut q = vec![0, which];
    q.extend_from_slice(oid);
    q
}

/// The parameter `name` described by the sysctl `oid`.
fn describe(
    k: &dyn Kernel,
    name: &str,
    oid: &[c_int],
) -> std::result::Result<Option<ParamInfo>, Errno> {
    let format =
        OidFormat::parse(&k.sysctl_read(&meta(SYSCTL_OIDFMT, oid))?).ok_or(Errno::EINVAL)?;
    let value = if format.is_string() {
        Some(k.sysctl_read(oid)?)
    } else {
        None
    };
    Ok(ParamInfo::from_sysctl(name, &format, value.as_deref()))
}

/// The kernel modules that may provide parameter `name`, tried in order
/// until one loads, as libjail's `kldload_param`: `linux` for `linux` and
/// `linux.*`; the SysV IPC module of its own name for `sysvmsg`, `sysvsem`,
/// `sysvshm`; the filesystem `FS` for `allow.mount.FS` (and `FS` without a
/// leading `no` when there is no module of the whole name); `vmm` for
/// `allow.vmm` and `allow.vmm_ppt`; the policy `mac_P` for `mac.P` and
/// `mac.P.*`. Nothing for any other parameter.
pub fn modules_of_param(name: &str) -> Vec<String> {
    if name == "linux" || name.starts_with("linux.") {
        return vec!["linux".into()];
    }
    if matches!(name, "sysvmsg" | "sysvsem" | "sysvshm") {
        return vec![name.into()];
    }
    if matches!(name, "allow.vmm" | "allow.vmm_ppt") {
        return vec!["vmm".into()];
    }
    if let Some(fs) = name.strip_prefix("allow.mount.") {
        let mut v = vec![fs.to_string()];
        v.extend(fs.strip_prefix("no").map(str::to_string));
        return v;
    }
    if let Some(policy) = name.strip_prefix("mac.") {
        let policy = policy.split('.').next().unwrap_or(policy);
        // `mac.label` is the MAC framework's own, in every MAC kernel.
        if policy != "label" && !policy.is_empty() {
            return vec![format!("mac_{policy}")];
        }
    }
    Vec::new()
}

/// Load the module that provides parameter `name` (see
/// [`modules_of_param`]). Whether one was loaded: a module that was already
/// loaded does not have the parameter, and a module that does not exist
/// lets the next candidate be tried.
pub fn load_module_of(k: &dyn Kernel, name: &str) -> bool {
    for module in modules_of_param(name) {
        match k.kldload(&module) {
            Ok(()) => return true,
            Err(Errno::ENOENT) => continue,
            Err(_) => return false,
        }
    }
    false
}

/// The type of parameter `name` as the kernel describes it (libjail's
/// `jailparam_type`): its sysctl (a node's own parameter such as `host`
/// ends in a dot), looked up again once the module that provides it is
/// loaded. `None` when the kernel has no such parameter.
pub fn param_type(k: &dyn Kernel, name: &str) -> std::result::Result<Option<ParamInfo>, Errno> {
    let lookup = || -> std::result::Result<Option<Vec<c_int>>, Errno> {
        for sysctl in [
            format!("{PARAM_SYSCTL}.{name}"),
            format!("{PARAM_SYSCTL}.{name}."),
        ] {
            match k.sysctl_oid(&sysctl) {
                Ok(oid) => return Ok(Some(oid)),
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    };
    let oid = match lookup()? {
        Some(oid) => oid,
        None if load_module_of(k, name) => match lookup()? {
            Some(oid) => oid,
            None => return Ok(None),
        },
        None => return Ok(None),
    };
    describe(k, name, &oid)
}

/// The parameters a FreeBSD backend types its requests with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamTable {
    /// The kernel's own (read from its sysctls); a parameter missing here
    /// is asked for by name, its module loaded on demand.
    Kernel(Vec<ParamInfo>),
    /// jkit's built-in table, for a kernel whose sysctls cannot be read.
    BuiltIn(Vec<ParamInfo>),
}

impl ParamTable {
    /// The kernel's table, or the built-in one when it cannot be read.
    pub fn load(k: &dyn Kernel) -> Self {
        match discover(k) {
            Ok(params) => ParamTable::Kernel(params),
            Err(_) => ParamTable::BuiltIn(fallback_params()),
        }
    }

    /// Every parameter of the table, in jls's order.
    pub fn params(&self) -> &[ParamInfo] {
        match self {
            ParamTable::Kernel(p) | ParamTable::BuiltIn(p) => p,
        }
    }

    /// The type of parameter `name`: from the table; for the kernel's,
    /// else asked of the kernel (which may load its module); for the
    /// built-in one, else jkit's parameter list.
    pub fn info(&self, k: &dyn Kernel, name: &str) -> Result<Option<ParamInfo>> {
        if let Some(p) = self.params().iter().find(|p| p.name == name) {
            return Ok(Some(p.clone()));
        }
        match self {
            ParamTable::Kernel(_) => param_type(k, name)
                .map_err(|e| Error::os(format!("sysctl {PARAM_SYSCTL}.{name}"), e)),
            ParamTable::BuiltIn(_) => Ok(param::spec(name).and_then(ParamInfo::from_spec)),
        }
    }
}

/// How often the stop sequence looks whether the signalled processes are
/// gone.
pub const STOP_POLL: Duration = Duration::from_millis(50);

/// jail(8)'s stop: SIGTERM to every process of jail `jid` itself (those
/// of its child jails are left to jail_remove), then wait until each one
/// signalled has exited or `timeout` has passed. A zombie has exited: it
/// is neither signalled nor waited for. The pids signalled are returned.
pub fn term_procs(
    k: &dyn Kernel,
    jid: c_int,
    timeout: Duration,
) -> std::result::Result<Vec<c_int>, Errno> {
    if timeout.is_zero() {
        return Ok(Vec::new());
    }
    let mut signalled: Vec<c_int> = Vec::new();
    for p in k.processes()? {
        if p.jid == jid && !p.zombie && k.kill(p.pid, SIGTERM).is_ok() {
            signalled.push(p.pid);
        }
    }
    let mut waited = Duration::ZERO;
    let mut left = signalled.clone();
    while !left.is_empty() {
        let procs = k.processes()?;
        left.retain(|pid| {
            procs
                .iter()
                .any(|p| p.pid == *pid && p.jid == jid && !p.zombie)
        });
        if left.is_empty() || waited >= timeout {
            break;
        }
        k.pause(STOP_POLL);
        waited += STOP_POLL;
    }
    Ok(signalled)
}

/// Enter jail `jid` for one of its commands, as jail(8) does in the child
/// that runs it: `setfib(exec.fib)` first (on the host, where the FIB is
/// chosen), then jail_attach(2). On failure, the call that failed (as
/// jail(8) names it) and its errno.
pub fn enter_jail(
    k: &dyn Kernel,
    jid: c_int,
    fib: Option<i64>,
) -> std::result::Result<(), (String, Errno)> {
    if let Some(fib) = fib {
        let fib = c_int::try_from(fib).map_err(|_| ("setfib".to_string(), Errno::EINVAL))?;
        k.setfib(fib).map_err(|e| ("setfib".to_string(), e))?;
    }
    k.jail_attach(jid)
        .map_err(|e| (format!("jail_attach({jid})"), e))
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;
