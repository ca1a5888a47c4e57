#!/usr/bin/env bash
# The full crash-point sweep: every mutating zdctl command killed at every
# bpf, unlink, rename, mkdir and rmdir call in turn, first alone, then with a
# second zdctl racing for the lock; the next zdctl must find the state
# exactly before or exactly after the command (see tests/crash/sweep.sh).
# scripts/test.sh runs a bounded form of it (ctest -L crash).
# Usage: scripts/crash-sweep.sh        (root; a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" >/dev/null
cmake --build "$build_dir" -j"${JOBS:-2}" --target zdctl zd-echo zd-state-dump zd-reshape zd-stage

tests/crash/sweep.sh "$build_dir"
tests/crash/sweep.sh --race "$build_dir"
