/* dataset.c: the strict loader, the writer and the row helpers (see dataset.h). */
#include "attnsweep/dataset.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/memory.h"

_Static_assert(sizeof(hid_t) == sizeof(int64_t), "hid_t is passed as int64_t");

size_t as_split_x_row(const as_split *s) { return (size_t)s->t * (size_t)s->c; }

size_t as_split_y_row(const as_split *s) {
    return s->labels ? 1 : (size_t)s->yt * (size_t)s->yc;
}

static void split_free(as_split *s) {
    as_free(s->x);
    as_free(s->y);
    as_free(s->labels);
    memset(s, 0, sizeof *s);
}

void as_dataset_free(as_dataset *d) {
    if (!d) return;
    as_free(d->path);
    split_free(&d->train);
    split_free(&d->test);
    memset(d, 0, sizeof *d);
}

/* 1 when link `name` of f is a hard link; else 0 with err set: an external link (or a soft
 * link, which may lead through one) reads another file, which the data hash (the file's
 * bytes) does not cover. */
static int hard_link(hid_t f, const char *path, const char *name, as_error *err) {
    H5L_info_t li;
    if (H5Lget_info(f, name, &li, H5P_DEFAULT) < 0) {
        as_error_set(err, AS_ERR_DATA, "%s: %s: cannot read its link", path, name);
        return 0;
    }
    if (li.type == H5L_TYPE_HARD) return 1;
    as_error_set(err, AS_ERR_DATA, "%s: %s: is %s link; a dataset file must hold its data itself "
                 "(its SHA-256 would not cover what the link points to)", path, name,
                 li.type == H5L_TYPE_SOFT ? "a soft" : li.type == H5L_TYPE_EXTERNAL ? "an external"
                                                                                  : "a user-defined");
    return 0;
}

/* 1 when dataset ds keeps its values in this file; else 0 with err set (external raw
 * storage or a virtual dataset's source files are outside the data hash too). */
static int in_file(hid_t ds, const char *path, const char *name, as_error *err) {
    hid_t dcpl = H5Dget_create_plist(ds);
    int ext = dcpl < 0 ? -1 : H5Pget_external_count(dcpl);
    H5D_layout_t lay = dcpl < 0 ? H5D_LAYOUT_ERROR : H5Pget_layout(dcpl);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (ext == 0 && lay != H5D_VIRTUAL && lay != H5D_LAYOUT_ERROR) return 1;
    as_error_set(err, AS_ERR_DATA, "%s: %s: %s; a dataset file must hold its data itself", path, name,
                 lay == H5D_VIRTUAL ? "a virtual dataset (its values are in other files)"
                 : ext > 0 ? "its values are stored in external files" : "cannot read its layout");
    return 0;
}

/* Opens dataset `name` (e.g. "/train/x"), checks its type class and rank, returns its
 * dims in dims[rank] as ints (each >= 0). -1 on error with err set. */
