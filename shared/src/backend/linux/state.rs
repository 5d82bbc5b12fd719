//! Runtime state of Linux jails under the run directory:
//!
//! ```text
//! RUN/jails/NAME/state.json   jid, init pid and start time, phase, parameters
//! RUN/jids/N -> NAME          jid reservations (symlinks, created atomically)
//! RUN/holder                  the namespace holder (see `start::pins`)
//! ```
//!
//! A jail is alive while its init process (checked by pid and start time,
//! so a reused pid does not count) exists.

use std::fmt;
use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, readlinkat};
use nix::sys::stat::Mode;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, OsContext, Result};
use crate::model::{Params, Spec, Value, param};
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

/// A process identified by pid and start time (in clock ticks since boot),
/// and for a jail's init also by the pid namespace of its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcId {
    /// The pid in the host's pid namespace.
    pub pid: i32,
    /// Field 22 of /proc/PID/stat.
    pub start: u64,
    /// The inode of the pid namespace the process's children go to (a
    /// jail init's: the jail's own), when it was recorded (state written
    /// before it was lacks it). See [`ProcId::alive`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_ns: Option<u64>,
}

impl ProcId {
    /// The identity of a running jail init (or any process), if it runs.
    pub fn of(pid: i32) -> Option<Self> {
        start_time(pid).map(|start| ProcId {
            pid,
            start,
            pid_ns: children_pid_ns(pid).ok().flatten(),
        })
    }

    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id() as i32;
        ProcId {
            pid,
            start: start_time(pid).unwrap_or(0),
            pid_ns: None,
        }
    }

    /// Whether this very process still exists (a zombie does not).
    ///
    /// With `pid_ns` recorded this is one readlink of
    /// /proc/PID/ns/pid_for_children instead of reading /proc/PID/stat
    /// (open, read, close, and the kernel formatting 52 fields): the link
    /// is gone once the process has exited (zombies included), and a
    /// process that took the pid over cannot point into the jail's pid
    /// namespace, as nothing can be forked into it once its init has died
    /// and the init's pid is only free again after that. Without the right
    /// to read the link (not root), the start time decides.
    pub fn alive(&self) -> bool {
        match self.pid_ns.map(|ns| (ns, children_pid_ns(self.pid))) {
            Some((ns, Ok(now))) => now == Some(ns),
            _ => start_time(self.pid) == Some(self.start),
        }
    }
}

/// The inode of the pid namespace `pid`'s children go to; `Ok(None)` when
/// the process is gone or exiting, an error when its links may not be read.
fn children_pid_ns(pid: i32) -> std::io::Result<Option<u64>> {
    match fs::read_link(format!("/proc/{pid}/ns/pid_for_children")) {
        Ok(target) => Ok(target
            .to_str()
            .and_then(|t| t.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok())),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(e),
        Err(_) => Ok(None),
    }
}

/// The start time of `pid`, or `None` if it does not exist (or is a zombie
/// already reaped). Three system calls: open, one read, close.
fn start_time(pid: i32) -> Option<u64> {
    // The kernel formats the whole line on the first read; field 22 lies
    // within its first 600 bytes (a 64-byte comm and 20 numbers of at most
    // 20 digits before it), so one read of 1 KiB always holds it.
    let mut line = [0u8; 1024];
    let n = fs::File::open(format!("/proc/{pid}/stat"))
        .ok()?
        .read(&mut line)
        .ok()?;
    start_time_of(&line[..n])
}

/// Field 22 of a /proc/PID/stat line, unless the process is a zombie.
fn start_time_of(stat: &[u8]) -> Option<u64> {
    // comm may hold spaces and parentheses: fields start after the last ')'.
    let rest = stat.get(stat.iter().rposition(|&b| b == b')')? + 2..)?;
    let mut fields = rest.split(|&b| b == b' ');
    let state = fields.next()?;
    if state == b"Z" || state == b"X" {
        return None;
    }
    std::str::from_utf8(fields.nth(18)?).ok()?.parse().ok()
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
        alive(self.init, self.phase, self.owner)
    }
}

fn alive(init: Option<ProcId>, phase: Phase, owner: ProcId) -> bool {
    match init {
        Some(init) => init.alive(),
        None => phase == Phase::Starting && owner.alive(),
    }
}

