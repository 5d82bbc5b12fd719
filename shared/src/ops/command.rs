//! How jail(8) runs the `exec.*` commands: a command string with a shell
//! metacharacter goes through `/bin/sh -c`, anything else is split on white
//! space; system commands run on the host (as `exec.system_user`, with
//! `JID`, `JNAME` and `JPATH` in the environment), jail commands inside
//! the jail through the backend (as `exec.jail_user`, output appended to
//! `exec.consolelog`); `exec.clean` gives a clean environment; every
//! command may run at most `exec.timeout` seconds.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, User};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::exec::ExecSpec;
use crate::exec::Exit;
use crate::fsio::raw;
use crate::model::Jail;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It ended by itself.
    Exit(Exit),
    /// `exec.timeout` passed first; it was killed.
    TimedOut,
}

/// One command string of an `exec.*` parameter or of `command`, as
/// jail(8)'s command.c reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComLine {
    /// `/bin/sh -c STRING` when the string has a shell metacharacter,
    /// else its words.
    pub argv: Vec<String>,
    /// The string's first metacharacter is a lone `&` ending it: the words
    /// before it run in a session of their own, not waited for.
    pub background: bool,
}

/// The shell metacharacters of command.c.
const META: &str = "!\"$&'()*;<>?[\\]`{|}~";

/// A command string as command.c reads it (see [`ComLine`]); `None` when
/// it has no words.
pub fn parse_command(command: &str) -> Option<ComLine> {
    let words =
        |text: &str| -> Vec<String> { text.split_whitespace().map(str::to_string).collect() };
    let (argv, background) = match command.find(|c| META.contains(c)) {
        Some(at) if at + 1 == command.len() && command.ends_with('&') => {
            (words(&command[..at]), true)
        }
        Some(_) => (
            vec!["/bin/sh".into(), "-c".into(), command.to_string()],
            false,
        ),
        None => (words(command), false),
    };
    (!argv.is_empty()).then_some(ComLine { argv, background })
}

/// A command line as jail(8) names it in messages: argv joined by spaces.
pub fn comline(argv: &[String]) -> String {
    argv.join(" ")
}

/// A command to run on the host.
#[derive(Debug, Clone, Default)]
pub struct HostCommand {
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// `exec.system_user`: the host account to run as.
    pub user: Option<String>,
    /// `exec.clean`.
    pub clean: bool,
    /// Variables added to the environment (`JID`, `JNAME`, `JPATH`);
    /// left out with `exec.clean`.
    pub env: Vec<(String, String)>,
    /// `exec.timeout`.
    pub timeout: Option<Duration>,
}

impl HostCommand {
    /// Run it and wait (at most `timeout`, after which the command and
    /// what it started are killed).
    pub fn run(&self) -> Result<Ended> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| Error::Software("empty command".into()))?;
        let mut cmd = Command::new(raw::os(program));
        cmd.args(args.iter().map(|a| raw::os(a)));
        let user = match &self.user {
            Some(name) => Some(host_user(name)?),
            None if self.clean => Some(
                User::from_uid(nix::unistd::getuid())
                    .ok()
                    .flatten()
                    .ok_or_else(|| Error::Compat {
                        msg: format!("unknown uid {}", nix::unistd::getuid()),
                        code: 1,
                    })?,
            ),
            None => None,
        };
        if self.clean {
            let term = std::env::var_os("TERM");
            cmd.env_clear().env("PATH", "/bin:/usr/bin");
            if let Some(t) = term {
                cmd.env("TERM", t);
            }
        } else {
            cmd.envs(self.env.iter().map(|(k, v)| (k, raw::os(v))));
        }
        if let Some(u) = &user {
            let shell: OsString = if u.shell.as_os_str().is_empty() {
                "/bin/sh".into()
            } else {
                u.shell.clone().into_os_string()
            };
            cmd.env("USER", &u.name)
                .env("HOME", &u.dir)
                .env("SHELL", shell);
            if self.user.is_some() {
                cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
            }
            if self.clean {
                cmd.current_dir(&u.dir);
            }
        }
        if self.timeout.is_some() {
            // Its own process group, so that a timeout kills all of it.
            cmd.process_group(0);
        }
        let child = cmd.spawn().map_err(|e| exec_error(program, e))?;
        wait_child(child, self.timeout)
    }
}

