/* fit.c: Keras-style fit and evaluate, single process or data parallel. */
#include "attnsweep/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "attnsweep/alloc.h"
#include "attnsweep/layers.h"
#include "attnsweep/optim.h"
#include "attnsweep/rng.h"
#include "train/dp.h"

void as_history_free(as_history *h) {
    if (!h) return;
    as_free(h->loss);
    as_free(h->accuracy);
    as_free(h->val_loss);
    as_free(h->val_accuracy);
    as_free(h->epoch_seconds);
    memset(h, 0, sizeof *h);
}

void as_fit_split_rows(int n, double validation_split, int *n_train, int *n_val) {
    /* keras train_validation_split: split_at = floor(n * (1 - validation_split)) */
    int split_at = validation_split > 0 ? (int)floor((double)n * (1.0 - validation_split)) : n;
    *n_train = split_at;
    *n_val = n - split_at;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Per-process batch buffers, allocated once per fit. */
typedef struct {
    float *x, *y;
    int *labels;
} batch_buf;

static void batch_free(batch_buf *b) {
    as_free(b->x);
    as_free(b->y);
    as_free(b->labels);
}

static as_status batch_alloc(batch_buf *b, const as_split *s, int rows, as_error *err) {
    memset(b, 0, sizeof *b);
    size_t nx, ny;
    if (!as_size_mul((size_t)rows, as_split_x_row(s), &nx) ||
        !as_size_mul((size_t)rows, as_split_y_row(s), &ny))
        return as_error_set(err, AS_ERR_NOMEM, "batch buffers overflow");
    b->x = as_malloc(nx * sizeof(float));
    b->y = ny ? as_malloc(ny * sizeof(float)) : NULL;
    b->labels = s->labels ? as_malloc((size_t)rows * sizeof(int)) : NULL;
    if (!b->x || (ny && !b->y) || (s->labels && !b->labels)) {
        batch_free(b);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for batch buffers");
    }
    return AS_OK;
}

/* Gathers rows idx[0..n) (or row0.. when idx is NULL) of s into b. */
static void gather(batch_buf *b, const as_split *s, const int *idx, int row0, int n) {
    size_t xr = as_split_x_row(s), yr = as_split_y_row(s);
    for (int i = 0; i < n; i++) {
        size_t r = (size_t)(idx ? idx[i] : row0 + i);
        memcpy(b->x + (size_t)i * xr, s->x + r * xr, xr * sizeof(float));
        if (s->y) memcpy(b->y + (size_t)i * yr, s->y + r * yr, yr * sizeof(float));
        if (s->labels) b->labels[i] = s->labels[r];
    }
}

/* Loss of the last forward on b's n rows: returns the summed per-sample loss, writes
 * the output gradient scaled by `scale` when grad is set, counts argmax hits. */
static double batch_loss(as_model *m, const float *out, const batch_buf *b, int n, float scale,
                         int grad, long *correct) {
    int m_out = (int)as_model_out_size(m);
    float *d = grad ? as_model_dout(m) : NULL;
    if (b->labels) return as_loss_sce(d, out, b->labels, n, m_out, scale, correct);
    return as_loss_mse(d, out, b->y, n, m_out, scale); /* d NULL: evaluation, no gradient */
}

static int comm_size(MPI_Comm c) {
    int p = 1;
    if (c != MPI_COMM_NULL) MPI_Comm_size(c, &p);
    return p;
}

static int comm_rank(MPI_Comm c) {
    int r = 0;
    if (c != MPI_COMM_NULL) MPI_Comm_rank(c, &r);
    return r;
}

/* Evaluates rows [row0, row0+n) of s: this rank takes its contiguous shard. Returns the
 * mean loss; *mpi_failed is set when the reduction failed. */
static double evaluate(as_model *m, const as_split *s, int row0, int n, int batch, MPI_Comm comm,
                       batch_buf *b, double *acc, int *mpi_failed) {
    int P = comm_size(comm), r = comm_rank(comm);
    int lo = (int)((long)n * r / P), hi = (int)((long)n * (r + 1) / P);
    if (batch > m->max_batch) batch = m->max_batch;
    double sums[2] = {0, 0};
    for (int start = lo; start < hi; start += batch) {
        int k = hi - start < batch ? hi - start : batch;
        gather(b, s, NULL, row0 + start, k);
        const float *out = as_model_forward(m, b->x, k, 0);
        long correct = 0;
        sums[0] += batch_loss(m, out, b, k, 1.0f, 0, &correct);
        sums[1] += (double)correct;
    }
    *mpi_failed = P > 1 && MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, comm) !=
                               MPI_SUCCESS;
    if (acc) *acc = s->labels && n > 0 ? sums[1] / n : (double)NAN;
    return n > 0 ? sums[0] / n : (double)NAN;
}

