#!/usr/bin/env python3
"""Adds up the results of every test runner in a folder and prints 'N passed, N failed'.
Exits 1 when anything failed or a runner produced no result at all."""
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def main():
    d = Path(sys.argv[1])
    passed = failed = skipped = 0
    missing = []
    for name in ("unit", "unit-tsan", "fuzz"):
        log = d / f"{name}.json"
        if not log.exists():
            missing.append(name)
            continue
        for line in log.read_text().splitlines():
            r = json.loads(line)
            if r.get("result") == "OK":
                passed += 1
            elif r.get("result") == "SKIP":
                skipped += 1
            else:
                failed += 1
    # The integration suite runs in two parts (scripts/test.sh): on two cores with
    # pytest-xdist, whose controller writes one JUnit file as pytest does, then the serial tests.
    for name in ("integration", "integration-serial"):
        xml = d / f"{name}.xml"
        if not xml.exists():
            missing.append(name)
            continue
        for suite in ET.parse(xml).getroot().iter("testsuite"):
            t, f, e, s = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
            passed += t - f - e - s
            failed += f + e
            skipped += s
    tap = d / "browser.tap"
    text = tap.read_text() if tap.exists() else ""
    p, f = re.search(r"^# pass (\d+)", text, re.M), re.search(r"^# fail (\d+)", text, re.M)
    if p and f:
        passed += int(p.group(1))
        failed += int(f.group(1))
    else:
        missing.append("browser")
    for m in missing:
        print(f"no results from the {m} tests")
        failed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
