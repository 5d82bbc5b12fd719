//! Support for jkit's end-to-end tests: a private state directory per test
//! (so tests never touch the host's /etc or each other), the built
//! binaries, and a guard that stops every jail and removes every mount and
//! file the test made, even when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use jkit::ops::Jkit;
use jkit::paths::Paths;

/// Whether the tests may run their root-only parts. Under `CI=true` a
/// missing root fails the test instead of skipping it.
pub fn have_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root, and CI=true forbids skipping");
    }
    eprintln!("{test}: skipped (needs root)");
    false
}

/// The path of a workspace binary built for this test run
/// (`target/<profile>/<name>`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = profile_dir.join(name);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --workspace` first",
        p.display()
    );
    p
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A private jkit state directory; cleans up on drop.
#[derive(Debug)]
pub struct TestEnv {
    /// The base directory (conf/, run/, data/ below it).
    pub base: PathBuf,
    /// The jkit paths under `base`.
    pub paths: Paths,
}

impl TestEnv {
    /// A fresh environment named after the test.
    pub fn new(tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = std::env::temp_dir().join(format!("jkit-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("create test dir");
        let paths = Paths::under(&base);
        TestEnv { base, paths }
    }

    /// A command for binary `name` with this environment's state dirs.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(bin(name));
        c.env("JKIT_CONF_DIR", &self.paths.conf_dir)
            .env("JKIT_RUN_DIR", &self.paths.run_dir)
            .env("JKIT_DATA_DIR", &self.paths.data_dir);
        c
    }

    /// Run binary `name` with `args` and return its output.
    pub fn run(&self, name: &str, args: &[&str]) -> Output {
        self.cmd(name).args(args).output().expect("run binary")
    }

    /// Run `jmk args`, asserting success; returns stdout.
    pub fn jmk_ok(&self, args: &[&str]) -> String {
        let out = self.run("jmk", args);
        assert!(
            out.status.success(),
            "jmk {args:?} failed ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Mounts under this environment left in the host's mount table, other
    /// than the namespace holder (one per run directory, kept on purpose).
    pub fn leftover_mounts(&self) -> Vec<String> {
        let holder = self.paths.run_dir.join("holder");
        mounts_containing(&self.base)
            .into_iter()
            .filter(|m| Path::new(m) != holder)
            .collect()
    }

    /// The jkit operations on this environment.
    pub fn jkit(&self) -> Jkit {
        Jkit::new(self.paths.clone()).expect("jkit")
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let jk = self.jkit();
        if let Ok(jails) = jk.backend().list(true) {
            for j in jails {
                let _ = jk
                    .backend()
                    .stop(&j, None, std::time::Duration::from_secs(2));
            }
        }
        // Jails half-started by killed processes: clean by name.
        if let Ok(entries) = std::fs::read_dir(self.paths.run_dir.join("jails")) {
            for e in entries.flatten() {
                let _ = jk.backend().clean(&e.file_name().to_string_lossy(), None);
            }
        }
        // The cgroups of this environment's jails, and their base.
        #[cfg(target_os = "linux")]
        let _ = jkit::backend::linux::racct::remove_all(&self.paths);
        let _ = jkit::ops::remove::unmount_all_under(&self.base);
        let _ = jkit::ops::remove::remove_tree(&self.base);
    }
}

/// Make a tiny root filesystem at `dir`: the host's /bin/sh, cat, echo,
/// ls, mkdir and the libraries they load, so a jail can run them without
/// the host's /usr.
pub fn mini_rootfs(dir: &Path) {
    let tools = [
        "sh", "cat", "echo", "ls", "mkdir", "true", "false", "sleep", "id",
    ];
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    for d in ["etc", "dev", "proc", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\n").unwrap();
    for t in tools {
        let host = which(t);
        std::fs::copy(&host, dir.join("bin").join(t)).unwrap();
        for lib in libraries(&host) {
            let dst = dir.join(lib.strip_prefix("/").unwrap());
            if !dst.exists() {
                std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                std::fs::copy(&lib, &dst).unwrap();
            }
        }
    }
}

fn which(tool: &str) -> PathBuf {
    for d in ["/bin", "/usr/bin", "/sbin", "/usr/sbin"] {
        let p = Path::new(d).join(tool);
        if p.exists() {
            return std::fs::canonicalize(p).unwrap();
        }
    }
    panic!("{tool} not found on the host");
}

/// The shared libraries (and loader) `exe` needs, from ldd.
fn libraries(exe: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(exe).output().expect("ldd");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// Mount points whose path contains `needle` (from /proc/self/mountinfo).
pub fn mounts_containing(needle: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.contains(needle.to_str().unwrap()))
        .map(str::to_string)
        .collect()
}
