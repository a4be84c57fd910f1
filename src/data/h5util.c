/* h5util.c: small HDF5 helpers (see h5util.h). */
#include "attnsweep/h5util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"

void as_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

as_status as_h5_writer_open(as_h5_writer *w, const char *path, as_error *err) {
    as_h5_quiet();
    w->file = -1;
    w->path = as_strdup(path);
    size_t n = strlen(path) + 32;
    w->tmp = as_malloc(n);
    if (!w->path || !w->tmp) {
        as_free(w->path);
        as_free(w->tmp);
        w->path = w->tmp = NULL;
        return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(w->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) {
        as_status st = as_error_set(err, AS_ERR_IO, "%s: cannot create (%s)", w->tmp,
                                    errno ? strerror(errno) : "HDF5 error");
        as_free(w->path);
        as_free(w->tmp);
        w->path = w->tmp = NULL;
        return st;
    }
    return AS_OK;
}

static void writer_free(as_h5_writer *w) {
    as_free(w->path);
    as_free(w->tmp);
    w->path = w->tmp = NULL;
    w->file = -1;
}

as_status as_h5_writer_commit(as_h5_writer *w, as_error *err) {
    herr_t rc = H5Fclose(w->file);
    w->file = -1;
    if (rc < 0) {
        as_status st = as_error_set(err, AS_ERR_IO, "%s: cannot close", w->tmp);
        unlink(w->tmp);
        writer_free(w);
        return st;
    }
    if (rename(w->tmp, w->path) != 0) {
        as_status st = as_error_set(err, AS_ERR_IO, "%s: cannot rename %s into place (%s)",
                                    w->path, w->tmp, strerror(errno));
        unlink(w->tmp);
        writer_free(w);
        return st;
    }
    writer_free(w);
    return AS_OK;
}

void as_h5_writer_abort(as_h5_writer *w) {
    if (w->file >= 0) H5Fclose(w->file);
    if (w->tmp) unlink(w->tmp);
    writer_free(w);
}

/* The core driver refuses to open an image under the name of a file that exists: the
 * image is opened under a name that cannot exist. */
#define IMAGE_NAME "/proc/self/attnsweep-file-image"
static char *g_image_path;
static const void *g_image;
static size_t g_image_n;

as_status as_h5_image_set(const char *path, const void *buf, size_t n, as_error *err) {
    as_h5_image_clear();
    if (!(g_image_path = as_strdup(path))) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    g_image = buf;
    g_image_n = n;
    return AS_OK;
}

void as_h5_image_clear(void) {
    as_free(g_image_path);
    g_image_path = NULL;
    g_image = NULL;
    g_image_n = 0;
}

int as_h5_image_covers(const char *path) { return g_image_path && !strcmp(path, g_image_path); }

static hid_t open_image(const char *path, as_error *err) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t f = -1;
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 &&
        H5Pset_file_image(fapl, (void *)g_image, g_image_n) >= 0)
        f = H5Fopen(IMAGE_NAME, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) as_error_set(err, AS_ERR_DATA, "%s: not an HDF5 file (or unreadable)", path);
    return f;
}

hid_t as_h5_open_read(const char *path, as_error *err) {
    as_h5_quiet();
    if (as_h5_image_covers(path)) return open_image(path, err);
    if (access(path, F_OK) != 0) {
        as_error_set(err, AS_ERR_DATA, "%s: no such file", path);
        return -1;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    H5Pset_file_locking(fapl, 0, 1);
#endif
    hid_t f = -1;
    if (H5Fis_hdf5(path) > 0) f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) as_error_set(err, AS_ERR_DATA, "%s: not an HDF5 file (or unreadable)", path);
    return f;
}

static hid_t lcpl_intermediate(void) {
    hid_t l = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(l, 1);
    return l;
}

hid_t as_h5_group(hid_t loc, const char *name, as_error *err) {
    hid_t l = lcpl_intermediate();
    hid_t g = H5Gcreate2(loc, name, l, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(l);
    if (g < 0) as_error_set(err, AS_ERR_IO, "%s: cannot create group", name);
    return g;
}

static as_status write_ds(hid_t loc, const char *name, int rank, const hsize_t *dims,
                          hid_t ftype, hid_t mtype, const void *data, as_error *err) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t l = lcpl_intermediate();
    hid_t ds = sp < 0 ? -1 : H5Dcreate2(loc, name, ftype, sp, l, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (ds >= 0) H5Dclose(ds);
    if (sp >= 0) H5Sclose(sp);
    H5Pclose(l);
    if (rc < 0) return as_error_set(err, AS_ERR_IO, "%s: cannot write dataset", name);
    return AS_OK;
}

as_status as_h5_write_float(hid_t loc, const char *name, int rank, const hsize_t *dims,
                            const float *data, as_error *err) {
    return write_ds(loc, name, rank, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data, err);
}

as_status as_h5_write_int(hid_t loc, const char *name, int rank, const hsize_t *dims,
                          const int *data, as_error *err) {
    return write_ds(loc, name, rank, dims, H5T_STD_I32LE, H5T_NATIVE_INT, data, err);
}

as_status as_h5_write_double(hid_t loc, const char *name, int rank, const hsize_t *dims,
                             const double *data, as_error *err) {
    return write_ds(loc, name, rank, dims, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data, err);
}

static as_status write_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype,
                            hid_t space, const void *data, as_error *err) {
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, mtype, data);
    if (a >= 0) H5Aclose(a);
    if (rc < 0) return as_error_set(err, AS_ERR_IO, "attribute %s: cannot write", name);
    return AS_OK;
}

