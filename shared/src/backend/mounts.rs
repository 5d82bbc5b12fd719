//! The mounts a jail asks for: `mount` entries, `mount.fstab` files, in
//! jail(8)'s order. Both backends mount these; parsing is shared.

use std::path::{Path, PathBuf};

use crate::error::{Error, OsContext, Result};
use crate::model::Jail;

/// One fstab-style entry: `source target type options [dump [pass]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// What to mount (a directory for nullfs/bind, a device, or a name).
    pub source: String,
    /// Where, as an absolute host path under the jail's root.
    pub target: PathBuf,
    /// The filesystem type (`nullfs` is a bind mount on Linux).
    pub fstype: String,
    /// Comma-separated options, split.
    pub options: Vec<String>,
}

impl MountEntry {
    /// Parse one fstab line; `None` for a blank or comment line.
    pub fn parse(line: &str) -> Result<Option<Self>> {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            return Ok(None);
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 {
            return Err(Error::Config(format!("{line}: missing information")));
        }
        let options = fields
            .get(3)
            .map(|o| {
                o.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(MountEntry {
            source: unescape_fstab(fields[0]),
            target: PathBuf::from(unescape_fstab(fields[1])),
            fstype: fields[2].to_string(),
            options,
        }))
    }

    /// A read-only bind mount (`nullfs ro`, as FreeBSD's thin jails write
    /// it) of `source` on `target`.
    pub fn read_only_bind(source: &Path, target: PathBuf) -> Self {
        MountEntry {
            source: source.to_string_lossy().into_owned(),
            target,
            fstype: "nullfs".into(),
            options: vec!["ro".into()],
        }
    }

    /// Whether `ro` (or its other name, `rdonly`) is among the options.
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro" || o == "rdonly")
    }

    /// Whether the entry binds a directory (`nullfs`, FreeBSD's name, or
    /// `bind`) rather than mounting a filesystem.
    pub fn is_bind(&self) -> bool {
        self.fstype == "nullfs"
            || self.fstype == "bind"
            || self.options.iter().any(|o| o == "bind" || o == "rbind")
    }

    /// The layers of an overlay entry: its lower directories, top first,
    /// and its upper directory (none for a read-only overlay); `None` for
    /// another entry.
    pub fn overlay_layers(&self) -> Option<(Vec<PathBuf>, Option<PathBuf>)> {
        if self.fstype != "overlay" {
            return None;
        }
        let option = |name: &str| {
            self.options
                .iter()
                .find_map(|o| o.strip_prefix(name)?.strip_prefix('='))
        };
        let lowers = option("lowerdir")
            .map(|l| l.split(':').map(PathBuf::from).collect())
            .unwrap_or_default();
        Some((lowers, option("upperdir").map(PathBuf::from)))
    }

    /// The line as written to an fstab file.
    pub fn to_line(&self) -> String {
        let opts = if self.options.is_empty() {
            "rw".to_string()
        } else {
            self.options.join(",")
        };
        format!(
            "{} {} {} {} 0 0",
            escape_fstab(&self.source),
            escape_fstab(&self.target.to_string_lossy()),
            self.fstype,
            opts
        )
    }
}

/// fstab(5) writes spaces and tabs in paths as octal escapes.
fn escape_fstab(s: &str) -> String {
    s.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
}

fn unescape_fstab(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\134", "\\")
}

/// The `mount` entries and then every line of the `mount.fstab` files of
/// `def`, in order, each target checked to lie under `root`.
pub fn planned(def: &Jail, root: &Path) -> Result<Vec<MountEntry>> {
    let mut entries = Vec::new();
    for line in def.params.list("mount") {
        entries.extend(MountEntry::parse(line).map_err(|e| e.context(&def.name))?);
    }
    for file in def.params.list("mount.fstab") {
        let text = std::fs::read_to_string(file).what(|| format!("{}: {file}", def.name))?;
        for line in text.lines() {
            entries.extend(MountEntry::parse(line).map_err(|e| e.context(&def.name))?);
        }
    }
    for e in &entries {
        if !e.target.is_absolute() || !lexically_under(&e.target, root) {
            return Err(Error::Config(format!(
                "{}: mount point {} is not under the jail's path {}",
                def.name,
                e.target.display(),
                root.display()
            )));
        }
    }
    Ok(entries)
}

/// The overlay among `entries` that goes over the jail's root `root`
/// itself (a clone's, or a thin jail's on a release): the jail's files are
/// its layers, not what lies in `root` on the host.
pub fn root_layer<'e>(entries: &'e [MountEntry], root: &Path) -> Option<&'e MountEntry> {
    entries
        .iter()
        .find(|e| e.fstype == "overlay" && e.target == root)
}

/// Whether `path` lies under `root` without any `..` component.
pub fn lexically_under(path: &Path, root: &Path) -> bool {
    use std::path::Component;
    path.starts_with(root)
        && !path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Params, State, Value};

    #[test]
    fn parses_fstab_lines() {
        let e = MountEntry::parse("/usr /j/root/usr nullfs ro 0 0")
            .unwrap()
            .unwrap();
        assert_eq!(e.source, "/usr");
        assert_eq!(e.target, PathBuf::from("/j/root/usr"));
        assert_eq!(e.fstype, "nullfs");
        assert!(e.read_only());
        assert_eq!(e.to_line(), "/usr /j/root/usr nullfs ro 0 0");
        assert_eq!(MountEntry::parse("  # comment").unwrap(), None);
        let e = MountEntry::parse("/a").unwrap_err();
        assert_eq!(e.to_string(), "/a: missing information");
        let e = MountEntry::parse("/my\\040dir /j/root/x nullfs rw")
            .unwrap()
            .unwrap();
        assert_eq!(e.source, "/my dir");
        assert_eq!(e.to_line(), "/my\\040dir /j/root/x nullfs rw 0 0");
    }

    #[test]
    fn overlay_entries_name_their_layers() {
        let e = MountEntry::parse(
            "overlay /j/c/root overlay lowerdir=/j/a/upper:/rel,upperdir=/j/c/up,workdir=/j/c/w",
        )
        .unwrap()
        .unwrap();
        let (lowers, upper) = e.overlay_layers().unwrap();
        assert_eq!(lowers, [PathBuf::from("/j/a/upper"), PathBuf::from("/rel")]);
        assert_eq!(upper, Some(PathBuf::from("/j/c/up")));
        let bind = MountEntry::read_only_bind(Path::new("/usr"), "/j/c/root/usr".into());
        assert_eq!(bind.overlay_layers(), None);
        let entries = [bind, e.clone()];
        assert_eq!(root_layer(&entries, Path::new("/j/c/root")), Some(&e));
        assert_eq!(root_layer(&entries, Path::new("/j/d/root")), None);
    }

    #[test]
    fn targets_must_stay_under_the_root() {
        let mut params = Params::new();
        params.set(
            "mount",
            Value::List(vec!["/tmp /j/root/../../etc nullfs rw".into()]),
        );
        let def = Jail {
            name: "w".into(),
            jid: None,
            state: State::Stopped,
            params,
        };
        let e = planned(&def, Path::new("/j/root")).unwrap_err();
        assert!(e.to_string().contains("not under the jail's path"), "{e}");
    }
}
