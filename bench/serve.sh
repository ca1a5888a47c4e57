#!/usr/bin/env bash
# The latency of zdctl serve's API: `POST /api/v1/domains/shop/switch` (a
# real switch, there and back) on one kept-alive connection and on a new
# connection each, beside nginx serving a small file the same two ways (a
# peer nobody here wrote: the floor of an HTTP request on this machine), in
# interleaved rounds; then `GET /api/v1/status` at 1,000 domains. Runs in a
# private network + mount namespace; prints a Markdown table (p50/p99 per
# variant over every request of every round, and each against nginx's).
# Usage: bench/serve.sh [BUILD_DIR] [ROUNDS] [PER_ROUND]   (root; default build 5 200)
set -euo pipefail
build=$(realpath "${1:-build}")
rounds=${2:-5} per_round=${3:-200}
if [[ -z ${ZD_BENCH_INNER:-} ]]; then
  ((EUID == 0)) || { echo "serve.sh: needs root" >&2; exit 1; }
  command -v nginx >/dev/null || { echo "serve.sh: needs nginx (apt-get install nginx)" >&2; exit 1; }
  export ZD_BENCH_INNER=1
  # A PID namespace too: whatever is left running dies with the script.
  exec unshare -n -m -p --fork --kill-child --mount-proc -- "$0" "$build" "$rounds" "$per_round"
fi

work=$(mktemp -d /tmp/zd-serve-bench-XXXXXX)
chmod 755 "$work" # nginx's worker (nobody) reads www/ below it
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null
  wait 2>/dev/null
  umount "$work/bpf" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/bpf" && mount -t bpf bpf "$work/bpf"
ip link set lo up
ip route add local 10.99.0.0/16 dev lo
zdctl() { "$build/user/zdctl" --state "$work/bpf/zd" "$@"; }
for ws in blue:3001 green:3002; do
  "$build/tests/zd-echo" --http "${ws%:*}" "127.0.0.1:${ws#*:}" >"$work/${ws%:*}.out" &
  pids+=($!)
done
for ((i = 0; i < 100; i++)); do
  [[ $(cat "$work"/*.out 2>/dev/null | grep -c ready) == 2 ]] && break
  sleep 0.05
done
zdctl attach >/dev/null
zdctl domain add shop --listen tcp://10.99.0.1:80 >/dev/null
zdctl workspace add blue --pid "${pids[0]}" --socket tcp://127.0.0.1:3001 >/dev/null
zdctl workspace add green --pid "${pids[1]}" --socket tcp://127.0.0.1:3002 >/dev/null
zdctl switch shop blue >/dev/null

"$build/user/zdctl" --state "$work/bpf/zd" serve --listen 127.0.0.1:9477 --json \
  >"$work/serve.json" 2>"$work/serve.err" &
pids+=($!)
for ((i = 0; i < 100; i++)); do
  grep -q token "$work/serve.json" 2>/dev/null && break
  sleep 0.05
done
ZD_TOKEN=$(jq -r .token "$work/serve.json")
export ZD_TOKEN

# The peer: nginx, one worker, a 64-byte file, keep-alive as long as ours.
mkdir -p "$work/www" "$work/nginx"
head -c 64 /dev/zero | tr '\0' x >"$work/www/file"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off; worker_processes 1; pid $work/nginx/pid; error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off; keepalive_requests 100000;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:8080; root $work/www; }
}
EOF
nginx -c "$work/nginx/nginx.conf" &
pids+=($!)
for ((i = 0; i < 100; i++)); do
  curl -sf http://127.0.0.1:8080/file >/dev/null 2>&1 && break
  sleep 0.05
done

bench() { # NAME ARGS...: a run's summary into NAME.json, its times into NAME.us
  local name=$1
  shift
  ZD_SAMPLES=$work/$name.us "$build/bench/zd-apibench" "$@" | grep '^{' >>"$work/$name.json"
}
switch_to() { echo "{\"workspace\":\"$1\"}"; }
for ((round = 0; round < rounds; round++)); do
  for mode in keep new; do
    bench "zd-switch-$mode" 9477 "$mode" "$per_round" POST /api/v1/domains/shop/switch \
      "$(switch_to green)" "$(switch_to blue)"
    bench "nginx-$mode" 8080 "$mode" "$per_round" GET /file
  done
done

# 1,000 domains (999 more, each with two workspaces), then status.
"$build/bench/zd-scale" --state "$work/bpf/zd" --count 999 --role active \
  < <(sleep 600) >"$work/scale.out" 2>&1 &
pids+=($!)
for ((i = 0; i < 600; i++)); do
  grep -q '^{' "$work/scale.out" 2>/dev/null && break
  sleep 0.1
done
domains=$(zdctl --json status | jq '.domains | length')
for ((round = 0; round < rounds; round++)); do
  bench zd-status-keep 9477 keep 50 GET /api/v1/status
done
bytes=$(curl -s -H "Authorization: Bearer $ZD_TOKEN" http://127.0.0.1:9477/api/v1/status | wc -c)

# Percentiles over every request of a variant, all rounds pooled.
pct() { # NAME P
  sort -n "$work/$1.us" | awk -v p="$2" '{ v[NR] = $1 } END { print v[int(p * (NR - 1)) + 1] }'
}
row() { # LABEL NAME [PEER]
  local p50 p99 n failed
  p50=$(pct "$2" 0.5)
  p99=$(pct "$2" 0.99)
  n=$(wc -l <"$work/$2.us")
  failed=$(jq -s '[.[].failed] | add' "$work/$2.json")
  if [[ -n ${3:-} ]]; then
    printf '| %s | %s | %.0f | %.0f | %s | %.2fx | %.2fx |\n' "$1" "$n" "$p50" "$p99" "$failed" \
      "$(echo "$p50 / $(pct "$3" 0.5)" | bc -l)" "$(echo "$p99 / $(pct "$3" 0.99)" | bc -l)"
  else
    printf '| %s | %s | %.0f | %.0f | %s | | |\n' "$1" "$n" "$p50" "$p99" "$failed"
  fi
}
echo "| request | n | p50 us | p99 us | failed | p50 vs nginx | p99 vs nginx |"
echo "|---|---|---|---|---|---|---|"
row "zd switch, kept-alive connection" zd-switch-keep nginx-keep
row "zd switch, new connection each" zd-switch-new nginx-new
row "nginx GET 64 B, kept-alive connection" nginx-keep nginx-keep
row "nginx GET 64 B, new connection each" nginx-new nginx-new
row "zd GET /api/v1/status at $domains domains ($bytes B), kept alive" zd-status-keep
