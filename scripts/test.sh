#!/usr/bin/env bash
# Builds zd and runs the whole test suite (unit, bpf, integration, browser)
# with ctest.
# The privileged layers need root; each test makes its own network namespace.
# Usage: scripts/test.sh [--sanitize] [extra ctest args, e.g. -L unit or -R switch]
#   --sanitize  the same suite with everything (zdctl and the helpers too)
#               built with ASan + UBSan (-DZD_SANITIZE=ON) in build-sanitize/
# Exit status is ctest's.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
cmake_args=()
if [[ "${1:-}" == --sanitize ]]; then
  shift
  build_dir=${BUILD_DIR:-build-sanitize}
  # Benchmarks under ASan would measure ASan: not built there.
  cmake_args=(-DZD_SANITIZE=ON -DZD_BUILD_BENCH=OFF)
  # A report exits 86, not 1: a test that expects zdctl to refuse (exit 1)
  # must not take a sanitizer report for a refusal.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-exitcode=86:print_stacktrace=1}
  # Tests labelled heavy (the crash sweep) are too slow under ASan for every
  # run; naming the label (-L heavy) runs them.
  # The Load tests assert throughput (200 switches within 30 s beside
  # thousands of connections), which ASan's slowdown, two tests at a time,
  # does not give; they check the kernel's behaviour, and run in the plain suite.
  [[ " $* " == *heavy* ]] || set -- -LE heavy -E '^Load\.' "$@"
fi

scripts/deps.sh
cmake -S . -B "$build_dir" "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j"${JOBS:-2}"
# The browser tests' playwright-core, into the build dir (npm ci; nothing
# when the same package-lock.json is already installed there).
tests/browser/install.sh "$build_dir"

# Two at a time: every test has a namespace of its own, and the crash sweep
# (over two minutes alone) then runs beside the rest instead of after it.
exec ctest --test-dir "$build_dir" --output-on-failure -j"${JOBS:-2}" "$@"
