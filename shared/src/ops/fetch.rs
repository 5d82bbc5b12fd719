//! `jmk release fetch`: a FreeBSD release's base.txz from a mirror, its
//! sha256 checked against the release's MANIFEST, then unpacked as a
//! release. HTTP is curl(1)'s: TLS, proxies and redirects as the system
//! has them, and resuming (`--continue-at -`, an HTTP Range request) of a
//! download cut short, kept under a dot name in the releases directory.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::release;
use super::rootfs::Progress;
use crate::error::{Error, OsContext, Result};
use crate::paths::Paths;
use crate::wire::ReleaseRecord;

/// The mirror releases come from unless another is named.
pub const DEFAULT_MIRROR: &str = "https://download.freebsd.org/releases";

/// How far a fetch has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetching {
    /// Bytes of base.txz on disk (a resumed download starts where the
    /// last one stopped).
    Downloaded(Progress),
    /// The unpacking of base.txz.
    Unpacked(Progress),
}

/// The directory of the mirror `mirror` that holds release `version` for
/// the machine `arch` (FreeBSD's `MACHINE/MACHINE_ARCH`: amd64/amd64).
pub fn release_url(mirror: &str, arch: &str, version: &str) -> String {
    format!("{}/{arch}/{version}", mirror.trim_end_matches('/'))
}

/// FreeBSD's name for this machine, as its mirrors' directories are named.
pub fn default_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64/aarch64",
        "x86" => "i386/i386",
        _ => "amd64/amd64",
    }
}

/// Fetch release `version` from `url` (see [`release_url`]) and register
/// it under that name, unpacked with file capabilities when `caps`.
pub fn fetch(
    paths: &Paths,
    version: &str,
    url: &str,
    caps: bool,
    progress: &mut dyn FnMut(Fetching),
) -> Result<ReleaseRecord> {
    release::validate_name(version)?;
    if version == release::HOST || fs::symlink_metadata(paths.releases_dir().join(version)).is_ok()
    {
        return Err(Error::Exists(format!("release {version} already exists")));
    }
    let dir = paths.releases_dir().join(format!(".{version}.download"));
    fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))?;
    let manifest = curl_text(&format!("{url}/MANIFEST"))?;
    let want = manifest_sha256(&manifest, "base.txz")
        .ok_or_else(|| Error::BadData(format!("{url}/MANIFEST: no sha256 for base.txz")))?;
    let txz = dir.join("base.txz");
    // The sum of a download that passed the check: bytes on disk without
    // it are a download cut short, resumed rather than hashed first.
    let checked = dir.join("base.txz.sha256");
    if fs::read_to_string(&checked).ok().as_deref() != Some(want.as_str()) {
        download(&format!("{url}/base.txz"), &txz, progress)?;
        let got = sha256_file(&txz)?;
        if got != want {
            // Not resumed later: the bytes on disk are wrong.
            let _ = crate::backend::remove::remove_tree(&dir);
            return Err(Error::BadData(format!(
                "{url}/base.txz: sha256 {got}, its MANIFEST says {want}"
            )));
        }
        fs::write(&checked, &want).what(|| format!("write {}", checked.display()))?;
    }
    let added = release::add(paths, version, &txz, caps, &mut |p| {
        progress(Fetching::Unpacked(p))
    })?;
    let _ = crate::backend::remove::remove_tree(&dir);
    Ok(added)
}

/// The sha256 a FreeBSD MANIFEST gives `file` (lines of tab-separated
/// fields: name, sha256, file count, set, description, default).
pub fn manifest_sha256(manifest: &str, file: &str) -> Option<String> {
    manifest.lines().find_map(|line| {
        let mut fields = line.split('\t');
        (fields.next()? == file)
            .then(|| fields.next())
            .flatten()
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase)
    })
}

