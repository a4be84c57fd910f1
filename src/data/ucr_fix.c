/* ucr_fix.c: missing values and variable lengths of UCR rows (as_ucr_fix, see ucr.h). */
#include <math.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/ucr.h"
#include "data/ucr_internal.h"

typedef struct {
    const char *path;
    as_ucr_table *tb;
    int *len; /* per row: its length */
} file_rows;

/* Row lengths: up to the last value that is not NaN (a NaN run at the end of a row is the
 * archive's padding of a shorter series; missing values are the NaN before it). */
static as_status row_lengths(file_rows *f, as_error *err) {
    const as_ucr_table *tb = f->tb;
    for (int r = 0; r < tb->n; r++) {
        const float *x = tb->x + (size_t)r * (size_t)tb->t;
        int L = tb->count[r];
        while (L > 0 && isnan(x[L - 1])) L--;
        if (L == 0)
            return as_error_set(err, AS_ERR_DATA, "%s:%d: the series has no values (all NaN)",
                                f->path, tb->line[r]);
        f->len[r] = L;
    }
    return AS_OK;
}

/* Fills the NaN among the first L values of x (at least one is a number). */
static long fill_row(float *x, int L, as_ucr_fill fill) {
    long missing = 0;
    int prev = -1; /* last index with a value */
    for (int k = 0; k <= L; k++) {
        if (k < L && isnan(x[k])) {
            missing++;
            continue;
        }
        /* a gap (prev, k): interpolate, or hold the nearest value at either end */
        for (int j = prev + 1; j < k; j++) {
            if (fill == AS_FILL_ZERO) x[j] = 0.0f;
            else if (prev < 0) x[j] = x[k];
            else if (k == L) x[j] = x[prev];
            else {
                const double w = (double)(j - prev) / (double)(k - prev);
                x[j] = (float)((double)x[prev] + w * ((double)x[k] - (double)x[prev]));
            }
        }
        prev = k;
    }
    return missing;
}

void as_ucr_znorm_row(float *x, int L) {
    double mean = 0.0, var = 0.0;
    int constant = 1;
    for (int k = 0; k < L; k++) {
        mean += (double)x[k];
        if (x[k] != x[0]) constant = 0;
    }
    mean /= (double)L;
    for (int k = 0; k < L; k++) var += ((double)x[k] - mean) * ((double)x[k] - mean);
    const double sd = sqrt(var / (double)L);
    for (int k = 0; k < L; k++) x[k] = constant ? 0.0f : (float)(((double)x[k] - mean) / sd);
}

/* Writes the row x (L values) at length N into y as o->length says. */
static void reshape_row(float *y, const float *x, int L, int N, as_ucr_length mode) {
    if (mode == AS_LENGTH_RESAMPLE && L != N) {
        for (int k = 0; k < N; k++) {
            const double pos = N > 1 ? (double)k * (double)(L - 1) / (double)(N - 1) : 0.0;
            int i = (int)floor(pos);
            if (i >= L - 1) i = L > 1 ? L - 2 : 0;
            const double w = L > 1 ? pos - (double)i : 0.0;
            y[k] = L > 1 ? (float)((double)x[i] + w * ((double)x[i + 1] - (double)x[i])) : x[0];
        }
        return;
    }
    for (int k = 0; k < N; k++) y[k] = k < L ? x[k] : 0.0f; /* pad: zeros at the end */
}

/* Per row: missing values, z-normalisation; counts the missing values. */
static as_status clean_rows(const as_ucr_options *o, file_rows *f, long *missing, as_error *err) {
    as_ucr_table *tb = f->tb;
    for (int r = 0; r < tb->n; r++) {
        float *x = tb->x + (size_t)r * (size_t)tb->t;
        const int L = f->len[r];
        for (int k = 0; k < L; k++) {
            if (!isnan(x[k])) continue;
            if (o->fill == AS_FILL_NONE)
                return as_error_set(err, AS_ERR_DATA, "%s:%d: field %d is NaN (missing value; "
                                    "--fill imports it)", f->path, tb->line[r], k + 2);
            break;
        }
        if (o->fill != AS_FILL_NONE) *missing += fill_row(x, L, o->fill);
        if (o->znorm) as_ucr_znorm_row(x, L);
    }
    return AS_OK;
}

/* Lays every row of f out at length N. */
static as_status relayout(const as_ucr_options *o, file_rows *f, int N, as_error *err) {
    as_ucr_table *tb = f->tb;
    size_t cells;
    if (!as_size_mul((size_t)tb->n, (size_t)N, &cells))
        return as_error_set(err, AS_ERR_NOMEM, "%s: too large", f->path);
    float *y = as_malloc((cells ? cells : 1) * sizeof(float));
    if (!y) return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", f->path);
    for (int r = 0; r < tb->n; r++)
        reshape_row(y + (size_t)r * (size_t)N, tb->x + (size_t)r * (size_t)tb->t, f->len[r], N,
                    o->length);
    as_free(tb->x);
    tb->x = y;
    tb->t = N;
    return AS_OK;
}

/* The target length, checked against the rows' lengths [lo, hi]. */
static as_status target_length(const as_ucr_options *o, const file_rows *f, int nf, int lo,
                               int hi, int *N, as_error *err) {
    *N = o->length_n;
    if (o->length == AS_LENGTH_NONE) {
        for (int i = 0; i < nf; i++)
            for (int r = 0; r < f[i].tb->n; r++)
                if (f[i].len[r] != hi)
                    return as_error_set(err, AS_ERR_DATA,
                                        "%s:%d: a series of %d values, but others have %d "
                                        "(variable lengths, rows padded with NaN at the end: "
                                        "use --length pad|truncate|resample N)",
                                        f[i].path, f[i].tb->line[r], f[i].len[r], hi);
        *N = hi;
    } else if (o->length == AS_LENGTH_PAD) {
        if (!*N) *N = hi;
        if (*N < hi)
            return as_error_set(err, AS_ERR_DATA, "--length pad %d: the longest series has %d "
                                "values", *N, hi);
    } else if (o->length == AS_LENGTH_TRUNCATE) {
        if (!*N) *N = lo;
        if (*N > lo)
            return as_error_set(err, AS_ERR_DATA, "--length truncate %d: the shortest series has "
                                "%d values", *N, lo);
    }
    return AS_OK;
}

as_status as_ucr_fix(const as_ucr_options *o, as_ucr_table *tr, as_ucr_table *te,
                     as_ucr_fix_stats *stats, as_error *err) {
    memset(stats, 0, sizeof *stats);
    file_rows f[2] = {{o->train_path, tr, NULL}, {o->test_path, te, NULL}};
    int nf = te && te->n > 0 ? 2 : 1;
    as_status st = AS_OK;
    int lo = 0, hi = 0;
    for (int i = 0; i < nf && !st; i++) {
        f[i].len = as_malloc((size_t)f[i].tb->n * sizeof(int));
        if (!f[i].len) st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
        if (!st) st = row_lengths(&f[i], err);
        for (int r = 0; !st && r < f[i].tb->n; r++) {
            const int L = f[i].len[r];
            if ((i == 0 && r == 0) || L < lo) lo = L;
            if (L > hi) hi = L;
        }
    }
    for (int i = 0; i < nf && !st; i++) st = clean_rows(o, &f[i], &stats->missing, err);
    int N = 0;
    if (!st) st = target_length(o, f, nf, lo, hi, &N, err);
    for (int i = 0; i < nf && !st; i++) st = relayout(o, &f[i], N, err);
    stats->min_length = lo;
    stats->max_length = hi;
    for (int i = 0; i < nf; i++) as_free(f[i].len);
    return st;
}
