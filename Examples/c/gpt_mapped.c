/* A tfc-compiled model whose weights live in a file beside the object (tfc compile
 * --weights-file), mapped into memory at startup: how models past 2 GB of weights ship.
 *
 * Build (from the repository root; see README.md):
 *   tfc compile Examples/gpt-tiny.tir -o build/gpt_tiny.o --weights-file build/gpt_tiny.weights
 *   cc -std=c11 -O2 -I build Examples/c/gpt_mapped.c build/gpt_tiny.o -lm -lpthread -o build/gpt_mapped
 *   build/gpt_mapped build/gpt_tiny.weights 1 2 3         # next-token prediction after each prefix
 *   build/gpt_mapped build/gpt_tiny.weights --all 1 2 3   # every logit, one row per position
 *
 * The file is mapped read-only and shared: the operating system reads it on first use and keeps
 * one copy in memory for every process that maps it.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpt_tiny.h"

/* Maps the weights file and hands it to the model; returns 0, or 1 with a message. */
static int load_weights(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return 1;
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || (uint64_t)info.st_size != GPT_TINY_WEIGHTS_SIZE) {
        fprintf(stderr, "%s: not the weights file of this build (%lld bytes, expected %llu)\n", path,
                (long long)info.st_size, (unsigned long long)GPT_TINY_WEIGHTS_SIZE);
        close(fd);
        return 1;
    }
    void *weights = mmap(NULL, GPT_TINY_WEIGHTS_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    close(fd); /* the mapping stays */
    if (weights == MAP_FAILED) {
        fprintf(stderr, "%s: cannot map: %s\n", path, strerror(errno));
        return 1;
    }
    int32_t status = gpt_tiny_set_weights(weights, GPT_TINY_WEIGHTS_SIZE);
    if (status != GPT_TINY_OK) {
        fprintf(stderr, "%s: gpt_tiny_set_weights: status %d (%s)\n", path, status,
                status == GPT_TINY_ERR_WEIGHTS ? "not the weights file this object was compiled with" : "bad argument");
        munmap(weights, GPT_TINY_WEIGHTS_SIZE);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int all = 0, first = 2;
    if (argc > 2 && strcmp(argv[2], "--all") == 0) { all = 1; first = 3; }
    int64_t seq_len = argc - first;
    if (argc < 2 || seq_len < 1) {
        fprintf(stderr, "usage: %s WEIGHTS_FILE [--all] token_id...\n", argv[0]);
        return 2;
    }
    if (load_weights(argv[1]) != 0) return 1;

    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)seq_len);
    float *logits = malloc(sizeof(float) * GPT_TINY_LOGITS_COUNT(seq_len));
    void *workspace = aligned_alloc(GPT_TINY_WORKSPACE_ALIGNMENT, (GPT_TINY_WORKSPACE_SIZE + 63) / 64 * 64);
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

    int32_t status = gpt_tiny_forward(tokens, seq_len, logits, workspace);
    if (status != GPT_TINY_OK) {
        fprintf(stderr, "gpt_tiny_forward: status %d\n", status);
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
            printf("position %lld: token %d -> predicted %zu (logit %.4f)\n", (long long)t, tokens[t], best, row[best]);
        }
    }
    free(tokens);
    free(logits);
    free(workspace);
    return 0;
}
