# shellcheck shell=bash disable=SC2034  # a library: its variables are for the callers
# A small "cluster of hosts" for the etcd-based cluster tests and demos, in
# the caller's private network + mount namespace (unshare -n -m, as root):
#
#   zdbr0 10.77.0.254/24 (this namespace)
#    |-- etcdK  10.77.0.(100+K)  an etcd member (K = 1..N_ETCD)
#    `-- hostI  10.77.0.I        a "host": its own netns and bpffs, with the
#                                domains' 10.99.0.0/24 local, as on every host
#
# Usage: source tests/cluster/env.sh, then (see each function's comment)
#   cluster_install_etcd          before unshare: apt needs the real network
#   trap cluster_down EXIT
#   cluster_up WORK_DIR N_HOSTS [N_ETCD]
#   cluster_exec I CMD...         cluster_spawn I LOG CMD..., cluster_state I,
#                                 cluster_workspaces I, cluster_link_down I, ...
#
# A library: sourcing it defines functions and variables and does nothing
# else. Every function returns non-zero with a "cluster: ..." line on stderr
# when it fails. Every wait polls a condition, bounded in tries and in time.

CLUSTER_BUILD=${CLUSTER_BUILD:-/work/main/build} # where tests/zd-echo is
export ETCDCTL_API=3                              # 3.4's default; an ETCDCTL_API=2 inherited would break all
CLUSTER_WORK=""                                   # WORK_DIR of the cluster up, "" when none
CLUSTER_HOSTS=0 CLUSTER_NETCD=0                   # N_HOSTS, N_ETCD of the cluster up
CLUSTER_ETCD=""                                   # the members' client URLs, comma-separated
CLUSTER_NETNS_MOUNTS=0                            # 1 while cluster_up's tmpfs is on /run/netns
declare -ga CLUSTER_PIDS=()                       # every process started: cluster_down kills them
declare -ga CLUSTER_ETCD_PID=()                   # [K] = pid of member K, "" when killed
declare -gA CLUSTER_WS_PID=()                     # [I/NAME] = pid of workspace NAME on host I
CLUSTER_SPAWNED=""                                # the pid cluster_spawn started last

_cluster_fail() {
  echo "cluster: $*" >&2
  return 1
}

# _cluster_wait SECONDS CMD...: runs CMD every 0.1 s until it succeeds, at
# most SECONDS*10 times and for at most SECONDS (CMD may itself take time).
_cluster_wait() {
  local seconds=$1 i deadline
  shift
  deadline=$((${EPOCHREALTIME/[.,]/} + seconds * 1000000))
  for ((i = 0; i < seconds * 10; i++)); do
    "$@" && return 0
    ((${EPOCHREALTIME/[.,]/} < deadline)) || return 1
    sleep 0.1
  done
  return 1
}

# A pid is gone once it does not exist or is a zombie (not reaped yet: the
# processes are disowned, bash reaps them when it gets to it).
_cluster_gone() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  [[ ${stat%% *} == Z ]]
}

