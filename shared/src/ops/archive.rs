//! `jmk export` and `jmk import`: a jail as a portable archive, tar
//! compressed with zstd (level 3, two threads). Its first member,
//! `jkit-export.json`, holds the definition, the fstab of its read-only
//! binds (targets relative to the root), rctl rules, rdr rules and tags;
//! then the root's files under `root/`, owned by the jail's own ids
//! (unshifted: jail uid n is n in the archive, file capabilities for the
//! jail's root), so the importing host's id range applies; last an empty
//! `jkit-end`, without which the archive is truncated.

use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::record::{BuildRecord, read_record, write_record};
use super::{Jkit, Layout, write_definition};
use crate::backend::mounts::MountEntry;
use crate::backend::storage;
use crate::error::{Error, OsContext, Result};
use crate::fsio::tree::{Owners, RANGE_SIZE};
use crate::lock::JailLock;
use crate::model::{Jail, State, Value, name};

mod incremental;
mod unpack;

/// What the first member says: the format's name and version.
const FORMAT: &str = "jkit-export";
const VERSION: u32 = 1;
/// The version of a full archive of a thin jail of the host whose root
/// holds only its own files (older readers refuse it: they would make a
/// root of those alone).
const HOST_LAYERED_VERSION: u32 = 3;
/// The pax record of an opaque directory of a layered root's own files.
const OPAQUE_PAX: &str = "SCHILY.xattr.trusted.overlay.opaque";
/// The version of an incremental archive (older readers refuse it).
const INCREMENTAL_VERSION: u32 = 2;
const MANIFEST: &str = "jkit-export.json";
const END: &str = "jkit-end";

/// How far directories go (as `fsio::tree`'s walks).
const MAX_DEPTH: usize = 512;

/// The archive's first member.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    name: String,
    layout: Layout,
    release: Option<String>,
    /// The definition, in jail.conf syntax.
    definition: String,
    /// The jail's own fstab, targets relative to its root.
    fstab: Vec<String>,
    rctl: Vec<String>,
    rdr: String,
    tags: String,
    /// The snapshot a full archive holds, where btrfs names it: the
    /// importing jail's snapshot of the same tag then builds on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    snapshot: Option<Lineage>,
    /// An incremental archive's snapshots (its members then hold a send
    /// stream instead of the root's files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    incremental: Option<Incremental>,
    /// Whether the root holds only the jail's own files, over the host
    /// layer of the importing host (see ops::hostlayer).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    host_layer: bool,
}

/// A snapshot of the exported jail, as its storage names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Lineage {
    tag: String,
    /// `btrfs` (or `zfs`).
    storage: String,
    /// Its identity in btrfs send streams (none for ZFS's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<storage::Origin>,
}

/// The two snapshots of an incremental archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Incremental {
    from: Lineage,
    to: Lineage,
}

/// `security.capability` revisions (see `fsio::tree::caps_in_range`).
const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_REVISION_3: u32 = 0x0300_0000;

/// A file's capabilities `value`, written for the range at `base`, as
/// they read outside any range: revision 3's root id moved down by
/// `base`, and revision 2 (the host's root) for the range's root. Other
/// values are left as they are.
fn caps_unshifted(value: &[u8], base: u32) -> Vec<u8> {
    if value.len() != 24 {
        return value.to_vec();
    }
    let word = |i: usize| u32::from_le_bytes(value[4 * i..4 * i + 4].try_into().unwrap_or([0; 4]));
    let (magic, rootid) = (word(0), word(5));
    if magic & 0xFF00_0000 != VFS_CAP_REVISION_3 || !(base..base + RANGE_SIZE).contains(&rootid) {
        return value.to_vec();
    }
    let mut out = value.to_vec();
    if rootid == base {
        out.truncate(20);
        out[..4].copy_from_slice(&(VFS_CAP_REVISION_2 | (magic & 1)).to_le_bytes());
    } else {
        out[20..].copy_from_slice(&(rootid - base).to_le_bytes());
    }
    out
}

/// An id of the range at `base` as the jail sees it (others stay).
fn unshifted(id: u32, base: Option<u32>) -> u32 {
    match base {
        Some(b) if (b..b + RANGE_SIZE).contains(&id) => id - b,
        _ => id,
    }
}

