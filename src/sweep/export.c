/* export.c: one sweep run as a standalone training spec (see export.h). */
#include "attnsweep/export.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/sha256.h"
#include "attnsweep/spec.h"
#include "sweep/summary_row.h"

/* The group under /variants whose attributes id and repeat are given (its name is the run
 * key, whatever the layout names it). */
typedef struct {
    int id, repeat, found;
    char *name;
    size_t cap;
} find_ctx;

static herr_t visit_run(hid_t g, const char *name, const H5L_info_t *info, void *ud) {
    (void)info;
    find_ctx *c = ud;
    hid_t vg = H5Gopen2(g, name, H5P_DEFAULT);
    if (vg < 0) return 0;
    int64_t id = -1, rep = -1;
    if (as_h5_read_attr_int(vg, "id", &id, NULL) == AS_OK &&
        as_h5_read_attr_int(vg, "repeat", &rep, NULL) == AS_OK && id == c->id && rep == c->repeat) {
        snprintf(c->name, c->cap, "%s", name);
        c->found = 1;
    }
    H5Gclose(vg);
    return c->found;
}

/* The run labelled v<id>_r<repeat>: its key from /summary or the journal (store.h: a file
 * not packed yet, after kill -9 or while a sweep runs) when that names a group, else the
 * group whose attributes say so (groups named otherwise than by their row's key). Returns
 * how many stored runs carry that label (key: the first), 0 for none. */
static int find_run(hid_t f, const char *results, int id, int repeat, char *key, size_t cap) {
    as_summary_row *rows = NULL;
    size_t n = 0;
    int found = 0;
    if (as_store_rows(results, &rows, &n, NULL) == AS_OK)
        for (size_t i = 0; i < n; i++)
            if (rows[i].id == id && rows[i].repeat == repeat && rows[i].key[0]) {
                hid_t g = as_store_open_run(f, results, rows[i].key);
                if (g < 0) continue;
                H5Gclose(g);
                if (found++ == 0) snprintf(key, cap, "%s", rows[i].key);
            }
    as_free(rows);
    if (found) return found;
    find_ctx c = {id, repeat, 0, key, cap};
    if (H5Lexists(f, "/variants", H5P_DEFAULT) <= 0) return 0;
    hid_t g = H5Gopen2(f, "/variants", H5P_DEFAULT);
    H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, visit_run, &c);
    H5Gclose(g);
    return c.found;
}

/* The best ok run of /summary by its kept model's val_loss (min) or val_accuracy (max, then
 * loss): the weights export reproduces, not the curves' best epoch. */
static as_status best_run(hid_t f, const char *path, const char *by, char *key, size_t cap,
                          as_error *err) {
    char *task = NULL;
    int cls = as_h5_read_attr_string(f, "task", &task, NULL) == AS_OK && !strcmp(task, "classification");
    as_free(task);
    int acc = by ? !strcmp(by, "val_accuracy") : cls;
    if (by && strcmp(by, "val_loss") && strcmp(by, "val_accuracy"))
        return as_error_set(err, AS_ERR_ARG, "--by %s: one of val_loss, val_accuracy", by);
    if (acc && !cls)
        return as_error_set(err, AS_ERR_ARG, "--by val_accuracy: %s is a regression sweep", path);
    as_summary_row *rows;
    size_t n;
    as_status st = as_store_rows(path, &rows, &n, err); /* the index and the journal */
    if (st) return st;
    long b = -1;
    for (size_t i = 0; i < n; i++) {
        const as_summary_row *r = &rows[i];
        double x = acc ? r->kept_val_accuracy : r->kept_val_loss;
        if (strcmp(r->status, "ok") || isnan(x)) continue;
        if (b >= 0) {
            const as_summary_row *q = &rows[b];
            double y = acc ? q->kept_val_accuracy : q->kept_val_loss;
            int better = acc ? (x > y || (x == y && r->kept_val_loss < q->kept_val_loss)) : x < y;
            int tie = x == y && (!acc || r->kept_val_loss == q->kept_val_loss);
            if (!better && !(tie && (r->id < q->id || (r->id == q->id && r->repeat < q->repeat))))
                continue;
        }
        b = (long)i;
    }
    int id = b >= 0 ? rows[b].id : -1, rep = b >= 0 ? rows[b].repeat : -1;
    if (b >= 0) snprintf(key, cap, "%s", rows[b].key);
    int keyed = b >= 0 && rows[b].key[0];
    as_free(rows);
    if (b < 0)
        return as_error_set(err, AS_ERR_ARG, "%s: no finished (ok) run with a validation %s", path,
                            acc ? "accuracy" : "loss");
    hid_t g = keyed ? as_store_open_run(f, path, key) : -1;
    if (g >= 0) H5Gclose(g);
    if (g < 0 && !find_run(f, path, id, rep, key, cap))
        return as_error_set(err, AS_ERR_DATA, "%s: /summary names variant %d repeat %d, which has no "
                            "group under /variants", path, id, rep);
    return AS_OK;
}

