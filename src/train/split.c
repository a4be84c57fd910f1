/* split.c: the validation rows of the training split (last, shuffled, stratified). */
#include <stdlib.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/rng.h"
#include "attnsweep/train.h"

/* Writes the unmarked rows to train_rows and the marked ones to val_rows, ascending. */
static void collect(const unsigned char *is_val, int n, int *train_rows, int *val_rows) {
    int a = 0, b = 0;
    for (int i = 0; i < n; i++) {
        if (is_val[i]) val_rows[b++] = i;
        else train_rows[a++] = i;
    }
}

/* Marks want[k] rows of each class k, drawn from the class's rows shuffled by r. */
static as_status mark_stratified(const as_split *s, int K, int n_val, as_rng *r,
                                 unsigned char *is_val, as_error *err) {
    int n = s->n;
    long long *cnt = as_calloc((size_t)K, sizeof *cnt);
    int *want = as_calloc((size_t)K, sizeof *want), *rows = as_malloc((size_t)n * sizeof(int));
    if (!cnt || !want || !rows) {
        as_free(cnt);
        as_free(want);
        as_free(rows);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the stratified split");
    }
    for (int i = 0; i < n; i++) cnt[s->labels[i]]++;
    int given = 0;
    for (int k = 0; k < K; k++) {
        want[k] = (int)((long long)n_val * cnt[k] / n);
        given += want[k];
    }
    while (given < n_val) { /* largest remainder first, the lower class on ties */
        int best = -1;
        long long br = -1;
        for (int k = 0; k < K; k++) {
            long long rem = (long long)n_val * cnt[k] % n;
            if (want[k] < cnt[k] && rem > br && want[k] == (int)((long long)n_val * cnt[k] / n)) {
                best = k;
                br = rem;
            }
        }
        if (best < 0) break;
        want[best]++;
        given++;
    }
    for (int k = 0; k < K; k++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (s->labels[i] == k) rows[m++] = i;
        as_rng_shuffle_int(r, rows, (size_t)m);
        for (int j = 0; j < want[k]; j++) is_val[rows[j]] = 1;
    }
    as_free(cnt);
    as_free(want);
    as_free(rows);
    return AS_OK;
}

as_status as_fit_split(const as_dataset *d, const as_train_spec *t, int *train_rows,
                       int *val_rows, int *n_train, int *n_val, as_error *err) {
    const as_split *s = &d->train;
    int n = s->n;
    as_fit_split_rows(n, t->validation_split, n_train, n_val);
    if (t->validation_mode == AS_VAL_LAST || *n_val == 0) {
        for (int i = 0; i < *n_train; i++) train_rows[i] = i;
        for (int i = 0; i < *n_val; i++) val_rows[i] = *n_train + i;
        return AS_OK;
    }
    if (t->validation_mode == AS_VAL_STRATIFIED && (d->task != AS_TASK_CLASSIFICATION || !s->labels))
        return as_error_set(err, AS_ERR_SPEC, "train.validation.mode: \"stratified\" needs a "
                            "classification dataset");
    unsigned char *is_val = as_calloc((size_t)n, 1);
    if (!is_val) return as_error_set(err, AS_ERR_NOMEM, "out of memory for the validation split");
    as_rng r;
    as_rng_seed(&r, as_rng_derive(t->validation_seed, AS_STREAM_VALIDATION));
    as_status st = AS_OK;
    if (t->validation_mode == AS_VAL_SHUFFLED) {
        for (int i = 0; i < n; i++) train_rows[i] = i;
        as_rng_shuffle_int(&r, train_rows, (size_t)n);
        for (int i = n - *n_val; i < n; i++) is_val[train_rows[i]] = 1;
    } else {
        st = mark_stratified(s, d->n_classes, *n_val, &r, is_val, err);
    }
    if (!st) collect(is_val, n, train_rows, val_rows);
    as_free(is_val);
    return st;
}

void as_cb_pack(const as_cb_state *s, double *out) {
    double v[AS_CB_PACKED] = {s->es.best, s->es.best_epoch, s->es.wait, s->es.stopped_epoch,
                              s->es.greater, s->rlr.best, s->rlr.wait, s->rlr.cooldown_counter,
                              s->rlr.greater, (double)s->lr, s->has_best};
    memcpy(out, v, sizeof v);
}

void as_cb_unpack(as_cb_state *s, const double *in) {
    s->es.best = in[0];
    s->es.best_epoch = (int)in[1];
    s->es.wait = (int)in[2];
    s->es.stopped_epoch = (int)in[3];
    s->es.greater = (int)in[4];
    s->rlr.best = in[5];
    s->rlr.wait = (int)in[6];
    s->rlr.cooldown_counter = (int)in[7];
    s->rlr.greater = (int)in[8];
    s->lr = (float)in[9];
    s->has_best = (int)in[10];
}
