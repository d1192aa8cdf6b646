#!/usr/bin/env python3
"""Adds up the results of every test runner in a folder and prints 'N passed, N failed'.
Exits 1 when anything failed or a runner produced no result at all.

A test that failed on the loaded machine (beside the other tests) and was then run again
alone by scripts/test.sh counts by that second run, and is listed: a real fault fails there
too, a bound the load broke does not. `--failed-integration DIR` and `--failed-browser DIR`
print what to run again (nothing when more failed than a load explains)."""
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

# More failures than this in one runner is not the load: nothing is run again. With the
# sanitizer and fuzz builds in the background (scripts/test.sh), 4 and 5 timing tests of
# the parallel stage failed beside the others in the runs of 2026-12-06 and passed alone:
# 12 leaves room for that, and each run again costs about 5 s.
MAX_AGAIN = 12


def junit_cases(xml):
    """{node id: 'passed'|'failed'|'skipped'} of a pytest JUnit file."""
    out = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = case.get("name").split("@", 1)[0]  # xdist's group suffix
        node = "tests/integration/%s.py::%s" % (case.get("classname").split(".")[-1], name)
        if case.find("failure") is not None or case.find("error") is not None:
            out[node] = "failed"
        elif case.find("skipped") is not None:
            out[node] = "skipped"
        else:
            out[node] = "passed"
    return out


def tap_counts(path):
    text = path.read_text() if path.exists() else ""
    p, f = re.search(r"^# pass (\d+)", text, re.M), re.search(r"^# fail (\d+)", text, re.M)
    failing = re.findall(r"^not ok \d+ - (.*)$", text, re.M)
    return (int(p.group(1)), int(f.group(1)), failing) if p and f else None


def failed_integration(d):
    failed = []
    for name in ("integration", "integration-serial"):
        xml = d / f"{name}.xml"
        if xml.exists():
            failed += [n for n, r in junit_cases(xml).items() if r == "failed"]
    return failed if len(failed) <= MAX_AGAIN else []


def failed_browser(d):
    files = []
    for tap in sorted(d.glob("browser-*.tap")):
        if tap.name.endswith(".again.tap"):
            continue
        c = tap_counts(tap)
        if c is None or c[1] > 0:
            files.append(tap.name[len("browser-"):-len(".tap")])
    return files if len(files) <= 2 else []


def main():
    if len(sys.argv) == 3 and sys.argv[1] in ("--failed-integration", "--failed-browser"):
        d = Path(sys.argv[2])
        for x in (failed_integration if sys.argv[1] == "--failed-integration" else failed_browser)(d):
            print(x)
        return 0
    d = Path(sys.argv[1])
    passed = failed = skipped = 0
    missing, again_passed = [], []
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
    # pytest-xdist, whose controller writes one JUnit file as pytest does, then the serial
    # tests; then the failed ones again, alone.
    again_file = d / "integration-again.xml"
    again = junit_cases(again_file) if again_file.exists() else {}
    for name in ("integration", "integration-serial"):
        xml = d / f"{name}.xml"
        if not xml.exists():
            missing.append(name)
            continue
        for node, r in junit_cases(xml).items():
            if r == "failed" and again.get(node) == "passed":
                again_passed.append(node)
                r = "passed"
            passed += r == "passed"
            failed += r == "failed"
            skipped += r == "skipped"
    browser = sorted(t for t in d.glob("browser-*.tap") if not t.name.endswith(".again.tap"))
    if not browser:
        missing.append("browser")
    for tap in browser:
        c = tap_counts(tap)
        rerun = tap.with_name(tap.name[:-len(".tap")] + ".again.tap")
        if rerun.exists() and (c is None or c[1] > 0):
            second = tap_counts(rerun)
            if second is not None and second[1] == 0 and c is not None:
                again_passed += ["%s: %s" % (tap.name[len("browser-"):-len(".tap")], n)
                                 for n in c[2]]
            c = second
        if c is None:
            missing.append(tap.name)
            continue
        passed += c[0]
        failed += c[1]
    for t in again_passed:
        print(f"failed beside the other tests, passed when run again alone: {t}")
    for m in missing:
        print(f"no results from the {m} tests")
        failed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
