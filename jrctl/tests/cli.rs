//! jrctl's command line as rctl(8)'s: getopt flags without values,
//! options ending at the first operand, at most one mode, usage and
//! illegal-option messages with status 1, the number of failed arguments
//! as the exit status, and a closed stdout ending quietly.

use std::process::Stdio;

use jkit_tests::{Out, TestEnv};

/// `jrctl ARGS`: its status, stdout and stderr.
fn rctl(env: &TestEnv, args: &[&str]) -> (i32, String, String) {
    let (stdout, stderr, code) = env.run("jrctl", args).parts();
    (code, stdout, stderr)
}

const USAGE: &str = "usage: rctl [ -h ] [-a rule | -l filter | -r filter | -u filter | filter]\n";

#[test]
fn bad_command_lines_are_rctls() {
    let env = TestEnv::new("rctl-cli");
    for mode in ["-a", "-l", "-r", "-u", "-hu", "-n", "-an"] {
        let expected = if mode == "-n" {
            (0, String::new(), String::new())
        } else {
            (1, String::new(), USAGE.into())
        };
        assert_eq!(rctl(&env, &[mode]), expected, "{mode}");
    }
    let many = (
        1,
        String::new(),
        "rctl: at most one of -a, -l, -r, or -u may be specified\n".to_string(),
    );
    assert_eq!(rctl(&env, &["-a", "-u", "jail:x"]), many);
    assert_eq!(rctl(&env, &["-lr", "jail:x"]), many);
    assert_eq!(
        rctl(&env, &["-x"]),
        (
            1,
            String::new(),
            format!("rctl: illegal option -- x\n{USAGE}")
        )
    );
    assert_eq!(
        rctl(&env, &["-hx"]),
        (
            1,
            String::new(),
            format!("rctl: illegal option -- x\n{USAGE}")
        )
    );
    assert_eq!(
        rctl(&env, &["--help"]),
        (
            1,
            String::new(),
            format!("rctl: illegal option -- -\n{USAGE}")
        )
    );
}

#[test]
fn options_end_at_the_first_operand_and_failures_are_counted() {
    let env = TestEnv::new("rctl-count");
    // "-h" after an operand is a filter, and not a rule.
    let (code, out, err) = rctl(&env, &["jail:", "-h"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "rctl: malformed rule '-h': missing subject\n");
    let (code, _, err) = rctl(
        &env,
        &[
            "-a",
            "jail:x:maxproc:deny=1x",
            "bogus",
            "jail:x:maxproc",
            "jail:x:bogus:deny=1",
        ],
    );
    assert_eq!(code, 4, "{err}");
    assert_eq!(
        err,
        "rctl: malformed rule 'jail:x:maxproc:deny=1x': invalid numeric value '1x'\n\
         rctl: malformed rule 'bogus': missing subject\n\
         rctl: failed to add rule 'jail:x:maxproc': Invalid argument\n\
         rctl: failed to add rule 'jail:x:bogus:deny=1': Invalid argument\n"
    );
    // Messages quote the rule as typed, not as expanded; a numeric id is
    // read whole, as strtod reads it.
    let (code, _, err) = rctl(
        &env,
        &[
            "-a",
            "j:x:maxproc:deny=2q",
            "u:12abc:maxproc:deny=1",
            "u:0:maxproc:deny=-",
        ],
    );
    assert_eq!(code, 3, "{err}");
    assert_eq!(
        err,
        "rctl: malformed rule 'j:x:maxproc:deny=2q': invalid numeric value '2q'\n\
         rctl: malformed rule 'u:12abc:maxproc:deny=1': trailing characters after numerical id\n\
         rctl: malformed rule 'u:0:maxproc:deny=-': invalid numeric value '-'\n"
    );
    let (code, _, err) = rctl(&env, &["-u", "jail:"]);
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "rctl: failed to show resource consumption for 'jail:': Invalid argument\n"
        )
    );
    let (code, _, err) = rctl(&env, &["-l", "jail:x"]);
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "rctl: failed to get limits for 'jail:x': Invalid argument\n"
        )
    );
    let (code, _, err) = rctl(&env, &["-r", "::"]);
    assert_eq!(
        (code, err.as_str()),
        (1, "rctl: failed to remove rule '::': No such process\n")
    );
}

#[test]
fn a_jail_that_does_not_run_uses_nothing() {
    let env = TestEnv::new("rctl-zero");
    let (code, out, _) = rctl(&env, &["-u", "jail:nosuch"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 25);
    assert!(out.lines().all(|l| l.ends_with("=0")), "{out}");
    assert!(
        out.starts_with("cputime=0\ndatasize=0\n") && out.ends_with("readiops=0\nwriteiops=0\n")
    );
    let (_, json, _) = rctl(&env, &["--json", "-u", "j:nosuch"]);
    assert!(
        json.starts_with(r#"{"subject":"jail","id":"nosuch","usage":{"cputime":0,"#),
        "{json}"
    );
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let env = TestEnv::new("rctl-pipe");
    let mut child = env
        .cmd("jrctl")
        .args(["-u", "jail:a", "jail:b", "jail:c", "jail:d"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = Out::from(child.wait_with_output().unwrap());
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(o.stderr, "");
}
