//! What scripts/install puts on a host: the man pages (each lint-clean
//! under mandoc), the shell completions (each parses in its shell; the
//! bash and fish ones offer running jails), and with `--links` jls and
//! jexec, with a word about any other jexec that PATH finds first.

#![cfg(target_os = "linux")]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use jkit_tests::{Out, TestEnv, bin, require_root, with_dirs};

const TOOLS: [&str; 5] = ["jls-rs", "jexec-rs", "jmk", "jrctl", "jtpl"];

/// A file of the checkout.
fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// `program`, which CI installs; a clear failure elsewhere.
fn tool(program: &str, package: &str) -> Command {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join(program).is_file());
    assert!(
        found,
        "{program} is not installed (Debian package {package}; .ci/run installs it)"
    );
    Command::new(program)
}

/// The directory of the binaries built for this run, first in PATH.
fn path_with_built() -> std::ffi::OsString {
    let built = bin("jls-rs").parent().unwrap().to_path_buf();
    let mut dirs = vec![built];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// A fresh private directory under the temporary directory.
fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("jkit-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn man_pages_are_lint_clean() {
    for t in TOOLS {
        let page = repo(&format!("docs/man/{t}.8"));
        let out = Out::of(
            tool("mandoc", "mandoc")
                .args(["-T", "lint", "-W", "style"])
                .arg(&page),
        );
        // Cross-references to pages this host lacks (jail(8), jq(1)...)
        // are all mandoc may say.
        let complaints: Vec<&str> = out
            .stdout
            .lines()
            .chain(out.stderr.lines())
            .filter(|l| !l.contains("referenced manual not found") && !l.contains("mandoc.db"))
            .collect();
        assert!(complaints.is_empty(), "{t}.8:\n{}", complaints.join("\n"));
        let text = Out::of(tool("mandoc", "mandoc").args(["-T", "ascii"]).arg(&page));
        assert!(
            name_line(text.ok()).starts_with(&format!("{t} - ")),
            "{t}.8's NAME"
        );
    }
}

/// The NAME section's line of a page mandoc rendered as text (bold and
/// underlining, overstruck with backspaces, taken out).
fn name_line(rendered: &str) -> String {
    let mut plain = String::new();
    for c in rendered.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    let mut lines = plain.lines().skip_while(|l| *l != "NAME");
    lines.nth(1).unwrap_or_default().trim().to_string()
}

/// Every completion script: the hand-written ones and those jmk and jtpl
/// print, each as its shell reads it.
fn completion_scripts(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut scripts = Vec::new();
    for t in ["jls-rs", "jexec-rs", "jrctl"] {
        scripts.push(("bash", repo(&format!("dist/completions/bash/{t}"))));
        scripts.push(("zsh", repo(&format!("dist/completions/zsh/_{t}"))));
        scripts.push(("fish", repo(&format!("dist/completions/fish/{t}.fish"))));
    }
    for t in ["jmk", "jtpl"] {
        for shell in ["bash", "zsh", "fish"] {
            let script = Out::of(Command::new(bin(t)).args(["completions", shell]));
            let path = dir.join(format!("{t}.{shell}"));
            fs::write(&path, script.ok()).unwrap();
            scripts.push((shell, path));
        }
    }
    scripts
}

#[test]
fn jmks_zsh_script_completes_every_jail_operand_with_jail_names() {
    // start, stop, restart and destroy's names, clone's source, rdr's
    // jail, and the NAME of snapshot, rollback, diff and export's
    // NAME[@TAG]: clap writes them from jmk's doc comments, which jmk
    // matches.
    let out = Out::of(Command::new(bin("jmk")).args(["completions", "zsh"]));
    let text = out.ok();
    assert_eq!(text.matches(":_jkit_jails'").count(), 10, "{out}");
    assert!(!text.contains("NAME@TAG:_default"), "{out}");
    assert!(!text.contains("NAME\\[@TAG\\]:_default"), "{out}");
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let dir = tempdir("completions");
    for (shell, path) in completion_scripts(&dir) {
        let mut check = match shell {
            "bash" => tool("bash", "bash"),
            "zsh" => tool("zsh", "zsh"),
            _ => tool("fish", "fish"),
        };
        let flag = if shell == "fish" {
            "--no-execute"
        } else {
            "-n"
        };
        let out = Out::of(check.arg(flag).arg(&path));
        assert_eq!(
            out.parts(),
            (String::new(), String::new(), 0),
            "{shell}: {path:?}"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bash_and_fish_complete_jail_names() {
    require_root!();
    let env = TestEnv::new("completions-jails");
    env.create_host_jail("webcomp", &["persist"]);
    env.jmk_ok(&["start", "webcomp"]);
    let path = path_with_built();
    // bash: what the function puts in COMPREPLY for a command line, called
    // as bash calls it (the command, the word, the word before).
    let bash = |script: &str, function: &str, line: &str| -> Vec<String> {
        let program = format!(
            "source {script}\n\
             COMP_LINE=\"$1\"; COMP_POINT=${{#COMP_LINE}}\n\
             read -r -a COMP_WORDS <<<\"$2\"\n\
             [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')\n\
             COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n\
             {function} \"${{COMP_WORDS[0]}}\" \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        // bash splits words at ':' as well; the functions read the line.
        let split = line.replace(':', " : ");
        let out = Out::of(with_dirs(
            tool("bash", "bash")
                .env("PATH", &path)
                .args(["-c", &program, "bash", line, &split]),
            &env.paths,
        ));
        out.ok().lines().map(str::to_string).collect()
    };
    let jexec = repo("dist/completions/bash/jexec-rs");
    let jexec = jexec.to_str().unwrap();
    assert!(bash(jexec, "_jkit_jexec", "jexec-rs we").contains(&"webcomp".to_string()));
    assert!(bash(jexec, "_jkit_jexec", "jexec-rs -U root ").contains(&"webcomp".to_string()));
    let jrctl = repo("dist/completions/bash/jrctl");
    assert_eq!(
        bash(jrctl.to_str().unwrap(), "_jkit_jrctl", "jrctl -a jail:"),
        ["webcomp:"]
    );
    // jmk's, which jmk prints: defined jails where a command takes them.
    let dir = tempdir("completions-jmk");
    let script = |shell: &str| {
        let path = dir.join(format!("jmk.{shell}"));
        let out = Out::of(Command::new(bin("jmk")).args(["completions", shell]));
        fs::write(&path, out.ok()).unwrap();
        path
    };
    let jmk_bash = script("bash");
    let jmk_bash = jmk_bash.to_str().unwrap();
    for line in [
        "jmk start ",
        "jmk --json destroy -f web",
        "jmk rdr -t ipv4 ",
        "jmk snapshot -l ",
        "jmk rollback -f -r web",
        "jmk diff ",
        "jmk export ",
        "jmk clone ",
    ] {
        assert_eq!(bash(jmk_bash, "_jkit_jmk", line), ["webcomp"], "{line}");
    }
    for line in [
        "jmk rdr webcomp ",
        "jmk export webcomp ",
        "jmk clone webcomp@t1 ",
    ] {
        assert!(!bash(jmk_bash, "_jkit_jmk", line).contains(&"webcomp".to_string()));
    }
    assert!(bash(jmk_bash, "_jkit_jmk", "jmk st").contains(&"start".to_string()));
    // fish: its own completion of a command line.
    let fish = |script: &Path, line: &str| {
        let out = Out::of(with_dirs(
            tool("fish", "fish").env("PATH", &path).args([
                "-c",
                &format!("source {}; complete -C '{line}'", script.display()),
            ]),
            &env.paths,
        ));
        out.ok().lines().any(|l| l.starts_with("webcomp\t"))
    };
    let jexec_fish = repo("dist/completions/fish/jexec-rs.fish");
    assert!(fish(&jexec_fish, "jexec-rs -l "));
    // After the jail, a command and its arguments complete as on their own.
    let after_jail = |line: &str| {
        Out::of(tool("fish", "fish").args([
            "-c",
            &format!("source {}; complete -C '{line}'", jexec_fish.display()),
        ]))
        .ok()
        .to_string()
    };
    assert!(
        after_jail("jexec-rs -u root webcomp ech")
            .lines()
            .any(|l| l.starts_with("echo\t"))
    );
    assert!(!after_jail("jexec-rs webcomp ech").contains("webcomp"));
    let jmk_fish = script("fish");
    for line in [
        "jmk stop ",
        "jmk snapshot ",
        "jmk rollback ",
        "jmk diff ",
        "jmk export ",
    ] {
        assert!(fish(&jmk_fish, line), "{line}");
    }
    fs::remove_dir_all(&dir).unwrap();
    env.jmk_ok(&["stop", "webcomp"]);
}

#[test]
fn install_puts_tools_pages_completions_and_the_unit_in_place_and_names_a_jexec_ahead_of_ours() {
    let dir = tempdir("install");
    let prefix = dir.join("prefix");
    let built = bin("jmk").parent().unwrap().to_path_buf();
    // Another jexec, as Debian's OpenJDK puts one in /usr/bin.
    let other = dir.join("other");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("jexec"), "#!/bin/sh\nexit 1\n").unwrap();
    fs::set_permissions(other.join("jexec"), fs::Permissions::from_mode(0o755)).unwrap();
    let sbin = prefix.join("sbin");
    let install = |path_dirs: &[&Path]| {
        let mut dirs: Vec<PathBuf> = path_dirs.iter().map(|d| d.to_path_buf()).collect();
        dirs.extend([PathBuf::from("/usr/bin"), PathBuf::from("/bin")]);
        Out::of(
            Command::new(repo("scripts/install"))
                .env("PATH", std::env::join_paths(dirs).unwrap())
                .arg("--prefix")
                .arg(&prefix)
                .arg("--from")
                .arg(&built)
                .arg("--links"),
        )
    };

    let out = install(&[&other, &sbin]);
    assert!(out.success(), "{out}");
    let warning = format!(
        "scripts/install: warning: jexec in PATH is {}/jexec",
        other.display()
    );
    assert!(out.stderr.contains(&warning), "{out}");
    // Ours first: no warning.
    let out = install(&[&sbin, &other]);
    assert!(out.success(), "{out}");
    assert!(!out.stderr.contains("warning"), "{out}");

    for t in TOOLS {
        assert!(prefix.join("bin").join(t).is_file(), "{t}");
        assert!(
            prefix.join(format!("share/man/man8/{t}.8")).is_file(),
            "{t}.8"
        );
        assert!(
            prefix
                .join(format!("share/bash-completion/completions/{t}"))
                .is_file()
        );
        assert!(
            prefix
                .join(format!("share/zsh/site-functions/_{t}"))
                .is_file()
        );
        assert!(
            prefix
                .join(format!("share/fish/vendor_completions.d/{t}.fish"))
                .is_file()
        );
    }
    for (link, to) in [("jls", "jls-rs"), ("jexec", "jexec-rs")] {
        assert_eq!(
            fs::canonicalize(sbin.join(link)).unwrap(),
            fs::canonicalize(prefix.join("bin").join(to)).unwrap()
        );
        let page = Out::of(
            tool("mandoc", "mandoc")
                .args(["-T", "ascii", "-I", "os=test"])
                .current_dir(prefix.join("share/man"))
                .arg(format!("man8/{link}.8")),
        );
        assert!(
            name_line(page.ok()).starts_with(&format!("{to} - ")),
            "{link}.8"
        );
    }
    assert!(prefix.join("share/jkit/jkit-inventory").is_file());
    // jls, as Ansible's jail connection runs it.
    let env = TestEnv::new("install-jls");
    let out = Out::of(with_dirs(
        Command::new(sbin.join("jls")).args(["-q", "name"]),
        &env.paths,
    ));
    assert_eq!(out.parts(), (String::new(), String::new(), 0));
    let unit = fs::read_to_string(prefix.join("lib/systemd/system/jkit.service")).unwrap();
    assert!(
        unit.contains(&format!(
            "ExecStart={}/bin/jmk start --boot",
            prefix.display()
        )),
        "{unit}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_inventory_lists_local_jails_and_over_ssh_the_hosts_that_run_each_jail() {
    require_root!();
    let env = TestEnv::new("inventory");
    env.create_host_jail("invjail", &["persist", "host.hostname=inv.example"]);
    env.jmk_ok(&["start", "invjail"]);
    let path = path_with_built();
    let inventory = |extra: &[(&str, &str)]| -> serde_json::Value {
        // The script runs jq.
        tool("jq", "jq");
        let mut cmd = Command::new(repo("dist/ansible/jkit-inventory"));
        cmd.env("PATH", &path).arg("--list");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = Out::of(with_dirs(&mut cmd, &env.paths));
        if !extra.is_empty() {
            assert_eq!(out.stderr, "jkit-inventory: down: no answer, left out\n");
        }
        serde_json::from_str(out.ok()).unwrap_or_else(|e| panic!("{e}: {out}"))
    };

    let local = inventory(&[]);
    assert_eq!(local["jails"]["hosts"], serde_json::json!(["invjail"]));
    let vars = &local["_meta"]["hostvars"]["invjail"];
    assert_eq!(vars["ansible_connection"], "community.general.jail");
    assert_eq!(vars["jkit_hostname"], "inv.example");

    // Over ssh: an ssh that runs the command here, for every host but one
    // that does not answer.
    let dir = tempdir("inventory-ssh");
    let ssh = dir.join("ssh");
    fs::write(
        &ssh,
        "#!/bin/sh\nhost=$1; shift\n[ \"$host\" = down ] && exit 255\nexec \"$@\"\n",
    )
    .unwrap();
    fs::set_permissions(&ssh, fs::Permissions::from_mode(0o755)).unwrap();
    let fleet = inventory(&[
        ("JKIT_INVENTORY_HOSTS", "h1 down h2"),
        ("JKIT_INVENTORY_SSH", ssh.to_str().unwrap()),
    ]);
    assert_eq!(
        fleet["jail_hosts"]["hosts"],
        serde_json::json!(["h1", "h2"])
    );
    assert_eq!(
        fleet["jail_invjail"]["hosts"],
        serde_json::json!(["h1", "h2"])
    );
    assert_eq!(
        fleet["_meta"]["hostvars"]["h2"]["jkit_jails"][0]["name"],
        "invjail"
    );
    fs::remove_dir_all(&dir).unwrap();
    env.jmk_ok(&["stop", "invjail"]);
}
