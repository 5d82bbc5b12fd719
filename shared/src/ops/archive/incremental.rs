//! Incremental archives: the changes between two snapshots of a jail as
//! its storage sends them (btrfs send; ZFS send where the ids are not
//! shifted), in members `stream/NNNNNN` between the manifest and
//! `jkit-end`. A btrfs stream leaves the exporting host with the jail's
//! own ids (as a full archive's files) and the importing jail's range
//! applies when it is received; it names the snapshot it builds on,
//! which the importing jail's snapshot of that tag must hold (the import
//! of a full archive of it, or an earlier incremental one, keeps that).

use std::io::{self, Read, Write};
use std::path::Path;

use super::{
    ArchiveWriter, END, Incremental, Lineage, Manifest, archive_writer, damaged, finish_archive,
    id_base, to_new_file,
};
use crate::backend::storage::{self, Kind, Origin, send};
use crate::error::{Error, Result};
use crate::fsio::tree::{RANGE_SIZE, caps_in_range};
use crate::lock::JailLock;
use crate::model::{Jail, name};
use crate::ops::record::{read_record, write_record};
use crate::ops::{Jkit, write_definition};

/// The most a stream member holds.
const MEMBER: usize = 4 << 20;
/// The members' directory.
const STREAM: &str = "stream";

/// The stream written as the archive's members, `MEMBER` bytes each.
struct Members<'a, 'w> {
    tar: &'a mut ArchiveWriter<'w>,
    buf: Vec<u8>,
    count: u32,
}

impl Members<'_, '_> {
    fn flush_member(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(self.buf.len() as u64);
        h.set_mode(0o600);
        let name = format!("{STREAM}/{:06}", self.count);
        self.tar.append_data(&mut h, name, &self.buf[..])?;
        self.count += 1;
        self.buf.clear();
        Ok(())
    }
}

impl Write for Members<'_, '_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(MEMBER - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == MEMBER {
            self.flush_member()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The stream members of an archive read as one stream, up to
/// `jkit-end` (after which it reads nothing).
struct MembersReader<'e, 'a, R: Read> {
    entries: &'e mut tar::Entries<'a, R>,
    current: Option<tar::Entry<'a, R>>,
    ended: bool,
}

impl<R: Read> Read for MembersReader<'_, '_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(e) = &mut self.current {
                let n = e.read(out)?;
                if n > 0 || out.is_empty() {
                    return Ok(n);
                }
                self.current = None;
            }
            if self.ended {
                return Ok(0);
            }
            let entry = self
                .entries
                .next()
                .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))??;
            let path = entry.path_bytes().into_owned();
            if path == END.as_bytes() {
                self.ended = true;
            } else if path.starts_with(format!("{STREAM}/").as_bytes()) {
                self.current = Some(entry);
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "a member {} in an incremental archive",
                        String::from_utf8_lossy(&path)
                    ),
                ));
            }
        }
    }
}

/// The id of the exporting jail's range at `base` as the jail sees it
/// (`None`: the chown of a file of the host's is left out, the jail's
/// directory holding a few beside its root). A file within the root owned
/// outside the range is refused.
fn unshift(base: Option<u32>, id: u64, path: &[u8]) -> Result<Option<u64>> {
    let size = u64::from(RANGE_SIZE);
    let b = base.map_or(0, u64::from);
    if (b..b + size).contains(&id) {
        return Ok(Some(id - b));
    }
    if path == b"root" || path.starts_with(b"root/") {
        return Err(Error::BadData(format!(
            "{} is owned by id {id}, outside the jail's {RANGE_SIZE} ids",
            String::from_utf8_lossy(path)
        )));
    }
    Ok(None)
}

/// The host id of the jail's own `id` in the importing jail's range.
fn shift(base: Option<u32>, id: u64, path: &[u8]) -> Result<Option<u64>> {
    if id >= u64::from(RANGE_SIZE) {
        return Err(Error::BadData(format!(
            "the archive's stream gives {} the id {id}, outside a jail's {RANGE_SIZE} ids",
            String::from_utf8_lossy(path)
        )));
    }
    Ok(Some(id + base.map_or(0, u64::from)))
}

impl Jkit {
    /// [`Jkit::export_incremental`] to the new file `file`.
    pub fn export_incremental_to_file(
        &self,
        name: &str,
        (from, to): (&str, &str),
        file: &Path,
    ) -> Result<()> {
        to_new_file(file, |w| self.export_incremental(name, (from, to), w))
    }