/* The first existing file among the candidates, as an absolute path (as_malloc'd). */
static char *resolve_data(const char *results, const char *data) {
    char cand[3][PATH_MAX + 8], *out = NULL, dir[PATH_MAX];
    int n = 0;
    snprintf(cand[n++], sizeof cand[0], "%s", data);
    snprintf(dir, sizeof dir, "%s", results);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    const char *base = strrchr(data, '/');
    if (data[0] != '/') snprintf(cand[n++], sizeof cand[0], "%s/%s", dir, data);
    if (base) snprintf(cand[n++], sizeof cand[0], "%s/%s", dir, base + 1); /* moved together */
    for (int i = 0; i < n && !out; i++) {
        char abs[PATH_MAX];
        if (access(cand[i], R_OK) == 0 && realpath(cand[i], abs)) out = as_strdup(abs);
    }
    return out;
}

/* Sets data, seed, keep (and, for a stopped run, its epochs and no refit) in the config. */
static as_status rewrite_config(cJSON *cfg, const char *data, const char *seed, int stopped_epochs,
                                int threads, as_error *err) {
    cJSON *train = cJSON_GetObjectItemCaseSensitive(cfg, "train");
    if (!train) {
        train = cJSON_AddObjectToObject(cfg, "train");
        if (!train) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    }
    cJSON *d = cJSON_CreateString(data), *s = cJSON_CreateString(seed);
    int ok = d && s && cJSON_ReplaceItemInObjectCaseSensitive(cfg, "data", d);
    if (ok) {
        cJSON_DeleteItemFromObjectCaseSensitive(train, "seed");
        ok = cJSON_AddItemToObject(train, "seed", s);
    } else {
        cJSON_Delete(d);
        cJSON_Delete(s);
    }
    if (ok && !cJSON_GetObjectItemCaseSensitive(train, "keep"))
        ok = cJSON_AddStringToObject(train, "keep", "best") != NULL;
    if (ok && stopped_epochs > 0) { /* a search stopped it: no refit followed its rung */
        cJSON_DeleteItemFromObjectCaseSensitive(train, "epochs");
        cJSON_DeleteItemFromObjectCaseSensitive(train, "refit");
        cJSON_DeleteItemFromObjectCaseSensitive(train, "refit_keep"); /* only with refit */
        ok = cJSON_AddNumberToObject(train, "epochs", stopped_epochs) != NULL;
    }
    if (ok && threads > 0) { /* the thread count it trained with: bit-identical only with it */
        cJSON_DeleteItemFromObjectCaseSensitive(train, "threads");
        ok = cJSON_AddNumberToObject(train, "threads", threads) != NULL;
    }
    return ok ? AS_OK : as_error_set(err, AS_ERR_NOMEM, "out of memory");
}

/* Copies /variants/<key>/weights into a new weights file (/weights). */
static as_status copy_weights(hid_t f, const char *results, const char *key, const char *out,
                              as_error *err) {
    hid_t g = as_store_open_run(f, results, key);
    if (g < 0 || H5Lexists(g, "weights", H5P_DEFAULT) <= 0) {
        if (g >= 0) H5Gclose(g);
        return as_error_set(err, AS_ERR_ARG, "%s: run %s has no saved weights (the sweep needs "
                            "\"save_weights\": true)", results, key);
    }
    as_h5_writer w;
    as_status st = as_h5_writer_open(&w, out, err);
    if (!st && H5Ocopy(g, "weights", w.file, "weights", H5P_DEFAULT, H5P_DEFAULT) < 0) {
        as_h5_writer_abort(&w);
        st = as_error_set(err, AS_ERR_IO, "%s: cannot copy the weights of %s", out, key);
    } else if (!st) {
        st = as_h5_writer_commit(&w, err);
    }
    H5Gclose(g);
    return st;
}

/* The run's attributes: config, seed, status, threads (0 when not recorded); and the epochs
 * it trained. */
