#!/usr/bin/env bash
# zd across hosts, second act (scripts/demo.sh --cluster runs it after
# demo_cluster.sh): the workspaces run on other hosts than the one traffic
# enters. A client's only link leads to host1; blue runs on host2, green on
# host3. Host1's XDP program wraps each new flow for the host that runs its
# workspace; that host's XDP unwraps it and its workspace answers the client
# directly. One switch moves new connections from host2 to host3; host3 is
# lost and new connections fall back to blue on host2 within its lease. A
# client connects the whole time; a connection held on blue keeps talking.
#
# Usage: scripts/demo_forward.sh BUILD_DIR   (root; from scripts/demo.sh --cluster)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:?usage: demo_forward.sh BUILD_DIR}" && pwd)
# shellcheck source=../tests/cluster/env.sh
source "$repo/tests/cluster/env.sh"
CLUSTER_BUILD=$build

if [[ -z ${ZD_DEMO_FORWARD_INNER:-} ]]; then
  ((EUID == 0)) || { echo "demo_forward.sh: needs root" >&2; exit 1; }
  command -v etcd >/dev/null || cluster_install_etcd
  export ZD_DEMO_FORWARD_INNER=1
  exec unshare -n -m -- "$0" "$build"
fi

work=$(mktemp -d /tmp/zd-demo-forward.XXXXXX)
problems=0
cleanup() {
  trap '' INT TERM
  cluster_down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
step() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }
problem() {
  printf '   !! %s\n' "$*"
  problems=$((problems + 1))
}
zc() {
  printf '$ zdctl --cluster %s %s\n' "$CLUSTER_ETCD" "$*"
  cluster_exec 1 "$build/user/zdctl" --cluster "$CLUSTER_ETCD" "$@" 2>&1 | sed 's/^/  /'
  return "${PIPESTATUS[0]}"
}
zd_on() {
  local i=$1
  shift
  cluster_exec "$i" "$build/user/zdctl" --state "$(cluster_state "$i")" "$@"
}
# What a new connection from the client gets.
client_greet() {
  nsenter --net=/run/netns/client -- "$build/tests/zd-client" greet 10.99.0.1 80 2>/dev/null ||
    echo refused
}
# until_greets WORKSPACE SECONDS: polls new connections; echoes the ms it took.
until_greets() {
  local from=${EPOCHREALTIME/[.,]/} deadline
  deadline=$((from + $2 * 1000000))
  while ((${EPOCHREALTIME/[.,]/} < deadline)); do
    [[ $(client_greet) == "$1" ]] && { echo $(((${EPOCHREALTIME/[.,]/} - from) / 1000)); return 0; }
    sleep 0.05
  done
  return 1
}

step "etcd, three hosts on one bridge, and a client whose only link leads to host1"
cluster_up "$work/c" 3 1
cluster_client 1
for i in 1 2 3; do
  xdp=(--xdp eth0)
  ((i == 1)) && xdp+=(--xdp ingress0)
  zd_on "$i" attach "${xdp[@]}" >/dev/null
done
declare -A runs_on=([blue]=2 [green]=3) port=([blue]=3001 [green]=3002)
for name in blue green; do
  i=${runs_on[$name]}
  cluster_spawn "$i" "$work/$name.out" "$build/tests/zd-echo" "$name" "127.0.0.1:${port[$name]}"
  pid=$CLUSTER_SPAWNED
  _cluster_wait 5 grep -q ready "$work/$name.out"
  zd_on "$i" workspace add "$name" --pid "$pid" --socket "tcp://127.0.0.1:${port[$name]}" >/dev/null
done
for i in 1 2 3; do
  cluster_agent "$i" --listen 127.0.0.1:9477 --fabric "10.77.0.$i" --lease 3s
done
cluster_wait_agents 3
say "client 10.88.0.2 -> host1 (ingress0); hosts 10.77.0.1-3 on the fabric"
say "blue (zd-echo) registered on host2 only, green on host3 only"
say "each host: zdctl attach --xdp eth0 (host1 also --xdp ingress0), and its agent:"
say "  zdctl serve --cluster $CLUSTER_ETCD --node hostN --fabric 10.77.0.N --lease 3s"

step "the domain on blue: host1 forwards its new flows to host2"
zc domain add shop --listen tcp://10.99.0.1:80
zc switch shop blue || problem "switch shop blue failed"
took=$(until_greets blue 5) || problem "the client's new connections do not reach blue"
say "the client's new connections: $(client_greet)"
printf '$ zdctl status   (on host1, which runs neither)\n'
zd_on 1 status | sed 's/^/  /'

step "a client connecting the whole time; one connection held open on blue"
cluster_spawn 1 "$work/load" nsenter --net=/run/netns/client -- bash -c \
  'while :; do "$0" greet 10.99.0.1 80 2>/dev/null || echo refused; sleep 0.01; done' \
  "$build/tests/zd-client"
load=$CLUSTER_SPAWNED
mkfifo "$work/hold"
nsenter --net=/run/netns/client -- "$build/tests/zd-client" hold 10.99.0.1 80 <>"$work/hold" >"$work/held" 2>&1 &
CLUSTER_PIDS+=($!)
exec {held}>"$work/hold"
_cluster_wait 5 test -s "$work/held"
say "held connection greeted by: $(head -n 1 "$work/held")"
ask_held() {
  local before
  before=$(wc -l <"$work/held")
  echo "$1" >&"$held"
  _cluster_wait 3 test "$(wc -l <"$work/held")" -gt "$before" && tail -n 1 "$work/held"
}

step "one switch: new flows go to green on host3; the connection held on blue stays"
zc switch shop green || problem "switch shop green failed"
say "the client's new connections: $(client_greet)"
say "the held connection answers: $(ask_held still-there || echo nothing)"

step "host3 lost (its cable pulled): once its lease runs out, new flows fall back to blue"
cluster_link_down 3
if took=$(until_greets blue 10); then
  say "new connections reach blue again ${took} ms after host3 was lost (lease 3 s)"
else
  problem "new connections did not fall back to blue"
fi
say "the held connection answers: $(ask_held after-the-loss || echo nothing)"

step "the result"
kill "$load" 2>/dev/null || true
n=$(wc -l <"$work/load") refused=$(grep -c refused "$work/load" || true)
say "$n new connections while switching and losing host3; $refused failed (new flows sent to host3 before its lease ran out)"
[[ $(ask_held last || true) == blue:last ]] || problem "the connection held on blue broke"
if ((problems == 0)); then
  say "RESULT: OK (every new connection followed the switch across hosts; the held one stayed on blue)"
else
  say "RESULT: FAIL ($problems problems)"
  exit 1
fi
