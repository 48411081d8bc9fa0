#!/usr/bin/env bash
# ringtty's TLS (-S -C -K -A) against independent peers: curl, the openssl CLI, Python's
# ssl + websockets, and the Autobahn|Testsuite over wss://. Run by .ci/run, not by
# `cargo test`.
#
# Usage: tests/peers/tls_peers.sh BIN [SERVER_ARGS...]
#   BIN          the ringtty binary (target/debug/ringtty)
#   SERVER_ARGS  passed to every server this script starts (--io comes from TLS_PEERS_IO)
# Env:
#   TLS_PEERS_IO    the --io modes to run every check with (default "epoll uring")
#   PYTHON          a Python 3 with websockets (default .ci-venv/bin/python)
#   AUTOBAHN_DIR    the Autobahn install made by ../shared/tools/autobahn/setup.sh
#                   (default .autobahn); reports go to target/autobahn-tls[-IO]
#   TLS_PEERS_KEEP  set to keep the temporary directory (certificates, server logs)
# Needs curl and openssl. Prints one line per check; the first failure stops the run
# with "FAIL: ..." and the server's log, and exits 1.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BIN [SERVER_ARGS...]" >&2; exit 2; }
bin=$(realpath "$1"); shift
extra=("$@")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=$(cd "$root/../shared" 2>/dev/null && pwd || true)
py=${PYTHON:-$root/.ci-venv/bin/python}
autobahn_dir=${AUTOBAHN_DIR:-$root/.autobahn}
read -r -a ios <<<"${TLS_PEERS_IO:-epoll uring}"

fail() {
  echo "FAIL: $*" >&2
  if [ -n "${cur_log:-}" ] && [ -s "$cur_log" ]; then
    echo "--- server stderr ($cur_log), last 30 lines:" >&2
    tail -n 30 "$cur_log" >&2
  fi
  exit 1
}
ok() { echo "ok   $*"; }

# --- prerequisites -----------------------------------------------------------------------
[ -x "$bin" ] || fail "$bin is not an executable (build it with cargo build)"
for tool in curl openssl; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install -y curl openssl)"
done
"$py" -c 'import websockets' 2>/dev/null ||
  fail "$py cannot import websockets (python3 -m venv .ci-venv && .ci-venv/bin/pip install websockets==17.4, or set PYTHON)"
[ -x "$autobahn_dir/venv/bin/wstest" ] && [ -n "$shared" ] ||
  fail "no Autobahn in $autobahn_dir (bash ../shared/tools/autobahn/setup.sh .autobahn, or set AUTOBAHN_DIR)"

