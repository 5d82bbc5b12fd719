#!/bin/bash
# What jexec-rs's standard descriptors cost (issue 16): `jexec-rs JAIL
# /bin/true` with its stdio on a pseudo-terminal (interactive: the command
# runs on a pty of the jail's own, relayed, and the caller's terminal goes
# into raw mode and back), against the same with stdin from /dev/null
# (stdout and stderr still on the pty: one pipe, relayed to it); with
# pipes (passed as they are, the scripts' case) and stdout on a regular
# file (relayed through a pipe), beside nsenter into the same jail with
# pipes. One jail, every command interleaved round by round (python3,
# posix_spawn, the pty made with os.openpty; it is not the spawned
# process's controlling terminal, which jexec-rs does not need).
#
# With JEXEC_BASELINE=PATH (a jexec-rs built before this relay, e.g. from
# the commit before it), that binary runs too, with /dev/null and with
# pipes, beside this one with the same.
# Prints mean, median and p10 per case, and the differences the budget
# names. Needs root (a real jail), python3 and nsenter.
# Usage: [JEXEC_BASELINE=PATH] bench/jexec-stdio.sh [ROUNDS]   (default 500)
# Budget (issue 16): the pty path adds under 1 ms; pipes and /dev/null no
# slower than before (bench/jexec.sh compares /dev/null with nsenter).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-500}
[ "$(id -u)" = 0 ] || { echo "bench/jexec-stdio.sh: needs root (a real jail)" >&2; exit 77; }
command -v nsenter >/dev/null || { echo "bench/jexec-stdio.sh: needs nsenter (util-linux)" >&2; exit 69; }
command -v python3 >/dev/null || { echo "bench/jexec-stdio.sh: needs python3" >&2; exit 69; }

. bench/jail.sh
bench_jail stdio

python3 - "$ROUNDS" "$T/jexec-rs" "$INIT" "$BASE" "${JEXEC_BASELINE:-}" <<'PY'
import os, statistics, sys, time
rounds, jexec, init, base, baseline = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
jexec_true = [jexec, "bench", "/bin/true"]
nsenter_true = ["/usr/bin/nsenter", "--all", "-t", init, "/bin/true"]
master, slave = os.openpty()
null = os.open("/dev/null", os.O_RDWR)
pipe_in, pipe_in_w = os.pipe()
pipe_out_r, pipe_out = os.pipe()
log = os.open(os.path.join(base, "log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
def io(stdin, stdout, stderr):
    return [(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate((stdin, stdout, stderr))]
cases = {
    "pty (relay)": (jexec_true, io(slave, slave, slave)),
    "pty, </dev/null": (jexec_true, io(null, slave, slave)),
    "pipes": (jexec_true, io(pipe_in, pipe_out, pipe_out)),
    "file stdout": (jexec_true, io(null, log, log)),
    "nsenter, pipes": (nsenter_true, io(pipe_in, pipe_out, pipe_out)),
}
if baseline:
    before = [baseline, "bench", "/bin/true"]
    cases["</dev/null"] = (jexec_true, io(null, null, null))
    cases["baseline </dev/null"] = (before, io(null, null, null))
    cases["baseline pipes"] = (before, io(pipe_in, pipe_out, pipe_out))
ms = {name: [] for name in cases}
for _ in range(rounds):
    for name, (argv, actions) in cases.items():
        start = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        ms[name].append((time.perf_counter_ns() - start) / 1e6)
        if status != 0:
            sys.exit(f"{name}: status {status}")
print(f"interleaved, {rounds} rounds:")
print(f"{'case':18s} {'mean ms':>8s} {'median ms':>10s} {'p10 ms':>8s}")
med = {}
for name, t in ms.items():
    t.sort()
    med[name] = statistics.median(t)
    print(f"{name:18s} {statistics.mean(t):8.3f} {med[name]:10.3f} {t[len(t) // 10]:8.3f}")
print(f"median: pty (relay) - pty </dev/null = {med['pty (relay)'] - med['pty, </dev/null']:+.3f} ms (budget: under 1 ms)")
print(f"median: pipes - nsenter = {med['pipes'] - med['nsenter, pipes']:+.3f} ms, "
      f"file stdout - pipes = {med['file stdout'] - med['pipes']:+.3f} ms")
if baseline:
    print(f"median: against the baseline: </dev/null {med['</dev/null'] - med['baseline </dev/null']:+.3f} ms, "
          f"pipes {med['pipes'] - med['baseline pipes']:+.3f} ms")
PY
