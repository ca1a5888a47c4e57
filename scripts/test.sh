#!/usr/bin/env bash
# Builds zd and runs the whole test suite (unit, bpf, integration) with ctest.
# The privileged layers need root; each test makes its own network namespace.
# Usage: scripts/test.sh [extra ctest args, e.g. -L unit or -R switch]
# Exit status is ctest's.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" >/dev/null
cmake --build "$build_dir" -j"${JOBS:-2}"

exec ctest --test-dir "$build_dir" --output-on-failure "$@"
