//! The seccomp filter every process entered into a jail carries (and
//! passes to all its descendants), for the holes that capabilities and
//! namespaces leave open:
//!
//! - `ioctl(TIOCSTI)` and `ioctl(TIOCLINUX)`: a jailed process that holds
//!   a host terminal (one it made its controlling terminal once the
//!   session that had it ended, or any, with the host's CAP_SYS_ADMIN)
//!   could push keystrokes into what the host reads from it. FreeBSD
//!   refuses TIOCSTI to jailed root (PRIV_TTY_STI); this filter does the
//!   same, unless no process of the jail can reach a host terminal (a
//!   jail with a user namespace and `mount.devfs`: see
//!   `start::setup::terminals_out_of_reach`) or the kernel already
//!   refuses both to the jail (see [`kernel_guards_terminals`]): an
//!   ioctl the filter does not look into is one the kernel's seccomp
//!   action cache allows without running the filter, which matters for a
//!   call programs make as often as ioctl.
//! - new user namespaces (`clone`/`unshare` with CLONE_NEWUSER; `clone3`,
//!   whose flags a filter cannot read, answers ENOSYS so libc falls back to
//!   `clone`): inside its own user namespace a process holds every
//!   capability again, can mount and reaches far more kernel code. FreeBSD
//!   allows no nested jails unless `children.max` says so; with
//!   `children.max` > 0 this part is left out.
//! - new cgroup namespaces (CLONE_NEWCGROUP, in the same place): the
//!   jail's cgroup namespace belongs to the host's user namespace, so that
//!   the jail's root, even with `allow.mount`, mounts no cgroup hierarchy;
//!   one of its own would be the jail's, and rooted where its processes
//!   are in each hierarchy, the host's top of a v1 hierarchy the jail has
//!   no cgroup in.
//! - the kernel's keyrings (`add_key`, `request_key`, `keyctl`): they are
//!   not namespaced, so a jail's root would read and plant keys in the
//!   host root's own keyrings; and io_uring (`io_uring_setup`,
//!   `io_uring_enter`, `io_uring_register`), a large surface that
//!   bypasses this very filter (its operations are not system calls).
//!   Docker's default profile refuses both.
//!
//! The x32 ABI (x86_64 system calls with bit 30 set) is refused whole, and
//! an architecture the filter does not know kills the process.

