/* weights.c: model weights to and from HDF5 in Keras's shapes (see weights.h). */
#include "attnsweep/weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/layer_ops.h"

/* Layer L's tensors (names, Keras shapes, offsets) from its ops table (layer_ops.h). */
static int layer_tensors(const as_layer *L, as_tensor *t) {
    return as_layer_tensors(L, t, NULL, NULL);
}

/* Where tensor t of layer L lives in a model's params (or buffers). */
static float *tensor_at(float *params, float *buffers, const as_layer *L, const as_tensor *t) {
    return t->buffer ? buffers + L->b_off + t->off : params + L->p_off + t->off;
}

static void hdims(hsize_t *d, const as_tensor *t) {
    for (int r = 0; r < t->rank; r++) d[r] = (hsize_t)t->dims[r];
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
    hid_t gcpl = as_h5_create_plist(H5P_GROUP_CREATE); /* no object times: reproducible bytes */
    hid_t g = H5Gcreate2(file, group, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    if (g < 0) {
        H5Pclose(gcpl);
        return as_error_set(err, AS_ERR_IO, "%s: cannot create the group", group);
    }
    as_status st = AS_OK;
    for (int i = 0; i < m->n_layers && !st; i++) {
        const as_layer *L = &m->layers[i];
        char name[32];
        snprintf(name, sizeof name, "layer_%d", i);
        hid_t lg = H5Gcreate2(g, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
        if (lg < 0 || as_h5_attr_string(lg, "type", as_layer_type_name(L->spec.type), NULL)) {
            st = as_error_set(err, AS_ERR_IO, "%s/%s: cannot write", group, name);
            if (lg >= 0) H5Gclose(lg);
            break;
        }
        as_tensor t[AS_MAX_TENSORS];
        int n = layer_tensors(L, t);
        for (int k = 0; k < n && !st; k++) {
            hsize_t dims[3];
            hdims(dims, &t[k]);
            st = as_h5_write_float(lg, t[k].name, t[k].rank, dims,
                                   tensor_at(m->params, m->buffers, L, &t[k]), err);
        }
        H5Gclose(lg);
    }
    H5Gclose(g);
    H5Pclose(gcpl);
    return st;
}

as_status as_weights_save(const char *path, const as_model *m, as_error *err) {
    return as_weights_save_refit(path, m, 0, err);
}

int as_weights_refit_epochs(hid_t file, const char *group) {
    hid_t g = H5Lexists(file, group, H5P_DEFAULT) > 0 ? H5Gopen2(file, group, H5P_DEFAULT) : -1;
    int64_t n = 0;
    if (g >= 0 && as_h5_has_attr(g, "refit_epochs") && as_h5_read_attr_int(g, "refit_epochs", &n, NULL))
        n = 0;
    if (g >= 0) H5Gclose(g);
    return n > 0 && n <= 10000000 ? (int)n : 0;
}

as_status as_weights_save_refit(const char *path, const as_model *m, int refit_epochs,
                                as_error *err) {
    as_h5_writer w;
    as_status st = as_h5_writer_open(&w, path, err);
    if (st) return st;
    if (!(st = as_weights_write_group(w.file, "/weights", m, err)) && refit_epochs > 0) {
        hid_t g = H5Gopen2(w.file, "/weights", H5P_DEFAULT);
        st = g < 0 ? as_error_set(err, AS_ERR_IO, "/weights: cannot open")
                   : as_h5_attr_int32(g, "refit_epochs", refit_epochs, err);
        if (g >= 0) H5Gclose(g);
    }
    if (st) {
        as_h5_writer_abort(&w);
        return as_error_prefix(err, "%s", path);
    }
    return as_h5_writer_commit(&w, err);
}

/* The values read for tensor t: finite, and a variance (moving_variance) not negative. */
static as_status check_values(const char *path, const char *dpath, const as_tensor *t,
                              const float *v, as_error *err) {
    size_t n = 1;
    for (int r = 0; r < t->rank; r++) n *= (size_t)t->dims[r];
    int var = !strcmp(t->name, "moving_variance");
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            return as_error_set(err, AS_ERR_DATA, "%s: %s: value %zu is %s (weights must be finite)",
                                path, dpath, i, isnan(v[i]) ? "NaN" : "infinite");
        if (var && v[i] < 0.0f)
            return as_error_set(err, AS_ERR_DATA, "%s: %s: value %zu is %g (a variance must be >= 0)",
                                path, dpath, i, (double)v[i]);
    }
    return AS_OK;
}

/* Reads dataset dpath of f into dst after checking its shape against t. */
static as_status read_tensor(hid_t f, const char *path, const char *dpath, const as_tensor *t,
                             float *dst, as_error *err) {
    hsize_t want_d[3], dims[8] = {0};
    hdims(want_d, t);
    char want[64], got[64];
    shape_str(want, sizeof want, want_d, t->rank);
    hid_t ds = H5Dopen2(f, dpath, H5P_DEFAULT);
    hid_t sp = ds < 0 ? -1 : H5Dget_space(ds);
    int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (rank > 0 && rank <= 8) H5Sget_simple_extent_dims(sp, dims, NULL);
    int same = rank == t->rank;
    for (int r = 0; same && r < rank; r++) same = dims[r] == want_d[r];
    as_status st = AS_OK;
    if (!same) {
        shape_str(got, sizeof got, dims, rank > 0 && rank <= 8 ? rank : 0);
        st = as_error_set(err, AS_ERR_DATA, "%s: %s: shape %s in the file but the model needs %s",
                          path, dpath, got, want);
    } else if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
        st = as_error_set(err, AS_ERR_DATA, "%s: %s: cannot read as float", path, dpath);
    } else {
        st = check_values(path, dpath, t, dst, err);
    }
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    return st;
}

