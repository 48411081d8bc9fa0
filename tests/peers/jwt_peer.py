"""A second, independent JWT implementation (PyJWT) against `ringtty token`.

Run:  python3 tests/peers/jwt_peer.py PATH_TO_RINGTTY_BINARY   (needs `pip install pyjwt`)

ringtty mints tokens with a secret file; PyJWT, given the same key, must verify them
(signature, `alg`, required `exp`/`iat`) and read the claims ringtty wrote; and PyJWT,
minting the same claims with the same key, must produce the very same token (SPEC §6:
"any JWT library can mint them with the same key"). Then a running server, given the
secret file, must admit the tokens PyJWT mints and refuse the bad ones with one 401.
Prints 'N passed, N failed' and exits non-zero on failure.
"""
import json
import os
import urllib.error
import urllib.request
import secrets
import subprocess
import sys
import tempfile
import time

import jwt

BINARY = sys.argv[1]
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))


def ringtty(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)


def header_of(token):
    return jwt.get_unverified_header(token)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        secret = secrets.token_urlsafe(48)  # text, as `head -c 48 /dev/urandom | base64` makes
        path = os.path.join(tmp, "secret")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")  # the trailing newline is not part of the key
        key = secret.encode()
        cases = [
            ([], {"mode": "rw"}, 3600),
            (["--sub", "carol", "--jti", "leaked-link-1"], {"sub": "carol", "mode": "rw", "jti": "leaked-link-1"}, 3600),
            (["--sub", "alice", "--ttl", "10m"], {"sub": "alice", "mode": "rw"}, 600),
            (["--sub", "bob", "--session", "n1.AAabcdefghijklmnop"], {"sub": "bob", "mode": "ro", "sid": "n1.AAabcdefghijklmnop"}, 3600),
            (["--sub", "root", "--admin", "--mode", "ro", "--ttl", "7d"], {"sub": "root", "mode": "ro", "admin": True}, 7 * 86400),
            (["--sub", "zoë \"q\""], {"sub": "zoë \"q\"", "mode": "rw"}, 3600),
        ]
        for args, want, ttl in cases:
            name = " ".join(args) or "(defaults)"
            before = int(time.time())
            out = ringtty("token", "--auth-secret-file", path, *args)
            after = int(time.time())
            token = out.stdout.strip()
            if out.returncode != 0 or out.stdout.count("\n") != 1:
                check(f"ringtty token {name}: one line, exit 0", False, f"{out.returncode} {out.stdout!r} {out.stderr!r}")
                continue
            try:
                claims = jwt.decode(token, key, algorithms=["HS256"], options={"require": ["exp", "iat"]})
            except jwt.PyJWTError as e:
                check(f"PyJWT verifies ringtty token {name}", False, repr(e))
                continue
            check(f"PyJWT verifies ringtty token {name}", True)
            check(f"header of {name}", header_of(token) == {"alg": "HS256", "typ": "JWT"}, header_of(token))
            times_ok = before <= claims["iat"] <= after and claims["exp"] == claims["iat"] + ttl
            got = {k: v for k, v in claims.items() if k not in ("iat", "exp")}
            if "jti" not in want:
                # A random id (96 bits, hex) by which an admin can revoke this token alone.
                jti = got.pop("jti", "")
                times_ok = times_ok and len(jti) == 24 and all(c in "0123456789abcdef" for c in jti)
            check(f"claims of {name}", times_ok and got == want, json.dumps(claims))
            # PyJWT minting the same claims (in ringtty's order) with the same key: the same token.
            again = jwt.encode(claims, key, algorithm="HS256")
            # PyJWT escapes non-ASCII (\u00eb) where ringtty writes UTF-8: equal only for ASCII.
            if all(ord(c) < 128 for c in json.dumps(claims, ensure_ascii=False)):
                check(f"PyJWT mints the same token for {name}", again == token, f"{again} != {token}")
            check(f"wrong key refused for {name}", refused(token, key + b"x"))
        # A token minted with a random key would be useless: refused without a file.
        out = ringtty("token", "--sub", "alice")
        check("no secret file: one-line error, exit 2", out.returncode == 2 and out.stdout == "" and out.stderr.count("\n") == 1, out.stderr)
        against_the_server(path, key)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def call(base, method, path, token=None, body=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Host", base.split("//")[1])
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def against_the_server(secret_path, key):
    """Tokens PyJWT mints, presented to a server started with the same secret file."""
    server = subprocess.Popen(
        [BINARY, "-p", "0", "-W", "--allow-any-command", "--auth-secret-file", secret_path, "-d", "warn", "cat"],
        stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        line = server.stdout.readline().strip()
        base = line.removeprefix("Listening on ").rstrip("/")
        now = int(time.time())
        alice = jwt.encode({"sub": "alice", "mode": "rw", "exp": now + 60, "iat": now}, key, algorithm="HS256")
        status, body = call(base, "POST", "/api/sessions", alice, {"command": ["cat"]})
        check("a PyJWT token creates a session", status == 201 and body.get("owner") == "alice", f"{status} {body}")
        sid = body.get("id", "x")
        ro = jwt.encode({"sub": "alice", "mode": "ro", "exp": now + 60}, key, algorithm="HS256")
        status, _ = call(base, "POST", f"/api/sessions/{sid}/input", ro, {"data": "x"})
        check("a PyJWT ro token may not type", status == 403, status)
        bob = jwt.encode({"sub": "bob", "mode": "rw", "exp": now + 60}, key, algorithm="HS256")
        status, _ = call(base, "GET", f"/api/sessions/{sid}", bob)
        check("another user's token gets 404 for alice's session", status == 404, status)
        unsigned = jwt.encode({"sub": "alice", "mode": "rw", "exp": now + 60}, None, algorithm="none")
        bad = {
            "alg none": unsigned,
            "HS512": jwt.encode({"sub": "alice", "mode": "rw", "exp": now + 60}, key, algorithm="HS512"),
            "expired": jwt.encode({"sub": "alice", "mode": "rw", "exp": now - 120}, key, algorithm="HS256"),
            "no exp": jwt.encode({"sub": "alice", "mode": "rw"}, key, algorithm="HS256"),
            "not yet valid": jwt.encode({"sub": "alice", "exp": now + 600, "nbf": now + 300}, key, algorithm="HS256"),
            "another key": jwt.encode({"sub": "alice", "mode": "rw", "exp": now + 60}, key + b"x", algorithm="HS256"),
            "none at all": None,
        }
        answers = set()
        for name, token in bad.items():
            status, body = call(base, "GET", "/api/sessions", token)
            answers.add(json.dumps(body))
            check(f"{name}: 401", status == 401, f"{status} {body}")
        check("every refusal is the same answer", len(answers) == 1, answers)
    finally:
        server.terminate()
        server.wait(timeout=10)


def refused(token, key):
    try:
        jwt.decode(token, key, algorithms=["HS256"])
        return False
    except jwt.InvalidSignatureError:
        return True


if __name__ == "__main__":
    sys.exit(main())
