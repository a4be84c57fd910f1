/* shard.c: disjoint shards of one sweep chosen by run key, and merging the shards'
 * results files into one (sweep.h, "shards"). */
#include <stdint.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/sha256.h"
#include "attnsweep/runkey.h"
#include "attnsweep/spec.h"
#include "attnsweep/store.h"
#include "attnsweep/sweep.h"
#include "sweep/summary_row.h"

int as_sweep_shard_of(const char *run_key, int repeat, int n) {
    if (n <= 1) return 0;
    size_t len = strlen(run_key);
    char *text = as_malloc(len + 32);
    if (!text) return -1;
    int k = snprintf(text, len + 32, "%s\n%d", run_key, repeat);
    char hex[65];
    as_sha256_hex(text, (size_t)k, hex);
    as_free(text);
    uint64_t h = 0;
    for (int i = 0; i < 16; i++) h = h << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
    return (int)(h % (uint64_t)n);
}

as_status as_sweep_shard_mark(const as_sweep *s, int shard, int n_shards, unsigned char *done,
                              as_error *err) {
    for (int v = 0; v < s->n; v++) {
        char *key = as_sweep_run_key(s, v);
        if (!key) return as_error_set(err, AS_ERR_NOMEM, "out of memory (run keys)");
        for (int r = 0; r < s->repeats; r++) {
            int sh = as_sweep_shard_of(key, r, n_shards);
            if (sh < 0) {
                as_free(key);
                return as_error_set(err, AS_ERR_NOMEM, "out of memory (run keys)");
            }
            unsigned char *d = &done[(size_t)v * (size_t)s->repeats + (size_t)r];
            if (sh != shard && !*d) *d = 2;
        }
        as_free(key);
    }
    return AS_OK;
}

/* ---- merge ---- */

typedef struct {
    hid_t dst;
    as_status st;
    as_error *err;
} attr_copy;

/* Copies one attribute (any type, variable-length strings too) of the source root. */
static herr_t copy_attr(hid_t loc, const char *name, const H5A_info_t *info, void *ud) {
    (void)info;
    attr_copy *c = ud;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t t = a < 0 ? -1 : H5Aget_type(a);
    hid_t sp = a < 0 ? -1 : H5Aget_space(a);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    size_t size = t < 0 ? 0 : H5Tget_size(t);
    void *buf = n < 0 || !size ? NULL : as_calloc((size_t)(n ? n : 1), size);
    hid_t b = -1;
    int ok = buf && H5Aread(a, t, buf) >= 0;
    if (ok) {
        b = H5Acreate2(c->dst, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        ok = b >= 0 && H5Awrite(b, t, buf) >= 0;
        if (H5Tdetect_class(t, H5T_VLEN) > 0 || H5Tis_variable_str(t) > 0)
            H5Dvlen_reclaim(t, sp, H5P_DEFAULT, buf);
    }
    as_free(buf);
    if (b >= 0) H5Aclose(b);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (!ok) c->st = as_error_set(c->err, AS_ERR_IO, "root attribute %s: cannot copy", name);
    return ok ? 0 : -1;
}

/* One merged run: its row and the shard it came from. */
typedef struct {
    as_summary_row row;
    int shard;
} merged_row;

static int by_id_repeat(const void *a, const void *b) {
    const as_summary_row *x = &((const merged_row *)a)->row, *y = &((const merged_row *)b)->row;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    if (x->repeat != y->repeat) return x->repeat < y->repeat ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int by_key(const void *a, const void *b) {
    return strcmp(((const merged_row *)a)->row.key, ((const merged_row *)b)->row.key);
}

static as_status accept_any(void *ud, const struct cJSON *spec, const char *origin, as_error *err) {
    (void)ud;
    (void)spec;
    (void)origin;
    (void)err;
    return AS_OK;
}

/* The shape of the sweep of the first shard: variants and repeats. */
static as_status sweep_shape(hid_t f, const char *path, int *n_variants, int *repeats,
                             as_error *err) {
    char *text = NULL;
    as_status st = as_h5_read_attr_string(f, "sweep_text", &text, err);
    if (st) return as_error_prefix(err, "%s", path);
    as_sweep s;
    memset(&s, 0, sizeof s);
    st = as_sweep_parse(text, path, NULL, accept_any, NULL, &s, err);
    if (!st) *n_variants = s.n, *repeats = s.repeats;
    as_sweep_free(&s);
    as_free(text);
    return st;
}

/* The SHA-256 of n sorted run keys, each followed by "\n": the key i at first + i * stride.
 * 0 when out of memory. */
static int digest_keys(const char *first, size_t stride, size_t n, char out[65]) {
    size_t bytes;
    char *buf = as_size_mul(n ? n : 1, AS_RUN_KEY_HEX, &bytes) ? as_malloc(bytes) : NULL;
    if (!buf) return 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + i * AS_RUN_KEY_HEX, first + i * stride, AS_RUN_KEY_HEX - 1);
        buf[i * AS_RUN_KEY_HEX + AS_RUN_KEY_HEX - 1] = '\n';
    }
    as_sha256_hex(buf, n * AS_RUN_KEY_HEX, out);
    as_free(buf);
    return 1;
}

