#!/usr/bin/env bash
# zd, the whole story, for real: two workspaces (blue and green) serve the
# domain "shop" (10.99.0.1:80 and [fd00:99::1]:80); new connections follow
# each switch while an established connection stays where it is. Then the
# same with two containers (red and yellow, each in a network namespace of
# its own) serving "store" through zd's XDP plane on a host's ingress veth.
#
# Everything runs in a private network + mount namespace with a private bpffs:
# the host's network and /sys/fs/bpf are never touched. Needs root.
# `zdctl serve` shows it all on the Domains page, whose URL is printed early;
# --keep (or ZD_DEMO_KEEP=1) keeps it open at the end, until Ctrl-C.
# Exit status: 0 only if no connection failed and every step did what it should.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

keep=${ZD_DEMO_KEEP:-0}
cluster=0
for arg in "$@"; do
  case $arg in
  --keep) keep=1 ;;
  --cluster) cluster=1 ;;
  -h | --help)
    echo "usage: scripts/demo.sh [--keep | --cluster]"
    echo "  --keep (or ZD_DEMO_KEEP=1): at the end, keep the Domains page, zd and the"
    echo "         workspaces running until Ctrl-C"
    echo "  --cluster: the many-host story instead: etcd and three hosts (network"
    echo "         namespaces), one switch seen everywhere, a host's agent killed and back;"
    echo "         then blue on one host, green on another, traffic entering at a third,"
    echo "         a switch between hosts and a host lost"
    exit 0
    ;;
  *)
    echo "demo.sh: unknown argument '$arg' (scripts/demo.sh --help)" >&2
    exit 2
    ;;
  esac
done

if [[ ${ZD_DEMO_IN_NAMESPACE:-} != 1 ]]; then
  if ((EUID != 0)); then
    echo "demo.sh: needs root (it loads a BPF program in a private network namespace)" >&2
    exit 1
  fi
  scripts/deps.sh
  echo "== building zdctl and zd-echo in build/"
  cmake -S . -B build >/dev/null
  if ! cmake --build build -j2 --target zdctl zd-echo zd-client >build/demo-build.log 2>&1; then
    cat build/demo-build.log >&2
    exit 1
  fi
  # The cluster's story is two scripts of its own (each runs its own
  # namespaces): the hosts releasing as one, then workspaces on other hosts.
  if ((cluster)); then
    "$repo/scripts/demo_cluster.sh" "$repo/build"
    exec "$repo/scripts/demo_forward.sh" "$repo/build"
  fi
  # A new network and mount namespace: the rest cannot touch the host. The
  # host's network namespace goes along as an open fd, for the one port that
  # leads a browser on this machine to the page (see step 4).
  exec {host_netns}</proc/self/ns/net
  exec unshare --net --mount -- env ZD_DEMO_IN_NAMESPACE=1 ZD_DEMO_HOST_NETNS_FD="$host_netns" \
    ZD_DEMO_KEEP="$keep" bash "$repo/scripts/demo.sh"
fi

# ---------------------------------------------------------------------------
# From here on we are inside the private namespaces.

readonly N=50       # connections per batch
readonly LOAD_N=300 # connections while switching back and forth
readonly ZDCTL="$repo/build/user/zdctl"
readonly ECHO="$repo/build/tests/zd-echo"
readonly V4=10.99.0.1 V6=fd00:99::1
readonly STORE4=10.98.0.1 STORE6=fd00:98::1 # the containers' domain

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
  exec 5>&- 6>&- 7>&- 8>&- 2>/dev/null || true
  umount "$bpffs" 2>/dev/null || true
  umount /run/netns 2>/dev/null || true
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

# One HTTP request to the api domain (port 8080) on HOST, on a new
# connection: prints the body, the name of the workspace that answered.
http_get() {
  local host=$1 line got=""
  if exec 9<>"/dev/tcp/$host/8080"; then
    printf 'GET / HTTP/1.1\r\nHost: api\r\n\r\n' >&9
    while read -r -t 2 line <&9 && [[ $line != $'\r' ]]; do :; done
    read -r -t 2 got <&9 || got=""
    exec 9>&-
  fi 2>/dev/null
  printf '%s\n' "$got"
}

