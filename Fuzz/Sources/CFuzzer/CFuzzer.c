// A stand-in for libFuzzer's LLVMFuzzerRunDriver, so that the fuzz targets also link in a plain
// build (`swift build --package-path Fuzz`, no -sanitize=fuzzer): it runs the test function
// once on each file named on the command line, which replays inputs without sanitizers. With
// -sanitize=fuzzer, libclang_rt.fuzzer is linked whole and its definition replaces this weak one.
#include "CFuzzer.h"

#include <stdio.h>
#include <stdlib.h>

__attribute__((weak)) int LLVMFuzzerRunDriver(int *argc, char ***argv,
                                              int (*callback)(const uint8_t *data, size_t size)) {
    fprintf(stderr, "built without -sanitize=fuzzer: running each file given once (scripts/fuzz.sh builds the fuzzer)\n");
    int ran = 0;
    for (int i = 1; i < *argc; i++) {
        const char *path = (*argv)[i];
        if (path[0] == '-') continue;  // libFuzzer flags
        FILE *file = fopen(path, "rb");
        if (!file) {
            fprintf(stderr, "cannot open %s\n", path);
            return 1;
        }
        fseek(file, 0, SEEK_END);
        long size = ftell(file);
        fseek(file, 0, SEEK_SET);
        uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
        size_t got = size > 0 ? fread(data, 1, (size_t)size, file) : 0;
        fclose(file);
        fprintf(stderr, "Running: %s\n", path);
        callback(data, got);
        free(data);
        ran++;
    }
    fprintf(stderr, "Executed %d inputs\n", ran);
    return 0;
}
