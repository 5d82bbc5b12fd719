#!/usr/bin/env bash
# Snapshots on btrfs (issue 18): snapshot and rollback of a jail holding
# SIZE MiB in FILES files against one holding a tenth of it (the time must
# not grow with the jail), clone + start of a snapshot against create +
# start of a thin jail, diff of 100 changed files, export and import.
#
# The jails' state lives on a btrfs filesystem in a loop file the script
# makes in BENCH_DIR (default /var/tmp). The files are chunks of the host's
# /usr (binaries, libraries, text: compressible as a system is), owned by
# the jail's id range. Each time is the median of RUNS runs (default 5) of
# one command, wall clock, caches warm; the files are synced before the
# timed snapshots (a btrfs snapshot commits the filesystem's transaction:
# on a filesystem with a gigabyte not yet written, it writes it first).
# Run as root from the repository: bench/snapshot.sh [SIZE_MIB [FILES [RUNS]]]
# (default 1024 MiB in 20000 files).
# Budgets (issue 18): snapshot and rollback under 100 ms and independent of
# the jail's size; clone + start under 2x create + start of a thin jail;
# diff of 100 changed files among 20,000 under 200 ms; export of 1 GiB at
# 200 MiB/s or more (zstd level 3, two threads), import at least as fast.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1024}
FILES=${2:-20000}
RUNS=${3:-5}
command -v mkfs.btrfs >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq btrfs-progs >/dev/null
}
JMK=$(scripts/release-build -p jmk)/jmk
BASE=$(mktemp -d "${BENCH_DIR:-/var/tmp}/jkit-snapbench.XXXXXX")
MNT=$BASE/mnt
mkdir -p "$MNT"
truncate -s $((SIZE * 4 + 1024))M "$BASE/fs.img"
mkfs.btrfs -q "$BASE/fs.img"
mount -o loop "$BASE/fs.img" "$MNT"
export JKIT_CONF_DIR=$MNT/conf JKIT_DATA_DIR=$MNT/data JKIT_RUN_DIR=/run/jkit-snapbench-$$
cleanup() {
  for j in big small c n t imported; do $JMK destroy -f "$j" >/dev/null 2>&1 || true; done
  awk -v run="$JKIT_RUN_DIR" '$5 ~ "^" run { print $5 }' /proc/self/mountinfo | sort -r | xargs -r umount -l
  umount -l "$MNT" 2>/dev/null || true
  rm -rf "$BASE" "$JKIT_RUN_DIR"
  rmdir /sys/fs/cgroup/*/jkit-*/ /sys/fs/cgroup/jkit-*/ 2>/dev/null || true
}
trap cleanup EXIT

