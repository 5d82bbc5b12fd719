//! Whole-module tests: the corpus under `tests/conf-corpus`, resolve
//! semantics, `write_jail` round trips and inputs that must not panic.
//!
//! Each corpus case is `NAME.conf` with `NAME.expected`: one line
//! `JAIL: PARAM = VALUE` per resolved parameter (strings and lists in JSON,
//! integers, booleans and jailsys values bare), or one line `error: MESSAGE`
//! with the corpus directory taken out of file names. Files under
//! `tests/conf-corpus/inc/` are only reached through `.include`.
//! `JKIT_BLESS=1` rewrites the expected files from the current output.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::model::{Jail, JailSys, Params, State, Value};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conf-corpus")
}

fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn repr(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Sys(s) => s.to_string(),
        Value::Str(s) => json(s),
        Value::Ip4(l) | Value::Ip6(l) | Value::List(l) => json(l),
    }
}

fn render(jails: &[Jail]) -> String {
    let mut out = String::new();
    for j in jails {
        for (name, value) in j.params.iter() {
            out.push_str(&format!("{}: {name} = {}\n", j.name, repr(value)));
        }
    }
    out
}

/// `resolve(parse_str(write_jail(j)))` gives back exactly `j`.
fn assert_round_trip(j: &Jail) {
    let text = write_jail(j);
    let back = parse_str(&text, "written", Path::new("/nonexistent"))
        .and_then(|f| resolve(&f))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, std::slice::from_ref(j), "{text}");
}

