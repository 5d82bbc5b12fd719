#!/bin/bash
# jrctl's usage reports against real Linux jails (cgroups of the host):
# `jrctl -u jail:NAME` for one jail, and `jls-rs --json | jrctl -u -` for
# 100 jails, each against the floor of reading the same cgroup counter
# files with cat. Time with hyperfine, in one run.
#
# Needs root (real jails and cgroups) and Debian's hyperfine.
# Usage: bench/jrctl.sh [JAILS]   (default: 100)
# Budget (issue 6): one jail under 5 ms; 100 jails through jls-rs under 100 ms.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-100}
command -v hyperfine >/dev/null || { echo "bench/jrctl.sh: needs hyperfine (apt-get install hyperfine)" >&2; exit 69; }
[ "$(id -u)" = 0 ] || { echo "bench/jrctl.sh: needs root (real jails)" >&2; exit 77; }

T=$(scripts/release-build -p jrctl -p jls-rs -p jmk)
BASE=$(mktemp -d /tmp/jkit-bench-jrctl.XXXXXX)
export JKIT_CONF_DIR=$BASE/conf JKIT_RUN_DIR=$BASE/run JKIT_DATA_DIR=$BASE/data
mkdir -p "$JKIT_CONF_DIR" "$BASE/roots"
started=0

cleanup() {
    if [ "$started" -gt 0 ]; then
        "$T/jmk" stop $(seq -f 'r%g' 1 "$started") >/dev/null 2>&1 || true
    fi
    grep -o " $BASE/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$BASE"
    # The empty cgroup bases jkit keeps for the next start (in-use ones stay).
    rmdir /sys/fs/cgroup/*/jkit-*/ /sys/fs/cgroup/jkit-*/ 2>/dev/null || true
}
trap cleanup EXIT

# N persistent jails with empty roots, each with a few rules.
for ((i = 1; i <= N; i++)); do
    mkdir -p "$BASE/roots/r$i"
    printf 'r%d {\n\tpath = "%s";\n\tpersist;\n}\n' "$i" "$BASE/roots/r$i" >"$JKIT_CONF_DIR/r$i.conf"
    printf 'jail:r%d:maxproc:deny=100\njail:r%d:memoryuse:deny=268435456\n' "$i" "$i" >"$JKIT_CONF_DIR/r$i.rctl"
done
"$T/jmk" start $(seq -f 'r%g' 1 "$N") >/dev/null
started=$N
[ "$("$T/jls-rs" --json | wc -l)" = "$N" ] || { echo "expected $N running jails" >&2; exit 70; }

# The counter files jrctl reads per jail (v1: one directory per controller).
counters() {
    local dirs
    dirs=$(sed -n 's/.*"dirs":\[\(.*\)\]}.*/\1/p' "$JKIT_RUN_DIR/jails/$1/cgroup.json" | grep -o '"/[^"]*"' | tr -d '"' | sort -u)
    for d in $dirs; do
        for f in cpuacct.usage memory.usage_in_bytes memory.memsw.usage_in_bytes pids.current \
                 blkio.throttle.io_service_bytes blkio.throttle.io_serviced \
                 memory.current memory.swap.current io.stat; do
            if [ -e "$d/$f" ]; then echo "$d/$f"; fi
        done
    done | sort -u
}
one=$(counters r1 | tr '\n' ' ')
all=$(for ((i = 1; i <= N; i++)); do counters "r$i"; done | tr '\n' ' ')

mean_ms() { sed -n 's/.*"mean": *\([0-9.e+-]*\).*/\1/p' "$1" | head -1 | awk '{ printf "%.2f", $1 * 1000 }'; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
run() { # name, hyperfine options..., command
    local name=$1
    shift
    hyperfine -w 10 -r 100 --export-json "$BASE/h.json" "$@" >/dev/null 2>&1
    printf '%-44s %9s ms\n' "$name" "$(mean_ms "$BASE/h.json")"
}

printf 'jails: %d (cgroup %s)\n\n' "$N" "$(sed -n 's/.*"v2":\(true\|false\).*/\1/p' "$JKIT_RUN_DIR/jails/r1/cgroup.json" | sed 's/true/v2/;s/false/v1/')"
run "cat of one jail's counters (floor)" -N "cat $one"
c1=$(mean_ms "$BASE/h.json")
run "jrctl -u jail:r1" -N "$T/jrctl -u jail:r1"
u1=$(mean_ms "$BASE/h.json")
run "jrctl --json -u jail:r1" -N "$T/jrctl --json -u jail:r1"
# shellcheck disable=SC2086
run "cat of $N jails' counters (floor)" -N "cat $all"
cn=$(mean_ms "$BASE/h.json")
run "jls-rs --json (alone)" -N "$T/jls-rs --json"
run "jls-rs --json | jrctl -u - ($N jails)" "$T/jls-rs --json | $T/jrctl -u - >/dev/null"
un=$(mean_ms "$BASE/h.json")
run "jls-rs --json | jrctl --json -u - ($N jails)" "$T/jls-rs --json | $T/jrctl --json -u - >/dev/null"
printf '\none jail:  %s ms = %sx the cat floor (budget 5 ms)\n' "$u1" "$(calc "$u1 / $c1")"
printf '%d jails: %s ms = %sx the cat floor, %s us per jail (budget 100 ms)\n' "$N" "$un" "$(calc "$un / $cn")" "$(calc "$un * 1000 / $N")"
