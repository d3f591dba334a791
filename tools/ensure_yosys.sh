#!/usr/bin/env bash
# Install Debian's Yosys (with its bundled ABC) with apt when missing: `make ppa` needs the
# native build, the PyPI WebAssembly one stops inside ABC on these machines (DESIGN 8).
set -euo pipefail
if command -v yosys >/dev/null 2>&1; then
    exit 0
fi
echo "yosys not found: installing the Debian package 'yosys' with apt-get ..." >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: yosys is missing and this user is not root and has no sudo;" >&2
        echo "       install it yourself (apt-get install yosys) and re-run." >&2
        exit 1
    fi
fi
if ! { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends yosys; }; then
    echo "error: 'apt-get install yosys' failed; install Yosys (>= 0.23; it must run abc) and re-run." >&2
    exit 1
fi
command -v yosys >/dev/null 2>&1 || { echo "error: yosys still not on PATH after apt-get" >&2; exit 1; }
