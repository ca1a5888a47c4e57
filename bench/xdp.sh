# shellcheck shell=bash disable=SC2154 # dur, sul_dur, ZDCTL...: bench.sh's
# The XDP data plane part of scripts/bench.sh: containers behind veth pairs.
#
# Sourced by scripts/bench.sh in a network + mount namespace of its own (the
# "host"), after bench.sh's helpers (wrk_json, start_nginx, log, die, pids,
# cleanup) and parameters (rounds, dur, sul_dur, ...) are defined;
# `xdp_bench DIR` runs everything and leaves its raw files in DIR:
#   wrk.jsonl   one wrk_json line per run, plus machine CPU and zd's counters
#   sul.*       the switch-under-load run (zd-loadgen, zd-switchbench, zd-analyze)
#   meta.json   topology, parameters, unavailable variants, leftovers, switching
#
#   client netns --veth--> [wire netns --veth-->] host (this namespace, ip_forward=1) --veth--> blue netns
#                                                                                  --veth--> green netns
# (the wire: see xdp_wire_up; ZD_BENCH_XDP_INGRESS=veth leaves it out)
#
# blue and green each run nginx (1 worker, keep-alive) on 0.0.0.0:8080. The
# domain is 10.99.0.1:80, served four ways, plus a fifth row, in interleaved rounds:
#   routing  the client connects to blue's own address:8080; the host forwards (the ceiling)
#   xdp-floor  routing, with an XDP program that only passes (bench/xdp_pass.bpf.c) attached
#            natively where zd attaches its own: what any XDP program costs on this veth
#            (it makes the veth copy every cloned skb it receives), so that zd-xdp /
#            xdp-floor is zd's own cost and zd-xdp / routing the total
#   dnat     nftables prerouting DNAT 10.99.0.1:80 -> blue:8080 (conntrack), as Docker/kube-proxy
#            (to a second address of blue: see xdp_ip below)
#   proxy    nginx on the host on 10.99.0.1:80, upstream keepalive to blue:8080
#   zd-xdp   zdctl attach --xdp on the host side of the client's veth; workspace blue by pid
# Each variant's machinery is in place during its own runs only (set up before,
# torn down after every run): the XDP programs (zd's and xdp-floor's), the NAT
# table (and with it conntrack) and 10.99.0.1 on the host never slow another
# variant's runs down.

xdp_ns_client=zdx-client
xdp_ns_wire=zdx-wire
# What the host's ingress veth receives: "nic" (default), frames redirected to
# it by a wire's XDP program, as a NIC receives them; "veth", the client's own
# skbs, which any XDP program there makes the veth copy (see xdp_wire_up).
xdp_ingress=${ZD_BENCH_XDP_INGRESS:-nic}
case $xdp_ingress in
nic) xdp_wire=1 ;;
veth) xdp_wire=0 ;;
*) die "ZD_BENCH_XDP_INGRESS=$xdp_ingress: nic or veth" ;;
esac
xdp_ns=(zdx-blue zdx-green)
xdp_domain=10.99.0.1
# blue_dnat: a second address of blue, the DNAT's target. With the same
# address as routing, both variants' connections would end in the same
# server-side 4-tuples, and the client, whose SYN timestamps and sequence
# numbers derive from the address IT connects to (10.99.0.1 for one, blue's for
# the other), would hit TIME_WAIT sockets of the other variant that PAWS makes
# it wait 1 s for (SYN retransmits): an artifact of the bench, not a cost.
declare -gA xdp_ip=([client]=10.98.1.2 [host_client]=10.98.1.1 [blue]=10.98.2.2
  [blue_dnat]=10.98.2.3 [host_blue]=10.98.2.1 [green]=10.98.3.2 [host_green]=10.98.3.1)
declare -gA xdp_if=([client]=xc0 [blue]=xb0 [green]=xg0) # host-side veth ends
declare -gA addr=([routing]=${xdp_ip[blue]}:8080 [xdp-floor]=${xdp_ip[blue]}:8080
  [dnat]=$xdp_domain:80 [proxy]=$xdp_domain:80 [zd-xdp]=$xdp_domain:80)
