/* checkpoint.c: save and restore a training run (see checkpoint.h). */
#include "attnsweep/checkpoint.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/weights.h"

#define FORMAT "attnsweep-checkpoint"

/* The callbacks' state (AS_CB_PACKED doubles) and the best epoch's weights, if held
 * (best_weights, and best_buffers: the model's non-trainable buffers that follow them). */
static as_status write_callbacks(hid_t f, const as_model *m, const as_fit_state *st,
                                 as_error *err) {
    double cb[AS_CB_PACKED];
    as_cb_pack(&st->cb, cb);
    hsize_t nc[1] = {AS_CB_PACKED}, n[1] = {(hsize_t)st->n}, nb[1] = {(hsize_t)m->n_buffers};
    as_status s = as_h5_write_double(f, "callbacks", 1, nc, cb, err);
    if (!s && st->cb.has_best && st->best) s = as_h5_write_float(f, "best_weights", 1, n, st->best, err);
    if (!s && st->cb.has_best && st->best && m->n_buffers)
        s = as_h5_write_float(f, "best_buffers", 1, nb, st->best + st->n, err);
    return s;
}

as_status as_checkpoint_save(const char *path, const as_model *m, const as_fit_state *st,
                             const as_history *h, const char *spec_sha256, uint64_t seed,
                             const char *data_sha256, as_error *err) {
    as_h5_writer w;
    as_status s = as_h5_writer_open(&w, path, err);
    if (s) return s;
    hid_t f = w.file;
    char seed_txt[32];
    snprintf(seed_txt, sizeof seed_txt, "%llu", (unsigned long long)seed);
    hsize_t n[1] = {(hsize_t)st->n}, np[1] = {(hsize_t)st->n_perm}, n4[1] = {4};
    s = as_h5_attr_string(f, "format", FORMAT, err);
    if (!s) s = as_h5_attr_string(f, "spec_sha256", spec_sha256, err);
    if (!s) s = as_h5_attr_string(f, "seed", seed_txt, err);
    if (!s) s = as_h5_attr_int(f, "epoch", st->epoch, err);
    if (!s) s = as_h5_attr_int(f, "step", st->step, err);
    if (!s && data_sha256) s = as_h5_attr_string(f, "data_sha256", data_sha256, err); /* NULL: sweep rungs (the search journal pins the data) */
    if (!s) s = as_weights_write_group(f, "/weights", m, err);
    if (!s) s = as_h5_write_float(f, "optimizer/m", 1, n, st->m, err);
    if (!s && st->v) s = as_h5_write_float(f, "optimizer/v", 1, n, st->v, err);
    if (!s && st->ema) s = as_h5_write_float(f, "optimizer/ema", 1, n, st->ema, err);
    hsize_t nb[1] = {(hsize_t)m->n_buffers};
    if (!s && st->ema_buf) s = as_h5_write_float(f, "optimizer/ema_buffers", 1, nb, st->ema_buf, err);
    if (!s) s = as_h5_write_int(f, "perm", 1, np, st->perm, err);
    if (!s) s = write_callbacks(f, m, st, err);
    if (!s) {
        hid_t sp = H5Screate_simple(1, n4, NULL);
        hid_t dcpl = as_h5_create_plist(H5P_DATASET_CREATE);
        hid_t ds = H5Dcreate2(f, "shuffle", H5T_STD_U64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Pclose(dcpl);
        if (ds < 0 || H5Dwrite(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, st->shuffle.s) < 0)
            s = as_error_set(err, AS_ERR_IO, "shuffle: cannot write");
        if (ds >= 0) H5Dclose(ds);
        H5Sclose(sp);
    }
    if (!s) {
        hid_t g = as_h5_group(f, "history", err);
        s = g < 0 ? AS_ERR_IO : as_history_write(g, h, err);
        if (g >= 0) H5Gclose(g);
    }
    if (s) {
        as_h5_writer_abort(&w);
        return as_error_prefix(err, "%s", path);
    }
    return as_h5_writer_commit(&w, err);
}

as_status as_checkpoint_check_data(const char *path, const char *data_path, const char *data_sha256,
                                   int *unrecorded, as_error *err) {
    *unrecorded = 0;
    hid_t f = as_h5_open_read(path, err);
    if (f < 0) return AS_ERR_DATA;
    char *sha = NULL;
    as_status s = AS_OK;
    if (!as_h5_has_attr(f, "data_sha256")) *unrecorded = 1;
    else if (as_h5_read_attr_string(f, "data_sha256", &sha, err)) s = as_error_prefix(err, "%s", path);
    else if (strcmp(sha, data_sha256) != 0)
        s = as_error_set(err, AS_ERR_DATA, "%s: written for another dataset (sha256 %.12s...), not "
                         "%s (sha256 %.12s...): train on that dataset, or remove the checkpoint "
                         "to start over", path, sha, data_path, data_sha256);
    as_free(sha);
    H5Fclose(f);
    return s;
}

void as_checkpoint_state_free(as_fit_state *st) {
    as_free(st->perm);
    as_free(st->m);
    as_free(st->v);
    as_free(st->best);
    as_free(st->ema);
    as_free(st->ema_buf);
    memset(st, 0, sizeof *st);
}

/* Reads a whole 1-D dataset of `want` elements as mtype into buf. */
static as_status read_1d(hid_t f, const char *path, const char *name, hid_t mtype, size_t want,
                         void *buf, as_error *err) {
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0)
        return as_error_set(err, AS_ERR_DATA, "%s: %s: missing", path, name);
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t sp = ds < 0 ? -1 : H5Dget_space(ds);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    as_status s = AS_OK;
    if (n < 0 || (size_t)n != want)
        s = as_error_set(err, AS_ERR_DATA, "%s: %s: %lld values, this run needs %zu", path, name,
                         (long long)n, want);
    else if (want && H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        s = as_error_set(err, AS_ERR_DATA, "%s: %s: unreadable", path, name);
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    return s;
}

/* The callbacks' state and best weights (absent in checkpoints of older versions). */
static as_status read_callbacks(hid_t f, const char *path, size_t n, size_t nb,
                                as_fit_state *st, as_error *err) {
    if (H5Lexists(f, "callbacks", H5P_DEFAULT) <= 0) return AS_OK;
    double cb[AS_CB_PACKED];
    as_status s = read_1d(f, path, "callbacks", H5T_NATIVE_DOUBLE, AS_CB_PACKED, cb, err);
    if (s) return s;
    as_cb_unpack(&st->cb, cb);
    st->has_cb = 1;
    if (!st->cb.has_best) return AS_OK;
    if (!(st->best = as_malloc((n + nb ? n + nb : 1) * sizeof(float))))
        return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    s = read_1d(f, path, "best_weights", H5T_NATIVE_FLOAT, n, st->best, err);
    if (!s && nb) s = read_1d(f, path, "best_buffers", H5T_NATIVE_FLOAT, nb, st->best + n, err);
    return s;
}

/* One optional average (use_ema: optimizer/ema; ema_buffers: optimizer/ema_buffers) of n
 * finite floats into *out (NULL when absent). */
static as_status read_average(hid_t f, const char *path, const char *name, size_t n, float **out,
                              as_error *err) {
    if (n == 0 || H5Lexists(f, name, H5P_DEFAULT) <= 0) return AS_OK;
    if (!(*out = as_malloc(n * sizeof(float)))) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    as_status s = read_1d(f, path, name, H5T_NATIVE_FLOAT, n, *out, err);
    for (size_t i = 0; !s && i < n; i++)
        if (!isfinite((*out)[i]))
            s = as_error_set(err, AS_ERR_DATA, "%s: %s[%zu] is not finite", path, name, i);
    return s;
}

static as_status read_averages(hid_t f, const char *path, const as_model *m, as_fit_state *st,
                               as_error *err) {
    as_status s = read_average(f, path, "optimizer/ema", m->n_params, &st->ema, err);
    return s ? s : read_average(f, path, "optimizer/ema_buffers", m->n_buffers, &st->ema_buf, err);
}

/* A checkpoint's epoch and step: counts, so never negative; epochs at most the spec's
 * bound (1e7, spec.c). */
#define CKPT_MAX_EPOCH 10000000
#define CKPT_MAX_STEP ((int64_t)1 << 53)

static as_status check_counters(const char *path, int64_t epoch, int64_t step, as_error *err) {
    if (epoch < 0 || epoch > CKPT_MAX_EPOCH)
        return as_error_set(err, AS_ERR_DATA, "%s: attribute 'epoch' = %lld: must be in [0, %d] "
                            "(a tampered or corrupt checkpoint)", path, (long long)epoch,
                            CKPT_MAX_EPOCH);
    if (step < 0 || step > CKPT_MAX_STEP || (epoch > 0) != (step > 0))
        return as_error_set(err, AS_ERR_DATA, "%s: attribute 'step' = %lld: must be in [0, 2^53] "
                            "and 0 exactly when 'epoch' is 0 (got epoch %lld; a tampered or "
                            "corrupt checkpoint)", path, (long long)step, (long long)epoch);
    return AS_OK;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* /perm holds training row indices (gather reads the rows through it): none negative,
 * none twice. Which rows they may be is the run's to check (as_fit's restore). */
static as_status check_perm(const char *path, const int *perm, int n, as_error *err) {
    for (int i = 0; i < n; i++)
        if (perm[i] < 0)
            return as_error_set(err, AS_ERR_DATA, "%s: perm[%d] = %d is negative (a tampered or "
                                "corrupt checkpoint)", path, i, perm[i]);
    int *sorted = as_malloc((size_t)n * sizeof(int));
    if (!sorted) return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", path);
    memcpy(sorted, perm, (size_t)n * sizeof(int));
    qsort(sorted, (size_t)n, sizeof(int), cmp_int);
    as_status s = AS_OK;
    for (int i = 1; i < n && !s; i++)
        if (sorted[i] == sorted[i - 1])
            s = as_error_set(err, AS_ERR_DATA, "%s: perm: row %d appears twice (not a "
                             "permutation: a tampered or corrupt checkpoint)", path, sorted[i]);
    as_free(sorted);
    return s;
}

/* Adam's moments: finite; the second moment (a mean of squares) never negative. */
static as_status check_moments(const char *path, const as_fit_state *st, as_error *err) {
    for (size_t i = 0; i < st->n; i++) {
        if (!isfinite(st->m[i]))
            return as_error_set(err, AS_ERR_DATA, "%s: optimizer/m[%zu] is not finite", path, i);
        if (st->v && !(isfinite(st->v[i]) && st->v[i] >= 0.0f))
            return as_error_set(err, AS_ERR_DATA, "%s: optimizer/v[%zu] = %g: must be finite and "
                                ">= 0", path, i, (double)st->v[i]);
    }
    const uint64_t *q = st->shuffle.s;
    if (!(q[0] | q[1] | q[2] | q[3]))
        return as_error_set(err, AS_ERR_DATA, "%s: shuffle: the all-zero state is not a valid "
                            "xoshiro256** state", path);
    return AS_OK;
}

static as_status read_history(hid_t f, const char *path, int epochs, as_history *h, as_error *err) {
    const char *names[] = {"history/loss", "history/val_loss", "history/epoch_seconds",
                           "history/accuracy", "history/val_accuracy"};
    double **dst[] = {&h->loss, &h->val_loss, &h->epoch_seconds, &h->accuracy, &h->val_accuracy};
    for (int i = 0; i < 5; i++) {
        *dst[i] = as_calloc((size_t)(epochs > 0 ? epochs : 1), sizeof(double));
        if (!*dst[i]) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
        if (i >= 3 && H5Lexists(f, names[i], H5P_DEFAULT) <= 0) continue; /* regression */
        as_status s = read_1d(f, path, names[i], H5T_NATIVE_DOUBLE, (size_t)epochs, *dst[i], err);
        if (s) return s;
    }
    if (H5Lexists(f, "history/learning_rate", H5P_DEFAULT) > 0) {
        if (!(h->learning_rate = as_calloc((size_t)(epochs > 0 ? epochs : 1), sizeof(double))))
            return as_error_set(err, AS_ERR_NOMEM, "out of memory");
        as_status s = read_1d(f, path, "history/learning_rate", H5T_NATIVE_DOUBLE, (size_t)epochs,
                              h->learning_rate, err);
        if (s) return s;
    }
    h->epochs_run = epochs;
    return AS_OK;
}

as_status as_checkpoint_load(const char *path, as_model *m, as_fit_state *st, as_history *h,
                             const char *spec_sha256, uint64_t seed, as_error *err) {
    memset(st, 0, sizeof *st);
    memset(h, 0, sizeof *h);
    hid_t f = as_h5_open_read(path, err);
    if (f < 0) return AS_ERR_DATA;
    char *format = NULL, *sha = NULL, *seed_txt = NULL;
    int64_t epoch = 0, step = 0;
    char want_seed[32];
    snprintf(want_seed, sizeof want_seed, "%llu", (unsigned long long)seed);
    as_status s = AS_OK;
    if (as_h5_read_attr_string(f, "format", &format, err))
        s = as_error_prefix(err, "%s: not an attnsweep checkpoint", path);
    else if (strcmp(format, FORMAT) != 0)
        s = as_error_set(err, AS_ERR_DATA, "%s: not an attnsweep checkpoint (attribute 'format' "
                         "is '%.60s')", path, format);
    else if (as_h5_read_attr_string(f, "spec_sha256", &sha, err) ||
             as_h5_read_attr_string(f, "seed", &seed_txt, err) ||
             as_h5_read_attr_int(f, "epoch", &epoch, err) || as_h5_read_attr_int(f, "step", &step, err))
        s = as_error_prefix(err, "%s", path);
    else if (strcmp(sha, spec_sha256) != 0)
        s = as_error_set(err, AS_ERR_DATA, "%s: written for another version of the spec file "
                         "(remove it to start over)", path);
    else if (strcmp(seed_txt, want_seed) != 0)
        s = as_error_set(err, AS_ERR_DATA, "%s: written with seed %s, this run uses %s", path,
                         seed_txt, want_seed);
    else
        s = check_counters(path, epoch, step, err);
    as_free(format);
    as_free(sha);
    as_free(seed_txt);
    int has_v = !s && H5Lexists(f, "optimizer/v", H5P_DEFAULT) > 0;
    int n_perm = 0;
    if (!s) {
        hid_t ds = H5Lexists(f, "perm", H5P_DEFAULT) > 0 ? H5Dopen2(f, "perm", H5P_DEFAULT) : -1;
        hid_t sp = ds < 0 ? -1 : H5Dget_space(ds);
        hssize_t np = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
        if (sp >= 0) H5Sclose(sp);
        if (ds >= 0) H5Dclose(ds);
        if (np < 1) s = as_error_set(err, AS_ERR_DATA, "%s: perm: missing", path);
        else if (np > INT_MAX)
            s = as_error_set(err, AS_ERR_DATA, "%s: perm: %lld rows: more than a dataset holds",
                             path, (long long)np);
        n_perm = (int)np;
    }
    if (!s) {
        st->epoch = (int)epoch;
        st->step = (long)step;
        st->n = m->n_params;
        st->n_perm = n_perm;
        st->perm = as_malloc((size_t)n_perm * sizeof(int));
        st->m = as_malloc((m->n_params ? m->n_params : 1) * sizeof(float));
        st->v = has_v ? as_malloc((m->n_params ? m->n_params : 1) * sizeof(float)) : NULL;
        if (!st->perm || !st->m || (has_v && !st->v)) s = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    }
    if (!s) s = read_1d(f, path, "perm", H5T_NATIVE_INT, (size_t)n_perm, st->perm, err);
    if (!s) s = check_perm(path, st->perm, n_perm, err);
    if (!s) s = read_1d(f, path, "optimizer/m", H5T_NATIVE_FLOAT, m->n_params, st->m, err);
    if (!s && has_v) s = read_1d(f, path, "optimizer/v", H5T_NATIVE_FLOAT, m->n_params, st->v, err);
    if (!s) s = read_averages(f, path, m, st, err);
    if (!s) s = read_1d(f, path, "shuffle", H5T_NATIVE_UINT64, 4, st->shuffle.s, err);
    if (!s) s = check_moments(path, st, err);
    if (!s) s = read_callbacks(f, path, m->n_params, m->n_buffers, st, err);
    if (!s) s = read_history(f, path, (int)epoch, h, err);
    H5Fclose(f);
    if (!s) s = as_weights_load(path, m, err);
    if (s) {
        as_checkpoint_state_free(st);
        as_history_free(h);
    }
    return s;
}
