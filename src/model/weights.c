/* weights.c: model weights to and from HDF5 in Keras's shapes (see weights.h). */
#include "attnsweep/weights.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"

#define MAX_TENSORS 8

/* One named tensor of a layer: its Keras shape and its place in the layer's slice. */
typedef struct {
    const char *name;
    int rank;
    hsize_t dims[3];
    size_t off;
} tensor;

/* Lists layer L's tensors in parameter order; returns how many. */
static int layer_tensors(const as_layer *L, tensor *t) {
    const as_layer_spec *s = &L->spec;
    int n = 0;
    size_t off = 0;
#define ADD(nm, r, a, b, c)                                                                     \
    do {                                                                                       \
        t[n] = (tensor){nm, r, {(hsize_t)(a), (hsize_t)(b), (hsize_t)(c)}, off};               \
        off += (size_t)(a) * (r > 1 ? (size_t)(b) : 1) * (r > 2 ? (size_t)(c) : 1);            \
        n++;                                                                                   \
    } while (0)
    switch (s->type) {
    case AS_LAYER_CONV1D:
    case AS_LAYER_RESIDUAL_CONV1D:
        ADD("kernel", 3, s->kernel_size, L->in_c, L->out_c);
        ADD("bias", 1, L->out_c, 0, 0);
        break;
    case AS_LAYER_DENSE:
        ADD("kernel", 2, L->in_c, L->out_c, 0);
        ADD("bias", 1, L->out_c, 0, 0);
        break;
    case AS_LAYER_SELF_ATTENTION: {
        int H = s->num_heads, Dk = s->key_dim, Dv = s->value_dim ? s->value_dim : s->key_dim;
        ADD("query_kernel", 3, L->in_c, H, Dk);
        ADD("query_bias", 2, H, Dk, 0);
        ADD("key_kernel", 3, L->in_c, H, Dk);
        ADD("key_bias", 2, H, Dk, 0);
        ADD("value_kernel", 3, L->in_c, H, Dv);
        ADD("value_bias", 2, H, Dv, 0);
        ADD("output_kernel", 3, H, Dv, L->out_c);
        ADD("output_bias", 1, L->out_c, 0, 0);
        break;
    }
    case AS_LAYER_LAYER_NORM:
        ADD("gamma", 1, L->in_c, 0, 0);
        ADD("beta", 1, L->in_c, 0, 0);
        break;
    default: break;
    }
#undef ADD
    return n;
}

static void shape_str(char *buf, size_t cap, const hsize_t *d, int rank) {
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%llu", i ? ", " : "",
                                 (unsigned long long)d[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

as_status as_weights_write_group(hid_t file, const char *group, const as_model *m, as_error *err) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t g = H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return as_error_set(err, AS_ERR_IO, "%s: cannot create the group", group);
    as_status st = AS_OK;
    for (int i = 0; i < m->n_layers && !st; i++) {
        const as_layer *L = &m->layers[i];
        char name[32];
        snprintf(name, sizeof name, "layer_%d", i);
        hid_t lg = H5Gcreate2(g, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (lg < 0 || as_h5_attr_string(lg, "type", as_layer_type_name(L->spec.type), NULL)) {
            st = as_error_set(err, AS_ERR_IO, "%s/%s: cannot write", group, name);
            if (lg >= 0) H5Gclose(lg);
            break;
        }
        tensor t[MAX_TENSORS];
        int n = layer_tensors(L, t);
        for (int k = 0; k < n && !st; k++)
            st = as_h5_write_float(lg, t[k].name, t[k].rank, t[k].dims,
                                   m->params + L->p_off + t[k].off, err);
        H5Gclose(lg);
    }
    H5Gclose(g);
    return st;
}

as_status as_weights_save(const char *path, const as_model *m, as_error *err) {
    as_h5_writer w;
    as_status st = as_h5_writer_open(&w, path, err);
    if (st) return st;
    if ((st = as_weights_write_group(w.file, "/weights", m, err))) {
        as_h5_writer_abort(&w);
        return as_error_prefix(err, "%s", path);
    }
    return as_h5_writer_commit(&w, err);
}

as_status as_weights_load(const char *path, as_model *m, as_error *err) {
    return as_weights_load_group(path, "/weights", m, m->params, err);
}

as_status as_weights_load_group(const char *path, const char *group, const as_model *m,
                                float *dst, as_error *err) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (access(path, R_OK) != 0)
        return as_error_set(err, AS_ERR_DATA, "%s: cannot open the weights file", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return as_error_set(err, AS_ERR_DATA, "%s: not an HDF5 file", path);
    float *buf = as_malloc((m->n_params ? m->n_params : 1) * sizeof(float));
    if (!buf) {
        H5Fclose(f);
        return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(buf, dst, m->n_params * sizeof(float));
    as_status st = AS_OK;
    for (int i = 0; i < m->n_layers && !st; i++) {
        const as_layer *L = &m->layers[i];
        tensor t[MAX_TENSORS];
        int n = layer_tensors(L, t);
        for (int k = 0; k < n && !st; k++) {
            char dpath[512];
            snprintf(dpath, sizeof dpath, "%s/layer_%d/%s", group, i, t[k].name);
            char want[64], got[64];
            shape_str(want, sizeof want, t[k].dims, t[k].rank);
            if (H5Lexists(f, group, H5P_DEFAULT) <= 0 ||
                H5Oexists_by_name(f, dpath, H5P_DEFAULT) <= 0) {
                st = as_error_set(err, AS_ERR_DATA, "%s: %s: missing (model[%d] %s needs %s %s)",
                                  path, dpath, i, as_layer_type_name(L->spec.type), t[k].name, want);
                break;
            }
            hid_t ds = H5Dopen2(f, dpath, H5P_DEFAULT);
            hid_t sp = ds < 0 ? -1 : H5Dget_space(ds);
            hsize_t dims[8] = {0};
            int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
            if (rank > 0 && rank <= 8) H5Sget_simple_extent_dims(sp, dims, NULL);
            int same = rank == t[k].rank;
            for (int r = 0; same && r < rank; r++) same = dims[r] == t[k].dims[r];
            if (!same) {
                shape_str(got, sizeof got, dims, rank > 0 && rank <= 8 ? rank : 0);
                st = as_error_set(err, AS_ERR_DATA,
                                  "%s: %s: shape %s in the file but the model needs %s", path, dpath,
                                  got, want);
            } else if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                               buf + L->p_off + t[k].off) < 0) {
                st = as_error_set(err, AS_ERR_DATA, "%s: %s: cannot read as float", path, dpath);
            }
            if (sp >= 0) H5Sclose(sp);
            if (ds >= 0) H5Dclose(ds);
        }
    }
    H5Fclose(f);
    if (!st) memcpy(dst, buf, m->n_params * sizeof(float));
    as_free(buf);
    return st;
}
