#!/usr/bin/env bash
# Installs what vigil needs to build, run and test on Debian 12, only if something is
# missing. Needs root or sudo. Every Debian package vigil uses is named here.
set -euo pipefail

BUILD=(meson ninja-build pkg-config gcc python3)
LIBS=(libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libavcodec-dev libavformat-dev
      libavutil-dev libswscale-dev libavdevice-dev libturbojpeg0-dev libjpeg62-turbo-dev
      libjansson-dev libcyaml-dev libssl-dev libsodium-dev libsqlite3-dev
      libcurl4-openssl-dev libxml2-dev libpq-dev)
TEST=(python3-pytest python3-pytest-xdist python3-websockets python3-requests python3-pil
      python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
      gstreamer1.0-plugins-ugly gstreamer1.0-libav ffmpeg chromium valgrind
      clang libclang-rt-14-dev sqlite3 python3-jsonschema python3-jwt python3-cryptography openssl
      nginx postgresql postgresql-client nftables)

want=("${BUILD[@]}" "${LIBS[@]}")
if [ "${1:-}" = "--test" ]; then
    want+=("${TEST[@]}")
fi
# Node.js and npm drive the browser tests and fetch the dashboard's hls.js (web/package.json,
# which Debian does not package); a machine may already have them from elsewhere.
web_dir="$(cd "$(dirname "$0")/../web" && pwd)"
need_web=false
if [ ! -f "$web_dir/node_modules/hls.js/dist/hls.light.min.js" ]; then
    need_web=true
fi
if { [ "${1:-}" = "--test" ] || $need_web; } && ! command -v npm >/dev/null 2>&1; then
    want+=(nodejs npm)
fi

# hls.js, pinned by web/package-lock.json, for the dashboard's HLS player (as the current
# user: root is only needed for apt).
install_web() {
    if $need_web; then
        echo "install-deps: installing web/ npm packages (hls.js)"
        (cd "$web_dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    install_web
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_web
