#!/usr/bin/env bash
# Configures and builds zd in BUILD_DIR (default: build/ in the repo).
# Usage: scripts/build.sh [extra cmake -D options...]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" "$@" >/dev/null
cmake --build "$build_dir" -j"${JOBS:-2}"
