#!/usr/bin/env python3
"""Compile time and peak memory of GPT-shaped models of 124 M, 410 M and 1.5 B parameters, and
the 1.5 B one run from C: a benchmark, not a test (minutes, and 6 GB of weights).

For each size, writes a GPT-shaped .tir with random weights (GPT-2 small; GPT-2 medium's
shape with an untied head, Pythia-410M's parameter count; GPT-2 XL), then measures
`tfc compile` with the weights embedded (when they fit in an object) and with --weights-file:
wall time and the peak resident memory of the process (ru_maxrss of the child), beside the
model's float32 weight bytes. With --run (the default for the largest size), also links the
weights-file object into a C program that maps the file, runs it on a few tokens, and compares
its logits with `tfc run` (the JIT) on the same tokens.

  python3 scripts/large_models.py [--tfc .build/release/tfc] [--sizes 124m,410m,1.5b] [--keep DIR] [--time]

--time also times the forward pass on 128 tokens of both objects (embedded weights and weights
file) of each size that embeds, from C, as interleaved processes.

Run from the repository root with a release tfc (swift build -c release). The 1.5 B model needs
about 14 GB of memory for the JIT run and 13 GB of disk (its weights file, twice over while the
C program's comparison runs); --no-run skips the runs.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_examples import gpt  # noqa: E402

# name: (width, blocks, heads, MLP, vocabulary, tied head)
SIZES = {
    "124m": (768, 12, 12, 3072, 50257, True),     # GPT-2 small
    "410m": (1024, 24, 16, 4096, 50304, False),   # GPT-2 medium's shape, Pythia-410M's vocabulary and untied head
    "1.5b": (1600, 48, 25, 6400, 50257, True),    # GPT-2 XL
}

TOKENS = [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13]

C_RUNNER = r"""
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "NAME.ext.h"
int main(int argc, char **argv) {
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { perror(argv[1]); return 1; }
    void *weights = mmap(NULL, PREFIX_WEIGHTS_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (weights == MAP_FAILED) { perror("mmap"); return 1; }
    int32_t status = NAME_set_weights(weights, PREFIX_WEIGHTS_SIZE);
    if (status != PREFIX_OK) { fprintf(stderr, "set_weights: %d\n", status); return 1; }
    int64_t n = argc - 2;
    int32_t *tokens = malloc(sizeof(int32_t) * n);
    for (int64_t i = 0; i < n; i++) tokens[i] = atoi(argv[2 + i]);
    float *logits = malloc(sizeof(float) * PREFIX_LOGITS_COUNT(n));
    void *workspace = aligned_alloc(64, (PREFIX_WORKSPACE_SIZE + 63) / 64 * 64);
    status = NAME_forward(tokens, n, logits, workspace);
    if (status != PREFIX_OK) { fprintf(stderr, "forward: %d\n", status); return 1; }
    FILE *out = fopen("c_logits.f32", "wb");
    fwrite(logits, sizeof(float), PREFIX_LOGITS_COUNT(n), out);
    fclose(out);
    return 0;
}
"""

# Times the forward pass on 128 tokens on one thread, embedded weights or (WITH_FILE) a mapped
# weights file.
C_TIMER = r"""
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include HEADER
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
#ifdef WITH_FILE
    int fd = open(argv[1], O_RDONLY);
    void *weights = mmap(NULL, PREFIX_WEIGHTS_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (fd < 0 || weights == MAP_FAILED || NAME_set_weights(weights, PREFIX_WEIGHTS_SIZE) != PREFIX_OK) return 1;
#endif
    (void)argc; (void)argv;
    enum { N = 128, RUNS = 7 };
    int32_t tokens[N];
    for (int i = 0; i < N; i++) tokens[i] = (i * 37 + 5) % 50000;
    float *logits = malloc(sizeof(float) * PREFIX_LOGITS_COUNT(N));
    void *workspace = aligned_alloc(64, (PREFIX_WORKSPACE_SIZE + 63) / 64 * 64);
    double ms[RUNS];
    for (int r = -2; r < RUNS; r++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (NAME_forward_threads(tokens, N, logits, workspace, 1) != PREFIX_OK) return 1;
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (r >= 0) ms[r] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    }
    qsort(ms, RUNS, sizeof(double), cmp);
    printf("%.2f\n", ms[RUNS / 2]);
    return 0;
}
"""


def time_both(name, work):
    """Median forward time (128 tokens, one thread) of the embedded object and of the weights-file
    one: the median of 5 interleaved processes' medians of 7 timed calls; (embedded ms, file ms)."""
    prefix = name.upper()
    with open(os.path.join(work, "timer.c"), "w") as f:
        f.write(C_TIMER.replace("NAME", name).replace("PREFIX", prefix))
    for exe, header, obj, extra in [("time_embedded", name + ".h", name + ".o", []),
                                    ("time_file", name + ".ext.h", name + ".ext.o", ["-DWITH_FILE"])]:
        subprocess.run(["cc", "-O2", "-I", work, f'-DHEADER="{header}"'] + extra
                       + ["timer.c", obj, "-lm", "-lpthread", "-o", exe], cwd=work, check=True)
    runs = {"time_embedded": [], "time_file": []}
    for _ in range(5):
        for exe in runs:
            p = subprocess.run(["./" + exe, name + ".weights"], cwd=work, stdout=subprocess.PIPE, text=True, check=True)
            runs[exe].append(float(p.stdout))
    return sorted(runs["time_embedded"])[2], sorted(runs["time_file"])[2]


def model_text(size):
    d, layers, heads, mlp, vocab, tied = SIZES[size]
    name = "gpt_" + size.replace(".", "_")
    text = gpt(d=d, layers=layers, heads=heads, mlp=mlp, vocab=vocab, name=name)
    lines = text.split("\n")
    # gpt() writes GPT-2 small's comment: say what this one is.
    lines = [l for l in lines if not l.startswith("//")]
    lines.insert(0, f"// GPT-shaped, {size} parameters: width {d}, {layers} blocks, {heads} heads, MLP {mlp}, "
                    f"vocabulary {vocab}, {'tied' if tied else 'untied'} head. Random weights. scripts/large_models.py")
    text = "\n".join(lines)
    if not tied:
        text = text.replace(f"  param @wpe :", f"  param @head : f32[{vocab}, {d}]\n  param @wpe :", 1)
        text = text.replace("%logits = linear(%nf, @wte)", "%logits = linear(%nf, @head)")
    params = layers * (4 * d * d + 2 * d * mlp + 9 * d + 2 * mlp) + (vocab + 1024) * d + 2 * d
    if not tied:
        params += vocab * d
    return name, text, params


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tfc", default=".build/release/tfc")
    parser.add_argument("--sizes", default="124m,410m,1.5b")
    parser.add_argument("--no-run", action="store_true", help="only compile")
    parser.add_argument("--keep", help="a folder to keep the files in (default: a temporary one)")
    parser.add_argument("--time", action="store_true",
                        help="also time the forward pass (128 tokens) of both objects of each size that embeds")
    args = parser.parse_args()
    tfc = os.path.abspath(args.tfc)
    if not os.access(tfc, os.X_OK):
        sys.exit(f"large_models.py: no tfc at {args.tfc} (swift build -c release)")
    sizes = args.sizes.split(",")
    work = args.keep or tempfile.mkdtemp(prefix="tfc-large-")
    os.makedirs(work, exist_ok=True)
    print(f"files in {work}")
    print(f"{'model':>6} {'params':>8} {'f32 weights':>12} {'mode':>13} {'compile s':>9} {'peak RSS':>9} "
          f"{'ratio':>6} {'object':>9} {'weights file':>12}")
    # Each compile runs under its own Python parent, whose children's peak is that compile's alone.
    for size in sizes:
        name, text, params = model_text(size)
        tir = os.path.join(work, name + ".tir")
        with open(tir, "w") as f:
            f.write(text)
        weight_bytes = 4 * params
        modes = [("embedded", []), ("weights file", ["--weights-file", name + ".weights"])]
        for mode, extra in modes:
            if mode == "embedded" and weight_bytes > 2_000_000_000:
                print(f"{size:>6} {params / 1e6:7.0f}M {weight_bytes / 1e9:10.2f}GB {mode:>13} "
                      f"{'refused: past what an object embeds':>40}")
                continue
            obj = name + (".o" if mode == "embedded" else ".ext.o")
            runner = [sys.executable, "-c",
                      "import resource,subprocess,sys;p=subprocess.run(sys.argv[1:]);"
                      "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,file=sys.stderr);sys.exit(p.returncode)"]
            start = time.monotonic()
            p = subprocess.run(runner + [tfc, "compile", "-q", tir, "-o", obj] + extra, cwd=work,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            seconds = time.monotonic() - start
            if p.returncode != 0:
                sys.exit(f"large_models.py: tfc compile {name} ({mode}) failed:\n{p.stdout}{p.stderr}")
            peak = int(p.stderr.strip().split("\n")[-1]) * 1024
            object_bytes = os.path.getsize(os.path.join(work, obj))
            file_bytes = os.path.getsize(os.path.join(work, name + ".weights")) if extra else 0
            print(f"{size:>6} {params / 1e6:7.0f}M {weight_bytes / 1e9:10.2f}GB {mode:>13} {seconds:9.1f} "
                  f"{peak / 1e9:7.2f}GB {peak / weight_bytes:6.2f} {object_bytes / 1e6:7.1f}MB "
                  f"{file_bytes / 1e9:10.2f}GB", flush=True)
        if args.time and weight_bytes <= 2_000_000_000:
            embedded_ms, file_ms = time_both(name, work)
            print(f"{size}: forward on 128 tokens from C, one thread, median: embedded {embedded_ms:.1f} ms, weights file "
                  f"{file_ms:.1f} ms (file / embedded {file_ms / embedded_ms:.3f})", flush=True)
        if args.no_run or size != sizes[-1]:
            continue
        # The largest model from C, against the JIT.
        prefix = name.upper()
        with open(os.path.join(work, "runner.c"), "w") as f:
            f.write(C_RUNNER.replace("NAME", name).replace("PREFIX", prefix))
        subprocess.run(["cc", "-O2", "-I", work, "runner.c", name + ".ext.o", "-lm", "-lpthread", "-o", "runner"],
                       cwd=work, check=True)
        start = time.monotonic()
        subprocess.run(["./runner", name + ".weights"] + [str(t) for t in TOKENS], cwd=work, check=True)
        c_seconds = time.monotonic() - start
        from_c = np.fromfile(os.path.join(work, "c_logits.f32"), dtype=np.float32).reshape(len(TOKENS), -1)
        start = time.monotonic()
        subprocess.run([tfc, "run", "-q", tir, "--tokens", ",".join(map(str, TOKENS)), "-o", "jit_logits.npy"],
                       cwd=work, check=True)
        jit_seconds = time.monotonic() - start
        jit = np.load(os.path.join(work, "jit_logits.npy"))
        diff = np.abs(from_c - jit).max()
        scale = np.abs(jit).max()
        print(f"{size}: C program (mapped weights file) vs tfc run (JIT) on {len(TOKENS)} tokens: "
              f"max |difference| {diff:.3g} (largest logit {scale:.3g}); same argmax in every row: "
              f"{bool((from_c.argmax(1) == jit.argmax(1)).all())}; C run {c_seconds:.1f} s, JIT compile+run "
              f"{jit_seconds:.1f} s")
        if not diff <= 1e-4 * max(1.0, scale):
            sys.exit("large_models.py: the C program and the JIT disagree")


if __name__ == "__main__":
    main()