static hid_t open_checked(hid_t f, const char *path, const char *name, H5T_class_t cls,
                          const char *cls_name, int rank, int *dims, as_error *err) {
    const char *slash = strrchr(name, '/');
    char group[64];
    size_t glen = (size_t)(slash - name);
    if (glen == 0 || glen >= sizeof group) glen = 0;
    memcpy(group, name, glen);
    group[glen] = 0;
    /* the group's link is checked before anything under it is looked up (which would
     * follow a soft or external link to another file) */
    if (glen && H5Lexists(f, group, H5P_DEFAULT) > 0 && !hard_link(f, path, group, err)) return -1;
    if ((glen && H5Lexists(f, group, H5P_DEFAULT) <= 0) || H5Lexists(f, name, H5P_DEFAULT) <= 0) {
        as_error_set(err, AS_ERR_DATA, "%s: %s: missing dataset", path, name);
        return -1;
    }
    if (!hard_link(f, path, name, err)) return -1;
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) {
        as_error_set(err, AS_ERR_DATA, "%s: %s: not a dataset", path, name);
        return -1;
    }
    if (!in_file(ds, path, name, err)) {
        H5Dclose(ds);
        return -1;
    }
    hid_t t = H5Dget_type(ds);
    H5T_class_t c = H5Tget_class(t);
    H5Tclose(t);
    hid_t sp = H5Dget_space(ds);
    int r = H5Sget_simple_extent_ndims(sp);
    hsize_t hd[H5S_MAX_RANK];
    if (r > 0) H5Sget_simple_extent_dims(sp, hd, NULL);
    H5Sclose(sp);
    if (c != cls) {
        H5Dclose(ds);
        as_error_set(err, AS_ERR_DATA, "%s: %s: must hold %s values", path, name, cls_name);
        return -1;
    }
    if (r != rank) {
        H5Dclose(ds);
        as_error_set(err, AS_ERR_DATA, "%s: %s: rank %d, expected rank %d", path, name, r, rank);
        return -1;
    }
    for (int i = 0; i < r; i++) {
        if (hd[i] > (hsize_t)INT_MAX) {
            H5Dclose(ds);
            as_error_set(err, AS_ERR_DATA, "%s: %s: dimension %d too large", path, name, i);
            return -1;
        }
        dims[i] = (int)hd[i];
    }
    return ds;
}

/* Reads all of ds as mtype into a new buffer of n elements of size esz. */
static void *read_all(hid_t ds, hid_t mtype, size_t n, size_t esz, const char *path,
                      const char *name, as_error *err) {
    size_t bytes;
    if (!as_size_mul(n, esz, &bytes)) {
        as_error_set(err, AS_ERR_NOMEM, "%s: %s: too large", path, name);
        return NULL;
    }
    void *buf = as_malloc(bytes ? bytes : 1);
    if (!buf) {
        as_error_set(err, AS_ERR_NOMEM, "%s: %s: out of memory (%zu bytes)", path, name, bytes);
        return NULL;
    }
    if (n && H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        as_free(buf);
        as_error_set(err, AS_ERR_DATA, "%s: %s: cannot read", path, name);
        return NULL;
    }
    return buf;
}

/* NaN/Inf check over an [n, t, c] float array. */
static as_status check_finite(const float *v, int n, int t, int c, const char *path,
                              const char *name, as_error *err) {
    size_t total = (size_t)n * (size_t)t * (size_t)c, nans = 0, infs = 0, first = 0;
    for (size_t i = 0; i < total; i++) {
        if (isnan(v[i])) {
            if (!nans && !infs) first = i;
            nans++;
        } else if (isinf(v[i])) {
            if (!nans && !infs) first = i;
            infs++;
        }
    }
    if (!nans && !infs) return AS_OK;
    size_t row = (size_t)t * (size_t)c;
    return as_error_set(err, AS_ERR_DATA,
                        "%s: %s: %zu NaN and %zu Inf values (first at series %zu, step %zu, "
                        "channel %zu)",
                        path, name, nans, infs, first / row, (first % row) / (size_t)c,
                        first % (size_t)c);
}

/* x and y shapes agree: rows, regression target length and channels. */
static as_status check_shapes(const char *path, const char *xn, const char *yn, const int *xd,
                              const int *yd, int cls, as_error *err) {
    if (xd[0] == 0 || xd[1] == 0 || xd[2] == 0)
        return as_error_set(err, AS_ERR_DATA, "%s: %s: empty (shape [%d, %d, %d]): no series",
                            path, xn, xd[0], xd[1], xd[2]);
    if (yd[0] != xd[0])
        return as_error_set(err, AS_ERR_DATA, "%s: %s: %d rows but %s has %d", path, yn, yd[0],
                            xn, xd[0]);
    if (!cls && yd[1] != xd[1])
        return as_error_set(err, AS_ERR_DATA,
                            "%s: %s: target length %d differs from the input length %d of %s",
                            path, yn, yd[1], xd[1], xn);
    if (!cls && yd[2] == 0)
        return as_error_set(err, AS_ERR_DATA, "%s: %s: zero target channels", path, yn);
    return AS_OK;
}

