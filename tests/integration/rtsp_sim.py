#!/usr/bin/python3
"""An RTSP camera simulator for vigil's integration tests (docs/test-camera.md).

Built on GStreamer's RTSP server through Debian's python3-gi; run it with /usr/bin/python3.
Every frame carries the same 68-block timestamp bar as vigil's test:// camera, with
capture_us = the wall-clock time the frame was drawn, so latency through vigil can be
measured end to end by decoding the picture (stamp.py).

As a script (prints 'CONTROL http://127.0.0.1:CPORT' then 'READY rtsp://127.0.0.1:PORT/PATH'
on stdout once listening; exits 0 on SIGTERM or SIGINT):

    /usr/bin/python3 tests/integration/rtsp_sim.py --port 8554 --path /cam --codec h264 \\
        --width 640 --height 360 --fps 15 [--user U --password P --auth basic|digest|both] \\
        [--control-port 0] [--kbps K] [--gop FRAMES] [--audio aac]

--audio aac adds a second stream to the mount: a 440 Hz tone, 48 kHz stereo AAC-LC, sent
per RFC 3640 (mpeg4-generic, AAC-hbr). The default is video only.

Replay (many cheap cameras): encodes one clip at start (--width/--height/--fps, --kbps
default 4000, --gop default 2 s, --clip-seconds 10; a scrolling detailed texture, a band of
fresh noise, the bar and the box) or reads --clip FILE (raw H.264 Annex B), and serves it,
looping, on --mounts paths PATH0..PATHN-1 from one shared media: one appsrc pushing the
stored access units with live timestamps, one rtph264pay (config-interval=1), no encoder
running. The bar in replayed pictures holds the clip's time, not the present: capture_us
comes from the RTCP sender reports (live). Prints 'MOUNTS N LAST_URL' before READY.

    /usr/bin/python3 tests/integration/rtsp_sim.py --replay --mounts 100 --width 1280 \
        --height 720 --fps 30 [--write-clip /tmp/clip.h264 | --clip /tmp/clip.h264]

Control endpoint: GET http://127.0.0.1:CPORT/stats answers JSON
    {"sessions": N, "clients": N, "medias": N, "frames": N, "teardowns": N, "url": "rtsp://...",
     "codec": C, "mounts": N, "cpu_s": S}
(cpu_s: the simulator's own CPU time so far, every thread)
where sessions is the number of live RTSP sessions (SETUP done, no TEARDOWN yet; an RTSP/TCP
session also ends when its connection closes, a UDP one only by timeout), clients the number of open RTSP connections, medias the number of
pipelines (at most 1: the media factory is shared), frames the frames pushed so far.

In tests:

    from rtsp_sim import start_sim_process
    cam = start_sim_process(codec='h264', width=640, height=360, fps=15)
    cam.url; cam.session_count(); cam.kill(); cam.restart(); cam.terminate()

In process (needs gi, i.e. /usr/bin/python3):

    sim = RtspSim(port=0, path='/cam', codec='h264'); sim.start(); sim.url; sim.stop()

Also here: black_hole_server() (accepts TCP and never answers) and
snapshot_http_server(jpeg_fn) (an HTTP camera serving /snapshot.jpg).

Codecs: h264, h265 (when x265enc exists), mjpeg, and vp8 (which vigil does not support).
"""

import argparse
import base64
import http.server
import io
import json
import math
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from stamp import encode_luma, stamp_rows  # noqa: E402

PYTHON = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
CODECS = ('h264', 'h265', 'mjpeg', 'vp8')
UNSUPPORTED_CODEC = 'vp8'  # what vigil does not take, for the 'unsupported codec' test


def now_us():
    return time.time_ns() // 1000


# --------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------

# Seven-segment font: segments a (top), b (top right), c (bottom right), d (bottom),
# e (bottom left), f (top left), g (middle).
_SEGMENTS = {
    '0': 'abcdef', '1': 'bc', '2': 'abged', '3': 'abgcd', '4': 'fgbc', '5': 'afgcd',
    '6': 'afgedc', '7': 'abc', '8': 'abcdefg', '9': 'abcdfg', '-': 'g',
}


