/* Calls a compiled gpt_tiny_forward with bad arguments and checks every status code, and that
 * a failed call leaves the output untouched. Prints "ok" and exits 0 when all hold. */
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
    expect(gpt_tiny_forward(tokens, GPT_TINY_MAX_SEQ_LEN, logits, workspace), GPT_TINY_OK, "seq_len max");
    expect(gpt_tiny_forward(tokens, 1, logits, workspace), GPT_TINY_OK, "seq_len 1");
    free(logits);
    free(workspace);
    if (failures == 0) printf("ok\n");
    return failures == 0 ? 0 : 1;
}