xdp_variants=(routing xdp-floor zd-xdp dnat proxy)
# Variants whose failure to come up makes them unavailable (their rows say
# why) instead of stopping the bench: the others need nothing but the kernel.
declare -gA xdp_optional=([zd-xdp]=1 [xdp-floor]=1)
declare -gA xdp_unavailable=() # variant -> the error that made it unavailable
xdp_leftovers=()               # what a teardown left behind (would bias other rows)
xdp_err=                       # why the last xdp_up / xdp_zd_up failed

# xdp_zd ARGS...: zdctl on the XDP part's own state, bounded in time.
xdp_zd() { timeout 30 "$ZDCTL" --state "$XW/bpf/zdx" "$@"; }

# xdp_progs IF: the XDP programs attached to interface IF (host namespace), if any.
xdp_progs() { ip -d link show "$1" | grep -o 'prog/xdp[^ ]* id [0-9]*' || true; }

# xdp_get ADDR PORT: the body of GET / from the client namespace.
xdp_get() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  ip netns exec "$xdp_ns_client" timeout 3 bash -c '
    exec 9<>"/dev/tcp/$1/$2" || exit 1
    printf "GET / HTTP/1.0\r\nHost: zd\r\n\r\n" >&9
    body=$(timeout 2 cat <&9) || true
    printf "%s" "${body##*$'"'"'\r\n\r\n'"'"'}"' _ "$1" "$2" 2>/dev/null
}

# xdp_answers ADDR PORT WANT: wait (bounded, 5 s) until the client gets WANT.
xdp_answers() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ "$(xdp_get "$1" "$2")" == "$3"* ]] && return 0
    sleep 0.05
  done
  return 1
}

# ------------------------------------------------------------- topology --
xdp_topology() {
  local ns name
  # ip netns keeps its names in /run/netns: a tmpfs of this mount namespace
  # (over /run if there is no /run/netns to mount on), so the host's stays untouched.
  if [[ -d /run/netns ]]; then
    mount -t tmpfs zd-bench-netns /run/netns
    xdp_run_mount=/run/netns
  else
    mount -t tmpfs zd-bench-run /run
    xdp_run_mount=/run
    mkdir /run/netns
  fi
  ip link set lo up
  # Before any interface exists, so that "default" applies to them all.
  sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 net.ipv4.ip_nonlocal_bind=1 \
    net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 \
    net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
  for ns in "$xdp_ns_client" "${xdp_ns[@]}"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" \
      net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192 \
      net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  done
  ((xdp_wire)) && xdp_wire_up
  for name in client blue green; do
    ns=$xdp_ns_client
    [[ $name == client ]] || ns=zdx-$name
    if [[ $name == client ]] && ((xdp_wire)); then
      ip link add "${xdp_if[$name]}" type veth peer name wh netns "$xdp_ns_wire"
    else
      ip link add "${xdp_if[$name]}" type veth peer name eth0 netns "$ns"
    fi
    ip addr add "${xdp_ip[host_$name]}/24" dev "${xdp_if[$name]}"
    ip link set "${xdp_if[$name]}" up
    ip -n "$ns" addr add "${xdp_ip[$name]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    # Partial checksums do not survive XDP_REDIRECT: the senders fill them in.
    ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
  done
  ((xdp_wire)) && xdp_wire_connect
  ip -n zdx-blue addr add "${xdp_ip[blue_dnat]}/24" dev eth0
  ip -n "$xdp_ns_client" route add "${xdp_domain%.*}.0/24" via "${xdp_ip[host_client]}"
  ip -n "$xdp_ns_client" route add 10.98.0.0/16 via "${xdp_ip[host_client]}"
  for name in blue green; do
    ip -n "zdx-$name" route add default via "${xdp_ip[host_$name]}"
  done
}

