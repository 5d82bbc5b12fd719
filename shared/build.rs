//! Every jkit binary links the unwinder statically instead of loading
//! libgcc_s.so at each start.
//!
//! On Linux with glibc, std names the shared libgcc_s as its unwinder; with
//! `panic = "abort"` it serves only backtraces, and loading it is a
//! noticeable part of a short-lived tool's start (a create and start of a
//! jail runs two tools).
//! A linker script named `libgcc_s.so`, found first on the link search path
//! this build script adds for every crate that links jkit, puts gcc's static
//! unwinder (libgcc_eh, what static glibc binaries use) and libgcc in its
//! place.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let target = |key| env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") != "linux" || target("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    let dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("unwinder");
    fs::create_dir_all(&dir).expect("create OUT_DIR/unwinder");
    fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh -lgcc)\n").expect("write libgcc_s.so");
    println!("cargo::rustc-link-search=native={}", dir.display());
}