work=$(mktemp -d "${TMPDIR:-/tmp}/ringtty-tls-peers.XXXXXX")
server_pid=
hold_pid=
control_pid=
cleanup() {
  local rc=$?
  [ -z "$hold_pid" ] || kill "$hold_pid" 2>/dev/null || true
  [ -z "$control_pid" ] || kill "$control_pid" 2>/dev/null || true
  stop_server
  if [ -n "${TLS_PEERS_KEEP:-}" ] || [ "$rc" -ne 0 ]; then
    echo "tls_peers: certificates and logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}

# start_server NAME ARGS...: ringtty with -S and the certificate in $live on a free port,
# auth on by default; with --io IO in ARGS, checks that the log names that mode. Sets
# $base (https://127.0.0.1:PORT), $hostport, $port, $token and $cur_log (its stderr).
start_server() {
  local name=$1; shift
  local out=$work/$name.out
  cur_log=$work/$name.err
  : >"$out"
  "$bin" -S -C "$live/server.pem" -K "$live/server.key" -p 0 --shutdown-timeout 1s --kill-grace 1s \
    "$@" "${extra[@]}" >"$out" 2>"$cur_log" &
  server_pid=$!
  for _ in $(seq 200); do
    grep -q '^Login: ' "$out" && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  base=$(sed -n 's#^Listening on \(https://127\.0\.0\.1:[0-9]*\)/$#\1#p' "$out")
  token=$(sed -n 's#^Login: https://127\.0\.0\.1:[0-9]*/?token=\(.*\)$#\1#p' "$out")
  [ -n "$base" ] && [ -n "$token" ] ||
    fail "$name: ringtty did not print 'Listening on https://127.0.0.1:PORT/' and a 'Login: https://...?token=' line; stdout: $(cat "$out")"
  hostport=${base#https://}
  port=${hostport##*:}
  local io; io=$(printf '%s\n' "$@" | grep -A1 -x -- --io | tail -n 1 || true)
  [ -z "$io" ] || retry 5 grep -q -- "(--io $io)" "$cur_log" ||
    fail "$name: the log does not say the server runs with --io $io"
}

# retry SECONDS CMD...: runs CMD every 0.1 s until it succeeds or SECONDS pass.
retry() {
  local until=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$until" ] || return 1
    sleep 0.1
  done
}

# get URL CURL_ARGS...: curl, printing "CODE VERSION" (000 when no HTTP response came);
# the body goes to $work/body, curl's error to $work/curl.err.
get() {
  local url=$1; shift
  rm -f "$work/body"
  curl -sS --max-time 10 -o "$work/body" -w '%{http_code} %{http_version}' "$@" "$url" 2>"$work/curl.err" || true
}

# s_client ARGS...: an openssl handshake (no request), output in $work/s_client.{out,err}.
s_client() {
  openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null >"$work/s_client.out" 2>"$work/s_client.err"
}

# A TLS handshake that verifies with CA only.
verifies_with() { s_client -CAfile "$1" -verify_return_error -verify_ip 127.0.0.1; }

# --- the PKI -----------------------------------------------------------------------------
t0=$SECONDS
pki=$work/pki
bash "$here/tls_pki.sh" "$pki" first
bash "$here/tls_pki.sh" "$work/pki-new" new
ok "PKI made with $(openssl version | cut -d' ' -f1-2): CA, server (localhost, 127.0.0.1), alice, bob, expired, another CA's alice; and a second PKI for the reload"
live=$work/live
ca=$pki/ca.pem

# --- every check, for one --io mode ------------------------------------------------------
basics() {
  local io=$1 r
  start_server "basics-$io" --io "$io" -W --allow-any-command
  echo "--- HTTPS and TLS versions ($base, --io $io) (t+$((SECONDS - t0))s)"

  r=$(get "$base/api/sessions" --cacert "$ca" -H "Authorization: Bearer $token")
  [ "$r" = "200 1.1" ] && grep -q '"sessions"' "$work/body" ||
    fail "curl --cacert GET /api/sessions with the token: want '200 1.1', got '$r' $(cat "$work/body" "$work/curl.err")"
  ok "curl --cacert: GET /api/sessions with the bearer token -> 200 over HTTP/1.1 (ALPN chose http/1.1 over curl's h2)"
  r=$(get "https://localhost:$port/api/sessions" --cacert "$ca" --resolve "localhost:$port:127.0.0.1" -H "Authorization: Bearer $token")
  [ "$r" = "200 1.1" ] || fail "curl to https://localhost:$port (the DNS subjectAltName): got '$r' $(cat "$work/curl.err")"
  ok "curl to https://localhost:$port verifies the DNS name too -> 200"
  r=$(get "$base/api/sessions" --cacert "$ca")
  [ "${r%% *}" = 401 ] || fail "GET /api/sessions without a token over TLS: want 401, got '$r'"
  ok "no token -> 401 (auth on by default over TLS)"
  r=$(get "$base/api/sessions" -H "Authorization: Bearer $token")
  [ "${r%% *}" = 000 ] && grep -q 'SSL certificate problem' "$work/curl.err" ||
    fail "curl without --cacert should refuse the throwaway CA's certificate: '$r' $(cat "$work/curl.err")"
  ok "curl without --cacert refuses the certificate ($(head -n 1 "$work/curl.err"))"

  r=$(get "http://$hostport/api/sessions" -H "Authorization: Bearer $token")
  [ "${r%% *}" = 000 ] || fail "plain http:// to the TLS port got an HTTP answer: '$r'"
  curl -sS --max-time 5 --http0.9 -o "$work/plain" "http://$hostport/api/sessions" 2>/dev/null || true
  if grep -aq 'HTTP/' "$work/plain"; then fail "plain http:// to the TLS port was answered in plaintext: $(head -c 200 "$work/plain")"; fi
  ok "plain http:// to the TLS port: curl fails ($(head -n 1 "$work/curl.err")); the $(stat -c %s "$work/plain") bytes back are no HTTP ($(od -An -tx1 "$work/plain" | head -n 1 | xargs))"

  # -brief prints the negotiated version and the verdict as soon as the handshake is
  # done (the full output's session block waits for TLS 1.3's session ticket).
  s_client -brief -CAfile "$ca" -verify_return_error -verify_ip 127.0.0.1 ||
    fail "openssl s_client -CAfile ca.pem did not connect: $(cat "$work/s_client.err")"
  grep -q '^Protocol version: TLSv1.3$' "$work/s_client.err" && grep -q '^Verification: OK$' "$work/s_client.err" ||
    fail "s_client: want TLSv1.3 and verification OK: $(cat "$work/s_client.err")"
  ok "openssl s_client -CAfile ca.pem: $(grep -E '^(Protocol version|Ciphersuite|Verification):' "$work/s_client.err" | paste -sd, | sed 's/,/, /g')"
  s_client -CAfile "$ca" -verify_return_error -verify_ip 127.0.0.1 -alpn h2,http/1.1 ||
    fail "openssl s_client -alpn h2,http/1.1 did not connect: $(cat "$work/s_client.err")"
  grep -q '^ALPN protocol: http/1.1$' "$work/s_client.out" ||
    fail "s_client -alpn h2,http/1.1: want ALPN http/1.1: $(grep ALPN "$work/s_client.out")"
  ok "openssl s_client -alpn h2,http/1.1: the server chose http/1.1"
  s_client -brief -CAfile "$ca" -verify_return_error -servername localhost -verify_hostname localhost ||
    fail "s_client with SNI localhost: $(cat "$work/s_client.err")"
  ok "openssl s_client with SNI localhost and -verify_hostname localhost: verified"
  s_client -brief -CAfile "$ca" -verify_return_error -verify_ip 127.0.0.1 -tls1_2 ||
    fail "openssl s_client -tls1_2 did not connect: $(cat "$work/s_client.err")"
  grep -q '^Protocol version: TLSv1.2$' "$work/s_client.err" && grep -q '^Verification: OK$' "$work/s_client.err" ||
    fail "s_client -tls1_2: $(cat "$work/s_client.err")"
  ok "openssl s_client -tls1_2: $(grep -E '^(Protocol version|Ciphersuite|Verification):' "$work/s_client.err" | paste -sd, | sed 's/,/, /g')"

  # TLS 1.1 and 1.0: OpenSSL 3 clients offer them only at security level 0. That the
  # client really offers them is shown against openssl s_server (control), then ringtty
  # must answer the same ClientHello with an alert.
  local v name cport
  for v in -tls1_1 -tls1; do
    name=${v#-}
    if s_client -CAfile "$ca" -verify_ip 127.0.0.1 "$v" -cipher 'DEFAULT:@SECLEVEL=0'; then
      fail "ringtty completed a $name handshake: $(grep -E 'Protocol|Cipher is' "$work/s_client.out")"
    fi
    ! grep -q '^CONNECTION ESTABLISHED' "$work/s_client.err" && grep -q 'Cipher is (NONE)' "$work/s_client.out" &&
      grep -q 'SSL alert number' "$work/s_client.err" ||
      fail "$v: want a handshake refused with an alert from the server: $(cat "$work/s_client.err")"
    local alert; alert=$(grep -o 'alert [a-z ]*' "$work/s_client.err" | head -n 1 || true)
    if [ "$io" = "${ios[0]}" ]; then
      openssl s_server -accept 127.0.0.1:0 -cert "$pki/server.pem" -key "$pki/server.key" "$v" \
        -cipher 'DEFAULT:@SECLEVEL=0' -naccept 1 -www >"$work/s_server.out" 2>&1 < <(sleep 20) &
      control_pid=$!
      retry 5 grep -q '^ACCEPT' "$work/s_server.out" || fail "openssl s_server (the control) did not start: $(cat "$work/s_server.out")"
      cport=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$work/s_server.out")
      openssl s_client -brief -connect "127.0.0.1:$cport" -CAfile "$ca" -verify_ip 127.0.0.1 "$v" -cipher 'DEFAULT:@SECLEVEL=0' \
        </dev/null >"$work/control.out" 2>&1 || true
      kill "$control_pid" 2>/dev/null || true; wait "$control_pid" 2>/dev/null || true; control_pid=
      local want=TLSv1; [ "$v" = -tls1_1 ] && want=TLSv1.1
      grep -q "^Protocol version: $want\$" "$work/control.out" ||
        fail "control: the same s_client $v did not complete with openssl s_server, so the check above proves nothing: $(grep -E 'Protocol|Cipher|error' "$work/control.out")"
      ok "openssl s_client $v -cipher DEFAULT:@SECLEVEL=0 is refused by ringtty with an alert ($alert), though the same client completes $want with openssl s_server"
    else
      ok "openssl s_client $v -cipher DEFAULT:@SECLEVEL=0 is refused by ringtty with an alert ($alert)"
    fi
  done

  echo "--- Python ssl + websockets: a session over HTTPS, typed into over wss:// (--io $io) (t+$((SECONDS - t0))s)"
  "$py" "$here/tls_ws.py" "$base" "$token" "$ca" session || fail "tls_ws.py session (--io $io)"
  stop_server
}

# Reload: a client holds a keep-alive HTTPS connection and an attached wss session
# throughout; the certificate is replaced by one from a new CA, then the key by garbage.
reload() {
  local io=$1 line r
  start_server "reload-$io" --io "$io" -W --allow-any-command
  echo "--- SIGHUP reload with a client connected throughout ($base, --io $io) (t+$((SECONDS - t0))s)"
  coproc HOLD { exec "$py" "$here/tls_ws.py" "$base" "$token" "$ca" hold 2>&1; }
  hold_pid=$HOLD_PID
  local hold_in=${HOLD[1]} hold_out=${HOLD[0]}
  # hold_read PREFIX: reads the client's lines (echoing them) until one starts with PREFIX.
  hold_read() {
    while IFS= read -r -t 20 line <&"$hold_out"; do
      echo "     client: $line"
      case $line in "$1"*) return 0 ;; FAIL*) fail "the connected client: $line" ;; esac
    done
    fail "the connected client said nothing for 20 s or ended"
  }
  hold_read ready

  cp "$work/pki-new/server.pem" "$live/server.pem"
  cp "$work/pki-new/server.key" "$live/server.key"
  kill -HUP "$server_pid"
  retry 10 verifies_with "$work/pki-new/ca.pem" ||
    fail "after SIGHUP, no handshake verifies with the new CA: $(cat "$work/s_client.err")"
  ok "after SIGHUP new connections verify with the new CA"
  if verifies_with "$ca"; then fail "after SIGHUP a new connection still verifies with the old CA"; fi
  r=$(get "$base/api/sessions" --cacert "$ca" -H "Authorization: Bearer $token")
  [ "${r%% *}" = 000 ] || fail "curl trusting only the old CA still got an answer after the reload: '$r'"
  r=$(get "$base/api/sessions" --cacert "$work/pki-new/ca.pem" -H "Authorization: Bearer $token")
  [ "$r" = "200 1.1" ] || fail "curl trusting the new CA after the reload: '$r' $(cat "$work/curl.err")"
  ok "and only with it: s_client and curl trusting the old CA are refused; curl trusting the new CA -> 200"
  echo "check 1" >&"$hold_in"
  hold_read "ok 1"

  echo "not a key" >"$live/server.key"
  kill -HUP "$server_pid"
  retry 10 grep -q 'SIGHUP: keeping the TLS certificate in force' "$cur_log" ||
    fail "a garbage key file and SIGHUP: no 'SIGHUP: keeping the TLS certificate in force' on stderr"
  ok "garbage key + SIGHUP: stderr says: $(grep -o 'SIGHUP: keeping the TLS certificate in force.*' "$cur_log" | tail -n 1)"
  kill -0 "$server_pid" 2>/dev/null || fail "the server died on a garbage key file"
  verifies_with "$work/pki-new/ca.pem" || fail "after the failed reload the new certificate is not served: $(cat "$work/s_client.err")"
  r=$(get "$base/api/sessions" --cacert "$work/pki-new/ca.pem" -H "Authorization: Bearer $token")
  [ "$r" = "200 1.1" ] || fail "after the failed reload, curl trusting the new CA: '$r' $(cat "$work/curl.err")"
  ok "still serving the new certificate: s_client verifies with the new CA, curl -> 200"
  echo "check 2" >&"$hold_in"
  hold_read "ok 2"
  echo quit >&"$hold_in"
  wait "$hold_pid" || fail "the connected client exited with an error"
  hold_pid=
  stop_server
  cp "$pki/server.pem" "$pki/server.key" "$live/"
}

# Client certificates (-A): refused without one, from another CA, or expired; alice's
# names her as the owner of what she starts, and bob does not see it.
mtls() {
  local io=$1 r id
  start_server "mtls-$io" --io "$io" -W --allow-any-command -A "$ca"
  echo "--- client certificates, -A ca.pem ($base, --io $io) (t+$((SECONDS - t0))s)"
  local name args want
  for name in none other-alice expired; do
    case $name in
      none) args=(); want='certificate required' ;;
      other-alice) args=(--cert "$pki/other-alice.pem" --key "$pki/other-alice.key"); want='unknown ca' ;;
      expired) args=(--cert "$pki/expired.pem" --key "$pki/expired.key"); want='certificate expired' ;;
    esac
    for tls in 1.3 1.2; do
      # The token is sent too: the certificate is required whatever else is.
      r=$(get "$base/api/sessions" --cacert "$ca" --tlsv"$tls" --tls-max "$tls" "${args[@]}" -H "Authorization: Bearer $token")
      # curl 7.x reports a received certificate_expired alert as its own "SSL certificate
      # verification failed" (it maps that alert to CURLE_PEER_FAILED_VERIFICATION; its
      # own verification of the server was fine, or it would say "SSL certificate problem").
      [ "${r%% *}" = 000 ] && grep -Eq "alert $want|^curl: \(60\) SSL certificate verification failed" "$work/curl.err" ||
        fail "client certificate '$name' over TLS $tls: want a refusal with the alert '$want', got '$r' $(cat "$work/curl.err" "$work/body" 2>/dev/null)"
    done
    ok "curl with client certificate '$name' is refused over TLS 1.3 and 1.2 (alert $want), even with a token"
  done

  local alice=(--cert "$pki/alice.pem" --key "$pki/alice.key") bob=(--cert "$pki/bob.pem" --key "$pki/bob.key")
  r=$(get "$base/api/sessions" --cacert "$ca" "${alice[@]}" -H 'Content-Type: application/json' -d '{"command":["cat"]}')
  [ "$r" = "201 1.1" ] || fail "POST /api/sessions with alice's certificate and no token: want 201, got '$r' $(cat "$work/body" "$work/curl.err")"
  id=$("$py" -c 'import json,sys; print(json.load(sys.stdin)["id"])' <"$work/body")
  ok "alice's certificate, no token: POST /api/sessions -> 201 ($id)"
  r=$(get "$base/api/sessions/$id" --cacert "$ca" "${alice[@]}")
  [ "$r" = "200 1.1" ] && [ "$("$py" -c 'import json,sys; print(json.load(sys.stdin)["owner"])' <"$work/body")" = alice ] ||
    fail "GET /api/sessions/$id with alice's certificate: want 200 with owner alice, got '$r' $(cat "$work/body")"
  r=$(get "$base/api/sessions/$id" --cacert "$ca" --tlsv1.2 --tls-max 1.2 "${alice[@]}")
  [ "$r" = "200 1.1" ] || fail "GET /api/sessions/$id with alice's certificate over TLS 1.2: got '$r'"
  ok "GET /api/sessions/$id with alice's certificate (TLS 1.3 and 1.2) -> 200, \"owner\": \"alice\""
  r=$(get "$base/api/sessions/$id" --cacert "$ca" "${bob[@]}")
  [ "${r%% *}" = 404 ] || fail "GET alice's session with bob's certificate: want 404, got '$r' $(cat "$work/body")"
  r=$(get "$base/api/sessions" --cacert "$ca" "${bob[@]}")
  [ "${r%% *}" = 200 ] && ! grep -q "$id" "$work/body" || fail "bob's session list shows alice's session: '$r' $(cat "$work/body")"
  ok "bob's certificate: alice's session -> 404, and not in his list"
  r=$(get "$base/api/sessions/$id" --cacert "$ca" "${bob[@]}" -H "Authorization: Bearer $token")
  [ "${r%% *}" = 200 ] || fail "bob's certificate with the admin token: want 200 (the token decides), got '$r'"
  ok "bob's certificate with the login (admin) token -> 200: a token still decides beside a certificate"
  stop_server
}

