//! jexec-rs's command line as jexec's getopt takes it: usage errors with
//! getopt's complaint, jexec's usage line (without a program name) and
//! status 1, and the jail operand's errors. No jail and no root needed.

use jkit_tests::{TestEnv, output_with_stdin};

const USAGE: &str = "usage: jexec [-l] [-u username | -U username] jail [command ...]\n";

fn jexec(env: &TestEnv, args: &[&str]) -> (String, String, i32) {
    env.run("jexec-rs", args).parts()
}

#[test]
fn bad_command_lines_print_the_usage_and_exit_1() {
    let env = TestEnv::new("jexec-cli-usage");
    let cases: &[(&[&str], &str)] = &[
        (&[], ""),
        (&["-l"], ""),
        (&["-n", "-d", "/"], ""),
        (&["-u", "root", "-U", "root", "web", "id"], ""),
        (&["-x", "web"], "jexec: illegal option -- x\n"),
        (&["-lx", "web"], "jexec: illegal option -- x\n"),
        (&["--user=root", "web"], "jexec: illegal option -- -\n"),
        (&["-u"], "jexec: option requires an argument -- u\n"),
        (&["-U"], "jexec: option requires an argument -- U\n"),
        (&["-d"], "jexec: option requires an argument -- d\n"),
    ];
    for (args, complaint) in cases {
        let (out, err, code) = jexec(&env, args);
        assert_eq!(
            (out.as_str(), err, code),
            ("", format!("{complaint}{USAGE}"), 1),
            "{args:?}"
        );
    }
}

#[test]
fn unknown_jails_are_reported_as_jexec_reports_them() {
    let env = TestEnv::new("jexec-cli-jails");
    let cases: &[(&[&str], &str)] = &[
        (&["web", "true"], "jexec: jail \"web\" not found\n"),
        (&["7", "true"], "jexec: jail 7 not found\n"),
        (&["0", "true"], "jexec: jail_attach(0): Invalid argument\n"),
        // -n is accepted and ignored; options end at the first operand.
        (&["-n", "web", "-l"], "jexec: jail \"web\" not found\n"),
        (&["--", "-l", "true"], "jexec: jail \"-l\" not found\n"),
        // The host user is looked up before the jail, as jexec does.
        (
            &["-u", "jkit-no-such-user", "web"],
            "jexec: jkit-no-such-user: no such user\n",
        ),
    ];
    for (args, err) in cases {
        assert_eq!(
            jexec(&env, args),
            (String::new(), err.to_string(), 1),
            "{args:?}"
        );
    }
}

#[test]
fn dash_reads_jail_records_from_stdin() {
    let env = TestEnv::new("jexec-cli-records");
    let run = |input: &str| {
        let out = output_with_stdin(env.cmd("jexec-rs").args(["-", "true"]), input.as_bytes());
        (out.stderr, out.status.code())
    };
    assert_eq!(run(""), (String::new(), Some(0)));
    assert_eq!(
        run("{\"name\":\"web\"}\n"),
        ("jexec: jail \"web\" not found\n".into(), Some(1))
    );
    assert_eq!(
        run("{\"jid\":4}\n"),
        ("jexec: jail 4 not found\n".into(), Some(1))
    );
    // Not records: jkit's data error.
    assert_eq!(run("web\n").1, Some(65));
}
