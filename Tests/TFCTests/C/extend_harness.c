/* The extend entry points of a compiled gpt_tiny from C: every status of the cache functions and
 * of gpt_tiny_extend, that a failed call changes no byte of the cache or the output, that the
 * cache's logits equal the forward's at every position, and that two caches filled at once on
 * two threads give the bits of one filled alone. Prints "ok" and exits 0 when all hold. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_tiny.h"

static int failures = 0;
#define VOCAB GPT_TINY_LOGITS_COUNT(1)

static void expect(long long got, long long want, const char *what) {
    if (got != want) {
        printf("FAIL %s: got %lld, expected %lld\n", what, got, want);
        failures++;
    }
}

static void *aligned_buffer(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

static int32_t tokens[GPT_TINY_MAX_CONTEXT + 1];

/* Fills a cache a few tokens at a time and keeps the last logits of each call. */
struct run {
    void *cache, *workspace;
    float logits[GPT_TINY_MAX_CONTEXT][VOCAB];
    int32_t status;
};

static void *fill(void *arg) {
    struct run *r = arg;
    r->status = gpt_tiny_cache_init(r->cache);
    for (int at = 0, n = 1; r->status == GPT_TINY_OK && at < GPT_TINY_MAX_CONTEXT; at += n, n = n % 5 + 1) {
        if (at + n > GPT_TINY_MAX_CONTEXT) n = GPT_TINY_MAX_CONTEXT - at;
        r->status = gpt_tiny_extend_all(tokens + at, n, r->cache, r->logits[at], r->workspace, 1);
    }
    return NULL;
}

static float worst_gap(const float *a, const float *b, size_t count) {
    float worst = 0, scale = 1e-30f;
    for (size_t i = 0; i < count; i++) {
        worst = fmaxf(worst, fabsf(a[i] - b[i]));
        scale = fmaxf(scale, fabsf(b[i]));
    }
    return worst / scale;
}

