# Sourced by the benchmarks that time commands in one running jail
# (bench/jexec.sh, bench/jexec-stdio.sh): `bench_jail TAG` builds jexec-rs
# and jmk for release (T: their directory), keeps jkit's state in a fresh
# directory (BASE, /tmp/jkit-bench-TAG.*), creates and starts the thin jail
# `bench` there (INIT: its init's pid on the host) and removes all of it,
# mounts and empty cgroup bases included, when the benchmark exits.

bench_jail() {
    T=$(scripts/release-build -p jexec-rs -p jmk)
    BASE=$(mktemp -d "/tmp/jkit-bench-$1.XXXXXX")
    export JKIT_CONF_DIR=$BASE/conf JKIT_RUN_DIR=$BASE/run JKIT_DATA_DIR=$BASE/data
    BENCH_JAIL_CREATED=0
    trap bench_jail_cleanup EXIT
    # A thin jail of the host (its /bin/true is the host's, bound read-only).
    "$T/jmk" create bench >/dev/null
    BENCH_JAIL_CREATED=1
    "$T/jmk" start bench >/dev/null
    INIT=$(sed -n 's/.*"init":{"pid":\([0-9]*\).*/\1/p' "$JKIT_RUN_DIR/jails/bench/state.json")
    [ -n "$INIT" ] || { echo "$0: no init pid in the jail's state" >&2; exit 70; }
}

bench_jail_cleanup() {
    if [ "$BENCH_JAIL_CREATED" = 1 ]; then
        "$T/jmk" stop bench >/dev/null 2>&1 || true
        "$T/jmk" destroy bench >/dev/null 2>&1 || true
    fi
    # What jkit keeps mounted under its run directory (the pin holder).
    awk -v base="$BASE" '$5 ~ "^" base { print $5 }' /proc/self/mountinfo | sort -r | xargs -r umount -l
    rm -rf "$BASE"
    # The empty cgroup bases jkit keeps for the next start (in-use ones stay).
    rmdir /sys/fs/cgroup/*/jkit-*/ /sys/fs/cgroup/jkit-*/ 2>/dev/null || true
}