# Milliseconds `"$@"` (after the first argument) takes, median of RUNS
# runs; the first argument, a command line, runs untimed before each.
median_ms() {
  local prepare=$1 times=()
  shift
  for ((i = 0; i < RUNS; i++)); do
    eval "$prepare" >/dev/null 2>&1 || true
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    times+=($(((t1 - t0) / 1000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'
}

# A jail NAME holding MIB MiB in COUNT files of /usr's data.
fill() {
  local name=$1 mib=$2 count=$3
  mkdir -p "$BASE/src-$name/etc"
  $JMK create --from "$BASE/src-$name" "$name" >/dev/null
  local root=$JKIT_DATA_DIR/jails/$name/root
  python3 - "$root/data" "$mib" "$count" <<'EOF'
import os, sys
top, mib, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size = mib * 1024 * 1024 // count
def chunks():
    while True:
        for d, _, files in os.walk("/usr"):
            for f in files:
                p = os.path.join(d, f)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                try:
                    with open(p, "rb") as fh:
                        data = fh.read()
                except OSError:
                    continue
                for i in range(0, len(data) - size + 1, size):
                    yield data[i:i + size]
gen = chunks()
for n in range(count):
    d = os.path.join(top, "%03d" % (n // 200))
    if n % 200 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % n), "wb") as fh:
        fh.write(next(gen))
EOF
  local base
  base=$(awk -F' = |;' '/jkit.idbase/ { print $2 }' "$JKIT_CONF_DIR/$name.conf")
  chown -R "$base:$base" "$root/data"
  sync
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
fill small $((SIZE / 10)) $((FILES / 10))
fill big "$SIZE" "$FILES"
echo "jails: big $(du -sm "$JKIT_DATA_DIR/jails/big/root" | cut -f1) MiB in $FILES files, small $((SIZE / 10)) MiB in $((FILES / 10))"

for j in small big; do
  $JMK snapshot "$j@base"
  sync
  snap=$(median_ms "$JMK snapshot -d $j@t" "$JMK" snapshot "$j@t")
  $JMK snapshot -d "$j@t"
  rb=$(median_ms true "$JMK" rollback "$j@base")
  echo "$j: snapshot ${snap} ms, rollback ${rb} ms"
done

# Clone + start of a snapshot against create + start of a thin jail.
clone=$(median_ms "$JMK destroy -f c" sh -c "$JMK clone big@base c && $JMK start c")
$JMK destroy -f c >/dev/null
thin=$(median_ms "$JMK destroy -f t" sh -c "$JMK create t && $JMK start t")
$JMK destroy -f t >/dev/null
echo "clone + start ${clone} ms, create + start (thin) ${thin} ms, ratio $(awk -v a="$clone" -v b="$thin" 'BEGIN { printf "%.2f", a / b }')"

# Diff of 100 changed files among all of them.
root=$JKIT_DATA_DIR/jails/big/root
for n in $(seq 0 $((FILES / 100)) $((FILES - 1)) | head -100); do
  printf 'changed' >>"$root/data/$(printf %03d $((n / 200)))/f$(printf %05d "$n")"
done
changed=$($JMK diff big@base | grep -c '^M.*/f')
d=$(median_ms true "$JMK" diff big@base)
echo "diff: ${d} ms ($changed files changed)"
$JMK rollback big@base

# Export of the big jail's snapshot, and its import, in pairs. Each run
# starts with nothing left to write back and, for the import, btrfs's
# cleaner done with the last import's deleted subvolume. Two times of
# each: when the command returns (neither syncs what it wrote; the
# import's lineage snapshot has made btrfs write its root out, the
# export's archive is still in the page cache), and when what it wrote is
# on disk (then `sync FILE` of the archive, `sync -f` of the filesystem
# holding the import): the second compares the two at the same point.
archive=$BASE/big.jkit
pairs=$BASE/pairs
: >"$pairs"
now_us() { echo $(($(date +%s%N) / 1000)); }
for ((i = 0; i < RUNS; i++)); do
  rm -f "$archive"; sync
  t0=$(now_us); "$JMK" export big@base "$archive" >/dev/null
  t1=$(now_us); sync "$archive"; t2=$(now_us)
  $JMK destroy imported >/dev/null 2>&1 || true
  btrfs subvolume sync "$MNT" >/dev/null; sync
  t3=$(now_us); "$JMK" import "$archive" imported >/dev/null
  t4=$(now_us); sync -f "$MNT/data"; t5=$(now_us)
  echo "$((t1 - t0)) $((t2 - t0)) $((t4 - t3)) $((t5 - t3))" >>"$pairs"
done
# Medians in ms: export, export to disk, import, import to disk; and the
# medians of the per-pair ratios export time / import time (above 1: the
# import was faster).
read -r ex exd im imd ratio ratiod < <(python3 - "$pairs" <<'EOF'
import statistics, sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1])]
med = statistics.median
cols = [med([r[k] for r in rows]) / 1000 for k in range(4)]
print(*(f"{c:.1f}" for c in cols),
      f"{med([r[0] / r[2] for r in rows]):.2f}", f"{med([r[1] / r[3] for r in rows]):.2f}")
EOF
)
mib=$(du -sm "$root" | cut -f1)
# What a user would run instead, on the same files at the same load: GNU
# tar through zstd(1) at the same level and threads (ids as they are).
gnu=$BASE/gnu.tar.zst
tx=$(median_ms "rm -f $gnu; sync" sh -c "tar -C $root --numeric-owner -cf - . | zstd -q -3 -T2 -o $gnu")
mkdir -p "$BASE/gnu-out"
tm=$(median_ms "rm -rf $BASE/gnu-out; mkdir $BASE/gnu-out; sync" sh -c "zstd -q -d -c $gnu | tar -C $BASE/gnu-out --numeric-owner -xpf -")
echo "tar | zstd -3 -T2: ${tx} ms; zstd -d | tar -x: ${tm} ms"
echo "export: ${ex} ms, $(awk -v m="$mib" -v t="$ex" 'BEGIN { printf "%.0f", m / (t / 1000) }') MiB/s; archive $(du -m "$archive" | cut -f1) MiB"
echo "import: ${im} ms, $(awk -v m="$mib" -v t="$im" 'BEGIN { printf "%.0f", m / (t / 1000) }') MiB/s"
echo "to disk: export ${exd} ms, $(awk -v m="$mib" -v t="$exd" 'BEGIN { printf "%.0f", m / (t / 1000) }') MiB/s; import ${imd} ms, $(awk -v m="$mib" -v t="$imd" 'BEGIN { printf "%.0f", m / (t / 1000) }') MiB/s"
echo "export time / import time, median of $RUNS pairs: ${ratio} as returned, ${ratiod} to disk (budget: 1.00 or more)"
echo "export / tar | zstd: $(awk -v a="$ex" -v b="$tx" 'BEGIN { printf "%.2f", a / b }'), import / zstd -d | tar: $(awk -v a="$im" -v b="$tm" 'BEGIN { printf "%.2f", a / b }')"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
