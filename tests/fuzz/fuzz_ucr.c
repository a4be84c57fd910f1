/* fuzz_ucr.c: the UCR text reader and importer: the first byte picks the options
 * (bit 0 the same bytes as train and test file, 1 --merge-shuffle, 2 --znorm, 3 writing
 * the HDF5 file, 4-7 the seed, with --fill none|interpolate|zero from bits 4-7 mod 3 and
 * --length none|pad|truncate|resample from bits 6-7, resampling to 1 + 3 * (bits 0-2)
 * values), the rest is the file's text. */
#include "attnsweep/alloc.h"
#include "attnsweep/ucr.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t opt = data[0];
    const char *path = fz_path("ucr.tsv"), *out = fz_path("ucr.h5");
    if (!fz_write(path, data + 1, size - 1)) return 0;
    as_error e;
    as_ucr_table tb;
    if (as_ucr_read(path, &tb, &e) == AS_OK) as_ucr_table_free(&tb);
    as_ucr_options o = {.train_path = path,
                        .test_path = (opt & 1) ? path : NULL,
                        .merge_shuffle = (opt >> 1) & 1,
                        .seed = (uint64_t)(opt >> 4),
                        .znorm = (opt >> 2) & 1,
                        .fill = (as_ucr_fill)((opt >> 4) % 3),
                        .length = (as_ucr_length)(opt >> 6),
                        .length_n = opt >> 6 == AS_LENGTH_RESAMPLE ? 1 + (opt & 7) * 3 : 0};
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
