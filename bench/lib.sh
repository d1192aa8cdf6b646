# Sourced by the bench/*.sh wrappers: checks what a benchmark needs and names the machine.
#   bench_preflight NAME TOOL...   (run from the repository root, VIGIL set)
bench_preflight() {
    local name="$1"
    shift
    if [ ! -x "$VIGIL" ]; then
        echo "$name: no $VIGIL; build first (make build) or set VIGIL" >&2
        exit 1
    fi
    local tool
    for tool in taskset /usr/bin/python3 "$@"; do
        command -v "$tool" >/dev/null || { echo "$name: $tool is missing" >&2; exit 1; }
    done
    if [ "$(nproc)" -lt 2 ]; then
        echo "$name: needs 2 cores (vigil on one, its load on the other)" >&2
        exit 1
    fi
    echo "$name: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')," \
         "kernel $(uname -r), Debian $(cat /etc/debian_version 2>/dev/null || echo '?')" >&2
}
