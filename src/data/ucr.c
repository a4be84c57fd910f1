/* ucr.c: UCR/UEA text import (see ucr.h). */
#include "attnsweep/ucr.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/memory.h"
#include "attnsweep/rng.h"
#include "data/ucr_internal.h"

enum { LAYOUT_TAB, LAYOUT_COMMA, LAYOUT_SPACE };

void as_ucr_table_free(as_ucr_table *tb) {
    as_free(tb->x);
    as_free(tb->labels);
    as_free(tb->count);
    as_free(tb->line);
    memset(tb, 0, sizeof *tb);
}

/* A NUL byte in a text file: the C string handling would silently drop what follows
 * (and /dev/zero would be read forever), so it is refused with its line. */
static as_status nul_error(const char *path, const char *buf, size_t at, as_error *err) {
    int line = 1;
    for (size_t i = 0; i < at; i++) line += buf[i] == '\n';
    return as_error_set(err, AS_ERR_DATA, "%s:%d: a NUL byte (offset %zu): binary data, not UCR "
                        "text", path, line, at);
}

static as_status slurp(const char *path, char **out, size_t *len, as_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return as_error_set(err, AS_ERR_DATA, "%s: cannot open (%s)", path, strerror(errno));
    /* the parsed table takes about as many bytes as the text: the budget bounds both */
    uint64_t limit = as_mem_available() / 2;
    size_t cap = 1 << 16, n = 0;
    char *buf = as_malloc(cap);
    as_status st = AS_OK;
    while (buf && !st) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        const char *z = memchr(buf + n, 0, got);
        n += got;
        if (z) st = nul_error(path, buf, (size_t)(z - buf), err);
        else if ((uint64_t)n > limit)
            st = as_mem_check(SIZE_MAX - 1, path, AS_ERR_DATA, err);
        if (st || n < cap - 1) break;
        size_t ncap;
        char *nb = as_size_mul(cap, 2, &ncap) ? as_realloc(buf, ncap) : NULL;
        if (!nb) as_free(buf);
        buf = nb;
        cap = ncap;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", path);
    if (!st && bad) st = as_error_set(err, AS_ERR_IO, "%s: read error", path);
    if (st) {
        as_free(buf);
        return st;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return AS_OK;
}

/* Parses one token (NUL-terminated, trimmed) as a finite float; with lenient, a NaN or
 * an empty field is a missing value, stored as NaN. */
static as_status parse_value(const char *tok, int lenient, double *v, const char *path, int line,
                             int field, as_error *err) {
    if (lenient && field > 1 && (!*tok || !strcmp(tok, "NaN") || !strcmp(tok, "nan"))) {
        *v = (double)NAN;
        return AS_OK;
    }
    if (!*tok)
        return as_error_set(err, AS_ERR_DATA, "%s:%d: field %d is empty (missing value; "
                            "--fill imports missing values, --length pad|truncate rows of "
                            "different lengths)", path, line, field);
    if (strpbrk(tok, "xX"))
        return as_error_set(err, AS_ERR_DATA, "%s:%d: field %d: '%.40s' is hexadecimal (only "
                            "decimal numbers are read)", path, line, field, tok);
    char *end;
    errno = 0;
    double d = strtod(tok, &end);
    if (end == tok || *end)
        return as_error_set(err, AS_ERR_DATA, "%s:%d: field %d: non-numeric value '%.40s'", path,
                            line, field, tok);
    if (isnan(d) && lenient && field > 1) {
        *v = d;
        return AS_OK;
    }
    if (isnan(d))
        return as_error_set(err, AS_ERR_DATA, "%s:%d: field %d is NaN (a missing value, or the "
                            "padding of a shorter series: --fill imports missing values, "
                            "--length pad|truncate rows of different lengths)", path, line, field);
    if (isinf(d) || fabs(d) > 3.4028234663852886e38)
        return as_error_set(err, AS_ERR_DATA, "%s:%d: field %d: value '%.40s' out of float range",
                            path, line, field, tok);
    *v = d;
    return AS_OK;
}

static int is_sep(char ch, int layout) {
    if (layout == LAYOUT_TAB) return ch == '\t';
    if (layout == LAYOUT_COMMA) return ch == ',';
    return ch == ' ' || ch == '\t';
}

typedef struct {
    float *x;
    int *labels;
    int *count, *line; /* lenient: values and line number of each row */
    size_t nx, capx, nl, capl, capc, capn;
} grow;

/* Returns buf with room for element n (capacity *cap, elements of esz bytes), grown
 * if needed; NULL on failure (buf is then unchanged and still owned by the caller). */
static void *reserve(void *buf, size_t n, size_t *cap, size_t esz) {
    if (n < *cap) return buf;
    size_t nc = *cap ? *cap * 2 : 1024, bytes;
    void *p = as_size_mul(nc, esz, &bytes) ? as_realloc(buf, bytes) : NULL;
    if (p) *cap = nc;
    return p;
}

static int push_value(grow *g, float v) {
    float *p = reserve(g->x, g->nx, &g->capx, sizeof(float));
    if (!p) return 0;
    g->x = p;
    g->x[g->nx++] = v;
    return 1;
}

static int push_label(grow *g, int v) {
    int *p = reserve(g->labels, g->nl, &g->capl, sizeof(int));
    if (!p) return 0;
    g->labels = p;
    g->labels[g->nl++] = v;
    return 1;
}

/* Lenient: records row r's value count and line. */
static int push_row(grow *g, size_t r, int count, int line) {
    int *c = reserve(g->count, r, &g->capc, sizeof(int));
    if (c) g->count = c;
    int *l = c ? reserve(g->line, r, &g->capn, sizeof(int)) : NULL;
    if (l) g->line = l;
    if (!l) return 0;
    g->count[r] = count;
    g->line[r] = line;
    return 1;
}

/* Parses one line (NUL-terminated, without its line end) into g; returns the number
 * of values after the label in *count. */
static as_status parse_line(char *s, int layout, int lenient, grow *g, int *count,
                            const char *path, int line, as_error *err) {
    int field = 0;
    char *p = s;
    for (;;) {
        if (layout == LAYOUT_SPACE)
            while (*p == ' ' || *p == '\t') p++;
        if (layout == LAYOUT_SPACE && !*p) break;
        char *start = p;
        while (*p && !is_sep(*p, layout)) p++;
        int last = !*p;
        *p = 0;
        /* trim blanks around the token */
        while (*start == ' ' || *start == '\t') start++;
        char *e = start + strlen(start);
        while (e > start && (e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
        field++;
        double v = 0.0;
        as_status st = parse_value(start, lenient, &v, path, line, field, err);
        if (st != AS_OK) return st;
        if (field == 1) {
            if (v != floor(v))
                return as_error_set(err, AS_ERR_DATA,
                                    "%s:%d: field 1: class label '%.40s' is not an integer", path,
                                    line, start);
            if (v < (double)INT_MIN || v > (double)INT_MAX)
                return as_error_set(err, AS_ERR_DATA, "%s:%d: field 1: class label '%.40s' is "
                                    "outside the supported range %d..%d (32-bit integers)",
                                    path, line, start, INT_MIN, INT_MAX);
            if (!push_label(g, (int)v)) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
        } else if (!push_value(g, (float)v)) {
            return as_error_set(err, AS_ERR_NOMEM, "out of memory");
        }
        if (last) break;
        p++;
    }
    *count = field - 1;
    return AS_OK;
}

/* Lenient: lays rows of different value counts out at the widest, NaN after each row's
 * values. */
static as_status widen(grow *g, int t, as_error *err) {
    size_t n = g->nl, cells;
    if (!as_size_mul(n, (size_t)t, &cells)) return as_error_set(err, AS_ERR_NOMEM, "too large");
    float *x = as_malloc((cells ? cells : 1) * sizeof(float));
    if (!x) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    size_t src = 0;
    for (size_t r = 0; r < n; r++) {
        for (int k = 0; k < t; k++)
            x[r * (size_t)t + k] = k < g->count[r] ? g->x[src + (size_t)k] : (float)NAN;
        src += (size_t)g->count[r];
    }
    as_free(g->x);
    g->x = x;
    return AS_OK;
}

static as_status read_file(const char *path, int lenient, as_ucr_table *out, as_error *err) {
    memset(out, 0, sizeof *out);
    char *buf = NULL;
    size_t len = 0;
    as_status st = slurp(path, &buf, &len, err);
    if (st != AS_OK) return st;
    grow g;
    memset(&g, 0, sizeof g);
    int layout = -1, t = -1, first_line = 0, line = 0;
    char *p = buf;
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) p += 3; /* a UTF-8 byte order mark */
    while (st == AS_OK && p < buf + len) {
        /* a line ends at LF, CRLF or a CR alone (old Mac files); buf holds no NUL */
        char *nl = strpbrk(p, "\r\n");
        char *next = nl ? nl + 1 + (nl[0] == '\r' && nl[1] == '\n') : buf + len;
        if (nl) *nl = 0;
        line++;
        size_t ll = strlen(p);
        if (ll != strspn(p, " \t")) { /* not blank */
            if (layout < 0) {
                layout = strchr(p, '\t') ? LAYOUT_TAB : strchr(p, ',') ? LAYOUT_COMMA
                                                                         : LAYOUT_SPACE;
                first_line = line;
            }
            int count = 0;
            st = parse_line(p, layout, lenient, &g, &count, path, line, err);
            if (st == AS_OK && count == 0)
                st = as_error_set(err, AS_ERR_DATA, "%s:%d: a class label but no values", path,
                                  line);
            if (st == AS_OK && !lenient && t >= 0 && count != t)
                st = as_error_set(err, AS_ERR_DATA, "%s:%d: %d values, but line %d has %d", path,
                                  line, count, first_line, t);
            if (st == AS_OK && lenient && !push_row(&g, g.nl - 1, count, line))
                st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
            if (t < 0 || (lenient && count > t)) t = count;
        }
        p = next;
    }
    as_free(buf);
    if (st == AS_OK && g.nl == 0)
        st = as_error_set(err, AS_ERR_DATA, "%s: empty file (no series)", path);
    if (st == AS_OK && g.nl > (size_t)INT_MAX)
        st = as_error_set(err, AS_ERR_DATA, "%s: too many rows", path);
    if (st == AS_OK && lenient) st = widen(&g, t, err);
    if (st != AS_OK) {
        as_free(g.x);
        as_free(g.labels);
        as_free(g.count);
        as_free(g.line);
        return st;
    }
    out->n = (int)g.nl;
    out->t = t;
    out->x = g.x;
    out->labels = g.labels;
    out->count = g.count;
    out->line = g.line;
    return AS_OK;
}

as_status as_ucr_read(const char *path, as_ucr_table *out, as_error *err) {
    return read_file(path, 0, out, err);
}

as_status as_ucr_read_lenient(const char *path, as_ucr_table *out, as_error *err) {
    return read_file(path, 1, out, err);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void znorm_rows(float *x, int n, int t) {
    for (int i = 0; i < n; i++) as_ucr_znorm_row(x + (size_t)i * (size_t)t, t);
}

/* Moves a table into a split with labels mapped through the sorted class list. */
static void table_to_split(as_ucr_table *tb, const int *classes, int k, as_split *s) {
    for (int i = 0; i < tb->n; i++) {
        const int *hit = bsearch(&tb->labels[i], classes, (size_t)k, sizeof(int), cmp_int);
        tb->labels[i] = (int)(hit - classes);
    }
    s->n = tb->n;
    s->t = tb->t;
    s->c = 1;
    s->x = tb->x;
    s->labels = tb->labels;
    tb->x = NULL;
    tb->labels = NULL;
}

/* Reads both files; with fill or length leniently, then through as_ucr_fix. */
static as_status read_both(const as_ucr_options *o, as_ucr_table *tr, as_ucr_table *te,
                           as_ucr_fix_stats *stats, as_error *err) {
    const int fix = o->fill != AS_FILL_NONE || o->length != AS_LENGTH_NONE;
    memset(te, 0, sizeof *te);
    as_status st = fix ? as_ucr_read_lenient(o->train_path, tr, err)
                       : as_ucr_read(o->train_path, tr, err);
    if (st != AS_OK) return st;
    if (o->test_path)
        st = fix ? as_ucr_read_lenient(o->test_path, te, err) : as_ucr_read(o->test_path, te, err);
    if (st == AS_OK && fix) st = as_ucr_fix(o, tr, te, stats, err);
    if (st != AS_OK) {
        as_ucr_table_free(tr);
        as_ucr_table_free(te);
    }
    return st;
}

as_status as_ucr_import(const as_ucr_options *o, as_dataset *d, int **class_labels, int *k,
                        as_error *err) {
    as_ucr_fix_stats stats;
    return as_ucr_import_stats(o, d, class_labels, k, &stats, err);
}

/* Appends te's rows to tr (merge_shuffle); te is freed (empty) on success. xall, nall: the
 * merged value and row counts. */
static as_status append_rows(as_ucr_table *tr, as_ucr_table *te, size_t xall, size_t nall,
                             as_error *err) {
    float *nx = as_realloc(tr->x, xall * sizeof(float));
    if (nx) tr->x = nx;
    int *nl = nx ? as_realloc(tr->labels, nall * sizeof(int)) : NULL;
    if (nl) tr->labels = nl;
    if (!nx || !nl) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    memcpy(tr->x + (size_t)tr->n * (size_t)tr->t, te->x,
           (size_t)te->n * (size_t)te->t * sizeof(float));
    memcpy(tr->labels + tr->n, te->labels, (size_t)te->n * sizeof(int));
    tr->n += te->n;
    as_ucr_table_free(te);
    return AS_OK;
}

/* The sorted distinct labels of both tables into classes (room for nall), their count in
 * *nk; fewer than two is an error naming the files. */
static as_status distinct_classes(const as_ucr_options *o, const as_ucr_table *tr,
                                  const as_ucr_table *te, size_t nall, int *classes, int *nk,
                                  as_error *err) {
    int n = 0;
    memcpy(classes, tr->labels, (size_t)tr->n * sizeof(int));
    if (te->n) memcpy(classes + tr->n, te->labels, (size_t)te->n * sizeof(int));
    qsort(classes, nall, sizeof(int), cmp_int);
    for (size_t i = 0; i < nall; i++)
        if (i == 0 || classes[i] != classes[n - 1]) classes[n++] = classes[i];
    *nk = n;
    if (n < 2)
        return as_error_set(err, AS_ERR_DATA, "%s%s%s: only one class (label %d): a classifier "
                            "needs at least two", o->train_path, te->n ? " + " : "",
                            te->n ? o->test_path : "", classes[0]);
    return AS_OK;
}

/* Shuffles tr's rows with the seed's as_rng_shuffle_int permutation (merge_shuffle). */
static as_status shuffle_rows(as_ucr_table *tr, uint64_t seed, as_error *err) {
    as_status st = AS_OK;
    int *perm = as_malloc((size_t)tr->n * sizeof(int));
    float *nx = as_malloc((size_t)tr->n * (size_t)tr->t * sizeof(float));
    int *nl = as_malloc((size_t)tr->n * sizeof(int));
    if (!perm || !nx || !nl) {
        as_free(nx);
        as_free(nl);
        st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    } else {
        for (int i = 0; i < tr->n; i++) perm[i] = i;
        as_rng r;
        as_rng_seed(&r, seed);
        as_rng_shuffle_int(&r, perm, (size_t)tr->n);
        for (int i = 0; i < tr->n; i++) {
            memcpy(nx + (size_t)i * (size_t)tr->t, tr->x + (size_t)perm[i] * (size_t)tr->t,
                   (size_t)tr->t * sizeof(float));
            nl[i] = tr->labels[perm[i]];
        }
        as_free(tr->x);
        as_free(tr->labels);
        tr->x = nx;
        tr->labels = nl;
    }
    as_free(perm);
    return st;
}

as_status as_ucr_import_stats(const as_ucr_options *o, as_dataset *d, int **class_labels, int *k,
                              as_ucr_fix_stats *stats, as_error *err) {
    memset(d, 0, sizeof *d);
    memset(stats, 0, sizeof *stats);
    *class_labels = NULL;
    *k = 0;
    as_ucr_table tr, te;
    as_status st = read_both(o, &tr, &te, stats, err);
    if (st != AS_OK) return st;
    const int fixed = o->fill != AS_FILL_NONE || o->length != AS_LENGTH_NONE;
    if (o->test_path && te.t != tr.t)
        st = as_error_set(err, AS_ERR_DATA, "%s:1: series of length %d, but %s has %d",
                          o->test_path, te.t, o->train_path, tr.t);
    size_t nall = (size_t)tr.n + (size_t)te.n, xall;
    int *classes = NULL;
    if (st == AS_OK && (nall > (size_t)INT_MAX || !as_size_mul(nall, (size_t)tr.t, &xall)))
        st = as_error_set(err, AS_ERR_DATA, "%s: too many rows", o->train_path);
    if (st == AS_OK && !(classes = as_malloc(nall * sizeof(int))))
        st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    if (st == AS_OK && o->merge_shuffle && te.n) st = append_rows(&tr, &te, xall, nall, err);
    int nk = 0;
    if (st == AS_OK) st = distinct_classes(o, &tr, &te, nall, classes, &nk, err);
    if (st == AS_OK && o->merge_shuffle) st = shuffle_rows(&tr, o->seed, err);
    if (st != AS_OK) {
        as_free(classes);
        as_ucr_table_free(&tr);
        as_ucr_table_free(&te);
        return st;
    }
    if (o->znorm && !fixed) { /* as_ucr_fix normalised each row over its own length */
        znorm_rows(tr.x, tr.n, tr.t);
        if (te.n) znorm_rows(te.x, te.n, te.t);
    }
    d->task = AS_TASK_CLASSIFICATION;
    d->n_classes = nk;
    table_to_split(&tr, classes, nk, &d->train);
    if (te.n) {
        d->has_test = 1;
        table_to_split(&te, classes, nk, &d->test);
    }
    as_ucr_table_free(&tr); /* what the splits did not take: a lenient read's counts, lines */
    as_ucr_table_free(&te);
    *class_labels = classes;
    *k = nk;
    return AS_OK;
}

static void report_split(FILE *f, const char *name, const as_split *s, const int *classes,
                         int k) {
    fprintf(f, "%s: %d series of length %d; class counts:", name, s->n, s->t);
    int *cnt = as_calloc((size_t)k, sizeof(int)); /* one pass: k may be large */
    for (int i = 0; cnt && i < s->n; i++) cnt[s->labels[i]]++;
    for (int c = 0; cnt && c < k; c++)
        fprintf(f, " %d->%d: %d%s", classes[c], c, cnt[c], c + 1 < k ? "," : "\n");
    if (!cnt) fprintf(f, " (out of memory)\n");
    as_free(cnt);
}

/* Up to this many classes, class_labels (4 bytes each) is stored in the root group's
 * object header as every other attribute; beyond it densely (as_h5_writer_open_dense),
 * well before the 64 KiB limit of a header message (16,370 labels). */
#define UCR_COMPACT_LABELS 4096

static const char *const k_fill_names[] = {"none", "interpolate", "zero"};
static const char *const k_length_names[] = {"none", "pad", "truncate", "resample"};

/* The attributes of --fill and --length. */
static as_status write_fix_attrs(hid_t f, const as_ucr_options *o, const as_ucr_fix_stats *fs,
                                 as_error *err) {
    as_status st = as_h5_attr_string(f, "fill", k_fill_names[o->fill], err);
    if (st == AS_OK) st = as_h5_attr_int(f, "missing_values", fs->missing, err);
    if (st == AS_OK) st = as_h5_attr_string(f, "length_mode", k_length_names[o->length], err);
    if (st == AS_OK && (o->fill || o->length)) {
        st = as_h5_attr_int(f, "min_length", fs->min_length, err);
        if (st == AS_OK) st = as_h5_attr_int(f, "max_length", fs->max_length, err);
    }
    return st;
}

as_status as_ucr_write(const as_ucr_options *o, const char *path, FILE *report, as_error *err) {
    as_dataset d;
    int *classes, k;
    as_ucr_fix_stats fs;
    as_status st = as_ucr_import_stats(o, &d, &classes, &k, &fs, err);
    if (st != AS_OK) return st;
    as_h5_writer w; /* many classes: class_labels may not fit an object header */
    st = k > UCR_COMPACT_LABELS ? as_h5_writer_open_dense(&w, path, err)
                                : as_h5_writer_open(&w, path, err);
    if (st == AS_OK) {
        st = as_dataset_write_h5(w.file, &d, err);
        if (st == AS_OK) st = as_h5_attr_ints(w.file, "class_labels", classes, (size_t)k, err);
        if (st == AS_OK) st = as_h5_attr_string(w.file, "generator", "ucr", err);
        if (st == AS_OK) st = as_h5_attr_string(w.file, "source_train", o->train_path, err);
        if (st == AS_OK && o->test_path)
            st = as_h5_attr_string(w.file, "source_test", o->test_path, err);
        if (st == AS_OK) st = as_h5_attr_int(w.file, "merge_shuffle", o->merge_shuffle, err);
        if (st == AS_OK) st = as_h5_attr_int(w.file, "seed", (int64_t)o->seed, err);
        if (st == AS_OK) st = as_h5_attr_int(w.file, "znorm", o->znorm, err);
        if (st == AS_OK) st = write_fix_attrs(w.file, o, &fs, err);
        if (st == AS_OK) {
            st = as_h5_writer_commit(&w, err);
        } else {
            as_h5_writer_abort(&w);
            as_error_prefix(err, "%s", path);
        }
    }
    if (st == AS_OK && report) {
        if (fs.missing) fprintf(report, "filled %ld missing values (%s)\n", fs.missing,
                                k_fill_names[o->fill]);
        if (o->length)
            fprintf(report, "series lengths %d..%d -> %d (%s)\n", fs.min_length, fs.max_length,
                    d.train.t, k_length_names[o->length]);
        report_split(report, "train", &d.train, classes, k);
        if (d.has_test) report_split(report, "test", &d.test, classes, k);
    }
    as_free(classes);
    as_dataset_free(&d);
    return st;
}
