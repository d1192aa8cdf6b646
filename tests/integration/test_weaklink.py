"""Issue 19, the short version of bench/weaklink.py: two network namespaces (198.18.0.1 and
198.19.0.1, the benchmarking range) joined by build/linkemu at 2 Mbit/s, 100 ms each way and
1% loss; vigil in one, an adaptive viewer of the 720p30 detailed test camera in the other,
the server on bbr.

The viewer's thresholds are what the server met before the adaptation work of issue 19
(this test, 3 runs: fps median 10, latency p50 304-315 ms, p95 857-1,209 ms, p99 1,157-1,252
ms; 1.84-1.94 Mbit/s received): they catch a broken link or server, and are to be tightened
to the issue's targets (>= 15 fps, p50 <= 250 ms, p95 <= 500 ms) when the adaptation lands."""
import os
import statistics
import sys
import tempfile
import types

import pytest

from conftest import REPO, VIGIL_BIN

sys.path.insert(0, os.path.join(REPO, "bench"))
import weaklink  # noqa: E402

LINKEMU = os.environ.get("LINKEMU") or os.path.join(os.path.dirname(VIGIL_BIN), "linkemu")
PROFILE = weaklink.PROFILES["2M"]

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and TUN"),
    pytest.mark.skipif(not os.path.exists("/dev/net/tun"), reason="no /dev/net/tun"),
    pytest.mark.skipif(not os.access(LINKEMU, os.X_OK),
                       reason="no linkemu binary at %s (build with meson)" % LINKEMU),
]


@pytest.fixture(scope="module")
def bed():
    b = weaklink.Testbed(LINKEMU)
    try:
        workdir = tempfile.mkdtemp(prefix="weaklink-test-")
        b.db, b.key = weaklink.make_db(VIGIL_BIN, workdir)
        b.workdir = workdir
        yield b
    finally:
        b.close()
        assert not [ns for ns in (b.ns_a, b.ns_b) if os.path.exists("/run/netns/" + ns)], \
            "namespaces left behind"


def test_emulated_link_has_its_delay_rate_and_loss(bed):
    c = weaklink.check_link(bed, "2M", seconds=5, samples=10)
    rtt = statistics.median(c["rtt_ms"])
    assert len(c["rtt_ms"]) >= 8, c
    # A TCP connect is one round trip: 2 x 100 ms, plus a SYN's serialization at 2 Mbit/s.
    assert 180 <= rtt <= 220, "RTT by TCP connect %.1f ms, expected 200 +- 20: %s" % (rtt, c)
    # Goodput under the link rate (headers take ~3.5%), and not far under it.
    assert 0.6 * PROFILE["rate_kbit"] <= c["kbit_s"] <= PROFILE["rate_kbit"], c
    to_b = c["emulator"]["ab"]
    # 1% of ~800+ packets: none lost would be a broken emulator (p < 1e-3).
    assert to_b["dropped_loss"] >= 1, c
    assert to_b["dropped_loss"] <= 0.03 * to_b["received"], c
    assert to_b["dropped_full"] == 0, c
    # The emulator releases packets on time (it runs SCHED_FIFO).
    assert to_b["late_p50_le_us"] <= 500, c


def measure(bed, record_property, profile, cc, mode):
    """12 s of one auto viewer over the profile's link; the row, checked to have run."""
    args = types.SimpleNamespace(vigil=VIGIL_BIN, seconds=12, warmup=2.0)
    row = weaklink.measure_profile(bed, args, profile, cc, mode, bed.workdir)
    for k in ("fps_median", "lat_p50", "lat_p95", "lat_p99", "kbit_s", "max_gap_ms",
              "tier_seconds"):
        record_property(k, row.get(k))
    print("weaklink %s %s %s auto: %s" % (profile, cc, mode, weaklink.row_md(row)))
    assert row["error"] is None, row
    assert row["server_exit"] == 0, row
    assert cc in (row["server_tcp_midway"] or ""), row
    return row


def test_auto_viewer_over_2mbit_100ms_1pct_loss(bed, record_property):
    row = measure(bed, record_property, "2M", "bbr", "jpeg")
    assert row["frames"] > 0, row
    # With delay-based adaptation (adapt.h) the viewer settles on a rung the link carries:
    # before it, this link gave 10 fps at p50 304-315 ms, p95 818-1,209 ms. Now (20 s runs of
    # bench/weaklink.py): 13-15 fps, p50 141-160 ms, p95 366-875 ms. The bounds leave room for
    # a loaded machine and the short run's first seconds (it starts at medium, 12 Mbit/s).
    assert row["fps_median"] >= 8, row
    assert row["lat_p50"] <= 300, row
    assert row["lat_p95"] <= 1500, row
    # The viewer cannot receive more than the link carries.
    assert row["kbit_s"] <= PROFILE["rate_kbit"], row
    assert row["emulator"]["ab"]["dropped_loss"] >= 1, row


def test_h264_viewer_over_1mbit_200ms_2pct_loss_under_cubic(bed, record_property):
    # The hardest row of the issue: cubic carries 170-330 kbit/s of this link, where no JPEG
    # rung keeps 10 fps (docs/benchmarks.md). A viewer that decodes avc1 gets vigil's H.264
    # rungs: 20 s runs of bench/weaklink.py gave 10-15 fps, p50 225-419 ms, p95 436-838 ms.
    # The bounds leave room for a loaded machine and the short run's first seconds (it starts
    # on `source`, 3 Mbit/s).
    row = measure(bed, record_property, "1M", "cubic", "source")
    tiers = row["tier_seconds"] or {}
    assert any(name.startswith("h264-") for name in tiers), tiers
    assert row["fps_median"] >= 8, row
    assert row["lat_p50"] <= 500, row
    assert row["lat_p95"] <= 1500, row
    assert row["kbit_s"] <= 1000, row


def test_h264_viewer_over_5mbit_40ms_leaves_source_for_its_keyframes(bed, record_property):
    # The link carries the camera's own 3 Mbit/s, but not its keyframes in time (up to 180 KB
    # every 2 s: 160 ms and more at 5 Mbit/s, and p95 300-380 ms on `source`). The stream's
    # keyframe sizes reach the policy (adapt.h, "Keyframes"), which moves the viewer to
    # h264-medium: 30 s runs of bench/weaklink.py gave p95 64-65 ms.
    row = measure(bed, record_property, "5M", "bbr", "source")
    tiers = row["tier_seconds"] or {}
    assert tiers and max(tiers, key=tiers.get) == "h264-medium", tiers
    assert row["fps_median"] >= 25, row
    assert row["lat_p95"] <= 300, row