use libc::sock_filter;

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
)))]
compile_error!(
    "the jail seccomp filter knows the system call numbers of x86_64, aarch64 and riscv64 only"
);

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH_RISCV64: u32 = 0xC000_00F3;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Offsets into `struct seccomp_data` (little-endian: the low half of an
/// argument comes first).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARG0_LO: u32 = 16;
const OFF_ARG1_LO: u32 = 24;

/// The system calls the filter looks at, for one architecture.
struct Abi {
    arch: u32,
    ioctl: u32,
    clone: u32,
    unshare: u32,
    clone3: u32,
    /// Refused whatever their arguments: `add_key`, `request_key`,
    /// `keyctl`, `io_uring_setup`, `io_uring_enter`, `io_uring_register`.
    refused: [u32; 6],
    /// x86_64: refuse x32 system calls.
    no_x32: bool,
}

#[cfg(target_arch = "x86_64")]
const ABIS: &[Abi] = &[
    Abi {
        arch: AUDIT_ARCH_X86_64,
        ioctl: 16,
        clone: 56,
        unshare: 272,
        clone3: 435,
        refused: [248, 249, 250, 425, 426, 427],
        no_x32: true,
    },
    Abi {
        arch: AUDIT_ARCH_I386,
        ioctl: 54,
        clone: 120,
        unshare: 310,
        clone3: 435,
        refused: [286, 287, 288, 425, 426, 427],
        no_x32: false,
    },
];
#[cfg(target_arch = "aarch64")]
const ABIS: &[Abi] = &[
    Abi {
        arch: AUDIT_ARCH_AARCH64,
        ioctl: 29,
        clone: 220,
        unshare: 97,
        clone3: 435,
        refused: [217, 218, 219, 425, 426, 427],
        no_x32: false,
    },
    Abi {
        arch: AUDIT_ARCH_ARM,
        ioctl: 54,
        clone: 120,
        unshare: 337,
        clone3: 435,
        refused: [309, 310, 311, 425, 426, 427],
        no_x32: false,
    },
];
#[cfg(target_arch = "riscv64")]
const ABIS: &[Abi] = &[Abi {
    arch: AUDIT_ARCH_RISCV64,
    ioctl: 29,
    clone: 220,
    unshare: 97,
    clone3: 435,
    refused: [217, 218, 219, 425, 426, 427],
    no_x32: false,
}];

// The numbers above are the kernel's: check the native ones against libc.
#[cfg(target_arch = "x86_64")]
const _: () =
    assert!(ABIS[0].ioctl as i64 == libc::SYS_ioctl && ABIS[0].clone3 as i64 == libc::SYS_clone3);
const _: () = assert!(
    ABIS[0].clone as i64 == libc::SYS_clone
        && ABIS[0].unshare as i64 == libc::SYS_unshare
        && ABIS[0].ioctl as i64 == libc::SYS_ioctl
        && ABIS[0].refused[0] as i64 == libc::SYS_add_key
        && ABIS[0].refused[1] as i64 == libc::SYS_request_key
        && ABIS[0].refused[2] as i64 == libc::SYS_keyctl
        && ABIS[0].refused[3] as i64 == libc::SYS_io_uring_setup
        && ABIS[0].refused[4] as i64 == libc::SYS_io_uring_enter
        && ABIS[0].refused[5] as i64 == libc::SYS_io_uring_register
);

const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
const RET_KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;

/// One instruction, with jump targets still symbolic.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Load the 32-bit word at this offset of seccomp_data.
    Load(u32),
    /// Jump to the label if the accumulator equals the constant.
    JumpIfEq(u32, Label),
    /// Jump to the label if the accumulator is at least the constant.
    JumpIfAtLeast(u32, Label),
    /// Jump to the label if the accumulator has any bit of the constant.
    JumpIfAny(u32, Label),
    /// Return this action.
    Return(u32),
    /// Where a label points (no instruction).
    Mark(Label),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Abi(usize),
    Ioctl,
    CloneFlags,
    Eperm,
    Enosys,
}

/// Whether the kernel refuses TIOCSTI and TIOCLINUX's selection and paste
/// to every process without CAP_SYS_ADMIN in the host's user namespace,
/// on any terminal, its own included, so to every process of a jail with
/// a user namespace of its own: TIOCSTI where `dev.tty.legacy_tiocsti` is
/// 0 (Linux 6.2 and later), TIOCLINUX's from Linux 6.7.
pub fn kernel_guards_terminals() -> bool {
    let legacy_tiocsti = std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti");
    legacy_tiocsti.is_ok_and(|v| v.trim() == "0")
        && nix::sys::utsname::uname().is_ok_and(|u| at_least(&u.release().to_string_lossy(), 6, 7))
}

/// Whether the kernel release `release` ("6.18.44-...") is `major.minor`
/// or later.
fn at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(ma), Some(mi)) => (ma, mi) >= (major, minor),
        _ => false,
    }
}

