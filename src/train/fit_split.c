/* fit_split.c: batch buffers and train.batch_split (see fit_split.h). */
#include "train/fit_split.h"

#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/blas.h"
#include "attnsweep/layers.h"
#include "attnsweep/pool.h"
#include "attnsweep/vec.h"

as_batch as_batch_view(const as_batch *b, const as_split *s, int a) {
    as_batch v = {b->x + (size_t)a * as_split_x_row(s),
                  b->y ? b->y + (size_t)a * as_split_y_row(s) : NULL,
                  b->labels ? b->labels + a : NULL};
    return v;
}

double as_batch_loss(as_model *m, const float *out, const as_batch *b, int n, float scale,
                     int grad, long *correct) {
    int m_out = (int)as_model_out_size(m);
    float *d = grad ? as_model_dout(m) : NULL;
    if (b->labels) return as_loss_sce(d, out, b->labels, n, m_out, scale, correct);
    return as_loss_mse(d, out, b->y, n, m_out, scale); /* d NULL: evaluation, no gradient */
}

void as_parts_free(as_parts *p) {
    for (int i = 0; p->w && i < p->n - 1; i++) as_model_free(&p->w[i]);
    as_free(p->w);
    as_free(p->part);
    if (p->blas_was > 0) as_blas_set_threads(p->blas_was);
    memset(p, 0, sizeof *p);
    p->n = 1;
}

as_status as_parts_init(as_parts *p, as_model *m, int n, as_error *err) {
    memset(p, 0, sizeof *p);
    p->n = 1;
    if (n > 1 && as_model_collective(m))
        return as_error_set(err, AS_ERR_SPEC, "train.batch_split: %d parts, but the model's "
                            "batch_normalization needs statistics over the whole batch (use 1)", n);
    if (n > m->max_batch) n = m->max_batch;
    if (n < 2) return AS_OK;
    p->w = as_calloc((size_t)(n - 1), sizeof *p->w);
    p->part = as_calloc((size_t)n * 3, sizeof(double));
    if (!p->w || !p->part) {
        as_parts_free(p);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the batch split");
    }
    const int rows = (m->max_batch + n - 1) / n;
    for (int i = 0; i < n - 1; i++) {
        as_status st = as_model_workspace(&p->w[i], m, rows, "train.batch_split", err);
        if (st) {
            p->n = i + 1; /* free the ones built so far */
            as_parts_free(p);
            return st;
        }
    }
    p->n = n;
    p->blas_was = as_blas_threads();
    as_blas_set_threads(1);
    return AS_OK;
}

/* Part r's rows [*a, *e) of k; its model (part 0: m). */
static as_model *part_rows(const as_parts *p, as_model *m, int k, int r, int *a, int *e) {
    *a = (int)((long)k * r / p->n);
    *e = (int)((long)k * (r + 1) / p->n);
    return r == 0 ? m : &p->w[r - 1];
}

typedef struct {
    as_parts *p;
    as_model *m;
    const as_batch *b;
    const as_split *s;
    int k, bsz, train;
} part_job;

/* One part: every field it writes is its own (its workspace, its slot of p->part). */
static void part_task(const void *ctx, int r, int worker) {
    (void)worker;
    const part_job *j = ctx;
    int a, e;
    as_model *m = part_rows(j->p, j->m, j->k, r, &a, &e);
    double *out = j->p->part + 3 * r;
    out[0] = out[1] = 0;
    out[2] = e - a;
    if (e <= a) return;
    const as_batch v = as_batch_view(j->b, j->s, a);
    const float *y = as_model_forward(m, v.x, e - a, j->train);
    long correct = 0;
    out[0] = as_batch_loss(m, y, &v, e - a, j->train ? 1.0f / (float)j->bsz : 1.0f, j->train,
                           &correct);
    out[1] = (double)correct;
    if (j->train) as_model_backward(m, v.x, NULL, NULL);
}

void as_parts_train(as_parts *p, as_model *m, const as_batch *b, const as_split *s, int k, int lo,
                    int bsz, uint64_t step, double *local) {
    for (int r = 0; r < p->n; r++) { /* set before the threads start: no shared writes */
        int a, e;
        as_model *w = part_rows(p, m, k, r, &a, &e);
        if (r > 0 && e > a) as_model_zero_grad(w); /* part 0 is m, zeroed by the caller */
        w->dropout_seed = m->dropout_seed;
        w->step = step;
        w->row0 = lo + a;
    }
    const part_job j = {p, m, b, s, k, bsz, 1};
    as_pool_run(p->n, p->n, part_task, &j);
    local[0] = p->part[0];
    local[1] = p->part[1];
    for (int r = 1; r < p->n; r++) {
        if (p->part[3 * r + 2] <= 0) continue;
        as_vec_add(m->grads, m->grads, p->w[r - 1].grads, m->n_params);
        local[0] += p->part[3 * r];
        local[1] += p->part[3 * r + 1];
    }
}

void as_parts_eval(as_parts *p, as_model *m, const as_batch *b, const as_split *s, int k,
                   double *sums) {
    const part_job j = {p, m, b, s, k, 0, 0};
    as_pool_run(p->n, p->n, part_task, &j);
    for (int r = 0; r < p->n; r++) {
        sums[0] += p->part[3 * r];
        sums[1] += p->part[3 * r + 1];
    }
}
