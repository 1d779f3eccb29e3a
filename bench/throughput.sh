#!/bin/bash
# One file from nginx on loopback to disk: openbits (the embedding example,
# which includes opening the queue and Complete()) against `curl -o`,
# alternating A B A B in the same run. Prints median, min and max wall time
# and CPU time, and the ratio openbits/curl.
#
# usage: bench/throughput.sh [SIZE_MIB=1024] [RUNS=5]
# The full harness (wget, aria2, HTTPS, many files, queue scale) is issue 7.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB="${1:-1024}"
RUNS="${2:-5}"
scripts/deps.sh
command -v /usr/bin/time > /dev/null || apt-get install -y -qq time > /dev/null
mkdir -p build
BUILD_DIR=build/release scripts/build.sh Release > /dev/null
CLIENT=build/release/bin/openbits_download_example

WORK="$(mktemp -d /var/tmp/openbits-bench-XXXXXX)"
chmod 755 "$WORK"
source scripts/lib/serve.sh
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK"/{www,out}
# Deterministic content (AES-CTR keystream), as in the test rig.
head -c $((SIZE_MIB * 1024 * 1024)) /dev/zero |
  openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
    -iv 00000000000000000000000000000000 -out "$WORK/www/file.bin"
WANT="$(sha256sum < "$WORK/www/file.bin" | cut -d' ' -f1)"

serve_directory "$WORK" "$WORK/www" "access_log off;"
URL="http://127.0.0.1:$PORT/file.bin"
cat "$WORK/www/file.bin" > /dev/null  # warm the server side's page cache

measure() {  # name command... -> appends "wall cpu" to $WORK/<name>
  local name=$1
  shift
  rm -rf "$WORK/out" && mkdir -p "$WORK/out"
  sync
  /usr/bin/time -f "%e %U %S" -o "$WORK/time" "$@" > /dev/null
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$WORK/time" >> "$WORK/$name"
}

for i in $(seq 1 "$RUNS"); do
  measure openbits "$CLIENT" "$WORK/state-$i" "$WORK/out" "$URL"
  got="$(sha256sum < "$WORK/out/file.bin" | cut -d' ' -f1)"
  [[ "$got" == "$WANT" ]] || { echo "openbits produced a wrong file"; exit 1; }
  measure curl curl -s -o "$WORK/out/file.bin" "$URL"
  # Context: openbits with a 64 MiB checkpoint, and curl made durable.
  OPENBITS_CHECKPOINT_BYTES=$((64 << 20)) measure openbits64 "$CLIENT" "$WORK/state64-$i" "$WORK/out" "$URL"
  measure curlsync sh -c "curl -s -o '$WORK/out/file.bin' '$URL' && sync '$WORK/out/file.bin'"
done

stats() {  # file column -> "median min max"
  cut -d' ' -f"$2" "$1" | sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f %.2f", a[int((NR+1)/2)], a[1], a[NR]}'
}
read -r ob_med ob_min ob_max <<< "$(stats "$WORK/openbits" 1)"
read -r cu_med cu_min cu_max <<< "$(stats "$WORK/curl" 1)"
read -r ob_cpu _ _ <<< "$(stats "$WORK/openbits" 2)"
read -r cu_cpu _ _ <<< "$(stats "$WORK/curl" 2)"
read -r o64_med o64_min o64_max <<< "$(stats "$WORK/openbits64" 1)"
read -r o64_cpu _ _ <<< "$(stats "$WORK/openbits64" 2)"
read -r cs_med cs_min cs_max <<< "$(stats "$WORK/curlsync" 1)"
read -r cs_cpu _ _ <<< "$(stats "$WORK/curlsync" 2)"
echo "${SIZE_MIB} MiB from nginx on loopback to disk, $RUNS runs each, alternating; $(nproc) cores"
printf "%-10s %8s %8s %8s %10s\n" client median min max "cpu(med)"
printf "%-10s %8s %8s %8s %10s\n" openbits "$ob_med" "$ob_min" "$ob_max" "$ob_cpu"
printf "%-10s %8s %8s %8s %10s\n" "curl -o" "$cu_med" "$cu_min" "$cu_max" "$cu_cpu"
printf "%-10s %8s %8s %8s %10s   (checkpoint_bytes 64 MiB)\n" openbits "$o64_med" "$o64_min" "$o64_max" "$o64_cpu"
printf "%-10s %8s %8s %8s %10s   (curl -o, then sync)\n" "curl+sync" "$cs_med" "$cs_min" "$cs_max" "$cs_cpu"
awk -v a="$ob_med" -v b="$cu_med" -v c="$ob_cpu" -v d="$cu_cpu" \
  'BEGIN {printf "ratio openbits/curl: wall %.2f, cpu %.2f\n", a / b, c / d}'
awk -v a="$o64_med" -v b="$cu_med" 'BEGIN {printf "ratio openbits(64 MiB checkpoints)/curl: wall %.2f\n", a / b}'
awk -v a="$ob_med" -v b="$cs_med" 'BEGIN {printf "ratio openbits/(curl+sync): wall %.2f\n", a / b}'
