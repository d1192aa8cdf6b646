"""Tests of the RTSP camera simulator itself (rtsp_sim.py), with ffprobe/ffmpeg as the
client, so we know it works before vigil's tests lean on it. No vigil binary needed.

Run: cd /work/main && /usr/bin/python3 -m pytest -q tests/integration/test_rtsp_sim.py
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import rtsp_sim  # noqa: E402
from stamp import decode_stamp  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (shutil.which('ffprobe') and shutil.which('ffmpeg')), reason='needs ffprobe and ffmpeg')

PROBE_TIMEOUT = 15


def ffprobe(url, timeout=PROBE_TIMEOUT):
    """(returncode, parsed JSON or None, stderr) of ffprobe over RTSP/TCP."""
    p = subprocess.run(
        ['ffprobe', '-v', 'error', '-rtsp_transport', 'tcp', '-timeout', '5000000',
         '-select_streams', 'v', '-show_entries',
         'stream=codec_name,width,height,color_range', '-of', 'json', url],
        capture_output=True, text=True, timeout=timeout)
    try:
        info = json.loads(p.stdout) if p.returncode == 0 else None
    except ValueError:
        info = None
    return p.returncode, info, p.stderr


def ffmpeg_grab_cmd(url, out_pattern, frames=10):
    return ['ffmpeg', '-nostdin', '-v', 'error', '-rtsp_transport', 'tcp', '-timeout', '5000000',
            '-i', url, '-frames:v', str(frames), '-y', out_pattern]


@pytest.fixture
def sim():
    procs = []

    def start(**kw):
        p = rtsp_sim.start_sim_process(**kw)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.close()


@pytest.fixture(scope='module')
def h264_cam():
    p = rtsp_sim.start_sim_process(codec='h264', width=640, height=360, fps=15)
    yield p
    code = p.terminate()
    log = p.log
    p.close()
    assert code == 0, 'simulator exit status %r after SIGTERM:\n%s' % (code, log[-3000:])


def test_stamp_jpeg_helper():
    us = rtsp_sim.now_us()
    assert decode_stamp(rtsp_sim.make_stamp_jpeg(640, 360, us, quality=50)) == us
    assert decode_stamp(rtsp_sim.make_stamp_jpeg(68, 16, us)) == us


def test_h264_probe(h264_cam):
    code, info, err = ffprobe(h264_cam.url)
    assert code == 0, err
    st = info['streams'][0]
    assert (st['codec_name'], st['width'], st['height']) == ('h264', 640, 360), st
    assert st.get('color_range') == 'pc', st  # full range, like vigil's test camera


def test_h264_frames_carry_a_fresh_stamp(h264_cam, tmp_path):
    out = str(tmp_path / 'f%02d.png')
    p = subprocess.run(ffmpeg_grab_cmd(h264_cam.url, out), capture_output=True, text=True,
                       timeout=PROBE_TIMEOUT)
    assert p.returncode == 0, p.stderr
    files = sorted(glob.glob(str(tmp_path / 'f*.png')))
    assert len(files) == 10, files
    stamps = [decode_stamp(open(f, 'rb').read()) for f in files]
    assert None not in stamps, stamps
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), stamps
    # From the stamp drawn at capture to ffmpeg writing the picture (its file's time), not to
    # now: ffmpeg's own exit (TEARDOWN, PNG flush) on a loaded machine is no part of it.
    age = (os.stat(files[-1]).st_mtime_ns // 1000 - stamps[-1]) / 1e6
    assert -0.1 < age < 2.0, 'last frame written %.3f s after its stamp' % age
    # 15 fps: ten consecutive frames span about 0.6 s.
    span = (stamps[-1] - stamps[0]) / 1e6
    assert 0.4 < span < 1.0, span


def test_one_pipeline_and_session_counting(h264_cam, tmp_path):
    assert h264_cam.wait_sessions(0, timeout=5) == 0
    cmds = [ffmpeg_grab_cmd(h264_cam.url, str(tmp_path / ('c%d_%%03d.png' % i)), frames=45)
            for i in range(2)]
    clients = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for c in cmds]
    try:
        assert h264_cam.wait_sessions(2, timeout=8) == 2
        st = h264_cam.stats()
        assert st['clients'] == 2 and st['medias'] == 1, st  # shared: one pipeline
    finally:
        for c in clients:
            try:
                c.wait(timeout=12)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait(timeout=5)
    for c in clients:
        assert c.returncode == 0, c.stderr.read()
    assert h264_cam.wait_sessions(0, timeout=5) == 0


def test_session_gone_when_client_is_killed(h264_cam, tmp_path):
    """A client that dies without TEARDOWN (SIGKILL) stops counting once its TCP closes."""
    c = subprocess.Popen(ffmpeg_grab_cmd(h264_cam.url, str(tmp_path / 'k%03d.png'), 1000),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert h264_cam.wait_sessions(1, timeout=8) == 1
    finally:
        c.kill()
        c.wait(timeout=5)
    assert h264_cam.wait_sessions(0, timeout=5) == 0


def test_mjpeg_probe(sim):
    cam = sim(codec='mjpeg', width=320, height=240, fps=10)
    code, info, err = ffprobe(cam.url)
    assert code == 0, err
    st = info['streams'][0]
    assert (st['codec_name'], st['width'], st['height']) == ('mjpeg', 320, 240), st


@pytest.mark.parametrize('codec,name', [('h265', 'hevc'), (rtsp_sim.UNSUPPORTED_CODEC, 'vp8')])
def test_other_codecs_probe(sim, codec, name):
    try:
        cam = sim(codec=codec, width=320, height=240, fps=10)
    except RuntimeError as e:
        if 'is missing' in str(e):
            pytest.skip('no encoder for %s' % codec)
        raise
    code, info, err = ffprobe(cam.url)
    assert code == 0, err
    st = info['streams'][0]
    assert (st['codec_name'], st['width'], st['height']) == (name, 320, 240), st


def rtsp_challenges(url):
    """The WWW-Authenticate schemes a DESCRIBE without credentials is answered with."""
    host, port = url[len('rtsp://'):].split('/')[0].split(':')
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b'DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\n\r\n' % url.encode())
        s.settimeout(5)
        head = b''
        while b'\r\n\r\n' not in head and len(head) < 65536:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
    lines = head.decode('latin-1').split('\r\n')
    assert lines[0].startswith('RTSP/1.0 401'), lines[0]
    return sorted(l.split(':', 1)[1].split()[0] for l in lines
                  if l.lower().startswith('www-authenticate:'))


@pytest.mark.parametrize('auth,schemes', [('basic', ['Basic']), ('digest', ['Digest']),
                                          ('both', ['Basic', 'Digest'])])
def test_auth(sim, auth, schemes):
    cam = sim(user='admin', password='s3cret', auth=auth, width=320, height=240, fps=10)
    assert rtsp_challenges(cam.url) == schemes
    host_part = cam.url[len('rtsp://'):]
    code, _, err = ffprobe('rtsp://admin:wrong@' + host_part)
    assert code != 0 and '401' in err, err
    code, _, err = ffprobe(cam.url)  # no credentials at all
    assert code != 0 and '401' in err, err
    code, info, err = ffprobe('rtsp://admin:s3cret@' + host_part)
    assert code == 0, err
    assert info['streams'][0]['codec_name'] == 'h264'


def test_kill_and_restart_on_same_port(sim):
    cam = sim(width=320, height=240, fps=10)
    url, port = cam.url, cam.port
    assert cam.kill() == -signal.SIGKILL
    with pytest.raises(OSError):  # nobody listens any more
        socket.create_connection(('127.0.0.1', port), timeout=2).close()
    cam.restart()
    assert cam.url == url and cam.port == port
    code, info, err = ffprobe(cam.url)
    assert code == 0, err
    assert cam.terminate() == 0


def test_black_hole_accepts_and_never_answers():
    with rtsp_sim.black_hole_server() as hole:
        s = socket.create_connection(('127.0.0.1', hole.port), timeout=2)
        try:
            s.sendall(b'OPTIONS %s RTSP/1.0\r\nCSeq: 1\r\n\r\n' % hole.url.encode())
            s.settimeout(1.0)
            with pytest.raises(socket.timeout):
                s.recv(1)
        finally:
            s.close()
        assert hole.accepted == 1


def test_snapshot_http_server():
    with rtsp_sim.snapshot_http_server() as cam:
        stamps = []
        for _ in range(2):
            with urllib.request.urlopen(cam.url, timeout=5) as r:
                assert r.headers['Content-Type'] == 'image/jpeg'
                stamps.append(decode_stamp(r.read()))
            time.sleep(0.01)
        assert None not in stamps and stamps[0] < stamps[1], stamps
        assert abs(rtsp_sim.now_us() - stamps[1]) < 2_000_000
        assert cam.requests == 2


def test_replay_serves_one_clip_on_many_mounts_from_one_media(tmp_path):
    """--replay: one clip encoded at start, three mounts, one shared media; what each client
    records is the clip's access units (the same bytes on every mount) and decodes cleanly,
    starting at a keyframe."""
    if not rtsp_sim.have_element('x264enc'):
        pytest.skip('GStreamer x264enc is missing')
    sim = rtsp_sim.RtspSim(port=0, path='/cam', width=320, height=180, fps=30, kbps=400,
                           gop=30, replay=True, mounts=3, clip_seconds=2)
    assert len(sim.clip) == 60 and sum(k for _, k in sim.clip) == 2
    assert all(5 in rtsp_sim._nal_types(au) and 7 in rtsp_sim._nal_types(au)
               for au, k in sim.clip if k)  # SPS with every IDR
    sim.start()
    try:
        assert sim.urls == ['rtsp://127.0.0.1:%d/cam%d' % (sim.port, i) for i in range(3)]
        outs = [tmp_path / ('m%d.h264' % i) for i in range(3)]
        clients = [subprocess.Popen(
            ['ffmpeg', '-nostdin', '-v', 'error', '-rtsp_transport', 'tcp', '-timeout',
             '5000000', '-i', url, '-frames:v', '45', '-c', 'copy', '-f', 'h264', '-y', str(o)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for url, o in zip(sim.urls, outs)]
        deadline = time.monotonic() + 8
        while sim.session_count() < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        st = sim.stats()
        assert st['sessions'] == 3 and st['medias'] == 1 and st['mounts'] == 3, st
        for c in clients:
            c.wait(timeout=15)
            assert c.returncode == 0, c.stderr.read()
    finally:
        sim.stop()
    clip_aus = {au for au, _ in sim.clip}
    for o in outs:
        aus = rtsp_sim.split_annexb_h264(o.read_bytes())
        assert len(aus) >= 40
        assert 5 in rtsp_sim._nal_types(aus[0])  # starts at a keyframe
        # Slices as encoded (the payloader may add SPS/PPS or AUDs; the slice bytes are the
        # clip's): the last NAL unit of each access unit is found in the clip.
        tails = [au[au.rfind(b'\x00\x00\x01') + 3:] for au in aus[1:-1]]
        assert all(any(t in c for c in clip_aus) for t in tails[:20])
        dec = subprocess.run(['ffmpeg', '-nostdin', '-v', 'error', '-f', 'h264', '-i', str(o),
                              '-f', 'null', '-'], capture_output=True, text=True, timeout=30)
        assert dec.returncode == 0 and dec.stderr.strip() == '', dec.stderr
