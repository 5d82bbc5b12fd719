//! A jail's host id range: 65,536 host uids and gids of its own, so that
//! root in the jail (uid 0 of its user namespace) is an unprivileged user
//! to the host.
//!
//! A range starts at a multiple of 65,536 (its *base*) and is claimed by a
//! link `DATA/idranges/BASE -> NAME`, made atomically (a second jail
//! cannot take the same range, whatever runs at the same time). `jmk
//! create` takes the lowest free range from 1,048,576 (the first multiple
//! above 1,000,000) up that overlaps no id of the host's accounts
//! (`/etc/passwd`, `/etc/group`) and no subordinate range
//! (`/etc/subuid`, `/etc/subgid`), and records its base in the jail's
//! definition as `jkit.idbase`; `jmk destroy` drops the claim.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Gid, Pid, Uid, setgroups, setresgid, setresuid};

use crate::backend::linux::{protocol, state, sys};
use crate::backend::mounts::MountEntry;
use crate::error::{Error, OsContext, Result};
use crate::fsio::tree::RANGE_SIZE;
use crate::paths::Paths;

/// The lowest base handed out when none is asked for.
const FIRST_BASE: u32 = 16 * RANGE_SIZE;

/// The highest base: its range ends below `u32::MAX`, which is no id
/// (`(uid_t) -1`).
const LAST_BASE: u32 = (u32::MAX / RANGE_SIZE - 1) * RANGE_SIZE;

/// The host's account files and what each line's ids are: a single id
/// (field 3) or a subordinate range (fields 2 and 3: first id, count).
const HOST_ID_FILES: &[(&str, bool)] = &[
    ("/etc/passwd", false),
    ("/etc/group", false),
    ("/etc/subuid", true),
    ("/etc/subgid", true),
];

/// The ids the host's account files use, as half-open intervals.
fn host_ids() -> Vec<(u64, u64)> {
    let mut used = Vec::new();
    for (file, ranges) in HOST_ID_FILES {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        used.extend(text.lines().filter_map(|l| ids_of_line(l, *ranges)));
    }
    used
}

/// The ids an account file's line uses: field 3 of passwd and group
/// lines; fields 2 and 3 (first, count) of subuid and subgid lines.
fn ids_of_line(line: &str, range: bool) -> Option<(u64, u64)> {
    let fields: Vec<&str> = line.trim().split(':').collect();
    if range {
        let first: u64 = fields.get(1)?.parse().ok()?;
        let count: u64 = fields.get(2)?.parse().ok()?;
        Some((first, first + count))
    } else {
        let id: u64 = fields.get(2)?.parse().ok()?;
        Some((id, id + 1))
    }
}

/// Whether the range at `base` overlaps any of `used`.
fn overlaps(base: u32, used: &[(u64, u64)]) -> bool {
    let (lo, hi) = (u64::from(base), u64::from(base) + u64::from(RANGE_SIZE));
    used.iter().any(|&(a, b)| a < hi && lo < b)
}

/// The bases claimed so far, with the jail each belongs to (none known
/// for an entry that is not a link: still claimed).
fn claims(paths: &Paths) -> Result<Vec<(u32, String)>> {
    Ok(state::numbered_links(&paths.id_ranges_dir())?
        .into_iter()
        .map(|(base, owner)| (base, owner.unwrap_or_default()))
        .collect())
}

/// Claim the range at `base` for jail `name`: `Ok(true)` when it is now
/// (or already was) the jail's, `Ok(false)` when another jail has it.
fn try_claim(paths: &Paths, name: &str, base: u32) -> Result<bool> {
    let dir = paths.id_ranges_dir();
    let link = dir.join(base.to_string());
    match std::os::unix::fs::symlink(name, &link) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(fs::read_link(&link).ok().as_deref() == Some(Path::new(name)))
        }
        Err(e) => Err(Error::at("claim an id range in", &dir, e)),
    }
}

