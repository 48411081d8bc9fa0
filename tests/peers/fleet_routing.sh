#!/usr/bin/env bash
# Two ringtty nodes, web and web-01 (one name a prefix of the other), behind a real
# HAProxy running the config `ringtty fleet haproxy-config` prints: new sessions spread
# over both nodes, every request that names a session (REST, input, the WebSocket, a
# share token, the page's ?s=) reaches the node that owns it, a dead node gets no new
# sessions, a client's own X-Forwarded-For is not believed, and --tls-backend verifies an
# HTTPS node. Run by .ci/run, not by `cargo test`.
#
# Usage: tests/peers/fleet_routing.sh BIN
#   BIN  the ringtty binary (target/debug/ringtty)
# Env:
#   HAPROXY             the haproxy binary (default: haproxy on PATH, else /usr/sbin/haproxy)
#   PYTHON              a Python 3 with websockets (default .ci-venv/bin/python)
#   FLEET_ROUTING_KEEP  set to keep the temporary directory (configs, logs)
# Needs curl and openssl. Prints one line per check; the first failure stops the run with
# "FAIL: ..." and the logs' tails, and exits 1.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BIN" >&2; exit 2; }
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${PYTHON:-$root/.ci-venv/bin/python}
haproxy=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}

work=$(mktemp -d "${TMPDIR:-/tmp}/ringtty-fleet.XXXXXX")
fail() {
  echo "FAIL: $*" >&2
  local log
  for log in "$work"/*.err "$work"/haproxy*.log; do
    [ -s "$log" ] || continue
    echo "--- $log, last 15 lines:" >&2
    tail -n 15 "$log" >&2
  done
  exit 1
}
ok() { echo "ok   $*"; }

# --- prerequisites -----------------------------------------------------------------------
[ -x "$bin" ] || fail "$bin is not an executable (build it with cargo build)"
[ -x "$haproxy" ] || fail "no haproxy at $haproxy (apt-get install -y haproxy, or set HAPROXY)"
for tool in curl openssl; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install -y curl openssl)"
done
"$py" -c 'import websockets' 2>/dev/null ||
  fail "$py cannot import websockets (python3 -m venv .ci-venv && .ci-venv/bin/pip install websockets==17.4, or set PYTHON)"

declare -A pid=()
cleanup() {
  local rc=$? name
  for name in "${!pid[@]}"; do kill "${pid[$name]}" 2>/dev/null || true; done
  for name in "${!pid[@]}"; do wait "${pid[$name]}" 2>/dev/null || true; done
  if [ -n "${FLEET_ROUTING_KEEP:-}" ] || [ "$rc" -ne 0 ]; then
    echo "fleet_routing: configs and logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# retry SECONDS CMD...: runs CMD every 0.1 s until it succeeds or SECONDS pass.
retry() {
  local until=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$until" ] || return 1
    sleep 0.1
  done
}

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# json FIELD < BODY: one field of a JSON object.
json() { "$py" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# call METHOD URL [BODY]: curl with the admin token and a same-origin Origin (the server
# checks Origin against Host on state-changing requests; HAProxy passes Host through),
# printing the status; the body goes to $work/body.
call() {
  local method=$1 url=$2 body=${3:-}
  local args=(-sS --max-time 10 -o "$work/body" -w '%{http_code}' -X "$method"
    -H "Authorization: Bearer $token" -H "Origin: $front")
  [ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
  curl "${args[@]}" "$url" 2>"$work/curl.err" || true
}

# start_node NAME [ARGS...]: ringtty on a free loopback port; sets port[NAME].
declare -A port=()
start_node() {
  local name=$1; shift
  "$bin" -p 0 --node-id "$name" --auth-secret-file "$secret" -W --allow-host 127.0.0.1 \
    --trusted-proxy 127.0.0.1/32 --shutdown-timeout 1s --kill-grace 1s -d warn "$@" bash \
    >"$work/$name.out" 2>"$work/$name.err" &
  pid[$name]=$!
  retry 10 grep -q '^Listening on ' "$work/$name.out" ||
    fail "node $name did not print 'Listening on http(s)://127.0.0.1:PORT/': $(cat "$work/$name.out")"
  port[$name]=$(sed -n 's#^Listening on https\{0,1\}://127\.0\.0\.1:\([0-9]*\)/$#\1#p' "$work/$name.out")
  [ -n "${port[$name]}" ] || fail "node $name: no port in $(cat "$work/$name.out")"
}

# server_status BACKEND SERVER: its status on the stats page at $stats (UP, DOWN, ...).
server_status() {
  curl -sS --max-time 5 "$stats/;csv" | awk -F, -v be="$1" -v sv="$2" '$1 == be && $2 == sv { print $18 }'
}
status_is() { [ "$(server_status "$1" "$2")" = "$3" ]; }

# start_haproxy NAME CONFIG: HAProxy in the foreground, its log in $work/NAME.log.
start_haproxy() {
  "$haproxy" -f "$2" -db >"$work/$1.log" 2>&1 &
  pid[$1]=$!
}

# served_by NODE REQUEST: HAProxy's log line for REQUEST (method, path and query, as
# `option httplog` quotes it) names be_node_NODE/NODE. Each REQUEST is made once.
served_by() {
  local line
  retry 3 grep -qF "\"$2" "$work/haproxy.log" || fail "no '$2' in HAProxy's log"
  line=$(grep -F "\"$2" "$work/haproxy.log" | head -n 1)
  case $line in
    *" be_node_$1/$1 "*) ;;
    *) fail "'$2' did not go to be_node_$1/$1: $line" ;;
  esac
}

t0=$SECONDS
echo "--- $("$haproxy" -v | head -n 1)"
secret=$work/secret
head -c 48 /dev/urandom >"$secret"
chmod 600 "$secret"
token=$("$bin" token --auth-secret-file "$secret" --sub admin --admin --ttl 10m) || fail "ringtty token"
start_node web
start_node web-01
ok "nodes web (127.0.0.1:${port[web]}) and web-01 (127.0.0.1:${port[web-01]}) up, one --auth-secret-file, an admin token from \`ringtty token\`"

# --- 1. the config -----------------------------------------------------------------------
front_port=$(free_port)
stats_port=$(free_port)
front=http://127.0.0.1:$front_port
stats=http://127.0.0.1:$stats_port
cfg=$work/haproxy.cfg
"$bin" fleet haproxy-config --node "web=127.0.0.1:${port[web]}" --node "web-01=127.0.0.1:${port[web-01]}" \
  --bind "127.0.0.1:$front_port" --stats "127.0.0.1:$stats_port" >"$cfg" 2>"$work/gen.err" ||
  fail "ringtty fleet haproxy-config: $(cat "$work/gen.err")"
"$haproxy" -c -f "$cfg" >"$work/check.out" 2>&1 || fail "haproxy -c rejects the config: $(cat "$work/check.out")"
ok "haproxy -c -f: the generated config is valid ($(wc -l <"$cfg") lines)"

# The other shapes: a base path, TLS to the nodes (its CA file must exist for -c), IPv6
# and a host name.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" \
  -days 1 -subj /CN=fleet-routing-ca >/dev/null 2>&1 || fail "openssl could not make a CA certificate"
"$bin" fleet haproxy-config --node web=10.0.0.1:7681 --node web-01=[::1]:7682 --node w3=localhost:7683 \
  --base-path /term/x --host term.example.com --tls-backend --stats 127.0.0.1:8404 >"$work/variant.cfg" ||
  fail "ringtty fleet haproxy-config with every option"
sed -i "s#/etc/ringtty/ca.pem#$work/ca.pem#" "$work/variant.cfg"
"$haproxy" -c -f "$work/variant.cfg" >"$work/check.out" 2>&1 ||
  fail "haproxy -c rejects the config with --base-path, --tls-backend, IPv6 and a host name: $(cat "$work/check.out")"
ok "haproxy -c -f: valid too with --base-path, --host, --tls-backend (its CA path swapped for a real file), an IPv6 node and a host name"

# --- 2. HAProxy in front -----------------------------------------------------------------
start_haproxy haproxy "$cfg"
retry 10 status_is be_fleet web UP && retry 5 status_is be_fleet web-01 UP ||
  fail "HAProxy's health checks (GET /health, Host: localhost) do not mark both nodes UP: web $(server_status be_fleet web), web-01 $(server_status be_fleet web-01)"
ok "HAProxy on $front: both nodes UP in be_fleet (GET /health with Host: localhost -> 200) (t+$((SECONDS - t0))s)"

# --- 3. sessions through HAProxy ---------------------------------------------------------
ids=()
for _ in 1 2 3 4 5 6; do
  r=$(call POST "$front/api/sessions" '{}')
  [ "$r" = 201 ] || fail "POST /api/sessions through HAProxy: want 201, got $r $(cat "$work/body" "$work/curl.err")"
  ids+=("$(json id <"$work/body")")
done
on_a=$(printf '%s\n' "${ids[@]}" | grep -c '^web\.' || true)
on_b=$(printf '%s\n' "${ids[@]}" | grep -c '^web-01\.' || true)
[ "$on_a" -gt 0 ] && [ "$on_b" -gt 0 ] && [ $((on_a + on_b)) -eq 6 ] ||
  fail "6 sessions created through HAProxy should land on both nodes: $on_a on web, $on_b on web-01 (${ids[*]})"
ok "6 × POST /api/sessions through HAProxy (Origin = its URL) -> 201: $on_a on web, $on_b on web-01 (balance leastconn)"
r=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
  -H 'Origin: http://evil.example' -H 'Content-Type: application/json' -d '{}' "$front/api/sessions")
[ "$r" = 403 ] || fail "POST /api/sessions with a foreign Origin through HAProxy: want 403, got $r"
ok "a foreign Origin through HAProxy -> 403 (the nodes see the browser's Host, so the origin check holds)"

for id in "${ids[@]}"; do
  owner=${id%%.*}
  other=web; [ "$owner" = web ] && other=web-01
  r=$(call GET "http://127.0.0.1:${port[$other]}/api/sessions/$id")
  [ "$r" = 404 ] || fail "GET /api/sessions/$id straight at $other (not its owner): want 404, got $r"
  r=$(call GET "$front/api/sessions/$id")
  [ "$r" = 200 ] && [ "$(json id <"$work/body")" = "$id" ] ||
    fail "GET /api/sessions/$id through HAProxy: want 200 from $owner, got $r $(cat "$work/body")"
  r=$(call POST "$front/api/sessions/$id/input" "{\"data\": \"echo rest-\$((6*7))-$id\\n\"}")
  [ "$r" = 200 ] || fail "POST /api/sessions/$id/input through HAProxy: want 200, got $r $(cat "$work/body")"
  r=$(call POST "$front/api/tokens" "{\"session\": \"$id\", \"mode\": \"ro\"}")
  [ "$r" = 201 ] || fail "POST /api/tokens for $id through HAProxy: want 201 from $owner, got $r $(cat "$work/body")"
  share_path=$(json path <"$work/body")
  r=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$front$share_path")
  [ "$r" = 200 ] || fail "GET $share_path (the share link) through HAProxy: want 200, got $r"
  r=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$front/?s=$id")
  [ "$r" = 200 ] || fail "GET /?s=$id through HAProxy: want 200, got $r"
done
ok "for each session through HAProxy: GET -> 200 (straight at the other node: 404), POST input -> 200, POST /api/tokens {\"session\": ID} -> 201, its share link and /?s=ID -> 200"

# A browser may send the body after the head: HAProxy waits for it before routing.
for id in "$(printf '%s\n' "${ids[@]}" | grep -m 1 '^web\.')" "$(printf '%s\n' "${ids[@]}" | grep -m 1 '^web-01\.')"; do
  r=$("$py" - "$front_port" "$token" "$front" "$id" <<'EOF'
import json, socket, sys, time
port, token, origin, sid = sys.argv[1:5]
body = json.dumps({"session": sid}).encode()
head = (f"POST /api/tokens HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Origin: {origin}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n")
with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as s:
    s.sendall(head.encode())
    time.sleep(0.3)
    s.sendall(body)
    answer = b""
    while chunk := s.recv(65536):
        answer += chunk
print(answer.split(b" ", 2)[1].decode())
EOF
  ) || fail "the slow POST /api/tokens for $id"
  [ "$r" = 201 ] || fail "POST /api/tokens for $id with the body 0.3 s after the head: want 201 from ${id%%.*}, got $r"
done
ok "POST /api/tokens with its body 0.3 s after its head (once per node) -> 201: routed on the body (http-request wait-for-body)"

# The page is the same on every node, so which node served /?s=ID is read from HAProxy's
# log ("frontend backend/server ... "GET /?s=ID HTTP/1.1""). POST /api/tokens logs no
# body: its 201 above (the other node answers 404) is the proof.
for id in "${ids[@]}"; do
  for what in "GET /?s=$id HTTP/1.1" "GET /?s=$id&token=" "GET /api/sessions/$id HTTP/1.1" "POST /api/sessions/$id/input "; do
    served_by "${id%%.*}" "$what"
  done
done
ok "HAProxy's log: every /?s=ID, share link, GET and input went to be_node_OWNER/OWNER"

"$py" - "$front" "$token" "${ids[@]}" <<'EOF' || fail "the WebSocket through HAProxy (above)"
import asyncio, json, sys
from websockets.asyncio.client import connect

front, token, ids = sys.argv[1], sys.argv[2], sys.argv[3:]

async def read_until(ws, want):
    out = b""
    while want not in out:
        msg = await asyncio.wait_for(ws.recv(), 10)
        if isinstance(msg, bytes):
            out += msg
        elif json.loads(msg).get("type") == "exit":
            raise RuntimeError(f"session exited before {want!r} came: {out[-300:]!r}")
    return out

async def main():
    for sid in ids:
        url = front.replace("http://", "ws://") + f"/api/sessions/{sid}/ws?token={token}"
        # Origin as a browser on the proxy's page sends it: the node checks it against Host.
        async with connect(url, origin=front, open_timeout=10, max_size=None) as ws:
            # What the REST input typed, replayed from the scrollback: bash computed it.
            await read_until(ws, f"rest-42-{sid}".encode())
            await ws.send(f"echo ws-$((7*6))-{sid}\n".encode())
            await read_until(ws, f"ws-42-{sid}".encode())
    print(f"ok   {len(ids)} WebSockets attached through HAProxy: each replays its REST input's output (rest-42-ID) and runs what is typed on it (ws-42-ID)")

asyncio.run(main())
EOF
# HAProxy logs a WebSocket (a tunnel) when it ends.
for id in "${ids[@]}"; do served_by "${id%%.*}" "GET /api/sessions/$id/ws?token="; done
ok "HAProxy's log: every WebSocket went to be_node_OWNER/OWNER (t+$((SECONDS - t0))s)"

# --- 4. a node dies ----------------------------------------------------------------------
kill -KILL "${pid[web-01]}"
{ wait "${pid[web-01]}" || true; } 2>/dev/null
unset 'pid[web-01]'
down_at=$SECONDS
retry 5 status_is be_fleet web-01 DOWN || fail "5 s after web-01 died HAProxy still has it $(server_status be_fleet web-01)"
ok "web-01 killed: HAProxy marks it DOWN within $((SECONDS - down_at)) s (inter 1s fall 2)"
for _ in 1 2 3 4; do
  r=$(call POST "$front/api/sessions" '{}')
  [ "$r" = 201 ] || fail "POST /api/sessions with web-01 down: want 201, got $r $(cat "$work/body")"
  id=$(json id <"$work/body")
  [ "${id%%.*}" = web ] || fail "a new session with web-01 down landed on ${id%%.*}: $id"
done
ok "4 new sessions with web-01 down -> 201, all on web"
id=$(printf '%s\n' "${ids[@]}" | grep -m 1 '^web-01\.')
r=$(call GET "$front/api/sessions/$id")
[ "$r" = 503 ] || fail "GET a dead node's session $id through HAProxy: want 503, got $r"
ok "a session of the dead web-01 -> 503 from HAProxy (never served by web)"
# --- 5. a client's own X-Forwarded-For is not believed ------------------------------------
# A node with a per-client rate limit behind its own HAProxy; the client is 127.0.0.2 and
# sends a new made-up X-Forwarded-For each time. The node must still see one client
# (HAProxy drops the client's header and adds the address it saw), and limit it.
start_node n3 --rate-limit 5/s
front3=http://127.0.0.1:$(free_port)
"$bin" fleet haproxy-config --node "n3=127.0.0.1:${port[n3]}" --bind "${front3#http://}" >"$work/n3.cfg" ||
  fail "ringtty fleet haproxy-config for n3"
start_haproxy haproxy-n3 "$work/n3.cfg"
retry 5 curl -sf --max-time 2 "$front3/health" || fail "n3's HAProxy on $front3 does not answer GET /health"
# All at once, so that a slow machine cannot spread them thinner than the limit.
curls=()
for i in $(seq 20); do
  curl -sS --max-time 5 -o /dev/null -w '%{http_code}' --interface 127.0.0.2 \
    -H "X-Forwarded-For: 192.0.2.$i" "$front3/health" >"$work/xff.$i" 2>&1 &
  curls+=($!)
done
wait "${curls[@]}" || true
codes=$(for i in $(seq 20); do cat "$work/xff.$i"; echo; done | sort | uniq -c | xargs)
grep -qx 429 "$work"/xff.* ||
  fail "20 requests at once from 127.0.0.2 through HAProxy, each with another X-Forwarded-For, were never rate-limited (--rate-limit 5/s): the node believed the client's header (answers: $codes)"
ok "20 requests at once from 127.0.0.2, each with a made-up X-Forwarded-For, through HAProxy to a node with --rate-limit 5/s: limited as one client (answers: $codes)"

# --- 6. --tls-backend --------------------------------------------------------------------
# A node serving HTTPS with a certificate of a throwaway CA: HAProxy verifies it with that
# CA (the config's /etc/ringtty/ca.pem swapped for it) and checks and routes over TLS;
# with another CA's file the node never comes UP.
bash "$here/tls_pki.sh" "$work/pki" >/dev/null 2>&1 || fail "tests/peers/tls_pki.sh could not make a PKI"
start_node tls1 -S -C "$work/pki/server.pem" -K "$work/pki/server.key"
front=http://127.0.0.1:$(free_port)
stats=http://127.0.0.1:$(free_port)
"$bin" fleet haproxy-config --node "tls1=127.0.0.1:${port[tls1]}" --bind "${front#http://}" \
  --stats "${stats#http://}" --tls-backend >"$work/tls.cfg" || fail "ringtty fleet haproxy-config --tls-backend"
sed "s#/etc/ringtty/ca.pem#$work/pki/ca.pem#" "$work/tls.cfg" >"$work/tls-ca.cfg"
start_haproxy haproxy-tls "$work/tls-ca.cfg"
retry 5 status_is be_fleet tls1 UP ||
  fail "--tls-backend: the HTTPS node is not UP (health check over TLS): $(server_status be_fleet tls1)"
r=$(call POST "$front/api/sessions" '{}')
[ "$r" = 201 ] || fail "POST /api/sessions through HAProxy to the HTTPS node: want 201, got $r $(cat "$work/body")"
id=$(json id <"$work/body")
r=$(call GET "$front/api/sessions/$id")
[ "$r" = 200 ] || fail "GET /api/sessions/$id through HAProxy to the HTTPS node: want 200, got $r"
ok "--tls-backend: the HTTPS node is UP (checked over TLS, verified with its CA), POST /api/sessions -> 201 ($id), GET it -> 200"
kill "${pid[haproxy-tls]}"
{ wait "${pid[haproxy-tls]}" || true; } 2>/dev/null
unset 'pid[haproxy-tls]'
sed "s#/etc/ringtty/ca.pem#$work/pki/other-ca.pem#" "$work/tls.cfg" >"$work/tls-other.cfg"
start_haproxy haproxy-tls-other "$work/tls-other.cfg"
retry 5 status_is be_fleet tls1 DOWN ||
  fail "--tls-backend with another CA's file: the node should be DOWN (certificate not verified), is $(server_status be_fleet tls1)"
r=$(call GET "$front/api/sessions/$id")
[ "$r" = 503 ] || fail "GET /api/sessions/$id with another CA's file: want 503 (no verified server), got $r"
ok "--tls-backend with another CA's file: the node is DOWN and its session -> 503 (verify required holds)"

echo "fleet_routing: all passed in $((SECONDS - t0)) s"
