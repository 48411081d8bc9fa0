#!/usr/bin/env bash
# Server CPU per echoed WebSocket message: a Python `websockets` load (C connections,
# W messages in flight each) against --ws-echo; the server's CPU time (user+system from
# /proc) divided by the messages echoed, beside the load client's own CPU per message.
# The client is the bottleneck (msg/s is client-bound); CPU per message is what counts.
# Usage: perf/ws-echo-cpu.sh [CONNECTIONS] [MESSAGES_PER_CONN] [WINDOW] [SIZE] [WORKERS]
set -euo pipefail
conns=${1:-50}; per=${2:-4000}; window=${3:-16}; size=${4:-64}; threads=${5:-1}
cd "$(dirname "$0")/.."
venv=target/perf-venv
[ -x $venv/bin/python ] || { python3 -m venv $venv && $venv/bin/pip install -q websockets==17.4; }
cargo build --release --quiet
out=$(mktemp); trap 'kill $pid 2>/dev/null; rm -f $out' EXIT
target/release/ringtty --threads "$threads" -p 0 --ws-echo /echo -P 0 -d warn >"$out" &
pid=$!
for _ in $(seq 100); do grep -q Listening "$out" && break; sleep 0.05; done
url="ws://$(sed -n 's#^Listening on http://\(.*\)/$#\1#p' "$out")/echo"
ticks=$(getconf CLK_TCK)
before=$(awk '{print $14 + $15}' /proc/$pid/stat)
report=$($venv/bin/python perf/ws_load.py "$url" "$conns" "$per" "$window" "$size")
after=$(awk '{print $14 + $15}' /proc/$pid/stat)
echo "$report"
echo "$report" | awk -v s="$before" -v e="$after" -v t="$ticks" -v c="$conns" -v w="$window" -v z="$size" '{
  split($1, m, "="); split($2, wl, "="); split($3, cc, "=")
  printf "connections=%d window=%d size=%dB: %d msg in %.2fs (%.0f msg/s, client-bound)\n", c, w, z, m[2], wl[2], m[2]/wl[2]
  printf "server CPU: %.2f us/message   (load client: %.2f us/message)\n", (e-s)/t*1e6/m[2], cc[2]*1e6/m[2]
}'
