#!/usr/bin/env bash
# A cluster's propagation (issue 20), for real: etcd and three hosts as
# network namespaces on a bridge (tests/cluster/env.sh), an agent on each.
# With 1, 1,000 and 10,000 domains in the desired state: 200 switches of
# one domain (zd-clusterbench: from just before each transaction to each
# host's map write, by the time the host reports), the agents' CPU while
# idle and during the switches, and at 10,000 a full resync (an agent
# restarted: until it reports the newest revision). Prints a Markdown table.
# Usage: bench/cluster.sh [BUILD_DIR] [SWITCHES]   (root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-build}")
switches=${2:-200}
# shellcheck source=../tests/cluster/env.sh
source "$here/../tests/cluster/env.sh"
CLUSTER_BUILD=$build
if [[ -z ${ZD_BENCH_INNER:-} ]]; then
  ((EUID == 0)) || { echo "cluster.sh: needs root" >&2; exit 1; }
  command -v etcd >/dev/null || cluster_install_etcd
  export ZD_BENCH_INNER=1
  exec unshare -n -m -- "$0" "$build" "$switches"
fi

work=$(mktemp -d /tmp/zd-cluster-bench.XXXXXX)
trap 'rc=$?; ((rc == 0)) || tail -n 5 "$work"/c/host*/agent.log >&2; cluster_down; rm -rf "$work"' EXIT
hosts=3
cluster_up "$work/c" "$hosts" 1
zc() { cluster_exec 1 "$build/user/zdctl" --cluster "$CLUSTER_ETCD" "$@"; }
declare -A agent
start_agent() {
  cluster_agent "$1"
  agent[$1]=$CLUSTER_SPAWNED
}
for ((i = 1; i <= hosts; i++)); do
  cluster_host "$i"
  start_agent "$i"
done
cluster_wait_agents "$hosts"
zc domain add shop --listen tcp://10.99.0.1:80 >/dev/null
zc switch shop blue >/dev/null

# CPU seconds (user + system) of every agent so far.
cpu() {
  local total=0 i f
  for ((i = 1; i <= hosts; i++)); do
    read -ra f <"/proc/${agent[$i]}/stat"
    total=$((total + f[13] + f[14]))
  done
  echo "$total"
}
tick=$(getconf CLK_TCK)
# Percent of one core per agent, over a span of ticks and nanoseconds.
percent() { awk -v t="$1" -v ns="$2" -v hz="$tick" -v h="$hosts" 'BEGIN { printf "%.1f", t / hz / (ns / 1e9) / h * 100 }'; }

# Domains d1.. added by one apply --cluster, each routed to blue.
grow() {
  local to=$1 from=$2 i doc="$work/doc.json"
  {
    echo '{"domains": {'
    for ((i = from; i <= to; i++)); do
      printf '%s"d%d": {"listen": ["tcp://10.%d.%d.%d:80"], "active": "blue"}' \
        "$( ((i > from)) && echo ,)" "$i" $((100 + i / 65536)) $((i / 256 % 256)) $((i % 256))
    done
    echo '}}'
  } >"$doc"
  cluster_exec 1 "$build/user/zdctl" --cluster "$CLUSTER_ETCD" apply "$doc" --timeout 120s >/dev/null
}

echo "| domains in the desired state | switches | propagation p50 ms | p99 ms | max ms | agent CPU idle | agent CPU during switches | bytes to etcd per switch (domain + history; the hosts' reports) |"
echo "|---|---|---|---|---|---|---|---|"
have=1
for size in 1 1000 10000; do
  if ((size > have)); then
    grow "$size" $((have + 1))
    have=$size
  fi
  c0=$(cpu) t0=$(date +%s%N)
  sleep 3
  idle=$(percent $(($(cpu) - c0)) $(($(date +%s%N) - t0)))
  c0=$(cpu) t0=$(date +%s%N)
  out=$(cluster_exec 1 "$build/bench/zd-clusterbench" "$CLUSTER_ETCD" shop "$switches" "$hosts")
  busy=$(percent $(($(cpu) - c0)) $(($(date +%s%N) - t0)))
  jq -r --arg size "$size" --arg idle "$idle%" --arg busy "$busy%" \
    '"| \($size) | \(.propagation_ms.n / .hosts) | \(.propagation_ms.p50 * 10 | round / 10) | \(.propagation_ms.p99 * 10 | round / 10) | \(.propagation_ms.max * 10 | round / 10) | \($idle) | \($busy) | \(.bytes_per_switch.domain_and_history); \(.bytes_per_switch.host_reports) |"' <<<"$out"
done

# A full resync: host 1's agent killed and started again, until it reports
# the newest revision of the desired state (10,000 domains).
kill -9 "${agent[1]}"
zc switch shop green --no-wait >/dev/null
target=$(zc --json status | jq '[.domains[].revision] | max')
t0=$(date +%s%N)
start_agent 1
for ((n = 0; n < 3000; n++)); do
  applied=$(etcdctl --endpoints "$CLUSTER_ETCD" get /zd/applied/host1 --print-value-only | jq '.revision')
  ((applied >= target)) && break
  sleep 0.01
done
echo
echo "Full resync of $have domains after an agent restart: $((($(date +%s%N) - t0) / 1000000)) ms (from its start to its report of revision $target)."