typedef struct {
    const as_model *m;
    int layer;   /* -1: the weights group (members layer_<i>), else the layer's group */
    char bad[128]; /* the first member that is not the model's */
} members_ctx;

/* H5Literate callback: stops (1) at the first member that the model does not have. */
static herr_t member_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    members_ctx *c = data;
    int ok = info->type == H5L_TYPE_HARD;
    if (ok && c->layer < 0) {
        char *end = NULL;
        long i = strncmp(name, "layer_", 6) ? -1 : strtol(name + 6, &end, 10);
        char canon[32];
        snprintf(canon, sizeof canon, "layer_%ld", i);
        ok = i >= 0 && i < c->m->n_layers && !strcmp(canon, name);
    } else if (ok) {
        as_tensor t[AS_MAX_TENSORS];
        int n = layer_tensors(&c->m->layers[c->layer], t), hit = 0;
        for (int k = 0; k < n; k++) hit |= !strcmp(t[k].name, name);
        ok = hit;
    }
    if (!ok) snprintf(c->bad, sizeof c->bad, "%s", name);
    return ok ? 0 : 1;
}

/* The group at gpath holds only what the model has (layer_<i> groups of its layers; in a
 * layer's group its tensors), and a layer's group names the layer's type (its `type`
 * attribute, which a weights file must have; other groups, e.g. gradients, may omit it). */
static as_status check_group(hid_t f, const char *path, const char *gpath, const as_model *m,
                             int layer, int need_type, as_error *err) {
    hid_t g = H5Gopen2(f, gpath, H5P_DEFAULT);
    if (g < 0) return as_error_set(err, AS_ERR_DATA, "%s: %s: not a group", path, gpath);
    members_ctx c = {.m = m, .layer = layer, .bad = ""};
    hsize_t idx = 0;
    herr_t r = H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, member_cb, &c);
    as_status st = AS_OK;
    if (r < 0) {
        st = as_error_set(err, AS_ERR_DATA, "%s: %s: cannot list its members", path, gpath);
    } else if (c.bad[0]) {
        st = layer < 0 ? as_error_set(err, AS_ERR_DATA, "%s: %s/%s: not a layer of the model "
                                      "(layer_0 .. layer_%d, hard links only)", path, gpath, c.bad,
                                      m->n_layers - 1)
                       : as_error_set(err, AS_ERR_DATA, "%s: %s/%s: not a weight of model[%d] (%s)",
                                      path, gpath, c.bad, layer,
                                      as_layer_type_name(m->layers[layer].spec.type));
    } else if (layer >= 0 && (need_type || as_h5_has_attr(g, "type"))) {
        const char *want = as_layer_type_name(m->layers[layer].spec.type);
        char *type = NULL;
        as_error e;
        if (as_h5_read_attr_string(g, "type", &type, &e))
            st = as_error_set(err, AS_ERR_DATA, "%s: %s: %s (model[%d] is %s)", path, gpath, e.msg,
                              layer, want);
        else if (strcmp(type, want))
            st = as_error_set(err, AS_ERR_DATA, "%s: %s: type '%s' but model[%d] is %s", path, gpath,
                              type, layer, want);
        as_free(type);
    }
    H5Gclose(g);
    return st;
}