/// The host account `name` (`exec.system_user`).
fn host_user(name: &str) -> Result<User> {
    match User::from_name(name) {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(Error::Compat {
            msg: format!("{name}: no such user"),
            code: 1,
        }),
        Err(e) => Err(Error::Compat {
            msg: format!("getpwnam {name}: {}", e.desc()),
            code: 1,
        }),
    }
}

fn exec_error(program: &str, e: std::io::Error) -> Error {
    Error::Compat {
        msg: format!("exec {program}: {}", crate::error::io_strerror(&e)),
        code: 1,
    }
}

/// Wait for `child`, killing its process group once `timeout` has passed.
fn wait_child(mut child: Child, timeout: Option<Duration>) -> Result<Ended> {
    let Some(limit) = timeout else {
        let status = child.wait().map_err(|e| Error::os("wait", e))?;
        return Ok(Ended::Exit(exit_of(status)));
    };
    let deadline = Instant::now() + limit;
    let mut nap = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait().map_err(|e| Error::os("wait", e))? {
            return Ok(Ended::Exit(exit_of(status)));
        }
        let now = Instant::now();
        if now >= deadline {
            let group = Pid::from_raw(-(child.id() as i32));
            let _ = kill(group, Signal::SIGKILL);
            let _ = child.wait();
            return Ok(Ended::TimedOut);
        }
        std::thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(25));
    }
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(s)) => Exit::Signal(s),
        (None, None) => Exit::Code(status.into_raw()),
    }
}

/// Run `spec` inside the running `jail` through the backend and wait: with
/// its standard output and error appended to `output` (`exec.consolelog`)
/// and for at most `timeout`. With neither, the backend runs it directly
/// (the caller's stdio, the terminal's signals). With either, a child of
/// this process runs it, so that a command that times out can be stopped
/// by ending that child (the backend makes the command die with it).
pub fn run_in_jail(
    backend: &dyn Backend,
    jail: &Jail,
    spec: &ExecSpec,
    output: Option<File>,
    timeout: Option<Duration>,
) -> Result<Ended> {
    if output.is_none() && timeout.is_none() {
        return backend.exec(jail, spec).map(Ended::Exit);
    }
    let (report_r, report_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::os("pipe", e))?;
    // The child gets the write end (and the log); the parent's copies go
    // with the closure when it is dropped unrun.
    let child =
        crate::backend::fork_child(move || supervised(backend, jail, spec, output, report_w))?;
    let ended = wait_pid(child, timeout)?;
    let mut text = String::new();
    let _ = File::from(report_r).read_to_string(&mut text);
    let Some(status) = ended else {
        return Ok(Ended::TimedOut);
    };
    match parse_report(&text) {
        Some(Ok(exit)) => Ok(Ended::Exit(exit)),
        Some(Err(e)) => Err(e),
        None => Err(Error::Software(format!(
            "{}: command runner ended with {status:?}",
            jail.name
        ))),
    }
}

/// The body of the child of [`run_in_jail`]: redirect, run, and report
/// how it went on `report` (`exit N`, `signal N` or `error CODE MESSAGE`).
fn supervised(
    backend: &dyn Backend,
    jail: &Jail,
    spec: &ExecSpec,
    output: Option<File>,
    report: OwnedFd,
) -> i32 {
    use std::io::Write;
    let mut report = File::from(report);
    if let Some(log) = output {
        if nix::unistd::dup2_stdout(&log).is_err() || nix::unistd::dup2_stderr(&log).is_err() {
            let _ = write!(report, "error 1 exec.consolelog: cannot redirect output");
            return 1;
        }
    }
    let line = match backend.exec(jail, spec) {
        Ok(Exit::Code(c)) => format!("exit {c}"),
        Ok(Exit::Signal(s)) => format!("signal {s}"),
        Err(e) => format!(
            "error {} {}",
            e.exit_code(),
            e.to_string().replace('\n', " ")
        ),
    };
    let _ = report.write_all(line.as_bytes());
    0
}

fn parse_report(text: &str) -> Option<Result<Exit>> {
    let (word, rest) = text.split_once(' ')?;
    match word {
        "exit" => rest.trim().parse().ok().map(|c| Ok(Exit::Code(c))),
        "signal" => rest.trim().parse().ok().map(|s| Ok(Exit::Signal(s))),
        "error" => {
            let (code, msg) = rest.split_once(' ').unwrap_or((rest, ""));
            let code = code.parse().unwrap_or(1);
            Some(Err(Error::Compat {
                msg: msg.to_string(),
                code,
            }))
        }
        _ => None,
    }
}

