#!/bin/bash
# The main job, end to end: installs the dependencies, builds openbits,
# starts a local nginx with generated files, and downloads them
#   1. with bitsadmin /transfer through the openbitsd daemon (live progress),
#   2. as a background job whose daemon is killed with SIGKILL halfway; the
#      next bitsadmin call restarts the daemon, which resumes the download,
#   3. with the embedding example (the library in-process),
# then checks every byte and shows the Range requests nginx received.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
mkdir -p build
BUILD_DIR=build/release scripts/build.sh Release > /dev/null
BIN="$PWD/build/release/bin"

WORK="$(mktemp -d /tmp/openbits-demo-XXXXXX)"
chmod 755 "$WORK"
source scripts/lib/serve.sh
export OPENBITS_STATE_DIR="$WORK/state"
unset OPENBITS_SOCKET
cleanup() {
  if [[ -f "$WORK/state/openbitsd.pid" ]]; then kill "$(cat "$WORK/state/openbitsd.pid")" 2> /dev/null || true; fi
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK"/{www,downloads,library}
echo "demo: generating files to serve"
head -c $((512 * 1024 * 1024)) /dev/urandom > "$WORK/www/large.bin"
head -c $((10 * 1024 * 1024)) /dev/urandom > "$WORK/www/medium.bin"
echo "hello from openbits" > "$WORK/www/hello.txt"
# /slow/ is throttled so that progress and the crash can be watched.
ln -s . "$WORK/www/slow"
serve_directory "$WORK" "$WORK/www" \
  "map \$uri \$rate { default 0; ~^/slow/ 60m; } limit_rate \$rate; sendfile_max_chunk 256k;"
URL="http://127.0.0.1:$PORT"
echo "demo: nginx serving $WORK/www on $URL"
B="$BIN/bitsadmin"

echo
echo "== 1. bitsadmin /transfer (the daemon starts on first use)"
"$B" /transfer demo /priority foreground \
  "$URL/slow/large.bin" "$WORK/downloads/large.bin" \
  "$URL/medium.bin" "$WORK/downloads/medium.bin" \
  "$URL/hello.txt" "$WORK/downloads/hello.txt"

echo
echo "== 2. a background job, and kill -9 of the daemon in the middle"
ID="$("$B" /rawreturn /create crash-demo)"
"$B" /addfile "$ID" "$URL/slow/large.bin" "$WORK/downloads/large-again.bin"
"$B" /resume "$ID"
while :; do
  done_bytes="$("$B" /rawreturn /getbytestransferred "$ID")"
  printf '\r   %s bytes so far' "$done_bytes"
  if ((done_bytes > 200 * 1024 * 1024)); then break; fi
  sleep 0.2
done
PID="$(cat "$WORK/state/openbitsd.pid")"
kill -9 "$PID"
echo
echo "   killed openbitsd (pid $PID) with SIGKILL at $done_bytes bytes"
"$B" /list
while [[ "$("$B" /rawreturn /getstate "$ID")" != TRANSFERRED ]]; do
  printf '\r   %s bytes (new daemon pid %s)' "$("$B" /rawreturn /getbytestransferred "$ID")" \
    "$(cat "$WORK/state/openbitsd.pid")"
  sleep 0.2
done
echo
"$B" /info "$ID"
"$B" /complete "$ID"

echo
echo "== 3. the same library, embedded in an application"
"$BIN/openbits_download_example" "$WORK/library-state" "$WORK/library" \
  "$URL/medium.bin" "$URL/hello.txt"

echo
echo "demo: verifying SHA-256 of every downloaded file"
check() {
  local want got
  want="$(sha256sum < "$1" | cut -d' ' -f1)"
  got="$(sha256sum < "$2" | cut -d' ' -f1)"
  if [[ "$want" != "$got" ]]; then echo "  $2 MISMATCH"; exit 1; fi
  echo "  $2  ok"
}
check "$WORK/www/large.bin" "$WORK/downloads/large.bin"
check "$WORK/www/large.bin" "$WORK/downloads/large-again.bin"
check "$WORK/www/medium.bin" "$WORK/downloads/medium.bin"
check "$WORK/www/hello.txt" "$WORK/downloads/hello.txt"
check "$WORK/www/medium.bin" "$WORK/library/medium.bin"
echo "demo: requests for the killed download (it resumed with a Range, not from 0):"
grep "large.bin" "$WORK/logs/access.log" | tail -2 | sed 's/^/  /'
