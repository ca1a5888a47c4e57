#!/usr/bin/env bash
# A/B of what a steered connection costs the kernel beyond zd's program:
# CPU time per short-lived HTTP request (all CPUs, from /proc/stat) for
#   direct  client -> 127.0.0.1:8001 (the backend's own socket)
#   zd80    client -> 10.99.0.1:80   steered to 127.0.0.1:8001 (other address, other port)
#   zd8001  client -> 10.99.0.2:8001 steered to 127.0.0.1:8001 (other address, same port)
# The accepted socket of a steered connection has another local address (and
# maybe port) than its listener, so the kernel gives it bind buckets of its
# own (__inet_inherit_port); the variants separate that from the program.
#
# Usage: sudo bench/inherit-ab.sh [ROUNDS]   (needs nginx, wrk, a built build/)
# Runs in a private network + mount namespace; prints medians per variant.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-8}
if [[ -z ${ZD_AB_INNER:-} ]]; then
  ((EUID == 0)) || { echo "inherit-ab.sh: needs root" >&2; exit 1; }
  export ZD_AB_INNER=1
  exec unshare -n -m -- "$0" "$@"
fi

mount --make-rprivate /
W=$(mktemp -d /tmp/zd-ab.XXXXXX)
trap '[[ -f $W/nginx.pid ]] && kill "$(cat "$W/nginx.pid")"; umount "$W/bpf" 2>/dev/null; rm -rf "$W"' EXIT
mkdir "$W/bpf" && mount -t bpf bpf "$W/bpf"
ip link set lo up
ip route add local 10.99.0.0/16 dev lo
sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1

cat >"$W/nginx.conf" <<NGINX
worker_processes 1; pid $W/nginx.pid; error_log $W/error.log; daemon on;
events { worker_connections 4096; }
http { access_log off; server { listen 127.0.0.1:8001 backlog=4096;
  location / { return 200 "blue\n"; } } }
NGINX
nginx -c "$W/nginx.conf"
for _ in $(seq 100); do [[ -s $W/nginx.pid ]] && break; sleep 0.05; done

zdctl() { "$repo/build/user/zdctl" --state "$W/bpf/zd" "$@" >/dev/null; }
zdctl attach
zdctl domain add other-port --listen tcp://10.99.0.1:80
zdctl domain add same-port --listen tcp://10.99.0.2:8001
zdctl workspace add blue --pid "$(cat "$W/nginx.pid")" --socket tcp://127.0.0.1:8001
zdctl switch other-port blue
zdctl switch same-port blue

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; } # jiffies, all CPUs
cpu_per_request() { # URL -> microseconds of CPU per request
  local before after out n
  before=$(busy)
  out=$(wrk -t2 -c16 -d4s -H "Connection: close" "$1")
  after=$(busy)
  n=$(awk '/requests in/{print $1}' <<<"$out")
  awk -v j=$((after - before)) -v n="$n" -v hz="$(getconf CLK_TCK)" \
    'BEGIN{printf "%.2f\n", j * 1e6 / hz / n}'
}
declare -A url=([direct]=http://127.0.0.1:8001/ [zd80]=http://10.99.0.1:80/
  [zd8001]=http://10.99.0.2:8001/)
for r in $(seq "$rounds"); do
  for v in direct zd80 zd8001; do echo "$v $(cpu_per_request "${url[$v]}")"; done
done >"$W/samples"
echo "CPU us per short-lived request, median [min-max] of $rounds rounds:"
for v in direct zd80 zd8001; do
  awk -v v=$v '$1 == v {print $2}' "$W/samples" | sort -n |
    awk -v v=$v '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2;
      printf "  %-7s %.2f [%.2f-%.2f]\n", v, m, a[1], a[NR]}'
done
