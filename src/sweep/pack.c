/* pack.c: rebuilding RESULTS.h5 from its previous version and the journal (store.h). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/sha256.h"
#include "attnsweep/store.h"
#include "attnsweep/sweep.h"
#include "sweep/summary_row.h"

#define FORMAT_VERSION 2

typedef struct {
    as_summary_row row;
    int journal;            /* its data comes from the journal file (else the old index) */
    const as_variant *v;    /* the current grid's variant of this run, or NULL */
    int relabelled;         /* row.id and row.name were given by relabel (group's too) */
} entry;

typedef struct {
    entry *e;
    size_t n, cap;
} entries;

static int by_key(const void *a, const void *b) {
    return strcmp(((const entry *)a)->row.key, ((const entry *)b)->row.key);
}

static int by_label(const void *a, const void *b) {
    const as_summary_row *x = &((const entry *)a)->row, *y = &((const entry *)b)->row;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    if (x->repeat != y->repeat) return x->repeat < y->repeat ? -1 : 1;
    return strcmp(x->key, y->key);
}

static entry *push(entries *es, as_error *err) {
    if (es->n == es->cap) {
        size_t nc = es->cap ? 2 * es->cap : 64;
        entry *ne = as_realloc(es->e, nc * sizeof *ne);
        if (!ne) {
            as_error_set(err, AS_ERR_NOMEM, "out of memory for the run list");
            return NULL;
        }
        es->e = ne;
        es->cap = nc;
    }
    memset(&es->e[es->n], 0, sizeof *es->e);
    return &es->e[es->n++];
}

/* The runs of the old index (rows whose group it lacks come from the journal). */
static as_status old_runs(hid_t old, entries *es, as_error *err) {
    as_summary_row *rows;
    size_t n;
    as_status st = as_summary_read(old, &rows, &n, err);
    for (size_t i = 0; !st && i < n; i++) {
        entry *e = push(es, err);
        if (!e) st = AS_ERR_NOMEM;
        else {
            char g[AS_SUMMARY_KEY_MAX + 16];
            snprintf(g, sizeof g, "variants/%s", rows[i].key);
            e->row = rows[i];
            e->journal = !(H5Lexists(old, "variants", H5P_DEFAULT) > 0 && H5Lexists(old, g, H5P_DEFAULT) > 0);
        }
    }
    as_free(rows);
    return st;
}

/* Adds or updates (the journal is newer) every run of the journal folder. */
static as_status journal_runs(const char *journal, entries *es, as_error *err) {
    if (es->n) qsort(es->e, es->n, sizeof *es->e, by_key); /* e is NULL while empty */
    size_t known = es->n;
    DIR *d = opendir(journal);
    if (!d) return AS_OK;
    struct dirent *de;
    as_status st = AS_OK;
    while (!st && (de = readdir(d))) {
        if (!as_store_is_key(de->d_name)) continue;
        char file[4352];
        snprintf(file, sizeof file, "%s/%s", journal, de->d_name);
        as_summary_row row;
        as_error ignore;
        if (as_store_read_row(file, &row, &ignore) != AS_OK) {
            as_store_warn_ignored(ignore.msg, "left in place, not packed");
            continue;
        }
        entry probe;
        probe.row = row;
        entry *hit = known ? bsearch(&probe, es->e, known, sizeof *es->e, by_key) : NULL;
        if (!hit && !(hit = push(es, err))) st = AS_ERR_NOMEM;
        else {
            hit->row = row;
            hit->journal = 1;
        }
    }
    closedir(d);
    /* rows of the old index whose run is nowhere (cannot happen: journal first) are dropped */
    size_t k = 0;
    for (size_t i = 0; i < es->n; i++) {
        char *f = es->e[i].journal ? as_store_journal_file(journal, es->e[i].row.key) : NULL;
        int keep = !es->e[i].journal || (f && access(f, R_OK) == 0);
        as_free(f);
        if (keep) es->e[k++] = es->e[i];
    }
    es->n = k;
    return st;
}

/* A run's configuration: the SHA-256 of its config_key's hash (the expanded spec after
 * every override, without data) and its dataset's hash, one per line; the run key less
 * repeat and seed. No allocation: the same parts always give the same id. */
static void config_id(const char *config_key, const char *data_sha, char out[65]) {
    char parts[140];
    as_sha256_hex(config_key, strlen(config_key), parts);
    const int n = snprintf(parts + 64, sizeof parts - 64, "\n%.64s", data_sha);
    as_sha256_hex(parts, 64 + (size_t)n, out);
}

/* The configuration of stored run e (its group's config_key and data_sha256; without
 * them, a file of an older version: the run key, so the run stands alone). */
