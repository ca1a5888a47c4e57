#!/usr/bin/env bash
# Benchmarks zd against direct connections, nginx, HAProxy and nftables DNAT,
# proves switches under load lose nothing, measures the XDP data plane for
# containers (bench/xdp.sh), and rewrites docs/benchmarks.md,
# docs/benchmarks.json and the docs/bench-*.png plots.
#
# Usage: scripts/bench.sh [--quick] [--xdp-only | --no-xdp] [--out DIR]
#   --quick     5 short rounds and 10 s switch-under-load runs
#   --xdp-only  only the XDP data plane part (report: build-bench/xdp-report/)
#   --no-xdp    all but the XDP part, whose rows are carried over from the
#               report already in the output directory (its benchmarks.json)
#   --out       where the report goes (default: docs/ of this repo)
#
# Everything runs in a private network + mount namespace (unshare -n -m) with
# its own bpffs: the host's network, bpffs and nginx/haproxy setup are never
# touched. All numbers are ratios between variants measured in the same run,
# in interleaved rounds: on a shared 2-core VM absolute numbers mean little.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
quick=0
xdp_only=0
no_xdp=0
out=
args=("$@")
while (($#)); do
  case $1 in
  --quick) quick=1 ;;
  --xdp-only) xdp_only=1 ;;
  --no-xdp) no_xdp=1 ;;
  --out)
    out=$(mkdir -p "$2" && cd "$2" && pwd)
    shift
    ;;
  -h | --help)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "bench.sh: unknown argument $1 (try --help)" >&2
    exit 2
    ;;
  esac
  shift
done

die() {
  echo "bench.sh: $*" >&2
  exit 1
}
log() { echo "bench.sh: [$(date +%T)] $*" >&2; }

# ---------------------------------------------------------------- outside --
if [[ -z ${ZD_BENCH_INNER:-} ]]; then
  ((EUID == 0)) || die "needs root (private netns, BPF); run: sudo $0 ${args[*]}"
  tools=(nginx haproxy nftables wrk gnuplot-nox jq iproute2 util-linux bpftool ethtool)
  missing=()
  for pkg in "${tools[@]}"; do
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" == installed ]] ||
      missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Installing nginx/haproxy must not start them on the host: a policy-rc.d
    # that says "no" while we install, removed afterwards if it was ours.
    policy=/usr/sbin/policy-rc.d own_policy=0
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      { ((own_policy)) && rm -f "$policy"; die "apt-get install failed"; }
    ((own_policy)) && rm -f "$policy"
  fi
  if [[ -x $repo/scripts/deps.sh ]]; then
    "$repo/scripts/deps.sh"
  else
    apt-get install -y -qq --no-install-recommends cmake g++ clang llvm bpftool libbpf-dev \
      libelf-dev pkg-config libcli11-dev libspdlog-dev nlohmann-json3-dev libgtest-dev >/dev/null
  fi
  build=${BUILD_DIR:-$repo/build-bench}
  # A run of one part does not overwrite the whole report in docs/.
  ((xdp_only)) && out=${out:-$build/xdp-report}
  out=${out:-$repo/docs}
  ((xdp_only && no_xdp)) && die "--xdp-only and --no-xdp exclude each other"
  if ((no_xdp)); then
    # The rows to carry over, taken now: the run rewrites $out/benchmarks.json.
    prev=$out/benchmarks.json
    jq -e '.xdp.runs | length > 0' "$prev" >/dev/null 2>&1 ||
      die "--no-xdp: $prev holds no XDP rows to carry over (run without --no-xdp)"
    mkdir -p "$build"
    cp "$prev" "$build/xdp-carried.json"
    export ZD_BENCH_XDP_FROM=$build/xdp-carried.json
  fi
  log "building in $build"
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZD_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j2 --target zdctl zd-loadgen zd-analyze zd-switchbench zd-scale >/dev/null
  export ZD_BENCH_INNER=1 ZD_BENCH_BUILD=$build ZD_BENCH_QUICK=$quick ZD_BENCH_OUT=$out
  export ZD_BENCH_XDP_ONLY=$xdp_only ZD_BENCH_NO_XDP=$no_xdp
  export ZD_BENCH_START=$(date +%s)
  exec unshare -n -m -- "$0" "${args[@]}"
