/* Calls every entry point of a tfc-compiled model (<name>_forward, and <name>_forward_threads
 * with 0, 1, 2 and 3 threads, and counts outside 0...64) on valid and invalid arguments, with every
 * buffer allocated to exactly its documented size, and checks what the header promises.
 * SanitizerTests builds it with clang -fsanitize=address,undefined (or thread) and links it with
 * the model; CrossTargetTests builds it for aarch64 without sanitizers and runs it under qemu.
 *
 * Build: clang -std=c11 -g -fsanitize=address,undefined -DMODEL_GPT -I DIR sanitizer_harness.c DIR/gpt_tiny.o -lm -lpthread
 *        (-DMODEL_VIT for vit_tiny.h; or -fsanitize=thread; or any C11 compiler without sanitizers)
 * Usage: sanitizer_harness MODE [quick]
 *   MODE heap        the workspace from aligned_alloc(64, size rounded up to 64), inputs and
 *                    outputs from malloc (4 bytes in, so only 4-byte aligned), so AddressSanitizer's
 *                    redzones lie right after them: catches any access past a buffer by code that
 *                    AddressSanitizer instrumented (the harness, or the model compiled from its
 *                    .ll), but not by the uninstrumented object;
 *   MODE guard-tail  each buffer ends where an inaccessible page begins: a read or write past its
 *                    end faults even in uninstrumented code (the object as `tfc compile` writes
 *                    it); the alignment slack before the page (workspace only) holds a pattern
 *                    that must survive;
 *   MODE guard-head  each buffer begins right after an inaccessible page: catches accesses before it.
 *                    In both guard modes the inputs are read-only, so a write to an input faults.
 *   quick            fewer valid calls (gpt: seq_len 1, 7 and the maximum instead of six lengths;
 *                    vit: one image; only <name>_forward and 3 threads; non-finite pixels through
 *                    <name>_forward only; no thread counts outside 0...3), for runs under qemu.
 * Checks, besides "no fault and no sanitizer report":
 *   - valid calls return OK and write every output element (the outputs are filled with NaN
 *     first, and every value must come back finite);
 *   - the results do not depend on what the workspace or the outputs held before (run with both
 *     filled with zero bytes and with 0xFF bytes, which are NaNs: same bits), so no result
 *     depends on workspace the call did not write first;
 *   - every thread count gives the bits of <name>_forward, also counts beyond the limit of 64
 *     and negative ones;
 *   - the inputs are never written;
 *   - bad ids (-1, the vocabulary size, INT32_MIN, INT32_MAX; first and last position), bad
 *     lengths (0, -3, max + 1, INT64_MIN, INT64_MAX) and NULL pointers give their documented
 *     status and leave the outputs and the workspace as they were;
 *   - calls from three threads at once, each with its own workspace and outputs, give the bits
 *     of one call alone.
 * Prints one FAIL line per broken promise and "ok N checks" at the end; exits 0 when all held. */
#define _GNU_SOURCE
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model_api.h"

enum mode { MODE_HEAP, MODE_GUARD_TAIL, MODE_GUARD_HEAD };
static enum mode mode = MODE_HEAP;
static int quick = 0;
static int failures = 0, checks = 0;

static void check(int ok, const char *what, long long arg) {
    checks++;
    if (!ok) {
        failures++;
        printf("FAIL %s (%lld)\n", what, arg);
        fflush(stdout);
    }
}

/* A buffer of exactly `size` bytes (aligned to `align`), placed according to the mode. */
typedef struct {
    unsigned char *ptr;
    size_t size;
    void *map;
    size_t map_len;
} buffer;

static const unsigned char slack_byte = 0x5A;

