#!/usr/bin/env bash
# The crash-point sweep: every mutating zdctl command is killed (SIGKILL,
# injected by strace) at each of its unlink, rename, mkdir and rmdir calls
# and each of its bpf calls that write (see kill_points) in turn, then the
# next zdctl runs. The state it finds must be
# exactly the state before the command or exactly the state after it: the
# raw maps, pins, attached links and leftovers (zd-state-dump), what
# `status --json` says, and where new connections go.
#
# Usage: tests/crash/sweep.sh [--quick] [--race] [--shard K/N] BUILD_DIR
#   --quick  the common commands only (ctest runs this: about a minute)
#   --race   a second zdctl takes the lock the moment the first is killed
#   --shard  only every Nth command, from the Kth (1-based): N sweeps side by
#            side, each in a namespace of its own, share the commands out
# Root only; runs in a private network + mount namespace with its own bpffs.
set -euo pipefail

quick=0 race=0 shard=1/1
while [[ ${1:-} == --* ]]; do
  case $1 in
  --quick) quick=1 ;;
  --race) race=1 ;;
  --shard)
    shard=${2:-}
    shift
    ;;
  *) echo "sweep.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
build=$(cd "${1:?usage: sweep.sh [--quick] [--race] [--shard K/N] BUILD_DIR}" && pwd)
shard_k=${shard%/*} shard_n=${shard#*/}
[[ $shard_k =~ ^[0-9]+$ && $shard_n =~ ^[0-9]+$ ]] && ((shard_k >= 1 && shard_k <= shard_n)) ||
  { echo "sweep.sh: --shard wants K/N with 1 <= K <= N, not '$shard'" >&2; exit 2; }
# A missing tool would make every before and after the same empty text.
for tool in user/zdctl tests/zd-echo tests/zd-state-dump tests/zd-reshape tests/zd-stage; do
  [[ -x $build/$tool ]] || { echo "sweep.sh: $build/$tool is not built" >&2; exit 1; }
done

if [[ -z ${ZD_SWEEP_INNER:-} ]]; then
  ((EUID == 0)) || { echo "sweep.sh: needs root (skipped)"; exit 77; }
  command -v strace >/dev/null || { echo "sweep.sh: strace is missing" >&2; exit 1; }
  export ZD_SWEEP_INNER=1
  exec unshare -n -m -- "$0" $( ((quick)) && echo --quick) $( ((race)) && echo --race) \
    --shard "$shard" "$build"
fi

