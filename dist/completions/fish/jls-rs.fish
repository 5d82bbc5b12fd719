# fish completion for jls-rs (and jls, linked to it).
for cmd in jls-rs jls
    complete -c $cmd -s c -d 'exit 0 if the jail exists, 1 if not'
    complete -c $cmd -s d -d 'include dying jails'
    complete -c $cmd -s h -d 'print a header line and every parameter'
    complete -c $cmd -s N -d 'print the jail name instead of the jid'
    complete -c $cmd -s n -d 'print parameters as name=value'
    complete -c $cmd -s q -d 'quote parameter values that need it'
    complete -c $cmd -s s -d 'print parameters as jail(8) would set them'
    complete -c $cmd -s v -d 'verbose listing'
    complete -c $cmd -s j -x -a '(jls-rs name 2>/dev/null)' -d 'only this jail'
    complete -c $cmd -l json -d 'NDJSON jail records'
    complete -c $cmd -l defined -d 'with --json: also defined jails that do not run'
    complete -c $cmd -l libxo -x -a 'json xml text html' -d 'libxo output format'
    complete -c $cmd -f -a 'jid name path host.hostname ip4.addr ip6.addr persist dying vnet securelevel all'
end
