#!/usr/bin/env bash
# Issue 16's fleet test on loopback, with real components: a nats-server, three ringtty
# nodes (n1, n2, n3) joined over it, and HAProxy in front running the config that
# `ringtty fleet haproxy-config` prints. Sessions are created, attached and typed into
# through HAProxy (each lands on its owner); the fleet is listed from every node; node 2
# is killed and its sessions leave the fleet's list within 3 s while the others stay; a
# session is deleted and a kill switch thrown from a node that does not own them; tokens
# revoked by jti and by user are refused on every node; with NATS stopped every node
# serves its own sessions and fleet answers say partial, and a revocation made meanwhile
# reaches the others once NATS is back (after an outage long enough for the nodes to
# drop each other, the revoking node reconnecting first); a node drained by the API and
# one by SIGUSR2 take no new sessions (HAProxy sends them elsewhere) while their own
# sessions go on, and a drained node exits when its last session ends. Last, behind
# HAProxy without its del-header (as behind another proxy), a client's own
# X-Forwarded-For line before HAProxy's is not believed by --rate-limit. Live upgrade is
# tested elsewhere. Run by .ci/run, not by `cargo test`; about 25 s.
#
# Usage: tests/peers/fleet.sh BIN
#   BIN  the ringtty binary (target/debug/ringtty)
# Env:
#   HAPROXY      the haproxy binary (default: haproxy on PATH, else /usr/sbin/haproxy)
#   NATS_SERVER  the nats-server binary (default: nats-server on PATH, else /usr/sbin/nats-server)
#   PYTHON       a Python 3 with websockets (default .ci-venv/bin/python)
#   FLEET_KEEP   set to keep the temporary directory (configs, logs)
# Needs curl. Prints one line per check; the first failure stops the run with
# "FAIL: ..." and the logs' tails, and exits 1.
set -euo pipefail
export LC_ALL=C   # sort and Python's sorted() agree on ids
[ $# -eq 1 ] || { echo "usage: $0 BIN" >&2; exit 2; }
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${PYTHON:-$root/.ci-venv/bin/python}
haproxy=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
nats_server=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}

