"""asciinema itself (2.x, from PyPI) reads ringtty's recordings: `asciinema cat` of a
downloaded cast writes exactly what the session's terminal showed.

Run:  python3 tests/peers/cast_peer.py PATH_TO_RINGTTY_BINARY PATH_TO_ASCIINEMA
(needs `pip install asciinema==2.4.0 websockets`; .ci/run installs both in .ci-venv)

Starts a server with --record DIR, runs commands whose output has escapes, multi-byte
characters split anywhere, invalid bytes and many lines; reads each session's output
over the native WebSocket protocol from offset 0 until its exit; downloads the cast
(GET /api/sessions/{id}/cast); and compares `asciinema cat FILE` with that output (the
invalid bytes as U+FFFD, as the format needs text). Then a cast cut by --record-max:
asciinema reads it too, and what it prints is the start of the output.
Prints 'N passed, N failed' and exits non-zero on failure.
"""
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import websockets

BINARY, ASCIINEMA = sys.argv[1], sys.argv[2]
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))


def call(base, method, path, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def start(casts, *extra):
    server = subprocess.Popen(
        [BINARY, "-p", "0", "-W", "--allow-any-command", "--record", casts, "-d", "warn", *extra, "cat"],
        stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    base = server.stdout.readline().strip().removeprefix("Listening on ").rstrip("/")
    login = server.stdout.readline().strip()
    token = login.split("token=", 1)[1]
    return server, base, token


async def output_until_exit(base, token, sid):
    url = base.replace("http://", "ws://") + f"/api/sessions/{sid}/ws?since=0"
    out = bytearray()
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None) as ws:
        async for msg in ws:
            # Each output is far below the flow-control window: no acks needed.
            if isinstance(msg, bytes):
                out += msg
            elif json.loads(msg).get("type") == "exit":
                return bytes(out)
    return bytes(out)


def asciinema_cat(path):
    env = dict(os.environ, PYTHONIOENCODING="utf-8", LC_ALL="C.UTF-8")
    r = subprocess.run([ASCIINEMA, "cat", path], capture_output=True, timeout=30, stdin=subprocess.DEVNULL, env=env)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def recorded(base, token, command, casts):
    status, body, _ = call(base, "POST", "/api/sessions", token, {"command": command, "cols": 90, "rows": 30})
    if status != 201:
        raise SystemExit(f"cannot create a session: {status} {body!r}")
    sid = json.loads(body)["id"]
    shown = asyncio.run(output_until_exit(base, token, sid))
    status, cast, headers = call(base, "GET", f"/api/sessions/{sid}/cast", token)
    check(f"{command[-1][:40]!r}: the cast downloads", status == 200, status)
    check("  as application/x-asciicast", headers.get("Content-Type") == "application/x-asciicast", headers)
    path = os.path.join(casts, f"downloaded-{sid}.cast")
    with open(path, "wb") as f:
        f.write(cast)
    return shown, cast, path


def main():
    with tempfile.TemporaryDirectory() as casts:
        os.chmod(casts, 0o700)
        server, base, token = start(casts)
        try:
            scripts = [
                r"printf 'h\303\251llo \033[1;31mred\033[0m \"q\" \\ tab\there\n'; seq 1 2000; printf '\342\202\254 \360\237\230\200 end\n'",
                # A 4-byte character every 3 bytes, so reads split sequences anywhere.
                r"i=0; while [ $i -lt 3000 ]; do printf 'ab\360\237\230\200'; i=$((i+1)); done; echo",
                # Bytes that are not UTF-8 at all.
                r"printf 'bad \377\376 bytes \303( end\n'",
            ]
            for script in scripts:
                shown, cast, path = recorded(base, token, ["sh", "-c", script], casts)
                code, out, err = asciinema_cat(path)
                check("  asciinema cat reads it", code == 0, err[-300:])
                want = shown.decode("utf-8", errors="replace").encode()
                check("  and prints exactly the terminal's output", out == want,
                      f"{len(out)} bytes vs {len(want)}; first difference at "
                      f"{next((i for i, (a, b) in enumerate(zip(out, want)) if a != b), min(len(out), len(want)))}")
        finally:
            server.terminate()
            server.wait(timeout=10)
        server, base, token = start(casts, "--record-max", "16K")
        try:
            shown, cast, path = recorded(base, token, ["seq", "1", "50000"], casts)
            last = json.loads(cast.decode().splitlines()[-1])
            check("  --record-max: the last event is a marker", last[1] == "m" and "--record-max" in last[2], last)
            code, out, err = asciinema_cat(path)
            check("  asciinema cat reads a truncated cast", code == 0, err[-300:])
            check("  and prints the start of the output", len(out) > 8000 and shown.startswith(out), len(out))
        finally:
            server.terminate()
            server.wait(timeout=10)
    failed = results.count(False)
    print(f"{results.count(True)} passed, {failed} failed")
    sys.exit(1 if failed else 0)


main()
