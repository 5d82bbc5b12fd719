//! What a jail's root can plant in its own files for the host's tools to
//! stumble on: symlinks that would lead start's mounts out of the root,
//! a tree too deep for a recursive delete, a set-user-id binary for host
//! users to run. The tests write into the jail's root from the host, as
//! root, as the jail's root would from inside. docs/linux.md ("Isolation
//! boundary") lists each defence with its test.

#![cfg(target_os = "linux")]

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use jkit_tests::{Out, TestEnv, require_root};
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

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn host_users_cannot_reach_a_set_user_id_program_in_a_jail_root() {
    require_root!();
    let env = TestEnv::new("suid");
    env.create_host_jail("j", &[]);
    let jails = env.paths.jails_dir();
    assert_eq!(mode(&jails), 0o700);
    // As an install made before jkit sealed the directory left it.
    fs::set_permissions(&jails, fs::Permissions::from_mode(0o755)).unwrap();
    // What the jail's root can make: its own set-user-id root program.
    let planted = env.paths.jail_root("j").join("tmp/id");
    fs::copy("/usr/bin/id", &planted).unwrap();
    fs::set_permissions(&planted, fs::Permissions::from_mode(0o4755)).unwrap();
    env.jmk_ok(&["start", "j"]);
    assert_eq!(mode(&jails), 0o700, "start seals the jails directory");
    // setpriv still holds its capabilities when it execs; a shell run by
    // it does not.
    let nobody = Out::of(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["/bin/sh", "-c", "exec \"$0\""])
            .arg(&planted),
    );
    assert!(!nobody.success(), "{nobody}");
    assert!(nobody.stderr.contains("Permission denied"), "{nobody}");
    assert!(!nobody.stdout.contains("euid=0"), "{nobody}");
}
