#!/bin/bash
# The main job, end to end: installs the dependencies, builds openbits,
# starts a local nginx with a few generated files, and downloads them
# through the openbits engine with live progress, then checks every byte.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
mkdir -p build
BUILD_DIR=build/release scripts/build.sh Release > /dev/null

WORK="$(mktemp -d /tmp/openbits-demo-XXXXXX)"
chmod 755 "$WORK"
source scripts/lib/serve.sh
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK"/{www,state,downloads}
echo "demo: generating files to serve"
head -c $((512 * 1024 * 1024)) /dev/urandom > "$WORK/www/large.bin"
head -c $((10 * 1024 * 1024)) /dev/urandom > "$WORK/www/medium.bin"
echo "hello from openbits" > "$WORK/www/hello.txt"

# Throttled so that the progress is visible to a person.
serve_directory "$WORK" "$WORK/www" "limit_rate 200m;"
echo "demo: nginx serving $WORK/www on http://127.0.0.1:$PORT"

build/release/bin/openbits_download_example "$WORK/state" "$WORK/downloads" \
  "http://127.0.0.1:$PORT/large.bin" "http://127.0.0.1:$PORT/medium.bin" \
  "http://127.0.0.1:$PORT/hello.txt"

echo "demo: verifying SHA-256 of every downloaded file"
for f in large.bin medium.bin hello.txt; do
  want="$(sha256sum < "$WORK/www/$f" | cut -d' ' -f1)"
  got="$(sha256sum < "$WORK/downloads/$f" | cut -d' ' -f1)"
  if [[ "$want" != "$got" ]]; then echo "demo: $f MISMATCH"; exit 1; fi
  echo "  $f  $got  ok"
done
echo "demo: the requests nginx saw (note the Range requests):"
sed 's/^/  /' "$WORK/logs/access.log"
