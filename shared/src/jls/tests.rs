//! Every sample of the reference's section 6, byte for byte, from the
//! fixture jails web, db (and q for quoting), plus the flag rules.

use super::*;
use crate::backend::fake::Fake;
use crate::model::{JailSys, Params};
use crate::wire::JailRecord;

fn jail(
    jid: i64,
    name: &str,
    host: &str,
    ip4: &[&str],
    ip6: &[&str],
    cpuset: i64,
    persist: bool,
) -> Jail {
    let mut p = Params::new();
    p.set("jid", Value::Int(jid));
    p.set("name", Value::Str(name.into()));
    p.set("path", Value::Str(format!("/jails/{name}")));
    p.set("host", Value::Sys(JailSys::New));
    p.set("host.hostname", Value::Str(host.into()));
    p.set(
        "ip4",
        Value::Sys(if ip4.is_empty() {
            JailSys::Disable
        } else {
            JailSys::New
        }),
    );
    p.set(
        "ip4.addr",
        Value::Ip4(ip4.iter().map(|s| s.to_string()).collect()),
    );
    p.set(
        "ip6",
        Value::Sys(if ip6.is_empty() {
            JailSys::Disable
        } else {
            JailSys::New
        }),
    );
    p.set(
        "ip6.addr",
        Value::Ip6(ip6.iter().map(|s| s.to_string()).collect()),
    );
    p.set("cpuset.id", Value::Int(cpuset));
    p.set("persist", Value::Bool(persist));
    Jail {
        name: name.into(),
        jid: Some(jid),
        state: State::Running,
        params: p,
    }
}

/// web and db of section 6.
fn fixture() -> Vec<Jail> {
    vec![
        jail(1, "web", "web.example.org", &["10.0.0.10"], &[], 2, true),
        jail(
            2,
            "db",
            "db.example.org",
            &["10.0.0.20", "10.0.0.21"],
            &[],
            3,
            true,
        ),
    ]
}

/// web, db and the quoting illustration's q.
fn fixture_q() -> Vec<Jail> {
    let mut q = jail(3, "q", "it's here", &[], &["2001:db8::5"], 4, false);
    q.params
        .set("host.domainname", Value::Str("say \"hi\"".into()));
    let mut all = fixture();
    all.push(q);
    all
}

/// The options of a jls command line (getopt: flags until the first
/// operand, `-j` with its value attached or next, `--libxo X`).
fn opts(args: &[&str]) -> Options {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if *a == "--libxo" {
            o.libxo.apply(it.next().unwrap()).unwrap();
        } else if *a == "--json" {
            o.json = true;
        } else if *a == "--defined" {
            o.defined = true;
        } else if let Some(flags) = a
            .strip_prefix('-')
            .filter(|f| !f.is_empty() && o.params.is_empty())
        {
            for (i, c) in flags.char_indices() {
                if c == 'j' {
                    let rest = &flags[i + 1..];
                    o.select(if rest.is_empty() {
                        it.next().unwrap()
                    } else {
                        rest
                    });
                    break;
                }
                assert!(o.flag(c), "flag {c}");
            }
        } else {
            o.params.push(a.to_string());
        }
    }
    o
}

/// Run `jls ARGS` against `jails`: (stdout, error message, exit status).
fn jls_on(jails: Vec<Jail>, defined: Vec<Jail>, args: &[&str]) -> (String, Option<String>, u8) {
    let o = opts(args);
    let backend = Fake::with_jails(jails);
    let mut out = Vec::new();
    let r = run(
        &o,
        BackendKind::Linux,
        |each| fetch(&o, &backend, || (defined, None), each),
        &mut out,
    );
    let out = String::from_utf8(out).unwrap();
    match r {
        Ok(code) => (out, None, code),
        Err(e) => (out, Some(e.to_string()), e.exit_code()),
    }
}

fn jls(args: &[&str]) -> String {
    let (out, err, code) = jls_on(fixture(), vec![], args);
    assert_eq!((err, code), (None, 0), "{args:?}");
    out
}

fn jls_q(args: &[&str]) -> String {
    let (out, err, code) = jls_on(fixture_q(), vec![], args);
    assert_eq!((err, code), (None, 0), "{args:?}");
    out
}

#[test]
fn s6_1_default_table() {
    assert_eq!(
        jls(&[]),
        "   JID  IP Address      Hostname                      Path\n\
         \x20    1  10.0.0.10       web.example.org               /jails/web\n\
         \x20    2  10.0.0.20       db.example.org                /jails/db\n"
    );
}

