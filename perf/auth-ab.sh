#!/usr/bin/env bash
# Authentication on vs off, in the same run (issue 12: "the 1,000-session echo and
# one-session throughput with auth on are within noise of auth off, same run").
# Starts two servers from the same binary with the same options: A with authentication
# on (ringtty's default, a random key; its token read from the `Login:` line into a
# file) and B with --no-auth. Then ROUNDS rounds, each running echo and throughput
# against both, the order alternating from round to round so drift hits both sides,
# and prints both results side by side, per round and the median.
# Usage: perf/auth-ab.sh [SESSIONS] [ROUNDS] [DURATION] [BYTES] [THREADS]
#   SESSIONS  echo sessions (1000), each typing 10 keys/s for DURATION (10s)
#   BYTES     throughput: one session printing base64 of BYTES (64M)
#   THREADS   server workers (2)
# 1,000 sessions need 1,000 PTYs, about 3,000 fds in the server and 1,000 processes:
# the script checks kernel.pty.max and raises the fd and process limits to their hard
# limits (or says what to run). JSON reports are kept in a directory it names.
set -euo pipefail
sessions=${1:-1000}; rounds=${2:-3}; duration=${3:-10s}; bytes=${4:-64M}; threads=${5:-2}
cd "$(dirname "$0")/.."
. perf/lib.sh
command -v python3 >/dev/null || { echo "perf/auth-ab.sh: python3 is missing" >&2; exit 1; }
cargo build --release --quiet --bin ringtty --bin ringtty-bench
bin=target/release
work=$(mktemp -d -t ringtty-auth-ab.XXXXXX)
pids=()
trap 'kill ${pids[*]} 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$work"/*.token' EXIT

# Limits: only one server holds sessions at a time (each run removes what it made).
need=$((sessions + 64))
ringtty_room_for auth-ab "$sessions" || exit 1
if [ "$(ulimit -u)" != unlimited ] && [ "$(ulimit -u)" -lt $need ]; then
  echo "perf/auth-ab.sh: $sessions sessions need $need processes but the limit is $(ulimit -u):" \
    "raise it (\`ulimit -u $need\`) or pass fewer SESSIONS" >&2
  exit 1
fi

opts=(--threads "$threads" -p 0 -W --allow-any-command --max-sessions "$need" -d warn cat)
ringtty_start "$work/on.log" "$work/on.token" $bin/ringtty "${opts[@]}" || exit 1
on_pid=$RT_PID; on_url=$RT_URL; on_auth=()
pids+=("$on_pid")
if [ -n "$RT_TOKEN_FILE" ]; then
  on_auth=(--token-file "$RT_TOKEN_FILE")
else
  echo "auth-ab: WARNING: this ringtty printed no Login line (no authentication in this build?):" \
    "A runs without a token, so A and B measure the same thing" >&2
fi
ringtty_start "$work/off.log" "$work/off.token" $bin/ringtty --no-auth "${opts[@]}" || exit 1
off_pid=$RT_PID; off_url=$RT_URL
pids+=("$off_pid")

run() { # SIDE ROUND SCENARIO ARGS...: one run, its report in $work/SCENARIO-SIDE-ROUND.json
  local side=$1 round=$2 scenario=$3; shift 3
  local json=$work/$scenario-$side-$round.json target
  if [ "$side" = on ]; then
    target=(--url "$on_url" --pid "$on_pid" "${on_auth[@]}")
  else
    target=(--url "$off_url" --pid "$off_pid")
  fi
  echo "auth-ab: round $round/$rounds: $scenario, auth $side" >&2
  $bin/ringtty-bench "$scenario" "$@" "${target[@]}" -q --json "$json" >/dev/null \
    || { echo "perf/auth-ab.sh: $scenario (auth $side) failed" >&2; exit 1; }
}
echo_args=(--sessions "$sessions" --rate 10 --duration "$duration" --concurrency 32)
tput_args=(--sessions 1 --bytes "$bytes" --duration 120s)
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order="on off"; else order="off on"; fi
  for side in $order; do run "$side" "$round" echo "${echo_args[@]}"; done
  for side in $order; do run "$side" "$round" throughput "${tput_args[@]}"; done
done

python3 - "$work" "$rounds" "$($bin/ringtty --version 2>/dev/null | head -n 1)" \
  "echo ${echo_args[*]}" "throughput ${tput_args[*]}" "$threads" <<'EOF'
import json, statistics, sys
work, rounds, version, echo_cmd, tput_cmd, threads = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
def load(scenario, side, r):
    return json.load(open(f"{work}/{scenario}-{side}-{r}.json"))
def echo(r):
    lat = r["latency_us"].get("echo", {})
    res = r["results"]
    cpu = (r.get("server") or {}).get("cpu_s")
    return {"p50": lat.get("p50"), "p99": lat.get("p99"), "lost": res.get("lost"),
            "errors": r["errors"], "cpu": cpu}
def tput(r):
    res = r["results"]
    return {"mbs": res.get("mb_per_s"), "cpugb": res.get("server_cpu_s_per_gb"), "errors": r["errors"]}
def num(x, width, digits):
    return f"{'-':>{width}}" if x is None else f"{x:>{width}.{digits}f}"
def fmt_echo(e):
    return " ".join([num(e["p50"], 7, 0), num(e["p99"], 8, 0), num(e["cpu"], 6, 2),
                     num(e["lost"], 5, 0), num(e["errors"], 4, 0)])
def fmt_tput(t):
    return " ".join([num(t["mbs"], 8, 1), num(t["cpugb"], 8, 2), num(t["errors"], 4, 0)])
def median(rows, key):
    vals = [x[key] for x in rows if x[key] is not None]
    return statistics.median(vals) if vals else None
print(f"{version}, same binary, --threads {threads}; A: auth on (Bearer token), B: --no-auth;")
print(f"{rounds} rounds, interleaved (A first in odd rounds, B first in even ones)")
print()
print(f"{echo_cmd}")
head = f'{"p50 µs":>7} {"p99 µs":>8} {"cpu s":>6} {"lost":>5} {"err":>4}'
print(f'{"":8}  {"auth on":<35}  --no-auth')
print(f'{"":8}  {head}     {head}')
sides = {s: [echo(load("echo", s, r)) for r in range(1, rounds + 1)] for s in ("on", "off")}
for i in range(rounds):
    print(f'round {i + 1:<2}  {fmt_echo(sides["on"][i])}     {fmt_echo(sides["off"][i])}')
med = {s: {k: median(v, k) for k in ("p50", "p99", "lost", "errors", "cpu")} for s, v in sides.items()}
print(f'median    {fmt_echo(med["on"])}     {fmt_echo(med["off"])}')
print()
print(f"{tput_cmd}")
head = f'{"MB/s":>8} {"CPU s/GB":>8} {"err":>4}'
print(f'{"":8}  {"auth on":<22}  --no-auth')
print(f'{"":8}  {head}     {head}')
sides = {s: [tput(load("throughput", s, r)) for r in range(1, rounds + 1)] for s in ("on", "off")}
for i in range(rounds):
    print(f'round {i + 1:<2}  {fmt_tput(sides["on"][i])}     {fmt_tput(sides["off"][i])}')
med = {s: {k: median(v, k) for k in ("mbs", "cpugb", "errors")} for s, v in sides.items()}
print(f'median    {fmt_tput(med["on"])}     {fmt_tput(med["off"])}')
EOF
echo "auth-ab: reports in $work" >&2
