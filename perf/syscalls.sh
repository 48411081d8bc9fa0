#!/usr/bin/env bash
# The server's system calls per echoed keystroke (issue 14 asks for both IO paths).
# Starts BIN (auth on, --threads 2, `cat` sessions), runs the harness's echo scenario
# (SESSIONS sessions x 10 keys/s for 12 s), and 4 s in attaches `strace -c -f` to the
# server for 6 s; prints strace's table and the calls per keystroke, taking the PTY
# input writes (one per keystroke) as the count of keystrokes in the window. strace
# slows every call down: compare counts, not times.
# Usage: perf/syscalls.sh BIN [SESSIONS]   (default 100 sessions)
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
bin=$(realpath "$1"); sessions=${2:-100}
cd "$(dirname "$0")/.."
. perf/lib.sh
command -v strace >/dev/null || { echo "perf/syscalls.sh: strace is missing (apt install strace)" >&2; exit 1; }
bench=target/release/ringtty-bench
[ -x "$bench" ] || { echo "perf/syscalls.sh: build the harness first: cargo build --release --bin ringtty-bench" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d -t ringtty-syscalls.XXXXXX)
trap 'kill "${RT_PID:-}" 2>/dev/null || true; rm -f "$work"/*.token' EXIT
ringtty_start "$work/s.log" "$work/s.token" "$bin" --threads 2 -p 0 -W --allow-any-command \
  --max-sessions $((sessions + 64)) -d warn cat
"$bench" echo --sessions "$sessions" --rate 10 --duration 12s --concurrency 32 --url "$RT_URL" \
  --token-file "$RT_TOKEN_FILE" -q --json "$work/echo.json" >/dev/null &
harness=$!
sleep 4
timeout -s INT 6 strace -c -f -p "$RT_PID" -o "$work/strace.txt" 2>/dev/null || true
wait $harness
cat "$work/strace.txt"
python3 - "$work/strace.txt" <<'PY'
import sys
calls = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
        calls[f[-1]] = int(f[3])
keys = calls.get("write", 0)
if keys:
    total = sum(calls.values())
    per = ", ".join(f"{k} {v / keys:.2f}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1]))
    print(f"\n{keys} keystrokes (PTY input writes) in the window: {total / keys:.2f} system calls each ({per})")
PY
