//! The init's own program, `jkit-init`, installed beside jmk: once the
//! jail is set up, the init (a fork of jmk) execs it to serve the jail for
//! the rest of its life. A fork of jmk keeps every page jmk
//! wrote: its relocated data (the whole tool's, 44 kB for the static
//! build), its heap and its deepest stack. A program that holds only the
//! init's loop and the command's way to exec (the control socket,
//! `exec::relay`) starts in a fresh address space of about a third of
//! that, in every jail.
//!
//! The program is taken only as it keeps the init what the fork was:
//! - static (no `PT_INTERP`): the exec happens in the jail's root, where
//!   a dynamic program's loader and libraries would be the jail's;
//! - not readable by others, nor writable by them (`scripts/install`
//!   installs it 0711): root in a jail with a user namespace cannot read
//!   a file of the host's root then, and the kernel keeps a program the
//!   exec'ing process cannot read out of its reach: undumpable from the
//!   exec on, its memory the host's user namespace's, so its /proc files
//!   stay the host's root's (a process of the jail's own program would
//!   have the jail's root own them: it could raise the init's
//!   `oom_score_adj` and have the OOM killer end a persistent jail).
//!
//! Without one (a build for the host's glibc, a program others can read,
//! or jmk copied alone), the init serves as the fork it is.
//!
//! The exec keeps the init's capabilities: its inheritable set is its
//! permitted one from before the bounding set is dropped (a root that
//! execs gets its bounding and inheritable sets), and the program clears
//! it again; the commands it forks clear theirs too (`exec::command`).
//!
//! The program takes what it serves as descriptors and words on its
//! command line, `jkit-init CONTROL REPORT GO OOM_SCORE|- [persist]
//! [terminals-out-of-reach]` (see [`Served`]), and refuses to run but as
//! pid 1 (of the jail's pid namespace) with those descriptors open as
//! what they must be.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::Path;

use nix::fcntl::{AtFlags, FcntlArg, FdFlag, OFlag, fcntl};
use nix::sys::stat::{Mode, SFlag, fstat};

use super::init::Served;
use crate::backend::linux::protocol::{Receiver, Sender};
use crate::backend::linux::sys;
use crate::error::{Error, Result};

/// The program's file name, beside the running tool's.
pub const NAME: &str = "jkit-init";

/// The init's environment, as /proc/1/environ shows it in the jail: the
/// container mark systemd's containers carry (`container=` in pid 1's
/// environment), and nothing of jmk's.
pub(super) const ENVIRON: &std::ffi::CStr = c"container=jkit";

/// The program beside the running tool, open, when there is one to take.
pub(super) fn beside_current_exe() -> Option<OwnedFd> {
    let exe = std::env::current_exe().ok()?;
    open_usable(&exe.with_file_name(NAME))
}

/// `path`, open, when it is a regular file others can neither read nor
/// write, and a static ELF program of this machine's word size.
fn open_usable(path: &Path) -> Option<OwnedFd> {
    let fd = nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).ok()?;
    let st = fstat(&fd).ok()?;
    let mode = SFlag::from_bits_truncate(st.st_mode);
    let guarded = mode & SFlag::S_IFMT == SFlag::S_IFREG && st.st_mode & 0o026 == 0;
    let file = File::from(fd);
    (guarded && is_static_elf(&file)).then(|| file.into())
}

const PT_INTERP: u32 = 3;

fn is_static_elf(file: &File) -> bool {
    let mut header = [0u8; 64];
    if file.read_exact_at(&mut header, 0).is_err() {
        return false;
    }
    let class = if cfg!(target_pointer_width = "64") {
        2
    } else {
        1
    };
    if header[..4] != *b"\x7fELF" || header[4] != class || header[5] != 1 {
        return false;
    }
    let (phoff, phentsize, phnum) = if class == 2 {
        (
            u64::from_le_bytes(header[32..40].try_into().unwrap_or_default()),
            u16::from_le_bytes([header[54], header[55]]),
            u16::from_le_bytes([header[56], header[57]]),
        )
    } else {
        (
            u64::from(u32::from_le_bytes(
                header[28..32].try_into().unwrap_or_default(),
            )),
            u16::from_le_bytes([header[42], header[43]]),
            u16::from_le_bytes([header[44], header[45]]),
        )
    };
    if phnum == 0 || phnum > 64 || usize::from(phentsize) < 4 {
        return false;
    }
    let mut table = vec![0u8; usize::from(phentsize) * usize::from(phnum)];
    if file.read_exact_at(&mut table, phoff).is_err() {
        return false;
    }
    !table
        .chunks_exact(usize::from(phentsize))
        .any(|entry| u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]) == PT_INTERP)
}

/// Exec `program` to serve `served`; returns `served` when the exec
/// failed, for the init to serve it itself.
pub(super) fn exec(program: &OwnedFd, served: Served) -> Served {
    let number = |fd: &dyn AsRawFd| fd.as_raw_fd().to_string();
    let mut args = vec![
        NAME.to_string(),
        number(&served.control),
        number(&served.report),
        number(&served.go),
        served
            .oom_score
            .as_ref()
            .map_or_else(|| "-".into(), |f| number(f)),
    ];
    if served.persist {
        args.push("persist".into());
    }
    if served.terminals_out_of_reach {
        args.push("terminals-out-of-reach".into());
    }
    let Ok(args) = args
        .into_iter()
        .map(CString::new)
        .collect::<std::result::Result<Vec<_>, _>>()
    else {
        return served;
    };
    let inherit = |flags: FdFlag| {
        [
            served.control.as_fd(),
            served.report.as_fd(),
            served.go.as_fd(),
        ]
        .into_iter()
        .chain(served.oom_score.as_ref().map(|f| f.as_fd()))
        .all(|fd| fcntl(fd, FcntlArg::F_SETFD(flags)).is_ok())
    };
    if inherit(FdFlag::empty()) {
        let _ = nix::unistd::execveat(program, c"", &args, &[ENVIRON], AtFlags::AT_EMPTY_PATH);
    }
    inherit(FdFlag::FD_CLOEXEC);
    let _ = sys::set_inheritable_caps(false);
    served
}

