/* fuzz_ucr.c: the UCR text reader and importer: the first byte picks the options
 * (the same bytes as train and test file, --merge-shuffle, --znorm, writing the HDF5
 * file), the rest is the file's text. */
#include "attnsweep/alloc.h"
#include "attnsweep/ucr.h"
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
    if (size < 1) return 0;
    uint8_t opt = data[0];
    const char *path = fz_path("ucr.tsv"), *out = fz_path("ucr.h5");
    if (!fz_write(path, data + 1, size - 1)) return 0;
    as_error e;
    as_ucr_table tb;
    if (as_ucr_read(path, &tb, &e) == AS_OK) as_ucr_table_free(&tb);
    as_ucr_options o = {path, (opt & 1) ? path : NULL, (opt >> 1) & 1, (uint64_t)(opt >> 4),
                        (opt >> 2) & 1};
    if (opt & 8) {
        FILE *devnull = fopen("/dev/null", "w");
        as_ucr_write(&o, out, devnull, &e);
        if (devnull) fclose(devnull);
        unlink(out);
    } else {
        as_dataset d;
        int *classes, k;
        if (as_ucr_import(&o, &d, &classes, &k, &e) == AS_OK) {
            as_dataset_free(&d);
            as_free(classes);
        }
    }
    unlink(path);
    return 0;
}