/// The tar writer of an export, with what it must know of the files.
struct Writer<'a, W: Write> {
    tar: tar::Builder<W>,
    base: Option<u32>,
    caps: &'a dyn crate::fsio::tree::FileCaps,
    links: std::collections::HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> Writer<'_, W> {
    fn add(&mut self, path: &Path, name: &Path, depth: usize) -> Result<()> {
        let io = |e: io::Error| Error::at("write the archive at", path, e);
        let meta = fs::symlink_metadata(path).what(|| format!("stat {}", path.display()))?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        h.set_uid(u64::from(unshifted(meta.uid(), self.base)));
        h.set_gid(u64::from(unshifted(meta.gid(), self.base)));
        let ft = meta.file_type();
        if !ft.is_dir() && meta.nlink() > 1 {
            if let Some(first) = self.links.get(&(meta.dev(), meta.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                return self.tar.append_link(&mut h, name, first).map_err(io);
            }
            self.links
                .insert((meta.dev(), meta.ino()), name.to_path_buf());
        }
        if ft.is_file() {
            let file = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .what(|| format!("open {}", path.display()))?;
            if let Some(value) = self.caps.get(file.as_fd()).map_err(io)? {
                let value = match self.base {
                    Some(b) => caps_unshifted(&value, b),
                    None => value,
                };
                self.tar
                    .append_pax_extensions([("SCHILY.xattr.security.capability", &value[..])])
                    .map_err(io)?;
            }
            return self.tar.append_data(&mut h, name, file).map_err(io);
        }
        if ft.is_symlink() {
            let target = fs::read_link(path).what(|| format!("readlink {}", path.display()))?;
            return self.tar.append_link(&mut h, name, target).map_err(io);
        }
        use std::os::unix::fs::FileTypeExt;
        if ft.is_socket() {
            return Ok(());
        }
        if ft.is_dir() {
            let dir = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
                .open(path)
                .what(|| format!("open {}", path.display()))?;
            if self.caps.opaque(dir.as_fd()).map_err(io)? {
                self.tar
                    .append_pax_extensions([(OPAQUE_PAX, &b"y"[..])])
                    .map_err(io)?;
            }
        }
        self.tar
            .append_data(&mut h, name, io::empty())
            .map_err(io)?;
        if ft.is_dir() {
            if depth == MAX_DEPTH {
                return Err(Error::BadData(format!(
                    "{}: more than {MAX_DEPTH} directories deep",
                    path.display()
                )));
            }
            let mut names: Vec<_> = fs::read_dir(path)
                .what(|| format!("read {}", path.display()))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<_>>()
                .what(|| format!("read {}", path.display()))?;
            names.sort();
            for n in names {
                self.add(&path.join(&n), &name.join(&n), depth + 1)?;
            }
        }
        Ok(())
    }
}

/// A jail that can be exported: its definition and build record, and,
/// for a thin jail of the host over its layer, its definition without
/// that layer (the importing host puts its own below the root).
struct Exportable {
    def: Jail,
    record: BuildRecord,
    host_layer: Option<Jail>,
}

/// `def` without the overlay over its root `root`, and that overlay's
/// `mount` line, if it has one.
fn without_root_layer(def: &Jail, root: &Path) -> Result<(Jail, Option<String>)> {
    let mut kept = Vec::new();
    let mut layer = None;
    for line in def.params.list("mount") {
        match MountEntry::parse(line)? {
            Some(m) if m.fstype == "overlay" && m.target == root => layer = Some(line.clone()),
            _ => kept.push(line.clone()),
        }
    }
    let mut def = def.clone();
    if kept.is_empty() {
        def.params.remove("mount");
    } else {
        def.params.set("mount", Value::List(kept));
    }
    Ok((def, layer))
}

/// `def` with `line` first among its `mount` lines: what else the jail
/// mounts goes on top of the overlay over its root.
fn with_root_layer(mut def: Jail, line: String) -> Jail {
    let mut entries = def.params.list("mount").to_vec();
    entries.insert(0, line);
    def.params.set("mount", Value::List(entries));
    def
}

/// The first host id of jail `def`'s range, if it has one.
fn id_base(def: &Jail) -> Option<u32> {
    def.params
        .int("jkit.idbase")
        .and_then(|b| u32::try_from(b).ok())
}

