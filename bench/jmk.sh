#!/usr/bin/env bash
# jmk create + start of a thin jail against unshare(1) and bwrap(1) doing
# the namespace work alone, and jmk stop + destroy; then 100 jails created
# and started one after another, to show the per-jail time does not grow.
# Run as root from the repository: bench/jmk.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null && command -v bwrap >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine bubblewrap >/dev/null
}
cargo build --release --quiet -p jmk
JMK=$PWD/target/release/jmk
# State where it lives in production: definitions and roots on disk, runtime
# state on tmpfs (/run).
export JKIT_CONF_DIR=/tmp/jkit-bench/conf JKIT_RUN_DIR=/run/jkit-bench JKIT_DATA_DIR=/tmp/jkit-bench/data
reset() { $JMK destroy -f b >/dev/null 2>&1 || true; }
reset

hyperfine -N --warmup 5 --runs 50 --export-markdown /tmp/jkit-bench/startup.md \
  --prepare "sh -c '$JMK destroy -f b >/dev/null 2>&1 || true'" \
  --command-name "jmk create + start (thin)" "sh -c '$JMK create b && $JMK start b'" \
  --prepare "true" \
  --command-name "unshare -m -p -u -i -n -f --mount-proc true" "unshare -m -p -u -i -n -f --mount-proc true" \
  --prepare "true" \
  --command-name "bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true" "bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true" \
  --prepare "sh -c '$JMK destroy -f b >/dev/null 2>&1; $JMK create b && $JMK start b'" \
  --command-name "jmk stop + destroy" "sh -c '$JMK stop b && $JMK destroy b'"
reset

echo
echo "100 jails, create + start one after another (ms per jail, per block of 10):"
start_ns=$(date +%s%N)
block=$start_ns
for i in $(seq 1 100); do
  $JMK create "n$i" >/dev/null && $JMK start "n$i" >/dev/null
  if (( i % 10 == 0 )); then
    now=$(date +%s%N)
    printf '  jails %3d-%3d: %.2f ms/jail\n' $((i-9)) "$i" "$(echo "($now - $block) / 10 / 1000000" | bc -l)"
    block=$now
  fi
done
for i in $(seq 1 100); do $JMK destroy -f "n$i"; done
cat /tmp/jkit-bench/startup.md
