#!/usr/bin/python3
"""Ingest benchmark (issue 3): the cost of holding N always-on 1280x720 30 fps H.264 RTSP
cameras with no viewer, i.e. no decoding: vigil only reads, depacketizes and keeps each
camera's GOP for the next viewer. Run by bench/ingest.sh; results in docs/benchmarks.md.

One GStreamer RTSP server (bench/ingest_camera.py, one x264 encoder, pinned to CAMERA_CPU)
stands in for the cameras: every vigil camera opens its own RTSP session to it. vigil runs
pinned to SERVER_CPU. For each N the script starts vigil with N on-demand cameras (memory
baseline: nothing pulled), then with the same N always-on; waits until all N are live,
warms up, and samples /proc/PID/stat and VmRSS over DURATION seconds. For reference it
also measures, in the same run and on the same core, one `ffmpeg -c copy -f null` reading
the same camera.

Environment: VIGIL (default build/vigil), CAMERAS (default "1 10 50"), DURATION (20),
WARMUP (5), KBPS (4000), SERVER_CPU (0), CAMERA_CPU (1), RESULTS (JSON-lines file).
Standard library only; every wait has a deadline.
"""
import json
import os
import subprocess
import tempfile
import time
import urllib.request

from benchlib import append_results, cpu_seconds, free_port, log, status_kb

VIGIL = os.environ.get("VIGIL", "build/vigil")
CAMERAS = [int(x) for x in os.environ.get("CAMERAS", "1 10 50").replace(",", " ").split()]
DURATION = float(os.environ.get("DURATION", "20"))
WARMUP = float(os.environ.get("WARMUP", "5"))
KBPS = int(os.environ.get("KBPS", "4000"))
SERVER_CPU = os.environ.get("SERVER_CPU", "0")
CAMERA_CPU = os.environ.get("CAMERA_CPU", "1")
RESULTS = os.environ.get("RESULTS", "")
HERE = os.path.dirname(os.path.abspath(__file__))


def measure_cpu(pid, seconds):
    """CPU of pid over `seconds`, as a fraction of one core."""
    t0, c0 = time.monotonic(), cpu_seconds(pid)
    time.sleep(seconds)
    t1, c1 = time.monotonic(), cpu_seconds(pid)
    return (c1 - c0) / (t1 - t0)


def get_json(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return json.loads(r.read())


class Camera:
    def __init__(self):
        self.proc = subprocess.Popen(
            ["taskset", "-c", CAMERA_CPU, "/usr/bin/python3", "-B",
             os.path.join(HERE, "ingest_camera.py"), "--port", str(free_port()),
             "--kbps", str(KBPS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            raise SystemExit("ingest: camera server did not start: %r" % line)
        self.url = line.split()[1]

    def sessions(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline().split()[1])

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


class Vigil:
    def __init__(self, url, n, always_on, tmp):
        self.port = free_port()
        cfg = os.path.join(tmp, "ingest-%d-%d.yaml" % (n, always_on))
        with open(cfg, "w") as f:
            f.write('listen: "127.0.0.1:%d"\nlog_level: warn\ncameras:\n' % self.port)
            for i in range(n):
                f.write('  - id: cam%02d\n    url: "%s"\n    always_on: %s\n'
                        % (i, url, "true" if always_on else "false"))
        self.log = open(os.path.join(tmp, "vigil-%d-%d.log" % (n, always_on)), "wb")
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, VIGIL, "serve", "--no-auth", "--db", ":memory:", "-c", cfg],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                get_json(self.port, "/healthz")
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("ingest: vigil did not answer /healthz (see %s)" % self.log.name)

    def streams(self):
        return get_json(self.port, "/api/v1/streams")["streams"]

    def wait_live(self, n, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [s for s in self.streams() if s["state"] == "live" and s["input_fps"] > 0]
            if len(live) == n:
                return True
            time.sleep(0.5)
        return False

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def ffmpeg_reference(url):
    """One ffmpeg reading the camera without decoding, on the server's core."""
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, "ffmpeg", "-nostdin", "-hide_banner",
                             "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url,
                             "-c", "copy", "-f", "null", "-"])
    try:
        time.sleep(WARMUP)
        return measure_cpu(proc.pid, DURATION)
    finally:
        proc.terminate()
        proc.wait(10)


def main():
    if not os.access(VIGIL, os.X_OK):
        raise SystemExit("ingest: no %s; build first or set VIGIL" % VIGIL)
    cam = Camera()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="vigil-ingest-") as tmp:
            ref = ffmpeg_reference(cam.url)
            log("ffmpeg -c copy reference: %.2f%% of a core" % (ref * 100))
            for n in CAMERAS:
                idle = Vigil(cam.url, n, False, tmp)
                time.sleep(1)
                rss_idle = status_kb(idle.proc.pid, "VmRSS")
                idle.close()
                v = Vigil(cam.url, n, True, tmp)
                try:
                    if not v.wait_live(n, 30 + n):
                        states = {}
                        for s in v.streams():
                            states[s["state"]] = states.get(s["state"], 0) + 1
                        raise SystemExit("ingest: not all %d cameras went live: %r" % (n, states))
                    time.sleep(WARMUP)
                    cpu = measure_cpu(v.proc.pid, DURATION)
                    streams = v.streams()
                    row = {
                        "cameras": n,
                        "sessions": cam.sessions(),
                        "cpu_total_pct": round(cpu * 100, 2),
                        "cpu_per_camera_pct": round(cpu * 100 / n, 3),
                        "rss_idle_kb": rss_idle,
                        "rss_kb": status_kb(v.proc.pid, "VmRSS"),
                        "threads": status_kb(v.proc.pid, "Threads"),
                        "input_fps_min": min(s["input_fps"] for s in streams),
                        "input_kbps_mean": round(sum(s["input_kbps"] for s in streams) / n),
                        "ffmpeg_copy_pct": round(ref * 100, 2),
                    }
                    row["rss_per_camera_kb"] = round((row["rss_kb"] - rss_idle) / n)
                    rows.append(row)
                    log(json.dumps(row))
                finally:
                    v.close()
    finally:
        cam.close()
    print("| cameras | RTSP sessions | vigil CPU (% of a core) | per camera | input fps (min) "
          "| input kbit/s (mean) | RSS idle → live | RSS per camera | threads |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %d | %d | %.1f | %.2f | %.1f | %d | %.1f → %.1f MiB | %.0f KiB | %d |"
              % (r["cameras"], r["sessions"], r["cpu_total_pct"], r["cpu_per_camera_pct"],
                 r["input_fps_min"], r["input_kbps_mean"], r["rss_idle_kb"] / 1024,
                 r["rss_kb"] / 1024, r["rss_per_camera_kb"], r["threads"]))
    print("\nReference, same run: one `ffmpeg -rtsp_transport tcp -i URL -c copy -f null -` "
          "on the same core: %.2f%% of a core." % (rows[0]["ffmpeg_copy_pct"] if rows else 0))
    append_results(RESULTS, rows)


if __name__ == "__main__":
    main()