static void stored_config(hid_t old, const char *path, const entry *e, char out[65]) {
    hid_t g = as_store_open_run(old, path, e->row.key);
    char *ck = NULL, *ds = NULL;
    if (g >= 0) {
        as_h5_read_attr_string(g, "config_key", &ck, NULL);
        as_h5_read_attr_string(g, "data_sha256", &ds, NULL);
        H5Gclose(g);
    }
    if (ck) config_id(ck, ds ? ds : "", out);
    else snprintf(out, 65, "%s", e->row.key);
    as_free(ck);
    as_free(ds);
}

typedef struct {
    char cfg[65];
    int id;
} cfg_id;

static int cfg_cmp(const void *a, const void *b) {
    return strcmp(((const cfg_id *)a)->cfg, ((const cfg_id *)b)->cfg);
}

/* The current grid's variants by configuration, sorted (cfg_cmp). */
static as_status grid_configs(const as_sweep *s, const char *data_sha, cfg_id **out, as_error *err) {
    cfg_id *c = as_calloc((size_t)(s->n > 0 ? s->n : 1), sizeof *c);
    if (!c) return as_error_set(err, AS_ERR_NOMEM, "out of memory for the grid's configurations");
    for (int v = 0; v < s->n; v++) {
        char *ck = as_sweep_run_key(s, v);
        if (!ck) {
            as_free(c);
            return as_error_set(err, AS_ERR_NOMEM, "out of memory for a run key");
        }
        config_id(ck, s->v[v].data_sha256[0] ? s->v[v].data_sha256 : data_sha, c[v].cfg);
        c[v].id = v;
        as_free(ck);
    }
    qsort(c, (size_t)s->n, sizeof *c, cfg_cmp);
    *out = c;
    return AS_OK;
}

#define NOT_IN_GRID " [not in grid]"

/* Labels run e as stored variant `id`, not in the current grid (its name marked so). */
static void label_stale(entry *e, int id) {
    char *name = e->row.name; /* NUL-terminated within AS_SUMMARY_NAME_MAX bytes */
    size_t nb = strnlen(name, AS_SUMMARY_NAME_MAX - 1), nm = sizeof NOT_IN_GRID - 1;
    if (nb >= nm && !memcmp(name + nb - nm, NOT_IN_GRID, nm)) nb -= nm; /* marked before */
    if (nb + nm >= AS_SUMMARY_NAME_MAX) { /* cut to fit, not inside a UTF-8 character */
        nb = AS_SUMMARY_NAME_MAX - 1 - nm;
        while (nb > 0 && ((unsigned char)name[nb] & 0xC0) == 0x80) nb--;
    }
    memcpy(name + nb, NOT_IN_GRID, nm + 1);
    e->row.id = id;
    e->relabelled = 1;
}

/* Labels every run by its configuration: a run of a current variant's configuration gets
 * that variant's id and name; the other stored runs (another grid, --epochs or dataset,
 * kept by --resume --force) get ids after the grid's, one per configuration, in the order
 * of their previous labels, and names marked NOT_IN_GRID: never a current variant's id. */
static as_status relabel(const as_sweep *s, hid_t old, const char *path, const char *data_sha,
                         entries *es, as_error *err) {
    cfg_id *grid = NULL, *stale = NULL;
    size_t n_stale = 0, nk = 0;
    as_keyed *keys = NULL;
    as_status st = as_results_sweep_keys(s, data_sha, &keys, &nk, err);
    if (!st) st = grid_configs(s, data_sha, &grid, err);
    if (!st && es->n) qsort(es->e, es->n, sizeof *es->e, by_label); /* previous labels' order */
    if (!st && !(stale = as_calloc(es->n ? es->n : 1, sizeof *stale)))
        st = as_error_set(err, AS_ERR_NOMEM, "out of memory for the stored configurations");
    for (size_t i = 0; !st && i < es->n; i++) {
        entry *e = &es->e[i];
        as_keyed kp;
        snprintf(kp.key, sizeof kp.key, "%s", e->row.key);
        const as_keyed *run = bsearch(&kp, keys, nk, sizeof *keys, as_keyed_cmp);
        cfg_id probe = {"", run ? (int)(run->slot / (size_t)s->repeats) : -1};
        if (!run) stored_config(old, path, e, probe.cfg); /* another seed or not in the grid */
        const cfg_id *hit = run ? &probe : bsearch(&probe, grid, (size_t)s->n, sizeof *grid, cfg_cmp);
        if (hit) {
            e->v = &s->v[hit->id];
            e->row.id = hit->id;
            e->relabelled = 1;
            snprintf(e->row.name, sizeof e->row.name, "%s", e->v->name);
            continue;
        }
        size_t k = 0;
        while (k < n_stale && strcmp(stale[k].cfg, probe.cfg)) k++; /* few: linear */
        if (k == n_stale) {
            stale[k] = probe;
            stale[k].id = s->n + (int)n_stale++;
        }
        label_stale(e, stale[k].id);
    }
    as_free(keys);
    as_free(grid);
    as_free(stale);
    return st;
}

