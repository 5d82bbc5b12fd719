//! The engines on the recording fake backend: jail(8)'s creation and
//! removal sequences in order (section 3.8 of the reference), the undo of
//! a failed creation, the dependency order, destroy's refusals. None of
//! them needs root.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::backend::fake::{Call, Fake};

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn command_swallows_the_rest() {
    let p = parse_params(&s(&["persist", "command=/bin/echo", "a=b", "c"])).unwrap();
    assert!(p.flag("persist"));
    assert_eq!(p.list("command"), ["/bin/echo a=b c"]);
}

#[test]
fn identity_params_are_refused() {
    assert_eq!(parse_params(&s(&["name=x"])).unwrap_err().exit_code(), 64);
    assert_eq!(
        parse_params(&s(&["bogus=1"])).unwrap_err().to_string(),
        "unknown parameter: bogus"
    );
}

/// A directory of one test, removed when the test ends, failed or not.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("jkit-ops-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What a run reported.
#[derive(Debug, Default)]
struct Kept {
    notes: Vec<String>,
    warnings: Vec<String>,
}

impl Report for Kept {
    fn note(&mut self, line: &str) {
        self.notes.push(line.to_string());
    }
    fn warn(&mut self, line: &str) {
        self.warnings.push(line.to_string());
    }
}

/// One test's host: jkit on a fake whose host commands log beside the
/// state, all under a scratch directory.
struct Host {
    fake: Fake,
    jkit: Jkit,
    scratch: Scratch,
}

impl Host {
    fn new(tag: &str) -> Self {
        let scratch = Scratch::new(tag);
        let fake = Fake::with_host_log(scratch.0.join("host.log"));
        let jkit = Jkit::with_backend(Paths::under(&scratch.0), Box::new(fake.clone()));
        Host {
            fake,
            jkit,
            scratch,
        }
    }

    /// A jail root: an existing directory.
    fn root(&self) -> String {
        let root = self.scratch.0.join("root");
        fs::create_dir_all(&root).unwrap();
        root.to_string_lossy().into_owned()
    }

    /// jail(8)'s `op` on `targets` of the configuration `text`.
    fn jail8(&self, op: Op, text: &str, targets: &[&str]) -> (Summary, Kept) {
        self.jail8_with(op, text, targets, Flags::default(), false)
    }

    fn jail8_with(
        &self,
        op: Op,
        text: &str,
        targets: &[&str],
        flags: Flags,
        cleanup: bool,
    ) -> (Summary, Kept) {
        let file = crate::conf::parse_str(text, "t", Path::new("/")).unwrap();
        let req = Request {
            op,
            jails: Jails::Config(Config::of(&file)),
            targets: s(targets),
            flags,
            cleanup,
        };
        let mut kept = Kept::default();
        let summary = self.jkit.jail8(&req, &mut kept);
        (summary, kept)
    }

    /// Jail `name` built by jmk (thick, from a small tree).
    fn build(&self, name: &str) {
        self.build_with(name, &[]);
    }

    /// Jail `name` built by jmk with parameters `params`.
    fn build_with(&self, name: &str, params: &[&str]) {
        let tree = self.scratch.0.join("tree");
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::write(tree.join("etc/rc"), "#!/bin/sh\n").unwrap();
        let req = CreateRequest {
            name: name.to_string(),
            layout: None,
            from: RootSource::Dir(tree),
            params: s(params),
        };
        self.jkit.create(&req, &mut |_| {}).unwrap();
    }

    /// Whether jmk's files of jail `name` are there: its definition, its
    /// directory and its root.
    fn files_of(&self, name: &str) -> [bool; 3] {
        let paths = &self.jkit.paths;
        [
            paths.jail_conf(name).exists(),
            paths.jail_dir(name).exists(),
            paths.jail_root(name).join("etc/rc").exists(),
        ]
    }
}

fn host(line: &str) -> Call {
    Call::Host(line.to_string())
}

fn exec(jail: &str, argv: &[&str]) -> Call {
    Call::Exec(jail.to_string(), s(argv))
}

fn create(jail: &str) -> Call {
    Call::Create(jail.to_string())
}

fn remove(jail: &str) -> Call {
    Call::Remove(jail.to_string())
}