double as_evaluate(as_model *m, const as_dataset *d, const as_split *s, int row0, int n, int batch,
                   MPI_Comm comm, double *acc) {
    (void)d;
    batch_buf b;
    int rows = batch < m->max_batch ? batch : m->max_batch;
    if (batch_alloc(&b, s, rows, NULL)) {
        if (acc) *acc = (double)NAN;
        return (double)NAN;
    }
    int failed;
    double l = evaluate(m, s, row0, n, batch, comm, &b, acc, &failed);
    if (failed) l = (double)NAN;
    batch_free(&b);
    return l;
}

as_status as_fit_check_same_weights(const as_model *m, MPI_Comm comm, uint64_t *checksum,
                                    as_error *err) {
    uint64_t h = as_hash64(m->params, m->n_params * sizeof(float), 0), mm[2] = {h, ~h};
    if (checksum) *checksum = h;
    if (comm == MPI_COMM_NULL) return AS_OK;
    /* one reduction: min of h and min of ~h (= ~max of h) */
    if (MPI_Allreduce(MPI_IN_PLACE, mm, 2, MPI_UINT64_T, MPI_MIN, comm) != MPI_SUCCESS)
        return as_error_set(err, AS_ERR_MPI, "start-weights checksum allreduce failed");
    if (mm[0] != ~mm[1])
        return as_error_set(err, AS_ERR_INTERNAL,
                            "ranks start from different weights (checksums %016llx..%016llx)",
                            (unsigned long long)mm[0], (unsigned long long)~mm[1]);
    return AS_OK;
}

static as_status history_alloc(as_history *h, int epochs, int classification, as_error *err) {
    memset(h, 0, sizeof *h);
    h->classification = classification;
    size_t n = (size_t)epochs;
    h->loss = as_calloc(n, sizeof(double));
    h->accuracy = as_calloc(n, sizeof(double));
    h->val_loss = as_calloc(n, sizeof(double));
    h->val_accuracy = as_calloc(n, sizeof(double));
    h->epoch_seconds = as_calloc(n, sizeof(double));
    if (!h->loss || !h->accuracy || !h->val_loss || !h->val_accuracy || !h->epoch_seconds) {
        as_history_free(h);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the history");
    }
    return AS_OK;
}

/* Puts a saved fit state back: optimizer, shuffle stream and order, earlier curves. */
static as_status restore(const as_fit_opts *o, as_optim *opt, as_rng *shuf, int *perm, int n_train,
                         int epochs, as_history *h, as_error *err) {
    const as_fit_state *r = o->resume;
    const as_history *rh = o->resume_history;
    if (r->n_perm != n_train || r->n != opt->n || (opt->v != NULL) != (r->v != NULL))
        return as_error_set(err, AS_ERR_DATA, "checkpoint: %d training rows and %zu parameters, "
                            "but this run has %d and %zu", r->n_perm, r->n, n_train, opt->n);
    if (r->epoch > epochs || !rh || rh->epochs_run < r->epoch)
        return as_error_set(err, AS_ERR_DATA, "checkpoint: %d epochs done, the run asks for %d",
                            r->epoch, epochs);
    opt->t = r->step;
    memcpy(opt->m, r->m, r->n * sizeof(float));
    if (r->v) memcpy(opt->v, r->v, r->n * sizeof(float));
    *shuf = r->shuffle;
    memcpy(perm, r->perm, (size_t)n_train * sizeof(int));
    size_t k = (size_t)r->epoch * sizeof(double);
    memcpy(h->loss, rh->loss, k);
    memcpy(h->accuracy, rh->accuracy, k);
    memcpy(h->val_loss, rh->val_loss, k);
    memcpy(h->val_accuracy, rh->val_accuracy, k);
    memcpy(h->epoch_seconds, rh->epoch_seconds, k);
    h->epochs_run = r->epoch;
    return AS_OK;
}

