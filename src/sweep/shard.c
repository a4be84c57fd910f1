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
#include "attnsweep/spec.h"
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

typedef struct {
    hid_t src, dst;
    const char *path;
    as_status st;
    as_error *err;
} run_copy;

/* Copies /variants/<name> of one shard; a run already copied from another shard is an
 * error (the shards overlap). */
static herr_t copy_run(hid_t grp, const char *name, const H5L_info_t *info, void *ud) {
    (void)grp;
    (void)info;
    run_copy *c = ud;
    char path[512];
    snprintf(path, sizeof path, "variants/%s", name);
    if (H5Lexists(c->dst, path, H5P_DEFAULT) > 0) {
        c->st = as_error_set(c->err, AS_ERR_DATA, "%s: run %s is in another shard too (the shards "
                             "overlap: were they made with the same --shard i/n?)", c->path, name);
        return -1;
    }
    if (H5Ocopy(c->src, path, c->dst, path, H5P_DEFAULT, H5P_DEFAULT) < 0) {
        c->st = as_error_set(c->err, AS_ERR_IO, "%s: cannot copy %s", c->path, path);
        return -1;
    }
    return 0;
}

static int by_id_repeat(const void *a, const void *b) {
    const as_summary_row *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return (x->repeat > y->repeat) - (x->repeat < y->repeat);
}

static as_status accept_any(void *ud, const struct cJSON *spec, const char *origin, as_error *err) {
    (void)ud;
    (void)spec;
    (void)origin;
    (void)err;
    return AS_OK;
}

/* The number of runs the sweep of the first shard expands to. */
static as_status expected_runs(hid_t f, const char *path, size_t *runs, as_error *err) {
    char *text = NULL;
    as_status st = as_h5_read_attr_string(f, "sweep_text", &text, err);
    if (st) return as_error_prefix(err, "%s", path);
    as_sweep s;
    memset(&s, 0, sizeof s);
    st = as_sweep_parse(text, path, NULL, accept_any, NULL, &s, err);
    if (!st) *runs = (size_t)s.n * (size_t)s.repeats;
    as_sweep_free(&s);
    as_free(text);
    return st;
}

/* Shard i against the first: the same sweep file and dataset. */
static as_status same_sweep(hid_t f0, const char *p0, hid_t f, const char *p, as_error *err) {
    const char *keys[] = {"sweep_sha256", "data_sha256"};
    const char *what[] = {"another sweep file", "another dataset"};
    for (int k = 0; k < 2; k++) {
        char *a = NULL, *b = NULL;
        as_status st = as_h5_read_attr_string(f0, keys[k], &a, err);
        if (st) as_error_prefix(err, "%s", p0);
        if (!st && (st = as_h5_read_attr_string(f, keys[k], &b, err))) as_error_prefix(err, "%s", p);
        if (!st && strcmp(a, b) != 0)
            st = as_error_set(err, AS_ERR_DATA, "%s: a shard of %s than %s (%s differs)", p, what[k],
                              p0, keys[k]);
        as_free(a);
        as_free(b);
        if (st) return st;
    }
    return AS_OK;
}

/* Reads every shard's summary rows and copies its runs into dst. */
static as_status gather(hid_t dst, const hid_t *f, const char *const *in, int n,
                        as_summary_row **all, size_t *n_all, double *wall, as_error *err) {
    for (int i = 0; i < n; i++) {
        as_status st = i ? same_sweep(f[0], in[0], f[i], in[i], err) : AS_OK;
        as_summary_row *rows = NULL;
        size_t nr = 0;
        if (!st && (st = as_summary_read(f[i], &rows, &nr, err))) as_error_prefix(err, "%s", in[i]);
        as_summary_row *grown = st ? NULL : as_realloc(*all, (*n_all + nr + 1) * sizeof **all);
        if (!st && !grown) st = as_error_set(err, AS_ERR_NOMEM, "out of memory (summary rows)");
        if (!st) {
            *all = grown;
            if (nr) memcpy(*all + *n_all, rows, nr * sizeof *rows);
            *n_all += nr;
        }
        as_free(rows);
        double w = 0;
        if (!st && as_h5_read_attr_double(f[i], "wall_seconds", &w, NULL) == AS_OK) *wall += w;
        if (!st && H5Lexists(f[i], "variants", H5P_DEFAULT) > 0) {
            run_copy c = {f[i], dst, in[i], AS_OK, err};
            hid_t g = H5Gopen2(f[i], "variants", H5P_DEFAULT);
            if (g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_run, &c) < 0)
                st = c.st ? c.st : as_error_set(err, AS_ERR_IO, "%s: cannot read /variants", in[i]);
            if (g >= 0) H5Gclose(g);
        }
        if (st) return st;
    }
    return AS_OK;
}

