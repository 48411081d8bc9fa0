"""A second, independent JWT implementation (PyJWT) against `ringtty token`.

Run:  python3 tests/peers/jwt_peer.py PATH_TO_RINGTTY_BINARY   (needs `pip install pyjwt`)

ringtty mints tokens with a secret file; PyJWT, given the same key, must verify them
(signature, `alg`, required `exp`/`iat`) and read the claims ringtty wrote; and PyJWT,
minting the same claims with the same key, must produce the very same token (SPEC §6:
"any JWT library can mint them with the same key"). Prints 'N passed, N failed' and
exits non-zero on failure.
"""
import json
import os
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
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def refused(token, key):
    try:
        jwt.decode(token, key, algorithms=["HS256"])
        return False
    except jwt.InvalidSignatureError:
        return True


if __name__ == "__main__":
    sys.exit(main())