# Autobahn's fuzzingclient speaks wss:// through Twisted's ClientContextFactory (run.sh
# gives it no "hostname"): the OpenSSL 1.1.1 bundled with its pyOpenSSL/cryptography,
# TLS 1.3, no SNI and no certificate verification. It reaches the server only through
# TLS: the port answers nothing else (checked above).
autobahn() {
  local io=$1 out=$root/target/autobahn-tls
  [ "$io" = epoll ] || out=$out-$io
  start_server "autobahn-$io" --io "$io" --ws-echo /echo -P 0
  echo "--- Autobahn|Testsuite 1-7, 10 over wss:// ($base/echo, --io $io; report in ${out#"$root"/}) (t+$((SECONDS - t0))s)"
  AUTOBAHN_DIR=$autobahn_dir AUTOBAHN_OUT=$out \
    bash "$shared/tools/autobahn/run.sh" "wss://$hostport/echo?token=$token" '1.*' '2.*' '3.*' '4.*' '5.*' '6.*' '7.*' '10.*' ||
    fail "Autobahn over wss:// (--io $io): see $out/index.html and $out/wstest.log"
  grep -q "from peer tcp4:127.0.0.1:$port" "$out/wstest.log" || fail "Autobahn did not reach $hostport: $(tail -n 5 "$out/wstest.log")"
  ok "Autobahn over wss:// (--io $io), zero FAILED"
  stop_server
}

for io in "${ios[@]}"; do
  echo "=== --io $io"
  mkdir -p "$live"
  cp "$pki/server.pem" "$pki/server.key" "$live/"
  t=$SECONDS
  basics "$io"
  reload "$io"
  mtls "$io"
  autobahn "$io"
  echo "=== --io $io: every check passed in $((SECONDS - t)) s"
done
echo "tls_peers: all passed in $((SECONDS - t0)) s"
