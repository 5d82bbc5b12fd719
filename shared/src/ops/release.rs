//! Named releases: directory trees (registered in place) or tarballs
//! (unpacked once) that jails are built from. `host` is built in: the
//! host's own system.

use std::fs;
use std::path::{Path, PathBuf};

use crate::wire::ReleaseRecord;

use super::rootfs;
use crate::error::{Error, OsContext, Result};
use crate::paths::Paths;

/// The built-in release: the host's own system.
pub const HOST: &str = "host";

/// Check a release name: letters, digits, `.`, `_`, `-` (FreeBSD names
/// releases `14.2-RELEASE`), not starting with `.` or `-`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid release name \"{name}\": letters, digits, '.', '_' and '-' only"
        )))
    }
}

/// Every release, `host` first, then by name.
pub fn list(paths: &Paths) -> Result<Vec<ReleaseRecord>> {
    let mut out = vec![ReleaseRecord {
        name: HOST.into(),
        path: "/".into(),
        kind: "host".into(),
    }];
    let dir = paths.releases_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::at("read", &dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.what(|| format!("read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if validate_name(&name).is_err() {
            continue; // half-unpacked tarballs live under dot names
        }
        found.push(describe(&entry.path(), name)?);
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(found);
    Ok(out)
}

fn describe(path: &Path, name: String) -> Result<ReleaseRecord> {
    let meta = fs::symlink_metadata(path).what(|| format!("stat {}", path.display()))?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path).what(|| format!("readlink {}", path.display()))?;
        Ok(ReleaseRecord {
            name,
            path: target.to_string_lossy().into_owned(),
            kind: "directory".into(),
        })
    } else {
        Ok(ReleaseRecord {
            name,
            path: path.to_string_lossy().into_owned(),
            kind: "tarball".into(),
        })
    }
}

/// The directory tree of release `name`.
pub fn tree(paths: &Paths, name: &str) -> Result<PathBuf> {
    if name == HOST {
        return Ok(PathBuf::from("/"));
    }
    validate_name(name)?;
    let p = paths.releases_dir().join(name);
    match fs::metadata(&p) {
        Ok(m) if m.is_dir() => {
            Ok(fs::canonicalize(&p).what(|| format!("resolve {}", p.display()))?)
        }
        Ok(_) => Err(Error::Config(format!(
            "release {name}: {} is not a directory",
            p.display()
        ))),
        Err(_) if fs::symlink_metadata(&p).is_ok() => Err(Error::NotFound(format!(
            "release {name}: its directory is gone ({})",
            fs::read_link(&p).unwrap_or_default().display()
        ))),
        Err(_) => Err(Error::NotFound(format!("unknown release: {name}"))),
    }
}

/// Register `source` (a directory, kept in place, or a tarball, unpacked
/// with its files' capabilities when `caps`, see
/// [`rootfs::extract_tarball`]) as release `name`, telling `progress` how
/// far an unpacking has got.
pub fn add(
    paths: &Paths,
    name: &str,
    source: &Path,
    caps: bool,
    progress: &mut dyn FnMut(rootfs::Progress),
) -> Result<ReleaseRecord> {
    validate_name(name)?;
    if name == HOST {
        return Err(Error::Exists("release host is built in".into()));
    }
    let dir = paths.releases_dir();
    let dst = dir.join(name);
    if fs::symlink_metadata(&dst).is_ok() {
        return Err(Error::Exists(format!("release {name} already exists")));
    }
    let meta = fs::metadata(source).map_err(|e| Error::at("stat", source, e))?;
    fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))?;
    if meta.is_dir() {
        let abs = fs::canonicalize(source).what(|| format!("resolve {}", source.display()))?;
        std::os::unix::fs::symlink(&abs, &dst).what(|| format!("symlink {}", dst.display()))?;
    } else {
        // Unpack under a dot name, then rename: a killed add leaves no
        // half release under the real name.
        let tmp = dir.join(format!(".{name}.partial"));
        crate::backend::remove::remove_tree(&tmp)?;
        if let Err(e) = rootfs::extract_tarball(source, &tmp, caps, progress) {
            let _ = crate::backend::remove::remove_tree(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &dst).what(|| format!("rename to {}", dst.display()))?;
    }
    describe(&dst, name.to_string())
}

/// The programs that make a Debian system tree, in the order they are
/// preferred (mmdebstrap is several times faster).
const DEBOOTSTRAPS: &[&str] = &["mmdebstrap", "debootstrap"];