#[test]
fn s6_2_names() {
    assert_eq!(
        jls(&["-N"]),
        " JID             IP Address      Hostname                      Path\n \
         web             10.0.0.10       web.example.org               /jails/web\n \
         db              10.0.0.20       db.example.org                /jails/db\n"
    );
}

#[test]
fn s6_3_verbose() {
    assert_eq!(
        jls(&["-v"]),
        "   JID  Hostname                      Path
        Name                          State
        CPUSetID
        IP Address(es)
     1  web.example.org               /jails/web
        web                           ACTIVE
        2
        10.0.0.10
     2  db.example.org                /jails/db
        db                            ACTIVE
        3
        10.0.0.20
        10.0.0.21
"
    );
}

const NAMEVAL: &str =
    "name=web host.hostname=web.example.org path=/jails/web ip4.addr=10.0.0.10 persist
name=db host.hostname=db.example.org path=/jails/db ip4.addr=10.0.0.20,10.0.0.21 persist
";

#[test]
fn s6_4_nameval() {
    assert_eq!(
        jls(&["-n", "name", "host.hostname", "path", "ip4.addr", "persist"]),
        NAMEVAL
    );
}

#[test]
fn s6_5_skip() {
    assert_eq!(
        jls(&["-s", "name", "host.hostname", "path", "ip4.addr", "persist"]),
        NAMEVAL
    );
    assert_eq!(
        jls(&["-s", "ip4.addr", "ip6.addr"]),
        "ip4.addr=10.0.0.10\nip4.addr=10.0.0.20,10.0.0.21\n"
    );
}

#[test]
fn s6_6_quoted() {
    assert_eq!(
        jls(&["-q", "name", "host.hostname"]),
        "web web.example.org\ndb db.example.org\n"
    );
}

#[test]
fn s6_7_other_list_forms() {
    assert_eq!(
        jls(&["-h", "jid", "name", "host.hostname"]),
        "jid name host.hostname\n1 web web.example.org\n2 db db.example.org\n"
    );
    assert_eq!(
        jls(&["-hn", "jid", "name", "ip4.addr"]),
        "jid name ip4.addr\njid=1 name=web ip4.addr=10.0.0.10\njid=2 name=db ip4.addr=10.0.0.20,10.0.0.21\n"
    );
    assert_eq!(
        jls(&["jid", "ip4.addr", "ip6.addr"]),
        "1 10.0.0.10 -\n2 10.0.0.20,10.0.0.21 -\n"
    );
    assert_eq!(
        jls(&["-q", "jid", "ip4.addr", "ip6.addr"]),
        "1 10.0.0.10 \"\"\n2 10.0.0.20,10.0.0.21 \"\"\n"
    );
    assert_eq!(
        jls(&["-nq", "jid", "ip4.addr", "ip6.addr"]),
        "jid=1 ip4.addr=10.0.0.10 ip6.addr=\"\"\njid=2 ip4.addr=10.0.0.20,10.0.0.21 ip6.addr=\"\"\n"
    );
    assert_eq!(
        jls(&["-n", "jid", "ip6.addr"]),
        "jid=1 ip6.addr=\njid=2 ip6.addr=\n"
    );
    assert_eq!(
        jls(&["-j", "web"]),
        "   JID  IP Address      Hostname                      Path\n\
         \x20    1  10.0.0.10       web.example.org               /jails/web\n"
    );
}

#[test]
fn s6_7_missing_jail_prints_the_header_then_fails() {
    let (out, err, code) = jls_on(fixture(), vec![], &["-j", "nosuch"]);
    assert_eq!(
        out,
        "   JID  IP Address      Hostname                      Path\n"
    );
    assert_eq!(err.as_deref(), Some("jail \"nosuch\" not found"));
    assert_eq!(code, 1);
    let (out, err, code) = jls_on(fixture(), vec![], &["-j7", "-h", "name"]);
    assert_eq!(
        (out.as_str(), err.as_deref(), code),
        ("name\n", Some("jail 7 not found"), 1)
    );
}

