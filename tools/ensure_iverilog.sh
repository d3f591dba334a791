#!/usr/bin/env bash
# Install Icarus Verilog with apt when it is missing; explain clearly when we cannot.
set -euo pipefail
if command -v iverilog >/dev/null 2>&1; then
    exit 0
fi
echo "iverilog not found: installing the Debian package 'iverilog' with apt-get ..." >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: iverilog is missing and this user is not root and has no sudo;" >&2
        echo "       install it yourself (apt-get install iverilog) and re-run." >&2
        exit 1
    fi
fi
if ! { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog; }; then
    echo "error: 'apt-get install iverilog' failed; install Icarus Verilog (>= 11) and re-run." >&2
    exit 1
fi
command -v iverilog >/dev/null 2>&1 || { echo "error: iverilog still not on PATH after apt-get" >&2; exit 1; }