/// Claim an id range for the new jail `name`: the one at `requested` when
/// given (refused when it is not a multiple of 65,536 in range, overlaps
/// an id of the host or is another jail's), else the lowest free one.
/// Returns its base.
pub fn claim(paths: &Paths, name: &str, requested: Option<i64>) -> Result<u32> {
    let dir = paths.id_ranges_dir();
    fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))?;
    let host = host_ids();
    if let Some(asked) = requested {
        let base = u32::try_from(asked)
            .ok()
            .filter(|b| b % RANGE_SIZE == 0 && *b <= LAST_BASE)
            .ok_or_else(|| {
                Error::Config(format!(
                    "jkit.idbase={asked}: not a multiple of {RANGE_SIZE} up to {LAST_BASE}"
                ))
            })?;
        let end = u64::from(base) + u64::from(RANGE_SIZE) - 1;
        if overlaps(base, &host) {
            return Err(Error::Config(format!(
                "jkit.idbase={base}: ids {base}-{end} overlap ids of the host's accounts"
            )));
        }
        return match try_claim(paths, name, base)? {
            true => Ok(base),
            false => Err(Error::Exists(format!(
                "jkit.idbase={base}: ids {base}-{end} belong to another jail"
            ))),
        };
    }
    // The bases alone, from the names: no link read per jail.
    let mut taken: Vec<u32> = fs::read_dir(&dir)
        .what(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    taken.sort_unstable();
    let mut base = FIRST_BASE;
    while base <= LAST_BASE {
        if taken.binary_search(&base).is_err()
            && !overlaps(base, &host)
            && try_claim(paths, name, base)?
        {
            return Ok(base);
        }
        base += RANGE_SIZE;
    }
    Err(Error::Unavailable(format!(
        "{name}: no free range of {RANGE_SIZE} host ids left from {FIRST_BASE} up"
    )))
}

/// Make sure the range at `base` is jail `name`'s before it starts (a
/// definition written by hand claims its range at its first start).
pub fn confirm(paths: &Paths, name: &str, base: u32) -> Result<()> {
    let dir = paths.id_ranges_dir();
    fs::create_dir_all(&dir).what(|| format!("mkdir {}", dir.display()))?;
    if try_claim(paths, name, base)? {
        return Ok(());
    }
    let owner = fs::read_link(dir.join(base.to_string()))
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default();
    Err(Error::Config(format!(
        "jkit.idbase={base}: the range belongs to jail \"{owner}\""
    )))
}

/// The base of the range jail `name` claims, if any.
pub fn claimed(paths: &Paths, name: &str) -> Result<Option<u32>> {
    Ok(claims(paths)?
        .into_iter()
        .find(|(_, owner)| owner == name)
        .map(|(base, _)| base))
}

/// Drop every range jail `name` claims (none is fine); with `base`, the
/// range its definition names, only that claim is read when it is the
/// jail's (the others are not: a jail claims one range).
pub fn release(paths: &Paths, name: &str, base: Option<u32>) -> Result<()> {
    let dir = paths.id_ranges_dir();
    if let Some(base) = base {
        let link = dir.join(base.to_string());
        if fs::read_link(&link).ok().as_deref() == Some(Path::new(name)) {
            return fs::remove_file(&link).what(|| format!("remove {}", link.display()));
        }
    }
    for (base, owner) in claims(paths)? {
        if owner == name {
            let link = dir.join(base.to_string());
            fs::remove_file(&link).what(|| format!("remove {}", link.display()))?;
        }
    }
    Ok(())
}

/// Map the ids of the user namespace of process `pid` (made by this
/// process or one of its children): 65,536 uids and gids from `inside`
/// there to `outside` here. setgroups(2) stays allowed in it: the map is
/// written by a privileged process, so the jail's root may drop groups.
pub fn write_maps(pid: Pid, inside: u32, outside: u32) -> Result<()> {
    let map = format!("{inside} {outside} {RANGE_SIZE}\n");
    for file in ["uid_map", "gid_map"] {
        let path = format!("/proc/{pid}/{file}");
        fs::write(&path, &map).what(|| format!("write {path}"))?;
    }
    Ok(())
}

