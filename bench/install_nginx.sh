#!/bin/sh
# Install nginx for the benchmark target if it is missing (Debian/Ubuntu; used by `make bench`).
# Without nginx, bench/run.py falls back to a stdlib Python server and says so.
set -eu
if command -v nginx >/dev/null 2>&1; then
    echo "nginx: $(nginx -v 2>&1)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "nginx not found and apt-get is unavailable: the benchmark will use its Python fallback target" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "nginx not found and not root (no sudo): the benchmark will use its Python fallback target" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq nginx-light || $SUDO apt-get install -y -qq nginx
# Debian's package may start a system nginx on port 80; the benchmark runs its own instance.
echo "nginx: $(nginx -v 2>&1)"
