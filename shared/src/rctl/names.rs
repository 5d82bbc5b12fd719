//! The kernel's name tables: resources in their enumeration order (also
//! the order of `-u` output), actions, and subject types. Names match
//! case-insensitively, as the kernel's `str2value` matches them.

use std::fmt;

/// Define a C-like enum with a name per variant and lookup both ways.
macro_rules! named {
    ($(#[$m:meta])* $vis:vis enum $ty:ident { $($(#[$vm:meta])* $var:ident = $name:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $ty { $($(#[$vm])* $var,)+ }

        impl $ty {
            /// Every value, in the kernel's order.
            pub const ALL: &'static [$ty] = &[$($ty::$var,)+];

            /// The kernel's name.
            pub fn name(self) -> &'static str {
                match self { $($ty::$var => $name,)+ }
            }

            /// The value named `s` (case-insensitive).
            pub fn from_name(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name().eq_ignore_ascii_case(s))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_name(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown {}: {s}", stringify!($ty).to_lowercase()))
                })
            }
        }
    };
}

named! {
    /// A resource, in the kernel's enumeration order (sys/racct.h).
    pub enum Resource {
        /// CPU time, seconds.
        Cputime = "cputime",
        /// Data segment size, bytes.
        Datasize = "datasize",
        /// Stack size, bytes.
        Stacksize = "stacksize",
        /// Core dump size, bytes.
        Coredumpsize = "coredumpsize",
        /// Resident set size, bytes.
        Memoryuse = "memoryuse",
        /// Locked memory, bytes.
        Memorylocked = "memorylocked",
        /// Number of processes.
        Maxproc = "maxproc",
        /// File descriptor table size.
        Openfiles = "openfiles",
        /// Address space, bytes.
        Vmemoryuse = "vmemoryuse",
        /// Number of pseudo-terminals.
        Pseudoterminals = "pseudoterminals",
        /// Swap space, bytes.
        Swapuse = "swapuse",
        /// Number of threads.
        Nthr = "nthr",
        /// Queued SysV messages.
        Msgqqueued = "msgqqueued",
        /// SysV message queue size, bytes.
        Msgqsize = "msgqsize",
        /// Number of SysV message queues.
        Nmsgq = "nmsgq",
        /// Number of SysV semaphores.
        Nsem = "nsem",
        /// Semaphores changed in one semop(2) call.
        Nsemop = "nsemop",
        /// Number of SysV and POSIX shared memory segments.
        Nshm = "nshm",
        /// SysV and POSIX shared memory size, bytes.
        Shmsize = "shmsize",
        /// Wall clock time, seconds.
        Wallclock = "wallclock",
        /// %CPU of one core.
        Pcpu = "pcpu",
        /// File system reads, bytes per second.
        Readbps = "readbps",
        /// File system writes, bytes per second.
        Writebps = "writebps",
        /// File system reads, operations per second.
        Readiops = "readiops",
        /// File system writes, operations per second.
        Writeiops = "writeiops",
    }
}

impl Resource {
    /// Whether the kernel keeps it in millionths (`RACCT_IN_MILLIONS`):
    /// amounts above `i64::MAX / 10^6` are out of range.
    pub fn in_millions(self) -> bool {
        matches!(
            self,
            Resource::Cputime | Resource::Wallclock | Resource::Pcpu
        )
    }

    /// Whether `deny` makes sense for it (`RACCT_DENIABLE`, plus
    /// memoryuse and pcpu, which the kernel enforces its own way).
    pub fn deniable(self) -> bool {
        !matches!(
            self,
            Resource::Cputime
                | Resource::Wallclock
                | Resource::Readbps
                | Resource::Writebps
                | Resource::Readiops
                | Resource::Writeiops
        )
    }

    /// Whether it is a rate that decays (`RACCT_DECAYING`).
    pub fn decaying(self) -> bool {
        matches!(
            self,
            Resource::Pcpu
                | Resource::Readbps
                | Resource::Writebps
                | Resource::Readiops
                | Resource::Writeiops
        )
    }

    /// Whether it is accounted loosely (`RACCT_SLOPPY`): no per-process
    /// rules, and left out of a process's usage.
    pub fn sloppy(self) -> bool {
        matches!(
            self,
            Resource::Pseudoterminals
                | Resource::Swapuse
                | Resource::Msgqqueued
                | Resource::Msgqsize
                | Resource::Nmsgq
                | Resource::Nsem
                | Resource::Nshm
                | Resource::Shmsize
        )
    }
}

