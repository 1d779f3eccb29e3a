#!/bin/sh
# Compile-checks the Windows sources of platform/ with MinGW-w64.
# usage: windows_compile_check.sh CXX SOURCE_DIR WORK_DIR
set -eu
cxx=$1 src=$2 work=$3
mkdir -p "$work/openbits"
echo '#define OPENBITS_EXPORT' > "$work/openbits/export.h"
count=0
for f in "$src"/platform/windows/*.cc; do
  "$cxx" -std=c++20 -Wall -Wextra -Werror -fsyntax-only -I"$src" -I"$src/include" -I"$work" "$f"
  count=$((count + 1))
done
echo "$count passed, 0 failed"
