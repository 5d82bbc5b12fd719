//! The capabilities a jail's root keeps: Docker's default set, minus what
//! FreeBSD's jail root cannot do either (create device nodes, raw sockets
//! unless `allow.raw_sockets`), plus what the `allow.*` parameters grant.

use crate::model::Params;

/// Capability numbers (linux/capability.h).
pub mod cap {
    #![allow(missing_docs)]
    pub const CHOWN: u32 = 0;
    pub const DAC_OVERRIDE: u32 = 1;
    pub const FOWNER: u32 = 3;
    pub const FSETID: u32 = 4;
    pub const KILL: u32 = 5;
    pub const SETGID: u32 = 6;
    pub const SETUID: u32 = 7;
    pub const SETPCAP: u32 = 8;
    pub const LINUX_IMMUTABLE: u32 = 9;
    pub const NET_BIND_SERVICE: u32 = 10;
    pub const NET_ADMIN: u32 = 12;
    pub const NET_RAW: u32 = 13;
    pub const IPC_LOCK: u32 = 14;
    pub const SYS_CHROOT: u32 = 18;
    pub const SYS_ADMIN: u32 = 21;
    pub const SYS_TIME: u32 = 25;
    pub const AUDIT_WRITE: u32 = 29;
    pub const SETFCAP: u32 = 31;
}

const BASE: &[u32] = &[
    cap::CHOWN,
    cap::DAC_OVERRIDE,
    cap::FOWNER,
    cap::FSETID,
    cap::KILL,
    cap::SETGID,
    cap::SETUID,
    cap::SETPCAP,
    cap::NET_BIND_SERVICE,
    cap::SYS_CHROOT,
    cap::AUDIT_WRITE,
    cap::SETFCAP,
];

/// The capability mask the jail's processes keep.
pub fn keep_mask(params: &Params, own_network: bool) -> u64 {
    let mut caps: Vec<u32> = BASE.to_vec();
    let grants: &[(&str, u32)] = &[
        ("allow.raw_sockets", cap::NET_RAW),
        ("allow.mount", cap::SYS_ADMIN),
        ("allow.mlock", cap::IPC_LOCK),
        ("allow.chflags", cap::LINUX_IMMUTABLE),
        ("allow.settime", cap::SYS_TIME),
        ("allow.adjtime", cap::SYS_TIME),
    ];
    caps.extend(
        grants
            .iter()
            .filter(|(p, _)| params.flag(p))
            .map(|(_, c)| *c),
    );
    // vnet: the jail administers its own network stack, and only that one.
    let vnet = params.sys("vnet") == Some(crate::model::JailSys::New);
    if vnet && own_network {
        caps.push(cap::NET_ADMIN);
    }
    caps.iter().fold(0u64, |m, c| m | (1u64 << c))
}

/// The highest capability number this kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    #[test]
    fn defaults_drop_dangerous_caps() {
        let m = keep_mask(&Params::new(), true);
        for c in [
            cap::SYS_ADMIN,
            cap::NET_RAW,
            cap::NET_ADMIN,
            cap::SYS_TIME,
            16, /* SYS_MODULE */
            19, /* SYS_PTRACE */
            27, /* MKNOD */
            2,  /* DAC_READ_SEARCH */
        ] {
            assert_eq!(m & (1 << c), 0, "cap {c} kept");
        }
        assert_ne!(m & (1 << cap::CHOWN), 0);
    }

    #[test]
    fn allow_params_grant_caps() {
        let mut p = Params::new();
        p.set("allow.raw_sockets", Value::Bool(true));
        p.set("allow.mount", Value::Bool(true));
        let m = keep_mask(&p, true);
        assert_ne!(m & (1 << cap::NET_RAW), 0);
        assert_ne!(m & (1 << cap::SYS_ADMIN), 0);
    }
}
