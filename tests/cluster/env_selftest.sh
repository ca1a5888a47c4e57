#!/usr/bin/env bash
# Proves tests/cluster/env.sh: hosts reach etcd from their namespaces, each
# host has its own workspaces and bpffs, a pulled link cuts a host off and
# plugging it back restores it, and with 3 members a killed leader is
# replaced (a put succeeds after the election) and the member restarts.
#
# Usage: tests/cluster/env_selftest.sh BUILD_DIR
# Root only (exit 77 otherwise); runs in a private network + mount namespace.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: env_selftest.sh BUILD_DIR}" && pwd)
# shellcheck source=env.sh
source "$here/env.sh"
CLUSTER_BUILD=$build

if [[ -z ${ZD_CLUSTER_SELFTEST_INNER:-} ]]; then
  ((EUID == 0)) || { echo "env_selftest.sh: needs root (skipped)"; exit 77; }
  cluster_install_etcd # out here: apt-get needs the network
  export ZD_CLUSTER_SELFTEST_INNER=1
  exec unshare -n -m -- "$0" "$build"
fi

fail() {
  echo "env_selftest: FAIL: $*" >&2
  exit 1
}
work=$(mktemp -d /tmp/zd-cluster-selftest.XXXXXX)
# cluster_down, then the logs (a failure shows the members' last lines).
cleanup() {
  local rc=$?
  cluster_down || rc=1
  ((rc == 0)) || tail -n 5 "$work"/*/etcd*.log 2>/dev/null | sed 's/^/  /' >&2 || true
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
started=$SECONDS
# What cluster_down must come back to: this namespace's mounts and links.
mounts=$(cat /proc/self/mounts) links=$(ip -o link | cut -d: -f2) netns=$(ip netns list)

# etcdctl from host I, failing fast: a cut link must make it fail, not hang.
etcdctl_on() {
  local i=$1
  shift
  cluster_exec "$i" etcdctl --endpoints "$CLUSTER_ETCD" --dial-timeout 1s --command-timeout 1s "$@"
}

# --- 3 hosts, 1 member -------------------------------------------------------
cluster_up "$work/a" 3 1
[[ $CLUSTER_ETCD == http://10.77.0.101:2379 ]] || fail "CLUSTER_ETCD is '$CLUSTER_ETCD'"
for i in 1 2 3; do
  etcdctl_on "$i" put "/selftest/host$i" "x$i" >/dev/null || fail "host$i: put failed"
  [[ $(etcdctl_on "$i" get --print-value-only "/selftest/host$i") == "x$i" ]] ||
    fail "host$i: get does not read back x$i"
  [[ $(cluster_exec "$i" ip -4 -o addr show dev eth0) == *" 10.77.0.$i/24 "* ]] ||
    fail "host$i: eth0 is not 10.77.0.$i"
  [[ $(cluster_exec "$i" ip route get 10.99.0.1) == local* ]] || fail "host$i: 10.99.0.1 is not local"
  # Its own bpffs, seen from inside the host's namespace.
  state=$(cluster_state "$i")
  [[ $state == "$work/a/host$i/bpf/zd" ]] || fail "cluster_state $i is '$state'"
  [[ $(cluster_exec "$i" stat -f -c %T "${state%/zd}") == bpf_fs ]] || fail "host$i: no bpffs at ${state%/zd}"
  cluster_workspaces "$i"
  for ws in blue:3001 green:3002; do
    name=${ws%:*}
    pid=$(cluster_ws_pid "$i" "$name")
    [[ $(cat "/proc/$pid/comm") == zd-echo ]] || fail "host$i: pid $pid of $name is not zd-echo"
    # shellcheck disable=SC2016 # expanded by the inner bash
    greeting=$(cluster_exec "$i" timeout 5 bash -c \
      'exec 3<>/dev/tcp/127.0.0.1/$1 && read -r line <&3 && echo "$line"' - "${ws#*:}") || true
    [[ $greeting == "$name" ]] || fail "host$i: 127.0.0.1:${ws#*:} greets '$greeting', not $name"
  done
done
# The hosts' loopbacks are their own: this namespace has no workspace.
! timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/3001' 2>/dev/null || fail "127.0.0.1:3001 answers outside the hosts"

# A pulled link cuts host 2 off etcd (and only host 2); plugged back, it works.
cluster_link_down 2
! etcdctl_on 2 put /selftest/cut y >/dev/null 2>&1 || fail "host2: put succeeded with its link down"
etcdctl_on 3 put /selftest/cut y >/dev/null || fail "host3: put failed while host2's link was down"
cluster_link_up 2
# The veth needs a moment to carry again (no fixed sleep: poll, bounded).
_cluster_wait 10 etcdctl_on 2 put /selftest/back z >/dev/null 2>&1 || fail "host2: put fails after link up"
[[ $(etcdctl_on 2 get --print-value-only /selftest/cut) == y ]] || fail "host2: does not read /selftest/cut"

started_pids=("${CLUSTER_PIDS[@]}") # (not pgrep: an etcd of the machine's is not ours)
cluster_down
[[ $(cat /proc/self/mounts) == "$mounts" ]] || fail "cluster_down leaves mounts: $(cat /proc/self/mounts)"
[[ $(ip -o link | cut -d: -f2) == "$links" ]] || fail "cluster_down leaves links: $(ip -o link | cut -d: -f2)"
[[ $(ip netns list) == "$netns" ]] || fail "cluster_down leaves namespaces: $(ip netns list)"
for pid in "${started_pids[@]}"; do _cluster_gone "$pid" || fail "cluster_down leaves pid $pid"; done
((${#started_pids[@]} == 7)) || fail "expected 7 processes started (1 etcd, 6 zd-echo), not ${#started_pids[@]}"
cluster_down # idempotent
echo "env_selftest: 3 hosts, 1 member: OK ($((SECONDS - started)) s)"

# --- 1 host, 3 members: the leader killed, then back -------------------------
cluster_up "$work/b" 1 3
[[ $CLUSTER_ETCD == http://10.77.0.101:2379,http://10.77.0.102:2379,http://10.77.0.103:2379 ]] ||
  fail "CLUSTER_ETCD is '$CLUSTER_ETCD'"
etcdctl_on 1 put /selftest/before 1 >/dev/null || fail "put failed with 3 members"
leader=$(cluster_etcd_leader)
cluster_etcd_kill "$leader"
t0=${EPOCHREALTIME/[.,]/}
_cluster_wait 10 etcdctl_on 1 put /selftest/after 2 >/dev/null 2>&1 ||
  fail "no put succeeded within 10 s of killing leader etcd$leader"
elected_ms=$(((${EPOCHREALTIME/[.,]/} - t0) / 1000))
new=$(cluster_etcd_leader)
[[ $new != "$leader" ]] || fail "etcd$leader still leads after its kill"
cluster_etcd_start "$leader"
_cluster_wait 10 _cluster_etcdctl --endpoints "$CLUSTER_ETCD" endpoint health >/dev/null 2>&1 || fail "not all 3 members healthy after the restart"
[[ $(cluster_exec 1 etcdctl --endpoints "http://10.77.0.$((100 + leader)):2379" get --print-value-only \
  /selftest/after) == 2 ]] || fail "restarted etcd$leader does not have /selftest/after"
echo "env_selftest: 3 members: leader etcd$leader killed, etcd$new elected, a put ${elected_ms} ms later; etcd$leader back"

cluster_down
echo "env_selftest: OK ($((SECONDS - started)) s)"
