//! jkit: FreeBSD's jail tooling as a library. The binaries (`jls-rs`,
//! `jexec-rs`, `jmk`, `jrctl`, `jtpl`) parse arguments, call in here and
//! print; everything else lives in this crate.
//!
//! The modules form layers; each imports only the modules before it in
//! this map (a unit test reads the sources and fails on any other import):
//!
//! ```text
//! L0 foundations   error   one error type; every error knows its exit status
//!                  paths   every on-disk name jkit uses
//!                  fsio    atomic writes; file access beneath a directory
//!                  lock    a jail's lock
//! L1 pure data     model   jails and their typed parameters
//!                  conf    jail.conf(5): lexer, parser, resolver, writer
//!                  rctl    rctl rules, amounts, usage, the rules kept per jail
//!                  template  Bastillefiles: parse, plan, sysrc edits
//!                  exec    the exec spec: what to run in a jail, as whom
//!                  wire    every NDJSON record the tools print or read
//! L2 platform      backend trait Backend and trait Racct, the only platform
//!                          boundary; freebsd/ and linux/ implement them
//! L3 engines       ops     jail(8)'s sequences and order; create, destroy,
//!                          clone, releases, over any Backend
//! L4 tool fronts   jls, jexec, jrctl, jtpl: what each binary does
//!                  cli     what the binaries share: messages, exit codes, output
//! ```
//!
//! `cfg(target_os)` appears only in `backend`, `paths` and `cli`; `unsafe`
//! only in `sys.rs` files: one per backend, and the binaries' start-up in
//! `cli`.

pub mod error;
pub mod fsio;
pub mod lock;
pub mod paths;

pub mod conf;
pub mod exec;
pub mod model;
pub mod rctl;
pub mod template;
pub mod wire;

pub mod backend;

pub mod ops;

pub mod cli;
pub mod jexec;
pub mod jls;
pub mod jrctl;
pub mod jtpl;

#[cfg(test)]
mod layers;

pub use error::{Error, Result};
