"""What bench/passthrough_fanout.py, cameras_per_core.py and glass_to_glass.py share: the RTSP
camera simulator (tests/integration/rtsp_sim.py, live or --replay), a vigil server with the
per-address connection cap off (every viewer comes from 127.0.0.1), and probe runs measured
against the server's /proc counters over the probe's own window (the sampler and the
interpolation are bench/ws_fanout.py's).

Standard library only here; the simulator itself needs Debian's python3-gi. Every wait has a
deadline.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ws_fanout as wf  # noqa: E402  (reads VIGIL, SERVER_CPU, PROBE_CPU from the environment)

SIM = os.path.join(HERE, "..", "tests", "integration", "rtsp_sim.py")
VIGIL = wf.VIGIL
SERVER_CPU = wf.SERVER_CPU
PROBE_CPU = wf.PROBE_CPU
SIM_CPU = os.environ.get("SIM_CPU", PROBE_CPU)
env_num = wf.env_num
log = wf.log
fmt = wf.fmt
# bench/ws_fanout.py's config: its ladder (native at quality 80), so JPEG figures compare
# with its results, and no cap on connections per address (every viewer is 127.0.0.1).
CONFIG = wf.LADDER
assert "max_conns_per_ip: 0" in CONFIG


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


def results_path(name):
    if os.environ.get("RESULTS"):
        return os.environ["RESULTS"]
    os.makedirs("build/bench", exist_ok=True)
    return time.strftime(f"build/bench/{name}-%Y%m%d-%H%M%S.jsonl")


class Sim:
    """The RTSP simulator as a process pinned to SIM_CPU. args: its options (without
    --port/--control-port). .urls, .control, .clip_kbps (replay), .stats(), .stop()."""

    def __init__(self, args, ready_s=120):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="vigil-bench-sim-", suffix=".log",
                                               delete=False)
        cmd = ["taskset", "-c", SIM_CPU, "/usr/bin/python3", "-B", SIM, "--port", "0",
               "--control-port", "0"] + [str(a) for a in args]
        self.cmd = cmd
        log("camera: " + " ".join(cmd))
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + ready_s
        text = ""
        while time.monotonic() < deadline:
            with open(self.log.name) as f:
                text = f.read()
            if "READY " in text or self.proc.poll() is not None:
                break
            time.sleep(0.1)
        m = re.search(r"^READY (\S+)", text, re.M)
        if m is None:
            self.stop()
            raise SystemExit(f"simulator not ready within {ready_s} s: {text[-2000:]}")
        first = m.group(1)
        self.control = re.search(r"^CONTROL (\S+)", text, re.M).group(1)
        mm = re.search(r"^MOUNTS (\d+) ", text, re.M)
        if mm:
            base = first[:-1]  # .../cam0 -> .../cam
            self.urls = [f"{base}{i}" for i in range(int(mm.group(1)))]
        else:
            self.urls = [first]
        ck = re.search(r"clip: .* ([\d.]+) kbit/s", text)
        self.clip_kbps = float(ck.group(1)) if ck else None

    def stats(self):
        with urllib.request.urlopen(self.control + "/stats", timeout=5) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.unlink(self.log.name)


def make_clip(path, width=1280, height=720, fps=30, kbps=4000, gop=60):
    """Encodes the replay clip once into path (raw H.264) so that every later simulator of
    the run starts at once with --clip; returns the clip's own bitrate in kbit/s."""
    sim = Sim(["--replay", "--mounts", "1", "--width", width, "--height", height, "--fps", fps,
               "--kbps", kbps, "--gop", gop, "--write-clip", path])
    kbps_real = sim.clip_kbps
    sim.stop()
    return kbps_real


class Server:
    """`vigil serve` pinned to SERVER_CPU with cameras {name: url}, CONFIG and no auth."""

    def __init__(self, cameras, config=CONFIG, extra=()):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="vigil-bench-", suffix=".log",
                                               delete=False)
        cfg = self.log.name + ".yaml"
        with open(cfg, "w") as f:
            f.write(config)
        self.cfg = cfg
        cmd = ["taskset", "-c", SERVER_CPU, VIGIL, "serve", "--no-auth", "--db", ":memory:",
               "--listen", "127.0.0.1:0", "--config", cfg] + list(extra)
        for name, url in cameras.items():
            cmd += ["--camera", f"{name}={url}"]
        log("server: " + " ".join(cmd[:14]) + (f" ... ({len(cameras)} cameras)"
                                                 if len(cameras) > 2 else " " + " ".join(cmd[14:])))
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid  # taskset execs vigil in place
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited ({self.proc.returncode}); log {self.log.name}")
            with open(self.log.name) as f:
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", f.read())
            if m:
                self.port = int(m.group(1))
                return
            time.sleep(0.05)
        self.proc.kill()
        raise SystemExit(f"server did not report its port within 15 s; log {self.log.name}")

    def ws_url(self, cam):
        return f"ws://127.0.0.1:{self.port}/api/v1/cameras/{cam}/ws"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.unlink(self.cfg)
        os.unlink(self.log.name)


