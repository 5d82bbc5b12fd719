//! The attacks of jexec-rs's isolation tests, run as root inside a jail
//! (the tests copy this binary into the jail and start it with jexec-rs).
//! Each attempt prints one line, `label: ok` when it worked or
//! `label: ERRNO` when the kernel refused it, so that the test can assert
//! on every step. Not a tool: built by `cargo test` as a helper.
//!
//! `jail-attack ATTACK [ARG]`, ATTACK one of: chroot HOST_PATH,
//! proc HOST_PATH, signal HOST_PID, kill-all, ptrace HOST_PID, mount,
//! module, uts, clock, mknod, raw, read HOST_PATH, fds, keys, io-uring,
//! sigio-init, tty JAIL_PID, reopen, uevents, reuseport PORT, chflags,
//! rawio, suser, mount-locked, mount-runtime JAIL_PATH, abstract NAME,
//! abstract-listen NAME, type FD.

#[cfg(target_os = "linux")]
fn main() {
    attacks::main();
}

/// The attacks are Linux system calls; elsewhere there is nothing to run.
#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("jail-attack: the isolation attacks are Linux system calls");
    std::process::exit(69);
}

#[cfg(target_os = "linux")]
mod attacks {
    use std::ffi::CString;
    use std::fs;
    use std::io::{BufRead, Read, Write};
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::path::Path;

    use nix::errno::Errno;
    use nix::mount::{MntFlags, MsFlags, mount, umount, umount2};
    use nix::sched::{CloneFlags, unshare};
    use nix::sys::signal::{Signal, kill};
    use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    use nix::time::{ClockId, clock_gettime, clock_settime};
    use nix::unistd::{Pid, chdir, chroot, fchdir, mkdir, sethostname};

