#!/usr/bin/env bash
# jtpl: plan of a 200-line Bastillefile (budget: under 10 ms), against cat
# of the same file; and the overhead of one CMD step applied to a running
# thin jail against running the same command with jexec-rs -l -U root
# (budget: within 2 ms).
# Run as root from the repository: bench/jtpl.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
}
BIN=$(scripts/release-build -p jtpl -p jmk -p jexec-rs)
B=/tmp/jkit-bench-jtpl
export JKIT_CONF_DIR=$B/conf JKIT_RUN_DIR=/run/jkit-bench-jtpl JKIT_DATA_DIR=$B/data JKIT_TEMPLATES_DIR=$B/templates
cleanup() { $BIN/jmk destroy -f b >/dev/null 2>&1 || true; }
cleanup
# At exit also the namespace holder of this private run directory, and the
# empty cgroup bases jkit keeps for the next start (in-use ones stay).
trap 'cleanup; umount "$JKIT_RUN_DIR/holder" 2>/dev/null || true; rmdir /sys/fs/cgroup/*/jkit-*/ /sys/fs/cgroup/jkit-*/ 2>/dev/null || true' EXIT
rm -rf "$B/tpl200" "$B/templates" "$B/one"
mkdir -p "$B/tpl200/etc/app" "$B/templates/bench/base" "$B/one"

# A 200-line template: ARGs, every planning hook, comments, continuations
# and an INCLUDE of a project/template.
printf 'ARG WHO\nCMD echo ${WHO}\n' > "$B/templates/bench/base/Bastillefile"
{
  echo "# 200-line benchmark template"
  for i in $(seq 1 10); do echo "ARG V$i=value-$i"; done
  echo "INCLUDE bench/base --arg WHO=\${V1}"
  for i in $(seq 1 15); do
    echo "CMD echo \${V$(( (i % 10) + 1 ))} step $i > /tmp/step$i"
    echo "CONFIG set allow.mlock=1;"
    echo "CP etc /"
    echo "LINE_IN_FILE \"127.0.0.1 \${JAIL_NAME}-$i\" /etc/hosts"
    echo "SYSRC app${i}_enable=YES app${i}_flags=\"--n \${V2}\""
    echo "PKG pkg-$i \\"
    echo "    lib-$i"
    echo "MOUNT /srv/d$i srv/d$i nullfs rw 0 0"
    echo "TAGS t$i web"
    echo "LIMITS maxproc $((100 + i))"
    echo "RENDER /etc/app/app.ini"
    echo "# comment $i"
  done
  echo "RESTART"
  for i in $(seq 1 $((200 - 1 - 10 - 1 - 15 * 12 - 1))); do echo "CMD true"; done
} > "$B/tpl200/Bastillefile"
echo 'v = ${V1}' > "$B/tpl200/etc/app/app.ini"
lines=$(wc -l < "$B/tpl200/Bastillefile")
steps=$($BIN/jtpl plan "$B/tpl200" 2>/dev/null | wc -l)
echo "template: $lines lines, $steps steps"

echo 'CMD true' > "$B/one/Bastillefile"
$BIN/jmk create b >/dev/null && $BIN/jmk start b >/dev/null

hyperfine -N --warmup 10 --runs 200 --export-json "$B/plan.json" --export-markdown "$B/plan.md" \
  --command-name "jtpl plan (200 lines)" "$BIN/jtpl plan $B/tpl200" \
  --command-name "cat Bastillefile" "cat $B/tpl200/Bastillefile" >/dev/null
hyperfine -N --warmup 10 --runs 200 --export-json "$B/cmd.json" --export-markdown "$B/cmd.md" \
  --command-name "jtpl apply b (one CMD true)" "$BIN/jtpl apply b $B/one" \
  --command-name "jexec-rs -l -U root b /bin/sh -c true" "$BIN/jexec-rs -l -U root b /bin/sh -c true" >/dev/null

mean_ms() { # FILE INDEX: the mean of the INDEXth command, in ms
  grep -o '"mean": *[0-9.e-]*' "$1" | sed -n "$2p" | awk -F: '{printf "%.3f", $2 * 1000}'
}
plan=$(mean_ms "$B/plan.json" 1)
apply=$(mean_ms "$B/cmd.json" 1)
jexec=$(mean_ms "$B/cmd.json" 2)
cat "$B/plan.md" "$B/cmd.md"
echo
awk -v p="$plan" -v a="$apply" -v j="$jexec" 'BEGIN {
  printf "plan of %s: %.3f ms (budget 10 ms): %s\n", "200 lines", p, (p < 10 ? "ok" : "OVER");
  printf "one CMD step: %.3f ms vs jexec-rs %.3f ms, overhead %.3f ms (budget 2 ms): %s\n",
    a, j, a - j, (a - j < 2 ? "ok" : "OVER");
}'
