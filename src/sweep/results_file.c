/* results_file.c: the sweep results HDF5 file, rewritten atomically per finished run. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/model.h"
#include "attnsweep/runkey.h"
#include "attnsweep/spec.h"
#include "attnsweep/sweep.h"
#include "attnsweep/weights.h"
#include "sweep/summary_row.h"

#define FORMAT_VERSION 2

/* The row type with the parameter count named `count` ("n_params"; "params" in files
 * written before the rename). */
static hid_t summary_type_named(const char *count) {
    hid_t name_t = H5Tcopy(H5T_C_S1);
    H5Tset_size(name_t, AS_SUMMARY_NAME_MAX);
    hid_t status_t = H5Tcopy(H5T_C_S1);
    H5Tset_size(status_t, AS_SUMMARY_STATUS_MAX);
    hid_t key_t = H5Tcopy(H5T_C_S1);
    H5Tset_size(key_t, AS_SUMMARY_KEY_MAX);
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(as_summary_row));
    H5Tinsert(t, "id", HOFFSET(as_summary_row, id), H5T_NATIVE_INT32);
    H5Tinsert(t, "repeat", HOFFSET(as_summary_row, repeat), H5T_NATIVE_INT32);
    H5Tinsert(t, "name", HOFFSET(as_summary_row, name), name_t);
    H5Tinsert(t, "status", HOFFSET(as_summary_row, status), status_t);
    H5Tinsert(t, count, HOFFSET(as_summary_row, n_params), H5T_NATIVE_INT64);
    H5Tinsert(t, "epochs_run", HOFFSET(as_summary_row, epochs_run), H5T_NATIVE_INT32);
    H5Tinsert(t, "best_epoch", HOFFSET(as_summary_row, best_epoch), H5T_NATIVE_INT32);
    H5Tinsert(t, "best_val_loss", HOFFSET(as_summary_row, best_val_loss), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "final_val_loss", HOFFSET(as_summary_row, final_val_loss), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "best_val_accuracy", HOFFSET(as_summary_row, best_val_accuracy), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "train_seconds", HOFFSET(as_summary_row, train_seconds), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "rank", HOFFSET(as_summary_row, rank), H5T_NATIVE_INT32);
    H5Tinsert(t, "test_loss", HOFFSET(as_summary_row, test_loss), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "test_accuracy", HOFFSET(as_summary_row, test_accuracy), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "stopped_epoch", HOFFSET(as_summary_row, stopped_epoch), H5T_NATIVE_INT32);
    H5Tinsert(t, "kept_epoch", HOFFSET(as_summary_row, kept_epoch), H5T_NATIVE_INT32);
    H5Tinsert(t, "key", HOFFSET(as_summary_row, key), key_t);
    H5Tinsert(t, "kept_val_loss", HOFFSET(as_summary_row, kept_val_loss), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "kept_val_accuracy", HOFFSET(as_summary_row, kept_val_accuracy), H5T_NATIVE_DOUBLE);
    H5Tclose(key_t);
    H5Tclose(name_t);
    H5Tclose(status_t);
    return t;
}

hid_t as_summary_type(void) { return summary_type_named("n_params"); }

/* The row type matching the file's /summary (older files name the count "params"). */
static hid_t summary_type_of(hid_t ds) {
    hid_t ft = H5Dget_type(ds);
    int old = ft >= 0 && H5Tget_member_index(ft, "n_params") < 0 && H5Tget_member_index(ft, "params") >= 0;
    if (ft >= 0) H5Tclose(ft);
    return summary_type_named(old ? "params" : "n_params");
}

as_status as_summary_write(hid_t f, const as_summary_row *rows, size_t n, as_error *err) {
    if (H5Lexists(f, "summary", H5P_DEFAULT) > 0) H5Ldelete(f, "summary", H5P_DEFAULT);
    hid_t t = as_summary_type();
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t dcpl = as_h5_create_plist(H5P_DATASET_CREATE);
    hid_t ds = H5Dcreate2(f, "summary", t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    herr_t rc = ds < 0 ? -1 : (n ? H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) : 0);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    H5Tclose(t);
    return rc < 0 ? as_error_set(err, AS_ERR_IO, "/summary: cannot write") : AS_OK;
}

