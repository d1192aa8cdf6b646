"""Latency of requests on one kept-alive connection: 50 GET /healthz, median and max.
Usage: python3 bench/keepalive_latency.py BUILD/vigil  (starts vigil --no-auth on a free port)."""
import socket, time, sys, subprocess, re, os
binary = sys.argv[1]
p = subprocess.Popen([binary, "serve", "--no-auth", "--db", ":memory:", "--listen", "127.0.0.1:0"],
                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
port = None
for line in p.stderr:
    m = re.search(r"listening on http://127.0.0.1:(\d+)/", line)
    if m: port = int(m.group(1)); break
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
times = []
for i in range(50):
    t = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while b'"ok"}' not in buf:
        buf += s.recv(4096)
    times.append((time.monotonic() - t) * 1000)
times.sort()
print("keep-alive /healthz x50: median %.2f ms, max %.2f ms" % (times[25], times[-1]))
p.terminate(); p.wait()