/// The filter, as classic BPF. `nested_namespaces` (the jail's
/// `children.max` > 0) lets the jail make user namespaces; `inspect_ioctl`
/// has it look into ioctl for TIOCSTI and TIOCLINUX (needless where the
/// jail reaches no host terminal, or [`kernel_guards_terminals`]).
///
/// The calls a filter decides by their number alone (it loads neither
/// their arguments nor anything else of theirs) the kernel caches as
/// allowed and no longer runs the filter for: without `inspect_ioctl`
/// that is every call but `clone` and `unshare` (their flags) and what it
/// refuses.
pub fn program(nested_namespaces: bool, inspect_ioctl: bool) -> Vec<sock_filter> {
    let mut ops = vec![Op::Load(OFF_ARCH)];
    for (i, abi) in ABIS.iter().enumerate() {
        ops.push(Op::JumpIfEq(abi.arch, Label::Abi(i)));
    }
    ops.push(Op::Return(RET_KILL));
    for (i, abi) in ABIS.iter().enumerate() {
        ops.push(Op::Mark(Label::Abi(i)));
        ops.push(Op::Load(OFF_NR));
        if abi.no_x32 {
            ops.push(Op::JumpIfAtLeast(X32_SYSCALL_BIT, Label::Enosys));
        }
        if inspect_ioctl {
            ops.push(Op::JumpIfEq(abi.ioctl, Label::Ioctl));
        }
        for nr in abi.refused {
            ops.push(Op::JumpIfEq(nr, Label::Eperm));
        }
        if !nested_namespaces {
            ops.push(Op::JumpIfEq(abi.clone3, Label::Enosys));
            ops.push(Op::JumpIfEq(abi.clone, Label::CloneFlags));
            ops.push(Op::JumpIfEq(abi.unshare, Label::CloneFlags));
        }
        ops.push(Op::Return(RET_ALLOW));
    }
    if inspect_ioctl {
        // ioctl(fd, cmd, ...): the kernel reads cmd as 32 bits, so the low
        // half is all there is to compare.
        ops.push(Op::Mark(Label::Ioctl));
        ops.push(Op::Load(OFF_ARG1_LO));
        ops.push(Op::JumpIfEq(libc::TIOCSTI as u32, Label::Eperm));
        ops.push(Op::JumpIfEq(libc::TIOCLINUX as u32, Label::Eperm));
        ops.push(Op::Return(RET_ALLOW));
    }
    if !nested_namespaces {
        // clone(flags, ...) and unshare(flags): CLONE_NEWUSER is bit 28,
        // CLONE_NEWCGROUP bit 25.
        ops.push(Op::Mark(Label::CloneFlags));
        ops.push(Op::Load(OFF_ARG0_LO));
        ops.push(Op::JumpIfAny(
            (libc::CLONE_NEWUSER | libc::CLONE_NEWCGROUP) as u32,
            Label::Eperm,
        ));
        ops.push(Op::Return(RET_ALLOW));
    }
    ops.push(Op::Mark(Label::Eperm));
    ops.push(Op::Return(RET_EPERM));
    ops.push(Op::Mark(Label::Enosys));
    ops.push(Op::Return(RET_ENOSYS));
    assemble(&ops)
}

