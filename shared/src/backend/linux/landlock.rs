//! Landlock scopes for a jail (Linux 6.12, Landlock ABI 6): a jail's
//! processes signal only processes of the jail (`LANDLOCK_SCOPE_SIGNAL`)
//! and connect only to abstract unix sockets of the jail
//! (`LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET`; with `ip4=inherit` the jail
//! shares the host's network namespace, where the host's abstract sockets
//! live). The scopes hold no access right: files and ports are not
//! Landlock's business here.
//!
//! A domain passes only from a process to those it forks, and two
//! processes that restrict themselves get sibling domains, which cannot
//! signal each other. So the jail has one domain: the init restricts
//! itself once set up, and every process of the jail descends from it
//! (jexec's commands, `exec.*` and `command=` are forked by the init, see
//! [`super::exec`]). A process the host puts into the jail's namespaces
//! some other way (nsenter) is outside the domain: the jail can neither
//! signal it nor reach its abstract sockets.

use std::io;

use super::sys;

/// `LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET`.
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
/// `LANDLOCK_SCOPE_SIGNAL`.
const SCOPE_SIGNAL: u64 = 1 << 1;
/// The first Landlock ABI with the scopes (Linux 6.12).
const SCOPES_ABI: i32 = 6;

/// The kernel's Landlock ABI, `None` without Landlock.
fn kernel_abi() -> Option<i32> {
    sys::landlock_abi().ok()
}

/// Whether a kernel of Landlock ABI `abi` has the scopes.
fn has_scopes(abi: Option<i32>) -> bool {
    abi.is_some_and(|v| v >= SCOPES_ABI)
}

/// The warning for a kernel of Landlock ABI `abi` that lacks the scopes,
/// naming the defence missing; `None` when it has them.
fn missing_scopes_warning(abi: Option<i32>) -> Option<String> {
    if has_scopes(abi) {
        return None;
    }
    let kernel = match abi {
        Some(v) => format!("Landlock ABI {v}"),
        None => "no Landlock".to_string(),
    };
    Some(format!(
        "landlock scopes missing ({kernel}, Linux 6.12 has them): \
         this jail's processes can signal host processes and reach the host's abstract unix sockets"
    ))
}

/// The warning for this kernel, if it lacks the scopes.
pub fn warning() -> Option<String> {
    missing_scopes_warning(kernel_abi())
}

/// In the jail's init, once it is set up and before it forks any jail
/// process: scope it, and so every process of the jail. `Ok(false)` on a
/// kernel without the scopes (jmk warned at create and start).
pub fn scope_init() -> io::Result<bool> {
    if !has_scopes(kernel_abi()) {
        return Ok(false);
    }
    sys::landlock_scope_self(SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scopes_need_abi_6_and_their_absence_is_named() {
        for abi in [None, Some(1), Some(4), Some(5)] {
            assert!(!has_scopes(abi), "{abi:?}");
            let w = missing_scopes_warning(abi).expect("a warning");
            assert!(
                w.contains("signal host processes") && w.contains("abstract unix sockets"),
                "{w}"
            );
            assert!(!w.contains('\n'), "one line: {w}");
        }
        assert!(missing_scopes_warning(Some(5)).unwrap().contains("ABI 5"));
        assert!(
            missing_scopes_warning(None)
                .unwrap()
                .contains("no Landlock")
        );
        for abi in [Some(6), Some(7), Some(9)] {
            assert!(has_scopes(abi));
            assert_eq!(missing_scopes_warning(abi), None);
        }
    }
}