/// The jail `web` with a step of every kind of jail(8)'s creation: a
/// hook, two address aliases, the mounts, the jail, an attached
/// interface, commands in the jail.
fn creating_web(host: &Host) -> String {
    let f = &host.fake;
    format!(
        "web {{
            path = \"{root}\";
            ip4.addr = 10.213.0.1, 10.213.0.2;
            vnet.interface = eth9;
            exec.prepare = \"{prepare}\";
            exec.prestart = \"{prestart1}\", \"{prestart2}\";
            exec.created = \"{created}\";
            exec.start = \"/etc/rc start\";
            command = \"/bin/app --serve\";
            exec.poststart = \"{poststart}\";
            persist;
        }}\n",
        root = host.root(),
        prepare = f.hook("prepare"),
        prestart1 = f.hook("prestart 1"),
        prestart2 = f.hook("prestart 2"),
        created = f.hook("created"),
        poststart = f.hook("poststart"),
    )
}

/// What creating `web` of [`creating_web`] does, in jail(8)'s order:
/// system commands on the host, jail commands in the jail.
fn web_creation() -> Vec<Call> {
    vec![
        host("prepare"),
        host("10.213.0.1 alias"),
        host("10.213.0.2 alias"),
        Call::Mount("web".into()),
        host("prestart 1"),
        host("prestart 2"),
        create("web"),
        host("created"),
        host("eth9 vnet 1"),
        exec("web", &["/etc/rc", "start"]),
        exec("web", &["/bin/app", "--serve"]),
        host("poststart"),
        Call::Settle("web".into()),
    ]
}

#[test]
fn creation_runs_jail8s_steps_in_order() {
    let h = Host::new("create-order");
    let (summary, kept) = h.jail8(Op::Create, &creating_web(&h), &["web"]);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(h.fake.calls(), web_creation());
    assert_eq!(kept.notes, ["web: created"]);
    let started = &summary.created[0].started;
    assert_eq!(started.jail.jid, Some(1));
    assert!(started.alive, "persist keeps it");
    assert_eq!(h.fake.running(), ["web"]);
    assert_eq!(h.fake.mounted(), ["web"]);
}

#[test]
fn a_failed_creation_undoes_what_was_done_last_first() {
    // The undo of each step that has one; the hooks and the commands in
    // the jail have none.
    let undo = |step: &Call| match step {
        Call::Host(l) if l.ends_with(" alias") => Some(host(&l.replace(" alias", " -alias"))),
        Call::Host(l) if l.contains(" vnet ") => Some(host(&l.replace(" vnet ", " -vnet "))),
        Call::Mount(n) => Some(Call::Unmount(n.clone())),
        Call::Create(n) => Some(Call::Remove(n.clone())),
        _ => None,
    };
    let steps = web_creation();
    // Every step but the last, which only lets a jail end by itself.
    for (at, failing) in steps[..steps.len() - 1].iter().enumerate() {
        let h = Host::new(&format!("undo-{at}"));
        h.fake.fail(failing.clone());
        let (summary, kept) = h.jail8(Op::Create, &creating_web(&h), &["web"]);
        let mut expected = steps[..=at].to_vec();
        expected.extend(steps[..at].iter().rev().filter_map(undo));
        assert_eq!(h.fake.calls(), expected, "failing at {failing:?}");
        assert_eq!(summary.status(), 1, "failing at {failing:?}");
        assert!(summary.created.is_empty());
        assert_eq!(kept.warnings.len(), 1, "{:?}", kept.warnings);
        assert!(kept.warnings[0].starts_with("web: "), "{:?}", kept.warnings);
        let jail_made = steps[..at].contains(&create("web"));
        let notes: &[&str] = if jail_made {
            &["web: created", "web: removed"]
        } else {
            &[]
        };
        assert_eq!(kept.notes, notes, "failing at {failing:?}");
        assert!(h.fake.running().is_empty(), "failing at {failing:?}");
        assert!(h.fake.mounted().is_empty(), "failing at {failing:?}");
    }
}

#[test]
fn a_failed_command_in_the_jail_is_reported_in_jail8s_words() {
    let h = Host::new("create-words");
    h.fake.fail(exec("web", &["/etc/rc", "start"]));
    let (summary, kept) = h.jail8(Op::Create, &creating_web(&h), &["web"]);
    assert_eq!(kept.warnings, ["web: /etc/rc start: failed"]);
    assert_eq!(summary.errors[0].to_string(), "web: /etc/rc start: failed");
    assert_eq!(summary.errors[0].exit_code(), 1);
}

