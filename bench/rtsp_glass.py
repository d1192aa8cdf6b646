#!/usr/bin/python3
"""RTSP glass to glass: the same camera read directly and through vigil's RTSP server, side by
side in one run; run by bench/rtsp_glass.sh (docs/benchmarks.md, issue 16's Benchmarks:
"vigil adds at most 5 ms p50").

The camera is the live simulator (tests/integration/rtsp_sim.py: 1280x720, FPS 30, 4 Mbit/s,
x264 zerolatency), which draws its wall-clock time into each picture as the timestamp bar
(docs/test-camera.md) before encoding it. vigil (on SERVER_CPU) reads it as two cameras, `cam`
over RTSP/TCP and `cam_udp` over RTSP/UDP, and re-streams them on --rtsp-listen. For each
transport, two reader processes, identical but for the URL, run at the same time on PROBE_CPU
(with the simulator, SIM_CPU):

    rtspsrc latency=0 protocols=P ! rtph264depay ! avdec_h264 max-threads=1 ! appsink sync=false

one reading the simulator, the other vigil's camera read over the same transport. For each
decoded picture a reader takes its arrival wall-clock time and reads the bar; latency =
arrival - bar. The jitter buffer (latency=0), the depayloader, the decoder (one thread: frame
threads add a frame each) and the sink are the same for both, so the difference is vigil's
share: its ingest (libavformat's RTSP demuxer), the hub, the packetizer and the second
loopback hop. The same picture seen by both readers also gives a paired difference.

Each reader also notes when each access unit left the depayloader (its pts as the key), so
the latency splits into "AU complete" (depayloader output - bar) and the decode after it.
From the RTP packets themselves (after rtspsrc's jitter buffer), over its whole run, it
counts access units (marker bits) whose RTP timestamp equals or is behind the previous
one's, steps off the frame interval by more than a quarter, and sequence gaps. Before each
pair, a reader that starts vigil's camera (cold, WARMUP_COLD_S) shows the same for a camera's
first seconds; after it the camera stops (vigil's --idle-timeout IDLE_S), so the next pair
finds the simulator without it.

To split vigil's share, one WebSocket `source` viewer (`vigil probe`, WS=1) watches beside the
readers: its arrival - capture_us and arrival - ingest_us give ingest - capture_us; and
/metrics gives vigil's capture-to-socket-write mean per output (RTSP against WebSocket) over
the window. Last, build/av_read_hold reads the simulator through libavformat with its
parsers (as vigil's av_source does) and without, at once: the difference is how long the
demuxer holds an access unit (HOLD_S seconds, 0 to skip).

Standard library plus Debian's python3-gi (GStreamer 1.22) only. Every wait has a deadline.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

DURATION = float(os.environ.get("DURATION", "") or 20)
# Longer than the camera's GOP (2 s): a reader through vigil starts at the cached keyframe
# and gets up to a GOP of pictures at once, which the window must not see.
WARMUP = float(os.environ.get("WARMUP", "") or 4)
TRANSPORTS = os.environ.get("TRANSPORTS", "tcp tcp-ffmpeg udp").replace(",", " ").split()
KBPS = int(os.environ.get("KBPS", "") or 4000)
REPEAT = int(os.environ.get("REPEAT", "") or 1)
FPS = int(os.environ.get("FPS", "") or 30)
WITH_WS = os.environ.get("WS", "1") != "0"
WARMUP_COLD_S = 6
IDLE_S = 5
HOLD_S = float(os.environ.get("HOLD_S", "") or 12)
# The pipeline both readers run, the same string for both.
READER = ("rtspsrc name=src location={url} latency=0 protocols={proto} "
          "! rtph264depay name=depay ! avdec_h264 name=dec max-threads=1 "
          "! appsink name=sink sync=false emit-signals=true max-buffers=64 drop=false")


# ---- reader: one process per URL -----------------------------------------------------------

def reader_main(url, proto, seconds, out_path):
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstVideo", "1.0")
    from gi.repository import GLib, Gst, GstVideo
    import stamp

    Gst.init(None)
    pipe = Gst.parse_launch(READER.format(url=url, proto=proto))
    au_at = {}      # pts -> wall µs when the depayloader pushed the access unit
    pictures = []   # [arrival_us, bar_us or None, au_us or None]
    rtp = {"packets": 0, "aus": 0, "equal_ts": 0, "backward_ts": 0, "seq_gaps": 0,
           "last_ts": None, "last_seq": None, "last_wall": None, "steps": [],
           "not_after": []}
    lock = threading.Lock()

    def on_au(pad, info):
        buf = info.get_buffer()
        if buf is not None:
            with lock:
                au_at[buf.pts] = time.time_ns() // 1000
        return Gst.PadProbeReturn.OK

    def one_rtp(buf):
        head = buf.extract_dup(0, 12)
        if len(head) < 12 or head[0] >> 6 != 2:
            return
        seq = (head[2] << 8) | head[3]
        ts = int.from_bytes(head[4:8], "big")
        rtp["packets"] += 1
        if rtp["last_seq"] is not None and seq != (rtp["last_seq"] + 1) & 0xffff:
            rtp["seq_gaps"] += 1
        rtp["last_seq"] = seq
        if head[1] & 0x80:  # marker: the access unit's last packet (RFC 6184 5.1)
            rtp["aus"] += 1
            if rtp["last_ts"] is not None:
                step = (ts - rtp["last_ts"] + (1 << 31)) % (1 << 32) - (1 << 31)
                rtp["equal_ts"] += step == 0
                rtp["backward_ts"] += step < 0
                if step <= 0 and len(rtp["not_after"]) < 20:  # [AU index, step]
                    rtp["not_after"].append([rtp["aus"] - 1, step])
                if rtp["last_wall"] is not None:
                    # RTP time against arrival time, per access unit: a stamp that stays
                    # behind (or runs ahead of) the pictures' pace shows here.
                    rtp["steps"].append([step, int(time.time_ns() // 1000 - rtp["last_wall"])])
            rtp["last_ts"] = ts
            rtp["last_wall"] = time.time_ns() // 1000

    def on_rtp(pad, info):
        if info.type & Gst.PadProbeType.BUFFER_LIST:
            bl = info.get_buffer_list()
            for i in range(bl.length()):
                one_rtp(bl.get(i))
        else:
            one_rtp(info.get_buffer())
        return Gst.PadProbeReturn.OK

    def on_sample(sink):
        now = time.time_ns() // 1000
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.OK
        buf = sample.get_buffer()
        vi = GstVideo.VideoInfo.new_from_caps(sample.get_caps())
        ok, m = buf.map(Gst.MapFlags.READ)
        bar = None
        if ok:
            try:
                stride = vi.stride[0]
                bar = stamp.decode_luma(bytes(m.data[:stride * vi.height]), vi.width,
                                        vi.height, stride)
            finally:
                buf.unmap(m)
        with lock:
            au = au_at.pop(buf.pts, None)
            if len(au_at) > 300:  # pictures the decoder never gave: forget them
                for k in sorted(au_at)[:-100]:
                    del au_at[k]
        pictures.append([now, bar, au])
        return Gst.FlowReturn.OK

    depay = pipe.get_by_name("depay")
    depay.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_au)
    depay.get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, on_rtp)
    pipe.get_by_name("sink").connect("new-sample", on_sample)

    loop = GLib.MainLoop()
    errors = []

    def on_msg(bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            errors.append(f"{err.message} ({dbg})")
            loop.quit()
        elif msg.type == Gst.MessageType.EOS:
            errors.append("end of stream")
            loop.quit()

    bus = pipe.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_msg)
    pipe.set_state(Gst.State.PLAYING)
    GLib.timeout_add(int(seconds * 1000), loop.quit)
    loop.run()
    pipe.set_state(Gst.State.NULL)
    for k in ("last_ts", "last_seq", "last_wall"):
        rtp.pop(k)
    with open(out_path, "w") as f:
        json.dump({"url": url, "proto": proto, "pictures": pictures, "rtp": rtp,
                   "errors": errors}, f)
    return 0


# ---- driver ------------------------------------------------------------------------------

def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarize(res, ws_us, we_us):
    """Latencies (ms) of the pictures that arrived in [ws_us, we_us)."""
    pics = [p for p in res["pictures"] if ws_us <= p[0] < we_us]
    lat = [(a - b) / 1000 for a, b, _ in pics if b is not None]
    au = [(u - b) / 1000 for _, b, u in pics if b is not None and u is not None]
    dec = [(a - u) / 1000 for a, _, u in pics if u is not None]
    span = (we_us - ws_us) / 1e6
    nominal = 90000 / FPS
    rtp = dict(res["rtp"])
    steps = rtp.pop("steps", [])
    odd = [st for st in steps if abs(st[0] - nominal) > nominal / 4]
    rtp["odd_steps"] = len(odd)           # RTP ts steps off the frame interval by > 25%
    rtp["odd_steps_first"] = odd[:20]     # [step in 90 kHz ticks, arrival step in µs]
    out = {"pictures": len(pics), "fps": len(pics) / span,
           "no_bar": sum(b is None for _, b, _ in pics),
           "rtp": rtp, "errors": res["errors"]}
    for name, xs in (("latency_ms", lat), ("au_ms", au), ("decode_ms", dec)):
        out[name] = {"n": len(xs), "p50": pct(xs, 50), "p95": pct(xs, 95), "p99": pct(xs, 99),
                     "mean": statistics.fmean(xs) if xs else None}
    # Per picture, for a look at the time line: [arrival - window start, latency] in ms.
    out["series"] = [[round((a - ws_us) / 1000, 1), round((a - b) / 1000, 1)]
                     for a, b, _ in pics if b is not None]
    # The same picture through both paths is what the difference is about: keep the bars.
    out["_by_bar"] = {b: a for a, b, _ in pics if b is not None}
    return out


def latency_sums(server, cam):
    """vigil's own capture-to-send latency per output (/metrics: vigil_output_latency_seconds
    of the camera's `source` tier): {output: (sum_s, count)}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        for part, i in (("_sum{", 0), ("_count{", 1)):
            if line.startswith("vigil_output_latency_seconds" + part) and 'tier="source"' in line \
                    and f'camera="{cam}"' in line:
                name = line.split('output="', 1)[1].split('"', 1)[0]
                out.setdefault(name, [0.0, 0.0])[i] += float(line.rpartition(" ")[2])
    return out