/// Run `write` on the new file `file` (removed again on failure).
fn to_new_file(file: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .what(|| format!("create {}", file.display()))?;
    let mut w = io::BufWriter::with_capacity(1 << 20, f);
    let done = write(&mut w).and_then(|()| w.flush().what(|| format!("write {}", file.display())));
    if done.is_err() {
        let _ = fs::remove_file(file);
    }
    done
}

type ArchiveWriter<'a> =
    tar::Builder<io::BufWriter<zstd::stream::write::Encoder<'static, &'a mut dyn Write>>>;

/// A tar writer through zstd (level 3, two threads) to `out`, its first
/// member `manifest`.
fn archive_writer<'a>(out: &'a mut dyn Write, manifest: &Manifest) -> Result<ArchiveWriter<'a>> {
    let io = |e: io::Error| Error::os("write the archive", e);
    let mut zst = zstd::stream::write::Encoder::new(out, 3).map_err(io)?;
    zst.multithread(2).map_err(io)?;
    // Whole blocks to zstd: tar writes a file 8 KiB at a time.
    let mut tar = tar::Builder::new(io::BufWriter::with_capacity(1 << 20, zst));
    let json = serde_json::to_vec(manifest).map_err(|e| Error::Software(e.to_string()))?;
    let mut h = tar::Header::new_gnu();
    h.set_size(json.len() as u64);
    h.set_mode(0o600);
    tar.append_data(&mut h, MANIFEST, &json[..]).map_err(io)?;
    Ok(tar)
}

/// The archive's last member, `jkit-end`, and the end of its compression.
fn finish_archive(mut tar: ArchiveWriter) -> Result<()> {
    let io = |e: io::Error| Error::os("write the archive", e);
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_mode(0o600);
    tar.append_data(&mut h, END, io::empty()).map_err(io)?;
    let zst = tar
        .into_inner()
        .map_err(io)?
        .into_inner()
        .map_err(|e| io(e.into_error()))?;
    zst.finish().map_err(io)?;
    Ok(())
}

/// A reader error as the one line an archive that is not jkit's, or is
/// cut short, gets.
fn damaged(e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::BadData("the archive is truncated".into()),
        _ => Error::BadData(format!("not a jkit export archive, or a damaged one: {e}")),
    }
}

impl Jkit {
    /// [`Jkit::export`] to the new file `file` (removed again on failure).
    pub fn export_to_file(&self, name: &str, tag: Option<&str>, file: &Path) -> Result<()> {
        to_new_file(file, |w| self.export(name, tag, w))
    }

    /// The definition and build record of jail `name`, which must be
    /// whole to be exported, or a thin jail of the host over its layer
    /// (its lock held); for the latter, its definition without that layer.
    fn exportable(&self, name: &str) -> Result<Exportable> {
        let def = self.definition(name)?;
        let record = read_record(&self.paths, name)?.ok_or_else(|| {
            Error::Unavailable(format!(
                "jail \"{name}\" was not built by jmk: nothing to export"
            ))
        })?;
        // A layered root's files are in its layers, a release's or another
        // jail's among them: an archive holds the jail's own files only.
        let planned = crate::backend::mounts::planned(&def, &record.root)?;
        let layer = crate::backend::mounts::root_layer(&planned, &record.root);
        let over_host = layer.and_then(MountEntry::overlay_layers).is_some_and(
            |(lowers, upper)| {
                upper.as_deref() == Some(record.root.as_path())
                    && matches!(&lowers[..], [l] if super::hostlayer::is_host_layer(&self.paths, l))
            },
        );
        if record.layout == Layout::Clone || layer.is_some() && !over_host {
            return Err(Error::Unavailable(format!(
                "jail \"{name}\" is layered (a clone, or a thin jail of a release): export takes whole roots only"
            )));
        }
        let host_layer = match over_host {
            true => Some(without_root_layer(&def, &record.root)?.0),
            false => None,
        };
        Ok(Exportable {
            def,
            record,
            host_layer,
        })
    }

