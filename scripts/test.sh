#!/usr/bin/env bash
# Runs every test: C unit tests under ASan+UBSan and under TSan, the libFuzzer targets for a bounded time,
# the Python integration suite against the real binary, and the browser test in Debian's
# Chromium. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test || exit 1
if [ ! -d tests/browser/node_modules/playwright-core ] ||
   [ ! -d tests/browser/node_modules/@apidevtools/swagger-parser ]; then
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) || exit 1
fi
bash scripts/build.sh --asan || exit 1

results=build/test-results
rm -rf "$results" && mkdir -p "$results"

echo "== unit tests (ASan+UBSan)"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    meson test -C build-asan --suite unit --print-errorlogs
cp build-asan/meson-logs/testlog.json "$results/unit.json" 2>/dev/null

echo "== unit tests (ThreadSanitizer)"
TSAN_OPTIONS=halt_on_error=1 meson test -C build-tsan --suite unit --print-errorlogs
cp build-tsan/meson-logs/testlog.json "$results/unit-tsan.json" 2>/dev/null

echo "== fuzz targets (15 s each)"
meson test -C build-fuzz --suite fuzz --print-errorlogs
cp build-fuzz/meson-logs/testlog.json "$results/fuzz.json" 2>/dev/null

echo "== integration tests"
VIGIL_BIN="$PWD/build/vigil" VIGIL_ASAN_BIN="$PWD/build-asan/vigil" \
    VIGIL_TSAN_BIN="$PWD/build-tsan/vigil" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration \
    --junitxml="$results/integration.xml"

echo "== browser tests (the dashboard in Chromium; the OpenAPI document)"
(cd tests/browser && VIGIL_BIN="$PWD/../../build/vigil" node --test --test-reporter=tap \
    dashboard.test.mjs openapi.test.mjs login.test.mjs) | tee "$results/browser.tap"

/usr/bin/python3 scripts/summarize.py "$results"
