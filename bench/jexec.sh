#!/bin/bash
# jexec-rs entering a running Linux jail to run /bin/true, against
# `nsenter --all -t INIT /bin/true` into the same jail (its init's
# namespaces) and against plain /bin/true, in one hyperfine run (no shell),
# with a floor beside them: bench/forkexec.c, static C that only forks,
# execs /bin/true and waits, the least any tool that runs the command as
# its child pays on this machine.
# Prints mean, median and minimum per command, the differences the budget
# names, and the stripped release binary's size. Then the same three
# commands once more, interleaved run by run (python3, posix_spawn): on a
# shared machine hyperfine's one block per command can land in different
# load, which a round-robin spreads over all three alike. Last, the
# interleaved rounds with a 50 ms pause before every command, as a person
# or a script runs one now and then: kernel work that a command sequence
# back to back shares (an RCU grace period that one cgroup move waited
# for and the next finds passed) is paid by every command there.
#
# Needs root (a real jail) and hyperfine (installed with apt-get when
# missing). Usage: bench/jexec.sh [RUNS]   (default 1000 per command)
# Budget (issue 4): no slower than nsenter, within 1 ms of plain /bin/true,
# release binary (stripped) under 1 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-1000}
[ "$(id -u)" = 0 ] || { echo "bench/jexec.sh: needs root (a real jail)" >&2; exit 77; }
if ! command -v hyperfine >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
fi
command -v nsenter >/dev/null || { echo "bench/jexec.sh: needs nsenter (util-linux)" >&2; exit 69; }
command -v python3 >/dev/null || { echo "bench/jexec.sh: needs python3 (the interleaved pass)" >&2; exit 69; }

. bench/jail.sh
bench_jail jexec
# Static, as a tool could be built: no dynamic loader at its start.
cc -O2 -static -o "$BASE/forkexec" bench/forkexec.c

hyperfine -N --warmup 50 --runs "$RUNS" --export-csv "$BASE/times.csv" \
    -n jexec-rs "$T/jexec-rs bench /bin/true" \
    -n nsenter "nsenter --all -t $INIT /bin/true" \
    -n true "/bin/true" \
    -n floor "$BASE/forkexec /bin/true" >/dev/null

size=$(stat -c %s "$T/jexec-rs")
# times.csv: command,mean,stddev,median,user,system,min,max (seconds).
awk -F, -v size="$size" '
NR > 1 { mean[$1] = $2 * 1000; median[$1] = $4 * 1000; min[$1] = $7 * 1000; n[++k] = $1 }
END {
    printf "%-10s %8s %10s %8s\n", "command", "mean ms", "median ms", "min ms"
    for (i = 1; i <= k; i++) printf "%-10s %8.3f %10.3f %8.3f\n", n[i], mean[n[i]], median[n[i]], min[n[i]]
    print ""
    printf "mean:   jexec-rs - nsenter = %+.3f ms, jexec-rs - true = %+.3f ms, nsenter - true = %+.3f ms\n",
        mean["jexec-rs"] - mean["nsenter"], mean["jexec-rs"] - mean["true"], mean["nsenter"] - mean["true"]
    printf "median: jexec-rs - nsenter = %+.3f ms, jexec-rs - true = %+.3f ms, nsenter - true = %+.3f ms\n",
        median["jexec-rs"] - median["nsenter"], median["jexec-rs"] - median["true"], median["nsenter"] - median["true"]
    printf "min:    jexec-rs - nsenter = %+.3f ms, jexec-rs - true = %+.3f ms, nsenter - true = %+.3f ms\n",
        min["jexec-rs"] - min["nsenter"], min["jexec-rs"] - min["true"], min["nsenter"] - min["true"]
    printf "floor (fork, exec, wait; static C) - true: median %+.3f ms\n", median["floor"] - median["true"]
    printf "\njexec-rs release binary: %d bytes (%.2f MiB; budget 1 MiB)\n", size, size / 1048576
}' "$BASE/times.csv"

# Interleaved: each round runs jexec-rs, nsenter and true once, in turn;
# then at most 100 rounds with the pause.
python3 - "$RUNS" "$T/jexec-rs" "$INIT" <<'PY'
import os, statistics, sys, time
runs, jexec, init = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cmds = {
    "jexec-rs": [jexec, "bench", "/bin/true"],
    "nsenter": ["/usr/bin/nsenter", "--all", "-t", init, "/bin/true"],
    "true": ["/bin/true"],
}
null = os.open("/dev/null", os.O_RDWR)
io = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
for rounds, pause in ((runs, 0), (min(runs, 100), 0.05)):
    ms = {name: [] for name in cmds}
    for _ in range(rounds):
        for name, argv in cmds.items():
            time.sleep(pause)
            start = time.perf_counter_ns()
            os.waitpid(os.posix_spawn(argv[0], argv, os.environ, file_actions=io), 0)
            ms[name].append((time.perf_counter_ns() - start) / 1e6)
    print(f"\ninterleaved, {rounds} rounds, {pause * 1000:.0f} ms pause before each command:")
    print(f"{'command':10s} {'mean ms':>8s} {'median ms':>10s} {'p10 ms':>8s}")
    med = {}
    for name, t in ms.items():
        t.sort()
        med[name] = statistics.median(t)
        print(f"{name:10s} {statistics.mean(t):8.3f} {med[name]:10.3f} {t[len(t) // 10]:8.3f}")
    print(f"median: jexec-rs - nsenter = {med['jexec-rs'] - med['nsenter']:+.3f} ms, "
          f"jexec-rs - true = {med['jexec-rs'] - med['true']:+.3f} ms, "
          f"nsenter - true = {med['nsenter'] - med['true']:+.3f} ms")
PY
