//! The kernel's jail parameters, read from the `security.jail.param.*`
//! sysctls the way libjail's `jailparam_all` walks them.

use libc::{CTL_SYSCTL_NAME as NAME, CTL_SYSCTL_NEXT as NEXT, CTL_SYSCTL_OIDFMT as OIDFMT, c_int};
use nix::errno::Errno;

use super::sys;
use crate::backend::freebsd::jailparam::{
    OidFormat, PARAM_SYSCTL, ParamInfo, c_text, oid_of_bytes, param_name_of_sysctl, sort_params,
};

fn meta(which: c_int, oid: &[c_int]) -> Vec<c_int> {
    let mut q = vec![0, which];
    q.extend_from_slice(oid);
    q
}

/// Every jail parameter this kernel has, typed by its sysctl metadata
/// (parameters of types jkit cannot represent left out), in jls's order.
pub fn discover() -> Result<Vec<ParamInfo>, Errno> {
    let prefix = sys::sysctl_oid(PARAM_SYSCTL)?;
    let mut cur = prefix.clone();
    let mut found = Vec::new();
    loop {
        let next = match sys::sysctl_read(&meta(NEXT, &cur)) {
            Ok(bytes) => oid_of_bytes(&bytes),
            Err(Errno::ENOENT) => break,
            Err(e) => return Err(e),
        };
        if !next.starts_with(&prefix) || next.len() <= prefix.len() {
            break;
        }
        let sysctl_name = c_text(&sys::sysctl_read(&meta(NAME, &next))?);
        if let Some(name) = param_name_of_sysctl(&sysctl_name) {
            let format =
                OidFormat::parse(&sys::sysctl_read(&meta(OIDFMT, &next))?).ok_or(Errno::EINVAL)?;
            let value = if format.is_string() {
                Some(sys::sysctl_read(&next)?)
            } else {
                None
            };
            found.extend(ParamInfo::from_sysctl(name, &format, value.as_deref()));
        }
        cur = next;
    }
    if found.is_empty() {
        return Err(Errno::ENOENT);
    }
    sort_params(&mut found);
    Ok(found)
}
