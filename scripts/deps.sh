#!/usr/bin/env bash
# Installs the build and test dependencies of zd that are missing (Debian 12).
# Idempotent: prints nothing and touches nothing when everything is present.
# Usage: scripts/deps.sh [EXTRA_PACKAGE...]  (e.g. scripts/fuzz.sh's clang runtime)
set -euo pipefail

packages=(
  cmake make gcc g++ clang llvm bpftool pkg-config
  libbpf-dev libelf-dev zlib1g-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev googletest
  libmnl-dev libsystemd-dev
  libcpp-httplib-dev # health checks' HTTP client
  libboost-dev       # Boost.Beast and Asio: serve's and metrics --listen's HTTP server
  prometheus         # promtool check metrics, in the metrics test
  iproute2 util-linux strace ethtool systemd
  curl # the demo: its page checked from the host, and one API call
  dpkg-dev file binutils # cpack -G DEB: dpkg-shlibdeps computes Depends
  chromium               # the browser tests (tests/browser/), driven by playwright-core
  etcd-server etcd-client # the cluster tests (tests/cluster/): real etcd members in namespaces
  jq                      # the cluster tests and demo read zdctl --json and etcd's answers
  nginx                   # the forwarding test's workspaces (tests/cluster/forward.sh)
  "$@"
)

# node and npm for the browser tests: Debian's, only when there are none. A
# nodejs from elsewhere (nodesource's) has npm inside and conflicts with
# Debian's npm package, so a present node or npm is kept as it is.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

missing=()
for pkg in "${packages[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

if ((EUID != 0)); then
  echo "deps.sh: missing packages: ${missing[*]}" >&2
  echo "deps.sh: run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Installing etcd-server (or prometheus) must not start it on the host: a
# policy-rc.d that says "no" while we install, removed afterwards (even on a
# failure or Ctrl-C: left behind, it would stop every service from starting)
# if it was ours.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  trap 'rm -f "$policy"' EXIT
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps.sh: done"