    /// Write jail `name` (its snapshot `tag`, when given) to `out` as an
    /// archive. A running jail is exported from a snapshot only.
    pub fn export(&self, name: &str, tag: Option<&str>, out: &mut dyn Write) -> Result<()> {
        name::validate(name)?;
        let _lock = JailLock::acquire(&self.paths, name)?;
        let Exportable {
            def,
            record,
            host_layer,
        } = self.exportable(name)?;
        let mut manifest = self.manifest(name, host_layer.as_ref().unwrap_or(&def), &record)?;
        if host_layer.is_some() {
            manifest.version = HOST_LAYERED_VERSION;
            manifest.host_layer = true;
        }
        let root = match tag {
            Some(t) => {
                let kept = self.kept(name, &def, Some(&record))?;
                if kept.unit.kind == storage::Kind::Btrfs {
                    manifest.snapshot = Some(Lineage {
                        tag: t.to_string(),
                        storage: storage::Kind::Btrfs.name().into(),
                        origin: Some(kept.unit.origin(t)?.0),
                    });
                }
                self.frozen(name, &def, Some(&record), t)?
                    .path(&record.root)?
            }
            None => {
                if self.running(name)?.is_some() {
                    return Err(Error::TempFail(format!(
                        "jail \"{name}\" is running: snapshot it and export NAME@TAG, or stop it"
                    )));
                }
                record.root.clone()
            }
        };
        let base = id_base(&def);
        let mut tar = archive_writer(out, &manifest)?;
        let mut w = Writer {
            tar,
            base,
            caps: self.backend.file_caps(),
            links: std::collections::HashMap::new(),
        };
        w.add(&root, Path::new("root"), 0)?;
        tar = w.tar;
        finish_archive(tar)
    }