# _cluster_private net|mnt: whether this process's namespace of that kind is
# not its ancestors' (unshare made it). Ancestors, not PID 1: /proc/1/ns/ may
# be unreadable (in a container, say); unreadable ones are skipped.
_cluster_private() {
  local mine ns pid=$BASHPID i
  mine=$(readlink "/proc/self/ns/$1") || return 1
  for ((i = 0; i < 100 && pid > 1; i++)); do
    pid=$(awk '$1 == "PPid:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
    [[ -n $pid ]] || return 1
    ns=$(readlink "/proc/$pid/ns/$1" 2>/dev/null) || continue
    [[ $ns == "$mine" ]] || return 0
  done
  return 1
}

# cluster_install_etcd: installs etcd-server and etcd-client when missing
# (the same as scripts/deps.sh does). Run it before unshare -n: apt-get needs
# the host's network.
cluster_install_etcd() {
  command -v etcd >/dev/null && command -v etcdctl >/dev/null && return 0
  ((EUID == 0)) || _cluster_fail "etcd is missing; install it as root (scripts/deps.sh)" || return
  ! _cluster_private net ||
    _cluster_fail "etcd is missing; install it before unshare -n (no network here)" || return
  echo "cluster: installing etcd-server etcd-client" >&2
  # In a subshell, for its own EXIT trap: installing etcd-server must not
  # start etcd on the host, so a policy-rc.d says "no" meanwhile, and goes
  # (even on a failure) if it was ours.
  (
    set -e
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
      trap 'rm -f "$policy"' EXIT
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod +x "$policy"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends etcd-server etcd-client >/dev/null
  ) || _cluster_fail "apt-get install etcd-server etcd-client failed"
}

# etcdctl failing fast, for polls: a dead member or a cut link must not hang
# one. (etcdctl 3.4 redials a dead endpoint until --command-timeout, whatever
# --dial-timeout says: that is the one that bounds it.)
_cluster_etcdctl() { etcdctl --dial-timeout 0.5s --command-timeout 1s "$@"; }

# Starts member K (new: its first start; existing: a restart on its data).
_cluster_etcd_run() {
  local k=$1 state=$2 ip=10.77.0.$((100 + $1)) initial="" j
  for ((j = 1; j <= CLUSTER_NETCD; j++)); do
    initial+=${initial:+,}etcd$j=http://10.77.0.$((100 + j)):2380
  done
  # Fast elections (50 ms heartbeats, 500 ms timeout): a killed leader is
  # replaced in about a second. Logs appended: a restart keeps the first.
  nsenter --net="/run/netns/etcd$k" -- etcd --name "etcd$k" --data-dir "$CLUSTER_WORK/etcd$k" \
    --listen-client-urls "http://$ip:2379" --advertise-client-urls "http://$ip:2379" \
    --listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
    --initial-cluster "$initial" --initial-cluster-token zd-cluster \
    --initial-cluster-state "$state" --heartbeat-interval 50 --election-timeout 500 \
    --logger zap --log-outputs stderr >>"$CLUSTER_WORK/etcd$k.log" 2>&1 &
  CLUSTER_ETCD_PID[k]=$!
  CLUSTER_PIDS+=($!)
  disown # no "Killed" notice when cluster_down kills it
}

# _cluster_join NETNS VETH IP: a namespace on the bridge, its end named eth0.
_cluster_join() {
  local ns=$1 veth=$2 ip=$3
  ip netns add "$ns" &&
    ip link add "$veth" type veth peer name eth0 netns "$ns" &&
    ip link set "$veth" master zdbr0 up &&
    ip -n "$ns" link set lo up &&
    ip -n "$ns" addr add "$ip/24" dev eth0 &&
    ip -n "$ns" link set eth0 up ||
    _cluster_fail "cannot put $ns on the bridge"
}

# cluster_up WORK_DIR N_HOSTS [N_ETCD]: the bridge, N_ETCD (1 by default, or
# 3...) etcd members healthy, and N_HOSTS hosts with a bpffs each (see
# cluster_state). Exports CLUSTER_ETCD. WORK_DIR holds the members' data and
# logs and the hosts' bpffs; the caller owns it (cluster_down leaves it).
cluster_up() {
  local work=${1:?usage: cluster_up WORK_DIR N_HOSTS [N_ETCD]} hosts=${2:?usage: cluster_up WORK_DIR N_HOSTS [N_ETCD]}
  local netcd=${3:-1} k i
  [[ $hosts =~ ^[0-9]+$ ]] && ((hosts >= 1 && hosts <= 99)) || _cluster_fail "N_HOSTS is 1..99, not '$hosts'" || return
  [[ $netcd =~ ^[0-9]+$ ]] && ((netcd >= 1 && netcd <= 9)) || _cluster_fail "N_ETCD is 1..9, not '$netcd'" || return
  [[ -z $CLUSTER_WORK ]] || _cluster_fail "a cluster is up already (in $CLUSTER_WORK): cluster_down first" || return
  ((EUID == 0)) || _cluster_fail "needs root" || return
  # Never the host's network or mounts: only in a namespace of our own.
  _cluster_private net && _cluster_private mnt ||
    _cluster_fail "run me in a private network + mount namespace (unshare -n -m)" || return
  command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
    _cluster_fail "etcd is missing: cluster_install_etcd (or scripts/deps.sh) before unshare" || return
  [[ -x $CLUSTER_BUILD/tests/zd-echo ]] || _cluster_fail "$CLUSTER_BUILD/tests/zd-echo is not built (CLUSTER_BUILD)" || return
  mkdir -p "$work" || return
  CLUSTER_WORK=$(cd "$work" && pwd) CLUSTER_HOSTS=$hosts CLUSTER_NETCD=$netcd
  work=$CLUSTER_WORK

  # ip netns keeps its names under /run/netns: on a tmpfs of this mount
  # namespace, they are ours alone (and go with it).
  mkdir -p /run/netns
  mount -t tmpfs tmpfs /run/netns && CLUSTER_NETNS_MOUNTS=1 || _cluster_fail "cannot mount /run/netns" || return
  ip link set lo up
  ip link add zdbr0 type bridge && ip addr add 10.77.0.254/24 dev zdbr0 && ip link set zdbr0 up ||
    _cluster_fail "cannot make the bridge zdbr0" || return

  CLUSTER_ETCD=""
  for ((k = 1; k <= netcd; k++)); do
    _cluster_join "etcd$k" "zde-etcd$k" "10.77.0.$((100 + k))" || return
    mkdir -p "$work/etcd$k"
    CLUSTER_ETCD+=${CLUSTER_ETCD:+,}http://10.77.0.$((100 + k)):2379
  done
  export CLUSTER_ETCD
  for ((k = 1; k <= netcd; k++)); do _cluster_etcd_run "$k" new; done

  for ((i = 1; i <= hosts; i++)); do
    _cluster_join "host$i" "zdh-host$i" "10.77.0.$i" || return
    # The domains' public addresses are local on every host.
    ip -n "host$i" route add local 10.99.0.0/24 dev lo
    mkdir -p "$work/host$i/bpf"
    mount -t bpf bpf "$work/host$i/bpf" || _cluster_fail "cannot mount a bpffs for host$i" || return
  done

  # The hosts were made while the members started; now they must answer.
  _cluster_wait 15 _cluster_etcdctl --endpoints "$CLUSTER_ETCD" endpoint health >/dev/null 2>&1 ||
    _cluster_fail "etcd ($CLUSTER_ETCD) not healthy within 15 s; see $work/etcd*.log" || return
}

# cluster_exec I CMD...: runs CMD in host I's network namespace. With
# nsenter --net, not `ip netns exec`: that one also makes CMD a mount
# namespace of its own (a copy, as of then) with a fresh /sys, so a process
# it starts never sees a bpffs mounted after, and /sys/fs/bpf is no bpffs in
# it. nsenter --net changes the network only: the mounts stay ours.
cluster_exec() {
  local i=${1:?usage: cluster_exec I CMD...}
  shift
  nsenter --net="/run/netns/host$i" -- "$@"
}

# cluster_state I: host I's zd state directory (zdctl --state), on its bpffs.
cluster_state() { echo "$CLUSTER_WORK/host${1:?usage: cluster_state I}/bpf/zd"; }

# cluster_spawn I LOG CMD...: starts CMD in host I in the background, output
# to LOG; its pid in CLUSTER_SPAWNED (and CLUSTER_PIDS: cluster_down kills
# it). Not `cluster_exec I CMD &`: $! would be a subshell's, not CMD's.
cluster_spawn() {
  local i=${1:?usage: cluster_spawn I LOG CMD...} log=${2:?usage: cluster_spawn I LOG CMD...}
  shift 2
  : >"$log" # now: the child's redirection may come after the caller looks at it
  # <&0: an asynchronous command's stdin is /dev/null unless redirected
  # explicitly, and a caller may hand it one (a fifo it writes to).
  nsenter --net="/run/netns/host$i" -- "$@" <&0 >"$log" 2>&1 & # nsenter execs CMD: same pid
  CLUSTER_SPAWNED=$!
  CLUSTER_PIDS+=($!)
  disown # no "Killed" notice when cluster_down kills it
}

# cluster_workspaces I: zd-echo "blue" on 127.0.0.1:3001 and "green" on
# 127.0.0.1:3002 in host I, listening when it returns (each greets a
# connection with its name on a line; output in WORK_DIR/hostI/NAME.out).
cluster_workspaces() {
  local i=${1:?usage: cluster_workspaces I} ws name
  for ws in blue:3001 green:3002; do
    name=${ws%:*}
    cluster_spawn "$i" "$CLUSTER_WORK/host$i/$name.out" \
      "$CLUSTER_BUILD/tests/zd-echo" "$name" "127.0.0.1:${ws#*:}"
    CLUSTER_WS_PID[$i/$name]=$CLUSTER_SPAWNED
  done
  # zd-echo prints "ready" once it listens (what polling ss -ltn would see).
  for name in blue green; do
    _cluster_wait 5 grep -q ready "$CLUSTER_WORK/host$i/$name.out" ||
      _cluster_fail "zd-echo $name on host$i never listened: $(head -c 300 "$CLUSTER_WORK/host$i/$name.out")" || return
  done
}

# cluster_ws_pid I NAME: the pid of workspace NAME (blue, green) on host I.
cluster_ws_pid() {
  local key=${1:?usage: cluster_ws_pid I NAME}/${2:?usage: cluster_ws_pid I NAME}
  [[ -n ${CLUSTER_WS_PID[$key]:-} ]] || _cluster_fail "no workspace $2 on host$1" || return
  echo "${CLUSTER_WS_PID[$key]}"
}

# cluster_host I: zd attached in host I, its workspaces blue and green
# running (cluster_workspaces) and registered.
cluster_host() {
  local i=${1:?usage: cluster_host I} state ws
  state=$(cluster_state "$i")
  cluster_exec "$i" "$CLUSTER_BUILD/user/zdctl" --state "$state" attach >/dev/null || return
  cluster_workspaces "$i" || return
  for ws in blue:3001 green:3002; do
    cluster_exec "$i" "$CLUSTER_BUILD/user/zdctl" --state "$state" workspace add "${ws%:*}" \
      --pid "$(cluster_ws_pid "$i" "${ws%:*}")" --socket "tcp://127.0.0.1:${ws#*:}" >/dev/null ||
      return
  done
}

# cluster_agent I [SERVE_ARGS...]: host I's agent, zdctl serve --cluster
# --node hostI, in the background (log: WORK_DIR/hostI/agent.log; pid in
# CLUSTER_SPAWNED).
cluster_agent() {
  local i=${1:?usage: cluster_agent I [SERVE_ARGS...]}
  shift
  cluster_spawn "$i" "$CLUSTER_WORK/host$i/agent.log" "$CLUSTER_BUILD/user/zdctl" \
    --state "$(cluster_state "$i")" --cluster "$CLUSTER_ETCD" serve --node "host$i" "$@"
}

# cluster_wait_agents N: until N agents hold their registration (10 s).
_cluster_agents_alive() {
  [[ $("$CLUSTER_BUILD/user/zdctl" --cluster "$CLUSTER_ETCD" --json status 2>/dev/null |
    jq '[.nodes[] | select(.alive)] | length') == "$1" ]]
}
cluster_wait_agents() {
  _cluster_wait 10 _cluster_agents_alive "${1:?usage: cluster_wait_agents N}" ||
    _cluster_fail "$1 agents did not register within 10 s"
}

# cluster_greet I: the workspace a new connection to the domain
# (10.99.0.1:80) gets on host I, or "refused".
cluster_greet() {
  cluster_exec "${1:?usage: cluster_greet I}" "$CLUSTER_BUILD/tests/zd-client" greet 10.99.0.1 80 \
    2>/dev/null || echo refused
}

# cluster_converged WORKSPACE N: whether new connections on hosts 1..N all
# reach WORKSPACE (polled: the hosts apply on their own; at most 5 s).
_cluster_all_greet() {
  local i
  for ((i = 1; i <= $2; i++)); do [[ $(cluster_greet "$i") == "$1" ]] || return 1; done
}
cluster_converged() {
  _cluster_wait 5 _cluster_all_greet "${1:?usage: cluster_converged WORKSPACE N}" "${2:?}"
}

# cluster_client I: a client outside the cluster, in namespace "client"
# (10.88.0.2/24, fd88::2/64), whose one link leads to host I's interface
# ingress0 (10.88.0.1, fd88::1): the domains' addresses (10.99.0.0/24,
# fd99::/64) are reached through host I, the ingress. Host I routes
# between the client and the bridge; every other host routes the client's
# network back through it, so replies go from a workspace's host straight
# to the client without passing zd (direct server return). Each host gets
# fd77::I/64 on the bridge, and the domains' IPv6 prefix local.
cluster_client() {
  local ingress=${1:?usage: cluster_client I} i
  ip netns add client &&
    ip link add ingress0 netns "host$ingress" type veth peer name eth0 netns client &&
    ip -n client link set lo up && ip -n client link set eth0 up &&
    ip -n client addr add 10.88.0.2/24 dev eth0 &&
    ip -n client addr add fd88::2/64 dev eth0 nodad &&
    ip -n client route add 10.99.0.0/24 via 10.88.0.1 &&
    ip -n client -6 route add fd99::/64 via fd88::1 &&
    ip -n "host$ingress" link set ingress0 up &&
    ip -n "host$ingress" addr add 10.88.0.1/24 dev ingress0 &&
    ip -n "host$ingress" addr add fd88::1/64 dev ingress0 nodad ||
    _cluster_fail "cannot make the client's link to host$ingress" || return
  # A veth hands on partial checksums (the sender's offload), which do not
  # survive a frame XDP sends elsewhere: the client sums its own, as a
  # packet from a real network arrives. And an XDP program that passes
  # everything, so that what host I's XDP answers back (XDP_TX: ICMP "too
  # big") reaches it: a veth takes XDP's frames only into a peer that runs
  # XDP itself (GRO is not enough for XDP_TX).
  nsenter --net=/run/netns/client -- ethtool -K eth0 tx off >/dev/null &&
    ip -n client link set dev eth0 xdpdrv obj "$CLUSTER_BUILD/tests/bpf/xdp_pass.bpf.o" sec xdp ||
    _cluster_fail "cannot make the client's link act like a real one" || return
  # The ingress routes; the frames it tunnels from ingress0 leave by its
  # bridge veth, whose peer needs GRO (or XDP) to take frames redirected by XDP.
  cluster_exec "$ingress" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
    net.ipv4.conf.all.accept_local=1 >/dev/null &&
    ethtool -K "zdh-host$ingress" gro on >/dev/null ||
    _cluster_fail "cannot make host$ingress a router" || return
  for ((i = 1; i <= CLUSTER_HOSTS; i++)); do
    ip -n "host$i" addr add "fd77::$i/64" dev eth0 nodad &&
      ip -n "host$i" -6 route add local fd99::/64 dev lo || return
    ((i == ingress)) && continue
    ip -n "host$i" route add 10.88.0.0/24 via "10.77.0.$ingress" &&
      ip -n "host$i" -6 route add fd88::/64 via "fd77::$ingress" ||
      _cluster_fail "cannot route the client's network back from host$i" || return
  done
}

# cluster_link_down I / cluster_link_up I: host I's cable to the bridge,
# pulled or plugged back: cut off from etcd (and from every other host).
cluster_link_down() { ip link set "zdh-host${1:?usage: cluster_link_down I}" down; }
cluster_link_up() { ip link set "zdh-host${1:?usage: cluster_link_up I}" up; }

# cluster_etcd_kill K: kills member K (SIGKILL, a crash), gone when it returns.
cluster_etcd_kill() {
  local k=${1:?usage: cluster_etcd_kill K} pid
  pid=${CLUSTER_ETCD_PID[k]:-}
  [[ -n $pid ]] || _cluster_fail "etcd$k is not running" || return
  kill -9 "$pid" 2>/dev/null
  _cluster_wait 5 _cluster_gone "$pid" || _cluster_fail "etcd$k (pid $pid) does not die" || return
  CLUSTER_ETCD_PID[k]=""
}

# cluster_etcd_start K: restarts member K on its data dir (it rejoins as the
# member it was), answering when it returns.
cluster_etcd_start() {
  local k=${1:?usage: cluster_etcd_start K}
  [[ -z ${CLUSTER_ETCD_PID[k]:-} ]] || _cluster_fail "etcd$k is running already" || return
  _cluster_etcd_run "$k" existing
  [[ ${2:-} == --no-wait ]] && return # one member of several down cannot be healthy alone
  _cluster_wait 15 _cluster_etcdctl --endpoints "http://10.77.0.$((100 + k)):2379" \
    endpoint health >/dev/null 2>&1 ||
    _cluster_fail "etcd$k not healthy within 15 s of its restart; see $CLUSTER_WORK/etcd$k.log"
}

# The index K of the leader, as the running members say (a line "ENDPOINT,
# ID, VERSION, DB SIZE, IS LEADER, ..." each; a killed one is not asked: it
# would cost the whole timeout). Fails while there is none (an election).
_cluster_leader_once() {
  local k live="" url
  for ((k = 1; k <= CLUSTER_NETCD; k++)); do
    [[ -z ${CLUSTER_ETCD_PID[k]:-} ]] || live+=${live:+,}http://10.77.0.$((100 + k)):2379
  done
  url=$(_cluster_etcdctl --endpoints "$live" endpoint status -w simple 2>/dev/null |
    awk -F', ' '$5 == "true" { print $1; exit }')
  [[ $url =~ ^http://10\.77\.0\.([0-9]+):2379$ ]] || return 1
  echo $((BASH_REMATCH[1] - 100))
}

# cluster_etcd_leader: echoes K, the member that leads (waits up to 10 s).
cluster_etcd_leader() {
  _cluster_wait 10 _cluster_leader_once || _cluster_fail "no etcd leader within 10 s"
}

# cluster_down: everything cluster_up and the other functions made, gone:
# processes (also any other process left in a host's or member's namespace),
# bpffs mounts, namespaces, the bridge, /run/netns's tmpfs. Idempotent, and
# safe after a cluster_up that failed half-way: for `trap cluster_down EXIT`.
cluster_down() {
  local pid ns mnt pids=("${CLUSTER_PIDS[@]}") rc=0 names=()
  # Only names on our tmpfs: without it /run/netns is the real one, whose
  # namespaces (a "host1" of someone else's) are not ours to kill or delete.
  if ((CLUSTER_NETNS_MOUNTS)); then
    mapfile -t names < <(ip netns list 2>/dev/null | awk '$1 ~ /^((host|etcd)[0-9]+|client)$/ { print $1 }')
  fi
  for ns in "${names[@]}"; do mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$ns" 2>/dev/null); done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    _cluster_wait 5 _cluster_gone "$pid" || { _cluster_fail "pid $pid does not die"; rc=1; }
  done
  CLUSTER_PIDS=() CLUSTER_ETCD_PID=() CLUSTER_WS_PID=()
  if [[ -n $CLUSTER_WORK ]]; then
    # Lazily: a bpffs still in use (an open pin) must not stop the rest.
    while read -r mnt; do umount -l "$mnt" || rc=1; done < <(
      awk -v w="$CLUSTER_WORK/" '$3 == "bpf" && index($2, w) == 1 { print $2 }' /proc/self/mounts)
  fi
  # A veth deleted here is gone at once; one left to its namespace's end
  # goes later, asynchronously, and could still hold its name at the next
  # cluster_up.
  for ns in "${names[@]}"; do
    ip link del "zdh-$ns" 2>/dev/null || ip link del "zde-$ns" 2>/dev/null || true
    ip netns del "$ns" || rc=1
  done
  ip link del zdbr0 2>/dev/null || true
  # (ip netns binds /run/netns on itself only when it is no mount point:
  # ours is one, so one unmount.)
  if ((CLUSTER_NETNS_MOUNTS)); then umount -l /run/netns || rc=1; fi
  CLUSTER_NETNS_MOUNTS=0 CLUSTER_WORK="" CLUSTER_HOSTS=0 CLUSTER_NETCD=0 CLUSTER_ETCD=""
  return $rc
}