/* Writes the merged file into w (open), from the n open shards f. */
static as_status merge_into(hid_t dst, const hid_t *f, const char *const *in, int n, as_error *err) {
    attr_copy ac = {dst, AS_OK, err};
    if (H5Aiterate2(f[0], H5_INDEX_NAME, H5_ITER_INC, NULL, copy_attr, &ac) < 0)
        return ac.st ? ac.st : as_error_set(err, AS_ERR_IO, "%s: cannot read the root attributes", in[0]);
    hid_t g = as_h5_group(dst, "variants", err);
    if (g < 0) return AS_ERR_IO;
    H5Gclose(g);
    as_summary_row *rows = NULL;
    size_t n_rows = 0, want = 0;
    double wall = 0;
    as_status st = gather(dst, f, in, n, &rows, &n_rows, &wall, err);
    if (!st) st = expected_runs(f[0], in[0], &want, err);
    if (!st && n_rows != want)
        st = as_error_set(err, AS_ERR_DATA, "the %d shard file(s) hold %zu of the sweep's %zu runs: "
                          "a shard is missing or unfinished (finish it with sweep --shard i/n "
                          "--resume)", n, n_rows, want);
    if (!st) {
        qsort(rows, n_rows, sizeof *rows, by_id_repeat);
        st = as_summary_write(dst, rows, n_rows, err);
    }
    as_free(rows);
    if (!st && H5Adelete(dst, "wall_seconds") >= 0) st = as_h5_attr_double(dst, "wall_seconds", wall, err);
    if (!st) st = as_h5_attr_int32(dst, "merged_shards", n, err);
    /* each shard planned its own runs: the merged file plans the whole sweep's */
    if (!st && H5Adelete(dst, "runs_planned") >= 0)
        st = as_h5_attr_int32(dst, "runs_planned", want > INT32_MAX ? INT32_MAX : (int)want, err);
    return st;
}

as_status as_results_merge(const char *out, const char *const *in, int n, as_error *err) {
    if (n < 1) return as_error_set(err, AS_ERR_ARG, "merge: no shard files given");
    if (access(out, F_OK) == 0)
        return as_error_set(err, AS_ERR_ARG, "%s exists: merge writes a new file (remove it first)", out);
    hid_t *f = as_calloc((size_t)n, sizeof *f);
    if (!f) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    as_status st = AS_OK;
    int opened = 0;
    for (; opened < n && !st; opened++) {
        for (int j = 0; j < opened && !st; j++)
            if (!strcmp(in[j], in[opened]))
                st = as_error_set(err, AS_ERR_ARG, "%s: given twice", in[opened]);
        if (!st && (f[opened] = as_h5_open_read(in[opened], err)) < 0) st = AS_ERR_DATA;
        if (st) break;
    }
    as_h5_writer w;
    if (!st && !(st = as_h5_writer_open(&w, out, err))) {
        st = merge_into(w.file, f, in, n, err);
        if (st) as_h5_writer_abort(&w);
        else st = as_h5_writer_commit(&w, err);
    }
    for (int i = 0; i < opened; i++)
        if (f[i] >= 0) H5Fclose(f[i]);
    as_free(f);
    return st;
}
