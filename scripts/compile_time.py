#!/usr/bin/env python3
"""Compile time against model size: a benchmark, not a test.

Writes GPT-shaped models of a small width with enough blocks for each requested op count,
compiles each with `tfc compile` (object + header, the default target) and prints seconds per
1,000 ops, so that a step that grows faster than the op count shows as a growing rate.

  python3 scripts/compile_time.py [--tfc .build/release/tfc] [--ops 2000,20000] [--width 64]

Each GPT block is 10 ops (two layernorms, four linears, attention, GELU, two adds); the stem and
the head add 5. Run from the repository root; needs a built tfc (swift build -c release).
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_examples import gpt  # noqa: E402

OPS_PER_BLOCK = 10
STEM_AND_HEAD_OPS = 5


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tfc", default=".build/release/tfc")
    parser.add_argument("--ops", default="2000,20000", help="comma-separated op counts (default 2000,20000)")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--emit-ir", action="store_true", help="also write the unoptimized IR (for profiling)")
    args = parser.parse_args()
    if not os.access(args.tfc, os.X_OK):
        sys.exit(f"compile_time.py: no tfc at {args.tfc} (swift build -c release)")
    counts = [int(n) for n in args.ops.split(",")]
    d = args.width
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for target in counts:
            blocks = max(1, (target - STEM_AND_HEAD_OPS) // OPS_PER_BLOCK)
            ops = blocks * OPS_PER_BLOCK + STEM_AND_HEAD_OPS
            path = os.path.join(tmp, f"gpt{blocks}.tir")
            with open(path, "w") as f:
                f.write(gpt(d=d, layers=blocks, heads=4, mlp=4 * d, vocab=256, max_seq=64, name=f"gpt{blocks}"))
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            cmd = [args.tfc, "compile", path, "-o", os.path.join(tmp, f"gpt{blocks}.o"), "--quiet"]
            result = subprocess.run(cmd, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if result.returncode != 0:
                sys.exit(f"compile_time.py: {' '.join(cmd)} failed:\n{result.stderr}")
            peak_mb = after.ru_maxrss / 1024  # the largest child so far (Linux reports KiB)
            rows.append((ops, seconds, after.ru_utime - before.ru_utime, peak_mb))
            print(f"{ops:7d} ops  {seconds:8.2f} s  {1000 * seconds / ops:6.3f} s per 1,000 ops  "
                  f"(peak RSS so far {peak_mb:.0f} MB)", flush=True)
    if len(rows) > 1:
        (n0, s0, _, _), (n1, s1, _, _) = rows[0], rows[-1]
        print(f"{n1 / n0:.1f}x the ops took {s1 / s0:.1f}x the time "
              f"(linear would be {n1 / n0:.1f}x)")


if __name__ == "__main__":
    main()