#[test]
fn corpus() {
    let dir = corpus_dir();
    let prefix = format!("{}/", dir.display());
    let bless = std::env::var_os("JKIT_BLESS").is_some();
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/conf-corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "only {} corpus cases", cases.len());
    let mut failed = Vec::new();
    for case in &cases {
        let got = match parse_file(case).and_then(|f| resolve(&f)) {
            Ok(jails) => {
                jails.iter().for_each(assert_round_trip);
                render(&jails)
            }
            Err(e) => {
                assert_eq!(e.exit_code(), 78, "{}: {e}", case.display());
                format!("error: {}\n", e.to_string().replace(&prefix, ""))
            }
        };
        let expected_path = case.with_extension("expected");
        if bless {
            fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        let want = fs::read_to_string(&expected_path).unwrap_or_default();
        if got != want {
            failed.push(format!(
                "{}:\n--- expected\n{want}--- got\n{got}",
                case.display()
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

fn parse(src: &str) -> ConfFile {
    parse_str(src, "t", Path::new("/nonexistent")).unwrap_or_else(|e| panic!("{e}"))
}

fn jails(src: &str) -> Vec<Jail> {
    resolve(&parse(src)).unwrap_or_else(|e| panic!("{e}"))
}

fn error(src: &str) -> String {
    match parse_str(src, "t", Path::new("/nonexistent")).and_then(|f| resolve(&f)) {
        Ok(j) => panic!("no error: {j:?}"),
        Err(e) => {
            assert_eq!(e.exit_code(), 78);
            e.to_string()
        }
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn jails_come_typed_and_stopped() {
    let j = jails("web { path = /j/web; securelevel = 2; ip4.addr = 10.213.0.1; persist; }");
    assert_eq!(j.len(), 1);
    let web = &j[0];
    assert_eq!(
        (web.name.as_str(), web.jid, web.state),
        ("web", None, State::Stopped)
    );
    let names: Vec<&str> = web.params.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["name", "path", "securelevel", "ip4.addr", "persist"]
    );
    assert_eq!(web.params.int("securelevel"), Some(2));
    assert_eq!(web.params.list("ip4.addr"), ["10.213.0.1"]);
    assert!(web.params.flag("persist"));
}

#[test]
fn precedence_follows_file_order() {
    let src = "
        host.hostname = early;
        a { host.hostname = own; exec.start += mine; }
        * { exec.start += late; }
        b { }
    ";
    let j = jails(src);
    assert_eq!(j[0].params.str("host.hostname"), Some("own"));
    assert_eq!(j[0].params.list("exec.start"), ["mine", "late"]);
    assert_eq!(j[1].params.str("host.hostname"), Some("early"));
    assert_eq!(j[1].params.list("exec.start"), ["late"]);
}

#[test]
fn raw_values_keep_spelling_and_drop_variables() {
    let raw = resolve_raw(&parse("$v = x; a { persist; nopersist; bogus = \"$v\"; }")).unwrap();
    assert_eq!(raw.len(), 1);
    let params: Vec<(&str, Vec<String>)> = raw[0]
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.values.clone()))
        .collect();
    assert_eq!(
        params,
        [
            ("name", strs(&["a"])),
            ("nopersist", strs(&[])),
            ("bogus", strs(&["x"]))
        ]
    );
    assert_eq!(raw[0].params[2].at.to_string(), "t line 1 column 33");
}

#[test]
fn a_parameter_referred_to_comes_before_the_first_that_refers_to_it() {
    // config.c moves a parameter that still holds references in front of
    // the one that refers to it; plain ones stay where they are.
    let src = "w { a = \"$b\"; x = 1; b = \"$c/$y\"; c = \"$name\"; y = 2; persist; }";
    let raw = resolve_raw(&parse(src)).unwrap();
    let names: Vec<&str> = raw[0].params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["name", "c", "b", "a", "x", "y", "persist"]);
    assert_eq!(raw[0].params[3].values, strs(&["w/2"]));
}

#[test]
fn resolve_errors_name_place_jail_and_parameter() {
    assert_eq!(
        error("web {\n  bogus = 1;\n}"),
        "t line 2 column 3: web: unknown parameter: bogus"
    );
    assert_eq!(
        error("web { persist = maybe; }"),
        "t line 1 column 7: web: persist: unknown boolean value \"maybe\""
    );
    assert_eq!(
        error("web { path = \"$nowhere\"; }"),
        "t line 1 column 15: web: path: variable \"nowhere\" not found"
    );
    assert_eq!(
        error("web { $a = $b; $b = \"x$a\"; }"),
        "t line 1 column 23: web: a: variable loop"
    );
    assert_eq!(
        error("$x = a, b; web { path = \"/$x\"; }"),
        "t line 1 column 27: web: path: array cannot be substituted inline"
    );
    assert_eq!(
        error("web { name = other; }"),
        "t line 1 column 7: web: cannot redefine parameter \"name\"."
    );
    assert_eq!(
        error("web { $path = x; path = y; }"),
        "t line 1 column 18: web: variable \"$path\" cannot have the same name as a parameter."
    );
}

#[test]
fn expansion_cannot_explode() {
    let mut src = String::from("$v0 = xxxxxxxxxxxxxxxx;\n");
    for i in 1..64 {
        src.push_str(&format!("$v{i} = \"$v{p}$v{p}\";\n", p = i - 1));
    }
    src.push_str("web { }\n");
    assert!(error(&src).ends_with("variable expansion too long"));
}

#[test]
fn long_reference_chains_do_not_recurse() {
    let mut src = String::from("web { $v0 = end;\n");
    for i in 1..50_000 {
        src.push_str(&format!("$v{i} = $v{};\n", i - 1));
    }
    src.push_str("host.hostname = $v49999; }\n");
    assert_eq!(jails(&src)[0].params.str("host.hostname"), Some("end"));
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jkit-conf-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn include_depth_is_limited_to_32() {
    let dir = temp_dir("depth");
    for i in 0..40 {
        fs::write(
            dir.join(format!("f{i}.conf")),
            format!(".include \"f{}.conf\";\n", i + 1),
        )
        .unwrap();
    }
    fs::write(dir.join("f32.conf"), "j32 { }\n").unwrap();
    fs::write(dir.join("f33.conf"), "j33 { }\n").unwrap();
    let j = resolve(&parse_file(&dir.join("f0.conf")).unwrap()).unwrap();
    assert_eq!(j[0].name, "j32");
    let e = parse_file(&dir.join("f0.conf").with_file_name("f-1.conf"));
    assert!(e.is_err());
    fs::write(dir.join("f-1.conf"), ".include \"f0.conf\";\n").unwrap();
    let e = parse_file(&dir.join("f-1.conf")).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{} line 1 column 1: maximum include depth exceeded",
            dir.join("f31.conf").display()
        )
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn include_of_a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = temp_dir("fifo");
    let fifo = dir.join("pipe.conf");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let src = format!(".include \"{}\";\n", fifo.display());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let got = parse_str(&src, "STDIN", Path::new("/")).map_err(|e| e.to_string());
        let _ = tx.send(got);
    });
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the include of a FIFO with no writer hung");
    assert_eq!(
        got.unwrap_err(),
        format!(
            "STDIN line 1 column 1: {}: not a regular file",
            fifo.display()
        )
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn missing_file_is_not_found() {
    let e = parse_file(Path::new("/nonexistent/jail.conf")).unwrap_err();
    assert_eq!(e.exit_code(), 66);
    assert_eq!(
        e.to_string(),
        "/nonexistent/jail.conf: No such file or directory"
    );
}

#[test]
fn stdin_includes_are_relative_to_base_dir() {
    let dir = temp_dir("stdin");
    fs::write(dir.join("x.conf"), "x { }\n").unwrap();
    let f = parse_str(".include \"x.conf\";", "STDIN", &dir).unwrap();
    assert_eq!(resolve(&f).unwrap()[0].name, "x");
    // The usual form: an absolute glob over a jail.conf.d directory.
    let confd = dir.join("jail.conf.d");
    fs::create_dir_all(&confd).unwrap();
    fs::write(confd.join("web.conf"), "web { path = /j/web; }\n").unwrap();
    fs::write(confd.join("db.conf"), "db { }\n").unwrap();
    fs::write(confd.join("notes.txt"), "not { jail.conf }\n").unwrap();
    let src = format!("persist;\n.include \"{}/*.conf\";\n", confd.display());
    let f = parse_str(&src, "STDIN", Path::new("/nonexistent")).unwrap();
    let names: Vec<String> = resolve(&f).unwrap().into_iter().map(|j| j.name).collect();
    assert_eq!(names, ["db", "web"]);
    let e = parse_str("a = \"b", "STDIN", &dir).unwrap_err();
    assert_eq!(e.to_string(), "STDIN line 1 column 5: unterminated string");
    let _ = fs::remove_dir_all(&dir);
}

fn jail(name: &str, params: &[(&str, Value)]) -> Jail {
    let mut p = Params::new();
    p.set("name", Value::Str(name.to_string()));
    for (n, v) in params {
        p.set(n, v.clone());
    }
    Jail {
        name: name.to_string(),
        jid: None,
        state: State::Stopped,
        params: p,
    }
}

#[test]
fn write_jail_format() {
    let j = jail(
        "web",
        &[
            ("path", Value::Str("/usr/jails/web".into())),
            ("host.hostname", Value::Str("web.example.org".into())),
            (
                "ip4.addr",
                Value::Ip4(strs(&["em0|10.213.0.1/24", "10.213.0.2"])),
            ),
            ("persist", Value::Bool(true)),
            ("allow.mount", Value::Bool(false)),
            ("securelevel", Value::Int(-1)),
            ("vnet", Value::Sys(JailSys::New)),
            ("exec.start", Value::List(strs(&["/bin/sh /etc/rc"]))),
            ("exec.stop", Value::List(Vec::new())),
        ],
    );
    assert_eq!(
        write_jail(&j),
        "web {
\tpath = /usr/jails/web;
\thost.hostname = web.example.org;
\tip4.addr = em0|10.213.0.1/24, 10.213.0.2;
\tpersist;
\tallow.nomount;
\tsecurelevel = -1;
\tvnet = new;
\texec.start = \"/bin/sh /etc/rc\";
\texec.stop;
}
"
    );
    assert_round_trip(&j);
}

#[test]
fn write_jail_round_trips_awkward_strings() {
    // A deterministic sample of strings over the characters that matter.
    let alphabet: Vec<char> = "a/.$\\\"'#;{},=+* \t\n\r\u{1}\u{7f}é{}x0-_:[]|~!?()&%@^`<>"
        .chars()
        .collect();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let len = (next() % 12) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let j = jail(
            "j",
            &[
                ("host.hostname", Value::Str(s.clone())),
                (
                    "exec.start",
                    Value::List(vec![s.clone(), "x".into(), s.clone()]),
                ),
            ],
        );
        assert_round_trip(&j);
    }
    assert_round_trip(&jail("odd name $x", &[("path", Value::Str(String::new()))]));
    assert_round_trip(&jail("a.b", &[]));
    let mut numeric = jail("7", &[]);
    numeric.params = Params::new();
    numeric.params.set("jid", Value::Int(7));
    numeric.params.set("name", Value::Str("7".into()));
    assert_round_trip(&numeric);
}

#[test]
fn no_input_panics() {
    let pieces = [
        "{",
        "}",
        ";",
        "=",
        "+=",
        ",",
        "\"",
        "'",
        "$",
        "${",
        "$a",
        "${a.b}",
        "\\",
        "#",
        "//",
        "/*",
        "*/",
        "\n",
        " ",
        "a",
        "persist",
        "nopersist",
        "name",
        "*",
        ".",
        "no",
        "x.*",
        "path",
        "\"$a\"",
        "'q'",
        "5",
        "ip4.addr",
        "1.2.3.4",
        "é",
        "\u{0}",
        "\\x",
        "\\1",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20_000 {
        let len = (next() % 24) as usize;
        let src: String = (0..len)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect();
        if let Ok(f) = parse_str(&src, "t", Path::new("/nonexistent")) {
            let _ = resolve_raw(&f);
            if let Ok(js) = resolve(&f) {
                js.iter().for_each(assert_round_trip);
            }
        }
    }
}

#[test]
fn hand_built_files_do_not_panic() {
    let at = Location {
        file: "built".into(),
        line: 1,
        column: 1,
    };
    let assign = |pos: usize, text: &str| {
        Statement::Assign(Assignment {
            jail: "web".into(),
            block: Some(7),
            name: "host.hostname".into(),
            var: false,
            op: Op::Set,
            values: vec![Text {
                text: text.into(),
                vars: vec![VarRef {
                    pos,
                    name: "name".into(),
                    at: at.clone(),
                }],
            }],
            at: at.clone(),
        })
    };
    for (pos, text) in [(9, "abc"), (1, "é")] {
        let f = ConfFile {
            statements: vec![assign(pos, text)],
        };
        let e = resolve(&f).unwrap_err().to_string();
        assert!(e.contains("bad position of variable \"name\""), "{e}");
    }
    let f = ConfFile {
        statements: vec![assign(1, "ab")],
    };
    assert_eq!(
        resolve(&f).unwrap()[0].params.str("host.hostname"),
        Some("awebb")
    );
}

#[test]
fn bytes_that_are_not_utf8_are_kept() {
    let src = b"$v = \"\xff\";\nweb { host.hostname = \"caf\xe9$v\"; path = \"/j/\\303\\251\"; }\n";
    let file = parse_bytes(src, "t", Path::new("/nonexistent")).unwrap();
    let raw = resolve_raw(&file).unwrap();
    let values: Vec<Vec<u8>> = raw[0]
        .params
        .iter()
        .map(|p| crate::fsio::raw::encode(&p.values.join(",")))
        .collect();
    assert_eq!(
        values,
        [
            b"web".to_vec(),
            b"caf\xe9\xff".to_vec(),
            "/j/é".as_bytes().to_vec()
        ]
    );
    // Written back, they read back the same.
    let jails = resolve(&file).unwrap();
    assert_round_trip(&jails[0]);
}
