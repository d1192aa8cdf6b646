#!/usr/bin/env bash
# Configures and builds vigil: build/ (release, warnings are errors); with --asan, what the
# tests run of it and build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer); with
# --tsan-fuzz, build-tsan/ (ThreadSanitizer) and build-fuzz/ (clang, libFuzzer targets).
set -euo pipefail
cd "$(dirname "$0")/.."
# meson looks for web/node_modules's hls.js when it configures (meson.build): a build
# directory configured before `npm ci` ran in web/ configures again to embed it.
for d in build build-asan build-tsan build-fuzz; do
    if [ -f "$d/build.ninja" ] && [ -f web/node_modules/hls.js/dist/hls.light.min.js ] &&
       ! grep -q 'hls.light.min.js' "$d/build.ninja"; then
        meson setup --reconfigure "$d" >/dev/null
    fi
done
[ -f build/build.ninja ] || meson setup build -Dwerror=true -Dbuildtype=debugoptimized >/dev/null
# The sanitizer and fuzz builds serve the tests only: the server and the unit tests, or
# the fuzz targets, and not the tools and benches (a third of the fuzz build's time).
# (build.ninja first: after a change to meson.build it lists the targets as they are now)
targets() {
    ninja -C "$1" build.ninja >/dev/null
    ninja -C "$1" -t targets all | grep -oE "^($2):" | tr -d : | sort -u
}
if [ "${1:-}" = "--tsan-fuzz" ]; then
    # scripts/test.sh runs this in the background, after --asan.
    [ -f build-tsan/build.ninja ] || meson setup build-tsan -Dwerror=true -Dbuildtype=debug \
        -Db_sanitize=thread -Db_lundef=false >/dev/null
    ninja -C build-tsan $(targets build-tsan 'vigil|test_[a-z0-9_]+')
    [ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true -Dwerror=true \
        -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
    ninja -C build-fuzz $(targets build-fuzz 'fuzz_[a-z0-9_]+')
    exit 0
fi
if [ "${1:-}" = "--asan" ]; then
    # For the tests: the server and the tools the integration tests run (the unit tests run
    # in the sanitizer builds; the benches are built by a plain build): 14 s less.
    ninja -C build vigil rtp_send linkemu fmp4_write
else
    ninja -C build
fi
if [ "${1:-}" = "--asan" ]; then
    [ -f build-asan/build.ninja ] || meson setup build-asan -Dwerror=true -Dbuildtype=debug \
        -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
    ninja -C build-asan $(targets build-asan 'vigil|test_[a-z0-9_]+')
fi