#[test]
fn commands_in_the_jail_are_given_exec_fib() {
    let h = Host::new("create-fib");
    let conf = format!(
        "web {{ path = \"{}\"; persist; exec.fib = 2; exec.start = \"/etc/rc\"; }}",
        h.root()
    );
    let (summary, kept) = h.jail8(Op::Create, &conf, &["web"]);
    assert!(summary.errors.is_empty(), "{:?} {kept:?}", summary.errors);
    let calls = h.fake.take_calls();
    let at = calls.iter().position(|c| *c == Call::Fib("web".into(), 2));
    assert_eq!(
        at.map(|i| &calls[i + 1]),
        Some(&exec("web", &["/etc/rc"])),
        "{calls:?}"
    );
}

/// The jail `web` with a step of every kind of jail(8)'s removal.
fn removing_web(host: &Host) -> String {
    let f = &host.fake;
    format!(
        "web {{
            path = \"{root}\";
            ip4.addr = 10.213.0.1, 10.213.0.2;
            exec.prestop = \"{prestop}\";
            exec.stop = \"/etc/rc stop\";
            stop.timeout = 3;
            exec.poststop = \"{poststop}\";
            exec.release = \"{release}\";
            persist;
        }}\n",
        root = host.root(),
        prestop = f.hook("prestop"),
        poststop = f.hook("poststop"),
        release = f.hook("release"),
    )
}

/// What removing `web` of [`removing_web`] does, in jail(8)'s order.
fn web_removal() -> Vec<Call> {
    vec![
        host("prestop"),
        exec("web", &["/etc/rc", "stop"]),
        Call::Terminate("web".into(), Duration::from_secs(3)),
        remove("web"),
        host("poststop"),
        Call::Unmount("web".into()),
        host("10.213.0.2 -alias"),
        host("10.213.0.1 -alias"),
        host("release"),
    ]
}

/// A [`Host`] where `web` of [`removing_web`] runs, its creation's record
/// taken.
fn running_web(tag: &str) -> (Host, String) {
    let h = Host::new(tag);
    let conf = removing_web(&h);
    let (summary, _) = h.jail8(Op::Create, &conf, &["web"]);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    h.fake.take_calls();
    (h, conf)
}

#[test]
fn removal_runs_jail8s_steps_in_order() {
    let (h, conf) = running_web("remove-order");
    let flags = Flags {
        note_remove: true,
        ..Flags::default()
    };
    let (summary, kept) = h.jail8_with(Op::Remove, &conf, &["web"], flags, false);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(h.fake.calls(), web_removal());
    assert_eq!(kept.notes, ["web: removed"]);
    assert!(h.fake.running().is_empty());
    assert!(h.fake.mounted().is_empty());
}

#[test]
fn a_failing_stop_command_leaves_the_jail_running() {
    let (h, conf) = running_web("remove-stop-fails");
    h.fake.fail(exec("web", &["/etc/rc", "stop"]));
    let (summary, kept) = h.jail8(Op::Remove, &conf, &["web"]);
    assert_eq!(h.fake.calls(), web_removal()[..2]);
    assert_eq!(kept.warnings, ["web: /etc/rc stop: failed"]);
    assert_eq!(summary.status(), 1);
    assert_eq!(h.fake.running(), ["web"]);
    assert_eq!(h.fake.mounted(), ["web"]);
}

#[test]
fn once_the_jail_is_gone_every_step_of_removal_is_tried() {
    let (h, conf) = running_web("remove-unmount-fails");
    h.fake.fail(Call::Unmount("web".into()));
    let (summary, kept) = h.jail8(Op::Remove, &conf, &["web"]);
    assert_eq!(h.fake.calls(), web_removal());
    assert_eq!(summary.status(), 1);
    assert_eq!(kept.warnings.len(), 1);
    assert!(kept.warnings[0].contains("Unmount"), "{:?}", kept.warnings);
    assert!(h.fake.running().is_empty());
}

#[test]
fn cleanup_cleans_what_a_killed_start_left_then_runs_what_follows_a_removal() {
    let h = Host::new("cleanup");
    let conf = removing_web(&h);
    let (summary, _) = h.jail8_with(Op::Remove, &conf, &["web"], Flags::default(), true);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let mut expected = vec![Call::Clean("web".into())];
    expected.extend_from_slice(&web_removal()[4..]);
    assert_eq!(h.fake.calls(), expected);
}