# The NIC topology (xdp_wire=1): the client's veth ends in a wire namespace,
# not in the host, and the wire's XDP program (bench/xdp_wire.bpf.c) redirects
# every frame the client sends to a second veth whose other end is the host's
# xc0. xc0 then receives XDP frames in buffers of their own, as from a NIC,
# instead of clones of the client's skbs. The way back is a plain bridge.
#   client eth0 --veth-- wc [wire: XDP redirect wc -> wh; bridge wc+wh] wh --veth-- xc0 (host)
xdp_wire_up() {
  ip netns add "$xdp_ns_wire"
  ip -n "$xdp_ns_wire" link set lo up
  ip -n "$xdp_ns_wire" link add wc type veth peer name eth0 netns "$xdp_ns_client"
}

xdp_wire_connect() {
  local obj=$XW/xdp_wire.bpf.o ifindex
  ip -n "$xdp_ns_wire" link add br0 type bridge
  ip -n "$xdp_ns_wire" link set wc master br0
  ip -n "$xdp_ns_wire" link set wh master br0
  ip -n "$xdp_ns_wire" link set wc up
  ip -n "$xdp_ns_wire" link set wh up
  ip -n "$xdp_ns_wire" link set br0 up
  # A veth takes redirected frames only with a NAPI queue: GRO gives xc0 one
  # when no XDP program does (as zd does for a container's end of its veth).
  ethtool -K "${xdp_if[client]}" gro on >/dev/null
  ifindex=$(ip -n "$xdp_ns_wire" -o link show wh | cut -d: -f1)
  xdp_bpf_build xdp_wire.bpf.c "$obj" -DWIRE_OUT_IFINDEX="$ifindex" || die "xdp: wire: $xdp_err"
  ip -n "$xdp_ns_wire" link set dev wc xdpdrv obj "$obj" sec xdp
}