/* Element epoch-1 of g's 1-D float64 curve name (NaN when absent or shorter). */
static double curve_at(hid_t g, const char *name, int epoch) {
    double v = (double)NAN;
    if (epoch < 1 || H5Lexists(g, name, H5P_DEFAULT) <= 0) return v;
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT), sp = ds < 0 ? -1 : H5Dget_space(ds);
    hsize_t at[1] = {(hsize_t)epoch - 1}, one[1] = {1};
    hid_t ms = H5Screate_simple(1, one, NULL);
    if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_npoints(sp) >= epoch &&
        H5Sselect_hyperslab(sp, H5S_SELECT_SET, at, NULL, one, NULL) >= 0 &&
        H5Dread(ds, H5T_NATIVE_DOUBLE, ms, sp, H5P_DEFAULT, &v) < 0)
        v = (double)NAN;
    H5Sclose(ms);
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    return v;
}

void as_summary_fill_old(hid_t row_type, hid_t run, as_summary_row *r) {
    if (strcmp(r->status, "ok") && strcmp(r->status, "stopped")) return;
    if (H5Tget_member_index(row_type, "kept_epoch") < 0) r->kept_epoch = r->epochs_run;
    if (H5Tget_member_index(row_type, "kept_val_loss") >= 0 || run < 0 || r->kept_epoch < 1)
        return;
    r->kept_val_loss = curve_at(run, "val_loss", r->kept_epoch);
    r->kept_val_accuracy = curve_at(run, "val_accuracy", r->kept_epoch);
}

/* A file written before /summary had kept_val_loss: the kept epoch's figures from the
 * runs' curves under /variants (the journal's runs are filled as their rows are read). */
static void fill_kept(hid_t f, hid_t row_type, as_summary_row *rows, size_t n) {
    const int variants = H5Lexists(f, "variants", H5P_DEFAULT) > 0;
    for (size_t i = 0; i < n; i++) {
        as_summary_row *r = &rows[i];
        char g[AS_SUMMARY_KEY_MAX + 16];
        snprintf(g, sizeof g, "/variants/%s", r->key);
        hid_t vg = variants && r->key[0] && H5Lexists(f, g, H5P_DEFAULT) > 0
                       ? H5Gopen2(f, g, H5P_DEFAULT) : -1;
        as_summary_fill_old(row_type, vg, r);
        if (vg >= 0) H5Gclose(vg);
    }
}

as_status as_summary_read(hid_t f, as_summary_row **rows, size_t *n, as_error *err) {
    *rows = NULL;
    *n = 0;
    if (H5Lexists(f, "summary", H5P_DEFAULT) <= 0)
        return as_error_set(err, AS_ERR_DATA, "/summary: missing (not an attnsweep results file?)");
    hid_t ds = H5Dopen2(f, "summary", H5P_DEFAULT);
    hid_t sp = ds < 0 ? -1 : H5Dget_space(ds);
    hssize_t cnt = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    as_status st = AS_OK;
    if (cnt < 0) {
        st = as_error_set(err, AS_ERR_DATA, "/summary: unreadable");
    } else if (cnt > 0) {
        *rows = as_calloc((size_t)cnt, sizeof **rows);
        hid_t t = summary_type_of(ds);
        for (hssize_t i = 0; *rows && i < cnt; i++) /* absent in files of older versions */
            (*rows)[i].test_loss = (*rows)[i].test_accuracy = (*rows)[i].kept_val_loss =
                (*rows)[i].kept_val_accuracy = (double)NAN;
        if (!*rows) st = as_error_set(err, AS_ERR_NOMEM, "/summary: out of memory");
        else if (H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, *rows) < 0)
            st = as_error_set(err, AS_ERR_DATA, "/summary: not the attnsweep summary table");
        H5Tclose(t);
        if (st) {
            as_free(*rows);
            *rows = NULL;
        } else { /* keep the filled rows; a later row of the same key replaces an earlier one */
            size_t k = 0;
            for (size_t i = 0; i < (size_t)cnt; i++) {
                as_summary_row *r = &(*rows)[i];
                r->name[AS_SUMMARY_NAME_MAX - 1] = r->status[AS_SUMMARY_STATUS_MAX - 1] = '\0';
                r->key[AS_SUMMARY_KEY_MAX - 1] = '\0';
                if (!r->status[0]) continue;
                size_t j = 0;
                while (j < k && strcmp((*rows)[j].key, r->key) != 0) j++;
                (*rows)[j] = *r;
                if (j == k) k++;
            }
            *n = k;
            hid_t ft = H5Dget_type(ds);
            if (ft >= 0 && H5Tget_member_index(ft, "kept_val_loss") < 0) fill_kept(f, ft, *rows, k);
            if (ft >= 0) H5Tclose(ft);
        }
    }
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    return st;
}