static as_status read_run(hid_t f, const char *results, const char *key, char **config, char **seed,
                          int *stopped_epochs, int *threads, as_error *err) {
    char path[128];
    snprintf(path, sizeof path, "/variants/%s", key);
    hid_t g = as_store_open_run(f, results, key); /* the index, else the journal */
    if (g < 0)
        return as_error_set(err, AS_ERR_ARG, "%s: no run %s (run keys are the groups under "
                            "/variants, e.g. v0000_r0; `attnsweep summary` lists them)", results, key);
    char *status = NULL;
    int64_t epochs = 0;
    as_status st = as_h5_read_attr_string(g, "config", config, err);
    if (!st) st = as_h5_read_attr_string(g, "seed", seed, err);
    if (!st) st = as_h5_read_attr_string(g, "status", &status, err);
    if (!st && strcmp(status, "ok") && strcmp(status, "stopped"))
        st = as_error_set(err, AS_ERR_ARG, "%s: run %s has status %s; only ok or stopped runs "
                          "can be reproduced", results, key, status);
    *stopped_epochs = 0;
    int64_t nt = 0;
    if (!st && as_h5_has_attr(g, "threads")) st = as_h5_read_attr_int(g, "threads", &nt, err);
    *threads = nt >= 1 && nt <= 1024 ? (int)nt : 0;
    if (!st && !strcmp(status, "stopped") && H5Lexists(g, "loss", H5P_DEFAULT) > 0) {
        hid_t ds = H5Dopen2(g, "loss", H5P_DEFAULT), sp = H5Dget_space(ds);
        epochs = H5Sget_simple_extent_npoints(sp);
        H5Sclose(sp);
        H5Dclose(ds);
        *stopped_epochs = (int)epochs;
    }
    as_free(status);
    H5Gclose(g);
    if (st) as_error_prefix(err, "%s: %s", results, path);
    return st;
}

/* Resolves the dataset and checks it is the one the run trained on (the run's data_sha256;
 * the sweep's in files written before runs recorded it). */
static as_status check_data(hid_t f, const char *results, const char *key, const char *want,
                            char **abs, as_error *err) {
    *abs = resolve_data(results, want);
    if (!*abs)
        return as_error_set(err, AS_ERR_DATA, "%s: the dataset %s does not resolve from here or "
                            "from the results' folder (give it with --data PATH)", results, want);
    char *sha = NULL, now[65];
    hid_t g = as_store_open_run(f, results, key);
    as_status st = g >= 0 && as_h5_has_attr(g, "data_sha256")
                       ? as_h5_read_attr_string(g, "data_sha256", &sha, err)
                       : as_h5_read_attr_string(f, "data_sha256", &sha, err);
    if (g >= 0) H5Gclose(g);
    if (!st) st = as_sha256_file(*abs, now, err);
    if (!st && strcmp(sha, now))
        st = as_error_set(err, AS_ERR_DATA, "%s: is not the dataset %s was trained on (SHA-256 "
                          "%.12s..., the sweep's %.12s...)", *abs, results, now, sha);
    as_free(sha);
    return st;
}

as_status as_export_run(const char *results, const char *out_spec, const as_export_opts *o,
                        char *key, size_t cap, as_error *err) {
    hid_t f = as_h5_open_read(results, err);
    if (f < 0) return AS_ERR_DATA;
    as_status st = AS_OK;
    if (o->best) st = best_run(f, results, o->by, key, cap, err);
    else snprintf(key, cap, "%s", o->run);
    int id, rep;
    char tail;
    hid_t g = st || o->best ? -1 : as_store_open_run(f, results, key);
    if (g >= 0) H5Gclose(g);
    else if (!st && !o->best && sscanf(o->run, "v%d_r%d%c", &id, &rep, &tail) == 2 &&
             find_run(f, results, id, rep, key, cap) > 1) /* a label, not a group */
        st = as_error_set(err, AS_ERR_ARG, "--run %s: several runs carry this label (one "
                          "configuration trained with different sweep seeds, kept by --resume "
                          "--force), the first %s: give the run key (the groups under "
                          "/variants: h5ls %s/variants)", o->run, key, results);
    char *config = NULL, *seed = NULL, *abs = NULL, *text = NULL;
    int stopped = 0, threads = 0;
    cJSON *cfg = NULL;
    if (!st) st = read_run(f, results, key, &config, &seed, &stopped, &threads, err);
    char where[4200];
    snprintf(where, sizeof where, "%s: run %s: config", results, key);
    if (!st) st = as_json_parse(config, where, &cfg, err);
    const cJSON *d = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "data") : NULL;
    if (!st && !cJSON_IsString(d) && !o->data)
        st = as_error_set(err, AS_ERR_DATA, "%s: run %s: config has no data path", results, key);
    if (!st) st = check_data(f, results, key, o->data ? o->data : d->valuestring, &abs, err);
    if (!st && o->check_outputs) st = o->check_outputs(o->check_ud, results, abs, err);
    if (!st) st = rewrite_config(cfg, abs, seed, stopped, threads, err);
    if (!st && !(text = cJSON_Print(cfg))) st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    /* the weights first (a run without them fails before anything is written), then the
     * spec; a failed spec takes the new weights with it, so neither output is half there */
    if (!st && o->weights) st = copy_weights(f, results, key, o->weights, err);
    const size_t tn = text ? strlen(text) : 0;
    if (!st) text[tn] = '\n'; /* cJSON_Print's terminator: the file ends with a newline */
    if (!st && (st = as_write_file_durable(out_spec, text, tn + 1, NULL, 1, err)) && o->weights)
        unlink(o->weights);
    if (text) cJSON_free(text);
    cJSON_Delete(cfg);
    as_free(config);
    as_free(seed);
    as_free(abs);
    H5Fclose(f);
    return st;
}
