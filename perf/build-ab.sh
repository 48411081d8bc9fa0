#!/usr/bin/env bash
# Two builds of ringtty, in the same run (issue 13: "no regression, measured before and
# after in the same run with the harness"). A is the baseline binary (e.g. a release
# build of the commit before a change, from a git worktree), B the one to judge. Both
# start with the same options and authentication on (tokens from their Login lines);
# then ROUNDS rounds, each running every scenario against A and B, the order
# alternating from round to round so drift hits both sides; the medians are printed
# side by side:
#   throughput  one session printing base64 of BYTES: MB/s and server CPU s/GB
#   echo        SESSIONS sessions typing 10 keys/s for DURATION: p50/p99, server CPU
#   fan-out     one session printing BYTES/4 to a driver and 99 viewers (100 clients)
#   idle        SESSIONS attached, silent sessions, on a freshly started server each
#               time (what earlier scenarios left in the allocator would hide it):
#               server RSS KiB per session right after setup and after DURATION idle
# Usage: perf/build-ab.sh BIN_A BIN_B [SESSIONS] [ROUNDS] [DURATION] [BYTES] [THREADS]
#   defaults: 1000 sessions, 3 rounds, 10s, 64M, 2 workers. The harness is B's
#   directory's ringtty-bench (falling back to target/release/ringtty-bench).
# 1,000 sessions need 1,000 PTYs and about 3,000 fds in the server: the script raises
# kernel.pty.max and the fd and process limits if it can (or says what to run).
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,18p' "$0" >&2; exit 2; }
bin_a=$(realpath "$1"); bin_b=$(realpath "$2")
sessions=${3:-1000}; rounds=${4:-3}; duration=${5:-10s}; bytes=${6:-64M}; threads=${7:-2}
cd "$(dirname "$0")/.."
. perf/lib.sh
command -v python3 >/dev/null || { echo "perf/build-ab.sh: python3 is missing" >&2; exit 1; }
bench=$(dirname "$bin_b")/ringtty-bench
[ -x "$bench" ] || bench=target/release/ringtty-bench
[ -x "$bench" ] || { echo "perf/build-ab.sh: no ringtty-bench beside $bin_b: cargo build --release --bin ringtty-bench" >&2; exit 1; }
work=$(mktemp -d -t ringtty-build-ab.XXXXXX)
pids=()
trap 'kill ${pids[*]} 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$work"/*.token' EXIT

need=$((sessions + 64))
ringtty_room_for build-ab "$sessions" || exit 1

opts=(--threads "$threads" -p 0 -W --allow-any-command --max-sessions "$need" -d warn cat)
declare -A url pid auth
fresh() { # SIDE: (re)starts the side's server, waiting for the old one to end
  local bin=$bin_a; [ "$1" = b ] && bin=$bin_b
  if [ -n "${pid[$1]:-}" ]; then kill "${pid[$1]}" 2>/dev/null || true; wait "${pid[$1]}" 2>/dev/null || true; fi
  ringtty_start "$work/$1.log" "$work/$1.token" "$bin" "${opts[@]}" || exit 1
  url[$1]=$RT_URL; pid[$1]=$RT_PID; pids+=("$RT_PID")
  auth[$1]=${RT_TOKEN_FILE:+--token-file $RT_TOKEN_FILE}
}
fresh a; fresh b

run() { # SIDE ROUND NAME SCENARIO ARGS...: one run, its report in $work/NAME-SIDE-ROUND.json
  local side=$1 round=$2 name=$3 scenario=$4; shift 4
  echo "build-ab: round $round/$rounds: $name, build $side" >&2
  # shellcheck disable=SC2086 # auth is "--token-file FILE" or empty
  "$bench" "$scenario" "$@" --url "${url[$side]}" --pid "${pid[$side]}" ${auth[$side]} -q \
    --json "$work/$name-$side-$round.json" >/dev/null \
    || { echo "perf/build-ab.sh: $name (build $side) failed" >&2; exit 1; }
}
fan_bytes=$(numfmt --from=iec "$bytes"); fan_bytes=$((fan_bytes / 4))
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order="a b"; else order="b a"; fi
  for side in $order; do run $side "$round" throughput throughput --sessions 1 --bytes "$bytes" --duration 120s; done
  for side in $order; do run $side "$round" echo echo --sessions "$sessions" --rate 10 --duration "$duration" --concurrency 32; done
  for side in $order; do run $side "$round" fanout throughput --sessions 1 --viewers 99 --bytes "$fan_bytes" --duration 120s; done
  for side in $order; do fresh $side; run $side "$round" idle idle --sessions "$sessions" --duration "$duration" --concurrency 32; done
done

python3 - "$work" "$rounds" "$bin_a" "$bin_b" "$sessions" "$duration" "$bytes" "$threads" <<'EOF'
import json, statistics, sys
work, rounds, bin_a, bin_b, sessions, duration, nbytes, threads = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
def load(name, side, r):
    return json.load(open(f"{work}/{name}-{side}-{r}.json"))
def res(r, key):
    return r["results"].get(key)
metrics = {
    "throughput": [("MB/s", lambda r: res(r, "mb_per_s")), ("CPU s/GB", lambda r: res(r, "server_cpu_s_per_gb"))],
    "echo": [("p50 µs", lambda r: r["latency_us"].get("echo", {}).get("p50")),
             ("p99 µs", lambda r: r["latency_us"].get("echo", {}).get("p99")),
             ("server CPU s", lambda r: (r.get("server") or {}).get("cpu_s")),
             ("lost", lambda r: res(r, "lost"))],
    "fanout": [("MB/s", lambda r: res(r, "mb_per_s")), ("CPU s/GB", lambda r: res(r, "server_cpu_s_per_gb"))],
    "idle": [("KiB/s. setup", lambda r: res(r, "server_rss_kib_per_session_at_setup")),
             ("KiB/s. idle", lambda r: res(r, "server_rss_kib_per_session"))],
}
print(f"A: {bin_a}\nB: {bin_b}\n--threads {threads}, auth on, {rounds} rounds interleaved; medians (per-round values)")
print(f"throughput: 1 session, {nbytes}; echo: {sessions} sessions x 10 keys/s for {duration}; "
      f"fan-out: 1 driver + 99 viewers; idle: {sessions} sessions for {duration}\n")
print(f'{"scenario":<11} {"metric":<13} {"A":>10} {"B":>10}  {"B/A":>6}   rounds A | B')
for name, ms in metrics.items():
    for label, get in ms:
        vals = {s: [get(load(name, s, r)) for r in range(1, rounds + 1)] for s in "ab"}
        med = {s: statistics.median([v for v in vals[s] if v is not None]) if any(v is not None for v in vals[s]) else None for s in "ab"}
        ratio = f"{med['b'] / med['a']:.2f}" if med["a"] and med["b"] is not None else "-"
        fmt = lambda v: "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))
        print(f"{name:<11} {label:<13} {fmt(med['a']):>10} {fmt(med['b']):>10}  {ratio:>6}   "
              f"{' '.join(fmt(v) for v in vals['a'])} | {' '.join(fmt(v) for v in vals['b'])}")
EOF
echo "build-ab: reports in $work" >&2
