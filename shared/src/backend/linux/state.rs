//! Runtime state of Linux jails under the run directory:
//!
//! ```text
//! RUN/jails/NAME/state.json   jid, init pid and start time, phase, parameters
//! RUN/jids/N -> NAME          jid reservations (symlinks, created atomically)
//! RUN/holder                  the namespace holder (see `pins`)
//! ```
//!
//! A jail is alive while its init process (checked by pid and start time,
//! so a reused pid does not count) exists.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, OsContext, Result};
use crate::paths::Paths;

/// Where a jail is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// jmk is setting it up; `owner` is the jmk process.
    Starting,
    /// Up.
    Running,
    /// Being stopped.
    Dying,
}

/// A process identified by pid and start time (in clock ticks since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcId {
    /// The pid in the host's pid namespace.
    pub pid: i32,
    /// Field 22 of /proc/PID/stat.
    pub start: u64,
}

impl ProcId {
    /// The identity of a running process, if it runs.
    pub fn of(pid: i32) -> Option<Self> {
        start_time(pid).map(|start| ProcId { pid, start })
    }

    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id() as i32;
        ProcId {
            pid,
            start: start_time(pid).unwrap_or(0),
        }
    }

    /// Whether this very process still exists.
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start)
    }
}

/// The start time of `pid`, or `None` if it does not exist (or is a zombie
/// already reaped).
fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// What `state.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The jail's name.
    pub name: String,
    /// Its jid.
    pub jid: i64,
    /// Where it is in its life.
    pub phase: Phase,
    /// The jmk that is starting or stopping it.
    pub owner: ProcId,
    /// The jail's init (pid 1 inside), once it exists.
    pub init: Option<ProcId>,
    /// The parameters it runs with (typed JSON, as in records).
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl RunState {
    /// Whether the jail this state describes exists: its init runs, or it
    /// is still being started by a live jmk.
    pub fn alive(&self) -> bool {
        match self.init {
            Some(init) => init.alive(),
            None => self.phase == Phase::Starting && self.owner.alive(),
        }
    }
}

/// A jail's runtime directory.
pub fn jail_dir(paths: &Paths, name: &str) -> PathBuf {
    paths.run_jail_dir(name)
}

fn state_file(paths: &Paths, name: &str) -> PathBuf {
    jail_dir(paths, name).join("state.json")
}

fn jids_dir(paths: &Paths) -> PathBuf {
    paths.run_dir.join("jids")
}

/// Read a jail's state; `None` when it has none.
pub fn read(paths: &Paths, name: &str) -> Result<Option<RunState>> {
    let file = state_file(paths, name);
    match fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::BadData(format!("{}: {e}", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::at("read", &file, e)),
    }
}

/// Write a jail's state atomically (temp file, fsync, rename).
pub fn write(paths: &Paths, state: &RunState) -> Result<()> {
    let dir = jail_dir(paths, &state.name);
    fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))?;
    let bytes = serde_json::to_vec(state).map_err(|e| Error::Software(e.to_string()))?;
    crate::fsio::write_atomic(&state_file(paths, &state.name), &bytes)
}

/// Reserve the lowest free jid for `name` (jids are reused as FreeBSD
/// reuses them). The reservation is a symlink created atomically.
pub fn reserve_jid(paths: &Paths, name: &str) -> Result<i64> {
    let dir = jids_dir(paths);
    fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))?;
    loop {
        let jid = lowest_free(jid_numbers(&dir)?.into_iter());
        match std::os::unix::fs::symlink(name, dir.join(jid.to_string())) {
            Ok(()) => return Ok(jid),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::at("reserve jid in", &dir, e)),
        }
    }
}

/// The smallest positive integer not in `taken`.
fn lowest_free(taken: impl Iterator<Item = i64>) -> i64 {
    let mut v: Vec<i64> = taken.collect();
    v.sort_unstable();
    let mut next = 1;
    for j in v {
        if j == next {
            next += 1;
        } else if j > next {
            break;
        }
    }
    next
}

/// Release `jid` if it is reserved for `name`.
pub fn release_jid(paths: &Paths, name: &str, jid: i64) -> Result<()> {
    let link = jids_dir(paths).join(jid.to_string());
    if fs::read_link(&link).ok().as_deref() == Some(Path::new(name)) {
        fs::remove_file(&link).what(|| format!("remove {}", link.display()))?;
    }
    Ok(())
}

/// The reserved jids, unordered, without reading their links.
fn jid_numbers(dir: &Path) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).what(|| format!("read {}", dir.display()))? {
        let entry = entry.what(|| format!("read {}", dir.display()))?;
        if let Some(jid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
            out.push(jid);
        }
    }
    Ok(out)
}

/// The jail jid `jid` is reserved for.
pub fn jid_owner(paths: &Paths, jid: i64) -> Option<String> {
    fs::read_link(jids_dir(paths).join(jid.to_string()))
        .ok()
        .map(|t| t.to_string_lossy().into_owned())
}

/// Every reserved jid with its jail's name, ascending by jid.
pub fn reserved_jids(paths: &Paths) -> Result<Vec<(i64, String)>> {
    let dir = jids_dir(paths);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::at("read", &dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.what(|| format!("read {}", dir.display()))?;
        let Some(jid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i64>().ok())
        else {
            continue;
        };
        if let Ok(target) = fs::read_link(entry.path()) {
            out.push((jid, target.to_string_lossy().into_owned()));
        }
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_fills_gaps() {
        assert_eq!(lowest_free([].into_iter()), 1);
        assert_eq!(lowest_free([1, 2, 3].into_iter()), 4);
        assert_eq!(lowest_free([3, 1].into_iter()), 2);
    }

    #[test]
    fn jids_are_reserved_lowest_first_and_released() {
        let base = std::env::temp_dir().join(format!("jkit-jid-{}", std::process::id()));
        let paths = Paths::under(&base);
        assert_eq!(reserve_jid(&paths, "a").unwrap(), 1);
        assert_eq!(reserve_jid(&paths, "b").unwrap(), 2);
        assert_eq!(reserve_jid(&paths, "c").unwrap(), 3);
        release_jid(&paths, "b", 2).unwrap();
        release_jid(&paths, "x", 3).unwrap(); // not x's: kept
        assert_eq!(reserve_jid(&paths, "d").unwrap(), 2);
        let names: Vec<_> = reserved_jids(&paths).unwrap();
        assert_eq!(names, [(1, "a".into()), (2, "d".into()), (3, "c".into())]);
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn process_identity_tracks_start_time() {
        let me = ProcId::current();
        assert!(me.alive());
        assert!(
            !ProcId {
                pid: me.pid,
                start: me.start + 1
            }
            .alive()
        );
    }
}
