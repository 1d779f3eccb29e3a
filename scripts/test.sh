#!/bin/bash
# Runs every openbits test on this machine: installs the dependencies, then
#   1. builds with AddressSanitizer + UndefinedBehaviorSanitizer (the `asan`
#      preset) and runs the whole suite in that build: unit, integration,
#      crash and end-to-end tests, the install check, the bench smoke run,
#      the lint checks and the fuzz stage (its own Clang build);
#   2. builds with ThreadSanitizer (the `tsan` preset) and runs the suite
#      again there, without the lint, fuzz, bench and install tests, which
#      run no threads of ours.
# Each test starts the servers it needs itself (nginx, Apache, squid, an MIT
# KDC on free loopback ports, state in temporary directories) and stops
# them by PID. A sanitizer report fails the test that caused it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
JOBS="$(nproc)"

stage() {
  local preset="$1"
  echo "test: building the $preset preset (log: build/$preset.build.log)" >&2
  mkdir -p build
  cmake --preset "$preset" > "build/$preset.configure.log" 2>&1 || {
    cat "build/$preset.configure.log"
    exit 1
  }
  cmake --build --preset "$preset" -j "$JOBS" > "build/$preset.build.log" 2>&1 || {
    grep -E "error|Error" -A3 "build/$preset.build.log" | head -60 >&2
    echo "test: the $preset build FAILED, see build/$preset.build.log" >&2
    exit 1
  }
  echo "test: running the suite in the $preset build" >&2
  ctest --preset "$preset" -j "$JOBS"
}

# UBSan: a report is an error, with the stack that caused it.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# TSan: a report fails the process at exit (66), so the test fails.
export TSAN_OPTIONS="second_deadlock_stack=1"
SECONDS=0
stage asan
echo "test: asan stage passed after ${SECONDS} s" >&2
stage tsan
echo "test: all stages passed in ${SECONDS} s" >&2
