//! jls-rs's command line, as jls's getopt and libxo take it: usage errors,
//! libxo options, operands, exit statuses, and a closed stdout. These need
//! no jail (an empty state directory).

use std::process::Stdio;

use jkit_tests::{Out, TestEnv};

const USAGE: &str = "jls: usage: jls [-dhNnqv] [-j jail] [param ...]\n";
const HEADER: &str = "   JID  IP Address      Hostname                      Path\n";

fn jls(env: &TestEnv, args: &[&str]) -> (String, String, i32) {
    env.run("jls-rs", args).parts()
}

#[test]
fn bad_options_print_getopts_complaint_then_usage() {
    let env = TestEnv::new("jls-cli-usage");
    let cases: &[(&[&str], &str)] = &[
        (&["-x"], "jls: illegal option -- x\n"),
        (&["-nqx"], "jls: illegal option -- x\n"),
        (&["-j"], "jls: option requires an argument -- j\n"),
        (&["--bogus"], "jls: illegal option -- -\n"),
        (&["--json=1"], "jls: illegal option -- -\n"),
    ];
    for (args, complaint) in cases {
        let (out, err, code) = jls(&env, args);
        assert_eq!(
            (out.as_str(), err, code),
            ("", format!("{complaint}{USAGE}"), 1),
            "{args:?}"
        );
    }
    // In JSON style libxo still closes its (empty) document on stdout.
    let (out, err, code) = jls(&env, &["-x", "--libxo", "json"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        (
            "{ }\n",
            "jls: illegal option -- x\njls: usage: jls [-dhNnqv] [-j jail] [param ...]\n",
            1
        )
    );
    // -c needs -j.
    let (out, err, code) = jls(&env, &["-c"]);
    assert_eq!((out.as_str(), err.as_str(), code), ("", USAGE, 1));
}

#[test]
fn libxo_arguments_are_taken_anywhere() {
    let env = TestEnv::new("jls-cli-libxo");
    let empty = "{\"__version\": \"2\", \"jail-information\": {\"jail\": []}}\n";
    for args in [
        &["--libxo", "json"][..],
        &["--libxo=json"],
        &["--libxo:J"],
        &["-h", "name", "--libxo", "json"],
    ] {
        let (out, err, code) = jls(&env, args);
        assert_eq!(
            (out.as_str(), err.as_str(), code),
            (empty, "", 0),
            "{args:?}"
        );
    }
    let (out, _, code) = jls(&env, &["--libxo", "xml,pretty"]);
    assert_eq!(
        (out.as_str(), code),
        ("<jail-information version=\"2\">\n</jail-information>\n", 0)
    );
    let (out, err, code) = jls(&env, &["--libxo", "html"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("", "jls: unknown libxo option value: 'html'\n", 1)
    );
    let (out, err, code) = jls(&env, &["--libxo"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("", "jls: missing libxo option\n", 1)
    );
    let (_, err, code) = jls(&env, &["--libxoxml"]);
    assert_eq!(
        (err.as_str(), code),
        ("jls: unknown libxo option: '--libxoxml'\n", 1)
    );
}

#[test]
fn operands_end_the_options() {
    let env = TestEnv::new("jls-cli-operands");
    let (out, err, code) = jls(&env, &["name", "-n"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("", "jls: unknown parameter: -n\n", 1)
    );
    let (out, err, code) = jls(&env, &["--", "-h"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("", "jls: unknown parameter: -h\n", 1)
    );
    let (out, err, code) = jls(&env, &["-hn", "--", "name", "nopersist"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("name nopersist\n", "", 0)
    );
    let (out, err, code) = jls(&env, &["--libxo", "json", "name", "bogus"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("{ }\n", "jls: unknown parameter: bogus\n", 1)
    );
}

#[test]
fn no_jails_and_missing_jails() {
    let env = TestEnv::new("jls-cli-none");
    assert_eq!(jls(&env, &[]), (HEADER.to_string(), String::new(), 0));
    assert_eq!(jls(&env, &["--json"]), (String::new(), String::new(), 0));
    assert_eq!(jls(&env, &["--defined", "-N"]).2, 0);
    let (out, err, code) = jls(&env, &["-jnosuch"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        (HEADER, "jls: jail \"nosuch\" not found\n", 1)
    );
    let (out, err, code) = jls(&env, &["-j", "7", "-q", "name"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("", "jls: jail 7 not found\n", 1)
    );
    let (out, err, code) = jls(&env, &["-j", "0"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        (HEADER, "jls: jail \"0\" not found\n", 1)
    );
    assert_eq!(
        jls(&env, &["-c", "-j", "web"]),
        (String::new(), String::new(), 1)
    );
    let (out, err, code) = jls(&env, &["--libxo", "json", "-j", "nosuch"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        (
            "{\"__version\": \"2\", \"jail-information\": {\"jail\": []}}\n",
            "jls: jail \"nosuch\" not found\n",
            1
        )
    );
}

#[test]
fn closed_stdout_ends_quietly() {
    let env = TestEnv::new("jls-cli-pipe");
    let mut child = env
        .cmd("jls-rs")
        .args(["-h"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jls-rs");
    drop(child.stdout.take());
    let out = Out::from(child.wait_with_output().expect("wait"));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stderr, "");
}
