#!/usr/bin/env bash
# jkit against its peers on one root: crun, runc, LXC, podman,
# systemd-nspawn and bubblewrap (for reference: no cgroups, no state), all
# from Debian's packages, each run the way its documentation shows, on one
# debootstrapped Debian (minbase, cached under target/peers/root; jkit runs
# it as a jail(8) definition with `path` set to it, the OCI tools from a
# bundle whose root it is, LXC from a configuration whose rootfs it is,
# podman with `--rootfs`, nspawn with `-D`, bwrap with `--ro-bind`).
#
# One interleaved run: ROUNDS rounds, each taking every tool once through
# every measurement (in an order that rotates), timed from Python around
# one command each (fork and exec of the tool included, as for jkit);
# the ratio to jkit is taken in every round and the figure is the median
# of the rounds:
#   true        create, run `true` and destroy, from the root
#   start+stop  start an environment running `sleep` and stop it again
#               (jkit: a defined jail; OCI: run -d, delete -f; LXC:
#               lxc-start -d, lxc-stop -k; podman: start, rm -f)
#   stop        the stop alone
#   exec        `true` in a running environment (nspawn: nsenter)
#   list        the tool's listing with N environments running
# then, with the N environments still running:
#   memory      per idle environment: the Pss (smaps_rollup) of every
#               process in it and of the tool's process kept for it
#               (LXC's monitor, podman's conmon, nspawn, bwrap) plus the
#               kernel memory charged to its memory cgroup (v1
#               memory.kmem.usage_in_bytes, v2 memory.stat "kernel"), which
#               holds its page tables, kernel stacks, namespaces and
#               mounts. Pss, not the cgroup's charge, for user memory: a
#               jail's init is a fork of jmk and its pages stay charged
#               to jmk's cgroup, and Pss splits what N environments share
#   HTTP        requests/s of `wrk -t2 -c64` on the host against nginx
#               (1 KiB file, rdr.sh's configuration) in each environment,
#               through the tool's own bridge networking, set up as its
#               user would (jkit: ip4.addr on jkit.bridge; LXC: a veth on
#               a bridge the script makes, static address; podman: `podman
#               network create --subnet`; nspawn: --network-bridge, the
#               address set through nsenter; crun, runc: no networking of
#               their own, a network namespace the script makes as CNI's
#               bridge plugin would); the host's nginx on loopback for
#               reference; measured last, in rounds of its own (the
#               environments it needs are made for it, the N idle ones
#               still running). Only 10.213.230.0/24 to 10.213.234.0/24, on
#               bridges, veths and namespaces the script makes and
#               removes (and podman's network with its firewall rules)
#   syscalls    bench/syscalls.c (static) run in each environment and on
#               the host, ns per call; podman's default profile
#               (/usr/share/containers/seccomp.json, as podman turns it into
#               an OCI one for its default capabilities) is also run under
#               crun, as "podman profile"
# Run as root: bench/peers.sh [ROUNDS [N]] (default 10 rounds, N=100);
# `bench/peers.sh syscalls` measures the system calls alone (the host, a
# jail, podman's profile under crun, a jail whose filter looks into ioctl).
# PEERS_SYSCALL_ROUNDS (default 11) sets the system calls' rounds.
# PEERS_ONLY=memory measures the host's memory per environment alone.
# PEERS_ONLY=http runs the HTTP measurement alone; PEERS_HTTP_ROUNDS
# (default 5) and PEERS_HTTP_SECS (default 4) set its rounds and the
# length of each wrk run.
# A tool that fails here is left out of the table with its error. One run
# at a time: the containers' names, the bridges and the hugetlb move are
# the host's, and a run's cleanup removes another's.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=run
if [ "${1:-}" = syscalls ]; then
  MODE=syscalls
  shift
fi
ROUNDS=${1:-10}
N=${2:-100}
need=()
for p in crun:crun runc:runc lxc-start:lxc podman:podman systemd-nspawn:systemd-container \
  bwrap:bubblewrap debootstrap:debootstrap gcc:gcc python3:python3 wrk:wrk ip:iproute2 \
  nft:nftables iptables:iptables nsenter:util-linux; do
  command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
