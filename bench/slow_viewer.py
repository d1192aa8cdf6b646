#!/usr/bin/python3
"""One deliberately slow WebSocket viewer: reads at most RATE bytes/s and prints, every 2 s,
how late (wall clock minus the header's capture_us) the latest frame arrived and how many
frames the server skipped for it (seq gaps). A server that keeps one frame in flight per
viewer shows gaps and a steady delay; one that lets frames queue shows growing delay.

usage: bench/slow_viewer.py PORT RATE_BYTES_PER_S SECONDS [CAMERA [RCVBUF_BYTES]]
(RCVBUF_BYTES sets SO_RCVBUF before connecting; default: kernel autotuning)
Standard library only; see docs/benchmarks.md.
"""
import base64
import os
import socket
import struct
import sys
import time

port, rate, dur = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
cam = sys.argv[4] if len(sys.argv) > 4 else "cam"
rcvbuf = int(sys.argv[5]) if len(sys.argv) > 5 else 0
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
if rcvbuf:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
s.settimeout(5)
s.connect(("127.0.0.1", port))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET /api/v1/cameras/{cam}/ws?tier=native HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
buf = b""
t0 = time.monotonic()
while b"\r\n\r\n" not in buf and time.monotonic() - t0 < 5:
    buf += s.recv(4096)
if not buf.startswith(b"HTTP/1.1 101"):
    raise SystemExit(f"no upgrade: {buf[:80]!r}")
buf = buf[buf.index(b"\r\n\r\n") + 4:]
t0 = time.monotonic()
got = 0


def take(n):
    global buf, got
    while len(buf) < n:
        now = time.monotonic()
        if now - t0 > dur + 5:
            raise SystemExit("time is up")
        allowed = rate * (now - t0) - got
        if allowed < 1:
            time.sleep(0.005)
            continue
        d = s.recv(int(min(65536, allowed)))
        if not d:
            raise SystemExit("server closed")
        got += len(d)
        buf += d
    r, buf = buf[:n], buf[n:]
    return r


last, lats, seqs = t0, [], []
while time.monotonic() - t0 < dur:
    h = take(2)
    ln, op = h[1] & 0x7F, h[0] & 0x0F
    if ln == 126:
        ln = struct.unpack(">H", take(2))[0]
    elif ln == 127:
        ln = struct.unpack(">Q", take(8))[0]
    p = take(ln)
    if op == 2:
        _, _, _, _, seq, cap, _ = struct.unpack("<BBBBIqq", p[:24])
        lats.append((time.time() * 1e6 - cap) / 1000)
        seqs.append(seq)
    now = time.monotonic()
    if now - last >= 2 and lats:
        gaps = sum(b - a - 1 for a, b in zip(seqs, seqs[1:]))
        print(f"t={now - t0:5.1f}s frames {len(lats) - 1:3d} latest {lats[-1]:6.0f} ms late, "
              f"max {max(lats):6.0f} ms, seq gaps {gaps}", flush=True)
        last, lats, seqs = now, lats[-1:], seqs[-1:]
