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
NGINX_PID=""
cleanup() {
  if [[ -n "$NGINX_PID" ]]; then kill "$NGINX_PID" 2> /dev/null || true; wait "$NGINX_PID" 2> /dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK"/{www,logs,tmp,state,downloads}
echo "demo: generating files to serve"
head -c $((512 * 1024 * 1024)) /dev/urandom > "$WORK/www/large.bin"
head -c $((10 * 1024 * 1024)) /dev/urandom > "$WORK/www/medium.bin"
echo "hello from openbits" > "$WORK/www/hello.txt"

PORT=""
for candidate in $(shuf -i 20000-60000 -n 100); do
  if ! (exec 3<> "/dev/tcp/127.0.0.1/$candidate") 2> /dev/null; then PORT=$candidate; break; fi
done
USER_LINE=""
if [[ $(id -u) -eq 0 ]]; then USER_LINE="user root;"; fi
cat > "$WORK/nginx.conf" << CONF
$USER_LINE
worker_processes 1;
pid $WORK/logs/nginx.pid;
error_log $WORK/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log $WORK/logs/access.log;
  client_body_temp_path $WORK/tmp/body;
  proxy_temp_path $WORK/tmp/proxy;
  fastcgi_temp_path $WORK/tmp/fastcgi;
  uwsgi_temp_path $WORK/tmp/uwsgi;
  scgi_temp_path $WORK/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT;
    root $WORK/www;
    # Throttled so that the progress is visible to a person.
    limit_rate 200m;
  }
}
CONF
/usr/sbin/nginx -c "$WORK/nginx.conf" -p "$WORK" -e "$WORK/logs/error.log" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 1 200); do
  if curl -s -o /dev/null "http://127.0.0.1:$PORT/hello.txt"; then break; fi
  sleep 0.05
done
echo "demo: nginx serving $WORK/www on http://127.0.0.1:$PORT"

build/release/examples/openbits_download_example "$WORK/state" "$WORK/downloads" \
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
cat "$WORK/logs/access.log" | awk '{print "  " $6, $7, $9, $10}'
