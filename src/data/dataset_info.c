/* dataset_info.c: `attnsweep data info` -- a lenient description, then the strict
 * loader's verdict (see as_dataset_info in dataset.h). */
#include <math.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/dataset.h"
#include "attnsweep/h5util.h"
#include "attnsweep/memory.h"

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

/* Running statistics of a dataset's values. */
typedef struct {
    size_t nans, infs, fin;
    double lo, hi;
    long cnt[INFO_MAX_CLASSES], other;
} value_stats;

static void stats_add(value_stats *st, const double *v, size_t n, int labels) {
    for (size_t i = 0; i < n; i++) {
        if (isnan(v[i])) st->nans++;
        else if (isinf(v[i])) st->infs++;
        else {
            st->fin++;
            st->lo = fmin(st->lo, v[i]);
            st->hi = fmax(st->hi, v[i]);
        }
        if (!labels) continue;
        if (v[i] >= 0 && v[i] < INFO_MAX_CLASSES) st->cnt[(int)v[i]]++;
        else st->other++;
    }
}

#define INFO_BLOCK ((size_t)1 << 20) /* values read at a time: memory stays bounded */

/* Reads ds (rank r, dims d) block by block along its first axis into st. */
static int read_stats(hid_t ds, int r, const hsize_t *d, int labels, value_stats *st) {
    size_t row = 1;
    for (int i = 1; i < r; i++) row = as_mem_mul(row, (size_t)d[i]);
    if (r == 0 || d[0] == 0 || row == 0) return 1;
    size_t rows = row >= INFO_BLOCK ? 1 : INFO_BLOCK / row;
    if (row > (size_t)1 << 28) return 0; /* one row beyond 2 GiB of doubles */
    double *v = as_malloc(rows * row * sizeof(double));
    hid_t fs = H5Dget_space(ds);
    int ok = v && fs >= 0;
    for (hsize_t r0 = 0; ok && r0 < d[0]; r0 += rows) {
        hsize_t start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
        for (int i = 0; i < r; i++) count[i] = d[i];
        start[0] = r0;
        count[0] = d[0] - r0 < rows ? d[0] - r0 : rows;
        hsize_t n = count[0] * row;
        hid_t ms = H5Screate_simple(1, &n, NULL);
        ok = ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
             H5Dread(ds, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, v) >= 0;
        if (ms >= 0) H5Sclose(ms);
        if (ok) stats_add(st, v, (size_t)n, labels);
    }
    if (fs >= 0) H5Sclose(fs);
    as_free(v);
    return ok;
}

static void print_stats(FILE *out, const value_stats *st, int labels) {
    if (st->fin) fprintf(out, ", range [%.6g, %.6g]", st->lo, st->hi);
    fprintf(out, ", NaN %zu, Inf %zu", st->nans, st->infs);
    if (!labels) return;
    fprintf(out, "; class counts:");
    const char *sep = " ";
    for (int k = 0; k < INFO_MAX_CLASSES; k++)
        if (st->cnt[k]) fprintf(out, "%s%d: %ld", sep, k, st->cnt[k]), sep = ", ";
    if (st->other) fprintf(out, "%sother: %ld", sep, st->other);
}

/* Describes one dataset: type, shape, NaN/Inf counts, range or class counts. */
static void describe(hid_t f, const char *path, const char *name, FILE *out) {
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
    for (int i = 0; i < r; i++) fprintf(out, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
    fprintf(out, "]");
    as_error e;
    value_stats st;
    memset(&st, 0, sizeof st);
    st.lo = (double)INFINITY;
    st.hi = -(double)INFINITY;
    int labels = c == H5T_INTEGER && r == 1;
    if (as_h5_check_storage(ds, path, name, &e) != AS_OK)
        fprintf(out, ", unreadable: the file does not hold its values");
    else if ((c == H5T_FLOAT || c == H5T_INTEGER) && r >= 0 && read_stats(ds, r, d, labels, &st))
        print_stats(out, &st, labels);
    else
        fprintf(out, ", unreadable");
    fprintf(out, "\n");
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
    describe(f, path, "/train/x", out);
    describe(f, path, "/train/y", out);
    if (H5Lexists(f, "/test", H5P_DEFAULT) > 0) {
        describe(f, path, "/test/x", out);
        describe(f, path, "/test/y", out);
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
