#!/usr/bin/python3
"""How long after the camera captured a part's last picture an LL-HLS player has the part
(docs/benchmarks.md, "LL-HLS: capture to part"). One player, directly against vigil.

    VIGIL=build/vigil /usr/bin/python3 bench/hls_latency.py   # 720p30, 20 s; DURATION, FPS

The camera is the RTSP simulator (live x264, GOP 2 s); vigil takes each picture's capture
time from the camera's RTCP sender reports, and a playlist's EXT-X-PROGRAM-DATE-TIME is the
capture time of its segment's first picture, each part's DURATION the capture times between.

The player does what an LL-HLS player does at the live edge: it asks for the part the preload
hint names (vigil holds the request until the part exists), then for the blocking reload of
that part (answered at once), whose playlist gives the part's place in time and the next hint.
For each part: latency = the part's last byte received − (the part's end − one frame interval),
the end being PROGRAM-DATE-TIME plus the durations of the segment's parts up to and including
it. Both clocks are this machine's wall clock. A part ends when the picture after it arrives,
so one frame interval is the floor.

Standard library only (plus the simulator's python3-gi). Every wait has a deadline.
"""
import datetime
import http.client
import json
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import passlib as pl  # noqa: E402

SECONDS = pl.env_num("DURATION", 20.0)
FPS = pl.env_num("FPS", 30, int)
TIMEOUT_S = 15.0

HINT_RE = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(part(\d+)\.(\d+)\.m4s[^"]*)"')


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def part_end(playlist, name):
    """The wall-clock end of part `name` in playlist, or None if it is not listed."""
    t = None
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            t = parse_time(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-PART:") and t is not None:
            dur = float(re.search(r"DURATION=([\d.]+)", line).group(1))
            t += dur
            if 'URI="%s?' % name in line or 'URI="%s"' % name in line:
                return t
    return None


def get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()


def follow(port, cam, seconds):
    base = "/cameras/%s/hls/" % cam
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    status, body = get(conn, base + "index.m3u8")
    if status != 200:
        raise SystemExit("playlist: %d %s" % (status, body[:200]))
    playlist = body.decode()
    rows = []
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds * 20) + 10):
        if time.monotonic() > deadline:
            break
        m = HINT_RE.search(playlist)
        if m is None:
            raise SystemExit("no preload hint:\n" + playlist)
        uri, msn, part = m.group(1), int(m.group(2)), int(m.group(3))
        name = "part%d.%d.m4s" % (msn, part)
        t0 = time.time()
        status, data = get(conn, base + uri)
        arrived = time.time()
        if status != 200:
            raise SystemExit("%s: %d %s" % (uri, status, data[:200]))
        status, body = get(conn, base + "index.m3u8?_HLS_msn=%d&_HLS_part=%d" % (msn, part))
        if status != 200:
            raise SystemExit("blocking reload %d.%d: %d" % (msn, part, status))
        playlist = body.decode()
        end = part_end(playlist, name)
        if end is None:
            raise SystemExit("%s is not in its own blocking reload:\n%s" % (name, playlist))
        rows.append({"part": name, "bytes": len(data), "held_ms": 1000 * (arrived - t0),
                     "latency_ms": 1000 * (arrived - (end - 1.0 / FPS))})
    conn.close()
    return rows


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    sim = pl.Sim(["--codec", "h264", "--width", 1280, "--height", 720, "--fps", FPS])
    server = None
    try:
        server = pl.Server({"cam": sim.urls[0]})
        follow(server.port, "cam", 3.0)  # the camera starts, the player reaches the edge
        rows = follow(server.port, "cam", SECONDS)
        lat = [r["latency_ms"] for r in rows]
        held = [r["held_ms"] for r in rows]
        result = {"bench": "hls_latency", "fps": FPS, "seconds": SECONDS, "parts": len(rows),
                  "latency_ms": {"p50": round(pct(lat, 50), 1), "p95": round(pct(lat, 95), 1),
                                 "min": round(min(lat), 1), "max": round(max(lat), 1),
                                 "mean": round(statistics.mean(lat), 1)},
                  "held_ms_p50": round(pct(held, 50), 1),
                  "part_kb_p50": round(pct([r["bytes"] for r in rows], 50) / 1024, 1),
                  "loadavg": pl.loadavg()}
        print(json.dumps(result))
    finally:
        if server is not None:
            server.stop()
        sim.stop()


if __name__ == "__main__":
    main()
