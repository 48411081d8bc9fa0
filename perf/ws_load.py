"""Echo load for perf/ws-echo-cpu.sh: C connections, each keeping W messages of S bytes
in flight until it has sent N, against ringtty's --ws-echo endpoint.
Prints the messages echoed and this client's own CPU seconds."""
import asyncio
import resource
import sys
import time

import websockets

url, conns, per_conn, window, size = sys.argv[1], *map(int, sys.argv[2:6])


async def one():
    async with websockets.connect(url, max_size=None, compression=None) as ws:
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
