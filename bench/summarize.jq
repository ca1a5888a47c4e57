# Folds the raw measurements of scripts/bench.sh into docs/benchmarks.json:
# medians with min/max, ratios taken round by round (variants of one round ran
# back to back, so their ratio cancels most of the noise of a shared VM), and
# the targets of issue 3 (of issue 8 for the XDP data plane, bench/xdp.sh, and
# of issue 10 for health state and canaries) with met/missed. With $xdp_only == 1 only the XDP part ran: the other inputs
# are null and only .xdp and its targets are written.

def median: sort | if length == 0 then null
  elif length % 2 == 1 then .[(length - 1) / 2]
  else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def spread: {median: median, min: min, max: max};
def r3: if . == null then null else . * 1000 | round / 1000 end;

# runs of one phase -> {mode: {round: {variant: run}}}
def by_round: group_by(.mode) | map({key: .[0].mode, value:
  (group_by(.round) | map({key: (.[0].round | tostring), value:
    (map({key: .variant, value: .}) | from_entries)}) | from_entries)}) | from_entries;

# per-round ratio a/b of req/s in one mode, as a spread
def ratio($rounds; $a; $b): [$rounds[] | select(.[$a] and .[$b]) | .[$a].rps / .[$b].rps]
  | spread | map_values(r3);

# per-round ratio a/b of CPU time per request
def cpuratio($rounds; $a; $b): [$rounds[] | select(.[$a] and .[$b])
  | .[$a].cpu_us_per_req / .[$b].cpu_us_per_req] | spread | map_values(r3);

