#!/usr/bin/env bash
# permessage-deflate (--compress) on terminal output shaped like `ls -lR /usr`: one
# release server with --compress, a ttyd-protocol client (perf/compress_client.py, raw
# socket + zlib) that offers the extension or not, in the same run. Each connection
# runs `cat` of a listing file (made once by `ls -lR /usr`, repeated to SIZE_MB) in a
# fresh ttyd session; the client reads until the close. Reports, for off and on: the
# bytes on the wire, the terminal output delivered, and the server's CPU (user+system
# from /proc) per GB of output.
# Usage: perf/compress.sh [SIZE_MB] [RUNS]
set -euo pipefail
size_mb=${1:-256}; runs=${2:-3}
cd "$(dirname "$0")/.."
. perf/lib.sh
cargo build --release --quiet
work=$(mktemp -d); trap 'kill ${RT_PID:-} 2>/dev/null; rm -rf "$work"' EXIT
ls -lR /usr >"$work/one" 2>/dev/null || true
one=$(stat -c %s "$work/one")
copies=$(( size_mb * 1024 * 1024 / one + 1 ))
for _ in $(seq "$copies"); do cat "$work/one"; done >"$work/listing"
truncate -s $((size_mb * 1024 * 1024)) "$work/listing"
echo "output: ls -lR /usr ($one bytes) repeated to $size_mb MiB; $runs runs per mode, alternating"
ringtty_start "$work/out" "$work/token" target/release/ringtty --threads 1 -p 0 -P 0 -d warn \
  --compress cat "$work/listing" || exit 1
pid=$RT_PID
hostport=${RT_URL#http://}
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
declare -A wire out scpu ccpu secs
for mode in off on; do wire[$mode]=0; out[$mode]=0; scpu[$mode]=0; ccpu[$mode]=0; secs[$mode]=0; done
for _ in $(seq "$runs"); do
  for mode in off on; do
    before=$(cpu)
    r=$(python3 perf/compress_client.py "$hostport" "$mode" $RT_TOKEN_FILE)
    after=$(cpu)
    eval "$(echo "$r" | tr ' ' '\n' | sed -n 's/^\(wire\|output\|seconds\|client_cpu\)=\(.*\)/r_\1=\2/p')"
    wire[$mode]=$(( ${wire[$mode]} + r_wire )); out[$mode]=$(( ${out[$mode]} + r_output ))
    scpu[$mode]=$(( ${scpu[$mode]} + after - before ))
    ccpu[$mode]=$(echo "${ccpu[$mode]} + $r_client_cpu" | bc -l); secs[$mode]=$(echo "${secs[$mode]} + $r_seconds" | bc -l)
  done
done
printf '%-5s %14s %14s %8s %16s %10s\n' mode wire_bytes output_bytes ratio server_cpu_s/GB wall_s
for mode in off on; do
  awk -v m="$mode" -v w="${wire[$mode]}" -v o="${out[$mode]}" -v c="${scpu[$mode]}" -v t="$ticks" -v s="${secs[$mode]}" \
    'BEGIN { printf "%-5s %14d %14d %8.3f %16.2f %10.2f\n", m, w, o, w/o, c/t/(o/1e9), s }'
done
