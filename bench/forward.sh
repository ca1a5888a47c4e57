#!/usr/bin/env bash
# Forwarding to a workspace on another host (issue 21), against the ways a
# platform gets a packet from the host it enters to the host that serves it.
#
#   client --[wire]--> host1 (ingress, A) ==fabric bridge== host2 (B: blue's nginx)
#                                                         == host3 (C: green's nginx)
#
# etcd and three hosts as network namespaces on one bridge (tests/cluster/
# env.sh). nginx (1 worker, keep-alive, `return 200 "blue\n"`) on host2 on
# 0.0.0.0:8080. The client reaches host2 five ways, in interleaved rounds:
#   routing  10.77.0.2:8080, host2's own address: host1 routes (the limit)
#   zd       10.99.0.1:80, the domain: host1's XDP wraps each packet (IPIP)
#            to host2, whose XDP unwraps it; replies go back by routing
#   dnat     10.99.0.3:80: nftables DNAT on host1 to a second address of
#            host2 (conntrack), as kube-proxy's iptables/nftables modes
#   vxlan    10.66.0.2:8080, host2's overlay address: host1 routes over a
#            VXLAN device to host2, as flannel or Calico's VXLAN mode
#   proxy    10.99.0.2:80: nginx on host1, upstream keep-alive to host2
# Each variant's machinery is in place during its own runs only: zd is
# attached (host1's ingress, host2's fabric) and its agents run for zd's runs (and detached after), the NAT
# table exists for dnat's; the overlay and the proxy cost nothing idle.
#
# The ingress: "nic" (default) puts a wire namespace in front of host1,
# whose XDP program (bench/xdp_wire.bpf.c) redirects the client's frames
# into host1's veth, so that they arrive as a NIC's would (bench/xdp.sh
# explains why a veth fed by a local TCP stack is not one);
# ZD_BENCH_FORWARD_INGRESS=veth leaves it out.
#
# Then 1,000 switches of the domain between blue (host2) and green
# (host3), each applied everywhere before the next (zd-clusterbench),
# under zd-loadgen's load from the client: every failed request counts.
#
# Usage: bench/forward.sh [BUILD_DIR] [ROUNDS] [SECONDS] [SWITCHES]   (root)
# Prints Markdown; the raw runs are in $ZD_BENCH_FORWARD_OUT (if set).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-build}")
rounds=${2:-8} dur=${3:-5} switches=${4:-1000}
ingress=${ZD_BENCH_FORWARD_INGRESS:-nic}
[[ $ingress == nic || $ingress == veth ]] || { echo "forward.sh: ZD_BENCH_FORWARD_INGRESS is nic or veth" >&2; exit 2; }
# shellcheck source=../tests/cluster/env.sh
source "$here/../tests/cluster/env.sh"
CLUSTER_BUILD=$build
if [[ -z ${ZD_BENCH_INNER:-} ]]; then
  ((EUID == 0)) || { echo "forward.sh: needs root" >&2; exit 1; }
  command -v etcd >/dev/null || cluster_install_etcd
  missing=()
  for pkg in wrk nginx nftables bpftool ethtool jq clang; do
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" == installed ]] || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "forward.sh: installing ${missing[*]}" >&2
    # nginx must not start on the host while it installs (policy-rc.d: "no").
    own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    rc=$?
    ((own_policy == 0)) || rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || exit 1
  fi
  export ZD_BENCH_INNER=1
  exec unshare -n -m -- "$0" "$build" "$rounds" "$dur" "$switches"
fi