work=$(mktemp -d "${TMPDIR:-/tmp}/ringtty-fleet-issue16.XXXXXX")
# fail writes to fd 3, the script's stderr, even where a caller silenced stderr.
exec 3>&2
fail() {
  exec 2>&3
  echo "FAIL: $*" >&2
  if [ -s "$work/body" ]; then
    echo "--- the last answer's body: $(head -c 2000 "$work/body")" >&2
  fi
  local log
  for log in "$work"/*.err "$work"/nats*.log "$work"/haproxy.log; do
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
[ -x "$nats_server" ] || fail "no nats-server at $nats_server (apt-get install -y nats-server, or set NATS_SERVER)"
command -v curl >/dev/null || fail "curl is not installed (apt-get install -y curl)"
"$py" -c 'import websockets' 2>/dev/null ||
  fail "$py cannot import websockets (python3 -m venv .ci-venv && .ci-venv/bin/pip install websockets==17.4, or set PYTHON)"

declare -A pid=()
cleanup() {
  local rc=$? name
  # CONT first: a node held stopped (section 7) would not act on TERM.
  for name in "${!pid[@]}"; do kill -CONT "${pid[$name]}" 2>/dev/null || true; done
  for name in "${!pid[@]}"; do kill "${pid[$name]}" 2>/dev/null || true; done
  for name in "${!pid[@]}"; do wait "${pid[$name]}" 2>/dev/null || true; done
  if [ -n "${FLEET_KEEP:-}" ] || [ "$rc" -ne 0 ]; then
    echo "fleet: configs and logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# retry SECONDS CMD...: runs CMD every 0.1 s until it succeeds or SECONDS pass.
retry() {
  local until=$(($(now_ms) + $1 * 1000)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$until" ] || return 1
    sleep 0.1
  done
}
now_ms() { date +%s%3N; }
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# call METHOD URL [BODY [TOKEN]]: curl with TOKEN (default the admin's) and the URL's own
# origin as Origin (the nodes check Origin against Host on state-changing requests);
# prints the status, the body goes to $work/body and the head to $work/head.
call() {
  local method=$1 url=$2 body=${3:-} tok=${4:-$admin}
  local origin=${url#http://}
  origin=http://${origin%%/*}
  local args=(-sS --max-time 10 -o "$work/body" -D "$work/head" -w '%{http_code}' -X "$method"
    -H "Authorization: Bearer $tok" -H "Origin: $origin")
  [ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
  curl "${args[@]}" "$url" 2>"$work/curl.err" || true
}

# upgrade URL: a WebSocket handshake's answer (never 101 here: only refusals and
# redirects are asked this way), status printed, head and body as for call.
upgrade() {
  local origin=${1#http://}
  origin=http://${origin%%/*}
  curl -sS --max-time 5 -o "$work/body" -D "$work/head" -w '%{http_code}' -H "Origin: $origin" \
    -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$1" 2>"$work/curl.err" || true
}

# holds EXPR [ARGS...]: whether the Python expression EXPR holds of the last answer's
# body (d, parsed JSON) and ARGS (a, a list of strings). For conditions polled by retry.
holds() {
  local expr=$1; shift
  "$py" - "$work/body" "$expr" "$@" <<'EOF'
import json, sys
path, expr, a = sys.argv[1], sys.argv[2], sys.argv[3:]
try:
    d = json.load(open(path))
    sys.exit(0 if eval("(" + expr + ")") else 1)
except Exception as e:
    print(f"({expr}: {e!r})", file=sys.stderr)
    sys.exit(1)
EOF
}
# expect EXPR WHAT [ARGS...]: EXPR holds (as for holds), or the run fails with WHAT.
# Never inside a function that retry polls: retry silences it, and fail exits the script.
expect() {
  local expr=$1 what=$2; shift 2
  holds "$expr" "$@" || fail "$what"
}
# field EXPR: a Python expression of the last answer's body d, printed.
field() { "$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$work/body" "$1"; }

url() { echo "http://127.0.0.1:${port[$1]}"; }
node_of() { echo "${1%%.*}"; }

# --- the components ----------------------------------------------------------------------
# start_nats: nats-server on $nats_port (chosen once: a restart reuses it).
start_nats() {
  local log=$work/nats-$1.log
  "$nats_server" -a 127.0.0.1 -p "$nats_port" >"$log" 2>&1 &
  pid[nats]=$!
  retry 10 grep -q 'Server is ready' "$log" || fail "nats-server did not start on 127.0.0.1:$nats_port: $(tail -n 5 "$log")"
}

# start_node NAME: a node on its port, joined to the fleet over NATS.
declare -A port=()
start_node() {
  local name=$1
  port[$name]=$(free_port)
  "$bin" -p "${port[$name]}" -i 127.0.0.1 --node-id "$name" --nats "nats://127.0.0.1:$nats_port" \
    --auth-secret-file "$secret" -W --allow-host 127.0.0.1 --trusted-proxy 127.0.0.1/32 -P 0 -d info \
    --detach-timeout 10m --kill-grace 1s --shutdown-timeout 1s --drain-timeout 1m bash \
    >"$work/$name.out" 2>"$work/$name.err" &
  pid[$name]=$!
}
node_ready() { grep -q '^Listening on ' "$work/$1.out" && grep -q 'fleet: connected to NATS' "$work/$1.err"; }

# fleet_view_is NODE NATS PEERS...: GET /api/fleet on NODE says NATS (connected or
# disconnected) and lists exactly PEERS besides itself.
fleet_view_is() {
  local node=$1 nats=$2; shift 2
  [ "$(call GET "$(url "$node")/api/fleet")" = 200 ] || return 1
  holds "d['nats'] == a[0] and d['nodes'][0]['node'] == a[1] and d['nodes'][0]['self']
         and sorted(n['node'] for n in d['nodes'][1:]) == sorted(a[2:])" "$nats" "$node" "$@"
}

# server_status BACKEND SERVER: its status on HAProxy's stats page (UP, DOWN, ...).
server_status() {
  curl -sS --max-time 5 "$stats/;csv" | awk -F, -v be="$1" -v sv="$2" '$1 == be && $2 == sv { print $18 }'
}
status_is() { [ "$(server_status "$1" "$2")" = "$3" ]; }

# served_by NODE REQUEST: HAProxy's log line for REQUEST names be_node_NODE/NODE.
served_by() {
  local line
  retry 3 grep -qF "\"$2" "$work/haproxy.log" || fail "no '$2' in HAProxy's log"
  line=$(grep -F "\"$2" "$work/haproxy.log" | head -n 1)
  case $line in
    *" be_node_$1/$1 "*) ;;
    *) fail "'$2' did not go to be_node_$1/$1: $line" ;;
  esac
}

# create TOKEN: a session through HAProxy; prints its id.
create() {
  local r
  r=$(call POST "$front/api/sessions" '{}' "$1")
  [ "$r" = 201 ] || fail "POST /api/sessions through HAProxy: want 201, got $r"
  field "d['id']"
}

# type_in BASE TOKEN WORD ID...: attaches to each session over a WebSocket at BASE (the
# proxy or a node), types `echo WORD-$((6*7))-ID` and waits for bash's WORD-42-ID.
type_in() {
  "$py" - "$@" <<'EOF'
import asyncio, json, sys
from websockets.asyncio.client import connect

base, token, word, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

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
        url = base.replace("http://", "ws://") + f"/api/sessions/{sid}/ws?token={token}"
        async with connect(url, origin=base, open_timeout=10, max_size=None) as ws:
            await ws.send(f"echo {word}-$((6*7))-{sid}\n".encode())
            await read_until(ws, f"{word}-42-{sid}".encode())

asyncio.run(main())
EOF
}

# try_fleet_list NODE [TOKEN]: GET /api/sessions?scope=fleet on NODE (or "front") -> 200;
# fleet_list: that, or the run fails.
try_fleet_list() {
  local base
  base=$front; [ "$1" = front ] || base=$(url "$1")
  [ "$(call GET "$base/api/sessions?scope=fleet&limit=1000" '' "${2:-$admin}")" = 200 ]
}
fleet_list() { try_fleet_list "$@" || fail "GET /api/sessions?scope=fleet on $1: want 200"; }
# The ids of the running sessions in the last fleet list, sorted, space-separated.
running_ids() { field "' '.join(sorted(s['id'] for s in d['sessions'] if s['status'] == 'running'))"; }
sorted_ids() { printf '%s\n' "$@" | sort | xargs; }
# running_on NODE: one running session of NODE, asked of NODE itself.
running_on() {
  [ "$(call GET "$(url "$1")/api/sessions?limit=1000")" = 200 ] || fail "GET /api/sessions at $1"
  field "[s['id'] for s in d['sessions'] if s['status'] == 'running'][0]"
}

t0=$(now_ms)
elapsed() { echo "$(( ($(now_ms) - t0) / 1000 ))s"; }
echo "--- $("$haproxy" -v | head -n 1); $("$nats_server" --version)"
secret=$work/secret
head -c 48 /dev/urandom >"$secret"
chmod 600 "$secret"
mint() { "$bin" token --auth-secret-file "$secret" --ttl 10m "$@" || fail "ringtty token $*"; }
admin=$(mint --sub admin --admin)
bob=$(mint --sub bob --jti bob-1)
bob2=$(mint --sub bob --jti bob-2)
alice=$(mint --sub alice)
bob3=$(mint --sub bob --jti bob-3)
carol=$(mint --sub carol --jti carol-1)

# --- 1. NATS, three nodes, HAProxy -----------------------------------------------------------
nats_port=$(free_port)
start_nats 1
for n in n1 n2 n3; do start_node "$n"; done
for n in n1 n2 n3; do
  retry 10 node_ready "$n" || fail "node $n did not listen and connect to NATS: $(cat "$work/$n.out")"
done
ok "nats-server on 127.0.0.1:$nats_port; nodes n1, n2, n3 on ports ${port[n1]}, ${port[n2]}, ${port[n3]} connected to it"
for n in n1 n2 n3; do
  others=(); for m in n1 n2 n3; do [ "$m" = "$n" ] || others+=("$m"); done
  retry 5 fleet_view_is "$n" connected "${others[@]}" ||
    fail "GET /api/fleet on $n does not list ${others[*]} with nats connected: $(cat "$work/body")"
  expect "all(p['url'] == 'http://127.0.0.1:' + a[int(p['node'][1])] and p['age_ms'] < 3000 and not p['draining']
              for p in d['nodes'][1:])" \
    "GET /api/fleet on $n: each peer's url (its bound address), age under 3 s, not draining" \
    x "${port[n1]}" "${port[n2]}" "${port[n3]}"
done
ok "GET /api/fleet on every node: nats connected, the two others listed by their heartbeats with their URLs (t+$(elapsed))"

front_port=$(free_port)
stats_port=$(free_port)
front=http://127.0.0.1:$front_port
stats=http://127.0.0.1:$stats_port
"$bin" fleet haproxy-config --node "n1=127.0.0.1:${port[n1]}" --node "n2=127.0.0.1:${port[n2]}" \
  --node "n3=127.0.0.1:${port[n3]}" --bind "127.0.0.1:$front_port" --stats "127.0.0.1:$stats_port" \
  >"$work/haproxy.cfg" 2>"$work/gen.err" || fail "ringtty fleet haproxy-config: $(cat "$work/gen.err")"
"$haproxy" -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pid[haproxy]=$!
for n in n1 n2 n3; do
  retry 10 status_is be_fleet "$n" UP || fail "HAProxy does not mark $n UP: $(server_status be_fleet "$n")"
done
ok "HAProxy on $front (the config of \`ringtty fleet haproxy-config\`): n1, n2, n3 UP (t+$(elapsed))"

# --- 2. sessions through HAProxy, on every node ------------------------------------------
# New sessions go to the node with the fewest connections: create until each node has
# two of bob's and one of alice's (HAProxy spreads them; 30 tries is far more than needed).
declare -A count=()
bob_ids=()
alice_ids=()
for _ in $(seq 30); do
  [ "${count[bob.n1]:-0}" -ge 2 ] && [ "${count[bob.n2]:-0}" -ge 2 ] && [ "${count[bob.n3]:-0}" -ge 2 ] && break
  id=$(create "$bob")
  bob_ids+=("$id")
  count[bob.$(node_of "$id")]=$((${count[bob.$(node_of "$id")]:-0} + 1))
done
for _ in $(seq 30); do
  [ "${count[alice.n1]:-0}" -ge 1 ] && [ "${count[alice.n2]:-0}" -ge 1 ] && [ "${count[alice.n3]:-0}" -ge 1 ] && break
  id=$(create "$alice")
  alice_ids+=("$id")
  count[alice.$(node_of "$id")]=$((${count[alice.$(node_of "$id")]:-0} + 1))
done
for n in n1 n2 n3; do
  [ "${count[bob.$n]:-0}" -ge 2 ] && [ "${count[alice.$n]:-0}" -ge 1 ] ||
    fail "sessions created through HAProxy did not reach every node: bob ${bob_ids[*]}, alice ${alice_ids[*]}"
done
all_ids=("${bob_ids[@]}" "${alice_ids[@]}")
ok "${#bob_ids[@]} sessions of bob and ${#alice_ids[@]} of alice created through HAProxy (201), on all three nodes"

# One session of each node, attached and typed into through HAProxy.
one_of() { printf '%s\n' "${@:2}" | grep -m 1 "^$1\\." || true; }
b1=$(one_of n1 "${bob_ids[@]}"); b2=$(one_of n2 "${bob_ids[@]}"); b3=$(one_of n3 "${bob_ids[@]}")
type_in "$front" "$bob" typed "$b1" "$b2" "$b3" || fail "attach and type through HAProxy (above)"
for id in "$b1" "$b2" "$b3"; do served_by "$(node_of "$id")" "GET /api/sessions/$id/ws?token="; done
ok "attached over a WebSocket through HAProxy to a session on each node, typed into it and read bash's answer; HAProxy's log: each went to be_node_OWNER/OWNER"
r=$(upgrade "$(url n2)/api/sessions/$b1/ws?token=$bob")
[ "$r" = 307 ] && grep -qi "^location: $(url n1)/api/sessions/$b1/ws?token=" "$work/head" ||
  fail "a WebSocket for n1's $b1 asked of n2: want 307 to n1's URL, got $r $(cat "$work/head")"
ok "the same WebSocket asked of a node that does not own it: 307 to the owner's advertised URL"

# --- 3. the fleet from any node ----------------------------------------------------------
want=$(sorted_ids "${all_ids[@]}")
for n in n1 n2 n3 front; do
  fleet_list "$n"
  expect "sorted(s['id'] for s in d['sessions']) == a[0].split() and d['total'] == len(a[0].split())
          and all(s['node'] == s['id'].split('.')[0] and s['status'] == 'running' for s in d['sessions'])
          and sorted(d['nodes']['replied']) == ['n1', 'n2', 'n3'] and d['nodes']['missing'] == []
          and d['partial'] is False" \
    "GET /api/sessions?scope=fleet on $n (admin): want every session ($want), each with its node, every node replied, not partial" \
    "$want"
  fleet_list "$n" "$bob"
  expect "sorted(s['id'] for s in d['sessions']) == a[0].split() and not d['partial']" \
    "GET /api/sessions?scope=fleet on $n with bob's token: want bob's sessions only" "$(sorted_ids "${bob_ids[@]}")"
done
ok "GET /api/sessions?scope=fleet on n1, n2, n3 and through HAProxy: all ${#all_ids[@]} sessions, each naming its node, nodes.replied = n1 n2 n3, missing none, partial false; bob's token sees bob's alone"

# --- 4. DELETE and the kill switch from another node ---------------------------------------
a3=$(one_of n3 "${alice_ids[@]}")
# PATCH (issue 17: name, keep) is asked of the owner like DELETE.
r=$(call PATCH "$(url n1)/api/sessions/$a3" '{"name": "from-n1", "keep": true}')
[ "$r" = 200 ] || fail "PATCH n3's $a3 at n1: want 200 from its owner over NATS, got $r: $(cat "$work/body")"
expect "d['id'] == a[0] and d['name'] == 'from-n1' and d['keep'] is True" "PATCH $a3 at n1: the owner's answer" "$a3"
r=$(call PATCH "$(url n2)/api/sessions/$a3" '{"name": "x"}' "$bob")
[ "$r" = 404 ] || fail "PATCH alice's $a3 with bob's token at n2: want 404 (bob does not reach it), got $r"
r=$(call GET "$(url n3)/api/sessions/$a3")
[ "$r" = 200 ] && [ "$(field "d['name']")" = from-n1 ] || fail "GET $a3 at n3 after the PATCH at n1: want its new name, got $r"
ok "PATCH of n3's session at n1 -> 200 (asked of n3 over NATS): renamed and kept on n3; bob's token cannot PATCH it through another node (404)"
r=$(call DELETE "$(url n1)/api/sessions/$a3" '' "$bob")
[ "$r" = 404 ] || fail "DELETE alice's $a3 with bob's token at n1: want 404 (bob does not reach it), got $r"
r=$(call DELETE "$(url n2)/api/sessions/$b1")
[ "$r" = 202 ] || fail "DELETE n1's $b1 at n2: want 202 from its owner over NATS, got $r"
expect "d == {'id': a[0], 'status': 'terminating'}" "DELETE $b1 at n2: the owner's answer" "$b1"
gone() { [ "$(call GET "$(url "$1")/api/sessions/$2")" = 200 ] && [ "$(field "d['status']")" != running ]; }
retry 3 gone n1 "$b1" || fail "$b1, deleted at n2, is still running on n1: $(cat "$work/body")"
r=$(call GET "$(url n3)/api/sessions/$b1")
[ "$r" = 200 ] && [ "$(field "d['status']")" != running ] ||
  fail "GET n1's $b1 at n3 (over NATS): want 200, not running, got $r"
ok "DELETE of n1's session at n2 -> 202 terminating (asked of n1 over NATS), it ends on n1; bob's token cannot DELETE alice's session through another node (404)"

r=$(call POST "$(url n1)/api/admin/kill" '{"user": "alice"}' "$bob")
[ "$r" = 403 ] || fail "POST /api/admin/kill with bob's (non-admin) token: want 403, got $r"
r=$(call POST "$(url n3)/api/admin/kill" '{"user": "alice"}')
[ "$r" = 200 ] || fail "POST /api/admin/kill {user: alice} at n3: want 200, got $r"
expect "d['killed'] == int(a[0]) and sorted(d['nodes']['replied']) == ['n1', 'n2', 'n3'] and not d['partial']" \
  "the kill switch for alice at n3: want ${#alice_ids[@]} killed, every node replied, not partial" "${#alice_ids[@]}"
want_running=$(printf '%s\n' "${bob_ids[@]}" | grep -vx "$b1" | sort | xargs)
alice_gone() { try_fleet_list n2 && [ "$(running_ids)" = "$want_running" ]; }
retry 3 alice_gone || fail "3 s after the kill switch for alice, the running sessions are $(running_ids), want $want_running"
ok "kill switch {user: alice} at n3 -> 200, killed ${#alice_ids[@]} on n1, n2, n3 (none partial); within 3 s every alice session has ended, all of bob's (but the deleted one) run; bob's token may not throw it (403)"

# --- 5. revocation by jti and by user --------------------------------------------------------
# accepted_on TOKEN WANT NODES...: GET /api/sessions with TOKEN answers WANT on each.
accepted_on() {
  local tok=$1 want=$2 n r; shift 2
  for n in "$@"; do
    if [ "$n" = front ]; then r=$(call GET "$front/api/sessions" '' "$tok"); else r=$(call GET "$(url "$n")/api/sessions" '' "$tok"); fi
    [ "$r" = "$want" ] || { echo "$n answered $r" >"$work/why"; return 1; }
  done
}
for tok in "$bob" "$bob2" "$carol"; do
  accepted_on "$tok" 200 n1 n2 n3 front || fail "before any revocation, a token was refused: $(cat "$work/why")"
done
r=$(call POST "$(url n2)/api/admin/revoke" '{"jti": "bob-1"}' "$bob2")
[ "$r" = 403 ] || fail "POST /api/admin/revoke with bob's (non-admin) token: want 403, got $r"
r=$(call POST "$(url n2)/api/admin/revoke" '{"jti": "bob-1"}')
[ "$r" = 200 ] || fail "POST /api/admin/revoke {jti: bob-1} at n2: want 200, got $r"
expect "sorted(d['nodes']['replied']) == ['n1', 'n2', 'n3'] and not d['partial']" \
  "the revocation of bob-1: every node acknowledged"
accepted_on "$bob" 401 n1 n2 n3 front || fail "bob's token of jti bob-1 after its revocation at n2: want 401 everywhere: $(cat "$work/why")"
accepted_on "$bob2" 200 n1 n2 n3 front || fail "bob's other token (jti bob-2) after bob-1's revocation: want 200: $(cat "$work/why")"
r=$(upgrade "$(url n3)/api/sessions/$b3/ws?token=$bob")
[ "$r" = 401 ] || fail "a WebSocket to $b3 with the revoked token at n3: want 401, got $r"
ok "revoke {jti: bob-1} at n2 -> 200, acknowledged by every node: that token -> 401 on n1, n2, n3 and through HAProxy (a WebSocket too), bob's other token still 200; a non-admin may not revoke (403)"

r=$(call POST "$(url n3)/api/admin/revoke" '{"user": "carol"}')
[ "$r" = 200 ] || fail "POST /api/admin/revoke {user: carol} at n3: want 200, got $r"
carol_new=$(mint --sub carol --jti carol-2)
accepted_on "$carol" 401 n1 n2 n3 front || fail "carol's token after revoking user carol: want 401 everywhere: $(cat "$work/why")"
accepted_on "$carol_new" 401 n1 n2 n3 front || fail "a token minted for carol after the revocation: want 401 everywhere: $(cat "$work/why")"
r=$(call GET "$(url n1)/api/admin/revoke")
[ "$r" = 200 ] || fail "GET /api/admin/revoke at n1: want 200, got $r"
expect "sorted((e.get('jti') or '', e.get('user') or '') for e in d['revoked']) == [('', 'carol'), ('bob-1', '')]" \
  "GET /api/admin/revoke at n1: want bob-1 and carol"
ok "revoke {user: carol} at n3: her token and one minted afterwards -> 401 on every node; GET /api/admin/revoke on n1 lists both (t+$(elapsed))"

# --- 6. node 2 dies ------------------------------------------------------------------------
fleet_list n1
before=$(running_ids)
survivors=$(printf '%s\n' $before | grep -v '^n2\.' | xargs)
kill -KILL "${pid[n2]}"
{ wait "${pid[n2]}" || true; } 2>/dev/null
unset 'pid[n2]'
killed_at=$(now_ms)
n2_gone() {
  try_fleet_list "$1" && [ "$(field "sum(s['node'] == 'n2' for s in d['sessions'])")" = 0 ]
}
retry 3 n2_gone n1 || fail "3 s after n2 died its sessions are still in n1's fleet list"
vanished=$(( $(now_ms) - killed_at ))
[ "$vanished" -le 3000 ] || fail "n2's sessions left n1's fleet list after $vanished ms, want at most 3000"
[ "$(running_ids)" = "$survivors" ] || fail "after n2 died n1's fleet list runs $(running_ids), want $survivors untouched"
n2_gone n3
[ "$(running_ids)" = "$survivors" ] || fail "after n2 died n3's fleet list runs $(running_ids), want $survivors"
ok "n2 killed (SIGKILL): its sessions gone from the fleet list within $vanished ms (limit 3000); n1's and n3's sessions untouched and running, listed from n1 and n3"
retry 5 fleet_view_is n1 connected n3 || fail "GET /api/fleet on n1 still lists n2 5 s after it died: $(cat "$work/body")"
dropped=$(( $(now_ms) - killed_at ))
retry 2 fleet_view_is n3 connected n1 || fail "GET /api/fleet on n3 still lists n2: $(cat "$work/body")"
whole() { try_fleet_list "$1" && [ "$(field "d['partial'] is False and d['nodes']['missing'] == []")" = True ]; }
retry 2 whole n1 || fail "n1's fleet list after n2 left the fleet: want whole, not partial"
expect "sorted(d['nodes']['replied']) == ['n1', 'n3']" "n1's fleet list after n2 left: replied n1 n3"
retry 5 status_is be_fleet n2 DOWN || fail "HAProxy does not mark the dead n2 DOWN"
for _ in 1 2 3 4; do
  id=$(create "$bob2")
  [ "$(node_of "$id")" != n2 ] || fail "a new session through HAProxy with n2 dead landed on n2: $id"
  bob_ids+=("$id")
done
r=$(call GET "$front/api/sessions/$b2")
[ "$r" = 503 ] || fail "GET the dead n2's session $b2 through HAProxy: want 503, got $r"
ok "n2 dropped from GET /api/fleet on n1 and n3 after $dropped ms (silent 3 s, heartbeats every 1 s); fleet lists whole again (replied n1 n3); HAProxy sends new sessions to n1 and n3 (t+$(elapsed))"

# --- 7. NATS stops, and comes back ---------------------------------------------------------
[ "$(call GET "$(url n1)/api/sessions?limit=1000")" = 200 ] || fail "GET /api/sessions at n1"
n1_running=$(running_ids)
kill "${pid[nats]}"
{ wait "${pid[nats]}" || true; } 2>/dev/null
unset 'pid[nats]'
stopped_at=$(now_ms)
nats_is() { [ "$(call GET "$(url "$1")/api/fleet")" = 200 ] && [ "$(field "d['nats']")" = "$2" ]; }
retry 5 nats_is n1 disconnected ||
  fail "GET /api/fleet on n1 does not say nats disconnected 5 s after NATS stopped: $(cat "$work/body")"
retry 5 nats_is n3 disconnected ||
  fail "GET /api/fleet on n3 does not say nats disconnected: $(cat "$work/body")"
ok "NATS stopped: GET /api/fleet on n1 and n3 says disconnected within $(( $(now_ms) - stopped_at )) ms"
asked_at=$(now_ms)
fleet_list n1
took=$(( $(now_ms) - asked_at ))
expect "d['partial'] is True and d['nodes']['replied'] == ['n1']
        and all(s['node'] == 'n1' for s in d['sessions'])" \
  "n1's fleet list with NATS down: want partial, replied [n1], n1's own sessions"
[ "$(running_ids)" = "$n1_running" ] ||
  fail "n1's fleet list with NATS down runs $(running_ids), want n1's own running sessions $n1_running"
[ "$took" -lt 1000 ] || fail "n1's fleet list with NATS down took $took ms: want it at once (under 1 s)"
r=$(call POST "$(url n3)/api/admin/kill" '{"user": "nobody"}')
[ "$r" = 200 ] || fail "the kill switch at n3 with NATS down: want 200, got $r"
expect "d['partial'] is True and d['killed'] == 0" "the kill switch at n3 with NATS down: want partial"
id=$(create "$bob2")
bob_ids+=("$id")
type_in "$front" "$bob2" down "$id" "$b3" || fail "attach and type through HAProxy with NATS down (above)"
r=$(call POST "$(url "$(node_of "$id")")/api/sessions/$id/input" '{"data": "echo input\n"}' "$bob2")
[ "$r" = 200 ] || fail "POST input to $id at its node with NATS down: want 200, got $r"
ok "with NATS down: n1's fleet list answers in $took ms, partial, with its own sessions; the kill switch answers partial; a new session through HAProxy ($id) and n3's $b3 are typed into over WebSockets, REST input works"

r=$(call POST "$(url n1)/api/admin/revoke" '{"jti": "bob-2"}')
[ "$r" = 200 ] || fail "POST /api/admin/revoke {jti: bob-2} at n1 with NATS down: want 200, got $r"
expect "d['partial'] is True" "a revocation with NATS down: want partial"
accepted_on "$bob2" 401 n1 || fail "bob-2 at n1 right after n1 revoked it: $(cat "$work/why")"
accepted_on "$bob2" 200 n3 || fail "bob-2 at n3 while NATS is down (n3 cannot have heard yet): $(cat "$work/why")"
ok "revoke {jti: bob-2} at n1 with NATS down -> 200 partial: refused at n1 at once, still admitted by n3 (the bus is down)"

# The outage outlasts a node's 3 s of silence: each node has dropped the other when NATS
# comes back, so neither expects the other's answer. And n3 comes back after n1 (held
# stopped until n1 has reconnected, as if its own way to NATS came back later): n1's
# announcement after its reconnect finds no n3 to hear it, so the revocation must still
# reach n3 when n3 reconnects.
retry 6 fleet_view_is n1 disconnected || fail "n1 still lists n3 6 s into the outage: $(cat "$work/body")"
retry 2 fleet_view_is n3 disconnected || fail "n3 still lists n1 into the outage: $(cat "$work/body")"
outage=$(( $(now_ms) - stopped_at ))
kill -STOP "${pid[n3]}"
start_nats 2
restarted_at=$(now_ms)
retry 15 nats_is n1 connected || fail "n1 has not reconnected 15 s after NATS came back: $(cat "$work/body")"
sleep 1
kill -CONT "${pid[n3]}"
n1_back=$(( $(now_ms) - restarted_at ))
retry 15 fleet_view_is n3 connected n1 || fail "15 s after NATS came back n3 does not see n1 over it: $(cat "$work/body")"
retry 5 fleet_view_is n1 connected n3 || fail "n1 does not see n3 over the restarted NATS: $(cat "$work/body")"
back=$(( $(now_ms) - restarted_at ))
retry 5 accepted_on "$bob2" 401 n3 front n1 ||
  fail "5 s after both nodes reconnected (n1 first), the revocation made at n1 while NATS was down (long enough, $outage ms, for the nodes to drop each other) has not reached n3: $(cat "$work/why")"
synced=$(( $(now_ms) - restarted_at ))
retry 2 whole n1 || fail "n1's fleet list after NATS came back: want whole"
expect "sorted(d['nodes']['replied']) == ['n1', 'n3'] and any(s['node'] == 'n3' for s in d['sessions'])" \
  "n1's fleet list after NATS came back: want n3's sessions again"
ok "NATS down $outage ms (n1 and n3 dropped each other), restarted on the same port: n1 reconnected (n3 held back $n1_back ms), both see each other after $back ms; the revocation made at n1 during the outage refused by n3 after $synced ms; fleet lists whole again (t+$(elapsed))"

# --- 8. drain: by the API (n3), then by SIGUSR2 (n1) --------------------------------------
# n3 was held stopped above: HAProxy's checks may have marked it DOWN meanwhile.
retry 6 status_is be_fleet n3 UP || fail "HAProxy does not mark n3 UP again after it was held stopped"
a=$(running_on n3)
r=$(call POST "$(url n3)/api/admin/drain" '' "$alice")
[ "$r" = 403 ] || fail "POST /api/admin/drain with alice's (non-admin) token: want 403, got $r"
r=$(call POST "$(url n3)/api/admin/drain")
[ "$r" = 202 ] || fail "POST /api/admin/drain at n3: want 202, got $r"
expect "d['draining'] is True" "POST /api/admin/drain at n3: want draining true"
r=$(curl -sS --max-time 5 -o "$work/body" -w '%{http_code}' "$(url n3)/health")
[ "$r" = 503 ] || fail "GET /health at draining n3: want 503, got $r"
expect "d['status'] == 'draining' and d['draining'] is True" "GET /health at draining n3: want status draining"
r=$(call POST "$(url n3)/api/sessions" '{}' "$bob3")
[ "$r" = 503 ] && grep -qi '^retry-after:' "$work/head" ||
  fail "POST /api/sessions straight at draining n3: want 503 with Retry-After, got $r $(cat "$work/head")"
retry 5 status_is be_fleet n3 DOWN || fail "HAProxy does not mark draining n3 DOWN: $(server_status be_fleet n3)"
drained_view() { [ "$(call GET "$(url n1)/api/fleet")" = 200 ] && [ "$(field "[p['draining'] for p in d['nodes'] if p['node'] == 'n3']")" = "[True]" ]; }
retry 3 drained_view || fail "GET /api/fleet on n1 does not show n3 draining: $(cat "$work/body")"
for _ in 1 2 3; do
  id=$(create "$bob3")
  [ "$(node_of "$id")" = n1 ] || fail "a new session through HAProxy while n3 drains (n2 dead) landed on $(node_of "$id"): $id"
  bob_ids+=("$id")
done
type_in "$front" "$bob3" draining "$a" || fail "typing into draining n3's own $a through HAProxy (above)"
ok "POST /api/admin/drain at n3 -> 202: /health 503 draining, POST /api/sessions there 503 + Retry-After, HAProxy marks it DOWN, n1's /api/fleet shows it draining; 3 new sessions through HAProxy all on n1; n3's own $a still typed into through HAProxy"
r=$(call DELETE "$(url n3)/api/admin/drain")
[ "$r" = 200 ] || fail "DELETE /api/admin/drain at n3: want 200, got $r"
expect "d['draining'] is False" "DELETE /api/admin/drain at n3: want draining false"
r=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$(url n3)/health")
[ "$r" = 200 ] || fail "GET /health at n3 after the drain was called off: want 200, got $r"
retry 6 status_is be_fleet n3 UP || fail "HAProxy does not mark n3 UP again after the drain was called off"
ok "DELETE /api/admin/drain at n3 -> 200: /health 200, HAProxy has it UP again (t+$(elapsed))"

a=$(running_on n1)
kill -USR2 "${pid[n1]}"
drain_says() { [ "$(call GET "$(url "$1")/api/admin/drain")" = 200 ] && [ "$(field "d['draining']")" = "$2" ]; }
retry 2 drain_says n1 True ||
  fail "GET /api/admin/drain at n1 after SIGUSR2: want draining true"
r=$(curl -sS --max-time 5 -o "$work/body" -w '%{http_code}' "$(url n1)/health")
[ "$r" = 503 ] && [ "$(field "d['status']")" = draining ] || fail "GET /health at n1 after SIGUSR2: want 503 draining, got $r"
retry 5 status_is be_fleet n1 DOWN || fail "HAProxy does not mark n1 DOWN after its SIGUSR2"
for _ in 1 2 3; do
  id=$(create "$bob3")
  [ "$(node_of "$id")" = n3 ] || fail "a new session through HAProxy while n1 drains landed on $(node_of "$id"): $id"
  bob_ids+=("$id")
done
type_in "$front" "$bob3" usr2 "$a" || fail "typing into draining n1's own $a through HAProxy (above)"
ok "SIGUSR2 to n1: GET /api/admin/drain says draining, /health 503, HAProxy marks it DOWN; 3 new sessions through HAProxy all on n3; n1's own $a still typed into through HAProxy"

fleet_list n3
n1_left=$(field "sum(s['node'] == 'n1' and s['status'] == 'running' for s in d['sessions'])")
all_left=$(field "sum(s['status'] == 'running' for s in d['sessions'])")
exited=$(field "sum(s['status'] != 'running' for s in d['sessions'])")
# Sessions that have already exited (the one deleted, alice's) are there too: a kill
# switch starts no termination for them, so it does not count them.
[ "$n1_left" -gt 0 ] && [ "$exited" -gt 0 ] ||
  fail "before the kill switch for all: want running sessions on n1 and exited ones, got $n1_left and $exited"
r=$(call POST "$(url n3)/api/admin/kill" '{"all": true}')
[ "$r" = 200 ] || fail "POST /api/admin/kill {all: true} at n3: want 200, got $r"
expect "d['killed'] == int(a[0]) and sorted(d['nodes']['replied']) == ['n1', 'n3'] and not d['partial']" \
  "the kill switch for all at n3: want killed = $all_left, the sessions running on n1 and n3 (not the $exited that had already exited), every node replied" "$all_left"
ended_at=$(now_ms)
n1_exited() { ! kill -0 "${pid[n1]}" 2>/dev/null; }
retry 10 n1_exited || fail "draining n1 did not exit 10 s after its last session was killed"
rc=0; wait "${pid[n1]}" || rc=$?
unset 'pid[n1]'
[ "$rc" = 0 ] || fail "draining n1 exited with status $rc, want 0"
grep -q 'drained: no session is left' "$work/n1.err" || fail "n1's log does not say why it stopped (drained)"
ok "kill switch {all: true} at n3 -> killed $all_left, the running sessions ($n1_left on draining n1; $exited already exited not counted); n1 then exits by itself (status 0, 'drained: no session is left') in $(( $(now_ms) - ended_at )) ms"
none_running() { try_fleet_list n3 && holds "not any(s['status'] == 'running' for s in d['sessions'])"; }
retry 3 none_running || fail "3 s after the kill switch for all a session still runs on n3"

# --- 9. behind another proxy: the client's X-Forwarded-For line and HAProxy's -------------
# Without the config's `del-header X-Forwarded-For` (as behind another proxy), HAProxy's
# `option forwardfor` appends a line of its own after the client's. A node with
# --rate-limit must walk both lines from the right and see one client, not believe the
# client's made-up first line (RFC 9110 §5.3: the lines are one list).
port[xff]=$(free_port)
"$bin" -p "${port[xff]}" -i 127.0.0.1 --auth-secret-file "$secret" --trusted-proxy 127.0.0.1/32 \
  --rate-limit 5/s -d info bash >"$work/xff.out" 2>"$work/xff.err" &
pid[xff]=$!
retry 10 grep -q '^Listening on ' "$work/xff.out" || fail "the --rate-limit node did not start: $(cat "$work/xff.out")"
xff_front=http://127.0.0.1:$(free_port)
"$bin" fleet haproxy-config --node "xff=127.0.0.1:${port[xff]}" --bind "${xff_front#http://}" |
  grep -v 'http-request del-header X-Forwarded-For' >"$work/xff.cfg" || fail "ringtty fleet haproxy-config for the xff node"
grep -q 'option forwardfor' "$work/xff.cfg" || fail "the generated config has no 'option forwardfor'"
"$haproxy" -f "$work/xff.cfg" -db >"$work/haproxy-xff.log" 2>&1 &
pid[haproxy-xff]=$!
retry 5 curl -sf --max-time 2 "$xff_front/health" || fail "the xff node's HAProxy on $xff_front does not answer GET /health"
curls=()
for i in $(seq 20); do
  curl -sS --max-time 5 -o /dev/null -w '%{http_code}' --interface 127.0.0.2 \
    -H "X-Forwarded-For: 192.0.2.$i" "$xff_front/health" >"$work/xff.$i" 2>&1 &
  curls+=($!)
done
wait "${curls[@]}" || true
codes=$(for i in $(seq 20); do cat "$work/xff.$i"; echo; done | sort | uniq -c | xargs)
grep -qx 429 "$work"/xff.[0-9]* ||
  fail "20 requests at once from 127.0.0.2, each with its own made-up X-Forwarded-For line before HAProxy's, were never limited by --rate-limit 5/s: the node believed the client's first line (answers: $codes)"
ok "behind HAProxy without del-header (its X-Forwarded-For line after the client's made-up one): 20 requests at once from 127.0.0.2 limited as one client by --rate-limit 5/s (answers: $codes)"

echo "fleet: all passed in $(( ($(now_ms) - t0) / 1000 )) s"