#[test]
fn removing_without_the_configuration_runs_no_hooks() {
    let (h, _) = running_web("remove-running");
    let mut kept = Kept::default();
    let summary = h
        .jkit
        .remove_running(&s(&["web"]), Flags::default(), &mut kept);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(
        h.fake.calls(),
        [
            Call::Terminate("web".into(), Duration::from_secs(10)),
            remove("web"),
            Call::Unmount("web".into()),
        ],
        "stop.timeout's default, no hook"
    );
    assert!(h.fake.running().is_empty());
}

/// web needs db and cache, cache needs db; other needs nothing. Each jail
/// logs when it has started and stopped.
fn dependent_jails(host: &Host) -> String {
    format!(
        "path = \"{root}\";
        persist;
        exec.poststart = \"{started}\";
        exec.poststop = \"{stopped}\";
        web {{ depend = db, cache; }}
        db {{ }}
        cache {{ depend = db; }}
        other {{ }}\n",
        root = host.root(),
        started = host.fake.hook("started $name"),
        stopped = host.fake.hook("stopped $name"),
    )
}

/// The creations, removals and host lines of `calls`.
fn milestones(calls: Vec<Call>) -> Vec<Call> {
    calls
        .into_iter()
        .filter(|c| matches!(c, Call::Create(_) | Call::Remove(_) | Call::Host(_)))
        .collect()
}

#[test]
fn dependencies_start_first_and_stop_last() {
    let h = Host::new("depend-order");
    let conf = dependent_jails(&h);
    let (summary, _) = h.jail8(Op::Create, &conf, &["web"]);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(
        milestones(h.fake.take_calls()),
        [
            create("db"),
            host("started db"),
            create("cache"),
            host("started cache"),
            create("web"),
            host("started web"),
        ],
        "each dependency is up, through its poststart, before what needs it"
    );
    assert_eq!(h.fake.running(), ["db", "cache", "web"]);
    let (summary, _) = h.jail8(Op::Remove, &conf, &["db"]);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(
        milestones(h.fake.take_calls()),
        [
            remove("web"),
            host("stopped web"),
            remove("cache"),
            host("stopped cache"),
            remove("db"),
            host("stopped db"),
        ],
        "what needs a jail stops before it"
    );
    assert!(h.fake.running().is_empty());
}

#[test]
fn a_failed_dependency_skips_the_jails_that_need_it() {
    let h = Host::new("depend-fails");
    h.fake.fail(create("db"));
    let (summary, kept) = h.jail8(Op::Create, &dependent_jails(&h), &["web"]);
    let creations: Vec<Call> = h
        .fake
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Create(_)))
        .collect();
    assert_eq!(creations, [create("db")]);
    assert!(h.fake.running().is_empty());
    assert!(h.fake.mounted().is_empty(), "db's mounts undone");
    assert_eq!(kept.warnings.len(), 2, "{:?}", kept.warnings);
    assert!(kept.warnings[0].starts_with("db: "), "{:?}", kept.warnings);
    assert_eq!(
        kept.warnings[1], "web: skipped",
        "cache, pulled in, quietly"
    );
    let errors: Vec<String> = summary.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors[1..], ["cache: skipped", "web: skipped"]);
    assert_eq!(summary.status(), 1);
}

#[test]
fn a_jail_that_fails_to_stop_keeps_what_it_needs_running() {
    let h = Host::new("depend-stop-fails");
    let conf = dependent_jails(&h);
    let (summary, _) = h.jail8(Op::Create, &conf, &["web"]);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    h.fake.take_calls();
    h.fake.fail(remove("web"));
    let (summary, kept) = h.jail8(Op::Remove, &conf, &["db"]);
    let removals: Vec<Call> = h
        .fake
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Remove(_)))
        .collect();
    assert_eq!(removals, [remove("web")]);
    assert_eq!(h.fake.running(), ["db", "cache", "web"]);
    assert_eq!(kept.warnings.len(), 2, "{:?}", kept.warnings);
    assert_eq!(kept.warnings[1], "db: skipped");
    assert_eq!(summary.status(), 1);
}

