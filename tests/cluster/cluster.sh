#!/usr/bin/env bash
# The cluster, for real: etcd in a namespace of its own, three hosts (each a
# network namespace with its own bpffs state, agent and workspaces blue and
# green), joined by a bridge. What it proves, each step a line:
#   one `zdctl --cluster switch` returns once every host applied it: new
#   connections on every host reach green while one opened before on each
#   keeps talking to blue; revert likewise; status shows every host at the
#   revision; two operators racing: every host ends on etcd's value and
#   history holds exactly the winners; a host that lacks the target:
#   refused up front, and with --force that host keeps its route and says
#   so; an agent killed, switches, agent back: it catches up; a host cut off
#   during switches, then back: it converges; etcd down: traffic unaffected,
#   a switch fails with one line, and after etcd returns all converge.
#
# Usage: tests/cluster/cluster.sh BUILD_DIR
# Root only (77 otherwise); runs in a private network + mount namespace.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: cluster.sh BUILD_DIR}" && pwd)
# shellcheck source=env.sh
source "$here/env.sh"
CLUSTER_BUILD=$build

if [[ -z ${ZD_CLUSTER_TEST_INNER:-} ]]; then
  ((EUID == 0)) || { echo "cluster.sh: needs root (skipped)"; exit 77; }
  command -v etcd >/dev/null || cluster_install_etcd
  export ZD_CLUSTER_TEST_INNER=1
  exec unshare -n -m -- "$0" "$build"
fi

