/* Calls a compiled gpt_tiny_forward with bad arguments and checks every status code, and that
 * a failed call leaves the output untouched. Prints "ok" and exits 0 when all hold. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_tiny.h"

static int failures = 0;

/* Threads of this process (Linux: entries of /proc/self/task), or -1 where that is unknown. */
static int thread_count(void) {
    DIR *dir = opendir("/proc/self/task");
    if (!dir) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

static void expect(int32_t got, int32_t want, const char *what) {
    if (got != want) {
        printf("FAIL %s: status %d, expected %d\n", what, got, want);
        failures++;
    }
}

int main(void) {
    int32_t tokens[GPT_TINY_MAX_SEQ_LEN + 1];
    for (int i = 0; i <= GPT_TINY_MAX_SEQ_LEN; i++) tokens[i] = i % GPT_TINY_TOKENS_LIMIT;
    float *logits = malloc(sizeof(float) * GPT_TINY_LOGITS_COUNT(GPT_TINY_MAX_SEQ_LEN + 1));
    void *workspace = aligned_alloc(GPT_TINY_WORKSPACE_ALIGNMENT, (GPT_TINY_WORKSPACE_SIZE + 63) / 64 * 64);
    if (!logits || !workspace) return 2;

    for (size_t i = 0; i < GPT_TINY_LOGITS_COUNT(2); i++) logits[i] = NAN;
    expect(gpt_tiny_forward(tokens, 0, logits, workspace), GPT_TINY_ERR_SEQ_LEN, "seq_len 0");
    expect(gpt_tiny_forward(tokens, -5, logits, workspace), GPT_TINY_ERR_SEQ_LEN, "seq_len -5");
    expect(gpt_tiny_forward(tokens, GPT_TINY_MAX_SEQ_LEN + 1, logits, workspace), GPT_TINY_ERR_SEQ_LEN, "seq_len max+1");
    tokens[1] = GPT_TINY_TOKENS_LIMIT;
    expect(gpt_tiny_forward(tokens, 2, logits, workspace), GPT_TINY_ERR_TOKEN_ID, "id = vocabulary");
    tokens[1] = -1;
    expect(gpt_tiny_forward(tokens, 2, logits, workspace), GPT_TINY_ERR_TOKEN_ID, "id -1");
    if (!isnan(logits[0])) { printf("FAIL: a failed call wrote the output\n"); failures++; }
    tokens[1] = 1;
    expect(gpt_tiny_forward(NULL, 2, logits, workspace), GPT_TINY_ERR_NULL, "NULL tokens");
    expect(gpt_tiny_forward(tokens, 2, NULL, workspace), GPT_TINY_ERR_NULL, "NULL logits");
    expect(gpt_tiny_forward(tokens, 2, logits, NULL), GPT_TINY_ERR_NULL, "NULL workspace");

    /* A workspace whose address is not a multiple of GPT_TINY_WORKSPACE_ALIGNMENT (malloc + 32,
     * malloc + 4, ...) is refused before anything is written, on every entry point. */
    unsigned char *wide = aligned_alloc(GPT_TINY_WORKSPACE_ALIGNMENT,
                                        (GPT_TINY_WORKSPACE_SIZE + 2 * GPT_TINY_WORKSPACE_ALIGNMENT + 63) / 64 * 64);
    if (!wide) return 2;
    const size_t offsets[] = {1, 4, 8, 16, 32, 48, GPT_TINY_WORKSPACE_ALIGNMENT - 4};
    for (int o = 0; o < 7; o++) {
        memset(wide, 0x3C, GPT_TINY_WORKSPACE_SIZE + GPT_TINY_WORKSPACE_ALIGNMENT);
        for (size_t i = 0; i < GPT_TINY_LOGITS_COUNT(2); i++) logits[i] = NAN;
        expect(gpt_tiny_forward(tokens, 2, logits, wide + offsets[o]), GPT_TINY_ERR_ALIGNMENT, "misaligned workspace");
        expect(gpt_tiny_forward_threads(tokens, 2, logits, wide + offsets[o], 2), GPT_TINY_ERR_ALIGNMENT,
               "misaligned workspace, 2 threads");
        int untouched = 1;
        for (size_t i = 0; i < GPT_TINY_LOGITS_COUNT(2); i++) untouched &= isnan(logits[i]) != 0;
        for (size_t i = 0; i < GPT_TINY_WORKSPACE_SIZE + GPT_TINY_WORKSPACE_ALIGNMENT; i++) untouched &= wide[i] == 0x3C;
        if (!untouched) { printf("FAIL: a call with a workspace at +%zu wrote something\n", offsets[o]); failures++; }
    }
    /* The same buffer at an aligned address works, and gives the bits of the first workspace. */
    float *again = malloc(sizeof(float) * GPT_TINY_LOGITS_COUNT(2));
    if (!again) return 2;
    expect(gpt_tiny_forward(tokens, 2, logits, workspace), GPT_TINY_OK, "aligned workspace");
    expect(gpt_tiny_forward(tokens, 2, again, wide + GPT_TINY_WORKSPACE_ALIGNMENT), GPT_TINY_OK, "aligned workspace + 64");
    if (memcmp(logits, again, sizeof(float) * GPT_TINY_LOGITS_COUNT(2)) != 0) {
        printf("FAIL: two aligned workspaces give different bits\n");
        failures++;
    }
    free(again);
    free(wide);

    expect(gpt_tiny_forward(tokens, GPT_TINY_MAX_SEQ_LEN, logits, workspace), GPT_TINY_OK, "seq_len max");
    expect(gpt_tiny_forward(tokens, 1, logits, workspace), GPT_TINY_OK, "seq_len 1");

    /* Any thread count gives the same bits: each output element is computed the same way by
     * whichever thread claims it. */
    float *other = malloc(sizeof(float) * GPT_TINY_LOGITS_COUNT(GPT_TINY_MAX_SEQ_LEN));
    if (!other) return 2;
    expect(gpt_tiny_forward_threads(tokens, GPT_TINY_MAX_SEQ_LEN, logits, workspace, 1), GPT_TINY_OK, "1 thread");
    const int32_t counts[] = {2, 3, 64, 1000, -1};
    for (int c = 0; c < 5; c++) {
        expect(gpt_tiny_forward_threads(tokens, GPT_TINY_MAX_SEQ_LEN, other, workspace, counts[c]), GPT_TINY_OK, "threads");
        if (memcmp(logits, other, sizeof(float) * GPT_TINY_LOGITS_COUNT(GPT_TINY_MAX_SEQ_LEN)) != 0) {
            printf("FAIL: %d threads differ from 1 thread\n", counts[c]);
            failures++;
        }
    }
    /* The call's worker threads are joined before it returns: nothing is left running. */
    int threads = thread_count();
    if (threads != -1 && threads != 1) {
        printf("FAIL: %d threads are alive after the calls returned\n", threads);
        failures++;
    }
    free(other);
    free(logits);
    free(workspace);
    if (failures == 0) printf("ok\n");
    return failures == 0 ? 0 : 1;
}
