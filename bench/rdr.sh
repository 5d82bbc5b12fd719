#!/usr/bin/env bash
# Port forwarding (issue 17): a service in a jail reached through `jmk rdr`
# on the host's address, against the same service on the host. The outside
# world is a client network namespace (jkrdr-client, 10.213.210.2) joined
# to the host by a veth whose host end holds the host's "external" address
# 10.213.210.1. The jail `srv` (thin, of the host's system) is on bridge
# jkrdr0 at 10.213.211.10 and runs nginx (Debian's, 1 KiB file, keep-alive,
# one worker) and an iperf3 server; the host runs the same nginx
# configuration and an iperf3 server on other ports. Each round takes, in
# turn:
#   iperf host   client ns -> 10.213.210.1:5203         (host's iperf3)
#   iperf rdr    client ns -> 10.213.210.1:5202 -> jail:5201
#   http host    client ns -> 10.213.210.1:8081         (host's nginx)
#   http rdr     client ns -> 10.213.210.1:8082 -> jail:8080
#   http host2   the host  -> 10.213.210.1:8081         (no rdr, host side)
#   http bridge  the host  -> 10.213.211.10:8080        (the jail's own
#                bridge address, no rdr)
# iperf3: TCP, SECS seconds (default 10); HTTP: `wrk -t2 -c64 -dSECSs`.
# Prints every figure per round, the ratios per round and their medians.
# Budget: rdr/host >= 0.95 for iperf3 and for HTTP; bridge/host2 >= 0.97.
# Installs iperf3, wrk and nginx-light (or nginx) with apt-get when missing.
# Only the project's own addresses, on interfaces this script makes and
# removes. Frames crossing a bridge also go through the host's IP
# netfilter hooks when br_netfilter is on (net.bridge.bridge-nf-call-
# iptables=1, this VM kernel's default): the script prints the setting;
# BRNF=0 or BRNF=1 sets it for the run and puts it back afterwards.
# Run as root: [BRNF=0|1] bench/rdr.sh [ROUNDS] [SECS]   (default 3, 10)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/figures.sh
[ "$(id -u)" = 0 ] || { echo "bench/rdr.sh: needs root (a real jail)" >&2; exit 77; }
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v nft >/dev/null || need+=(nftables)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]/nginx-light/nginx}" >/dev/null
fi
NGINX=$(command -v nginx)
T=$(scripts/release-build -p jmk -p jexec-rs)
JMK=$T/jmk JEXEC=$T/jexec-rs
W=$(mktemp -d /tmp/jkit-bench-rdr.XXXXXX)
export JKIT_CONF_DIR=$W/conf JKIT_RUN_DIR=$W/run JKIT_DATA_DIR=$W/data
ROUNDS=${1:-3}
SECS=${2:-10}
BR=jkrdr0 NS=jkrdr-client VETH=jkrdrh
EXT=10.213.210.1 FAR=10.213.210.2 JAIL=10.213.211.10

BRNF_FILES=(/proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables)
BRNF_OLD=()
cleanup() {
  for i in "${!BRNF_OLD[@]}"; do echo "${BRNF_OLD[$i]}" >"${BRNF_FILES[$i]}"; done
  for p in "$W"/host/nginx.pid "$W"/host/iperf3.pid; do
    [ -s "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
  done
  $JMK destroy -f srv >/dev/null 2>&1 || true
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$VETH" 2>/dev/null || true
  ip link del "$BR" 2>/dev/null || true
  nft delete table inet "jkit_$BR" 2>/dev/null || true
  awk -v base="$W" '$5 ~ "^" base { print $5 }' /proc/self/mountinfo | sort -r | xargs -r umount -l
  rm -rf "$W"
  rmdir /sys/fs/cgroup/*/jkit-*/ /sys/fs/cgroup/jkit-*/ 2>/dev/null || true
}
trap cleanup EXIT
if [ -e "${BRNF_FILES[0]}" ]; then
  if [ -n "${BRNF:-}" ]; then
    for f in "${BRNF_FILES[@]}"; do BRNF_OLD+=("$(cat "$f")"); echo "$BRNF" >"$f"; done
  fi
  echo "br_netfilter: bridge-nf-call-iptables=$(cat "${BRNF_FILES[0]}")"
else
  echo "br_netfilter: not loaded"
fi
# What else the forwarded packets meet: an nftables flowtable (the
# kernel's software fast path for forwarded flows) needs
# CONFIG_NF_FLOW_TABLE; every forwarded packet runs the forward chain of
# every jkit bridge's table on the host, not only this bridge's.
if nft -f - 2>/dev/null <<<"table inet jkrdr_probe { flowtable f { hook ingress priority 0; devices = { lo }; } }"; then
  nft delete table inet jkrdr_probe
  echo "nftables flowtable: available"
else
  echo "nftables flowtable: not in this kernel"
fi
echo "other jkit bridge tables: $(nft list tables inet | awk '$3 ~ /^jkit_/ && $3 != "jkit_'"$BR"'" { printf "%s ", $3 }')"
ip netns del "$NS" 2>/dev/null || true
ip link del "$VETH" 2>/dev/null || true

# The outside: a client namespace behind a veth; the host end is the
# host's external address.
ip netns add "$NS"
ip link add "$VETH" type veth peer name eth0 netns "$NS"
ip addr add "$EXT/24" dev "$VETH"
ip link set "$VETH" up
ip -n "$NS" link set lo up
ip -n "$NS" addr add "$FAR/24" dev eth0
ip -n "$NS" link set eth0 up

# One nginx configuration for the host and the jail: PREFIX and PORT differ.
nginx_conf() { # PREFIX PORT
  cat <<EOF
user root;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  server { listen $2; root $1/www; }
}
EOF
}
site() { # DIR PREFIX PORT
  mkdir -p "$1/www"
  head -c 1024 /dev/zero | tr '\0' a >"$1/www/1k.html"
  nginx_conf "$2" "$3" >"$1/nginx.conf"
}

