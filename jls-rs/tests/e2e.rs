//! jls-rs against real jails of the Linux backend: the section-6 fixture
//! (web, db, and q for quoting) defined in the config dir and started, then
//! every sample compared byte for byte, first without addresses, then with
//! the fixture's addresses (moved into the project's own networks) on a
//! bridge of the test's own; paths are under the test's own directory
//! instead of /jails.

use jkit::model::{Jail, Params, State, Value};
use jkit_tests::{TestEnv, require_root};

fn define(env: &TestEnv, name: &str, host: &str, extra: &[(&str, &str)]) {
    define_with(env, name, host, |p| {
        for (n, v) in extra {
            p.set(n, Value::Str(v.to_string()));
        }
    });
}

/// Write the definition of a persistent jail `name` with its root under
/// the test's directory, hostname `host`, and what `more` sets.
fn define_with(env: &TestEnv, name: &str, host: &str, more: impl FnOnce(&mut Params)) {
    let root = env.base.join("jails").join(name);
    std::fs::create_dir_all(&root).unwrap();
    let mut p = Params::new();
    p.set("path", Value::Str(root.display().to_string()));
    p.set("host.hostname", Value::Str(host.into()));
    p.set("persist", Value::Bool(true));
    more(&mut p);
    let def = Jail {
        name: name.into(),
        jid: None,
        state: State::Stopped,
        params: p,
    };
    std::fs::create_dir_all(&env.paths.conf_dir).unwrap();
    std::fs::write(env.paths.jail_conf(name), jkit::conf::write_jail(&def)).unwrap();
}

fn jls(env: &TestEnv, args: &[&str]) -> (String, String, i32) {
    env.run("jls-rs", args).parts()
}

/// jls-rs over a fixture, its samples' `{root}` being the fixture's.
struct Listing<'a> {
    env: &'a TestEnv,
    root: String,
}

impl<'a> Listing<'a> {
    fn of(env: &'a TestEnv) -> Self {
        let root = env.base.join("jails").display().to_string();
        Listing { env, root }
    }

    /// jls-rs with `args` prints `expected` and nothing else, and succeeds.
    fn ok(&self, args: &[&str], expected: &str) {
        let expected = expected.replace("{root}", &self.root);
        let (out, err, code) = jls(self.env, args);
        assert_eq!(
            (out.as_str(), err.as_str(), code),
            (expected.as_str(), "", 0),
            "jls {args:?}"
        );
    }
}

/// The fixture, running: web (jid 1), db (2), q (3); mail only defined.
fn fixture(tag: &str) -> TestEnv {
    let env = TestEnv::new(tag);
    define(&env, "web", "web.example.org", &[]);
    define(&env, "db", "db.example.org", &[]);
    define(&env, "q", "it's here", &[("host.domainname", "say \"hi\"")]);
    define(&env, "mail", "mail.example.org", &[]);
    let jk = env.jkit();
    for name in ["web", "db", "q"] {
        let started = jk
            .start(name)
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        assert!(started.alive, "{name} is persistent");
    }
    env
}

#[test]
fn section_6_samples_on_linux_jails() {
    require_root!();
    let env = fixture("jls-e2e");
    let l = Listing::of(&env);
    default_and_verbose_samples(&l);
    parameter_samples(&l);
    quoting_samples(&l);
    libxo_samples(&l);
}

/// 6.1 to 6.3: the default and verbose tables.
fn default_and_verbose_samples(l: &Listing) {
    l.ok(
        &[],
        "   JID  IP Address      Hostname                      Path
     1                  web.example.org               {root}/web
     2                  db.example.org                {root}/db
     3                  it's here                     {root}/q
",
    );
    l.ok(
        &["-N"],
        " JID             IP Address      Hostname                      Path
 web                             web.example.org               {root}/web
 db                              db.example.org                {root}/db
 q                               it's here                     {root}/q
",
    );
    // 6.3 (Linux reports cpuset.id 0 and no addresses)
    l.ok(
        &["-v", "-j", "web"],
        "   JID  Hostname                      Path
        Name                          State
        CPUSetID
        IP Address(es)
     1  web.example.org               {root}/web
        web                           ACTIVE
        0
",
    );
}

