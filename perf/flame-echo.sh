#!/usr/bin/env bash
# A CPU flamegraph of the server during the harness's echo (issue 14 asks for both IO
# paths at 1,000 sessions): starts BIN with `--io IO` (auth on, --threads 2, `cat`
# sessions), runs SESSIONS sessions x 10 keys/s for 20 s, and 8 s in records the server
# with `perf record -F 199 --call-graph dwarf` for 6 s; writes OUT.svg (inferno) and
# prints the top 25 symbols by self time.
# Needs: perf (apt install linux-perf), inferno (cargo install inferno --locked).
# Usage: perf/flame-echo.sh BIN IO SESSIONS OUT
set -euo pipefail
[ $# -eq 4 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
bin=$(realpath "$1"); io=$2; sessions=$3; out=$4
cd "$(dirname "$0")/.."
. perf/lib.sh
for tool in perf inferno-collapse-perf inferno-flamegraph; do
  command -v "$tool" >/dev/null || { echo "perf/flame-echo.sh: $tool is missing (see the header)" >&2; exit 1; }
done
bench=target/release/ringtty-bench
[ -x "$bench" ] || { echo "perf/flame-echo.sh: cargo build --release --bin ringtty-bench" >&2; exit 1; }
ringtty_room_for flame-echo "$sessions" || exit 1
work=$(mktemp -d -t ringtty-flame.XXXXXX)
trap 'kill "${RT_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
ringtty_start "$work/s.log" "$work/s.token" "$bin" --io "$io" --threads 2 -p 0 -W --allow-any-command \
  --max-sessions $((sessions + 64)) -d warn cat
"$bench" echo --sessions "$sessions" --rate 10 --duration 20s --concurrency 32 --url "$RT_URL" \
  --token-file "$RT_TOKEN_FILE" -q --json "$work/echo.json" >/dev/null &
harness=$!
sleep 8
perf record -F 199 --call-graph dwarf,16384 -p "$RT_PID" -o "$work/perf.data" -- sleep 6 >/dev/null 2>&1
wait $harness
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph \
  --title "ringtty --io $io, echo $sessions sessions x 10 keys/s" > "$out.svg"
perf report -i "$work/perf.data" --no-children --sort sym --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -25
echo "flame-echo: $out.svg" >&2
