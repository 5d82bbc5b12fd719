//! The README's first screen, kept true: what jkit is, then exactly two
//! commands for a fresh Debian machine (the demonstration, which installs
//! jkit, and the tests), then a tour whose commands run here as written.

#![cfg(target_os = "linux")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use jkit_tests::{Out, TestEnv, bin, require_root, with_dirs};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn readme() -> String {
    fs::read_to_string(repo("README.md")).unwrap()
}

/// The fenced ```sh blocks of `text`, in order.
fn sh_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), l) => {
                block.push_str(l);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// PATH with the binaries built for this run first.
fn path_with_built() -> std::ffi::OsString {
    let built = bin("jmk").parent().unwrap().to_path_buf();
    let mut dirs = vec![built];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

#[test]
fn the_readme_opens_with_what_jkit_is_and_exactly_two_commands() {
    let text = readme();
    let (first_screen, rest) = text.split_once("\n## ").expect("a second heading");
    assert!(first_screen.starts_with("# jkit\n\nFreeBSD's jail tools"));
    assert_eq!(
        sh_blocks(first_screen),
        ["./scripts/demo\n", "cargo test --workspace\n"]
    );
    assert!(rest.starts_with("A tour\n"), "the tour follows them");
    // CI runs the second one as it is written.
    let ci = fs::read_to_string(repo(".ci/run")).unwrap();
    assert!(ci.lines().any(|l| l.starts_with("cargo test --workspace")));
}

#[test]
fn the_demonstration_installs_jkit_and_runs() {
    require_root!();
    // As on a fresh machine, but installed from this run's binaries into
    // a scratch prefix (a release build is the one step left out).
    let prefix = std::env::temp_dir().join(format!("jkit-demo-prefix-{}", std::process::id()));
    let built = bin("jmk").parent().unwrap().to_path_buf();
    let out = Out::of(
        Command::new(repo("scripts/demo"))
            .arg("--prefix")
            .arg(&prefix)
            .arg("--from")
            .arg(&built),
    );
    let _ = fs::remove_dir_all(&prefix);
    assert!(out.success(), "{out}");
    assert!(out.stdout.contains("hello from demo.example"), "{out}");
    assert!(out.stderr.contains("+ jmk destroy demo"), "{out}");
}

#[test]
fn the_tour_runs_as_written() {
    require_root!();
    let text = readme();
    let tour = text
        .split_once("\n## A tour\n")
        .and_then(|(_, t)| sh_blocks(t).into_iter().next())
        .expect("the tour's commands");
    let env = TestEnv::new("readme-tour");
    let cwd = env.base.join("cwd");
    fs::create_dir_all(&cwd).unwrap();
    // A network namespace of its own: the tour's bridge, addresses and
    // port forwarding are the host's default ones, which other tests and
    // the host may be using.
    let script = format!("ip link set lo up\nset -ex\n{tour}");
    let out = Out::of(with_dirs(
        Command::new("unshare")
            .args(["--net", "--", "bash", "-c", &script])
            .env("PATH", path_with_built())
            .current_dir(&cwd),
        &env.paths,
    ));
    assert!(out.success(), "{out}");
    for seen in [
        "web.example\n",
        "{\"name\":\"web\",\"jid\":1,\"ip4\":[\"10.213.0.10\"],\"state\":\"running\"}\n",
        "jail:web:memoryuse:deny=256M\n",
        "Managed by jtpl\n",
        "+\t/etc/motd\n",
        "tcp 8080 80\n",
    ] {
        assert!(out.stdout.contains(seen), "{seen:?} missing: {out}");
    }
    assert!(env.jkit().backend().list(true).unwrap().is_empty());
    assert!(!env.paths.jail_conf("web").exists());
}
