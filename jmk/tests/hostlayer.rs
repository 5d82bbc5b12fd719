//! Thin jails of the host: their roots hold their own files, over one
//! layer of the host's skeleton and /etc copies that they share
//! (ops::hostlayer), and that is made anew when the host files it copies
//! change.

use std::fs;
use std::path::{Path, PathBuf};

use jkit_tests::{TestEnv, require_root};

fn jail_sh(env: &TestEnv, jail: &str, script: &str) -> String {
    env.run("jexec-rs", &[jail, "/bin/sh", "-c", script])
        .ok()
        .to_string()
}

/// The layers in the layers directory (their directories' names).
fn layers(env: &TestEnv) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(env.paths.layers_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("host-"))
        .collect();
    names.sort();
    names
}

/// The lower directory of the overlay over jail `name`'s root.
fn lower_of(env: &TestEnv, name: &str) -> PathBuf {
    let conf = fs::read_to_string(env.paths.jail_conf(name)).unwrap();
    let lower = conf
        .split("lowerdir=")
        .nth(1)
        .unwrap_or_else(|| panic!("no overlay in {conf}"));
    PathBuf::from(lower.split([',', ':']).next().unwrap())
}

/// Every path under `dir` (not following links), relative to it.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.strip_prefix(dir).unwrap().to_path_buf());
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(
                tree(&p)
                    .into_iter()
                    .map(|q| p.strip_prefix(dir).unwrap().join(q)),
            );
        }
    }
    out.sort();
    out
}

#[test]
fn a_thin_jail_of_the_host_holds_its_own_files_over_a_shared_layer() {
    require_root!();
    let env = TestEnv::new("hostlayer");
    env.jmk_ok(&["create", "a"]);
    env.jmk_ok(&["create", "b", "host.hostname=bee"]);
    // One layer for both; each root holds only the jail's own /etc files.
    assert_eq!(layers(&env).len(), 1);
    assert_eq!(lower_of(&env, "a"), lower_of(&env, "b"));
    let own: Vec<PathBuf> = [
        "etc",
        "etc/group",
        "etc/hostname",
        "etc/hosts",
        "etc/passwd",
        "etc/resolv.conf",
        "etc/shadow",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(tree(&env.paths.jail_root("b")), own);
    assert_eq!(
        fs::read_to_string(env.paths.jail_root("b").join("etc/hostname")).unwrap(),
        "bee\n"
    );
    // The layer has what a thin root of the host had: the skeleton and the
    // host files copied into /etc, its own accounts not.
    let layer = lower_of(&env, "a");
    assert!(layer.join("etc/profile").exists() || !Path::new("/etc/profile").exists());
    assert!(layer.join("tmp").is_dir() && layer.join("var/log").is_dir());
    assert!(!layer.join("etc/passwd").exists() && !layer.join("etc/shadow").exists());

    env.jmk_ok(&["start", "a"]);
    let seen = jail_sh(
        &env,
        "a",
        "cat /etc/hostname; stat -c '%a %U' /tmp /root; test -s /etc/profile && echo profile; \
         echo mine > /etc/motd; rm /etc/shells; echo ok",
    );
    assert_eq!(seen, "a\n1777 root\n700 root\nprofile\nok\n");
    env.jmk_ok(&["stop", "a"]);
    // What the jail wrote is in its root, the layer untouched.
    let root = env.paths.jail_root("a");
    assert_eq!(fs::read_to_string(root.join("etc/motd")).unwrap(), "mine\n");
    assert!(layer.join("etc/shells").exists() || !Path::new("/etc/shells").exists());
    assert!(!layer.join("etc/motd").exists());
    env.jmk_ok(&["start", "b"]);
    assert_eq!(
        jail_sh(
            &env,
            "b",
            "cat /etc/hostname; test -e /etc/motd || echo none"
        ),
        "bee\nnone\n"
    );
    env.jmk_ok(&["stop", "b"]);
    env.jmk_ok(&["destroy", "a"]);
    env.jmk_ok(&["destroy", "b"]);
    assert_eq!(layers(&env).len(), 1, "kept for the next create");
}

#[test]
fn a_layer_whose_host_files_changed_is_made_anew_and_removed_once_unused() {
    require_root!();
    let env = TestEnv::new("hostlayer-stale");
    env.jmk_ok(&["create", "old"]);
    let first = lower_of(&env, "old");
    // As if a host file the layer copies had changed since: its recorded
    // status no longer matches the host's.
    let sources = first.parent().unwrap().join("sources.json");
    let text = fs::read_to_string(&sources).unwrap();
    let changed = text.replacen("\"ino\":", "\"ino\":1", 1);
    assert_ne!(changed, text);
    fs::write(&sources, changed).unwrap();
    env.jmk_ok(&["create", "new"]);
    let second = lower_of(&env, "new");
    assert_ne!(first, second);
    assert!(first.is_dir(), "kept while a jail's definition names it");
    assert_eq!(lower_of(&env, "old"), first);
    env.jmk_ok(&["start", "old"]);
    assert_eq!(jail_sh(&env, "old", "cat /etc/hostname"), "old\n");
    env.jmk_ok(&["stop", "old"]);
    env.jmk_ok(&["destroy", "old"]);
    // The next layer made sweeps the one no definition names.
    let text = fs::read_to_string(second.parent().unwrap().join("sources.json")).unwrap();
    fs::write(
        second.parent().unwrap().join("sources.json"),
        text.replacen("\"ino\":", "\"ino\":1", 1),
    )
    .unwrap();
    env.jmk_ok(&["create", "third"]);
    assert!(!first.exists(), "no jail names it");
    assert!(second.is_dir(), "jail new names it");
    assert_eq!(layers(&env).len(), 2);
    env.jmk_ok(&["destroy", "new"]);
    env.jmk_ok(&["destroy", "third"]);
}

#[test]
fn an_archive_of_a_thin_jail_of_the_host_carries_its_own_files_and_their_deletions() {
    require_root!();
    let env = TestEnv::new("hostlayer-export");
    env.jmk_ok(&["create", "a"]);
    env.jmk_ok(&["start", "a"]);
    jail_sh(
        &env,
        "a",
        "echo data > /root/f; rm /etc/shells; rm -r /etc/profile.d; mkdir /etc/profile.d; \
         echo mine > /etc/profile.d/only.sh",
    );
    env.jmk_ok(&["stop", "a"]);
    let archive = env.base.join("a.jkit");
    env.jmk_ok(&["export", "a", archive.to_str().unwrap()]);
    env.jmk_ok(&["import", archive.to_str().unwrap(), "b"]);
    // Over the importing host's layer, as a thin jail of it.
    assert_eq!(lower_of(&env, "b"), lower_of(&env, "a"));
    env.jmk_ok(&["start", "b"]);
    let seen = jail_sh(
        &env,
        "b",
        "cat /root/f; test -e /etc/shells || echo no-shells; ls /etc/profile.d; \
         test -s /etc/login.defs && echo layer",
    );
    assert_eq!(seen, "data\nno-shells\nonly.sh\nlayer\n");
    env.jmk_ok(&["stop", "b"]);
    env.jmk_ok(&["destroy", "a"]);
    env.jmk_ok(&["destroy", "b"]);
}
