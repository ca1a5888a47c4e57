#!/usr/bin/env bash
# etcd as a three-member cluster, two hosts. What it proves:
#   the leader killed during a storm of switches: switches go on after the
#   election, and no host diverges (each ends on etcd's final value);
#   every member down: new connections on every host are served as before
#   (none fails), a switch fails with one line, and once the members are
#   back every host converges on the next switch.
#
# Usage: tests/cluster/failover.sh BUILD_DIR
# Root only (77 otherwise); runs in a private network + mount namespace.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: failover.sh BUILD_DIR}" && pwd)
# shellcheck source=env.sh
source "$here/env.sh"
CLUSTER_BUILD=$build

if [[ -z ${ZD_CLUSTER_TEST_INNER:-} ]]; then
  ((EUID == 0)) || { echo "failover.sh: needs root (skipped)"; exit 77; }
  command -v etcd >/dev/null || cluster_install_etcd
  export ZD_CLUSTER_TEST_INNER=1
  exec unshare -n -m -- "$0" "$build"
fi

fail() {
  echo "failover.sh: FAIL: $*" >&2
  exit 1
}
say() { echo "failover.sh: $*"; }
work=$(mktemp -d /tmp/zd-cluster-failover.XXXXXX)
cleanup() {
  local rc=$?
  cluster_down || rc=1
  if ((rc != 0)); then
    tail -n 12 "$work"/c/host*/agent.log >&2 2>/dev/null || true
    zc status >&2 2>/dev/null || true
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
started=$SECONDS
hosts=2
zc() { cluster_exec 1 "$build/user/zdctl" --cluster "$CLUSTER_ETCD" "$@"; }
greet_on() { cluster_greet "$1"; }
converged() { cluster_converged "$1" "$hosts"; }

cluster_up "$work/c" "$hosts" 3
for ((i = 1; i <= hosts; i++)); do
  cluster_host "$i"
  cluster_agent "$i"
done
cluster_wait_agents "$hosts"
zc domain add shop --listen tcp://10.99.0.1:80 >/dev/null
zc switch shop blue >/dev/null
converged blue || fail "the hosts did not start on blue"

# A storm: 60 switches back to back; the leader killed after the 20th.
leader=$(cluster_etcd_leader)
ok_after=0 failed=0
for ((s = 0; s < 60; s++)); do
  ((s == 20)) && cluster_etcd_kill "$leader"
  if zc switch shop "$( ((s % 2)) && echo blue || echo green)" --no-wait --force >/dev/null 2>&1; then
    ((s > 20)) && ok_after=$((ok_after + 1))
  else
    failed=$((failed + 1))
  fi
done
((ok_after >= 30)) || fail "after the leader (etcd$leader) died only $ok_after of 39 switches went through"
# Until every host reports the last revision applied: a host's greeting can
# show the final workspace while a later switch is still on its way.
for ((n = 0; n < 100; n++)); do
  status=$(zc --json status)
  [[ $(jq '[.domains[] | select(.name == "shop") | .nodes[] | select(. == "applied")] | length' \
    <<<"$status") == "$hosts" ]] && break
  sleep 0.05
done
final=$(jq -r '.domains[] | select(.name == "shop") | .active' <<<"$status")
converged "$final" || fail "a host diverged from etcd's final value ($final): $(zc status)"
say "leader etcd$leader killed in a storm of 60 switches: $ok_after of the 39 after it went through ($failed refused during the election); every host on $final"
cluster_etcd_start "$leader"

# Every member down: traffic goes on, changes are refused, and nothing is
# lost once they return.
# Clients on every host the whole time, from before etcd goes until after
# it returns and the hosts converged: one line per connection.
declare -A load
for ((i = 1; i <= hosts; i++)); do
  cluster_spawn "$i" "$work/load$i" bash -c \
    'while :; do "$0" greet 10.99.0.1 80 2>/dev/null || echo refused; sleep 0.01; done' \
    "$build/tests/zd-client"
  load[$i]=$CLUSTER_SPAWNED
done
for ((k = 1; k <= 3; k++)); do cluster_etcd_kill "$k"; done
bad=0
for ((r = 0; r < 100; r++)); do
  for ((i = 1; i <= hosts; i++)); do
    got=$(greet_on "$i")
    [[ $got == "$final" ]] || { bad=$((bad + 1)); seen="host$i: $got"; }
  done
done
((bad == 0)) || fail "$bad of $((100 * hosts)) connections failed with etcd down (last: $seen)"
if out=$(zc switch shop blue 2>&1); then fail "a switch succeeded with every etcd member down"; fi
(($(wc -l <<<"$out") == 1)) || fail "with etcd down a switch said more than one line: $out"
# All at once: a member alone has no quorum, so none is healthy until two are.
for ((k = 1; k <= 3; k++)); do cluster_etcd_start "$k" --no-wait; done
next=$([[ $final == blue ]] && echo green || echo blue)
for ((n = 0; n < 50; n++)); do
  zc switch shop "$next" --timeout 5s >/dev/null 2>&1 && break
  sleep 0.2
done
converged "$next" || fail "after etcd returned the hosts did not converge on $next"
loaded=0 refused=0
for ((i = 1; i <= hosts; i++)); do
  kill "${load[$i]}" 2>/dev/null || true
  loaded=$((loaded + $(wc -l <"$work/load$i")))
  refused=$((refused + $(grep -c refused "$work/load$i" || true)))
done
((loaded > 100 && refused == 0)) ||
  fail "under load, etcd down and back: $refused of $loaded connections failed"
say "every etcd member down: $((100 * hosts)) checked connections and $loaded under load, 0 failed; a switch said '${out#zdctl: error: }'; back, every host on $next"
say "OK ($((SECONDS - started)) s)"
