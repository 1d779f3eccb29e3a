#!/bin/bash
# Builds the libFuzzer targets with Clang (ASan + UBSan) and runs each for
# SECONDS (default 60) on a copy of its seed corpus (tests/fuzz/corpus).
# Exits non-zero, with the crashing input saved under build/fuzz/crashes,
# if any target fails.
#
# usage: tests/fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(fuzz_http_headers fuzz_challenge fuzz_url fuzz_rpc fuzz_store fuzz_bitsadmin)
BUILD=build/fuzz
mkdir -p "$BUILD"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only" \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
  -DCMAKE_CXX_FLAGS="$SAN -fsanitize=fuzzer-no-link" -DCMAKE_EXE_LINKER_FLAGS="$SAN" \
  -DOPENBITS_FUZZ=ON -DOPENBITS_BUILD_TESTS=OFF -DOPENBITS_BUILD_EXAMPLES=OFF \
  -DOPENBITS_BUILD_BENCH=OFF -DOPENBITS_INSTALL=OFF > "$BUILD.configure.log" 2>&1 ||
  { cat "$BUILD.configure.log"; exit 1; }
cmake --build "$BUILD" --target "${TARGETS[@]}" > "$BUILD.build.log" 2>&1 ||
  { tail -40 "$BUILD.build.log"; exit 1; }
mkdir -p "$BUILD/crashes"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizer/lsan.supp"
# The targets' scratch state (databases, sockets) on tmpfs where there is
# one: the store's fsyncs would otherwise dominate the run.
SCRATCH_ROOT=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && SCRATCH_ROOT=/dev/shm

run_target() {
  local target="$1" corpus scratch
  corpus="$(mktemp -d)"
  scratch="$(mktemp -d "$SCRATCH_ROOT/openbits-fuzz.XXXXXX")"
  cp -r "tests/fuzz/corpus/${target#fuzz_}/." "$corpus/"
  if TMPDIR="$scratch" "$BUILD/bin/$target" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
    -artifact_prefix="$BUILD/crashes/$target-" "$corpus" > "$BUILD/$target.log" 2>&1; then
    echo "$target: $(grep -o 'Done [0-9]* runs' "$BUILD/$target.log" | grep -o '[0-9]*') runs in ${SECONDS_EACH} s, no crash"
    rm -rf "$corpus" "$scratch"
  else
    echo "$target: FAILED (log: $BUILD/$target.log)"
    tail -30 "$BUILD/$target.log"
    rm -rf "$corpus" "$scratch"
    return 1
  fi
}

# One target per core at a time; each is single-threaded.
PARALLEL="$(nproc)"
failed=0
pids=()
for target in "${TARGETS[@]}"; do
  if ((${#pids[@]} >= PARALLEL)); then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
  run_target "$target" &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
exit $failed
