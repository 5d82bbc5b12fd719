# fish completion for jexec-rs (and jexec, linked to it): options, a
# running jail, then a command as for any other.
function __jkit_jexec_has_jail
    # Whether the jail operand has been typed.
    set -l words (commandline -opc)
    set -e words[1]
    while set -q words[1]
        switch $words[1]
            case -u -U -d
                set -e words[1]
            case '-*'
            case '*'
                return 0
        end
        set -e words[1]
    end
    return 1
end

for cmd in jexec-rs jexec
    complete -c $cmd -n 'not __jkit_jexec_has_jail' -s l -d 'clean login environment'
    complete -c $cmd -n 'not __jkit_jexec_has_jail' -s u -x -a '(__fish_complete_users)' -d 'run as this user of the host'
    complete -c $cmd -n 'not __jkit_jexec_has_jail' -s U -x -a '(__fish_complete_users)' -d 'run as this user of the jail'
    complete -c $cmd -n 'not __jkit_jexec_has_jail' -s d -x -a '(__fish_complete_directories)' -d 'directory in the jail'
    complete -c $cmd -n 'not __jkit_jexec_has_jail' -f -a '(jls-rs name 2>/dev/null)' -d jail
    # The command after the jail: fish skips the tool and the jail, and
    # the value of each option that takes one.
    complete -c $cmd -n __jkit_jexec_has_jail -x -a '(__fish_complete_subcommand --fcs-skip=2 -u -U -d)'
end