fi

# ----------------------------------------------------------------- inside --
B=$ZD_BENCH_BUILD
quick=$ZD_BENCH_QUICK
out=$ZD_BENCH_OUT
xdp_only=${ZD_BENCH_XDP_ONLY:-0}
no_xdp=${ZD_BENCH_NO_XDP:-0}
mount --make-rprivate /
W=$(mktemp -d /tmp/zd-bench.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  umount "$W/bpf" 2>/dev/null || true
  [[ -n ${ZD_BENCH_KEEP:-} ]] && echo "bench.sh: raw files kept in $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$W/bpf"
mount -t bpf bpf "$W/bpf"

ZDCTL="$B/user/zdctl"
Z=("$ZDCTL" --state "$W/bpf/zd")
LOADGEN=$B/bench/zd-loadgen
ANALYZE=$B/bench/zd-analyze
SWB=$B/bench/zd-switchbench
SCALE=$B/bench/zd-scale

if ((quick)); then
  rounds=5 dur=2 sul_dur=10 cli_n=200 map_n=2000 scale_n=10000 scale_rounds=3
else
  # 15 rounds of 5 s, not 7 of 10: a variant's rate drifts by about 10 % from
  # one 10 s run to the next on this VM, and shorter runs side by side in
  # more rounds share more of the drift (the median of the ratios tightens).
  rounds=15 dur=5 sul_dur=35 cli_n=1000 map_n=10000 scale_n=10000 scale_rounds=7
fi
# Overrides, for trying the script out (documented runs use the defaults).
rounds=${ZD_BENCH_ROUNDS:-$rounds} dur=${ZD_BENCH_SECONDS:-$dur} sul_dur=${ZD_BENCH_SUL:-$sul_dur}
scale_rounds=${ZD_BENCH_SCALE_ROUNDS:-$scale_rounds}
# Two wrk threads: with one, wrk alone saturates a core in the direct and zd runs
# while the second core idles, which hides server-side cost (see bench/analysis.md).
wrk_threads=${ZD_BENCH_WRK_THREADS:-2} wrk_close_conns=16 wrk_ka_conns=32
wrk_cmd=(wrk) # how wrk_json runs wrk (bench/xdp.sh runs it in its client namespace)
# zd-canary: the share of new connections its canary takes; zd-health: how
# often zdctl serve probes its workspace.
canary_weight=${ZD_BENCH_CANARY_WEIGHT:-50} check_interval_s=1

# http_get ADDR PORT: the body of GET / (bash only, no client dependency).
http_get() {
  local body
  exec 9<>"/dev/tcp/$1/$2" || return 1
  printf 'GET / HTTP/1.0\r\nHost: zd\r\n\r\n' >&9
  body=$(timeout 2 cat <&9) || true
  exec 9<&-
  printf '%s' "${body##*$'\r\n\r\n'}"
}

# wait_body ADDR PORT WANT: wait (bounded) until GET / answers WANT.
wait_body() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ "$(http_get "$1" "$2" 2>/dev/null)" == "$3"* ]] && return 0
    sleep 0.05
  done
  die "$1:$2 never answered '$3'"
}

start_nginx() { # NAME CONF_BODY [NETNS]
  local dir=$W/$1 in_netns=()
  [[ -n ${3:-} ]] && in_netns=(ip netns exec "$3")
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  $2
}
EOF
  "${in_netns[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' &
  pids+=($!)
  eval "${1}_pid=$!"
}