work=$(mktemp -d /tmp/zd-forward-bench.XXXXXX)
pids=()
cleanup() {
  local rc=$?
  ((rc == 0)) || tail -n 5 "$work"/c/host*/agent.log >&2 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  cluster_down || true
  [[ -n ${ZD_BENCH_FORWARD_OUT:-} ]] && cp "$work"/runs.jsonl "$work"/switching.json "$ZD_BENCH_FORWARD_OUT"/ 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
log() { echo "forward.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}
zd_on() {
  local i=$1
  shift
  timeout 30 nsenter --net="/run/netns/host$i" -- "$build/user/zdctl" --state "$(cluster_state "$i")" "$@"
}
zc() { timeout 30 "$build/user/zdctl" --cluster "$CLUSTER_ETCD" "$@"; }
in_client() { nsenter --net=/run/netns/client -- "$@"; }

# ------------------------------------------------------------- topology --
cluster_up "$work/c" 3 1
for i in 1 2 3; do
  cluster_exec "$i" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 \
    net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
done
ip netns add client
ip -n client link set lo up
in_client sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
if [[ $ingress == nic ]]; then
  # client eth0 --veth-- wc [wire: XDP redirect wc -> wh; bridge wc+wh] wh --veth-- ingress0 (host1)
  ip netns add wire
  ip -n wire link set lo up
  ip -n wire link add wc type veth peer name eth0 netns client
  ip -n wire link add wh type veth peer name ingress0 netns host1
  ip -n wire link add br0 type bridge
  for l in wc wh br0; do ip -n wire link set "$l" up; done
  ip -n wire link set wc master br0
  ip -n wire link set wh master br0
  clang=$(command -v clang clang-16 clang-15 clang-14 | head -1) || die "no clang to build bench/xdp_wire.bpf.c"
  "$clang" -O2 -g -Wall -Werror -target bpf -I"/usr/include/$(gcc -print-multiarch)" \
    -DWIRE_OUT_IFINDEX="$(ip -n wire -o link show wh | cut -d: -f1)" \
    -c "$here/xdp_wire.bpf.c" -o "$work/xdp_wire.bpf.o"
  ip -n wire link set dev wc xdpdrv obj "$work/xdp_wire.bpf.o" sec xdp
else
  ip link add ingress0 netns host1 type veth peer name eth0 netns client
fi
ip -n client link set eth0 up
ip -n client addr add 10.88.0.2/24 dev eth0
# Partial checksums do not survive a frame XDP sends elsewhere.
in_client ethtool -K eth0 tx off >/dev/null
for net in 10.99.0.0/24 10.77.0.0/24 10.66.0.0/24; do ip -n client route add "$net" via 10.88.0.1; done
ip -n host1 link set ingress0 up
ip -n host1 addr add 10.88.0.1/24 dev ingress0
# A veth takes redirected frames only with a NAPI queue: GRO gives ingress0
# one (set once it is up: set before, the wire's frames were lost).
[[ $ingress == veth ]] || cluster_exec 1 ethtool -K ingress0 gro on >/dev/null
cluster_exec 1 sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.accept_local=1
# XDP's redirects into host1's bridge veth need GRO on its peer.
ethtool -K zdh-host1 gro on >/dev/null
for i in 2 3; do ip -n "host$i" route add 10.88.0.0/24 via 10.77.0.1; done
# dnat's target: a second address of host2 (the same one as routing's would
# meet routing's TIME_WAIT sockets, which PAWS makes the client wait for).
ip -n host2 addr add 10.77.0.12/24 dev eth0
# The overlay: VXLAN between host1 and host2 over the bridge. Replies from
# host2's overlay address go back over it (policy routing), as in a pod network.
for i in 1 2; do
  peer=$((3 - i))
  ip -n "host$i" link add vx0 type vxlan id 42 local "10.77.0.$i" remote "10.77.0.$peer" dstport 4789 dev eth0
  ip -n "host$i" addr add "10.66.0.$i/24" dev vx0
  ip -n "host$i" link set vx0 up
done
ip -n host2 rule add from 10.66.0.2 table 66
ip -n host2 route add 10.88.0.0/24 via 10.66.0.1 dev vx0 table 66

# ------------------------------------------------------------- backends --
# nginx NAME I ADDRESS:PORT [UPSTREAM]: on host I, answering NAME (or
# proxying to UPSTREAM with keep-alive).
nginx_on() {
  local name=$1 i=$2 listen=$3 upstream=${4:-} dir=$work/$1 body pool=""
  mkdir -p "$dir"
  body="location / { return 200 \"$name\n\"; }"
  if [[ -n $upstream ]]; then
    pool="upstream backend { server $upstream; keepalive 128; keepalive_requests 100000000; }"
    body="location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; }"
  fi
  cat >"$dir/nginx.conf" <<NGINX
user root; worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log warn; daemon off;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off; keepalive_timeout 300s; keepalive_requests 100000000;
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
  $pool
  server { listen $listen backlog=8192; $body }
}
NGINX
  cluster_spawn "$i" "$dir/nginx.out" nginx -c "$dir/nginx.conf"
  printf -v "pid_$name" %s "$CLUSTER_SPAWNED"
  pids+=("$CLUSTER_SPAWNED")
}
nginx_on blue 2 0.0.0.0:8080
nginx_on green 3 0.0.0.0:8080
nginx_on proxy 1 10.99.0.2:80 10.77.0.2:8080

# get ADDR PORT: the body of GET / from the client.
get() { in_client curl -s --max-time 1 "http://$1:$2/" 2>/dev/null || true; }
answers() { # ADDR PORT WANT: within 5 s
  local n
  for ((n = 0; n < 25; n++)); do
    [[ $(get "$1" "$2") == "$3" ]] && return 0
    sleep 0.1
  done
  return 1
}
for target in 10.77.0.2:8080 10.77.0.12:8080 10.66.0.2:8080 10.99.0.2:80; do
  answers "${target%:*}" "${target#*:}" blue ||
    die "the client never got blue from $target: $(in_client curl -sS --max-time 2 "http://$target/" 2>&1; cat "$work"/*/nginx.out "$work"/*/error.log 2>/dev/null | tail -5)"
done

# ------------------------------------------------------------ zd up/down --
declare -A addr=([routing]=10.77.0.2:8080 [xdp-floor]=10.77.0.2:8080 [zd]=10.99.0.1:80
  [dnat]=10.99.0.3:80 [vxlan]=10.66.0.2:8080 [proxy]=10.99.0.2:80)
variants=(routing xdp-floor zd dnat vxlan proxy)
# xdp-floor: routing with an XDP program that passes everything on the two
# veths zd's own runs on (host1's ingress, host2's fabric). A veth
# with an XDP program copies every packet it receives that is a clone or
# lacks XDP's headroom; a NIC does not. zd / xdp-floor is zd's own part.
floor_ifs=("1 ingress0" "2 eth0")
floor() { # on|off
  local f
  for f in "${floor_ifs[@]}"; do
    read -r i ifc <<<"$f"
    if [[ $1 == on ]]; then
      ip -n "host$i" link set dev "$ifc" xdpdrv obj "$build/tests/bpf/xdp_pass.bpf.o" sec xdp
    else
      ip -n "host$i" link set dev "$ifc" xdpdrv off
    fi
  done
}
declare -A agent
zd_hosts=(1 2)
domain_made=0
# zd_up: attached on every host of zd_hosts (host1 on its ingress and the
# fabric, the others on the fabric), blue (and green) registered, the agents
# running; returns once host1 forwards the domain to blue.
zd_up() {
  local i xdp ws
  # host1 runs no workspace: its XDP is on its ingress only (its fabric
  # interface needs zd only to take in flows forwarded to it); the others
  # take in on their fabric interface.
  for i in "${zd_hosts[@]}"; do
    xdp=(--xdp eth0)
    ((i == 1)) && xdp=(--xdp ingress0)
    zd_on "$i" attach "${xdp[@]}" >/dev/null || die "attach on host$i"
  done
  zd_on 2 workspace add blue --pid "$pid_blue" --socket tcp://0.0.0.0:8080 >/dev/null ||
    die "workspace add blue on host2"
  if [[ " ${zd_hosts[*]} " == *" 3 "* ]]; then
    zd_on 3 workspace add green --pid "$pid_green" --socket tcp://0.0.0.0:8080 >/dev/null ||
      die "workspace add green on host3"
  fi
  for i in "${zd_hosts[@]}"; do
    cluster_agent "$i" --listen 127.0.0.1:9477 --fabric "10.77.0.$i" --lease 2s
    agent[$i]=$CLUSTER_SPAWNED
  done
  cluster_wait_agents "${#zd_hosts[@]}" || die "the agents did not register"
  # The first time: the domain, switched to blue once host2 publishes it.
  # Later, the agents apply it as etcd keeps it (on blue: the switches end there).
  if ((!domain_made)); then
    zc domain add shop --listen tcp://10.99.0.1:80 >/dev/null || die "domain add --cluster"
    local n out
    for ((n = 0; n < 50; n++)); do out=$(zc switch shop blue 2>&1) && break; sleep 0.1; done
    [[ $out == *blue* ]] || die "switch shop blue: $out"
    domain_made=1
  fi
  answers 10.99.0.1 80 blue || die "the client never got blue through zd: $(zd_on 1 status)"
}
zd_down() {
  local i
  for i in "${!agent[@]}"; do kill "${agent[$i]}" 2>/dev/null || true; done
  for i in "${!agent[@]}"; do while kill -0 "${agent[$i]}" 2>/dev/null; do sleep 0.05; done; done
  agent=()
  for i in "${zd_hosts[@]}"; do zd_on "$i" detach --force >/dev/null || die "detach on host$i"; done
}

up() {
  case $1 in
  zd) zd_up ;;
  xdp-floor) floor on ;;
  dnat)
    cluster_exec 1 nft -f - <<NFT