    pub fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let arg = args.get(1).map(String::as_str).unwrap_or("");
        match args.first().map(String::as_str) {
            Some("chroot") => chroot_escape(arg),
            Some("proc") => proc_escape(arg),
            Some("signal") => signal_host(arg),
            Some("kill-all") => kill_all(),
            Some("ptrace") => ptrace_outside(arg),
            Some("mount") => mounts(),
            Some("mount-locked") => locked_mounts(),
            Some("mount-runtime") => runtime_mount(arg),
            Some("module") => modules(),
            Some("uts") => uts(),
            Some("clock") => clock(),
            Some("mknod") => nodes(),
            Some("raw") => raw_sockets(),
            Some("uevents") => uevents(),
            Some("reuseport") => reuse_port(arg),
            Some("read") => read_host(arg),
            Some("fds") => fds(),
            Some("keys") => keys(),
            Some("io-uring") => io_uring(),
            Some("sigio-init") => sigio_init(),
            Some("tty") => terminal_of(arg),
            Some("reopen") => reopen_standard(),
            Some("chflags") => chflags(),
            Some("rawio") => raw_io(),
            Some("suser") => superuser(),
            Some("abstract") => abstract_connect(arg),
            Some("abstract-listen") => abstract_listen(arg),
            Some("type") => type_into(arg),
            _ => {
                eprintln!("usage: jail-attack ATTACK [ARG]");
                std::process::exit(64);
            }
        }
    }

    fn say<T>(label: &str, r: nix::Result<T>) {
        match r {
            Ok(_) => println!("{label}: ok"),
            Err(e) => println!("{label}: {e:?}"),
        }
    }

    fn io<T>(r: std::io::Result<T>) -> nix::Result<T> {
        r.map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
    }

    fn seen(label: &str, path: &Path) {
        let what = if fs::symlink_metadata(path).is_ok() {
            "visible"
        } else {
            "absent"
        };
        println!("{label}: {what}");
    }

    /// The classic escape: chroot into a subdirectory while holding a
    /// descriptor (or the working directory) outside it, then climb.
    fn chroot_escape(host_path: &str) {
        let _ = mkdir("/tmp/escape", Mode::from_bits_truncate(0o755));
        let outside = fs::File::open("/").expect("open /");
        say("chroot", chroot("/tmp/escape"));
        say("fchdir", fchdir(&outside));
        for _ in 0..64 {
            let _ = chdir("..");
        }
        say("chroot-dot", chroot("."));
        let _ = chdir("/");
        seen("host-path", Path::new(host_path));
        seen("jail-marker", Path::new("/jail-marker"));
        // Without a descriptor: a working directory left outside the new root.
        let _ = mkdir("/tmp/escape2", Mode::from_bits_truncate(0o755));
        let _ = chdir("/");
        say("chroot-cwd", chroot("/tmp/escape2"));
        for _ in 0..64 {
            let _ = chdir("..");
        }
        say("chroot-dot2", chroot("."));
        seen("host-path2", Path::new(host_path));
        seen("jail-marker2", Path::new("/jail-marker"));
    }

    /// Reach the host through /proc: every process's root and cwd, init's
    /// executable, and the writable corners of /proc.
    fn proc_escape(host_path: &str) {
        let rel = host_path.trim_start_matches('/');
        let mut leaks = 0;
        let mut seen_pids = 0;
        for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            seen_pids += 1;
            for link in ["root", "cwd"] {
                let p = Path::new("/proc").join(&name).join(link).join(rel);
                if fs::symlink_metadata(&p).is_ok() {
                    println!("leak: {}", p.display());
                    leaks += 1;
                }
            }
        }
        println!("pids-checked: {}", if seen_pids > 1 { "yes" } else { "no" });
        println!("proc-leaks: {leaks}");
        say("init-exe", io(fs::read_link("/proc/1/exe")));
        say("init-mem", io(fs::File::open("/proc/1/mem")));
        say("init-environ", io(fs::read("/proc/1/environ")));
        // A raised score would have the OOM killer end the init, and with
        // it a persistent jail.
        say(
            "init-oom-score",
            io(fs::write("/proc/1/oom_score_adj", "1000")),
        );
        say(
            "sysctl-write",
            io(fs::write("/proc/sys/kernel/hostname", "pwned")),
        );
        say("sysrq-write", io(fs::write("/proc/sysrq-trigger", "h")));
        let mut kcore = Vec::new();
        let read = fs::File::open("/proc/kcore").and_then(|mut f| f.read_to_end(&mut kcore));
        println!("kcore-bytes: {}", read.map_or(0, |n| n));
    }

    fn host_pid(arg: &str) -> Pid {
        Pid::from_raw(arg.parse().expect("a pid"))
    }

    /// See or signal a process of the host by its host pid.
    fn signal_host(arg: &str) {
        let pid = host_pid(arg);
        let listed = fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.starts_with("sleep"));
        println!("host-process-listed: {}", if listed { "yes" } else { "no" });
        say("kill-0", kill(pid, None));
        say("kill-9", kill(pid, Signal::SIGKILL));
    }

    /// Signal every process the jail can see.
    fn kill_all() {
        say("kill-all", kill(Pid::from_raw(-1), Signal::SIGKILL));
    }

    /// ptrace a process outside the jail: the init (a host binary) and a host
    /// process by its host pid.
    fn ptrace_outside(arg: &str) {
        say("ptrace-init", nix::sys::ptrace::attach(Pid::from_raw(1)));
        say("ptrace-host", nix::sys::ptrace::attach(host_pid(arg)));
        say(
            "ptrace-seize-init",
            nix::sys::ptrace::seize(Pid::from_raw(1), nix::sys::ptrace::Options::empty()),
        );
    }

    fn mounts() {
        let none: Option<&str> = None;
        say(
            "mount-tmpfs",
            mount(Some("tmpfs"), "/mnt", Some("tmpfs"), MsFlags::empty(), none),
        );
        say(
            "mount-proc",
            mount(Some("proc"), "/mnt", Some("proc"), MsFlags::empty(), none),
        );
        say(
            "mount-bind",
            mount(Some("/usr"), "/mnt", none, MsFlags::MS_BIND, none),
        );
        say(
            "remount-usr-rw",
            mount(
                none,
                "/usr",
                none,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND,
                none,
            ),
        );
        say("umount-usr", umount("/usr"));
        say("unshare-mnt", unshare(CloneFlags::CLONE_NEWNS));
        say(
            "unshare-user",
            unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS),
        );
    }

    /// With `allow.mount` (CAP_SYS_ADMIN in the jail's user namespace):
    /// make the host's read-only /usr writable, uncover what lies under
    /// it, mount cgroupfs; and what a user namespace may mount.
    fn locked_mounts() {
        let none: Option<&str> = None;
        let dir = |p: &str| {
            let _ = fs::create_dir_all(p);
            p.to_string()
        };
        say(
            "remount-usr-rw",
            mount(
                none,
                "/usr",
                none,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND,
                none,
            ),
        );
        say("umount-usr", umount2("/usr", MntFlags::empty()));
        say("umount-usr-lazy", umount2("/usr", MntFlags::MNT_DETACH));
        // A bind of /usr is a new mount, which the jail owns: its
        // read-only flag comes along locked.
        let copy = dir("/tmp/usr-copy");
        say(
            "bind-usr",
            mount(
                Some("/usr"),
                copy.as_str(),
                none,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                none,
            ),
        );
        say(
            "remount-copy-rw",
            mount(
                none,
                copy.as_str(),
                none,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND,
                none,
            ),
        );
        say("clone-usr-rw", clone_writable("/usr"));
        say(
            "write-usr",
            io(fs::write("/usr/jkit-attack", "the jail's\n")),
        );
        let cg = dir("/tmp/cgroup");
        say(
            "mount-cgroup2",
            mount(
                Some("cgroup2"),
                cg.as_str(),
                Some("cgroup2"),
                MsFlags::empty(),
                none,
            ),
        );
        // An existing v1 hierarchy (a new one may never be made from a
        // cgroup namespace other than the host's).
        let v1 = fs::read_to_string("/proc/self/cgroup")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(':').nth(1).map(str::to_string))
            .find(|c| !c.is_empty());
        match v1 {
            Some(hierarchy) => say(
                "mount-cgroup1",
                mount(
                    Some("cgroup"),
                    cg.as_str(),
                    Some("cgroup"),
                    MsFlags::empty(),
                    Some(hierarchy.as_str()),
                ),
            ),
            None => println!("mount-cgroup1: no-v1-hierarchy"),
        }
        // What a user namespace may mount.
        let tmp = dir("/tmp/mnt-tmpfs");
        say(
            "mount-tmpfs",
            mount(
                Some("tmpfs"),
                tmp.as_str(),
                Some("tmpfs"),
                MsFlags::empty(),
                none,
            ),
        );
        let (src, dst) = (dir("/tmp/bind-src"), dir("/tmp/bind-dst"));
        let _ = fs::write(format!("{src}/mark"), "inside\n");
        say(
            "bind-inside",
            mount(
                Some(src.as_str()),
                dst.as_str(),
                none,
                MsFlags::MS_BIND,
                none,
            ),
        );
        seen("bind-inside-mark", Path::new(&format!("{dst}/mark")));
        let proc = dir("/tmp/mnt-proc");
        say(
            "mount-proc",
            mount(
                Some("proc"),
                proc.as_str(),
                Some("proc"),
                MsFlags::empty(),
                none,
            ),
        );
        // Its own pid namespace: pid 1 is the jail's init.
        let init = fs::read_to_string(format!("{proc}/1/comm")).unwrap_or_default();
        println!("proc-pid1: {}", init.trim());
        // A cgroup namespace of its own would be the jail's.
        say("unshare-cgroup", unshare(CloneFlags::CLONE_NEWCGROUP));
        say(
            "mount-cgroup2-after",
            mount(
                Some("cgroup2"),
                cg.as_str(),
                Some("cgroup2"),
                MsFlags::empty(),
                none,
            ),
        );
        // A mount namespace of its own is a copy, as locked.
        say("unshare-mnt", unshare(CloneFlags::CLONE_NEWNS));
        say("copy-umount-usr", umount2("/usr", MntFlags::MNT_DETACH));
        say(
            "copy-remount-usr-rw",
            mount(
                none,
                "/usr",
                none,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND,
                none,
            ),
        );
    }

    /// A detached copy of the mount at `path` (open_tree), made writable
    /// (mount_setattr clearing MOUNT_ATTR_RDONLY).
    fn clone_writable(path: &str) -> nix::Result<()> {
        use nix::libc::{SYS_mount_setattr, SYS_open_tree, syscall};
        const OPEN_TREE_CLONE: u64 = 1;
        const MOUNT_ATTR_RDONLY: u64 = 1;
        let path = CString::new(path).expect("no NUL");
        // SAFETY: a valid C string; the result is a descriptor or -1.
        let fd = unsafe { syscall(SYS_open_tree, -100, path.as_ptr(), OPEN_TREE_CLONE) };
        if fd < 0 {
            return Err(Errno::last());
        }
        // struct mount_attr: attr_set, attr_clr, propagation, userns_fd.
        let attr: [u64; 4] = [0, MOUNT_ATTR_RDONLY, 0, 0];
        let empty = CString::new("").expect("no NUL");
        // SAFETY: attr is a mount_attr of the size passed, the empty path
        // a valid C string, fd our descriptor (closed right after).
        let r = unsafe {
            syscall(
                SYS_mount_setattr,
                fd,
                empty.as_ptr(),
                nix::libc::AT_EMPTY_PATH,
                attr.as_ptr(),
                std::mem::size_of_val(&attr),
            )
        };
        let e = Errno::last();
        // SAFETY: fd is ours and closed once.
        unsafe { nix::libc::close(fd as i32) };
        if r < 0 { Err(e) } else { Ok(()) }
    }

    /// The host directory bound read-only at `path` in the running jail
    /// (jtpl's MOUNT): make it writable, unmount it.
    fn runtime_mount(path: &str) {
        let none: Option<&str> = None;
        say(
            "remount-rw",
            mount(
                none,
                path,
                none,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND,
                none,
            ),
        );
        say(
            "write",
            io(fs::write(format!("{path}/jkit-attack"), "the jail's\n")),
        );
        say("umount", umount2(path, MntFlags::empty()));
        // What the mount covered: the jail's own directory.
        seen("host-file", &Path::new(path).join("host-file"));
    }

    fn modules() {
        let name = CString::new("").expect("no NUL");
        say("init-module", nix::kmod::init_module(&[0u8; 64], &name));
        let devnull = fs::File::open("/dev/null").expect("open /dev/null");
        say(
            "finit-module",
            nix::kmod::finit_module(&devnull, &name, nix::kmod::ModuleInitFlags::empty()),
        );
        let missing = CString::new("jkit_no_such_module").expect("no NUL");
        say(
            "delete-module",
            nix::kmod::delete_module(&missing, nix::kmod::DeleteModuleFlags::O_NONBLOCK),
        );
        say(
            "modprobe-path",
            io(fs::write("/proc/sys/kernel/modprobe", "/tmp/evil")),
        );
    }

    fn uts() {
        say("sethostname", sethostname("jkit-pwned"));
        say(
            "sysctl-domainname",
            io(fs::write("/proc/sys/kernel/domainname", "pwned")),
        );
    }

    fn clock() {
        let now = clock_gettime(ClockId::CLOCK_REALTIME).expect("clock_gettime");
        say("clock-settime", clock_settime(ClockId::CLOCK_REALTIME, now));
    }

    /// Make a file immutable, then append-only (`chattr +i`, `+a`), each
    /// undone at once when it worked, so that the jail stays removable.
    fn chflags() {
        use std::os::fd::AsRawFd;
        // (The request's type is the target's: c_ulong for glibc, c_int for musl.)
        const FS_IOC_GETFLAGS: nix::libc::Ioctl = 0x8008_6601_u32 as nix::libc::Ioctl;
        const FS_IOC_SETFLAGS: nix::libc::Ioctl = 0x4008_6602_u32 as nix::libc::Ioctl;
        const FS_IMMUTABLE_FL: nix::libc::c_long = 0x10;
        const FS_APPEND_FL: nix::libc::c_long = 0x20;
        let file = fs::File::create("/tmp/flagged").expect("create /tmp/flagged");
        let fd = file.as_raw_fd();
        let mut plain: nix::libc::c_long = 0;
        // SAFETY: FS_IOC_GETFLAGS writes one long at the pointer, ours.
        let r = unsafe { nix::libc::ioctl(fd, FS_IOC_GETFLAGS, &mut plain) };
        say("getflags", Errno::result(r));
        for (label, flag) in [("immutable", FS_IMMUTABLE_FL), ("append", FS_APPEND_FL)] {
            let flags = plain | flag;
            // SAFETY: FS_IOC_SETFLAGS reads one long at the pointer, ours.
            let r = unsafe { nix::libc::ioctl(fd, FS_IOC_SETFLAGS, &flags) };
            say(label, Errno::result(r));
            if r == 0 {
                // SAFETY: as above.
                let r = unsafe { nix::libc::ioctl(fd, FS_IOC_SETFLAGS, &plain) };
                say(&format!("{label}-undone"), Errno::result(r));
            }
        }
    }

    /// Raw access to the machine: I/O ports (`ioperm`, `iopl`), the
    /// kernel's memory and ports as files.
    fn raw_io() {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: ioperm and iopl take integers; a grant is dropped
            // at once.
            let r = unsafe { nix::libc::ioperm(0x80, 1, 1) };
            say("ioperm", Errno::result(r));
            if r == 0 {
                // SAFETY: as above.
                unsafe { nix::libc::ioperm(0x80, 1, 0) };
            }
            // SAFETY: as above.
            let r = unsafe { nix::libc::iopl(3) };
            say("iopl", Errno::result(r));
            if r == 0 {
                // SAFETY: as above.
                unsafe { nix::libc::iopl(0) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            println!("ioperm: EPERM");
            println!("iopl: EPERM");
        }
    }

    /// What only a superuser may do, as the jail's root: give a file away,
    /// bind a reserved port (in the jail's own network), become another
    /// user; and the capabilities this process holds.
    fn superuser() {
        use nix::sys::socket::{SockaddrIn, bind};
        use nix::unistd::{Gid, Uid, chown, setuid};
        let _ = fs::write("/tmp/given", "");
        say(
            "chown",
            chown(
                "/tmp/given",
                Some(Uid::from_raw(1000)),
                Some(Gid::from_raw(1000)),
            ),
        );
        let bound = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .and_then(|s| {
            bind(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                &SockaddrIn::new(127, 0, 0, 1, 80),
            )
        });
        say("bind-80", bound);
        let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
        for line in status.lines() {
            if let Some((name, mask)) = line.split_once(":\t") {
                if name == "CapEff" || name == "CapBnd" {
                    println!("{name}: {mask}");
                }
            }
        }
        println!("euid: {}", Uid::effective());
        say("setuid", setuid(Uid::from_raw(1000)));
    }

    fn nodes() {
        let mode = Mode::from_bits_truncate(0o600);
        say(
            "mknod-mem",
            mknod("/tmp/mem", SFlag::S_IFCHR, mode, makedev(1, 1)),
        );
        say(
            "mknod-disk",
            mknod("/tmp/disk", SFlag::S_IFBLK, mode, makedev(8, 0)),
        );
        say("mknod-fifo", mknod("/tmp/fifo", SFlag::S_IFIFO, mode, 0));
    }

    fn raw_sockets() {
        say(
            "raw-icmp",
            socket(
                AddressFamily::Inet,
                SockType::Raw,
                SockFlag::empty(),
                SockProtocol::Icmp,
            ),
        );
        say(
            "packet",
            socket(
                AddressFamily::Packet,
                SockType::Raw,
                SockFlag::empty(),
                SockProtocol::EthAll,
            ),
        );
    }

    /// Listen for the kernel's device events (as udev does) for three
    /// seconds, having said `listening` (the test then makes one on the
    /// host): `uevent: heard` or `uevent: none`.
    fn uevents() {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use nix::sys::socket::{MsgFlags, NetlinkAddr, bind, recv};
        use std::os::fd::AsFd;
        let sock = match socket(
            AddressFamily::Netlink,
            SockType::Datagram,
            SockFlag::empty(),
            SockProtocol::NetlinkKObjectUEvent,
        ) {
            Ok(s) => s,
            Err(e) => return say::<()>("uevent-socket", Err(e)),
        };
        if let Err(e) = bind(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            &NetlinkAddr::new(0, 1),
        ) {
            return say::<()>("uevent-bind", Err(e));
        }
        println!("listening: ok");
        let _ = std::io::stdout().flush();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let mut buf = [0u8; 8192];
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            let ready = poll(&mut fds, PollTimeout::from(ms)).unwrap_or(0) > 0;
            let raw = std::os::fd::AsRawFd::as_raw_fd(&sock);
            if ready && recv(raw, &mut buf, MsgFlags::empty()).is_ok_and(|n| n > 0) {
                println!("uevent: heard");
                return;
            }
        }
        println!("uevent: none");
    }

    /// Bind 127.0.0.1:PORT with SO_REUSEPORT, as a second server of a
    /// port that a host service holds so would: the kernel then shares the
    /// port's connections between the two.
    fn reuse_port(port: &str) {
        use nix::sys::socket::{SockaddrIn, bind, setsockopt, sockopt::ReusePort};
        let port: u16 = port.parse().expect("a port");
        let sock = match socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::empty(),
            None,
        ) {
            Ok(s) => s,
            Err(e) => return say::<()>("reuseport", Err(e)),
        };
        let bound = setsockopt(&sock, ReusePort, &true).and_then(|()| {
            bind(
                std::os::fd::AsRawFd::as_raw_fd(&sock),
                &SockaddrIn::new(127, 0, 0, 1, port),
            )
        });
        say("reuseport", bound);
    }

    /// Read a host file by its host path, and by climbing from the jail root.
    fn read_host(host_path: &str) {
        say("absolute", io(fs::read(host_path)));
        let climb = format!("/../../../../../../..{host_path}");
        say("climb", io(fs::read(climb)));
    }

    /// The descriptors this process was started with.
    fn fds() {
        let dir = fs::read_dir("/proc/self/fd").expect("read /proc/self/fd");
        for entry in dir.flatten() {
            let target = fs::read_link(entry.path()).unwrap_or_default();
            println!(
                "fd {}: {}",
                entry.file_name().to_string_lossy(),
                target.display()
            );
        }
    }

    /// The result of a raw system call: its value, or the errno.
    fn raw(r: nix::libc::c_long) -> nix::Result<nix::libc::c_long> {
        Errno::result(r)
    }

    /// The kernel's keyrings, which are not namespaced: those of the uid
    /// the jail's root is on the host. A key planted (it should not be)
    /// is unlinked again at once.
    fn keys() {
        use nix::libc::{SYS_add_key, SYS_keyctl, SYS_request_key, syscall};
        const KEYCTL_GET_KEYRING_ID: nix::libc::c_long = 0;
        const KEYCTL_UNLINK: nix::libc::c_long = 9;
        const KEY_SPEC_USER_KEYRING: nix::libc::c_long = -4;
        // SAFETY: integer arguments only.
        let id = unsafe { syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0) };
        say("keyctl-user-keyring", raw(id));
        let payload = b"planted";
        // SAFETY: the strings are NUL-terminated literals and the payload
        // a buffer of the length passed, all alive for the call.
        let key = unsafe {
            syscall(
                SYS_add_key,
                c"user".as_ptr(),
                c"jkit-planted".as_ptr(),
                payload.as_ptr(),
                payload.len(),
                KEY_SPEC_USER_KEYRING,
            )
        };
        say("add-key-user", raw(key));
        if key > 0 {
            // SAFETY: integer arguments only.
            unsafe { syscall(SYS_keyctl, KEYCTL_UNLINK, key, KEY_SPEC_USER_KEYRING) };
        }
        // SAFETY: NUL-terminated literals and a NULL callout, which the
        // kernel accepts.
        let found = unsafe {
            syscall(
                SYS_request_key,
                c"user".as_ptr(),
                c"jkit-planted".as_ptr(),
                std::ptr::null::<nix::libc::c_char>(),
                0,
            )
        };
        say("request-key", raw(found));
    }

    /// io_uring, whose operations no seccomp filter sees.
    fn io_uring() {
        use nix::libc::{SYS_io_uring_setup, syscall};
        // struct io_uring_params: 120 bytes, all zero asks for defaults.
        let mut params = [0u8; 120];
        // SAFETY: `params` is a zeroed io_uring_params the kernel writes
        // back into, alive for the call.
        let fd = unsafe { syscall(SYS_io_uring_setup, 1, params.as_mut_ptr()) };
        say("io-uring-setup", raw(fd));
        if fd >= 0 {
            let _ = nix::unistd::close(fd as i32);
        }
    }

    /// Have the kernel send the jail's init a SIGTERM: a pipe whose owner
    /// is pid 1, with SIGTERM as its I/O signal, and a write into it. The
    /// signal comes from the kernel (sender pid 0), as the host's would.
    /// Then queue one that claims to come from pid 0.
    fn sigio_init() {
        use nix::libc::{F_SETFL, F_SETOWN, O_ASYNC, O_NONBLOCK, SIGTERM, fcntl};
        use std::os::fd::AsRawFd;
        // Linux's, not in the libc crate: an fcntl command and a si_code.
        const F_SETSIG: nix::libc::c_int = 10;
        const SI_QUEUE: nix::libc::c_int = -1;
        let (r, w) = nix::unistd::pipe().expect("pipe");
        let fd = r.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own, with integer arguments.
        let armed = unsafe {
            fcntl(fd, F_SETOWN, 1) == 0
                && fcntl(fd, F_SETSIG, SIGTERM) == 0
                && fcntl(fd, F_SETFL, O_ASYNC | O_NONBLOCK) == 0
        };
        say(
            "sigio-armed",
            if armed { Ok(()) } else { Err(Errno::last()) },
        );
        say("sigio-sent", nix::unistd::write(&w, b"x"));
        // The same with a sender pid of 0 written in: rt_sigqueueinfo
        // takes the siginfo as given when its code is SI_QUEUE.
        let mut info = [0u8; 128];
        info[0..4].copy_from_slice(&SIGTERM.to_ne_bytes());
        info[8..12].copy_from_slice(&SI_QUEUE.to_ne_bytes());
        // SAFETY: `info` is a siginfo_t's 128 bytes (si_pid and si_uid at
        // 16 and 20 left 0), alive for the call; the kernel only reads it.
        let queued = unsafe {
            nix::libc::syscall(nix::libc::SYS_rt_sigqueueinfo, 1, SIGTERM, info.as_ptr())
        };
        say("sigqueue-sent", raw(queued));
    }

    /// Open the terminal of another jail process (an interactive jexec's
    /// command) through /proc/PID/fd/0, say which device it is, then, once
    /// a line comes on stdin (the test has ended that session), write on
    /// it.
    fn terminal_of(pid: &str) {
        let opened = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY)
            .open(format!("/proc/{pid}/fd/0"));
        let mut tty = match opened {
            Ok(tty) => {
                println!("open: ok");
                tty
            }
            Err(e) => return say::<()>("open", io(Err(e))),
        };
        // Which file: its filesystem (a devpts instance) and inode; the
        // device number alone does not tell (every instance numbers its
        // terminals from 0).
        let meta = tty.metadata().expect("fstat the terminal");
        println!("file: {}:{}", meta.dev(), meta.ino());
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        say(
            "write-after",
            io(tty.write_all(b"jkit-planted-after-exit\n")),
        );
        let _ = std::io::stdout().flush();
    }

    /// Type `x` into the terminal on descriptor `fd` every way there is:
    /// TIOCSTI, and TIOCLINUX's paste of the console selection
    /// (TIOCL_PASTESEL); then, in a child leading a session of its own,
    /// take the terminal as its controlling terminal, stealing it from its
    /// session (TIOCSCTTY with 1), reopen it through /proc (a session
    /// leader opening a terminal of no session gets it as its controlling
    /// terminal) and TIOCSTI on that. Prints `typed: done` last.
    /// Type into the terminal on descriptor `target` (a number), or the
    /// one at path `target` (opened without becoming the controlling
    /// terminal); first say what descriptors 0, 1 and 2 are (`DEV:INO`).
    fn type_into(target: &str) {
        use nix::libc::{TIOCLINUX, TIOCSCTTY, TIOCSTI, ioctl};
        for n in 0..3 {
            match fs::metadata(format!("/proc/self/fd/{n}")) {
                Ok(m) => println!("fd{n}-id: {}:{}", m.dev(), m.ino()),
                Err(e) => say::<()>(&format!("fd{n}-id"), io(Err(e))),
            }
        }
        let fd: i32 = match target.parse() {
            Ok(fd) => fd,
            Err(_) => {
                let opened = fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(nix::libc::O_NOCTTY)
                    .open(target);
                say("open", io(opened.as_ref().map(drop).map_err(clone_error)));
                match opened {
                    Ok(f) => std::os::fd::IntoRawFd::into_raw_fd(f),
                    Err(_) => {
                        println!("typed: done");
                        return;
                    }
                }
            }
        };
        let sti = |label: &str, fd: i32| {
            let c = b'x';
            // SAFETY: TIOCSTI reads one byte at the pointer, ours.
            let r = unsafe { ioctl(fd, TIOCSTI, &c) };
            // On a new line: the terminal may echo what was pushed.
            println!();
            say(label, raw(r.into()));
        };
        sti("sti", fd);
        let paste = [3u8, 0];
        // SAFETY: TIOCLINUX reads its subcommand byte at the pointer, ours.
        let r = unsafe { ioctl(fd, TIOCLINUX, paste.as_ptr()) };
        say("linux-paste", raw(r.into()));
        let _ = std::io::stdout().flush();
        // SAFETY: the child only makes system calls and prints, then exits.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                say("setsid", nix::unistd::setsid());
                // SAFETY: TIOCSCTTY takes an integer.
                let r = unsafe { ioctl(fd, TIOCSCTTY, 1) };
                say("steal", raw(r.into()));
                sti("sti-stolen", fd);
                match fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(format!("/proc/self/fd/{fd}"))
                {
                    Ok(tty) => sti("sti-reopened", std::os::fd::AsRawFd::as_raw_fd(&tty)),
                    Err(e) => say::<()>("sti-reopened", io(Err(e))),
                }
                let _ = std::io::stdout().flush();
                std::process::exit(0);
            }
            nix::unistd::ForkResult::Parent { child } => {
                let _ = nix::sys::wait::waitpid(child, None);
            }
        }
        println!("typed: done");
    }

    fn clone_error(e: &std::io::Error) -> std::io::Error {
        std::io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(0))
    }

    /// Reopen stdin (given read-only) for writing and stdout (given for
    /// appending) truncated, through /proc/self/fd, and write on each;
    /// say how on stderr, with what the descriptors are.
    fn reopen_standard() {
        let tell = |label: &str, r: std::io::Result<()>| {
            let what = match r {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("{:?}", Errno::from_raw(e.raw_os_error().unwrap_or(0))),
            };
            eprintln!("{label}: {what}");
        };
        for fd in 0..2 {
            let target = fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default();
            let kind = if target.to_string_lossy().starts_with("pipe:") {
                "pipe"
            } else {
                "file"
            };
            eprintln!("fd {fd}: {kind}");
        }
        tell(
            "stdin-for-writing",
            fs::OpenOptions::new()
                .write(true)
                .open("/proc/self/fd/0")
                .and_then(|mut f| f.write_all(b"planted\n")),
        );
        tell(
            "stdout-truncated",
            fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open("/proc/self/fd/1")
                .and_then(|mut f| f.write_all(b"replaced\n")),
        );
    }

    /// The abstract unix socket `name` (no file: any process of the
    /// network namespace may name it).
    fn abstract_address(name: &str) -> nix::sys::socket::UnixAddr {
        nix::sys::socket::UnixAddr::new_abstract(name.as_bytes()).expect("an abstract name")
    }

    /// Connect to the abstract unix socket `name`.
    fn abstract_connect(name: &str) {
        use std::os::fd::AsRawFd;
        let s = match socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        ) {
            Ok(s) => s,
            Err(e) => return say::<()>("abstract-connect", Err(e)),
        };
        say(
            "abstract-connect",
            nix::sys::socket::connect(s.as_raw_fd(), &abstract_address(name)),
        );
    }

    /// Listen on the abstract unix socket `name` and take one connection.
    fn abstract_listen(name: &str) {
        use nix::sys::socket::{Backlog, accept, bind, listen};
        use std::os::fd::AsRawFd;
        let s = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        bind(s.as_raw_fd(), &abstract_address(name)).expect("bind");
        listen(&s, Backlog::new(1).expect("backlog")).expect("listen");
        println!("abstract-listen: ok");
        std::io::stdout().flush().expect("flush");
        say("abstract-accept", accept(s.as_raw_fd()));
    }
}
