//! `jmk completions SHELL`: clap's script for jmk's command line, with the
//! names of the defined jails (`jls-rs --defined name`, running or not)
//! where a command takes jails, for bash, zsh and fish: clap's scripts
//! know the commands and options, not the jails.

use clap_complete::Shell;

/// jmk's completion script for `shell`.
pub fn script(shell: Shell, cmd: &mut clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, cmd, "jmk", &mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    match shell {
        Shell::Bash => format!("{text}{BASH}").into_bytes(),
        Shell::Fish => format!("{text}{FISH}").into_bytes(),
        Shell::Zsh => zsh(&text).into_bytes(),
        _ => out,
    }
}

/// The jail operands as clap's zsh script spells them (from the doc
/// comments of `Command`), each completed by `_default`; the snapshot
/// commands' NAME[@TAG] complete the NAME.
const ZSH_JAIL_OPERANDS: &[&str] = &[
    "'*::names -- Jail names, or `-`:_default'",
    "':src -- The jail to clone:_default'",
    "':name -- The jail:_default'",
    "'::target -- NAME\\[@TAG\\]:_default'",
    "':target -- NAME\\[@TAG\\]:_default'",
    "':target -- NAME@TAG:_default'",
];

/// clap's zsh script with `_jkit_jails` completing the jail operands.
fn zsh(text: &str) -> String {
    let mut text = text.to_string();
    for operand in ZSH_JAIL_OPERANDS {
        text = text.replace(operand, &operand.replace(":_default'", ":_jkit_jails'"));
    }
    match text.split_once('\n') {
        Some((compdef, rest)) => format!("{compdef}\n{ZSH_JAILS}{rest}"),
        None => text,
    }
}

const ZSH_JAILS: &str = r#"
# The defined jails, running or not.
_jkit_jails() {
  local -a jails
  jails=(${(f)"$(jls-rs --defined name 2>/dev/null)"})
  compadd -a jails
}
"#;

const BASH: &str = r#"
# The defined jails (running or not) where jmk's commands take jails.
_jkit_jmk() {
    _jmk "$@"
    local cur=${COMP_WORDS[COMP_CWORD]} i cmd="" operands=0
    [[ $cur == -* ]] && return
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -i | -s | -d | -t | --interface | --source | --destination | --type) ((i++)) ;;
            -*) ;;
            *) if [[ -z $cmd ]]; then cmd=${COMP_WORDS[i]}; else ((operands++)); fi ;;
        esac
    done
    case $cmd:$operands in
        start:* | stop:* | restart:* | destroy:* | clone:0 | rdr:0 | snapshot:0 | rollback:0 | diff:0 | export:0)
            mapfile -t COMPREPLY < <(compgen -W "$(jls-rs --defined name 2>/dev/null)" -- "$cur")
            ;;
    esac
}
complete -F _jkit_jmk -o bashdefault -o default jmk
"#;

const FISH: &str = r#"
# The defined jails (running or not) where jmk's commands take jails.
complete -c jmk -n "__fish_seen_subcommand_from start stop restart destroy clone rdr snapshot rollback diff export" -f -a "(jls-rs --defined name 2>/dev/null)" -d jail
"#;
