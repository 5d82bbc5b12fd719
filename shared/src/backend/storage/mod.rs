//! How a jail's files are kept, chosen at create from the filesystem of
//! the jails directory, and its snapshots: a ZFS dataset per jail (where
//! the `zfs` command works and the jails directory is a dataset's mount
//! point), a btrfs subvolume per jail (Linux, with btrfs-progs), else a
//! plain directory whose snapshots are copies sharing the data where the
//! filesystem can (reflinks), full copies otherwise.
//!
//! The unit of storage is a jail's directory (its root, build record and
//! clone layer), or its root alone when it lives elsewhere (`path=`): a
//! snapshot holds the unit as it was. Snapshots other than ZFS's live in
//! the jails directory's `.snapshots/NAME/TAG`, on the same filesystem,
//! each with its facts in `.snapshots/NAME/.TAG.json`.

mod btrfs;
mod copy;
pub mod diff;
pub mod send;
pub mod zfs;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{Error, OsContext, Result};

pub use copy::Copied;

/// How a jail's files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A ZFS dataset.
    Zfs,
    /// A btrfs subvolume.
    Btrfs,
    /// A directory.
    Plain,
}

impl Kind {
    /// Its name, as `jkit.storage` records it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Zfs => "zfs",
            Kind::Btrfs => "btrfs",
            Kind::Plain => "plain",
        }
    }

    /// The kind `jkit.storage` names (`None` for another word).
    pub fn parse(word: &str) -> Option<Kind> {
        match word {
            "zfs" => Some(Kind::Zfs),
            "btrfs" => Some(Kind::Btrfs),
            "plain" => Some(Kind::Plain),
            _ => None,
        }
    }

    /// The storage for the jails kept in `dir` (the jails directory): its
    /// filesystem's own when it has snapshots and its command is here.
    pub fn of_dir(dir: &Path) -> Kind {
        if zfs::dataset_at(dir).is_some() {
            Kind::Zfs
        } else if btrfs::is_btrfs(dir) && btrfs::usable() {
            Kind::Btrfs
        } else {
            Kind::Plain
        }
    }
}

/// Make `dir` (not there yet) the directory a new jail's files go in,
/// reached at `home` in the end: a dataset mounted at `home`; a subvolume or
/// directory at `dir`, then renamed to `home`.
pub fn make_jail_dir(kind: Kind, dir: &Path, home: &Path) -> Result<()> {
    match kind {
        Kind::Zfs => return zfs::create(home),
        Kind::Btrfs => btrfs::create(dir)?,
        Kind::Plain => crate::fsio::tree::mkdir(dir, 0o755)?,
    }
    fs::rename(dir, home).what(|| format!("rename {}", dir.display()))
}

/// What a snapshot is and holds, kept beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// When it was taken: nanoseconds since the epoch (orders snapshots).
    pub taken_ns: u128,
    /// `zfs`, `btrfs`, `reflink` or `copy`.
    pub kind: String,
    /// The bytes only it holds, where known when it was taken.
    pub bytes: Option<u64>,
    /// The snapshot of another jail it holds the same files as (made by
    /// an import of that one's archive): what an incremental archive
    /// from there builds on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// A btrfs snapshot as send streams name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Its UUID, as btrfs prints it.
    pub uuid: String,
    /// The transaction it was made in.
    pub ctransid: u64,
}

impl Origin {
    fn of(s: &send::Subvol) -> Origin {
        Origin {
            uuid: send::uuid_text(&s.uuid),
            ctransid: s.ctransid,
        }
    }

    /// As a stream names it.
    pub fn subvol(&self) -> Result<send::Subvol> {
        let uuid = send::parse_uuid(&self.uuid)
            .ok_or_else(|| Error::BadData(format!("{}: not a UUID", self.uuid)))?;
        Ok(send::Subvol {
            uuid,
            ctransid: self.ctransid,
        })
    }
}

/// A jail's storage: its kind, the directory it keeps (`data`), and where
/// its snapshots go.
#[derive(Debug, Clone)]
pub struct Unit {
    /// How the files are kept.
    pub kind: Kind,
    /// The directory a snapshot holds.
    pub data: PathBuf,
    /// The directory of its snapshots (and their facts).
    pub snaps: PathBuf,
}