def run_probe(server, urls, n, tier, duration, warmup, connect_rate=500, extra=(), record=True):
    """One `vigil probe --json` pinned to PROBE_CPU with n viewers over urls (viewer i on
    urls[i % len]); while it runs, samples the server like bench/ws_fanout.py. Returns a row:
    the probe's JSON, the server's CPU over the probe's window and per delivered frame, the
    load average before and after, and what else ran on the machine."""
    cmd = ["taskset", "-c", PROBE_CPU, VIGIL, "probe", "-n", str(n), "-d", f"{duration:g}",
           "--warmup", f"{warmup:g}", "--connect-rate", f"{connect_rate:g}", "--tier", tier,
           "--json"] + list(extra) + list(urls)
    limit = (n / connect_rate if connect_rate > 0 else 0) + warmup + duration + 30
    load0 = loadavg()
    samples, system = [], []
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.monotonic()
        pr = subprocess.Popen(cmd, stdout=out, stderr=err)
        i = 0
        while pr.poll() is None and time.monotonic() < t0 + limit:
            if record:
                s = wf.snapshot(server.pid)
                if s is not None:
                    samples.append(s)
                if i % 10 == 0:
                    system.append((time.monotonic(), wf.all_tasks()))
            i += 1
            time.sleep(wf.SAMPLE_S)
        if pr.poll() is None:
            log(f"probe still running after {limit:.0f} s: stopping it")
            pr.terminate()
            try:
                pr.wait(5)
            except subprocess.TimeoutExpired:
                pr.kill()
                pr.wait()
        out.seek(0)
        err.seek(0)
        text, errtext = out.read().strip(), err.read().strip()
    if errtext:
        log("probe stderr: " + errtext.replace("\n", "\n  "))
    try:
        res = json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        raise SystemExit(f"probe gave no JSON (status {pr.returncode}): {text!r}")
    shown = cmd[:-len(urls)] + ([urls[0]] if len(urls) == 1 else [urls[0], f"... ({len(urls)} URLs)"])
    row = {"probe_cmd": " ".join(shown), "probe_status": pr.returncode, "viewers": n,
           "tier": tier, "probe": res, "load_before": load0, "load_after": loadavg()}
    if not record:
        return row
    ws = t0 + res["ramp_s"] + res["warmup_s"]
    we = ws + res["duration_s"]
    if len(samples) < 2 or samples[0]["t"] > ws or samples[-1]["t"] < we:
        log(f"warning: samples do not cover the window (n={n}, tier={tier})")
    cpu = wf.window_cpu(samples, server.pid, ws, we) if len(samples) >= 2 else None
    frames = res["frames"]
    row["server_cpu"] = cpu
    if cpu is not None:
        loop = cpu["threads"].get("loop", {"cpu_s": 0.0})
        row["server_pct_core"] = cpu["pct_core"]
        row["loop_pct_core"] = loop.get("pct_core", 0.0)
        row["cpu_us_per_frame"] = {
            "process": 1e6 * cpu["cpu_s"] / frames if frames else None,
            "loop": 1e6 * loop["cpu_s"] / frames if frames else None,
        }
        row["core_busy_pct"] = cpu["core_busy_pct"].get("cpu" + SERVER_CPU)
    row["other_processes"] = wf.others(system, ws, we, {server.pid, pr.pid, os.getpid()})
    return row


def packets_seen(res):
    """Access units the probe received (the server has a `source` tier when > 0)."""
    cf = res.get("codec_frames") or {}
    return cf.get("h264", 0) + cf.get("h265", 0)


def source_check(server, cam):
    """A 1-viewer `source` probe of 4.5 s (long enough for a cold camera to connect and send
    a keyframe, 2 s apart in the clip): None when the server sends access units, else why
    not."""
    r = run_probe(server, [server.ws_url(cam)], 1, "source", 4, 0.5, record=False)
    if packets_seen(r["probe"]) > 0:
        return None
    return ("server side not landed: tier=source gave %d JPEG frames, %d error messages, "
            "no access unit" % (r["probe"]["codec_frames"]["jpeg"], r["probe"]["text_errors"]))


def others_text(o):
    return wf.fmt_others(o)


def append(path, row):
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