as_status as_array_write(hid_t loc, const as_array *a, int compress, as_error *err) {
    switch (a->type) {
    case AS_ARR_F32:
        return as_h5_write(loc, a->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, a->rank, a->dims, a->data, compress, err);
    case AS_ARR_I32:
        return as_h5_write(loc, a->name, H5T_STD_I32LE, H5T_NATIVE_INT, a->rank, a->dims, a->data, compress, err);
    case AS_ARR_F64:
        return as_h5_write(loc, a->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, a->rank, a->dims, a->data, compress, err);
    }
    return as_error_set(err, AS_ERR_INTERNAL, "%s: unknown array type", a->name);
}

/* Rebuilds the variant's model (batch 1) to lay its flat parameters out as Keras weights. */
static as_status write_weights(hid_t f, const char *group, const as_sweep *s, const as_result *r,
                               const as_array *params, as_error *err) {
    as_spec spec;
    as_status st = as_spec_parse(s->v[r->id].spec, "weights", NULL, NULL, &spec, err);
    if (st) return st;
    int T = r->in_t, C = r->in_c;
    as_model m;
    st = as_model_build(&m, &spec, T, C, 1, "weights", err);
    /* params->data: the parameters, then the buffers (moving statistics) */
    if (!st && m.n_params + m.n_buffers != (size_t)params->dims[0])
        st = as_error_set(err, AS_ERR_INTERNAL, "weights: %zu parameters but %llu received",
                          m.n_params + m.n_buffers, (unsigned long long)params->dims[0]);
    if (!st) {
        memcpy(m.params, params->data, m.n_params * sizeof(float));
        memcpy(m.buffers, (const float *)params->data + m.n_params, m.n_buffers * sizeof(float));
        st = as_weights_write_group(f, group, &m, err);
    }
    hid_t wg = !st && r->refit_epochs > 0 ? H5Gopen2(f, group, H5P_DEFAULT) : -1;
    if (wg >= 0) { /* export copies the group: evaluate knows a refit model by it */
        st = as_h5_attr_int32(wg, "refit_epochs", r->refit_epochs, err);
        H5Gclose(wg);
    }
    as_model_free(&m);
    as_spec_free(&spec);
    return st;
}

/* Which weights were kept, early stopping, the test metrics and the validation split. */
static as_status write_outcome(hid_t g, const as_result *r, as_error *err) {
    as_status st = as_h5_attr_int32(g, "best_epoch", r->best_epoch, err);
    if (!st) st = as_h5_attr_int32(g, "stopped_epoch", r->stopped_epoch, err);
    if (!st) st = as_h5_attr_string(g, "kept", r->kept_best ? "best" : "last", err);
    if (!st) st = as_h5_attr_int32(g, "kept_epoch", r->kept_epoch, err);
    if (!st && r->kept_epoch > 0) st = as_h5_attr_double(g, "kept_val_loss", r->kept_val_loss, err);
    if (!st && r->kept_epoch > 0 && !isnan(r->kept_val_accuracy))
        st = as_h5_attr_double(g, "kept_val_accuracy", r->kept_val_accuracy, err);
    if (!st && r->threads > 0) st = as_h5_attr_int32(g, "threads", r->threads, err);
    if (!st && r->refit_epochs > 0) st = as_h5_attr_int32(g, "refit_epochs", r->refit_epochs, err);
    if (!st && r->refit_epochs > 0)
        st = as_h5_attr_int32(g, "refit_kept_epoch", r->refit_kept_epoch, err);
    if (!st && r->validation[0]) st = as_h5_attr_string(g, "validation", r->validation, err);
    if (!st && r->has_test) st = as_h5_attr_double(g, "test_loss", r->test_loss, err);
    if (!st && r->has_test) st = as_h5_attr_double(g, "test_accuracy", r->test_accuracy, err);
    return st;
}

