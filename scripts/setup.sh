#!/usr/bin/env bash
# Installs what tfc needs beyond Swift: LLVM 19's C API (Debian's llvm-19-dev) and a C compiler.
# Also, for the tests of compiled code (Docs/testing.md), when the package manager has them:
# an aarch64 cross compiler and qemu-user (CrossTargetTests; not on aarch64 hosts) and clang 19
# with its sanitizer runtimes (SanitizerTests). Those tests are skipped where these are missing,
# so failing to install them is a warning, not an error.
# Idempotent: installs only what is missing. Usage: scripts/setup.sh
set -euo pipefail

missing=()
[ -f /usr/lib/llvm-19/include/llvm-c/Core.h ] && ls /usr/lib/*/libLLVM-19.so* >/dev/null 2>&1 || missing+=(llvm-19-dev)
[ -x /usr/lib/llvm-19/bin/FileCheck ] || missing+=(llvm-19-tools)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)

optional=()
if [ "$(uname -m)" != aarch64 ]; then
    command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || optional+=(gcc-aarch64-linux-gnu)
    [ -f /usr/aarch64-linux-gnu/lib/libc.a ] || optional+=(libc6-dev-arm64-cross)
    command -v qemu-aarch64 >/dev/null 2>&1 || command -v qemu-aarch64-static >/dev/null 2>&1 || optional+=(qemu-user)
fi
command -v clang-19 >/dev/null 2>&1 || optional+=(clang-19)
ls /usr/lib/llvm-19/lib/clang/*/lib/*/libclang_rt.asan* >/dev/null 2>&1 || optional+=(libclang-rt-19-dev)

if [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: ${missing[*]} missing and not root: install them with apt-get (Debian 12 / Ubuntu 24.04 have llvm-19-dev)" >&2
        exit 1
    fi
    echo "setup: not root: the aarch64 and sanitizer tests will be skipped without ${optional[*]}" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: no apt-get here: install LLVM 19 (its C API headers and libLLVM-19.so) and a C compiler by hand" >&2
        exit 1
    fi
    echo "setup: no apt-get here: the aarch64 and sanitizer tests will be skipped without ${optional[*]}" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        echo "setup: apt-get could not install ${missing[*]}; this needs a Debian/Ubuntu release that packages llvm-19-dev" >&2
        exit 1
    fi
fi
if [ ${#optional[@]} -gt 0 ]; then
    echo "setup: installing ${optional[*]} (for the aarch64 and sanitizer tests)" >&2
    if ! $SUDO apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null 2>&1; then
        # One at a time, so that one package this release lacks does not hold back the others.
        for package in "${optional[@]}"; do
            if ! $SUDO apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1; then
                echo "setup: warning: apt-get could not install $package; the tests that need it will be skipped" >&2
            fi
        done
    fi
fi
