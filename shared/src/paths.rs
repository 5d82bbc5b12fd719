//! Where jkit keeps its state. Each directory can be moved with an
//! environment variable, which the tests use so they never touch the host's
//! own `/etc`.

use std::path::{Path, PathBuf};

/// The directories jkit reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// jail(8)'s own configuration file (`JKIT_JAIL_CONF`, default
    /// `/etc/jail.conf`), read with the definitions by jmk's jail(8) front.
    pub jail_conf_file: PathBuf,
    /// Jail definitions, one `NAME.conf` each (`JKIT_CONF_DIR`, default
    /// `/etc/jail.conf.d`).
    pub conf_dir: PathBuf,
    /// Runtime state of running jails (`JKIT_RUN_DIR`, default `/run/jkit`,
    /// `/var/run/jkit` on FreeBSD).
    pub run_dir: PathBuf,
    /// Releases and jail roots (`JKIT_DATA_DIR`, default `/var/lib/jkit`,
    /// `/usr/local/jkit` on FreeBSD).
    pub data_dir: PathBuf,
}

const DEFAULT_JAIL_CONF: &str = "/etc/jail.conf";
const DEFAULT_CONF: &str = "/etc/jail.conf.d";
#[cfg(target_os = "freebsd")]
const DEFAULT_RUN: &str = "/var/run/jkit";
#[cfg(not(target_os = "freebsd"))]
const DEFAULT_RUN: &str = "/run/jkit";
#[cfg(target_os = "freebsd")]
const DEFAULT_DATA: &str = "/usr/local/jkit";
#[cfg(not(target_os = "freebsd"))]
const DEFAULT_DATA: &str = "/var/lib/jkit";