table ip zdfdnat {
  chain pre {
    type nat hook prerouting priority -100; policy accept;
    ip daddr 10.99.0.3 tcp dport 80 dnat to 10.77.0.12:8080
  }
}
NFT
    answers 10.99.0.3 80 blue || die "the client never got blue through the DNAT"
    ;;
  esac
}
down() {
  case $1 in
  zd) zd_down ;;
  xdp-floor) floor off ;;
  dnat) cluster_exec 1 nft delete table ip zdfdnat ;;
  esac
}

# ---------------------------------------------------------------- runs --
# BPF run-time statistics, on while this holder runs: zd's XDP program's
# own time per packet.
mkfifo "$work/stats-hold"
exec 8<>"$work/stats-hold"
"$build/bench/zd-switchbench" stats <"$work/stats-hold" >/dev/null &
pids+=($!)
progstats() {
  local pin
  pin=$(cluster_state 1)/xdp_program
  [[ -e $pin ]] || { echo '{"run_cnt":0,"run_time_ns":0}'; return; }
  bpftool -j prog show pinned "$pin" | jq -c '{run_cnt: (.run_cnt // 0), run_time_ns: (.run_time_ns // 0)}'
}
busy_us() { # all CPUs' busy time (user + nice + system + irq + softirq), and softirq, in us
  head -1 /proc/stat | awk -v hz="$(getconf CLK_TCK)" '{printf "%.0f %.0f\n", ($2+$3+$4+$7+$8) * 1e6 / hz, $8 * 1e6 / hz}'
}
proc_ns() { # an nginx's CPU time, its workers' included, in ns
  local p
  for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do cat /proc/"$p"/task/*/schedstat; done 2>/dev/null |
    awk '{s += $1} END {printf "%.0f", s}'
}
to_us() { awk '{v=$1; u=$1; sub(/[0-9.]+/,"",u); sub(/[a-z]+$/,"",v);
  m=(u=="us")?1:(u=="ms")?1000:(u=="s")?1000000:1; printf "%.1f", v*m}'; }

# run VARIANT MODE ROUND: one wrk run from the client, one JSON line.
run() {
  local v=$1 mode=$2 round=$3 conns=32 hdr=() text b0 s0 b1 s1 px0 px1 p0 p1
  [[ $mode == close ]] && conns=16 hdr=(-H "Connection: close")
  up "$v"
  p0=$(progstats)
  px0=$(proc_ns "$pid_proxy")
  read -r b0 s0 < <(busy_us)
  text=$(timeout $((dur + 30)) nsenter --net=/run/netns/client -- wrk -t2 -c"$conns" -d"${dur}s" --latency \
    "${hdr[@]}" "http://${addr[$v]}/")
  read -r b1 s1 < <(busy_us)
  px1=$(proc_ns "$pid_proxy")
  p1=$(progstats)
  down "$v"
  jq -nc --arg v "$v" --arg m "$mode" --argjson r "$round" --arg ingress "$ingress" \
    --argjson reqs "$(awk '/requests in/ {print $1}' <<<"$text")" \
    --argjson rps "$(awk '/^Requests\/sec:/ {print $2}' <<<"$text")" \
    --argjson p50 "$(awk '$1=="50%" {print $2}' <<<"$text" | to_us)" \
    --argjson p99 "$(awk '$1=="99%" {print $2}' <<<"$text" | to_us)" \
    --argjson errs "$(awk '/Socket errors:/ {gsub(/,/,""); print $4+$6+$8+$10; f=1} END {if (!f) print 0}' <<<"$text")" \
    --argjson non2xx "$(awk '/Non-2xx/ {print $NF; f=1} END {if (!f) print 0}' <<<"$text")" \
    --argjson busy $((b1 - b0)) --argjson soft $((s1 - s0)) --argjson proxy $(((px1 - px0) / 1000)) \
    --argjson a "$p0" --argjson b "$p1" \
    '{variant: $v, mode: $m, round: $r, ingress: $ingress, rps: $rps, requests: $reqs,
      p50_us: $p50, p99_us: $p99, errors: ($errs + $non2xx),
      machine_cpu_us_per_req: ($busy / ([$reqs, 1] | max) * 100 | round / 100),
      softirq_us_per_req: ($soft / ([$reqs, 1] | max) * 100 | round / 100),
      proxy_cpu_us_per_req: ($proxy / ([$reqs, 1] | max) * 100 | round / 100),
      xdp_runs: ($b.run_cnt - $a.run_cnt),
      xdp_ns_per_run: (if $b.run_cnt > $a.run_cnt then
        (($b.run_time_ns - $a.run_time_ns) / ($b.run_cnt - $a.run_cnt) * 10 | round / 10) else null end)}'
}

: >"$work/runs.jsonl"
log "$ingress ingress: $rounds rounds x ${#variants[@]} variants (${variants[*]}) x 2 modes x ${dur}s"
for ((r = 1; r <= rounds; r++)); do
  for mode in close keepalive; do
    for ((k = 0; k < ${#variants[@]}; k++)); do
      run "${variants[$(((k + r) % ${#variants[@]}))]}" "$mode" "$r" >>"$work/runs.jsonl"
    done
  done
  log "round $r/$rounds done"
done

# ------------------------------------------------- switches under load --
zd_hosts=(1 2 3)
zd_up
sul=$((switches / 10 + 20)) # switches take 20-90 ms each under load: all of them within it
log "$switches switches blue (host2) / green (host3) under load"
in_client timeout $((sul + 30)) "$build/bench/zd-loadgen" --target 10.99.0.1:80 --duration "$sul" \
  --out "$work/sul" --timeout-ms 2000 --group close:2 --group ka:4:0:2000 --group ka:2:100:1000 \
  >"$work/loadgen.json" &
loadgen=$!
pids+=("$loadgen")
sleep 0.5
started=$(date +%s%N)
cluster_exec 1 "$build/bench/zd-clusterbench" "$CLUSTER_ETCD" shop "$switches" 3 >"$work/storm.json" ||
  die "zd-clusterbench: $(cat "$work/storm.json")"
switched_ms=$((($(date +%s%N) - started) / 1000000))
wait "$loadgen" || true
[[ -s $work/loadgen.json ]] || die "zd-loadgen printed nothing"
for i in 1 2 3; do
  zd_on "$i" --json status | jq -c --arg h "host$i" '{host: $h, domain: .domains[0].counters, xdp: .xdp.counters}' >&2
done
jq -c --slurpfile s "$work/storm.json" --argjson ms "$switched_ms" --argjson n "$switches" \
  '{switches: $n, switching_ms: $ms, load_seconds: .seconds, load: ., propagation: $s[0]}' "$work/loadgen.json" >"$work/switching.json"
zd_down

# --------------------------------------------------------------- report --
jq -rs --arg ingress "$ingress" --slurpfile sw "$work/switching.json" '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def r3: . * 1000 | round / 1000;
  def r1: . * 10 | round / 10;
  . as $runs
  | (["close", "keepalive"][] as $mode
  | [$runs[] | select(.mode == $mode)] as $m
  | ($m | map(.variant) | unique) as $vs
  | "\n**\(if $mode == "close" then "Short-lived connections (Connection: close)" else "Keep-alive connections" end), \($ingress) ingress**\n",
    "| variant | req/s median [min-max] | / routing, per round: median [min-max] | / zd | p50 us | p99 us | errors | machine CPU us/req | of which softirq | extra CPU us/req vs routing | proxy nginx CPU us/req | zd XDP ns/packet on host1 |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    (["routing", "xdp-floor", "zd", "dnat", "vxlan", "proxy"][] as $v | select($vs | index($v))
     | [$m[] | select(.variant == $v)] as $rows
     | [$rows[] | . as $x | ($m[] | select(.variant == "routing" and .round == $x.round) | $x.rps / .rps)] as $vr
     | [$rows[] | . as $x | ($m[] | select(.variant == "zd" and .round == $x.round) | .rps / $x.rps)] as $vz
     | ([$m[] | select(.variant == "routing") | .machine_cpu_us_per_req] | median) as $base
     | "| \($v) | \([$rows[].rps] | median | round) [\([$rows[].rps] | min | round)-\([$rows[].rps] | max | round)] | \($vr | median | r3) [\($vr | min | r3)-\($vr | max | r3)] | \(if $v == "zd" then "1" else "zd \($vz | median | r3)x" end) | \([$rows[].p50_us] | median | round) | \([$rows[].p99_us] | median | round) | \([$rows[].errors] | add) | \([$rows[].machine_cpu_us_per_req] | median | r1) | \([$rows[].softirq_us_per_req] | median | r1) | \(([$rows[].machine_cpu_us_per_req] | median) - $base | r1) | \(if $v == "proxy" then ([$rows[].proxy_cpu_us_per_req] | median | r1) else "-" end) | \(if $v == "zd" then ([$rows[].xdp_ns_per_run | select(. != null)] | median | r1) else "-" end) |")),
  ( $sw[0]
    | "\n**\(.switches) switches under load** (\($ingress) ingress): \(.switching_ms) ms for all of them, inside \(.load_seconds | round) s of load, each applied on all three hosts before the next (propagation p50 \(.propagation.propagation_ms.p50 | r1) ms, p99 \(.propagation.propagation_ms.p99 | r1) ms). zd-loadgen: \(.load.requests) requests, \(.load.requests - .load.ok) failed (errors: \(.load.errors | to_entries | map(select(.value > 0) | "\(.key) \(.value)") | join(", ") | if . == "" then "none" else . end)), answered by blue \(.load.per_workspace.b // 0) / green \(.load.per_workspace.g // 0); p50 \(.load.p50_us) us, p99 \(.load.p99_us) us.")
' "$work/runs.jsonl"