def run_pair(pl, server, cam, sim_url, vigil_url, proto, cpu):
    """Both readers at once for WARMUP + DURATION, with one WebSocket `source` viewer (vigil
    probe) beside them when WS is on; returns the readers' summaries over the window, the
    probe's row and vigil's mean capture-to-send per output over the window (ms)."""
    total = WARMUP + DURATION
    outs, procs = [], []
    ws = {}
    probe = None
    if WITH_WS:
        def run_ws():
            ws["row"] = pl.run_probe(server, [server.ws_url(cam)], 1, "source", DURATION,
                                     WARMUP, 0, record=False)
        probe = threading.Thread(target=run_ws, daemon=True)
    try:
        for url in (sim_url, vigil_url):
            out = tempfile.NamedTemporaryFile(prefix="vigil-bench-glass-", suffix=".json",
                                              delete=False)
            out.close()
            outs.append(out.name)
            procs.append(subprocess.Popen(
                ["taskset", "-c", cpu, "/usr/bin/python3", "-B", os.path.abspath(__file__),
                 "--reader", url, proto, f"{total:g}", out.name],
                stdin=subprocess.DEVNULL))
        t0 = time.monotonic()
        t0_us = time.time_ns() // 1000
        if probe:
            probe.start()
        time.sleep(WARMUP)
        m0 = latency_sums(server, cam)
        time.sleep(max(0.0, t0 + total - time.monotonic()))
        m1 = latency_sums(server, cam)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if probe:
            probe.join(60)
        res = []
        for name in outs:
            try:
                with open(name) as f:
                    res.append(json.load(f))
            except (OSError, ValueError):
                raise SystemExit(f"a reader gave no result ({name})")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for name in outs:
            if os.path.exists(name):
                os.unlink(name)
    send_ms = {}
    for k, (s1, n1) in m1.items():
        s0, n0 = m0.get(k, (0.0, 0.0))
        if n1 > n0:
            send_ms[k] = 1000 * (s1 - s0) / (n1 - n0)
    ws_us = t0_us + int(WARMUP * 1e6)
    we_us = ws_us + int(DURATION * 1e6)
    direct, via = summarize(res[0], ws_us, we_us), summarize(res[1], ws_us, we_us)
    # Per picture: the same bar seen by both readers.
    common = set(direct["_by_bar"]) & set(via["_by_bar"])
    diffs = [(via["_by_bar"][b] - direct["_by_bar"][b]) / 1000 for b in common]
    paired = {"n": len(diffs), "p50": pct(diffs, 50), "p95": pct(diffs, 95),
              "p99": pct(diffs, 99), "min": min(diffs) if diffs else None,
              "max": max(diffs) if diffs else None}
    for s in (direct, via):
        del s["_by_bar"]
    return direct, via, paired, ws.get("row"), send_ms


