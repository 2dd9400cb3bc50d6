/* Checks gpt_tiny_set_weights of an object compiled with --weights-file: every entry point
 * refuses to run before it succeeds; a NULL, misaligned, short, altered or foreign file is
 * refused and keeps the weights set before. argv: the weights file, a file of another compile
 * of the same size. Prints "ok" and exits 0 when all hold. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_tiny.h"

static int failures = 0;

static void expect(int32_t got, int32_t want, const char *what) {
    if (got != want) {
        printf("FAIL %s: status %d, expected %d\n", what, got, want);
        failures++;
    }
}

/* The whole file, at an address `shift` bytes past a 64-byte boundary. */
static unsigned char *read_file(const char *path, size_t shift, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *block = aligned_alloc(64, ((size_t)n + shift + 63) / 64 * 64);
    if (!block || fread(block + shift, 1, (size_t)n, f) != (size_t)n) return NULL;
    fclose(f);
    *size = (size_t)n;
    return block + shift;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    size_t size = 0, other_size = 0, shifted_size = 0;
    unsigned char *weights = read_file(argv[1], 0, &size);
    unsigned char *other = read_file(argv[2], 0, &other_size);
    unsigned char *shifted = read_file(argv[1], 8, &shifted_size);
    if (!weights || !other || !shifted) return 2;
    if (size != GPT_TINY_WEIGHTS_SIZE || other_size != size) {
        printf("FAIL sizes: %zu and %zu, header says %llu\n", size, other_size, (unsigned long long)GPT_TINY_WEIGHTS_SIZE);
        return 1;
    }

    int32_t tokens[3] = {1, 2, 3};
    float *logits = malloc(sizeof(float) * GPT_TINY_LOGITS_COUNT(3));
    float *again = malloc(sizeof(float) * GPT_TINY_LOGITS_COUNT(3));
    void *workspace = aligned_alloc(GPT_TINY_WORKSPACE_ALIGNMENT, (GPT_TINY_WORKSPACE_SIZE + 63) / 64 * 64);
    void *cache = aligned_alloc(GPT_TINY_CACHE_ALIGNMENT, (GPT_TINY_CACHE_SIZE + 63) / 64 * 64);
    if (!logits || !again || !workspace || !cache) return 2;
    for (size_t i = 0; i < GPT_TINY_LOGITS_COUNT(3); i++) logits[i] = NAN;

    /* Before any weights: nothing runs, nothing is written. */
    expect(gpt_tiny_forward(tokens, 3, logits, workspace), GPT_TINY_ERR_WEIGHTS, "forward before set_weights");
    expect(gpt_tiny_forward_threads(tokens, 3, logits, workspace, 1), GPT_TINY_ERR_WEIGHTS, "forward_threads before");
    expect(gpt_tiny_cache_init(cache), GPT_TINY_OK, "cache_init needs no weights");
    expect(gpt_tiny_extend(tokens, 3, cache, logits, workspace, 1), GPT_TINY_ERR_WEIGHTS, "extend before set_weights");
    expect(gpt_tiny_extend_all(tokens, 3, cache, logits, workspace, 1), GPT_TINY_ERR_WEIGHTS, "extend_all before");
    if (gpt_tiny_cache_length(cache) != 0) { printf("FAIL the cache grew without weights\n"); failures++; }
    if (!isnan(logits[0])) { printf("FAIL a refused call wrote its output\n"); failures++; }

    /* Refused files. */
    expect(gpt_tiny_set_weights(NULL, size), GPT_TINY_ERR_NULL, "NULL weights");
    expect(gpt_tiny_set_weights(shifted, size), GPT_TINY_ERR_ALIGNMENT, "misaligned weights");
    expect(gpt_tiny_set_weights(weights, size - 64), GPT_TINY_ERR_WEIGHTS, "short size");
    expect(gpt_tiny_set_weights(weights, size + 64), GPT_TINY_ERR_WEIGHTS, "long size");
    expect(gpt_tiny_set_weights(other, size), GPT_TINY_ERR_WEIGHTS, "another compile's file");
    for (int offset = 0; offset < 32; offset += 8) {
        weights[offset] ^= 1;
        expect(gpt_tiny_set_weights(weights, size), GPT_TINY_ERR_WEIGHTS, "an altered header");
        weights[offset] ^= 1;
    }
    expect(gpt_tiny_forward(tokens, 3, logits, workspace), GPT_TINY_ERR_WEIGHTS, "forward after refused files");

    /* The right file runs, and a refused file afterwards keeps it. */
    expect(gpt_tiny_set_weights(weights, size), GPT_TINY_OK, "the weights file");
    expect(gpt_tiny_forward(tokens, 3, logits, workspace), GPT_TINY_OK, "forward");
    expect(gpt_tiny_set_weights(other, size), GPT_TINY_ERR_WEIGHTS, "another compile's file after");
    expect(gpt_tiny_forward(tokens, 3, again, workspace), GPT_TINY_OK, "forward again");
    if (memcmp(logits, again, sizeof(float) * GPT_TINY_LOGITS_COUNT(3)) != 0) {
        printf("FAIL a refused file changed the weights\n");
        failures++;
    }
    expect(gpt_tiny_extend_all(tokens, 3, cache, again, workspace, 1), GPT_TINY_OK, "extend_all");
    if (gpt_tiny_cache_length(cache) != 3) { printf("FAIL the cache holds %lld positions\n", (long long)gpt_tiny_cache_length(cache)); failures++; }
    for (size_t i = 0; i < GPT_TINY_LOGITS_COUNT(3); i++) {
        if (fabsf(again[i] - logits[i]) > 1e-4f * (1 + fabsf(logits[i]))) {
            printf("FAIL extend_all and forward differ at %zu: %g vs %g\n", i, again[i], logits[i]);
            failures++;
            break;
        }
    }
    if (failures == 0) printf("ok\n");
    return failures != 0;
}
