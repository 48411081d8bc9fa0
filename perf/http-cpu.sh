#!/usr/bin/env bash
# Server CPU per HTTP request: runs wrk against GET /health and divides the server's
# CPU time (user+system, from /proc) by the requests served, beside wrk's own CPU per
# request, measured in the same run. Needs wrk (apt-get install wrk).
# The server runs with authentication on (its default; the `Login:` line it prints is
# not used): /health is open, so the requests carry no token. AUTH=off runs it with
# --no-auth instead, to compare.
# Usage: [AUTH=off] perf/http-cpu.sh [SECONDS] [CONNECTIONS] [THREADS]
set -euo pipefail
secs=${1:-10}; conns=${2:-64}; threads=${3:-1}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "perf/http-cpu.sh: wrk is missing: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet
bin=target/release/ringtty
out=$(mktemp); trap 'kill $pid 2>/dev/null; rm -f $out' EXIT
auth=(); [ "${AUTH:-on}" = on ] || auth=(--no-auth)
$bin "${auth[@]}" --threads "$threads" -p 0 -d warn >"$out" &
pid=$!
for _ in $(seq 100); do grep -q Listening "$out" && break; sleep 0.05; done
url="$(sed -n 's/^Listening on //p' "$out" | head -n 1)health"
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
before=$(cpu $pid)
# wrk runs under /usr/bin/time-like accounting: read its CPU from bash's `times`.
start_wrk=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
report=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "$url")
end_wrk=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
after=$(cpu $pid)
reqs=$(echo "$report" | awk '/requests in/ {print $1}')
rps=$(echo "$report" | awk '/Requests\/sec/ {print $2}')
p99=$(echo "$report" | awk '$1=="99%" {print $2}')
awk -v s="$before" -v e="$after" -v ws="$start_wrk" -v we="$end_wrk" -v n="$reqs" -v t="$ticks" \
    -v rps="$rps" -v p99="$p99" -v th="$threads" -v c="$conns" 'BEGIN {
  printf "workers=%d connections=%d requests=%d req/s=%s p99=%s\n", th, c, n, rps, p99
  printf "server CPU: %.2f us/request   (wrk, the load tool: %.2f us/request)\n", (e-s)/t*1e6/n, (we-ws)/t*1e6/n
}'
