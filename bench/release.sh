#!/usr/bin/env bash
# Thin jails on a registered release against thin jails on the host's own
# system, and a jail's whole life against `crun run` on the same root
# (issue 22).
#
# One Debian root (mmdebstrap --variant=minbase, cached under the target
# directory) is registered as release `deb`; crun gets it as the rootfs of
# an OCI bundle (`crun spec`, `true` as the process). Each round, in turn:
#   - `jmk create h` (thin, the host's system) and `jmk destroy h`;
#   - `jmk create r --release deb` and `jmk destroy r`;
#   - the cycle: `jmk create c --release deb`, `jmk start c`, `jmk stop c`,
#     `jmk destroy c`, summed;
#   - the same with a command, as crun runs one: `jmk create t --release deb
#     command=/bin/true` (not persistent: the jail ends with its command),
#     `jmk start t`, `jmk destroy t`, summed;
#   - `crun run` of the bundle (create, start, wait for `true`, delete).
# Ratios are taken per round (this VM's speed drifts by 20% within minutes,
# which weighs on both sides of a round alike) and the median of the
# rounds is the figure.
# Run as root from the repository: bench/release.sh [ROUNDS] (default 200);
# BENCH_DIR puts definitions and roots on another filesystem (default /tmp).
# Budget: create and destroy on the release within 1.2x the host case; the
# cycle ahead of crun run (under 1x).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "bench/release.sh: needs python3" >&2; exit 69; }
command -v crun >/dev/null && command -v mmdebstrap >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq crun mmdebstrap >/dev/null
}
ROUNDS=${1:-200}
JMK=$(scripts/release-build -p jmk)/jmk
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
DEBIAN=$TARGET/bench-debian
if [ ! -x "$DEBIAN/usr/bin/apt-get" ]; then
  rm -rf "$DEBIAN" "$DEBIAN.partial"
  mmdebstrap --quiet --variant=minbase bookworm "$DEBIAN.partial"
  mv "$DEBIAN.partial" "$DEBIAN"
fi
BASE=$(mktemp -d "${BENCH_DIR:-/tmp}/jkit-bench-release.XXXXXX")
export JKIT_CONF_DIR=$BASE/conf JKIT_DATA_DIR=$BASE/data JKIT_RUN_DIR=/run/jkit-bench-release-$$
cleanup() {
  for j in h r c t; do $JMK destroy -f "$j" >/dev/null 2>&1 || true; done
  # What jkit keeps mounted under its run directory (the pin holder).
  awk -v run="$JKIT_RUN_DIR" '$5 ~ "^" run { print $5 }' /proc/self/mountinfo | sort -r | xargs -r umount -l
  rm -rf "$BASE" "$JKIT_RUN_DIR"
  rmdir /sys/fs/cgroup/*/jkit-*/ /sys/fs/cgroup/jkit-*/ 2>/dev/null || true
}
trap cleanup EXIT
$JMK release add deb "$DEBIAN" >/dev/null
mkdir -p "$BASE/bundle"
(cd "$BASE/bundle" && crun spec)
python3 - "$BASE/bundle/config.json" "$DEBIAN" <<'PY'
import json, sys
path, root = sys.argv[1:]
spec = json.load(open(path))
spec["root"] = {"path": root, "readonly": True}
spec["process"]["args"] = ["/bin/true"]
spec["process"]["terminal"] = False
# The devices rule needs an eBPF program on cgroup v2, and so a raised
# RLIMIT_MEMLOCK, which this machine's root (without CAP_SYS_RESOURCE)
# cannot have: crun runs without resources, as jmk does without limits.
spec["linux"].pop("resources", None)
json.dump(spec, open(path, "w"))
PY

