/* The GEMM microkernel's arithmetic alone: an mr x (16 * NV) block of float32 accumulators fed
 * by broadcasts of x and aligned loads of one weight panel, all in L1, as tfc's 8 x 32 AVX-512
 * kernel does (Sources/TIRCodegen/Kernels/Gemm.swift). It says what the kernel can reach on a CPU
 * when memory costs nothing; compare with the FMA peak `tfc bench` measures. A benchmark, not a
 * test:
 *
 *   clang-19 -O2 -march=native -DMR=8 -DNV=2 scripts/kernel_l1_bench.c -o /tmp/k && /tmp/k
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifndef MR
#define MR 8
#endif
#ifndef NV
#define NV 2
#endif
#define KC 256

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

__attribute__((noinline)) static void kernel(const float *x, long ldx, const float *w, long k, float *y, long ldy) {
    __m512 acc[MR][NV];
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_loadu_ps(y + i * ldy + v * 16);
    for (long kk = 0; kk < k; kk++) {
        __m512 wv[NV];
        for (int v = 0; v < NV; v++) wv[v] = _mm512_load_ps(w + kk * NV * 16 + v * 16);
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(x[i * ldx + kk]);
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(a, wv[v], acc[i][v]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(y + i * ldy + v * 16, acc[i][v]);
}

int main(void) {
    long ldx = 768, calls = 200000;
    float *x = aligned_alloc(64, sizeof(float) * MR * ldx), *w = aligned_alloc(64, sizeof(float) * KC * NV * 16);
    float *y = aligned_alloc(64, sizeof(float) * MR * NV * 16 * 2);
    for (long i = 0; i < MR * ldx; i++) x[i] = 0.001f * (i % 7);
    for (long i = 0; i < KC * NV * 16; i++) w[i] = 0.001f * (i % 5);
    for (long i = 0; i < MR * NV * 16 * 2; i++) y[i] = 0;
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t = now();
        for (long c = 0; c < calls; c++) kernel(x, ldx, w, KC, y, NV * 16 * 2);
        t = now() - t;
        if (t < best) best = t;
    }
    printf("%d x %d block, K = %d in L1: %.1f GFLOP/s (best of 5; checksum %g)\n", MR, NV * 16, KC,
           2.0 * MR * NV * 16 * KC * calls / best / 1e9, y[3]);
    return 0;
}
