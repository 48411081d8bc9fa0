#!/usr/bin/env bash
# Server CPU per echoed WebSocket message: a Python `websockets` load (C connections,
# W messages in flight each) against --ws-echo; the server's CPU time (user+system from
# /proc) divided by the messages echoed, beside the load client's own CPU per message.
# The client is the bottleneck (msg/s is client-bound); CPU per message is what counts.
# The server runs with authentication on (its default); the token from its `Login:`
# line goes to the load client in a file and on every upgrade as `Authorization:
# Bearer`. AUTH=off runs it with --no-auth instead.
# Usage: [AUTH=off] perf/ws-echo-cpu.sh [CONNECTIONS] [MESSAGES_PER_CONN] [WINDOW] [SIZE] [WORKERS]
set -euo pipefail
conns=${1:-50}; per=${2:-4000}; window=${3:-16}; size=${4:-64}; threads=${5:-1}
cd "$(dirname "$0")/.."
. perf/lib.sh
venv=target/perf-venv
[ -x $venv/bin/python ] || { python3 -m venv $venv && $venv/bin/pip install -q websockets==17.4; }
cargo build --release --quiet
work=$(mktemp -d); trap 'kill ${RT_PID:-} 2>/dev/null; rm -rf "$work"' EXIT
auth=(); [ "${AUTH:-on}" = on ] || auth=(--no-auth)
ringtty_start "$work/out" "$work/token" target/release/ringtty "${auth[@]}" --threads "$threads" -p 0 \
  --ws-echo /echo -P 0 -d warn || exit 1
pid=$RT_PID
url="ws://${RT_URL#http://}/echo"
ticks=$(getconf CLK_TCK)
before=$(awk '{print $14 + $15}' /proc/$pid/stat)
report=$($venv/bin/python perf/ws_load.py "$url" "$conns" "$per" "$window" "$size" $RT_TOKEN_FILE)
after=$(awk '{print $14 + $15}' /proc/$pid/stat)
echo "$report"
echo "$report" | awk -v s="$before" -v e="$after" -v t="$ticks" -v c="$conns" -v w="$window" -v z="$size" '{
  split($1, m, "="); split($2, wl, "="); split($3, cc, "=")
  printf "connections=%d window=%d size=%dB: %d msg in %.2fs (%.0f msg/s, client-bound)\n", c, w, z, m[2], wl[2], m[2]/wl[2]
  printf "server CPU: %.2f us/message   (load client: %.2f us/message)\n", (e-s)/t*1e6/m[2], cc[2]*1e6/m[2]
}'
