# Sourced by scripts/demo.sh and bench/*.sh: serve a directory with a
# throwaway nginx on a free loopback port.
#
#   serve_directory WORK ROOT [EXTRA_HTTP_DIRECTIVES]
#
# Sets PORT and NGINX_PID; WORK holds the configuration, logs and pid file.
# EXTRA_HTTP_DIRECTIVES may say @PORT2@ and @PORT3@ for more ports (set as
# PORT2 and PORT3).
# stop_server stops it by PID.

# A port below Linux's ephemeral range (32768-60999), which the test
# fixtures' kernel-chosen ports come from, so the two never collide.
free_port() {
  local candidate
  for candidate in $(shuf -i 20000-32000 -n 100); do
    if ! (exec 3<> "/dev/tcp/127.0.0.1/$candidate") 2> /dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

serve_directory() {
  local work=$1 root=$2 extra=${3:-} attempt
  mkdir -p "$work/logs" "$work/tmp"
  # Another process may take a port between free_port and nginx's bind:
  # then nginx exits, or the port answers without our marker; try another.
  local marker
  marker=".serve-$RANDOM$RANDOM"
  echo "$marker" > "$root/$marker"
  for attempt in 1 2 3 4 5; do
    PORT="$(free_port)"
    PORT2="$(free_port)"
    PORT3="$(free_port)"
    local conf=${extra//@PORT2@/$PORT2}
    write_nginx_conf "$work" "$root" "${conf//@PORT3@/$PORT3}"
    /usr/sbin/nginx -c "$work/nginx.conf" -p "$work" -e "$work/logs/error.log" -g 'daemon off;' &
    NGINX_PID=$!
    local _
    for _ in $(seq 1 200); do
      if ! kill -0 "$NGINX_PID" 2> /dev/null; then break; fi
      if [[ "$(curl -s "http://127.0.0.1:$PORT/$marker")" == "$marker" ]]; then
        rm -f "$root/$marker"
        return 0
      fi
      sleep 0.05
    done
    stop_server
  done
  rm -f "$root/$marker"
  echo "nginx did not start:" >&2
  cat "$work/logs/error.log" >&2
  return 1
}

write_nginx_conf() { # WORK ROOT EXTRA
  local work=$1 root=$2 extra=$3 user_line=""
  if [[ $(id -u) -eq 0 ]]; then user_line="user root;"; fi
  cat > "$work/nginx.conf" << CONF
$user_line
worker_processes 1;
pid $work/logs/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 64; }
http {
  log_format openbits '\$remote_addr "\$request" \$status \$body_bytes_sent range=\$http_range';
  access_log $work/logs/access.log openbits;
  sendfile on;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;
  $extra
  server { listen 127.0.0.1:$PORT; root $root; }
}
CONF
}

stop_server() {
  if [[ -n "${NGINX_PID:-}" ]]; then
    kill "$NGINX_PID" 2> /dev/null || true
    wait "$NGINX_PID" 2> /dev/null || true
    NGINX_PID=""
  fi
}