as_status as_sweep_keys_digest(const as_sweep *s, const char *data_sha256, char out[65],
                               as_error *err) {
    as_keyed *k = NULL;
    size_t n = 0;
    as_status st = as_results_sweep_keys(s, data_sha256, &k, &n, err); /* sorted */
    if (!st && !digest_keys(k ? k->key : "", sizeof *k, n, out))
        st = as_error_set(err, AS_ERR_NOMEM, "out of memory for the run keys");
    as_free(k);
    return st;
}

/* A root attribute as text for comparing shards: strings as they are, integers in
 * decimal; "" when absent. */
static as_status attr_text(hid_t f, const char *path, const char *name, int integer, char **out,
                           as_error *err) {
    *out = NULL;
    if (!as_h5_has_attr(f, name)) {
        *out = as_strdup("");
        return *out ? AS_OK : as_error_set(err, AS_ERR_NOMEM, "out of memory");
    }
    if (!integer) {
        as_status st = as_h5_read_attr_string(f, name, out, err);
        return st ? as_error_prefix(err, "%s", path) : AS_OK;
    }
    int64_t v = 0;
    if (as_h5_read_attr_int(f, name, &v, err)) return as_error_prefix(err, "%s", path);
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)v);
    *out = as_strdup(num);
    return *out ? AS_OK : as_error_set(err, AS_ERR_NOMEM, "out of memory");
}

/* Shard p against the first, p0: the same sweep file, dataset, every override that is part
 * of a run's identity (runkey.h: --epochs; --data is the dataset's hash) and so the same
 * planned run keys (run_keys_sha256, which files of older versions lack). */
static as_status same_sweep(hid_t f0, const char *p0, hid_t f, const char *p, as_error *err) {
    static const struct { const char *key, *what; int integer; } k[] = {
        {"sweep_sha256", "the sweep file", 0}, {"data_sha256", "the dataset", 0},
        {"override_epochs", "--epochs", 1}, {"run_keys_sha256", "the planned runs", 0}};
    as_status st = AS_OK;
    for (size_t i = 0; i < sizeof k / sizeof *k && !st; i++) {
        char *a = NULL, *b = NULL;
        st = attr_text(f0, p0, k[i].key, k[i].integer, &a, err);
        if (!st) st = attr_text(f, p, k[i].key, k[i].integer, &b, err);
        if (!st && i == 3 && (!a[0] || !b[0]))
            st = as_error_set(err, AS_ERR_DATA, "%s: written by an older attnsweep (no "
                              "run_keys_sha256): resume it with this one (attnsweep sweep SWEEP.json "
                              "--shard I/N --resume -o %s) to record its planned runs", a[0] ? p : p0,
                              a[0] ? p : p0);
        else if (!st && strcmp(a, b) != 0 && k[i].integer)
            st = as_error_set(err, AS_ERR_DATA, "%s: a shard of another sweep than %s: %s %s there, "
                              "%s in %s%s; every shard must be run with the same %s", p, p0,
                              k[i].what, b, a, p0, strcmp(a, "0") && strcmp(b, "0") ? "" :
                              " (0: not given)", k[i].what);
        else if (!st && strcmp(a, b) != 0)
            st = as_error_set(err, AS_ERR_DATA, "%s: a shard of another sweep than %s: %s differs "
                              "(%s)", p, p0, k[i].what, k[i].key);
        as_free(a);
        as_free(b);
    }
    return st;
}

/* Appends every stored run of shard i (its /summary rows and its journal's: store.h) to
 * *all, checking that each row has its run. */
static as_status shard_rows(hid_t f, const char *path, int i, merged_row **all, size_t *n_all,
                            as_error *err) {
    as_summary_row *rows = NULL;
    size_t nr = 0;
    as_status st = as_store_rows(path, &rows, &nr, err);
    merged_row *grown = st ? NULL : as_realloc(*all, (*n_all + nr + 1) * sizeof **all);
    if (!st && !grown) st = as_error_set(err, AS_ERR_NOMEM, "out of memory (summary rows)");
    for (size_t k = 0; !st && k < nr; k++) {
        hid_t g = as_store_open_run(f, path, rows[k].key);
        if (g < 0)
            st = as_error_set(err, AS_ERR_DATA, "%s: /summary row v%04d_r%d (run %.64s) has no run: "
                              "neither /variants/%.64s nor its journal file (attnsweep results "
                              "pack %s drops such rows)", path, rows[k].id, rows[k].repeat,
                              rows[k].key, rows[k].key, path);
        else H5Gclose(g);
    }
    if (!st) {
        *all = grown;
        for (size_t k = 0; k < nr; k++) (*all)[*n_all + k] = (merged_row){rows[k], i};
        *n_all += nr;
    } else if (grown) {
        *all = grown;
    }
    as_free(rows);
    return st;
}

