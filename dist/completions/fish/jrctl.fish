# fish completion for jrctl: rctl(8)'s options, then rules and filters
# built a field at a time (subject:id:resource:action=amount).
function __jkit_rctl_rule
    set -l token (commandline -ct)
    set -l fields (string split : -- $token)
    set -l done (string join : -- $fields[1..-2])
    test -n "$done"; and set done "$done:"
    switch (count $fields)
        case 1
            printf '%s:\n' jail user loginclass process
        case 2
            if test "$fields[1]" = jail
                jls-rs name 2>/dev/null | string replace -r '(.*)' "$done\$1:"
            end
        case 3
            for r in cputime datasize stacksize coredumpsize memoryuse memorylocked maxproc openfiles vmemoryuse pseudoterminals swapuse nthr msgqqueued msgqsize nmsgq nsem nsemop nshm shmsize wallclock pcpu readbps writebps readiops writeiops
                echo "$done$r:"
            end
        case '*'
            for a in deny log devctl throttle sigterm sigkill sighup
                echo "$done$a="
            end
    end
end

complete -c jrctl -s a -d 'add rules'
complete -c jrctl -s h -d 'humanize amounts'
complete -c jrctl -s l -d 'show the rules that apply to a process'
complete -c jrctl -s n -d 'numeric user ids'
complete -c jrctl -s r -d 'remove the rules the filters match'
complete -c jrctl -s u -d 'show the resource usage of a subject'
complete -c jrctl -l json -d 'NDJSON rule and usage records'
complete -c jrctl -f -a '(__jkit_rctl_rule)'