#[test]
fn s6_7_quoting() {
    assert_eq!(
        jls_q(&[]),
        "   JID  IP Address      Hostname                      Path\n\
         \x20    1  10.0.0.10       web.example.org               /jails/web\n\
         \x20    2  10.0.0.20       db.example.org                /jails/db\n\
         \x20    3                  it's here                     /jails/q\n"
    );
    let params = [
        "name",
        "host.hostname",
        "host.domainname",
        "ip4.addr",
        "ip6.addr",
    ];
    let with = |flags: &[&str], p: &[&str]| -> String {
        let args: Vec<&str> = ["-j", "q"].iter().chain(flags).chain(p).copied().collect();
        jls_q(&args)
    };
    assert_eq!(with(&[], &params), "q it's here say \"hi\" - 2001:db8::5\n");
    assert_eq!(
        with(&["-q"], &params),
        "q \"it's here\" 'say \"hi\"' \"\" 2001:db8::5\n"
    );
    assert_eq!(
        with(&["-n"], &["name", "host.hostname", "ip4.addr", "persist"]),
        "name=q host.hostname=it's here ip4.addr= nopersist\n"
    );
    assert_eq!(
        jls_q(&["-j", "web", "name", "host.domainname"]),
        "web \"\"\n"
    );
}

#[test]
fn s6_8_libxo_json() {
    let doc = |jails: &str| {
        format!("{{\"__version\": \"2\", \"jail-information\": {{\"jail\": [{jails}]}}}}\n")
    };
    assert_eq!(
        jls(&["--libxo", "json"]),
        doc(
            r#"{"jid":1,"ipv4":"10.0.0.10","hostname":"web.example.org","path":"/jails/web"}, {"jid":2,"ipv4":"10.0.0.20","hostname":"db.example.org","path":"/jails/db"}"#
        )
    );
    assert_eq!(
        jls(&["-N", "--libxo", "json"]),
        doc(
            r#"{"name":"web","ipv4":"10.0.0.10","hostname":"web.example.org","path":"/jails/web"}, {"name":"db","ipv4":"10.0.0.20","hostname":"db.example.org","path":"/jails/db"}"#
        )
    );
    assert_eq!(
        jls(&["-v", "--libxo", "json"]),
        doc(
            r#"{"jid":1,"hostname":"web.example.org","path":"/jails/web","name":"web","state":"ACTIVE","cpusetid":2, "ipv4_addrs": ["10.0.0.10"], "ipv6_addrs": []}, {"jid":2,"hostname":"db.example.org","path":"/jails/db","name":"db","state":"ACTIVE","cpusetid":3, "ipv4_addrs": ["10.0.0.20","10.0.0.21"], "ipv6_addrs": []}"#
        )
    );
    assert_eq!(
        jls(&["-n", "--libxo", "json", "name", "ip4.addr", "persist"]),
        doc(
            r#"{"name":"web", "ip4.addr": ["10.0.0.10"],"persist":true}, {"name":"db", "ip4.addr": ["10.0.0.20","10.0.0.21"],"persist":true}"#
        )
    );
    assert_eq!(
        jls(&["--libxo", "json", "jid", "name", "ip4.addr", "persist"]),
        doc(
            r#"{"jid":"1","name":"web", "ip4.addr": ["10.0.0.10"],"persist":"true"}, {"jid":"2","name":"db", "ip4.addr": ["10.0.0.20","10.0.0.21"],"persist":"true"}"#
        )
    );
    let (out, err, code) = jls_on(fixture(), vec![], &["-j", "nosuch", "--libxo", "json"]);
    assert_eq!(out, doc(""));
    assert_eq!(
        (err.as_deref(), code),
        (Some("jail \"nosuch\" not found"), 1)
    );
}

#[test]
fn s6_8_libxo_json_pretty() {
    let web = r#"      {
        "jid": 1,
        "hostname": "web.example.org",
        "path": "/jails/web",
        "name": "web",
        "state": "ACTIVE",
        "cpusetid": 2,
        "ipv4_addrs": [
          "10.0.0.10"
        ],
        "ipv6_addrs": [
        ]
      }"#;
    let db = r#"      {
        "jid": 2,
        "hostname": "db.example.org",
        "path": "/jails/db",
        "name": "db",
        "state": "ACTIVE",
        "cpusetid": 3,
        "ipv4_addrs": [
          "10.0.0.20",
          "10.0.0.21"
        ],
        "ipv6_addrs": [
        ]
      }"#;
    let expected = format!(
        "{{\n  \"__version\": \"2\", \n  \"jail-information\": {{\n    \"jail\": [\n{web},\n{db}\n    ]\n  }}\n}}\n"
    );
    assert_eq!(jls(&["-v", "--libxo", "json,pretty"]), expected);
    let (out, _, code) = jls_on(vec![], vec![], &["--libxo", "json,pretty"]);
    assert_eq!(
        (out.as_str(), code),
        (
            "{\n  \"__version\": \"2\", \n  \"jail-information\": {\n    \"jail\": [\n    ]\n  }\n}\n",
            0
        )
    );
}