#[test]
fn destroy_refuses_a_running_jail_without_force() {
    let h = Host::new("destroy-running");
    h.build("web");
    h.jkit.start("web").unwrap();
    h.fake.take_calls();
    let e = h.jkit.destroy("web", false).unwrap_err();
    assert_eq!(e.exit_code(), 75, "{e}");
    assert_eq!(
        e.to_string(),
        "jail \"web\" is running (stop it first, or use -f)"
    );
    assert!(h.fake.calls().is_empty(), "nothing stopped or cleaned");
    assert_eq!(h.fake.running(), ["web"]);
    assert_eq!(h.files_of("web"), [true; 3]);

    h.jkit.destroy("web", true).unwrap();
    assert_eq!(
        h.fake.calls(),
        [
            Call::Terminate("web".into(), Duration::from_secs(10)),
            remove("web"),
            Call::Unmount("web".into()),
            Call::Clean("web".into()),
            Call::ForgetJail("web".into()),
        ]
    );
    assert!(h.fake.running().is_empty());
    assert_eq!(h.files_of("web"), [false; 3]);
}

#[test]
fn clones_are_found_by_their_index_and_clones_made_before_it_by_one_full_read() {
    let h = Host::new("destroy-clone-index");
    h.build("web");
    h.build("db");
    h.jkit.clone_jail("web", "copy").unwrap();
    h.jkit.clone_jail("copy", "copy2").unwrap();
    let clones = h.jkit.paths.clones_dir();
    // An install whose clones predate the index: the first destroy reads
    // every build record, refuses, and indexes them.
    std::fs::remove_dir_all(&clones).unwrap();
    let refused = |name: &str, clone: &str| {
        let e = h.jkit.destroy(name, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("jail \"{name}\" has clones ({clone}): destroy them first")
        );
    };
    refused("web", "copy");
    assert!(clones.join(".indexed").exists());
    assert!(std::fs::symlink_metadata(clones.join("copy/copy2")).is_ok());
    // From the index alone: a link whose jail is no clone of the source
    // (a name a killed clone left, given to another jail since) does not
    // hold the source; a clone's destroy removes its link.
    std::os::unix::fs::symlink("db", clones.join("web/db")).unwrap();
    refused("copy", "copy2");
    h.jkit.destroy("copy2", false).unwrap();
    assert!(!clones.join("copy").exists());
    refused("web", "copy");
    h.jkit.destroy("copy", false).unwrap();
    h.jkit.destroy("web", false).unwrap();
    h.jkit.destroy("db", false).unwrap();
}

#[test]
fn destroy_refuses_a_jail_with_clones_even_with_force() {
    let h = Host::new("destroy-clones");
    h.build("web");
    h.jkit.clone_jail("web", "copy").unwrap();
    h.jkit.start("web").unwrap();
    h.fake.take_calls();
    for force in [false, true] {
        let e = h.jkit.destroy("web", force).unwrap_err();
        assert_eq!(e.exit_code(), 75, "{e}");
        assert_eq!(
            e.to_string(),
            "jail \"web\" has clones (copy): destroy them first"
        );
        assert!(
            h.fake.calls().is_empty(),
            "force {force}: nothing stopped or cleaned"
        );
        assert_eq!(h.fake.running(), ["web"]);
        assert_eq!(h.files_of("web"), [true; 3]);
    }
    h.jkit.destroy("copy", false).unwrap();
    h.jkit.destroy("web", true).unwrap();
    assert_eq!(h.files_of("web"), [false; 3]);
}

#[test]
fn destroy_refuses_a_jail_that_does_not_exist() {
    let h = Host::new("destroy-missing");
    h.build("web");
    let e = h.jkit.destroy("nosuch", true).unwrap_err();
    assert_eq!(e.exit_code(), 66, "{e}");
    assert_eq!(e.to_string(), "jail \"nosuch\" not found");
    let e = h.jkit.destroy("../web", true).unwrap_err();
    assert_eq!(e.exit_code(), 64, "{e}");
    assert!(h.fake.calls().is_empty());
    assert_eq!(h.files_of("web"), [true; 3]);
}

fn redirect(jail: &str, lines: &[&str]) -> Call {
    Call::Redirect(jail.to_string(), s(lines))
}

fn redirects(calls: Vec<Call>) -> Vec<Call> {
    calls
        .into_iter()
        .filter(|c| matches!(c, Call::Redirect(..)))
        .collect()
}