/// Resolve labels into BPF's relative forward jumps.
fn assemble(ops: &[Op]) -> Vec<sock_filter> {
    let mut at = Vec::new();
    let mut pc = 0usize;
    for op in ops {
        match op {
            Op::Mark(l) => at.push((*l, pc)),
            _ => pc += 1,
        }
    }
    let target = |l: Label, pc: usize| -> u8 {
        let to = at
            .iter()
            .find(|(x, _)| *x == l)
            .map_or(pc + 1, |(_, to)| *to);
        u8::try_from(to - pc - 1).unwrap_or(u8::MAX)
    };
    let ins = |code: u32, jt: u8, k: u32| sock_filter {
        code: code as u16,
        jt,
        jf: 0,
        k,
    };
    let mut out = Vec::new();
    for op in ops {
        let pc = out.len();
        let insn = match *op {
            Op::Mark(_) => continue,
            Op::Load(off) => ins(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, off),
            Op::JumpIfEq(k, l) => ins(
                libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
                target(l, pc),
                k,
            ),
            Op::JumpIfAtLeast(k, l) => ins(
                libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K,
                target(l, pc),
                k,
            ),
            Op::JumpIfAny(k, l) => ins(
                libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K,
                target(l, pc),
                k,
            ),
            Op::Return(action) => ins(libc::BPF_RET | libc::BPF_K, 0, action),
        };
        out.push(insn);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the conditional jump `code` with operand `k` is taken with
    /// `acc` in the accumulator; `None` for any other instruction.
    fn jump_taken(code: u32, acc: u32, k: u32) -> Option<bool> {
        match code & 0xf0 {
            c if c == libc::BPF_JEQ => Some(acc == k),
            c if c == libc::BPF_JGE => Some(acc >= k),
            c if c == libc::BPF_JSET => Some(acc & k != 0),
            _ => None,
        }
    }

    /// Run the filter on one system call, as the kernel does.
    fn run(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 2]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        data[16..24].copy_from_slice(&args[0].to_le_bytes());
        data[24..32].copy_from_slice(&args[1].to_le_bytes());
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let code = u32::from(i.code);
            pc += 1;
            if code == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS {
                let o = i.k as usize;
                acc = u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
            } else if code == libc::BPF_RET | libc::BPF_K {
                return i.k;
            } else {
                let taken = jump_taken(code, acc, i.k)
                    .unwrap_or_else(|| panic!("unexpected instruction {code:#x}"));
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
        }
    }

    /// Whether the kernel's seccomp action cache allows the call `nr` of
    /// `arch` without running the filter: the filter allows it whatever
    /// else the call carries, seen by following it with only the number
    /// and the architecture known, as the kernel does when it loads the
    /// filter (`seccomp_is_const_allow`).
    fn cached_as_allowed(prog: &[sock_filter], arch: u32, nr: u32) -> bool {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let code = u32::from(i.code);
            pc += 1;
            if code == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS {
                acc = match i.k {
                    OFF_NR => nr,
                    OFF_ARCH => arch,
                    _ => return false,
                };
            } else if code == libc::BPF_RET | libc::BPF_K {
                return i.k == RET_ALLOW;
            } else {
                let Some(taken) = jump_taken(code, acc, i.k) else {
                    return false;
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
        }
    }

    #[test]
    fn kernel_releases_compare_by_major_and_minor() {
        assert!(at_least("6.18.44-fc-v1272", 6, 7));
        assert!(at_least("6.7.0", 6, 7));
        assert!(at_least("7.0-rc1", 6, 7));
        assert!(!at_least("6.6.58-amd64", 6, 7));
        assert!(!at_least("5.19", 6, 7));
        assert!(!at_least("garbage", 6, 7));
    }

    /// An ioctl request as the 64-bit register the kernel passes (`Ioctl`
    /// is a u64 on glibc but an i32 on musl).
    #[allow(clippy::useless_conversion)]
    fn cmd(c: libc::Ioctl) -> u64 {
        u64::try_from(c).unwrap()
    }

    const NEWUSER: u64 = libc::CLONE_NEWUSER as u64;
    const NEWNS: u64 = libc::CLONE_NEWNS as u64;
    const NEWCGROUP: u64 = libc::CLONE_NEWCGROUP as u64;

    #[test]
    fn terminal_injection_is_refused_on_every_abi_where_the_kernel_would_allow_it() {
        for prog in [program(false, true), program(true, true)] {
            for abi in ABIS {
                let sti = cmd(libc::TIOCSTI);
                assert_eq!(run(&prog, abi.arch, abi.ioctl, [0, sti]), RET_EPERM);
                // High bits the kernel ignores do not get past the filter.
                assert_eq!(
                    run(&prog, abi.arch, abi.ioctl, [0, sti | 0xffff_ffff_0000_0000]),
                    RET_EPERM
                );
                assert_eq!(
                    run(&prog, abi.arch, abi.ioctl, [0, cmd(libc::TIOCLINUX)]),
                    RET_EPERM
                );
                assert_eq!(
                    run(&prog, abi.arch, abi.ioctl, [0, cmd(libc::TIOCGWINSZ)]),
                    RET_ALLOW
                );
                assert_eq!(
                    run(&prog, abi.arch, abi.ioctl, [0, cmd(libc::TIOCSPGRP)]),
                    RET_ALLOW
                );
            }
        }
    }

    #[test]
    fn the_calls_programs_make_most_are_left_to_the_action_cache() {
        let native = &ABIS[0];
        let common = [
            libc::SYS_getppid as u32,
            libc::SYS_read as u32,
            libc::SYS_write as u32,
        ];
        for nested in [false, true] {
            // Without CAP_SYS_ADMIN in the host's user namespace the
            // kernel refuses terminal injection itself: ioctl is decided
            // by its number, and cached.
            let prog = program(nested, false);
            for nr in common.iter().chain([&native.ioctl]) {
                assert!(cached_as_allowed(&prog, native.arch, *nr), "{nr}");
            }
            assert_eq!(
                run(&prog, native.arch, native.ioctl, [0, cmd(libc::TIOCSTI)]),
                RET_ALLOW
            );
            // The filter looks into ioctl only where it has to.
            let admin = program(nested, true);
            for nr in common {
                assert!(cached_as_allowed(&admin, native.arch, nr), "{nr}");
            }
            assert!(!cached_as_allowed(&admin, native.arch, native.ioctl));
            for nr in native.refused {
                assert!(!cached_as_allowed(&prog, native.arch, nr), "{nr}");
            }
        }
        // The flags of clone and unshare are read unless nesting is allowed.
        assert!(!cached_as_allowed(
            &program(false, false),
            native.arch,
            native.clone
        ));
        assert!(cached_as_allowed(
            &program(true, false),
            native.arch,
            native.clone
        ));
    }

    #[test]
    fn user_and_cgroup_namespaces_are_refused_unless_nesting_is_allowed() {
        let strict = program(false, false);
        let nested = program(true, false);
        for abi in ABIS {
            assert_eq!(
                run(&strict, abi.arch, abi.unshare, [NEWUSER | NEWNS, 0]),
                RET_EPERM
            );
            assert_eq!(run(&strict, abi.arch, abi.clone, [NEWUSER, 0]), RET_EPERM);
            assert_eq!(run(&strict, abi.arch, abi.clone3, [0, 0]), RET_ENOSYS);
            // A cgroup namespace of the jail's own could mount cgroupfs.
            assert_eq!(
                run(&strict, abi.arch, abi.unshare, [NEWCGROUP, 0]),
                RET_EPERM
            );
            assert_eq!(run(&strict, abi.arch, abi.clone, [NEWCGROUP, 0]), RET_EPERM);
            // Other namespaces: the capability check decides, as without the filter.
            assert_eq!(run(&strict, abi.arch, abi.unshare, [NEWNS, 0]), RET_ALLOW);
            assert_eq!(
                run(&strict, abi.arch, abi.clone, [libc::SIGCHLD as u64, 0]),
                RET_ALLOW
            );
            assert_eq!(run(&nested, abi.arch, abi.unshare, [NEWUSER, 0]), RET_ALLOW);
            assert_eq!(run(&nested, abi.arch, abi.clone3, [0, 0]), RET_ALLOW);
            assert_eq!(
                run(
                    &program(true, true),
                    abi.arch,
                    abi.ioctl,
                    [0, cmd(libc::TIOCSTI)]
                ),
                RET_EPERM
            );
        }
    }

    #[test]
    fn keyrings_and_io_uring_are_refused_on_every_abi() {
        for prog in [
            program(false, false),
            program(true, false),
            program(false, true),
            program(true, true),
        ] {
            for abi in ABIS {
                for nr in abi.refused {
                    assert_eq!(run(&prog, abi.arch, nr, [0, 0]), RET_EPERM, "{nr}");
                }
            }
        }
    }

    #[test]
    fn other_calls_pass_and_unknown_abis_die() {
        let prog = program(false, false);
        assert_eq!(
            run(&prog, ABIS[0].arch, libc::SYS_getpid as u32, [0, 0]),
            RET_ALLOW
        );
        assert_eq!(
            run(&prog, 0x1234, libc::SYS_getpid as u32, [0, 0]),
            RET_KILL
        );
        if ABIS[0].no_x32 {
            assert_eq!(
                run(&prog, ABIS[0].arch, X32_SYSCALL_BIT | 39, [0, 0]),
                RET_ENOSYS
            );
        }
    }
}
