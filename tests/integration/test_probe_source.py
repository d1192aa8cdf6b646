"""`vigil probe --tier source` against a stand-in server that speaks the `source` tier of
docs/protocol.md ("The camera's own video"): a codec message, then one binary message per
H.264 access unit with the 32-byte header, one skip to a keyframe (a gap in seq) part-way.
It checks what the probe counts and that --save writes a stream ffmpeg decodes, so the
probe's half of the passthrough benchmarks is known good before the server's half lands.
"""
import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import VIGIL_BIN
from rtsp_sim import encode_clip, have_element

WS_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
FPS = 30
SKIP_AT, SKIP_TO = 45, 60  # access unit indexes: 45..59 are skipped, 60 is a keyframe


def header(seq, is_key, capture_us, width, height):
    # version, length, codec 2 (H.264), flags, seq, capture_us, ingest_us, w, h, tier 255
    return struct.pack('<BBBBIqqHHB3x', 1, 32, 2, 1 if is_key else 0, seq, capture_us,
                       capture_us, width, height, 255)


def ws_frame(opcode, payload):
    n = len(payload)
    if n < 126:
        head = struct.pack('!BB', 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack('!BBH', 0x80 | opcode, 126, n)
    else:
        head = struct.pack('!BBQ', 0x80 | opcode, 127, n)
    return head + payload


class SourceTierServer:
    """Serves every WebSocket connection the same paced source-tier stream; records the
    request targets it was asked for."""

    def __init__(self, clip, seconds):
        self.clip, self.seconds = clip, seconds
        self.targets = []
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        req = b''
        while b'\r\n\r\n' not in req:
            data = c.recv(4096)
            if not data:
                return
            req += data
        lines = req.split(b'\r\n')
        self.targets.append(lines[0].split()[1].decode())
        key = next(l.split(b':', 1)[1].strip() for l in lines if l.lower().startswith(b'sec-websocket-key'))
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        c.sendall(b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n'
                  b'Connection: Upgrade\r\nSec-WebSocket-Accept: ' + accept + b'\r\n\r\n')
        c.sendall(ws_frame(1, json.dumps({'type': 'hello', 'camera': 'cam', 'tier': 'source',
                                          'auto': False, 'state': 'live', 'tiers': []}).encode()))
        c.sendall(ws_frame(1, json.dumps({'type': 'codec', 'codec': 'avc1.640016',
                                          'format': 'annexb', 'width': 320, 'height': 180,
                                          'description': ''}).encode()))
        t0 = time.monotonic()
        i = seq = 0
        try:
            while not self._stop and time.monotonic() - t0 < self.seconds:
                if i == SKIP_AT:  # a skip: the rest of this GOP never goes out
                    seq += SKIP_TO - SKIP_AT
                    i = SKIP_TO
                au, is_key = self.clip[i % len(self.clip)]
                c.sendall(ws_frame(2, header(seq, is_key, time.time_ns() // 1000, 320, 180) + au))
                i += 1
                seq += 1
                time.sleep(max(0.0, t0 + i / FPS - time.monotonic()))
        except OSError:
            pass
        c.close()

    def close(self):
        self._stop = True
        self.sock.close()


@pytest.mark.skipif(not os.path.exists(VIGIL_BIN), reason='no vigil binary (set VIGIL_BIN)')
def test_probe_counts_and_saves_the_source_tier(tmp_path):
    if not have_element('x264enc'):
        pytest.skip('GStreamer x264enc is missing: no clip to serve')
    clip = encode_clip(320, 180, FPS, kbps=500, gop=30, seconds=3)  # 90 access units
    srv = SourceTierServer(clip, seconds=5)
    try:
        out = subprocess.run(
            [VIGIL_BIN, 'probe', '-n', '2', '--warmup', '0.2', '-d', '3.5', '--tier', 'source',
             '--save', str(tmp_path), '--save-max', '1', '--stamp-rate', '0', '--json',
             'ws://127.0.0.1:%d/api/v1/cameras/cam/ws' % srv.port],
            capture_output=True, text=True, timeout=30)
    finally:
        srv.close()
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.splitlines()[-1])
    assert srv.targets == ['/api/v1/cameras/cam/ws?tier=source'] * 2
    assert r['errors'] == 0 and r['connected'] == 2
    assert r['codec_frames']['h264'] == r['frames'] > 0 and r['codec_frames']['jpeg'] == 0
    assert r['skips'] == 2  # one per viewer, inside the window (at 1.5 s)
    assert r['drops'] == 2 * (SKIP_TO - SKIP_AT)
    assert r['first_frame_key'] == 2 and r['first_frame_not_key'] == 0
    assert r['codec_messages'] == 2 and r['frames_before_codec'] == 0
    assert 2 <= r['keyframes'] <= 2 * 4  # one a second, per viewer, over 3.5 s
    assert 25 <= r['fps_median'] <= 31
    assert r['viewer_latency_ms']['viewers'] == 2
    assert 0 <= r['viewer_latency_ms']['mean']['median'] < 200
    assert r['saved_streams'] == 1
    saved = tmp_path / '0.h264'
    sent = b''.join(au for au, _ in clip[:SKIP_AT]) + b''.join(au for au, _ in clip[SKIP_TO:])
    data = saved.read_bytes()
    assert data.startswith(sent[:4096]) and r['saved_access_units'] > SKIP_AT
    assert not (tmp_path / '1.h264').exists()  # --save-max 1: one viewer saved
    dec = subprocess.run(['ffmpeg', '-nostdin', '-v', 'error', '-f', 'h264', '-i', str(saved),
                          '-f', 'null', '-'], capture_output=True, text=True, timeout=60)
    assert dec.returncode == 0 and dec.stderr.strip() == '', dec.stderr
