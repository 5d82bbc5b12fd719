//! jkit-init: what a Linux jail's init runs once jmk has set the jail up,
//! for the rest of the jail's life: pid 1 of the jail, reaping its
//! processes and forking jexec's commands (`jkit::backend::linux::start::program`).
//! Installed beside jmk; not a command to run by hand.

// The entry point is jkit's (`jkit::entry!`): see there for why.
#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

jkit::entry!(tool);

fn tool() -> u8 {
    jkit::cli::run("jkit-init", jkit::backend::serve_as_jail_init)
}
