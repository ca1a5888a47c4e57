#!/usr/bin/env bash
# What a health check adds to a switch: `zdctl switch` wall time without a
# check, with `--check tcp` and with `--check /healthz`, against the same two
# HTTP workspaces in one run, interleaved in rounds so drift hits all three
# alike. Runs in a private network + mount namespace; prints a Markdown table
# (p50/p99 per variant and its ratio to the unchecked switch).
# Usage: bench/check.sh [BUILD_DIR] [ROUNDS] [PER_ROUND]   (root; default build 5 200)
set -euo pipefail
build=$(realpath "${1:-build}")
rounds=${2:-5} per_round=${3:-200}
if [[ -z ${ZD_BENCH_INNER:-} ]]; then
  ((EUID == 0)) || { echo "check.sh: needs root" >&2; exit 1; }
  export ZD_BENCH_INNER=1
  exec unshare -n -m -- "$0" "$build" "$rounds" "$per_round"
fi

work=$(mktemp -d /tmp/zd-check-bench-XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; umount "$work/bpf" 2>/dev/null; rm -rf "$work"' EXIT
mkdir "$work/bpf" && mount -t bpf bpf "$work/bpf"
ip link set lo up
ip route add local 10.99.0.0/24 dev lo
zdctl() { "$build/user/zdctl" --state "$work/bpf/zd" "$@" >/dev/null; }
for ws in blue:3001 green:3002; do
  "$build/tests/zd-echo" --http "${ws%:*}" "127.0.0.1:${ws#*:}" >"$work/${ws%:*}.out" &
  pids+=($!)
done
for ((i = 0; i < 100; i++)); do
  grep -q ready "$work/blue.out" "$work/green.out" 2>/dev/null &&
    [[ $(cat "$work"/*.out | grep -c ready) == 2 ]] && break
  sleep 0.05
done
zdctl attach
zdctl domain add web --listen tcp://10.99.0.1:80
zdctl workspace add blue --pid "${pids[0]}" --socket tcp://127.0.0.1:3001
zdctl workspace add green --pid "${pids[1]}" --socket tcp://127.0.0.1:3002
zdctl switch web blue

variants=("none" "--check,tcp" "--check,/healthz")
for ((round = 0; round < rounds; round++)); do
  for v in "${variants[@]}"; do
    args=()
    [[ $v == none ]] || args=(--switch-args "$v")
    "$build/bench/zd-switchbench" cli --zdctl "$build/user/zdctl" --state "$work/bpf/zd" \
      --domain web --ws green,blue --count "$per_round" "${args[@]}" </dev/null |
      grep '^{' >>"$work/${v//[^a-z]/_}.json"
  done
done

# The samples of all rounds, per variant: the medians and 99th percentiles
# of the per-round p50/p99 (each round is per_round switches).
echo "| switch | rounds x n | p50 us (median of rounds) | p99 us (median of rounds) | p50 vs unchecked |"
echo "|---|---|---|---|---|"
base=""
for v in "${variants[@]}"; do
  f="$work/${v//[^a-z]/_}.json"
  read -r p50 p99 < <(jq -s -r '[.[].wall.p50_us] as $a | [.[].wall.p99_us] as $b |
    "\(($a|sort)[(length/2|floor)]) \(($b|sort)[(length/2|floor)])"' "$f")
  base=${base:-$p50}
  printf '| %s | %s x %s | %.0f | %.0f | %.2fx |\n' "${v//,/ }" "$rounds" "$per_round" "$p50" "$p99" \
    "$(echo "$p50 / $base" | bc -l)"
done
