/* Greedy generation with a tfc-compiled GPT and its key/value cache.
 *
 * Build (from the repository root):
 *   tfc compile Examples/gpt-tiny.tir -o build/gpt_tiny.o        # also writes build/gpt_tiny.h
 *   cc -std=c11 -O2 -I build Examples/c/generate.c build/gpt_tiny.o -lm -lpthread -o build/generate
 *   build/generate -n 20 15 27 3      # the prompt's token ids -> 20 generated ids
 *
 * The prompt goes in with one call (gpt_tiny_extend), then each new token with one call of its
 * own: the cache keeps every earlier position's keys and values, so a step costs one position's
 * work, not the whole prefix's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_tiny.h"

static int parse_int(const char *text, long min, long max, long *value) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) return 0;
    *value = v;
    return 1;
}

static void *aligned_buffer(size_t alignment, size_t bytes) {
    return aligned_alloc(alignment, (bytes + alignment - 1) / alignment * alignment);
}

int main(int argc, char **argv) {
    long max_new = 16, threads = 1;
    int first = 1;
    while (first + 1 < argc && argv[first][0] == '-') {
        long *option = strcmp(argv[first], "-n") == 0 ? &max_new : strcmp(argv[first], "-t") == 0 ? &threads : NULL;
        if (!option || !parse_int(argv[first + 1], 0, 1 << 20, option)) break;
        first += 2;
    }
    int64_t prompt_len = argc - first;
    if (prompt_len < 1) {
        fprintf(stderr, "usage: %s [-n max_new_tokens] [-t threads] token_id...\n", argv[0]);
        return 2;
    }
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)prompt_len);
    float *logits = malloc(sizeof(float) * GPT_TINY_LOGITS_COUNT(1));
    void *workspace = aligned_buffer(GPT_TINY_WORKSPACE_ALIGNMENT, GPT_TINY_WORKSPACE_SIZE);
    void *cache = aligned_buffer(GPT_TINY_CACHE_ALIGNMENT, GPT_TINY_CACHE_SIZE);
    if (!tokens || !logits || !workspace || !cache) { fprintf(stderr, "out of memory\n"); return 1; }
    for (int64_t i = 0; i < prompt_len; i++) {
        long id;
        if (!parse_int(argv[first + i], INT32_MIN, INT32_MAX, &id)) {
            fprintf(stderr, "not a token id: %s\n", argv[first + i]);
            return 2;
        }
        tokens[i] = (int32_t)id;
    }

    int32_t status = gpt_tiny_cache_init(cache);
    const int32_t *next = tokens;
    int64_t n = prompt_len;
    for (long step = 0; status == GPT_TINY_OK && step < max_new; step++) {
        /* The prompt first, then the token chosen last: the logits are the last position's. */
        status = gpt_tiny_extend(next, n, cache, logits, workspace, (int32_t)threads);
        if (status != GPT_TINY_OK) break;
        size_t best = 0;
        for (size_t v = 1; v < GPT_TINY_LOGITS_COUNT(1); v++)
            if (logits[v] > logits[best]) best = v;
        printf("%s%zu", step ? " " : "", best);
        fflush(stdout);
        tokens[0] = (int32_t)best;
        next = tokens;
        n = 1;
    }
    printf("\n");
    if (status == GPT_TINY_ERR_CACHE_FULL) {
        fprintf(stderr, "stopped: the context is full (%d positions)\n", GPT_TINY_MAX_CONTEXT);
        return 0;
    }
    if (status != GPT_TINY_OK) {
        fprintf(stderr, "gpt_tiny_extend: status %d\n", status);
        return 1;
    }
    free(tokens);
    free(logits);
    free(workspace);
    free(cache);
    return 0;
}
