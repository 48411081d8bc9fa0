#!/usr/bin/env bash
# Plain vs TLS, the same binary in the same run: what `-S` costs. Two servers start with
# the same options and authentication on (tokens from their Login lines): A plain, B with
# `-S -C -K` and a throwaway CA and localhost certificate made with the openssl CLI in a
# mktemp directory (ECDSA P-256; removed at exit). Then ROUNDS rounds, each running every
# measurement against A and B, the order alternating from round to round so drift hits
# both sides; the medians are printed side by side:
#   throughput  one session printing base64 of BYTES: MB/s, server and harness CPU s/GB
#   echo        SESSIONS sessions typing 10 keys/s for DURATION: p50/p99, server CPU
#   idle        SESSIONS attached, silent sessions for DURATION, on a freshly started
#               server each time: server RSS KiB per session after setup and when idle
#   handshake   HANDSHAKES new connections by 2 workers, each connect (+ TLS handshake)
#               + GET /health: per second, and server CPU µs each; TLS also resuming
#               session tickets (the harness's other connections resume, as a browser)
# Usage: perf/tls-ab.sh RINGTTY [SESSIONS] [ROUNDS] [DURATION] [BYTES] [HANDSHAKES] [THREADS]
#   defaults: 100 sessions, 3 rounds, 10s, 64M, 2000 handshakes, 2 workers. The harness is
#   RINGTTY's directory's ringtty-bench (falling back to target/release/ringtty-bench).
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
rt=$(realpath "$1")
sessions=${2:-100}; rounds=${3:-3}; duration=${4:-10s}; bytes=${5:-64M}; handshakes=${6:-2000}; threads=${7:-2}
cd "$(dirname "$0")/.."
. perf/lib.sh
command -v python3 >/dev/null || { echo "perf/tls-ab.sh: python3 is missing" >&2; exit 1; }
bench=$(dirname "$rt")/ringtty-bench
[ -x "$bench" ] || bench=target/release/ringtty-bench
[ -x "$bench" ] || { echo "perf/tls-ab.sh: no ringtty-bench beside $rt: cargo build --release --bin ringtty-bench" >&2; exit 1; }
work=$(mktemp -d -t ringtty-tls-ab.XXXXXX)
declare -A url pid auth
trap 'kill ${pid[plain]:-} ${pid[tls]:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$work"/*.token "$work"/*.pem' EXIT
ringtty_room_for tls-ab "$sessions" || exit 1
ringtty_certs "$work" || exit 1

opts=(--threads "$threads" -p 0 -W --allow-any-command --max-sessions $((sessions + 64)) -d warn)
tls_opts=(-S -C "$work/cert.pem" -K "$work/key.pem")
fresh() { # SIDE: (re)starts the side's server, waiting for the old one to end
  local side=$1 extra=()
  [ "$side" = tls ] && extra=("${tls_opts[@]}")
  if [ -n "${pid[$side]:-}" ]; then kill "${pid[$side]}" 2>/dev/null || true; wait "${pid[$side]}" 2>/dev/null || true; fi
  ringtty_start "$work/$side.log" "$work/$side.token" "$rt" "${opts[@]}" "${extra[@]}" cat || exit 1
  url[$side]=$RT_URL; pid[$side]=$RT_PID
  auth[$side]=${RT_TOKEN_FILE:+--token-file $RT_TOKEN_FILE}
  [ "$side" = plain ] || auth[$side]+=" --ca-file $work/ca.pem"
}
fresh plain; fresh tls

run() { # SIDE ROUND NAME SCENARIO ARGS...: one run, its report in $work/NAME-SIDE-ROUND.json
  local side=$1 round=$2 name=$3 scenario=$4; shift 4
  echo "tls-ab: round $round/$rounds: $name, $side" >&2
  # shellcheck disable=SC2086 # auth is "--token-file FILE [--ca-file FILE]" or empty
  "$bench" "$scenario" "$@" --url "${url[$side]}" --pid "${pid[$side]}" ${auth[$side]} -q \
    --json "$work/$name-$side-$round.json" >/dev/null \
    || { echo "perf/tls-ab.sh: $name ($side) failed" >&2; exit 1; }
}
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order="plain tls"; else order="tls plain"; fi
  for side in $order; do run "$side" "$round" throughput throughput --sessions 1 --bytes "$bytes" --duration 120s; done
  for side in $order; do run "$side" "$round" echo echo --sessions "$sessions" --rate 10 --duration "$duration" --concurrency 32; done
  for side in $order; do run "$side" "$round" handshake handshake --cycles "$handshakes" --sessions 2 --duration 60s; done
  for side in $order; do fresh "$side"; run "$side" "$round" idle idle --sessions "$sessions" --duration "$duration" --concurrency 32; done