fail() {
  echo "cluster.sh: FAIL: $*" >&2
  exit 1
}
say() { echo "cluster.sh: $*"; }
work=$(mktemp -d /tmp/zd-cluster-test.XXXXXX)
cleanup() {
  local rc=$?
  cluster_down || rc=1
  if ((rc != 0)); then
    for log in "$work"/c/host*/agent.log; do
      [[ -f $log ]] && { echo "--- $log" >&2; tail -n 8 "$log" >&2; }
    done
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
started=$SECONDS
hosts=3
zd() { "$build/user/zdctl" "$@"; }
# zdctl on host I, on its own state.
zd_on() {
  local i=$1
  shift
  cluster_exec "$i" "$build/user/zdctl" --state "$(cluster_state "$i")" "$@"
}
# zdctl --cluster, from host 1 (any host reaches etcd).
zc() { cluster_exec 1 "$build/user/zdctl" --cluster "$CLUSTER_ETCD" "$@"; }

greet_on() { cluster_greet "$1"; }

declare -A agent
start_agent() {
  cluster_agent "$1" --listen 127.0.0.1:9477
  agent[$1]=$CLUSTER_SPAWNED
}
wait_alive() { cluster_wait_agents "$1" || fail "$(zc status)"; }

cluster_up "$work/c" "$hosts" 1
for ((i = 1; i <= hosts; i++)); do
  cluster_host "$i"
  start_agent "$i"
done
wait_alive "$hosts"
registration=$(etcdctl --endpoints "$CLUSTER_ETCD" get /zd/alive/host2 --print-value-only)
[[ $(jq -r .version <<<"$registration") == "$("$build/user/zdctl" --version | cut -d' ' -f2)" ]] &&
  jq -e '.addresses | index("10.77.0.2")' <<<"$registration" >/dev/null ||
  fail "host2's registration lacks its version or address: $registration"
say "3 hosts registered, each with its version and addresses ($((SECONDS - started)) s)"

zc domain add shop --listen tcp://10.99.0.1:80 >/dev/null || fail "domain add --cluster"
zc switch shop blue >/dev/null || fail "switch shop blue"
for ((i = 1; i <= hosts; i++)); do
  [[ $(greet_on "$i") == blue ]] || fail "host$i: a new connection does not reach blue"
done
say "domain added and switched to blue on every host"

# hold I NAME: a connection held open on host I (zd-client hold), its
# answers in $work/held-NAME-I; ask_held I NAME LINE: what it answers.
declare -A held_fd
hold() {
  local i=$1 name=$2 fd n
  mkfifo "$work/hold-$name-$i"
  cluster_spawn "$i" "$work/held-$name-$i" "$build/tests/zd-client" hold 10.99.0.1 80 <>"$work/hold-$name-$i"
  exec {fd}>"$work/hold-$name-$i"
  held_fd[$name/$i]=$fd
  for ((n = 0; n < 50; n++)); do
    [[ -s $work/held-$name-$i ]] && return 0
    sleep 0.05
  done
}
ask_held() {
  local i=$1 name=$2 n before file=$work/held-$2-$1
  before=$(wc -l <"$file")
  echo "$3" >&"${held_fd[$name/$i]}"
  for ((n = 0; n < 50; n++)); do
    (($(wc -l <"$file") > before)) && { tail -n 1 "$file"; return; }
    sleep 0.05
  done
  echo "no answer"
}
# One connection held on each host, opened while blue is active.
for ((i = 1; i <= hosts; i++)); do hold "$i" onblue; done
for ((i = 1; i <= hosts; i++)); do
  got=$(ask_held "$i" onblue hello)
  [[ $got == blue:hello ]] || fail "host$i: the held connection is not blue's: $got"
done

out=$(zc switch shop green) || fail "switch shop green: $out"
[[ $out == *"host1: applied"*"host2: applied"* || $out == *"applied"* ]] || fail "switch did not wait: $out"
for ((i = 1; i <= hosts; i++)); do
  [[ $(greet_on "$i") == green ]] || fail "host$i: after the switch a new connection is not green's"
  [[ $(ask_held "$i" onblue ping) == blue:ping ]] || fail "host$i: the connection held on blue broke"
done
status=$(zc --json status)
revision=$(jq '.domains[] | select(.name == "shop") | .revision' <<<"$status")
[[ $(jq "[.nodes[] | select(.alive and .applied >= $revision)] | length" <<<"$status") == "$hosts" ]] ||
  fail "status does not show every host at revision $revision: $status"
say "switch shop green: every host's new connections reach green, held ones stay on blue, all at revision $revision"

# And one held on each host while green is active: the revert moves new
# connections back to blue, and it stays on green.
for ((i = 1; i <= hosts; i++)); do hold "$i" ongreen; done
zc revert shop >/dev/null || fail "revert shop"
for ((i = 1; i <= hosts; i++)); do
  [[ $(greet_on "$i") == blue ]] || fail "host$i: after the revert a new connection is not blue's"
  [[ $(ask_held "$i" ongreen again) == green:again ]] || fail "host$i: the connection held on green broke"
  [[ $(ask_held "$i" onblue again) == blue:again ]] || fail "host$i: the connection held on blue broke"
done
say "revert shop: new connections back to blue on every host, the one held on green stays on green"

# Two operators racing, 100 times: from blue, both switch to green. Each
# switch is one transaction guarded by the revision it read: one wins; the
# other read before the win (told the domain changed, nothing written) or
# after it (green is already active). History holds exactly the winners.
before=$(zc --json history shop | jq '.history | length')
writes=0 lost=0
for ((r = 0; r < 100; r++)); do
  reset=$(zc switch shop blue --no-wait) || fail "race $r: reset to blue: $reset"
  [[ $reset == *"-> blue in the cluster"* ]] && writes=$((writes + 1))
  zc switch shop green --no-wait >"$work/race-a" 2>&1 & a=$!
  zc switch shop green --no-wait >"$work/race-b" 2>&1 & b=$!
  rc_a=0 rc_b=0
  wait $a || rc_a=$?
  wait $b || rc_b=$?
  for side in a b; do
    if grep -q -- "-> green in the cluster" "$work/race-$side"; then
      writes=$((writes + 1))
    elif grep -q "changed in the cluster since it was read" "$work/race-$side"; then
      lost=$((lost + 1))
    elif ! grep -q "already has green active" "$work/race-$side"; then
      fail "race $r: operator $side said: $(cat "$work/race-$side")"
    fi
  done
  (( (rc_a == 0) + (rc_b == 0) >= 1 )) || fail "race $r: neither operator succeeded"
done
after=$(zc --json history shop | jq '.history | length')
((after - before == writes)) ||
  fail "history grew by $((after - before)), but $writes transactions won"
zc switch shop green --timeout 10s >/dev/null 2>&1 || true # waits for every host to catch up
final=$(zc --json status | jq -r '.domains[] | select(.name == "shop") | .active')
for ((i = 1; i <= hosts; i++)); do
  [[ $(greet_on "$i") == "$final" ]] || fail "host$i does not end on etcd's value ($final)"
done
say "two operators raced 100 times: $writes transactions won, $lost told the domain changed; history has exactly the winners; every host on $final"

converged() { cluster_converged "$1" "$hosts"; }

# On a host whose agent runs, a local change of a cluster-managed domain is
# refused, naming the --cluster form; --local insists, and status shows the
# drift until the cluster's next change of the domain puts it back.
zc switch shop blue >/dev/null 2>&1 || true
if out=$(zd_on 2 switch shop green 2>&1); then fail "a local switch of a managed domain went through"; fi
[[ $out == *"managed by the cluster"*"zdctl --cluster URLS switch shop green"*"--local"* ]] ||
  fail "the local refusal says: $out"
[[ $(greet_on 2) == blue ]] || fail "the refused local switch changed host2"
zd_on 2 switch shop green --local >/dev/null || fail "switch --local"
[[ $(greet_on 2) == green && $(greet_on 1) == blue ]] || fail "--local did not change host2 alone"
[[ $(zd_on 2 --json status | jq '.cluster.domains.shop.drifted') == true ]] ||
  fail "host2's status does not show the drift: $(zd_on 2 status | tail -n 2)"
zd_on 2 status | grep -q "changed here with --local since: shop" || fail "the table does not show the drift"
zc switch shop green >/dev/null && zc switch shop blue >/dev/null || fail "switches after the drift"
[[ $(greet_on 2) == blue ]] || fail "the cluster's next change did not put host2 back"
[[ $(zd_on 2 --json status | jq '.cluster.domains.shop.drifted') == false ]] ||
  fail "the drift is still shown after the cluster's change"
say "a local switch of a managed domain refused; --local drifts host2 alone, shown in status until the cluster's next change"

# The page of an agent's serve: its event stream and GET /api/v1/cluster
# show the cluster; POST /api/v1/cluster/domains/shop/switch is one
# transaction, which every host then applies.
token=$(grep -o 'token=[0-9a-f]*' "$CLUSTER_WORK/host3/agent.log" | head -n 1 | cut -d= -f2)
api3() { cluster_exec 3 curl -s -m 5 -H "Authorization: Bearer $token" "$@"; }
[[ $(api3 http://127.0.0.1:9477/api/v1/cluster | jq '[.nodes[] | select(.alive)] | length') == "$hosts" ]] ||
  fail "GET /api/v1/cluster does not show the hosts: $(api3 http://127.0.0.1:9477/api/v1/cluster)"
answer=$(api3 -X POST -d '{"workspace":"green"}' http://127.0.0.1:9477/api/v1/cluster/domains/shop/switch)
[[ $(jq -r .to <<<"$answer") == green && $(jq .revision <<<"$answer") -gt 0 ]] ||
  fail "the page's cluster switch answered: $answer"
converged green || fail "the page's cluster switch did not reach every host"
event=$(api3 -N --max-time 2 http://127.0.0.1:9477/api/v1/events | grep -m1 '^data: ' | cut -c7-) || true
[[ $(jq -r '.cluster.domains[] | select(.name == "shop") | .active' <<<"$event") == green ]] ||
  fail "the page's event stream does not carry the cluster: ${event:0:300}"
[[ $(api3 -o /dev/null -w '%{http_code}' -X POST -d '{"workspace":"blue"}' \
  http://127.0.0.1:9477/api/v1/domains/shop/switch) == 409 ]] ||
  fail "the local API switched a domain the cluster manages"
say "an agent's page: /api/v1/cluster shows every host, its switch reaches them all, its events carry the cluster; its local switch of shop is refused (409)"

# A canary and a domain's check, in the cluster: every host's data plane
# sends the canary its share, and the check is in the desired spec.
zc switch shop blue >/dev/null 2>&1 || true
zc canary shop green --weight 100 >/dev/null || fail "canary --cluster"
converged green || fail "a 100% canary does not take every host's new connections"
zc canary shop --abort >/dev/null || fail "canary --abort --cluster"
converged blue || fail "after the canary ended not every host is on blue"
zc domain set shop --check tcp >/dev/null || fail "domain set --check --cluster"
[[ $(zc --json status | jq -r '.domains[] | select(.name == "shop") | .spec.check.check') == tcp ]] ||
  fail "the check is not in the desired spec"
[[ $(zd_on 2 --json status shop | jq -r '.domains[0].check.kind') == tcp ]] ||
  fail "host2 did not apply the domain's check"
zc domain set shop --no-check >/dev/null || fail "domain set --no-check --cluster"
[[ $(zd_on 2 --json status shop | jq -r '.domains[0].check') == null ]] ||
  fail "host2 kept the domain's check after it was removed"
say "canary 100% on every host and ended; the domain's check set and removed"

# A workspace only hosts 1 and 2 have: refused up front, naming host 3; with
# --force, host 3 says it cannot apply it and keeps its route.
for i in 1 2; do
  cluster_spawn "$i" "$CLUSTER_WORK/host$i/red.out" "$build/tests/zd-echo" red 127.0.0.1:3003
  red_pid=$CLUSTER_SPAWNED
  for ((n = 0; n < 100; n++)); do
    grep -q ready "$CLUSTER_WORK/host$i/red.out" && break
    sleep 0.05
  done
  zd_on "$i" workspace add red --pid "$red_pid" --socket tcp://127.0.0.1:3003 >/dev/null
done
zc switch shop blue >/dev/null 2>&1 || true
# Until hosts 1 and 2 published red (they do twice a second; at most 5 s).
for ((n = 0; n < 100; n++)); do
  [[ $(zc --json status | jq '[.nodes[] | select(.workspaces.red.alive)] | length') == 2 ]] && break
  sleep 0.05
done
if out=$(zc switch shop red 2>&1); then fail "a switch to a workspace host3 lacks was not refused: $out"; fi
[[ $out == *"host3 (not registered there)"* ]] || fail "the refusal does not name host3: $out"
[[ $out == *"--force"* ]] || fail "the refusal does not say how to insist: $out"
if out=$(zc switch shop red --force 2>&1); then fail "a forced switch host3 cannot apply succeeded: $out"; fi
[[ $out == *"not applied on 1 host(s): host3"* ]] || fail "the forced switch does not name host3: $out"
[[ $(greet_on 1) == red && $(greet_on 2) == red ]] || fail "hosts 1 and 2 did not switch to red"
[[ $(greet_on 3) == blue ]] || fail "host3 did not keep its route (blue)"
zc status | grep -q "host3 FAILED: workspace 'red' is not registered on host3" ||
  fail "status does not show host3's failure: $(zc status)"
zc switch shop green >/dev/null || fail "switch back to green (every host has it)"
converged green || fail "not every host on green after the failed one"
say "a workspace host3 lacks: refused naming it; forced, host3 keeps blue and says why"

# An agent killed, three switches, the agent back: it applies the latest.
kill -9 "${agent[2]}"
for to in blue green blue; do
  zc switch shop "$to" --timeout 3s >/dev/null 2>&1 || true # host2 is not alive: not waited for
done
t0=$(date +%s%N)
start_agent 2
for ((n = 0; n < 100; n++)); do
  [[ $(greet_on 2) == blue ]] && break
  sleep 0.02
done
[[ $(greet_on 2) == blue ]] || fail "a restarted agent did not apply the latest switch within 2 s"
say "an agent killed through 3 switches caught up in $((($(date +%s%N) - t0) / 1000000)) ms after it restarted"
wait_alive "$hosts"

# A host cut off during switches, and the revisions it missed compacted
# away: back, it reads everything again and converges.
cluster_link_down 3
zc switch shop green --timeout 1s >/dev/null 2>&1 || true
zc switch shop blue --timeout 1s >/dev/null 2>&1 || true
zc switch shop green --timeout 1s >/dev/null 2>&1 || true
[[ $(greet_on 3) == blue ]] || fail "a cut-off host changed without etcd"
rev=$(etcdctl --endpoints "$CLUSTER_ETCD" endpoint status -w json | jq '.[0].Status.header.revision')
etcdctl --endpoints "$CLUSTER_ETCD" compact "$rev" >/dev/null
cluster_link_up 3
converged green || fail "host3 did not converge after it came back (compacted: $rev)"
grep -q "was compacted" "$CLUSTER_WORK/host3/agent.log" ||
  fail "host3's agent did not find its revision compacted (it should have read everything again)"
say "a host cut off through 3 switches and a compaction converged when it came back"

# etcd down: every host keeps steering, a change fails with one line, and
# after etcd returns everything converges.
cluster_etcd_kill 1
converged green || fail "traffic changed with etcd down"
if out=$(zc switch shop blue 2>&1); then fail "a switch succeeded with etcd down"; fi
(($(wc -l <<<"$out") == 1)) && [[ $out == "zdctl: error: etcd cannot be reached"* ]] ||
  fail "with etcd down a switch says: $out"
cluster_etcd_start 1
wait_alive "$hosts"
zc switch shop blue >/dev/null || fail "a switch after etcd returned"
converged blue || fail "not every host on blue after etcd returned"
say "etcd down: every host kept steering, a switch said '${out#zdctl: error: }'; back, all converged"

say "OK ($((SECONDS - started)) s)"
