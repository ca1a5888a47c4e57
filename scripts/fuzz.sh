#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) in
# build-fuzz/ and runs each for SECONDS (default 60), one after the other.
# Seeds are read from tests/fuzz/corpus/NAME/ and left untouched; what a run
# finds goes to build-fuzz/corpus/NAME/. With --merge, each target's corpus
# is then minimized (-merge=1) back into tests/fuzz/corpus/NAME/.
# Exits 1 if any target crashed (a sanitizer report, an uncaught exception
# other than zd::Error, a failed expectation, a timeout); the input that did
# it is in build-fuzz/artifacts/, and its log in build-fuzz/logs/NAME.log.
# Usage: scripts/fuzz.sh [--merge] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

merge=0
if [[ "${1:-}" == --merge ]]; then
  merge=1
  shift
fi
seconds=${1:-60}

scripts/deps.sh clang-14 llvm-14 libclang-rt-14-dev
build_dir=${BUILD_DIR:-build-fuzz}
cmake -S . -B "$build_dir" -DZD_FUZZ=ON -DZD_BUILD_TESTS=OFF \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
nice -n 5 cmake --build "$build_dir" --target zd_fuzz -j"${JOBS:-2}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/bin/llvm-symbolizer-14}
mkdir -p "$build_dir/artifacts" "$build_dir/logs"
failed=()
for source in tests/fuzz/*_fuzz.cpp; do
  name=$(basename "$source" _fuzz.cpp)
  seeds=tests/fuzz/corpus/$name
  found=$build_dir/corpus/$name
  log=$build_dir/logs/$name.log
  mkdir -p "$seeds" "$found"
  if ! "$build_dir/tests/fuzz/${name}_fuzz" "$found" "$seeds" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build_dir/artifacts/$name-" >"$log" 2>&1; then
    failed+=("$name")
    echo "fuzz.sh: $name: CRASH, see $log and $build_dir/artifacts/$name-*" >&2
    continue
  fi
  # libFuzzer's last status line: runs, coverage, corpus and speed.
  done_line=$(grep -m1 -E '^#[0-9]+[[:space:]]+DONE' "$log" || true)
  echo "fuzz.sh: $name: ok ${done_line:-(no DONE line in $log)}"
  if ((merge)); then
    minimized=$build_dir/minimized/$name
    rm -rf "$minimized" && mkdir -p "$minimized"
    "$build_dir/tests/fuzz/${name}_fuzz" -merge=1 "$minimized" "$seeds" "$found" \
      >>"$log" 2>&1
    rm -f "$seeds"/* && cp "$minimized"/* "$seeds"/
    echo "fuzz.sh: $name: corpus minimized to $(ls "$seeds" | wc -l) files"
  fi
done

if ((${#failed[@]})); then
  echo "fuzz.sh: crashed: ${failed[*]}" >&2
  exit 1
fi
