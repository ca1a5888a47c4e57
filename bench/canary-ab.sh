#!/usr/bin/env bash
# A/B of what a canary costs a short-lived connection, beside scripts/bench.sh's
# zd-canary rows: req/s, CPU time per request (the nginx processes from
# schedstat + wrk's rusage) and zd_dispatch's run time per lookup
# (BPF_ENABLE_STATS), in alternating rounds of
#   direct     client -> 127.0.0.1:8001 (the backend's own socket)
#   zd         client -> 10.99.0.1:80, steered to 127.0.0.1:8001
#   canary50   client -> 10.99.0.6:80, active 8001, a 50 % canary on 8005
#   canary100  client -> 10.99.0.7:80, active 8001, a 100 % canary on 8007
#   zd8007     client -> 10.99.0.8:80, steered to 8007 (canary100's socket,
#              without a canary)
# all served by one nginx process. canary100 pays the flow hash on every
# connection with one socket to accept from; canary50 splits the connections
# over two listening sockets, as zd-canary does; zd8007 tells what comes from
# the canary from what comes from the other socket.
#
# Usage: sudo bench/canary-ab.sh [ROUNDS] [SECONDS]   (default 20 4; needs nginx,
# wrk, jq and scripts/bench.sh's build: build-bench/, or BUILD_DIR)
# Runs in a private network + mount namespace; prints medians over rounds of
# each variant's ratios to direct and zd taken inside each round.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build-bench}
rounds=${1:-20} dur=${2:-4}
if [[ -z ${ZD_AB_INNER:-} ]]; then
  ((EUID == 0)) || { echo "canary-ab.sh: needs root" >&2; exit 1; }
  export ZD_AB_INNER=1
  exec unshare -n -m -- "$0" "$@"
fi
mount --make-rprivate /
W=$(mktemp -d /tmp/zd-cab.XXXXXX)
trap '[[ -f $W/nginx.pid ]] && kill "$(cat "$W/nginx.pid")"; [[ -n ${hold:-} ]] && kill "$hold"
  umount "$W/bpf" 2>/dev/null; rm -rf "$W"' EXIT
mkdir "$W/bpf" && mount -t bpf bpf "$W/bpf"
ip link set lo up
ip route add local 10.99.0.0/16 dev lo
sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=8192
cat >"$W/nginx.conf" <<NGINX
worker_processes 1; pid $W/nginx.pid; error_log $W/error.log; daemon on;
events { worker_connections 8192; multi_accept on; }
http { access_log off; server { listen 127.0.0.1:8001 backlog=8192; listen 127.0.0.1:8005 backlog=8192;
  listen 127.0.0.1:8007 backlog=8192; location / { return 200 "blue\n"; } } }
NGINX
nginx -c "$W/nginx.conf"
for _ in $(seq 100); do [[ -s $W/nginx.pid ]] && break; sleep 0.05; done
np=$(cat "$W/nginx.pid")
# One domain per variant, every workspace a listening socket of the same nginx.
Z() { "$build/user/zdctl" --state "$W/bpf/zd" "$@" >/dev/null; }
Z attach
Z domain add web --listen tcp://10.99.0.1:80
Z domain add c50 --listen tcp://10.99.0.6:80
Z domain add c100 --listen tcp://10.99.0.7:80
Z domain add other --listen tcp://10.99.0.8:80
Z workspace add blue --pid "$np" --socket tcp://127.0.0.1:8001
Z workspace add k50 --pid "$np" --socket tcp://127.0.0.1:8005
Z workspace add k100 --pid "$np" --socket tcp://127.0.0.1:8007
Z switch web blue; Z switch c50 blue; Z switch c100 blue; Z switch other k100
Z canary c50 k50 --weight 50; Z canary c100 k100 --weight 100
# BPF run-time statistics stay on while this holder runs (as in scripts/bench.sh).
mkfifo "$W/hold"
exec 7<>"$W/hold"
"$build/bench/zd-switchbench" stats <"$W/hold" >"$W/stats.out" &
hold=$!
for _ in $(seq 100); do grep -q ready "$W/stats.out" && break; sleep 0.05; done
progstats() { "$build/bench/zd-switchbench" progstats --state "$W/bpf/zd"; }
server=("$np" $(cat /proc/"$np"/task/*/children))
server_cpu_ns() {
  local p
  for p in "${server[@]}"; do cat /proc/"$p"/task/*/schedstat; done | awk '{s += $1} END {printf "%.0f", s}'
}

declare -A url=([direct]=http://127.0.0.1:8001/ [zd]=http://10.99.0.1/ [canary50]=http://10.99.0.6/
  [canary100]=http://10.99.0.7/ [zd8007]=http://10.99.0.8/)
vs=(direct zd canary50 canary100 zd8007)
for r in $(seq "$rounds"); do
  for i in "${!vs[@]}"; do
    v=${vs[$(((i + r) % ${#vs[@]}))]} # the order rotates from round to round
    c0=$(server_cpu_ns) b0=$(progstats)
    out=$(wrk -t2 -c16 -d"$dur"s -H "Connection: close" "${url[$v]}"; times)
    c1=$(server_cpu_ns) b1=$(progstats)
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    wrk_s=$(tail -1 <<<"$out" | awk '{n = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/);
      n += a[1] * 60 + a[2] } printf "%.6f", n}')
    jq -nc --arg v "$v" --argjson r "$r" --argjson rps "$rps" --argjson n "$n" \
      --argjson srv "$((c1 - c0))" --argjson cli "$wrk_s" --argjson a "$b0" --argjson b "$b1" \
      '{v: $v, r: $r, rps: $rps, srv_us: ($srv / 1000 / $n), cpu_us: (($srv / 1000 + $cli * 1e6) / $n),
        bpf_ns: (($b.run_time_ns - $a.run_time_ns) / ($b.run_cnt - $a.run_cnt))}'
  done
done >"$W/samples.jsonl"
echo "median over $rounds rounds of ${dur} s (ratios taken inside each round):"
printf '%-10s %9s %7s %10s %10s %14s %12s\n' variant "/ direct" "/ zd" "CPU / zd" "CPU us" "server / zd" "BPF ns/run"
jq -rs 'def med: sort | if length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def r3: . * 1000 | round / 1000;
  (group_by(.r) | map(map({key: .v, value: .}) | from_entries)) as $R
  | ["direct", "zd", "canary50", "canary100", "zd8007"][] as $v
  | [$v, ([$R[] | .[$v].rps / .direct.rps] | med | r3), ([$R[] | .[$v].rps / .zd.rps] | med | r3),
     ([$R[] | .[$v].cpu_us / .zd.cpu_us] | med | r3), ([$R[] | .[$v].cpu_us] | med | r3),
     ([$R[] | .[$v].srv_us / .zd.srv_us] | med | r3), ([$R[] | .[$v].bpf_ns] | med | round)] | @tsv' \
  "$W/samples.jsonl" | awk -F'\t' '{printf "%-10s %9s %7s %10s %10s %14s %12s\n", $1, $2, $3, $4, $5, $6, $7}'

