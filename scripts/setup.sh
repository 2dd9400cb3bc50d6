#!/usr/bin/env bash
# Installs what tfc needs beyond Swift: LLVM 19's C API (Debian's llvm-19-dev) and a C compiler.
# Idempotent: installs only what is missing. Usage: scripts/setup.sh
set -euo pipefail

missing=()
[ -f /usr/lib/llvm-19/include/llvm-c/Core.h ] && ls /usr/lib/*/libLLVM-19.so* >/dev/null 2>&1 || missing+=(llvm-19-dev)
[ -x /usr/lib/llvm-19/bin/FileCheck ] || missing+=(llvm-19-tools)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "setup: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "setup: ${missing[*]} missing and not root: install them with apt-get (Debian 12 / Ubuntu 24.04 have llvm-19-dev)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: no apt-get here: install LLVM 19 (its C API headers and libLLVM-19.so) and a C compiler by hand" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    echo "setup: apt-get could not install ${missing[*]}; this needs a Debian/Ubuntu release that packages llvm-19-dev" >&2
    exit 1
fi
