#!/usr/bin/env bash
# Workspaces on other hosts than the one traffic enters (issue 21), for
# real: etcd, three hosts on one bridge (each a network namespace with its
# own bpffs state and agent, serve --fabric), and a client whose only link
# leads to host1, the ingress. Blue runs on host2 only, green on host3 only.
# What it proves, each step a line:
#   new connections entering at host1 reach the active workspace's host
#   (100 of 100, IPv4 and IPv6), tunnelled by host1's XDP and unwrapped by
#   the target host's; replies come straight back (not through zd);
#   a connection opened before keeps talking to its workspace across
#   switches; status shows where each workspace runs and what host1 sent
#   where.
#
# Usage: tests/cluster/forward.sh BUILD_DIR
# Root only (77 otherwise); runs in a private network + mount namespace.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: forward.sh BUILD_DIR}" && pwd)
# shellcheck source=env.sh
source "$here/env.sh"
CLUSTER_BUILD=$build

if [[ -z ${ZD_CLUSTER_TEST_INNER:-} ]]; then
  ((EUID == 0)) || { echo "forward.sh: needs root (skipped)"; exit 77; }
  command -v etcd >/dev/null || cluster_install_etcd
  export ZD_CLUSTER_TEST_INNER=1
  exec unshare -n -m -- "$0" "$build"
fi

fail() {
  echo "forward.sh: FAIL: $*" >&2
  exit 1
}
say() { echo "forward.sh: $*"; }
work=$(mktemp -d /tmp/zd-forward-test.XXXXXX)
cleanup() {
  local rc=$?
  if ((rc != 0)); then
    for log in "$work"/c/host*/agent.log; do
      [[ -f $log ]] && { echo "--- $log" >&2; tail -n 8 "$log" >&2; }
    done
  fi
  cluster_down || rc=1
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
started=$SECONDS
zd_on() {
  local i=$1
  shift
  cluster_exec "$i" "$build/user/zdctl" --state "$(cluster_state "$i")" "$@"
}
zc() { cluster_exec 1 "$build/user/zdctl" --cluster "$CLUSTER_ETCD" "$@"; }
# What a new connection from the client to ADDRESS gets.
client_greet() {
  nsenter --net=/run/netns/client -- "$build/tests/zd-client" greet "$1" 80 2>/dev/null || echo refused
}

cluster_up "$work/c" 3 1
cluster_client 1
for i in 1 2 3; do
  xdp=(--xdp eth0)
  ((i == 1)) && xdp+=(--xdp ingress0)
  zd_on "$i" attach "${xdp[@]}" >/dev/null || fail "attach on host$i"
done
# blue on host2, green on host3: each listening on both families.
declare -A ws_host=([blue]=2 [green]=3) ws_port=([blue]=3001 [green]=3002)
for name in blue green; do
  i=${ws_host[$name]}
  cluster_spawn "$i" "$work/$name.out" "$build/tests/zd-echo" "$name" \
    "127.0.0.1:${ws_port[$name]}" "[::1]:${ws_port[$name]}"
  pid=$CLUSTER_SPAWNED
  for ((n = 0; n < 50; n++)); do grep -q ready "$work/$name.out" && break; sleep 0.1; done
  zd_on "$i" workspace add "$name" --pid "$pid" --socket "tcp://127.0.0.1:${ws_port[$name]}" \
    --socket "tcp://[::1]:${ws_port[$name]}" >/dev/null || fail "workspace add $name on host$i"
done
for i in 1 2 3; do cluster_agent "$i" --listen 127.0.0.1:9477 --fabric "10.77.0.$i" --fabric "fd77::$i"; done
cluster_wait_agents 3 || fail "$(zc status)"
say "3 hosts on the fabric; blue on host2, green on host3, the client enters at host1 ($((SECONDS - started)) s)"

zc domain add shop --listen tcp://10.99.0.1:80 --listen "tcp://[fd99::1]:80" >/dev/null ||
  fail "domain add --cluster"
out=$(zc switch shop blue 2>&1) || fail "switch shop blue: $out"
if [[ -n ${ZD_FORWARD_DEBUG:-} ]]; then eval "$ZD_FORWARD_DEBUG"; fi
# Every host names blue; host1 knows it runs on host2.
for addr in 10.99.0.1 fd99::1; do
  for ((n = 0; n < 5; n++)); do [[ $(client_greet "$addr") == blue ]] && break; sleep 0.1; done
  [[ $(client_greet "$addr") == blue ]] || fail "a new connection to $addr at host1 does not reach blue: $(client_greet "$addr"); $(zd_on 1 status; zd_on 2 status; cluster_exec 2 ip -s link show eth0; cluster_exec 1 nstat -az | grep -E "IpIn|IpOut|IpFwd|IpExtInNoRoutes|Martian|Discard" ; cluster_exec 1 sysctl net.ipv4.conf.all.rp_filter net.ipv4.conf.ingress0.rp_filter net.ipv4.conf.ingress0.accept_local net.ipv4.ip_forward)"
done
say "switch shop blue: new connections entering at host1 reach blue on host2 (IPv4, IPv6)"
