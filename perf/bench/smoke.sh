#!/usr/bin/env bash
# Smoke pass of every ringtty-bench scenario, for CI: a server on a free port, each
# scenario for about 2 s against it and in --raw mode, asserting exit 0 and a JSON
# report with the expected fields — never a timing.
# Usage: perf/bench/smoke.sh [TARGET_DIR]   (builds both binaries in release mode)
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:-${CARGO_TARGET_DIR:-target}}
CARGO_TARGET_DIR=$target cargo build --release --quiet --bin ringtty --bin ringtty-bench
bin=$target/release
work=$(mktemp -d)
pids=()
trap 'kill ${pids[*]} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
start() { # LOG ARGS...: a server; sets $pid and $url
  local log=$work/$1; shift
  $bin/ringtty --threads 2 -p 0 "$@" >"$log" 2>&1 &
  pid=$!; pids+=("$pid")
  for _ in $(seq 200); do grep -q '^Listening on' "$log" && break; sleep 0.05; done
  url=$(sed -n 's|^Listening on \(http://[^/]*\)/.*|\1|p' "$log")
  [ -n "$url" ] || { echo "smoke: server did not start" >&2; cat "$log" >&2; exit 1; }
}
# ttyd's protocol: one process per connection running COMMAND + the URL's args.
start tty.log -W -a env; tty_pid=$pid; tty_url=$url
start server.log -W --allow-any-command cat

run() { # NAME ARGS...: one run, then check its JSON
  local name=$1; shift
  $bin/ringtty-bench "$@" -q --timeout 10s --json "$work/$name.json" >"$work/$name.txt"
  python3 - "$work/$name.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
for k in ("scenario", "mode", "params", "results", "latency_us", "errors", "elapsed_s"):
    assert k in r, f"{sys.argv[1]}: no {k}"
assert r["errors"] == 0, f"{sys.argv[1]}: errors {r['errors_by_kind']}"
EOF
  echo "smoke: $name ok"
}
for mode in native tty raw; do
  case $mode in
    native) extra=(--url "$url" --pid "$pid") ;;
    tty) extra=(--protocol tty --url "$tty_url" --pid "$tty_pid") ;;
    raw) extra=(--raw) ;;
  esac
  run echo-$mode echo --sessions 4 --rate 20 --duration 2s "${extra[@]}"
  run throughput-$mode throughput --sessions 2 --bytes 2M --duration 20s "${extra[@]}"
  run connect-$mode connect --sessions 20 "${extra[@]}"
  run churn-$mode churn --cycles 20 --sessions 2 "${extra[@]}"
  run burst-$mode burst --sessions 4 --rate 2 --duration 2s --burst-bytes 16K "${extra[@]}"
  [ $mode = raw ] || run stability-$mode stability --sessions 4 --rate 5 --duration 2s "${extra[@]}"
  [ $mode = raw ] || run idle-$mode idle --sessions 20 --duration 1s "${extra[@]}"
done
native=(--url "$url" --pid "$pid")
run throughput-fanout throughput --sessions 1 --viewers 3 --bytes 2M --duration 20s "${native[@]}"
run api api --sessions 2 --cycles 40 "${native[@]}"
for mode in native tty; do
  grep -q '"verdict": "no leak' "$work/churn-$mode.json" || { echo "smoke: churn-$mode verdict" >&2; exit 1; }
done
echo "smoke: all scenarios ok"
