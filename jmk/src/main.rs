//! jmk: create, start, stop, restart, destroy and clone jails; and, given
//! jail(8)'s options instead of a subcommand, jail(8) itself (`jail8`).

// The entry point is jkit's (`jkit::entry!`): see there for why.
#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

mod completions;
mod jail8;
mod progress;

use std::io;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use jkit::Result;
use jkit::backend::Started;
use jkit::cli::Output;
use jkit::model::Jail;
use jkit::model::rdr;
use jkit::ops::sequence::named;
use jkit::ops::{
    CreateRequest, Creating, Jkit, Layout, Progress, Report, RootSource, fetch, release, snapshot,
};
use jkit::paths::Paths;
use jkit::wire::JailRecord;

/// Create and run jails: jail(8) plus a Bastille-style creator.
#[derive(Debug, Parser)]
#[command(name = "jmk", version)]
struct Cli {
    /// Print the resulting jail records as JSON lines on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
enum Command {
    /// Build a jail's root and write its definition (NAME.conf).
    Create {
        /// The new jail's name.
        name: String,
        /// Bind the release's system directories read-only (default for releases).
        #[arg(long, conflicts_with = "thick")]
        thin: bool,
        /// Give the jail a full private copy (default for --from and --from-tarball).
        #[arg(long)]
        thick: bool,
        /// Build from this registered release (default: host, the host's own system).
        #[arg(long, value_name = "REL", group = "source")]
        release: Option<String>,
        /// Build from this directory tree.
        #[arg(long, value_name = "DIR", group = "source")]
        from: Option<PathBuf>,
        /// Build from this tarball (.tar, .tar.gz, .tar.xz, .tar.zst).
        #[arg(long, value_name = "FILE", group = "source")]
        from_tarball: Option<PathBuf>,
        /// Jail parameters as jail(8) takes them; command=... takes the rest.
        #[arg(
            value_name = "param=value",
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        params: Vec<String>,
    },
    /// Start jails (`-` reads jail records from stdin).
    Start {
        /// Start the jails marked jkit.boot that do not run, with the jails
        /// they depend on (what jkit.service runs at boot); jail(8)'s notes,
        /// no JSON.
        #[arg(long, conflicts_with = "names")]
        boot: bool,
        /// Jail names, or `-`.
        #[arg(required_unless_present = "boot")]
        names: Vec<String>,
    },
    /// Stop jails (`-` reads jail records from stdin).
    Stop {
        /// Stop every running jail, the jails that depend on a jail first
        /// (what jkit.service runs at shutdown); jail(8)'s notes, no JSON.
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Jail names, or `-`.
        #[arg(required_unless_present = "all")]
        names: Vec<String>,
    },
    /// Stop jails if they run, then start them.
    Restart {
        /// Jail names, or `-`.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Destroy jails: definition, root and everything jmk made for them.
    Destroy {
        /// Stop a running jail first instead of refusing.
        #[arg(short, long)]
        force: bool,
        /// Jail names, or `-`.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Make NEW a copy-on-write clone of SRC, or of its snapshot SRC@TAG.
    Clone {
        /// The jail to clone.
        #[arg(value_name = "SRC[@TAG]")]
        src: String,
        /// The new jail's name.
        new: String,
    },
    /// Forward host ports to a jail (Bastille's rdr): tcp|udp HOST_PORT
    /// JAIL_PORT adds a rule (ports or ranges A:B), list prints them, clear
    /// drops them all, rm tcp|udp HOST_PORT drops one.
    Rdr {
        /// Only what arrives on this host interface.
        #[arg(short = 'i', long = "interface", value_name = "IFACE")]
        interface: Option<String>,
        /// Only what comes from this address or network.
        #[arg(short = 's', long = "source", value_name = "ADDR[/PREFIX]")]
        source: Option<String>,
        /// Only what goes to this host address (default: any of the host's).
        #[arg(short = 'd', long = "destination", value_name = "ADDR")]
        destination: Option<String>,
        /// Only this address family (default: both); needed with -s or -d.
        #[arg(short = 't', long = "type", value_name = "ipv4|ipv6")]
        family: Option<String>,
        /// The jail.
        name: String,
        /// tcp|udp HOST_PORT JAIL_PORT, list, clear, or rm tcp|udp HOST_PORT.
        #[arg(required = true, value_name = "ACTION")]
        action: Vec<String>,
    },
    /// Take a snapshot NAME[@TAG] (TAG: a UTC timestamp by default); -l
    /// lists snapshots, -d NAME@TAG deletes one.
    Snapshot {
        /// List the snapshots (of NAME, or of every jail).
        #[arg(short = 'l', long = "list", conflicts_with = "delete")]
        list: bool,
        /// Delete the snapshot NAME@TAG.
        #[arg(short = 'd', long = "delete")]
        delete: bool,
        /// NAME[@TAG].
        #[arg(value_name = "NAME[@TAG]", required_unless_present = "list")]
        target: Option<String>,
    },
    /// Put a jail's files back as its snapshot NAME@TAG holds them.
    Rollback {
        /// Stop a running jail, roll back and start it again.
        #[arg(short = 'f')]
        force: bool,
        /// Destroy the snapshots newer than TAG (as zfs rollback -r).
        #[arg(short = 'r')]
        recursive: bool,
        /// NAME@TAG.
        #[arg(value_name = "NAME@TAG")]
        target: String,
    },
    /// What changed in a jail since its snapshot NAME@TAG (its latest with
    /// NAME alone), or up to its snapshot @TAG2: zfs diff's lines.
    Diff {
        /// NAME[@TAG].
        #[arg(value_name = "NAME[@TAG]")]
        target: String,
        /// @TAG2: the later snapshot (default: the jail's files now).
        #[arg(value_name = "@TAG2")]
        to: Option<String>,
    },
    /// Write a jail (or its snapshot NAME@TAG) as a portable archive (tar +
    /// zstd) to FILE, or stdout with - or none; with -i, the changes since
    /// an earlier snapshot (btrfs or ZFS send).
    Export {
        /// The earlier snapshot: an incremental archive of the changes
        /// from NAME@TAG1 to NAME@TAG.
        #[arg(short = 'i', value_name = "[@]TAG1")]
        incremental: Option<String>,
        /// NAME[@TAG].
        #[arg(value_name = "NAME[@TAG]")]
        target: String,
        /// The archive (default: stdout).
        #[arg(value_name = "FILE|-")]
        file: Option<PathBuf>,
    },
    /// Make a jail from an archive of `jmk export` (stdin with -).
    Import {
        /// The archive, or - for stdin.
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
        /// The new jail's name (default: the exported jail's).
        new: Option<String>,
    },
    /// Manage releases, the trees jails are built from.
    Release {
        #[command(subcommand)]
        action: ReleaseAction,
    },
    /// Print jmk's completion script for a shell on stdout (jail names
    /// from `jls-rs --defined name` for bash, zsh and fish).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum ReleaseAction {
    /// List releases.
    List,
    /// Register a directory tree (kept in place) or a tarball (unpacked),
    /// or make a Debian system with mmdebstrap or debootstrap.
    Add {
        /// The release's name, e.g. 14.2-RELEASE.
        name: String,
        /// A directory or a tarball.
        #[arg(
            required_unless_present = "debootstrap",
            conflicts_with = "debootstrap"
        )]
        source: Option<PathBuf>,
        /// Make a Debian system of this suite (e.g. bookworm): minbase, with apt.
        #[arg(long, value_name = "SUITE")]
        debootstrap: Option<String>,
        /// The Debian mirror for --debootstrap (default: the tool's).
        #[arg(long, value_name = "URL", requires = "debootstrap")]
        mirror: Option<String>,
    },
    /// Download a FreeBSD release's base.txz, check it against the
    /// release's MANIFEST and unpack it as release VERSION (resumed where
    /// an earlier fetch stopped).
    Fetch {
        /// The release, e.g. 14.2-RELEASE.
        version: String,
        /// The mirror's releases directory (default: $JKIT_RELEASE_MIRROR,
        /// else https://download.freebsd.org/releases).
        #[arg(long, value_name = "URL")]
        mirror: Option<String>,
        /// The mirror's directory for the machine (default: this one's, e.g. amd64/amd64).
        #[arg(long, value_name = "MACHINE/ARCH")]
        arch: Option<String>,
    },
    /// Unregister a release (an unpacked tarball is deleted).
    Remove {
        /// The release's name.
        name: String,
    },
}

jkit::entry!(tool);

fn tool() -> u8 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if jail8::wanted(&args[1.min(args.len())..]) {
        return jail8::main(&args[1..]);
    }
    let cli = Cli::parse_from(args);
    // --json is the parent's, which clap's conflicts of a subcommand's
    // arguments do not see.
    if cli.json
        && matches!(
            cli.command,
            Command::Start { boot: true, .. } | Command::Stop { all: true, .. }
        )
    {
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--json cannot be used with --boot or --all",
            )
            .exit();
    }
    if let Command::Completions { shell } = cli.command {
        // Written through Output, which ends quietly on a broken pipe
        // (clap_complete's own writer panics there).
        let script = completions::script(shell, &mut Cli::command());
        return jkit::cli::run("jmk", || {
            let mut out = Output::new();
            out.raw(&script)?;
            out.flush()?;
            Ok(0)
        });
    }
    jkit::cli::run("jmk", || run(cli))
}

