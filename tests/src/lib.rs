//! Support for jkit's end-to-end tests: a private state directory per test
//! (so tests never touch the host's /etc or each other), the built
//! binaries, and a guard that stops every jail and removes every mount and
//! file the test made, even when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use jkit::ops::{CreateRequest, Jkit, RootSource};
use jkit::paths::Paths;

/// How a command ended: its exit status, and what it printed as text
/// (invalid UTF-8 replaced).
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Self {
        Out {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Out {
    /// Run `cmd` (stdin from /dev/null) and capture how it ends.
    pub fn of(cmd: &mut Command) -> Out {
        cmd.output().expect("run the command").into()
    }

    /// The exit status, or -1 when a signal ended the command.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The command's stdout, asserting that it succeeded.
    pub fn ok(&self) -> &str {
        assert!(self.success(), "{self}");
        &self.stdout
    }

    /// Stdout, stderr and [`Out::code`], to compare at once.
    pub fn parts(self) -> (String, String, i32) {
        let code = self.code();
        (self.stdout, self.stderr, code)
    }
}

/// All of it, for a failed assertion's message.
impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}\nstdout:\n{}stderr:\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }
}

/// Run `cmd` with `input` on its stdin (then closed), its stdout and
/// stderr captured.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Out {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the command");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write the command's stdin");
    child
        .wait_with_output()
        .expect("wait for the command")
        .into()
}

/// Skip the test that calls it unless the tests run as root: print
/// `TEST: skipped (needs root)` and return from the test. Under `CI=true`
/// a missing root fails the test instead. The test's name is found
/// without being written out: the name libtest gives the test's thread,
/// else the path of the function the macro is in.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::root_or_skip({
            fn here() {}
            ::std::any::type_name_of_val(&here)
        }) {
            return;
        }
    };
}

/// [`require_root!`]'s check; `here` is the path of a function inside
/// the test (`crate::test::here`).
#[doc(hidden)]
pub fn root_or_skip(here: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let test = test_name(std::thread::current().name(), here);
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root, and CI=true forbids skipping");
    }
    eprintln!("{test}: skipped (needs root)");
    false
}

/// The name of the running test: the thread's name as libtest sets it
/// (the test's path without the crate's name), else the function `here`
/// is in, without its crate's name either.
fn test_name(thread: Option<&str>, here: &str) -> String {
    match thread {
        Some(name) if name != "main" => name.to_string(),
        _ => {
            let path = here.strip_suffix("::here").unwrap_or(here);
            path.split_once("::")
                .map_or(path, |(_, test)| test)
                .to_string()
        }
    }
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

/// A directory holding this run's jmk with the static `jkit-init` beside
/// it, as `scripts/install` installs them (the program 0711): a jail that
/// jmk starts has its init exec the program, which a test run's own build
/// (dynamic, for the host's glibc) is not taken as. The program is built
/// once per test run by `scripts/release-build` (the release build
/// itself: static on x86_64 Linux) into `target/static-init`, which keeps
/// it for the next run.
pub fn jmk_with_init_program() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let target = bin("jmk")
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf();
        let out = Out::of(
            Command::new(workspace.join("scripts/release-build"))
                .args(["-p", "jmk", "--bin", "jkit-init"])
                .env("CARGO_TARGET_DIR", target.join("static-init")),
        );
        assert!(out.success(), "scripts/release-build: {out}");
        let built = PathBuf::from(out.stdout.trim()).join("jkit-init");
        let dir = target.join("installed");
        std::fs::create_dir_all(&dir).expect("create the install directory");
        // Replaced by a rename: a jail of an earlier run may still run the
        // program (ETXTBSY for a write into it).
        for (from, name, mode) in [(bin("jmk"), "jmk", 0o755), (built, "jkit-init", 0o711)] {
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::copy(&from, &tmp).expect("copy into the install directory");
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).expect("chmod");
            std::fs::rename(&tmp, dir.join(name)).expect("install");
        }
        dir
    })
    .clone()
}