/* The split's x and y in memory, checked against the budget before reading. */
static as_status check_split_memory(const char *path, const char *xn, const int *xd,
                                    const int *yd, int cls, as_error *err) {
    size_t nx = as_mem_mul(as_mem_mul((size_t)xd[0], (size_t)xd[1]), (size_t)xd[2]);
    size_t ny = cls ? (size_t)yd[0] : as_mem_mul(as_mem_mul((size_t)yd[0], (size_t)yd[1]),
                                                 (size_t)yd[2]);
    char what[600];
    snprintf(what, sizeof what, "%s: %s: [%d, %d, %d] series (with their targets)", path, xn,
             xd[0], xd[1], xd[2]);
    size_t bytes = as_mem_mul(as_mem_add(nx, ny), sizeof(float));
    if (cls) /* labels are read as 64-bit integers first (read_labels) */
        bytes = as_mem_add(bytes, as_mem_mul(ny, sizeof(int64_t)));
    return as_mem_check(bytes, what, AS_ERR_DATA, err);
}

/* The class labels of ys (n of them), read as 64-bit integers (unsigned ones as such) so
 * that a value beyond int is reported as stored, each checked to be in 0..n_classes-1;
 * *out as_malloc'd ints. */
static as_status read_labels(hid_t ys, size_t n, const char *path, const char *yn, int n_classes,
                             int **out, as_error *err) {
    hid_t ft = H5Dget_type(ys);
    int uns = ft >= 0 && H5Tget_sign(ft) == H5T_SGN_NONE;
    if (ft >= 0) H5Tclose(ft);
    int64_t *v = read_all(ys, uns ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64, n, sizeof(int64_t), path,
                          yn, err);
    if (!v) return err ? err->code : AS_ERR_DATA;
    int *lab = as_malloc((n ? n : 1) * sizeof(int));
    as_status st = lab ? AS_OK : as_error_set(err, AS_ERR_NOMEM, "%s: %s: out of memory", path, yn);
    for (size_t i = 0; !st && i < n; i++) {
        uint64_t u = (uint64_t)v[i];
        int bad = uns ? u >= (uint64_t)n_classes : v[i] < 0 || v[i] >= n_classes;
        char val[32];
        if (uns) snprintf(val, sizeof val, "%llu", (unsigned long long)u);
        else snprintf(val, sizeof val, "%lld", (long long)v[i]);
        if (bad)
            st = as_error_set(err, AS_ERR_DATA,
                              "%s: %s: label %s of series %zu is outside 0..%d (n_classes = %d)",
                              path, yn, val, i, n_classes - 1, n_classes);
        else
            lab[i] = (int)v[i];
    }
    as_free(v);
    if (st) {
        as_free(lab);
        return st;
    }
    *out = lab;
    return AS_OK;
}