impl Unit {
    /// The directory snapshot `tag` is read from.
    pub fn snapshot_dir(&self, tag: &str) -> PathBuf {
        match self.kind {
            Kind::Zfs => self.data.join(".zfs/snapshot").join(tag),
            _ => self.snaps.join(tag),
        }
    }

    fn facts_file(&self, tag: &str) -> PathBuf {
        self.snaps.join(format!(".{tag}.json"))
    }

    /// The facts of snapshot `tag`, if it exists.
    pub fn facts(&self, tag: &str) -> Result<Option<Facts>> {
        let file = self.facts_file(tag);
        match fs::read(&file) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::BadData(format!("{}: {e}", file.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::at("read", &file, e)),
        }
    }

    /// Every snapshot, oldest first.
    pub fn list(&self) -> Result<Vec<(String, Facts)>> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(&self.snaps) else {
            return Ok(out);
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(tag) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".json")) {
                if let Some(f) = self.facts(tag)? {
                    out.push((tag.to_string(), f));
                }
            }
        }
        out.sort_by(|a, b| a.1.taken_ns.cmp(&b.1.taken_ns).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Take snapshot `tag` (which must not exist), telling `progress` how
    /// far a full copy has got.
    pub fn snapshot(&self, tag: &str, progress: &mut dyn FnMut(u64, u64)) -> Result<Facts> {
        make_private_dir(&self.snaps)?;
        let taken_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let (kind, bytes) = match self.kind {
            Kind::Zfs => {
                zfs::run(&zfs::snapshot(&zfs::dataset_of(&self.data)?, tag))?;
                ("zfs".to_string(), None)
            }
            Kind::Btrfs => {
                btrfs::snapshot(&self.data, &self.snaps.join(tag), true)?;
                ("btrfs".to_string(), None)
            }
            Kind::Plain => {
                let dest = self.snaps.join(tag);
                match copy::copy_tree(&self.data, &dest, progress) {
                    Ok(c) if c.reflinked => ("reflink".to_string(), None),
                    Ok(c) => ("copy".to_string(), Some(c.bytes)),
                    Err(e) => {
                        let _ = crate::backend::remove::remove_tree(&dest);
                        return Err(e);
                    }
                }
            }
        };
        let facts = Facts {
            taken_ns,
            kind,
            bytes,
            origin: None,
        };
        if let Err(e) = self.write_facts(tag, &facts) {
            let _ = self.delete(tag);
            return Err(e);
        }
        Ok(facts)
    }

    /// Keep `facts` as snapshot `tag`'s.
    pub fn write_facts(&self, tag: &str, facts: &Facts) -> Result<()> {
        let json = serde_json::to_vec(facts).map_err(|e| Error::Software(e.to_string()))?;
        crate::fsio::write_atomic(&self.facts_file(tag), &json)
    }

    /// The snapshot `tag` as a send stream of it names it, and as itself
    /// (btrfs only; they differ for a received snapshot).
    pub fn origin(&self, tag: &str) -> Result<(Origin, Origin)> {
        match self.kind {
            Kind::Btrfs => {
                let (named, own) = btrfs::identity(&self.snaps.join(tag))?;
                Ok((Origin::of(&named), Origin::of(&own)))
            }
            _ => Err(Error::Unavailable(format!(
                "{} snapshots have no btrfs identity",
                self.kind.name()
            ))),
        }
    }

    /// Why this storage has no incremental streams, if it has none.
    pub fn no_streams(&self, shifted: bool) -> Option<String> {
        match self.kind {
            Kind::Btrfs => None,
            Kind::Plain => Some(
                "its files are plain directories, whose snapshots are copies without send streams: an incremental export needs btrfs or ZFS".into(),
            ),
            Kind::Zfs if shifted => Some(
                "a ZFS send stream carries the jail's shifted ids, which jkit does not rewrite: export it whole".into(),
            ),
            Kind::Zfs => None,
        }
    }

    /// Write the changes from snapshot `from` to snapshot `to` to `out`
    /// as a send stream, rewritten by `how` (btrfs; ZFS's as it is).
    pub fn send(
        &self,
        from: &str,
        to: &str,
        how: &send::Rewrite,
        out: &mut dyn std::io::Write,
    ) -> Result<()> {
        let argv = match self.kind {
            Kind::Btrfs => btrfs::send_argv(&self.snaps.join(from), &self.snaps.join(to)),
            Kind::Zfs => zfs::send_incremental(&zfs::dataset_of(&self.data)?, from, to),
            Kind::Plain => return Err(self.streams_refused()),
        };
        let mut child = spawn(&argv, Stdio::null(), Stdio::piped())?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Software("no pipe".into()))?;
        let done = match self.kind {
            // Read to its end: the command's last write may follow the
            // stream's end command, and would fail on a closed pipe.
            Kind::Btrfs => send::rewrite(&mut stdout, out, how).and_then(|_| {
                std::io::copy(&mut stdout, &mut std::io::sink())
                    .map(drop)
                    .map_err(|e| Error::os("read the stream", e))
            }),
            _ => std::io::copy(&mut stdout, out)
                .map(drop)
                .map_err(|e| Error::os("write the stream", e)),
        };
        drop(stdout);
        if done.is_err() {
            let _ = child.kill();
        }
        let waited = waited(&argv, child);
        // The command's own error first: a stream cut short by it says less.
        waited.and(done)
    }

    /// The refusal of a send or receive on storage that has no streams.
    fn streams_refused(&self) -> Error {
        Error::Unavailable(self.no_streams(false).unwrap_or_default())
    }

    /// Receive the send stream `input` (rewritten by `how`) as snapshot
    /// `tag` (btrfs: in the snapshots directory, nothing left of it on
    /// failure; ZFS: into the dataset, as `zfs recv -F`).
    pub fn receive(
        &self,
        tag: &str,
        how: &send::Rewrite,
        input: &mut dyn std::io::Read,
    ) -> Result<()> {
        make_private_dir(&self.snaps)?;
        let argv = match self.kind {
            Kind::Btrfs => btrfs::receive_argv(&self.snaps),
            Kind::Zfs => zfs::receive_into(&zfs::dataset_of(&self.data)?),
            Kind::Plain => return Err(self.streams_refused()),
        };
        let mut child = spawn(&argv, Stdio::piped(), Stdio::null())?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| Error::Software("no pipe".into()))?;
        let done = match self.kind {
            Kind::Btrfs => send::rewrite(input, &mut stdin, how).map(drop),
            _ => std::io::copy(input, &mut stdin)
                .map(drop)
                .map_err(|e| Error::os("read the stream", e)),
        };
        drop(stdin);
        if done.is_err() {
            let _ = child.kill();
        }
        let waited = waited(&argv, child);
        let made = done.and(waited);
        if made.is_err() && self.kind == Kind::Btrfs && self.snaps.join(tag).exists() {
            let _ = btrfs::delete(&self.snaps.join(tag));
        }
        made
    }

    /// The bytes only snapshot `tag` holds now, where the storage says.
    pub fn held_alone(&self, tag: &str, facts: &Facts) -> Option<u64> {
        match self.kind {
            Kind::Zfs => zfs::dataset_of(&self.data)
                .ok()
                .and_then(|ds| zfs::used(&ds, tag)),
            _ => facts.bytes,
        }
    }

    /// Delete snapshot `tag` (its facts last: a snapshot half deleted is
    /// still listed, and deleted again).
    pub fn delete(&self, tag: &str) -> Result<()> {
        match self.kind {
            Kind::Zfs => {
                let ds = zfs::dataset_of(&self.data)?;
                if zfs::has_snapshot(&ds, tag) {
                    zfs::run(&zfs::destroy_snapshot(&ds, tag))?;
                }
            }
            Kind::Btrfs if self.snaps.join(tag).exists() => {
                btrfs::delete(&self.snaps.join(tag))?;
            }
            _ => crate::backend::remove::remove_tree(&self.snaps.join(tag))?,
        }
        match fs::remove_file(self.facts_file(tag)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::at("remove", &self.facts_file(tag), e)),
        }
    }

    /// Put the files back as snapshot `tag` holds them (no newer snapshot
    /// may be left), by way of `spare`, a free name beside `data`.
    pub fn rollback(
        &self,
        tag: &str,
        spare: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        let snap = self.snaps.join(tag);
        match self.kind {
            Kind::Zfs => return zfs::run(&zfs::rollback(&zfs::dataset_of(&self.data)?, tag)),
            Kind::Btrfs => btrfs::snapshot(&snap, spare, false)?,
            Kind::Plain => {
                if let Err(e) = copy::copy_tree(&snap, spare, progress) {
                    let _ = crate::backend::remove::remove_tree(spare);
                    return Err(e);
                }
            }
        }
        // The copy takes the data's place at once; the old files go after.
        if let Err(e) = exchange(spare, &self.data) {
            let _ = self.remove_data(spare);
            return Err(e);
        }
        self.remove_data(spare)
    }

    /// Remove a directory this storage made for the data (`data` itself,
    /// or a rollback's spare).
    fn remove_data(&self, dir: &Path) -> Result<()> {
        match self.kind {
            Kind::Btrfs if dir.exists() => {
                crate::backend::remove::unmount_all_under(dir)?;
                btrfs::delete(dir)
            }
            _ => crate::backend::remove::remove_tree(dir),
        }
    }

    /// Remove every snapshot, then the data's own dataset or subvolume
    /// (a plain directory is left to the caller's removal).
    pub fn destroy(&self) -> Result<()> {
        for (tag, _) in self.list()? {
            self.delete(&tag)?;
        }
        // Snapshots whose facts a kill lost.
        if self.kind != Kind::Zfs {
            if let Ok(entries) = fs::read_dir(&self.snaps) {
                for e in entries.flatten() {
                    let tag = e.file_name().to_string_lossy().into_owned();
                    if !tag.starts_with('.') {
                        self.delete(&tag)?;
                    }
                }
            }
        }
        crate::backend::remove::remove_tree(&self.snaps)?;
        match self.kind {
            Kind::Zfs => match zfs::dataset_at(&self.data) {
                Some(ds) => zfs::run(&zfs::destroy_all(&ds)),
                None => Ok(()),
            },
            Kind::Btrfs if btrfs::is_subvolume(&self.data) => self.remove_data(&self.data),
            _ => Ok(()),
        }
    }
}

