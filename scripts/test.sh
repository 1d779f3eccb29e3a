#!/bin/bash
# Runs every openbits test on this machine: installs the dependencies,
# builds, and runs the unit, integration and crash tests. Each test starts
# the servers it needs itself (nginx on free loopback ports, state in
# temporary directories) and stops them by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
mkdir -p build
BUILD_DIR=build/test scripts/build.sh RelWithDebInfo
cd build/test
ctest --output-on-failure --timeout 900 -j "$(nproc)"