named! {
    /// What happens when a rule's amount is exceeded, in the kernel's
    /// table order: the signals, then deny, log, devctl and throttle.
    pub enum Action {
        /// Send SIGHUP.
        Sighup = "sighup",
        /// Send SIGINT.
        Sigint = "sigint",
        /// Send SIGQUIT.
        Sigquit = "sigquit",
        /// Send SIGILL.
        Sigill = "sigill",
        /// Send SIGTRAP.
        Sigtrap = "sigtrap",
        /// Send SIGABRT.
        Sigabrt = "sigabrt",
        /// Send SIGEMT (FreeBSD only).
        Sigemt = "sigemt",
        /// Send SIGFPE.
        Sigfpe = "sigfpe",
        /// Send SIGKILL.
        Sigkill = "sigkill",
        /// Send SIGBUS.
        Sigbus = "sigbus",
        /// Send SIGSEGV.
        Sigsegv = "sigsegv",
        /// Send SIGSYS.
        Sigsys = "sigsys",
        /// Send SIGPIPE.
        Sigpipe = "sigpipe",
        /// Send SIGALRM.
        Sigalrm = "sigalrm",
        /// Send SIGTERM.
        Sigterm = "sigterm",
        /// Send SIGURG.
        Sigurg = "sigurg",
        /// Send SIGSTOP.
        Sigstop = "sigstop",
        /// Send SIGTSTP.
        Sigtstp = "sigtstp",
        /// Send SIGCHLD.
        Sigchld = "sigchld",
        /// Send SIGTTIN.
        Sigttin = "sigttin",
        /// Send SIGTTOU.
        Sigttou = "sigttou",
        /// Send SIGIO.
        Sigio = "sigio",
        /// Send SIGXCPU.
        Sigxcpu = "sigxcpu",
        /// Send SIGXFSZ.
        Sigxfsz = "sigxfsz",
        /// Send SIGVTALRM.
        Sigvtalrm = "sigvtalrm",
        /// Send SIGPROF.
        Sigprof = "sigprof",
        /// Send SIGWINCH.
        Sigwinch = "sigwinch",
        /// Send SIGINFO (FreeBSD only).
        Siginfo = "siginfo",
        /// Send SIGUSR1.
        Sigusr1 = "sigusr1",
        /// Send SIGUSR2.
        Sigusr2 = "sigusr2",
        /// Send SIGTHR (FreeBSD only).
        Sigthr = "sigthr",
        /// Refuse the allocation.
        Deny = "deny",
        /// Log a console message.
        Log = "log",
        /// Notify devd(8).
        Devctl = "devctl",
        /// Slow the process down (I/O resources).
        Throttle = "throttle",
    }
}

impl Action {
    /// Whether the action sends a signal.
    pub fn is_signal(self) -> bool {
        self < Action::Deny
    }
}

named! {
    /// Who a rule applies to, and what `per` counts by.
    pub enum SubjectType {
        /// One process, by pid.
        Process = "process",
        /// A user, by uid.
        User = "user",
        /// A login class, by name.
        Loginclass = "loginclass",
        /// A jail, by name.
        Jail = "jail",
    }
}

impl SubjectType {
    /// The subject named `s` as rctl(8) takes it on the command line: the
    /// kernel's names plus the abbreviations `u`, `p`, `l`/`c`/`class` and
    /// `j`. Returns the canonical spelling to pass on (unknown words pass
    /// through unchanged, for the kernel to refuse; `g` becomes `group`).
    pub fn expand_abbreviation(s: &str) -> &str {
        match s.to_ascii_lowercase().as_str() {
            "u" => "user",
            "g" => "group",
            "p" => "process",
            "l" | "c" | "class" => "loginclass",
            "j" => "jail",
            _ => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_in_kernel_order() {
        let names: Vec<_> = Resource::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), 25);
        assert_eq!(names[0], "cputime");
        assert_eq!(names[4], "memoryuse");
        assert_eq!(names[19], "wallclock");
        assert_eq!(names[20], "pcpu");
        assert_eq!(names[24], "writeiops");
        assert_eq!(Resource::from_name("MemoryUse"), Some(Resource::Memoryuse));
        assert_eq!(Resource::from_name("memory"), None);
    }

    #[test]
    fn flags_follow_the_kernel() {
        let sloppy: Vec<_> = Resource::ALL
            .iter()
            .filter(|r| r.sloppy())
            .map(|r| r.name())
            .collect();
        assert_eq!(
            sloppy,
            [
                "pseudoterminals",
                "swapuse",
                "msgqqueued",
                "msgqsize",
                "nmsgq",
                "nsem",
                "nshm",
                "shmsize"
            ]
        );
        assert!(Resource::Memoryuse.deniable() && Resource::Pcpu.deniable());
        assert!(!Resource::Cputime.deniable() && !Resource::Readbps.deniable());
        assert!(Resource::Pcpu.in_millions() && !Resource::Maxproc.in_millions());
    }

    #[test]
    fn actions_and_subjects() {
        assert_eq!(Action::ALL.len(), 35);
        assert!(Action::Sigthr.is_signal() && !Action::Deny.is_signal());
        assert_eq!(Action::from_name("SIGKILL"), Some(Action::Sigkill));
        assert_eq!(SubjectType::expand_abbreviation("J"), "jail");
        assert_eq!(SubjectType::expand_abbreviation("class"), "loginclass");
        assert_eq!(SubjectType::expand_abbreviation("Jail"), "Jail");
        assert_eq!(SubjectType::from_name("Jail"), Some(SubjectType::Jail));
    }
}
