"""A second, independent WebSocket peer: the Python `websockets` client against
ringtty's --ws-echo endpoint. Run by .ci/run:  python3 tests/peers/ws_echo.py ws://HOST:PORT/echo

Checks echo of text/binary/empty/fragmented messages, ping/pong, close handshakes and
protocol-error close codes. Prints 'N passed, N failed' and exits non-zero on failure.
"""
import asyncio
import sys

import websockets
from websockets.exceptions import ConnectionClosed

URL = sys.argv[1]
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))


async def echo_kinds():
    async with websockets.connect(URL, max_size=None) as ws:
        for msg in ["", "hello", "é" * 40_000, b"", b"\x00\xff" * 70_000]:
            await ws.send(msg)
            got = await ws.recv()
            check(f"echo {type(msg).__name__} of {len(msg)}", got == msg, repr(got)[:60])


async def fragmented():
    async with websockets.connect(URL) as ws:
        await ws.send(["frag", "mented ", "téxt"])
        check("fragmented text reassembled", await ws.recv() == "fragmented téxt")
        await ws.send([b"\x01", b"", b"\x02\x03"])
        check("fragmented binary reassembled", await ws.recv() == b"\x01\x02\x03")


async def ping_pong():
    async with websockets.connect(URL) as ws:
        waiter = await ws.ping(b"payload")
        latency = await asyncio.wait_for(waiter, 5)
        check("ping answered by pong", latency >= 0)


async def clean_close():
    ws = await websockets.connect(URL)
    await ws.close(code=1000, reason="done")
    check("close 1000 echoed", ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1000, ws.protocol.close_rcvd)


def raw_frame(first_byte, payload):
    """A masked client frame built by hand, so the client's own checks are bypassed."""
    mask = b"\x11\x22\x33\x44"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([first_byte, 0x80 | len(payload)]) + mask + body


async def protocol_error(name, frame, code):
    ws = await websockets.connect(URL)
    ws.transport.write(frame)
    try:
        await asyncio.wait_for(ws.recv(), 5)
        check(name, False, "no close")
    except ConnectionClosed as e:
        got = e.rcvd.code if e.rcvd else None
        check(name, got == code, f"close code {got}, want {code}")


async def main():
    await echo_kinds()
    await fragmented()
    await ping_pong()
    await clean_close()
    await protocol_error("invalid UTF-8 -> 1007", raw_frame(0x81, b"\xff\xfe"), 1007)
    await protocol_error("unexpected continuation -> 1002", raw_frame(0x80, b"x"), 1002)
    await protocol_error("RSV1 without extension -> 1002", raw_frame(0xC2, b"x"), 1002)
    await protocol_error("reserved opcode -> 1002", raw_frame(0x83, b""), 1002)
    passed = sum(results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


asyncio.run(main())
