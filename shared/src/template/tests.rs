//! Unit tests of the template parser, planner and in-root file access.

use std::fs;
use std::path::{Path, PathBuf};

use super::parse::{statements, substitute, words};
use super::plan::{Request, parse_arg, plan};
use super::sysrc::{SysrcOp, sysrc_edit, sysrc_ops};
use super::{Hook, Step};
use crate::fsio::beneath::{Kind, Root};

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("jkit-tpl-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn template(dir: &Path, text: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("Bastillefile"), text).unwrap();
}

fn req(dir: &Path) -> Request {
    Request {
        template: dir.display().to_string(),
        templates_dir: dir.join("no-templates"),
        ..Request::default()
    }
}

fn hooks_args(steps: &[Step]) -> Vec<(Hook, Vec<String>)> {
    steps.iter().map(|s| (s.hook, s.args.clone())).collect()
}

#[test]
fn continuations_join_before_comments_and_crlf_is_accepted() {
    let st =
        statements("# a comment \\\nPKG swallowed\r\nPKG a \\\n  b\r\n\n  \tCMD\techo hi  \n#x\n");
    assert_eq!(st.len(), 2, "{st:?}");
    assert_eq!(
        (st[0].line, st[0].word.as_str(), st[0].args.as_str()),
        (3, "PKG", "a   b")
    );
    assert_eq!((st[1].line, st[1].args.as_str()), (6, "echo hi  "));
}

