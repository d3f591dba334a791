#!/usr/bin/env bash
# Install Debian packages with apt when their commands are missing; explain clearly when we cannot.
#   tools/ensure_apt.sh COMMAND PACKAGE WHY [COMMAND PACKAGE WHY ...]
# COMMAND may be a path (it holds a '/'): then the file must exist (a library, not a command).
# Every missing package is installed by one `apt-get update` and one `apt-get install` (a
# fresh machine pays the package index and the triggers once, not once per package).
# iverilog: the cocotb simulations (Icarus Verilog >= 11). yosys: `make ppa` needs the native
# build with ABC; the PyPI WebAssembly one stops inside ABC on these machines (DESIGN 8).
set -euo pipefail
[ $# -eq 2 ] && set -- "$1" "$2" ""  # one package, no reason given
if [ $(($# % 3)) -ne 0 ] || [ $# -eq 0 ]; then
    echo "usage: $0 COMMAND PACKAGE WHY [COMMAND PACKAGE WHY ...]" >&2
    exit 2
fi
present() { case $1 in */*) [ -e "$1" ] ;; *) command -v "$1" >/dev/null 2>&1 ;; esac; }
cmds=() pkgs=()
while [ $# -gt 0 ]; do
    if ! present "$1"; then
        echo "$1 not found: installing the Debian package '$2' with apt-get ${3:+($3)} ..." >&2
        cmds+=("$1") pkgs+=("$2")
    fi
    shift 3
done
[ ${#pkgs[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: ${cmds[*]} missing and this user is not root and has no sudo;" >&2
        echo "       install them yourself (apt-get install ${pkgs[*]}) and re-run." >&2
        exit 1
    fi
fi
if ! { $SUDO apt-get update -qq &&
       $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; }; then
    echo "error: 'apt-get install ${pkgs[*]}' failed; install them yourself and re-run." >&2
    exit 1
fi
for cmd in "${cmds[@]}"; do
    present "$cmd" || { echo "error: $cmd still missing after apt-get" >&2; exit 1; }
done