/* The runs, sorted by key: a key twice is two shards overlapping. */
static as_status no_overlap(merged_row *m, size_t n, const char *const *in, as_error *err) {
    if (n) qsort(m, n, sizeof *m, by_key);
    for (size_t k = 1; k < n; k++)
        if (!strcmp(m[k].row.key, m[k - 1].row.key))
            return as_error_set(err, AS_ERR_DATA, "%s: run %.64s (v%04d_r%d) is in another shard "
                                "too (%s; the shards overlap: were they made with the same "
                                "--shard i/n?)", in[m[k].shard], m[k].row.key, m[k].row.id,
                                m[k].row.repeat, in[m[k - 1].shard]);
    return AS_OK;
}

/* The merged runs (sorted by key, distinct) against the sweep's planned runs: no run of
 * another configuration ("[not in grid]"), none missing, and the same key set (the
 * digest of as_sweep_keys_digest). Sorts m by (id, repeat). */
static as_status coverage(merged_row *m, size_t n, const char *const *in, int n_in, hid_t f0,
                          as_error *err) {
    int nv = 0, reps = 0;
    as_status st = sweep_shape(f0, in[0], &nv, &reps, err);
    if (st) return st;
    size_t want = (size_t)nv * (size_t)reps, missing = 0, first = 0;
    if (n) qsort(m, n, sizeof *m, by_id_repeat);
    for (size_t k = 0; k < n; k++) {
        const as_summary_row *r = &m[k].row;
        int dup = k && r->id == m[k - 1].row.id && r->repeat == m[k - 1].row.repeat;
        if (r->id < 0 || r->id >= nv || r->repeat < 0 || r->repeat >= reps || dup)
            return as_error_set(err, AS_ERR_DATA, "%s: run %.64s (v%04d_r%d, %.100s) is not one of "
                                "the sweep's planned runs (%s; was the shard resumed with --force "
                                "or another seed?)", in[m[k].shard], r->key, r->id, r->repeat,
                                r->name, dup ? "another run has its label" : "not in the grid");
    }
    for (size_t k = 0, at = 0; k < want; k++) { /* labels (id, repeat) in order */
        int id = (int)(k / (size_t)reps), rep = (int)(k % (size_t)reps);
        if (at < n && m[at].row.id == id && m[at].row.repeat == rep) at++;
        else if (!missing++) first = k;
    }
    char more[48] = "";
    if (missing > 1) snprintf(more, sizeof more, " and %zu more", missing - 1);
    if (missing)
        return as_error_set(err, AS_ERR_DATA, "the %d shard file(s) hold %zu of the sweep's %zu runs "
                            "(v%04d_r%d%s in none): a shard is missing or unfinished (finish it "
                            "with sweep --shard i/n --resume)", n_in, n, want,
                            (int)(first / (size_t)reps), (int)(first % (size_t)reps), more);
    char *planned = NULL, got[65];
    merged_row *sorted = as_malloc((n ? n : 1) * sizeof *sorted);
    int ok = sorted != NULL;
    if (ok) {
        if (n) memcpy(sorted, m, n * sizeof *m);
        qsort(sorted, n, sizeof *sorted, by_key);
        ok = digest_keys(sorted->row.key, sizeof *sorted, n, got);
    }
    as_free(sorted);
    if (!ok) return as_error_set(err, AS_ERR_NOMEM, "out of memory for the run keys");
    st = as_h5_read_attr_string(f0, "run_keys_sha256", &planned, err);
    if (!st && strcmp(planned, got) != 0)
        st = as_error_set(err, AS_ERR_DATA, "the shards' %zu runs are not the sweep's planned runs "
                          "(their run keys' digest differs from run_keys_sha256 of %s): was a shard "
                          "resumed with --force?", n, in[0]);
    as_free(planned);
    return st;
}

/* Copies every merged run (m, each from its shard's index or journal) into dst. */
static as_status copy_runs(hid_t dst, const merged_row *m, size_t n, const hid_t *f,
                           const char *const *in, as_error *err) {
    for (size_t k = 0; k < n; k++) {
        char path[AS_RUN_KEY_HEX + 16];
        snprintf(path, sizeof path, "variants/%s", m[k].row.key);
        hid_t g = as_store_open_run(f[m[k].shard], in[m[k].shard], m[k].row.key);
        herr_t rc = g < 0 ? -1 : H5Ocopy(g, ".", dst, path, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0) H5Gclose(g);
        if (rc < 0) return as_error_set(err, AS_ERR_IO, "%s: cannot copy run %s", in[m[k].shard], path);
    }
    return AS_OK;
}

