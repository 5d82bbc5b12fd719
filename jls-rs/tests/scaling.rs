//! jls-rs as the number of jails grows, on Linux backend state made by hand
//! (thousands of real jails would take minutes to start): every jail's
//! state file names this test process as its init, which is alive, so the
//! backend lists them all as running.
#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use jkit::backend::linux::state::{Phase, ProcId, RunState};
use jkit::model::{Params, Value};
use jkit::paths::Paths;
use jkit_tests::{Out, with_dirs};

/// A run directory with running jails b1..bN, removed on drop.
struct Jails {
    base: PathBuf,
    paths: Paths,
}

impl Jails {
    fn new(tag: &str, n: i64) -> Self {
        let base = std::env::temp_dir().join(format!("jkit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let paths = Paths::under(&base);
        let jids = paths.run_dir.join("jids");
        std::fs::create_dir_all(&jids).unwrap();
        std::fs::create_dir_all(&paths.conf_dir).unwrap();
        let me = ProcId::of(std::process::id() as i32).unwrap();
        for jid in 1..=n {
            let name = format!("b{jid}");
            let mut params = Params::new();
            params.set("name", Value::Str(name.clone()));
            params.set("path", Value::Str(format!("/jails/{name}")));
            params.set("host.hostname", Value::Str(format!("{name}.example.org")));
            params.set("persist", Value::Bool(true));
            let st = RunState {
                name: name.clone(),
                jid,
                phase: Phase::Running,
                owner: me,
                init: Some(me),
                params: params
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_json()))
                    .collect(),
            };
            let dir = paths.run_jail_dir(&name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("state.json"), serde_json::to_vec(&st).unwrap()).unwrap();
            std::os::unix::fs::symlink(&name, jids.join(jid.to_string())).unwrap();
        }
        Jails { base, paths }
    }

    /// `jls-rs ARGS` with the data segment limited to `data_kib` (RLIMIT_DATA:
    /// the heap and every private writable mapping): its stdout.
    fn jls(&self, data_kib: u64, args: &[&str]) -> String {
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(format!("ulimit -d {data_kib} && exec \"$@\""))
            .arg("sh")
            .arg(jkit_tests::bin("jls-rs"))
            .args(args);
        let out = Out::of(with_dirs(&mut sh, &self.paths));
        assert!(
            out.success(),
            "jls-rs {args:?} under {data_kib} KiB: {:?}: {}",
            out.status,
            out.stderr
        );
        out.stdout
    }

    /// The shortest of `runs` runs of `jls-rs ARGS`.
    fn fastest(&self, runs: usize, args: &[&str]) -> Duration {
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                self.jls(1 << 20, args);
                t.elapsed()
            })
            .min()
            .unwrap()
    }
}

impl Drop for Jails {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn rows(out: &str) -> usize {
    out.lines().count()
}

/// The budget's 1,000 jails within its 4 MiB, counting only the heap and
/// other private writable memory: holding every jail before printing grew
/// with the jails and failed here; one at a time it takes about as much
/// for ten jails as for ten thousand.
#[test]
fn memory_does_not_grow_with_the_number_of_jails() {
    let jails = Jails::new("jls-memory", 1000);
    assert_eq!(rows(&jails.jls(4096, &[])), 1001);
    assert_eq!(rows(&jails.jls(4096, &["-s"])), 1000);
    let json = jails.jls(4096, &["--json"]);
    assert_eq!(rows(&json), 1000);
    let last = json.lines().last().unwrap();
    assert!(last.starts_with(r#"{"jid":1000,"name":"b1000","#), "{last}");
}

/// Per-jail work that grows with the number of jails (a scan of every
/// jail's state for each jail, a search through every jail printed so far)
/// makes 2,000 jails cost far more per jail than 200. The shortest of
/// several runs, and a wide margin, keep a busy machine from failing it;
/// the benchmark (bench/jls.sh) measures the real figures.
#[test]
fn time_per_jail_does_not_grow_with_the_number_of_jails() {
    let small = Jails::new("jls-time-small", 200);
    let large = Jails::new("jls-time-large", 2000);
    for args in [&["-s"][..], &["--json"][..]] {
        let per_jail = |jails: &Jails, n: usize| {
            assert_eq!(rows(&jails.jls(1 << 20, args)), n);
            jails.fastest(3, args).as_secs_f64() / n as f64
        };
        let (small, large) = (per_jail(&small, 200), per_jail(&large, 2000));
        assert!(
            large < small * 2.5,
            "{args:?}: {:.1} us a jail for 200 jails, {:.1} us for 2,000",
            small * 1e6,
            large * 1e6
        );
    }
}