    /// Write the changes of jail `name` from its snapshot `from` to its
    /// snapshot `to` to `out` as an incremental archive.
    pub fn export_incremental(
        &self,
        name: &str,
        (from, to): (&str, &str),
        out: &mut dyn Write,
    ) -> Result<()> {
        name::validate(name)?;
        super::super::snapshot::validate_tag(from)?;
        super::super::snapshot::validate_tag(to)?;
        let _lock = JailLock::acquire(&self.paths, name)?;
        let super::Exportable {
            def,
            record,
            host_layer,
        } = self.exportable(name)?;
        let kept = self.kept(name, &def, Some(&record))?;
        let base = id_base(&def);
        if let Some(why) = kept.unit.no_streams(base.is_some()) {
            return Err(Error::Unavailable(format!(
                "jail \"{name}\": no incremental export: {why}"
            )));
        }
        for tag in [from, to] {
            self.facts_of(name, &kept, tag)?;
        }
        let lineage = |tag: &str| -> Result<Lineage> {
            Ok(Lineage {
                tag: tag.to_string(),
                storage: kept.unit.kind.name().into(),
                origin: match kept.unit.kind {
                    Kind::Btrfs => Some(kept.unit.origin(tag)?.0),
                    _ => None,
                },
            })
        };
        let mut manifest: Manifest =
            self.manifest(name, host_layer.as_ref().unwrap_or(&def), &record)?;
        manifest.version = super::INCREMENTAL_VERSION;
        manifest.host_layer = host_layer.is_some();
        manifest.incremental = Some(Incremental {
            from: lineage(from)?,
            to: lineage(to)?,
        });
        let mut tar = archive_writer(out, &manifest)?;
        let id = |id, path: &[u8]| unshift(base, id, path);
        let caps = |v: &[u8]| match base {
            Some(b) => super::caps_unshifted(v, b),
            None => v.to_vec(),
        };
        let how = send::Rewrite {
            id: &id,
            caps: &caps,
            parent: None,
            name: Some(to),
        };
        let mut members = Members {
            tar: &mut tar,
            buf: Vec::with_capacity(MEMBER),
            count: 0,
        };
        kept.unit.send(from, to, &how, &mut members)?;
        members
            .flush_member()
            .map_err(|e| Error::os("write the archive", e))?;
        finish_archive(tar)
    }

    /// Apply the incremental archive whose manifest is `manifest` (its
    /// members next in `entries`) to jail `name` (its lock held): receive
    /// its later snapshot, then make the jail's files that snapshot's, as
    /// `zfs recv -F`. The jail is left as it was when this fails.
    pub(super) fn import_incremental<R: Read>(
        &self,
        name: &str,
        manifest: &Manifest,
        inc: &Incremental,
        entries: &mut tar::Entries<R>,
    ) -> Result<Jail> {
        let (from, to) = (inc.from.tag.as_str(), inc.to.tag.as_str());
        super::super::snapshot::validate_tag(from)?;
        super::super::snapshot::validate_tag(to)?;
        let def = self.definition(name)?;
        let record = read_record(&self.paths, name)?;
        let kept = self.kept(name, &def, record.as_ref())?;
        let unit = &kept.unit;
        // The overlay over the jail's root stays its own (the exporting
        // host's names that host's layers).
        let own_layer = super::without_root_layer(&def, &self.paths.jail_root(name))?.1;
        let layered = own_layer.is_some();
        if layered != manifest.host_layer {
            let (mine, theirs) = match layered {
                true => ("is layered", "whole"),
                false => ("is whole", "over its host's layer"),
            };
            return Err(Error::BadData(format!(
                "jail \"{name}\" {mine}, the archive's jail's root is {theirs}: the changes cannot apply"
            )));
        }
        if unit.kind.name() != inc.to.storage {
            return Err(Error::Unavailable(format!(
                "jail \"{name}\" keeps its files in {} storage: the archive holds a {} stream",
                unit.kind.name(),
                inc.to.storage
            )));
        }
        let base = id_base(&def);
        let facts = self.facts_of(name, &kept, from).map_err(|_| {
            Error::NotFound(format!(
                "snapshot {name}@{from} not found: the archive holds the changes since {}@{from}",
                manifest.name
            ))
        })?;
        if unit.facts(to)?.is_some() || unit.snapshot_dir(to).exists() {
            return Err(Error::Exists(format!(
                "snapshot {name}@{to} already exists"
            )));
        }
        if self.running(name)?.is_some() {
            return Err(Error::TempFail(format!(
                "jail \"{name}\" is running: stop it to apply the archive"
            )));
        }
        let parent = match (&inc.from.origin, unit.kind) {
            (Some(origin), Kind::Btrfs) => {
                if facts.origin.as_ref().map(|o| &o.uuid) != Some(&origin.uuid) {
                    return Err(Error::BadData(format!(
                        "{name}@{from} does not hold {}@{from} of the archive (another lineage): import a full archive of that snapshot first",
                        manifest.name
                    )));
                }
                // Found by receive as itself (its own UUID).
                Some((origin.subvol()?, unit.origin(from)?.1.subvol()?))
            }
            (None, Kind::Btrfs) => {
                return Err(Error::BadData(
                    "the archive's btrfs stream names no snapshot to build on".into(),
                ));
            }
            _ => None,
        };
        let id = |id, path: &[u8]| shift(base, id, path);
        let caps = |v: &[u8]| caps_in_range(v, base).unwrap_or_else(|| v.to_vec());
        let how = send::Rewrite {
            id: &id,
            caps: &caps,
            parent,
            name: Some(to),
        };
        let mut reader = MembersReader {
            entries,
            current: None,
            ended: false,
        };
        let received = unit.receive(to, &how, &mut reader).and_then(|()| {
            // The stream ends with its end command; the archive then.
            let mut rest = [0u8; 1];
            match reader.read(&mut rest).map_err(damaged)? {
                0 if reader.ended => Ok(()),
                _ => Err(Error::BadData(
                    "the archive holds more than its stream".into(),
                )),
            }
        });
        if let Err(e) = received {
            let _ = unit.delete(to);
            return Err(e);
        }
        let applied = self.apply_received(name, (manifest, own_layer), &kept, inc, base);
        if applied.is_err() {
            let _ = unit.delete(to);
        }
        applied
    }

