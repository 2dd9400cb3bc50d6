/* Embedding a tfc-compiled model in a C program.
 *
 * Build (from the repository root; see README.md):
 *   tfc compile Examples/gpt-tiny.tir -o build/gpt_tiny.o        # also writes build/gpt_tiny.h
 *   cc -std=c11 -O2 -I build Examples/c/gpt_demo.c build/gpt_tiny.o -lm -lpthread -o build/gpt_demo
 *   build/gpt_demo 1 2 3          # token ids -> the next-token prediction after each prefix
 *   build/gpt_demo --all 1 2 3    # every logit, one row per position
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_tiny.h"

static const char *status_text(int32_t status) {
    switch (status) {
    case GPT_TINY_OK: return "ok";
    case GPT_TINY_ERR_SEQ_LEN: return "sequence length out of range";
    case GPT_TINY_ERR_TOKEN_ID: return "token id out of range";
    case GPT_TINY_ERR_NULL: return "NULL pointer";
    case GPT_TINY_ERR_ALIGNMENT: return "workspace not aligned";
    case GPT_TINY_ERR_CPU: return "this CPU lacks an instruction set extension the code was compiled for";
    default: return "unknown status";
    }
}

int main(int argc, char **argv) {
    int all = 0, first = 1;
    if (argc > 1 && strcmp(argv[1], "--all") == 0) { all = 1; first = 2; }
    int64_t seq_len = argc - first;
    if (seq_len < 1) {
        fprintf(stderr, "usage: %s [--all] token_id...\n", argv[0]);
        return 2;
    }

    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)seq_len);
    float *logits = malloc(sizeof(float) * GPT_TINY_LOGITS_COUNT(seq_len));
    /* The workspace is the caller's: one per concurrent call, reused across calls. */
    void *workspace = aligned_alloc(GPT_TINY_WORKSPACE_ALIGNMENT,
                                    (GPT_TINY_WORKSPACE_SIZE + 63) / 64 * 64);
    if (!tokens || !logits || !workspace) { fprintf(stderr, "out of memory\n"); return 1; }

    for (int64_t i = 0; i < seq_len; i++) {
        char *end = NULL;
        errno = 0;
        long id = strtol(argv[first + i], &end, 10);
        if (errno || *end || id < INT32_MIN || id > INT32_MAX) {
            fprintf(stderr, "not a token id: %s\n", argv[first + i]);
            return 2;
        }
        tokens[i] = (int32_t)id;
    }

    /* The compiled code checks seq_len and every id before it reads anything. */
    int32_t status = gpt_tiny_forward(tokens, seq_len, logits, workspace);
    if (status != GPT_TINY_OK) {
        fprintf(stderr, "gpt_tiny_forward: status %d (%s)\n", status, status_text(status));
        return 1;
    }

    size_t vocab = GPT_TINY_LOGITS_COUNT(1);
    for (int64_t t = 0; t < seq_len; t++) {
        const float *row = logits + (size_t)t * vocab;
        if (all) {
            for (size_t j = 0; j < vocab; j++) printf(j ? " %.9g" : "%.9g", row[j]);
            printf("\n");
        } else {
            size_t best = 0;
            for (size_t j = 1; j < vocab; j++) if (row[j] > row[best]) best = j;
            printf("position %lld: token %d -> predicted %zu (logit %.4f)\n",
                   (long long)t, tokens[t], best, row[best]);
        }
    }
    free(tokens);
    free(logits);
    free(workspace);
    return 0;
}