/// The program process `pid` runs once it runs `name`: a jail's init
/// execs its own program while jmk records the jail, maybe still after
/// jmk's start has returned (see
/// [`jmk_with_init_program`]). Waits up to 10 s; the program it runs then.
pub fn exe_once_it_runs(pid: &str, name: &str) -> PathBuf {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the process's program");
        if exe.file_name().is_some_and(|n| n == name) || std::time::Instant::now() > deadline {
            return exe;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Point `cmd` at the jkit state directories of `paths` (the `JKIT_*`
/// variables every jkit tool reads): the one place the tests set them.
/// [`TestEnv::cmd`] is the usual way in; this is for commands that run a
/// tool through something else (a shell, a wrapper).
pub fn with_dirs<'c>(cmd: &'c mut Command, paths: &Paths) -> &'c mut Command {
    cmd.env("JKIT_JAIL_CONF", &paths.jail_conf_file)
        .env("JKIT_CONF_DIR", &paths.conf_dir)
        .env("JKIT_RUN_DIR", &paths.run_dir)
        .env("JKIT_DATA_DIR", &paths.data_dir)
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A private jkit state directory; cleans up on drop.
#[derive(Debug)]
pub struct TestEnv {
    /// The base directory (jail.conf, conf/, run/, data/ below it).
    pub base: PathBuf,
    /// The jkit paths under `base`.
    pub paths: Paths,
    /// The start of the names of the network interfaces this environment
    /// hands out (see [`TestEnv::net_name`]).
    net_prefix: String,
    /// The interface names handed out, removed on drop.
    net_names: Mutex<Vec<String>>,
}

impl TestEnv {
    /// A fresh environment named after the test.
    pub fn new(tag: &str) -> Self {
        Self::new_in(&std::env::temp_dir(), tag)
    }

    /// A fresh environment named after the test, in directory `parent`.
    pub fn new_in(parent: &Path, tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = parent.join(format!("jkit-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("create test dir");
        let paths = Paths::under(&base);
        TestEnv {
            base,
            paths,
            net_prefix: format!("jt{:x}-{n:x}-", std::process::id()),
            net_names: Mutex::new(Vec::new()),
        }
    }

    /// A network interface name (bridge, veth) owned by this environment:
    /// unique to it, at most 15 characters, and removed (with jkit's
    /// nftables table of a bridge) when the environment is dropped.
    pub fn net_name(&self, tag: &str) -> String {
        let name = format!("{}{tag}", self.net_prefix);
        assert!(name.len() <= 15, "interface name {name} is too long");
        self.net_names.lock().unwrap().push(name.clone());
        name
    }

    /// A command for binary `name` with this environment's state dirs.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(bin(name));
        with_dirs(&mut c, &self.paths);
        c
    }

    /// Run binary `name` with `args` (stdin from /dev/null).
    pub fn run(&self, name: &str, args: &[&str]) -> Out {
        Out::of(self.cmd(name).args(args))
    }

    /// Run `jmk args`, asserting success; returns stdout.
    pub fn jmk_ok(&self, args: &[&str]) -> String {
        let out = self.run("jmk", args);
        assert!(out.success(), "jmk {args:?} failed: {out}");
        out.stdout
    }

    /// Mounts under this environment left in the host's mount table, other
    /// than those kept on purpose, one each per run directory: the
    /// namespace holder, and the tmpfs on `jails` and `jids` where the run
    /// directory is on a disk.
    pub fn leftover_mounts(&self) -> Vec<String> {
        let run = &self.paths.run_dir;
        let kept = [run.join("holder"), run.join("jails"), run.join("jids")];
        mounts_containing(&self.base)
            .into_iter()
            .filter(|m| !kept.iter().any(|k| k == Path::new(m)))
            .collect()
    }

    /// The host pid of the init of running jail `name`, as its state
    /// records it.
    pub fn init_pid(&self, name: &str) -> String {
        let file = self.paths.run_jail_dir(name).join("state.json");
        let state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).expect("the jail's state"))
                .expect("the jail's state as JSON");
        state["init"]["pid"]
            .as_i64()
            .expect("the init's pid")
            .to_string()
    }

    /// The jkit operations on this environment.
    pub fn jkit(&self) -> Jkit {
        Jkit::new(self.paths.clone()).expect("jkit")
    }

    /// Create (not start) a thin jail `name` of the host's own system with
    /// `params`, in this process.
    ///
    /// With `JKIT_TEST_RELEASE` set to a directory, the jail is a thin jail
    /// of that system tree instead (a release of this environment's): for
    /// a host whose own system directories cannot be idmapped, such as the
    /// cgroup v2 VM, which sees them over 9p (`.ci/vm-release` makes one
    /// there, on ext4).
    pub fn create_host_jail(&self, name: &str, params: &[&str]) {
        let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        let release = match std::env::var_os("JKIT_TEST_RELEASE") {
            Some(tree) => {
                let registered = self.paths.releases_dir().join("test");
                if std::fs::symlink_metadata(&registered).is_err() {
                    jkit::ops::release::add(
                        &self.paths,
                        "test",
                        Path::new(&tree),
                        false,
                        &mut |_| {},
                    )
                    .unwrap_or_else(|e| panic!("release test: {e}"));
                }
                "test"
            }
            None => "host",
        };
        self.jkit()
            .create(
                &CreateRequest {
                    name: name.into(),
                    layout: None,
                    from: RootSource::Release(release.into()),
                    params,
                },
                &mut |_| {},
            )
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let jk = self.jkit();
        if let Ok(jails) = jk.backend().list(true) {
            for j in jails {
                let backend = jk.backend();
                let _ = backend.terminate(&j, std::time::Duration::from_secs(2));
                let _ = backend.remove(&j);
                let _ = backend.unmount(&j.name, None);
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
        let _ = jkit::backend::linux::cgroup::remove_all(&self.paths);
        #[cfg(target_os = "linux")]
        self.remove_interfaces();
        let _ = jkit::backend::remove::unmount_all_under(&self.base);
        let _ = jkit::backend::remove::remove_tree(&self.base);
    }
}

impl TestEnv {
    /// Delete the interfaces [`TestEnv::net_name`] handed out (bridges
    /// with their nftables table), and any other interface whose name
    /// starts like theirs.
    #[cfg(target_os = "linux")]
    fn remove_interfaces(&self) {
        use jkit::backend::linux::net::{self, netlink::Socket};
        let names = self.net_names.lock().map(|n| n.clone()).unwrap_or_default();
        let Ok(mut sock) = Socket::open() else {
            return;
        };
        for link in sock.links().unwrap_or_default() {
            if link.name.starts_with(&self.net_prefix) && link.kind != "bridge" {
                let _ = sock.delete_link(link.index);
            }
        }
        for name in names {
            let _ = net::remove_bridge(&name);
        }
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
    Out::of(Command::new("ldd").arg(exe))
        .stdout
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

#[cfg(test)]
mod tests {
    use super::test_name;

    #[test]
    fn the_test_name_is_found_without_being_written() {
        let here = {
            fn here() {}
            std::any::type_name_of_val(&here)
        };
        let me = "tests::the_test_name_is_found_without_being_written";
        assert_eq!(test_name(std::thread::current().name(), here), me);
        // Off libtest's threads: the function the macro is in.
        assert_eq!(test_name(None, here), me);
        assert_eq!(test_name(Some("main"), here), me);
    }

    #[test]
    fn require_root_goes_on_as_root_only() {
        crate::require_root!();
        assert!(nix::unistd::geteuid().is_root());
    }
}