#[test]
fn words_split_like_sh_without_expanding() {
    assert_eq!(
        words(r#"a "b c" 'd $e' f\ g "h\"i" $(x) `y`"#).unwrap(),
        ["a", "b c", "d $e", "f g", "h\"i", "$(x)", "`y`"]
    );
    assert_eq!(words("'open").unwrap_err(), "unterminated single quote");
    assert_eq!(words("\"open").unwrap_err(), "unterminated double quote");
    assert_eq!(words("").unwrap(), Vec::<String>::new());
    assert_eq!(words("''").unwrap(), [""]);
}

#[test]
fn only_declared_braced_names_are_substituted_once() {
    let vars = vec![
        ("A".to_string(), "${B}".to_string()),
        ("B".into(), "b".into()),
    ];
    assert_eq!(
        substitute("$A ${A} ${C} ${B}x ${", &vars),
        "$A ${B} ${C} bx ${"
    );
}

#[test]
fn arg_precedence_is_cli_then_file_then_default() {
    let d = tmp("prec");
    template(
        &d,
        "ARG A=da\nARG B=db\nARG C=\"dc\"\nARG D\nCMD ${A} ${B} ${C} ${D}\n",
    );
    fs::write(d.join("args"), "# c\nB=fb\nA=fa\nBB=no\n").unwrap();
    let mut r = req(&d);
    r.args = vec![parse_arg("A=ca").unwrap(), parse_arg("A=second").unwrap()];
    r.arg_file = Some(d.join("args"));
    let p = plan(&r).unwrap();
    assert_eq!(p.steps[4].args, ["ca fb dc "]);
    assert_eq!(p.warnings.len(), 1);
    assert_eq!(p.warnings[0].message, "No value provided for arg: D");
    assert!(parse_arg("=x").is_err() && parse_arg("x").is_err());
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn includes_have_their_own_scope_and_cycles_are_refused() {
    let d = tmp("incl");
    template(
        &d.join("top"),
        "ARG X=1\nINCLUDE ../mid --arg Y=${X}\nCMD top ${Y}\n",
    );
    template(&d.join("mid"), "ARG Y\nCMD mid ${Y} ${X}\n");
    let p = plan(&req(&d.join("top"))).unwrap();
    assert_eq!(
        hooks_args(&p.steps)[1..],
        [
            (
                Hook::Include,
                vec!["../mid".into(), "--arg".into(), "Y=1".into()]
            ),
            (Hook::Arg, vec!["Y".into(), "1".into()]),
            (Hook::Cmd, vec!["mid 1 ${X}".into()]),
            (Hook::Cmd, vec!["top ${Y}".into()]),
        ]
    );
    template(&d.join("mid"), "INCLUDE ../top\n");
    let e = plan(&req(&d.join("top"))).unwrap_err().to_string();
    assert!(e.contains("INCLUDE: cycle: "), "{e}");
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn config_is_normalized_and_a_trailing_semicolon_warns() {
    let d = tmp("conf");
    template(
        &d,
        "CONFIG set allow.mlock=1;\nconfig add allow.raw_sockets;\nCONFIG remove allow.mount\n",
    );
    let p = plan(&req(&d)).unwrap();
    assert_eq!(
        hooks_args(&p.steps),
        [
            (
                Hook::Config,
                vec!["set".into(), "allow.mlock".into(), "1".into()]
            ),
            (Hook::Config, vec!["set".into(), "allow.raw_sockets".into()]),
            (Hook::Config, vec!["remove".into(), "allow.mount".into()]),
        ]
    );
    assert_eq!(p.warnings.len(), 2);
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn sysrc_sets_adds_removes_and_deletes() {
    let ops = sysrc_ops(&[
        "-f".into(),
        "/etc/x.conf".into(),
        "a=1".into(),
        "b+=y".into(),
    ])
    .unwrap();
    assert_eq!(ops.file, "/etc/x.conf");
    let t = "a=\"0\"\n# keep\nb=\"x\"\na=9\n";
    let t = sysrc_edit(t, &ops.ops[0]);
    assert_eq!(t, "a=\"1\"\n# keep\nb=\"x\"\n");
    let t = sysrc_edit(&t, &ops.ops[1]);
    assert_eq!(t, "a=\"1\"\n# keep\nb=\"x y\"\n");
    let t = sysrc_edit(&t, &SysrcOp::Sub("b".into(), "x".into()));
    assert_eq!(t, "a=\"1\"\n# keep\nb=\"y\"\n");
    let t = sysrc_edit(&t, &SysrcOp::Delete("a".into()));
    assert_eq!(t, "# keep\nb=\"y\"\n");
    assert_eq!(
        sysrc_edit("", &SysrcOp::Set("q".into(), "a \"$b\"".into())),
        "q=\"a \\\"\\$b\\\"\"\n"
    );
    assert!(sysrc_ops(&["novalue".into()]).is_err());
    assert!(sysrc_ops(&["-z".into()]).is_err());
}

#[test]
fn writes_stay_inside_the_root_through_symlinks() {
    let d = tmp("root");
    let root = d.join("root");
    let outside = d.join("outside");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("hosts"), "host\n").unwrap();
    // an absolute symlink and a relative one climbing out: both stay inside
    std::os::unix::fs::symlink(outside.join("hosts"), root.join("etc/hosts")).unwrap();
    std::os::unix::fs::symlink("../../../../outside", root.join("etc/up")).unwrap();
    let r = Root::open(&root).unwrap();
    r.write(Path::new("/etc/hosts"), b"jail\n").unwrap();
    r.write(Path::new("etc/up/x"), b"x\n").unwrap();
    assert_eq!(fs::read_to_string(outside.join("hosts")).unwrap(), "host\n");
    assert!(!outside.join("x").exists());
    let inside = root.join(outside.strip_prefix("/").unwrap()).join("hosts");
    assert_eq!(fs::read_to_string(inside).unwrap(), "jail\n");
    assert_eq!(fs::read_to_string(root.join("outside/x")).unwrap(), "x\n");
    assert_eq!(r.kind(Path::new("etc")).unwrap(), Some(Kind::Dir));
    assert_eq!(r.kind(Path::new("nope/x")).unwrap(), None);
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn include_depth_is_capped() {
    let d = tmp("deep");
    for i in 0..20 {
        template(
            &d.join(format!("t{i}")),
            &format!("INCLUDE ../t{}\n", i + 1),
        );
    }
    template(&d.join("t20"), "CMD true\n");
    let e = plan(&req(&d.join("t0"))).unwrap_err();
    assert_eq!(e.exit_code(), 65);
    assert!(
        e.to_string()
            .ends_with("INCLUDE: more than 16 levels of INCLUDE"),
        "{e}"
    );
    // 15 levels are fine
    let p = plan(&req(&d.join("t5"))).unwrap();
    assert_eq!(p.steps.len(), 16);
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn copies_follow_cp_r_rules() {
    let d = tmp("cp");
    let src = d.join("tpl");
    fs::create_dir_all(src.join("usr/local/etc")).unwrap();
    fs::write(src.join("usr/local/etc/a.conf"), "a\n").unwrap();
    fs::write(src.join("f.txt"), "f\n").unwrap();
    std::os::unix::fs::symlink("a.conf", src.join("usr/local/etc/link")).unwrap();
    let root = d.join("root");
    fs::create_dir_all(root.join("usr")).unwrap();
    let r = Root::open(&root).unwrap();
    // a directory onto an existing directory goes inside it
    r.copy_in(&src.join("usr"), false, "/").unwrap();
    assert_eq!(
        fs::read_to_string(root.join("usr/local/etc/a.conf")).unwrap(),
        "a\n"
    );
    assert_eq!(
        fs::read_link(root.join("usr/local/etc/link")).unwrap(),
        Path::new("a.conf")
    );
    // a trailing / copies the contents; a new destination is the copy
    r.copy_in(&src.join("usr"), true, "opt/x").unwrap();
    assert!(root.join("opt/x/local/etc/a.conf").is_file());
    // a file into an existing directory, or a path ending in /
    r.copy_in(&src.join("f.txt"), false, "opt").unwrap();
    r.copy_in(&src.join("f.txt"), false, "new/dir/").unwrap();
    r.copy_in(&src.join("f.txt"), false, "etc/renamed").unwrap();
    for p in ["opt/f.txt", "new/dir/f.txt", "etc/renamed"] {
        assert_eq!(fs::read_to_string(root.join(p)).unwrap(), "f\n", "{p}");
    }
    // beneath a fenced directory nothing is written
    let mut r = r;
    r.fence(PathBuf::from("usr"), "/usr".into());
    let e = r
        .copy_in(&src.join("f.txt"), false, "usr/f.txt")
        .unwrap_err();
    assert_eq!(e.exit_code(), 69);
    assert!(!root.join("usr/f.txt").exists());
    assert_eq!(r.files_under(Path::new("opt")).unwrap().len(), 2);
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_walk_of_the_jails_files_stops_at_a_tree_too_deep() {
    let d = tmp("walk-depth");
    let root = d.join("root");
    let mut bottom = root.join("srv");
    for _ in 0..300 {
        bottom.push("d");
    }
    fs::create_dir_all(&bottom).unwrap();
    fs::write(bottom.join("f"), "x").unwrap();
    let r = Root::open(&root).unwrap();
    let e = r.files_under(Path::new("srv")).unwrap_err();
    assert!(e.to_string().contains("directories deep"), "{e}");
    assert_eq!(e.exit_code(), 65);
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn comments_end_where_sh_starts_them() {
    use super::parse::strip_comment;
    assert_eq!(strip_comment("a=1 # c"), "a=1 ");
    assert_eq!(strip_comment("# all"), "");
    assert_eq!(strip_comment("a#b c\t#d"), "a#b c\t");
    assert_eq!(
        strip_comment(r#""x # y" 'p # q' z\ #w"#),
        r#""x # y" 'p # q' z\ #w"#
    );
    assert_eq!(strip_comment(r#""a\" # b" #c"#), r#""a\" # b" "#);
    assert_eq!(strip_comment("set allow.mlock=1; #"), "set allow.mlock=1; ");
}

#[test]
fn urls_bastille_takes_name_templates_owner_repo() {
    let root = tmp("url");
    template(&root.join("t/acme/web"), "CMD true\n");
    template(
        &root.join("top"),
        "INCLUDE https://git.example/acme/web/tree/main\n",
    );
    let mut r = req(&root.join("top"));
    r.templates_dir = root.join("t");
    let p = plan(&r).unwrap();
    assert_eq!(
        p.steps.last().unwrap().file,
        root.join("t/acme/web/Bastillefile")
    );
    for (url, code) in [
        ("https://git.example/acme/other", 69),
        ("http://git.example/acme/web", 69),
        ("https://git.example/acme", 69),
        ("https://git.example//web", 69),
    ] {
        template(&root.join("top"), &format!("INCLUDE {url}\n"));
        assert_eq!(plan(&r).unwrap_err().exit_code(), code, "{url}");
    }
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn limits_take_units_and_bastilles_three_word_forms() {
    let root = tmp("limits");
    let plan_of = |text: &str| {
        template(&root, text);
        plan(&req(&root))
    };
    let p = plan_of("LIMITS memoryuse 512M\nLIMITS add maxproc 2k\nLIMITS remove cpu x\n").unwrap();
    assert_eq!(
        hooks_args(&p.steps)
            .into_iter()
            .map(|(_, a)| a)
            .collect::<Vec<_>>(),
        [
            vec!["memoryuse", "512M"],
            vec!["maxproc", "2k"],
            vec!["remove", "cpu"]
        ]
    );
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    for bad in [
        "LIMITS memoryuse 5Q",
        "LIMITS add memoryuse",
        "LIMITS a b c d",
        "LIMITS remove",
        "LIMITS show active",
    ] {
        assert_eq!(plan_of(bad).unwrap_err().exit_code(), 65, "{bad}");
    }
    let _ = fs::remove_dir_all(&root);
}