/// curl with the options every request here takes: fail on an HTTP error,
/// no progress meter, errors on stderr, redirects followed.
fn curl() -> Command {
    let mut cmd = Command::new("curl");
    cmd.args(["--fail", "--silent", "--show-error", "--location"]);
    cmd
}

/// Why curl could not be run.
fn curl_not_run(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::Unavailable("release fetch needs curl, which is not installed".into())
        }
        _ => Error::os("run curl", e),
    }
}

/// Run `cmd` (a curl), its stdout captured: one line of curl's error on
/// failure.
fn run_curl(cmd: &mut Command, url: &str) -> Result<Vec<u8>> {
    let out = cmd.stdin(Stdio::null()).output().map_err(curl_not_run)?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let msg = String::from_utf8_lossy(&out.stderr);
    Err(Error::Unavailable(format!(
        "{url}: {}",
        msg.lines().next().unwrap_or("curl failed").trim()
    )))
}

/// A small text file at `url`.
fn curl_text(url: &str) -> Result<String> {
    let body = run_curl(curl().arg(url), url)?;
    String::from_utf8(body).map_err(|_| Error::BadData(format!("{url}: not text")))
}

/// The size the server gives the file at `url` (0 when it gives none).
fn remote_size(url: &str) -> u64 {
    let Ok(head) = run_curl(curl().arg("--head").arg(url), url) else {
        return 0;
    };
    // After redirects, the last response's length counts.
    String::from_utf8_lossy(&head)
        .lines()
        .rev()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0)
}

/// Download `url` into `file`, going on from the bytes already there
/// (an HTTP Range request), telling `progress` how many are on disk.
fn download(url: &str, file: &Path, progress: &mut dyn FnMut(Fetching)) -> Result<()> {
    let total = remote_size(url);
    let on_disk = |f: &PathBuf| fs::metadata(f).map(|m| m.len()).unwrap_or(0);
    let file = file.to_path_buf();
    if total > 0 && on_disk(&file) >= total {
        // Whole, yet wrong (it failed the check): fetched again.
        fs::remove_file(&file).what(|| format!("remove {}", file.display()))?;
    }
    let mut child = curl()
        .arg("--continue-at")
        .arg("-")
        .arg("--output")
        .arg(&file)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(curl_not_run)?;
    let status = loop {
        progress(Fetching::Downloaded(Progress {
            done: on_disk(&file),
            total,
        }));
        if let Some(status) = child.try_wait().what(|| "wait for curl".into())? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    progress(Fetching::Downloaded(Progress {
        done: on_disk(&file),
        total,
    }));
    if status.success() {
        return Ok(());
    }
    let mut msg = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut msg);
    }
    Err(Error::Unavailable(format!(
        "{url}: {} (run the fetch again to resume)",
        msg.lines().next().unwrap_or("curl failed").trim()
    )))
}

/// The sha256 of `file`, in lower-case hex.
fn sha256_file(file: &Path) -> Result<String> {
    let mut f = fs::File::open(file).what(|| format!("open {}", file.display()))?;
    let mut hash = crate::fsio::sha256::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .what(|| format!("read {}", file.display()))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hash.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_give_each_file_its_sha256() {
        let sum = "a".repeat(64);
        let manifest = format!(
            "base-dbg.txz\t{}\t10\tbase-dbg\t\"Base debug\"\toff\nbase.txz\t{sum}\t26000\tbase\t\"Base system (MANDATORY)\"\ton\n",
            "b".repeat(64)
        );
        assert_eq!(manifest_sha256(&manifest, "base.txz"), Some(sum));
        assert_eq!(manifest_sha256(&manifest, "kernel.txz"), None);
        assert_eq!(manifest_sha256("base.txz\tnothex\t1\n", "base.txz"), None);
    }

    #[test]
    fn release_urls_follow_the_mirrors_layout() {
        assert_eq!(
            release_url("https://m.example/releases/", "amd64/amd64", "14.2-RELEASE"),
            "https://m.example/releases/amd64/amd64/14.2-RELEASE"
        );
    }
}