/// Where program `name` is: on `PATH`, or in the sbin directories a
/// non-root `PATH` may lack.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Make release `name`, a Debian system of `suite` (minbase: apt and what
/// it needs) from `mirror` (the tool's default when `None`), with
/// mmdebstrap or else debootstrap, whichever is installed.
pub fn debootstrap(
    paths: &Paths,
    name: &str,
    suite: &str,
    mirror: Option<&str>,
) -> Result<ReleaseRecord> {
    validate_name(name)?;
    if name == HOST {
        return Err(Error::Exists("release host is built in".into()));
    }
    if suite.is_empty()
        || !suite
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(Error::Usage(format!("invalid suite \"{suite}\"")));
    }
    let dir = paths.releases_dir();
    let dst = dir.join(name);
    if fs::symlink_metadata(&dst).is_ok() {
        return Err(Error::Exists(format!("release {name} already exists")));
    }
    let (tool, program) = DEBOOTSTRAPS
        .iter()
        .find_map(|t| find_program(t).map(|p| (*t, p)))
        .ok_or_else(|| {
            Error::Unavailable(
                "release add --debootstrap needs mmdebstrap or debootstrap: neither is installed"
                    .into(),
            )
        })?;
    fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))?;
    // Made under a dot name, then renamed: a failed or killed run leaves
    // no half release under the real name.
    let tmp = dir.join(format!(".{name}.partial"));
    crate::backend::remove::remove_tree(&tmp)?;
    let mut cmd = std::process::Command::new(&program);
    if tool == "mmdebstrap" {
        cmd.arg("--quiet");
    }
    cmd.arg("--variant=minbase").arg(suite).arg(&tmp);
    cmd.args(mirror);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .what(|| format!("run {tool}"))?;
    if !out.status.success() {
        let _ = crate::backend::remove::remove_tree(&tmp);
        let text = String::from_utf8_lossy(&out.stderr);
        let last = text.lines().rev().find(|l| !l.trim().is_empty());
        return Err(Error::Unavailable(format!(
            "{tool} {suite}: {}",
            last.unwrap_or("failed").trim()
        )));
    }
    fs::rename(&tmp, &dst).what(|| format!("rename to {}", dst.display()))?;
    describe(&dst, name.to_string())
}

/// Unregister release `name`: a registered directory is left alone, an
/// unpacked tarball is deleted. `users` are the jails built from it.
pub fn remove(paths: &Paths, name: &str, users: &[String]) -> Result<()> {
    if name == HOST {
        return Err(Error::Usage(
            "release host is built in and cannot be removed".into(),
        ));
    }
    validate_name(name)?;
    if !users.is_empty() {
        return Err(Error::TempFail(format!(
            "release {name} is used by jail(s) {}",
            users.join(", ")
        )));
    }
    let p = paths.releases_dir().join(name);
    let meta = fs::symlink_metadata(&p)
        .map_err(|_| Error::NotFound(format!("unknown release: {name}")))?;
    if meta.file_type().is_symlink() {
        fs::remove_file(&p).what(|| format!("remove {}", p.display()))
    } else {
        crate::backend::remove::remove_tree(&p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names() {
        validate_name("14.2-RELEASE").unwrap();
        for bad in ["", "../x", ".hidden", "a/b", "a b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn directories_register_in_place_and_unregister_without_deleting() {
        let base = std::env::temp_dir().join(format!("jkit-rel-{}", std::process::id()));
        let paths = Paths::under(&base);
        let tree_dir = base.join("tree");
        fs::create_dir_all(tree_dir.join("usr")).unwrap();
        let r = add(&paths, "mine", &tree_dir, false, &mut |_| {}).unwrap();
        assert_eq!(r.kind, "directory");
        assert_eq!(
            tree(&paths, "mine").unwrap(),
            fs::canonicalize(&tree_dir).unwrap()
        );
        assert_eq!(
            add(&paths, "mine", &tree_dir, false, &mut |_| {})
                .unwrap_err()
                .exit_code(),
            73
        );
        let names: Vec<String> = list(&paths).unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["host", "mine"]);
        assert!(remove(&paths, "mine", &["web".into()]).is_err());
        remove(&paths, "mine", &[]).unwrap();
        assert!(tree_dir.join("usr").is_dir(), "the registered tree is kept");
        assert_eq!(
            tree(&paths, "mine").unwrap_err().to_string(),
            "unknown release: mine"
        );
        fs::remove_dir_all(base).unwrap();
    }
}
