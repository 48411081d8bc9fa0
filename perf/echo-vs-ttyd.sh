#!/usr/bin/env bash
# CPU per echoed keystroke, ringtty's two IO paths against ttyd (issue 14), in the same
# run: SESSIONS sessions typing 10 keys/s for DURATION into `stty raw -echo; exec cat`,
# against (1) ttyd through its own `tty` protocol (`TTYD -W -a env`, no auth: ttyd has
# no token auth), (2) ringtty --io epoll and (3) ringtty --io uring, both through the
# native protocol with authentication on (the default), ROUNDS rounds with the order
# rotating; each server is started fresh for each run; (4) the floor: the harness's
# `--raw --relay`, raw PTYs behind a one-thread epoll relay that only copies bytes (its
# thread's CPU stands for the server's). Prints medians of the server's CPU seconds
# (from /proc, --pid), CPU µs per keystroke, and echo p50/p99.
# ttyd is not in the repository: build 1.7.7 from its public source (a Release build
# against Debian's libwebsockets) in a scratch directory; docs/PERFORMANCE.md says how.
# Usage: perf/echo-vs-ttyd.sh TTYD RINGTTY [SESSIONS] [ROUNDS] [DURATION]
#   defaults: 500 sessions, 3 rounds, 10s; the harness is RINGTTY's directory's
#   ringtty-bench (falling back to target/release/ringtty-bench).
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
ttyd=$(realpath "$1"); rt=$(realpath "$2")
sessions=${3:-500}; rounds=${4:-3}; duration=${5:-10s}
cd "$(dirname "$0")/.."
. perf/lib.sh
bench=$(dirname "$rt")/ringtty-bench
[ -x "$bench" ] || bench=target/release/ringtty-bench
[ -x "$bench" ] || { echo "perf/echo-vs-ttyd.sh: build the harness: cargo build --release --bin ringtty-bench" >&2; exit 1; }
ringtty_room_for echo-vs-ttyd "$sessions" || exit 1
work=$(mktemp -d -t ringtty-echo-vs-ttyd.XXXXXX)
pid=
trap 'kill ${pid:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$work"/*.token' EXIT
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; }
common=(echo --sessions "$sessions" --rate 10 --duration "$duration" --concurrency 32 -q)

run() { # SIDE ROUND
  local side=$1 round=$2 out="$work/$1-$2.json"
  echo "echo-vs-ttyd: round $round/$rounds: $side" >&2
  case $side in
    ttyd)
      port=$((7800 + RANDOM % 100))
      "$ttyd" -p "$port" -W -a env >"$work/ttyd.log" 2>&1 &
      pid=$!
      for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/token" >/dev/null && break; sleep 0.05; done
      "$bench" "${common[@]}" --protocol tty --url "http://127.0.0.1:$port" --pid "$pid" --json "$out" >/dev/null ;;
    epoll|uring)
      ringtty_start "$work/$side.log" "$work/$side.token" "$rt" --io "$side" --threads 2 -p 0 -W \
        --allow-any-command --max-sessions $((sessions + 64)) -d warn cat
      pid=$RT_PID
      "$bench" "${common[@]}" --url "$RT_URL" --token-file "$RT_TOKEN_FILE" --pid "$pid" --json "$out" >/dev/null ;;
    relay)
      "$bench" "${common[@]}" --raw --relay --json "$out" >/dev/null ;;
  esac
  stop
}
sides=(ttyd epoll uring relay)
for round in $(seq "$rounds"); do
  for i in 0 1 2 3; do run "${sides[$(((i + round - 1) % 4))]}" "$round"; done
done

python3 - "$work" "$rounds" "$sessions" "$duration" <<'PY'
import json, statistics, sys
work, rounds, sessions, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = {}
for side in ("ttyd", "epoll", "uring", "relay"):
    runs = [json.load(open(f"{work}/{side}-{r}.json")) for r in range(1, rounds + 1)]
    cpu = [(r.get("server") or {}).get("cpu_s") for r in runs]
    keys = [r["results"].get("echoes") for r in runs]
    per = [c / k * 1e6 if c is not None and k else None for c, k in zip(cpu, keys)]
    p50 = [r["latency_us"].get("echo", {}).get("p50") for r in runs]
    p99 = [r["latency_us"].get("echo", {}).get("p99") for r in runs]
    lost = [r["results"].get("lost") for r in runs]
    med = lambda v: statistics.median([x for x in v if x is not None]) if any(x is not None for x in v) else None
    rows[side] = dict(cpu=med(cpu), per=med(per), p50=med(p50), p99=med(p99), lost=max(x or 0 for x in lost),
                      rounds=" ".join("-" if c is None else f"{c:.2f}" for c in cpu))
print(f"echo: {sessions} sessions x 10 keys/s for {duration}, {rounds} rounds; medians; server CPU per round")
print(f'{"server":<14} {"CPU s":>7} {"µs/key":>8} {"p50 µs":>9} {"p99 µs":>10} {"lost":>5}   CPU s per round')
names = {"ttyd": "ttyd 1.7.7", "epoll": "ringtty epoll", "uring": "ringtty uring", "relay": "relay (floor)"}
for side, r in rows.items():
    f = lambda v, w, d=1: f"{v:>{w}.{d}f}" if v is not None else f"{'-':>{w}}"
    print(f"{names[side]:<14} {f(r['cpu'],7,2)} {f(r['per'],8)} {f(r['p50'],9)} {f(r['p99'],10)} {r['lost']:>5}   {r['rounds']}")
t, e, u = (rows[s]["cpu"] for s in ("ttyd", "epoll", "uring"))
if t and e and u:
    print(f"\nuring/epoll CPU {u / e:.2f}, uring/ttyd {u / t:.2f}, epoll/ttyd {e / t:.2f}")
f = rows["relay"]["per"]
if f and rows["ttyd"]["per"]:
    print(f"relay floor / ttyd per keystroke {f / rows['ttyd']['per']:.2f}")
PY
echo "echo-vs-ttyd: reports in $work" >&2