/// Wait for process `pid` at most `timeout` (forever for `None`); on
/// timeout kill it and return `None`.
fn wait_pid(pid: Pid, timeout: Option<Duration>) -> Result<Option<WaitStatus>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut nap = Duration::from_millis(1);
    loop {
        let flags = if deadline.is_some() {
            Some(WaitPidFlag::WNOHANG)
        } else {
            None
        };
        match waitpid(pid, flags) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status) => return Ok(Some(status)),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::os("wait", e)),
        }
        let Some(deadline) = deadline else { continue };
        let now = Instant::now();
        if now >= deadline {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return Ok(None);
        }
        std::thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(25));
    }
}

/// The commands of a `command` parameter as command.c runs them: for a
/// jail of a configuration, each value is a command string of its own
/// ([`parse_command`]), run in turn; for the command line's jail
/// (`command_line`), the values are one argv, taken as given.
pub fn command_lines(values: &[String], command_line: bool) -> Vec<ComLine> {
    if command_line {
        return if values.is_empty() {
            Vec::new()
        } else {
            vec![ComLine {
                argv: values.to_vec(),
                background: false,
            }]
        };
    }
    values.iter().filter_map(|v| parse_command(v)).collect()
}

/// An argv as one command string that runs as the same argv: plain words
/// as they are (split again on white space), else every word that needs
/// it single-quoted behind `exec` (the string then goes through
/// `/bin/sh -c`, which unquotes the words and is replaced by the command,
/// so no shell stays between the jail and it). A single word is the
/// command string itself.
pub fn shell_line(argv: &[String]) -> String {
    if let [one] = argv {
        return one.clone();
    }
    let plain =
        |w: &String| !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || META.contains(c));
    if argv.iter().all(plain) {
        return argv.join(" ");
    }
    let word = |w: &String| match plain(w) {
        true => w.clone(),
        false => format!("'{}'", w.replace('\'', r"'\''")),
    };
    let words: Vec<String> = argv.iter().map(word).collect();
    format!("exec {}", words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fg(v: &[&str]) -> Option<ComLine> {
        Some(ComLine {
            argv: s(v),
            background: false,
        })
    }

    fn bg(v: &[&str]) -> Option<ComLine> {
        Some(ComLine {
            argv: s(v),
            background: true,
        })
    }

    #[test]
    fn command_runs_each_value_of_a_configuration_and_one_argv_of_the_command_line() {
        assert_eq!(command_lines(&[], false), []);
        assert_eq!(command_lines(&[], true), []);
        assert_eq!(command_lines(&s(&["  "]), false), []);
        // A configuration's values: each a command string (command.c's
        // default_command for a named jail).
        assert_eq!(
            command_lines(&s(&["/bin/echo hi\tthere", "echo a > /tmp/x"]), false),
            [
                fg(&["/bin/echo", "hi", "there"]).unwrap(),
                fg(&["/bin/sh", "-c", "echo a > /tmp/x"]).unwrap()
            ]
        );
        assert_eq!(
            command_lines(&s(&["daemon -f &"]), false),
            [bg(&["daemon", "-f"]).unwrap()]
        );
        // The command line's: the argv as given, no shell, no `&`.
        assert_eq!(
            command_lines(&s(&["/bin/echo", "a b", "&"]), true),
            [fg(&["/bin/echo", "a b", "&"]).unwrap()]
        );
        assert_eq!(
            command_lines(&s(&["/bin/sh /etc/rc"]), true),
            [fg(&["/bin/sh /etc/rc"]).unwrap()]
        );
    }

    #[test]
    fn an_argv_becomes_a_command_string_that_runs_it() {
        assert_eq!(shell_line(&s(&["/bin/sh /etc/rc"])), "/bin/sh /etc/rc");
        assert_eq!(
            shell_line(&s(&["/bin/echo", "a=b", "c"])),
            "/bin/echo a=b c"
        );
        let argv = s(&["/bin/sh", "-c", "echo it's; exit 3", "", "&"]);
        let line = shell_line(&argv);
        assert_eq!(line, "exec /bin/sh -c 'echo it'\\''s; exit 3' '' '&'");
        assert_eq!(parse_command(&line), fg(&["/bin/sh", "-c", &line]));
        // The shell gives the words back as they were.
        let printf = s(&["printf", "[%s]", "echo it's; exit 3", "", "&", "$$"]);
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &shell_line(&printf)])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "[echo it's; exit 3][][&][$$]"
        );
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn command_strings_follow_command_c() {
        assert_eq!(
            parse_command("/bin/sh /etc/rc"),
            fg(&["/bin/sh", "/etc/rc"])
        );
        assert_eq!(
            parse_command("echo $JNAME > /tmp/x"),
            fg(&["/bin/sh", "-c", "echo $JNAME > /tmp/x"])
        );
        assert_eq!(parse_command(""), None);
        assert_eq!(parse_command("  \t"), None);
        assert_eq!(
            comline(&s(&["/bin/sh", "-c", "exit 3"])),
            "/bin/sh -c exit 3"
        );
    }

    #[test]
    fn a_lone_trailing_ampersand_runs_the_words_in_the_background() {
        assert_eq!(parse_command("sleep 30 &"), bg(&["sleep", "30"]));
        assert_eq!(parse_command("sleep 30&"), bg(&["sleep", "30"]));
        assert_eq!(parse_command("&"), None, "no words: nothing to run");
        // Not the first metacharacter, or not the last character: the shell's.
        assert_eq!(
            parse_command("echo $x &"),
            fg(&["/bin/sh", "-c", "echo $x &"])
        );
        assert_eq!(parse_command("a & b &"), fg(&["/bin/sh", "-c", "a & b &"]));
        assert_eq!(
            parse_command("sleep 3 & "),
            fg(&["/bin/sh", "-c", "sleep 3 & "])
        );
    }

    #[test]
    fn host_commands_get_the_environment_and_statuses() {
        let out = std::env::temp_dir().join(format!("jkit-host-cmd-{}", std::process::id()));
        let cmd = HostCommand {
            argv: s(&[
                "/bin/sh",
                "-c",
                &format!("echo $JNAME:$JPATH > {}; exit 3", out.display()),
            ]),
            env: vec![
                ("JNAME".into(), "web".into()),
                ("JPATH".into(), "/j/web".into()),
            ],
            ..HostCommand::default()
        };
        assert_eq!(cmd.run().unwrap(), Ended::Exit(Exit::Code(3)));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "web:/j/web\n");
        let clean = HostCommand { clean: true, ..cmd };
        assert_eq!(clean.run().unwrap(), Ended::Exit(Exit::Code(3)));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            ":\n",
            "exec.clean leaves JNAME/JPATH out"
        );
        let _ = std::fs::remove_file(out);
        let e = HostCommand {
            argv: s(&["/nonexistent/cmd"]),
            ..HostCommand::default()
        }
        .run()
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "exec /nonexistent/cmd: No such file or directory"
        );
        let e = HostCommand {
            argv: s(&["true"]),
            user: Some("no-such-user-jkit".into()),
            ..HostCommand::default()
        }
        .run()
        .unwrap_err();
        assert_eq!(e.to_string(), "no-such-user-jkit: no such user");
    }

    #[test]
    fn host_commands_time_out_with_what_they_started() {
        let t = Instant::now();
        let cmd = HostCommand {
            argv: s(&["/bin/sh", "-c", "sleep 30; sleep 30"]),
            timeout: Some(Duration::from_millis(300)),
            ..HostCommand::default()
        };
        assert_eq!(cmd.run().unwrap(), Ended::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(5));
        let quick = HostCommand {
            argv: s(&["true"]),
            timeout: Some(Duration::from_secs(5)),
            ..HostCommand::default()
        };
        assert_eq!(quick.run().unwrap(), Ended::Exit(Exit::Code(0)));
    }

    #[test]
    fn reports_read_back() {
        assert!(matches!(parse_report("exit 7"), Some(Ok(Exit::Code(7)))));
        assert!(matches!(
            parse_report("signal 9"),
            Some(Ok(Exit::Signal(9)))
        ));
        let e = parse_report("error 3 execvp: x: No such file or directory")
            .unwrap()
            .unwrap_err();
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            ("execvp: x: No such file or directory", 3)
        );
        assert!(parse_report("").is_none());
    }
}