# The jail, its services and its forwarding.
$JMK create srv persist jkit.bridge=$BR jkit.gateway=10.213.211.1/24 ip4.addr=$JAIL >/dev/null
read -r ROOT IDBASE < <($JMK --json start srv |
  python3 -c 'import json,sys; r = json.load(sys.stdin); print(r["path"], r["params"].get("jkit.idbase", 0))')
site "$ROOT/srv/bench" /srv/bench 8080
# Debian's nginx keeps its temporary files and first log there; what the
# jail's root writes belongs to the jail's id range.
mkdir -p "$ROOT/var/lib/nginx" "$ROOT/var/log/nginx"
chown -R "$IDBASE:$IDBASE" "$ROOT/srv/bench" "$ROOT/var/lib/nginx" "$ROOT/var/log/nginx"
$JEXEC srv "$NGINX" -c /srv/bench/nginx.conf
$JEXEC srv iperf3 -s -D -p 5201
$JMK rdr srv tcp 8082 8080
$JMK rdr srv tcp 5202 5201

# The host's services.
site "$W/host" "$W/host" 8081
"$NGINX" -c "$W/host/nginx.conf"
iperf3 -s -D -p 5203 -I "$W/host/iperf3.pid"
sleep 0.5

in_ns() { ip netns exec "$NS" "$@"; }
rps() { awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }'; }
iperf() { in_ns iperf3 -c "$EXT" -p "$1" -t "$SECS" -J | gbits; }
http() { "$@" wrk -t2 -c64 -d"${SECS}s" "$URL" | rps; }

# Sanity: each path serves the file.
for url in "http://$EXT:8081/1k.html" "http://$EXT:8082/1k.html"; do
  [ "$(in_ns python3 -c "import urllib.request,sys; print(len(urllib.request.urlopen(sys.argv[1], timeout=5).read()))" "$url")" = 1024 ]
done

printf '%-5s %10s %10s %10s %10s %10s %11s   %9s %9s %11s\n' round \
  'iperf host' 'iperf rdr' 'http host' 'http rdr' 'http host2' 'http bridge' \
  'iperf r/h' 'http r/h' 'bridge/h2'
r_iperf=() r_http=() r_bridge=()
for round in $(seq 1 "$ROUNDS"); do
  ih=$(iperf 5203)
  ir=$(iperf 5202)
  URL=http://$EXT:8081/1k.html hh=$(http in_ns)
  URL=http://$EXT:8082/1k.html hr=$(http in_ns)
  URL=http://$EXT:8081/1k.html h2=$(http env)
  URL=http://$JAIL:8080/1k.html hb=$(http env)
  r_iperf+=("$(ratio "$ir" "$ih")") r_http+=("$(ratio "$hr" "$hh")") r_bridge+=("$(ratio "$hb" "$h2")")
  printf '%-5s %10s %10s %10s %10s %10s %11s   %9s %9s %11s\n' "$round" "$ih" "$ir" "$hh" "$hr" "$h2" "$hb" \
    "${r_iperf[-1]}" "${r_http[-1]}" "${r_bridge[-1]}"
done
echo
echo "medians over $ROUNDS rounds (iperf3 Gbit/s, HTTP requests/s: see above; load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo "iperf3 rdr / host:         $(median "${r_iperf[@]}")   (budget >= 0.95)"
echo "HTTP rdr / host:           $(median "${r_http[@]}")   (budget >= 0.95)"
echo "HTTP jail bridge / host:   $(median "${r_bridge[@]}")   (budget >= 0.97)"