def table($runs; $rounds; $variants):
  [$variants[] as $v | ($runs | map(select(.variant == $v))) as $r | {
    variant: $v,
    rps: ($r | map(.rps) | spread),
    p50_us: ($r | map(.p50_us) | spread | map_values(r3)),
    p99_us: ($r | map(.p99_us) | spread | map_values(r3)),
    errors: ($r | map(.socket_errors + .non2xx) | add),
    cpu_us_per_req: ($r | map(.cpu_us_per_req) | spread | map_values(r3)),
    server_cpu_us_per_req: ($r | map(.server_cpu_us_per_req) | spread | map_values(r3)),
    bpf_ns_per_run: ($r | map(.bpf_ns_per_run // empty) | spread | map_values(r3)),
    ratio_to_direct: ratio($rounds; $v; "direct")
  }];

# ------------------------------------------------------------ XDP plane --
# Rows of bench/xdp.sh: like table, with the ratio to routing (plain
# forwarding, the ceiling) and the CPU of the whole machine per request.
# xdp-floor is routing with a do-nothing XDP program where zd attaches its
# own: zd-xdp / xdp-floor is zd's own cost, zd-xdp / routing adds the veth's.
def xdp_table($runs; $rounds; $variants):
  [$variants[] as $v | ($runs | map(select(.variant == $v))) as $r | select($r | length > 0) | {
    variant: $v,
    rps: ($r | map(.rps) | spread),
    p50_us: ($r | map(.p50_us) | spread | map_values(r3)),
    p99_us: ($r | map(.p99_us) | spread | map_values(r3)),
    errors: ($r | map(.socket_errors + .non2xx) | add),
    cpu_us_per_req: ($r | map(.cpu_us_per_req) | spread | map_values(r3)),
    server_cpu_us_per_req: ($r | map(.server_cpu_us_per_req) | spread | map_values(r3)),
    machine_cpu_us_per_req: ($r | map(.machine_cpu_us_per_req) | spread | map_values(r3)),
    softirq_us_per_req: ($r | map(.softirq_us_per_req) | spread | map_values(r3)),
    xdp_ns_per_run: ($r | map(.xdp_ns_per_run // empty) | if length > 0 then spread else null end),
    ratio_to_routing: ratio($rounds; $v; "routing")
  }];

def xdp_summary:
  ($xdpwrk[0] // []) as $runs
  | ($xdpmeta[0] // {}) as $meta
  | ($runs | by_round) as $xr
  | ($meta.variants // ["routing", "xdp-floor", "zd-xdp", "dnat", "proxy"]) as $variants
  | ($meta.unavailable // {}) as $unavailable
  | {close: xdp_table($runs | map(select(.mode == "close")); ($xr.close // {}); $variants),
     keepalive: xdp_table($runs | map(select(.mode == "keepalive")); ($xr.keepalive // {}); $variants)}
    as $tables
  | (["close", "keepalive"] | map(. as $m | {key: $m, value:
      (["routing", "xdp-floor", "dnat", "proxy"] | map({key: ., value: ratio(($xr[$m] // {}); "zd-xdp"; .)})
       | from_entries)}) | from_entries) as $vs
  | (["close", "keepalive"] | map(. as $m | {key: $m, value:
      (["routing", "xdp-floor", "dnat", "proxy"] | map({key: ., value: cpuratio(($xr[$m] // {}); .; "zd-xdp")})
       | from_entries)}) | from_entries) as $cpu
  | def ceiling($m; $other): ratio(($xr[$m] // {}); "routing"; $other).median;
    ($unavailable["zd-xdp"] // null) as $zd_missing
  | ($meta.switching // {ran: false, unavailable: ($meta.failed // "not run")}) as $sw
  | {
    failed: ($meta.failed // null),
    carried_over: ($meta.carried_over // null),
    parameters: $meta.parameters,
    topology: $meta.topology,
    ethtool: $meta.ethtool,
    variants: $variants,
    unavailable: $unavailable,
    leftovers: ($meta.leftovers // []),
    tables: $tables,
    zd_xdp_vs: ($vs + {cpu_per_request_other_over_zd_xdp: $cpu}),
    xdp_counters: ($runs | map(select(.xdp_counters) | .xdp_counters)
      | if length == 0 then null else reduce .[] as $c ({}; reduce ($c | keys[]) as $k (.; .[$k] += $c[$k])) end),
    switch_under_load: $sw,
    runs: $runs,
    targets: [
      {name: "zd-xdp / routing, short-lived (XDP plane)", want: ">= 0.95", value: $vs.close.routing.median,
       cpu: $cpu.close.routing.median},
      {name: "zd-xdp / xdp-floor, short-lived (zd's own cost on this veth)", want: ">= 0.95",
       value: $vs.close["xdp-floor"].median, cpu: $cpu.close["xdp-floor"].median, needs: "xdp-floor"},
      {name: "zd-xdp / dnat, short-lived", want: "> 1.0", value: $vs.close.dnat.median,
       ceiling: ceiling("close"; "dnat"), cpu: $cpu.close.dnat.median},
      {name: "zd-xdp / dnat, keep-alive", want: "> 1.0", value: $vs.keepalive.dnat.median,
       ceiling: ceiling("keepalive"; "dnat"), cpu: $cpu.keepalive.dnat.median},
      {name: "zd-xdp / proxy, short-lived", want: "> 1.0", value: $vs.close.proxy.median,
       ceiling: ceiling("close"; "proxy"), cpu: $cpu.close.proxy.median},
      {name: "zd-xdp / proxy, keep-alive", want: "> 1.0", value: $vs.keepalive.proxy.median,
       ceiling: ceiling("keepalive"; "proxy"), cpu: $cpu.keepalive.proxy.median},
      {name: "failed requests under switching (XDP plane)", want: "0 (with >= 1000 switches)",
       value: (if $sw.ran then $sw.failed else null end), switches: $sw.switches}
    ] | map(if .value == null then . + {unavailable: ($zd_missing // (if .needs then $unavailable[.needs] else null end)
                                                   // $sw.unavailable // $meta.failed // "no runs")} else . end
            | del(.needs))
  };

def with_met: .targets |= map(. + {met: (
    if .value == null then false
    elif .name | startswith("failed") then (.value == 0 and .switches >= 1000)
    elif .want | startswith(">= ") then .value >= (.want[3:] | tonumber)
    elif .want | startswith("> ") then .value > (.want[2:] | tonumber)
    else .value < (.want[2:] | tonumber) end)});

xdp_summary as $xdp
| if $xdp_only == 1 then {
  generated: (now | todate),
  quick: ($quick == 1),
  xdp_only: true,
  machine: $machine,
  parameters: $params,
  xdp: ($xdp | del(.targets)),
  targets: $xdp.targets
} else
($wrk[0] | map(select(.phase == "main"))) as $main
| ($wrk[0] | map(select(.phase == "scale"))) as $scale_runs
| ($main | by_round) as $mr
| ($scale_runs | by_round) as $sr
| ["direct", "zd", "zd-health", "zd-canary", "nginx", "haproxy", "nftables"] as $variants
| {
  close: table($main | map(select(.mode == "close")); $mr.close; $variants),
  keepalive: table($main | map(select(.mode == "keepalive")); $mr.keepalive; $variants)
} as $tables
| {
  close: {direct: ratio($mr.close; "zd"; "direct"), nginx: ratio($mr.close; "zd"; "nginx"), haproxy: ratio($mr.close; "zd"; "haproxy"),
          nftables: ratio($mr.close; "zd"; "nftables")},
  keepalive: {direct: ratio($mr.keepalive; "zd"; "direct"), nginx: ratio($mr.keepalive; "zd"; "nginx"),
              haproxy: ratio($mr.keepalive; "zd"; "haproxy"),
              nftables: ratio($mr.keepalive; "zd"; "nftables")},
  cpu_per_request_other_over_zd: (["close", "keepalive"] | map(. as $m | {key: $m, value:
    (["direct", "nginx", "haproxy", "nftables"] | map({key: ., value: cpuratio($mr[$m]; .; "zd")})
     | from_entries)}) | from_entries)
} as $zd_vs
# zd with a health check / with a canary: against direct (the targets) and
# against plain zd in the same rounds (what the feature itself costs).
| (["close", "keepalive"] | map(. as $m | {key: $m, value:
    (["zd-health", "zd-canary"] | map(. as $v | {key: $v, value: {
      over_direct: ratio($mr[$m]; $v; "direct"),
      over_zd: ratio($mr[$m]; $v; "zd"),
      cpu_direct_over_it: cpuratio($mr[$m]; "direct"; $v),
      cpu_it_over_zd: cpuratio($mr[$m]; $v; "zd")}}) | from_entries)}) | from_entries) as $features
| (["close", "keepalive"] | map({key: ., value: (. as $m | {
    one_domain_zd_over_direct: ratio($mr[$m]; "zd"; "direct"),
    many_domains_zd_over_direct: ratio($sr[$m]; "zd"; "direct"),
    many_domains: table($scale_runs | map(select(.mode == $m)); $sr[$m]; ["direct", "zd"])
  } | .normalized = ((.many_domains_zd_over_direct.median / .one_domain_zd_over_direct.median) | r3))})
  | from_entries) as $scale_cmp
| def memsum: map(.bytes_memlock) | add;
{
  generated: (now | todate),
  runs: $wrk[0],
  quick: ($quick == 1),
  machine: $machine,
  parameters: $params,
  variants: $tables,
  zd_vs: $zd_vs,
  features: ($features + {health: $extras[0].health, canary: $extras[0].canary}),
  switch_under_load: ($sul[0] + {loadgen: $sulload[0], switch_cli: $sulcli[0]}),
  switch_latency: {
    one_domain: {cli: $lat1cli[0], map: $lat1map[0]},
    many_domains: {cli: $lat2cli[0], map: $lat2map[0]}
  },
  scale: {
    populate: $scale[0],
    domains: ($scale[0].domains + 1),
    compare: $scale_cmp,
    map_memory: {one_domain: $mem1, many_domains: $mem2,
                 one_domain_total_bytes: ($mem1 | memsum), many_domains_total_bytes: ($mem2 | memsum)}
  },
  bpf_run_time: {
    main: {runs: ($s1.run_cnt - $s0.run_cnt),
           avg_ns: (if $s1.run_cnt > $s0.run_cnt then (($s1.run_time_ns - $s0.run_time_ns) / ($s1.run_cnt - $s0.run_cnt) | r3) else null end)},
    many_domains: {runs: ($s3.run_cnt - $s2.run_cnt),
           avg_ns: (if $s3.run_cnt > $s2.run_cnt then (($s3.run_time_ns - $s2.run_time_ns) / ($s3.run_cnt - $s2.run_cnt) | r3) else null end)}
  }
}
| . as $all
| .targets = [
  {name: "zd / direct, short-lived", want: ">= 0.98", value: ($tables.close[1].ratio_to_direct.median),
   cpu: $zd_vs.cpu_per_request_other_over_zd.close.direct.median},
  {name: "zd / direct, keep-alive", want: ">= 0.98", value: ($tables.keepalive[1].ratio_to_direct.median),
   cpu: $zd_vs.cpu_per_request_other_over_zd.keepalive.direct.median},
  {name: "zd-health / direct, short-lived", want: ">= 0.98", value: $features.close["zd-health"].over_direct.median,
   cpu: $features.close["zd-health"].cpu_direct_over_it.median},
  {name: "zd-health / direct, keep-alive", want: ">= 0.98", value: $features.keepalive["zd-health"].over_direct.median,
   cpu: $features.keepalive["zd-health"].cpu_direct_over_it.median},
  {name: "zd-canary / direct, short-lived", want: ">= 0.98", value: $features.close["zd-canary"].over_direct.median,
   cpu: $features.close["zd-canary"].cpu_direct_over_it.median},
  {name: "zd-canary / direct, keep-alive", want: ">= 0.98", value: $features.keepalive["zd-canary"].over_direct.median,
   cpu: $features.keepalive["zd-canary"].cpu_direct_over_it.median},
  {name: "zd / nginx, short-lived", want: ">= 1.3", value: $zd_vs.close.nginx.median,
   ceiling: ratio($mr.close; "direct"; "nginx").median,
   cpu: $zd_vs.cpu_per_request_other_over_zd.close.nginx.median},
  {name: "zd / HAProxy, short-lived", want: ">= 1.3", value: $zd_vs.close.haproxy.median,
   ceiling: ratio($mr.close; "direct"; "haproxy").median,
   cpu: $zd_vs.cpu_per_request_other_over_zd.close.haproxy.median},
  {name: "zd / nginx, keep-alive", want: ">= 2", value: $zd_vs.keepalive.nginx.median,
   ceiling: ratio($mr.keepalive; "direct"; "nginx").median,
   cpu: $zd_vs.cpu_per_request_other_over_zd.keepalive.nginx.median},
  {name: "zd / HAProxy, keep-alive", want: ">= 2", value: $zd_vs.keepalive.haproxy.median,
   ceiling: ratio($mr.keepalive; "direct"; "haproxy").median,
   cpu: $zd_vs.cpu_per_request_other_over_zd.keepalive.haproxy.median},
  {name: "failed requests under switching", want: "0 (with >= 1000 switches)",
   value: $all.switch_under_load.failed, switches: $all.switch_under_load.switches},
  {name: "zdctl switch p99 (us)", want: "< 10000", value: $all.switch_latency.one_domain.cli.wall.p99_us},
  {name: "map update p99 (us)", want: "< 50", value: $all.switch_latency.one_domain.map.map_update.p99_us},
  {name: "10k domains / 1 domain, conn/s", want: ">= 0.97", value: $scale_cmp.close.normalized}
] + $xdp.targets
| .xdp = ($xdp | del(.targets))
end
| with_met
