"""A camera that stops answering mid-TEARDOWN, for vigil's integration tests: a TCP proxy in
front of an RTSP camera (the simulator, rtsp_sim.py) that forwards everything both ways
until the client sends TEARDOWN. That request is swallowed, and from then on the connection
is frozen: nothing more is read or forwarded either way, and the sockets stay open, as with
a camera whose firmware hangs while ending a session. The proxy closes them only when it is
closed itself.

    with TeardownHangProxy(cam.url) as px:
        px.url         # dial this instead of cam.url
        px.teardowns   # TEARDOWNs swallowed so far
        px.sessions    # connections accepted so far
"""
import socket
import threading


class TeardownHangProxy:
    def __init__(self, target_url, host='127.0.0.1'):
        rest = target_url.split('://', 1)[1]
        hostport, _, path = rest.partition('/')
        self.target = (hostport.rsplit(':', 1)[0], int(hostport.rsplit(':', 1)[1]))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = 'rtsp://%s:%d/%s' % (host, self.sock.getsockname()[1], path)
        self.teardowns = 0
        self.sessions = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._socks = []
        self._thread = threading.Thread(target=self._accept, name='hang-proxy', daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks + [self.sock]:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            try:
                up = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            up.settimeout(None)
            c.settimeout(None)
            with self._lock:
                self._socks += [c, up]
                self.sessions += 1
            hung = threading.Event()
            threading.Thread(target=self._from_client, args=(c, up, hung), daemon=True).start()
            threading.Thread(target=self._from_camera, args=(up, c, hung), daemon=True).start()

    def _from_client(self, src, dst, hung):
        """Client to camera: RTSP requests and $-framed RTCP (RFC 2326 10.12), passed on
        until a TEARDOWN, which is dropped with everything after it."""
        buf = bytearray()
        try:
            while not self._stop.is_set() and not hung.is_set():
                data = src.recv(65536)
                if not data:
                    return
                buf += data
                out = bytearray()
                while buf:
                    if buf[0] == 0x24:  # '$', channel, 16-bit length, packet
                        if len(buf) < 4:
                            break
                        n = 4 + ((buf[2] << 8) | buf[3])
                        if len(buf) < n:
                            break
                        out += buf[:n]
                        del buf[:n]
                        continue
                    if buf.startswith(b'TEARDOWN'):
                        with self._lock:
                            self.teardowns += 1
                        hung.set()
                        break
                    end = buf.find(b'\r\n\r\n')
                    if end < 0:
                        break
                    length = 0
                    for line in bytes(buf[:end]).lower().split(b'\r\n'):
                        if line.startswith(b'content-length:'):
                            length = int(line.split(b':', 1)[1])
                    n = end + 4 + length
                    if len(buf) < n:
                        break
                    out += buf[:n]
                    del buf[:n]
                if out:
                    dst.sendall(out)
        except OSError:
            return
        self._stop.wait()  # frozen: read nothing more, keep the connection open

    def _from_camera(self, src, dst, hung):
        try:
            while not self._stop.is_set() and not hung.is_set():
                data = src.recv(65536)
                if not data:
                    return
                if hung.is_set():
                    break
                dst.sendall(data)
        except OSError:
            return
        self._stop.wait()
