/* fuzz_h5gen.h: the structured generator of HDF5 files from fuzz bytes, shared by the
 * dataset and checkpoint targets: attributes of every shape and class (scalar, arrays,
 * strings fixed and variable, missing) and datasets of fuzzed class, rank, shape,
 * layout (contiguous, chunked, deflated) and values (all bit patterns), including
 * shapes far larger than what is written (chunks never written, late allocation). */
#ifndef AS_FUZZ_H5GEN_H
#define AS_FUZZ_H5GEN_H

#include <hdf5.h>

#include "fuzz_util.h"

/* An attribute `name` on obj: `good` (a string, or NULL for an integer attribute with
 * value good_int) most of the time, else something of the wrong class or shape. */
static inline void fz_attr(fz_reader *r, hid_t obj, const char *name, const char *good,
                           long long good_int) {
    uint8_t k = fz_u8(r) % 8;
    hid_t sp = -1, t = -1;
    long long iv[3] = {good_int, (long long)fz_u64(r), 1};
    const char *sv[2] = {good ? good : "regression", "classification"};
    char fixed[2][16] = {"regression", "classification"};
    if (k == 7) return; /* missing */
    if (k >= 4) { /* as meant, or an integer from the bytes */
        sp = H5Screate(H5S_SCALAR);
        if (good && k != 6) {
            t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, H5T_VARIABLE);
        } else {
            t = H5Tcopy(H5T_NATIVE_LLONG);
            if (k == 6) iv[0] = (long long)fz_u64(r);
        }
    } else if (k == 0) { /* a 2-element variable-length string array */
        hsize_t n = 2;
        sp = H5Screate_simple(1, &n, NULL);
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
    } else if (k == 1) { /* a 2-element fixed-length string array */
        hsize_t n = 2;
        sp = H5Screate_simple(1, &n, NULL);
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 16);
    } else if (k == 2) { /* an integer array */
        hsize_t n = 1 + fz_u8(r) % 3;
        sp = H5Screate_simple(1, &n, NULL);
        t = H5Tcopy(H5T_NATIVE_LLONG);
    } else { /* a double, or an empty (null) dataspace */
        sp = fz_u8(r) & 1 ? H5Screate(H5S_NULL) : H5Screate(H5S_SCALAR);
        t = H5Tcopy(H5T_NATIVE_DOUBLE);
    }
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    double dv = (double)fz_float(r);
    const void *buf = H5Tget_class(t) == H5T_INTEGER ? (const void *)iv
                      : H5Tget_class(t) == H5T_FLOAT ? (const void *)&dv
                      : H5Tis_variable_str(t) > 0    ? (const void *)sv
                                                     : (const void *)fixed;
    if (a >= 0) {
        if (H5Sget_simple_extent_type(sp) != H5S_NULL) H5Awrite(a, t, buf);
        H5Aclose(a);
    }
    H5Tclose(t);
    H5Sclose(sp);
}

/* A dataset `name` under loc: usually of class cls (H5T_FLOAT or H5T_INTEGER), rank
 * `rank` and shape dims, else fuzzed; values from the bytes. */
static inline void fz_dataset(fz_reader *r, hid_t loc, const char *name, H5T_class_t cls,
                              int rank, const hsize_t *dims) {
    uint8_t k = fz_u8(r);
    hsize_t d[4] = {1, 1, 1, 1};
    int rk = rank;
    for (int i = 0; i < 4; i++) d[i] = i < rank ? dims[i] : 1;
    if (k & 1) rk = fz_u8(r) % 5;
    if (k & 2)
        for (int i = 0; i < rk; i++) d[i] = fz_count(r, 6);
    int huge = (k & 0x1c) == 0x1c; /* declared far beyond what is written */
    if (huge) d[0] = 1 + (hsize_t)fz_u32(r) * 16;
    hid_t mt = cls == H5T_INTEGER ? H5T_NATIVE_INT : H5T_NATIVE_FLOAT;
    if (k & 0x20) mt = (k & 0x40) ? H5T_NATIVE_DOUBLE : H5T_NATIVE_UCHAR;
    hid_t sp = rk ? H5Screate_simple(rk, d, NULL) : H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if ((huge || (k & 0x80)) && rk > 0) {
        hsize_t ch[4];
        for (int i = 0; i < rk; i++) ch[i] = d[i] < 4 ? (d[i] ? d[i] : 1) : 4;
        H5Pset_chunk(dcpl, rk, ch);
        if (fz_u8(r) & 1) H5Pset_deflate(dcpl, 1);
    }
    hid_t ds = sp < 0 ? -1 : H5Dcreate2(loc, name, mt, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    hssize_t n = sp < 0 ? 0 : H5Sget_simple_extent_npoints(sp);
    if (ds >= 0 && !huge && n > 0 && n <= 4096) {
        size_t esz = H5Tget_size(mt);
        unsigned char *buf = calloc((size_t)n, esz);
        for (size_t i = 0; buf && i < (size_t)n; i++) {
            if (mt == H5T_NATIVE_FLOAT) {
                float f = (k & 0x40) ? fz_float(r) : (float)(int8_t)fz_u8(r) / 16.0f;
                memcpy(buf + i * esz, &f, esz);
            } else if (mt == H5T_NATIVE_INT) {
                int v = (k & 0x40) ? (int)fz_u32(r) : fz_u8(r) % 4;
                memcpy(buf + i * esz, &v, esz);
            } else if (mt == H5T_NATIVE_DOUBLE) {
                double v = (double)fz_float(r);
                memcpy(buf + i * esz, &v, esz);
            } else {
                buf[i] = fz_u8(r);
            }
        }
        if (buf) H5Dwrite(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        free(buf);
    } else if (ds >= 0 && huge && rk > 0 && (k & 0x80)) { /* one chunk written */
        hsize_t start[4] = {0}, cnt[4];
        for (int i = 0; i < rk; i++) cnt[i] = d[i] < 4 ? d[i] : 4;
        hid_t fs = H5Dget_space(ds);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
        hid_t ms = H5Screate_simple(rk, cnt, NULL);
        double zeros[256] = {0};
        H5Dwrite(ds, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, zeros);
        H5Sclose(ms);
        H5Sclose(fs);
    }
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
}

/* Creates the file at path (truncating); -1 on failure. */
static inline hid_t fz_h5_create(const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
}

#endif
