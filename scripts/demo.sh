#!/usr/bin/env bash
# zd, the whole story, for real: two workspaces (blue and green) serve the
# domain "shop" (10.99.0.1:80 and [fd00:99::1]:80); new connections follow
# each switch while an established connection stays where it is.
#
# Everything runs in a private network + mount namespace with a private bpffs:
# the host's network and /sys/fs/bpf are never touched. Needs root.
# Exit status: 0 only if no connection failed and every step did what it should.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if [[ ${ZD_DEMO_IN_NAMESPACE:-} != 1 ]]; then
  if ((EUID != 0)); then
    echo "demo.sh: needs root (it loads a BPF program in a private network namespace)" >&2
    exit 1
  fi
  scripts/deps.sh
  echo "== building zdctl and zd-echo in build/"
  cmake -S . -B build >/dev/null
  if ! cmake --build build -j2 --target zdctl zd-echo >build/demo-build.log 2>&1; then
    cat build/demo-build.log >&2
    exit 1
  fi
  # A new network and mount namespace: the rest cannot touch the host.
  exec unshare --net --mount -- env ZD_DEMO_IN_NAMESPACE=1 bash "$repo/scripts/demo.sh" "$@"
fi

# ---------------------------------------------------------------------------
# From here on we are inside the private namespaces.

readonly N=50       # connections per batch
readonly LOAD_N=300 # connections while switching back and forth
readonly ZDCTL="$repo/build/user/zdctl"
readonly ECHO="$repo/build/tests/zd-echo"
readonly V4=10.99.0.1 V6=fd00:99::1

work=$(mktemp -d /tmp/zd-demo-XXXXXX)
bpffs=$work/bpffs
state=$bpffs/zd
pids=()

cleanup() {
  local pid
  trap '' INT TERM # a second Ctrl-C must not cut the cleanup short
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  exec 5>&- 6>&- 2>/dev/null || true
  umount "$bpffs" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

total=0  # connections attempted
failed=0 # connections without the expected answer
problems=0
declare -A served=()

step() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }
problem() {
  printf '   !! %s\n' "$*"
  problems=$((problems + 1))
}

# Runs zdctl against the demo's private state and shows the command.
zdctl() {
  printf '$ zdctl %s\n' "$*"
  "$ZDCTL" --state "$state" "$@" 2>&1 | sed 's/^/  /'
  return "${PIPESTATUS[0]}"
}

# zdctl commands that must be refused (exit 1, one error line).
zdctl_refused() {
  if zdctl "$@"; then
    problem "zdctl $* succeeded but should have been refused"
  else
    say "(refused, as it should be; nothing changed)"
  fi
}

# One new connection: reads the greeting (the workspace's name), sends a
# line and checks the echo. Prints the workspace name; fails otherwise.
probe() {
  local addr=$1 greeting reply
  (
    exec 3<>"/dev/tcp/$addr/80" || exit 1
    read -r -t 2 greeting <&3 || exit 1
    printf 'hello\n' >&3
    read -r -t 2 reply <&3 || exit 1
    [[ $reply == "$greeting:hello" ]] || exit 1
    printf '%s\n' "$greeting"
  ) 2>/dev/null
}

# batch COUNT EXPECTED: COUNT new connections, alternating IPv4 and IPv6;
# every one must be answered by workspace EXPECTED.
batch() {
  local count=$1 expected=$2 i addr ws
  local -A got=()
  for ((i = 0; i < count; i++)); do
    ((i % 2)) && addr=$V6 || addr=$V4
    ws=$(probe "$addr") || ws=FAILED
    got[$ws]=$((${got[$ws]:-0} + 1))
    total=$((total + 1))
    if [[ $ws == FAILED || $ws != "$expected" ]]; then
      failed=$((failed + 1))
    else
      served[$ws]=$((${served[$ws]:-0} + 1))
    fi
  done
  local line=""
  for ws in "${!got[@]}"; do
    line+=" $ws=${got[$ws]}"
  done
  say "$count new connections ($((count - count / 2)) to $V4:80, $((count / 2)) to [$V6]:80):$line"
  if [[ ${got[$expected]:-0} != "$count" ]]; then
    problem "expected all $count on $expected"
  fi
}

# The long-lived connections opened before the first switch (fd 5: IPv4,
# fd 6: IPv6) must still be answered by the workspace that accepted them.
check_long_lived() {
  local expected=$1 fd reply
  for fd in 5 6; do
    total=$((total + 1))
    reply=""
    if printf 'still-there\n' >&"$fd" 2>/dev/null && read -r -t 2 reply <&"$fd"; then :; fi
    if [[ $reply == "$expected:still-there" ]]; then
      say "long-lived connection (fd $fd) answers: $reply"
      served[$expected]=$((${served[$expected]:-0} + 1))
    else
      failed=$((failed + 1))
      problem "long-lived connection (fd $fd) answered '${reply}', expected '$expected:still-there'"
    fi
  done
}

# Waits (bounded) until FILE contains "ready".
wait_ready() {
  local file=$1 i
  for ((i = 0; i < 100; i++)); do
    grep -qx ready "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "demo.sh: workspace did not become ready ($file)" >&2
  exit 1
}

start=$SECONDS