/// What a listing reads of `state.json`: [`RunState`] with its parameters
/// typed as they are parsed (no JSON tree in between). A parameter jkit
/// does not know, or whose value does not fit its type, is left out.
#[derive(Debug, Deserialize)]
pub struct JailState {
    /// The jail's name.
    pub name: String,
    /// Its jid.
    pub jid: i64,
    /// Where it is in its life.
    pub phase: Phase,
    /// The jmk that is starting or stopping it.
    pub owner: ProcId,
    /// The jail's init, once it exists.
    pub init: Option<ProcId>,
    /// The parameters it runs with.
    pub params: TypedParams,
}

impl JailState {
    /// Parse the bytes of `file`.
    pub fn parse(bytes: &[u8], file: &dyn Fn() -> PathBuf) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::BadData(format!("{}: {e}", file().display())))
    }

    /// See [`RunState::alive`].
    pub fn alive(&self) -> bool {
        alive(self.init, self.phase, self.owner)
    }
}

/// The `params` object of a state file, typed by the parameter table as
/// it is read.
#[derive(Debug, Default)]
pub struct TypedParams(pub Params);

impl<'de> Deserialize<'de> for TypedParams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(ParamsVisitor)
    }
}

struct ParamsVisitor;

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = TypedParams;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of parameters")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<TypedParams, A::Error> {
        let mut params = Params::new();
        while let Some(spec) = map.next_key_seed(SpecOf)? {
            let Some(spec) = spec else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if let Some(value) = map.next_value_seed(ValueOf(spec))? {
                if params.get(spec.name).is_some() {
                    params.set(spec.name, value);
                } else {
                    params.push_new(spec.name, value);
                }
            }
        }
        Ok(TypedParams(params))
    }
}

/// A parameter name, resolved to its entry of the table without copying.
struct SpecOf;

impl<'de> DeserializeSeed<'de> for SpecOf {
    type Value = Option<&'static Spec>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for SpecOf {
    type Value = Option<&'static Spec>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a parameter name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> std::result::Result<Self::Value, E> {
        Ok(param::spec(name))
    }
}

