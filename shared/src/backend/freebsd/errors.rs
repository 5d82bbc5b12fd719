//! How a failed jail system call becomes an [`Error`]: the kernel's
//! `errmsg` text in the class its errno implies.

use std::io;

use crate::error::Error;

/// The parameter a kernel message `unknown parameter: NAME` names.
pub fn unknown_parameter(errmsg: &str) -> Option<&str> {
    errmsg.strip_prefix("unknown parameter: ")
}

/// The error for a failed jail system call `call` (`jail_get`, ...): the
/// kernel's `errmsg` text when it gave one (else `call: strerror`), in the
/// class its errno implies.
pub fn kernel_error(call: &str, errno: i32, errmsg: Option<String>) -> Error {
    let source = io::Error::from_raw_os_error(errno);
    let Some(msg) = errmsg else {
        return Error::os(call, source);
    };
    match errno {
        libc::ENOENT | libc::ESRCH => Error::NotFound(msg),
        libc::EEXIST => Error::Exists(msg),
        libc::EPERM | libc::EACCES => Error::Permission(msg),
        libc::EINVAL | libc::ENAMETOOLONG | libc::ERANGE => Error::BadData(msg),
        libc::EAGAIN => Error::TempFail(msg),
        _ => Error::os(msg, source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_and_errmsg_map_to_error_classes() {
        let e = kernel_error(
            "jail_get",
            libc::ENOENT,
            Some("jail \"web\" not found".into()),
        );
        assert!(matches!(e, Error::NotFound(_)));
        assert_eq!(e.to_string(), "jail \"web\" not found");
        assert_eq!(e.exit_code(), 66);
        let e = kernel_error(
            "jail_set",
            libc::EEXIST,
            Some("jail 3 already exists".into()),
        );
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            ("jail 3 already exists", 73)
        );
        let e = kernel_error(
            "jail_set",
            libc::EPERM,
            Some("jail must be less restrictive".into()),
        );
        assert_eq!(e.exit_code(), 77);
        let e = kernel_error(
            "jail_set",
            libc::EINVAL,
            Some("unknown parameter: foo".into()),
        );
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            ("unknown parameter: foo", 65)
        );
        let e = kernel_error(
            "jail_set",
            libc::EAGAIN,
            Some("no available jail IDs".into()),
        );
        assert_eq!(e.exit_code(), 75);
        let e = kernel_error("jail_get", libc::EPERM, None);
        assert!(matches!(&e, Error::Os { what, .. } if what == "jail_get"));
        assert_eq!(e.exit_code(), 77);
        let e = kernel_error("jail_set", libc::EIO, Some("disk trouble".into()));
        assert!(e.to_string().starts_with("disk trouble: "), "{e}");
        assert_eq!(e.exit_code(), 71);
        assert_eq!(
            unknown_parameter("unknown parameter: allow.vmm"),
            Some("allow.vmm")
        );
        assert_eq!(unknown_parameter("jail 3 not found"), None);
    }
}