/* Writes the merged file into dst (open), from the n open shards f. */
static as_status merge_into(hid_t dst, const hid_t *f, const char *const *in, int n, as_error *err) {
    attr_copy ac = {dst, AS_OK, err};
    if (H5Aiterate2(f[0], H5_INDEX_NAME, H5_ITER_INC, NULL, copy_attr, &ac) < 0)
        return ac.st ? ac.st : as_error_set(err, AS_ERR_IO, "%s: cannot read the root attributes", in[0]);
    hid_t g = as_h5_group(dst, "variants", err);
    if (g < 0) return AS_ERR_IO;
    H5Gclose(g);
    merged_row *m = NULL;
    size_t n_rows = 0;
    double wall = 0;
    as_status st = AS_OK;
    for (int i = 0; i < n && !st; i++) {
        st = same_sweep(f[0], in[0], f[i], in[i], err);
        if (!st) st = shard_rows(f[i], in[i], i, &m, &n_rows, err);
        double w = 0;
        if (!st && as_h5_read_attr_double(f[i], "wall_seconds", &w, NULL) == AS_OK) wall += w;
    }
    if (!st) st = no_overlap(m, n_rows, in, err);
    if (!st) st = coverage(m, n_rows, in, n, f[0], err); /* now by (id, repeat) */
    if (!st) st = copy_runs(dst, m, n_rows, f, in, err);
    as_summary_row *rows = st ? NULL : as_malloc((n_rows ? n_rows : 1) * sizeof *rows);
    if (!st && !rows) st = as_error_set(err, AS_ERR_NOMEM, "out of memory (summary rows)");
    for (size_t k = 0; !st && k < n_rows; k++) rows[k] = m[k].row;
    if (!st) st = as_summary_write(dst, rows, n_rows, err);
    as_free(rows);
    as_free(m);
    if (!st && H5Adelete(dst, "wall_seconds") >= 0) st = as_h5_attr_double(dst, "wall_seconds", wall, err);
    if (!st) st = as_h5_attr_int32(dst, "merged_shards", n, err);
    /* each shard planned its own runs: the merged file plans the whole sweep's, no shard */
    if (!st && H5Adelete(dst, "runs_planned") >= 0)
        st = as_h5_attr_int32(dst, "runs_planned", n_rows > INT32_MAX ? INT32_MAX : (int)n_rows, err);
    if (!st) st = as_h5_attr_int32(dst, "shard", 0, err);
    if (!st) st = as_h5_attr_int32(dst, "n_shards", 0, err);
    return st;
}

/* Takes shard path's lock shared (held in *fd) and opens it: a shard its sweep is still
 * writing is refused, naming the holder. */
static hid_t open_shard(const char *path, int *fd, as_error *err) {
    as_status st = as_store_lock_shared(path, fd, err);
    if (st == AS_ERR_ARG) {
        char why[AS_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err->msg);
        as_error_set(err, AS_ERR_DATA, "a missing or unfinished shard: %.900s; merge once its sweep "
                     "has ended", why);
    }
    return st ? -1 : as_h5_open_read(path, err);
}

as_status as_results_merge(const char *out, const char *const *in, int n, as_error *err) {
    if (n < 1) return as_error_set(err, AS_ERR_ARG, "merge: no shard files given");
    if (access(out, F_OK) == 0)
        return as_error_set(err, AS_ERR_ARG, "%s exists: merge writes a new file (remove it first)", out);
    hid_t *f = as_calloc((size_t)n, sizeof *f);
    int *lock = as_calloc((size_t)n, sizeof *lock);
    as_status st = f && lock ? AS_OK : as_error_set(err, AS_ERR_NOMEM, "out of memory");
    int opened = 0;
    for (; !st && opened < n; opened++) {
        for (int j = 0; j < opened && !st; j++)
            if (!strcmp(in[j], in[opened]))
                st = as_error_set(err, AS_ERR_ARG, "%s: given twice", in[opened]);
        if (!st && (f[opened] = open_shard(in[opened], &lock[opened], err)) < 0) st = AS_ERR_DATA;
        if (st) break;
    }
    if (st && f && lock && opened < n && f[opened] < 0 && lock[opened] >= 0) close(lock[opened]);
    as_h5_writer w;
    if (!st && !(st = as_h5_writer_open(&w, out, err))) {
        st = merge_into(w.file, f, in, n, err);
        if (st) as_h5_writer_abort(&w);
        else st = as_h5_writer_commit(&w, err);
    }
    for (int i = 0; i < opened; i++) {
        if (f[i] >= 0) H5Fclose(f[i]);
        if (lock[i] >= 0) close(lock[i]);
    }
    as_free(f);
    as_free(lock);
    return st;
}
