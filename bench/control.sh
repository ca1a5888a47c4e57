#!/usr/bin/env bash
# The control plane's cost as the state grows (issue 19): at each size, a
# fresh state in a private network + mount namespace grown by one apply of
# N domains, then (zd-ctlbench, through the library calls zdctl makes) a
# domain add, a workspace add, a switch, a status of one domain and a
# one-domain apply, 50 each, and one full status; then zdctl's own runs,
# interleaved with /bin/true in one loop: --version, switch, status DOMAIN
# and domain add. Prints a Markdown table per part, each against the
# smallest size.
# Usage: bench/control.sh [BUILD_DIR] [SIZES...]   (root; default build 10 10000 100000)
#        ZD_ROUNDS=N: rounds over the sizes (default 2), the least of each kept
set -euo pipefail
build=$(realpath "${1:-build}")
shift || true
sizes=("$@")
((${#sizes[@]})) || sizes=(10 10000 100000)
if [[ -z ${ZD_BENCH_INNER:-} ]]; then
  ((EUID == 0)) || { echo "control.sh: needs root" >&2; exit 1; }
  export ZD_BENCH_INNER=1
  # The sizes in turn, ZD_ROUNDS times (default 2), each number the least
  # of its rounds: a slow minute of a shared machine then lands on one
  # round of every size, not on every round of one.
  for ((round = 0; round < ${ZD_ROUNDS:-2}; round++)); do
    for n in "${sizes[@]}"; do
      unshare -n -m -p --fork --kill-child --mount-proc -- "$0" "$build" "$n"
    done
  done | jq -s -r -f <(cat <<'JQ'
def ratio(a; b): (a / b * 100 | round / 100 | tostring) + "x";
def least: . as $g | reduce ($g[0] | paths(numbers)) as $p ($g[0]; setpath($p; [$g[] | getpath($p)] | min));
[group_by(.domains)[] | least] | sort_by(.domains) as $runs | $runs[0] as $base |
"| domains | apply all (s) | domain add p50 us | workspace add p50 us | switch p50 us | status DOMAIN p50 us | apply one domain p50 us | domain rm p50 us | workspace rm p50 us | full status us/domain | index rebuild ms |",
"|---|---|---|---|---|---|---|---|---|---|---|",
($runs[] | "| \(.domains) | \(.apply_all_s * 100 | round / 100) | \(.domain_add.p50_us | round) (\(ratio(.domain_add.p50_us; $base.domain_add.p50_us))) | \(.workspace_add.p50_us | round) (\(ratio(.workspace_add.p50_us; $base.workspace_add.p50_us))) | \(.switch.p50_us | round) (\(ratio(.switch.p50_us; $base.switch.p50_us))) | \(.status_domain.p50_us | round) (\(ratio(.status_domain.p50_us; $base.status_domain.p50_us))) | \(.apply_one_domain.p50_us | round) | \(.domain_rm.p50_us | round) (\(ratio(.domain_rm.p50_us; $base.domain_rm.p50_us))) | \(.workspace_rm.p50_us | round) (\(ratio(.workspace_rm.p50_us; $base.workspace_rm.p50_us))) | \(.status_full_us_per_domain * 100 | round / 100) | \(.rebuild_route_index_ms * 10 | round / 10) |"),
"",
"| domains | /bin/true ms | zdctl --version ms | switch ms | status DOMAIN ms | domain add ms |",
"|---|---|---|---|---|---|",
($runs[] | "| \(.domains) | \(.cli.true) | \(.cli.version) (\(ratio(.cli.version; .cli.true))) | \(.cli.switch) (\(ratio(.cli.switch; $base.cli.switch))) | \(.cli.status) (\(ratio(.cli.status; $base.cli.status))) | \(.cli.add) (\(ratio(.cli.add; $base.cli.add))) |")
JQ
)
  exit 0
fi

n=$1
mount --make-rprivate /
work=$(mktemp -d /tmp/zd-control-bench-XXXXXX)
mkdir "$work/bpf" && mount -t bpf bpf "$work/bpf"
ip link set lo up
state=$work/bpf/zd
zdctl() { "$build/user/zdctl" --state "$state" "$@"; }
zdctl attach >/dev/null
mkfifo "$work/hold"
ZD_HOLD=1 "$build/bench/zd-ctlbench" "$state" "$n" 50 <"$work/hold" >"$work/lib.json" &
exec 3>"$work/hold" # held open: zd-ctlbench keeps its sockets until this closes
for ((i = 0; i < 6000; i++)); do
  [[ -s $work/lib.json ]] && break
  sleep 0.05
done

# Mean ms per run over 30 interleaved rounds.
declare -A total=()
timed() { # NAME CMD...
  local t0 t1
  t0=$(date +%s%N)
  "${@:2}" >/dev/null 2>&1 || { echo "control.sh: $2 ${*:3} failed" >&2; exit 1; }
  t1=$(date +%s%N)
  total[$1]=$((${total[$1]:-0} + t1 - t0))
}
rounds=30
for ((r = 0; r < rounds; r++)); do
  timed true /bin/true
  timed version "$build/user/zdctl" --version
  timed switch zdctl switch d0 "$( ((r % 2)) && echo wa || echo wb)"
  timed status zdctl status d0
  timed add zdctl domain add "cli$r" --listen "tcp://10.250.0.$((r + 1)):80"
done
exec 3>&-
wait
ms() { awk -v ns="${total[$1]}" -v n="$rounds" 'BEGIN { printf "%.2f", ns / n / 1e6 }'; }
jq -c --argjson cli "{\"true\":$(ms true),\"version\":$(ms version),\"switch\":$(ms switch),\"status\":$(ms status),\"add\":$(ms add)}" \
  '. + {cli: $cli}' "$work/lib.json"
umount "$work/bpf"
rm -rf "$work"