as_status as_h5_attr_string(hid_t obj, const char *name, const char *value, as_error *err) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    as_status st = write_attr(obj, name, t, t, sp, &value, err);
    H5Sclose(sp);
    H5Tclose(t);
    return st;
}

as_status as_h5_attr_int(hid_t obj, const char *name, int64_t value, as_error *err) {
    hid_t sp = H5Screate(H5S_SCALAR);
    long long v = (long long)value;
    as_status st = write_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, sp, &v, err);
    H5Sclose(sp);
    return st;
}

as_status as_h5_attr_int32(hid_t obj, const char *name, int value, as_error *err) {
    hid_t sp = H5Screate(H5S_SCALAR);
    as_status st = write_attr(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, sp, &value, err);
    H5Sclose(sp);
    return st;
}

as_status as_h5_attr_ints(hid_t obj, const char *name, const int *v, size_t n, as_error *err) {
    hsize_t d = n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    as_status st = write_attr(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, sp, v, err);
    H5Sclose(sp);
    return st;
}

as_status as_h5_attr_double(hid_t obj, const char *name, double value, as_error *err) {
    hid_t sp = H5Screate(H5S_SCALAR);
    as_status st = write_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sp, &value, err);
    H5Sclose(sp);
    return st;
}

int as_h5_has_attr(hid_t obj, const char *name) { return H5Aexists(obj, name) > 0; }

/* Opens attribute `name` and checks its type class; -1 with err set otherwise. */
static hid_t open_attr(hid_t obj, const char *name, H5T_class_t want, const char *what,
                       as_error *err) {
    if (H5Aexists(obj, name) <= 0) {
        as_error_set(err, AS_ERR_DATA, "attribute '%s' is missing", name);
        return -1;
    }
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a < 0 ? -1 : H5Aget_type(a);
    H5T_class_t c = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    if (t >= 0) H5Tclose(t);
    int ok = c == want || (want == H5T_FLOAT && c == H5T_INTEGER);
    if (!ok) {
        if (a >= 0) H5Aclose(a);
        as_error_set(err, AS_ERR_DATA, "attribute '%s' is not %s", name, what);
        return -1;
    }
    return a;
}

as_status as_h5_read_attr_string(hid_t obj, const char *name, char **out, as_error *err) {
    *out = NULL;
    hid_t a = open_attr(obj, name, H5T_STRING, "a string", err);
    if (a < 0) return AS_ERR_DATA;
    hid_t ft = H5Aget_type(a);
    as_status st = AS_OK;
    if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0 || !s) {
            st = as_error_set(err, AS_ERR_DATA, "attribute '%s': cannot read", name);
        } else {
            *out = as_strdup(s);
            H5free_memory(s);
            if (!*out) st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(ft);
        char *s = as_calloc(n + 1, 1);
        if (!s) {
            st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
        } else if (H5Aread(a, ft, s) < 0) {
            as_free(s);
            st = as_error_set(err, AS_ERR_DATA, "attribute '%s': cannot read", name);
        } else {
            *out = s;
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    return st;
}

static as_status read_scalar(hid_t obj, const char *name, H5T_class_t cls, const char *what,
                             hid_t mtype, void *out, as_error *err) {
    hid_t a = open_attr(obj, name, cls, what, err);
    if (a < 0) return AS_ERR_DATA;
    hid_t sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    herr_t rc = n == 1 ? H5Aread(a, mtype, out) : -1;
    H5Aclose(a);
    if (rc < 0) return as_error_set(err, AS_ERR_DATA, "attribute '%s' is not a single %s",
                                    name, what);
    return AS_OK;
}

as_status as_h5_read_attr_int(hid_t obj, const char *name, int64_t *out, as_error *err) {
    long long v = 0;
    as_status st = read_scalar(obj, name, H5T_INTEGER, "an integer", H5T_NATIVE_LLONG, &v, err);
    if (st == AS_OK) *out = (int64_t)v;
    return st;
}

as_status as_h5_read_attr_double(hid_t obj, const char *name, double *out, as_error *err) {
    return read_scalar(obj, name, H5T_FLOAT, "a number", H5T_NATIVE_DOUBLE, out, err);
}
