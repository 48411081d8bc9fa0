#!/usr/bin/env bash
# Issue 14: "a container whose seccomp blocks io_uring still runs". With io_uring
# disabled host-wide (kernel.io_uring_disabled=2, Linux 6.6+; restored on exit):
# `--io epoll` starts and serves a terminal, `--io auto` starts on epoll and says why,
# `--io uring` refuses to start with a one-line error naming the fix.
# Usage: .ci/no-io-uring.sh BIN
set -euo pipefail
bin=$1
# The Python websockets client .ci/run installed (.ci-venv), or the system's.
py=python3; [ -x .ci-venv/bin/python ] && py=.ci-venv/bin/python
knob=/proc/sys/kernel/io_uring_disabled
[ -w "$knob" ] || { echo "no-io-uring: $knob is missing or read-only (Linux < 6.6 or not root)" >&2; exit 1; }
before=$(cat "$knob")
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; echo "$before" > "$knob"; rm -rf "$work"; }
trap cleanup EXIT
echo 2 > "$knob"

# Starts BIN with the given options; waits for its Login line; sets $base and $token.
start() {
  "$bin" -p 0 -W "$@" cat >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 200); do grep -q '^Login: ' "$work/out" && break; sleep 0.05; done
  base=$(sed -n 's#^Listening on \(http://[^/]*\)/$#\1#p' "$work/out")
  token=$(sed -n 's#^Login: http://[^/]*/?token=\(.*\)$#\1#p' "$work/out")
  [ -n "$base" ] && [ -n "$token" ] || { echo "no-io-uring: ringtty $* did not start" >&2; cat "$work/err" >&2; exit 1; }
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

for io in epoll auto; do
  start --io "$io"
  grep -q 'io: readiness and read(2)' "$work/err" || { echo "no-io-uring: --io $io did not log the epoll path" >&2; cat "$work/err" >&2; exit 1; }
  # A terminal really runs: ttyd's protocol on /ws, `cat` echoes what is typed.
  "$py" - "ws://${base#http://}/ws?token=$token" <<'PY' || { echo "no-io-uring: --io $io: no terminal" >&2; cat "$work/err" >&2; exit 1; }
import json, sys
from websockets.sync.client import connect
with connect(sys.argv[1], subprotocols=["tty"], origin=None, open_timeout=10) as ws:
    ws.send(json.dumps({"AuthToken": "", "columns": 80, "rows": 24}))
    ws.send("0no-uring-ok\n")
    got = b""
    while b"no-uring-ok" not in got:
        msg = ws.recv(timeout=10)
        msg = msg.encode() if isinstance(msg, str) else msg
        if msg[:1] == b"0":
            got += msg[1:]
PY
  echo "--io $io: serves a terminal with io_uring disabled ($(grep -o 'io: .*' "$work/err" | head -1))"
  stop
done

if "$bin" -p 0 --io uring cat >"$work/out" 2>"$work/err"; then
  echo "no-io-uring: --io uring started with io_uring disabled" >&2; exit 1
fi
grep -q 'io_uring_disabled' "$work/err" || { echo "no-io-uring: --io uring's error does not name the fix" >&2; cat "$work/err" >&2; exit 1; }
echo "--io uring: refused: $(tail -n 1 "$work/err")"
