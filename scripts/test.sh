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

# Mean wall time of one run of a command, in ms, over 10 runs (after one
# untimed run, so that the first command timed pays no more than the next).
per_run_ms() {
  local start end
  "$@" >/dev/null 2>&1 || { echo "(it fails)"; return; }
  start=$(date +%s%N)
  for _ in {1..10}; do "$@" >/dev/null 2>&1 || true; done
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.1f", ns / 10 / 1e6 }'
}
# Most tests start zdctl, ip and strace many times over: what a process
# start costs here, more than the CPU, sets the suite's time. Said before
# and after the run, so a slow run's log says why.
# zdctl is timed where it was built and as a copy in /tmp, since a build
# dir on a slower filesystem than /tmp would be one reason for a slow run.
zdctl_copy=$(mktemp /tmp/zdctl-XXXXXX)
install -m 755 "$build_dir/user/zdctl" "$zdctl_copy"
machine="this machine: $(nproc) cores, Linux $(uname -r); ms per run of /bin/true \
$(per_run_ms /bin/true), of zdctl --version $(per_run_ms "$build_dir/user/zdctl" --version) \
(its copy in /tmp $(per_run_ms "$zdctl_copy" --version)); build dir on \
$(stat -f -c %T "$build_dir"), /tmp on $(stat -f -c %T /tmp)"
rm -f "$zdctl_copy"
echo "test.sh: $machine"

# Two at a time: every test has a namespace of its own, and the crash sweep
# (over a minute alone) then runs beside the rest instead of after it.
status=0
ctest --test-dir "$build_dir" --output-on-failure -j"${JOBS:-2}" "$@" || status=$?
echo "test.sh: $machine"
exit "$status"