/// The program's body: serve what jmk's init passed on its command line
/// `args` (its own name first). Returns the exit status.
pub fn serve(args: impl IntoIterator<Item = OsString>) -> Result<u8> {
    let not_ours = || {
        Error::Usage(
            "a jail's init: only jmk starts it, as the jail's pid 1, with the descriptors it serves"
                .into(),
        )
    };
    if nix::unistd::getpid().as_raw() != 1 {
        return Err(not_ours());
    }
    // Undumpable before anything else, as the init was: the exec made it
    // dumpable again (no jail process is there yet to take the chance).
    nix::sys::prctl::set_dumpable(false).map_err(|e| Error::os("make the init undumpable", e))?;
    // What `ps` in the jail shows as pid 1 (exec named it by descriptor).
    let _ = nix::sys::prctl::set_name(c"jkit-init");
    sys::set_inheritable_caps(false)
        .map_err(|e| Error::os("clear the inheritable capabilities", e))?;
    let args: Vec<String> = args
        .into_iter()
        .skip(1)
        .map(|a| a.into_string().map_err(|_| not_ours()))
        .collect::<Result<_>>()?;
    let [control, report, go, oom_score, flags @ ..] = args.as_slice() else {
        return Err(not_ours());
    };
    let mut persist = false;
    let mut terminals_out_of_reach = false;
    for f in flags {
        match f.as_str() {
            "persist" => persist = true,
            "terminals-out-of-reach" => terminals_out_of_reach = true,
            _ => return Err(not_ours()),
        }
    }
    let number = |n: &String| {
        n.parse::<RawFd>()
            .ok()
            .filter(|n| *n > 2)
            .ok_or_else(not_ours)
    };
    let [control, report, go] = [number(control)?, number(report)?, number(go)?];
    let oom_score = (oom_score != "-").then(|| number(oom_score)).transpose()?;
    let numbers: Vec<RawFd> = [control, report, go].into_iter().chain(oom_score).collect();
    if (1..numbers.len()).any(|i| numbers[..i].contains(&numbers[i])) {
        return Err(not_ours());
    }
    // Each number taken once (they are distinct), checked to be open as
    // what it must be.
    let take = |n: RawFd, kind: SFlag| {
        let fd = sys::take_inherited_fd(n).map_err(|_| not_ours())?;
        let is_kind = fstat(&fd)
            .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == kind);
        if !is_kind || fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).is_err() {
            return Err(not_ours());
        }
        Ok(fd)
    };
    let served = Served {
        persist,
        terminals_out_of_reach,
        control: take(control, SFlag::S_IFSOCK)?,
        report: Sender::from(take(report, SFlag::S_IFIFO)?),
        go: Receiver::from(take(go, SFlag::S_IFIFO)?),
        oom_score: oom_score
            .map(|n| take(n, SFlag::S_IFREG))
            .transpose()?
            .map(File::from),
    };
    Ok(u8::try_from(served.serve()).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_static_program_others_cannot_read_or_write_is_taken() {
        let dir = std::env::temp_dir().join(format!("jkit-program-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let elf = |interp: bool| {
            let mut b = vec![0u8; 64 + 2 * 56];
            b[..4].copy_from_slice(b"\x7fELF");
            b[4] = 2;
            b[5] = 1;
            b[32..40].copy_from_slice(&64u64.to_le_bytes());
            b[54..56].copy_from_slice(&56u16.to_le_bytes());
            b[56..58].copy_from_slice(&2u16.to_le_bytes());
            b[64..68].copy_from_slice(&6u32.to_le_bytes());
            let second = if interp { PT_INTERP } else { 1 };
            b[120..124].copy_from_slice(&second.to_le_bytes());
            b
        };
        let write = |name: &str, bytes: &[u8], mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(dir.join(name), bytes).unwrap();
            std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(mode))
                .unwrap();
        };
        write("static", &elf(false), 0o711);
        write("static-0700", &elf(false), 0o700);
        write("readable", &elf(false), 0o755);
        write("writable", &elf(false), 0o731);
        write("dynamic", &elf(true), 0o711);
        write("script", b"#!/bin/sh\n", 0o711);
        write("short", &elf(false)[..100], 0o711);
        assert!(open_usable(&dir.join("static")).is_some());
        assert!(open_usable(&dir.join("static-0700")).is_some());
        for refused in [
            "readable", "writable", "dynamic", "script", "short", "missing",
        ] {
            assert!(open_usable(&dir.join(refused)).is_none(), "{refused}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_program_refuses_to_run_but_as_a_jails_init() {
        let e = serve(["jkit-init", "3", "4", "5", "-"].map(OsString::from)).unwrap_err();
        assert_eq!(e.exit_code(), 64, "{e}");
        assert!(
            e.to_string()
                .starts_with("a jail's init: only jmk starts it"),
            "{e}"
        );
    }
}
