/* Runs a tfc-compiled model on inputs read from a raw binary file and prints the outputs, for
 * comparison with the host's JIT (CrossTargetTests runs it for aarch64 under qemu-user).
 *
 * Build: cc -std=c11 -DMODEL_GPT -I DIR dump_outputs.c DIR/gpt_tiny.o -lm -lpthread   (or -DMODEL_VIT)
 * Usage: dump_outputs INPUTS.bin
 *   INPUTS.bin: the model's input as little-endian raw values: int32 token ids (gpt; seq_len is
 *   the file size / 4, so a file of 65 ids asks for seq_len 65) or float32 pixels (vit).
 * Prints "status N" (what <name>_forward returned), then
 *   - on success: "threads identical" if <name>_forward_threads with 1, 2 and 3 threads gave
 *     the same bits as <name>_forward (else "threads differ"), then every output value, one per
 *     line, with %.9g (enough digits to round-trip a float);
 *   - on an error: "output untouched" if the call left the output buffer as it was (else
 *     "output written").
 * Exits 0 when it could run the model at all, whatever the status; 2 on a usage or I/O error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_api.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s INPUTS.bin\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    if (fseek(f, 0, SEEK_END) != 0) { perror("fseek"); return 2; }
    long bytes = ftell(f);
    rewind(f);
    if (bytes <= 0 || bytes % (long)sizeof(model_input_t) != 0) {
        fprintf(stderr, "%s: %ld bytes is not a whole number of inputs\n", argv[1], bytes);
        return 2;
    }
    size_t count = (size_t)bytes / sizeof(model_input_t);
    int64_t seq_len = 1;
#if MODEL_HAS_SEQ
    seq_len = (int64_t)count;
#else
    if (count != MODEL_INPUT_COUNT(1)) {
        fprintf(stderr, "%s: %zu values, expected %zu\n", argv[1], count, (size_t)MODEL_INPUT_COUNT(1));
        return 2;
    }
#endif
    model_input_t *input = malloc(count * sizeof *input);
    if (!input || fread(input, sizeof *input, count, f) != count) { fprintf(stderr, "cannot read %s\n", argv[1]); return 2; }
    fclose(f);

    size_t out_count = MODEL_OUTPUT_COUNT(seq_len);
    float *out = malloc(out_count * sizeof *out);
    float *other = malloc(out_count * sizeof *other);
    void *workspace = aligned_alloc(MODEL_WORKSPACE_ALIGNMENT, (MODEL_WORKSPACE_SIZE + 63) / 64 * 64);
    if (!out || !other || !workspace) { fprintf(stderr, "out of memory\n"); return 2; }

    /* A sentinel pattern: a failed call must leave it as it is. */
    memset(out, 0xA5, out_count * sizeof *out);
    int32_t status = MODEL_FORWARD(input, seq_len, out, workspace);
    printf("status %d\n", (int)status);
    if (status != MODEL_OK) {
        int untouched = 1;
        const unsigned char *p = (const unsigned char *)out;
        for (size_t i = 0; i < out_count * sizeof *out; i++) untouched &= p[i] == 0xA5;
        printf(untouched ? "output untouched\n" : "output written\n");
        return 0;
    }

    int identical = 1;
    for (int32_t threads = 1; threads <= 3; threads++) {
        memset(other, 0, out_count * sizeof *other);
        if (MODEL_FORWARD_THREADS(input, seq_len, other, workspace, threads) != MODEL_OK
            || memcmp(out, other, out_count * sizeof *out) != 0) identical = 0;
    }
    printf(identical ? "threads identical\n" : "threads differ\n");
    for (size_t i = 0; i < out_count; i++) printf("%.9g\n", out[i]);
    free(input);
    free(out);
    free(other);
    free(workspace);
    return 0;
}