static herr_t copy_attr(hid_t loc, const char *name, const H5A_info_t *info, void *ud) {
    (void)info;
    hid_t dst = *(hid_t *)ud, a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    size_t bytes = (size_t)(n > 0 ? n : 1) * H5Tget_size(t);
    void *buf = as_calloc(bytes, 1);
    herr_t rc = -1;
    if (buf && H5Aread(a, t, buf) >= 0) {
        hid_t b = H5Acreate2(dst, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        rc = b < 0 ? -1 : H5Awrite(b, t, buf);
        if (b >= 0) H5Aclose(b);
        if (H5Tdetect_class(t, H5T_VLEN) > 0 || H5Tis_variable_str(t) > 0)
            H5Dvlen_reclaim(t, sp, H5P_DEFAULT, buf);
    }
    as_free(buf);
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return rc < 0 ? -1 : 0;
}

static as_status root_attrs(hid_t f, hid_t old, const as_results_meta *m, double add_wall, int ended,
                            as_error *err) {
    as_status st = AS_OK;
    if (old >= 0 && H5Aiterate2(old, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_attr, &f) < 0)
        return as_error_set(err, AS_ERR_INTERNAL, "cannot copy the root attributes");
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    double wall = 0;
    if (old >= 0) as_h5_read_attr_double(old, "wall_seconds", &wall, NULL);
    st = as_h5_attr_int32(f, "format_version", FORMAT_VERSION, err);
    if (!st) st = as_h5_attr_string(f, "attnsweep_version", AS_VERSION_STRING, err);
    if (!st && !as_h5_has_attr(f, "start_time")) st = as_h5_attr_string(f, "start_time", now, err);
    if (!st && (ended || !as_h5_has_attr(f, "end_time")))
        st = as_h5_attr_string(f, "end_time", ended ? now : "", err);
    if (!st) st = as_h5_attr_double(f, "wall_seconds", wall + add_wall, err);
    if (st || !m) return st;
    st = as_h5_attr_string(f, "sweep_path", m->sweep_path, err);
    if (!st) st = as_h5_attr_string(f, "sweep_text", m->sweep_text, err);
    if (!st) st = as_h5_attr_string(f, "sweep_sha256", m->sweep_sha256, err);
    if (!st) st = as_h5_attr_string(f, "data_path", m->data_path, err);
    if (!st) st = as_h5_attr_string(f, "data_sha256", m->data_sha256, err);
    if (!st) st = as_h5_attr_int32(f, "override_epochs", m->override_epochs, err);
    if (!st) st = as_h5_attr_int32(f, "ranks", m->ranks, err);
    if (!st) st = as_h5_attr_int32(f, "ranks_per_variant", m->ranks_per_variant, err);
    if (!st) st = as_h5_attr_int32(f, "runs_planned", m->runs_planned, err);
    if (!st && m->run_keys_sha256[0])
        st = as_h5_attr_string(f, "run_keys_sha256", m->run_keys_sha256, err);
    if (!st) st = as_h5_attr_int32(f, "shard", m->shard, err);
    if (!st) st = as_h5_attr_int32(f, "n_shards", m->n_shards, err);
    if (!st) st = as_h5_attr_string(f, "task", m->data->task == AS_TASK_CLASSIFICATION ?
                                    "classification" : "regression", err);
    if (!st && m->data->task == AS_TASK_CLASSIFICATION)
        st = as_h5_attr_int32(f, "n_classes", m->data->n_classes, err);
    return st;
}

/* Copies each run's group into /variants (relabelled to the current grid). */
static as_status copy_runs(hid_t f, hid_t old, const char *journal, const entries *es, as_error *err) {
    hid_t vg = as_h5_group(f, "variants", err);
    if (vg < 0) return AS_ERR_NOMEM;
    as_status st = AS_OK;
    for (size_t i = 0; !st && i < es->n; i++) {
        const entry *e = &es->e[i];
        hid_t src = old;
        char from[AS_SUMMARY_KEY_MAX + 16];
        snprintf(from, sizeof from, "variants/%s", e->row.key);
        if (e->journal) {
            char *file = as_store_journal_file(journal, e->row.key);
            src = file ? as_h5_open_read(file, err) : -1;
            as_free(file);
            snprintf(from, sizeof from, "run");
        }
        if (src < 0 || H5Ocopy(src, from, vg, e->row.key, H5P_DEFAULT, H5P_DEFAULT) < 0)
            st = as_error_set(err, AS_ERR_DATA, "run %s: cannot copy it%s", e->row.key,
                              e->journal ? " from the journal" : "");
        if (e->journal && src >= 0) H5Fclose(src);
        if (st || !e->relabelled) continue;
        hid_t g = H5Gopen2(vg, e->row.key, H5P_DEFAULT);
        char *params = e->v ? cJSON_PrintUnformatted(e->v->params) : NULL;
        if (g < 0 || (e->v && !params)) st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
        if (!st) st = as_h5_attr_int32(g, "id", e->row.id, err);
        if (!st) st = as_h5_attr_string(g, "name", e->row.name, err);
        if (!st && params) st = as_h5_attr_string(g, "params", params, err);
        if (params) cJSON_free(params);
        if (g >= 0) H5Gclose(g);
    }
    H5Gclose(vg);
    return st;
}

/* /summary: the runs, then n_slots empty rows allocated on disk for the session. */
static as_status write_summary(hid_t f, const entries *es, size_t n_slots, as_error *err) {
    hsize_t dims[1] = {(hsize_t)(es->n + n_slots)}, maxd[1] = {H5S_UNLIMITED};
    hsize_t chunk[1] = {AS_SUMMARY_CHUNK_ROWS};
    as_summary_row zero;
    memset(&zero, 0, sizeof zero);
    hid_t t = as_summary_type(), sp = H5Screate_simple(1, dims, maxd);
    hid_t dcpl = as_h5_create_plist(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, chunk);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC);
    H5Pset_fill_value(dcpl, t, &zero);
    hid_t ds = H5Dcreate2(f, "summary", t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : 0;
    as_summary_row *rows = es->n ? as_malloc(es->n * sizeof *rows) : NULL;
    if (es->n && !rows) rc = -1;
    for (size_t i = 0; rows && i < es->n; i++) rows[i] = es->e[i].row;
    if (rc >= 0 && es->n) {
        hsize_t start[1] = {0}, count[1] = {(hsize_t)es->n};
        hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, count, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        rc = H5Dwrite(ds, t, ms, fs, H5P_DEFAULT, rows);
        H5Sclose(ms);
        H5Sclose(fs);
    }
    as_free(rows);
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Tclose(t);
    return rc < 0 ? as_error_set(err, AS_ERR_NOMEM, "/summary: cannot build it in memory") : AS_OK;
}

/* Removes the journal files now held by the index. */
static void drop_packed(const char *journal, const entries *es) {
    for (size_t i = 0; i < es->n; i++) {
        if (!es->e[i].journal) continue;
        char *file = as_store_journal_file(journal, es->e[i].row.key);
        if (file) unlink(file);
        as_free(file);
    }
    int fd = open(journal, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

as_status as_store_pack(as_store *st, const as_sweep *s, const as_results_meta *m, double add_wall,
                        size_t n_slots, int ended, as_error *err) {
    double t0 = as_store_clock(), c0 = as_store_cpu();
    as_status rc = as_store_sync(st, err); /* the journal is durable before it is packed */
    if (rc) return rc;
    entries es = {NULL, 0, 0};
    hid_t old = access(st->path, F_OK) == 0 ? as_h5_open_read(st->path, err) : -1;
    if (old < 0 && access(st->path, F_OK) == 0) rc = AS_ERR_DATA;
    if (!rc && old < 0 && !m)
        rc = as_error_set(err, AS_ERR_DATA, "%s: no such file (the journal alone does not hold the "
                          "sweep's attributes)", st->path);
    if (!rc && old >= 0 && (rc = old_runs(old, &es, err)) == AS_ERR_DATA)
        as_error_prefix(err, "%s", st->path); /* /summary missing: not a results file */
    if (!rc) rc = journal_runs(st->journal, &es, err);
    if (!rc && s) rc = relabel(s, old, st->path, m->data_sha256, &es, err);
    if (!rc && es.n) qsort(es.e, es.n, sizeof *es.e, by_label);
    hid_t f = rc ? -1 : as_h5_mem_create(err);
    if (!rc && f < 0) rc = AS_ERR_NOMEM;
    if (!rc) rc = root_attrs(f, old, m, add_wall, ended, err);
    if (!rc) rc = copy_runs(f, old, st->journal, &es, err);
    if (!rc) rc = write_summary(f, &es, n_slots, err);
    if (old >= 0) H5Fclose(old);
    if (rc && f >= 0) H5Fclose(f);
    if (!rc) rc = as_h5_mem_commit(f, st->path, "pack", 1, err);
    if (!rc) drop_packed(st->journal, &es);
    if (!rc) rc = as_store_map_slots(st, es.n, n_slots, err);
    if (!rc) as_store_log("pack", es.n, as_store_clock() - t0, as_store_cpu() - c0);
    as_free(es.e);
    return rc;
}
