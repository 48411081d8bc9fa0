"""A ttyd-protocol client for perf/compress.sh: connects to ws://HOST:PORT/ws (offering
permessage-deflate or not), sends the first message, reads the terminal's output until
the server closes, and prints what crossed the wire:

    wire=BYTES output=BYTES compressed_messages=N messages=N seconds=S client_cpu=S

Raw socket and zlib (the standard library): every byte read from the socket counts as
wire bytes; RSV1 messages are inflated (fresh per message: server_no_context_takeover).
Usage: compress_client.py HOST:PORT on|off [TOKEN_FILE]
"""
import base64, os, socket, sys, time, zlib

hostport, mode = sys.argv[1], sys.argv[2]
token = open(sys.argv[3]).read().strip() if len(sys.argv) > 3 else None
host, port = hostport.rsplit(":", 1)
s = socket.create_connection((host, int(port)))
key = base64.b64encode(os.urandom(16)).decode()
head = (f"GET /ws HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tty\r\n")
if mode == "on":
    head += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
if token:
    head += f"Authorization: Bearer {token}\r\n"
s.sendall((head + "\r\n").encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
resp, buf = buf.split(b"\r\n\r\n", 1)
assert resp.startswith(b"HTTP/1.1 101"), resp
negotiated = b"permessage-deflate" in resp.lower()
assert negotiated == (mode == "on"), resp


def frame(opcode, payload):
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


start, cpu0 = time.monotonic(), time.process_time()
s.sendall(frame(2, b'{"AuthToken":"","columns":200,"rows":50}'))
wire = len(buf)
output = messages = compressed = 0
msg, msg_rsv1 = [], False
while True:
    # Parse whole frames from buf (from pos on); read more when needed.
    pos = 0
    while True:
        if len(buf) - pos < 2:
            break
        b0, b1 = buf[pos], buf[pos + 1]
        n, at = b1 & 0x7F, pos + 2
        if n == 126:
            if len(buf) - pos < 4:
                break
            n, at = int.from_bytes(buf[pos + 2:pos + 4], "big"), pos + 4
        elif n == 127:
            if len(buf) - pos < 10:
                break
            n, at = int.from_bytes(buf[pos + 2:pos + 10], "big"), pos + 10
        if len(buf) < at + n:
            break
        payload, pos = buf[at:at + n], at + n
        opcode = b0 & 0x0F
        if opcode == 8:
            secs, cpu = time.monotonic() - start, time.process_time() - cpu0
            print(f"wire={wire} output={output} compressed_messages={compressed} messages={messages} "
                  f"seconds={secs:.3f} client_cpu={cpu:.3f}")
            sys.exit(0)
        if opcode in (1, 2):
            msg, msg_rsv1 = [payload], bool(b0 & 0x40)
        elif opcode == 0:
            msg.append(payload)
        else:
            continue
        if b0 & 0x80:
            data = b"".join(msg)
            if msg_rsv1:
                data = zlib.decompressobj(-15).decompress(data + b"\x00\x00\xff\xff")
                compressed += 1
            messages += 1
            if data[:1] == b"0":
                output += len(data) - 1
    buf = buf[pos:]
    chunk = s.recv(1 << 20)
    if not chunk:
        sys.exit("connection closed without a close frame")
    wire += len(chunk)
    buf += chunk