done
# podman's network backend: netavark, or CNI's plugins on older podmans.
[ -x /usr/lib/podman/netavark ] || [ -x /usr/lib/cni/bridge ] || need+=(netavark)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/aarch64-linux-gnu/libc.a ] || need+=(libc6-dev)
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
BIN=$(scripts/release-build -p jmk -p jexec-rs -p jls-rs)
CACHE=${PEERS_CACHE:-$PWD/target/peers}
ROOT=$CACHE/root
if [ ! -x "$ROOT/bin/sh" ]; then
  rm -rf "$ROOT.tmp"
  mkdir -p "$CACHE"
  debootstrap --variant=minbase --include=nginx-light,procps bookworm "$ROOT.tmp" \
    "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$CACHE/debootstrap.log"
  mv "$ROOT.tmp" "$ROOT"
fi
gcc -O2 -static -o "$ROOT/usr/local/bin/syscalls" bench/syscalls.c

W=$(mktemp -d /tmp/jkit-peers.XXXXXX)
export JKIT_CONF_DIR=$W/conf JKIT_DATA_DIR=$W/data JKIT_RUN_DIR=/run/jkit-peers-$$
HUGETLB_MOVED=
cleanup() {
  python3 bench/peers.py cleanup "$W" "$ROOT" "$BIN" || true
  awk -v run="$JKIT_RUN_DIR" '$5 ~ "^" run { print $5 }' /proc/self/mountinfo | sort -r | xargs -r umount -l
  rm -rf "$W" "$JKIT_RUN_DIR"
  rmdir /sys/fs/cgroup/*/jkit-*/ /sys/fs/cgroup/jkit-*/ 2>/dev/null || true
  # The (empty) cgroups LXC and podman leave behind.
  for d in lxc.pivot libpod_parent/conmon libpod_parent; do
    rmdir /sys/fs/cgroup/*/"$d" /sys/fs/cgroup/"$d" 2>/dev/null || true
  done
  if [ -n "$HUGETLB_MOVED" ]; then
    umount /sys/fs/cgroup/hugetlb && rmdir /sys/fs/cgroup/hugetlb &&
      echo +hugetlb >/sys/fs/cgroup/unified/cgroup.subtree_control || true
  fi
}
trap cleanup EXIT
# crun refuses a hybrid cgroup host whose v2 hierarchy has a controller:
# hugetlb, which no v1 hierarchy holds here, goes to one for the run. The
# kernel gives it back to v2 only once that hierarchy is gone, which waits
# for every cgroup namespace made meanwhile (any jail's) to end: until
# then, `echo +hugetlb >/sys/fs/cgroup/unified/cgroup.subtree_control`
# fails, and the next run finds hugetlb in a hierarchy no longer mounted,
# which would give it back to v2 in the middle of the run. Mounting it
# again keeps that hierarchy for the run.
# (cgroupfs files have no size: `test -s` is false on them.)
hugetlb_hierarchy=$(awk '$1 == "hugetlb" { print $2 }' /proc/cgroups)
if [ ! -e /sys/fs/cgroup/hugetlb ] && [ -e /sys/fs/cgroup/unified ] && [ -n "$hugetlb_hierarchy" ]; then
  if [ "$hugetlb_hierarchy" = 0 ]; then
    echo -hugetlb >/sys/fs/cgroup/unified/cgroup.subtree_control
  fi
  mkdir /sys/fs/cgroup/hugetlb
  mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
  HUGETLB_MOVED=1
fi
if [ "$MODE" = syscalls ]; then
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); system calls; $(date -u +%FT%TZ)"
  python3 bench/peers.py syscalls "$W" "$ROOT" "$BIN"
  exit
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds, N=$N; $(date -u +%FT%TZ)"
python3 bench/peers.py run "$W" "$ROOT" "$BIN" "$ROUNDS" "$N"