#[test]
fn s6_8_libxo_xml() {
    assert_eq!(
        jls(&["--libxo", "xml"]),
        "<jail-information version=\"2\">\
         <jail><jid>1</jid><ipv4>10.0.0.10</ipv4><hostname>web.example.org</hostname><path>/jails/web</path></jail>\
         <jail><jid>2</jid><ipv4>10.0.0.20</ipv4><hostname>db.example.org</hostname><path>/jails/db</path></jail>\
         </jail-information>"
    );
    assert_eq!(
        jls(&[
            "-j",
            "db",
            "--libxo",
            "xml,pretty",
            "-n",
            "name",
            "ip4.addr",
            "nopersist"
        ]),
        "<jail-information version=\"2\">\n  <jail>\n    <name>db</name>\n    <ip4.addr>10.0.0.20</ip4.addr>\n    \
         <ip4.addr>10.0.0.21</ip4.addr>\n    <nopersist>true</nopersist>\n  </jail>\n</jail-information>\n"
    );
}

#[test]
fn flags_cancel_left_to_right() {
    let o = opts(&["-hs"]);
    assert!(!o.header && o.nameval && o.quoted && o.skip);
    let o = opts(&["-sh"]);
    assert!(o.header && o.nameval && o.quoted && !o.skip);
    let o = opts(&["-vn"]);
    assert!(o.nameval && !o.verbose);
    let o = opts(&["-nv"]);
    assert!(!o.nameval && o.verbose);
    let o = opts(&["-vh"]);
    assert!(o.header && !o.verbose);
    let o = opts(&["-ad"]);
    assert!(o.dying);
    assert!(!Options::default().flag('x'));
    // -hs prints no header but all parameters, skipping read-only ones.
    let out = jls(&["-hs"]);
    assert!(
        !out.contains("cpuset.id") && out.lines().count() == 2,
        "{out}"
    );
    // -sh: header, name=value and quotes, without the skip rules.
    let out = jls(&["-sh", "dying", "ip6.addr"]);
    assert_eq!(
        out,
        "dying ip6.addr\nnodying ip6.addr=\"\"\nnodying ip6.addr=\"\"\n"
    );
    // Parameters given: -v is ignored.
    assert_eq!(jls(&["-v", "name"]), "web\ndb\n");
}

#[test]
fn all_is_every_kernel_parameter_in_freebsd_order() {
    let out = jls(&["-h", "-j", "web"]);
    let header = out.lines().next().unwrap();
    let names: Vec<&str> = KERNEL_PARAMS.iter().map(|s| s.name).collect();
    assert_eq!(header, names.join(" "));
    // Duplicates collapse to the first occurrence, `all` included.
    let out = jls(&["-h", "-j", "web", "path", "all", "path"]);
    let header: Vec<&str> = out.lines().next().unwrap().split(' ').collect();
    assert_eq!(header[0], "path");
    assert_eq!(header.len(), KERNEL_PARAMS.len());
}

#[test]
fn skip_drops_read_only_and_non_new_children() {
    // ip6 is disable: ip6.addr goes; cpuset.id and dying are read-only;
    // jid and path are creation-time parameters and stay.
    assert_eq!(
        jls(&[
            "-s",
            "-j",
            "web",
            "jid",
            "cpuset.id",
            "dying",
            "path",
            "ip6.addr",
            "host.hostname"
        ]),
        "jid=1 path=/jails/web host.hostname=web.example.org\n"
    );
    // -n alone prints everything.
    let out = jls(&["-n", "-j", "web"]);
    assert!(
        out.contains(" cpuset.id=2 ") && out.contains(" dying ") || out.contains(" nodying "),
        "{out}"
    );
    let out = jls(&["-s", "-j", "web"]);
    assert!(
        !out.contains("cpuset.id") && !out.contains("dying") && !out.contains("ip6.addr"),
        "{out}"
    );
    assert!(
        out.contains(" ip4.addr=10.0.0.10 ") && out.contains(" persist "),
        "{out}"
    );
}

