#!/usr/bin/env bash
# zd across hosts, for real (scripts/demo.sh --cluster runs this after the
# build): etcd holds the desired state, three hosts (each a network
# namespace with its own bpffs state, two workspaces blue and green, and an
# agent: zdctl serve --cluster) apply it. One `zdctl --cluster switch` moves
# every host's new connections while each host's established connection
# stays; a host's agent is killed, the cluster switches on without it, and
# back, it catches up by itself. Clients keep connecting on every host the
# whole time; the count of failed connections is the result.
#
# Usage: scripts/demo_cluster.sh BUILD_DIR   (root; from scripts/demo.sh --cluster)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:?usage: demo_cluster.sh BUILD_DIR}" && pwd)
# shellcheck source=../tests/cluster/env.sh
source "$repo/tests/cluster/env.sh"
CLUSTER_BUILD=$build

if [[ -z ${ZD_DEMO_CLUSTER_INNER:-} ]]; then
  ((EUID == 0)) || { echo "demo_cluster.sh: needs root" >&2; exit 1; }
  command -v etcd >/dev/null || cluster_install_etcd
  export ZD_DEMO_CLUSTER_INNER=1
  exec unshare -n -m -- "$0" "$build"
fi

hosts=3
work=$(mktemp -d /tmp/zd-demo-cluster.XXXXXX)
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
# zdctl --cluster, shown, from host 1 (any host reaches etcd).
zc() {
  printf '$ zdctl --cluster %s %s\n' "$CLUSTER_ETCD" "$*"
  cluster_exec 1 "$build/user/zdctl" --cluster "$CLUSTER_ETCD" "$@" 2>&1 | sed 's/^/  /'
  return "${PIPESTATUS[0]}"
}
quiet_zc() { cluster_exec 1 "$build/user/zdctl" --cluster "$CLUSTER_ETCD" "$@"; }
greet_on() { cluster_greet "$1"; }
declare -A agent
start_agent() {
  cluster_agent "$1"
  agent[$1]=$CLUSTER_SPAWNED
}
# Which workspace new connections reach on each host: "host1 green, ...".
where() {
  local i out=""
  for ((i = 1; i <= hosts; i++)); do out+="${out:+, }host$i $(greet_on "$i")"; done
  echo "$out"
}

step "etcd and three hosts, each a network namespace on one bridge"
cluster_up "$work/c" "$hosts" 1
say "etcd at $CLUSTER_ETCD; hosts 10.77.0.1-3; on each the domain's address 10.99.0.1 is local"
for ((i = 1; i <= hosts; i++)); do
  cluster_host "$i"
  start_agent "$i"
done
say "each host: zdctl attach, workspaces blue and green registered, and its agent:"
say "  zdctl serve --cluster $CLUSTER_ETCD --node hostN"
cluster_wait_agents "$hosts"

step "the domain, in the cluster's desired state"
zc domain add shop --listen tcp://10.99.0.1:80
zc switch shop blue
say "new connections: $(where)"

step "clients on every host, connecting the whole time; one connection held open on each"
for ((i = 1; i <= hosts; i++)); do
  # A client loop in host I: one line per connection, the workspace or "refused".
  cluster_spawn "$i" "$work/load$i" bash -c \
    'while :; do "$0" greet 10.99.0.1 80 2>/dev/null || echo refused; sleep 0.01; done' \
    "$build/tests/zd-client"
  load[$i]=$CLUSTER_SPAWNED
  mkfifo "$work/hold$i"
  cluster_spawn "$i" "$work/held$i" "$build/tests/zd-client" hold 10.99.0.1 80 <>"$work/hold$i"
  exec {fd}>"$work/hold$i"
  held[$i]=$fd
done
# Polled, not slept: a file's lines, every host's report.
lines_at_least() { (($(wc -l <"$1") >= $2)); }
all_applied() {
  [[ $(quiet_zc --json status | jq '[.domains[] | select(.name == "shop") | .nodes[] |
    select(. == "applied")] | length') == "$hosts" ]]
}
for ((i = 1; i <= hosts; i++)); do _cluster_wait 5 lines_at_least "$work/held$i" 1; done
say "held connections greeted by: $(for i in 1 2 3; do head -n 1 "$work/held$i"; done | paste -sd' ')"

step "one switch for every host: one etcd transaction, then each host's agent applies it"
zc switch shop green || problem "the switch failed"
say "new connections: $(where)"
for ((i = 1; i <= hosts; i++)); do echo "still there?" >&"${held[$i]}"; done
for ((i = 1; i <= hosts; i++)); do _cluster_wait 5 lines_at_least "$work/held$i" 2 || true; done
for ((i = 1; i <= hosts; i++)); do
  answer=$(tail -n 1 "$work/held$i")
  say "host$i's held connection answers: $answer"
  [[ $answer == "blue:still there?" ]] || problem "host$i's held connection broke"
done
[[ $(where) == "host1 green, host2 green, host3 green" ]] || problem "not every host on green"

step "host2's agent killed (SIGKILL): its traffic goes on as last applied"
kill -9 "${agent[2]}"
say "new connections: $(where)"
zc switch shop blue --timeout 2s ||
  say "(host2's lease still holds for a few seconds: the switch names it as behind)"
say "new connections: $(where)"
zc status

step "host2's agent back: it reads the desired state and catches up by itself"
start_agent 2
for ((n = 0; n < 100; n++)); do
  [[ $(greet_on 2) == blue ]] && break
  sleep 0.05
done
say "new connections: $(where)"
[[ $(where) == "host1 blue, host2 blue, host3 blue" ]] || problem "host2 did not catch up"
_cluster_wait 5 all_applied || problem "not every host reported the switch"
zc status
zc history shop

step "the result"
total=0 failed=0
for ((i = 1; i <= hosts; i++)); do
  kill "${load[$i]}" 2>/dev/null || true
  n=$(wc -l <"$work/load$i") bad=$(grep -c refused "$work/load$i" || true)
  say "host$i: $n connections while switching, $bad failed"
  total=$((total + n)) failed=$((failed + bad))
done
if ((failed == 0 && problems == 0)); then
  say "RESULT: OK ($total connections across 3 hosts, 0 failed; every host followed every switch)"
else
  say "RESULT: FAIL ($failed failed connections, $problems problems)"
  exit 1
fi