as_status as_results_write_run(hid_t f, const char *path, const as_sweep *s, const as_result *r,
                               as_error *err) {
    hid_t g = as_h5_group(f, path, err);
    if (g < 0) return AS_ERR_IO;
    const as_variant *v = &s->v[r->id];
    char *config = cJSON_Print(v->spec), *params = cJSON_PrintUnformatted(v->params);
    as_status st = (!config || !params) ? as_error_set(err, AS_ERR_NOMEM, "out of memory") : AS_OK;
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    if (!st) st = as_h5_attr_string(g, "config", config, err);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(v->spec, "data");
    if (!st && cJSON_IsString(data)) st = as_h5_attr_string(g, "data", data->valuestring, err);
    if (!st && v->data_sha256[0]) st = as_h5_attr_string(g, "data_sha256", v->data_sha256, err);
    char *config_key = as_sweep_run_key(s, r->id);
    if (!st && !config_key) st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    if (!st) st = as_h5_attr_string(g, "canonical", v->canonical, err);
    if (!st) st = as_h5_attr_string(g, "config_key", config_key, err);
    if (!st) st = as_h5_attr_string(g, "run_key", r->key, err);
    as_free(config_key);
    if (!st) st = as_h5_attr_string(g, "params", params, err);
    if (!st) st = as_h5_attr_string(g, "name", v->name, err);
    if (!st) st = as_h5_attr_string(g, "status", as_var_status_name(r->status), err);
    if (!st) st = as_h5_attr_string(g, "error", r->error, err);
    if (!st) st = as_h5_attr_string(g, "seed", seed, err);
    if (!st) st = as_h5_attr_int32(g, "id", r->id, err);
    if (!st) st = as_h5_attr_int32(g, "repeat", r->repeat, err);
    if (!st) st = as_h5_attr_int32(g, "rank", r->rank, err);
    if (!st && r->pred_split[0]) st = as_h5_attr_string(g, "pred_split", r->pred_split, err);
    if (!st) st = write_outcome(g, r, err);
    for (int i = 0; i < r->n_arrays && !st; i++) {
        const as_array *a = &r->arrays[i];
        if (!strcmp(a->name, "__params")) {
            char wpath[128];
            snprintf(wpath, sizeof wpath, "%s/weights", path);
            st = write_weights(f, wpath, s, r, a, err);
        } else {
            st = as_array_write(g, a, 1, err); /* dumps and curves: compressed from 16 KiB */
        }
    }
    if (config) cJSON_free(config);
    if (params) cJSON_free(params);
    H5Gclose(g);
    if (st) as_error_prefix(err, "%s", path);
    return st;
}

void as_results_fill_row(as_summary_row *row, const as_sweep *s, const as_result *r) {
    memset(row, 0, sizeof *row);
    row->id = r->id;
    row->repeat = r->repeat;
    snprintf(row->name, sizeof row->name, "%s", s->v[r->id].name);
    snprintf(row->status, sizeof row->status, "%s", as_var_status_name(r->status));
    row->n_params = r->params;
    row->epochs_run = r->epochs_run;
    row->best_epoch = r->best_epoch;
    row->best_val_loss = r->best_val_loss;
    row->final_val_loss = r->final_val_loss;
    row->best_val_accuracy = r->best_val_accuracy;
    row->train_seconds = r->train_seconds;
    row->rank = r->rank;
    row->test_loss = r->test_loss;
    row->test_accuracy = r->test_accuracy;
    row->stopped_epoch = r->stopped_epoch;
    row->kept_epoch = r->kept_epoch;
    row->kept_val_loss = r->kept_val_loss;
    row->kept_val_accuracy = r->kept_val_accuracy;
    snprintf(row->key, sizeof row->key, "%s", r->key);
}

int as_keyed_cmp(const void *a, const void *b) {
    return strcmp(((const as_keyed *)a)->key, ((const as_keyed *)b)->key);
}

as_status as_results_sweep_keys(const as_sweep *s, const char *data_sha, as_keyed **out, size_t *n,
                          as_error *err) {
    size_t total;
    *out = NULL;
    if (!as_size_mul((size_t)s->n, (size_t)s->repeats, &total))
        return as_error_set(err, AS_ERR_NOMEM, "too many runs");
    as_keyed *k = as_calloc(total ? total : 1, sizeof *k);
    if (!k) return as_error_set(err, AS_ERR_NOMEM, "out of memory for the run keys");
    for (int v = 0; v < s->n; v++)
        for (int r = 0; r < s->repeats; r++) {
            size_t i = (size_t)v * (size_t)s->repeats + (size_t)r;
            k[i].slot = i;
            if (as_run_key(s, v, r, data_sha, k[i].key, err)) {
                as_free(k);
                return AS_ERR_NOMEM;
            }
        }
    qsort(k, total, sizeof *k, as_keyed_cmp);
    *out = k;
    *n = total;
    return AS_OK;
}

/* Compares what the stored runs were made with against this session: the sweep file,
 * the dataset's content and every override that changes results. Each difference is
 * named ("--epochs: stored 3, now 1"); any is refused unless force. */
