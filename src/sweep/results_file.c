/* results_file.c: the sweep results HDF5 file, rewritten atomically per finished run. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/model.h"
#include "attnsweep/spec.h"
#include "attnsweep/sweep.h"
#include "attnsweep/weights.h"
#include "sweep/summary_row.h"

#define FORMAT_VERSION 1

static void iso_now(char *buf, size_t cap) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The row type with the parameter count named `count` ("n_params"; "params" in files
 * written before the rename). */
static hid_t summary_type_named(const char *count) {
    hid_t name_t = H5Tcopy(H5T_C_S1);
    H5Tset_size(name_t, AS_SUMMARY_NAME_MAX);
    hid_t status_t = H5Tcopy(H5T_C_S1);
    H5Tset_size(status_t, AS_SUMMARY_STATUS_MAX);
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
    hid_t ds = H5Dcreate2(f, "summary", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : (n ? H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) : 0);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    H5Tclose(t);
    return rc < 0 ? as_error_set(err, AS_ERR_IO, "/summary: cannot write") : AS_OK;
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
            (*rows)[i].test_loss = (*rows)[i].test_accuracy = (double)NAN;
        if (!*rows) st = as_error_set(err, AS_ERR_NOMEM, "/summary: out of memory");
        else if (H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, *rows) < 0)
            st = as_error_set(err, AS_ERR_DATA, "/summary: not the attnsweep summary table");
        H5Tclose(t);
        if (st) {
            as_free(*rows);
            *rows = NULL;
        } else {
            *n = (size_t)cnt;
        }
    }
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    return st;
}

as_status as_results_create(const char *path, const as_results_meta *m, as_error *err) {
    as_h5_writer w;
    as_status st = as_h5_writer_open(&w, path, err);
    if (st) return st;
    char now[32];
    iso_now(now, sizeof now);
    hid_t f = w.file;
    st = as_h5_attr_int32(f, "format_version", FORMAT_VERSION, err);
    if (!st) st = as_h5_attr_string(f, "attnsweep_version", AS_VERSION_STRING, err);
    if (!st) st = as_h5_attr_string(f, "sweep_path", m->sweep_path, err);
    if (!st) st = as_h5_attr_string(f, "sweep_text", m->sweep_text, err);
    if (!st) st = as_h5_attr_string(f, "sweep_sha256", m->sweep_sha256, err);
    if (!st) st = as_h5_attr_string(f, "data_path", m->data_path, err);
    if (!st) st = as_h5_attr_string(f, "data_sha256", m->data_sha256, err);
    if (!st) st = as_h5_attr_int32(f, "ranks", m->ranks, err);
    if (!st) st = as_h5_attr_int32(f, "ranks_per_variant", m->ranks_per_variant, err);
    if (!st) st = as_h5_attr_string(f, "start_time", now, err);
    if (!st) st = as_h5_attr_string(f, "end_time", "", err);
    if (!st) st = as_h5_attr_double(f, "wall_seconds", 0.0, err);
    if (!st)
        st = as_h5_attr_string(f, "task",
                               m->data->task == AS_TASK_CLASSIFICATION ? "classification" : "regression",
                               err);
    if (!st && m->data->task == AS_TASK_CLASSIFICATION)
        st = as_h5_attr_int32(f, "n_classes", m->data->n_classes, err);
    if (!st) {
        hid_t g = as_h5_group(f, "variants", err);
        if (g < 0) st = AS_ERR_IO;
        else H5Gclose(g);
    }
    if (!st) st = as_summary_write(f, NULL, 0, err);
    if (st) {
        as_h5_writer_abort(&w);
        return as_error_prefix(err, "%s", path);
    }
    return as_h5_writer_commit(&w, err);
}

/* Copies src to dst byte for byte and fsyncs dst. */
static as_status copy_file(const char *src, const char *dst, as_error *err) {
    int in = open(src, O_RDONLY);
    if (in < 0) return as_error_set(err, AS_ERR_IO, "%s: cannot open: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        close(in);
        return as_error_set(err, AS_ERR_IO, "%s: cannot create: %s", dst, strerror(errno));
    }
    char buf[1 << 16];
    ssize_t got;
    as_status st = AS_OK;
    while ((got = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, (size_t)got) != got) {
            st = as_error_set(err, AS_ERR_IO, "%s: write failed: %s", dst, strerror(errno));
            break;
        }
    }
    if (got < 0) st = as_error_set(err, AS_ERR_IO, "%s: read failed", src);
    close(in);
    close(out);
    return st;
}

