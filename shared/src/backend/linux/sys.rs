//! Every unsafe call of the Linux backend, each wrapped in a safe function.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::unistd::{ForkResult, Pid};

/// fork(2). The callers are single-threaded command-line tools, so the
/// child may run arbitrary code until it execs or exits.
pub fn fork() -> io::Result<ForkResult> {
    // SAFETY: jkit's binaries do not start threads before forking; in a
    // multi-threaded test harness the child only runs code that takes no
    // locks held by other threads (no allocation-heavy work before exec or
    // _exit happens in the jail setup path under a held lock).
    unsafe { nix::unistd::fork() }.map_err(io::Error::from)
}

/// pidfd_open(2): a descriptor that becomes readable when `pid` exits.
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments; the result is a new fd
    // that we own, or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// ext2/3/4's FS_TOPDIR_FL ("the top of a directory hierarchy"), not in
/// the libc crate.
const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

/// Mark directory `dir` as the top of a directory hierarchy (chattr +T),
/// unless it is already. Fails with ENOTTY or EOPNOTSUPP where the
/// filesystem has no such flag.
pub fn set_topdir_flag(dir: &std::fs::File) -> io::Result<()> {
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int (the kernel's size for it,
    // whatever the request number says) through a pointer to ours.
    if unsafe { libc::ioctl(dir.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & FS_TOPDIR_FL != 0 {
        return Ok(());
    }
    flags |= FS_TOPDIR_FL;
    // SAFETY: FS_IOC_SETFLAGS reads one int through a pointer to ours.
    if unsafe { libc::ioctl(dir.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Swap `a` and `b` at once (renameat2 RENAME_EXCHANGE; nix has no
/// wrapper for musl).
pub fn rename_exchange(a: &std::path::Path, b: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &std::path::Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    };
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both paths are NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Make `to` share the data of `from` (FICLONE, a reflink): both open
/// files of one filesystem that can (btrfs, XFS); EOPNOTSUPP, EXDEV or
/// EINVAL elsewhere.
pub fn clone_file(from: BorrowedFd, to: BorrowedFd) -> io::Result<()> {
    // SAFETY: FICLONE takes the source descriptor as its integer argument
    // and reads no memory of ours.
    if unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Close every descriptor from `first` up, except those in `keep`.
///
/// It allocates nothing: it runs in children just forked, where another
/// thread of the parent may have held malloc's lock (musl's malloc, unlike
/// glibc's, does not reset it in the child).
pub fn close_fds_from(first: RawFd, keep: &[RawFd]) -> io::Result<()> {
    let mut lo = first.max(0);
    // The kept descriptors in ascending order, the lowest one left each time.
    while let Some(k) = keep.iter().copied().filter(|&k| k >= lo).min() {
        if k > lo {
            close_range(lo as u32, (k - 1) as u32)?;
        }
        lo = k + 1;
    }
    close_range(lo as u32, u32::MAX)
}

fn close_range(lo: u32, hi: u32) -> io::Result<()> {
    // SAFETY: close_range only closes descriptors of this process; the
    // callers own the process's descriptor table (just forked).
    let r = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Drop capability `cap` from the bounding set.
pub fn capbset_drop(cap: u32) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Clear the ambient capability set.
pub fn clear_ambient_caps() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Limit this process's effective, permitted and inheritable sets to `set`
/// (a bit mask of capability numbers).
pub fn capset(set: u64) -> io::Result<()> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let lo = set as u32;
    let hi = (set >> 32) as u32;
    let data = [
        CapData {
            effective: lo,
            permitted: lo,
            inheritable: 0,
        },
        CapData {
            effective: hi,
            permitted: hi,
            inheritable: 0,
        },
    ];
    // SAFETY: header and data point to valid, correctly laid out structs
    // for version 3 (two data elements), alive for the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Make this thread's effective capabilities its permitted ones (as after
/// a change of its filesystem ids from 0, which clears the file-related
/// ones from the effective set).
pub fn raise_effective_caps() -> io::Result<()> {
    update_caps(|d| d.effective = d.permitted)
}

/// Make this process's inheritable capabilities its permitted ones
/// (`inherit`), or none: a root that execs keeps its inheritable set
/// whatever its bounding set.
pub fn set_inheritable_caps(inherit: bool) -> io::Result<()> {
    update_caps(|d| d.inheritable = if inherit { d.permitted } else { 0 })
}

/// Change this thread's capability sets by `change`, applied to each half
/// of the capability numbers.
fn update_caps(change: impl Fn(&mut CapData)) -> io::Result<()> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header points to a valid version 3 header and data to two
    // writable elements, as version 3 asks, alive for the call.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    data.iter_mut().for_each(change);
    // SAFETY: as above; data now holds the sets to give the thread.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's `struct prctl_mm_map` (linux/prctl.h).
#[repr(C)]
#[derive(Default)]
struct MmMap {
    start_code: u64,
    end_code: u64,
    start_data: u64,
    end_data: u64,
    start_brk: u64,
    brk: u64,
    start_stack: u64,
    arg_start: u64,
    arg_end: u64,
    env_start: u64,
    env_end: u64,
    auxv: u64,
    auxv_size: u32,
    exe_fd: u32,
}

/// Make `block` (`NAME=value` strings, each ending in a NUL) what
/// /proc/PID/environ shows of this process and of those it forks. The
/// kernel takes the whole map of the process's areas at once
/// (PR_SET_MM_MAP, the one form that needs no CAP_SYS_RESOURCE): the
/// others as /proc/self/stat gives them, the heap's end as brk(0) does.
/// The block is copied to memory kept for the rest of the process's
/// life, on the heap: /proc shows an environment only from anonymous
/// memory, not from the program's image.
pub fn set_environ_block(block: &[u8]) -> io::Result<()> {
    let block: &'static [u8] = Vec::leak(block.to_vec());
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let bad = || io::Error::from_raw_os_error(libc::EINVAL);
    // Fields after the command's name, which ends at the last ')': the
    // first of them is field 3 of proc(5).
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .ok_or_else(bad)?
        .1
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |n: usize| fields.get(n - 4).copied().ok_or_else(bad);
    let start = block.as_ptr() as u64;
    let mut map = MmMap {
        start_code: field(26)?,
        end_code: field(27)?,
        start_stack: field(28)?,
        start_data: field(45)?,
        end_data: field(46)?,
        start_brk: field(47)?,
        arg_start: field(48)?,
        arg_end: field(49)?,
        env_start: start,
        env_end: start + block.len() as u64,
        exe_fd: u32::MAX,
        ..MmMap::default()
    };
    // SAFETY: brk(0) changes nothing; it returns the heap's current end.
    map.brk = unsafe { libc::syscall(libc::SYS_brk, 0) } as u64;
    // SAFETY: `map` is a live prctl_mm_map of the size passed; the kernel
    // reads it and records the addresses, which point into this process
    // (the block is leaked: it lives as long as the process); nothing is
    // written.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_MM,
            libc::PR_SET_MM_MAP as libc::c_ulong,
            &map as *const MmMap,
            std::mem::size_of::<MmMap>() as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Bring the loopback interface of the current network namespace up.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket(2) with constant arguments; the result is checked and
    // owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the flags of the named interface into req,
    // which is a valid ifreq for the whole call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just filled ifru_flags, the active union member.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above, SIOCSIFFLAGS reads req.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// _exit(2): end a forked child without running the parent's exit handlers
/// or flushing buffers it inherited.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// Give the kernel back what this long-lived process holds but no longer
/// uses: malloc's free memory, and the stack below the caller's frame (a
/// forked process keeps every stack page its parent's deepest calls
/// touched). A deeper call later gets fresh zeroed pages. Only for the
/// main thread of a single-threaded process: the kernel keeps unmapped a
/// gap below the main stack, which ends the walk down it (a thread's
/// stack may lie right above another's).
#[inline(never)]
pub fn release_unused_memory() {
    release_cached_blocks();
    // musl's malloc returns freed memory itself.
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only hands free memory of malloc's back.
    unsafe {
        libc::malloc_trim(0);
    }
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| usize::try_from(p).ok())
        .unwrap_or(4096);
    let here = 0u8;
    let frame = std::hint::black_box(&here) as *const u8 as usize;
    // Two pages below this frame's page hold the frames of the calls
    // below (mincore's, madvise's): nothing in use lies under `top`.
    let top = (frame & !(page - 1)).saturating_sub(2 * page);
    // The stack's mapping ends where mincore finds no page mapped (the
    // kernel keeps a gap below a stack), and is no larger than its limit.
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_STACK)
        .map_or(8 << 20, |(soft, _)| {
            usize::try_from(soft).unwrap_or(usize::MAX)
        });
    let mut bottom = top;
    let mut resident = 0u8;
    while bottom >= page && top - bottom < limit {
        // SAFETY: mincore reads the page tables of one page and writes
        // one byte into `resident`, ours.
        let r = unsafe { libc::mincore((bottom - page) as *mut libc::c_void, page, &mut resident) };
        if r != 0 {
            break;
        }
        bottom -= page;
    }
    if bottom < top {
        // SAFETY: [bottom, top) is stack below every live frame (see
        // `top`): discarding it loses nothing; the mapping stays and
        // faults zeroed pages back in.
        unsafe {
            libc::madvise(
                bottom as *mut libc::c_void,
                top - bottom,
                libc::MADV_DONTNEED,
            );
        }
    }
}

/// Install a seccomp filter (classic BPF) on this process and all it will
/// start. Without no_new_privs the caller needs CAP_SYS_ADMIN.
pub fn install_seccomp(filter: &[libc::sock_filter]) -> io::Result<()> {
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points to `filter`, which outlives the call; the
    // kernel copies the program and does not write through the pointer.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Make `vars` the whole environment of this process (so that execvp's
/// PATH search and the new program see it). Only for a forked child about
/// to exec.
pub fn replace_environment(vars: &[(std::ffi::CString, std::ffi::CString)]) -> io::Result<()> {
    // SAFETY: the caller is a forked child, which has a single thread, so
    // nothing reads or writes the environment concurrently.
    if unsafe { libc::clearenv() } != 0 {
        return Err(io::Error::last_os_error());
    }
    for (name, value) in vars {
        // SAFETY: as above; both strings are NUL-terminated and setenv
        // copies them.
        if unsafe { libc::setenv(name.as_ptr(), value.as_ptr(), 1) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The standard signals (1 to 31) this process ignores (`SIG_IGN`), as
/// bits (n-1 for signal n).
pub fn ignored_signals() -> u64 {
    let mut bits = 0;
    for sig in 1..32 {
        // SAFETY: sigaction is plain data, for which all zeroes is valid.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a NULL new action only reads the current one into `old`,
        // which lives for the call.
        let read = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) };
        if read == 0 && old.sa_sigaction == libc::SIG_IGN {
            bits |= 1u64 << (sig - 1);
        }
    }
    bits
}

/// Give every standard signal (1 to 31; SIGKILL and SIGSTOP aside) the
/// default action, but those in `ignored` (bits n-1), which are ignored:
/// a forked child about to exec takes the dispositions a caller had (and
/// SIGPIPE, which Rust ignores at start-up, comes back as a shell would
/// start a program with it).
pub fn set_signal_dispositions(ignored: u64) -> io::Result<()> {
    use nix::sys::signal::{SigHandler, Signal, signal};
    for sig in Signal::iterator().filter(|s| (*s as i32) < 32) {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        let handler = if ignored & (1u64 << (sig as i32 - 1)) != 0 {
            SigHandler::SigIgn
        } else {
            SigHandler::SigDfl
        };
        // SAFETY: SIG_DFL and SIG_IGN install no handler code.
        unsafe { signal(sig, handler) }.map_err(io::Error::from)?;
    }
    Ok(())
}

/// prlimit(2): set `resource` of process `pid` to `soft`/`hard`
/// (`u64::MAX` is unlimited).
pub fn prlimit(
    pid: i32,
    resource: nix::sys::resource::Resource,
    soft: u64,
    hard: u64,
) -> io::Result<()> {
    let limit = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `limit` is a valid rlimit64 for the call and the old-value
    // pointer is NULL, which the kernel accepts; pid and resource are
    // plain integers.
    let r = unsafe { libc::prlimit64(pid, resource as _, &limit, std::ptr::null_mut()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// CLOCK_BOOTTIME in microseconds (the clock of /proc start times).
pub fn boottime_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec the kernel fills; the clock id is a
    // constant.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } < 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// `struct clone_args` of clone3(2), up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Fork, with the child born in the v2 cgroup of the directory `cgroup`
/// when one is given: clone3 with `CLONE_INTO_CGROUP` (Linux 5.7) places
/// it there without a migration (a process's move waits for an RCU grace
/// period unless another move just passed one). Returns whether the
/// child was born there: `false` without a directory or on an older
/// kernel (a plain fork; the caller moves it).
/// Only for a single-threaded process, see [`fork_into_cgroup`].
pub fn fork_in_cgroup(cgroup: Option<std::os::fd::BorrowedFd>) -> (io::Result<ForkResult>, bool) {
    match cgroup.map(fork_into_cgroup) {
        Some(Ok(forked)) => (Ok(forked), true),
        _ => (fork(), false),
    }
}

/// fork(2) with the child born in the v2 cgroup of the directory `cgroup`
/// (clone3 with CLONE_INTO_CGROUP, Linux 5.7), so that it never migrates.
/// Only for a single-threaded process: no fork handlers run and glibc's
/// cached thread id stays the parent's in the child, which therefore only
/// makes system calls, allocates, forks (glibc's fork gives its own child
/// a fresh thread id) and execs or exits (as jexec's command and jmk's
/// namespace process do).
fn fork_into_cgroup(cgroup: std::os::fd::BorrowedFd) -> io::Result<ForkResult> {
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    clone3(&args)
}

/// clone3(2) with `args` that name no stack and no `CLONE_VM`: a fork.
fn clone3(args: &CloneArgs) -> io::Result<ForkResult> {
    // SAFETY: `args` is a valid clone_args of the size passed, alive for
    // the call; without CLONE_VM and without a stack the child gets a copy
    // of this single-threaded process, as with fork(2), and the callers
    // keep to what that allows (see `fork_into_cgroup`).
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match r {
        r if r < 0 => Err(io::Error::last_os_error()),
        0 => Ok(ForkResult::Child),
        pid => Ok(ForkResult::Parent {
            child: Pid::from_raw(pid as i32),
        }),
    }
}

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount tree at
/// `path` (with its submounts), as a descriptor that can be moved into
/// another mount namespace.
pub fn open_tree_clone(path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags =
        OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_RECURSIVE as libc::c_uint;
    // SAFETY: path is a valid NUL-terminated string for the call; the
    // result is a new descriptor we own, or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// open_tree(2) with OPEN_TREE_CLONE of what the descriptor `at` refers
/// to: a detached copy of the mount tree from there down, as
/// [`open_tree_clone`] makes of a path.
pub fn open_tree_clone_of(at: BorrowedFd) -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | libc::AT_RECURSIVE as libc::c_uint
        | libc::AT_EMPTY_PATH as libc::c_uint;
    // SAFETY: the empty path is a valid C string and `at` an open
    // descriptor for the call; the result is a new descriptor we own, or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, at.as_raw_fd(), c"".as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Mount attributes (`MOUNT_ATTR_*` of linux/mount.h), for
/// [`set_tree_attrs`] and [`new_mount`].
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// No set-user-id or set-group-id execution.
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// No device nodes.
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
/// No execution.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// An idmapped mount (Linux 5.12): the ids of the user namespace given
/// to [`set_tree_idmap`] are how the mount shows the files' owners.
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// mount_setattr(2): set the mount attributes `attrs` on the detached tree
/// `tree`, recursively.
pub fn set_tree_attrs(tree: &OwnedFd, attrs: u64) -> io::Result<()> {
    mount_setattr(tree, attrs, None)
}

/// mount_setattr(2): make the detached tree `tree` an idmapped mount with
/// the id mapping of the user namespace `userns`, with the mount
/// attributes `attrs` too, recursively.
pub fn set_tree_idmap(tree: &OwnedFd, userns: BorrowedFd, attrs: u64) -> io::Result<()> {
    mount_setattr(tree, MOUNT_ATTR_IDMAP | attrs, Some(userns))
}

/// mount_setattr(2) on the whole detached tree `tree`: set the attributes
/// `attr_set`, with the user namespace `userns` for an id mapping.
fn mount_setattr(tree: &OwnedFd, attr_set: u64, userns: Option<BorrowedFd>) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.map_or(0, |fd| fd.as_raw_fd() as u64),
    };
    let flags = (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint;
    // SAFETY: the empty path is a valid C string, attr is a valid
    // mount_attr of the size passed, both alive for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// fork(2) with the child in new namespaces `flags` (clone3; with
/// `CLONE_NEWUSER` the others are owned by the new user namespace, which
/// the caller, still in its own, can then map). Only for a
/// single-threaded process, as [`fork_into_cgroup`].
pub fn fork_into_namespaces(flags: nix::sched::CloneFlags) -> io::Result<ForkResult> {
    let args = CloneArgs {
        flags: flags.bits() as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    clone3(&args)
}

const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// Send (a copy of) the descriptor `fd` on the unix socket `sock`
/// (SCM_RIGHTS), with one byte of data to carry it.
pub fn send_fd(sock: BorrowedFd, fd: BorrowedFd) -> io::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let fds = [fd.as_raw_fd()];
    let data = [io::IoSlice::new(b"d")];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &data,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

/// Receive a descriptor sent with [`send_fd`] on `sock`, close-on-exec;
/// `None` when the socket ends without one. Descriptors beyond the first
/// are closed.
pub fn recv_fd(sock: BorrowedFd) -> io::Result<Option<OwnedFd>> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut byte = [0u8; 1];
    let mut data = [io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = loop {
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut data,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => {}
            got => break got?,
        }
    };
    let mut received = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: SCM_RIGHTS installed each of these descriptors in
            // this process just now; nothing else owns them.
            received.extend(
                fds.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    Ok(received.into_iter().next())
}

/// move_mount(2): attach the detached tree `tree` at `target` in the
/// caller's mount namespace.
pub fn move_tree(tree: &OwnedFd, target: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: both paths are valid C strings alive for the call; the
    // descriptor is open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// move_mount(2): attach the detached tree `tree` on the file or directory
/// the descriptor `target` refers to, whatever its path now leads to.
pub fn move_tree_onto(tree: &OwnedFd, target: BorrowedFd) -> io::Result<()> {
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: the empty paths are valid C strings alive for the call; both
    // descriptors are open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A new, detached mount of a fresh filesystem of type `fstype` (fsopen,
/// fsconfig, fsmount), with the mount attributes `attrs`: each of
/// `options` sets a parameter to a value, or a flag when it has none.
pub fn new_mount(
    fstype: &std::ffi::CStr,
    options: &[(&std::ffi::CStr, Option<&std::ffi::CStr>)],
    attrs: u64,
) -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
    const FSCONFIG_SET_FLAG: libc::c_uint = 0;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
    // SAFETY: fstype is a valid C string alive for the call; the result is
    // a new descriptor we own, or -1.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor owned by nobody else.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as RawFd) };
    let config = |cmd: libc::c_uint, key: *const libc::c_char, value: *const libc::c_char| {
        // SAFETY: key and value are NULL or valid C strings alive for the
        // call (fsconfig reads no value for a flag or a command).
        let r = unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, key, value, 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    for (key, value) in options {
        match value {
            Some(v) => config(FSCONFIG_SET_STRING, key.as_ptr(), v.as_ptr())?,
            None => config(FSCONFIG_SET_FLAG, key.as_ptr(), std::ptr::null())?,
        }
    }
    config(FSCONFIG_CMD_CREATE, std::ptr::null(), std::ptr::null())?;
    // SAFETY: plain syscall with integer arguments on a descriptor we own;
    // the result is a new descriptor we own, or -1.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    if mnt < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as RawFd) })
}

/// openat2(2) with `RESOLVE_IN_ROOT`: open `path` as though the directory
/// `root` were the root directory, so that `..` and symlinks (absolute
/// ones too) resolve inside it and never leave it, as a chroot's process
/// would see them; magic links (`/proc/PID/fd/N`) are refused. `flags` are
/// open(2)'s; the descriptor is close-on-exec.
pub fn open_in_root(
    root: BorrowedFd,
    path: &std::ffi::CStr,
    flags: libc::c_int,
) -> io::Result<OwnedFd> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    };
    loop {
        // SAFETY: path is a valid C string and how a valid open_how of the
        // size passed, both alive for the call; the result is a new
        // descriptor we own, or -1.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel returned a fresh descriptor owned by
            // nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let e = io::Error::last_os_error();
        // EAGAIN: a rename elsewhere on the system raced the lookup, which
        // the kernel refuses rather than risk leaving the root; try again.
        if e.raw_os_error() != Some(libc::EAGAIN) {
            return Err(e);
        }
    }
}

/// accept4(2) on the non-blocking listening socket `listener`: the next
/// pending connection, close-on-exec and non-blocking.
pub fn accept(listener: std::os::fd::BorrowedFd) -> io::Result<OwnedFd> {
    // SAFETY: the addresses are NULL, which accept4 accepts; the result is
    // a new descriptor we own, or -1.
    let fd = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Take ownership of the descriptors an `SCM_RIGHTS` message just passed
/// this process (nix hands them over as raw numbers).
pub fn received_fds(fds: Vec<RawFd>) -> Vec<OwnedFd> {
    fds.into_iter()
        // SAFETY: the kernel installed each descriptor in this process
        // while receiving the message; nothing else knows its number yet.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect()
}

/// Take ownership of descriptor `fd`, which the process that exec'd this
/// program left open for it, once it is checked to be open. Each number
/// must be taken at most once.
pub fn take_inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open, and nothing in this fresh process
    // image knows its number but the caller, which takes it once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The slave of the pseudo-terminal whose master is `master`: unlocked
/// (TIOCSPTLCK 0), then opened through the master itself (TIOCGPTPEER,
/// Linux 4.13), so no path is looked up, in the devpts instance the
/// master belongs to; read-write, close-on-exec, not made the controlling
/// terminal.
pub fn open_pty_slave(master: BorrowedFd) -> io::Result<OwnedFd> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through a pointer to ours, alive
    // for the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as its integer argument and
    // returns a new descriptor, or -1.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Make the terminal `tty` the controlling terminal of this process, a
/// session leader without one (TIOCSCTTY, without stealing it from
/// another session).
pub fn set_controlling_terminal(tty: BorrowedFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
    if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The window size of terminal `tty` (TIOCGWINSZ).
pub fn window_size(tty: BorrowedFd) -> io::Result<libc::winsize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize through a pointer to ours,
    // alive for the call.
    if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut size) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size)
}

/// Set the window size of terminal `tty` (TIOCSWINSZ; the kernel signals
/// its foreground process group when the size changes).
pub fn set_window_size(tty: BorrowedFd, size: &libc::winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads one winsize through a pointer to ours,
    // alive for the call.
    if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, size) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A devpts instance of its own, mounted nowhere (fsopen, fsconfig and
/// fsmount, Linux 5.2): a descriptor of its root, close-on-exec. Needs
/// CAP_SYS_ADMIN over the caller's mount namespace.
pub fn unattached_devpts() -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: the name is a valid C string alive for the call; the result
    // is a new descriptor we own, or -1.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"devpts".as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor owned by nobody else.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as RawFd) };
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux (NULL, 0).
    let created = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if created < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: integer arguments only; the result is a new descriptor we
    // own, or -1.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    if mnt < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as RawFd) })
}

/// Standard descriptor `n` (0, 1 or 2) of this process.
pub fn standard_fd(n: u8) -> BorrowedFd<'static> {
    let fd = RawFd::from(n.min(2));
    // SAFETY: 0, 1 and 2 are open for the life of the process: the tools'
    // start-up (`cli::enter`) opens a closed one on /dev/null, and nothing
    // in jkit closes them (dup2 onto one replaces it in one step).
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// The name of the extended attribute that holds a file's capabilities.
const FILE_CAPS_XATTR: &std::ffi::CStr = c"security.capability";

/// fgetxattr(2) of `security.capability`: the capabilities of the open
/// file `file`, `None` when it has none.
pub fn file_caps(file: BorrowedFd) -> io::Result<Option<Vec<u8>>> {
    // The largest value is 24 bytes (revision 3).
    let mut buf = [0u8; 64];
    // SAFETY: the name is a valid C string and buf a writable buffer of
    // the length passed, both alive for the call.
    let n = unsafe {
        libc::fgetxattr(
            file.as_raw_fd(),
            FILE_CAPS_XATTR.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA | libc::EOPNOTSUPP) => Ok(None),
            _ => Err(e),
        };
    }
    Ok(Some(buf[..n as usize].to_vec()))
}

/// fsetxattr(2) of `security.capability`: give the open file `file` the
/// capabilities `value`.
pub fn set_file_caps(file: BorrowedFd, value: &[u8]) -> io::Result<()> {
    // SAFETY: the name is a valid C string and value a buffer of the
    // length passed, both alive for the call.
    let r = unsafe {
        libc::fsetxattr(
            file.as_raw_fd(),
            FILE_CAPS_XATTR.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The largest list of names, and the largest value, of extended
/// attributes (XATTR_LIST_MAX, XATTR_SIZE_MAX).
const XATTR_MAX: usize = 65_536;

/// flistxattr(2): the names of the extended attributes of the open file
/// `file` (none where its filesystem has none).
pub fn xattr_names(file: BorrowedFd) -> io::Result<Vec<std::ffi::CString>> {
    let mut buf = vec![0u8; XATTR_MAX];
    // SAFETY: buf is a writable buffer of the length passed, alive for the
    // call.
    let n = unsafe { libc::flistxattr(file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) => Ok(Vec::new()),
            _ => Err(e),
        };
    }
    buf.truncate(n as usize);
    Ok(buf
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .filter_map(|name| std::ffi::CString::new(name).ok())
        .collect())
}

/// fgetxattr(2): the value of the extended attribute `name` of the open
/// file `file`, `None` when it has none of that name.
pub fn xattr(file: BorrowedFd, name: &std::ffi::CStr) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; XATTR_MAX];
    // SAFETY: the name is a valid C string and buf a writable buffer of
    // the length passed, both alive for the call.
    let n = unsafe {
        libc::fgetxattr(
            file.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA) => Ok(None),
            _ => Err(e),
        };
    }
    buf.truncate(n as usize);
    Ok(Some(buf))
}

/// fsetxattr(2): give the open file `file` the extended attribute `name`
/// with `value`.
pub fn set_xattr(file: BorrowedFd, name: &std::ffi::CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: the name is a valid C string and value a buffer of the
    // length passed, both alive for the call.
    let r = unsafe {
        libc::fsetxattr(
            file.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's Landlock ABI version (landlock_create_ruleset with
/// LANDLOCK_CREATE_RULESET_VERSION); an error where Landlock is missing or
/// off.
pub fn landlock_abi() -> io::Result<i32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with the version flag the attribute must be NULL and its size
    // 0; integer arguments otherwise, nothing is written.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if v < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v as i32)
}

/// `struct landlock_ruleset_attr` as of Landlock ABI 6.
#[repr(C)]
struct LandlockRulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

/// Put this process, and every process it forks from now on, in a new
/// Landlock domain that handles no access right but the IPC `scoped`
/// (LANDLOCK_SCOPE_*, ABI 6). Needs CAP_SYS_ADMIN in the caller's user
/// namespace, or no_new_privs.
pub fn landlock_scope_self(scoped: u64) -> io::Result<()> {
    let attr = LandlockRulesetAttr {
        handled_access_fs: 0,
        handled_access_net: 0,
        scoped,
    };
    // SAFETY: `attr` is a live `landlock_ruleset_attr` of the size passed,
    // which the kernel only reads; the result is a new descriptor we own,
    // or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const LandlockRulesetAttr,
            std::mem::size_of::<LandlockRulesetAttr>(),
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor owned by nobody else.
    let ruleset = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    // SAFETY: integer arguments only.
    if unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// statx(2) of `path` for the unique id of the mount it is on (Linux 6.8:
/// never reused until the next boot); `None` where the kernel has no such
/// id.
pub fn unique_mount_id(path: &std::ffi::CStr) -> io::Result<Option<u64>> {
    // SAFETY: statx is plain old data; all zeroes is a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: path is a valid C string and st a writable statx, both
    // alive for the call.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_MNT_ID_UNIQUE,
            &mut st,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.stx_mask & libc::STATX_MNT_ID_UNIQUE != 0).then_some(st.stx_mnt_id))
}

/// Whether `pid` is a child of this process not yet reaped, whatever its
/// state (waitid with WNOWAIT, without blocking). Raw, because nix's
/// decoding fails on a child ended by a real-time signal, which is still
/// unreaped and still leads its process group.
pub fn is_unreaped_child(pid: Pid) -> bool {
    let Ok(id) = libc::id_t::try_from(pid.as_raw()) else {
        return false;
    };
    // SAFETY: an all-zero siginfo_t is valid (plain integers).
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WSTOPPED | libc::WCONTINUED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: waitid writes one siginfo_t through a pointer to ours.
    unsafe { libc::waitid(libc::P_PID, id, &mut info, flags) == 0 }
}

/// waitpid(-1) without blocking, for stops and continues too: the pid of
/// a child whose state changed and its raw wait status, `None` when none
/// has (or there is no child). Raw, because nix's decoding cannot hold a
/// death by a real-time signal and would lose the reaped status.
pub fn wait_any_child() -> io::Result<Option<(Pid, libc::c_int)>> {
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid writes one int through a pointer to ours.
    let pid = unsafe {
        libc::waitpid(
            -1,
            &mut status,
            libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED,
        )
    };
    match pid {
        0 => Ok(None),
        p if p < 0 => match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ECHILD) => Ok(None),
            e => Err(e),
        },
        p => Ok(Some((Pid::from_raw(p), status))),
    }
}

/// The global allocator of jkit on Linux. musl's malloc (that of the
/// static release builds) hands a group of blocks back to the kernel as
/// soon as its last block is free, so a command that allocates and frees
/// by turns pays an mmap, a munmap and fresh zeroed pages again and again:
/// about a tenth of `jmk create` and `jmk start`. The process's main
/// thread keeps the small blocks it frees, by size class, for its next
/// allocations ([`BlockCache`]); other threads (the few an import starts,
/// a test harness's) allocate from malloc as they are, and keep nothing
/// that their exit would lose. glibc's malloc keeps free memory itself;
/// the cache in front of it is one configuration less.
#[global_allocator]
static ALLOCATOR: ReusingAlloc = ReusingAlloc;

/// malloc, with the main thread's [`BlockCache`] in front of it.
pub struct ReusingAlloc;

/// Size classes: musl's own (mallocng's slot sizes, in units of 16 bytes,
/// each slot holding 4 bytes of musl's header), up to 64 KiB; larger
/// blocks musl maps on their own, or are rare enough to go straight to
/// malloc. A cached block is therefore no larger than musl would have
/// made it for the request alone: the init, which keeps what its parent
/// allocated, holds no more than without the cache.
const CLASS_UNITS: [u16; 44] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 18, 20, 25, 31, 36, 42, 50, 63, 72, 84, 102, 127, 146,
    170, 204, 255, 292, 340, 409, 511, 584, 682, 818, 1023, 1169, 1364, 1637, 2047, 2340, 2730,
    3276, 4095,
];
const CLASSES: usize = CLASS_UNITS.len();
/// At most this many bytes wait in a cache; more are freed at once.
const CACHE_LIMIT: usize = 64 << 10;
/// The alignment a block of a class is allocated with: that of any layout
/// the class holds (malloc's 16 bytes, or less for the smallest class).
const CLASS_ALIGN: usize = 16;

/// Free blocks by size class, each class a list linked through the
/// blocks' first word.
pub struct BlockCache {
    heads: [std::cell::Cell<*mut u8>; CLASSES],
    bytes: std::cell::Cell<usize>,
}

impl BlockCache {
    const fn new() -> Self {
        BlockCache {
            heads: [const { std::cell::Cell::new(std::ptr::null_mut()) }; CLASSES],
            bytes: std::cell::Cell::new(0),
        }
    }

    /// The bytes a block of `class` holds.
    fn capacity(class: usize) -> usize {
        slot_bytes(CLASS_UNITS[class])
    }

    /// The size class of `layout`, if its blocks are cached.
    fn class_of(layout: std::alloc::Layout) -> Option<usize> {
        if layout.align() > CLASS_ALIGN {
            return None;
        }
        let class = CLASS_UNITS.partition_point(|&u| slot_bytes(u) < layout.size());
        (class < CLASSES).then_some(class)
    }

    /// The layout malloc allocates blocks of `class` with.
    fn class_layout(class: usize) -> std::alloc::Layout {
        let size = Self::capacity(class);
        // A layout no larger than 12 bytes is aligned to at most 8.
        let align = if size < CLASS_ALIGN { 8 } else { CLASS_ALIGN };
        std::alloc::Layout::from_size_align(size, align)
            .unwrap_or(std::alloc::Layout::new::<u128>())
    }

    /// A cached block of `class`, if one waits.
    fn take(&self, class: usize) -> Option<*mut u8> {
        let head = self.heads[class].get();
        if head.is_null() {
            return None;
        }
        // SAFETY: a cached block is free, ours, at least 12 bytes and
        // 8-aligned; its first word holds the next block (see `keep`).
        let next = unsafe { head.cast::<*mut u8>().read() };
        self.heads[class].set(next);
        self.bytes.set(self.bytes.get() - Self::capacity(class));
        Some(head)
    }

    /// Cache the free block `block` of `class`; false (the caller frees
    /// it) when the cache is full.
    fn keep(&self, class: usize, block: *mut u8) -> bool {
        let size = Self::capacity(class);
        if self.bytes.get() + size > CACHE_LIMIT {
            return false;
        }
        // SAFETY: the block is free, ours (its owner gave it back), and
        // large and aligned enough for a pointer.
        unsafe { block.cast::<*mut u8>().write(self.heads[class].get()) };
        self.heads[class].set(block);
        self.bytes.set(self.bytes.get() + size);
        true
    }

    /// Keep nothing from now on (the cache of a thread other than the
    /// main one, which is empty).
    fn close(&self) {
        self.bytes.set(CACHE_LIMIT);
    }

    /// Free every cached block.
    fn release(&self) {
        use std::alloc::GlobalAlloc;
        for class in 0..CLASSES {
            while let Some(block) = self.take(class) {
                // SAFETY: the block came from malloc with its class's layout.
                unsafe { std::alloc::System.dealloc(block, Self::class_layout(class)) };
            }
        }
    }

    fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::alloc::GlobalAlloc;
        match Self::class_of(layout) {
            Some(class) => self.take(class).unwrap_or_else(|| {
                // SAFETY: a class's layout has a non-zero size.
                unsafe { std::alloc::System.alloc(Self::class_layout(class)) }
            }),
            // SAFETY: the caller's layout, of non-zero size (GlobalAlloc).
            None => unsafe { std::alloc::System.alloc(layout) },
        }
    }

    /// # Safety
    /// `block` came from this cache's `alloc` (or [`ReusingAlloc`]'s, of
    /// any thread) with `layout`.
    unsafe fn dealloc(&self, block: *mut u8, layout: std::alloc::Layout) {
        use std::alloc::GlobalAlloc;
        match Self::class_of(layout) {
            Some(class) if self.keep(class, block) => {}
            // SAFETY: it came from malloc with its class's layout.
            Some(class) => unsafe { std::alloc::System.dealloc(block, Self::class_layout(class)) },
            // SAFETY: it came from malloc with `layout` (see `alloc`).
            None => unsafe { std::alloc::System.dealloc(block, layout) },
        }
    }
}

/// The bytes a musl slot of `units` 16-byte units holds, less its header.
fn slot_bytes(units: u16) -> usize {
    usize::from(units) * 16 - 4
}

thread_local! {
    /// This thread's cache: closed unless it is the main thread.
    static CACHE: BlockCache = const { BlockCache::new() };
    /// Whether this thread has been told from the main one (and its cache
    /// closed if it is not). A forked child inherits both from the thread
    /// that forked.
    static THREAD_CHECKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with this thread's cache, closed on its first use unless this
/// is the main thread.
fn with_cache<T>(f: impl FnOnce(&BlockCache) -> T) -> T {
    CACHE.with(|cache| {
        THREAD_CHECKED.with(|checked| {
            if !checked.replace(true) {
                // SAFETY: gettid and getpid take no arguments and touch no memory.
                let (tid, pid) = unsafe { (libc::syscall(libc::SYS_gettid), libc::getpid()) };
                if tid != libc::c_long::from(pid) {
                    cache.close();
                }
            }
        });
        f(cache)
    })
}

// SAFETY: every block comes from malloc (System) with the layout it is
// freed with: a cached class's layout for any layout of that class, the
// caller's layout otherwise; a cached block is handed out once until it
// is freed again.
unsafe impl std::alloc::GlobalAlloc for ReusingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        with_cache(|c| c.alloc(layout))
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's block, from `alloc` with `layout`.
        with_cache(|c| unsafe { c.dealloc(block, layout) })
    }

    unsafe fn realloc(
        &self,
        block: *mut u8,
        layout: std::alloc::Layout,
        new_size: usize,
    ) -> *mut u8 {
        let Ok(new_layout) = std::alloc::Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        match (
            BlockCache::class_of(layout),
            BlockCache::class_of(new_layout),
        ) {
            // The block already has room for its new size.
            (Some(old), Some(new)) if old == new => block,
            // SAFETY: a block malloc gave with `layout` (neither size is cached).
            (None, None) => unsafe { std::alloc::System.realloc(block, layout, new_size) },
            _ => with_cache(|c| {
                let moved = c.alloc(new_layout);
                if !moved.is_null() {
                    // SAFETY: both blocks are live, distinct, and at least
                    // the smaller size long.
                    unsafe {
                        std::ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        c.dealloc(block, layout);
                    }
                }
                moved
            }),
        }
    }
}

/// Free the blocks this thread's cache keeps (see [`ReusingAlloc`]).
fn release_cached_blocks() {
    with_cache(BlockCache::release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_ended_by_a_real_time_signal_is_unreaped_until_waited_for() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
        assert!(is_unreaped_child(pid));
        // SIGRTMIN + 2, which nix's wait status cannot hold.
        // SAFETY: kill(2) with a pid and a signal number; no memory.
        assert_eq!(unsafe { libc::kill(pid.as_raw(), libc::SIGRTMIN() + 2) }, 0);
        let stat = format!("/proc/{pid}/stat");
        while !std::fs::read_to_string(&stat).unwrap().contains(") Z ") {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(is_unreaped_child(pid), "a zombie is still unreaped");
        child.wait().unwrap();
        assert!(!is_unreaped_child(pid));
    }

    fn layout(size: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn threads_other_than_the_main_one_keep_no_blocks() {
        // The harness runs tests on threads of its own.
        assert!(with_cache(|c| !c.keep(0, std::ptr::null_mut())));
    }

    #[test]
    fn a_freed_block_serves_the_next_allocation_of_its_size_class() {
        let cache = BlockCache::new();
        let first = cache.alloc(layout(24));
        assert!(!first.is_null());
        // SAFETY: `first` came from `cache.alloc` with this layout.
        unsafe { cache.dealloc(first, layout(24)) };
        let again = cache.alloc(layout(28));
        assert_eq!(
            again, first,
            "24 and 28 bytes are one class (a 32-byte slot)"
        );
        let other = cache.alloc(layout(24));
        assert_ne!(other, first, "a cached block is handed out once");
        let larger = cache.alloc(layout(29));
        assert_ne!(larger, first);
        // SAFETY: each came from `cache.alloc` with a layout of its class.
        unsafe {
            cache.dealloc(first, layout(28));
            cache.dealloc(other, layout(24));
            cache.dealloc(larger, layout(29));
        }
        assert_eq!(cache.bytes.get(), 28 + 28 + 44);
        cache.release();
        assert_eq!(cache.bytes.get(), 0);
        assert!(cache.heads.iter().all(|h| h.get().is_null()));
    }

    #[test]
    fn the_cache_frees_what_exceeds_its_limit_and_never_takes_large_or_overaligned_blocks() {
        let cache = BlockCache::new();
        let most = BlockCache::capacity(CLASSES - 1);
        assert_eq!(most, 65_516, "musl's largest class below 64 KiB");
        let blocks: Vec<*mut u8> = (0..CACHE_LIMIT / most + 3)
            .map(|_| cache.alloc(layout(60_000)))
            .collect();
        for &b in &blocks {
            // SAFETY: from `cache.alloc` with this layout.
            unsafe { cache.dealloc(b, layout(60_000)) };
        }
        assert_eq!(cache.bytes.get(), CACHE_LIMIT / most * most);
        cache.release();
        assert_eq!(BlockCache::class_of(layout(most + 1)), None);
        let overaligned = std::alloc::Layout::from_size_align(64, 32).unwrap();
        assert_eq!(BlockCache::class_of(overaligned), None);
        assert_eq!(BlockCache::class_of(layout(1)), Some(0));
        assert_eq!(BlockCache::class_of(layout(12)), Some(0));
        assert_eq!(BlockCache::class_of(layout(13)), Some(1));
    }

    #[test]
    fn realloc_keeps_a_block_that_has_room_and_moves_the_contents_of_one_that_has_not() {
        use std::alloc::GlobalAlloc;
        // SAFETY: each block is used within its layout and freed with it.
        unsafe {
            let a = ReusingAlloc.alloc(layout(20));
            a.write_bytes(7, 20);
            let same = ReusingAlloc.realloc(a, layout(20), 28);
            assert_eq!(same, a, "20 and 28 bytes are one class");
            let moved = ReusingAlloc.realloc(same, layout(28), 100);
            assert!((0..20).all(|i| *moved.add(i) == 7));
            let large = ReusingAlloc.realloc(moved, layout(100), 1 << 20);
            assert!((0..20).all(|i| *large.add(i) == 7));
            let back = ReusingAlloc.realloc(large, layout(1 << 20), 10);
            assert!((0..10).all(|i| *back.add(i) == 7));
            ReusingAlloc.dealloc(back, layout(10));
        }
    }

    #[test]
    fn close_fds_from_keeps_only_the_kept_descriptors_at_and_above_the_first() {
        // In a child: the test harness's own descriptors stay open.
        match fork().unwrap() {
            ForkResult::Child => {
                let open = |fd: RawFd| {
                    // SAFETY: F_GETFD only reads the descriptor's flags.
                    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
                };
                // No allocation in the child (see close_fds_from).
                // SAFETY: dup(2) of stdin makes a new descriptor.
                let fds: [RawFd; 6] = std::array::from_fn(|_| unsafe { libc::dup(0) });
                let (first, keep) = (fds[1], [fds[4], fds[2], fds[0]]);
                let ok = close_fds_from(first, &keep).is_ok()
                    && fds
                        .iter()
                        .all(|&fd| open(fd) == (fd < first || keep.contains(&fd)))
                    && !open(fds[5] + 1);
                exit_now(if ok { 0 } else { 1 });
            }
            ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
