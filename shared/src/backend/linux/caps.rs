//! The capabilities a jail's root keeps: Docker's default set, minus what
//! FreeBSD's jail root cannot do either (create device nodes, raw sockets
//! unless `allow.raw_sockets`), plus what the `allow.*` parameters grant,
//! minus what the jail's `securelevel` forbids; and the bounding set of
//! what runs in the jail, empty with `allow.suser=0`.

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
    pub const SYS_MODULE: u32 = 16;
    pub const SYS_RAWIO: u32 = 17;
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
    let forbidden = forbidden_at(params.int("securelevel").unwrap_or(-1));
    caps.iter()
        .filter(|c| !forbidden.contains(c))
        .fold(0u64, |m, c| m | (1u64 << c))
}

/// The bounding set of the programs run in the jail: what a program can
/// gain at exec (a set-user-id root program, file capabilities, root's
/// own exec). With `allow.suser=0` it is empty, so that root in the jail
/// is treated as an unprivileged user, as FreeBSD's
/// `security.bsd.suser_enabled=0` does: the command's process still holds
/// the jail's capabilities up to its exec (jexec's `-u`/`-U` steps need
/// them), and whatever it execs holds none.
pub fn bounding_mask(params: &Params, own_network: bool) -> u64 {
    let suser = params.get("allow.suser").and_then(|v| v.as_bool());
    if suser.unwrap_or(true) {
        keep_mask(params, own_network)
    } else {
        0
    }
}

/// What FreeBSD's securelevel `level` forbids root, as capabilities
/// (securelevel(7); a level counts from the lowest that forbids a thing,
/// as the kernel compares with "greater than"). 1: loading kernel modules
/// and raw access to memory, I/O ports and disks (never granted to a
/// jail), changing immutable and append-only flags (FreeBSD still lets 1
/// set them on a file without them; Linux's one capability does both).
/// 2: stepping the clock (FreeBSD allows steps forward of up to a second;
/// Linux's capability allows any step or none). 3: changing firewall rules
/// (`CAP_NET_ADMIN` of a vnet jail also configures its interfaces).
fn forbidden_at(level: i64) -> Vec<u32> {
    let mut forbidden = Vec::new();
    if level >= 1 {
        forbidden.extend([cap::SYS_MODULE, cap::SYS_RAWIO, cap::LINUX_IMMUTABLE]);
    }
    if level >= 2 {
        forbidden.push(cap::SYS_TIME);
    }
    if level >= 3 {
        forbidden.push(cap::NET_ADMIN);
    }
    forbidden
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
            cap::SYS_MODULE,
            cap::SYS_RAWIO,
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

    #[test]
    fn securelevel_takes_away_what_it_forbids() {
        let mut p = Params::new();
        for a in ["allow.chflags", "allow.settime"] {
            p.set(a, Value::Bool(true));
        }
        p.set("vnet", Value::Sys(crate::model::JailSys::New));
        let has = |p: &Params, c: u32| keep_mask(p, true) & (1 << c) != 0;
        let granted = [cap::LINUX_IMMUTABLE, cap::SYS_TIME, cap::NET_ADMIN];
        for level in [-1, 0] {
            p.set("securelevel", Value::Int(level));
            assert!(granted.iter().all(|c| has(&p, *c)), "securelevel {level}");
        }
        for (level, kept) in [(1, 2), (2, 1), (3, 0), (7, 0)] {
            p.set("securelevel", Value::Int(level));
            let left = granted.iter().filter(|c| has(&p, **c)).count();
            assert_eq!(left, kept, "securelevel {level}");
            assert!(has(&p, cap::CHOWN));
        }
    }

    #[test]
    fn allow_suser_0_empties_the_bounding_set_only() {
        let mut p = Params::new();
        assert_eq!(bounding_mask(&p, true), keep_mask(&p, true));
        p.set("allow.suser", Value::Bool(false));
        assert_eq!(bounding_mask(&p, true), 0);
        assert_ne!(keep_mask(&p, true) & (1 << cap::SETUID), 0);
    }
}
