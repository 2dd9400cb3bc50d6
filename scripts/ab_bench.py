#!/usr/bin/env python3
"""Times one model compiled by two tfc builds, interleaved in one process.

    scripts/ab_bench.py OLD_TFC NEW_TFC MODEL.tir [--seq N] [--threads T] [--rounds R]

Each build compiles MODEL.tir into an object under its own C prefix (a_, b_); a generated C
harness links both and calls them in turns (a, b, a, b, ...), so machine noise falls on both
alike. Prints each build's median call time, the ratio new/old, and the largest difference
between their outputs. Models with a token input (`int32_t *` first argument) get tokens
0..seq-1 mod 97; models with an image get a fixed pseudo-random image.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile


def compile_model(tfc, model, prefix, directory):
    obj = os.path.join(directory, prefix + ".o")
    subprocess.run([tfc, "compile", model, "-o", obj, "--name", prefix], check=True, stdout=subprocess.DEVNULL)
    header = open(os.path.join(directory, prefix + ".h")).read()
    proto = re.search(r"int32_t %s_forward_threads\(([^)]*)\);" % prefix, header).group(1)
    return obj, header, proto


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("model")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        builds = [compile_model(t, args.model, p, d) for t, p in ((args.old, "a"), (args.new, "b"))]
        proto = builds[0][2]
        tokens = proto.startswith("const int32_t")
        harness = os.path.join(d, "ab.c")
        lines = ['#include <stdio.h>', '#include <stdlib.h>', '#include <math.h>', '#include <time.h>',
                 '#include "a.h"', '#include "b.h"',
                 'static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }',
                 'static int cmp(const void *x, const void *y) { double a = *(const double *)x, b = *(const double *)y; return (a > b) - (a < b); }',
                 'int main(void) {',
                 f'  int rounds = {args.rounds}, threads = {args.threads};']
        if tokens:
            lines += [f'  long seq = {args.seq};',
                      '  int32_t *in = malloc(sizeof(int32_t) * seq);',
                      '  for (long i = 0; i < seq; i++) in[i] = (int32_t)(i % 97);',
                      '  size_t na = A_LOGITS_COUNT(seq), nb = B_LOGITS_COUNT(seq);']
            call = lambda p, out, ws: f'{p}_forward_threads(in, seq, {out}, {ws}, threads)'
        else:
            lines += ['  float *in = malloc(sizeof(float) * A_IMAGE_COUNT);',
                      '  for (long i = 0; i < A_IMAGE_COUNT; i++) in[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;',
                      '  size_t na = A_LOGITS_COUNT, nb = B_LOGITS_COUNT;']
            call = lambda p, out, ws: f'{p}_forward_threads(in, {out}, {ws}, threads)'
        lines += ['  float *oa = malloc(4 * na), *ob = malloc(4 * nb);',
                  '  void *wa = aligned_alloc(64, (A_WORKSPACE_SIZE + 63) / 64 * 64), *wb = aligned_alloc(64, (B_WORKSPACE_SIZE + 63) / 64 * 64);',
                  '  double *ta = malloc(sizeof(double) * rounds), *tb = malloc(sizeof(double) * rounds);',
                  f'  if ({call("a", "oa", "wa")} || {call("b", "ob", "wb")}) {{ fprintf(stderr, "call failed\\n"); return 1; }}',
                  '  for (int r = 0; r < rounds; r++) {',
                  f'    double t0 = now(); {call("a", "oa", "wa")}; double t1 = now(); {call("b", "ob", "wb")}; double t2 = now();',
                  '    ta[r] = t1 - t0; tb[r] = t2 - t1;',
                  '  }',
                  '  double diff = 0; for (size_t i = 0; i < na; i++) diff = fmax(diff, fabs(oa[i] - ob[i]));',
                  '  qsort(ta, rounds, sizeof(double), cmp); qsort(tb, rounds, sizeof(double), cmp);',
                  '  double ma = ta[rounds / 2] * 1e3, mb = tb[rounds / 2] * 1e3;',
                  '  printf("old %.2f ms  new %.2f ms  new/old %.3f  max|old-new| %.3g  (%d rounds, %d threads, medians)\\n", ma, mb, mb / ma, diff, rounds, threads);',
                  '  return 0;', '}']
        open(harness, "w").write("\n".join(lines) + "\n")
        exe = os.path.join(d, "ab")
        subprocess.run(["cc", "-O2", "-I", d, harness, builds[0][0], builds[1][0], "-lm", "-lpthread", "-o", exe],
                       check=True)
        sys.stdout.flush()
        subprocess.run([exe], check=True)


if __name__ == "__main__":
    main()
