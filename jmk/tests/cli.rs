//! Snapshot tests of jmk's command line (tests/cmd/jmk/*.toml): help,
//! usage errors and bad input, each a one-line message with its exit
//! status, and `-e` listings. They need no root: no case touches a jail.

#[test]
fn cli_snapshots() {
    trycmd::TestCases::new()
        .register_bin("jmk", trycmd::cargo::cargo_bin!("jmk"))
        .case("../tests/cmd/jmk/*.toml");
}

/// `jmk -e` over N jails and N top-level parameters prints N² parameters
/// one jail at a time: under a 64 MiB data limit it lists 1000 × 1000
/// (16 MB of output; holding every jail first took some 190 MB).
#[test]
fn show_holds_one_jail_at_a_time() {
    let dir = std::env::temp_dir().join(format!("jmk-show-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("big.conf");
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!("p{i}.x = value{i};\n"));
    }
    for i in 0..1000 {
        text.push_str(&format!("j{i} {{ }}\n"));
    }
    std::fs::write(&conf, text).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -d 65536 && exec \"$0\" -f \"$1\" -e ,")
        .arg(trycmd::cargo::cargo_bin!("jmk"))
        .arg(&conf)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&[u8]> = out.stdout.split(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 1001);
    assert!(lines[999].starts_with(b"name=j999,p0.x=value0,"));
    assert!(lines[999].ends_with(b",p999.x=value999"));
}

/// A configuration that is not UTF-8 keeps its bytes, from a file and
/// from standard input, as jail(8) keeps them: `-e` prints them back, a
/// variable carries them, a character written in escaped pieces is whole.
#[test]
fn latin1_bytes_are_kept_from_a_file_and_from_stdin() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("jmk-latin1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("latin1.conf");
    let text = b"$h = \"caf\xe9\";\nweb { host.hostname = \"$h\"; exec.start = \"echo \xff\\351\\303\\251\"; }\n";
    std::fs::write(&conf, text).unwrap();
    let jmk = trycmd::cargo::cargo_bin!("jmk");
    let from_file = std::process::Command::new(jmk)
        .args(["-f".as_ref(), conf.as_os_str(), "-e".as_ref(), ",".as_ref()])
        .output()
        .unwrap();
    let mut child = std::process::Command::new(jmk)
        .args(["-f", "-", "-e", ","])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text).unwrap();
    let from_stdin = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let want: &[u8] = b"name=web,host.hostname=caf\xe9,exec.start=\"echo \xff\xe9\xc3\xa9\"\n";
    for out in [from_file, from_stdin] {
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(out.stdout, want, "{}", String::from_utf8_lossy(&out.stdout));
        assert!(out.stderr.is_empty(), "{out:?}");
    }
}