/* Reads every layer's trainable tensors into pbuf and, when bbuf is not NULL, its
 * buffers into bbuf (both in the model's layout). */
static as_status read_layers(hid_t f, const char *path, const char *group, const as_model *m,
                             float *pbuf, float *bbuf, as_error *err) {
    as_status st = AS_OK;
    if (H5Lexists(f, group, H5P_DEFAULT) > 0 && (st = check_group(f, path, group, m, -1, 0, err)))
        return st;
    for (int i = 0; i < m->n_layers && !st; i++) {
        const as_layer *L = &m->layers[i];
        as_tensor t[AS_MAX_TENSORS];
        int n = layer_tensors(L, t);
        char lpath[480];
        snprintf(lpath, sizeof lpath, "%s/layer_%d", group, i);
        if (H5Lexists(f, group, H5P_DEFAULT) > 0 && H5Lexists(f, lpath, H5P_DEFAULT) > 0 &&
            (st = check_group(f, path, lpath, m, i, bbuf != NULL, err)))
            return st;
        for (int k = 0; k < n && !st; k++) {
            if (t[k].buffer && !bbuf) continue;
            char dpath[512];
            snprintf(dpath, sizeof dpath, "%s/layer_%d/%s", group, i, t[k].name);
            if (H5Lexists(f, group, H5P_DEFAULT) <= 0 ||
                H5Oexists_by_name(f, dpath, H5P_DEFAULT) <= 0) {
                hsize_t d[3];
                char want[64];
                hdims(d, &t[k]);
                shape_str(want, sizeof want, d, t[k].rank);
                return as_error_set(err, AS_ERR_DATA, "%s: %s: missing (model[%d] %s needs %s %s)",
                                    path, dpath, i, as_layer_type_name(L->spec.type), t[k].name,
                                    want);
            }
            st = read_tensor(f, path, dpath, &t[k], tensor_at(pbuf, bbuf, L, &t[k]), err);
        }
    }
    return st;
}

/* Loads group into pdst (params layout) and, unless bdst is NULL, bdst (buffers layout);
 * both unchanged on error. */
static as_status load(const char *path, const char *group, const as_model *m, float *pdst,
                      float *bdst, as_error *err) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int image = as_h5_image_covers(path); /* a file rank 0 read for every rank */
    if (!image && access(path, R_OK) != 0)
        return as_error_set(err, AS_ERR_DATA, "%s: cannot open the weights file", path);
    hid_t f = image ? as_h5_open_read(path, NULL) : H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return as_error_set(err, AS_ERR_DATA, "%s: not an HDF5 file", path);
    size_t np = m->n_params, nb = bdst ? m->n_buffers : 0, total;
    float *buf = as_size_add(np, nb, &total) ? as_malloc((total ? total : 1) * sizeof(float)) : NULL;
    if (!buf) {
        H5Fclose(f);
        return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(buf, pdst, np * sizeof(float));
    if (nb) memcpy(buf + np, bdst, nb * sizeof(float));
    as_status st = read_layers(f, path, group, m, buf, bdst ? buf + np : NULL, err);
    H5Fclose(f);
    if (!st) {
        memcpy(pdst, buf, np * sizeof(float));
        if (nb) memcpy(bdst, buf + np, nb * sizeof(float));
    }
    as_free(buf);
    return st;
}

as_status as_weights_load(const char *path, as_model *m, as_error *err) {
    return load(path, "/weights", m, m->params, m->buffers, err);
}

as_status as_weights_load_group(const char *path, const char *group, const as_model *m,
                                float *dst, as_error *err) {
    return load(path, group, m, dst, NULL, err);
}
