//! What a jail's root can plant in its own files for the host's tools to
//! stumble on: symlinks that would lead start's mounts out of the root,
//! a tree too deep for a recursive delete, a set-user-id binary for host
//! users to run. The tests write into the jail's root from the host, as
//! root, as the jail's root would from inside. docs/linux.md ("Isolation
//! boundary") lists each defence with its test.

#![cfg(target_os = "linux")]

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{PermissionsExt, symlink};
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
    nest(&env.paths.jail_root("j"), 100_000);
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
    let planted = env.paths.jail_root("j").join("id");
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

/// Replace directory `dir` of a jail's root with a symlink to `target`,
/// as the jail's root can from inside.
fn plant_link(root: &Path, dir: &str, target: &Path) {
    let path = root.join(dir);
    if path.is_dir() {
        fs::rename(&path, root.join(format!("{dir}.moved"))).unwrap();
    }
    symlink(target, &path).unwrap();
}

#[test]
fn start_resolves_links_the_jail_planted_inside_its_root() {
    require_root!();
    let env = TestEnv::new("links");
    // The issue's: /etc made a link to /root, where the thin jail's fstab
    // binds the host's /etc/alternatives on /etc/alternatives. On the
    // host that is /root/alternatives; in the jail, its own /root's.
    env.create_host_jail("etc", &[]);
    let root = env.paths.jail_root("etc");
    plant_link(&root, "etc", Path::new("/root"));
    let hosts_own = Path::new("/root/alternatives");
    assert!(!hosts_own.exists(), "the host has {}", hosts_own.display());
    env.jmk_ok(&["start", "etc"]);
    assert!(!hosts_own.exists(), "start made {}", hosts_own.display());
    assert!(root.join("root/alternatives").is_dir(), "mounted inside");

    // Links to host directories (missing, so a start that followed them
    // would make them): a `mount` entry's mount point, a `mount.fstab`
    // line's, /dev's and /proc's. Inside the jail they lead nowhere: the
    // start is refused, naming the link.
    let host = env.base.join("host");
    fs::create_dir_all(&host).unwrap();
    let source = env.base.join("source");
    fs::create_dir_all(&source).unwrap();
    let fstab = env.base.join("fstab");
    for (jail, planted) in [
        ("entry", "mnt"),
        ("fstab", "srv"),
        ("dev", "dev"),
        ("proc", "proc"),
    ] {
        let root = env.paths.jail_root(jail);
        let mount = format!(
            "mount={} {}/mnt/data nullfs ro",
            source.display(),
            root.display()
        );
        let fstab_file = format!("mount.fstab={}", fstab.display());
        let params: &[&str] = match jail {
            "entry" => &[&mount],
            "fstab" => &[&fstab_file],
            _ => &[],
        };
        fs::write(
            &fstab,
            format!(
                "{} {}/srv/data nullfs ro 0 0\n",
                source.display(),
                root.display()
            ),
        )
        .unwrap();
        env.create_host_jail(jail, params);
        plant_link(&root, planted, &host.join(planted));
        let out = env.run("jmk", &["start", jail]);
        assert_eq!(out.code(), 65, "{jail}: {out}");
        assert!(
            out.stderr
                .contains(&format!("/{planted} in the jail's root"))
                && out.stderr.contains("leads nowhere inside the jail"),
            "{jail}: {out}"
        );
        let made: Vec<_> = fs::read_dir(&host)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(made.is_empty(), "{jail}: start made {made:?} on the host");
    }
}

#[test]
fn mountinfo_in_a_jail_shows_no_host_mount_but_its_roots() {
    require_root!();
    let env = TestEnv::new("mountinfo");
    env.create_host_jail("j", &[]);
    env.jmk_ok(&["start", "j"]);
    let out = env.run("jexec-rs", &["j", "/bin/cat", "/proc/self/mountinfo"]);
    let root = env.paths.jail_root("j");
    let root = root.to_str().unwrap();
    let lines: Vec<Vec<&str>> = out.ok().lines().map(|l| l.split(' ').collect()).collect();
    // /proc's masks are the jail's own /dev/null: the host's devtmpfs
    // (with the size of the host's memory) does not show.
    assert!(
        lines.iter().all(|f| !f.contains(&"devtmpfs")),
        "{}",
        out.stdout
    );
    let masks: Vec<_> = lines
        .iter()
        .filter(|f| f[3] == "/null")
        .map(|f| (f[4], f[f.len() - 3]))
        .collect();
    assert!(!masks.is_empty(), "{}", out.stdout);
    assert!(masks.iter().all(|(_, fs)| *fs == "tmpfs"), "{masks:?}");
    // What still shows (docs/linux.md, "What still differs from
    // FreeBSD"): the paths of the overlay on / (the host's shared layer and
    // the jail's work directory, in jkit's data directory), and not the
    // root's own path.
    let data = env.paths.data_dir.to_str().unwrap();
    let slash: Vec<_> = lines.iter().filter(|f| f[4] == "/").collect();
    assert_eq!(slash.len(), 1, "{}", out.stdout);
    assert_eq!(slash[0][slash[0].len() - 3], "overlay", "{}", out.stdout);
    let host_paths: Vec<&str> = slash[0][slash[0].len() - 1]
        .split(',')
        .filter_map(|o| o.split_once('=').map(|(_, v)| v))
        .filter(|v| v.starts_with('/') && !v.starts_with("/proc/self/fd/"))
        .collect();
    assert!(!host_paths.is_empty(), "{}", out.stdout);
    assert!(
        host_paths.iter().all(|p| p.starts_with(data)),
        "{host_paths:?}"
    );
    let showing: Vec<_> = lines
        .iter()
        .filter(|f| f.iter().any(|field| field.contains(root)))
        .collect();
    assert!(showing.is_empty(), "{}", out.stdout);
}

#[test]
fn usage_counts_the_jails_shared_memory_not_what_its_links_lead_to() {
    require_root!();
    let env = TestEnv::new("usage-link");
    // Without a /dev of jkit's, the jail's /dev/shm is its own to replace.
    env.create_host_jail("j", &["mount.devfs=false"]);
    let host = env.base.join("host-shm");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("big"), vec![0u8; 1 << 20]).unwrap();
    let dev = env.paths.jail_root("j").join("dev");
    fs::create_dir_all(&dev).unwrap();
    symlink(&host, dev.join("shm")).unwrap();
    env.jmk_ok(&["start", "j"]);
    let out = env.run("jrctl", &["--json", "-u", "jail:j"]);
    let usage: serde_json::Value = serde_json::from_str(out.ok().trim()).unwrap();
    assert_eq!(usage["usage"]["shmsize"], 0, "{out}");
    assert_eq!(usage["usage"]["nshm"], 0, "{out}");
}