/// Make `dir` and its parents, `dir` itself private to the host's root.
fn make_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .what(|| format!("mkdir {}", dir.display()))
}

/// Swap the directories `a` and `b` at once where the platform can (Linux's
/// renameat2 RENAME_EXCHANGE), else by two renames.
fn exchange(a: &Path, b: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        match crate::backend::linux::rename_exchange(a, b) {
            Ok(()) => return Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {}
            Err(e) => return Err(Error::at("exchange", b, e)),
        }
    }
    let aside = a.with_extension("aside");
    fs::rename(b, &aside).what(|| format!("rename {}", b.display()))?;
    if let Err(e) = fs::rename(a, b) {
        let _ = fs::rename(&aside, b);
        return Err(Error::at("rename", a, e));
    }
    fs::rename(&aside, a).what(|| format!("rename {}", aside.display()))
}

/// Start `argv` (a storage command) with `stdin` and `stdout`, its error
/// output kept for [`waited`].
fn spawn(argv: &[String], stdin: Stdio, stdout: Stdio) -> Result<std::process::Child> {
    let (cmd, args) = argv
        .split_first()
        .ok_or_else(|| Error::Software("an empty command".into()))?;
    Command::new(cmd)
        .args(args)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Unavailable(format!("{cmd}: command not found"))
            } else {
                Error::os(format!("run {cmd}"), e)
            }
        })
}