/// 6.4 to 6.7: parameters by name, and a jail that is not there.
fn parameter_samples(l: &Listing) {
    // 6.4, 6.5, 6.6
    let nameval = "name=web host.hostname=web.example.org path={root}/web persist
name=db host.hostname=db.example.org path={root}/db persist
name=q host.hostname=it's here path={root}/q persist
";
    l.ok(&["-n", "name", "host.hostname", "path", "persist"], nameval);
    l.ok(
        &["-s", "name", "host.hostname", "path", "persist"],
        &nameval.replace("it's here", "\"it's here\""),
    );
    l.ok(&["-s", "ip4.addr", "ip6.addr"], "\n\n\n");
    l.ok(
        &["-q", "name", "host.hostname"],
        "web web.example.org\ndb db.example.org\nq \"it's here\"\n",
    );
    // 6.7
    l.ok(
        &["-h", "jid", "name", "host.hostname"],
        "jid name host.hostname\n1 web web.example.org\n2 db db.example.org\n3 q it's here\n",
    );
    l.ok(
        &["-hn", "-j", "db", "jid", "name", "ip4.addr"],
        "jid name ip4.addr\njid=2 name=db ip4.addr=\n",
    );
    l.ok(&["-j", "web", "jid", "ip4.addr", "ip6.addr"], "1 - -\n");
    l.ok(
        &["-q", "-j", "web", "jid", "ip4.addr", "ip6.addr"],
        "1 \"\" \"\"\n",
    );
    l.ok(
        &["-nq", "-j", "web", "jid", "ip4.addr", "ip6.addr"],
        "jid=1 ip4.addr=\"\" ip6.addr=\"\"\n",
    );
    l.ok(&["-n", "-j1", "jid", "ip6.addr"], "jid=1 ip6.addr=\n");
    l.ok(
        &["-j", "web"],
        "   JID  IP Address      Hostname                      Path
     1                  web.example.org               {root}/web
",
    );
    let (out, err, code) = jls(l.env, &["-j", "nosuch"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        (
            "   JID  IP Address      Hostname                      Path\n",
            "jls: jail \"nosuch\" not found\n",
            1
        )
    );
}

/// Values that need quoting.
fn quoting_samples(l: &Listing) {
    let q = [
        "-j",
        "q",
        "name",
        "host.hostname",
        "host.domainname",
        "ip4.addr",
        "ip6.addr",
    ];
    l.ok(&q, "q it's here say \"hi\" - -\n");
    l.ok(
        &[&["-q"][..], &q].concat(),
        "q \"it's here\" 'say \"hi\"' \"\" \"\"\n",
    );
    l.ok(
        &["-j", "q", "-n", "name", "host.hostname", "ip4.addr"],
        "name=q host.hostname=it's here ip4.addr=\n",
    );
    l.ok(&["-j", "web", "name", "host.domainname"], "web \"\"\n");
}

/// 6.8: libxo's JSON and XML.
fn libxo_samples(l: &Listing) {
    l.ok(
        &["--libxo", "json", "-j", "web"],
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": [{\"jid\":1,\"ipv4\":\"\",\"hostname\":\"web.example.org\",\"path\":\"{root}/web\"}]}}\n",
    );
    l.ok(
        &["-N", "--libxo", "json", "-j", "db"],
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": [{\"name\":\"db\",\"ipv4\":\"\",\"hostname\":\"db.example.org\",\"path\":\"{root}/db\"}]}}\n",
    );
    l.ok(
        &["-v", "--libxo", "json", "-j", "web"],
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": [{\"jid\":1,\"hostname\":\"web.example.org\",\"path\":\"{root}/web\",\"name\":\"web\",\"state\":\"ACTIVE\",\"cpusetid\":0, \"ipv4_addrs\": [], \"ipv6_addrs\": []}]}}\n",
    );
    l.ok(
        &["-n", "name", "ip4.addr", "persist", "--libxo", "json"],
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": [{\"name\":\"web\", \"ip4.addr\": [],\"persist\":true}, {\"name\":\"db\", \"ip4.addr\": [],\"persist\":true}, {\"name\":\"q\", \"ip4.addr\": [],\"persist\":true}]}}\n",
    );
    l.ok(
        &["-j", "web", "jid", "name", "persist", "--libxo", "json"],
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": [{\"jid\":\"1\",\"name\":\"web\",\"persist\":\"true\"}]}}\n",
    );
    l.ok(
        &["--libxo", "xml", "-j", "web"],
        "<jail-information version=\"2\"><jail><jid>1</jid><ipv4></ipv4><hostname>web.example.org</hostname><path>{root}/web</path></jail></jail-information>",
    );
}

#[test]
fn json_lines_check_and_defined_on_linux_jails() {
    require_root!();
    let env = fixture("jls-e2e-json");
    let root = env.base.join("jails").display().to_string();

    json_samples(&env, &root);
    check_and_defined_samples(&env, &root);
}

/// --json: one record per line, every parameter in `params`.
fn json_samples(env: &TestEnv, root: &str) {
    let (out, err, code) = jls(env, &["--json"]);
    assert_eq!((err.as_str(), code), ("", 0));
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    for (r, (jid, name, host)) in records.iter().zip([
        (1, "web", "web.example.org"),
        (2, "db", "db.example.org"),
        (3, "q", "it's here"),
    ]) {
        assert_eq!(r["jid"], jid);
        assert_eq!(r["name"], name);
        assert_eq!(r["hostname"], host);
        assert_eq!(r["path"], format!("{root}/{name}"));
        assert_eq!(
            (&r["state"], &r["backend"]),
            (&"running".into(), &"linux".into())
        );
        assert_eq!(r["params"]["persist"], true);
        assert!(r["params"].get("securelevel").is_some(), "{r}");
    }
    // With names, `params` holds just those.
    let (out, _, _) = jls(
        env,
        &["--json", "-j", "web", "name", "persist", "host.domainname"],
    );
    assert_eq!(
        out,
        format!(
            "{{\"jid\":1,\"name\":\"web\",\"path\":\"{root}/web\",\"hostname\":\"web.example.org\",\"ip4\":[],\"ip6\":[],\
             \"state\":\"running\",\"backend\":\"linux\",\"params\":{{\"host.domainname\":\"\",\"persist\":true}}}}\n"
        )
    );
}

/// -c (the exit status only) and --defined (stopped jails too).
fn check_and_defined_samples(env: &TestEnv, root: &str) {
    // -c: exit status only.
    assert_eq!(
        jls(env, &["-c", "-j", "web"]),
        (String::new(), String::new(), 0)
    );
    assert_eq!(
        jls(env, &["-c", "-j", "2"]),
        (String::new(), String::new(), 0)
    );
    assert_eq!(
        jls(env, &["-c", "-j", "mail"]),
        (String::new(), String::new(), 1)
    );

    // --defined: mail is defined but not running.
    let (out, _, code) = jls(env, &["--defined", "-N"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().last().unwrap(),
        " mail                            mail.example.org              ".to_string()
            + &format!("{root}/mail")
    );
    let (out, _, _) = jls(
        env,
        &["--defined", "--json", "-j", "mail", "name", "persist"],
    );
    assert_eq!(
        out,
        format!(
            "{{\"jid\":null,\"name\":\"mail\",\"path\":\"{root}/mail\",\"hostname\":\"mail.example.org\",\"ip4\":[],\"ip6\":[],\
             \"state\":\"stopped\",\"backend\":\"linux\",\"params\":{{\"persist\":true}}}}\n"
        )
    );
    let (out, _, _) = jls(env, &["--defined", "name", "jid"]);
    assert_eq!(out, "web 1\ndb 2\nq 3\nmail -\n");
    // Stopping a jail makes it disappear from the plain listing.
    env.jkit().stop("db").unwrap();
    let (out, _, _) = jls(env, &["name"]);
    assert_eq!(out, "web\nq\n");
}

/// The section-6 fixture with its addresses, on real Linux jails: web
/// 10.213.8.10, db 10.213.8.20 and .21, q fd00:213:8::5 (the samples'
/// 10.0.0.x and 2001:db8::5 moved into the project's own networks, same
/// widths), on a bridge of the test's own.
#[test]
fn section_6_address_samples_on_linux_jails() {
    require_root!();
    let env = TestEnv::new("jls-e2e-addr");
    start_address_fixture(&env);
    let l = Listing::of(&env);
    address_default_and_verbose_samples(&l);
    address_parameter_samples(&l);
    address_libxo_and_json_samples(&l);
}

/// Define and start the fixture with its addresses.
fn start_address_fixture(env: &TestEnv) {
    let bridge = env.net_name("j");
    let fixture: [(&str, &str, &[&str], &[&str]); 3] = [
        ("web", "web.example.org", &["10.213.8.10"], &[]),
        ("db", "db.example.org", &["10.213.8.20", "10.213.8.21"], &[]),
        ("q", "it's here", &[], &["fd00:213:8::5"]),
    ];
    let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for (name, host, v4, v6) in fixture {
        define_with(env, name, host, |p| {
            if name == "q" {
                p.set("host.domainname", Value::Str("say \"hi\"".into()));
            }
            if !v4.is_empty() {
                p.set("ip4.addr", Value::Ip4(list(v4)));
            }
            if !v6.is_empty() {
                p.set("ip6.addr", Value::Ip6(list(v6)));
            }
            p.set("jkit.bridge", Value::Str(bridge.clone()));
            p.set(
                "jkit.gateway",
                Value::List(list(&["10.213.8.1/24", "fd00:213:8::1/64"])),
            );
        });
        let started = env
            .jkit()
            .start(name)
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        assert!(started.alive);
    }
}

/// 6.1 to 6.3 with addresses.
fn address_default_and_verbose_samples(l: &Listing) {
    l.ok(
        &[],
        "   JID  IP Address      Hostname                      Path
     1  10.213.8.10     web.example.org               {root}/web
     2  10.213.8.20     db.example.org                {root}/db
     3                  it's here                     {root}/q
",
    );
    l.ok(
        &["-N", "-j", "web"],
        " JID             IP Address      Hostname                      Path
 web             10.213.8.10     web.example.org               {root}/web
",
    );
    // 6.3: the IPv4 lines, then the IPv6 ones
    l.ok(
        &["-v", "-j", "db"],
        "   JID  Hostname                      Path
        Name                          State
        CPUSetID
        IP Address(es)
     2  db.example.org                {root}/db
        db                            ACTIVE
        0
        10.213.8.20
        10.213.8.21
",
    );
    l.ok(
        &["-v", "-j", "q"],
        "   JID  Hostname                      Path
        Name                          State
        CPUSetID
        IP Address(es)
     3  it's here                     {root}/q
        q                             ACTIVE
        0
        fd00:213:8::5
",
    );
}

/// 6.4 to 6.7 with addresses.
fn address_parameter_samples(l: &Listing) {
    // 6.4, 6.5: ip6.addr skipped where ip6=disable, ip4.addr where ip4=disable
    l.ok(
        &["-n", "-j", "db", "name", "ip4.addr", "persist"],
        "name=db ip4.addr=10.213.8.20,10.213.8.21 persist\n",
    );
    l.ok(
        &["-s", "ip4.addr", "ip6.addr"],
        "ip4.addr=10.213.8.10\nip4.addr=10.213.8.20,10.213.8.21\nip6.addr=fd00:213:8::5\n",
    );
    // 6.7
    l.ok(
        &["-hn", "-j", "db", "jid", "name", "ip4.addr"],
        "jid name ip4.addr\njid=2 name=db ip4.addr=10.213.8.20,10.213.8.21\n",
    );
    l.ok(
        &["jid", "ip4.addr", "ip6.addr"],
        "1 10.213.8.10 -\n2 10.213.8.20,10.213.8.21 -\n3 - fd00:213:8::5\n",
    );
    l.ok(
        &["-q", "jid", "ip4.addr", "ip6.addr"],
        "1 10.213.8.10 \"\"\n2 10.213.8.20,10.213.8.21 \"\"\n3 \"\" fd00:213:8::5\n",
    );
    l.ok(
        &["-nq", "-j", "web", "jid", "ip4.addr", "ip6.addr"],
        "jid=1 ip4.addr=10.213.8.10 ip6.addr=\"\"\n",
    );
    l.ok(
        &[
            "-j",
            "q",
            "-q",
            "name",
            "host.hostname",
            "host.domainname",
            "ip4.addr",
            "ip6.addr",
        ],
        "q \"it's here\" 'say \"hi\"' \"\" fd00:213:8::5\n",
    );
}

/// 6.8 with addresses, and the bare addresses of --json.
fn address_libxo_and_json_samples(l: &Listing) {
    l.ok(
        &["--libxo", "json", "-j", "web"],
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": [{\"jid\":1,\"ipv4\":\"10.213.8.10\",\"hostname\":\"web.example.org\",\"path\":\"{root}/web\"}]}}\n",
    );
    l.ok(
        &["-v", "--libxo", "json", "-j", "db"],
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": [{\"jid\":2,\"hostname\":\"db.example.org\",\"path\":\"{root}/db\",\"name\":\"db\",\"state\":\"ACTIVE\",\"cpusetid\":0, \"ipv4_addrs\": [\"10.213.8.20\",\"10.213.8.21\"], \"ipv6_addrs\": []}]}}\n",
    );
    l.ok(
        &[
            "-n", "-j", "db", "name", "ip4.addr", "persist", "--libxo", "json",
        ],
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": [{\"name\":\"db\", \"ip4.addr\": [\"10.213.8.20\",\"10.213.8.21\"],\"persist\":true}]}}\n",
    );
    l.ok(
        &["--libxo", "xml", "-j", "web"],
        "<jail-information version=\"2\"><jail><jid>1</jid><ipv4>10.213.8.10</ipv4><hostname>web.example.org</hostname><path>{root}/web</path></jail></jail-information>",
    );
    // --json records carry the bare addresses.
    let (out, _, _) = jls(l.env, &["--json", "-j", "db", "name"]);
    let rec: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        rec["ip4"],
        serde_json::json!(["10.213.8.20", "10.213.8.21"])
    );
    assert_eq!(rec["ip6"], serde_json::json!([]));
}