/// A user namespace whose ids `inside` to `inside + 65,535` are host ids
/// from `outside`, for idmapped mounts: made by a child that waits in it
/// until this process holds it (USERNS in [`protocol`]).
pub fn user_namespace(inside: u32, outside: u32) -> Result<OwnedFd> {
    let (made, made_hold) = protocol::gate().what(|| "pipe".into())?;
    match sys::fork_into_namespaces(CloneFlags::CLONE_NEWUSER)
        .what(|| "make a user namespace".into())?
    {
        ForkResult::Child => {
            drop(made_hold);
            // Nothing of another thread stays open here (see pins::holder).
            let _ = sys::close_fds_from(3, &[made.as_raw_fd()]);
            let _ = made.wait();
            sys::exit_now(0);
        }
        ForkResult::Parent { child } => {
            drop(made);
            let ns = write_maps(child, inside, outside).and_then(|()| {
                let path = format!("/proc/{child}/ns/user");
                fs::File::open(&path)
                    .map(OwnedFd::from)
                    .what(|| format!("open {path}"))
            });
            drop(made_hold);
            let _ = waitpid(child, None);
            ns
        }
    }
}

/// A detached, read-only copy of the host directory `source`, mapped
/// through the ids of `userns` (so that what the host's root owns there,
/// the jail's root owns in the copy).
pub fn idmapped_tree(
    source: &str,
    userns: BorrowedFd,
    what: &dyn Fn() -> String,
) -> Result<OwnedFd> {
    let path = std::ffi::CString::new(source).map_err(|_| Error::BadData(what()))?;
    let tree = sys::open_tree_clone(&path).what(what)?;
    map_tree(&tree, source, userns, sys::MOUNT_ATTR_RDONLY, what)?;
    Ok(tree)
}

/// Map the detached tree `tree` of the host directory `source` through
/// the ids of `userns`, with the mount attributes `attrs` too.
pub fn map_tree(
    tree: &OwnedFd,
    source: &str,
    userns: BorrowedFd,
    attrs: u64,
    what: &dyn Fn() -> String,
) -> Result<()> {
    sys::set_tree_idmap(tree, userns, attrs).map_err(|e| match e.raw_os_error() {
        Some(libc::EINVAL | libc::EOPNOTSUPP | libc::ENOSYS) => Error::Unavailable(format!(
            "{source}: cannot be shown to a jail through an idmapped mount ({}): \
             the kernel or the filesystem does not support it (jkit.userns=0 runs \
             the jail without a user namespace)",
            crate::error::io_strerror(&e)
        )),
        _ => Error::os(what(), e),
    })
}

/// The file of `paths`' run directory that lists the mounts whose
/// directories proved they can be idmapped: the boot's id on the first
/// line, then one unique mount id (see [`sys::unique_mount_id`]) a line.
/// The run directory is the host root's alone: no jail can add a line.
fn proven_file(paths: &Paths) -> std::path::PathBuf {
    paths.run_dir.join("idmapped-mounts")
}

/// This boot's id: mount ids start again at each boot.
fn boot_id() -> Option<String> {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string())
}

/// The mounts that proved this boot that their directories can be
/// idmapped.
fn proven_mounts(file: &Path, boot: &str) -> Vec<u64> {
    let text = fs::read_to_string(file).unwrap_or_default();
    let mut lines = text.lines();
    if lines.next() != Some(boot) {
        return Vec::new();
    }
    lines.filter_map(|l| l.parse().ok()).collect()
}

