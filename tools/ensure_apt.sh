#!/usr/bin/env bash
# Install a Debian package with apt when its command is missing; explain clearly when we cannot.
#   tools/ensure_apt.sh COMMAND PACKAGE WHY
# iverilog: the cocotb simulations (Icarus Verilog >= 11). yosys: `make ppa` needs the native
# build with ABC; the PyPI WebAssembly one stops inside ABC on these machines (DESIGN 8).
set -euo pipefail
cmd=$1 pkg=$2 why=${3:-}
if command -v "$cmd" >/dev/null 2>&1; then
    exit 0
fi
echo "$cmd not found: installing the Debian package '$pkg' with apt-get ${why:+($why)} ..." >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: $cmd is missing and this user is not root and has no sudo;" >&2
        echo "       install it yourself (apt-get install $pkg) and re-run." >&2
        exit 1
    fi
fi
if ! { $SUDO apt-get update -qq &&
       $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg"; }; then
    echo "error: 'apt-get install $pkg' failed; install it yourself and re-run." >&2
    exit 1
fi
command -v "$cmd" >/dev/null 2>&1 || { echo "error: $cmd still not on PATH after apt-get" >&2; exit 1; }