/// How the subcommands report: warnings (an ignored parameter) on stderr;
/// a failure is their error, printed once by `jkit::cli::run`.
struct SubcommandReport;

impl Report for SubcommandReport {
    fn note(&mut self, line: &str) {
        println!("{line}");
    }

    fn warn(&mut self, line: &str) {
        eprintln!("jmk: {line}");
    }

    fn fail(&mut self, _e: &jkit::Error) {}
}

/// How `start --boot` and `stop --all` report, as jail(8) does for many
/// jails: `NAME: created` / `NAME: removed` on stdout, each jail's failure
/// on stderr as it happens (the others go on).
struct BootReport;

impl Report for BootReport {
    fn note(&mut self, line: &str) {
        println!("{line}");
    }

    fn warn(&mut self, line: &str) {
        eprintln!("jmk: {line}");
    }
}

fn run(cli: Cli) -> Result<u8> {
    let jk = Jkit::new(Paths::from_env())?;
    let mut out = Output::new();
    let json = cli.json;
    let mut status = 0u8;
    match cli.command {
        Command::Create {
            name,
            thin,
            thick,
            release,
            from,
            from_tarball,
            params,
        } => {
            let req = CreateRequest {
                name,
                layout: layout_of(thin, thick),
                from: root_source(release, from, from_tarball),
                params,
            };
            let mut bar = progress::Bar::on_stderr();
            let who = req.name.clone();
            let created = jk.create(&req, &mut |c| match c {
                Creating::Unpacked(p) => bar.update(p),
                Creating::Warning(w) => eprintln!("jmk: {who}: {w}"),
            });
            bar.finish();
            emit(&jk, &mut out, json, &created?)?;
        }
        Command::Start { boot: true, .. } => {
            status = jk.boot(&mut BootReport)?.status();
        }
        Command::Stop { all: true, .. } => {
            status = jk.shutdown(&mut BootReport)?.status();
        }
        Command::Start { names, .. } => {
            status = for_each_jail(&jk, &names, |name| {
                let started = jk
                    .start_with(name, &mut SubcommandReport)
                    .map_err(|e| named(e, Some(name)))?;
                emit_started(&jk, &mut out, json, &started)
            })?;
        }
        Command::Restart { names } => {
            status = for_each_jail(&jk, &names, |name| {
                let started = jk
                    .restart_with(name, &mut SubcommandReport)
                    .map_err(|e| named(e, Some(name)))?;
                emit_started(&jk, &mut out, json, &started)
            })?;
        }
        Command::Stop { names, .. } => {
            status = for_each_jail(&jk, &names, |name| {
                let jail = jk.stop_with(name, &mut SubcommandReport)?;
                emit(&jk, &mut out, json, &jail).map(|()| 0)
            })?;
        }
        Command::Destroy { force, names } => {
            status = for_each_jail(&jk, &names, |name| {
                destroy(&jk, &mut out, json, force, name).map(|()| 0)
            })?;
        }
        Command::Clone { src, new } => {
            let jail = match snapshot::split_ref(&src)? {
                (name, Some(tag)) => jk.clone_snapshot(name, tag, &new)?,
                (name, None) => jk.clone_jail(name, &new)?,
            };
            emit(&jk, &mut out, json, &jail)?;
        }
        Command::Snapshot {
            list,
            delete,
            target,
        } => snapshots(&jk, &mut out, json, (list, delete), target.as_deref())?,
        Command::Rollback {
            force,
            recursive,
            target,
        } => {
            let (name, tag) = snapshot::split_ref(&target)?;
            let tag = tag.ok_or_else(|| jkit::Error::Usage("rollback needs NAME@TAG".into()))?;
            let mut bar = progress::Bar::labelled("copying");
            let done = jk.rollback(name, tag, (force, recursive), &mut |done, total| {
                bar.update(Progress { done, total })
            });
            bar.finish();
            done?;
        }
        Command::Diff { target, to } => {
            let (name, from) = snapshot::split_ref(&target)?;
            let to = match to.as_deref().map(|t| t.strip_prefix('@').unwrap_or(t)) {
                Some(t) => {
                    snapshot::validate_tag(t)?;
                    Some(t)
                }
                None => None,
            };
            for change in jk.diff(name, from, to)? {
                if json {
                    out.json(&change)?;
                } else {
                    out.line(&change.text())?;
                }
            }
        }
        Command::Export {
            incremental: Some(from),
            target,
            file,
        } => {
            let (name, tag) = snapshot::split_ref(&target)?;
            let to = tag.ok_or_else(|| {
                jkit::Error::Usage("export -i TAG1 takes NAME@TAG, the later snapshot".into())
            })?;
            let tags = (from.strip_prefix('@').unwrap_or(&from), to);
            match file.filter(|f| f.as_os_str() != "-") {
                Some(f) => jk.export_incremental_to_file(name, tags, &f)?,
                None => jk.export_incremental(name, tags, &mut io::stdout().lock())?,
            }
        }
        Command::Export {
            incremental: None,
            target,
            file,
        } => {
            let (name, tag) = snapshot::split_ref(&target)?;
            match file.filter(|f| f.as_os_str() != "-") {
                Some(f) => jk.export_to_file(name, tag, &f)?,
                None => jk.export(name, tag, &mut io::stdout().lock())?,
            }
        }
        Command::Import { file, new } => {
            let jail = if file.as_os_str() == "-" {
                jk.import(
                    &mut io::BufReader::with_capacity(1 << 20, io::stdin()),
                    new.as_deref(),
                )?
            } else {
                let f =
                    std::fs::File::open(&file).map_err(|e| jkit::Error::at("open", &file, e))?;
                jk.import(
                    &mut io::BufReader::with_capacity(1 << 20, f),
                    new.as_deref(),
                )?
            };
            emit(&jk, &mut out, json, &jail)?;
        }
        Command::Release { action } => manage_releases(&jk, &mut out, json, action)?,
        Command::Completions { .. } => {}
        Command::Rdr {
            interface,
            source,
            destination,
            family,
            name,
            action,
        } => {
            let opts = rdr::Options {
                interface,
                source,
                destination,
                family,
            };
            let action = rdr::Action::parse(&opts, &action)?;
            for r in jk.rdr(&name, &action).map_err(|e| named(e, Some(&name)))? {
                if json {
                    out.json(&r)?;
                } else {
                    out.line(&r.rule)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(status)
}

/// The layout `--thin` or `--thick` asks for, if either.
fn layout_of(thin: bool, thick: bool) -> Option<Layout> {
    if thin {
        Some(Layout::Thin)
    } else if thick {
        Some(Layout::Thick)
    } else {
        None
    }
}

/// Where `--release`, `--from` or `--from-tarball` (at most one of them)
/// says the root comes from: the host's own system when none does.
fn root_source(
    release: Option<String>,
    dir: Option<PathBuf>,
    tarball: Option<PathBuf>,
) -> RootSource {
    match (release, dir, tarball) {
        (_, Some(dir), _) => RootSource::Dir(dir),
        (_, _, Some(file)) => RootSource::Tarball(file),
        (rel, _, _) => RootSource::Release(rel.unwrap_or_else(|| release::HOST.to_string())),
    }
}

/// Run `each` for every jail operand in turn, going on past a failure as
/// jail(8) does: each failure is printed as it happens, named; the status
/// is the first failure's, else the greatest `each` returned. A single
/// jail's failure is the command's error.
fn for_each_jail(
    jk: &Jkit,
    names: &[String],
    mut each: impl FnMut(&str) -> Result<u8>,
) -> Result<u8> {
    let names = jk.operands(names, io::stdin().lock())?;
    let mut status = 0u8;
    let mut failed: Option<u8> = None;
    for name in &names {
        match each(name) {
            Ok(s) => status = status.max(s),
            Err(e) if names.len() == 1 => return Err(e),
            Err(e) => {
                let e = named(e, Some(name));
                eprintln!("jmk: {e}");
                failed.get_or_insert(e.exit_code());
            }
        }
    }
    Ok(failed.unwrap_or(status))
}

/// `jmk destroy` of one jail; with --json, its record as it was, stopped.
fn destroy(jk: &Jkit, out: &mut Output, json: bool, force: bool, name: &str) -> Result<()> {
    let record = json.then(|| jk.status(name).ok()).flatten();
    jk.destroy(name, force)?;
    if let Some(mut jail) = record {
        jail.jid = None;
        jail.state = jkit::model::State::Stopped;
        emit(jk, out, true, &jail)?;
    }
    Ok(())
}

/// `jmk snapshot NAME[@TAG]`, `-l [NAME]`, `-d NAME@TAG`.
fn snapshots(
    jk: &Jkit,
    out: &mut Output,
    json: bool,
    (list, delete): (bool, bool),
    target: Option<&str>,
) -> Result<()> {
    if list {
        let name = target.map(snapshot::split_ref).transpose()?;
        if let Some((_, Some(_))) = name {
            return Err(jkit::Error::Usage(
                "snapshot -l takes a jail name, not NAME@TAG".into(),
            ));
        }
        for r in jk.snapshots(name.map(|(n, _)| n))? {
            if json {
                out.json(&r)?;
            } else {
                let bytes = r.bytes.map_or_else(|| "-".to_string(), |b| b.to_string());
                out.line(&format!(
                    "{}@{}\t{}\t{}\t{bytes}",
                    r.jail, r.tag, r.created, r.kind
                ))?;
            }
        }
        return Ok(());
    }
    let (name, tag) = snapshot::split_ref(target.unwrap_or_default())?;
    if delete {
        let tag = tag.ok_or_else(|| jkit::Error::Usage("snapshot -d needs NAME@TAG".into()))?;
        return jk.delete_snapshot(name, tag);
    }
    let mut bar = progress::Bar::labelled("copying");
    let taken = jk.snapshot(name, tag, &mut |done, total| {
        bar.update(Progress { done, total })
    });
    bar.finish();
    let r = taken?;
    if json {
        out.json(&r)?;
    }
    Ok(())
}

/// `jmk release list|add|remove`.
fn manage_releases(jk: &Jkit, out: &mut Output, json: bool, action: ReleaseAction) -> Result<()> {
    let caps = jk.backend().kind() == jkit::wire::BackendKind::Linux;
    match action {
        ReleaseAction::List => {
            for r in release::list(&jk.paths)? {
                if json {
                    out.json(&r)?;
                } else {
                    out.line(&format!("{}\t{}\t{}", r.name, r.kind, r.path))?;
                }
            }
        }
        ReleaseAction::Add {
            name,
            source,
            debootstrap,
            mirror,
        } => {
            let r = match (source, debootstrap) {
                (_, Some(suite)) => {
                    release::debootstrap(&jk.paths, &name, &suite, mirror.as_deref())?
                }
                (Some(source), None) => {
                    let mut bar = progress::Bar::on_stderr();
                    let added =
                        release::add(&jk.paths, &name, &source, caps, &mut |p| bar.update(p));
                    bar.finish();
                    added?
                }
                (None, None) => {
                    return Err(jkit::error::Error::Usage(
                        "release add: a directory, a tarball or --debootstrap SUITE".into(),
                    ));
                }
            };
            if json {
                out.json(&r)?;
            }
        }
        ReleaseAction::Fetch {
            version,
            mirror,
            arch,
        } => {
            let mirror = mirror
                .or_else(|| std::env::var("JKIT_RELEASE_MIRROR").ok())
                .unwrap_or_else(|| fetch::DEFAULT_MIRROR.to_string());
            let arch = arch.unwrap_or_else(|| fetch::default_arch().to_string());
            let url = fetch::release_url(&mirror, &arch, &version);
            let mut download = progress::Bar::labelled("downloading");
            let mut unpack = progress::Bar::on_stderr();
            let fetched = fetch::fetch(&jk.paths, &version, &url, caps, &mut |f| match f {
                fetch::Fetching::Downloaded(p) => download.update(p),
                fetch::Fetching::Unpacked(p) => unpack.update(p),
            });
            download.finish();
            unpack.finish();
            let r = fetched?;
            if json {
                out.json(&r)?;
            }
        }
        ReleaseAction::Remove { name } => {
            let users = jk.users_of_release(&name)?;
            release::remove(&jk.paths, &name, &users)?;
        }
    }
    Ok(())
}

/// Print a jail's record (with --json).
fn emit(jk: &Jkit, out: &mut Output, json: bool, jail: &Jail) -> Result<()> {
    if json {
        out.json(&JailRecord::of(jail, jk.backend().kind()))?;
    }
    Ok(())
}

/// Print a started jail and turn its command's ending into jmk's status.
fn emit_started(jk: &Jkit, out: &mut Output, json: bool, started: &Started) -> Result<u8> {
    let mut jail = started.jail.clone();
    if !started.alive {
        jail.state = jkit::model::State::Stopped;
        jail.jid = None;
    }
    emit(jk, out, json, &jail)?;
    Ok(started
        .command
        .map_or(0, |c| c.shell_status().clamp(0, 255) as u8))
}