/// Wait for `child`, started from `argv`: its first line of error output
/// the error's text when it fails.
fn waited(argv: &[String], child: std::process::Child) -> Result<()> {
    let out = child
        .wait_with_output()
        .map_err(|e| Error::os(format!("wait for {}", argv[0]), e))?;
    if out.status.success() {
        return Ok(());
    }
    let mut stderr = out.stderr;
    if stderr.iter().all(u8::is_ascii_whitespace) {
        stderr = out.status.to_string().into_bytes();
    }
    Err(command_error(argv, &stderr))
}

/// The one-line error of the storage command `argv` that wrote `stderr`.
fn command_error(argv: &[String], stderr: &[u8]) -> Error {
    let text = String::from_utf8_lossy(stderr);
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("failed");
    let code = if text.contains("No space left") || text.contains("out of space") {
        Error::TempFail
    } else {
        Error::Software
    };
    code(format!(
        "{}: {}",
        argv[..2.min(argv.len())].join(" "),
        first.trim()
    ))
}

/// Run `argv` (a storage command), its error output the error's text.
fn run_command(argv: &[String]) -> Result<String> {
    let (cmd, args) = argv
        .split_first()
        .ok_or_else(|| Error::Software("an empty command".into()))?;
    let out = Command::new(cmd).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Unavailable(format!("{cmd}: command not found"))
        } else {
            Error::os(format!("run {cmd}"), e)
        }
    })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(command_error(argv, &out.stderr))
}