done

python3 - "$work" "$rounds" "$rt" "$sessions" "$duration" "$bytes" "$handshakes" "$threads" <<'EOF'
import json, statistics, sys
work, rounds, rt, sessions, duration, nbytes, handshakes, threads = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
def load(name, side, r):
    return json.load(open(f"{work}/{name}-{side}-{r}.json"))
def res(r, key):
    return r["results"].get(key)
def lat(name, q):
    return lambda r: r["latency_us"].get(name, {}).get(q)
metrics = {
    "throughput": [("MB/s", lambda r: res(r, "mb_per_s")),
                   ("server CPU s/GB", lambda r: res(r, "server_cpu_s_per_gb")),
                   ("harness CPU s/GB", lambda r: res(r, "client_cpu_s_per_gb"))],
    "echo": [("p50 µs", lat("echo", "p50")), ("p99 µs", lat("echo", "p99")),
             ("server CPU s", lambda r: (r.get("server") or {}).get("cpu_s")),
             ("lost", lambda r: res(r, "lost"))],
    "idle": [("KiB/sess setup", lambda r: res(r, "server_rss_kib_per_session_at_setup")),
             ("KiB/sess idle", lambda r: res(r, "server_rss_kib_per_session"))],
    "handshake": [("full /s", lambda r: res(r, "handshakes_per_s")),
                  ("server µs each", lambda r: res(r, "server_cpu_us_per_handshake")),
                  ("p50 µs", lat("handshake", "p50")),
                  ("resumed /s", lambda r: res(r, "resumed_handshakes_per_s")),
                  ("server µs resumed", lambda r: res(r, "server_cpu_us_per_resumed_handshake"))],
}
tls = load("echo", "tls", 1)["params"]
print(f"{rt}\n--threads {threads}, auth on, {rounds} rounds interleaved; medians (per-round values)")
print(f"TLS: {tls.get('tls')} {tls.get('tls_cipher')} {tls.get('tls_kx')}, ECDSA P-256 certificate, "
      f"resumption: {tls.get('tls_resumption')}")
print(f"throughput: 1 session, {nbytes}; echo: {sessions} sessions x 10 keys/s for {duration}; "
      f"idle: {sessions} sessions for {duration}; handshake: {handshakes} connections + GET /health, 2 workers\n")
print(f'{"scenario":<11} {"metric":<18} {"plain":>10} {"TLS":>10} {"TLS/plain":>9}   rounds plain | TLS')
for name, ms in metrics.items():
    for label, get in ms:
        vals = {s: [get(load(name, s, r)) for r in range(1, rounds + 1)] for s in ("plain", "tls")}
        med = {s: statistics.median([v for v in vals[s] if v is not None]) if any(v is not None for v in vals[s]) else None
               for s in vals}
        ratio = f"{med['tls'] / med['plain']:.2f}" if med["plain"] and med["tls"] is not None else "-"
        fmt = lambda v: "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))
        print(f"{name:<11} {label:<18} {fmt(med['plain']):>10} {fmt(med['tls']):>10} {ratio:>9}   "
              f"{' '.join(fmt(v) for v in vals['plain'])} | {' '.join(fmt(v) for v in vals['tls'])}")
errors = {f"{n}-{s}-{r}": load(n, s, r)["errors"] for n in metrics for s in ("plain", "tls") for r in range(1, rounds + 1)}
bad = {k: v for k, v in errors.items() if v}
print(f"\nerrors: {bad if bad else 'none'}")
EOF
echo "tls-ab: reports in $work" >&2
