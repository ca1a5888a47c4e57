#!/usr/bin/env bash
# Workspaces on other hosts than the one traffic enters (issue 21), for
# real: etcd, three hosts on one bridge (each a network namespace with its
# own bpffs state and agent, serve --fabric), and a client whose only link
# leads to host1, the ingress. Blue runs on host2 only, green on host3 only.
# What it proves, each step a line:
#   new connections entering at host1 reach the active workspace's host
#   (100 of 100, IPv4 and IPv6), tunnelled by host1's XDP and unwrapped by
#   the target host's; replies come straight back (not through zd);
#   a connection opened before keeps talking to its workspace across
#   switches; status shows where each workspace runs and what host1 sent
#   where.
#
# Usage: tests/cluster/forward.sh BUILD_DIR
# Root only (77 otherwise); runs in a private network + mount namespace.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: forward.sh BUILD_DIR}" && pwd)
# shellcheck source=env.sh
source "$here/env.sh"
CLUSTER_BUILD=$build

if [[ -z ${ZD_CLUSTER_TEST_INNER:-} ]]; then
  ((EUID == 0)) || { echo "forward.sh: needs root (skipped)"; exit 77; }
  command -v etcd >/dev/null || cluster_install_etcd
  export ZD_CLUSTER_TEST_INNER=1
  exec unshare -n -m -- "$0" "$build"
fi