static buffer buffer_new(size_t size, size_t align) {
    buffer b = {NULL, size, NULL, 0};
    if (mode == MODE_HEAP) {
        if (align > 16) {
            b.ptr = aligned_alloc(align, (size + align - 1) / align * align);
        } else {
            /* Inputs and outputs 4 bytes past malloc's 16-byte alignment: the code may not assume
             * more than the element alignment. The end is still the end of the allocation. */
            b.map = malloc(size + 4);
            b.ptr = b.map ? (unsigned char *)b.map + 4 : NULL;
        }
        if (!b.ptr) { perror("malloc"); exit(2); }
        return b;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (size + align + page - 1) / page + 1;
    b.map_len = pages * page;
    b.map = mmap(NULL, b.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b.map == MAP_FAILED) { perror("mmap"); exit(2); }
    unsigned char *base = b.map;
    if (mode == MODE_GUARD_TAIL) {
        unsigned char *guard = base + (pages - 1) * page;
        if (mprotect(guard, page, PROT_NONE) != 0) { perror("mprotect"); exit(2); }
        b.ptr = (unsigned char *)((uintptr_t)(guard - size) & ~(uintptr_t)(align - 1));
        /* Bytes between the end and the guard page (alignment slack) hold a pattern. */
        memset(b.ptr + size, slack_byte, (size_t)(guard - (b.ptr + size)));
    } else {
        if (mprotect(base, page, PROT_NONE) != 0) { perror("mprotect"); exit(2); }
        b.ptr = base + page;
    }
    return b;
}

/* The slack after a guard-tail buffer still holds its pattern. */
static int slack_intact(const buffer *b) {
    if (mode != MODE_GUARD_TAIL) return 1;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const unsigned char *guard = (const unsigned char *)b->map + b->map_len - page;
    for (const unsigned char *p = b->ptr + b->size; p < guard; p++)
        if (*p != slack_byte) return 0;
    return 1;
}

/* Guard modes: inputs become read-only once filled. */
static void buffer_seal(buffer *b) {
    if (mode == MODE_HEAP) return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *base = b->map;
    unsigned char *start = mode == MODE_GUARD_HEAD ? base + page : base;
    size_t len = b->map_len - page;
    if (mprotect(start, len, PROT_READ) != 0) { perror("mprotect"); exit(2); }
}

static void buffer_free(buffer *b) {
    if (mode == MODE_HEAP) free(b->map ? b->map : b->ptr);
    else munmap(b->map, b->map_len);
    b->ptr = NULL;
}

/* The entry points: -1 is <name>_forward, t >= 0 <name>_forward_threads(..., t). */
static const int32_t entry_points[] = {-1, 0, 1, 2, 3};
#define ENTRY_POINTS ((int)(sizeof entry_points / sizeof entry_points[0]))

static int32_t call(int32_t threads, const model_input_t *in, int64_t seq, float *out, void *ws) {
    return threads < 0 ? MODEL_FORWARD(in, seq, out, ws) : MODEL_FORWARD_THREADS(in, seq, out, ws, threads);
}

static void fill_input(model_input_t *in, size_t count, int64_t seq, int variant) {
    for (size_t i = 0; i < count; i++) {
#if defined(MODEL_GPT)
        /* Ids over the whole vocabulary, both ends included. */
        in[i] = (int32_t)((i * 37 + (size_t)seq * 11 + (size_t)variant * 101) % MODEL_VOCAB);
        if (i == 0) in[i] = variant % 2 ? MODEL_VOCAB - 1 : 0;
#else
        (void)seq;
        in[i] = (float)sin(0.37 * (double)i + (double)variant) * 1.5f;
#endif
    }
}

/* One valid input through every entry point, the outputs and workspace pre-filled with zeros or
 * NaNs: both ways for <name>_forward, then alternately. */
static void run_valid(int64_t seq, int variant, buffer *ws) {
    size_t in_count = MODEL_INPUT_COUNT(seq), out_count = MODEL_OUTPUT_COUNT(seq);
    size_t out_bytes = out_count * sizeof(float);
    buffer in = buffer_new(in_count * sizeof(model_input_t), _Alignof(model_input_t));
    model_input_t *input = (model_input_t *)in.ptr;
    fill_input(input, in_count, seq, variant);
    model_input_t *copy = malloc(in_count * sizeof *copy);
    float *reference = malloc(out_bytes);
    if (!copy || !reference) exit(2);
    memcpy(copy, input, in_count * sizeof *copy);
    buffer_seal(&in);

    int have_reference = 0;
    for (int e = 0; e < ENTRY_POINTS; e++) {
        if (quick && e != 0 && e != ENTRY_POINTS - 1) continue;
        for (int fill = e == 0 ? 0 : e % 2; fill < 2; fill += 2 - (e == 0)) {
            buffer out = buffer_new(out_bytes, _Alignof(float));
            float *output = (float *)out.ptr;
            /* 0x00: zeros; 0xFF: NaNs. Results must not depend on either. */
            memset(ws->ptr, fill ? 0xFF : 0x00, ws->size);
            memset(output, fill ? 0xFF : 0x00, out_bytes);
            if (fill == 0) for (size_t i = 0; i < out_count; i++) output[i] = NAN;
            int32_t status = call(entry_points[e], input, seq, output, ws->ptr);
            check(status == MODEL_OK, "valid call returns OK (seq_len)", seq);
            int finite = 1;
            for (size_t i = 0; i < out_count; i++) finite &= isfinite(output[i]) != 0;
            check(finite, "every output element written and finite (seq_len)", seq);
            if (!have_reference) {
                memcpy(reference, output, out_bytes);
                have_reference = 1;
            } else {
                check(memcmp(reference, output, out_bytes) == 0,
                      "same bits for every entry point, thread count and prior buffer contents (threads)",
                      entry_points[e]);
            }
            check(slack_intact(&out) && slack_intact(ws), "nothing written past a buffer's end (seq_len)", seq);
            buffer_free(&out);
        }
    }
    check(memcmp(copy, input, in_count * sizeof *copy) == 0, "inputs unchanged (seq_len)", seq);
    buffer_free(&in);
    free(copy);
    free(reference);
}

/* One invalid call through every entry point: the status, and nothing written. */
static void run_invalid(const char *what, int32_t want, const model_input_t *input, int64_t seq, int null_out,
                        int null_ws, size_t out_count, buffer *ws) {
    size_t out_bytes = out_count * sizeof(float);
    for (int e = 0; e < ENTRY_POINTS; e++) {
        buffer out = buffer_new(out_bytes, _Alignof(float));
        memset(out.ptr, 0xA5, out_bytes);
        memset(ws->ptr, 0x3C, ws->size);
        int32_t status = call(entry_points[e], input, seq, null_out ? NULL : (float *)out.ptr, null_ws ? NULL : ws->ptr);
        char label[160];
        snprintf(label, sizeof label, "%s: status %d, expected %d (threads)", what, (int)status, (int)want);
        check(status == want, label, entry_points[e]);
        int untouched = 1;
        for (size_t i = 0; i < out_bytes; i++) untouched &= out.ptr[i] == 0xA5;
        for (size_t i = 0; i < ws->size; i++) untouched &= ws->ptr[i] == 0x3C;
        snprintf(label, sizeof label, "%s: outputs and workspace untouched (threads)", what);
        check(untouched, label, entry_points[e]);
        buffer_free(&out);
    }
}

static void run_invalid_cases(buffer *ws) {
#if defined(MODEL_GPT)
    /* Token buffers of exactly the length passed (or of MAX_SEQ when seq_len is too large). */
    const int64_t lengths[] = {1, 2, MODEL_MAX_SEQ};
    const int32_t bad_ids[] = {-1, MODEL_VOCAB, INT32_MIN, INT32_MAX};
    for (int l = 0; l < 3; l++) {
        int64_t seq = lengths[l];
        for (int b = 0; b < 4; b++) {
            for (int64_t at = 0; at < seq; at += seq > 1 ? seq - 1 : 1) {  /* first and last position */
                buffer in = buffer_new(MODEL_INPUT_COUNT(seq) * sizeof(model_input_t), _Alignof(model_input_t));
                fill_input((model_input_t *)in.ptr, MODEL_INPUT_COUNT(seq), seq, 0);
                ((model_input_t *)in.ptr)[at] = bad_ids[b];
                buffer_seal(&in);
                char what[96];
                snprintf(what, sizeof what, "id %d at %lld of %lld", (int)bad_ids[b], (long long)at, (long long)seq);
                run_invalid(what, MODEL_ERR_TOKEN_ID, (const model_input_t *)in.ptr, seq, 0, 0, MODEL_OUTPUT_COUNT(seq), ws);
                buffer_free(&in);
            }
        }
    }
    const int64_t bad_lengths[] = {0, -3, MODEL_MAX_SEQ + 1, INT64_MIN, INT64_MAX};
    buffer in = buffer_new(MODEL_INPUT_COUNT(MODEL_MAX_SEQ) * sizeof(model_input_t), _Alignof(model_input_t));
    fill_input((model_input_t *)in.ptr, MODEL_INPUT_COUNT(MODEL_MAX_SEQ), MODEL_MAX_SEQ, 0);
    buffer_seal(&in);
    for (int l = 0; l < 5; l++) {
        char what[64];
        snprintf(what, sizeof what, "seq_len %lld", (long long)bad_lengths[l]);
        /* The outputs are sized for the longest valid sequence. */
        run_invalid(what, MODEL_ERR_SEQ_LEN, (const model_input_t *)in.ptr, bad_lengths[l], 0, 0,
                    MODEL_OUTPUT_COUNT(MODEL_MAX_SEQ), ws);
    }
    buffer_free(&in);
#endif
    const int64_t seq = 2 <= MODEL_MAX_SEQ ? 2 : 1;
    buffer good = buffer_new(MODEL_INPUT_COUNT(seq) * sizeof(model_input_t), _Alignof(model_input_t));
    fill_input((model_input_t *)good.ptr, MODEL_INPUT_COUNT(seq), seq, 0);
    buffer_seal(&good);
    run_invalid("NULL input", MODEL_ERR_NULL, NULL, seq, 0, 0, MODEL_OUTPUT_COUNT(seq), ws);
    run_invalid("NULL output", MODEL_ERR_NULL, (const model_input_t *)good.ptr, seq, 1, 0, MODEL_OUTPUT_COUNT(seq), ws);
    run_invalid("NULL workspace", MODEL_ERR_NULL, (const model_input_t *)good.ptr, seq, 0, 1, MODEL_OUTPUT_COUNT(seq), ws);
    /* A workspace of the full size at an address that is not a multiple of 64 (malloc's 16, and
     * less): refused, nothing written, in every mode (in guard-tail mode it ends short of the page). */
    buffer wide = buffer_new(MODEL_WORKSPACE_SIZE + MODEL_WORKSPACE_ALIGNMENT, MODEL_WORKSPACE_ALIGNMENT);
    const size_t offsets[] = {4, 16, 32, 48, MODEL_WORKSPACE_ALIGNMENT - 4};
    for (int o = 0; o < 5; o++) {
        buffer shifted = wide;
        shifted.ptr = wide.ptr + offsets[o];
        shifted.size = MODEL_WORKSPACE_SIZE;
        char what[64];
        snprintf(what, sizeof what, "workspace at 64k + %zu", offsets[o]);
        run_invalid(what, MODEL_ERR_ALIGNMENT, (const model_input_t *)good.ptr, seq, 0, 0, MODEL_OUTPUT_COUNT(seq),
                    &shifted);
    }
    buffer_free(&wide);
    buffer_free(&good);
}

/* The longest input through thread counts outside 0...64 (clamped, per the header's "at most 64"). */
static void run_thread_limits(buffer *ws) {
    const int64_t seq = MODEL_MAX_SEQ;
    size_t in_count = MODEL_INPUT_COUNT(seq), out_bytes = MODEL_OUTPUT_COUNT(seq) * sizeof(float);
    buffer in = buffer_new(in_count * sizeof(model_input_t), _Alignof(model_input_t));
    fill_input((model_input_t *)in.ptr, in_count, seq, 3);
    buffer_seal(&in);
    buffer reference = buffer_new(out_bytes, _Alignof(float)), out = buffer_new(out_bytes, _Alignof(float));
    check(MODEL_FORWARD((const model_input_t *)in.ptr, seq, (float *)reference.ptr, ws->ptr) == MODEL_OK,
          "forward for the thread-count checks", 0);
    const int32_t counts[] = {64, 65, 1000, INT32_MAX, -1, INT32_MIN};
    for (int c = 0; c < 6; c++) {
        memset(out.ptr, 0xFF, out_bytes);
        int32_t status = MODEL_FORWARD_THREADS((const model_input_t *)in.ptr, seq, (float *)out.ptr, ws->ptr, counts[c]);
        check(status == MODEL_OK && memcmp(reference.ptr, out.ptr, out_bytes) == 0,
              "thread count out of 0...64: OK and the same bits (threads)", counts[c]);
        check(slack_intact(&out) && slack_intact(ws), "nothing written past a buffer's end (threads)", counts[c]);
    }
    buffer_free(&out);
    buffer_free(&reference);
    buffer_free(&in);
}

/* Three callers at once, each with its own workspace and outputs, on 1, 2 and 3 threads. */
typedef struct {
    const model_input_t *input;
    int64_t seq;
    int32_t threads;
    buffer out, ws;
    int32_t status;
} concurrent_call;

static void *concurrent_caller(void *arg) {
    concurrent_call *c = arg;
    for (int repeat = 0; repeat < 2 && (c->status = MODEL_FORWARD_THREADS(c->input, c->seq, (float *)c->out.ptr,
                                                                        c->ws.ptr, c->threads)) == MODEL_OK; repeat++) {}
    return NULL;
}

static void run_concurrent_calls(buffer *ws) {
    const int64_t seq = MODEL_MAX_SEQ;
    size_t in_count = MODEL_INPUT_COUNT(seq), out_bytes = MODEL_OUTPUT_COUNT(seq) * sizeof(float);
    buffer in = buffer_new(in_count * sizeof(model_input_t), _Alignof(model_input_t));
    fill_input((model_input_t *)in.ptr, in_count, seq, 4);
    buffer_seal(&in);
    buffer reference = buffer_new(out_bytes, _Alignof(float));
    check(MODEL_FORWARD((const model_input_t *)in.ptr, seq, (float *)reference.ptr, ws->ptr) == MODEL_OK,
          "forward for the concurrent-call checks", 0);
    concurrent_call calls[3];
    pthread_t ids[3];
    for (int i = 0; i < 3; i++) {
        calls[i] = (concurrent_call){(const model_input_t *)in.ptr, seq, i + 1, buffer_new(out_bytes, _Alignof(float)),
                                     buffer_new(MODEL_WORKSPACE_SIZE, MODEL_WORKSPACE_ALIGNMENT), -1};
        if (pthread_create(&ids[i], NULL, concurrent_caller, &calls[i]) != 0) { perror("pthread_create"); exit(2); }
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(ids[i], NULL);
        check(calls[i].status == MODEL_OK && memcmp(reference.ptr, calls[i].out.ptr, out_bytes) == 0,
              "concurrent calls: OK and the bits of a lone call (threads)", calls[i].threads);
        check(slack_intact(&calls[i].out) && slack_intact(&calls[i].ws), "concurrent calls: nothing written past the end",
              calls[i].threads);
        buffer_free(&calls[i].out);
        buffer_free(&calls[i].ws);
    }
    buffer_free(&reference);
    buffer_free(&in);
}

#if defined(MODEL_VIT)
/* Non-finite and huge pixels: any result is fine, but no fault and no sanitizer report. */
static void run_extreme_inputs(buffer *ws, int entry_points_used) {
    const float specials[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 0.0f};
    for (int s = 0; s < 6; s++) {
        buffer in = buffer_new(MODEL_INPUT_COUNT(1) * sizeof(float), _Alignof(float));
        fill_input((model_input_t *)in.ptr, MODEL_INPUT_COUNT(1), 1, s);
        for (size_t i = (size_t)s; i < MODEL_INPUT_COUNT(1); i += 7) ((float *)in.ptr)[i] = specials[s];
        buffer_seal(&in);
        buffer out = buffer_new(MODEL_OUTPUT_COUNT(1) * sizeof(float), _Alignof(float));
        for (int e = 0; e < entry_points_used; e++) {
            int32_t status = call(entry_points[e], (const float *)in.ptr, 1, (float *)out.ptr, ws->ptr);
            check(status == MODEL_OK, "non-finite pixels: status OK (special)", s);
            check(slack_intact(&out) && slack_intact(ws), "non-finite pixels: nothing written past the end", s);
        }
        buffer_free(&out);
        buffer_free(&in);
    }
}
#endif

#if defined(MODEL_GPT)
/* The extend entry points with a cache of exactly GPT_TINY_CACHE_SIZE bytes and outputs of
 * exactly one row (or n rows for _extend_all), placed by the mode: the cache filled to its
 * last position in chunks of 1...5, then truncated and refilled, both calls alternating. */
static void run_extend(buffer *ws) {
    buffer cache = buffer_new(GPT_TINY_CACHE_SIZE, GPT_TINY_CACHE_ALIGNMENT);
    buffer in = buffer_new(MODEL_INPUT_COUNT(GPT_TINY_MAX_CONTEXT) * sizeof(int32_t), _Alignof(int32_t));
    fill_input((int32_t *)in.ptr, MODEL_INPUT_COUNT(GPT_TINY_MAX_CONTEXT), 5, 1);
    buffer_seal(&in);
    const int32_t *tokens = (const int32_t *)in.ptr;
    check(gpt_tiny_cache_init(cache.ptr) == GPT_TINY_OK, "cache_init", 0);
    for (int pass = 0; pass < (quick ? 1 : 2); pass++) {
        int64_t at = pass == 0 ? 0 : 9;
        if (pass == 1) check(gpt_tiny_cache_truncate(cache.ptr, at) == GPT_TINY_OK, "truncate", at);
        for (int64_t n = 1; at < GPT_TINY_MAX_CONTEXT; at += n, n = n % 5 + 1) {
            if (at + n > GPT_TINY_MAX_CONTEXT) n = GPT_TINY_MAX_CONTEXT - at;
            int all = (at / 3) % 2;
            buffer out = buffer_new(MODEL_OUTPUT_COUNT(all ? n : 1) * sizeof(float), _Alignof(float));
            int32_t status = all ? gpt_tiny_extend_all(tokens + at, n, cache.ptr, (float *)out.ptr, ws->ptr, (int32_t)(at % 3))
                                 : gpt_tiny_extend(tokens + at, n, cache.ptr, (float *)out.ptr, ws->ptr, (int32_t)(at % 3));
            check(status == GPT_TINY_OK, "extend", at);
            check(slack_intact(&out), "extend: the bytes after the logits", at);
            buffer_free(&out);
        }
        check(gpt_tiny_cache_length(cache.ptr) == GPT_TINY_MAX_CONTEXT, "cache length", pass);
        buffer one = buffer_new(MODEL_OUTPUT_COUNT(1) * sizeof(float), _Alignof(float));
        check(gpt_tiny_extend(tokens, 1, cache.ptr, (float *)one.ptr, ws->ptr, 1) == GPT_TINY_ERR_CACHE_FULL, "full", pass);
        buffer_free(&one);
    }
    check(slack_intact(&cache), "the bytes after the cache", 0);
    buffer_free(&in);
    buffer_free(&cache);
}
#endif

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "quick") != 0)) {
        fprintf(stderr, "usage: %s heap|guard-tail|guard-head [quick]\n", argv[0]);
        return 2;
    }
    quick = argc == 3;
    if (strcmp(argv[1], "heap") == 0) mode = MODE_HEAP;
    else if (strcmp(argv[1], "guard-tail") == 0) mode = MODE_GUARD_TAIL;
    else if (strcmp(argv[1], "guard-head") == 0) mode = MODE_GUARD_HEAD;
    else { fprintf(stderr, "unknown mode %s\n", argv[1]); return 2; }

    buffer ws = buffer_new(MODEL_WORKSPACE_SIZE, MODEL_WORKSPACE_ALIGNMENT);
#if MODEL_HAS_SEQ
    const int64_t lengths[] = {1, 7, MODEL_MAX_SEQ, 2, 33, MODEL_MAX_SEQ - 1};
    for (int l = 0; l < (quick ? 3 : 6); l++) run_valid(lengths[l], l, &ws);
#else
    run_valid(1, 0, &ws);
    if (!quick) run_valid(1, 1, &ws);
    run_extreme_inputs(&ws, quick ? 1 : ENTRY_POINTS);
#endif
    run_invalid_cases(&ws);
#if defined(MODEL_GPT)
    run_extend(&ws);
#endif
    if (!quick) run_thread_limits(&ws);
    run_concurrent_calls(&ws);
    buffer_free(&ws);
    if (failures) {
        printf("%d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("ok %d checks\n", checks);
    return 0;
}