xdp_backends() {
  local name
  for name in blue green; do
    start_nginx "x$name" "server { listen 0.0.0.0:8080 backlog=8192; location / { return 200 \"$name\n\"; } }" \
      "zdx-$name"
  done
  # Bound although 10.99.0.1 is not local (ip_nonlocal_bind): the address is
  # put on lo for the proxy's runs only.
  start_nginx xproxy "upstream backend { server ${xdp_ip[blue]}:8080; keepalive 128; keepalive_requests 100000000; }
  server { listen $xdp_domain:80 backlog=8192; location / { proxy_pass http://backend;
    proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
  for name in blue blue_dnat green; do
    xdp_answers "${xdp_ip[$name]}" 8080 "${name%_*}" || die "xdp: $name never answered the client"
  done
  ip addr add "$xdp_domain/32" dev lo
  xdp_answers "$xdp_domain" 80 blue || die "xdp: the host's nginx proxy never answered the client"
  ip addr del "$xdp_domain/32" dev lo
  # CPU per request: every nginx (masters and workers) and the ksoftirqd
  # threads (forwarding and XDP run in softirq: mostly in the sending task,
  # which is counted, else in ksoftirqd).
  server_pids=("$xblue_pid" "$xgreen_pid" "$xproxy_pid")
  server_pids+=($(cat /proc/{"$xblue_pid","$xgreen_pid","$xproxy_pid"}/task/*/children))
  server_pids+=($(grep -ls '^ksoftirqd/' /proc/[0-9]*/comm | cut -d/ -f3 || true))
}

server_cpu_ns() {
  local p
  for p in "${server_pids[@]}"; do cat /proc/"$p"/task/*/schedstat; done 2>/dev/null |
    awk '{s += $1} END {printf "%.0f", s}'
}

# ------------------------------------------------------------- variants --
# xdp_zd_up WORKSPACE...: zd serves the domain from the first workspace (all
# of them registered by the pid of their nginx). On failure: zd torn down,
# xdp_err = the first line zdctl printed, status 1.
xdp_zd_up() {
  local ws pid counters
  local steps=("attach --xdp ${xdp_if[client]}" "domain add shop --listen tcp://$xdp_domain:80")
  for ws in "$@"; do
    pid=x${ws}_pid
    steps+=("workspace add $ws --pid ${!pid} --socket tcp://0.0.0.0:8080")
  done
  steps+=("switch shop $1")
  for ws in "${steps[@]}"; do
    # shellcheck disable=SC2086 # the steps are words without spaces in them
    if ! xdp_err=$(xdp_zd $ws 2>&1 >/dev/null); then
      xdp_err=$(grep -m1 . <<<"${xdp_err:-zdctl $ws failed without a message}")
      xdp_zd_down
      return 1
    fi
  done
  if ! xdp_answers "$xdp_domain" 80 "$1"; then
    counters=$(xdp_zd --json status | jq -c '.xdp.counters // {}' 2>/dev/null) || true
    xdp_err="zdctl set up without an error, but the client never got '$1' from $xdp_domain:80 (XDP counters: ${counters:-none})"
    xdp_zd_down
    return 1
  fi
}

# xdp_zd_down: detach, and note anything of zd left on the path.
xdp_zd_down() {
  local name ns left
  xdp_zd detach >/dev/null 2>&1 || xdp_leftovers+=("zdctl detach failed")
  left=$(xdp_progs "${xdp_if[client]}")
  [[ -z $left ]] || xdp_leftovers+=("${xdp_if[client]} (host side of the client's veth): $left")
  for name in blue green; do
    ns=zdx-$name
    left=$( (ip -n "$ns" -d link show eth0; ip -d link show "${xdp_if[$name]}") |
      grep -o 'prog/xdp[^ ]* id [0-9]*' || true)
    [[ -z $left ]] || xdp_leftovers+=("$name's veth: $left")
  done
}

# xdp_floor_build: compile bench/xdp_pass.bpf.c (once) into $XW, with the
# include flags of bpf/CMakeLists.txt. Status 1 (and xdp_err) on failure.
xdp_floor_obj=
xdp_floor_build() {
  [[ -n $xdp_floor_obj ]] && return 0
  xdp_bpf_build xdp_pass.bpf.c "$XW/xdp_pass.bpf.o" || return 1
  xdp_floor_obj=$XW/xdp_pass.bpf.o
}

# xdp_bpf_build SOURCE OBJ [CFLAGS...]: compile bench/SOURCE into OBJ.
# Status 1 (and xdp_err) on failure.
xdp_bpf_build() {
  local src=$1 obj=$2 clang multiarch
  shift 2
  clang=$(command -v clang clang-16 clang-15 clang-14 | head -1) || true
  if [[ -z $clang ]]; then
    xdp_err="no clang to build bench/$src"
    return 1
  fi
  multiarch=$(gcc -print-multiarch 2>/dev/null || "$clang" -print-multiarch)
  if ! xdp_err=$("$clang" -O2 -g -Wall -Werror -target bpf -I"/usr/include/$multiarch" "$@" \
    -c "$repo/bench/$src" -o "$obj" 2>&1); then
    xdp_err="building bench/$src: $(grep -m1 . <<<"${xdp_err:-clang failed}")"
    return 1
  fi
}

# xdp_floor_up: the do-nothing XDP program, native mode, where zd attaches
# its own. On failure: detached again, xdp_err set, status 1.
xdp_floor_up() {
  local ifc=${xdp_if[client]}
  xdp_floor_build || return 1
  if ! xdp_err=$(ip link set dev "$ifc" xdpdrv obj "$xdp_floor_obj" sec xdp 2>&1); then
    xdp_err="ip link set dev $ifc xdpdrv obj xdp_pass.bpf.o: $(grep -m1 . <<<"${xdp_err:-failed}")"
    xdp_floor_down
    return 1
  fi
  if [[ $(xdp_progs "$ifc") != prog/xdp\ * ]]; then
    xdp_err="ip link set dev $ifc xdpdrv succeeded, but $ifc shows no native XDP program: $(xdp_progs "$ifc")"
    xdp_floor_down
    return 1
  fi
}

# xdp_floor_down: detach, and note anything left on the client's veth.
xdp_floor_down() {
  local left
  ip link set dev "${xdp_if[client]}" xdpdrv off 2>/dev/null ||
    xdp_leftovers+=("ip link set dev ${xdp_if[client]} xdpdrv off failed")
  left=$(xdp_progs "${xdp_if[client]}")
  [[ -z $left ]] || xdp_leftovers+=("${xdp_if[client]} (host side of the client's veth), after xdp-floor: $left")
}

# xdp_up VARIANT: put the variant's machinery in place and check the client
# gets blue through it. Status 1 (and xdp_err) when it cannot be.
xdp_up() {
  case $1 in
  routing) ;;
  xdp-floor) xdp_floor_up || return 1 ;;
  dnat)
    nft -f - <<EOF
table ip zdxdnat {
  chain pre {
    type nat hook prerouting priority -100; policy accept;
    ip daddr $xdp_domain tcp dport 80 dnat to ${xdp_ip[blue_dnat]}:8080
  }
}
EOF
    ;;
  proxy) ip addr add "$xdp_domain/32" dev lo ;;
  zd-xdp)
    xdp_zd_up blue
    return
    ;;
  esac
  xdp_answers "${addr[$1]%:*}" "${addr[$1]#*:}" blue && return 0
  xdp_err="the client never got 'blue' from ${addr[$1]}"
  xdp_down "$1"
  return 1
}

xdp_down() {
  case $1 in
  xdp-floor) xdp_floor_down ;;
  dnat) nft delete table ip zdxdnat ;;
  proxy) ip addr del "$xdp_domain/32" dev lo ;;
  zd-xdp) xdp_zd_down ;;
  esac
}

# xdp_progstats: run_cnt and run_time_ns of zd's XDP program, as JSON.
xdp_progstats() {
  bpftool -j prog show pinned "$XW/bpf/zdx/xdp_program" |
    jq -c '{run_cnt: (.run_cnt // 0), run_time_ns: (.run_time_ns // 0)}'
}

# wrk in the client namespace; /proc/stat (all CPUs) read right around it.
xdp_wrk() {
  local rc=0
  head -1 /proc/stat >"$XW/stat0"
  timeout "$((dur + 60))" ip netns exec "$xdp_ns_client" wrk "$@" || rc=$?
  head -1 /proc/stat >"$XW/stat1"
  return "$rc"
}

# xdp_run VARIANT MODE ROUND: one run, one JSON line (or none if unavailable).
xdp_run() {
  local v=$1 mode=$2 round=$3 line counters=null busy soft p0 p1
  [[ -n ${xdp_unavailable[$v]:-} ]] && return 0
  if ! xdp_up "$v"; then
    [[ -n ${xdp_optional[$v]:-} ]] || die "xdp: $v: $xdp_err"
    xdp_unavailable[$v]=$xdp_err
    log "xdp: $v unavailable: $xdp_err"
    return 0
  fi
  [[ $v != zd-xdp ]] || p0=$(xdp_progstats)
  line=$(wrk_json "$v" "$mode" "$round" xdp)
  if [[ $v == zd-xdp ]]; then
    counters=$(xdp_zd --json status | jq -c '.xdp.counters // null') || counters=null
    # zd_xdp's own run time per frame in this run (BPF_ENABLE_STATS).
    p1=$(xdp_progstats)
    line=$(with_run_time xdp "$p0" "$p1" <<<"$line")
  fi
  xdp_down "$v"
  # busy = user + nice + system + irq + softirq jiffies (not idle, iowait, steal)
  read -r busy soft < <(cat "$XW/stat0" "$XW/stat1" |
    awk -v hz="$(getconf CLK_TCK)" '{b[NR] = $2 + $3 + $4 + $7 + $8; s[NR] = $8}
      END {printf "%.0f %.0f\n", (b[2] - b[1]) * 1e6 / hz, (s[2] - s[1]) * 1e6 / hz}')
  jq -c --argjson busy "$busy" --argjson soft "$soft" --argjson c "$counters" \
    '. + {machine_cpu_us_per_req: ($busy / ([.requests, 1] | max) * 1000 | round / 1000),
          softirq_us_per_req: ($soft / ([.requests, 1] | max) * 1000 | round / 1000)}
     + (if $c then {xdp_counters: $c} else {} end)' <<<"$line"
}

# xdp_rounds N VARIANT...: as run_rounds in bench.sh (modes, then variants in
# an order that rotates every round), with each variant set up around its run.
xdp_rounds() {
  local n=$1 r i k mode
  shift
  local vs=("$@")
  for ((r = 1; r <= n; r++)); do
    for mode in close keepalive; do
      for ((i = 0; i < ${#vs[@]}; i++)); do
        k=$(((i + r) % ${#vs[@]}))
        xdp_run "${vs[$k]}" "$mode" "$r" >>"$XD/wrk.jsonl"
      done
    done
    log "xdp: round $r/$n done"
  done
}

# ---------------------------------------------------- switch under load --
# Same load and switch driver as bench.sh's switch-under-load run, on the XDP
# plane: blue and green are containers, the load comes from the client.
xdp_switching() {
  local lg
  if [[ -n ${xdp_unavailable[zd-xdp]:-} ]]; then
    jq -n --arg e "${xdp_unavailable[zd-xdp]}" '{ran: false, unavailable: $e}' >"$XD/switching.json"
    return 0
  fi
  if ! xdp_zd_up blue green; then
    log "xdp: switching unavailable: $xdp_err"
    jq -n --arg e "$xdp_err" '{ran: false, unavailable: $e}' >"$XD/switching.json"
    return 0
  fi
  log "xdp: switch under load: ${sul_dur}s"
  timeout "$((sul_dur + 60))" ip netns exec "$xdp_ns_client" "$LOADGEN" \
    --target "$xdp_domain:80" --duration "$sul_dur" --out "$XD/sul" --timeout-ms 2000 \
    --group close:2 --group ka:4:0:2000 --group ka:2:100:1000 >"$XD/sul.loadgen.json" &
  lg=$!
  pids+=($lg)
  sleep 0.5
  timeout "$((sul_dur + 60))" "$SWB" cli --zdctl "$ZDCTL" --state "$XW/bpf/zdx" --domain shop \
    --ws green,blue --count 100000 --interval-us 6000 --duration "$((sul_dur - 1))" \
    --log "$XD/sul.switches" >"$XD/sul.cli.json" || log "xdp: zd-switchbench cli failed"
  wait "$lg" || log "xdp: zd-loadgen failed"
  "$ANALYZE" --run "$XD/sul" --switches "$XD/sul.switches" --bucket-ms 100 --zoom-s 0.12 \
    --zoom-bucket-ms 1 >"$XD/sul.json" || log "xdp: zd-analyze failed"
  xdp_zd --json status | jq -c '.xdp.counters // null' >"$XD/sul.counters.json" ||
    echo null >"$XD/sul.counters.json"
  xdp_zd_down
  jq -n --slurpfile a "$XD/sul.json" --slurpfile l "$XD/sul.loadgen.json" \
    --slurpfile c "$XD/sul.cli.json" --slurpfile x "$XD/sul.counters.json" \
    '{ran: true} + ($a[0] // {}) + {loadgen: $l[0], switch_cli: $c[0], xdp_counters: $x[0]}' \
    >"$XD/switching.json"
}

# On exit: zd and the NAT table off, then (after bench.sh's cleanup has
# stopped every process it started) the namespaces and the tmpfs.
xdp_cleanup() {
  nft delete table ip zdxdnat 2>/dev/null || true
  ip link set dev "${xdp_if[client]}" xdpdrv off 2>/dev/null || true
  if [[ -d $XW/bpf/zdx ]]; then xdp_zd detach >/dev/null 2>&1 || true; fi
}
xdp_cleanup_netns() {
  local ns
  for ns in "$xdp_ns_client" "$xdp_ns_wire" "${xdp_ns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  [[ -z ${xdp_run_mount:-} ]] || umount "$xdp_run_mount" 2>/dev/null || true
}

# ----------------------------------------------------------------- main --
xdp_bench() {
  XD=$1 XW=$W
  trap 'xdp_cleanup; cleanup; xdp_cleanup_netns' EXIT
  wrk_cmd=(xdp_wrk)
  : >"$XD/wrk.jsonl"
  ulimit -n "$(ulimit -Hn)"
  xdp_topology
  xdp_backends
  # BPF run-time statistics stay on only while this holder runs.
  mkfifo "$XW/xdp-hold"
  exec 8<>"$XW/xdp-hold"
  "$SWB" stats <"$XW/xdp-hold" >/dev/null &
  pids+=($!)
  local path="client -> host"
  ((xdp_wire)) && path="client -> wire -> host"
  log "xdp: topology up: $path -> blue/green, nginx in blue and green, nginx proxy on the host"

  # Is zd's XDP plane there yet? Until it is, the other rows still come out.
  local v vs=()
  if ! xdp_zd_up blue; then
    xdp_unavailable[zd-xdp]=$xdp_err
    log "xdp: zd-xdp unavailable: $xdp_err"
  else
    xdp_zd_down
  fi
  # And can the floor's program be built and attached (and answer)?
  if ! xdp_up xdp-floor; then
    xdp_unavailable[xdp-floor]=$xdp_err
    log "xdp: xdp-floor unavailable: $xdp_err"
  else
    xdp_down xdp-floor
  fi
  for v in "${xdp_variants[@]}"; do [[ -n ${xdp_unavailable[$v]:-} ]] || vs+=("$v"); done
  log "xdp: $rounds rounds x ${#vs[@]} variants (${vs[*]}) x 2 modes x ${dur}s"
  xdp_rounds "$rounds" "${vs[@]}"
  xdp_switching

  local unavailable='{}' leftovers='[]' variants
  for v in "${!xdp_unavailable[@]}"; do
    unavailable=$(jq -c --arg v "$v" --arg e "${xdp_unavailable[$v]}" '. + {($v): $e}' <<<"$unavailable")
  done
  ((${#xdp_leftovers[@]} == 0)) ||
    leftovers=$(printf '%s\n' "${xdp_leftovers[@]}" | sort -u | jq -R . | jq -sc .)
  variants=$(printf '%s\n' "${xdp_variants[@]}" | jq -R . | jq -sc .)
  jq -n --argjson variants "$variants" --argjson unavailable "$unavailable" --argjson leftovers "$leftovers" \
    --slurpfile switching "$XD/switching.json" \
    --arg client "${xdp_ip[client]}" --arg blue "${xdp_ip[blue]}" --arg green "${xdp_ip[green]}" \
    --arg dnat_target "${xdp_ip[blue_dnat]}" \
    --arg domain "$xdp_domain" --arg xdp_if "${xdp_if[client]}" --arg ingress "$xdp_ingress" \
    --arg ethtool "$(ethtool --version | awk '{print $NF}')" \
    --argjson rounds "$rounds" --argjson dur "$dur" --argjson sul "$sul_dur" \
    '{variants: $variants, unavailable: $unavailable,
      leftovers: $leftovers, switching: $switching[0], ethtool: $ethtool,
      parameters: {rounds: $rounds, seconds_per_run: $dur, switch_under_load_seconds: $sul},
      topology: {client: $client, blue: $blue, green: $green, dnat_target: $dnat_target, domain: $domain,
                 xdp_interface: $xdp_if, port: 8080, ingress: $ingress}}' >"$XD/meta.json"
  log "xdp: done"
}
