#!/usr/bin/env bash
# Writes docs/benchmarks.md from docs/benchmarks.json (called by scripts/bench.sh).
# Usage: bench/report.sh benchmarks.json WALL_SECONDS > benchmarks.md
set -euo pipefail
J=$1
wall=$2
q() { jq -r "$@" "$J"; }

quick=$(q .quick)
xdp_only=$(q '.xdp_only // false')
if [[ $quick == true ]]; then
  run_cmd="scripts/bench.sh --quick"
  kind="quick run (5 rounds x 2 s per variant, 10 s under switching)"
else
  run_cmd="scripts/bench.sh"
  kind="full run"
fi
# --no-xdp: the XDP part's rows are those of an earlier run.
xdp_from=$(q '.xdp.carried_over // empty | "\(.generated)\(if .quick then ", a quick run" else "" end)"')
if [[ -n $xdp_from && $xdp_only != true ]]; then
  run_cmd="$run_cmd --no-xdp"
  kind="$kind; the XDP part not run, its rows carried over from the run of $xdp_from"
fi

# xdp_wire_text: why the XDP part puts a wire in front of the host.
xdp_wire_text() {
  cat <<EOF

**The wire.** The client's veth does not end in the host but in a fourth namespace, the wire:
an XDP program there (\`bench/xdp_wire.bpf.c\`) redirects every frame the client sends,
untouched, into a second veth whose other end is the host's $(q .xdp.topology.xdp_interface); the way back is a plain
bridge. GRO is on for $(q .xdp.topology.xdp_interface), as on a NIC (a veth takes redirected frames only with a
NAPI queue, which GRO gives it when no XDP program does). The host's ingress veth thus receives XDP frames in buffers of their own, the way a
NIC does, instead of the clones of the client's TCP stack, which any XDP program on it would
make the veth copy (see xdp-floor below). The wire costs the same for every variant: its copy of
the client's frames is paid once, on the wire, by all of them. It stands for the network card
zd attaches to in production (\`zdctl attach --xdp eth0\`); \`ZD_BENCH_XDP_INGRESS=veth
scripts/bench.sh --xdp-only\` leaves it out. Without it, in the last run of that topology
(2026-11-26T17:01:55Z, zd's XDP program of then), xdp-floor / routing was 0.903 and zd-xdp / routing
0.82 on short-lived connections, while zd-xdp / xdp-floor, zd's own part, was 0.964; dnat / routing
(0.895) and proxy / routing (0.866) were the same with and without the wire, since they attach
nothing to the veth.
EOF
}

# xdp_section: the XDP data plane part (bench/xdp.sh), from .xdp.
xdp_section() {
  if [[ $(q '.xdp.failed // empty') ]]; then
    echo "## XDP data plane: containers behind veth pairs"
    echo
    echo "Not measured in this run: $(q .xdp.failed)"
    echo
    return
  fi
  local t
  if [[ -n $xdp_from ]]; then
    echo "## XDP data plane: containers behind veth pairs"
    echo
    echo "**Carried over:** this run (\`--no-xdp\`) did not run \`bench/xdp.sh\`. The rows below, and"
    echo "the XDP plane's targets above, are those of the run of $xdp_from, recomputed"
    echo "from its raw figures (kept in [benchmarks.json](benchmarks.json) under \`xdp\`)."
    echo
  fi
  # The host's ingress: "nic" (a wire in front of it, bench/xdp_wire.bpf.c) or
  # "veth" (the client's veth ends in the host: runs before the wire existed).
  local ingress n=three wire=
  ingress=$(q '.xdp.topology.ingress // "veth"')
  t=$(q '.xdp.topology | "client \(.client) -> host -> blue \(.blue)\n(and green \(.green))"')
  if [[ $ingress == nic ]]; then
    n=four
    t=$(q '.xdp.topology | "client \(.client) -> wire -> host -> blue \(.blue)\n(and green \(.green))"')
    wire=$(xdp_wire_text)
  fi
  [[ -n $xdp_from ]] || printf '## XDP data plane: containers behind veth pairs\n\n'
  cat <<EOF
\`bench/xdp.sh\` (run alone by \`scripts/bench.sh --xdp-only\`) measures zd's XDP plane for
workspaces that live in their own network namespace, in a network + mount namespace of its own
(the "host"), with $n more namespaces behind veth pairs: $t. The host forwards
(\`net.ipv4.ip_forward=1\`); the client and the containers have tx checksum offload off
(\`ethtool -K eth0 tx off\`: partial checksums do not survive \`XDP_REDIRECT\`). blue and green
each run nginx (\`worker_processes 1\`, keep-alive, \`return 200 "blue\n"\`) on 0.0.0.0:$(q .xdp.topology.port).
The domain is $(q .xdp.topology.domain):80, served four ways; a fifth row, xdp-floor, measures what any
XDP program costs on this veth.
$wire

| variant | client connects to | path to blue's nginx |
|---|---|---|
| routing | $(q '.xdp.topology | "\(.blue):\(.port)"') | none: blue's own address and port, plain kernel forwarding by the host (the ceiling) |
| xdp-floor | $(q '.xdp.topology | "\(.blue):\(.port)"') | as routing, with an XDP program that does nothing but pass every frame (\`bench/xdp_pass.bpf.c\`) attached natively to $(q .xdp.topology.xdp_interface), where zd attaches its own\*\* |
| zd-xdp | $(q .xdp.topology.domain):80 | \`zdctl attach --xdp $(q .xdp.topology.xdp_interface)\` (the host's ingress veth), \`workspace add blue --pid PID --socket tcp://0.0.0.0:$(q .xdp.topology.port)\`, \`switch shop blue\`: zd's XDP program redirects the client's frames to blue's veth, sk_lookup in blue hands them to nginx's socket |
| dnat | $(q .xdp.topology.domain):80 | nftables \`nat prerouting\`: \`ip daddr $(q .xdp.topology.domain) tcp dport 80 dnat to $(q '.xdp.topology | "\(.dnat_target):\(.port)"')\` (conntrack), what Docker and kube-proxy do; $(q .xdp.topology.dnat_target) is a second address of blue\* |
| proxy | $(q .xdp.topology.domain):80 | nginx on the host ($(q .xdp.topology.domain) on lo), 1 worker, \`proxy_pass\` with upstream \`keepalive 128\` |

\* With routing's address, dnat's and routing's connections would end in the same 4-tuples at
blue, and since the client derives its SYN's sequence number and timestamp from the address it
connects to, its SYNs would meet the other variant's \`TIME_WAIT\` sockets with older timestamps:
PAWS rejects them and the client retries after 1 s (in a trial on this VM dnat fell from ~25,000
to ~3,000 conn/s). That is an artifact of running both variants from one client, not a cost of either.

\*\* xdp-floor is a yardstick, not a way to serve the domain. Its program only returns
\`XDP_PASS\`; the bench builds it (\`clang -O2 -g -target bpf\`), attaches it with
\`ip link set dev $(q .xdp.topology.xdp_interface) xdpdrv obj xdp_pass.bpf.o sec xdp\` and takes it off after each run
(\`xdpdrv off\`). It is there because on a veth, any XDP program can cost something before it
even runs: once a program is attached, the veth turns every packet it receives into an XDP buffer,
and the TCP packets a local kernel sends into it are shared copies (clones) it may not write to,
so it copies each one first (\`veth_convert_skb_to_xdp_buff\` in drivers/net/veth.c). Frames
that arrive as XDP frames (from a NIC, or from the wire above) need no copy.
So zd-xdp / routing is the total that zd's XDP plane costs on this bench, and
zd-xdp / xdp-floor is zd's own part of it: what its program does (parsing, flow table, redirect
to blue's veth) beyond what any XDP program costs here.
(zd-xdp / routing = zd-xdp / xdp-floor x xdp-floor / routing.)

Each variant's machinery is in place during its own runs only: before each run it is set up
(zd attached, the pass-only program attached, the NAT table loaded, the address added) and checked
with one request, after it torn down (and the interfaces checked for XDP programs left behind), so
no variant pays for another's XDP programs or conntrack. Load: the same wrk
commands as the main rows (\`-t$(q .parameters.wrk_threads)\`, $(q .parameters.wrk_close_connections) short-lived or $(q .parameters.wrk_keepalive_connections) keep-alive connections), run in the
client namespace, $(q .xdp.parameters.rounds) interleaved rounds x $(q .xdp.parameters.seconds_per_run) s.

How to read: "/ routing" is the ratio to plain forwarding taken inside each round (median
[min-max]). "CPU us/req" is the CPU time (user + system) that wrk and the servers used per
request: every nginx (from \`/proc/PID/task/*/schedstat\`), wrk (its rusage) and the ksoftirqd
threads (forwarding and XDP run in softirq, mostly inside the sending task, which is counted, else
in ksoftirqd). "machine CPU us/req" is
the busy time of all CPUs (user + system + irq + softirq, from \`/proc/stat\`) per request: it
includes everything the kernel does for a packet, and anything else running on the VM.

EOF
  q '.xdp.unavailable | to_entries[] | "**\(.key) unavailable:** `\(.value)`\n"'
  for mode in close keepalive; do
    [[ $mode == close ]] && echo "### XDP plane: short-lived connections (Connection: close)" ||
      echo "### XDP plane: keep-alive connections"
    echo
    echo "| variant | req/s median [min-max] | / routing [min-max] | p50 us | p99 us | errors | CPU us/req (server + wrk) | machine CPU us/req | of which softirq |"
    echo "|---|---|---|---|---|---|---|---|---|"
    q --arg m "$mode" '.xdp.tables[$m][] |
      "| \(.variant) | \(.rps.median | round) [\(.rps.min | round)-\(.rps.max | round)] | \(.ratio_to_routing.median) [\(.ratio_to_routing.min)-\(.ratio_to_routing.max)] | \(.p50_us.median) | \(.p99_us.median) | \(.errors) | \(.cpu_us_per_req.median) | \(.machine_cpu_us_per_req.median) | \(.softirq_us_per_req.median) |"'
    echo
    if [[ -z $(q '.xdp.unavailable["zd-xdp"] // empty') ]]; then
      echo "zd-xdp compared with the others in the same rounds (zd-xdp req/s / other req/s, and the"
      echo "other's CPU time per request / zd-xdp's; medians [min-max]):"
      q --arg m "$mode" '.xdp.zd_xdp_vs as $z | $z[$m] | to_entries[] | select(.value.median != null) |
        "zd-xdp / \(.key) = \(.value.median) [\(.value.min)-\(.value.max)] req/s; \(.key) uses \($z.cpu_per_request_other_over_zd_xdp[$m][.key].median)x [\($z.cpu_per_request_other_over_zd_xdp[$m][.key].min)-\($z.cpu_per_request_other_over_zd_xdp[$m][.key].max)] zd-xdp'"'"'s CPU per request"' |
        sed 's/^/- /'
      echo
    fi
  done
  if [[ $(q '.xdp.xdp_counters != null') == true ]]; then
    echo "zd's XDP counters over all zd-xdp runs (\`zdctl --json status\`, read before each detach):"
    echo "$(q '.xdp.xdp_counters | to_entries | map("\(.key) \(.value)") | join(", ")')."
    echo "\`to_host\` and \`flow_misses\` count frames zd passed to the host stack instead of redirecting them."
    echo
  fi
  if [[ -n $(q '.xdp.tables.close[] | select(.variant == "zd-xdp") | .xdp_ns_per_run // empty') ]]; then
    echo "zd_xdp's own run time per frame (\`BPF_ENABLE_STATS\`, read before and after each zd-xdp run;"
    echo "median [min-max] over rounds): $(q '[.xdp.tables.close[], .xdp.tables.keepalive[]] | map(select(.variant == "zd-xdp"))
      | "\(.[0].xdp_ns_per_run | "\(.median) ns [\(.min)-\(.max)]") short-lived, \(.[1].xdp_ns_per_run | "\(.median) ns [\(.min)-\(.max)]") keep-alive"').
The program runs on every frame the client sends to the domain."
    echo
  fi
  if [[ $(q '.xdp.leftovers | length') != 0 ]]; then
    echo "**Left on the path after \`zdctl detach\`** (the other variants' runs may have paid for it):"
    q '.xdp.leftovers[] | "- \(.)"'
    echo
  fi
  echo "### XDP plane: switch under load"
  echo
  if [[ $(q .xdp.switch_under_load.ran) != true ]]; then
    echo "Not run: \`$(q .xdp.switch_under_load.unavailable)\`"
    echo
    return
  fi
  cat <<EOF
blue and green are both containers (\`zdctl workspace add green --pid PID --socket tcp://0.0.0.0:$(q .xdp.topology.port)\`).
For $(q .xdp.parameters.switch_under_load_seconds) s, \`zd-loadgen\` runs in the client namespace against $(q .xdp.topology.domain):80 (2 threads of
short-lived connections, 4 keep-alive connections for the whole run, 2 threads of 100-request
keep-alive connections) while \`zd-switchbench cli\` switches \`shop\` between green and blue every
6 ms, with the same commands as the main switch-under-load run. "failed" counts every request
without a 2xx answer; it must be 0.

| | |
|---|---|
| switches (zdctl, all succeeded?) | $(q '.xdp.switch_under_load | "\(.switches) (\(.failed_switches) failed)"') |
| requests / failed | $(q '.xdp.switch_under_load | "\(.requests) / \(.failed)"') |
| errors by kind | $(q '.xdp.switch_under_load.errors | if length == 0 then "none" else tostring end') |
| answered by blue / green | $(q '.xdp.switch_under_load.per_workspace | "\(.blue) / \(.green)"') |
| connections / that changed workspace mid-connection | $(q '.xdp.switch_under_load | "\(.connections) / \(.connections_moved)"') |
| keep-alive connections spanning >= 1 switch / stayed on their workspace | $(q '.xdp.switch_under_load.keepalive | "\(.spanning_switches) / \(.stayed_on_accepting_workspace)"') |
| short-lived connections in flight across a whole switch / completed without error | $(q '.xdp.switch_under_load.short_lived | "\(.spanning_a_switch) / \(.completed_ok)"') |
| loadgen latency p50 / p99 (us) | $(q '.xdp.switch_under_load.loadgen | "\(.p50_us) / \(.p99_us)"') |
| zdctl wall time under load p50 / p99 (us) | $(q '.xdp.switch_under_load.switch_cli.wall | "\(.p50_us) / \(.p99_us)"') |
| zd's XDP counters | $(q '.xdp.switch_under_load.xdp_counters // {} | to_entries | map("\(.key) \(.value)") | join(", ")') |

EOF
}

if [[ $xdp_only == true ]]; then
  run_cmd="$run_cmd --xdp-only"
  run_cmd=${run_cmd/--quick --xdp-only/--xdp-only --quick}
  kind="${kind/run (5 rounds x 2 s per variant, 10 s under switching)/run}, XDP data plane only"
  cat <<EOF
# Benchmarks: XDP data plane only

Generated by \`$run_cmd\` on $(q .generated) ($kind, $wall s wall time). Only the
XDP data plane part of [benchmarks.md](benchmarks.md) ran; \`sudo scripts/bench.sh\` runs all of it.
Only ratios between variants measured in the same run mean something.

## Machine

| | |
|---|---|
$(q '.machine | to_entries[] | "| \(.key) | \(.value) |"')

## Targets

| target | wanted | measured | met | ceiling in this run | CPU per request, other / zd-xdp |
|---|---|---|---|---|---|
$(q '.targets[] | "| \(.name) | \(.want) | \(if .value == null then "unavailable" else .value end)\(if .switches then " (\(.switches) switches)" else "" end) | \(if .met then "yes" else "**no**" end) | \(.ceiling // "") | \(.cpu // "") |"')

"ceiling" is routing / that variant in the same rounds: what a steering that costs nothing would
measure against it here. zd-xdp / routing is the whole cost of zd's XDP plane on this bench;
zd-xdp / xdp-floor leaves out what any XDP program at all costs on this veth (see xdp-floor
below): zd's own cost.

EOF
  xdp_section
  exit 0
fi

cat <<EOF
# Benchmarks

Generated by \`$run_cmd\` on $(q .generated) ($kind, $wall s wall time).
Do not edit: the script rewrites this page, [benchmarks.json](benchmarks.json) (every raw
figure) and the \`bench-*.png\` plots. The full run is \`sudo scripts/bench.sh\` (15 rounds x 5 s,
35 s under switching, about 45 minutes); \`--quick\` finishes in under 5 minutes;
\`--xdp-only\` runs the [XDP data plane](#xdp-data-plane-containers-behind-veth-pairs) part alone,
\`--no-xdp\` all but that part (about 25 minutes), whose rows it carries over from the previous report.
Rounds are short and many because on this VM a variant's rate drifts by about 10 % from one
10 s run to the next: runs side by side share the drift, and the median of many ratios is steady
(in a run of 7 rounds x 10 s, zd / direct and zd-health / direct, the same path, came out 0.93 and
1.01; with the XDP part's wire, xdp-floor / routing, which has no cause to differ from 1, ranged
0.85-1.05).

Everything runs in a private network + mount namespace (\`unshare -n -m\`) with its own bpffs,
over loopback (the XDP data plane part: over veth pairs, in a namespace of its own). The machine
is a small shared VM, so **only ratios between variants measured in the same run mean
something**: each round runs every variant back to back (the order rotates
from round to round), and a ratio is taken inside a round before the median over rounds is
reported (min-max in brackets).

## Machine

| | |
|---|---|
$(q '.machine | to_entries[] | "| \(.key) | \(.value) |"')

## Targets

| target | wanted | measured | met | ceiling in this run | CPU per request, other / zd |
|---|---|---|---|---|---|
$(q '.targets[] | "| \(.name) | \(.want) | \(if .value == null then "unavailable" else .value end)\(if .switches then " (\(.switches) switches)" else "" end) | \(if .met then "yes" else "**no**" end) | \(.ceiling // "") | \(.cpu // "") |"')

How to read: "ceiling" is direct / that proxy in the same rounds: what a steering that costs
nothing would measure against it here (zd / proxy = zd / direct x direct / proxy), so a ratio
target above the ceiling cannot be met on this machine, however cheap zd is; for the XDP plane's
targets it is routing / that variant, and "zd-xdp / xdp-floor" leaves out what any XDP program costs
on a veth ([xdp-floor](#xdp-data-plane-containers-behind-veth-pairs)). "CPU per request, other / zd"
compares the CPU time (load generator + servers) each variant spends per request, which does
not depend on idle cores. A missed target is discussed under
[Where the time goes](#where-the-time-goes).

## Variants

Backend: one nginx $(q .machine.nginx) ("blue", \`worker_processes 1\`, \`return 200 "blue\n"\`,
keep-alive on) on 127.0.0.1:8001 (and 8003, 8005: the sockets of zd-health's and zd-canary's
workspaces, in the same process); a second one ("green") on 127.0.0.1:8002 for switching. The
same backend serves every variant:

| variant | client connects to | path to the backend |
|---|---|---|
| direct | 127.0.0.1:8001 | none: the backend's own port |
| zd | 10.99.0.1:80 | sk_lookup steers the SYN to blue's listening socket (\`zdctl workspace add blue --pid PID --socket tcp://127.0.0.1:8001\`) |
| zd-health | 10.99.0.5:80 | as zd, to a workspace with a health check (\`zdctl workspace add blue-checked --pid PID --socket tcp://127.0.0.1:8003\`, \`workspace set blue-checked --check tcp --check-interval $(q .parameters.check_interval_seconds)s\`) that \`zdctl serve --listen 127.0.0.1:0\` runs through the rounds; its verdict (healthy) is what sk_lookup reads in the health map |
| zd-canary | 10.99.0.6:80 | as zd (active workspace blue), with \`zdctl canary web-canary blue-canary --weight $(q .parameters.canary_weight)\` (\`blue-canary\`: \`--socket tcp://127.0.0.1:8005\`, the same nginx): every new connection pays the 4-tuple hash and the canary's pick |
| nginx | 10.99.0.2:80 | nginx reverse proxy, 1 worker, \`proxy_pass\` with upstream \`keepalive 128\` |
| haproxy | 10.99.0.3:80 | HAProxy $(q .machine.haproxy), \`mode http\`, \`nbthread 1\`, \`http-reuse always\` |
| nftables | 10.99.0.4:80 | \`nat output\` chain: \`ip daddr 10.99.0.4 tcp dport 80 dnat to 127.0.0.1:8001\` |

Load: wrk $(q .machine.wrk), \`wrk -t$(q .parameters.wrk_threads) -c$(q .parameters.wrk_close_connections) -d$(q .parameters.seconds_per_run)s --latency -H "Connection: close" URL\`
(short-lived: one request per TCP connection) and \`wrk -t$(q .parameters.wrk_threads) -c$(q .parameters.wrk_keepalive_connections) -d$(q .parameters.seconds_per_run)s --latency URL\`
(keep-alive), $(q .parameters.rounds) interleaved rounds.

How to read: "req/s" is the median over rounds of wrk's requests/s (for short-lived connections
it is also connections/s); "/ direct" is the median over rounds of that variant's req/s divided
by direct's in the same round, so 1.00 means "as fast as talking to the backend directly".
p50/p99 are wrk's latency percentiles (medians over rounds), errors are wrk's socket errors plus
non-2xx answers summed over all rounds. "CPU us/req" is the CPU time (user + system) that wrk
and every server process (backend nginx, proxy nginx, HAProxy; from \`/proc/PID/task/*/schedstat\`
and wrk's rusage) used per request; unlike req/s it does not depend on idle cores or on other
jobs on the VM. Kernel work done in softirq context outside these tasks is not in it.

EOF
for mode in close keepalive; do
  [[ $mode == close ]] && echo "### Short-lived connections (Connection: close)" ||
    echo "### Keep-alive connections"
  echo
  echo "| variant | req/s median [min-max] | / direct [min-max] | p50 us | p99 us | errors | CPU us/req (server + wrk) | server CPU us/req |"
  echo "|---|---|---|---|---|---|---|---|"
  q --arg m "$mode" '.variants[$m][] |
    "| \(.variant) | \(.rps.median | round) [\(.rps.min | round)-\(.rps.max | round)] | \(.ratio_to_direct.median) [\(.ratio_to_direct.min)-\(.ratio_to_direct.max)] | \(.p50_us.median) | \(.p99_us.median) | \(.errors) | \(.cpu_us_per_req.median) | \(.server_cpu_us_per_req.median) |"'
  echo
  echo "zd compared with the others in the same rounds (zd req/s / other req/s, and the other's CPU"
  echo "time per request / zd's; medians [min-max]):"
  q --arg m "$mode" '.zd_vs as $z | $z[$m] | to_entries[] |
    "zd / \(.key) = \(.value.median) [\(.value.min)-\(.value.max)] req/s; \(.key) uses \($z.cpu_per_request_other_over_zd[$m][.key].median)x [\($z.cpu_per_request_other_over_zd[$m][.key].min)-\($z.cpu_per_request_other_over_zd[$m][.key].max)] zd'"'"'s CPU per request"' | sed 's/^/- /'
  echo
  echo "What a health check and a canary cost on their own: zd-health and zd-canary against plain zd"
  echo "in the same rounds (req/s ratio, and their CPU time per request / zd's; medians [min-max]):"
  q --arg m "$mode" '.features[$m] | to_entries[] |
    "\(.key) / zd = \(.value.over_zd.median) [\(.value.over_zd.min)-\(.value.over_zd.max)] req/s; \(.key) uses \(.value.cpu_it_over_zd.median)x [\(.value.cpu_it_over_zd.min)-\(.value.cpu_it_over_zd.max)] zd'"'"'s CPU per request"' | sed 's/^/- /'
  echo
done
cat <<EOF
**zd-health and zd-canary in this run.** $(q '.features.health | "zdctl serve probed blue-checked every \(.interval_s) s (a TCP connect to 127.0.0.1:8003, about \(.probes) probes over the \(.serve_seconds) s of the main rounds) and used \(.serve_cpu_ms) ms of CPU in that time (\(.serve_cpu_ms / 10 / .serve_seconds * 1000 | round / 1000) % of one core: its watcher wakes every 100 ms); the verdict after the rounds: \(if .check.failing then "failing" else "healthy" end) since \(.check.since) (\(.check.said))."')
The health map is an array indexed by workspace id, so \`zd_healthy()\` reads an entry on every
new connection of every zd variant, checked or not: a workspace without a check reads its
zeroed entry (healthy), and what zd-health adds is the verdict being there, and zdctl serve
running beside the load. $(q '.features.canary | "The canary took \(.canary_steered) of web-canary'"'"'s \(.domain_steered) steered connections (\(.share * 100 * 10 | round / 10) %, for a weight of \(.weight) %)."')
\`zd_dispatch\`'s run time per lookup during each variant's runs (\`BPF_ENABLE_STATS\`, read
before and after each run; median over rounds, ns): $(q '[.variants.close[] | select(.bpf_ns_per_run.median != null) | "\(.variant) \(.bpf_ns_per_run.median)"] | join(", ")') (short-lived);
in the runs of direct, nginx, HAProxy and nftables it takes its miss path (no domain at the
address the SYN looks for).

![req/s relative to direct](bench-variants.png)

## Switch under load

\`zd-loadgen\` (bench/loadgen.cpp: HTTP/1.1 over TCP, records every request) sends to the zd
domain 10.99.0.1:80 for $(q .parameters.switch_under_load_seconds) s with three groups of threads:
2 threads of short-lived connections back to back, 4 keep-alive connections that live for the
whole run (one request every 2 ms each), and 2 threads of keep-alive connections that send 100
requests 1 ms apart and reconnect. Meanwhile \`zd-switchbench cli\` runs
\`zdctl --state DIR switch web green\` / \`... web blue\` every 6 ms (a new zdctl process each
time, the way an operator or a deploy script would).

\`\`\`
zd-loadgen --target 10.99.0.1:80 --duration $(q .parameters.switch_under_load_seconds) --out RUN --timeout-ms 2000 \\
  --group close:2 --group ka:4:0:2000 --group ka:2:100:1000
zd-switchbench cli --zdctl zdctl --state DIR --domain web --ws green,blue --count 100000 \\
  --interval-us 6000 --duration $(( $(q .parameters.switch_under_load_seconds) - 1 )) --log SWITCHES
zd-analyze --run RUN --switches SWITCHES --bucket-ms 100 --zoom-s 0.12 --zoom-bucket-ms 1
\`\`\`

How to read: "failed" counts every request that did not get a 2xx answer (refused, reset,
timeout, premature close, bad status); it must be 0. A connection "spans" a switch when zdctl
started after the connection opened and returned before it closed; "stayed" means every answer
on it came from the workspace that accepted it.

| | |
|---|---|
| switches (zdctl, all succeeded?) | $(q '.switch_under_load | "\(.switches) (\(.failed_switches) failed)"') |
| requests / failed | $(q '.switch_under_load | "\(.requests) / \(.failed)"') |
| errors by kind | $(q '.switch_under_load.errors | if length == 0 then "none" else tostring end') |
| answered by blue / green | $(q '.switch_under_load.per_workspace | "\(.blue) / \(.green)"') |
| connections / that changed workspace mid-connection | $(q '.switch_under_load | "\(.connections) / \(.connections_moved)"') |
| keep-alive connections spanning >= 1 switch / stayed on their workspace | $(q '.switch_under_load.keepalive | "\(.spanning_switches) / \(.stayed_on_accepting_workspace)"') |
| most switches spanned by one keep-alive connection | $(q .switch_under_load.keepalive.max_switches_spanned) |
| requests sent on connections that spanned switches | $(q .switch_under_load.keepalive.requests_on_spanning) |
| short-lived connections in flight across a whole switch / completed without error | $(q '.switch_under_load.short_lived | "\(.spanning_a_switch) / \(.completed_ok)"') |
| loadgen latency p50 / p99 (us) | $(q '.switch_under_load.loadgen | "\(.p50_us) / \(.p99_us)"') |
| zdctl wall time under load p50 / p99 (us) | $(q '.switch_under_load.switch_cli.wall | "\(.p50_us) / \(.p99_us)"') |

![requests/s per workspace while switching](bench-timeline.png)

With a switch every 6 ms, each 100 ms bucket holds over a dozen switches, so blue and green share
it; the total line and the red crosses (failed requests) are the ones to watch. The total is
lower while switching than before and after: each switch is a new zdctl process (~1.7 ms of CPU),
so ~150 switches/s take about a quarter of one of the VM's two cores away from the load. The
blue line that stays above zero after the last switch to green is the keep-alive connections
that blue accepted and keeps serving. The zoom shows the flip-flop of new connections:

![zoom on switches](bench-switch-zoom.png)

## Switch latency

How to read: "zdctl switch" is the wall time of \`zdctl switch\` from spawn to exit (what an
operator waits for); "library switch" is \`State::open\` + \`ControlPlane::switch_to\` in-process (lock,
checks, update; no exec); "map update" is the single \`bpf_map_update_elem\` on the routes map
that IS the switch; "first new connection" is the time from zdctl's exit to the first new
connection answered by the new workspace (a connect + GET; every probe landed on its first
attempt when "retries" is 0). Measured without load, alternating blue/green.

| | domains | n | p50 us | p99 us | max us |
|---|---|---|---|---|---|
EOF
for which in one_domain many_domains; do
  n=$([[ $which == one_domain ]] && echo 1 || q .scale.domains)
  q --arg w "$which" --arg n "$n" '.switch_latency[$w] |
    "| zdctl switch | \($n) | \(.cli.wall.n) | \(.cli.wall.p50_us) | \(.cli.wall.p99_us) | \(.cli.wall.max_us) |",
    "| library switch | \($n) | \(.map.library_switch.n) | \(.map.library_switch.p50_us) | \(.map.library_switch.p99_us) | \(.map.library_switch.max_us) |",
    "| map update | \($n) | \(.map.map_update.n) | \(.map.map_update.p50_us) | \(.map.map_update.p99_us) | \(.map.map_update.max_us) |",
    "| first new connection (retries: \(.cli.probes_needing_retry)) | \($n) | \(.cli.first_new_connection.n) | \(.cli.first_new_connection.p50_us) | \(.cli.first_new_connection.p99_us) | \(.cli.first_new_connection.max_us) |"'
done
# Fixed text, measured by bench/check.sh, bench/serve.sh, bench/control.sh, bench/cluster.sh
# and bench/forward.sh
# rather than by this script's run.
for part in check serve control cluster forward; do
  if [[ -f $(dirname "$0")/$part.md ]]; then
    echo
    sed '$d' "$(dirname "$0")/$part.md" # its last line is blank, and so is the next section's first
  fi
done
cat <<EOF

## Scale: $(q .scale.domains) domains

\`zd-scale\` (bench/scale.cpp) binds $(q .scale.populate.domains) more domains through the library
API (tcp://10.99.1.1:80 ... 10.99.40.250:80), each with two workspaces of its own, each workspace
with its own listening socket (127.1.x.y:9000 active, 127.2.x.y:9000 standby):
$(q .scale.populate.workspaces) workspaces, $(q .scale.populate.sockets) sockets, bound in
$(q .scale.populate.seconds) s. The sockets are held by two processes because this VM caps a
process at $(ulimit -Hn) open files. Then direct and zd run again in $(q .parameters.scale_rounds)
interleaved rounds.

How to read: "zd / direct" is taken inside each round as above; "normalized" is zd/direct with
$(q .scale.domains) domains divided by zd/direct with 1 domain (the main rounds), i.e. how much
of zd's speed is left with $(q .scale.domains) domains bound, with the VM's drift between the two
phases cancelled by direct.

| mode | zd / direct, 1 domain | zd / direct, $(q .scale.domains) domains | normalized |
|---|---|---|---|
$(q '.scale.compare | to_entries[] | "| \(.key) | \(.value.one_domain_zd_over_direct.median) [\(.value.one_domain_zd_over_direct.min)-\(.value.one_domain_zd_over_direct.max)] | \(.value.many_domains_zd_over_direct.median) [\(.value.many_domains_zd_over_direct.min)-\(.value.many_domains_zd_over_direct.max)] | \(.value.normalized) |"')

Map memory (\`bytes_memlock\` of each pinned map from \`bpftool -j map show pinned\`; on this
kernel it reports what the map really uses, so non-preallocated hash maps grow with entries while
preallocated hashes and arrays are paid up front):

| map | type | max entries | bytes, 1 domain | bytes, $(q .scale.domains) domains |
|---|---|---|---|---|
$(q '[.scale.map_memory.one_domain, .scale.map_memory.many_domains] | transpose[] | "| \(.[0].pin) | \(.[0].type) | \(.[0].max_entries) | \(.[0].bytes_memlock) | \(.[1].bytes_memlock) |"')
| **total** | | | $(q .scale.map_memory.one_domain_total_bytes) | $(q .scale.map_memory.many_domains_total_bytes) |

BPF run time of \`zd_dispatch\` (\`BPF_ENABLE_STATS\`, held only during the run): $(q '.bpf_run_time.main | "\(.avg_ns) ns per lookup over \(.runs) lookups"') in the main rounds
(web, plus web-health and web-canary: see zd-health and zd-canary above for each variant's runs),
$(q '.bpf_run_time.many_domains | "\(.avg_ns) ns per lookup over \(.runs) lookups"') with $(q .scale.domains) domains
(every new connection in the namespace runs it, including those to direct, the proxies' ports,
and the proxies' own upstream connections).

EOF
if [[ -f $(dirname "$0")/analysis.md ]]; then
  cat "$(dirname "$0")/analysis.md"
fi
echo
xdp_section
