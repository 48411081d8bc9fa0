"""An independent HTTPS + WSS client for ringtty's TLS (Python's `ssl` and `websockets`).
Run by tests/peers/tls_peers.sh:

    python3 tls_ws.py https://127.0.0.1:PORT TOKEN CA.pem session
        creates a session over HTTPS (urllib, trusting only CA.pem), attaches over wss://
        to /api/sessions/{id}/ws (token in Authorization), waits for the child's "R", types and expects the echo,
        closes, and removes the session. Prints 'N passed, N failed'; exit 1 on failure.

    python3 tls_ws.py https://127.0.0.1:PORT TOKEN CA.pem hold
        opens one keep-alive HTTPS connection and one attached wss session (token in the
        query) and keeps both:
        prints "ready" once both work, then for each line "check N" read on stdin types
        into the session and requests over the same HTTPS connection, and answers
        "ok N ..." (or "FAIL N ..." and exits 1). The connections must stay the very same
        TLS connections: a reconnect (which would handshake again) is a failure.
        EOF or "quit" closes both.

The server must allow `-W --allow-any-command`. The child is
`sh -c 'stty raw -echo; printf R; exec cat'`: no echo by the terminal, so every byte
that comes back went through cat, the PTY and the server's TLS both ways.
"""
import asyncio
import http.client
import json
import ssl
import sys
import urllib.request
from urllib.parse import urlsplit

from websockets.asyncio.client import connect

BASE, TOKEN, CAFILE, MODE = sys.argv[1:5]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHILD = ["sh", "-c", "stty raw -echo; printf R; exec cat"]
TIMEOUT = 10
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)
    return ok


def context():
    """Trusts CA.pem only (not the system's roots); verifies the name (here an IP SAN)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=CAFILE)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def api(method, path, body=None):
    """One request on a fresh HTTPS connection (urllib); returns (status, json)."""
    data = None if body is None else json.dumps(body).encode()
    headers = dict(AUTH, **({"Content-Type": "application/json"} if data else {}))
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, context=context(), timeout=TIMEOUT) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def create_session():
    status, body = api("POST", "/api/sessions", {"command": CHILD})
    if not check("POST /api/sessions over HTTPS -> 201", status == 201, f"{status} {body}"):
        sys.exit(1)
    return body["id"]


def ws_url(sid, query_token):
    url = "wss://" + urlsplit(BASE).netloc + f"/api/sessions/{sid}/ws"
    return url + f"?token={TOKEN}" if query_token else url


async def read_until(ws, want):
    """Reads messages until the binary output received contains `want`; returns (output, controls)."""
    out, controls = b"", []
    while want not in out:
        msg = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if isinstance(msg, bytes):
            out += msg
        else:
            controls.append(json.loads(msg))
            if controls[-1].get("type") == "exit":
                raise RuntimeError(f"the session exited before {want!r} came: {out!r}")
    return out, controls


async def attach(sid, query_token):
    """Attaches over wss (the token in the query or in Authorization), checks the hello
    and waits for the child's "R"."""
    ws = await connect(ws_url(sid, query_token), ssl=context(), open_timeout=TIMEOUT, max_size=None,
                       additional_headers=None if query_token else AUTH)
    tls = ws.transport.get_extra_info("ssl_object")
    how = "?token=" if query_token else "Authorization: Bearer"
    check(f"wss:// attached ({how}) with {tls.version()}, ALPN {tls.selected_alpn_protocol()}",
          tls.version() in ("TLSv1.2", "TLSv1.3") and tls.selected_alpn_protocol() == "http/1.1",
          (tls.version(), tls.selected_alpn_protocol()))
    out, controls = await read_until(ws, b"R")
    hello = controls[0] if controls else {}
    check("hello first, writable", hello.get("type") == "hello" and hello.get("writable") is True, controls)
    return ws


async def echo(ws, text):
    await ws.send(text.encode())
    out, _ = await read_until(ws, text.encode())
    shown = text if len(text) < 20 else f"{len(text)} bytes"
    return check(f"typed {shown!r} over wss, cat echoed it", out.endswith(text.encode()), repr(out)[-200:])


async def session_mode():
    sid = create_session()
    ws = await attach(sid, query_token=False)
    await echo(ws, "hello over TLS")
    await echo(ws, "x" * 3000)  # more than one TLS record's worth of PTY reads
    await ws.close()
    check("closed with 1000", ws.close_code == 1000, ws.close_code)
    status, body = api("DELETE", f"/api/sessions/{sid}")
    check("DELETE the session -> 202", status == 202, f"{status} {body}")


class KeepAlive:
    """One HTTPS connection that must never be replaced (http.client reconnects silently)."""

    def __init__(self):
        u = urlsplit(BASE)
        self.conn = http.client.HTTPSConnection(u.hostname, u.port, context=context(), timeout=TIMEOUT)
        self.conn.connect()
        self.sock = self.conn.sock
        self.issuer = dict(x[0] for x in self.sock.getpeercert()["issuer"])["commonName"]

    def request(self, method, path):
        self.conn.request(method, path, headers=AUTH)
        r = self.conn.getresponse()
        body = r.read()
        if self.conn.sock is not self.sock:
            raise RuntimeError("the keep-alive HTTPS connection was replaced")
        return r.status, body


async def hold_mode():
    sid = create_session()
    keep = KeepAlive()
    ws = await attach(sid, query_token=True)
    loop = asyncio.get_running_loop()
    status, _ = await loop.run_in_executor(None, keep.request, "GET", f"/api/sessions/{sid}")
    ok = check(f"keep-alive HTTPS GET -> 200 ({keep.sock.version()}, certificate by {keep.issuer!r})", status == 200, status)
    ok = await echo(ws, "before") and ok
    print("ready" if ok else "FAIL setup", flush=True)
    if not ok:
        sys.exit(1)
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] == "quit":
            break
        n = line[1]
        try:
            status, _ = await loop.run_in_executor(None, keep.request, "GET", f"/api/sessions/{sid}")
            if status != 200:
                raise RuntimeError(f"keep-alive GET answered {status}")
            if not await echo(ws, f"check {n}"):
                raise RuntimeError("no echo")
            # Still the first TLS session, with the first certificate, on both connections.
            wss_tls = ws.transport.get_extra_info("ssl_object")
            print(f"ok {n} same keep-alive HTTPS connection ({keep.sock.version()}, certificate by {keep.issuer!r}) "
                  f"and same wss connection ({wss_tls.version()}) still work", flush=True)
        except Exception as e:  # noqa: BLE001 - reported to the driving script
            print(f"FAIL {n} {type(e).__name__}: {e}", flush=True)
            sys.exit(1)
    await ws.close()
    # A new connection may no longer verify (the certificate changed): remove the session
    # over the kept one.
    status, _ = keep.request("DELETE", f"/api/sessions/{sid}")
    keep.conn.close()
    if status != 202:
        sys.exit(f"DELETE over the keep-alive connection answered {status}")


def main():
    if MODE == "session":
        asyncio.run(session_mode())
        passed = sum(results)
        failed = len(results) - passed
        print(f"{passed} passed, {failed} failed")
        sys.exit(1 if failed else 0)
    elif MODE == "hold":
        asyncio.run(hold_mode())
    else:
        sys.exit(f"unknown mode {MODE!r}: session or hold")


main()
