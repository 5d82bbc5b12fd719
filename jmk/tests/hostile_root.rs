//! What a jail's root can plant in its own files for the host's tools to
//! stumble on: symlinks that would lead start's mounts out of the root,
//! a tree too deep for a recursive delete, a set-user-id binary for host
//! users to run. The tests write into the jail's root from the host, as
//! root, as the jail's root would from inside. docs/linux.md ("Isolation
//! boundary") lists each defence with its test.

#![cfg(target_os = "linux")]

use std::fs;
use std::os::fd::OwnedFd;
use std::path::Path;

use jkit_tests::{TestEnv, require_root};
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, mkdirat};

/// Make a chain of `depth` directories named `d` in `dir`, one inside the
/// other, with a file at the bottom.
fn nest(dir: &Path, depth: usize) {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut cur: OwnedFd = nix::fcntl::open(dir, flags, Mode::empty()).unwrap();
    for _ in 0..depth {
        mkdirat(&cur, "d", Mode::from_bits_truncate(0o755)).unwrap();
        cur = openat(&cur, "d", flags, Mode::empty()).unwrap();
    }
    let file = openat(
        &cur,
        "bottom",
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    drop(file);
}

#[test]
fn destroy_removes_a_root_of_100000_nested_directories() {
    require_root!();
    let env = TestEnv::new("deep");
    env.create_host_jail("j", &[]);
    env.create_host_jail("beside", &[]);
    let host_file = env.base.join("host-file");
    fs::write(&host_file, "keep").unwrap();
    nest(&env.paths.jail_root("j").join("tmp"), 100_000);
    let out = env.run("jmk", &["destroy", "j"]);
    assert!(out.success(), "{out}");
    assert!(!env.paths.jail_dir("j").exists());
    assert_eq!(fs::read_to_string(&host_file).unwrap(), "keep");
    assert!(env.paths.jail_root("beside").join("etc/passwd").is_file());
}
