#!/usr/bin/env bash
# Jail networking throughput, the classic jail-against-host test: iperf3
# (TCP, 5 s) for each path, in ROUNDS rounds (default 5) that take the paths
# in turn, so that a change in the machine's load hits every path alike:
#   loopback  both ends on the host's loopback
#   plain     server in a plain network namespace behind a veth whose host
#             end is a port of a bridge holding the gateway address, set up
#             with ip(8) exactly as jkit sets a jail up; client on the host
#   jail      server in a jkit jail (ip4.addr on bridge jkbench0); client
#             on the host through the bridge
#   jail2jail server in one jail, client in another on the same bridge
# Prints Gbit/s per round, the ratios per round and their medians; the
# budget is jail >= 97% of plain. On a shared 2-vCPU VM one 5 s run varies
# by up to 10%, more than the gap being measured: the median over rounds is
# the figure. Only the project's own addresses (10.213.200.0/24,
# 10.213.201.0/24) on interfaces this script makes and removes.
# Run as root: bench/net.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/figures.sh
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v nft >/dev/null || need+=(nftables)
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
JMK=$(scripts/release-build -p jmk)/jmk
W=$(mktemp -d /tmp/jkit-bench-net.XXXXXX)
export JKIT_CONF_DIR=$W/conf JKIT_RUN_DIR=$W/run JKIT_DATA_DIR=$W/data
SECS=5
ROUNDS=${1:-5}
BR=jkbench0 PBR=jkbplain0 NS=jkbench-plain

cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  for j in srv cli; do $JMK destroy -f "$j" >/dev/null 2>&1 || true; done
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$PBR" 2>/dev/null || true
  ip link del "$BR" 2>/dev/null || true
  nft delete table inet "jkit_$BR" 2>/dev/null || true
  umount -l "$W/run/holder" 2>/dev/null || true
  rm -rf "$W"
  # The empty cgroup bases jkit keeps for the next start (in-use ones stay).
  rmdir /sys/fs/cgroup/*/jkit-*/ /sys/fs/cgroup/jkit-*/ 2>/dev/null || true
}
trap cleanup EXIT
cleanup_first() {
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$PBR" 2>/dev/null || true
  ip link del jkbph 2>/dev/null || true
}
cleanup_first
mkdir -p "$W"

# Gbit/s received, from iperf3's JSON on stdin.

# Wait until something listens on TCP 5201 in the network namespace of $1.
wait_listen() {
  for _ in $(seq 100); do
    grep -qs ':1451 0\+:0000 0A' "/proc/$1/net/tcp" "/proc/$1/net/tcp6" && return 0
    sleep 0.05
  done
  echo "no iperf3 server in $1" >&2
  return 1
}

# plain namespace + veth + bridge, by hand
ip netns add "$NS"
ip link add "$PBR" type bridge
ip addr add 10.213.201.1/24 dev "$PBR"
ip link set "$PBR" up
ip link add jkbph type veth peer name eth0 netns "$NS"
ip link set jkbph master "$PBR" up
ip -n "$NS" link set lo up
ip -n "$NS" addr add 10.213.201.10/24 dev eth0
ip -n "$NS" link set eth0 up
ip -n "$NS" route add default via 10.213.201.1

# jkit jails on their bridge; the server is the jail's command
net=(jkit.bridge=$BR jkit.gateway=10.213.200.1/24)
$JMK create srv "${net[@]}" ip4.addr=10.213.200.10 command=iperf3 -s -1 >/dev/null
$JMK create cli "${net[@]}" ip4.addr=10.213.200.11 command=iperf3 -c 10.213.200.10 -t $SECS -J >/dev/null
srv_pid() { python3 -c "import json;print(json.load(open('$JKIT_RUN_DIR/jails/srv/state.json'))['init']['pid'])" 2>/dev/null; }
start_srv() {
  $JMK start srv >/dev/null &
  for _ in $(seq 100); do p=$(srv_pid) && [ -n "$p" ] && [ -d "/proc/$p" ] && break; sleep 0.05; done
  wait_listen "$p"
}

printf '%-6s %9s %9s %9s %9s   %10s %10s %10s\n' round loopback plain jail jail2jail jail/plain jail/loop j2j/plain
r_plain=() r_loop=() r_j2j=()
for round in $(seq 1 "$ROUNDS"); do
  iperf3 -s -1 -B 127.0.0.1 >/dev/null &
  wait_listen self
  loopback=$(iperf3 -c 127.0.0.1 -t $SECS -J | gbits)
  wait

  ip netns exec "$NS" iperf3 -s -1 >/dev/null &
  sleep 0.2
  wait_listen "$!"
  plain=$(iperf3 -c 10.213.201.10 -t $SECS -J | gbits)
  wait

  start_srv
  jail=$(iperf3 -c 10.213.200.10 -t $SECS -J | gbits)
  wait

  start_srv
  j2j=$($JMK start cli | gbits)
  wait

  r_plain+=("$(ratio "$jail" "$plain")") r_loop+=("$(ratio "$jail" "$loopback")") r_j2j+=("$(ratio "$j2j" "$plain")")
  printf '%-6s %9s %9s %9s %9s   %10s %10s %10s\n' "$round" "$loopback" "$plain" "$jail" "$j2j" \
    "${r_plain[-1]}" "${r_loop[-1]}" "${r_j2j[-1]}"
done
echo
echo "medians over $ROUNDS rounds (Gbit/s: see above; load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo "jail / plain veth:   $(median "${r_plain[@]}")   (budget >= 0.97)"
echo "jail / loopback:     $(median "${r_loop[@]}")"
echo "jail2jail / plain:   $(median "${r_j2j[@]}")"