def f(x, spec="{:.1f}"):
    return "–" if x is None else spec.format(x)


def cold_reader(pl, url, proto, seconds=None):
    """One reader of a camera that is not running yet (the DESCRIBE starts it): its RTP
    counts over the whole run and its first pictures' latency."""
    seconds = seconds or WARMUP_COLD_S
    out = tempfile.NamedTemporaryFile(prefix="vigil-bench-glass-", suffix=".json", delete=False)
    out.close()
    try:
        t0_us = time.time_ns() // 1000
        warm = subprocess.run(
            ["taskset", "-c", pl.PROBE_CPU, "/usr/bin/python3", "-B", os.path.abspath(__file__),
             "--reader", url, proto, f"{seconds:g}", out.name], stdin=subprocess.DEVNULL,
            timeout=seconds + 60)
        if warm.returncode != 0:
            raise SystemExit("the warm-up reader failed")
        with open(out.name) as f:
            res = json.load(f)
    finally:
        os.unlink(out.name)
    s = summarize(res, t0_us, t0_us + int(seconds * 1e6))
    del s["_by_bar"], s["series"]
    return s


def av_read_hold(pl, url):
    """build/av_read_hold on the camera with libavformat's parsers and without, at once (as
    vigil reads a camera, and NAL unit by NAL unit): their JSON lines, or None when the tool
    is not built or HOLD_S is 0."""
    tool = os.path.join(os.path.dirname(pl.VIGIL) or ".", "av_read_hold")
    if HOLD_S <= 0 or not os.access(tool, os.X_OK):
        return None
    procs = [subprocess.Popen(["taskset", "-c", pl.PROBE_CPU, tool, url, f"{HOLD_S:g}"] + m,
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
             for m in ([], ["noparse"])]
    out = []
    for p in procs:
        try:
            text = p.communicate(timeout=HOLD_S + 30)[0]
            out.append(json.loads(text.strip().splitlines()[-1]))
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            p.kill()
            p.wait()
            out.append(None)
    return out


def rtp_text(rtp):
    return (f"{rtp['equal_ts']} / {rtp.get('backward_ts', 0)} / {rtp.get('odd_steps', 0)} "
            f"of {rtp['aus']}")


def ws_split(row):
    """From the WebSocket `source` viewer: (arrival - capture_us, arrival - ingest_us,
    ingest - capture_us) p50 in ms, or Nones."""
    if not row:
        return None, None, None
    p = row["probe"]
    a, b = p["latency_ms"]["p50"], p["server_latency_ms"]["p50"]
    return a, b, (a - b if a is not None and b is not None else None)


def main():
    import passlib as pl
    from rtsp_fanout import rtsp_port

    results = pl.results_path("rtsp_glass")
    rows = []
    sim = server = hold = None
    try:
        sim = pl.Sim(["--width", 1280, "--height", 720, "--fps", FPS, "--kbps", KBPS])
        # vigil reads the camera over the transport measured: cam over TCP, cam_udp over UDP,
        # so that "direct" and "via vigil" cross the same kind of hop from the simulator.
        # A camera stops IDLE_S after its last reader, so each pair finds the simulator with
        # no session of the other transport: the simulator's GStreamer server sends later to
        # every client while one reads over UDP.
        # cam is read by vigil's own RTSP client (?client=vigil), cam_ff by libavformat's
        # (?client=ffmpeg; transport "tcp-ffmpeg"), to compare the two in one run.
        server = pl.Server({"cam": sim.urls[0] + "?client=vigil",
                            "cam_udp": sim.urls[0] + "?transport=udp",
                            "cam_ff": sim.urls[0] + "?client=ffmpeg"},
                           extra=["--rtsp-listen", "127.0.0.1:0", "--idle-timeout", str(IDLE_S)])
        port = rtsp_port(server)
        sim_cpu0, t0 = sim.stats()["cpu_s"], time.monotonic()
        for rep in range(REPEAT):
            for proto in TRANSPORTS:
                cam = {"tcp": "cam", "udp": "cam_udp", "tcp-ffmpeg": "cam_ff"}[proto]
                hop = "udp" if proto == "udp" else "tcp"
                vigil_url = f"rtsp://127.0.0.1:{port}/cameras/{cam}"
                # The camera starts with the first DESCRIBE: a reader warms it up, and shows
                # what a reader sees of a camera that just started.
                cold = cold_reader(pl, vigil_url, hop)
                time.sleep(1)
                load0 = pl.loadavg()
                direct, via, paired, ws_row, send_ms = run_pair(
                    pl, server, cam, sim.urls[0], vigil_url, hop, pl.PROBE_CPU)
                row = {"bench": "rtsp_glass", "transport": proto, "camera": cam, "cold": cold,
                       "rep": rep, "fps": FPS, "kbps": KBPS, "duration_s": DURATION,
                       "warmup_s": WARMUP, "reader": READER, "direct": direct, "via_vigil": via,
                       "paired_ms": paired, "ws_source": ws_row,
                       "vigil_capture_to_send_ms": send_ms, "load_before": load0,
                       "load_after": pl.loadavg()}
                pl.append(results, row)
                rows.append(row)
                time.sleep(IDLE_S + 3)  # the camera stops and leaves the simulator
                d, v = direct["latency_ms"], via["latency_ms"]
                pl.log(f"{proto}: direct p50 {f(d['p50'])} ms, via vigil p50 {f(v['p50'])} ms, "
                       f"added p50 {f(v['p50'] - d['p50'] if d['p50'] and v['p50'] else None)} "
                       f"ms, paired p50 {f(paired['p50'])} ms; fps {direct['fps']:.1f} / "
                       f"{via['fps']:.1f}; RTP ts equal/backward/odd {rtp_text(direct['rtp'])}, "
                       f"{rtp_text(via['rtp'])}, cold "
                       f"{rtp_text(cold['rtp']) if cold else '-'}; ingest - capture "
                       f"{f(ws_split(ws_row)[2])} ms; capture to send {send_ms}; load {load0}")
        sim_pct = 100 * (sim.stats()["cpu_s"] - sim_cpu0) / (time.monotonic() - t0)
        hold = av_read_hold(pl, sim.urls[0])
        if hold:
            pl.append(results, {"bench": "rtsp_glass", "av_read_hold": hold, "fps": FPS})
    finally:
        if server:
            server.stop()
        if sim:
            sim.stop()
    print("| transport | reader | pictures (fps) | latency p50 / p95 / p99 ms "
          "| AU complete p50 ms | decode p50 ms | AUs: RTP ts equal / backward / off the "
          "frame interval | RTP seq gaps |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        for name, s in (("direct", r["direct"]), ("via vigil", r["via_vigil"])):
            lat = s["latency_ms"]
            print(f"| {r['transport'].upper()} | {name} | {s['pictures']} ({s['fps']:.1f}) "
                  f"| {f(lat['p50'])} / {f(lat['p95'])} / {f(lat['p99'])} "
                  f"| {f(s['au_ms']['p50'])} | {f(s['decode_ms']['p50'])} "
                  f"| {rtp_text(s['rtp'])} | {s['rtp']['seq_gaps']} |")
        c = r.get("cold")
        if c:
            lat = c["latency_ms"]
            print(f"| {r['transport'].upper()} | via vigil, cold camera (first "
                  f"{WARMUP_COLD_S:g} s) | {c['pictures']} | {f(lat['p50'])} / {f(lat['p95'])} / "
                  f"{f(lat['p99'])} | {f(c['au_ms']['p50'])} | {f(c['decode_ms']['p50'])} "
                  f"| {rtp_text(c['rtp'])} | {c['rtp']['seq_gaps']} |")
    print()
    print("| transport | vigil adds, p50 / p95 / p99 ms (via - direct) "
          "| same picture, via - direct: p50 / p95 / p99 ms (pictures) | target |")
    print("|---|---|---|---|")
    for r in rows:
        d, v, pr = r["direct"]["latency_ms"], r["via_vigil"]["latency_ms"], r["paired_ms"]
        add = [v[k] - d[k] if v[k] is not None and d[k] is not None else None
               for k in ("p50", "p95", "p99")]
        ok = add[0] is not None and add[0] <= 5
        print(f"| {r['transport'].upper()} | {f(add[0])} / {f(add[1])} / {f(add[2])} "
              f"| {f(pr['p50'])} / {f(pr['p95'])} / {f(pr['p99'])} ({pr['n']}) "
              f"| {'met' if ok else 'NOT met'} (<= 5 ms p50) |")
    print()
    print("| transport | frame interval ms | vigil: ingest - capture_us p50 ms (WS source viewer) "
          "| vigil: capture_us to socket write, mean ms: RTSP / WS | WS viewer: arrival - "
          "ingest_us p50 ms |")
    print("|---|---|---|---|---|")
    for r in rows:
        _, post, pre = ws_split(r["ws_source"])
        sm = r["vigil_capture_to_send_ms"]
        print(f"| {r['transport'].upper()} | {1000 / r['fps']:.1f} | {f(pre)} "
              f"| {f(sm.get('rtsp'))} / {f(sm.get('ws'))} | {f(post, '{:.2f}')} |")
    if hold and all(hold):
        print()
        print("| libavformat RTSP demuxer (vigil's ingest), TCP | access units "
              "| complete - capture p50 / p95 ms |")
        print("|---|---|---|")
        for h in hold:
            what = ("with its parsers (as vigil reads)" if h["mode"] == "parsed"
                    else "AVFMT_FLAG_NOPARSE (last NAL unit of each)")
            print(f"| {what} | {h['n']} | {h['p50_ms']:.1f} / {h['p95_ms']:.1f} |")
        print(f"\nthe parser holds each access unit {hold[0]['p50_ms'] - hold[1]['p50_ms']:.1f} ms"
              f" (p50); the frame interval is {1000 / FPS:.1f} ms")
    print(f"\ncamera {FPS} fps, {KBPS} kbit/s; simulator {sim_pct:.0f}% of a core; reader: "
          f"{READER}; raw results: {results}")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--reader":
        sys.exit(reader_main(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]))
    main()
