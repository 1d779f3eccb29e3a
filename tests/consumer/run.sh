#!/bin/bash
# Installs the build tree into a temporary prefix, builds tests/consumer
# against it with find_package(openbits), and runs the result.
# usage: run.sh BUILD_DIR SOURCE_DIR [CXX_FLAGS] [LINKER_FLAGS]
# (the flags of the build being tested, e.g. its sanitizers)
set -euo pipefail
BUILD_DIR=$1
SOURCE_DIR=$2
CXX_FLAGS=${3:-}
LINKER_FLAGS=${4:-}
WORK="$(mktemp -d /tmp/openbits-consumer-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD_DIR" --prefix "$WORK/prefix" > "$WORK/install.log"
cmake -S "$SOURCE_DIR/tests/consumer" -B "$WORK/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" -DCMAKE_CXX_FLAGS="$CXX_FLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS="$LINKER_FLAGS" > "$WORK/configure.log" || { cat "$WORK/configure.log"; exit 1; }
cmake --build "$WORK/build" > "$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
"$WORK/build/consumer" "$WORK/state"
echo "1 passed, 0 failed"
