#!/bin/bash
# Configures and builds openbits into BUILD_DIR (default build/<type>).
# usage: scripts/build.sh [Release|RelWithDebInfo|Debug]
set -euo pipefail
cd "$(dirname "$0")/.."
TYPE="${1:-RelWithDebInfo}"
BUILD_DIR="${BUILD_DIR:-build/$(echo "$TYPE" | tr '[:upper:]' '[:lower:]')}"
mkdir -p "$(dirname "$BUILD_DIR")"
LAUNCHER=()
if command -v ccache > /dev/null; then
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$TYPE" -DOPENBITS_DEV_MODE=ON \
  "${LAUNCHER[@]}" > "$BUILD_DIR.configure.log" 2>&1 || {
  cat "$BUILD_DIR.configure.log"
  exit 1
}
echo "build: compiling into $BUILD_DIR (log: $BUILD_DIR.build.log)" >&2
cmake --build "$BUILD_DIR" -j "$(nproc)" > "$BUILD_DIR.build.log" 2>&1 || {
  grep -E "error|Error" -A3 "$BUILD_DIR.build.log" | head -60 >&2
  echo "build: FAILED, see $BUILD_DIR.build.log" >&2
  exit 1
}
echo "$BUILD_DIR"
