//! What the end-to-end tests of jexec-rs share: a running thin jail of the
//! host in a private state directory (stopped and removed on drop, even
//! when the test fails), jexec-rs runs against it, the attack helper
//! (`examples/jail-attack.rs`) installed in the jail, and a pseudo-terminal
//! to run commands on.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jkit_tests::{Out, TestEnv};

/// Held while a jail starts and while the attack helper is written: a
/// jail's start forks helper processes that run for a while before they
/// exec or close what they inherited, and one of them holding the helper's
/// file open for writing (another test thread's copy) would make its exec
/// fail with ETXTBSY.
static FORKS: Mutex<()> = Mutex::new(());

pub fn forks() -> MutexGuard<'static, ()> {
    FORKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running jail named `name` (a thin jail of the host: /usr and the
/// other system directories bound read-only, a fresh /etc).
#[derive(Debug)]
pub struct Jail {
    pub env: TestEnv,
    pub name: String,
}

impl Jail {
    /// Create and start jail `j` with `params` (jail(8) assignments).
    pub fn start(tag: &str, params: &[&str]) -> Jail {
        let env = TestEnv::new(tag);
        let jail = Jail {
            env,
            name: "j".into(),
        };
        jail.add("j", params);
        jail
    }

    /// Create and start one more jail in the same state directory.
    pub fn add(&self, name: &str, params: &[&str]) {
        let _forks = forks();
        self.env.create_host_jail(name, params);
        let started = self
            .env
            .jkit()
            .start(name)
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        assert!(started.alive, "{name} runs");
    }

    /// The jail's root directory on the host.
    pub fn root(&self) -> PathBuf {
        self.env.paths.jail_root(&self.name)
    }

    /// jexec-rs with this jail's state directories (and nothing else of the
    /// test's environment but what `args` set).
    pub fn cmd(&self) -> Command {
        let mut c = self.env.cmd("jexec-rs");
        c.stdin(Stdio::null());
        c
    }

    /// Run `jexec-rs ARGS`.
    pub fn jexec(&self, args: &[&str]) -> Out {
        Out::of(self.cmd().args(args))
    }

    /// Copy the attack helper into the jail (as /attack) and put a marker
    /// at the jail's root (/jail-marker).
    pub fn install_attack(&self) {
        let helper = PathBuf::from(env!("CARGO_BIN_EXE_jexec-rs"))
            .parent()
            .expect("target dir")
            .join("examples/jail-attack");
        assert!(
            helper.exists(),
            "{} is not built: `cargo test -p jexec-rs` builds it, or `cargo build -p jexec-rs --examples`",
            helper.display()
        );
        let _forks = forks();
        std::fs::copy(&helper, self.root().join("attack")).expect("install the attack helper");
        std::fs::write(self.root().join("jail-marker"), "inside\n").expect("write the marker");
    }

    /// Run `/attack ARGS` in the jail as root; its `label: result` lines.
    pub fn attack(&self, args: &[&str]) -> BTreeMap<String, String> {
        let mut full = vec![self.name.as_str(), "/attack"];
        full.extend_from_slice(args);
        let out = self.jexec(&full);
        assert_eq!(out.code(), 0, "attack {args:?}: {out:?}");
        lines(&out.stdout)
    }
}

/// `label: result` lines as a map.
pub fn lines(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Assert that each `(label, result)` is what the attack printed.
pub fn expect(got: &BTreeMap<String, String>, want: &[(&str, &str)]) {
    for (label, result) in want {
        assert_eq!(
            got.get(*label).map(String::as_str),
            Some(*result),
            "{label} in {got:?}"
        );
    }
}

/// A command running on a new pseudo-terminal as its controlling terminal
/// (through `setsid --ctty --wait`), with what it prints collected.
pub struct Pty {
    master: std::fs::File,
    /// The terminal's device (its slave's path).
    pub device: PathBuf,
    child: std::process::Child,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    /// Start `cmd ARGS` as a session leader on a new pty.
    pub fn spawn(cmd: Command) -> Pty {
        let size = nix::pty::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let device = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd()))
            .expect("the pty's path");
        let slave = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the pty"));
        let program = cmd.get_program().to_owned();
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        let mut wrapped = Command::new("setsid");
        wrapped.arg("--ctty").arg("--wait").arg(program).args(args);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        let child = wrapped
            .stdin(slave(&pty.slave))
            .stdout(slave(&pty.slave))
            .stderr(slave(&pty.slave))
            .spawn()
            .expect("spawn on the pty");
        drop(pty.slave);
        let master = std::fs::File::from(pty.master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup the master");
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the last process holding the terminal is gone.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            master,
            device,
            child,
            output,
        }
    }

    /// Type `text`.
    pub fn type_in(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .expect("write to the pty");
    }

    /// What the terminal showed so far.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Wait (up to 20 s) until the screen shows `text`.
    pub fn wait_for(&self, text: &str) {
        let start = Instant::now();
        while !self.screen().contains(text) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no {text:?} on the screen: {:?}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait (up to 20 s) for the command to end; its status.
    pub fn wait(&mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                std::thread::sleep(Duration::from_millis(100));
                return status.code().unwrap_or(-1);
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("the command on the pty did not end: {:?}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait (up to 20 s) for the command to end; its status and screen.
    pub fn finish(mut self) -> (i32, String) {
        let code = self.wait();
        (code, self.screen())
    }
}