    fn manifest(&self, name: &str, def: &Jail, record: &BuildRecord) -> Result<Manifest> {
        let read = |f: PathBuf| match fs::read_to_string(&f) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(Error::at("read", &f, e)),
        };
        let mut fstab = Vec::new();
        for line in read(self.paths.jail_fstab(name))?.lines() {
            if let Some(m) = MountEntry::parse(line)? {
                let target = m.target.strip_prefix(&record.root).unwrap_or(&m.target);
                fstab.push(
                    MountEntry {
                        target: target.to_path_buf(),
                        ..m
                    }
                    .to_line(),
                );
            }
        }
        Ok(Manifest {
            format: FORMAT.into(),
            version: VERSION,
            name: name.into(),
            layout: record.layout,
            release: record.release.clone(),
            definition: crate::conf::write_jail(def),
            fstab,
            rctl: crate::rctl::store::read(&self.paths, name)?
                .iter()
                .map(ToString::to_string)
                .collect(),
            rdr: read(self.paths.rdr_file(name))?,
            tags: read(self.paths.tags_file(name))?,
            snapshot: None,
            incremental: None,
            host_layer: false,
        })
    }

    /// Make a jail from the archive `input` (named `new`, else as it was
    /// exported); nothing is left of it when this fails. This thread
    /// decompresses the archive and creates the files while another
    /// writes their data (see [`unpack::Unpacker::unpack`]).
    pub fn import(&self, input: &mut (dyn BufRead + Send), new: Option<&str>) -> Result<Jail> {
        let zst = zstd::stream::read::Decoder::with_buffer(input).map_err(damaged)?;
        self.import_from(zst, new)
    }

    fn import_from<R: Read>(&self, input: R, new: Option<&str>) -> Result<Jail> {
        let mut archive = tar::Archive::new(input);
        let mut entries = archive.entries().map_err(damaged)?;
        let manifest = read_manifest(&mut entries)?;
        let name = new.unwrap_or(&manifest.name).to_string();
        name::validate(&name)?;
        let _lock = JailLock::acquire(&self.paths, &name)?;
        if let Some(inc) = &manifest.incremental {
            return self.import_incremental(&name, &manifest, inc, &mut entries);
        }
        let conf = self.paths.jail_conf(&name);
        let jail_dir = self.paths.jail_dir(&name);
        if conf.exists() {
            return Err(Error::Exists(format!("jail \"{name}\" already exists")));
        }
        if fs::symlink_metadata(&jail_dir).is_ok() {
            return Err(Error::Exists(format!(
                "{} already exists",
                jail_dir.display()
            )));
        }
        if let Some(r) = &manifest.release {
            super::release::tree(&self.paths, r)?;
        }
        if manifest.host_layer && !self.backend.layers_roots() {
            return Err(Error::Unavailable(
                "the archive is of a thin jail of a Linux host, its root over the host's layer: this platform layers no roots".into(),
            ));
        }
        // Held in use until the definition names it.
        let host_layer = match manifest.host_layer {
            true => Some(super::hostlayer::current(
                &self.paths,
                self.backend.file_caps(),
            )?),
            false => None,
        };
        let mut def = parse_definition(&manifest)?;
        def.params.remove("jkit.idbase");
        let ids = self.backend.claim_id_range(&name, &def.params)?;
        let root = self.paths.jail_root(&name);
        let record = BuildRecord {
            root: root.clone(),
            layout: manifest.layout,
            release: manifest.release.clone(),
            clone_of: None,
            snapshot: None,
        };
        let made = self.make_dirs_for_import(&name, &root).and_then(|kind| {
            write_record(&self.paths, &name, &record)?;
            let owners = Owners {
                base: ids,
                caps: self.backend.file_caps(),
            };
            // Written out as it goes only for the snapshot taken after it.
            let sync = incremental::lineage_kept(&manifest, kind)
                .and_then(|_| self.backend.filesystem_sync());
            unpack::with_writeback(&jail_dir, sync, || {
                owners.creating(|| unpack::Unpacker::new(&jail_dir, owners)?.unpack(&mut entries))
            })?;
            let mut def = self.imported(&name, &manifest, def, (ids, kind))?;
            if let Some(layer) = &host_layer {
                let overlay = self
                    .backend
                    .layered_root(
                        std::slice::from_ref(&layer.tree),
                        &root,
                        &jail_dir,
                        ids,
                        crate::backend::OwnLayer::Root,
                    )?
                    .ok_or_else(|| Error::Software("a host layer without layers".into()))?;
                def = with_root_layer(def, overlay.to_line());
            }
            self.keep_lineage(&name, &manifest, kind)?;
            Ok(def)
        });
        match made {
            Ok(def) => {
                write_definition(&conf, &def)?;
                Ok(def)
            }
            Err(e) => {
                let _ = self.destroy_storage(&name, None, Some(&record));
                let _ = self.remove_files(&name, Some(&record));
                let _ = self.backend.release_id_range(&name, None);
                let _ = super::remove_if_present(&self.paths.rctl_file(&name));
                let _ = super::remove_if_present(&self.paths.rdr_file(&name));
                let _ = super::remove_if_present(&self.paths.tags_file(&name));
                Err(e)
            }
        }
    }

    fn make_dirs_for_import(&self, name: &str, root: &Path) -> Result<storage::Kind> {
        fs::create_dir_all(&self.paths.conf_dir)
            .what(|| format!("mkdir {}", self.paths.conf_dir.display()))?;
        let jails = self.paths.jails_dir();
        fs::create_dir_all(&jails).what(|| "mkdir jails dir".into())?;
        super::create::seal_jails_dir(&self.paths)?;
        let kind = super::snapshot::storage_for(&self.paths, root);
        let passing = self.paths.passing_jail_dir(name, std::process::id());
        crate::backend::remove::remove_tree(&passing)?;
        storage::make_jail_dir(kind, &passing, &self.paths.jail_dir(name))?;
        Ok(kind)
    }

    /// The imported jail's definition, and its fstab, rules and tags.
    fn imported(
        &self,
        name: &str,
        manifest: &Manifest,
        mut def: Jail,
        (ids, kind): (Option<u32>, storage::Kind),
    ) -> Result<Jail> {
        let root = self.paths.jail_root(name);
        let p = &mut def.params;
        // The exported jail's own fstab, beside its root (the archive
        // holds its lines).
        let old_fstab = p
            .str("path")
            .and_then(|r| Path::new(r).parent().map(|d| d.join("fstab")));
        let mut files: Vec<String> = p
            .list("mount.fstab")
            .iter()
            .filter(|f| Some(Path::new(f.as_str())) != old_fstab.as_deref())
            .cloned()
            .collect();
        if !manifest.fstab.is_empty() {
            let mut text = String::new();
            for line in &manifest.fstab {
                if let Some(m) = MountEntry::parse(line)? {
                    let target = root.join(m.target.strip_prefix("/").unwrap_or(&m.target));
                    text.push_str(&(MountEntry { target, ..m }.to_line() + "\n"));
                }
            }
            let file = self.paths.jail_fstab(name);
            crate::fsio::write_atomic(&file, text.as_bytes())?;
            files.insert(0, file.to_string_lossy().into_owned());
        }
        if files.is_empty() {
            p.remove("mount.fstab");
        } else {
            p.set("mount.fstab", Value::List(files));
        }
        if p.str("host.hostname") == Some(manifest.name.as_str()) {
            p.set("host.hostname", Value::Str(name.to_string()));
        }
        p.set("path", Value::Str(root.to_string_lossy().into_owned()));
        p.set("name", Value::Str(name.to_string()));
        if let Some(base) = ids {
            p.set("jkit.idbase", Value::Int(i64::from(base)));
        }
        p.set("jkit.storage", Value::Str(kind.name().into()));
        let mut rules = Vec::new();
        for line in &manifest.rctl {
            let mut rule = crate::rctl::Rule::parse(line)
                .map_err(|e| Error::BadData(format!("the archive's rctl rule {line}: {e}")))?;
            rule.id = name.to_string();
            rules.push(rule);
        }
        crate::rctl::store::write(&self.paths, name, &rules)?;
        for (text, file) in [
            (&manifest.rdr, self.paths.rdr_file(name)),
            (&manifest.tags, self.paths.tags_file(name)),
        ] {
            if !text.is_empty() {
                crate::fsio::write_atomic(&file, text.as_bytes())?;
            }
        }
        def.name = name.to_string();
        def.jid = None;
        def.state = State::Stopped;
        Ok(def)
    }
}