step "1. A private network + mount namespace (nothing here reaches the host)"
mount --make-rprivate /
mkdir -p "$bpffs"
mount -t bpf bpf "$bpffs"
ip link set lo up
ip route add local 10.99.0.0/24 dev lo
ip -6 route add local fd00:99::/64 dev lo
say "lo up; 10.99.0.0/24 and fd00:99::/64 routed 'local' on lo (nothing listens there)"
say "bpffs mounted on $bpffs; every zdctl below runs with --state $state"

step "2. Two workspaces: two real servers, each on its own loopback port"
"$ECHO" blue 127.0.0.1:3001 '[::1]:3001' >"$work/blue.out" &
blue_pid=$!
pids+=("$blue_pid")
"$ECHO" green 127.0.0.1:3002 '[::1]:3002' >"$work/green.out" &
green_pid=$!
pids+=("$green_pid")
wait_ready "$work/blue.out"
wait_ready "$work/green.out"
say "blue:  pid $blue_pid, listening on 127.0.0.1:3001 and [::1]:3001"
say "green: pid $green_pid, listening on 127.0.0.1:3002 and [::1]:3002"
say "(zd-echo greets each connection with its name and echoes lines as NAME:line)"

step "3. Attach zd and describe the domain and the workspaces"
zdctl attach
zdctl domain add shop --listen tcp://$V4:80 --listen "tcp://[$V6]:80"
zdctl workspace add blue --pid "$blue_pid" --socket tcp://127.0.0.1:3001 --socket 'tcp://[::1]:3001'
zdctl workspace add green --pid "$green_pid" --socket tcp://127.0.0.1:3002 --socket 'tcp://[::1]:3002'

step "4. Put blue in production"
zdctl switch shop blue
batch "$N" blue

step "5. Open two long-lived connections (they stay open to the end)"
if ! exec 5<>"/dev/tcp/$V4/80" 6<>"/dev/tcp/$V6/80"; then
  echo "demo.sh: could not open the long-lived connections" >&2
  exit 1
fi
read -r -t 2 greet5 <&5 || greet5=""
read -r -t 2 greet6 <&6 || greet6=""
say "fd 5 -> $V4:80 accepted by: ${greet5:-nothing}"
say "fd 6 -> [$V6]:80 accepted by: ${greet6:-nothing}"
[[ $greet5 == blue && $greet6 == blue ]] || problem "long-lived connections should be on blue"

step "6. Release green: one map update"
zdctl switch shop green
batch "$N" green
check_long_lived blue

step "7. Status"
zdctl status

step "8. Something is wrong with green? Revert"
zdctl revert shop
batch "$N" blue
check_long_lived blue

step "9. Switch back and forth under load ($LOAD_N connections, nothing lost)"
(
  for ((i = 0; i < LOAD_N; i++)); do
    ((i % 2)) && addr=$V6 || addr=$V4
    probe "$addr" || echo FAILED
  done
) >"$work/load.txt" &
load_pid=$!
pids+=("$load_pid")
flips=0
while kill -0 "$load_pid" 2>/dev/null && ((flips < 1000)); do
  ((flips % 2)) && target=blue || target=green
  "$ZDCTL" --state "$state" switch shop "$target" >/dev/null
  flips=$((flips + 1))
done
wait "$load_pid"
load_blue=$(grep -cx blue "$work/load.txt" || true)
load_green=$(grep -cx green "$work/load.txt" || true)
load_failed=$((LOAD_N - load_blue - load_green))
total=$((total + LOAD_N))
failed=$((failed + load_failed))
served[blue]=$((${served[blue]:-0} + load_blue))
served[green]=$((${served[green]:-0} + load_green))
say "ran 'zdctl switch shop blue|green' $flips times while $LOAD_N connections were made"
say "answered: blue=$load_blue green=$load_green failed=$load_failed"
((load_failed == 0)) || problem "$load_failed connections failed during the switches"
((load_blue > 0 && load_green > 0)) || say "(all on one side: the switches were faster than the connections)"
check_long_lived blue

step "10. Green goes live, then its process dies: new connections fall back to blue"
"$ZDCTL" --state "$state" switch shop blue >/dev/null # a known starting point
zdctl switch shop green
printf '$ kill %s   # green crashes\n' "$green_pid"
kill "$green_pid"
wait "$green_pid" 2>/dev/null || true
# The kernel drops a closed socket from the map by itself; wait for that.
for ((i = 0; i < 100; i++)); do
  "$ZDCTL" --state "$state" status | grep -q DEAD && break
  sleep 0.05
done
batch "$N" blue
say "(green is active but has no live socket: blue, the previous workspace, takes them)"
zdctl status
zdctl revert shop
zdctl_refused switch shop green
zdctl workspace rm green

step "11. Detach zd: established connections do not notice"
zdctl detach
check_long_lived blue
if probe "$V4" >/dev/null; then
  problem "a new connection to $V4:80 was answered after detach"
else
  say "a new connection to $V4:80 is refused: nothing listens there without zd (expected)"
fi

step "Summary"
say "connections made:   $total (new ones + exchanges on the long-lived ones)"
say "answered by blue:   ${served[blue]:-0}"
say "answered by green:  ${served[green]:-0}"
say "FAILED connections: $failed"
say "switches under load: $flips"
say "time after build:   $((SECONDS - start)) s"
if ((failed != 0 || problems != 0)); then
  say "RESULT: FAIL ($failed failed connections, $problems problems)"
  exit 1
fi
say "RESULT: OK"
