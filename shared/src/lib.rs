//! jkit: FreeBSD's jail tooling as a library. The binaries (`jls-rs`,
//! `jexec-rs`, `jmk`, `jrctl`, `jtpl`) parse arguments, call in here and
//! print; everything else lives in this crate.

pub mod backend;
pub mod cli;
pub mod conf;
pub mod error;
pub mod exec;
pub mod fsio;
pub mod jls;
pub mod lock;
pub mod model;
pub mod ops;
pub mod paths;
pub mod rctl;
pub mod template;
pub mod wire;

pub use error::{Error, Result};