/// The manifest, the archive's first member.
fn read_manifest<R: Read>(entries: &mut tar::Entries<R>) -> Result<Manifest> {
    let not_ours = || Error::BadData("not a jkit export archive".into());
    let mut first = entries.next().ok_or_else(not_ours)?.map_err(damaged)?;
    if first.path_bytes().as_ref() != MANIFEST.as_bytes() || first.size() > 1 << 24 {
        return Err(not_ours());
    }
    let mut json = Vec::new();
    first.read_to_end(&mut json).map_err(damaged)?;
    let m: Manifest = serde_json::from_slice(&json).map_err(|_| not_ours())?;
    if m.format != FORMAT {
        return Err(not_ours());
    }
    match (m.version, &m.incremental) {
        (VERSION, None) if !m.host_layer => Ok(m),
        (HOST_LAYERED_VERSION, None) if m.host_layer => Ok(m),
        (INCREMENTAL_VERSION, Some(_)) => Ok(m),
        (VERSION | INCREMENTAL_VERSION | HOST_LAYERED_VERSION, _) => Err(not_ours()),
        (v, _) => Err(Error::BadData(format!(
            "a jkit export archive of version {v}: this jkit reads versions {VERSION} to {HOST_LAYERED_VERSION}"
        ))),
    }
}

/// The definition the manifest holds.
fn parse_definition(m: &Manifest) -> Result<Jail> {
    let conf = crate::conf::parse_str(&m.definition, MANIFEST, Path::new("/"))?;
    crate::conf::resolve(&conf)?
        .into_iter()
        .find(|j| j.name == m.name)
        .ok_or_else(|| Error::BadData(format!("the archive defines no jail \"{}\"", m.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn capabilities_leave_the_range() {
        let base = 16 * RANGE_SIZE;
        // The range's root: revision 2, as the host's root's would be.
        assert_eq!(
            caps_unshifted(&caps(&[0x0300_0001, 1 << 13, 0, 0, 0, base]), base),
            caps(&[0x0200_0001, 1 << 13, 0, 0, 0])
        );
        // A jail user's: that user's id.
        assert_eq!(
            caps_unshifted(&caps(&[0x0300_0000, 1, 0, 0, 0, base + 1000]), base),
            caps(&[0x0300_0000, 1, 0, 0, 0, 1000])
        );
        // Another range's, or revision 2: as they are.
        let other = caps(&[0x0300_0001, 1, 0, 0, 0, 32 * RANGE_SIZE]);
        assert_eq!(caps_unshifted(&other, base), other);
        let v2 = caps(&[0x0200_0001, 1, 0, 0, 0]);
        assert_eq!(caps_unshifted(&v2, base), v2);
        assert_eq!(unshifted(base + 33, Some(base)), 33);
        assert_eq!(unshifted(7, Some(base)), 7);
        assert_eq!(unshifted(base + 33, None), base + 33);
    }
}