# wrk_json VARIANT MODE ROUND PHASE: one wrk run, one JSON line.
to_us() { awk '{v=$1; u=$1; sub(/[0-9.]+/,"",u); sub(/[a-z]+$/,"",v);
  m=(u=="us")?1:(u=="ms")?1000:(u=="s")?1000000:1; printf "%.1f", v*m}'; }
wrk_json() {
  local v=$1 mode=$2 round=$3 phase=$4 conns hdr=() text rps p50 p99 errs non2xx cpu0 cpu1
  local client_s reqs
  if [[ $mode == close ]]; then
    conns=$wrk_close_conns hdr=(-H "Connection: close")
  else
    conns=$wrk_ka_conns
  fi
  cpu0=$(server_cpu_ns)
  # `times` in the same subshell: its second line is wrk's user and system time.
  text=$("${wrk_cmd[@]}" -t"$wrk_threads" -c"$conns" -d"${dur}s" --latency "${hdr[@]}" "http://${addr[$v]}/"
    times)
  cpu1=$(server_cpu_ns)
  client_s=$(tail -1 <<<"$text" | awk '{n = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/);
    n += a[1] * 60 + a[2] } printf "%.6f", n}')
  reqs=$(awk '/requests in/ {print $1}' <<<"$text")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$text")
  p50=$(awk '$1=="50%" {print $2}' <<<"$text" | to_us)
  p99=$(awk '$1=="99%" {print $2}' <<<"$text" | to_us)
  errs=$(awk '/Socket errors:/ {gsub(/,/,""); print $4+$6+$8+$10}' <<<"$text")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$text")
  jq -nc --arg v "$v" --arg m "$mode" --arg ph "$phase" --argjson r "$round" \
    --argjson rps "${rps:-0}" --argjson p50 "${p50:-0}" --argjson p99 "${p99:-0}" \
    --argjson e "${errs:-0}" --argjson n "${non2xx:-0}" --argjson reqs "${reqs:-0}" \
    --argjson srv "$((cpu1 - cpu0))" --argjson cli "${client_s:-0}" \
    '{phase:$ph,variant:$v,mode:$m,round:$r,rps:$rps,p50_us:$p50,p99_us:$p99,socket_errors:$e,
      non2xx:$n,requests:$reqs,server_cpu_us_per_req:($srv / 1000 / ([$reqs, 1] | max) * 1000 | round / 1000),
      client_cpu_us_per_req:($cli * 1e6 / ([$reqs, 1] | max) * 1000 | round / 1000),
      cpu_us_per_req:(($srv / 1000 + $cli * 1e6) / ([$reqs, 1] | max) * 1000 | round / 1000)}'
}

# with_run_time NAME BEFORE AFTER: the JSON line on stdin, plus NAME_runs and
# NAME_ns_per_run, a program's runs and run time per run between two
# {run_cnt, run_time_ns} readings (BPF_ENABLE_STATS).
with_run_time() {
  jq -c --arg n "$1" --argjson a "$2" --argjson b "$3" '. + {
    ($n + "_runs"): ($b.run_cnt - $a.run_cnt),
    ($n + "_ns_per_run"): (if $b.run_cnt > $a.run_cnt then
      (($b.run_time_ns - $a.run_time_ns) / ($b.run_cnt - $a.run_cnt) * 10 | round / 10) else null end)}'
}