python3 - "$JMK" "$ROUNDS" "$BASE/bundle" <<'PY'
import atexit, ctypes, os, statistics, subprocess, sys, time
jmk, rounds, bundle = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# crun refuses a host whose cgroup v2 hierarchy has controllers beside v1's
# (this machine's hybrid mode): it runs in a mount namespace of its own
# where /sys/fs/cgroup is the v2 hierarchy alone, entered before each run
# and left after it, outside the time measured.
CLONE_NEWNS = 0x00020000
libc = ctypes.CDLL(None, use_errno=True)
own_ns = os.open("/proc/self/ns/mnt", os.O_RDONLY)
crun_ns, holder = own_ns, None
if subprocess.run(["stat", "-fc", "%T", "/sys/fs/cgroup"], capture_output=True,
                  text=True).stdout.strip() != "cgroup2fs":
    holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                               "umount -R /sys/fs/cgroup && mount -t cgroup2 cgroup2 "
                               "/sys/fs/cgroup && echo ready && exec sleep infinity"],
                              stdout=subprocess.PIPE, text=True)
    atexit.register(holder.kill)
    if holder.stdout.readline().strip() != "ready":
        sys.exit("bench/release.sh: no mount namespace with cgroup v2 alone for crun")
    crun_ns = os.open(f"/proc/{holder.pid}/ns/mnt", os.O_RDONLY)
def enter(ns):
    if libc.setns(ns, CLONE_NEWNS) != 0:
        sys.exit(f"bench/release.sh: setns: {os.strerror(ctypes.get_errno())}")
null = os.open("/dev/null", os.O_RDWR)
io = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
crun = "/usr/bin/crun"
def timed(argv):
    start = time.perf_counter_ns()
    _, status = os.waitpid(os.posix_spawn(argv[0], argv, os.environ, file_actions=io), 0)
    if status != 0:
        sys.exit(f"bench/release.sh: {' '.join(argv)} failed")
    return (time.perf_counter_ns() - start) / 1e6
t = {k: [] for k in ("host create", "host destroy", "release create", "release destroy",
                     "cycle create", "cycle start", "cycle stop", "cycle destroy",
                     "cycle", "command cycle", "crun run")}
ratio = {"create": [], "destroy": [], "cycle": [], "command cycle": []}
for r in range(rounds):
    hc = timed([jmk, "create", "h"]); hd = timed([jmk, "destroy", "h"])
    rc = timed([jmk, "create", "r", "--release", "deb"]); rd = timed([jmk, "destroy", "r"])
    steps = [timed([jmk, "create", "c", "--release", "deb"]), timed([jmk, "start", "c"]),
             timed([jmk, "stop", "c"]), timed([jmk, "destroy", "c"])]
    command = [timed([jmk, "create", "t", "--release", "deb", "command=/bin/true"]),
               timed([jmk, "start", "t"]), timed([jmk, "destroy", "t"])]
    enter(crun_ns)
    cr = timed([crun, "run", "-b", bundle, f"jkit-bench-{os.getpid()}"])
    enter(own_ns)
    for k, v in zip(("host create", "host destroy", "release create", "release destroy"),
                    (hc, hd, rc, rd)):
        t[k].append(v)
    for k, v in zip(("create", "start", "stop", "destroy"), steps):
        t[f"cycle {k}"].append(v)
    t["cycle"].append(sum(steps))
    t["command cycle"].append(sum(command))
    t["crun run"].append(cr)
    ratio["command cycle"].append(sum(command) / cr)
    ratio["create"].append(rc / hc)
    ratio["destroy"].append(rd / hd)
    ratio["cycle"].append(sum(steps) / cr)
print(f"load average: {' '.join(open('/proc/loadavg').read().split()[:3])}; "
      f"{rounds} interleaved rounds (Python's spawn included)")
print("| Measured | Median [ms] | Quartiles [ms] |")
print("|:---|---:|---:|")
for k, v in t.items():
    q = statistics.quantiles(v, n=4)
    print(f"| {k} | {statistics.median(v):.2f} | {q[0]:.2f}-{q[2]:.2f} |")
print()
for k, what, budget in (("create", "create on the release / on the host", "1.2x"),
                        ("destroy", "destroy on the release / on the host", "1.2x"),
                        ("cycle", "create+start+stop+destroy / crun run", "1x"),
                        ("command cycle", "create+start (command=/bin/true)+destroy / crun run",
                         "1x")):
    q = statistics.quantiles(ratio[k], n=4)
    print(f"{what}, median of the per-round ratios: {statistics.median(ratio[k]):.2f}x "
          f"(quartiles {q[0]:.2f}-{q[2]:.2f}; budget {budget})")
PY