static as_status load_split(hid_t f, const char *path, const char *split, as_dataset *d,
                            as_split *s, as_error *err) {
    char xn[32], yn[32];
    snprintf(xn, sizeof xn, "/%s/x", split);
    snprintf(yn, sizeof yn, "/%s/y", split);
    int xd[3], yd[3];
    hid_t xs = open_checked(f, path, xn, H5T_FLOAT, "floating-point", 3, xd, err);
    if (xs < 0) return AS_ERR_DATA;
    int cls = d->task == AS_TASK_CLASSIFICATION;
    hid_t ys = open_checked(f, path, yn, cls ? H5T_INTEGER : H5T_FLOAT,
                            cls ? "integer (class label)" : "floating-point", cls ? 1 : 3, yd,
                            err);
    if (ys < 0) {
        H5Dclose(xs);
        return AS_ERR_DATA;
    }
    as_status st = as_h5_check_storage(xs, path, xn, err);
    if (!st) st = as_h5_check_storage(ys, path, yn, err);
    if (st == AS_OK) st = check_shapes(path, xn, yn, xd, yd, cls, err);
    if (st == AS_OK) st = check_split_memory(path, xn, xd, yd, cls, err);
    if (st == AS_OK) {
        s->n = xd[0];
        s->t = xd[1];
        s->c = xd[2];
        size_t nx = (size_t)xd[0] * (size_t)xd[1], ny = (size_t)yd[0];
        if (!as_size_mul(nx, (size_t)xd[2], &nx)) nx = SIZE_MAX;
        s->x = read_all(xs, H5T_NATIVE_FLOAT, nx, sizeof(float), path, xn, err);
        if (!s->x) st = err ? err->code : AS_ERR_DATA;
        if (st == AS_OK && cls) {
            st = read_labels(ys, ny, path, yn, d->n_classes, &s->labels, err);
        } else if (st == AS_OK) {
            s->yt = yd[1];
            s->yc = yd[2];
            ny = ny * (size_t)yd[1];
            if (!as_size_mul(ny, (size_t)yd[2], &ny)) ny = SIZE_MAX;
            s->y = read_all(ys, H5T_NATIVE_FLOAT, ny, sizeof(float), path, yn, err);
            if (!s->y) st = err ? err->code : AS_ERR_DATA;
        }
    }
    H5Dclose(xs);
    H5Dclose(ys);
    if (st == AS_OK) st = check_finite(s->x, s->n, s->t, s->c, path, xn, err);
    if (st == AS_OK && s->y) st = check_finite(s->y, s->n, s->yt, s->yc, path, yn, err);
    return st;
}

/* 1 when integer attribute name (read as k) is in 1..INT_MAX; val gets its stored value as
 * text either way (an unsigned one beyond INT64_MAX too, which k saturates). */
static int count_attr(hid_t obj, const char *name, int64_t k, char *val, size_t cap) {
    snprintf(val, cap, "%lld", (long long)k);
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a < 0 ? -1 : H5Aget_type(a);
    unsigned long long u = 0;
    int uns = t >= 0 && H5Tget_sign(t) == H5T_SGN_NONE &&
              H5Aread(a, H5T_NATIVE_ULLONG, &u) >= 0;
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (uns) {
        snprintf(val, cap, "%llu", u);
        return u >= 1 && u <= (unsigned long long)INT_MAX;
    }
    return k >= 1 && k <= INT_MAX;
}

static as_status read_task(hid_t f, const char *path, as_dataset *d, as_error *err) {
    char *task = NULL;
    if (as_h5_read_attr_string(f, "task", &task, err) != AS_OK)
        return as_error_prefix(err, "%s: / (root)", path);
    as_status st = AS_OK;
    if (!strcmp(task, "regression")) {
        d->task = AS_TASK_REGRESSION;
    } else if (!strcmp(task, "classification")) {
        d->task = AS_TASK_CLASSIFICATION;
        int64_t k = 0;
        char val[32];
        if (as_h5_read_attr_int(f, "n_classes", &k, err) != AS_OK) {
            st = as_error_prefix(err, "%s: / (root): classification needs n_classes", path);
        } else if (!count_attr(f, "n_classes", k, val, sizeof val)) {
            st = as_error_set(err, AS_ERR_DATA, "%s: / (root): n_classes = %s must be in 1..%d",
                              path, val, INT_MAX);
        } else {
            d->n_classes = (int)k;
        }
    } else {
        st = as_error_set(err, AS_ERR_DATA,
                          "%s: / (root): attribute 'task' is '%s', expected 'regression' or "
                          "'classification'",
                          path, task);
    }
    as_free(task);
    return st;
}