as_status as_fit(as_model *m, const as_dataset *d, const as_train_spec *t,
                 const as_fit_opts *opts, as_history *h, as_error *err) {
    const as_split *s = &d->train;
    MPI_Comm comm = opts ? opts->comm : MPI_COMM_NULL;
    int P = comm_size(comm), rank = comm_rank(comm);
    int classification = d->task == AS_TASK_CLASSIFICATION;
    int n_train, n_val;
    as_fit_split_rows(s->n, t->validation_split, &n_train, &n_val);
    if (n_train < 1 || (t->validation_split > 0 && n_val < 1))
        return as_error_set(err, AS_ERR_SPEC,
                            "train.validation_split: %g of %d rows leaves %d for training and %d "
                            "for validation (both need at least 1)", t->validation_split, s->n,
                            n_train, n_val);
    int shard_max = (t->batch_size + P - 1) / P;
    if (shard_max > m->max_batch)
        return as_error_set(err, AS_ERR_INTERNAL, "model built for batch %d but needs %d",
                            m->max_batch, shard_max);

    as_status st = history_alloc(h, t->epochs, classification, err);
    if (st) return st;
    batch_buf b;
    as_optim opt;
    as_dp dp;
    memset(&dp, 0, sizeof dp);
    int *perm = as_malloc((size_t)n_train * sizeof(int));
    if (!perm) {
        as_history_free(h);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the shuffle order");
    }
    if ((st = batch_alloc(&b, s, m->max_batch, err))) goto out_perm;
    if ((st = as_optim_init(&opt, &t->optimizer, m->n_params, err))) goto out_batch;
    if (P > 1 && (st = as_dp_init(&dp, comm, m, opts->bucket_kb, opts->overlap, err))) goto out_opt;

    as_rng shuf;
    as_rng_seed(&shuf, as_rng_derive(t->seed, AS_STREAM_SHUFFLE));
    for (int i = 0; i < n_train; i++) perm[i] = i;
    int ep0 = 0;
    if (opts && opts->resume && (st = restore(opts, &opt, &shuf, perm, n_train, t->epochs, h, err)))
        goto out_all;
    if (opts && opts->resume) ep0 = opts->resume->epoch;

    for (int ep = ep0; ep < t->epochs; ep++) {
        double t0 = now_seconds();
        if (t->shuffle) as_rng_shuffle_int(&shuf, perm, (size_t)n_train);
        double sums[2] = {0, 0}; /* loss sum, correct */
        int diverged = 0;
        for (int start = 0; start < n_train; start += t->batch_size) {
            int bsz = n_train - start < t->batch_size ? n_train - start : t->batch_size;
            int lo = (int)((long)bsz * rank / P), hi = (int)((long)bsz * (rank + 1) / P);
            int k = hi - lo;
            double local[2] = {0, 0};
            as_model_zero_grad(m);
            if (k > 0) {
                gather(&b, s, perm + start + lo, 0, k);
                m->step = (uint64_t)opt.t; /* dropout masks: global step and global rows */
                m->row0 = lo;
                const float *out = as_model_forward(m, b.x, k, 1);
                long correct = 0;
                local[0] = batch_loss(m, out, &b, k, 1.0f / (float)bsz, 1, &correct);
                local[1] = (double)correct;
            }
            if (P > 1) {
                as_dp_begin(&dp);
                if (k > 0) as_model_backward(m, b.x, as_dp_layer_done, &dp);
                if ((st = as_dp_finish(&dp, err))) goto out_all;
                if (MPI_Allreduce(MPI_IN_PLACE, local, 2, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS) {
                    st = as_error_set(err, AS_ERR_MPI, "loss allreduce failed");
                    goto out_all;
                }
            } else {
                as_model_backward(m, b.x, NULL, NULL);
            }
            if (!isfinite(local[0])) {
                diverged = 1;
                snprintf(h->message, sizeof h->message,
                         "non-finite loss at epoch %d, batch starting at row %d", ep + 1, start);
                break;
            }
            as_optim_step(&opt, m->params, m->grads);
            if (opts && opts->on_batch) opts->on_batch(opts->ud);
            sums[0] += local[0];
            sums[1] += local[1];
        }
        h->epochs_run = ep + 1;
        as_epoch_stats es;
        es.epoch = ep + 1;
        es.epochs = t->epochs;
        es.loss = diverged ? (double)NAN : sums[0] / n_train;
        es.accuracy = classification ? sums[1] / n_train : (double)NAN;
        es.val_loss = (double)NAN;
        es.val_accuracy = (double)NAN;
        if (n_val > 0 && !diverged) {
            double acc;
            int failed;
            es.val_loss = evaluate(m, s, n_train, n_val, t->batch_size, comm, &b, &acc, &failed);
            if (failed) {
                st = as_error_set(err, AS_ERR_MPI, "validation allreduce failed at epoch %d", ep + 1);
                goto out_all;
            }
            es.val_accuracy = classification ? acc : (double)NAN;
            if (!isfinite(es.val_loss)) {
                diverged = 1;
                snprintf(h->message, sizeof h->message, "non-finite val_loss at epoch %d", ep + 1);
            }
        }
        es.seconds = now_seconds() - t0;
        es.samples_per_sec = es.seconds > 0 ? n_train / es.seconds : 0;
        h->loss[ep] = es.loss;
        h->accuracy[ep] = es.accuracy;
        h->val_loss[ep] = es.val_loss;
        h->val_accuracy[ep] = es.val_accuracy;
        h->epoch_seconds[ep] = es.seconds;
        if (!diverged && opts && opts->on_checkpoint) {
            as_fit_state cs = {ep + 1, opt.t, shuf, perm, n_train, opt.m, opt.v, m->n_params};
            if (opts->on_checkpoint(opts->ud, &cs, h)) {
                st = as_error_set(err, AS_ERR_IO, "writing the checkpoint after epoch %d failed",
                                  ep + 1);
                goto out_all;
            }
        }
        int stop = opts && opts->on_epoch ? opts->on_epoch(opts->ud, &es) : 0;
        if (diverged) {
            h->status = AS_RUN_DIVERGED;
            break;
        }
        if (P > 1 && MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS) {
            st = as_error_set(err, AS_ERR_MPI, "stop-flag allreduce failed at epoch %d", ep + 1);
            goto out_all;
        }
        if (stop && ep + 1 < t->epochs) {
            h->status = AS_RUN_STOPPED;
            snprintf(h->message, sizeof h->message, "stopped after epoch %d", ep + 1);
            break;
        }
    }
    h->comm_wait_seconds = dp.wait_seconds;
    st = AS_OK;
out_all:
    if (P > 1) as_dp_free(&dp);
out_opt:
    as_optim_free(&opt);
out_batch:
    batch_free(&b);
out_perm:
    as_free(perm);
    if (st) as_history_free(h);
    return st;
}

as_status as_fit_prepare(as_model *m, const as_spec *spec, const as_dataset *d, int ranks,
                         uint64_t seed, const char *origin, as_error *err) {
    int max_batch = (spec->train.batch_size + ranks - 1) / ranks;
    const as_split *s = &d->train;
    as_status st = as_model_build(m, spec, s->t, s->c, max_batch, origin, err);
    if (st) return st;
    st = as_model_check_output(m, d->task == AS_TASK_CLASSIFICATION, s->yt, s->yc, d->n_classes,
                               origin, err);
    if (st) {
        as_model_free(m);
        return st;
    }
    as_model_init(m, seed);
    return AS_OK;
}
