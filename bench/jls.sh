#!/bin/bash
# jls-rs listing N running Linux jails: default text, -s (every parameter,
# skip rules) and --json, against the floor of reading the same jails'
# state files with cat. Time (hyperfine, no shell), peak memory (GNU time's
# maximum resident set size), and the release binary's size, in one run.
#
# Needs root (real jails: namespaces, init, pins) and the Debian packages
# hyperfine and time. Usage: bench/jls.sh [N ...]   (default: 250 500 1000)
# Budget (issue 3): under 25 ms and 4 MiB for 1,000 jails, time linear in
# the number of jails, stripped release binary under 1 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -gt 0 ]; then COUNTS=("$@"); else COUNTS=(250 500 1000); fi
for tool in hyperfine /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench/jls.sh: needs $tool (apt-get install hyperfine time)" >&2; exit 69; }
done
[ "$(id -u)" = 0 ] || { echo "bench/jls.sh: needs root (real jails)" >&2; exit 77; }

T=$(scripts/release-build -p jls-rs -p jmk)
BASE=$(mktemp -d /tmp/jkit-bench-jls.XXXXXX)
export JKIT_CONF_DIR=$BASE/conf JKIT_RUN_DIR=$BASE/run JKIT_DATA_DIR=$BASE/data
mkdir -p "$JKIT_CONF_DIR" "$BASE/roots"
started=0

cleanup() {
    if [ "$started" -gt 0 ]; then
        for ((i = 1; i <= started; i += 100)); do
            end=$((i + 99 < started ? i + 99 : started))
            "$T/jmk" stop $(seq -f 'b%g' "$i" "$end") >/dev/null 2>&1 || true
        done
    fi
    # The namespace holder stays pinned after the last jail (RUN/holder).
    awk -v base="$BASE/" 'index($5, base) == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m" || true; done
    rm -rf "$BASE"
    # The empty cgroup bases jkit keeps for the next start (in-use ones stay).
    rmdir /sys/fs/cgroup/*/jkit-*/ /sys/fs/cgroup/jkit-*/ 2>/dev/null || true
}
trap cleanup EXIT

# Define and start jails b(started+1) .. b$1.
grow() {
    local n=$1 i
    for ((i = started + 1; i <= n; i++)); do
        mkdir -p "$BASE/roots/b$i"
        printf 'b%d {\n\tpath = "%s";\n\thost.hostname = "b%d.bench.example.org";\n\tpersist;\n}\n' \
            "$i" "$BASE/roots/b$i" "$i" >"$JKIT_CONF_DIR/b$i.conf"
    done
    for ((i = started + 1; i <= n; i += 100)); do
        local end=$((i + 99 < n ? i + 99 : n))
        "$T/jmk" start $(seq -f 'b%g' "$i" "$end") >/dev/null
    done
    started=$n
}

# Mean time of a command in ms (hyperfine JSON), and its peak RSS in KiB.
mean_ms() { sed -n 's/.*"mean": *\([0-9.e+-]*\).*/\1/p' "$1" | head -1 | awk '{ printf "%.2f", $1 * 1000 }'; }
peak_kib() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

size=$(stat -c %s "$T/jls-rs")
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
printf 'jls-rs release binary: %d bytes (%s MiB; budget 1 MiB)\n\n' "$size" "$(calc "$size / 1048576")"
printf '%6s  %-10s %10s %8s %10s %12s\n' jails what "mean ms" "x cat" "peak KiB" "us per jail"
for n in "${COUNTS[@]}"; do
    grow "$n"
    printf '%6d  load average %s\n' "$n" "$(cut -d' ' -f1-3 /proc/loadavg)"
    [ "$("$T/jls-rs" jid | wc -l)" = "$n" ] || { echo "expected $n running jails" >&2; exit 70; }
    states=$(ls "$JKIT_RUN_DIR"/jails/*/state.json)
    # shellcheck disable=SC2086
    hyperfine -N -w 5 -r 40 --export-json "$BASE/cat.json" "cat $(echo $states)" >/dev/null 2>&1
    floor=$(mean_ms "$BASE/cat.json")
    printf '%6d  %-10s %10s %8s %10s %12s\n' "$n" cat "$floor" 1.00 \
        "$(peak_kib cat $states)" "$(calc "$floor * 1000 / $n")"
    for mode in default -s --json; do
        args=()
        [ "$mode" != default ] && args=("$mode")
        hyperfine -N -w 5 -r 40 --export-json "$BASE/m.json" "$T/jls-rs ${args[*]}" >/dev/null 2>&1
        ms=$(mean_ms "$BASE/m.json")
        printf '%6d  %-10s %10s %8s %10s %12s\n' "$n" "$mode" "$ms" \
            "$(calc "$ms / $floor")" \
            "$(peak_kib "$T/jls-rs" "${args[@]}")" "$(calc "$ms * 1000 / $n")"
    done
done
