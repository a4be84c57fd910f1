/* fuzz_grid.c: the sweep-file reader: grid checks (placeholders, cycles, zip, include,
 * exclude, search, distributions) and the expansion into variants. */
#include "attnsweep/grid.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_budget();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    as_sweep s;
    as_error e;
    if (as_sweep_parse(text, "fuzz.json", NULL, NULL, NULL, &s, &e) == AS_OK) as_sweep_free(&s);
    free(text);
    return 0;
}