# One HTTP request to the api domain over IPv4 and over IPv6: which
# workspace answered (the body is its name).
served_over_http() {
  local want=$1 host got
  for host in "$V4" "$V6"; do
    total=$((total + 1))
    got=$(http_get "$host")
    if [[ $got == "$want" ]]; then
      served[$want]=$((${served[$want]:-0} + 1))
    else
      failed=$((failed + 1))
      problem "GET http://$host:8080/ was answered by '${got:-nothing}', not $want"
    fi
  done
  say "GET / on $V4:8080 and [$V6]:8080: answered by $want"
}

# wait_http_by WORKSPACE SECONDS: new HTTP connections to the api domain
# until WORKSPACE answers one, for at most SECONDS. Sets `waited` (seconds,
# to the tenth) and fails if the time ran out.
wait_http_by() {
  local want=$1 limit=$2 t0=${EPOCHREALTIME/./} now
  while :; do
    now=${EPOCHREALTIME/./}
    waited=$(((now - t0) / 1000000)).$((((now - t0) / 100000) % 10))
    [[ $(http_get "$V4") == "$want" ]] && return 0
    ((now - t0 < limit * 1000000)) || return 1
    sleep 0.05
  done
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

# batch COUNT EXPECTED [V4 V6]: COUNT new connections, alternating IPv4 and
# IPv6 (shop's addresses unless given); every one must be answered by
# workspace EXPECTED.
batch() {
  local count=$1 expected=$2 v4=${3:-$V4} v6=${4:-$V6} i addr ws
  local -A got=()
  for ((i = 0; i < count; i++)); do
    ((i % 2)) && addr=$v6 || addr=$v4
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
  say "$count new connections ($((count - count / 2)) to $v4:80, $((count / 2)) to [$v6]:80):$line"
  if [[ ${got[$expected]:-0} != "$count" ]]; then
    problem "expected all $count on $expected"
  fi
}

# The long-lived connections opened before the first switch (fd 5: IPv4,
# fd 6: IPv6; fds 7 and 8 for store) must still be answered by the
# workspace that accepted them.
check_long_lived() {
  local expected=$1 fds=${2:-5 6} fd reply
  for fd in $fds; do
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

# switch_under_load DOMAIN A B V4 V6 ZDCTL...: LOAD_N new connections
# (alternating V4 and V6) while `ZDCTL... switch DOMAIN A|B` runs over and
# over; every connection must be answered by A or B. Sets `flipped`.
switch_under_load() {
  local domain=$1 a=$2 b=$3 v4=$4 v6=$5 out=$work/load-$1.txt load_pid target
  shift 5
  (
    for ((i = 0; i < LOAD_N; i++)); do
      ((i % 2)) && addr=$v6 || addr=$v4
      probe "$addr" || echo FAILED
    done
  ) >"$out" &
  load_pid=$!
  pids+=("$load_pid")
  flipped=0
  while kill -0 "$load_pid" 2>/dev/null && ((flipped < 1000)); do
    ((flipped % 2)) && target=$a || target=$b
    "$@" switch "$domain" "$target" >/dev/null
    flipped=$((flipped + 1))
  done
  wait "$load_pid"
  local got_a got_b lost
  got_a=$(grep -cx "$a" "$out" || true)
  got_b=$(grep -cx "$b" "$out" || true)
  lost=$((LOAD_N - got_a - got_b))
  total=$((total + LOAD_N))
  failed=$((failed + lost))
  served[$a]=$((${served[$a]:-0} + got_a))
  served[$b]=$((${served[$b]:-0} + got_b))
  flips=$((flips + flipped))
  say "ran 'zdctl switch $domain $a|$b' $flipped times while $LOAD_N connections were made"
  say "answered: $a=$got_a $b=$got_b failed=$lost"
  ((lost == 0)) || problem "$lost connections failed during the switches"
  ((got_a > 0 && got_b > 0)) || say "(all on one side: the switches were faster than the connections)"
}

flips=0 # switches made under load, both stories
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

step "4. The Domains page: zdctl serve, open it while the demo runs"
# serve runs here, in the demo's namespace: its health checks probe the
# workspaces at their own sockets (127.0.0.1:3001...), which exist only here;
# from the host's namespace they would probe the host's loopback. A browser
# on this machine reaches it through one loopback port made in the host's
# namespace, and nothing of the host's configuration changes:
# systemd-socket-activate (systemd's, see scripts/deps.sh) binds
# 127.0.0.1:PORT there (a socket stays in the namespace it was made in), and
# at the first connection becomes, through nsenter into this namespace,
# systemd-socket-proxyd, which accepts on that socket and connects to serve
# from here. One process, ended with the demo (cleanup, or --pdeathsig if this
# shell is killed): the port closes with it.
printf '$ zdctl serve &\n'
# (--pdeathsig: it ends with this shell, even if the shell is killed)
setpriv --pdeathsig TERM "$ZDCTL" --state "$state" serve >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
pids+=("$serve_pid")
for ((i = 0; i < 100; i++)); do
  grep -q '^open: ' "$work/serve.out" && break
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.05
done
if ! grep -q '^open: ' "$work/serve.out"; then
  cat "$work/serve.out" "$work/serve.err" >&2
  echo "demo.sh: zdctl serve did not start" >&2
  exit 1
fi
sed 's/^/  /' "$work/serve.out"
token=$(sed -n 's/^open: .*#token=//p' "$work/serve.out")
host_netns=/proc/$$/fd/${ZD_DEMO_HOST_NETNS_FD:-none}
proxyd=""
for candidate in /usr/lib/systemd/systemd-socket-proxyd /lib/systemd/systemd-socket-proxyd; do
  [[ -x $candidate ]] && proxyd=$candidate && break
done
host_port=""
if [[ -e $host_netns && -n $proxyd ]] && command -v systemd-socket-activate >/dev/null; then
  for port in {9477..9486}; do # the first one free on the host's loopback
    setpriv --pdeathsig TERM nsenter --net="$host_netns" \
      systemd-socket-activate --listen="127.0.0.1:$port" \
      nsenter --net="/proc/$$/ns/net" "$proxyd" 127.0.0.1:9477 2>"$work/forward.err" &
    forward_pid=$!
    for ((i = 0; i < 100; i++)); do
      grep -q '^Listening on' "$work/forward.err" && break
      kill -0 "$forward_pid" 2>/dev/null || break
      sleep 0.05
    done
    if grep -q '^Listening on' "$work/forward.err"; then
      pids+=("$forward_pid")
      host_port=$port
      break
    fi
    kill "$forward_pid" 2>/dev/null || true
    wait "$forward_pid" 2>/dev/null || true
  done
fi
if [[ -n $host_port ]]; then
  url="http://127.0.0.1:$host_port/#token=$token"
  code=$(nsenter --net="$host_netns" curl -s -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$host_port/" 2>/dev/null || true)
  [[ $code == 200 ]] || problem "the page did not answer on the host's 127.0.0.1:$host_port ($code)"
  say "on the host, 127.0.0.1:$host_port leads here (the page answered $code from the host's namespace)"
  printf '\n   >>> open this while the demo runs: %s\n' "$url"
  say "    (on a remote machine: ssh -L $host_port:127.0.0.1:$host_port HOST, then the same URL;"
  say "     the demo ends in about 15 s: scripts/demo.sh --keep keeps the page open until Ctrl-C)"
else
  url="http://127.0.0.1:9477/#token=$token"
  say "no port on the host's loopback could lead here (systemd-socket-activate missing, or"
  say "127.0.0.1:9477-9486 all taken): the page answers in this namespace only, e.g."
  say "  nsenter --net=/proc/$$/ns/net curl -H 'Authorization: Bearer $token' http://127.0.0.1:9477/api/v1/status"
fi

step "5. Put blue in production"
zdctl switch shop blue
batch "$N" blue

step "6. Open two long-lived connections (they stay open to the end)"
if ! exec 5<>"/dev/tcp/$V4/80" 6<>"/dev/tcp/$V6/80"; then
  echo "demo.sh: could not open the long-lived connections" >&2
  exit 1
fi
read -r -t 2 greet5 <&5 || greet5=""
read -r -t 2 greet6 <&6 || greet6=""
say "fd 5 -> $V4:80 accepted by: ${greet5:-nothing}"
say "fd 6 -> [$V6]:80 accepted by: ${greet6:-nothing}"
[[ $greet5 == blue && $greet6 == blue ]] || problem "long-lived connections should be on blue"

step "7. Release green: one map update"
zdctl switch shop green
batch "$N" green
check_long_lived blue

step "8. Status"
zdctl status

step "9. Something is wrong with green? Revert"
zdctl revert shop
batch "$N" blue
check_long_lived blue

step "10. Switch back and forth under load ($LOAD_N connections, nothing lost)"
switch_under_load shop blue green "$V4" "$V6" "$ZDCTL" --state "$state"
check_long_lived blue

step "11. Green goes live, then its process dies: new connections fall back to blue"
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

step "12. A health-gated release: the switch waits until the new version is ready"
# A second domain, served over HTTP: api-v2 answers GET /healthz with 503
# while a file exists: while it warms up, as a real app might (and later, in
# step 14, when it falls ill).
touch "$work/api-v2-unhealthy"
"$ECHO" --http api-v1 127.0.0.1:3011 '[::1]:3011' >"$work/api-v1.out" &
pids+=("$!")
"$ECHO" --http --unhealthy-while="$work/api-v2-unhealthy" api-v2 127.0.0.1:3012 '[::1]:3012' \
  >"$work/api-v2.out" &
pids+=("$!")
wait_ready "$work/api-v1.out"
wait_ready "$work/api-v2.out"
"$ZDCTL" --state "$state" domain add api --listen tcp://$V4:8080 --listen "tcp://[$V6]:8080" >/dev/null
"$ZDCTL" --state "$state" workspace add api-v1 --pid "${pids[-2]}" --socket tcp://127.0.0.1:3011 \
  --socket 'tcp://[::1]:3011' >/dev/null
"$ZDCTL" --state "$state" workspace add api-v2 --pid "${pids[-1]}" --socket tcp://127.0.0.1:3012 \
  --socket 'tcp://[::1]:3012' >/dev/null
"$ZDCTL" --state "$state" switch api api-v1 >/dev/null
say "domain api on $V4:8080 and [$V6]:8080 is served by api-v1 (HTTP); api-v2 is starting"
zdctl domain set api --check /healthz --check-timeout 500ms --check-retries 1
zdctl switch api api-v2 --dry-run || true
zdctl_refused switch api api-v2
served_over_http api-v1
# A client of api-v1 that keeps its connection open (HTTP keep-alive).
exec 3<>"/dev/tcp/$V4/8080"
printf 'GET / HTTP/1.1\r\nHost: api\r\n\r\n' >&3
while read -r -t 2 line <&3 && [[ $line != $'\r' ]]; do :; done
read -r -t 2 kept <&3 || kept=""
say "a keep-alive client of api: connected, answered by ${kept:-nothing}"

step "13. A canary that zdctl serve promotes once its health has held for 3 s"
rm "$work/api-v2-unhealthy"
say "(api-v2 is ready now: GET /healthz answers 200)"
zdctl workspace set api-v2 --check /healthz --check-interval 500ms --fall 2
zdctl canary api api-v2 --weight 20 --promote-after 3s
canary_at=${EPOCHREALTIME/./}
declare -A canary_spread=()
for ((i = 0; i < 200; i++)); do
  answer=$(http_get "$V4")
  canary_spread[${answer:-nothing}]=$((${canary_spread[${answer:-nothing}]:-0} + 1))
done
say "200 new connections: api-v1 ${canary_spread[api-v1]:-0}, api-v2 ${canary_spread[api-v2]:-0}" \
  "(decided per connection in the kernel)"
((${canary_spread[api-v2]:-0} > 0 && ${canary_spread[api-v1]:-0} > 0 &&
  ${canary_spread[api-v1]:-0} + ${canary_spread[api-v2]:-0} == 200)) ||
  problem "the canary's 200 connections were not shared between api-v1 and api-v2"
for ((i = 0; i < 200; i++)); do # 10 s at most
  "$ZDCTL" --state "$state" history api | grep -q ' promote ' && break
  sleep 0.05
done
now=${EPOCHREALTIME/./}
if "$ZDCTL" --state "$state" history api | grep -q ' promote '; then
  say "zdctl serve promoted api-v2 $(((now - canary_at) / 1000000)).$((((now - canary_at) / 100000) % 10)) s" \
    "after the canary began (its check passed all along)"
else
  problem "zdctl serve did not promote the canary within 10 s"
fi
zdctl history api
served_over_http api-v2
printf '$ curl -s -H "Authorization: Bearer $token" http://127.0.0.1:9477/api/v1/domains/api'
api_reply=$(curl -s -H "Authorization: Bearer $token" http://127.0.0.1:9477/api/v1/domains/api || true)
if command -v jq >/dev/null; then
  printf " | jq '{name, active, previous, canary, history: [.history[] | \"\\(.how): \\(.to)\"]}'\n"
  jq -c '{name, active, previous, canary, history: [.history[] | "\(.how): \(.to)"]}' \
    <<<"$api_reply" | sed 's/^/  /'
else
  printf '\n  %s\n' "$api_reply"
fi
[[ $api_reply == *'"active":"api-v2"'* ]] || problem "the API does not show api-v2 active for api"

step "14. Health checks that steer: api-v2 falls ill, new connections pass it over"
say "zdctl serve probes api-v2 every 500ms; 2 failures in a row mark it failing"
printf '$ touch %s   # api-v2 answers GET /healthz with 503 from now on\n' "$work/api-v2-unhealthy"
touch "$work/api-v2-unhealthy"
if wait_http_by api-v1 5; then
  say "${waited} s later new connections reach api-v1, the previous workspace (api-v2 stays active)"
else
  problem "new connections still reach api-v2 5 s after it began to fail its check"
fi
served_over_http api-v1
zdctl status
"$ZDCTL" --state "$state" status | grep -Eq '^api-v2 .* FAILING since' ||
  problem "status does not show api-v2 FAILING"
printf '$ rm %s   # api-v2 is well again\n' "$work/api-v2-unhealthy"
rm "$work/api-v2-unhealthy"
if wait_http_by api-v2 5; then
  say "${waited} s later (2 good probes in a row) new connections are back on api-v2"
else
  problem "new connections did not come back to api-v2 within 5 s of it passing its check"
fi
served_over_http api-v2
say "what zdctl serve said (its stderr):"
grep -E 'workspace api-v2|domain api' "$work/serve.err" | sed 's/^/     /'

step "15. Drain: wait until api-v1 holds no connection of api before stopping it"
if zdctl drain api; then
  problem "drain found api-v1 drained while its keep-alive client is connected"
fi
"$ZDCTL" --state "$state" drain api --wait --timeout 10s >"$work/drain.out" 2>&1 3>&- &
drain_pid=$!
sleep 1
printf '$ zdctl drain api --wait --timeout 10s   (while the client closes its connection)\n'
exec 3>&- # the client is done
if wait "$drain_pid"; then
  sed 's/^/  /' "$work/drain.out"
else
  sed 's/^/  /' "$work/drain.out"
  problem "drain --wait did not see api-v1 drained"
fi
zdctl workspace rm api-v1

step "16. History: every route change above, when, how, and which zdctl made it"
history=$("$ZDCTL" --state "$state" history shop)
entries=$(($(wc -l <<<"$history") - 1))
printf '$ zdctl history shop   (%d entries: the first three and the last three)\n' "$entries"
{ head -4 <<<"$history"; ((entries > 6)) && echo "..."; tail -n +5 <<<"$history" | tail -3; } |
  sed 's/^/  /'
"$ZDCTL" --state "$state" --json history shop | grep -q '"how": "revert"' ||
  problem "history does not show the reverts above"

step "17. Containers: a client, a host and two workspaces, each in a namespace of its own"
# This shell plays the client; "zdhost" is the host zd runs on, with the
# client's veth as its ingress; red and yellow are containers behind veths.
mkdir -p /run/netns
mount -t tmpfs tmpfs /run/netns # ip netns names, in this mount namespace only
sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
for ns in zdhost ct-red ct-yellow; do
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip -n "$ns" link set lo up
done
# link NS_A IF_A NS_B IF_B NET V6NET: a veth between two namespaces ("" is
# this one), NET.1 / V6NET::1 on B's side, NET.2 / V6NET::2 on A's side.
link() {
  local a=(ip) b=(ip -n "$3")
  [[ -n $1 ]] && a=(ip -n "$1")
  ip link add "$2" type veth peer name "$4" netns "$3"
  [[ -n $1 ]] && ip link set "$2" netns "$1"
  "${a[@]}" addr add "$5.2/24" dev "$2"
  "${a[@]}" addr add "$6::2/64" dev "$2" nodad
  "${b[@]}" addr add "$5.1/24" dev "$4"
  "${b[@]}" addr add "$6::1/64" dev "$4" nodad
  "${a[@]}" link set "$2" up
  "${b[@]}" link set "$4" up
}
link "" client0 zdhost ingress0 10.97.0 fd00:97
link ct-red eth0 zdhost veth-red 10.96.1 fd00:96:1
link ct-yellow eth0 zdhost veth-yellow 10.96.2 fd00:96:2
ip route add 10.98.0.0/24 via 10.97.0.1
ip -6 route add fd00:98::/64 via fd00:97::1
for ct in red yellow; do
  ip -n "ct-$ct" route add default via "10.96.$([[ $ct == red ]] && echo 1 || echo 2).1"
  ip -n "ct-$ct" -6 route add default via "fd00:96:$([[ $ct == red ]] && echo 1 || echo 2)::1"
done
ip netns exec zdhost sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
# A partial checksum does not survive XDP_REDIRECT; a real NIC's frames are whole.
ethtool -K client0 tx off >/dev/null
for ct in red yellow; do
  ip netns exec "ct-$ct" "$ECHO" "$ct" 0.0.0.0:8080 '[::]:8080' >"$work/$ct.out" &
  pids+=($!)
  eval "${ct}_pid=$!"
  wait_ready "$work/$ct.out"
done
say "client (this shell) --client0/ingress0--> zdhost --veth-red--> ct-red, --veth-yellow--> ct-yellow"
say "red:    pid $red_pid in ct-red, listening on 0.0.0.0:8080 and [::]:8080"
say "yellow: pid $yellow_pid in ct-yellow, listening on 0.0.0.0:8080 and [::]:8080"
say "domain store: $STORE4:80 and [$STORE6]:80 (port 80 for clients, 8080 in the apps: no NAT)"

# zdctl on the host "zdhost", with a state of its own.
zdhost() {
  printf '$ zdctl %s        (on zdhost)\n' "$*"
  ip netns exec zdhost "$ZDCTL" --state "$bpffs/zdhost" "$@" 2>&1 | sed 's/^/  /'
  return "${PIPESTATUS[0]}"
}

step "18. zd on zdhost: XDP at the ingress, the containers found by their pids"
zdhost attach --xdp ingress0
zdhost domain add store --listen "tcp://$STORE4:80" --listen "tcp://[$STORE6]:80"
zdhost workspace add red --pid "$red_pid" --socket tcp://0.0.0.0:8080 --socket 'tcp://[::]:8080'
zdhost workspace add yellow --pid "$yellow_pid" --socket tcp://0.0.0.0:8080 --socket 'tcp://[::]:8080'
zdhost switch store red
batch "$N" red "$STORE4" "$STORE6"
if ! exec 7<>"/dev/tcp/$STORE4/80" 8<>"/dev/tcp/$STORE6/80"; then
  echo "demo.sh: could not open the long-lived connections to store" >&2
  exit 1
fi
read -r -t 2 greet7 <&7 || greet7=""
read -r -t 2 greet8 <&8 || greet8=""
say "fd 7 -> $STORE4:80 and fd 8 -> [$STORE6]:80 accepted by: ${greet7:-nothing}, ${greet8:-nothing}"
[[ $greet7 == red && $greet8 == red ]] || problem "long-lived connections to store should be on red"

step "19. Release yellow, then revert: one map update each, in XDP's flow table too"
zdhost switch store yellow
batch "$N" yellow "$STORE4" "$STORE6"
check_long_lived red "7 8"
zdhost status
zdhost revert store
batch "$N" red "$STORE4" "$STORE6"
check_long_lived red "7 8"

step "20. Switch the containers back and forth under load ($LOAD_N connections)"
switch_under_load store red yellow "$STORE4" "$STORE6" ip netns exec zdhost "$ZDCTL" --state "$bpffs/zdhost"
check_long_lived red "7 8"

step "21. Detaching would cut the open connections to containers: zd says so"
zdctl_refused_host() {
  if zdhost "$@"; then
    problem "zdctl $* succeeded but should have been refused"
  else
    say "(refused, as it should be; nothing changed)"
  fi
}
zdctl_refused_host detach
check_long_lived red "7 8"
exec 7>&- 8>&-
say "(the client closes its two connections to store)"
zdhost detach --wait 10
for ns in ct-red ct-yellow; do
  left=$(ip -n "$ns" route show table local proto 122; ip -n "$ns" -6 route show table local proto 122)
  [[ -z $left ]] || problem "routes left in $ns: $left"
done
say "nothing of zd is left in the containers (no route, no program, no link)"

if ((keep)); then
  step "22. (--keep) zd stays attached, for the page: a new green for shop"
  "$ECHO" green 127.0.0.1:3002 '[::1]:3002' >"$work/green-again.out" &
  green_pid=$!
  pids+=("$green_pid")
  wait_ready "$work/green-again.out"
  zdctl workspace add green --pid "$green_pid" --socket tcp://127.0.0.1:3002 --socket 'tcp://[::1]:3002'
  check_long_lived blue
  say "(without --keep, this step detaches zd: established connections do not notice)"
else
  step "22. Detach zd from this namespace: established connections do not notice"
  zdctl detach
  check_long_lived blue
  if probe "$V4" >/dev/null; then
    problem "a new connection to $V4:80 was answered after detach"
  else
    say "a new connection to $V4:80 is refused: nothing listens there without zd (expected)"
  fi
fi

step "Summary"
say "connections made:   $total (new ones + exchanges on the long-lived ones)"
say "answered by blue:   ${served[blue]:-0}"
say "answered by green:  ${served[green]:-0}"
say "FAILED connections: $failed"
say "answered by red:    ${served[red]:-0}"
say "answered by yellow: ${served[yellow]:-0}"
say "switches under load: $flips"
say "time after build:   $((SECONDS - start)) s"
result=0
if ((failed != 0 || problems != 0)); then
  say "RESULT: FAIL ($failed failed connections, $problems problems)"
  result=1
else
  say "RESULT: OK"
fi
if ((keep)); then
  step "The page stays open (--keep): Ctrl-C ends the demo and removes all of it"
  printf '   >>> %s\n' "$url"
  say "shop (blue, green) and api (api-v2) are live: switch, revert and canary from the page,"
  say "or from this namespace: nsenter --net=/proc/$$/ns/net --mount=/proc/$$/ns/mnt \\"
  say "  $ZDCTL --state $state status"
  trap 'printf "\n   (the page closes, and everything of the demo goes)\n"; exit $result' INT TERM
  sleep infinity &
  pids+=("$!")
  wait "$!" || true
else
  say "the page closed with the demo: rerun with --keep (scripts/demo.sh --keep) to keep it open;"
  say "Ctrl-C ends it"
fi
exit "$result"
