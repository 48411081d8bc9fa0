"""Echo load for perf/ws-echo-cpu.sh: C connections, each keeping W messages of S bytes
in flight until it has sent N, against ringtty's --ws-echo endpoint.
Prints the messages echoed and this client's own CPU seconds.

Usage: ws_load.py URL C N W S [TOKEN_FILE]
With TOKEN_FILE (a file holding the server's token, whitespace around it ignored),
every upgrade carries `Authorization: Bearer TOKEN`, for a server with authentication
on; without it nothing is sent (a --no-auth server)."""
import asyncio
import resource
import sys
import time

import websockets

url, conns, per_conn, window, size = sys.argv[1], *map(int, sys.argv[2:6])
headers = {}
if len(sys.argv) > 6:
    with open(sys.argv[6]) as f:
        token = f.read().strip()
    if not token:
        sys.exit(f"ws_load.py: {sys.argv[6]}: empty (no token in it)")
    headers["Authorization"] = f"Bearer {token}"


async def one():
    async with websockets.connect(url, max_size=None, compression=None, additional_headers=headers) as ws:
        payload = b"x" * size
        sent = received = 0
        while sent < min(window, per_conn):
            await ws.send(payload)
            sent += 1
        while received < per_conn:
            await ws.recv()
            received += 1
            if sent < per_conn:
                await ws.send(payload)
                sent += 1
        return received


async def main():
    start = time.monotonic()
    counts = await asyncio.gather(*(one() for _ in range(conns)))
    wall = time.monotonic() - start
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(f"messages={sum(counts)} wall={wall:.2f} client_cpu={ru.ru_utime + ru.ru_stime:.2f}")


asyncio.run(main())
