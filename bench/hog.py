#!/usr/bin/python3
"""A CPU hog for contention experiments (docs/benchmarks.md, fan-out): busy for DUTY of
every 100 ms for SECONDS. Run it pinned to the server's core, e.g.
    taskset -c 0 bench/hog.py 30 0.35 &
usage: bench/hog.py SECONDS DUTY(0..1)"""
import sys
import time

if len(sys.argv) != 3:
    raise SystemExit(__doc__)
end = time.monotonic() + float(sys.argv[1])
duty = min(1.0, max(0.0, float(sys.argv[2])))
while time.monotonic() < end:
    t = time.monotonic()
    while time.monotonic() - t < 0.1 * duty:
        pass
    time.sleep(0.1 * (1 - duty))