#[test]
fn no_prefixed_booleans() {
    assert_eq!(jls(&["-j", "web", "nopersist", "persist"]), "false true\n");
    assert_eq!(
        jls(&["-n", "-j", "web", "nopersist", "allow.nomount"]),
        "persist allow.nomount\n"
    );
    assert_eq!(jls_q(&["-n", "-j", "q", "nopersist"]), "nopersist\n");
    assert_eq!(
        jls(&[
            "-j",
            "web",
            "--libxo",
            "json",
            "-n",
            "nopersist",
            "allow.nomount",
            "allow.mount"
        ]),
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": [{\"nopersist\":true,\"allow.nomount\":true,\"allow.mount\":false}]}}\n"
    );
}

#[test]
fn unknown_parameters_fail_before_any_output() {
    for bad in ["foo", "nopath", "allow", "exec.start", "nobogus"] {
        let (out, err, code) = jls_on(fixture(), vec![], &["-h", bad]);
        assert_eq!((out.as_str(), code), ("", 1), "{bad}");
        assert_eq!(err, Some(format!("unknown parameter: {bad}")));
    }
    let (out, _, code) = jls_on(fixture(), vec![], &["--libxo", "json", "name", "foo"]);
    assert_eq!((out.as_str(), code), ("{ }\n", 1));
}

#[test]
fn truncation_and_padding_of_the_tables() {
    let long = "h".repeat(40);
    let path = format!("/{}", "p".repeat(90));
    let mut j = jail(
        12345,
        "averyveryverylongname",
        &long,
        &["192.168.100.200"],
        &[],
        1,
        false,
    );
    j.params.set("path", Value::Str(path.clone()));
    let (out, _, _) = jls_on(vec![j.clone()], vec![], &[]);
    let row = out.lines().nth(1).unwrap();
    assert_eq!(
        row,
        format!(" 12345  192.168.100.200 {} {}", &long[..29], &path[..74])
    );
    let (out, _, _) = jls_on(vec![j.clone()], vec![], &["-N"]);
    assert_eq!(
        out.lines().nth(1).unwrap(),
        format!(
            " averyveryverylongname 192.168.100.200 {} {}",
            &long[..29],
            &path[..74]
        )
    );
    // JSON is not truncated.
    let (out, _, _) = jls_on(vec![j], vec![], &["--libxo", "json"]);
    assert!(
        out.contains(&format!("\"hostname\":\"{long}\"")) && out.contains(&path),
        "{out}"
    );
}

#[test]
fn no_jails_prints_only_the_header() {
    let (out, err, code) = jls_on(vec![], vec![], &[]);
    assert_eq!(
        (out.as_str(), err, code),
        (
            "   JID  IP Address      Hostname                      Path\n",
            None,
            0
        )
    );
    let (out, _, _) = jls_on(vec![], vec![], &["--libxo", "json"]);
    assert_eq!(
        out,
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": []}}\n"
    );
    let (out, _, _) = jls_on(vec![], vec![], &["--libxo", "xml"]);
    assert_eq!(out, "<jail-information version=\"2\"></jail-information>");
    let (out, _, _) = jls_on(vec![], vec![], &["-v"]);
    assert_eq!(out.lines().count(), 4);
}

#[test]
fn dying_jails_need_d() {
    let mut jails = fixture();
    jails[1].state = State::Dying;
    let (out, _, _) = jls_on(jails.clone(), vec![], &["name"]);
    assert_eq!(out, "web\n");
    let (out, _, _) = jls_on(jails.clone(), vec![], &["-d", "name", "dying"]);
    assert_eq!(out, "web false\ndb true\n");
    let (out, err, code) = jls_on(jails.clone(), vec![], &["-j", "db", "name"]);
    assert_eq!(
        (out.as_str(), err.as_deref(), code),
        ("", Some("jail \"db\" is dying"), 1)
    );
    let (out, _, _) = jls_on(jails.clone(), vec![], &["-v", "-a", "-j", "2"]);
    assert!(
        out.contains("        db                            DYING\n"),
        "{out}"
    );
}

#[test]
fn check_prints_nothing() {
    assert_eq!(
        jls_on(fixture(), vec![], &["-c", "-j", "web"]),
        (String::new(), None, 0)
    );
    assert_eq!(
        jls_on(fixture(), vec![], &["-c", "-j", "7"]),
        (String::new(), None, 1)
    );
    let (out, err, code) = jls_on(fixture(), vec![], &["-c"]);
    assert_eq!((out.as_str(), err.as_deref(), code), ("", Some(USAGE), 1));
}