static as_status same_setup(hid_t f, const char *path, const as_results_meta *m, int force,
                            as_error *err) {
    char *sweep = NULL, *data = NULL, *dpath = NULL;
    int64_t epochs = 0;
    if (as_h5_read_attr_string(f, "sweep_sha256", &sweep, NULL) ||
        as_h5_read_attr_string(f, "data_sha256", &data, NULL)) {
        as_free(sweep);
        as_free(data);
        return as_error_set(err, AS_ERR_ARG, "%s: not an attnsweep results file (no sweep_sha256 "
                            "or data_sha256)", path);
    }
    if (as_h5_has_attr(f, "override_epochs")) as_h5_read_attr_int(f, "override_epochs", &epochs, NULL);
    as_h5_read_attr_string(f, "data_path", &dpath, NULL);
    char why[1536] = "";
    size_t n = 0;
    if (strcmp(sweep, m->sweep_sha256) != 0)
        n += (size_t)snprintf(why + n, sizeof why - n, "; the sweep file changed");
    if (epochs != m->override_epochs && n < sizeof why) {
        char was[32], now[32];
        snprintf(was, sizeof was, epochs ? "%lld" : "none (the sweep file's)", (long long)epochs);
        snprintf(now, sizeof now, m->override_epochs ? "%d" : "none (the sweep file's)", m->override_epochs);
        n += (size_t)snprintf(why + n, sizeof why - n, "; --epochs: stored %s, now %s", was, now);
    }
    if (strcmp(data, m->data_sha256) != 0 && n < sizeof why)
        n += (size_t)snprintf(why + n, sizeof why - n,
                              "; --data: the dataset changed: stored %.300s (sha256 %.12s...), now "
                              "%.300s (sha256 %.12s...)", dpath ? dpath : "?", data, m->data_path,
                              m->data_sha256);
    as_free(sweep);
    as_free(data);
    as_free(dpath);
    if (!why[0] || force) return AS_OK;
    return as_error_set(err, AS_ERR_ARG,
                        "%s: refusing to resume: %s (resume with the same flags, or add --force to "
                        "keep every stored run and add the new ones beside them)", path, why + 2);
}

/* The shard the file records (root attributes shard, n_shards; 0/0: the whole sweep) against
 * this session's --shard: a resume never mixes shards, even with --force (the merge would
 * find them overlapping). Files of versions that did not record it pass. */
static as_status same_shard(hid_t f, const char *path, const as_results_meta *m, as_error *err) {
    int64_t i = 0, n = 0;
    if (!as_h5_has_attr(f, "n_shards")) return AS_OK;
    if (as_h5_read_attr_int(f, "n_shards", &n, err) ||
        (as_h5_has_attr(f, "shard") && as_h5_read_attr_int(f, "shard", &i, err)))
        return as_error_prefix(err, "%s", path);
    if (n == m->n_shards && (n == 0 || i == m->shard)) return AS_OK;
    char was[64], now[64];
    if (n) snprintf(was, sizeof was, "shard %lld/%lld", (long long)i, (long long)n);
    else snprintf(was, sizeof was, "the whole sweep (no --shard)");
    if (m->n_shards) snprintf(now, sizeof now, "--shard %d/%d", m->shard, m->n_shards);
    else snprintf(now, sizeof now, "the whole sweep (no --shard)");
    return as_error_set(err, AS_ERR_ARG, "%s: refusing to resume: it holds %s, this sweep asks for "
                        "%s (resume it with %s%s, or give another -o; --force does not mix shards)",
                        path, was, now, n ? "--shard " : "no --shard", n ? was + 6 : "");
}

as_status as_results_done(const char *path, const as_sweep *s, const as_results_meta *m, int force,
                          unsigned char *done, as_error *err) {
    hid_t f = as_h5_open_read(path, err);
    if (f < 0) return AS_ERR_ARG;
    as_status st = same_shard(f, path, m, err);
    if (!st) st = same_setup(f, path, m, force, err);
    H5Fclose(f);
    as_keyed *keys = NULL;
    size_t nk = 0, n = 0;
    as_summary_row *rows = NULL;
    if (!st) st = as_results_sweep_keys(s, m->data_sha256, &keys, &nk, err);
    if (!st) st = as_store_rows(path, &rows, &n, err);
    hid_t f2 = st ? -1 : as_h5_open_read(path, err);
    for (size_t i = 0; !st && f2 >= 0 && i < n; i++) {
        if (!strcmp(rows[i].status, "failed")) continue; /* no results: retried */
        hid_t g = as_store_open_run(f2, path, rows[i].key); /* a row without its run: retrained */
        if (g < 0) continue;
        H5Gclose(g);
        as_keyed probe;
        snprintf(probe.key, sizeof probe.key, "%s", rows[i].key);
        const as_keyed *hit = bsearch(&probe, keys, nk, sizeof *keys, as_keyed_cmp);
        if (hit) done[hit->slot] = 1;
    }
    if (f2 >= 0) H5Fclose(f2);
    as_free(rows);
    as_free(keys);
    return st;
}