fail() {
  echo "forward.sh: FAIL: $*" >&2
  exit 1
}
say() { echo "forward.sh: $*"; }
work=$(mktemp -d /tmp/zd-forward-test.XXXXXX)
cleanup() {
  local rc=$?
  if ((rc != 0)); then
    for log in "$work"/c/host*/agent.log; do
      [[ -f $log ]] && { echo "--- $log" >&2; tail -n 8 "$log" >&2; }
    done
  fi
  cluster_down || rc=1
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
started=$SECONDS
zd_on() {
  local i=$1
  shift
  cluster_exec "$i" "$build/user/zdctl" --state "$(cluster_state "$i")" "$@"
}
zc() { cluster_exec 1 "$build/user/zdctl" --cluster "$CLUSTER_ETCD" "$@"; }
# nginx NAME I [PORT]: workspace NAME, an nginx on host I on
# 127.0.0.1:PORT and [::1]:PORT (8080), registered there: GET / answers
# "NAME" with a header X-Host: hostI; /data/ serves files from
# $work/NAME/data (the first NAME's) and takes them (PUT). Its pid in
# ws_pid[NAME@I]; every request it answers a line of $work/NAME@I.log.
declare -A ws_pid
nginx_workspace() {
  local name=$1 i=$2 port=${3:-8080} dir=$work/$1 n
  [[ -d $dir ]] && dir=$work/$1@$2
  mkdir -p "$dir/data" "$dir/tmp"
  cat >"$dir/nginx.conf" <<NGINX
user root; worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log; daemon off;
events { worker_connections 1024; }
http {
  access_log $work/$name@$i.log; keepalive_requests 100000; keepalive_timeout 60s;
  client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
  server {
    listen 127.0.0.1:$port; listen [::1]:$port;
    location = / { add_header X-Host host$i; return 200 "$name\n"; }
    location /data/ { root $dir; dav_methods PUT; create_full_put_path on; client_max_body_size 64m; }
  }
}
NGINX
  cluster_spawn "$i" "$dir/nginx.out" nginx -c "$dir/nginx.conf"
  ws_pid[$name@$i]=$CLUSTER_SPAWNED
  for ((n = 0; n < 50; n++)); do
    [[ $(cluster_exec "$i" curl -s "http://127.0.0.1:$port/" 2>/dev/null) == "$name" ]] && break
    sleep 0.1
  done
  : >"$work/$name@$i.log"
  zd_on "$i" workspace add "$name" --pid "$CLUSTER_SPAWNED" --socket "tcp://127.0.0.1:$port" \
    --socket "tcp://[::1]:$port" >"$work/add.out" 2>&1 || fail "workspace add $name on host$i: $(cat "$work/add.out")"
}
# curl from the client (bounded: 10 s a transfer).
client_curl() { nsenter --net=/run/netns/client -- curl -sS -g --max-time 10 "$@"; }
# new_connections ADDRESS N: the answers of N new connections to the domain.
new_connections() {
  local urls=() n
  for ((n = 0; n < $2; n++)); do urls+=("http://$1/"); done
  client_curl -H 'Connection: close' "${urls[@]}" 2>&1
}
# all_reach WORKSPACE ADDRESS N: N new connections, every one answered by it.
all_reach() {
  local got
  got=$(new_connections "$2" "$3" | sort | uniq -c | awk '{ print $1 " " $2 }')
  [[ $got == "$3 $1" ]] || { echo "$got"; return 1; }
}

cluster_up "$work/c" 3 1
cluster_client 1
for i in 1 2 3; do
  xdp=(--xdp eth0)
  ((i == 1)) && xdp+=(--xdp ingress0)
  zd_on "$i" attach "${xdp[@]}" >/dev/null || fail "attach on host$i"
done
nginx_workspace blue 2
nginx_workspace green 3
declare -A agent
for i in 1 2 3; do
  cluster_agent "$i" --listen 127.0.0.1:9477 --fabric "10.77.0.$i" --fabric "fd77::$i" --lease 2s
  agent[$i]=$CLUSTER_SPAWNED
done
cluster_wait_agents 3 || fail "$(zc status)"
say "3 hosts on the fabric; blue (nginx) on host2, green (nginx) on host3, the client enters at host1 ($((SECONDS - started)) s)"

zc domain add shop --listen tcp://10.99.0.1:80 --listen "tcp://[fd99::1]:80" >/dev/null ||
  fail "domain add --cluster"
out=$(zc switch shop blue 2>&1) || fail "switch shop blue: $out"
for addr in 10.99.0.1 '[fd99::1]'; do
  got=$(all_reach blue "$addr" 100) ||
    fail "new connections to $addr at host1 do not all reach blue: $got; $(zd_on 1 status)"
done
say "switch shop blue: 100 of 100 new connections entering at host1 reach blue on host2, IPv4 and IPv6"

# 10 MB each way through the tunnel, checksummed: the download's data
# comes straight from host2, the upload's goes through host1's XDP, wrapped.
head -c 10M /dev/urandom >"$work/big"
cp "$work/big" "$work/blue/data/big"
for addr in 10.99.0.1 '[fd99::1]'; do
  rm -f "$work/down" "$work/blue/data/up"
  client_curl -o "$work/down" "http://$addr/data/big" || fail "downloading 10 MB from $addr"
  client_curl -T "$work/big" "http://$addr/data/up" -o /dev/null || fail "uploading 10 MB to $addr: $(zd_on 1 status; nsenter --net=/run/netns/client nstat -az | grep -i icmp; nsenter --net=/run/netns/client ip route get 10.99.0.1)"
  want=$(sha256sum <"$work/big")
  [[ $(sha256sum <"$work/down") == "$want" ]] || fail "the 10 MB download from $addr arrived changed"
  [[ $(sha256sum <"$work/blue/data/up") == "$want" ]] || fail "the 10 MB upload to $addr arrived changed"
done
say "10 MB down and up through the tunnel, IPv4 and IPv6: both arrive intact (sha256)"

# A keep-alive connection opened on blue: one request every 10 ms on the
# same connection (curl, told of up to 10 minutes' worth, stopped once the
# switches are done) while the domain is switched 500 times between blue
# (host2) and green (host3). Every answer must be 200 from blue, all on
# that one connection.
nsenter --net=/run/netns/client -- curl -sSN --max-time 600 --rate 100/s -w '%{http_code} %{num_connects}\n' \
  'http://10.99.0.1/?n=[1-60000]' >"$work/keepalive" 2>"$work/keepalive.err" &
keepalive=$!
for ((n = 0; n < 50; n++)); do [[ -s $work/keepalive ]] && break; sleep 0.02; done
switched=$SECONDS
# 500 switches through the library `zdctl --cluster switch` uses, each
# applied by every host before the next (zd-clusterbench; a zdctl each
# would spend most of the time starting processes). It ends on blue.
storm=$(cluster_exec 1 "$build/bench/zd-clusterbench" "$CLUSTER_ETCD" shop 500 3) ||
  fail "500 switches: $storm"
switched=$((SECONDS - switched))
kill -0 "$keepalive" 2>/dev/null || fail "the keep-alive client ended during the switches: $(tail -n 3 "$work/keepalive.err")"
kill "$keepalive"
wait "$keepalive" 2>/dev/null || true
# keepalive_ok FILE MIN: every answer in FILE 200 from blue, all on one
# connection, at least MIN of them. Each answer is its body's line
# ("blue"), then "STATUS NEW_CONNECTIONS"; the one curl was stopped in may
# lack its status line.
keepalive_ok() {
  local bodies blues first later
  bodies=$(grep -c . "$1")
  blues=$(grep -cx blue "$1")
  first=$(grep -cx '200 1' "$1")
  later=$(grep -cx '200 0' "$1")
  ((first == 1 && blues + first + later == bodies && blues - first - later <= 1 && blues >= $2)) ||
    { sort "$1" | uniq -c | head -5; return 1; }
  echo "$blues"
}
got=$(keepalive_ok "$work/keepalive" 500) || fail "the keep-alive connection's answers: $got"
say "500 switches in ${switched} s (each applied everywhere before the next: propagation p99 $(jq .propagation_ms.p99 <<<"$storm") ms) under a keep-alive connection: its $got requests all answered 200 by blue, on one connection"

# Liveness. Another keep-alive connection on blue (host2) lasts through
# everything below; the domain goes to a workspace on host3, blue its
# previous one, and host3 fails in three ways. Each time new connections
# must fall back to blue within the promised time, and the one on blue
# never notice.
nsenter --net=/run/netns/client -- curl -sSN --max-time 600 --rate 50/s -w '%{http_code} %{num_connects}\n' \
  'http://10.99.0.1/?n=[1-30000]' >"$work/keepalive2" 2>"$work/keepalive2.err" &
keepalive=$!
for ((n = 0; n < 50; n++)); do [[ -s $work/keepalive2 ]] && break; sleep 0.02; done
# until_reach WORKSPACE SECONDS: new connections polled until one reaches
# WORKSPACE; echoes how long it took (in ms), fails after SECONDS.
until_reach() {
  local from=${EPOCHREALTIME/[.,]/} deadline
  deadline=$((from + $2 * 1000000))
  while ((${EPOCHREALTIME/[.,]/} < deadline)); do
    if [[ $(client_curl --max-time 1 http://10.99.0.1/ 2>/dev/null) == "$1" ]]; then
      echo $(((${EPOCHREALTIME/[.,]/} - from) / 1000))
      return 0
    fi
    sleep 0.05
  done
  return 1
}
zc switch shop green >/dev/null || fail "switch shop green"
got=$(all_reach green 10.99.0.1 100) || fail "new connections do not all reach green: $got"
# 1. Green's nginx stops on host3: host3 reports it dead (every 500 ms),
# every host drops it from its table.
kill -TERM "${ws_pid[green@3]}"
took=$(until_reach blue 3) || fail "green died on host3, and new connections did not go back to blue: $(zd_on 1 status)"
got=$(all_reach blue 10.99.0.1 50) || fail "after green died, new connections do not all reach blue: $got"
say "green killed on host3: new connections reach blue (its previous) after ${took} ms"
# 2. Red on host3; the domain on red, blue its previous; host3's agent
# killed (no goodbye): its lease runs out (2 s), and every host drops it.
nginx_workspace red 3
out=$(zc switch shop blue 2>&1) || fail "switch shop blue: $out"
# Host3 publishes red within half a second; until then the gate refuses.
for ((n = 0; n < 30; n++)); do out=$(zc switch shop red 2>&1) && break; sleep 0.1; done
[[ $out == *"-> red"* ]] || fail "switch shop red: $out"
got=$(all_reach red 10.99.0.1 50) || fail "new connections do not all reach red: $got"
kill -9 "${agent[3]}"
took=$(until_reach blue 6) || fail "host3's agent died, and new connections did not go back to blue: $(zd_on 1 status)"
say "host3's agent killed: new connections reach blue after ${took} ms (its lease: 2 s)"
# 3. Its agent back: red takes new connections again; then host3 cut off.
cluster_agent 3 --listen 127.0.0.1:9477 --fabric 10.77.0.3 --fabric fd77::3 --lease 2s
took=$(until_reach red 10) || fail "host3's agent is back, and red does not take new connections again"
cluster_link_down 3
took=$(until_reach blue 6) || fail "host3 cut off, and new connections did not go back to blue: $(zd_on 1 status)"
say "host3 cut off: new connections reach blue after ${took} ms"
kill "$keepalive"
wait "$keepalive" 2>/dev/null || true
got=$(keepalive_ok "$work/keepalive2" 100) || fail "the keep-alive connection on blue: $got"
say "the keep-alive connection on blue through all of it: $got requests, all answered 200 by blue on one connection"

# Replicas. Host3 back; green on all three hosts (on host1 and host2 the
# record they held for host3's green takes their own instance, keeping its
# id); the domain on green. New connections spread by the Maglev table.
cluster_link_up 3
cluster_wait_agents 3 || fail "host3 did not come back: $(zc status)"
zd_on 3 workspace rm green >/dev/null || fail "workspace rm green on host3 (its nginx is gone)"
nginx_workspace green 1
nginx_workspace green 2 8081
nginx_workspace green 3 8082 # red has 8080 there
# Each host publishes its green within half a second; the gate waits for all.
for ((n = 0; n < 30; n++)); do out=$(zc switch shop green 2>&1) && break; sleep 0.1; done
[[ $out == *"-> green"* ]] || fail "switch shop green (three replicas): $out"
# And host1, the ingress, has placed all three in green's table.
replicas() { zd_on 1 --json status | jq -r '.workspaces[] | select(.name == "green") | .instances | join(",")'; }
for ((n = 0; n < 30; n++)); do [[ $(replicas) == host1,host2,host3 ]] && break; sleep 0.1; done
[[ $(replicas) == host1,host2,host3 ]] || fail "host1 does not spread green over the three hosts: $(replicas)"
# spread N: N new connections from the client; echoes how many each of
# green's replicas (host1 host2 host3) answered, by their logs. Each spread
# tags its requests, and waits (2 s at most) until the replicas logged all
# N: nginx logs a request just after answering it.

spread() {
  local tag=s${EPOCHREALTIME/[.,]/} i n counts total # (in a subshell: no counter would last)
  nsenter --net=/run/netns/client -- curl -sS --max-time 60 -H 'Connection: close' \
    "http://10.99.0.1/?$tag=[1-$1]" >/dev/null 2>"$work/spread.err" || return 1
  for ((n = 0; n < 20; n++)); do
    counts=() total=0
    for i in 1 2 3; do
      counts+=("$(grep -c "[?]$tag=" "$work/green@$i.log")")
      total=$((total + counts[i - 1]))
    done
    ((total >= $1)) && break
    sleep 0.1
  done
  echo "${counts[*]}"
}
got=($(spread 3000)) || fail "3000 new connections: not all answered: $(tail -n 2 "$work/spread.err")"
for i in 1 2 3; do
  ((got[i - 1] >= 850 && got[i - 1] <= 1150)) ||
    fail "3000 new connections over three replicas: host1 ${got[0]}, host2 ${got[1]}, host3 ${got[2]} (each should take 1000 +- 150); one: $(client_curl -i http://10.99.0.1/); $(zd_on 1 status)"
done
say "green on host1, host2 and host3: 3000 new connections entering at host1 spread ${got[0]} / ${got[1]} / ${got[2]}"
# Keep-alive connections on every replica; then host2's replica removed.
declare -a held
for ((n = 0; n < 15; n++)); do
  nsenter --net=/run/netns/client -- curl -sSN --max-time 600 --rate 20/s \
    -w '%{http_code} %{num_connects} %header{x-host}\n' "http://10.99.0.1/?k=$n&n=[1-30000]" \
    >"$work/held$n" 2>"$work/held$n.err" &
  held[n]=$!
done
# answered N FILE...: every held connection has at least N answers.
answered() {
  local n=$1 f
  shift
  for f in "$@"; do (($(grep -c ' ' "$f") >= n)) || return 1; done
}
held_files=("$work"/held{0..14})
_cluster_wait 5 answered 3 "${held_files[@]}" || fail "the held connections do not answer"
kill -TERM "${ws_pid[green@2]}"
# Within a second of host2's report, new connections stop going there
# (until then, those sent there are refused: its replica is gone).
for ((n = 0; n < 30; n++)); do
  got=($(spread 30)) && ((got[1] == 0)) && break
  sleep 0.1
done
((got[1] == 0)) || fail "host2's replica is gone, and new connections still reach it: ${got[*]}"
got=($(spread 600)) || fail "600 new connections: not all answered: $(tail -n 2 "$work/spread.err")"
((got[1] == 0 && got[0] >= 200 && got[2] >= 200 && got[0] + got[2] == 600)) ||
  fail "after host2's replica went: 600 new connections spread ${got[*]} (host2 must take none)"
# Five more answers on each connection held on a surviving replica, after
# all of that (those on host2's replica answer no more).
survivors=()
for f in "${held_files[@]}"; do
  [[ $(awk 'NF == 3 { print $3; exit }' "$f") == host2 ]] || survivors+=("$f")
done
((${#survivors[@]} == 0)) || {
  least=$(for f in "${survivors[@]}"; do grep -c ' ' "$f"; done | sort -n | head -n 1)
  _cluster_wait 5 answered $((least + 5)) "${survivors[@]}" ||
    fail "the connections held on host1's and host3's replicas stopped answering"
}
kept=0
for ((n = 0; n < 15; n++)); do
  kill "${held[n]}" 2>/dev/null || true
  wait "${held[n]}" 2>/dev/null || true
  # Its lines: each answer's body ("green"), then "STATUS NEW_CONNECTIONS HOST".
  host=$(awk 'NF == 3 { print $3; exit }' "$work/held$n")
  [[ $host == host2 ]] && continue # its replica is gone, and its connections with it
  # Every complete answer from the same replica, 200, on one connection.
  bad=$(awk -v h="$host" 'NF == 3 && ($1 != 200 || $3 != h || (seen++ && $2 != 0))' "$work/held$n")
  [[ -z $bad && $(grep -c ' ' "$work/held$n") -ge 10 ]] ||
    fail "a connection held on ${host:-?}'s replica while host2's went: $(sort "$work/held$n" | uniq -c | head -3) $(head -c 300 "$work/held$n.err")"
  kept=$((kept + 1))
done
# Each lands on host1's or host3's replica with odds 2/3: none of 15 would
# be a 1-in-14-million chance.
((kept >= 1)) || fail "none of 15 held connections was on host1's or host3's replica"
say "host2's replica gone: new connections spread ${got[0]} / ${got[1]} / ${got[2]}; the $kept connections held on host1's and host3's replicas untouched"

# 4. --prefer-local: host1's new flows stay on host1's replica while it
# lives; once it is gone, they spread over the others again.
out=$(zc domain set shop --prefer-local 2>&1) || fail "domain set shop --prefer-local: $out"
[[ $(zd_on 1 --json status | jq '.domains[] | select(.name == "shop") | .prefer_local') == true ]] ||
  fail "host1's status does not say shop prefers local instances: $(zd_on 1 status)"
got=($(spread 300)) || fail "300 new connections: not all answered: $(tail -n 2 "$work/spread.err")"
((got[0] == 300)) || fail "shop prefers local instances, and host1's new connections spread ${got[*]}"
kill -TERM "${ws_pid[green@1]}"
for ((n = 0; n < 30; n++)); do
  got=($(spread 30)) && ((got[0] == 0)) && break
  sleep 0.1
done
((got[0] == 0)) || fail "host1's replica is gone, and new connections still reach it: ${got[*]}"
got=($(spread 300)) || fail "300 new connections: not all answered: $(tail -n 2 "$work/spread.err")"
((got[0] == 0 && got[2] == 300)) || fail "with host1's replica gone, 300 new connections spread ${got[*]}"
say "shop prefers local instances: 300 of 300 new connections on host1's replica; once it is gone, ${got[2]} of 300 on host3's"