/// Check that every read-only host directory among `binds` can be shown
/// to a jail of the range at `base` through an idmapped mount. Whether a
/// directory can depends on its mount alone (the kernel, the mount's
/// filesystem, whether the mount is idmapped already), never on the
/// range: a mount that passed once this boot is not checked again (the
/// check makes a user namespace and a detached copy of each directory).
/// A mount replaced (a new filesystem mounted there) has a new id; one
/// remounted keeps its filesystem. What a mount added beneath such a
/// directory since cannot do, the start's own idmapped mount finds.
pub fn check_binds(paths: &Paths, base: u32, binds: &[MountEntry]) -> Result<()> {
    let ro: Vec<&MountEntry> = binds
        .iter()
        .filter(|m| m.is_bind() && m.read_only())
        .collect();
    if ro.is_empty() {
        return Ok(());
    }
    // Unique ids of the mounts the directories are on, where the kernel
    // has them.
    let mounts: Option<Vec<u64>> = ro
        .iter()
        .map(|m| {
            let path = std::ffi::CString::new(m.source.as_str()).ok()?;
            sys::unique_mount_id(&path).ok().flatten()
        })
        .collect();
    let known = mounts.zip(boot_id());
    let file = proven_file(paths);
    let mut proven = match &known {
        Some((_, boot)) => proven_mounts(&file, boot),
        None => Vec::new(),
    };
    if let Some((ids, _)) = &known {
        if ids.iter().all(|id| proven.contains(id)) {
            return Ok(());
        }
    }
    let userns = user_namespace(0, base)?;
    for m in ro {
        idmapped_tree(&m.source, userns.as_fd(), &|| format!("idmap {}", m.source))?;
    }
    if let Some((ids, boot)) = known {
        proven.extend(ids);
        proven.sort_unstable();
        proven.dedup();
        let text: String = std::iter::once(boot)
            .chain(proven.iter().map(u64::to_string))
            .map(|l| l + "\n")
            .collect();
        // Only a shortcut for the next create: a failure to keep it costs
        // that create the check.
        let _ = crate::fsio::write_atomic(&file, text.as_bytes());
    }
    Ok(())
}

/// overlayfs's mark of an opaque directory in an upper layer.
const OVERLAY_OPAQUE: &std::ffi::CStr = c"trusted.overlay.opaque";

/// File capabilities as Linux keeps them: the `security.capability`
/// extended attribute.
#[derive(Debug)]
pub struct XattrCaps;

impl crate::fsio::tree::FileCaps for XattrCaps {
    fn get(&self, file: BorrowedFd) -> std::io::Result<Option<Vec<u8>>> {
        sys::file_caps(file)
    }
    fn set(&self, file: BorrowedFd, value: &[u8]) -> std::io::Result<()> {
        sys::set_file_caps(file, value)
    }
    fn opaque(&self, dir: BorrowedFd) -> std::io::Result<bool> {
        match sys::xattr(dir, OVERLAY_OPAQUE) {
            Ok(value) => Ok(value.as_deref() == Some(b"y")),
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(false),
            Err(e) => Err(e),
        }
    }
    fn set_opaque(&self, dir: BorrowedFd) -> std::io::Result<()> {
        sys::set_xattr(dir, OVERLAY_OPAQUE, b"y")
    }
    /// Through the thread's filesystem ids, which decide the owner of what
    /// it creates and nothing else of what it may do once its capabilities
    /// are raised again (the kernel drops the file-related ones from the
    /// effective set when the filesystem uid leaves 0).
    fn create_as(&self, ids: Option<(u32, u32)>) -> std::io::Result<bool> {
        use nix::unistd::{getegid, geteuid, setfsgid, setfsuid};
        let (uid, gid) = ids.unwrap_or((geteuid().as_raw(), getegid().as_raw()));
        setfsgid(Gid::from_raw(gid));
        setfsuid(Uid::from_raw(uid));
        // Both answer the previous id, never an error: asking again tells
        // whether the change took.
        if setfsuid(Uid::from_raw(uid)).as_raw() != uid
            || setfsgid(Gid::from_raw(gid)).as_raw() != gid
        {
            return Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        }
        sys::raise_effective_caps()?;
        Ok(true)
    }
}

