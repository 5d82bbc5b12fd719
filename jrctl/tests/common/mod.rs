//! What jrctl's end-to-end tests share: a thin jail of the host in a
//! private state directory (stopped, its cgroups and files removed on
//! drop, even when the test fails), jrctl runs against it, shell scripts
//! run inside it, and its usage as `jrctl --json -u` reports it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use jkit::exec::ExecSpec;
use jkit::exec::Exit;
use jkit::model::JailKey;
use jkit_tests::{Out, TestEnv, output_with_stdin};

/// A jail (created, not started until [`Lab::start`]) and its state.
/// Labs exist one at a time, so that the timed tests (CPU share, write
/// rate) do not compete with each other for the host's CPUs and disk.
#[derive(Debug)]
pub struct Lab {
    pub env: TestEnv,
    pub name: String,
    /// Where the jail's root is.
    pub root: PathBuf,
    _one_at_a_time: MutexGuard<'static, ()>,
}

static LABS: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    LABS.lock().unwrap_or_else(|e| e.into_inner())
}

impl Lab {
    /// Create jail `name` with `params` in a fresh environment.
    pub fn new(tag: &str, name: &str, params: &[&str]) -> Lab {
        let serial = one_at_a_time();
        let env = TestEnv::new(tag);
        let root = env.paths.jail_root(name);
        let lab = Lab {
            env,
            name: name.into(),
            root,
            _one_at_a_time: serial,
        };
        lab.create(name, params);
        lab
    }

    /// Create jail `name` with its root on a block device: the test
    /// directory's own when it has one (the host), else a loop-mounted
    /// ext4 image (the cgroup v2 VM, whose /tmp is a tmpfs). `modules`
    /// (`JKIT_TEST_MODULES`) is a module tree to load `loop` from when the
    /// running kernel has no modules of its own.
    pub fn on_block_device(tag: &str, name: &str) -> Lab {
        use std::os::unix::fs::MetadataExt;
        let serial = one_at_a_time();
        let env = TestEnv::new(tag);
        let dev = std::fs::metadata(&env.base).unwrap().dev();
        let dir = if libc_major(dev) != 0 {
            env.base.join("blk")
        } else {
            let modules = std::env::var("JKIT_TEST_MODULES").ok();
            let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap();
            for (module, present) in [
                ("loop", Path::new("/sys/module/loop").exists()),
                ("ext4", filesystems.contains("\text4\n")),
            ] {
                if !present {
                    let mut c = Command::new("modprobe");
                    if let Some(m) = &modules {
                        c.args(["-d", m]);
                    }
                    run_ok(c.arg(module));
                }
            }
            let img = env.base.join("disk.img");
            let f = std::fs::File::create(&img).unwrap();
            f.set_len(96 << 20).unwrap();
            run_ok(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&img));
            let mnt = env.base.join("mnt");
            std::fs::create_dir_all(&mnt).unwrap();
            run_ok(
                Command::new("mount")
                    .args(["-o", "loop"])
                    .arg(&img)
                    .arg(&mnt),
            );
            mnt
        };
        std::fs::create_dir_all(&dir).unwrap();
        let root = dir.join(name);
        let lab = Lab {
            env,
            name: name.into(),
            root: root.clone(),
            _one_at_a_time: serial,
        };
        lab.create(name, &[&format!("path={}", root.display())]);
        lab
    }

    /// Create one more jail in the same environment.
    pub fn create(&self, name: &str, params: &[&str]) {
        self.env.create_host_jail(name, params);
    }

    /// Start the jail.
    pub fn start(&self) {
        let started = self
            .env
            .jkit()
            .start(&self.name)
            .unwrap_or_else(|e| panic!("start: {e}"));
        assert!(started.alive, "the jail runs");
    }

    /// Run jrctl with `args`.
    pub fn rctl(&self, args: &[&str]) -> Out {
        self.rctl_with(args, None)
    }

    /// Run jrctl with `args` and `stdin`.
    pub fn rctl_with(&self, args: &[&str], stdin: Option<&str>) -> Out {
        output_with_stdin(
            self.env.cmd("jrctl").args(args),
            stdin.unwrap_or("").as_bytes(),
        )
    }

    /// Run jrctl, asserting success; returns stdout.
    pub fn rctl_ok(&self, args: &[&str]) -> String {
        let o = self.rctl(args);
        assert_eq!(o.code(), 0, "jrctl {args:?}: {}", o.stderr);
        o.stdout
    }

    /// Run `script` with /bin/sh inside the running jail and wait.
    pub fn sh(&self, script: &str) -> Exit {
        let jk = self.env.jkit();
        let jail = jk
            .backend()
            .find(&JailKey::Name(self.name.clone()), false)
            .unwrap()
            .expect("the jail runs");
        let argv = ["/bin/sh".to_string(), "-c".into(), script.into()];
        jk.backend()
            .exec(&jail, &ExecSpec::command(&argv))
            .unwrap_or_else(|e| panic!("exec: {e}"))
    }

    /// A file the jail made (a path inside it) as seen from the host: in
    /// its root, or in its private layer when its root is layered (a thin
    /// jail of a release: `JKIT_TEST_RELEASE`), whose files the host's
    /// path to the root does not show.
    pub fn file(&self, inside: &str) -> PathBuf {
        let upper = self.env.paths.jail_dir(&self.name).join("overlay/upper");
        let top = if self.root.starts_with(self.env.paths.jail_dir(&self.name)) && upper.is_dir() {
            upper
        } else {
            self.root.clone()
        };
        top.join(inside.trim_start_matches('/'))
    }

    /// The text of a file of the jail, trimmed.
    pub fn read(&self, inside: &str) -> String {
        std::fs::read_to_string(self.file(inside))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// The jail's usage, as `jrctl --json -u jail:NAME` reports it.
    pub fn usage(&self) -> BTreeMap<String, u64> {
        let out = self.rctl_ok(&["--json", "-u", &format!("jail:{}", self.name)]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON record");
        v["usage"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect()
    }

    /// The jail's cgroup directory for `controller` (v1), or its one
    /// directory (v2).
    pub fn cgroup(&self, controller: &str) -> PathBuf {
        let record =
            jkit::backend::linux::cgroup::JailCgroup::of(&self.env.paths, &self.name).unwrap();
        record
            .cgroup
            .expect("the jail has a cgroup")
            .dir(controller)
            .unwrap()
            .to_path_buf()
    }

    /// Whether the host runs cgroup v2 (as in the cgroup2 VM) rather than v1.
    pub fn v2(&self) -> bool {
        let record =
            jkit::backend::linux::cgroup::JailCgroup::of(&self.env.paths, &self.name).unwrap();
        record.cgroup.expect("the jail has a cgroup").v2
    }

    /// The pids of the jail's processes (host view), its init left out.
    pub fn pids(&self) -> Vec<i32> {
        let st = jkit::backend::linux::state::read(&self.env.paths, &self.name)
            .unwrap()
            .unwrap();
        let init = st.init.unwrap().pid;
        let record =
            jkit::backend::linux::cgroup::JailCgroup::of(&self.env.paths, &self.name).unwrap();
        record
            .cgroup
            .unwrap()
            .pids()
            .into_iter()
            .filter(|p| *p != init)
            .collect()
    }
}

fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn run_ok(c: &mut Command) {
    let o = Out::of(c);
    assert!(o.success(), "{c:?}: {}", o.stderr);
}

/// CPU time of process `pid` (utime + stime), in clock ticks.
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}