#[test]
fn forwarding_is_applied_at_start_at_once_while_running_and_dropped_at_stop() {
    use crate::model::rdr::{Action, Proto};
    let h = Host::new("rdr");
    h.build_with(
        "web",
        &["persist", "ip4.addr=10.213.0.5", "ip6.addr=fd00:213::5"],
    );
    h.build_with("db", &["persist", "ip4.addr=10.213.0.6"]);
    let rdr =
        |jail: &str, words: &[&str]| h.jkit.rdr(jail, &Action::parse_words(&s(words)).unwrap());
    rdr("web", &["tcp", "8080", "80"]).unwrap();
    assert!(
        h.fake.take_calls().is_empty(),
        "a stopped jail's rules are only kept"
    );

    h.jkit.start("web").unwrap();
    let calls = h.fake.take_calls();
    let at = |c: &Call| calls.iter().position(|x| x == c).unwrap();
    let applied = redirect(
        "web",
        &["dual any any any tcp 8080 80 -> 10.213.0.5,fd00:213::5"],
    );
    assert!(at(&create("web")) < at(&applied) && at(&applied) < at(&Call::Settle("web".into())));

    rdr("web", &["-t", "ipv4", "udp", "53", "5353"]).unwrap();
    assert_eq!(
        h.fake.take_calls(),
        [redirect(
            "web",
            &[
                "dual any any any tcp 8080 80 -> 10.213.0.5,fd00:213::5",
                "ipv4 any any any udp 53 5353 -> 10.213.0.5"
            ]
        )]
    );

    // Refused: each one line, nothing applied or kept.
    h.fake.listen(Proto::Tcp, 9000, "nginx (pid 7)");
    let refused: [(&str, &[&str], u8, &str); 4] = [
        (
            "db",
            &["tcp", "9000", "80"],
            73,
            "tcp port 9000 is in use on the host by nginx (pid 7)",
        ),
        (
            "db",
            &["tcp", "8000:8080", "80"],
            73,
            "host port tcp/8000:8080 is already forwarded to jail \"web\" (dual any any any tcp 8080 80)",
        ),
        (
            "db",
            &["-t", "ipv6", "tcp", "81", "80"],
            78,
            "jail \"db\" has no IPv6 address (ip6.addr) to forward tcp/81 to",
        ),
        (
            "web",
            &["rm", "tcp", "81"],
            66,
            "jail \"web\" forwards no host port tcp/81",
        ),
    ];
    for (jail, words, code, msg) in refused {
        let e = rdr(jail, words).unwrap_err();
        assert_eq!((e.exit_code(), e.to_string().as_str()), (code, msg));
    }
    assert!(h.fake.take_calls().is_empty());
    assert!(!h.jkit.paths.rdr_file("db").exists());

    // A start whose rule a host process listens on creates nothing.
    fs::write(
        h.jkit.paths.rdr_file("db"),
        "dual any any any tcp 9000 80\n",
    )
    .unwrap();
    let e = h.jkit.start("db").unwrap_err();
    assert_eq!(
        e.to_string(),
        "db: tcp port 9000 is in use on the host by nginx (pid 7)"
    );
    assert!(h.fake.take_calls().is_empty(), "nothing done");
    fs::remove_file(h.jkit.paths.rdr_file("db")).unwrap();

    let listed = rdr("web", &["list"]).unwrap();
    assert_eq!(listed[1].to, ["10.213.0.5"]);
    h.jkit.stop("web").unwrap();
    let calls = h.fake.take_calls();
    let at = |c: &Call| calls.iter().position(|x| x == c).unwrap();
    assert!(at(&remove("web")) < at(&redirect("web", &[])), "{calls:?}");

    // A start that fails after forwarding drops it again.
    h.fake.fail(Call::Settle("web".into()));
    h.jkit.start("web").unwrap_err();
    assert_eq!(
        redirects(h.fake.take_calls()),
        [
            redirect(
                "web",
                &[
                    "dual any any any tcp 8080 80 -> 10.213.0.5,fd00:213::5",
                    "ipv4 any any any udp 53 5353 -> 10.213.0.5"
                ]
            ),
            redirect("web", &[]),
        ]
    );
    rdr("web", &["clear"]).unwrap();
    assert!(!h.jkit.paths.rdr_file("web").exists());
}