mount --make-rprivate /
work=$(mktemp -d /tmp/zd-sweep.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  umount -l "$work/bpf" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/bpf"
mount -t bpf bpf "$work/bpf"
ip link set lo up
ip route add local 10.99.0.0/24 dev lo
ip route add local 10.99.1.0/24 dev lo
# Interfaces for the XDP plane: the stage steers at zdsweep0.
for i in 0 1; do
  ip link add "zdsweep$i" type veth peer name "zdsweep$i-p"
  ip link set "zdsweep$i" up
done

state=$work/bpf/zd
zdctl() { "$build/user/zdctl" --state "$state" "$@"; }

# Two containers for the XDP plane's workspaces: a namespace each, behind a
# veth (ip netns keeps its names on a tmpfs of this mount namespace).
mkdir -p /run/netns
mount -t tmpfs tmpfs /run/netns
for ct in ct1 ct2; do
  ip netns add "$ct"
  ip link add "zdsw-$ct" type veth peer name eth0 netns "$ct"
  ip link set "zdsw-$ct" up
  ip -n "$ct" link set eth0 up
  ip -n "$ct" link set lo up
done

for ws in blue:3001 green:3002 red:3003 cyan:ct1 teal:ct2; do
  name=${ws%:*} where=${ws#*:}
  if [[ $where == ct* ]]; then
    nsenter --net="/run/netns/$where" "$build/tests/zd-echo" "$name" 0.0.0.0:8080 >"$work/$name.out" &
  else
    "$build/tests/zd-echo" "$name" "127.0.0.1:$where" >"$work/$name.out" &
  fi
  pids+=($!)
  eval "${name}_pid=$!"
  disown # no "Killed" notice at cleanup
done
for ws in blue green red cyan teal; do
  for _ in $(seq 100); do grep -q ready "$work/$ws.out" && break; sleep 0.02; done
  grep -q ready "$work/$ws.out" || { echo "sweep.sh: zd-echo $ws never became ready" >&2; exit 1; }
done

# The stage every case starts from: shop (an address and a prefix) switched
# blue then green, idle switched to cyan (a container) and checked by tcp,
# red and teal (a container) running but not registered. zd-stage makes it
# in one process, through the calls zdctl makes (tests/support/stage.cpp);
# "bare" only detaches.
stage() { "$build/tests/zd-stage" "$state" "$blue_pid" "$green_pid" "$cyan_pid" ${1:+"$1"}; }

# status --json as one line, without what moves on its own: an accept
# queue's length is the app's, not zd's (a checked switch's probe may still
# wait there, unaccepted, when its zdctl is killed), and a health verdict's
# "since" is a time. The racing zdctl's status is read through it too.
masked() { sed -zE 's/[ \n]//g; s/"waiting":[0-9]+/"waiting":_/g; s/"since":"[^"]*"/"since":_/g'; }

# Everything compared, as the next zdctl finds it (status runs first: it is
# the next command, and finishes or undoes what a killed one left): the
# state as zdctl shows it, as the kernel holds it, and as new connections
# find it; and what zd put in the containers: links, XDP, routes and the
# veths' setting. Few processes: this runs at every kill point.
observe() {
  echo "status: $(zdctl status --json 2>/dev/null | masked)"
  "$build/tests/zd-state-dump" "$state" --probe 10.99.0.1:80 --probe 10.99.1.7:80 \
    --netns /run/netns/ct1 --netns /run/netns/ct2
  local routes setting
  for ct in ct1 ct2; do
    routes="$(ip -n "$ct" route show table local proto 122);$(ip -n "$ct" -6 route show table local proto 122)"
    read -r setting <"/proc/sys/net/ipv4/conf/zdsw-$ct/accept_local"
    echo "$ct routes: ${routes//$'\n'/;}; zdsw-$ct accept_local: $setting"
  done
}

# An upgrade across layouts starts from the stage as a zdctl of layout 2 left
# it (8-byte routes: tests/support/reshape.hpp). Every command but upgrade
# refuses a state of another layout and says to run upgrade, so the next
# zdctl is upgrade. What a kill leaves is looked at twice: at once (where new
# connections go, what status says), then after that next upgrade. (A racing
# status is only refused here, so --race compares nothing for this case.)
from_layout2="upgrade from layout 2"
observe_next() {
  if [[ $case == "$from_layout2" ]]; then
    # zd-state-dump's last line: where a new connection goes.
    local dump
    dump=$("$build/tests/zd-state-dump" "$state" --probe 10.99.0.1:80)
    echo "at once: ${dump##*$'\n'};" "status: $(zdctl status --json 2>&1 | masked)"
    zdctl upgrade >/dev/null 2>&1 || echo "the next upgrade failed"
  fi
  observe
}
# Ending a canary needs one: that case starts from the stage with a canary.
# On shop (which observe() probes) a canary takes 100%: with less, which
# workspace one probe reaches depends on its source port, not on the state.
abort_canary="canary shop --abort"
# Removing a health check needs one to remove; likewise a preference.
uncheck="workspace set green --no-check"
unprefer="domain set shop --no-prefer-local"
setup() {
  stage "$@"
  [[ $case != "$from_layout2" ]] || "$build/tests/zd-reshape" "$state" 2 8
  [[ $case != "$abort_canary" ]] || zdctl canary shop blue --weight 100 >/dev/null
  [[ $case != "$uncheck" ]] || zdctl workspace set green --check tcp >/dev/null
  [[ $case != "$unprefer" ]] || zdctl domain set shop --prefer-local >/dev/null
}

# An apply of several domains in one change: two added (one routed), shop
# switched back to blue with a canary, idle's check gone, a workspace
# checked, and (--prune) nothing else removed.
cat >"$work/desired.json" <<'JSON'
{"domains": {
  "shop": {"listen": ["tcp://10.99.0.1:80", "tcp://10.99.1.0/24:80"], "active": "blue",
           "canary": {"workspace": "green", "weight": 100}},
  "idle": {"listen": ["tcp://10.99.0.2:80"], "active": "cyan"},
  "more": {"listen": ["tcp://10.99.0.9:80"], "active": "green"},
  "most": {"listen": ["tcp://10.99.0.10:80", "tcp://10.99.2.0/24:80"]}},
 "workspaces": {"blue": {"check": {"check": "tcp"}}}}
JSON
cases=(
  "apply APPLY --prune --no-check"
  "domain add new --listen tcp://10.99.0.9:80 --listen tcp://10.99.1.0/25:81"
  "domain rm shop"
  "workspace add red --pid RED --socket tcp://127.0.0.1:3003"
  "workspace rm green --force"
  "switch shop blue"
  "detach"
  "attach --xdp zdsweep1"
  "switch shop cyan"
)
((quick)) || cases+=("attach --xdp zdsweep0" "revert shop" "revert shop --to 1" "workspace rm blue" "domain rm idle"
  "upgrade --force" "workspace add teal --pid TEAL --socket tcp://0.0.0.0:8080"
  "workspace rm cyan --force" "domain set shop --check /healthz" "domain set idle --no-check"
  "switch shop blue --check tcp" "$from_layout2" "canary shop blue --weight 100"
  "canary idle blue --weight 50" "$abort_canary"
  "workspace set blue --check /healthz --check-interval 1s --fall 2" "$uncheck"
  "canary shop blue --weight 100 --promote-after 5m" "canary shop blue --weight 100 --no-revert-on-failure"
  "domain set shop --prefer-local" "$unprefer")
syscalls=(bpf unlink rename mkdir rmdir)

# kill_points CALL: the call numbers to kill the command at, into `numbers`;
# empty means every one in turn until the command runs to its end. Every
# unlink, rename, mkdir and rmdir changes the state; most bpf calls only read
# it (opening pins, lookups, info). A kill at a call that only reads leaves
# exactly what a kill at the next call that writes leaves, since the kill
# comes before the call runs: so only the bpf calls that write are killed at.
# Their numbers come from the traced run that made `after`, from the same
# stage; a command traced in more than one process keeps every number
# (strace counts calls per process).
bpf_writes='BPF_MAP_(UPDATE|DELETE|LOOKUP_AND_DELETE)_(ELEM|BATCH)|BPF_MAP_FREEZE|BPF_OBJ_PIN'
bpf_writes+='|BPF_PROG_(ATTACH|DETACH)|BPF_LINK_(CREATE|UPDATE|DETACH)'
kill_points() {
  numbers=()
  [[ $1 == bpf ]] || return 0
  (($(cut -d' ' -f1 "$work/trace" | sort -u | wc -l) == 1)) || return 0
  mapfile -t numbers < <(sed -E 's/^[0-9]+ +//' "$work/trace" | grep '^bpf(' |
    grep -nE "^bpf\(($bpf_writes)," | cut -d: -f1)
  # Nothing written through bpf: still one kill, at the first call.
  ((${#numbers[@]} > 0)) || numbers=(1)
}

failures=0 points=0 swept=0 index=0
started=$SECONDS
for case in "${cases[@]}"; do
  index=$((index + 1))
  (((index - shard_k) % shard_n == 0)) || continue
  [[ -z ${ZD_SWEEP_ONLY:-} || $case == "$ZD_SWEEP_ONLY"* ]] || continue # for trying one out
  case=${case//RED/$red_pid}
  case=${case//APPLY/$work/desired.json}
  read -ra args <<<"${case//TEAL/$teal_pid}"
  [[ $case != "$from_layout2" ]] || args=(upgrade)
  swept=$((swept + 1))
  bare=""
  [[ $case == "attach --xdp zdsweep0" ]] && bare=bare
  setup $bare
  before=$(observe_next)
  setup $bare
  strace -f -qq -o "$work/trace" -e trace=bpf "$build/user/zdctl" --state "$state" "${args[@]}" \
    >/dev/null 2>&1 || { echo "sweep.sh: '$case' fails on its own" >&2; exit 1; }
  after=$(observe_next)
  [[ $before != "$after" || $case == "upgrade --force" ]] ||
    { echo "sweep.sh: '$case' changes nothing observable" >&2; exit 1; }
  # The index of routes is compared by its pairs: that they are the routes'
  # own is checked here, once for each end (a kill point that lands on
  # either is then right too).
  for end in "$before" "$after"; do
    if grep -q '^route index: .*\(not built\|NOT\)' <<<"$end"; then
      echo "sweep.sh: '$case': $(grep '^route index' <<<"$end")" >&2
      exit 1
    fi
  done
  for call in "${syscalls[@]}"; do
    kill_points "$call"
    for ((i = 0; i < 500; i++)); do
      if ((${#numbers[@]})); then
        ((i < ${#numbers[@]})) || break
        n=${numbers[i]}
      else
        n=$((i + 1))
      fi
      setup $bare
      rc=0
      # In a subshell, so bash's "Killed" notice goes nowhere.
      rc=$(
        exec 2>/dev/null
        strace -f -qq -o /dev/null -e trace="$call" -e inject="$call":signal=KILL:when=$n \
          "$build/user/zdctl" --state "$state" "${args[@]}" >/dev/null &
        victim=$!
        # The racer asks for the lock while the victim holds it, and gets it
        # the moment the victim is killed.
        ((race)) && { "$build/user/zdctl" --state "$state" status --json >"$work/racer" & }
        code=0
        wait "$victim" || code=$?
        wait
        echo "$code"
      )
      if ((rc != 137)); then
        # It ran to its end: no call number n. Every traced number must kill.
        ((${#numbers[@]} == 0)) && break
        failures=$((failures + 1))
        echo "FAIL: '$case' ran to its end although its traced run made bpf call #$n"
        break
      fi
      points=$((points + 1))
      if ((race)) && [[ $case != "$from_layout2" ]]; then
        seen="status: $(masked <"$work/racer")"
        if ! grep -qxF -- "$seen" <<<"$before"$'\n'"$after"; then
          failures=$((failures + 1))
          echo "FAIL: '$case' killed at $call #$n: the racing zdctl saw neither before nor after"
        fi
      fi
      now=$(observe_next)
      if [[ $now != "$before" && $now != "$after" ]]; then
        failures=$((failures + 1))
        echo "FAIL: '$case' killed at $call #$n left a state neither before nor after:"
        { diff <(echo "$before") <(echo "$now") || true; } | head -20 | sed 's/^/  before: /'
        { diff <(echo "$after") <(echo "$now") || true; } | head -20 | sed 's/^/  after:  /'
      fi
    done
  done
done
echo "sweep.sh: $swept commands, $points kill points, $failures neither before nor after" \
  "($((SECONDS - started)) s$( ((race)) && echo ', with a racing zdctl')$( ((shard_n > 1)) && echo ", shard $shard"))"
((failures == 0))