# rounds PHASE N VARIANT...: interleaved rounds; the order rotates each round
# so no variant always runs first (or right after the heaviest one).
run_rounds() {
  local phase=$1 n=$2 r i k mode
  shift 2
  local vs=("$@")
  local p0 p1 line
  for ((r = 1; r <= n; r++)); do
    for mode in close keepalive; do
      for ((i = 0; i < ${#vs[@]}; i++)); do
        k=$(((i + r) % ${#vs[@]}))
        # zd_dispatch's run time during this run alone (BPF_ENABLE_STATS):
        # every new connection in the namespace runs it, whichever variant.
        p0=$(progstats)
        line=$(wrk_json "${vs[$k]}" "$mode" "$r" "$phase")
        p1=$(progstats)
        with_run_time bpf "$p0" "$p1" <<<"$line" >>"$W/wrk.jsonl"
      done
    done
    log "$phase: round $r/$n done"
  done
}

# spawn_us: the mean wall time of starting and reaping /bin/true, in us. Every
# zdctl switch pays it, so it puts the switch latencies of a run in context:
# a VM slow to start processes is slow to switch from a shell.
spawn_us() {
  local i t0 t1
  t0=$(date +%s%N)
  for ((i = 0; i < 200; i++)); do /bin/true; done
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 200000))
}

# ----------------------------------------------------------------- report --
# write_report: benchmarks.json (bench/summarize.jq), the plots and
# benchmarks.md (bench/report.sh), from the raw files in $W. With --xdp-only
# the other parts did not run and their inputs are null.
write_report() {
  local tool_versions params inputs=() n
  log "writing report to $out"
  mkdir -p "$out"
  tool_versions=$(jq -n --arg kernel "$(uname -r)" \
    --arg cpu "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" \
    --arg cpus "$(nproc)" --arg mem "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)" \
    --arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
    --arg nginx "$(nginx -v 2>&1 | sed 's/.*nginx\///')" \
    --arg haproxy "$(haproxy -v | awk 'NR==1 {print $3}')" \
    --arg nft "$(nft --version | awk '{print $2}')" \
    --arg wrk "$(wrk -v 2>&1 | awk 'NR==1 {print $2}')" \
    --arg zdctl "$("$ZDCTL" --version)" --arg spawn "$(spawn_us) us" \
    '{kernel:$kernel,cpu:$cpu,cpus:($cpus|tonumber),memory:$mem,os:$os,nginx:$nginx,haproxy:$haproxy,nftables:$nft,wrk:$wrk,zdctl:$zdctl,
      "process start (fork + exec of /bin/true, mean of 200)":$spawn}')
  params=$(jq -n --argjson rounds "$rounds" --argjson dur "$dur" \
    --argjson sul "$sul_dur" --argjson t "$wrk_threads" --argjson cc "$wrk_close_conns" \
    --argjson kc "$wrk_ka_conns" --argjson sr "$scale_rounds" \
    --argjson cw "$canary_weight" --argjson ci "$check_interval_s" \
    '{rounds:$rounds,seconds_per_run:$dur,switch_under_load_seconds:$sul,wrk_threads:$t,
      wrk_close_connections:$cc,wrk_keepalive_connections:$kc,scale_rounds:$sr,
      canary_weight:$cw,check_interval_seconds:$ci}')

  # The XDP part's raw files (bench/xdp.sh), or why there are none.
  [[ -s $W/xdp/meta.json ]] || jq -n --arg rc "${xdp_rc:-?}" \
    '{failed: "bench/xdp.sh stopped (exit \($rc)) before writing its results: see the log"}' \
    >"$W/xdp/meta.json"
  { cat "$W/xdp/wrk.jsonl" 2>/dev/null || true; } | jq -s . >"$W/xdp/runs.json"
  inputs=(--slurpfile xdpwrk "$W/xdp/runs.json" --slurpfile xdpmeta "$W/xdp/meta.json"
    --argjson xdp_only "$xdp_only" --argjson machine "$tool_versions" --argjson quick "$quick"
    --argjson params "$params")
  if ((xdp_only)); then
    for n in wrk sul sulload sulcli lat1cli lat1map lat2cli lat2map scale extras mem1 mem2 s0 s1 s2 s3; do
      inputs+=(--argjson "$n" null)
    done
    jq -n "${inputs[@]}" -f "$repo/bench/summarize.jq" >"$out/benchmarks.json"
  else
    jq -n --slurpfile wrk <(jq -s . "$W/wrk.jsonl") \
      --slurpfile sul "$W/sul.json" --slurpfile sulload "$W/sul.loadgen.json" \
      --slurpfile sulcli "$W/sul.cli.json" \
      --slurpfile lat1cli "$W/lat1.cli.json" --slurpfile lat1map "$W/lat1.map.json" \
      --slurpfile lat2cli "$W/lat2.cli.json" --slurpfile lat2map "$W/lat2.map.json" \
      --slurpfile scale "$W/scale.json" --slurpfile extras "$W/extras.json" \
      --argjson mem1 "$mem1" --argjson mem2 "$mem2" \
      --argjson s0 "$stats0" --argjson s1 "$stats1" --argjson s2 "$stats2" --argjson s3 "$stats3" \
      "${inputs[@]}" -f "$repo/bench/summarize.jq" >"$out/benchmarks.json"

    jq -r '[.variants.close, .variants.keepalive] | transpose[] |
      "\(.[0].variant) \(.[0].ratio_to_direct.median) \(.[1].ratio_to_direct.median)"' \
      "$out/benchmarks.json" >"$W/variants.dat"
    for f in sul.errors.dat sul.zoomswitches.dat; do [[ -s $W/$f ]] || echo "NaN NaN" >"$W/$f"; done
    gnuplot -e "dir='$W'; outdir='$out'; vdat='$W/variants.dat'" \
      -e "nsw=$(jq .switch_under_load.switches "$out/benchmarks.json")" \
      -e "nerr=$(jq .switch_under_load.failed "$out/benchmarks.json")" "$repo/bench/timeline.gp"
  fi
  "$repo/bench/report.sh" "$out/benchmarks.json" \
    "$(($(date +%s) - ZD_BENCH_START))" >"$out/benchmarks.md"
  log "done in $(($(date +%s) - ZD_BENCH_START)) s: $out/benchmarks.md"
}

# ------------------------------------------------------- XDP data plane --
# bench/xdp.sh runs in a network + mount namespace of its own (this script
# again, with ZD_BENCH_XDP_PHASE=DIR for its raw files): none of its
# forwarding, conntrack or XDP programs reaches the rows below, and none of
# theirs (local routes, NAT, the BPF statistics holder) reaches its rows.
if [[ -n ${ZD_BENCH_XDP_PHASE:-} ]]; then
  . "$repo/bench/xdp.sh"
  xdp_bench "$ZD_BENCH_XDP_PHASE"
  exit 0
fi
mkdir -p "$W/xdp"
xdp_rc=0
if ((no_xdp)); then
  # --no-xdp: the raw files of the run that wrote the previous report, rebuilt
  # from its benchmarks.json (the XDP part's meta.json under the names
  # summarize.jq gives it, and every run), so its rows come out as they were.
  log "XDP data plane: not run (--no-xdp); its rows are carried over from the previous report"
  jq '.generated as $g | .quick as $q | .xdp | {variants, unavailable, leftovers, ethtool, parameters,
      topology, switching: .switch_under_load,
      carried_over: (.carried_over // {generated: $g, quick: $q})}' \
    "$ZD_BENCH_XDP_FROM" >"$W/xdp/meta.json"
  jq -c '.xdp.runs[]' "$ZD_BENCH_XDP_FROM" >"$W/xdp/wrk.jsonl"
else
  log "XDP data plane (bench/xdp.sh), in a namespace of its own"
  ZD_BENCH_XDP_PHASE=$W/xdp unshare -n -m -- "$0" "${args[@]}" || xdp_rc=$?
fi
if ((xdp_rc)); then
  ((xdp_only)) && die "the XDP part failed (exit $xdp_rc)"
  log "the XDP part failed (exit $xdp_rc); the report says so and goes on"
fi
if ((xdp_only)); then
  write_report
  exit 0
fi

# ------------------------------------------------------------- backends --
ip link set lo up
ip route add local 10.99.0.0/16 dev lo
# Per-netns knobs: many short connections, and DNAT to 127.0.0.1 (nftables).
sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 \
  net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192 \
  net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.lo.route_localnet=1
ulimit -n "$(ulimit -Hn)" # zd-scale holds one socket per workspace

# blue also listens on 8003 and 8005, the sockets of the workspaces of
# zd-health and zd-canary: one process serves every variant.
start_nginx blue 'server { listen 127.0.0.1:8001 backlog=8192; listen 127.0.0.1:8003 backlog=8192;
  listen 127.0.0.1:8005 backlog=8192; location / { return 200 "blue\n"; } }'
start_nginx green 'server { listen 127.0.0.1:8002 backlog=8192; location / { return 200 "green\n"; } }'
start_nginx proxy 'upstream backend { server 127.0.0.1:8001; keepalive 128; keepalive_requests 100000000; }
  server { listen 10.99.0.2:80 backlog=8192; location / { proxy_pass http://backend;
    proxy_http_version 1.1; proxy_set_header Connection ""; } }'

cat >"$W/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend web
  bind 10.99.0.3:80
  default_backend blue
backend blue
  server blue 127.0.0.1:8001
EOF
haproxy -f "$W/haproxy.cfg" -db >"$W/haproxy.log" 2>&1 &
pids+=($!)
haproxy_pid=$!

nft -f - <<'EOF'
table ip zdbench {
  chain out {
    type nat hook output priority -100; policy accept;
    ip daddr 10.99.0.4 tcp dport 80 dnat to 127.0.0.1:8001
  }
}
EOF

for port in 8001 8003 8005; do wait_body 127.0.0.1 $port blue; done
wait_body 127.0.0.1 8002 green
"${Z[@]}" attach >/dev/null
"${Z[@]}" domain add web --listen tcp://10.99.0.1:80 >/dev/null
"${Z[@]}" workspace add blue --pid "$blue_pid" --socket tcp://127.0.0.1:8001 >/dev/null
"${Z[@]}" workspace add green --pid "$green_pid" --socket tcp://127.0.0.1:8002 >/dev/null
"${Z[@]}" switch web blue >/dev/null
# zd-health: zd as above, for a workspace with a health check that zdctl serve
# runs during the main rounds (a TCP connect every second) and whose verdict
# (healthy) the data plane reads on every new connection.
"${Z[@]}" domain add web-health --listen tcp://10.99.0.5:80 >/dev/null
"${Z[@]}" workspace add blue-checked --pid "$blue_pid" --socket tcp://127.0.0.1:8003 >/dev/null
"${Z[@]}" switch web-health blue-checked >/dev/null
"${Z[@]}" workspace set blue-checked --check tcp --check-interval "${check_interval_s}s" >/dev/null
# zd-canary: zd as above, with a canary taking $canary_weight % of the new
# connections: each one pays the 4-tuple hash and the canary's pick.
"${Z[@]}" domain add web-canary --listen tcp://10.99.0.6:80 >/dev/null
"${Z[@]}" workspace add blue-canary --pid "$blue_pid" --socket tcp://127.0.0.1:8005 >/dev/null
"${Z[@]}" switch web-canary blue >/dev/null
"${Z[@]}" canary web-canary blue-canary --weight "$canary_weight" >/dev/null
"${Z[@]}" serve --listen 127.0.0.1:0 >"$W/serve.log" 2>&1 &
pids+=($!)
serve_pid=$!
checked_health() { "${Z[@]}" --json status | jq -c '.workspaces[] | select(.name == "blue-checked") | .health'; }
for ((i = 0; i < 100; i++)); do
  [[ $(checked_health | jq '.since != null and .failing == false') == true ]] && break
  kill -0 "$serve_pid" 2>/dev/null || die "zdctl serve stopped: $(cat "$W/serve.log")"
  sleep 0.1
done
[[ $(checked_health | jq '.since != null and .failing == false') == true ]] ||
  die "zdctl serve gave blue-checked no healthy verdict in 10 s: $(checked_health)"
declare -A addr=([direct]=127.0.0.1:8001 [zd]=10.99.0.1:80 [zd-health]=10.99.0.5:80
  [zd-canary]=10.99.0.6:80 [nginx]=10.99.0.2:80 [haproxy]=10.99.0.3:80 [nftables]=10.99.0.4:80)
variants=(direct zd zd-health zd-canary nginx haproxy nftables)
for v in "${variants[@]}"; do wait_body "${addr[$v]%:*}" "${addr[$v]#*:}" blue; done
log "backends up: nginx blue/green, nginx proxy, haproxy, nftables DNAT, zd (plain, health-checked, canary)"

# CPU cost per request: the server side (backend nginx, proxy nginx, HAProxy:
# masters, workers, all threads) from schedstat, plus wrk's own rusage. Unlike
# req/s it does not depend on who else uses the VM's cores.
server_pids=("$blue_pid" "$proxy_pid" "$haproxy_pid")
server_pids+=($(cat /proc/{"$blue_pid","$proxy_pid"}/task/*/children))
server_cpu_ns() {
  local p
  for p in "${server_pids[@]}"; do cat /proc/"$p"/task/*/schedstat; done 2>/dev/null |
    awk '{s += $1} END {printf "%.0f", s}'
}

# BPF run-time statistics stay on only while this holder runs.
mkfifo "$W/hold"
exec 7<>"$W/hold"
"$SWB" stats <"$W/hold" >"$W/stats.out" &
pids+=($!)

# -------------------------------------------------------------- wrk runs --
progstats() { "$SWB" progstats --state "$W/bpf/zd"; }
map_memory() { # JSON array of the pinned maps' memlock
  local f
  for f in "$W"/bpf/zd/*; do
    [[ $(basename "$f") == link || $(basename "$f") == program ]] && continue
    bpftool -j map show pinned "$f" |
      jq -c --arg pin "$(basename "$f")" '{pin:$pin,type,max_entries,bytes_memlock}'
  done | jq -sc .
}

: >"$W/wrk.jsonl"
task_cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
stats0=$(progstats)
serve_cpu0=$(task_cpu_ns "$serve_pid") serve_t0=$(date +%s.%N)
log "variants: $rounds rounds x ${#variants[@]} variants x 2 modes x ${dur}s"
run_rounds main "$rounds" "${variants[@]}"
stats1=$(progstats)
serve_cpu1=$(task_cpu_ns "$serve_pid") serve_t1=$(date +%s.%N)

# What zd-health and zd-canary ran with: the check's verdict (still the one
# from before the rounds if it never flapped), zdctl serve's CPU time over the
# rounds, and the share of web-canary's new connections its canary took.
"${Z[@]}" --json status >"$W/extras.status.json"
jq --argjson w "$canary_weight" --argjson iv "$check_interval_s" \
  --argjson cpu "$((serve_cpu1 - serve_cpu0))" --argjson t0 "$serve_t0" --argjson t1 "$serve_t1" \
  '(.domains[] | select(.name == "web-canary")) as $d
   | (.workspaces[] | select(.name == "blue-canary")) as $c
   | {health: {check: (.workspaces[] | select(.name == "blue-checked") | .health),
       interval_s: $iv, serve_seconds: ($t1 - $t0 | round), probes: (($t1 - $t0) / $iv | floor),
       serve_cpu_ms: ($cpu / 1e6 * 10 | round / 10)},
     canary: {weight: $w, domain_steered: $d.counters.steered, canary_steered: $c.counters.steered,
       share: (if $d.counters.steered > 0 then ($c.counters.steered / $d.counters.steered * 1000 | round / 1000)
               else null end)}}' "$W/extras.status.json" >"$W/extras.json"
# The later phases run as before these variants existed: one domain, no serve.
kill "$serve_pid" && wait "$serve_pid" 2>/dev/null || true
"${Z[@]}" canary web-canary --abort >/dev/null
for d in web-canary web-health; do "${Z[@]}" domain rm "$d" >/dev/null; done
for ws in blue-canary blue-checked; do "${Z[@]}" workspace rm "$ws" >/dev/null; done

# ----------------------------------------------------- switch under load --
log "switch under load: ${sul_dur}s"
"$LOADGEN" --target 10.99.0.1:80 --duration "$sul_dur" --out "$W/sul" --timeout-ms 2000 \
  --group close:2 --group ka:4:0:2000 --group ka:2:100:1000 >"$W/sul.loadgen.json" &
lg=$!
pids+=($lg)
sleep 0.5
# One switch every 6 ms (~150/s): >= 1000 switches even in the quick run.
"$SWB" cli --zdctl "$ZDCTL" --state "$W/bpf/zd" --domain web --ws green,blue --count 100000 \
  --interval-us 6000 --duration "$((sul_dur - 1))" --log "$W/sul.switches" >"$W/sul.cli.json"
wait "$lg"
"$ANALYZE" --run "$W/sul" --switches "$W/sul.switches" --bucket-ms 100 --zoom-s 0.12 \
  --zoom-bucket-ms 1 >"$W/sul.json"
"${Z[@]}" switch web blue >/dev/null

# --------------------------------------------------------- switch latency --
log "switch latency (1 domain)"
"$SWB" cli --zdctl "$ZDCTL" --state "$W/bpf/zd" --domain web --ws green,blue --count "$cli_n" \
  --probe 10.99.0.1:80 >"$W/lat1.cli.json"
"$SWB" map --state "$W/bpf/zd" --domain web --ws green,blue --count "$map_n" >"$W/lat1.map.json"
mem1=$(map_memory)

# ------------------------------------------------------------------ scale --
log "scale: binding $scale_n more domains"
for role in active standby; do
  "$SCALE" --state "$W/bpf/zd" --count "$scale_n" --role $role <"$W/hold" >"$W/scale.$role.json" &
  pids+=($!)
  for ((i = 0; i < 600; i++)); do
    [[ -s $W/scale.$role.json ]] && break
    kill -0 "${pids[-1]}" 2>/dev/null || die "zd-scale --role $role failed"
    sleep 0.1
  done
  [[ -s $W/scale.$role.json ]] || die "zd-scale --role $role did not finish in 60 s"
done
jq -s '{domains: .[0].domains, workspaces: (.[0].workspaces + .[1].workspaces),
  sockets: (.[0].sockets + .[1].sockets), seconds: (.[0].seconds + .[1].seconds)}' \
  "$W/scale.active.json" "$W/scale.standby.json" >"$W/scale.json"
"${Z[@]}" switch web blue >/dev/null
wait_body 10.99.0.1 80 blue
# A scale domain is steered to a listening socket nobody accepts on: the
# handshake completing (instead of "refused") shows the binding is live.
timeout 2 bash -c 'exec 3<>/dev/tcp/10.99.1.1/80' || die "scale domain 10.99.1.1:80 not steered"
mem2=$(map_memory)
stats2=$(progstats)
log "scale: $scale_rounds rounds of direct vs zd with $((scale_n + 1)) domains"
run_rounds scale "$scale_rounds" direct zd
stats3=$(progstats)
"$SWB" cli --zdctl "$ZDCTL" --state "$W/bpf/zd" --domain web --ws green,blue --count "$cli_n" \
  --probe 10.99.0.1:80 >"$W/lat2.cli.json"
"$SWB" map --state "$W/bpf/zd" --domain web --ws green,blue --count "$map_n" >"$W/lat2.map.json"

write_report
