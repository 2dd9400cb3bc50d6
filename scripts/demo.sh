#!/usr/bin/env bash
# The main job on the bundled example: compile Examples/gpt-tiny.tir to an object file and a C
# header, link it into the C program Examples/c/gpt_demo.c, and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product tfc
tfc=$(swift build -c release --show-bin-path)/tfc
mkdir -p build
"$tfc" compile Examples/gpt-tiny.tir -o build/gpt_tiny.o
cc -std=c11 -O2 -I build Examples/c/gpt_demo.c build/gpt_tiny.o -lm -lpthread -o build/gpt_demo
echo "+ build/gpt_demo 15 27 3 99"
build/gpt_demo 15 27 3 99
echo "+ build/gpt_demo 15 300    (an id outside the vocabulary: the compiled code refuses it)"
build/gpt_demo 15 300 || echo "(exit status $?)"