#[test]
fn two_blocks_of_one_name_are_two_jails_of_which_the_first_is_made() {
    let h = Host::new("one-name");
    let block = |hook: &str| {
        format!(
            "w {{ path = \"{}\"; persist; exec.start = \"/bin/{hook}\"; }}\n",
            h.root()
        )
    };
    let conf = format!("{}{}", block("first"), block("second"));
    let (summary, kept) = h.jail8(Op::Create, &conf, &[]);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    // The second block's jail runs already: passed over, as jail(8)
    // passes over a running jail of "all".
    assert_eq!(
        milestones_and_commands(h.fake.take_calls()),
        [create("w"), exec("w", &["/bin/first"])]
    );
    assert_eq!(kept.notes, ["w: created"]);
    // Named, the first is the jail of that name.
    let (summary, _) = h.jail8(Op::Remove, &conf, &["w"]);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let (summary, _) = h.jail8(Op::Create, &conf, &["w"]);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(
        milestones_and_commands(h.fake.take_calls()),
        [remove("w"), create("w"), exec("w", &["/bin/first"])]
    );
}

/// The creations, removals and commands run in jails of `calls`.
fn milestones_and_commands(calls: Vec<Call>) -> Vec<Call> {
    calls
        .into_iter()
        .filter(|c| matches!(c, Call::Create(_) | Call::Remove(_) | Call::Exec(..)))
        .collect()
}

#[test]
fn command_runs_each_value_of_a_configuration_but_one_argv_of_the_command_line() {
    let h = Host::new("command-values");
    let conf = format!(
        "web {{ path = \"{}\"; persist; command = \"/bin/app --serve\", \"echo two > /x\"; }}\n",
        h.root()
    );
    let (summary, _) = h.jail8(Op::Create, &conf, &["web"]);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(
        milestones_and_commands(h.fake.take_calls()),
        [
            create("web"),
            exec("web", &["/bin/app", "--serve"]),
            exec("web", &["/bin/sh", "-c", "echo two > /x"]),
        ]
    );
    let path = format!("path={}", h.root());
    let jail =
        Config::command_line(&s(&["name=t", &path, "command=/bin/echo", "a b", "&"])).unwrap();
    let req = Request {
        op: Op::Create,
        jails: Jails::CommandLine(jail),
        targets: Vec::new(),
        flags: Flags::default(),
        cleanup: false,
    };
    let summary = h.jkit.jail8(&req, &mut Kept::default());
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(
        milestones_and_commands(h.fake.take_calls()),
        [create("t"), exec("t", &["/bin/echo", "a b", "&"])]
    );
}

#[test]
fn every_jails_failures_are_warned_before_the_run_and_only_then() {
    let h = Host::new("load-warnings");
    let conf = format!(
        "path = \"{}\"; persist;\n\
         a {{ host.hostname = \"$x\"; exec.start = \"/bin/$y\"; }}\n\
         b {{ }}\n\
         c {{ depend = nowhere; }}\n\
         d {{ depend = e; }}\n\
         e {{ depend = d; }}\n",
        h.root()
    );
    let before = [
        "t line 2 column 22: a: host.hostname: variable \"x\" not found",
        "t line 2 column 46: a: exec.start: variable \"y\" not found",
        "c: depends on undefined jail \"nowhere\"",
        "d: dependency loop",
    ];
    // b alone: every jail's failures are told, and b is made.
    let (summary, kept) = h.jail8(Op::Create, &conf, &["b"]);
    assert_eq!(kept.warnings, before);
    assert_eq!(kept.notes, ["b: created"]);
    assert_eq!(summary.status(), 0);
    // A failed jail, named, fails without a second message.
    let (summary, kept) = h.jail8(Op::Remove, &conf, &["a", "c", "b"]);
    assert_eq!(kept.warnings, before);
    assert!(h.fake.running().is_empty(), "b removed");
    assert_eq!(summary.errors.len(), 2, "{:?}", summary.errors);
    assert_eq!(summary.status(), 1);
}

#[test]
fn removing_a_jail_by_its_jid_runs_the_configurations_hooks() {
    let h = Host::new("remove-by-jid");
    let conf = format!(
        "web {{ path = \"{}\"; persist; exec.prestop = \"{}\"; exec.poststop = \"{}\"; }}\n",
        h.root(),
        h.fake.hook("prestop"),
        h.fake.hook("poststop"),
    );
    let (summary, _) = h.jail8(Op::Create, &conf, &["web"]);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    h.fake.take_calls();
    let (summary, kept) = h.jail8(Op::Remove, &conf, &["1"]);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(
        milestones(h.fake.take_calls()),
        [host("prestop"), remove("web"), host("poststop")]
    );
    assert!(kept.warnings.is_empty(), "{:?}", kept.warnings);
    assert!(h.fake.running().is_empty());
}
