#!/usr/bin/env bash
# Jail networking throughput, the classic jail-against-host test, one run of
# iperf3 (TCP, 5 s) for each path:
#   loopback  both ends on the host's loopback
#   plain     server in a plain network namespace behind a veth whose host
#             end is a port of a bridge holding the gateway address, set up
#             with ip(8) exactly as jkit sets a jail up; client on the host
#   jail      server in a jkit jail (ip4.addr on bridge jkbench0); client
#             on the host through the bridge
#   jail2jail server in one jail, client in another on the same bridge
# Prints Gbit/s and the ratios; the budget is jail >= 97% of plain.
# Only the project's own addresses (10.213.200.0/24, 10.213.201.0/24) on
# interfaces this script makes and removes. Run as root: bench/net.sh
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v nft >/dev/null || need+=(nftables)
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet -p jmk
JMK=${CARGO_TARGET_DIR:-$PWD/target}/release/jmk
W=$(mktemp -d /tmp/jkit-bench-net.XXXXXX)
export JKIT_CONF_DIR=$W/conf JKIT_RUN_DIR=$W/run JKIT_DATA_DIR=$W/data
SECS=5
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
gbits() { python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'; }

# Wait until something listens on TCP 5201 in the network namespace of $1.
wait_listen() {
  for _ in $(seq 100); do
    grep -qs ':1451 0\+:0000 0A' "/proc/$1/net/tcp" "/proc/$1/net/tcp6" && return 0
    sleep 0.05
  done
  echo "no iperf3 server in $1" >&2
  return 1
}

# loopback
iperf3 -s -1 -B 127.0.0.1 >/dev/null &
wait_listen self
loopback=$(iperf3 -c 127.0.0.1 -t $SECS -J | gbits)
wait

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
ip netns exec "$NS" iperf3 -s -1 >/dev/null &
sleep 0.2
wait_listen "$!"
plain=$(iperf3 -c 10.213.201.10 -t $SECS -J | gbits)
wait

# jkit jail on its bridge; the server is the jail's command
net=(jkit.bridge=$BR jkit.gateway=10.213.200.1/24)
$JMK create srv "${net[@]}" ip4.addr=10.213.200.10 command=iperf3 -s -1 >/dev/null
$JMK create cli "${net[@]}" ip4.addr=10.213.200.11 command=iperf3 -c 10.213.200.10 -t $SECS -J >/dev/null
$JMK start srv >/dev/null &
srv_pid() { python3 -c "import json;print(json.load(open('$JKIT_RUN_DIR/jails/srv/state.json'))['init']['pid'])" 2>/dev/null; }
for _ in $(seq 100); do p=$(srv_pid) && [ -n "$p" ] && break; sleep 0.05; done
wait_listen "$p"
jail=$(iperf3 -c 10.213.200.10 -t $SECS -J | gbits)
wait

# jail to jail
$JMK start srv >/dev/null &
for _ in $(seq 100); do p=$(srv_pid) && [ -n "$p" ] && [ -d "/proc/$p" ] && break; sleep 0.05; done
wait_listen "$p"
j2j=$($JMK start cli | gbits)
wait

ratio() { python3 -c "print('%.3f' % ($1 / $2))"; }
printf '%-10s %8s\n' path Gbit/s
printf '%-10s %8s\n' loopback "$loopback" plain "$plain" jail "$jail" jail2jail "$j2j"
echo
echo "jail / plain veth:   $(ratio "$jail" "$plain")   (budget >= 0.97)"
echo "jail / loopback:     $(ratio "$jail" "$loopback")"
echo "jail2jail / plain:   $(ratio "$j2j" "$plain")"
