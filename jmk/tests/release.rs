//! `jmk release fetch` against a made-up FreeBSD release served by an HTTP
//! server of the test's own on loopback: a download cut short is resumed
//! with a Range request, the sha256 of base.txz is checked against the
//! MANIFEST, and nothing is registered when it does not match.

#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use jkit_tests::{TestEnv, require_root};

/// A request the server saw: method, path and Range header.
type Seen = (String, String, Option<String>);

/// An HTTP/1.1 server on 127.0.0.1 serving `files` by path, one request
/// per connection, with HEAD and `Range: bytes=N-`. The first GET of a
/// path in `cut` sends half the body and closes, as a dropped connection.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start(files: HashMap<String, Vec<u8>>, cut: &[&str]) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let mut cut: Vec<String> = cut.iter().map(|s| s.to_string()).collect();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let request = serve(stream, &files, &mut cut);
                log.lock().unwrap().extend(request);
            }
        });
        Server { port, seen }
    }

    fn mirror(&self) -> String {
        format!("http://127.0.0.1:{}/releases", self.port)
    }

    fn ranges(&self, path: &str) -> Vec<Option<String>> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p, _)| m == "GET" && p == path)
            .map(|(_, _, r)| r.clone())
            .collect()
    }
}

fn serve(
    mut stream: TcpStream,
    files: &HashMap<String, Vec<u8>>,
    cut: &mut Vec<String>,
) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let method = words.next()?.to_string();
    let path = words.next()?.to_string();
    let mut range = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let Some(body) = files.get(&path) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return Some((method, path, range));
    };
    let from: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let part = &body[from.min(body.len())..];
    let head = if range.is_some() {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\nConnection: close\r\n\r\n",
            part.len(),
            body.len() - 1,
            body.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
            body.len()
        )
    };
    let _ = stream.write_all(head.as_bytes());
    if method == "GET" {
        let send = match cut.iter().position(|c| *c == path) {
            Some(i) => {
                cut.remove(i);
                &part[..part.len() / 2]
            }
            None => part,
        };
        let _ = stream.write_all(send);
    }
    Some((method, path, range))
}

/// A made-up release: base.txz of a tree with `etc/marker` and an
/// incompressible file, and its MANIFEST line's sha256.
fn made_up_release(dir: &Path) -> (Vec<u8>, String) {
    let tree = dir.join("tree");
    fs::create_dir_all(tree.join("etc")).unwrap();
    fs::create_dir_all(tree.join("bin")).unwrap();
    fs::write(tree.join("etc/marker"), "fetched\n").unwrap();
    let noise: Vec<u8> = (0u32..400_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(tree.join("bin/blob"), noise).unwrap();
    let txz = dir.join("base.txz");
    let ok = std::process::Command::new("tar")
        .arg("-cJf")
        .arg(&txz)
        .arg("-C")
        .arg(&tree)
        .arg(".")
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar");
    let bytes = fs::read(&txz).unwrap();
    let mut hash = jkit::fsio::sha256::Sha256::new();
    hash.update(&bytes);
    (bytes, hash.hex())
}

fn manifest(sha: &str) -> Vec<u8> {
    format!("base.txz\t{sha}\t3\tbase\t\"Base system (MANDATORY)\"\ton\n").into_bytes()
}

#[test]
fn fetch_resumes_a_cut_download_and_checks_the_manifest() {
    require_root!();
    let env = TestEnv::new("fetch");
    let (txz, sha) = made_up_release(&env.base);
    let good = "/releases/amd64/amd64/13.9-TEST";
    let bad = "/releases/amd64/amd64/13.8-TEST";
    let files = HashMap::from([
        (format!("{good}/MANIFEST"), manifest(&sha)),
        (format!("{good}/base.txz"), txz.clone()),
        (format!("{bad}/MANIFEST"), manifest(&"0".repeat(64))),
        (format!("{bad}/base.txz"), txz.clone()),
    ]);
    let server = Server::start(files, &[&format!("{good}/base.txz")]);
    let mirror = server.mirror();
    let fetch = |version: &str| {
        env.run(
            "jmk",
            &[
                "release",
                "fetch",
                version,
                "--mirror",
                &mirror,
                "--arch",
                "amd64/amd64",
            ],
        )
    };
    // Cut half-way: an error that says to run it again, no release.
    let cut = fetch("13.9-TEST");
    assert_eq!(cut.code(), 69, "{}", cut.stderr);
    assert!(
        cut.stderr.contains("run the fetch again to resume"),
        "{}",
        cut.stderr
    );
    assert_eq!(cut.stderr.lines().count(), 1, "{}", cut.stderr);
    assert!(!env.jmk_ok(&["release", "list"]).contains("13.9-TEST"));
    // Again: resumed from where it stopped, checked, unpacked.
    env.jmk_ok(&[
        "release",
        "fetch",
        "13.9-TEST",
        "--mirror",
        &mirror,
        "--arch",
        "amd64/amd64",
    ]);
    let ranges = server.ranges(&format!("{good}/base.txz"));
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], None);
    let resumed_at: usize = ranges[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no Range on the second download: {ranges:?}"));
    assert!(resumed_at > 0 && resumed_at < txz.len(), "{resumed_at}");
    let tree = env.paths.releases_dir().join("13.9-TEST");
    assert_eq!(
        fs::read_to_string(tree.join("etc/marker")).unwrap(),
        "fetched\n"
    );
    assert!(env.jmk_ok(&["release", "list"]).contains("13.9-TEST\t"));
    assert_eq!(
        fs::read_dir(env.paths.releases_dir()).unwrap().count(),
        1,
        "no download left"
    );
    // A base.txz that does not match its MANIFEST: refused, nothing kept.
    let refused = fetch("13.8-TEST");
    assert_eq!(refused.code(), 65, "{}", refused.stderr);
    assert!(refused.stderr.contains("sha256"), "{}", refused.stderr);
    assert!(!env.jmk_ok(&["release", "list"]).contains("13.8-TEST"));
    assert_eq!(
        fs::read_dir(env.paths.releases_dir()).unwrap().count(),
        1,
        "nothing half-made"
    );
    // A release of that name already there: refused before any download.
    let again = fetch("13.9-TEST");
    assert_eq!(again.code(), 73, "{}", again.stderr);
}

#[test]
fn debootstrap_refuses_bad_input_before_running_anything() {
    require_root!();
    let env = TestEnv::new("debootstrap");
    // The real run (mmdebstrap from Debian's mirror, a minute or more) is
    // scripts/debootstrap-release.
    let bad = env.run("jmk", &["release", "add", "x", "--debootstrap", "no/such"]);
    assert_eq!(bad.code(), 64, "{}", bad.stderr);
    assert_eq!(bad.stderr, "jmk: invalid suite \"no/such\"\n");
    let both = env.run(
        "jmk",
        &["release", "add", "x", "/tmp", "--debootstrap", "bookworm"],
    );
    assert!(
        !both.success() && both.stderr.contains("cannot be used with"),
        "{}",
        both.stderr
    );
    let host = env.run(
        "jmk",
        &["release", "add", "host", "--debootstrap", "bookworm"],
    );
    assert_eq!(host.code(), 73, "{}", host.stderr);
    assert!(!env.paths.releases_dir().exists(), "nothing made");
}