static as_status fsync_path(const char *path, as_error *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        if (fd >= 0) close(fd);
        return as_error_set(err, AS_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    }
    close(fd);
    return AS_OK;
}

static as_status write_array(hid_t g, const as_array *a, as_error *err) {
    switch (a->type) {
    case AS_ARR_F32: return as_h5_write_float(g, a->name, a->rank, a->dims, a->data, err);
    case AS_ARR_I32: return as_h5_write_int(g, a->name, a->rank, a->dims, a->data, err);
    case AS_ARR_F64: return as_h5_write_double(g, a->name, a->rank, a->dims, a->data, err);
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
    if (!st && r->validation[0]) st = as_h5_attr_string(g, "validation", r->validation, err);
    if (!st && r->has_test) st = as_h5_attr_double(g, "test_loss", r->test_loss, err);
    if (!st && r->has_test) st = as_h5_attr_double(g, "test_accuracy", r->test_accuracy, err);
    return st;
}

static as_status write_variant(hid_t f, const as_sweep *s, const as_result *r, as_error *err) {
    char key[64], path[96];
    snprintf(key, sizeof key, "v%04d_r%d", r->id, r->repeat);
    snprintf(path, sizeof path, "/variants/%s", key);
    if (H5Lexists(f, path, H5P_DEFAULT) > 0) H5Ldelete(f, path, H5P_DEFAULT);
    hid_t g = as_h5_group(f, path, err);
    if (g < 0) return AS_ERR_IO;
    const as_variant *v = &s->v[r->id];
    char *config = cJSON_Print(v->spec), *params = cJSON_PrintUnformatted(v->params);
    as_status st = (!config || !params) ? as_error_set(err, AS_ERR_NOMEM, "out of memory") : AS_OK;
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    if (!st) st = as_h5_attr_string(g, "config", config, err);
    char *run_key = as_sweep_run_key(s, r->id);
    if (!st && !run_key) st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    if (!st) st = as_h5_attr_string(g, "canonical", v->canonical, err);
    if (!st) st = as_h5_attr_string(g, "run_key", run_key, err);
    as_free(run_key);
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
            st = write_array(g, a, err);
        }
    }
    if (config) cJSON_free(config);
    if (params) cJSON_free(params);
    H5Gclose(g);
    if (st) as_error_prefix(err, "%s", path);
    return st;
}

static void fill_row(as_summary_row *row, const as_sweep *s, const as_result *r) {
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
}

/* Opens a private copy of path, lets fn modify it, then swaps it in atomically. */
typedef as_status (*modify_fn)(hid_t f, void *ud, as_error *err);

