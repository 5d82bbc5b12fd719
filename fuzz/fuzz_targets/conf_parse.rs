//! Fuzz the jail.conf parser and what jmk builds on it: any input must
//! either parse or give an error, never panic or hang; every jail it
//! defines must survive a round trip through `write_jail`; `jmk -e` must
//! print it; the dependency order must hold every jail exactly once, each
//! after the jails it waits for (unless a dependency loop broke one); every
//! `exec.*` value must split into a command or nothing.
//!
//! `.include` reads files, and a glob such as `/*/*/*` would make every
//! run walk the host's whole filesystem (`/proc` above all): so, run as
//! root, the target first moves into an empty root of its own (a private
//! mount namespace, a tmpfs, chroot), with only the artifact directory
//! bound in; the corpus and the dictionary are reached through the working
//! directory, which chroot keeps. LeakSanitizer needs `/proc`: run with
//! `ASAN_OPTIONS=detect_leaks=0`. `JKIT_FUZZ_HOST_FS=1` keeps the host's
//! filesystem (for reproducing a crash with symbols).

#![no_main]

use std::path::{Path, PathBuf};

use jkit::ops::order::{Direction, Graph};
use jkit::ops::{Config, command, jail8};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: confine(), |data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Relative `.include`s resolve under a directory that does not exist.
    let base = Path::new("/nonexistent/jkit-fuzz");
    let Ok(file) = jkit::conf::parse_str(&text, "fuzz", base) else {
        return;
    };
    let _ = jkit::conf::resolve_raw(&file);
    let config = Config::of(&file);
    jail8::show(&file, "\t", &mut |_| {});
    check_order(&config);
    for j in &config.jails {
        if let Ok(def) = j.typed() {
            for (name, value) in def.params.iter() {
                if name.starts_with("exec.") {
                    for v in value.as_list().unwrap_or_default() {
                        if let Some(argv) = command::argv_of(v) {
                            assert!(!argv.is_empty() && !command::comline(&argv).is_empty());
                        }
                    }
                }
            }
        }
    }
    let Ok(jails) = jkit::conf::resolve(&file) else {
        return;
    };
    for jail in &jails {
        let written = jkit::conf::write_jail(jail);
        let back = jkit::conf::parse_str(&written, "written", base)
            .and_then(|f| jkit::conf::resolve(&f))
            .unwrap_or_else(|e| panic!("written text does not read back: {e}\n{written}"));
        assert_eq!(
            back,
            std::slice::from_ref(jail),
            "round trip changed the jail:\n{written}"
        );
    }
});

fn check_order(config: &Config) {
    let deps: Vec<(String, Vec<String>)> = config
        .jails
        .iter()
        .map(|j| (j.name.clone(), j.depends()))
        .collect();
    let graph = Graph::new(&deps);
    let all: Vec<usize> = (0..graph.len()).collect();
    let looped = all
        .iter()
        .any(|&i| graph.broken(i) == Some("dependency loop"));
    for dir in [Direction::Up, Direction::Down] {
        let order = graph.order(&all, dir);
        let mut pos = vec![usize::MAX; graph.len()];
        for (k, s) in order.iter().enumerate() {
            assert_eq!(pos[s.jail], usize::MAX, "{} twice", graph.name(s.jail));
            pos[s.jail] = k;
        }
        assert!(pos.iter().all(|&p| p != usize::MAX), "a jail left out");
        if !looped {
            for &i in &all {
                for &d in graph.before(i, dir) {
                    assert!(
                        pos[d] < pos[i],
                        "{} before {}",
                        graph.name(i),
                        graph.name(d)
                    );
                }
            }
        }
    }
}

/// Move into an empty root (see the module's comment), when root and not
/// told otherwise.
fn confine() {
    if std::env::var_os("JKIT_FUZZ_HOST_FS").is_some() || !nix::unistd::geteuid().is_root() {
        return;
    }
    if let Err(e) = enter_empty_root() {
        eprintln!("conf_parse: cannot leave the host's filesystem ({e}); includes will read it");
    }
}

fn enter_empty_root() -> nix::Result<()> {
    use nix::mount::{MsFlags, mount};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )?;
    let root = std::env::temp_dir().join(format!("jkit-fuzz-root-{}", std::process::id()));
    std::fs::create_dir_all(&root).map_err(|_| nix::errno::Errno::EIO)?;
    mount(
        Some("tmpfs"),
        &root,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=1m"),
    )?;
    let artifacts: Option<PathBuf> = std::env::args()
        .find_map(|a| a.strip_prefix("-artifact_prefix=").map(PathBuf::from))
        .filter(|p| p.is_absolute());
    if let Some(dir) = artifacts {
        let inside = root.join(dir.strip_prefix("/").unwrap_or(&dir));
        std::fs::create_dir_all(&inside).map_err(|_| nix::errno::Errno::EIO)?;
        std::fs::create_dir_all(&dir).map_err(|_| nix::errno::Errno::EIO)?;
        mount(
            Some(&dir),
            &inside,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
    }
    nix::unistd::chroot(&root)
}
