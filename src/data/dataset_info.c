/* dataset_info.c: `attnsweep data info` -- a lenient description, then the strict
 * loader's verdict (see as_dataset_info in dataset.h). */
#include <math.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/dataset.h"
#include "attnsweep/h5util.h"

#define INFO_MAX_CLASSES 64

static herr_t print_attr(hid_t loc, const char *name, const H5A_info_t *ainfo, void *ud) {
    (void)ainfo;
    FILE *out = ud;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return 0;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    H5T_class_t c = H5Tget_class(t);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    fprintf(out, "  %s = ", name);
    if (c == H5T_STRING) {
        char *s = NULL;
        if (as_h5_read_attr_string(loc, name, &s, NULL) == AS_OK) fprintf(out, "\"%s\"", s);
        as_free(s);
    } else if ((c == H5T_INTEGER || c == H5T_FLOAT) && n >= 1 && n <= 256) {
        double v[256];
        if (H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) {
            fprintf(out, n > 1 ? "[" : "");
            for (hssize_t i = 0; i < n; i++) fprintf(out, "%s%.10g", i ? ", " : "", v[i]);
            fprintf(out, n > 1 ? "]" : "");
        }
    } else {
        fprintf(out, "(%lld values)", (long long)n);
    }
    fprintf(out, "\n");
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return 0;
}

/* Describes one dataset: type, shape, NaN/Inf counts, range or class counts. */
static void describe(hid_t f, const char *name, FILE *out) {
    char group[16];
    snprintf(group, sizeof group, "%.*s", (int)(strrchr(name, '/') - name), name);
    if (H5Lexists(f, group, H5P_DEFAULT) <= 0 || H5Lexists(f, name, H5P_DEFAULT) <= 0) {
        fprintf(out, "%s: missing\n", name);
        return;
    }
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) {
        fprintf(out, "%s: not a dataset\n", name);
        return;
    }
    hid_t t = H5Dget_type(ds), sp = H5Dget_space(ds);
    H5T_class_t c = H5Tget_class(t);
    size_t esz = H5Tget_size(t);
    int r = H5Sget_simple_extent_ndims(sp);
    hsize_t d[H5S_MAX_RANK];
    if (r > 0) H5Sget_simple_extent_dims(sp, d, NULL);
    fprintf(out, "%s: %s%zu [", name,
            c == H5T_FLOAT ? "float" : c == H5T_INTEGER ? "int" : "other", esz * 8);
    size_t total = 1;
    for (int i = 0; i < r; i++) {
        fprintf(out, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
        if (!as_size_mul(total, (size_t)d[i], &total)) total = SIZE_MAX;
    }
    fprintf(out, "]");
    double *v = (c == H5T_FLOAT || c == H5T_INTEGER) && total < SIZE_MAX / sizeof(double)
                    ? as_malloc(total * sizeof(double) + 1)
                    : NULL;
    if (v && (total == 0 || H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0)) {
        size_t nans = 0, infs = 0, fin = 0;
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < total; i++) {
            if (isnan(v[i])) nans++;
            else if (isinf(v[i])) infs++;
            else {
                fin++;
                lo = fmin(lo, v[i]);
                hi = fmax(hi, v[i]);
            }
        }
        if (fin) fprintf(out, ", range [%.6g, %.6g]", lo, hi);
        fprintf(out, ", NaN %zu, Inf %zu", nans, infs);
        if (c == H5T_INTEGER && r == 1) {
            long cnt[INFO_MAX_CLASSES] = {0}, other = 0;
            for (size_t i = 0; i < total; i++) {
                if (v[i] >= 0 && v[i] < INFO_MAX_CLASSES) cnt[(int)v[i]]++;
                else other++;
            }
            fprintf(out, "; class counts:");
            const char *sep = " ";
            for (int k = 0; k < INFO_MAX_CLASSES; k++)
                if (cnt[k]) fprintf(out, "%s%d: %ld", sep, k, cnt[k]), sep = ", ";
            if (other) fprintf(out, "%sother: %ld", sep, other);
        }
    } else {
        fprintf(out, ", unreadable");
    }
    fprintf(out, "\n");
    as_free(v);
    H5Sclose(sp);
    H5Tclose(t);
    H5Dclose(ds);
}

as_status as_dataset_info(const char *path, FILE *out, as_error *err) {
    hid_t f = as_h5_open_read(path, err);
    if (f < 0) return AS_ERR_DATA;
    fprintf(out, "file: %s\nattributes:\n", path);
    hsize_t idx = 0;
    H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, &idx, print_attr, out);
    describe(f, "/train/x", out);
    describe(f, "/train/y", out);
    if (H5Lexists(f, "/test", H5P_DEFAULT) > 0) {
        describe(f, "/test/x", out);
        describe(f, "/test/y", out);
    }
    H5Fclose(f);
    as_dataset d;
    as_status st = as_dataset_load(path, &d, err);
    if (st != AS_OK) return st;
    fprintf(out, "valid: %s, %d training series", d.task == AS_TASK_REGRESSION ? "regression"
                                                                                : "classification",
            d.train.n);
    if (d.has_test) fprintf(out, ", %d test series", d.test.n);
    fprintf(out, ", length %d, %d channel(s)", d.train.t, d.train.c);
    if (d.task == AS_TASK_REGRESSION)
        fprintf(out, ", targets [%d, %d]\n", d.train.yt, d.train.yc);
    else
        fprintf(out, ", %d classes\n", d.n_classes);
    as_dataset_free(&d);
    return AS_OK;
}