static as_status rewrite(const char *path, modify_fn fn, void *ud, as_error *err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    as_status st = copy_file(path, tmp, err);
    if (st) {
        unlink(tmp);
        return st;
    }
    as_h5_quiet();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_file_locking(fapl, 0, 1);
    hid_t f = H5Fopen(tmp, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (f < 0) {
        unlink(tmp);
        return as_error_set(err, AS_ERR_IO, "%s: cannot open the results file for writing", path);
    }
    st = fn(f, ud, err);
    if (H5Fclose(f) < 0 && !st) st = as_error_set(err, AS_ERR_IO, "%s: cannot close", tmp);
    if (!st) st = fsync_path(tmp, err);
    if (!st && rename(tmp, path) != 0)
        st = as_error_set(err, AS_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (st) {
        unlink(tmp);
        return st;
    }
    /* make the rename itself durable */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return AS_OK;
}

typedef struct {
    const as_sweep *s;
    const as_result *r;
} append_ctx;

static as_status do_append(hid_t f, void *ud, as_error *err) {
    append_ctx *c = ud;
    as_status st = write_variant(f, c->s, c->r, err);
    if (st) return st;
    as_summary_row *rows;
    size_t n;
    if ((st = as_summary_read(f, &rows, &n, err))) return st;
    as_summary_row *all = as_calloc(n + 1, sizeof *all);
    if (!all) {
        as_free(rows);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the summary");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) /* a rerun replaces its old row */
        if (!(rows[i].id == c->r->id && rows[i].repeat == c->r->repeat)) all[k++] = rows[i];
    fill_row(&all[k++], c->s, c->r);
    st = as_summary_write(f, all, k, err);
    as_free(rows);
    as_free(all);
    return st;
}

as_status as_results_append(const char *path, const as_sweep *s, const as_result *r,
                            as_error *err) {
    append_ctx c = {s, r};
    return rewrite(path, do_append, &c, err);
}

typedef struct {
    double wall;
    int ranks, rpv;
} finish_ctx;

static as_status do_finish(hid_t f, void *ud, as_error *err) {
    finish_ctx *c = ud;
    char now[32];
    iso_now(now, sizeof now);
    double before = 0;
    as_h5_read_attr_double(f, "wall_seconds", &before, NULL);
    as_status st = as_h5_attr_string(f, "end_time", now, err);
    if (!st) st = as_h5_attr_double(f, "wall_seconds", before + c->wall, err);
    if (!st) st = as_h5_attr_int32(f, "ranks", c->ranks, err);
    if (!st) st = as_h5_attr_int32(f, "ranks_per_variant", c->rpv, err);
    return st;
}

as_status as_results_finish(const char *path, double wall_seconds, int ranks,
                            int ranks_per_variant, as_error *err) {
    finish_ctx c = {wall_seconds, ranks, ranks_per_variant};
    return rewrite(path, do_finish, &c, err);
}

typedef struct {
    const as_sweep *s;
    char **keys; /* run key per variant */
    unsigned char *done;
} done_ctx;

static herr_t visit_variant(hid_t g, const char *name, const H5L_info_t *info, void *ud) {
    (void)info;
    done_ctx *c = ud;
    hid_t vg = H5Gopen2(g, name, H5P_DEFAULT);
    if (vg < 0) return 0;
    char *key = NULL, *status = NULL;
    int64_t rep = -1;
    if (as_h5_read_attr_string(vg, "run_key", &key, NULL) == AS_OK &&
        as_h5_read_attr_string(vg, "status", &status, NULL) == AS_OK &&
        as_h5_read_attr_int(vg, "repeat", &rep, NULL) == AS_OK && strcmp(status, "failed") != 0) {
        for (int v = 0; v < c->s->n; v++)
            if (c->keys[v] && !strcmp(c->keys[v], key) && rep >= 0 && rep < c->s->repeats)
                c->done[(size_t)v * c->s->repeats + (size_t)rep] = 1;
    }
    as_free(key);
    as_free(status);
    H5Gclose(vg);
    return 0;
}

/* Compares a stored hash attribute with the current one. */
static as_status same_hash(hid_t f, const char *path, const char *attr, const char *now,
                           const char *what, int force, as_error *err) {
    char *old = NULL;
    if (as_h5_read_attr_string(f, attr, &old, err))
        return as_error_set(err, AS_ERR_ARG, "%s: not an attnsweep results file (no %s)", path, attr);
    int same = !strcmp(old, now);
    as_free(old);
    if (same || force) return AS_OK;
    return as_error_set(err, AS_ERR_ARG,
                        "%s: the %s changed since these results were written; refusing to resume "
                        "(use --force to resume anyway, keeping the finished runs whose config is "
                        "unchanged)", path, what);
}

as_status as_results_done(const char *path, const as_sweep *s, const char *sweep_sha,
                          const char *data_sha, int force, unsigned char *done, as_error *err) {
    hid_t f = as_h5_open_read(path, err);
    if (f < 0) return AS_ERR_ARG;
    as_status st = same_hash(f, path, "sweep_sha256", sweep_sha, "sweep file", force, err);
    if (!st) st = same_hash(f, path, "data_sha256", data_sha, "dataset", force, err);
    done_ctx c = {s, as_calloc((size_t)s->n, sizeof(char *)), done};
    if (!st && !c.keys) st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    for (int v = 0; !st && v < s->n; v++)
        if (!(c.keys[v] = as_sweep_run_key(s, v))) st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    if (!st && H5Lexists(f, "variants", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(f, "variants", H5P_DEFAULT);
        H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, visit_variant, &c);
        H5Gclose(g);
    }
    for (int v = 0; c.keys && v < s->n; v++) as_free(c.keys[v]);
    as_free(c.keys);
    H5Fclose(f);
    return st;
}
