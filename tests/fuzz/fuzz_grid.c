/* fuzz_grid.c: the sweep-file reader: grid checks (placeholders, cycles, zip, include,
 * exclude, search, distributions) and the expansion into variants. */
#include "attnsweep/grid.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fz_text(data, size);
    if (!text) return 0;
    as_sweep s;
    as_error e;
    if (as_sweep_parse(text, "fuzz.json", NULL, NULL, NULL, &s, &e) == AS_OK) as_sweep_free(&s);
    free(text);
    return 0;
}
