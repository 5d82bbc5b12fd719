//! The FreeBSD backend. Jails are held by the kernel: read with jail_get(2)
//! (`lastjid` iteration, one batched call per jail with the kernel's
//! `errmsg`), created with jail_set(2), entered with jail_attach(2) and
//! removed with jail_remove(2); parameter types come from the
//! `security.jail.param.*` sysctls.
//!
//! Everything that needs no system call is compiled and tested on every
//! host: the parameter encoding ([`jailparam`]), the kernel's errors
//! ([`errors`]), the mounts jail(8) makes ([`mounts`]), its ifconfig and
//! zfs command lines ([`network`]), and the sequences of kernel calls
//! ([`kernel`]: the parameter table, modules loaded on demand, the stop's
//! signals, the entry for commands) over a trait that the unit tests answer
//! with a recorded kernel. The system calls themselves live in `host`,
//! built on FreeBSD only.

pub mod errors;
pub mod jailparam;
pub mod kernel;
pub mod mounts;
pub mod network;

#[cfg(target_os = "freebsd")]
mod host;

#[cfg(target_os = "freebsd")]
pub(crate) use host::fork_child;
#[cfg(target_os = "freebsd")]
pub use host::{FreeBsd, racct};
