#!/usr/bin/env bash
# jmk create, start, stop and destroy of one jail with N other jails
# defined and running (default 500) against the same with none, and the
# host memory each running jail takes.
#
# Two state directories: an empty one and one holding N running thin jails.
# The four commands are timed on each in turn, ROUNDS times (interleaved, so
# both see the same background load), and the median of each is compared.
# Memory per jail: what the N jails' cgroups are charged, over N; and
# MemAvailable before the N jails start less after, over N (noisy on a
# host where anything else runs).
# Run as root from the repository: bench/scale.sh [N [ROUNDS]] (default 500
# and 15); JMK=PATH times another jmk binary (default: a release build).
# Budget (issue 20): each command within 20% (ratio <= 1.20).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "bench/scale.sh: needs python3" >&2; exit 69; }
N=${1:-500}
ROUNDS=${2:-15}
if [ -z "${JMK:-}" ]; then
  JMK=$(scripts/release-build -p jmk)/jmk
fi
BASE=$(mktemp -d "${BENCH_DIR:-/tmp}/jkit-scale.XXXXXX")
env_of() { # the JKIT_* variables of state directory $1 (empty|full)
  echo "JKIT_JAIL_CONF=$BASE/$1/jail.conf JKIT_CONF_DIR=$BASE/$1/conf JKIT_DATA_DIR=$BASE/$1/data JKIT_RUN_DIR=/run/jkit-scale-$$-$1"
}
cleanup() {
  for d in empty full; do
    env $(env_of $d) "$JMK" -r '*' >/dev/null 2>&1 || true
    for c in "$BASE/$d"/conf/*.conf; do
      [ -e "$c" ] && env $(env_of $d) "$JMK" destroy -f "$(basename "$c" .conf)" >/dev/null 2>&1
    done
    awk -v run="/run/jkit-scale-$$-$d" '$5 ~ "^" run { print $5 }' /proc/self/mountinfo | sort -r | xargs -r umount -l
    rm -rf "/run/jkit-scale-$$-$d"
  done
  rm -rf "$BASE"
}
trap cleanup EXIT
mkdir -p "$BASE/empty" "$BASE/full"

avail() { awk '/^MemAvailable/ { print $2 }' /proc/meminfo; }
sync; echo 1 > /proc/sys/vm/drop_caches
before=$(avail)
for i in $(seq 1 "$N"); do
  env $(env_of full) "$JMK" create "s$i" >/dev/null
  env $(env_of full) "$JMK" start "s$i" >/dev/null
done
sync; echo 1 > /proc/sys/vm/drop_caches
after=$(avail)
# What the jails' cgroups are charged (their base holds them all): the
# figure other builds on the host do not move.
base=jkit-$(python3 -c 'import sys
h = 0xcbf29ce484222325
for b in sys.argv[1].encode():
    h = ((h ^ b) * 0x100000001b3) % 2**64
print("%016x" % h)' "/run/jkit-scale-$$-full")
charged=$(cat "/sys/fs/cgroup/memory/$base/memory.usage_in_bytes" 2>/dev/null || cat "/sys/fs/cgroup/$base/memory.current")
running=$(env $(env_of full) "$(dirname "$JMK")/jls-rs" -n name 2>/dev/null | wc -l || true)

python3 - "$JMK" "$ROUNDS" "$N" "$before" "$after" "$(env_of empty)" "$(env_of full)" "$charged" <<'EOF'
import os, statistics, subprocess, sys, time
jmk, rounds, n, before, after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
charged = int(sys.argv[8])
envs = {}
for name, spec in (("empty", sys.argv[6]), ("full", sys.argv[7])):
    e = dict(os.environ)
    e.update(kv.split("=", 1) for kv in spec.split())
    envs[name] = e
ops = [("create", ["create", "x"]), ("start", ["start", "x"]), ("stop", ["stop", "x"]), ("destroy", ["destroy", "x"])]
times = {(d, op): [] for d in envs for op, _ in ops}
for r in range(rounds + 2):
    for d in ("empty", "full") if r % 2 == 0 else ("full", "empty"):
        for op, args in ops:
            t = time.perf_counter()
            subprocess.run([jmk] + args, env=envs[d], check=True, stdout=subprocess.DEVNULL)
            if r >= 2:  # two rounds of warm-up
                times[(d, op)].append((time.perf_counter() - t) * 1000)
print(f"jails defined and running: {n}; rounds: {rounds}; load: {os.getloadavg()[0]:.2f}")
print(f"{'command':10} {'none (ms)':>10} {f'{n} (ms)':>10} {'ratio':>7}")
worst = 0
for op, _ in ops:
    a, b = statistics.median(times[("empty", op)]), statistics.median(times[("full", op)])
    worst = max(worst, b / a)
    print(f"jmk {op:6} {a:10.2f} {b:10.2f} {b / a:7.3f}")
print(f"memory per running jail: {charged / n / 2**20:.2f} MB charged to its cgroup; "
      f"{(before - after) / n / 1024:.2f} MB of MemAvailable (caches dropped; moved by whatever else runs)")
print(f"worst ratio {worst:.3f} (budget 1.20)")
EOF
echo "jls-rs lists $running running jails in the full directory"
