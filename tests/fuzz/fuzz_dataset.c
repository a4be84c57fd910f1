/* fuzz_dataset.c: the dataset loader (as_dataset_load) and `data info`
 * (as_dataset_info) on HDF5 files written from the fuzz bytes by the structured
 * generator (fuzz_h5gen.h): task and n_classes attributes of any shape, /train and
 * /test x and y of fuzzed class, rank, shape, layout and values. */
#include "attnsweep/dataset.h"
#include "fuzz_h5gen.h"

static void split(fz_reader *r, hid_t f, const char *name, int cls) {
    hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return;
    hsize_t n = 1 + fz_u8(r) % 5, t = 1 + fz_u8(r) % 6, c = 1 + fz_u8(r) % 2;
    hsize_t xd[3] = {n, t, c}, yd[3] = {n, t, 1};
    fz_dataset(r, g, "x", H5T_FLOAT, 3, xd);
    if (fz_u8(r) % 8) fz_dataset(r, g, "y", cls ? H5T_INTEGER : H5T_FLOAT, cls ? 1 : 3, yd);
    H5Gclose(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader r = {data, size};
    const char *path = fz_path("dataset.h5");
    hid_t f = fz_h5_create(path);
    if (f < 0) return 0;
    int cls = fz_u8(&r) & 1;
    fz_attr(&r, f, "task", cls ? "classification" : "regression", 0);
    fz_attr(&r, f, "n_classes", NULL, 1 + fz_u8(&r) % 5);
    if (fz_u8(&r) % 8) split(&r, f, "train", cls);
    if (fz_u8(&r) % 2) split(&r, f, "test", cls);
    H5Fclose(f);
    as_dataset d;
    as_error e;
    if (as_dataset_load(path, &d, &e) == AS_OK) as_dataset_free(&d);
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull) {
        as_dataset_info(path, devnull, &e);
        fclose(devnull);
    }
    unlink(path);
    return 0;
}