def _seg_rects(ch, x, y, cw, dh, t):
    """Rectangles (x, y, w, h) of one character cell at (x, y), cw wide and dh high."""
    half = dh // 2
    if ch in (':', '.'):
        dots = [(y + dh - t)] if ch == '.' else [y + dh // 4, y + 3 * dh // 4 - t]
        return [(x + (cw - t) // 2, yy, t, t) for yy in dots]
    rects = []
    for s in _SEGMENTS.get(ch, ''):
        if s == 'a':
            rects.append((x, y, cw, t))
        elif s == 'g':
            rects.append((x, y + half - t // 2, cw, t))
        elif s == 'd':
            rects.append((x, y + dh - t, cw, t))
        elif s == 'f':
            rects.append((x, y, t, half))
        elif s == 'b':
            rects.append((x + cw - t, y, t, half))
        elif s == 'e':
            rects.append((x, y + half, t, dh - half))
        elif s == 'c':
            rects.append((x + cw - t, y + half, t, dh - half))
    return rects


class FrameDrawer:
    """Draws I420 frames (full range): the stamp bar on top, below it a gradient, a moving
    box and the capture time as HH:MM:SS.mmm (UTC) plus the frame number."""

    def __init__(self, width, height):
        if width < 68 or height < 16 or width % 2 or height % 2:
            raise ValueError('width must be even and >= 68, height even and >= 16')
        self.w, self.h = width, height
        self.rows = stamp_rows(height)
        w, h, rows = width, height, self.rows
        # Text band under the bar.
        self.dh = max(8, h // 10)
        self.t = max(1, self.dh // 8)
        self.cw = max(4, self.dh // 2)
        self.ty = min(rows + max(2, h // 40), h - self.dh)
        band0, band1 = self.ty - 2, min(h, self.ty + self.dh + 2)
        grad = bytes(30 + (x * 180) // (w - 1) for x in range(w))
        dark = bytes([16]) * w
        body = bytearray()
        for r in range(rows, h):
            body += dark if band0 <= r < band1 else grad
        self.body = bytes(body)
        cw2, ch2 = w // 2, h // 2
        crow = (rows + 1) // 2  # chroma rows touching the bar stay neutral
        self.u = bytes([128]) * (cw2 * crow) + bytes([100]) * (cw2 * (ch2 - crow))
        self.v = bytes([128]) * (cw2 * crow) + bytes([150]) * (cw2 * (ch2 - crow))
        self.box = max(8, (h - rows) // 4) & ~1
        self.box_top = (max(band1, h - self.box - 4)) & ~1
        self.box_top = min(self.box_top, h - self.box) & ~1

    def draw(self, frame_no, capture_us):
        w, h = self.w, self.h
        y = encode_luma(w, h, capture_us)
        y[self.rows * w:] = self.body
        # A box sliding left to right along the bottom (luma and chroma).
        span = max(1, w - self.box)
        bx = ((frame_no * max(2, w // 90)) % (2 * span))
        bx = (bx if bx < span else 2 * span - bx) & ~1
        white = bytes([235]) * self.box
        for r in range(self.box_top, min(h, self.box_top + self.box)):
            y[r * w + bx:r * w + bx + self.box] = white
        # The capture time and frame number.
        tm = time.gmtime(capture_us // 1000000)
        text = '%02d:%02d:%02d.%03d %d' % (tm.tm_hour, tm.tm_min, tm.tm_sec,
                                          (capture_us // 1000) % 1000, frame_no)
        x = 4
        for ch in text:
            if x + self.cw > w:
                break
            for rx, ry, rw, rh in _seg_rects(ch, x, self.ty, self.cw, self.dh, self.t):
                line = bytes([235]) * rw
                for r in range(ry, min(h, ry + rh)):
                    y[r * w + rx:r * w + rx + rw] = line
            x += self.cw + max(2, self.cw // 3)
        u = bytearray(self.u)
        v = bytearray(self.v)
        cw2 = w // 2
        half = self.box // 2
        ublk, vblk = bytes([60]) * half, bytes([200]) * half
        for r in range(self.box_top // 2, min(h // 2, (self.box_top + self.box) // 2)):
            u[r * cw2 + bx // 2:r * cw2 + bx // 2 + half] = ublk
            v[r * cw2 + bx // 2:r * cw2 + bx // 2 + half] = vblk
        return bytes(y) + bytes(u) + bytes(v)


def make_stamp_jpeg(width=640, height=360, capture_us=None, quality=85, frame_no=0):
    """A JPEG (4:2:0, full range as JPEG is) carrying the stamp bar with capture_us (default
    now) and a little picture below it."""
    from PIL import Image
    capture_us = now_us() if capture_us is None else capture_us
    drawer = FrameDrawer(width, height)
    i420 = drawer.draw(frame_no, capture_us)
    ys = width * height
    cs = ys // 4
    lum = Image.frombytes('L', (width, height), i420[:ys])
    cb = Image.frombytes('L', (width // 2, height // 2), i420[ys:ys + cs]).resize((width, height))
    cr = Image.frombytes('L', (width // 2, height // 2), i420[ys + cs:]).resize((width, height))
    img = Image.merge('YCbCr', (lum, cb, cr))
    buf = io.BytesIO()
    img.save(buf, 'JPEG', quality=quality, subsampling=2)
    return buf.getvalue()


# --------------------------------------------------------------------------------------
# The RTSP server (in process; needs gi)
# --------------------------------------------------------------------------------------

def _gst():
    import gi
    gi.require_version('Gst', '1.0')
    gi.require_version('GstRtsp', '1.0')
    gi.require_version('GstRtspServer', '1.0')
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
    Gst.init(None)
    return GLib, Gst, GstRtsp, GstRtspServer


def have_element(name):
    _, Gst, _, _ = _gst()
    return Gst.ElementFactory.find(name) is not None


AUDIO = ('none', 'aac')
AUDIO_RATE = 48000
AUDIO_CHANNELS = 2


def audio_launch_string(audio):
    """The audio branch of the media ('' for none), payloader 'pay1': a live 440 Hz tone
    (pushed by the simulator into appsrc 'asrc') encoded to AAC-LC (voaacenc, else FFmpeg's
    avenc_aac) and sent per RFC 3640 (mpeg4-generic, mode AAC-hbr: rtpmp4gpay), as cameras
    with a microphone do. An appsrc rather than audiotestsrc: audiotestsrc answers seeking
    queries, which makes the whole media seekable, and the RTSP server then fails every PLAY
    with a Range header (the appsrc of the video cannot seek)."""
    if audio in (None, 'none'):
        return ''
    if audio != 'aac':
        raise ValueError('unknown audio %r (one of %s)' % (audio, ', '.join(AUDIO)))
    enc = 'voaacenc bitrate=64000' if have_element('voaacenc') else 'avenc_aac bitrate=64000'
    caps = 'audio/x-raw,format=S16LE,layout=interleaved,rate=%d,channels=%d' % (
        AUDIO_RATE, AUDIO_CHANNELS)
    return (' appsrc name=asrc is-live=true do-timestamp=true format=time max-buffers=4 '
            'leaky-type=downstream caps="%s" ! audioconvert ! %s '
            '! rtpmp4gpay name=pay1 pt=97' % (caps, enc))


def tone_s16(freq=440, rate=AUDIO_RATE, channels=AUDIO_CHANNELS):
    """One second of a sine at a quarter of full scale, interleaved S16LE: a whole number of
    periods for a whole-Hz tone, so it loops without a click."""
    one = [int(8191 * math.sin(2 * math.pi * freq * i / rate)) for i in range(rate)]
    return struct.pack('<%dh' % (rate * channels), *[v for v in one for _ in range(channels)])


def launch_string(codec, width, height, fps, kbps=None, gop=None, audio=None):
    """The media factory's pipeline for a codec (appsrc named 'src', payloader 'pay0'):
    kbps is the H.264/H.265 bitrate (None: the encoder's default), gop the keyframe
    interval in frames (None: two seconds), audio 'aac' for a second stream (pay1) of the
    same mount (None or 'none': video only)."""
    caps = ('video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,'
            'colorimetry=(string)1:4:5:4,interlace-mode=progressive' % (width, height, fps))
    src = ('appsrc name=src is-live=true do-timestamp=true format=time max-buffers=2 '
           'leaky-type=downstream caps="%s"' % caps)
    gop = max(1, fps * 2) if gop is None else int(gop)
    rate = '' if kbps is None else 'bitrate=%d ' % int(kbps)
    if codec == 'h264':
        enc = ('x264enc tune=zerolatency speed-preset=ultrafast ' + rate + 'key-int-max=%d '
               '! video/x-h264,profile=constrained-baseline '
               '! rtph264pay name=pay0 pt=96 config-interval=1' % gop)
    elif codec == 'h265':
        enc = ('x265enc tune=zerolatency speed-preset=ultrafast ' + rate + 'key-int-max=%d '
               '! rtph265pay name=pay0 pt=96 config-interval=1' % gop)
    elif codec == 'mjpeg':
        enc = 'jpegenc quality=85 ! rtpjpegpay name=pay0 pt=26'
    elif codec == 'vp8':
        enc = ('vp8enc deadline=1 cpu-used=16 keyframe-max-dist=%d end-usage=cbr '
               'target-bitrate=1000000 ! rtpvp8pay name=pay0 pt=96' % gop)
    else:
        raise ValueError('unknown codec %r (one of %s)' % (codec, ', '.join(CODECS)))
    return '( %s ! %s%s )' % (src, enc, audio_launch_string(audio))


# --------------------------------------------------------------------------------------
# Replay: one pre-encoded clip served on many mounts from one shared media
# --------------------------------------------------------------------------------------

class ReplayDrawer(FrameDrawer):
    """FrameDrawer with a detailed body, so that the clip costs an encoder real bits: a
    blocky random texture scrolling left (what motion search finds), with a band of fresh
    noise every frame (what it cannot), under the same bar, text band and box."""

    def __init__(self, width, height, noise_rows=None):
        super().__init__(width, height)
        rnd = os.urandom(width * 2 // 4 * (height // 4 + 1))
        shade = bytes(40 + (b * 160) // 255 for b in range(256))
        rnd = rnd.translate(shade)
        cols = width * 2 // 4
        self.tex = []
        for r in range(height // 4 + 1):
            row = bytes(b for b in rnd[r * cols:(r + 1) * cols] for _ in range(4))
            self.tex += [row] * 4
        self.noise_rows = height // 6 if noise_rows is None else noise_rows
        self.noise_shade = bytes(96 + (b * 64) // 255 for b in range(256))
        self.band = range(self.ty - 2, min(height, self.ty + self.dh + 2))

    def draw(self, frame_no, capture_us):
        w, h = self.w, self.h
        off = (frame_no * 4) % w
        noise0 = h - self.box - 8 - self.noise_rows
        noise = os.urandom(w * self.noise_rows).translate(self.noise_shade)
        body = bytearray()
        dark = bytes([16]) * w
        for r in range(self.rows, h):
            if r in self.band:
                body += dark
            elif noise0 <= r < noise0 + self.noise_rows:
                k = r - noise0
                body += noise[k * w:(k + 1) * w]
            else:
                body += self.tex[r][off:off + w]
        self.body = bytes(body)
        return super().draw(frame_no, capture_us)


def _nal_types(au):
    """Types of the H.264 NAL units in an Annex B access unit."""
    out, i, n = [], 0, len(au)
    while True:
        i = au.find(b'\x00\x00\x01', i)
        if i < 0 or i + 3 >= n:
            return out
        out.append(au[i + 3] & 0x1f)
        i += 3


def split_annexb_h264(data):
    """Splits a raw H.264 Annex B stream into access units (H.264 7.4.1.2.3): a new one
    starts at an AUD, SPS, PPS or SEI after a slice, or at a slice whose first_mb_in_slice
    is 0 (its first bit after the NAL header is 1) after a slice."""
    starts = []
    i = 0
    while True:
        i = data.find(b'\x00\x00\x01', i)
        if i < 0:
            break
        s = i - 1 if i > 0 and data[i - 1] == 0 else i
        if i + 3 < len(data):
            starts.append((s, i + 3))
        i += 3
    aus, cur_start, seen_slice = [], None, False
    for s, h in starts:
        t = data[h] & 0x1f
        is_slice = t in (1, 5)
        first_mb0 = is_slice and h + 1 < len(data) and data[h + 1] & 0x80
        if cur_start is None:
            cur_start = s
        elif seen_slice and (t in (6, 7, 8, 9) or first_mb0):
            aus.append(data[cur_start:s])
            cur_start, seen_slice = s, False
        seen_slice = seen_slice or is_slice
    if cur_start is not None:
        aus.append(data[cur_start:])
    return aus


def encode_clip(width=1280, height=720, fps=30, kbps=4000, gop=60, seconds=10, log=None):
    """Encodes `seconds` of ReplayDrawer pictures (whole GOPs) with x264 at kbps, one IDR
    every gop frames, no B-frames, SPS/PPS before each IDR. Returns a list of (access unit
    bytes, is_key)."""
    _, Gst, _, _ = _gst()
    frames = max(1, int(round(seconds * fps / gop))) * gop
    pipe = Gst.parse_launch(
        'appsrc name=src format=time caps="video/x-raw,format=I420,width=%d,height=%d,'
        'framerate=%d/1" ! x264enc bitrate=%d vbv-buf-capacity=1000 speed-preset=veryfast '
        'bframes=0 key-int-max=%d option-string="keyint=%d:min-keyint=%d:scenecut=0:'
        'repeat-headers=1" ! video/x-h264,stream-format=byte-stream,alignment=au,'
        'profile=high ! appsink name=sink sync=false' % (width, height, fps, kbps, gop, gop,
                                                          gop))
    src, sink = pipe.get_by_name('src'), pipe.get_by_name('sink')
    pipe.set_state(Gst.State.PLAYING)
    drawer = ReplayDrawer(width, height)
    aus = []

    def pull(timeout_ns):
        sample = sink.emit('try-pull-sample', timeout_ns)
        if sample is None:
            return False
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        data = bytes(info.data)
        buf.unmap(info)
        aus.append((data, not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)))
        return True

    t0 = now_us()
    for n in range(frames):
        buf = Gst.Buffer.new_wrapped(drawer.draw(n, t0 + n * 1000000 // fps))
        buf.pts = n * Gst.SECOND // fps
        buf.duration = Gst.SECOND // fps
        src.emit('push-buffer', buf)
        while pull(0):
            pass
    src.emit('end-of-stream')
    while len(aus) < frames and pull(5 * Gst.SECOND):
        pass
    pipe.set_state(Gst.State.NULL)
    if len(aus) != frames:
        raise RuntimeError('encoder gave %d access units for %d frames' % (len(aus), frames))
    if log:
        total = sum(len(a) for a, _ in aus)
        log('clip: %d frames %dx%d@%d, %d keyframes, %.0f kbit/s, encoded in %.1f s' % (
            frames, width, height, fps, sum(k for _, k in aus), total * 8 * fps / frames / 1000,
            (now_us() - t0) / 1e6))
    return aus


def load_clip(path):
    """A raw H.264 Annex B file as [(access unit, is_key)], starting at its first IDR (its
    parameter sets included)."""
    with open(path, 'rb') as f:
        aus = split_annexb_h264(f.read())
    out = [(au, 5 in _nal_types(au)) for au in aus]
    first = next((i for i, (_, k) in enumerate(out) if k), None)
    if first is None:
        raise ValueError('%s: no IDR access unit' % path)
    return out[first:]


_REPLAY_FACTORY = None


def _replay_factory_class(GstRtspServer):
    """A media factory whose every mount maps to one media key, so that with set_shared all
    mounts share one pipeline: one appsrc and one payloader for N cameras."""
    global _REPLAY_FACTORY
    if _REPLAY_FACTORY is None:
        class ReplayMediaFactory(GstRtspServer.RTSPMediaFactory):
            def do_gen_key(self, url):
                return 'replay'
        _REPLAY_FACTORY = ReplayMediaFactory
    return _REPLAY_FACTORY


def replay_launch_string():
    src = ('appsrc name=src is-live=true do-timestamp=true format=time max-bytes=4000000 '
           'caps="video/x-h264,stream-format=byte-stream,alignment=au"')
    return '( %s ! rtph264pay name=pay0 pt=96 config-interval=1 )' % src


def _set_auth_methods(auth, mask):
    """gst_rtsp_auth_set_supported_methods() with a mask: PyGObject refuses BASIC|DIGEST
    (the GstRTSPAuthMethod enum has no such value), so call the C function directly."""
    import ctypes
    lib = ctypes.CDLL('libgstrtspserver-1.0.so.0')
    lib.gst_rtsp_auth_set_supported_methods.argtypes = [ctypes.c_void_p, ctypes.c_int]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    lib.gst_rtsp_auth_set_supported_methods(get_ptr(auth.__gpointer__, None), mask)


class RtspSim:
    """A simulated RTSP camera. start() listens (port 0 picks a free one: see .port/.url),
    stop() closes everything. session_count() is the number of live RTSP sessions."""

    ENCODERS = {'h264': 'x264enc', 'h265': 'x265enc', 'mjpeg': 'jpegenc', 'vp8': 'vp8enc'}

    def __init__(self, port=0, path='/cam', codec='h264', width=640, height=360, fps=15,
                 user=None, password=None, auth='basic', host='127.0.0.1',
                 session_timeout=10, kbps=None, gop=None, replay=False, mounts=1, clip=None,
                 clip_seconds=10, log=None, audio=None):
        self.GLib, self.Gst, self.GstRtsp, self.GstRtspServer = _gst()
        if codec not in CODECS:
            raise ValueError('unknown codec %r' % codec)
        if not have_element(self.ENCODERS[codec]):
            raise RuntimeError('GStreamer element %s is missing' % self.ENCODERS[codec])
        if auth not in ('basic', 'digest', 'both'):
            raise ValueError('auth must be basic, digest or both')
        self.port, self.path, self.codec = int(port), '/' + path.lstrip('/'), codec
        self.width, self.height, self.fps = int(width), int(height), int(fps)
        self.user, self.password, self.auth_mode, self.host = user, password, auth, host
        self.session_timeout = session_timeout
        self.drawer = FrameDrawer(self.width, self.height)
        self.kbps, self.gop = kbps, gop
        self.audio = None if audio in (None, 'none') else audio
        if self.audio is not None and self.audio not in AUDIO:
            raise ValueError('unknown audio %r' % audio)
        if self.audio is not None and replay:
            raise ValueError('--audio is not served with --replay')
        # Replay: one clip encoded (or read) now, then only copied out per frame.
        self.replay, self.mounts = bool(replay), max(1, int(mounts))
        self.clip = None
        if self.replay:
            if codec != 'h264':
                raise ValueError('--replay serves H.264 only')
            if clip:
                self.clip = load_clip(clip)
            else:
                self.clip = encode_clip(self.width, self.height, self.fps,
                                        4000 if kbps is None else int(kbps),
                                        self.fps * 2 if gop is None else int(gop),
                                        clip_seconds, log=log)
        self.frames = 0
        self.teardowns = 0  # TEARDOWN requests received
        self._lock = threading.Lock()
        self._clients = set()
        self._medias = {}  # media -> stop Event
        self._ctx = None
        self._loop = None
        self._thread = None
        self._server = None
        self._source_id = None
        self.url = None

    # Setup ------------------------------------------------------------------------------
    def _build(self):
        GstRtspServer, GstRtsp, Gst = self.GstRtspServer, self.GstRtsp, self.Gst
        server = GstRtspServer.RTSPServer()
        server.set_address(self.host)
        server.set_service(str(self.port))
        if self.replay:
            factory = _replay_factory_class(GstRtspServer)()
            factory.set_launch(replay_launch_string())
        else:
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(launch_string(self.codec, self.width, self.height, self.fps,
                                             self.kbps, self.gop, self.audio))
        factory.set_shared(True)
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
        factory.connect('media-configure', self._on_media_configure)
        if self.user is not None:
            auth = GstRtspServer.RTSPAuth()
            token = GstRtspServer.RTSPToken()
            token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, 'user')
            if self.auth_mode in ('basic', 'both'):
                auth.add_basic(GstRtspServer.RTSPAuth.make_basic(self.user, self.password or ''),
                               token)
            if self.auth_mode in ('digest', 'both'):
                auth.add_digest(self.user, self.password or '', token)
            if self.auth_mode == 'both':
                _set_auth_methods(auth, int(GstRtsp.RTSPAuthMethod.BASIC)
                                  | int(GstRtsp.RTSPAuthMethod.DIGEST))
            elif self.auth_mode == 'digest':
                auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            else:
                auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
            server.set_auth(auth)
            factory.add_role_from_structure(Gst.Structure.new_from_string(
                'user, media.factory.access=(boolean)true, '
                'media.factory.construct=(boolean)true'))
        for path in self.paths():
            server.get_mount_points().add_factory(path, factory)
        server.connect('client-connected', self._on_client_connected)
        self._server, self._factory = server, factory

    def start(self):
        """Listens and serves from a GLib main loop on a thread of its own."""
        GLib = self.GLib
        self._ctx = GLib.MainContext.new()
        self._loop = GLib.MainLoop.new(self._ctx, False)
        self._build()
        self._source_id = self._server.attach(self._ctx)
        if not self._source_id:
            raise OSError('cannot listen on %s:%d' % (self.host, self.port))
        self.port = self._server.get_bound_port()
        self.urls = ['rtsp://%s:%d%s' % (self.host, self.port, p) for p in self.paths()]
        self.url = self.urls[0]
        pool = self._server.get_session_pool()
        tick = GLib.timeout_source_new(250)
        tick.set_callback(lambda *_: (pool.cleanup(), True)[1])
        tick.attach(self._ctx)
        self._tick = tick
        self._thread = threading.Thread(target=self._run, name='rtsp-sim', daemon=True)
        self._thread.start()
        return self

    def paths(self):
        """The mount paths: the path itself, or with --replay PATH0..PATH{mounts-1}."""
        if not self.replay:
            return [self.path]
        return ['%s%d' % (self.path, i) for i in range(self.mounts)]

    def _run(self):
        self._ctx.push_thread_default()
        try:
            self._loop.run()
        finally:
            self._ctx.pop_thread_default()

    def stop(self, timeout=5.0):
        """Drops every client, stops the pipelines and the listener."""
        if self._server is None:
            return
        done = threading.Event()

        def shutdown():
            server = self._server
            server.client_filter(lambda s, c, *a: self.GstRtspServer.RTSPFilterResult.REMOVE)
            server.get_session_pool().filter(
                lambda p, s, *a: self.GstRtspServer.RTSPFilterResult.REMOVE)
            src = self._ctx.find_source_by_id(self._source_id)
            if src is not None:
                src.destroy()
            self._tick.destroy()
            with self._lock:
                for ev in self._medias.values():
                    ev.set()
            done.set()
            return False

        src = self.GLib.idle_source_new()
        src.set_callback(lambda *_: shutdown())
        src.attach(self._ctx)
        done.wait(timeout)
        self._loop.quit()
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None

    # Counting ---------------------------------------------------------------------------
    def _on_client_connected(self, server, client):
        with self._lock:
            self._clients.add(client)
        client.connect('closed', self._on_client_closed)
        client.connect('new-session', self._on_new_session)
        client.connect('teardown-request', self._on_teardown)

    def _on_teardown(self, client, ctx):
        with self._lock:
            self.teardowns += 1

    def _on_client_closed(self, client):
        with self._lock:
            self._clients.discard(client)

    def _on_new_session(self, client, session):
        session.set_timeout(self.session_timeout)

    def session_count(self):
        """Live RTSP sessions: sessions in the pool holding a media (SETUP done, no
        TEARDOWN). When an RTSP/TCP connection closes, the server drops its sessions' media
        at once, so such a session stops counting then even if the client died without a
        TEARDOWN; a UDP session whose client died counts until it times out
        (session_timeout, 10 s by default)."""
        server = self._server
        if server is None:
            return 0
        return sum(1 for sess in server.get_session_pool().filter(None)
                   if sess.filter(None))

    def client_count(self):
        with self._lock:
            return len(self._clients)

    def stats(self):
        with self._lock:
            medias = sum(1 for ev in self._medias.values() if not ev.is_set())
        return {'sessions': self.session_count(), 'clients': self.client_count(),
                'medias': medias, 'frames': self.frames, 'url': self.url,
                'teardowns': self.teardowns,
                'codec': self.codec, 'audio': self.audio or 'none', 'mounts': len(self.paths()),
                'cpu_s': round(time.process_time(), 3)}

    # Frames -----------------------------------------------------------------------------
    def _on_media_configure(self, factory, media):
        appsrc = media.get_element().get_by_name('src')
        stop = threading.Event()
        with self._lock:
            self._medias[media] = stop
        media.connect('unprepared', lambda m: stop.set())
        threading.Thread(target=self._produce_replay if self.replay else self._produce,
                         args=(appsrc, stop), name='rtsp-sim-frames', daemon=True).start()
        asrc = media.get_element().get_by_name('asrc')
        if asrc is not None:
            threading.Thread(target=self._produce_audio, args=(asrc, stop),
                             name='rtsp-sim-audio', daemon=True).start()

    def _produce_audio(self, asrc, stop):
        """Pushes the tone in 1024-sample buffers (one AAC frame each) at the sample rate."""
        Gst = self.Gst
        tone = tone_s16()
        frame_bytes = 1024 * AUDIO_CHANNELS * 2
        period = 1024 / AUDIO_RATE
        while not stop.is_set() and not self._is_playing(asrc):
            stop.wait(0.01)  # see _is_playing
        t0 = time.monotonic()
        n = 0
        flushing_since = None
        while not stop.is_set():
            due = t0 + n * period
            now = time.monotonic()
            if due > now:
                if stop.wait(due - now):
                    break
            elif now - due > 4 * period:  # fell behind: skip, do not burst
                n = int((now - t0) / period)
            off = (n * frame_bytes) % len(tone)
            chunk = (tone + tone)[off:off + frame_bytes] if off + frame_bytes > len(tone) \
                else tone[off:off + frame_bytes]
            buf = Gst.Buffer.new_wrapped(chunk)
            buf.duration = Gst.SECOND * 1024 // AUDIO_RATE
            ret = asrc.emit('push-buffer', buf)
            n += 1
            if ret == Gst.FlowReturn.FLUSHING:
                flushing_since = flushing_since or time.monotonic()
                if time.monotonic() - flushing_since > 10:
                    break
            elif ret != Gst.FlowReturn.OK:
                break
            else:
                flushing_since = None

    def _produce_replay(self, appsrc, stop):
        """Pushes the clip's access units at fps, looping; appsrc stamps them with the
        running time as they go in, so the RTP timestamps (and the RTCP sender reports'
        wall clock) are live even though the pictures are not."""
        Gst = self.Gst
        period = 1.0 / self.fps
        while not stop.is_set() and not self._is_playing(appsrc):
            stop.wait(0.01)  # from the clip's first keyframe, once it plays (_is_playing)
        t0 = time.monotonic()
        n = 0
        flushing_since = None
        while not stop.is_set():
            due = t0 + n * period
            now = time.monotonic()
            if due > now and stop.wait(due - now):
                break
            au, is_key = self.clip[n % len(self.clip)]
            buf = Gst.Buffer.new_wrapped(au)
            buf.duration = Gst.SECOND // self.fps
            if not is_key:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            ret = appsrc.emit('push-buffer', buf)
            n += 1  # never skip: access units depend on each other
            if ret == Gst.FlowReturn.OK:
                self.frames += 1
                flushing_since = None
            elif ret == Gst.FlowReturn.FLUSHING:
                flushing_since = flushing_since or time.monotonic()
                if time.monotonic() - flushing_since > 10:
                    break
            else:
                break
        stop.set()

    def _is_playing(self, src):
        """Whether src is PLAYING. The media is prepared on DESCRIBE and plays on PLAY; frames
        pushed in between (stamped before the pipeline had its base time) now and then left
        a session with no video at all: 3 of 60 ffprobe sessions of six simulators at once got
        none in 6 s, and 0 of 150 once frames wait for PLAYING."""
        _, state, _ = src.get_state(0)
        return state == self.Gst.State.PLAYING

    def _produce(self, appsrc, stop):
        Gst = self.Gst
        period = 1.0 / self.fps
        t0 = time.monotonic()
        n = 0
        flushing_since = None
        while not stop.is_set():
            due = t0 + n * period
            now = time.monotonic()
            if due > now:
                if stop.wait(due - now):
                    break
            elif now - due > 2 * period:  # fell behind: skip, do not burst
                n = int((now - t0) / period)
            if not self._is_playing(appsrc):
                n += 1
                continue
            capture = now_us()
            data = self.drawer.draw(self.frames, capture)
            buf = Gst.Buffer.new_wrapped(data)
            buf.duration = Gst.SECOND // self.fps
            ret = appsrc.emit('push-buffer', buf)
            n += 1
            if ret == Gst.FlowReturn.OK:
                self.frames += 1
                flushing_since = None
            elif ret == Gst.FlowReturn.FLUSHING:
                flushing_since = flushing_since or time.monotonic()
                if time.monotonic() - flushing_since > 10:
                    break
            else:
                break
        stop.set()


# --------------------------------------------------------------------------------------
# Control endpoint and the script
# --------------------------------------------------------------------------------------

def _control_server(sim, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split('?')[0] != '/stats':
                self.send_error(404)
                return
            body = json.dumps(sim.stats()).encode()
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', port), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name='rtsp-sim-control', daemon=True).start()
    return httpd


def main(argv=None):
    ap = argparse.ArgumentParser(description='RTSP camera simulator with the stamp bar')
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=8554, help='RTSP port (0: pick one)')
    ap.add_argument('--path', default='/cam')
    ap.add_argument('--codec', default='h264', choices=CODECS)
    ap.add_argument('--width', type=int, default=640)
    ap.add_argument('--height', type=int, default=360)
    ap.add_argument('--fps', type=int, default=15)
    ap.add_argument('--user')
    ap.add_argument('--password')
    ap.add_argument('--auth', default='basic', choices=('basic', 'digest', 'both'))
    ap.add_argument('--kbps', type=int, help='H.264/H.265 bitrate (default: the encoder\'s; '
                    '4000 with --replay)')
    ap.add_argument('--gop', type=int, help='keyframe interval, frames (default 2 s)')
    ap.add_argument('--replay', action='store_true',
                    help='encode one clip at start (or read --clip) and serve it, looping, on '
                    '--mounts paths PATH0..PATHN-1 from one shared media')
    ap.add_argument('--mounts', type=int, default=1, help='with --replay: mount count')
    ap.add_argument('--clip', help='with --replay: a raw H.264 Annex B file to serve')
    ap.add_argument('--clip-seconds', type=float, default=10,
                    help='with --replay: length of the encoded clip (whole GOPs)')
    ap.add_argument('--write-clip', help='with --replay: also write the clip here')
    ap.add_argument('--control-port', type=int, default=0,
                    help='HTTP port answering GET /stats (0: pick one; -1: none)')
    ap.add_argument('--audio', default='none', choices=AUDIO,
                    help='aac: a second stream of the mount, a 48 kHz stereo AAC-LC tone '
                         'per RFC 3640 (default: video only)')
    args = ap.parse_args(argv)

    sim = RtspSim(port=args.port, path=args.path, codec=args.codec, width=args.width,
                  height=args.height, fps=args.fps, user=args.user, password=args.password,
                  auth=args.auth, host=args.host, kbps=args.kbps, gop=args.gop,
                  replay=args.replay, mounts=args.mounts, clip=args.clip,
                  clip_seconds=args.clip_seconds, audio=args.audio,
                  log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.write_clip and sim.clip:
        with open(args.write_clip, 'wb') as f:
            for au, _ in sim.clip:
                f.write(au)
    try:
        sim.start()
    except OSError as e:
        print('ERROR %s' % e, file=sys.stderr, flush=True)
        return 2
    ctl = None
    if args.control_port >= 0:
        ctl = _control_server(sim, args.control_port)
        print('CONTROL http://127.0.0.1:%d' % ctl.server_address[1], flush=True)
    if sim.replay:
        print('MOUNTS %d %s' % (len(sim.urls), sim.urls[-1]), flush=True)
    print('READY %s' % sim.url, flush=True)

    quit_ev = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: quit_ev.set())
    signal.signal(signal.SIGINT, lambda *a: quit_ev.set())
    while not quit_ev.wait(0.5):
        if not sim._thread.is_alive():
            print('ERROR main loop died', file=sys.stderr, flush=True)
            return 1
    if ctl is not None:
        ctl.shutdown()
        ctl.server_close()
    sim.stop()
    return 0


# --------------------------------------------------------------------------------------
# Test helpers (no gi needed)
# --------------------------------------------------------------------------------------

class SimProcess:
    """A simulator running as a separate process (see start_sim_process)."""

    def __init__(self, port=0, control_port=0, ready_timeout=15.0, **kw):
        self.kw = kw
        self.port = port
        self.control_port = control_port
        self.ready_timeout = ready_timeout
        self.proc = None
        self.url = None
        self.control_url = None
        self.log_path = None
        self._start()

    def _args(self):
        args = [PYTHON, os.path.join(HERE, 'rtsp_sim.py'), '--port', str(self.port),
                '--control-port', str(self.control_port)]
        for k, v in self.kw.items():
            if v is not None:
                args += ['--' + k.replace('_', '-'), str(v)]
        return args

    def _start(self):
        fd, self.log_path = tempfile.mkstemp(prefix='rtsp-sim-', suffix='.log')
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
        with os.fdopen(fd, 'wb') as logf:
            self.proc = subprocess.Popen(self._args(), stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            for line in self.log.splitlines():
                if line.startswith('CONTROL '):
                    self.control_url = line.split()[1]
                    self.control_port = int(self.control_url.rsplit(':', 1)[1])
                if line.startswith('READY '):
                    self.url = line.split()[1]
                    self.port = int(self.url.split(':')[2].split('/')[0])
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError('rtsp_sim did not become ready (exit %r):\n%s'
                           % (self.proc.returncode, self.log[-4000:]))

    @property
    def log(self):
        try:
            with open(self.log_path, 'r', errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stats(self, timeout=3.0):
        with urllib.request.urlopen(self.control_url + '/stats', timeout=timeout) as r:
            return json.loads(r.read())

    def session_count(self):
        return self.stats()['sessions']

    def wait_sessions(self, n, timeout=10.0):
        """Polls until session_count() == n; returns the last count seen."""
        deadline = time.monotonic() + timeout
        count = None
        while time.monotonic() < deadline:
            count = self.session_count()
            if count == n:
                return count
            time.sleep(0.1)
        return count

    def kill(self):
        """SIGKILL: the camera dies without a word. Its port stays reserved (bound, not
        listening: a connect is refused, as to a dead camera) until restart(), so that
        another process cannot take it meanwhile (a parallel test's outgoing connection
        can get any free port as its local one)."""
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=5)
        self._hold_port()
        return self.proc.returncode

    def _hold_port(self):
        if getattr(self, '_held', None) is not None or not self.port:
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(('127.0.0.1', self.port))
            self._held = s
        except OSError:
            s.close()

    def _release_port(self):
        held, self._held = getattr(self, '_held', None), None
        if held is not None:
            held.close()

    def terminate(self, timeout=5.0):
        """SIGTERM; returns the exit status (0 when it shut down cleanly)."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                return 'timeout'
        return self.proc.returncode

    def _drop_log(self):
        if self.log_path:
            try:
                os.unlink(self.log_path)
            except OSError:
                pass

    def restart(self):
        """Stops (SIGKILL if still running) and starts again on the same ports."""
        self.kill()
        self._drop_log()
        self._release_port()
        self._start()
        return self

    def close(self):
        self.terminate()
        self._release_port()
        self._drop_log()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def start_sim_process(**kw):
    """Starts rtsp_sim.py in its own process and waits for READY. Keywords: port (0 picks
    one, kept by restart()), control_port, path, codec, width, height, fps, user, password,
    auth ('basic', 'digest', 'both'), host, audio ('aac' or None), ready_timeout. Returns a SimProcess."""
    return SimProcess(**kw)


# 48 zero bits (written with emulation prevention, so no start code appears): an Exp-Golomb
# first_mb_in_slice longer than 32 bits, which every H.264 decoder refuses.
BAD_SLICE_HEADER = b'\x00\x00\x03' * 3


class NalBreakingProxy:
    """A TCP proxy in front of an RTSP camera (RTP interleaved over TCP) that breaks the H.264
    in every nth video packet: the RTP payload's first byte (the NAL unit header, or the
    FU/STAP indicator) gets type 30, which RFC 6184 leaves undefined, so libavformat's H.264
    depacketizer refuses the packet ("Undefined type (30)"). RTSP messages, RTCP and the other
    packets pass untouched. A camera whose firmware garbles its packetization looks like this.

        with NalBreakingProxy(cam.url, every=4) as px:
            px.url  # dial this instead of cam.url
            px.broken  # packets broken so far

    With garble_slices=True, it instead overwrites the start of every picture slice's header
    (NAL types 1 and 5, alone, in the first FU-A fragment or inside a STAP-A) with zero bits, which no slice
    header can start with: every packet still arrives whole, and none decodes — a camera
    whose video flows but gives no picture (issue 13).
    """

    def __init__(self, target_url, every=4, host='127.0.0.1', garble_slices=False):
        self.garble_slices = garble_slices
        rest = target_url.split('://', 1)[1]
        hostport, _, path = rest.partition('/')
        self.target = (hostport.rsplit(':', 1)[0], int(hostport.rsplit(':', 1)[1]))
        self.every = int(every)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = 'rtsp://%s:%d/%s' % (host, self.sock.getsockname()[1], path)
        self.video_packets = 0
        self.broken = 0
        self.sender_reports = 0  # RTCP SRs passed on (FFmpeg stamps packets after the first)
        self.broken_after_sr = 0
        self._stop = False
        self._socks = []
        self._thread = threading.Thread(target=self._accept, name='nal-proxy', daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            try:
                up = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            self._socks += [c, up]
            threading.Thread(target=self._pipe, args=(c, up), daemon=True).start()
            threading.Thread(target=self._from_camera, args=(up, c), daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while not self._stop:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _break(self, rtp):
        """rtp: one RTP packet (bytearray), changed in place when its turn has come."""
        if len(rtp) < 13 or rtp[0] >> 6 != 2 or 72 <= (rtp[1] & 0x7f) <= 76:
            return  # not RTP, or RTCP on the wrong channel
        off = 12 + 4 * (rtp[0] & 0x0f)
        if rtp[0] & 0x10 and len(rtp) >= off + 4:  # header extension
            off += 4 + 4 * ((rtp[off + 2] << 8) | rtp[off + 3])
        if off >= len(rtp):
            return
        self.video_packets += 1
        if self.garble_slices:
            nal = rtp[off] & 0x1f
            at = None
            if nal in (1, 5):
                at = off + 1
            elif nal == 28 and off + 1 < len(rtp) and (rtp[off + 1] & 0x1f) in (1, 5) \
                    and rtp[off + 1] & 0x80:  # the first fragment of a slice
                at = off + 2
            if at is not None and at + len(BAD_SLICE_HEADER) <= len(rtp):
                rtp[at:at + len(BAD_SLICE_HEADER)] = BAD_SLICE_HEADER
                self.broken += 1
            if nal == 24:  # STAP-A (RFC 6184 5.7.1): a small slice may ride with SPS/PPS
                pos = off + 1
                while pos + 2 < len(rtp):
                    size = (rtp[pos] << 8) | rtp[pos + 1]
                    start, end = pos + 2, pos + 2 + size
                    if size == 0 or end > len(rtp):
                        break
                    if rtp[start] & 0x1f in (1, 5) and start + 1 + len(BAD_SLICE_HEADER) <= end:
                        rtp[start + 1:start + 1 + len(BAD_SLICE_HEADER)] = BAD_SLICE_HEADER
                        self.broken += 1
                    pos = end
            return
        if self.video_packets % self.every == 0:
            rtp[off] = (rtp[off] & 0xe0) | 30
            self.broken += 1
            self.broken_after_sr += self.sender_reports > 0

    def _from_camera(self, src, dst):
        """Camera to client: RTSP answers and $-framed interleaved data (RFC 2326 10.12)."""
        buf = bytearray()
        try:
            while not self._stop:
                data = src.recv(65536)
                if not data:
                    break
                buf += data
                out = bytearray()
                while buf:
                    if buf[0] == 0x24:  # '$', channel, 16-bit length, packet
                        if len(buf) < 4:
                            break
                        n = 4 + ((buf[2] << 8) | buf[3])
                        if len(buf) < n:
                            break
                        frame = buf[:n]
                        if frame[1] == 0:  # the video's RTP channel (SETUP interleaved=0-1)
                            pkt = frame[4:]
                            self._break(pkt)
                            frame[4:] = pkt
                        elif frame[1] == 1 and len(frame) > 5 and frame[5] == 200:
                            self.sender_reports += 1  # RTCP SR (RFC 3550 6.4.1)
                        out += frame
                        del buf[:n]
                    else:
                        end = buf.find(b'\r\n\r\n')
                        if end < 0:
                            break
                        head = bytes(buf[:end]).lower()
                        length = 0
                        for line in head.split(b'\r\n'):
                            if line.startswith(b'content-length:'):
                                length = int(line.split(b':', 1)[1])
                        n = end + 4 + length
                        if len(buf) < n:
                            break
                        out += buf[:n]
                        del buf[:n]
                if out:
                    dst.sendall(bytes(out))
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self._stop = True
        self._thread.join(2)
        for s in self._socks:
            s.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class BlackHole:
    """A TCP listener that accepts connections, reads and discards, and never answers."""

    def __init__(self, host='127.0.0.1', port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = 'rtsp://%s:%d/cam' % (host, self.port)
        self.accepted = 0
        self.received = 0
        self._conns = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, name='black-hole', daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            fds = [self.sock] + self._conns
            try:
                r, _, _ = select.select(fds, [], [], 0.2)
            except (OSError, ValueError):
                if self._stop:
                    return
                self._conns = [c for c in self._conns if c.fileno() >= 0]
                continue
            for s in r:
                if s is self.sock:
                    try:
                        c, _ = self.sock.accept()
                    except OSError:
                        continue
                    self._conns.append(c)
                    self.accepted += 1
                else:
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b''
                    if not data:  # the peer went away
                        self._conns.remove(s)
                        s.close()
                    else:
                        self.received += len(data)

    def close(self):
        self._stop = True
        self._thread.join(2)
        for c in self._conns:
            c.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def black_hole_server(host='127.0.0.1', port=0):
    """'A camera that accepts TCP and never answers': .port, .url, .accepted, .close()."""
    return BlackHole(host, port)


class SnapshotServer:
    """An HTTP camera: GET /snapshot.jpg answers jpeg_fn() (default: a fresh 640x360 JPEG
    with the stamp bar). .url, .port, .requests (snapshot requests answered), .close().
    With user/password set, requests without the right Basic credentials get 401."""

    def __init__(self, jpeg_fn=None, host='127.0.0.1', port=0, user=None, password=None):
        self.jpeg_fn = jpeg_fn or make_stamp_jpeg
        self.requests = 0
        self.unauthorized = 0
        outer = self
        expected = None
        if user is not None:
            expected = 'Basic ' + base64.b64encode(
                ('%s:%s' % (user, password or '')).encode()).decode()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_GET(self):
                if self.path.split('?')[0] != '/snapshot.jpg':
                    self.send_error(404)
                    return
                if expected is not None and self.headers.get('Authorization') != expected:
                    outer.unauthorized += 1
                    self.send_response(401)
                    self.send_header('WWW-Authenticate', 'Basic realm="camera"')
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                body = outer.jpeg_fn()
                outer.requests += 1
                self.send_response(200)
                self.send_header('Content-Type', 'image/jpeg')
                self.send_header('Content-Length', str(len(body)))
                self.send_header('Cache-Control', 'no-store')
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = 'http://%s:%d/snapshot.jpg' % (host, self.port)
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        name='snapshot-http', daemon=True)
        self._thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def snapshot_http_server(jpeg_fn=None, **kw):
    """An HTTP server serving /snapshot.jpg from jpeg_fn() (default make_stamp_jpeg, a fresh
    JPEG with the stamp bar per request); counts requests in .requests."""
    return SnapshotServer(jpeg_fn, **kw)


if __name__ == '__main__':
    sys.exit(main())