impl Paths {
    /// The directories, from the environment or the platform defaults.
    pub fn from_env() -> Self {
        let dir = |var: &str, default: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map_or_else(|| PathBuf::from(default), PathBuf::from)
        };
        Paths {
            jail_conf_file: dir("JKIT_JAIL_CONF", DEFAULT_JAIL_CONF),
            conf_dir: dir("JKIT_CONF_DIR", DEFAULT_CONF),
            run_dir: dir("JKIT_RUN_DIR", DEFAULT_RUN),
            data_dir: dir("JKIT_DATA_DIR", DEFAULT_DATA),
        }
    }

    /// All of them under one directory (for tests and benchmarks).
    pub fn under(base: &Path) -> Self {
        Paths {
            jail_conf_file: base.join("jail.conf"),
            conf_dir: base.join("conf"),
            run_dir: base.join("run"),
            data_dir: base.join("data"),
        }
    }

    /// A jail's definition file.
    pub fn jail_conf(&self, name: &str) -> PathBuf {
        self.conf_dir.join(format!("{name}.conf"))
    }

    /// The directory that holds the jails' own directories.
    pub fn jails_dir(&self) -> PathBuf {
        self.data_dir.join("jails")
    }

    /// The directory that holds a jail's root and its jkit files.
    pub fn jail_dir(&self, name: &str) -> PathBuf {
        self.jails_dir().join(name)
    }

    /// The start of the passing names a create makes a jail's directory
    /// under (in [`Paths::jails_dir`]) before it renames it to the jail's
    /// name: the process id follows.
    pub fn passing_prefix(name: &str) -> String {
        format!(".{name}.")
    }

    /// The passing name of jail `name`'s directory while process `pid`
    /// creates it.
    pub fn passing_jail_dir(&self, name: &str, pid: u32) -> PathBuf {
        self.jails_dir()
            .join(format!("{}{pid}", Self::passing_prefix(name)))
    }

    /// What jmk built for a jail (its build record), in the jail's directory.
    pub fn build_record_file(&self, name: &str) -> PathBuf {
        self.jail_dir(name).join("jkit.json")
    }

    /// The fstab of the read-only binds a thin or cloned jail mounts at
    /// start, in the jail's directory.
    pub fn jail_fstab(&self, name: &str) -> PathBuf {
        self.jail_dir(name).join("fstab")
    }

    /// Where jmk notes which jails are clones of which (see ops::clones).
    pub fn clones_dir(&self) -> PathBuf {
        self.data_dir.join("clones")
    }

    /// Where the snapshots of jail `name` are kept (but ZFS's), beside the
    /// jails' directories, on their filesystem.
    pub fn snapshots_dir(&self, name: &str) -> PathBuf {
        self.jails_dir().join(".snapshots").join(name)
    }

    /// The default root of a jail jmk builds.
    pub fn jail_root(&self, name: &str) -> PathBuf {
        self.jail_dir(name).join("root")
    }

    /// Where releases are registered.
    pub fn releases_dir(&self) -> PathBuf {
        self.data_dir.join("releases")
    }

    /// Where the layers shared by jails' roots are kept (see ops::hostlayer).
    pub fn layers_dir(&self) -> PathBuf {
        self.data_dir.join("layers")
    }

    /// The directory of the running jails' runtime directories.
    pub fn run_jails_dir(&self) -> PathBuf {
        self.run_dir.join("jails")
    }

    /// A running jail's runtime directory.
    pub fn run_jail_dir(&self, name: &str) -> PathBuf {
        self.run_jails_dir().join(name)
    }

    /// The name, in a running jail's runtime directory, of its init's
    /// control socket.
    pub const CONTROL_SOCKET: &'static str = "init.sock";

    /// A running jail's runtime state (its phase, init, parameters).
    pub fn run_state_file(&self, name: &str) -> PathBuf {
        self.run_jail_dir(name).join("state.json")
    }

    /// What a running jail's network setup made (interfaces, addresses).
    pub fn net_record_file(&self, name: &str) -> PathBuf {
        self.run_jail_dir(name).join("net.json")
    }

    /// The port forwarding applied for a running jail (its rules and the
    /// addresses they send to).
    pub fn rdr_record_file(&self, name: &str) -> PathBuf {
        self.run_jail_dir(name).join("rdr.json")
    }

    /// The lock that orders changes to the host's port forwarding.
    pub fn rdr_lock_file(&self) -> PathBuf {
        self.run_dir.join("locks").join("rdr.lock")
    }

    /// The pin of a `vnet.interface` jail's network namespace in the host's
    /// mount table, so that a stop (or the clean-up after a crash) can still
    /// move the interfaces back once the jail's processes are gone.
    pub fn vnet_pin(&self, name: &str) -> PathBuf {
        self.run_jail_dir(name).join("vnet")
    }

    /// The pin of a running jail's mount namespace.
    pub fn mnt_pin(&self, name: &str) -> PathBuf {
        self.run_jail_dir(name).join("mnt")
    }

    /// The record of a running jail's cgroup and the rlimits it applies.
    pub fn cgroup_record_file(&self, name: &str) -> PathBuf {
        self.run_jail_dir(name).join("cgroup.json")
    }

    /// The recent usage samples of a running jail (rates for `rctl -u`).
    pub fn usage_samples_file(&self, name: &str) -> PathBuf {
        self.run_jail_dir(name).join("usage.json")
    }

    /// The jids reserved by running jails, one link per jid.
    pub fn jids_dir(&self) -> PathBuf {
        self.run_dir.join("jids")
    }

    /// The host id ranges claimed by jails, one link per range, named by
    /// its first id and pointing to the jail's name (kept with the jails:
    /// a range outlives restarts and reboots).
    pub fn id_ranges_dir(&self) -> PathBuf {
        self.data_dir.join("idranges")
    }

    /// The addresses claimed by running jails, one file per address.
    pub fn address_claims_dir(&self) -> PathBuf {
        self.run_dir.join("addrs")
    }

    /// The mount namespace that holds the jails' namespace pins.
    pub fn holder_file(&self) -> PathBuf {
        self.run_dir.join("holder")
    }

    /// The lock taken while the holder namespace is made.
    pub fn holder_lock_file(&self) -> PathBuf {
        self.run_dir.join("holder.lock")
    }

    /// The directory of the namespace pins (inside the holder namespace).
    pub fn pins_dir(&self) -> PathBuf {
        self.run_dir.join("pins")
    }

    /// A jail's namespace pins (inside the holder namespace).
    pub fn jail_pins_dir(&self, name: &str) -> PathBuf {
        self.pins_dir().join(name)
    }

    /// A hash of the run directory when it is not the default one, for the
    /// host-wide names (cgroups, interfaces) of the jails kept under it:
    /// two run directories on one host (tests, benchmarks) then never claim
    /// one name. FNV-1a, stable across builds.
    pub fn run_dir_hash(&self) -> Option<u64> {
        if self.run_dir == Path::new(DEFAULT_RUN) {
            return None;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.run_dir.as_os_str().as_encoded_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Some(h)
    }

    /// The running jails that depend on jail `name`, one empty file each
    /// by name, so that a stop finds them without reading every
    /// definition.
    pub fn dependents_dir(&self, name: &str) -> PathBuf {
        self.run_dir.join("dependents").join(name)
    }

    /// The lock file of a jail (kept apart from its directories so that it
    /// outlives them).
    pub fn lock_file(&self, name: &str) -> PathBuf {
        self.run_dir.join("locks").join(format!("{name}.lock"))
    }

    /// Where a jail's rctl rules are kept: `CONF/NAME.rctl`, one rule a line.
    pub fn rctl_file(&self, name: &str) -> PathBuf {
        self.conf_dir.join(format!("{name}.rctl"))
    }

    /// The lock that orders changes to a jail's rctl rules.
    pub fn rctl_lock_file(&self, name: &str) -> PathBuf {
        self.run_dir.join("locks/rctl").join(format!("{name}.lock"))
    }

    /// Where a jail's port forwarding rules are kept: `CONF/NAME.rdr`, one
    /// rule a line in Bastille's `rdr.conf` form.
    pub fn rdr_file(&self, name: &str) -> PathBuf {
        self.conf_dir.join(format!("{name}.rdr"))
    }

    /// Where a jail's tags are kept: `CONF/NAME.tags`, one tag a line.
    pub fn tags_file(&self, name: &str) -> PathBuf {
        self.conf_dir.join(format!("{name}.tags"))
    }
}
