#!/usr/bin/env bash
# The long form of jmk/tests/reliability.rs's kill loop: ROUNDS rounds in
# which each of JAILS jails gets a create, start, stop or destroy (or a
# clone of the first) that is SIGKILLed after a random 0-80 ms, all at
# once; after each round, the commands a user would run next (`jmk stop`,
# `jmk destroy -f`, `jmk create`) must succeed or fail with a named
# reason, and after the last, a destroy of every jail must leave nothing:
# no definition, root, runtime directory, lock file, mount, cgroup or
# jail process.
# Run as root from the repository: bench/soak.sh [ROUNDS [JAILS]] (default
# 200 and 8); JMK=PATH soaks another jmk binary (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-200}
JAILS=${2:-8}
if [ -z "${JMK:-}" ]; then
  JMK=$(scripts/release-build -p jmk)/jmk
fi
BASE=$(mktemp -d "${BENCH_DIR:-/tmp}/jkit-soak.XXXXXX")
export JKIT_JAIL_CONF=$BASE/jail.conf JKIT_CONF_DIR=$BASE/conf JKIT_DATA_DIR=$BASE/data JKIT_RUN_DIR=/run/jkit-soak-$$
cleanup() {
  awk -v run="$JKIT_RUN_DIR" '$5 ~ "^" run { print $5 }' /proc/self/mountinfo | sort -r | xargs -r umount -l
  rm -rf "$BASE" "$JKIT_RUN_DIR"
}
trap cleanup EXIT
names=$(seq -f 's%g' 1 "$JAILS")
kills=0 unexplained=0
start_ns=$(date +%s%N)
for ((r = 1; r <= ROUNDS; r++)); do
  pids=()
  for j in $names; do
    case $((RANDOM % 5)) in
      0) args=(create "$j") ;;
      1) args=(start "$j") ;;
      2) args=(stop "$j") ;;
      3) args=(destroy -f "$j") ;;
      4) args=(clone s1 "$j") ;;
    esac
    "$JMK" "${args[@]}" >/dev/null 2>&1 &
    pid=$!
    pids+=("$pid")
    (sleep "$(printf '0.%03d' $((RANDOM % 80)))"; kill -9 "$pid" 2>/dev/null) &
  done
  # (bash's "Killed" notes go with the round's stderr)
  {
    for pid in "${pids[@]}"; do
      status=0
      wait "$pid" || status=$?
      [ "$status" = 137 ] && kills=$((kills + 1))
    done
    wait || true
  } 2>/dev/null
  # What a user runs next: every failure must say why, in one line.
  for j in $names; do
    for next in "stop $j" "destroy -f $j" "create $j"; do
      if ! out=$("$JMK" $next 2>&1 >/dev/null); then
        case $out in
          *"not running"* | *"not found"* | *"already exists"* | *"has clones"*) ;;
          *) unexplained=$((unexplained + 1)); echo "round $r: jmk $next: $out" >&2 ;;
        esac
      fi
    done
  done
done
secs=$(( ($(date +%s%N) - start_ns) / 1000000000 ))
# Clones first, then the rest.
for j in $(echo $names | tr ' ' '\n' | sort -r); do "$JMK" destroy -f "$j" >/dev/null 2>&1 || true; done
"$JMK" destroy -f s1 >/dev/null 2>&1 || true
left=$( (ls -A "$JKIT_CONF_DIR"; ls -A "$JKIT_DATA_DIR/jails"; ls -A "$JKIT_RUN_DIR/jails"; ls "$JKIT_RUN_DIR/locks" | grep '\.lock$') 2>/dev/null | wc -l || true)
mounts=$(awk -v b="$BASE" -v run="$JKIT_RUN_DIR/jails/" '$5 ~ "^" b || $5 ~ "^" run' /proc/self/mountinfo | wc -l || true)
cgroups=$(ls -d /sys/fs/cgroup/*/jkit-* 2>/dev/null | while read -r d; do ls -d "$d"/s*/ 2>/dev/null; done | grep -c "/s[0-9]*/$" || true)
echo "rounds $ROUNDS, jails $JAILS, commands killed $kills, ${secs}s"
echo "next commands failing without a named reason: $unexplained"
echo "left after the final destroy: $left files, $mounts mounts, $cgroups jail cgroups"
[ "$unexplained" = 0 ] && [ "$left" = 0 ] && [ "$mounts" = 0 ]
