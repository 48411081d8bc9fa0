#!/usr/bin/env bash
# Smoke pass of every ringtty-bench scenario, for CI: servers on free ports with
# authentication on (ringtty's default), each scenario for about 2 s against them and in
# --raw mode, asserting exit 0 and a JSON report with the expected fields — never a
# timing. The native server's token comes from its `Login:` line (a random key per
# start), the ttyd-protocol server's from `ringtty token` and --auth-secret-file; a run
# without the token must end with the harness's one-line 401 message. A TLS pass runs a
# few scenarios against `ringtty -S` with a throwaway CA and certificate (openssl CLI, in
# the mktemp directory, removed at exit) and checks the report names the TLS version.
# Usage: perf/bench/smoke.sh [TARGET_DIR]   (builds both binaries in release mode)
set -euo pipefail
cd "$(dirname "$0")/../.."
. perf/lib.sh
target=${1:-${CARGO_TARGET_DIR:-target}}
CARGO_TARGET_DIR=$target cargo build --release --quiet --bin ringtty --bin ringtty-bench
bin=$target/release
work=$(mktemp -d)
pids=()
trap 'kill ${pids[*]} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
start() { # LOG TOKEN_FILE ARGS...: a server; sets $pid, $url and $token (a file, or empty)
  local log=$work/$1 tf=$work/$2; shift 2
  ringtty_start "$log" "$tf" $bin/ringtty --threads 2 -p 0 "$@" || exit 1
  pid=$RT_PID; pids+=("$pid"); url=$RT_URL; token=$RT_TOKEN_FILE
}
# ttyd's protocol: one process per connection running COMMAND + the URL's args. Its
# key is a file, its token minted by `ringtty token` (the other way to get one).
ringtty_secret "$work/secret"
start tty.log tty.token --auth-secret-file "$work/secret" -W -a env; tty_pid=$pid; tty_url=$url
ringtty_mint $bin/ringtty "$work/secret" "$work/tty.token" --sub bench --ttl 1h
tty_token=$work/tty.token
start server.log server.token -W --allow-any-command cat
login=$(sed -n 's/^Login: //p' "$work/server.log" | head -n 1)
auth=(); [ -z "$token" ] || auth=(--token-file "$token")

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
refused() { # NAME ARGS...: a run that the server must refuse with the one-line message
  local name=$1 rc=0; shift
  $bin/ringtty-bench "$@" -q --timeout 10s >"$work/$name.txt" 2>"$work/$name.err" || rc=$?
  [ $rc = 2 ] && grep -q 'the server wants a token' "$work/$name.err" || {
    echo "smoke: $name: expected exit 2 and the token message, got $rc:" >&2; cat "$work/$name.err" >&2; exit 1; }
  echo "smoke: $name ok"
}
for mode in native tty raw; do
  case $mode in
    native) extra=(--url "$url" --pid "$pid" "${auth[@]}") ;;
    tty) extra=(--protocol tty --url "$tty_url" --pid "$tty_pid" --token-file "$tty_token") ;;
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
native=(--url "$url" --pid "$pid" "${auth[@]}")
run throughput-fanout throughput --sessions 1 --viewers 3 --bytes 2M --duration 20s "${native[@]}"
if [ -n "$login" ]; then
  # The printed Login URL as --url (its ?token= is the token; a throwaway key here, so
  # the token on this command line does not matter), and runs without a token.
  run api api --sessions 2 --cycles 40 --url "$login" --pid "$pid"
  refused no-token-native echo --sessions 2 --duration 1s --url "$url"
  refused no-token-tty echo --sessions 2 --duration 1s --protocol tty --url "$tty_url"
else
  run api api --sessions 2 --cycles 40 "${native[@]}"
fi
for mode in native tty; do
  grep -q '"verdict": "no leak' "$work/churn-$mode.json" || { echo "smoke: churn-$mode verdict" >&2; exit 1; }
done

# TLS: HTTPS and WSS against `ringtty -S`, the certificate verified against the throwaway
# CA; the Login URL (https://) as --url implies --tls.
mkdir "$work/tls" && ringtty_certs "$work/tls" || exit 1
start tls.log tls.token -S -C "$work/tls/cert.pem" -K "$work/tls/key.pem" -W --allow-any-command cat
case $url in https://*) ;; *) echo "smoke: ringtty -S printed $url, not https://" >&2; exit 1 ;; esac
tls=(--tls --ca-file "$work/tls/ca.pem" --url "$url" --pid "$pid")
[ -z "$token" ] || tls+=(--token-file "$token")
tls_ok() { # NAME: the report says which TLS version was negotiated
  python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))["params"].get("tls")
assert v in ("TLSv1_3", "TLSv1_2"), f"{sys.argv[1]}: params.tls is {v!r}"' "$work/$1.json"
}
run echo-tls echo --sessions 4 --rate 20 --duration 2s "${tls[@]}"
tls_ok echo-tls
run throughput-tls throughput --sessions 1 --viewers 1 --bytes 2M --duration 20s "${tls[@]}"
tls_ok throughput-tls
run connect-tls connect --sessions 10 "${tls[@]}"
tls_ok connect-tls
run handshake-tls handshake --cycles 50 --sessions 2 "${tls[@]}"
tls_ok handshake-tls
python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["results"]
assert r["handshakes"] == 50 and r["resumed_handshakes"] == 50, r' "$work/handshake-tls.json"
tls_login=$(sed -n 's/^Login: //p' "$work/tls.log" | head -n 1)
if [ -n "$tls_login" ]; then
  run api-tls api --sessions 2 --cycles 20 --url "$tls_login" --ca-file "$work/tls/ca.pem"
  tls_ok api-tls
fi
# No --ca-file: refused before anything is sent, one line naming the option.
rc=0; $bin/ringtty-bench echo --tls --url "$url" -q >/dev/null 2>"$work/no-ca.err" || rc=$?
[ $rc = 2 ] && grep -q -- '--ca-file' "$work/no-ca.err" || {
  echo "smoke: --tls without --ca-file: expected exit 2 naming --ca-file, got $rc:" >&2; cat "$work/no-ca.err" >&2; exit 1; }
echo "smoke: tls ok"
echo "smoke: all scenarios ok"