int main(void) {
    for (int i = 0; i <= GPT_TINY_MAX_CONTEXT; i++) tokens[i] = (i * 37 + 11) % GPT_TINY_TOKENS_LIMIT;
    void *workspace = aligned_buffer(GPT_TINY_WORKSPACE_SIZE);
    unsigned char *cache = aligned_buffer(GPT_TINY_CACHE_SIZE + 64);
    float *full = malloc(sizeof(float) * GPT_TINY_LOGITS_COUNT(GPT_TINY_MAX_CONTEXT));
    float *logits = malloc(sizeof(float) * GPT_TINY_LOGITS_COUNT(GPT_TINY_MAX_CONTEXT));
    unsigned char *before = malloc(GPT_TINY_CACHE_SIZE);
    if (!workspace || !cache || !full || !logits || !before) return 2;
    expect(gpt_tiny_forward(tokens, GPT_TINY_MAX_CONTEXT, full, workspace), GPT_TINY_OK, "forward");

    /* Before cache_init: zeros (or anything) are not a cache. */
    memset(cache, 0, GPT_TINY_CACHE_SIZE);
    expect(gpt_tiny_cache_length(cache), -1, "length of a zeroed cache");
    expect(gpt_tiny_extend(tokens, 1, cache, logits, workspace, 1), GPT_TINY_ERR_CACHE, "extend a zeroed cache");
    expect(gpt_tiny_cache_truncate(cache, 0), GPT_TINY_ERR_CACHE, "truncate a zeroed cache");
    expect(gpt_tiny_cache_init(NULL), GPT_TINY_ERR_NULL, "init NULL");
    expect(gpt_tiny_cache_init(cache + 8), GPT_TINY_ERR_ALIGNMENT, "init misaligned");
    expect(gpt_tiny_cache_length(NULL), -1, "length of NULL");
    expect(gpt_tiny_cache_init(cache), GPT_TINY_OK, "init");
    expect(gpt_tiny_cache_length(cache), 0, "length after init");

    /* Errors: nothing written, the cache's bytes included. */
    expect(gpt_tiny_extend(tokens, 10, cache, logits, workspace, 1), GPT_TINY_OK, "extend 10");
    memcpy(before, cache, GPT_TINY_CACHE_SIZE);
    for (size_t i = 0; i < VOCAB; i++) logits[i] = NAN;
    expect(gpt_tiny_extend(tokens, 0, cache, logits, workspace, 1), GPT_TINY_ERR_SEQ_LEN, "n = 0");
    expect(gpt_tiny_extend(tokens, -3, cache, logits, workspace, 1), GPT_TINY_ERR_SEQ_LEN, "n < 0");
    expect(gpt_tiny_extend(tokens, GPT_TINY_MAX_CONTEXT - 9, cache, logits, workspace, 1), GPT_TINY_ERR_CACHE_FULL,
           "one past the context");
    tokens[3] = GPT_TINY_TOKENS_LIMIT;
    expect(gpt_tiny_extend(tokens, 5, cache, logits, workspace, 1), GPT_TINY_ERR_TOKEN_ID, "bad id");
    tokens[3] = (3 * 37 + 11) % GPT_TINY_TOKENS_LIMIT;
    expect(gpt_tiny_extend(NULL, 1, cache, logits, workspace, 1), GPT_TINY_ERR_NULL, "NULL tokens");
    expect(gpt_tiny_extend(tokens, 1, NULL, logits, workspace, 1), GPT_TINY_ERR_NULL, "NULL cache");
    expect(gpt_tiny_extend(tokens, 1, cache, NULL, workspace, 1), GPT_TINY_ERR_NULL, "NULL logits");
    expect(gpt_tiny_extend(tokens, 1, cache, logits, NULL, 1), GPT_TINY_ERR_NULL, "NULL workspace");
    expect(gpt_tiny_extend(tokens, 1, cache, logits, (char *)workspace + 16, 1), GPT_TINY_ERR_ALIGNMENT,
           "misaligned workspace");
    expect(gpt_tiny_cache_truncate(cache, 11), GPT_TINY_ERR_SEQ_LEN, "truncate past the length");
    expect(gpt_tiny_cache_truncate(cache, -1), GPT_TINY_ERR_SEQ_LEN, "truncate to -1");
    if (memcmp(before, cache, GPT_TINY_CACHE_SIZE) != 0) { printf("FAIL: a failed call changed the cache\n"); failures++; }
    for (size_t i = 0; i < VOCAB; i++)
        if (!isnan(logits[i])) { printf("FAIL: a failed call wrote the logits\n"); failures++; break; }
    /* A copy of the cache at another aligned address is a cache too. */
    unsigned char *copy = aligned_buffer(GPT_TINY_CACHE_SIZE);
    if (!copy) return 2;
    memcpy(copy, cache, GPT_TINY_CACHE_SIZE);
    expect(gpt_tiny_cache_length(copy), 10, "length of a copy");
    expect(gpt_tiny_extend(tokens + 10, 1, copy, logits, workspace, 1), GPT_TINY_OK, "extend a copy");
    if (worst_gap(logits, full + 10 * VOCAB, VOCAB) > 1e-5f) { printf("FAIL: the copy's logits\n"); failures++; }
    expect(gpt_tiny_cache_length(cache), 10, "the original is untouched");
    free(copy);

    /* Truncate and refill to the end: the last logits equal the forward's. */
    expect(gpt_tiny_cache_truncate(cache, 4), GPT_TINY_OK, "truncate to 4");
    expect(gpt_tiny_extend(tokens + 4, GPT_TINY_MAX_CONTEXT - 4, cache, logits, workspace, 2), GPT_TINY_OK, "refill");
    if (worst_gap(logits, full + (GPT_TINY_MAX_CONTEXT - 1) * VOCAB, VOCAB) > 1e-5f) {
        printf("FAIL: logits after a refill\n");
        failures++;
    }
    expect(gpt_tiny_extend(tokens, 1, cache, logits, workspace, 1), GPT_TINY_ERR_CACHE_FULL, "a full cache");

    /* Two caches filled at once: each gives the forward's logits at every position, and the bits
     * of the other. */
    struct run *runs = malloc(2 * sizeof(struct run));
    if (!runs) return 2;
    pthread_t threads[2];
    for (int t = 0; t < 2; t++) {
        runs[t].cache = aligned_buffer(GPT_TINY_CACHE_SIZE);
        runs[t].workspace = aligned_buffer(GPT_TINY_WORKSPACE_SIZE);
        if (!runs[t].cache || !runs[t].workspace) return 2;
        pthread_create(&threads[t], NULL, fill, &runs[t]);
    }
    for (int t = 0; t < 2; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < 2; t++) expect(runs[t].status, GPT_TINY_OK, "concurrent fill");
    if (memcmp(runs[0].logits, runs[1].logits, sizeof(runs[0].logits)) != 0) {
        printf("FAIL: two concurrent caches differ\n");
        failures++;
    }
    float gap = worst_gap(&runs[0].logits[0][0], full, GPT_TINY_LOGITS_COUNT(GPT_TINY_MAX_CONTEXT));
    if (gap > 1e-5f) { printf("FAIL: cache vs forward: %g\n", gap); failures++; }
    for (int t = 0; t < 2; t++) {
        free(runs[t].cache);
        free(runs[t].workspace);
    }
    free(runs);
    free(before);
    free(logits);
    free(full);
    free(cache);
    free(workspace);
    if (failures == 0) printf("ok\n");
    return failures == 0 ? 0 : 1;
}
