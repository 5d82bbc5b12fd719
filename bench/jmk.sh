#!/usr/bin/env bash
# jmk create + start of a thin jail against unshare(1) and bwrap(1) doing
# the namespace work alone, and jmk stop + destroy; then 100 jails created
# and started one after another, to show the per-jail time does not grow.
#
# hyperfine, in rounds (no shell: every timed command is one exec, as
# unshare is). `jmk create` and `jmk start` are timed as two commands (a
# prepare step destroys, or stops, the jail before each run) and "create +
# start" is the sum of their medians; a `sh -c 'create && start'` would add
# a shell's start-up, about 0.7 ms here, that unshare does not pay.
# Run as root from the repository: bench/jmk.sh [RUNS [ROUNDS]] (default
# 20 runs of each command in each of 5 rounds);
# BENCH_DIR puts definitions and roots on another filesystem (default /tmp);
# JMK_BASELINE=PATH adds another jmk binary (an older build) to the
# interleaved pass, with state directories of its own.
# Budget (issue 2): create + start under 3x the unshare command.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "bench/jmk.sh: needs python3 (the interleaved pass)" >&2; exit 69; }
command -v hyperfine >/dev/null && command -v bwrap >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine bubblewrap >/dev/null
}
RUNS=${1:-20}
ROUNDS=${2:-5}
JMK=$(scripts/release-build -p jmk)/jmk
# Definitions and roots on disk, runtime state under /run, as installed.
BASE=$(mktemp -d "${BENCH_DIR:-/tmp}/jkit-bench.XXXXXX")
export JKIT_CONF_DIR=$BASE/conf JKIT_DATA_DIR=$BASE/data JKIT_RUN_DIR=/run/jkit-bench-$$
cleanup() {
  for j in b $(seq -f 'n%g' 1 100); do $JMK destroy -f "$j" >/dev/null 2>&1 || true; done
  if [ -n "${JMK_BASELINE:-}" ]; then
    JKIT_CONF_DIR=$BASE/baseline/conf JKIT_DATA_DIR=$BASE/baseline/data JKIT_RUN_DIR=$JKIT_RUN_DIR-baseline \
      "$JMK_BASELINE" destroy -f b >/dev/null 2>&1 || true
  fi
  # What jkit keeps mounted under its run directory (the pin holder).
  awk -v run="$JKIT_RUN_DIR" '$5 ~ "^" run { print $5 }' /proc/self/mountinfo | sort -r | xargs -r umount -l
  rm -rf "$BASE" "$JKIT_RUN_DIR" "$JKIT_RUN_DIR-baseline"
  # The empty cgroup bases jkit keeps for the next start (in-use ones stay).
  rmdir /sys/fs/cgroup/*/jkit-*/ /sys/fs/cgroup/jkit-*/ 2>/dev/null || true
}
trap cleanup EXIT

quiet() { echo "sh -c '$* >/dev/null 2>&1 || true'"; }
# Rounds of one hyperfine run each: a single run drifts with what the disk
# and the kernel do in the background (a run right after destroying 100
# jails creates slower), so the ratio is taken in every round and the
# median of the rounds is the figure.
for ((r = 1; r <= ROUNDS; r++)); do
  hyperfine -N --warmup 5 --runs "$RUNS" --export-csv "$BASE/round$r.csv" \
    --prepare "$(quiet "$JMK" destroy -f b)" \
    --command-name "jmk create (thin)" "$JMK create b" \
    --prepare "$(quiet "$JMK" stop b)" \
    --command-name "jmk start" "$JMK start b" \
    --prepare "true" \
    --command-name "unshare -m -p -u -i -n -f --mount-proc true" "unshare -m -p -u -i -n -f --mount-proc true" \
    --prepare "true" \
    --command-name "bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true" "bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true" \
    --prepare "sh -c '$JMK destroy -f b >/dev/null 2>&1; $JMK create b >/dev/null && $JMK start b >/dev/null'" \
    --command-name "jmk stop + destroy" "sh -c '$JMK stop b >/dev/null && $JMK destroy b >/dev/null'" >/dev/null 2>&1
  $JMK destroy -f b >/dev/null 2>&1 || true
done