/// A parameter's JSON value typed as [`Value::from_json`] types it (`None`
/// where that fails), built straight from the parser's tokens.
struct ValueOf(&'static Spec);

impl ValueOf {
    fn import(&self, texts: &[String]) -> Option<Value> {
        Value::import(self.0.name, self.0.kind, texts, None).ok()
    }
}

impl<'de> DeserializeSeed<'de> for ValueOf {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueOf {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a parameter value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> std::result::Result<Self::Value, E> {
        Ok(match self.0.kind {
            param::Kind::Bool => Some(Value::Bool(b)),
            _ => self.import(&[b.to_string()]),
        })
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> std::result::Result<Self::Value, E> {
        Ok(match self.0.kind {
            param::Kind::Int => Some(Value::Int(n)),
            _ => self.import(&[n.to_string()]),
        })
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> std::result::Result<Self::Value, E> {
        Ok(match (self.0.kind, i64::try_from(n)) {
            (param::Kind::Int, Ok(n)) => Some(Value::Int(n)),
            _ => self.import(&[n.to_string()]),
        })
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> std::result::Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(n).and_then(|n| self.import(&[n.to_string()])))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Self::Value, E> {
        Ok(match self.0.kind {
            param::Kind::Str => Some(Value::Str(s.to_string())),
            _ => self.import(&[s.to_string()]),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut texts = Vec::new();
        let mut strings = true;
        while let Some(item) = seq.next_element::<serde_json::Value>()? {
            match item {
                serde_json::Value::String(s) => texts.push(s),
                _ => strings = false,
            }
        }
        Ok(if strings { self.import(&texts) } else { None })
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
}

/// Every jail's state file, one at a time in jid order, for a listing.
/// The jid reservations are read once (their numbers are all it holds for
/// every jail); each state file is opened relative to the jails directory
/// and read to its end into one buffer that every jail reuses.
#[derive(Debug)]
pub struct Walk {
    jids_dir: Dir,
    jails_dir: OwnedFd,
    jails_path: PathBuf,
    jids: std::vec::IntoIter<i64>,
    buf: Vec<u8>,
}

impl Walk {
    /// Start at the lowest reserved jid; `None` when there are no jails.
    pub fn open(paths: &Paths) -> Result<Option<Walk>> {
        let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let jids_path = paths.jids_dir();
        let mut jids_dir = match Dir::open(&jids_path, dir_flags, Mode::empty()) {
            Ok(d) => d,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(Error::at("read", &jids_path, e)),
        };
        let jails_path = paths.run_jails_dir();
        let jails_dir = match nix::fcntl::open(&jails_path, dir_flags, Mode::empty()) {
            Ok(d) => d,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(Error::at("read", &jails_path, e)),
        };
        let mut jids = Vec::new();
        for entry in jids_dir.iter() {
            let entry = entry.map_err(|e| Error::at("read", &jids_path, e))?;
            if let Some(jid) = entry.file_name().to_str().ok().and_then(|s| s.parse().ok()) {
                jids.push(jid);
            }
        }
        jids.sort_unstable();
        Ok(Some(Walk {
            jids_dir,
            jails_dir,
            jails_path,
            jids: jids.into_iter(),
            buf: vec![0; 4096],
        }))
    }

    /// The state of the jail `jid` is reserved for, if it has a state
    /// file that records that jid.
    fn read(&mut self, jid: i64) -> Result<Option<JailState>> {
        // A reservation released since the directory was read.
        let Ok(name) = readlinkat(&self.jids_dir, jid.to_string().as_str()) else {
            return Ok(None);
        };
        let name = name.to_string_lossy();
        // The link names a directory: nothing but a jail name may (an
        // anonymous jail's is its own jid).
        let anonymous = name == jid.to_string().as_str();
        if crate::model::name::validate(&name).is_err() && !anonymous {
            return Ok(None);
        }
        let relative = format!("{name}/state.json");
        let path = || self.jails_path.join(&relative);
        let file = match openat(
            &self.jails_dir,
            relative.as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fs::File::from(fd),
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(Error::at("read", &path(), e)),
        };
        let len = read_to_end(file, &mut self.buf).map_err(|e| Error::at("read", &path(), e))?;
        let st = JailState::parse(&self.buf[..len], &path)?;
        Ok((st.jid == jid).then_some(st))
    }
}

/// The jails in jid order: the state of each reserved jid whose jail has a
/// state file that records that jid.
impl Iterator for Walk {
    type Item = Result<JailState>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(jid) = self.jids.next() {
            match self.read(jid) {
                Ok(None) => {}
                found => return found.transpose(),
            }
        }
        None
    }
}

/// Read `file` to its end into `buf` (grown when too small, never
/// shrunk); the number of bytes read. No size is asked of the file first.
fn read_to_end(mut file: fs::File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => return Ok(len),
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Read a jail's state; `None` when it has none.
pub fn read(paths: &Paths, name: &str) -> Result<Option<RunState>> {
    let file = paths.run_state_file(name);
    match fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::BadData(format!("{}: {e}", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::at("read", &file, e)),
    }
}

/// Read a jail's state as a listing does ([`JailState`]); `None` when it
/// has none.
pub fn read_typed(paths: &Paths, name: &str) -> Result<Option<JailState>> {
    let file = paths.run_state_file(name);
    match fs::read(&file) {
        Ok(bytes) => JailState::parse(&bytes, &|| file.clone()).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::at("read", &file, e)),
    }
}

/// Write a jail's state atomically (temp file, fsync, rename).
pub fn write(paths: &Paths, state: &RunState) -> Result<()> {
    make_dir(paths, &state.name)?;
    let bytes = serde_json::to_vec(state).map_err(|e| Error::Software(e.to_string()))?;
    super::write_runtime(&paths.run_state_file(&state.name), &bytes)
}

/// Make the runtime directory of jail `name`: the first thing a start
/// makes, so that a jail without one has nothing else left either.
pub fn make_dir(paths: &Paths, name: &str) -> Result<()> {
    let dir = paths.run_jail_dir(name);
    if let Some(jails) = dir.parent() {
        super::rundir::prepare(jails)?;
    }
    fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))
}

/// Reserve the lowest free jid for `name` (jids are reused as FreeBSD
/// reuses them). The reservation is a symlink created atomically.
pub fn reserve_jid(paths: &Paths, name: &str) -> Result<i64> {
    let dir = paths.jids_dir();
    super::rundir::prepare(&dir)?;
    loop {
        let jid = lowest_free(jid_numbers(&dir)?.into_iter());
        match std::os::unix::fs::symlink(name, dir.join(jid.to_string())) {
            Ok(()) => return Ok(jid),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::at("reserve jid in", &dir, e)),
        }
    }
}

/// Reserve the lowest free jid for a jail made without a name, which is
/// named by it (the link names its own number).
pub fn reserve_anonymous(paths: &Paths) -> Result<String> {
    let dir = paths.jids_dir();
    super::rundir::prepare(&dir)?;
    loop {
        let jid = lowest_free(jid_numbers(&dir)?.into_iter()).to_string();
        match std::os::unix::fs::symlink(&jid, dir.join(&jid)) {
            Ok(()) => return Ok(jid),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::at("reserve jid in", &dir, e)),
        }
    }
}

/// The jid reserved for the anonymous jail `name` (named by it), if it is.
pub fn anonymous_reservation(paths: &Paths, name: &str) -> Option<i64> {
    let jid = crate::model::name::anonymous_jid(name)?;
    (jid_owner(paths, jid).as_deref() == Some(name)).then_some(jid)
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
    let link = paths.jids_dir().join(jid.to_string());
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
    fs::read_link(paths.jids_dir().join(jid.to_string()))
        .ok()
        .map(|t| t.to_string_lossy().into_owned())
}

/// Every reserved jid with its jail's name, ascending by jid.
pub fn reserved_jids(paths: &Paths) -> Result<Vec<(i64, String)>> {
    let mut out: Vec<(i64, String)> = numbered_links(&paths.jids_dir())?
        .into_iter()
        .filter_map(|(jid, name)| Some((jid, name?)))
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// The entries of `dir` named by a number (a jid, an id range's base),
/// each with the name its link points to (None for an entry that is not a
/// link); none when `dir` does not exist.
pub(super) fn numbered_links<T: std::str::FromStr>(dir: &Path) -> Result<Vec<(T, Option<String>)>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::at("read", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.what(|| format!("read {}", dir.display()))?;
        let Some(number) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let target = fs::read_link(entry.path()).ok();
        out.push((number, target.map(|t| t.to_string_lossy().into_owned())));
    }
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
        // As root, reserving mounted a tmpfs on the jids directory.
        crate::backend::remove::remove_tree(&base).unwrap();
    }

    #[test]
    fn process_identity_tracks_start_time() {
        let me = ProcId::current();
        assert!(me.alive());
        assert!(
            !ProcId {
                pid: me.pid,
                start: me.start + 1,
                pid_ns: None,
            }
            .alive()
        );
    }

    #[test]
    fn process_identity_tracks_the_children_pid_namespace_and_zombies() {
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let id = ProcId::of(child.id() as i32).unwrap();
        assert!(id.pid_ns.is_some(), "{id:?}");
        assert!(id.alive());
        // Another namespace behind the same pid: not this process.
        let other = ProcId {
            pid_ns: id.pid_ns.map(|ns| ns + 1),
            ..id
        };
        assert!(!other.alive());
        // Killed but not yet reaped: a zombie is not alive.
        child.kill().unwrap();
        let zombie = format!("/proc/{}/stat", id.pid);
        while !fs::read_to_string(&zombie).unwrap().contains(") Z ") {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(!id.alive());
        child.wait().unwrap();
        assert!(!id.alive());
    }

    #[test]
    fn state_params_are_typed_as_from_json_types_them() {
        let text = r#"{"name":"w","jid":3,"phase":"running","owner":{"pid":1,"start":2},
            "init":{"pid":5,"start":6,"pid_ns":7},"params":{
            "persist":true,"securelevel":"3","host.hostname":"h","path":7,
            "ip4.addr":["10.0.0.1","em0|10.0.0.2/24"],"ip6.addr":"fd00::1",
            "exec.start":["sh","/etc/rc"],"vnet":"new","ip4":1,"children.max":1.5,
            "allow.mount":"yes","mount":[1,"x"],"depend":null,"meta":{"a":[1]},
            "bogus":{"x":1},"enforce_statfs":18446744073709551615,"devfs_ruleset":-4,
            "jkit.nat":"1","env":false}}"#;
        let typed = JailState::parse(text.as_bytes(), &PathBuf::new).unwrap();
        let run: RunState = serde_json::from_str(text).unwrap();
        // In the file's order, where from_json's map sorted (jkit writes
        // state sorted, so in practice the same).
        let sorted = |p: &Params| {
            let mut v: Vec<(String, Value)> =
                p.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(
            sorted(&typed.params.0),
            sorted(&super::super::params_of(&run))
        );
        assert_eq!(
            (typed.name.as_str(), typed.jid, typed.phase, typed.init),
            ("w", 3, Phase::Running, run.init)
        );
        assert_eq!(typed.params.0.get("path"), Some(&Value::Str("7".into())));
        assert!(typed.params.0.get("allow.mount").is_none());
        let e = JailState::parse(b"{\"name\":", &|| PathBuf::from("/r/s.json")).unwrap_err();
        assert!(e.to_string().starts_with("/r/s.json: "), "{e}");
    }

    #[test]
    fn stat_lines_give_the_start_time() {
        let line = b"42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(start_time_of(line), Some(987654));
        let zombie = b"42 (x) Z 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(start_time_of(zombie), None);
        assert_eq!(start_time_of(b"42 (x"), None);
    }
}