#[test]
fn json_records_one_per_line() {
    let out = jls(&["--json"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        r#"{"jid":1,"name":"web","path":"/jails/web","hostname":"web.example.org","ip4":["10.0.0.10"],"ip6":[],"state":"running","backend":"linux","params":{"cpuset.id":2,"host":"new","ip4":"new","ip6":"disable","persist":true}}"#
    );
    let out = jls(&[
        "--json",
        "-j",
        "db",
        "name",
        "persist",
        "nopersist",
        "securelevel",
    ]);
    assert_eq!(
        out,
        "{\"jid\":2,\"name\":\"db\",\"path\":\"/jails/db\",\"hostname\":\"db.example.org\",\"ip4\":[\"10.0.0.20\",\"10.0.0.21\"],\
         \"ip6\":[],\"state\":\"running\",\"backend\":\"linux\",\"params\":{\"nopersist\":false,\"persist\":true,\"securelevel\":0}}\n"
    );
    for line in out.lines() {
        let _: JailRecord = serde_json::from_str(line).unwrap();
    }
    let (out, err, code) = jls_on(fixture(), vec![], &["--json", "-j", "nosuch"]);
    assert_eq!(
        (out.as_str(), err.as_deref(), code),
        ("", Some("jail \"nosuch\" not found"), 1)
    );
}

#[test]
fn defined_adds_stopped_jails() {
    let mut mail = Jail {
        name: "mail".into(),
        jid: None,
        state: State::Stopped,
        params: Params::new(),
    };
    mail.params.set("path", Value::Str("/jails/mail".into()));
    mail.params
        .set("host.hostname", Value::Str("mail.example.org".into()));
    mail.params.set("persist", Value::Bool(true));
    let mut web_def = mail.clone();
    web_def.name = "web".into();
    let defined = vec![web_def, mail];
    let (out, _, _) = jls_on(fixture(), defined.clone(), &["--defined"]);
    assert_eq!(
        out,
        "   JID  IP Address      Hostname                      Path\n\
         \x20    1  10.0.0.10       web.example.org               /jails/web\n\
         \x20    2  10.0.0.20       db.example.org                /jails/db\n\
         \x20    -                  mail.example.org              /jails/mail\n"
    );
    let (out, _, _) = jls_on(
        fixture(),
        defined.clone(),
        &["--defined", "--json", "-j", "mail"],
    );
    assert_eq!(
        out,
        "{\"jid\":null,\"name\":\"mail\",\"path\":\"/jails/mail\",\"hostname\":\"mail.example.org\",\"ip4\":[],\"ip6\":[],\
         \"state\":\"stopped\",\"backend\":\"linux\",\"params\":{\"persist\":true}}\n"
    );
    let (out, _, _) = jls_on(
        fixture(),
        defined.clone(),
        &[
            "--defined",
            "-n",
            "-j",
            "mail",
            "jid",
            "name",
            "persist",
            "securelevel",
        ],
    );
    assert_eq!(out, "jid= name=mail persist securelevel=\n");
    let (out, _, _) = jls_on(
        fixture(),
        defined.clone(),
        &["--defined", "-v", "-j", "mail", "--libxo", "json"],
    );
    assert!(out.contains(r#"{"jid":null,"hostname":"mail.example.org","path":"/jails/mail","name":"mail","state":"STOPPED","cpusetid":null, "ipv4_addrs": [], "ipv6_addrs": []}"#), "{out}");
    let (out, _, _) = jls_on(
        fixture(),
        defined.clone(),
        &["--defined", "-j", "mail", "--libxo", "xml", "jid", "name"],
    );
    assert_eq!(
        out,
        "<jail-information version=\"2\"><jail><jid></jid><name>mail</name></jail></jail-information>"
    );
    let (_, err, _) = jls_on(fixture(), defined, &["-j", "mail"]);
    assert_eq!(err.as_deref(), Some("jail \"mail\" not found"));
}

#[test]
fn libxo_options() {
    let mut x = Libxo::default();
    x.apply("json,pretty").unwrap();
    assert_eq!(
        x,
        Libxo {
            style: Style::Json,
            pretty: true
        }
    );
    x.apply(":X").unwrap();
    assert_eq!(x.style, Style::Xml);
    assert_eq!(
        Libxo::default().apply("html").unwrap_err().to_string(),
        "unknown libxo option value: 'html'"
    );
    assert_eq!(x.abort_output(), b"");
    assert_eq!(
        Libxo {
            style: Style::Json,
            pretty: false
        }
        .abort_output(),
        b"{ }\n"
    );
}
