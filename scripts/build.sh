#!/usr/bin/env bash
# Configures and builds vigil: build/ (release, warnings are errors) and, with --asan,
# build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer), build-tsan/ (ThreadSanitizer)
# and build-fuzz/ (clang,
# libFuzzer targets) for the tests.
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
ninja -C build
if [ "${1:-}" = "--asan" ]; then
    [ -f build-asan/build.ninja ] || meson setup build-asan -Dwerror=true -Dbuildtype=debug \
        -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
    ninja -C build-asan
    [ -f build-tsan/build.ninja ] || meson setup build-tsan -Dwerror=true -Dbuildtype=debug \
        -Db_sanitize=thread -Db_lundef=false >/dev/null
    ninja -C build-tsan
    [ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true -Dwerror=true \
        -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
    ninja -C build-fuzz
fi