/// In a process that has entered a jail's user namespace (its init, once
/// its ids are mapped; a command entering it): become the jail's root (uid and
/// gid 0 of its user namespace, no supplementary groups), keeping the
/// capabilities it holds there.
pub fn become_root() -> nix::Result<()> {
    let root_gid = Gid::from_raw(0);
    let root_uid = Uid::from_raw(0);
    setresgid(root_gid, root_gid, root_gid)?;
    setgroups(&[])?;
    setresuid(root_uid, root_uid, root_uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(tag: &str) -> Paths {
        let d = std::env::temp_dir().join(format!("jkit-idmap-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Paths::under(&d)
    }

    #[test]
    fn shifting_a_tree_rewrites_file_capabilities_for_the_range() {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;

        use crate::fsio::tree::{FileCaps, Owners};
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let d = std::env::temp_dir().join(format!("jkit-idmap-caps-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("bin")).unwrap();
        let file = d.join("bin/ping");
        fs::write(&file, "x").unwrap();
        // Revision 2, effective, permitted cap_net_raw (13): as setcap
        // cap_net_raw+ep writes it on the host.
        let mut v2 = Vec::new();
        for w in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
            v2.extend_from_slice(&w.to_le_bytes());
        }
        let open = || fs::File::open(&file).unwrap();
        XattrCaps.set(open().as_fd(), &v2).unwrap();
        let base = 40 * RANGE_SIZE;
        Owners {
            base: Some(base),
            caps: &XattrCaps,
        }
        .shift(&d)
        .unwrap();
        let mut v3 = Vec::new();
        for w in [0x0300_0001u32, 1 << 13, 0, 0, 0, base] {
            v3.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(XattrCaps.get(open().as_fd()).unwrap(), Some(v3));
        assert_eq!(fs::metadata(&file).unwrap().uid(), base);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn files_made_while_creating_for_a_range_are_the_range_s_and_only_those() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};

        use crate::fsio::tree::Owners;
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let d = std::env::temp_dir().join(format!("jkit-idmap-creating-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("src")).unwrap();
        fs::write(d.join("src/root-owned"), "r").unwrap();
        fs::write(d.join("src/user-owned"), "u").unwrap();
        std::os::unix::fs::chown(d.join("src/user-owned"), Some(5), Some(7)).unwrap();
        // Readable by its owner alone: the copy needs the capabilities
        // the kernel drops when the filesystem uid leaves 0.
        fs::set_permissions(d.join("src/root-owned"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::create_dir(d.join("top")).unwrap();
        let base = 41 * RANGE_SIZE;
        let owners = Owners {
            base: Some(base),
            caps: &XattrCaps,
        };
        owners
            .creating(|| {
                owners.mkdir(&d.join("top/mail"), 0o2775)?;
                owners.write_file(&d.join("top/hostname"), "h\n", 0o644)?;
                owners.symlink(Path::new("/run"), &d.join("top/run"))?;
                owners.copy_tree(&d.join("src"), &d.join("top/copy"))
            })
            .unwrap();
        let ids = |p: &str| {
            let m = fs::symlink_metadata(d.join(p)).unwrap();
            (m.uid(), m.gid(), m.mode() & 0o7777)
        };
        assert_eq!(ids("top/mail"), (base, base, 0o2775));
        assert_eq!(ids("top/hostname"), (base, base, 0o644));
        assert_eq!(ids("top/run").0, base);
        assert_eq!(ids("top/copy"), (base, base, 0o755));
        assert_eq!(ids("top/copy/root-owned"), (base, base, 0o600));
        assert_eq!(ids("top/copy/user-owned"), (base + 5, base + 7, 0o644));
        // Afterwards this thread makes its own files again.
        fs::write(d.join("after"), "a").unwrap();
        assert_eq!(ids("after").0, 0);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_mount_proven_idmappable_is_not_taken_for_one_mounted_in_its_place() {
        use nix::mount::{MntFlags, MsFlags, mount, umount2};
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let paths = env("proven");
        let dir = paths.data_dir.join("src");
        fs::create_dir_all(&dir).unwrap();
        fs::create_dir_all(&paths.run_dir).unwrap();
        let binds = [MountEntry::read_only_bind(&dir, "/x".into())];
        let none: Option<&str> = None;
        let id = || sys::unique_mount_id(&std::ffi::CString::new(dir.to_str().unwrap()).unwrap());
        // Each mount is gone before anything is asserted.
        mount(Some("tmpfs"), &dir, Some("tmpfs"), MsFlags::empty(), none).unwrap();
        let (tmpfs, passed) = (id().unwrap(), check_binds(&paths, FIRST_BASE, &binds));
        umount2(&dir, MntFlags::MNT_DETACH).unwrap();
        // In its place, a filesystem that cannot be idmapped: checked
        // again, and refused.
        mount(Some("sysfs"), &dir, Some("sysfs"), MsFlags::empty(), none).unwrap();
        let (sysfs, refused) = (id().unwrap(), check_binds(&paths, FIRST_BASE, &binds));
        umount2(&dir, MntFlags::MNT_DETACH).unwrap();
        passed.unwrap();
        let e = refused.unwrap_err().to_string();
        assert!(
            e.contains("cannot be shown to a jail through an idmapped mount"),
            "{e}"
        );
        assert_ne!(sysfs, tmpfs);
        let listed = fs::read_to_string(proven_file(&paths)).unwrap_or_default();
        if let Some(tmpfs) = tmpfs {
            assert!(listed.lines().any(|l| l == tmpfs.to_string()), "{listed}");
        }
        fs::remove_dir_all(paths.data_dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn account_lines_name_their_ids() {
        assert_eq!(
            ids_of_line("www:x:33:33:www:/var/www:/bin/sh", false),
            Some((33, 34))
        );
        assert_eq!(
            ids_of_line("alice:100000:65536", true),
            Some((100_000, 165_536))
        );
        assert_eq!(ids_of_line("# comment", false), None);
        assert!(overlaps(
            FIRST_BASE,
            &[(FIRST_BASE as u64 + 10, FIRST_BASE as u64 + 11)]
        ));
        assert!(!overlaps(FIRST_BASE, &[(0, FIRST_BASE as u64)]));
        // The range after the last one would hold (uid_t) -1.
        assert_eq!(
            LAST_BASE as u64 + 2 * RANGE_SIZE as u64 - 1,
            u32::MAX as u64
        );
    }

    #[test]
    fn jails_get_disjoint_ranges_and_freed_ones_come_back() {
        let paths = env("claim");
        let a = claim(&paths, "a", None).unwrap();
        let b = claim(&paths, "b", None).unwrap();
        assert!(a >= FIRST_BASE && a % RANGE_SIZE == 0);
        assert_ne!(a, b);
        assert!(!overlaps(a, &host_ids()));
        confirm(&paths, "a", a).unwrap();
        assert_eq!(confirm(&paths, "b", a).unwrap_err().exit_code(), 78);
        assert_eq!(
            claim(&paths, "c", Some(i64::from(b)))
                .unwrap_err()
                .exit_code(),
            73
        );
        release(&paths, "a", None).unwrap();
        assert_eq!(claim(&paths, "c", None).unwrap(), a);
        // by its base, as destroy knows it: the other claims stay
        release(&paths, "b", Some(b)).unwrap();
        assert_eq!(claimed(&paths, "b").unwrap(), None);
        assert_eq!(claimed(&paths, "c").unwrap(), Some(a));
        // a base that is another jail's: its own claim is looked for
        let d = claim(&paths, "d", None).unwrap();
        release(&paths, "d", Some(a)).unwrap();
        assert_eq!(claimed(&paths, "d").unwrap(), None);
        assert_eq!(claimed(&paths, "c").unwrap(), Some(a));
        assert_ne!(d, a);
        fs::remove_dir_all(paths.data_dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_requested_range_must_be_whole_and_clear_of_the_host() {
        let paths = env("asked");
        for bad in [1000, -65536, 1 << 40] {
            assert_eq!(
                claim(&paths, "a", Some(bad)).unwrap_err().exit_code(),
                78,
                "{bad}"
            );
        }
        // Root's own id is the host's: the first range is never free.
        let e = claim(&paths, "a", Some(0)).unwrap_err();
        assert!(e.to_string().contains("overlap ids of the host"), "{e}");
        let base = 100 * RANGE_SIZE;
        assert_eq!(claim(&paths, "a", Some(i64::from(base))).unwrap(), base);
        fs::remove_dir_all(paths.data_dir.parent().unwrap()).unwrap();
    }
}