# roundN.csv: command,mean,stddev,median,user,system,min,max (seconds).
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds of $RUNS runs"
awk -F, -v rounds="$ROUNDS" '
function median(a, n,    i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
FNR == 1 { r++ }
FNR > 1 {
    if (r == 1) n[++k] = $1
    med[$1, r] = $4 * 1000; min[$1, r] = $7 * 1000
}
END {
    c = "jmk create (thin)"; s = "jmk start"; u = "unshare -m -p -u -i -n -f --mount-proc true"
    print "| Command | Median [ms], median of rounds | Range of round medians [ms] | Min [ms] |"
    print "|:---|---:|---:|---:|"
    for (i = 1; i <= k; i++) {
        lo = hi = med[n[i], 1]; m = min[n[i], 1]
        for (j = 1; j <= rounds; j++) {
            v[j] = med[n[i], j]
            if (v[j] < lo) lo = v[j]
            if (v[j] > hi) hi = v[j]
            if (min[n[i], j] < m) m = min[n[i], j]
        }
        printf "| `%s` | %.2f | %.2f-%.2f | %.2f |\n", n[i], median(v, rounds), lo, hi, m
    }
    printf "\ncreate + start / unshare, per round (medians):"
    for (j = 1; j <= rounds; j++) {
        ratio[j] = (med[c, j] + med[s, j]) / med[u, j]
        printf " %.2f", ratio[j]
    }
    printf "\nmedian of the rounds: %.2fx unshare (budget: under 3x)\n", median(ratio, rounds)
}' $(for ((r = 1; r <= ROUNDS; r++)); do echo "$BASE/round$r.csv"; done)

# Interleaved: each round destroys b (untimed), then times jmk create b,
# jmk start b and the unshare command one after another; the ratio is
# taken per round. Drift of the machine (this VM's speed changes by 20%
# within minutes) then weighs on numerator and denominator alike, which a
# hyperfine block per command does not promise. With a baseline, each
# round times it too, the two binaries taking turns at going first.
python3 - "$JMK" "$((RUNS * ROUNDS * 2))" "$BASE" "${JMK_BASELINE:-}" <<'PY'
import os, statistics, subprocess, sys, time
jmk, rounds, base, baseline = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
null = os.open("/dev/null", os.O_RDWR)
io = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
unshare = ["/usr/bin/unshare", "-m", "-p", "-u", "-i", "-n", "-f", "--mount-proc", "/bin/true"]
bins = {"": (jmk, os.environ)}
if baseline:
    env = dict(os.environ, JKIT_CONF_DIR=f"{base}/baseline/conf",
               JKIT_DATA_DIR=f"{base}/baseline/data",
               JKIT_RUN_DIR=os.environ["JKIT_RUN_DIR"] + "-baseline")
    bins["baseline "] = (baseline, env)
def timed(argv, env):
    start = time.perf_counter_ns()
    _, status = os.waitpid(os.posix_spawn(argv[0], argv, env, file_actions=io), 0)
    if status != 0:
        sys.exit(f"bench/jmk.sh: {' '.join(argv)} failed")
    return (time.perf_counter_ns() - start) / 1e6
t = {f"{b}{k}": [] for b in bins for k in ("create", "start")}
t["unshare"] = []
ratios = {b: [] for b in bins}
for r in range(rounds):
    for b, (exe, env) in bins.items():
        subprocess.run([exe, "destroy", "-f", "b"], stdout=null, stderr=null, env=env)
    order = list(bins.items())
    done = {}
    for b, (exe, env) in (order if r % 2 == 0 else order[::-1]):
        done[b] = timed([exe, "create", "b"], env), timed([exe, "start", "b"], env)
    u = timed(unshare, os.environ)
    t["unshare"].append(u)
    for b, (c, s) in done.items():
        t[f"{b}create"].append(c)
        t[f"{b}start"].append(s)
        ratios[b].append((c + s) / u)
for b, (exe, env) in bins.items():
    subprocess.run([exe, "destroy", "-f", "b"], stdout=null, stderr=null, env=env)
print(f"\ninterleaved, {rounds} rounds (create, start, unshare in turn; Python's spawn included):")
for k, v in t.items():
    print(f"  {k:17s} median {statistics.median(v):.2f} ms")
for b, v in ratios.items():
    q = statistics.quantiles(v, n=4)
    print(f"{b}create + start / unshare, median of the per-round ratios: "
          f"{statistics.median(v):.2f}x (quartiles {q[0]:.2f}-{q[2]:.2f})")
# The rounds pair the two binaries: the median of their per-round
# differences resolves less than the spread of either's times.
if baseline:
    for k in ("create", "start"):
        d = [x - y for x, y in zip(t[k], t[f"baseline {k}"])]
        q = statistics.quantiles(d, n=4)
        print(f"{k}, this build - baseline, median of the per-round differences: "
              f"{statistics.median(d):+.2f} ms (quartiles {q[0]:+.2f} to {q[2]:+.2f})")
PY

echo
echo "100 jails, create + start one after another (ms per jail, per block of 10):"
block=$(date +%s%N)
for i in $(seq 1 100); do
  $JMK create "n$i" >/dev/null && $JMK start "n$i" >/dev/null
  if (( i % 10 == 0 )); then
    now=$(date +%s%N)
    printf '  jails %3d-%3d: %.2f ms/jail\n' $((i-9)) "$i" "$(echo "($now - $block) / 10 / 1000000" | bc -l)"
    block=$now
  fi
done