as_status as_dataset_load(const char *path, as_dataset *out, as_error *err) {
    memset(out, 0, sizeof *out);
    as_dataset d;
    memset(&d, 0, sizeof d);
    hid_t f = as_h5_open_read(path, err);
    if (f < 0) return AS_ERR_DATA;
    as_status st = read_task(f, path, &d, err);
    if (st == AS_OK) st = load_split(f, path, "train", &d, &d.train, err);
    if (st == AS_OK && H5Lexists(f, "/test", H5P_DEFAULT) > 0) {
        d.has_test = 1;
        st = load_split(f, path, "test", &d, &d.test, err);
        if (st == AS_OK && (d.test.t != d.train.t || d.test.c != d.train.c ||
                            d.test.yc != d.train.yc))
            st = as_error_set(err, AS_ERR_DATA,
                              "%s: /test/x: series shape [%d, %d] (targets %d channels) differs "
                              "from /train/x's [%d, %d] (%d)",
                              path, d.test.t, d.test.c, d.test.yc, d.train.t, d.train.c,
                              d.train.yc);
    }
    H5Fclose(f);
    if (st == AS_OK) {
        d.path = as_strdup(path);
        if (!d.path) st = as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", path);
    }
    if (st != AS_OK) {
        as_dataset_free(&d);
        return st;
    }
    *out = d;
    return AS_OK;
}

as_status as_dataset_check_length(const as_dataset *d, int min_t, const char *who,
                                  as_error *err) {
    const char *path = d->path ? d->path : "(dataset)";
    if (d->train.t < min_t)
        return as_error_set(err, AS_ERR_DATA,
                            "%s: /train/x: series length %d is shorter than the %d steps needed "
                            "by %s",
                            path, d->train.t, min_t, who ? who : "the model");
    return AS_OK;
}

static as_status write_split(hid_t f, const char *name, const as_split *s, as_error *err) {
    char xn[32], yn[32];
    snprintf(xn, sizeof xn, "/%s/x", name);
    snprintf(yn, sizeof yn, "/%s/y", name);
    hsize_t xd[3] = {(hsize_t)s->n, (hsize_t)s->t, (hsize_t)s->c};
    as_status st = as_h5_write_float(f, xn, 3, xd, s->x, err);
    if (st != AS_OK) return st;
    if (s->labels) {
        hsize_t yd = (hsize_t)s->n;
        return as_h5_write_int(f, yn, 1, &yd, s->labels, err);
    }
    hsize_t yd[3] = {(hsize_t)s->n, (hsize_t)s->yt, (hsize_t)s->yc};
    return as_h5_write_float(f, yn, 3, yd, s->y, err);
}

as_status as_dataset_write_h5(int64_t file, const as_dataset *d, as_error *err) {
    hid_t f = (hid_t)file;
    int cls = d->task == AS_TASK_CLASSIFICATION;
    as_status st = as_h5_attr_string(f, "task", cls ? "classification" : "regression", err);
    if (st == AS_OK && cls) st = as_h5_attr_int32(f, "n_classes", d->n_classes, err);
    if (st == AS_OK) st = write_split(f, "train", &d->train, err);
    if (st == AS_OK && d->has_test) st = write_split(f, "test", &d->test, err);
    return st;
}

as_status as_dataset_write(const char *path, const as_dataset *d, int n_attrs,
                           const char *const *attr_names, const char *const *attr_values,
                           as_error *err) {
    as_h5_writer w;
    as_status st = as_h5_writer_open(&w, path, err);
    if (st != AS_OK) return st;
    st = as_dataset_write_h5(w.file, d, err);
    for (int i = 0; st == AS_OK && i < n_attrs; i++)
        st = as_h5_attr_string(w.file, attr_names[i], attr_values[i], err);
    if (st != AS_OK) {
        as_h5_writer_abort(&w);
        return as_error_prefix(err, "%s", path);
    }
    return as_h5_writer_commit(&w, err);
}