    /// Snapshot `to` received: its facts, then the jail's files its, the
    /// jail's own record and definition files kept.
    fn apply_received(
        &self,
        name: &str,
        (manifest, own_layer): (&Manifest, Option<String>),
        kept: &crate::ops::snapshot::Kept,
        inc: &Incremental,
        base: Option<u32>,
    ) -> Result<Jail> {
        let unit = &kept.unit;
        let to = inc.to.tag.as_str();
        unit.write_facts(
            to,
            &storage::Facts {
                taken_ns: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
                kind: unit.kind.name().into(),
                bytes: None,
                origin: inc.to.origin.clone(),
            },
        )?;
        let record = read_record(&self.paths, name)?;
        if unit.kind == Kind::Btrfs {
            let spare = self.paths.passing_jail_dir(name, std::process::id());
            crate::backend::remove::remove_tree(&spare)?;
            unit.rollback(to, &spare, &mut |_, _| {})?;
        }
        // The stream holds the exporting jail's record and fstab.
        if let Some(r) = &record {
            write_record(&self.paths, name, r)?;
        }
        let mut new = super::parse_definition(manifest)?;
        new.params.remove("jkit.idbase");
        let mut new = self.imported(name, manifest, new, (base, unit.kind))?;
        if let Some(line) = own_layer {
            new = super::with_root_layer(new, line);
        }
        write_definition(&self.paths.jail_conf(name), &new)?;
        Ok(new)
    }

    /// After a full import into jail `name` kept in `kind`: the snapshot
    /// the archive was made of, taken again of the imported files, so that
    /// an incremental archive from it applies.
    pub(super) fn keep_lineage(&self, name: &str, manifest: &Manifest, kind: Kind) -> Result<()> {
        let Some(Lineage {
            tag,
            origin: Some(origin),
            ..
        }) = lineage_kept(manifest, kind)
        else {
            return Ok(());
        };
        super::super::snapshot::validate_tag(tag)?;
        let unit = storage::Unit {
            kind,
            data: self.paths.jail_dir(name),
            snaps: self.paths.snapshots_dir(name),
        };
        let mut facts = unit.snapshot(tag, &mut |_, _| {})?;
        facts.origin = Some(Origin::clone(origin));
        if let Err(e) = unit.write_facts(tag, &facts) {
            let _ = unit.delete(tag);
            return Err(e);
        }
        Ok(())
    }
}

/// The snapshot [`Jkit::keep_lineage`] takes when an import of `manifest`
/// into storage `kind` has unpacked (btrfs only: a ZFS receive keeps its
/// own), if it takes one.
pub(super) fn lineage_kept(manifest: &Manifest, kind: Kind) -> Option<&Lineage> {
    manifest
        .snapshot
        .as_ref()
        .filter(|l| kind == Kind::Btrfs && l.origin.is_some())
}
