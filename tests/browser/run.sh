#!/usr/bin/env bash
# The browser test layer: Debian's headless chromium, driven by playwright-core,
# against a real `zdctl serve`, with real connections to the domain it
# switches (domains_page.test.mjs says what is proved).
#
# Everything runs in private network, mount and PID namespaces: the host's
# network and /sys/fs/bpf are never touched, the state lives on a private
# bpffs, and whatever is left running when this script ends (zd-echo, zdctl
# serve, a chromium) dies with the namespace's first process.
#
# Usage: tests/browser/run.sh BUILD_DIR   (root; ctest runs it as browser.domains_page)
# Needs /usr/bin/chromium (scripts/deps.sh) and playwright-core installed into
# BUILD_DIR/tests/browser/deps/ (tests/browser/install.sh; scripts/test.sh runs it).
# Screenshots go to BUILD_DIR/browser/; with ZD_SAVE_SCREENSHOT=1 the one of
# the page after a switch is copied to docs/img/domains-page.png.
# Exit status: the node test's (0 only if every step passed); 77 without root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
[[ $# == 1 ]] || { echo "usage: tests/browser/run.sh BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
readonly CHROMIUM=${ZD_CHROMIUM:-/usr/bin/chromium}
readonly ZDCTL=$build/user/zdctl ECHO=$build/tests/zd-echo HOSTILE=$build/tests/zd-hostile
readonly DEPS=$build/tests/browser/deps

fail() {
  echo "browser test: $*" >&2
  exit 1
}

if [[ ${ZD_BROWSER_IN_NAMESPACE:-} != 1 ]]; then
  if ((EUID != 0)); then
    echo "browser test: skipped, needs root (a BPF program in a private namespace)"
    exit 77
  fi
  # Missing pieces fail the test, loudly: a browser layer that skips when
  # its browser is gone would pass while proving nothing.
  [[ -x $CHROMIUM ]] || fail "no chromium at $CHROMIUM: run scripts/deps.sh (apt-get install chromium)"
  command -v node >/dev/null || fail "no node: run scripts/deps.sh"
  [[ -f $DEPS/node_modules/playwright-core/package.json ]] ||
    fail "playwright-core is not installed in $DEPS: run tests/browser/install.sh $build (scripts/test.sh does)"
  cmp -s "$here/package-lock.json" "$DEPS/node_modules/.zd-installed-lock" ||
    fail "$DEPS holds another package-lock.json than tests/browser/: run tests/browser/install.sh $build"
  for binary in "$ZDCTL" "$ECHO" "$HOSTILE"; do
    [[ -x $binary ]] || fail "$binary is not built (cmake --build $build --target zdctl zd-echo zd-hostile zd_http)"
  done
  # --kill-child: if this script is killed (a ctest timeout), the namespace's
  # first process is, and with it everything in the PID namespace.
  exec unshare --net --mount --pid --fork --kill-child --mount-proc -- \
    env ZD_BROWSER_IN_NAMESPACE=1 bash "$here/run.sh" "$build"
fi

# ---------------------------------------------------------------------------
# Inside the private namespaces, as their PID 1.

mount --make-rprivate /
# A tmpfs of this namespace's own on a directory of the build tree: nothing
# is left behind, in /tmp or anywhere, even if this script is killed.
readonly work=$build/tests/browser/work
mkdir -p "$work"
mount -t tmpfs -o mode=0700 tmpfs "$work"
mount -t tmpfs tmpfs /dev/shm # chromium's shared memory, gone with the namespace
mkdir "$work/bpffs" "$work/tmp"
mount -t bpf -o mode=0700 bpf "$work/bpffs"
readonly STATE=$work/bpffs/zd UNHEALTHY=$work/green-unhealthy
pids=()

cleanup() {
  local status=$? pid
  trap '' INT TERM
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  umount "$work/bpffs" 2>/dev/null || true
  umount "$work" 2>/dev/null || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip link set lo up
ip addr add 10.99.0.1/32 dev lo

# Waits (at most 10 s) until FILE has a line matching PATTERN while PID
# lives; prints the line.
wait_for_line() {
  local file=$1 pattern=$2 pid=$3 what=$4 i line
  for ((i = 0; i < 200; i++)); do
    line=$(grep -m1 -E "$pattern" "$file" 2>/dev/null || true)
    if [[ -n $line ]]; then
      printf '%s\n' "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || fail "$what exited before it was ready: $(cat "$file" "$file.err" 2>/dev/null)"
    sleep 0.05
  done
  fail "$what was not ready within 10 s: $(cat "$file" "$file.err" 2>/dev/null)"
}

zdctl() {
  "$ZDCTL" --state "$STATE" "$@" >/dev/null || fail "zdctl $* failed"
}

"$ECHO" --http blue 127.0.0.1:3001 >"$work/blue" 2>"$work/blue.err" &
blue=$!
pids+=("$blue")
"$ECHO" --http "--unhealthy-while=$UNHEALTHY" green 127.0.0.1:3002 >"$work/green" 2>"$work/green.err" &
green=$!
pids+=("$green")
wait_for_line "$work/blue" '^ready$' "$blue" "zd-echo blue" >/dev/null
wait_for_line "$work/green" '^ready$' "$green" "zd-echo green" >/dev/null

zdctl attach
zdctl domain add shop --listen tcp://10.99.0.1:80
zdctl workspace add blue --pid "$blue" --socket tcp://127.0.0.1:3001
zdctl workspace add green --pid "$green" --socket tcp://127.0.0.1:3002
zdctl switch shop blue

"$ZDCTL" --state "$STATE" serve --listen 127.0.0.1:9477 --json >"$work/serve" 2>"$work/serve.err" &
serve=$!
pids+=("$serve")
serve_json=$(wait_for_line "$work/serve" '^\{.*"url"' "$serve" "zdctl serve")
echo "browser test: zdctl serve is listening on 127.0.0.1:9477"

mkdir -p "$build/browser"
set +e
ZD_SERVE_JSON=$serve_json ZD_ZDCTL=$ZDCTL ZD_HOSTILE=$HOSTILE ZD_STATE=$STATE ZD_UNHEALTHY_FILE=$UNHEALTHY \
  ZD_CHROMIUM=$CHROMIUM ZD_BROWSER_DEPS=$DEPS ZD_SHOTS=$build/browser ZD_SOURCE_DIR=$repo \
  TMPDIR=$work/tmp HOME=$work/tmp \
  node --test --test-reporter=spec "$here/domains_page.test.mjs" &
node_pid=$!
pids+=("$node_pid")
wait "$node_pid"
status=$?
set -e
if ((status != 0)) && [[ -s $work/serve.err ]]; then
  echo "browser test: zdctl serve said:" >&2
  sed 's/^/  /' "$work/serve.err" >&2
fi
((status == 0)) || exit "$status"

# The page of a cluster agent's serve (cluster_page.test.mjs): etcd in this
# namespace, the domain cart in its desired state, serve --cluster.
kill "$serve" 2>/dev/null || true
wait "$serve" 2>/dev/null || true
command -v etcd >/dev/null || fail "no etcd: run scripts/deps.sh (apt-get install etcd-server)"
ip addr add 10.99.0.2/32 dev lo
etcd --name browser --data-dir "$work/etcd" --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
  >"$work/etcd.log" 2>&1 &
etcd=$!
pids+=("$etcd")
readonly ETCD=http://127.0.0.1:2379
for ((i = 0; i < 150; i++)); do
  "$ZDCTL" --cluster "$ETCD" export >/dev/null 2>&1 && break
  kill -0 "$etcd" 2>/dev/null || fail "etcd exited: $(tail -n 5 "$work/etcd.log")"
  sleep 0.1
done
"$ZDCTL" --cluster "$ETCD" domain add cart --listen tcp://10.99.0.2:80 --no-wait >/dev/null
"$ZDCTL" --cluster "$ETCD" switch cart blue --no-wait >/dev/null
"$ZDCTL" --state "$STATE" --cluster "$ETCD" serve --node host1 --listen 127.0.0.1:9477 --json \
  >"$work/agent" 2>"$work/agent.err" &
agent=$!
pids+=("$agent")
agent_json=$(wait_for_line "$work/agent" '^\{.*"url"' "$agent" "zdctl serve --cluster")
set +e
ZD_SERVE_JSON=$agent_json ZD_CHROMIUM=$CHROMIUM ZD_BROWSER_DEPS=$DEPS ZD_SHOTS=$build/browser \
  TMPDIR=$work/tmp HOME=$work/tmp \
  node --test --test-reporter=spec "$here/cluster_page.test.mjs" &
node_pid=$!
pids+=("$node_pid")
wait "$node_pid"
status=$?
set -e
if ((status != 0)) && [[ -s $work/agent.err ]]; then
  echo "browser test: zdctl serve --cluster said:" >&2
  sed 's/^/  /' "$work/agent.err" >&2
fi
exit "$status"
