/* fit.c: Keras-style fit and evaluate, single process or data parallel. */
#include "attnsweep/train.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "attnsweep/alloc.h"
#include "attnsweep/blas.h"
#include "attnsweep/layers.h"
#include "attnsweep/memory.h"
#include "attnsweep/optim.h"
#include "attnsweep/rng.h"
#include "train/dp.h"
#include "train/fit_split.h"

void as_history_free(as_history *h) {
    if (!h) return;
    as_free(h->loss);
    as_free(h->accuracy);
    as_free(h->val_loss);
    as_free(h->val_accuracy);
    as_free(h->epoch_seconds);
    as_free(h->learning_rate);
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

/* Per-process batch buffers (fit_split.h), allocated once per fit. */
static void batch_free(as_batch *b) {
    as_free(b->x);
    as_free(b->y);
    as_free(b->labels);
}

static as_status batch_alloc(as_batch *b, const as_split *s, int rows, as_error *err) {
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
static void gather(as_batch *b, const as_split *s, const int *idx, int row0, int n) {
    size_t xr = as_split_x_row(s), yr = as_split_y_row(s);
    for (int i = 0; i < n; i++) {
        size_t r = (size_t)(idx ? idx[i] : row0 + i);
        memcpy(b->x + (size_t)i * xr, s->x + r * xr, xr * sizeof(float));
        if (s->y) memcpy(b->y + (size_t)i * yr, s->y + r * yr, yr * sizeof(float));
        if (s->labels) b->labels[i] = s->labels[r];
    }
}

/* The model's statistics reduction (synchronised batch norm) over the fit's ranks. */
static int reduce_stats(void *ud, double *buf, int n) {
    return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, *(MPI_Comm *)ud) != MPI_SUCCESS;
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
static double evaluate(as_model *m, const as_split *s, const int *idx, int row0, int n, int batch,
                       MPI_Comm comm, as_batch *b, as_parts *rep, double *acc, int *mpi_failed) {
    int P = comm_size(comm), r = comm_rank(comm);
    int lo = (int)((long)n * r / P), hi = (int)((long)n * (r + 1) / P);
    if (batch > m->max_batch) batch = m->max_batch;
    double sums[2] = {0, 0};
    for (int start = lo; start < hi; start += batch) {
        int k = hi - start < batch ? hi - start : batch;
        gather(b, s, idx ? idx + start : NULL, row0 + start, k);
        if (rep && rep->n > 1) {
            as_parts_eval(rep, m, b, s, k, sums);
            continue;
        }
        const float *out = as_model_forward(m, b->x, k, 0);
        long correct = 0;
        sums[0] += as_batch_loss(m, out, b, k, 1.0f, 0, &correct);
        sums[1] += (double)correct;
    }
    *mpi_failed = P > 1 && MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, comm) !=
                               MPI_SUCCESS;
    if (acc) *acc = s->labels && n > 0 ? sums[1] / n : (double)NAN;
    return n > 0 ? sums[0] / n : (double)NAN;
}

static double evaluate_once(as_model *m, const as_split *s, const int *idx, int row0, int n,
                            int batch, MPI_Comm comm, double *acc) {
    as_batch b;
    int rows = batch < m->max_batch ? batch : m->max_batch;
    if (batch_alloc(&b, s, rows, NULL)) {
        if (acc) *acc = (double)NAN;
        return (double)NAN;
    }
    int failed;
    double l = evaluate(m, s, idx, row0, n, batch, comm, &b, NULL, acc, &failed);
    if (failed) l = (double)NAN;
    batch_free(&b);
    return l;
}

double as_evaluate(as_model *m, const as_dataset *d, const as_split *s, int row0, int n, int batch,
                   MPI_Comm comm, double *acc) {
    (void)d;
    return evaluate_once(m, s, NULL, row0, n, batch, comm, acc);
}

double as_evaluate_rows(as_model *m, const as_split *s, const int *idx, int n, int batch,
                        MPI_Comm comm, double *acc) {
    return evaluate_once(m, s, idx, 0, n, batch, comm, acc);
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
    h->test_loss = h->test_accuracy = (double)NAN;
    size_t n = (size_t)epochs;
    h->loss = as_calloc(n, sizeof(double));
    h->accuracy = as_calloc(n, sizeof(double));
    h->val_loss = as_calloc(n, sizeof(double));
    h->val_accuracy = as_calloc(n, sizeof(double));
    h->epoch_seconds = as_calloc(n, sizeof(double));
    h->learning_rate = as_calloc(n, sizeof(double));
    if (!h->loss || !h->accuracy || !h->val_loss || !h->val_accuracy || !h->epoch_seconds ||
        !h->learning_rate) {
        as_history_free(h);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the history");
    }
    return AS_OK;
}

/* One fit's working state. */
typedef struct {
    as_model *m;
    const as_dataset *d;
    const as_split *s;
    const as_train_spec *t;
    const as_fit_opts *o;
    MPI_Comm comm;
    int P, rank, classification;
    int *perm, *val, n_train, n_val; /* training order (row indices), validation rows */
    as_batch b;
    as_optim opt;
    as_dp dp;
    as_rng shuf;
    as_early_stopping_spec track; /* early stopping, or the keep-best tracker (no stop) */
    int can_stop, need_best, sync;
    float *best; /* the best epoch's weights when need_best: params, then buffers */
    as_cb_state cb;
    as_parts rep;
} fit_ctx;

/* A monitor the run cannot provide is a spec error naming the key. */
static as_status check_monitor(const fit_ctx *c, as_monitor mon, const char *key, as_error *err) {
    int val = mon == AS_MON_VAL_LOSS || mon == AS_MON_VAL_ACCURACY;
    int acc = mon == AS_MON_VAL_ACCURACY || mon == AS_MON_ACCURACY;
    if (val && c->n_val == 0)
        return as_error_set(err, AS_ERR_SPEC, "train.%s.monitor: %s needs a validation split "
                            "(train.validation_split or train.validation)", key, as_monitor_name(mon));
    if (acc && !c->classification)
        return as_error_set(err, AS_ERR_SPEC, "train.%s.monitor: %s needs a classification dataset",
                            key, as_monitor_name(mon));
    return AS_OK;
}

static as_status setup_callbacks(fit_ctx *c, as_error *err) {
    const as_train_spec *t = c->t;
    as_status st;
    if (t->early_stopping.enabled &&
        (st = check_monitor(c, t->early_stopping.monitor, "early_stopping", err)))
        return st;
    if (t->reduce_lr.enabled &&
        (st = check_monitor(c, t->reduce_lr.monitor, "reduce_lr_on_plateau", err)))
        return st;
    c->can_stop = t->early_stopping.enabled;
    if (c->can_stop) {
        c->track = t->early_stopping;
    } else { /* keep best: the best val_loss (loss without validation), never stopping */
        memset(&c->track, 0, sizeof c->track);
        c->track.monitor = c->n_val > 0 ? AS_MON_VAL_LOSS : AS_MON_LOSS;
        c->track.patience = INT_MAX;
    }
    memset(&c->cb, 0, sizeof c->cb);
    as_es_init(&c->cb.es, &c->track);
    as_rlr_init(&c->cb.rlr, &t->reduce_lr);
    c->cb.lr = t->optimizer.learning_rate;
    c->need_best = t->keep == AS_KEEP_BEST ||
                   (t->early_stopping.enabled && t->early_stopping.restore_best_weights);
    size_t nbest = c->m->n_params + c->m->n_buffers;
    if (c->need_best && !(c->best = as_malloc((nbest ? nbest : 1) * sizeof(float))))
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the best weights");
    return AS_OK;
}

/* Puts a saved fit state back: optimizer, shuffle stream and order, callbacks, curves. */
/* The saved order must be a permutation of this run's training rows (c->perm before
 * restoring): gather indexes the dataset with it. */
static as_status check_resume_rows(const fit_ctx *c, const as_fit_state *r, as_error *err) {
    int n = c->s->n;
    unsigned char *is_train = as_calloc((size_t)n, 1);
    if (!is_train) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->n_train; i++) is_train[c->perm[i]] = 1;
    as_status st = AS_OK;
    for (int i = 0; i < r->n_perm && !st; i++) {
        int v = r->perm[i];
        if (v < 0 || v >= n || is_train[v] != 1)
            st = as_error_set(err, AS_ERR_DATA, "checkpoint: perm[%d] = %d is not a training row "
                              "of this run (rows 0..%d; a tampered or corrupt checkpoint)", i, v,
                              n - 1);
        else
            is_train[v] = 2; /* seen */
    }
    as_free(is_train);
    return st;
}

static as_status restore(fit_ctx *c, as_history *h, as_error *err) {
    const as_fit_state *r = c->o->resume;
    const as_history *rh = c->o->resume_history;
    as_optim *opt = &c->opt;
    if (r->n_perm != c->n_train || r->n != opt->n || (opt->v != NULL) != (r->v != NULL))
        return as_error_set(err, AS_ERR_DATA, "checkpoint: %d training rows and %zu parameters, "
                            "but this run has %d and %zu", r->n_perm, r->n, c->n_train, opt->n);
    if (r->epoch > c->t->epochs || !rh || rh->epochs_run < r->epoch)
        return as_error_set(err, AS_ERR_DATA, "checkpoint: %d epochs done, the run asks for %d",
                            r->epoch, c->t->epochs);
    as_status st = check_resume_rows(c, r, err);
    if (st) return st;
    int uses_cb = c->need_best || c->t->early_stopping.enabled || c->t->reduce_lr.enabled;
    if (uses_cb && !r->has_cb)
        return as_error_set(err, AS_ERR_DATA, "checkpoint: no callback state (written by an older "
                            "attnsweep); remove it to start over");
    if ((opt->ema != NULL) != (r->ema != NULL) || (opt->ema_buf != NULL) != (r->ema_buf != NULL))
        return as_error_set(err, AS_ERR_DATA, "checkpoint: its weight averages (optimizer/ema, "
                            "optimizer/ema_buffers) do not match this run's train.optimizer.use_ema "
                            "and ema_buffers");
    if (r->has_cb && r->cb.has_best && (!c->need_best || !r->best))
        return as_error_set(err, AS_ERR_DATA, "checkpoint: holds best weights this run does not keep");
    opt->t = r->step;
    memcpy(opt->m, r->m, r->n * sizeof(float));
    if (r->v) memcpy(opt->v, r->v, r->n * sizeof(float));
    if (r->ema) memcpy(opt->ema, r->ema, r->n * sizeof(float));
    if (r->ema_buf) memcpy(opt->ema_buf, r->ema_buf, opt->nb * sizeof(float));
    c->shuf = r->shuffle;
    memcpy(c->perm, r->perm, (size_t)c->n_train * sizeof(int));
    if (r->has_cb) c->cb = r->cb;
    if (r->has_cb && r->cb.has_best)
        memcpy(c->best, r->best, (r->n + c->m->n_buffers) * sizeof(float));
    size_t k = (size_t)r->epoch * sizeof(double);
    memcpy(h->loss, rh->loss, k);
    memcpy(h->accuracy, rh->accuracy, k);
    memcpy(h->val_loss, rh->val_loss, k);
    memcpy(h->val_accuracy, rh->val_accuracy, k);
    memcpy(h->epoch_seconds, rh->epoch_seconds, k);
    if (rh->learning_rate) memcpy(h->learning_rate, rh->learning_rate, k);
    h->epochs_run = r->epoch;
    return AS_OK;
}

/* One epoch of training batches; sums[0] the loss sum, sums[1] the correct count. Sets
 * *diverged (with h->message) on a non-finite loss. */
static as_status train_epoch(fit_ctx *c, int ep, double *sums, int *diverged, as_history *h,
                             as_error *err) {
    const as_train_spec *t = c->t;
    as_model *m = c->m;
    int P = c->P, rank = c->rank;
    as_status st;
    for (int start = 0; start < c->n_train; start += t->batch_size) {
        int bsz = c->n_train - start < t->batch_size ? c->n_train - start : t->batch_size;
        int lo = (int)((long)bsz * rank / P), hi = (int)((long)bsz * (rank + 1) / P);
        int k = hi - lo;
        double local[2] = {0, 0};
        as_model_zero_grad(m);
        if (k > 0 && c->rep.n > 1) {
            gather(&c->b, c->s, c->perm + start + lo, 0, k);
            as_parts_train(&c->rep, m, &c->b, c->s, k, lo, bsz, (uint64_t)c->opt.t, local);
        } else if (k > 0) {
            gather(&c->b, c->s, c->perm + start + lo, 0, k);
            m->step = (uint64_t)c->opt.t; /* dropout masks: global step and global rows */
            m->row0 = lo;
            const float *out = as_model_forward(m, c->b.x, k, 1);
            long correct = 0;
            local[0] = as_batch_loss(m, out, &c->b, k, 1.0f / (float)bsz, 1, &correct);
            local[1] = (double)correct;
        } else if (c->sync) { /* batch statistics are global: take part with 0 rows */
            as_model_forward(m, c->b.x, 0, 1);
        }
        if (P > 1) {
            as_dp_begin(&c->dp);
            if ((k > 0 || c->sync) && c->rep.n == 1)
                as_model_backward(m, c->b.x, as_dp_layer_done, &c->dp);
            if ((st = as_dp_finish(&c->dp, err))) return st;
            if (m->reduce_failed) return as_error_set(err, AS_ERR_MPI, "batch statistics allreduce failed");
            if (MPI_Allreduce(MPI_IN_PLACE, local, 2, MPI_DOUBLE, MPI_SUM, c->comm) != MPI_SUCCESS)
                return as_error_set(err, AS_ERR_MPI, "loss allreduce failed");
        } else if (c->rep.n == 1) {
            as_model_backward(m, c->b.x, NULL, NULL);
        }
        if (!isfinite(local[0])) {
            *diverged = 1;
            snprintf(h->message, sizeof h->message,
                     "non-finite loss at epoch %d, batch starting at row %d", ep + 1, start);
            return AS_OK;
        }
        c->opt.spec.learning_rate =
            t->lr_schedule.type ? as_lr_schedule_at(&t->lr_schedule, t->optimizer.learning_rate, c->opt.t)
                                : c->cb.lr;
        as_optim_step(&c->opt, m->params, m->grads);
        as_optim_average_buffers(&c->opt, m->buffers);
        if (c->o && c->o->on_batch) c->o->on_batch(c->o->ud);
        sums[0] += local[0];
        sums[1] += local[1];
    }
    return AS_OK;
}

/* Early stopping / keep-best tracking and reduce-on-plateau after epoch ep; returns 1
 * when early stopping stops training. */
static int epoch_callbacks(fit_ctx *c, int ep, const as_epoch_stats *es) {
    const as_train_spec *t = c->t;
    double cur = as_monitor_value(c->track.monitor, es->loss, es->accuracy, es->val_loss,
                                  es->val_accuracy);
    int r = as_es_update(&c->cb.es, &c->track, ep, cur);
    if ((r & AS_ES_SNAPSHOT) && c->need_best) { /* the weights validation saw */
        memcpy(c->best, c->opt.ema ? c->opt.ema : c->m->params, c->m->n_params * sizeof(float));
        memcpy(c->best + c->m->n_params, c->opt.ema_buf ? c->opt.ema_buf : c->m->buffers,
               c->m->n_buffers * sizeof(float));
        c->cb.has_best = 1;
    }
    if (t->reduce_lr.enabled) {
        double v = as_monitor_value(t->reduce_lr.monitor, es->loss, es->accuracy, es->val_loss,
                                    es->val_accuracy);
        c->cb.lr = as_rlr_update(&c->cb.rlr, &t->reduce_lr, v, c->cb.lr);
    }
    return c->can_stop && (r & AS_ES_STOP);
}

static void swap_floats(float *a, float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = a[i];
        a[i] = b[i];
        b[i] = x;
    }
}

/* use_ema: exchanges the model's weights (and, with ema_buffers, its buffers) with the
 * optimizer's averages; twice puts them back. */
static void swap_ema(fit_ctx *c) {
    if (c->opt.ema) swap_floats(c->m->params, c->opt.ema, c->m->n_params);
    if (c->opt.ema_buf) swap_floats(c->m->buffers, c->opt.ema_buf, c->m->n_buffers);
}

/* The epoch's validation; *diverged on a non-finite val_loss. */
static as_status validate(fit_ctx *c, int ep, as_epoch_stats *es, int *diverged, as_history *h,
                          as_error *err) {
    es->val_loss = es->val_accuracy = (double)NAN;
    if (c->n_val == 0 || *diverged) return AS_OK;
    double acc;
    int failed;
    swap_ema(c); /* use_ema: validation judges the averaged weights, the ones that are kept */
    es->val_loss = evaluate(c->m, c->s, c->val, 0, c->n_val, c->t->batch_size, c->comm, &c->b,
                            &c->rep, &acc, &failed);
    swap_ema(c);
    if (failed) return as_error_set(err, AS_ERR_MPI, "validation allreduce failed at epoch %d", ep + 1);
    es->val_accuracy = c->classification ? acc : (double)NAN;
    if (!isfinite(es->val_loss)) {
        *diverged = 1;
        snprintf(h->message, sizeof h->message, "non-finite val_loss at epoch %d", ep + 1);
    }
    return AS_OK;
}

/* Runs epoch ep; *stop = 1 (early stopping), 2 (on_epoch asked), 3 (diverged). */
static as_status run_epoch(fit_ctx *c, int ep, as_history *h, int *stop, as_error *err) {
    const as_train_spec *t = c->t;
    double t0 = now_seconds();
    if (c->o && c->o->lr_replay) c->cb.lr = (float)c->o->lr_replay[ep];
    h->learning_rate[ep] = (double)(t->lr_schedule.type ? as_lr_schedule_at(&t->lr_schedule,
                                                             t->optimizer.learning_rate, c->opt.t)
                                                       : c->cb.lr);
    if (t->shuffle) as_rng_shuffle_int(&c->shuf, c->perm, (size_t)c->n_train);
    double sums[2] = {0, 0};
    int diverged = 0;
    as_status st = train_epoch(c, ep, sums, &diverged, h, err);
    if (st) return st;
    h->epochs_run = ep + 1;
    as_epoch_stats es;
    es.epoch = ep + 1;
    es.epochs = t->epochs;
    es.loss = diverged ? (double)NAN : sums[0] / c->n_train;
    es.accuracy = c->classification ? sums[1] / c->n_train : (double)NAN;
    if ((st = validate(c, ep, &es, &diverged, h, err))) return st;
    es.seconds = now_seconds() - t0;
    es.samples_per_sec = es.seconds > 0 ? c->n_train / es.seconds : 0;
    h->loss[ep] = es.loss;
    h->accuracy[ep] = es.accuracy;
    h->val_loss[ep] = es.val_loss;
    h->val_accuracy[ep] = es.val_accuracy;
    h->epoch_seconds[ep] = es.seconds;
    int early = diverged ? 0 : epoch_callbacks(c, ep, &es);
    const as_fit_opts *o = c->o;
    if (!diverged && o && o->on_checkpoint) {
        as_fit_state cs = {ep + 1, c->opt.t, c->shuf, c->perm, c->n_train, c->opt.m, c->opt.v,
                           c->m->n_params, c->cb, 1, c->cb.has_best ? c->best : NULL,
                           c->opt.ema, c->opt.ema_buf};
        if (o->on_checkpoint(o->ud, &cs, h))
            return as_error_set(err, AS_ERR_STORE, "writing the checkpoint after epoch %d failed", ep + 1);
    }
    int asked = o && o->on_epoch ? o->on_epoch(o->ud, &es) : 0;
    if (diverged) {
        *stop = 3;
        return AS_OK;
    }
    if (c->P > 1 && MPI_Allreduce(MPI_IN_PLACE, &asked, 1, MPI_INT, MPI_MAX, c->comm) != MPI_SUCCESS)
        return as_error_set(err, AS_ERR_MPI, "stop-flag allreduce failed at epoch %d", ep + 1);
    *stop = early ? 1 : (asked && ep + 1 < t->epochs) ? 2 : 0;
    return AS_OK;
}

/* After the last epoch: the kept weights, the best epoch, the test split. */
static as_status finish(fit_ctx *c, as_history *h, as_error *err) {
    h->threads = c->rep.blas_was > 0 ? c->rep.blas_was : as_blas_threads(); /* before a split */
    h->best_epoch = c->cb.es.best_epoch + 1;
    h->monitor = c->track.monitor;
    h->kept_epoch = h->epochs_run;
    if (c->cb.es.stopped_epoch >= 0 && c->can_stop) h->stopped_epoch = c->cb.es.stopped_epoch + 1;
    if (h->status != AS_RUN_OK) return AS_OK;
    if (h->stopped_epoch)
        snprintf(h->message, sizeof h->message, "early stopping at epoch %d (best epoch %d)",
                 h->stopped_epoch, h->best_epoch);
    if (c->need_best && c->cb.has_best) {
        memcpy(c->m->params, c->best, c->m->n_params * sizeof(float));
        memcpy(c->m->buffers, c->best + c->m->n_params, c->m->n_buffers * sizeof(float));
        h->kept_best = 1;
        h->kept_epoch = h->best_epoch;
    } else if (c->opt.ema) { /* Keras's finalize_variable_values */
        memcpy(c->m->params, c->opt.ema, c->m->n_params * sizeof(float));
        if (c->opt.ema_buf) memcpy(c->m->buffers, c->opt.ema_buf, c->m->n_buffers * sizeof(float));
    }
    const as_dataset *d = c->d;
    if (!d->has_test || d->test.n < 1) return AS_OK;
    double acc;
    int failed;
    h->has_test = 1;
    h->test_loss = evaluate(c->m, &d->test, NULL, 0, d->test.n, c->t->batch_size, c->comm, &c->b,
                            &c->rep,
                            &acc, &failed);
    h->test_accuracy = c->classification ? acc : (double)NAN;
    if (failed) return as_error_set(err, AS_ERR_MPI, "test allreduce failed");
    return AS_OK;
}

static void fit_free(fit_ctx *c) {
    c->m->reduce = NULL;
    c->m->reduce_ud = NULL;
    if (c->P > 1) as_dp_free(&c->dp);
    as_parts_free(&c->rep);
    as_optim_free(&c->opt);
    batch_free(&c->b);
    as_free(c->perm);
    as_free(c->val);
    as_free(c->best);
}

/* The spec key that set the validation fraction, for messages. */
static const char *split_key(const as_train_spec *t) {
    return t->validation_object ? "train.validation.split" : "train.validation_split";
}

static as_status fit_init(fit_ctx *c, as_history *h, as_error *err) {
    const as_train_spec *t = c->t;
    int n = c->s->n;
    c->perm = as_malloc((size_t)n * sizeof(int));
    c->val = as_malloc((size_t)n * sizeof(int));
    if (!c->perm || !c->val) return as_error_set(err, AS_ERR_NOMEM, "out of memory for the row order");
    as_status st = as_fit_split(c->d, t, c->perm, c->val, &c->n_train, &c->n_val, err);
    if (st) return st;
    if (c->n_train < 1 || (t->validation_split > 0 && c->n_val < 1))
        return as_error_set(err, AS_ERR_SPEC,
                            "%s: %g of %d rows leaves %d for training and %d for validation "
                            "(both need at least 1)", split_key(t), t->validation_split, n,
                            c->n_train, c->n_val);
    int shard_max = as_fit_max_batch(t->batch_size, c->n_train, c->P); /* rows that exist */
    if (shard_max > c->m->max_batch)
        return as_error_set(err, AS_ERR_INTERNAL, "model built for batch %d but needs %d",
                            c->m->max_batch, shard_max);
    if ((st = setup_callbacks(c, err))) return st;
    if ((st = history_alloc(h, t->epochs, c->classification, err))) return st;
    h->n_train = c->n_train;
    h->n_val = c->n_val;
    if ((st = batch_alloc(&c->b, c->s, c->m->max_batch, err))) return st;
    if ((st = as_optim_init(&c->opt, &t->optimizer, c->m->n_params, err))) return st;
    if ((st = as_optim_track_buffers(&c->opt, c->m->n_buffers, err))) return st;
    if (c->P > 1 && (st = as_dp_init(&c->dp, c->comm, c->m, c->o->bucket_kb, c->o->overlap, err)))
        return st;
    if (c->P > 1) { /* batch normalization: statistics over the global batch */
        c->m->reduce = reduce_stats;
        c->m->reduce_ud = &c->comm;
        c->m->reduce_failed = 0;
        c->sync = as_model_collective(c->m);
    }
    as_rng_seed(&c->shuf, as_rng_derive(t->seed, AS_STREAM_SHUFFLE));
    return as_parts_init(&c->rep, c->m, t->batch_split, err);
}

as_status as_fit(as_model *m, const as_dataset *d, const as_train_spec *t,
                 const as_fit_opts *opts, as_history *h, as_error *err) {
    fit_ctx c;
    memset(&c, 0, sizeof c);
    memset(h, 0, sizeof *h);
    c.rep.n = 1;
    c.m = m;
    c.d = d;
    c.s = &d->train;
    c.t = t;
    c.o = opts;
    c.comm = opts ? opts->comm : MPI_COMM_NULL;
    c.P = comm_size(c.comm);
    c.rank = comm_rank(c.comm);
    c.classification = d->task == AS_TASK_CLASSIFICATION;
    as_status st = fit_init(&c, h, err);
    int ep0 = 0;
    if (!st && opts && opts->resume && !(st = restore(&c, h, err))) ep0 = opts->resume->epoch;
    if (!st && c.can_stop && c.cb.es.stopped_epoch >= 0) ep0 = t->epochs; /* stopped before */
    for (int ep = ep0; !st && ep < t->epochs; ep++) {
        int stop = 0;
        if ((st = run_epoch(&c, ep, h, &stop, err))) break;
        if (stop == 3) h->status = AS_RUN_DIVERGED;
        if (stop == 2) {
            h->status = AS_RUN_STOPPED;
            snprintf(h->message, sizeof h->message, "stopped after epoch %d", ep + 1);
        }
        if (stop) break;
    }
    if (!st) st = finish(&c, h, err);
    h->comm_wait_seconds = c.dp.wait_seconds;
    fit_free(&c);
    if (st) as_history_free(h);
    return st;
}

as_status as_fit_refit(as_model *m, const as_dataset *d, const as_train_spec *t,
                       as_history *sel, int start_loaded, const as_fit_opts *opts,
                       as_history *out, as_error *err) {
    memset(out, 0, sizeof *out);
    if (sel->kept_epoch < 1 || sel->kept_epoch > sel->epochs_run)
        return as_error_set(err, AS_ERR_ARG, "train.refit: no kept epoch to refit for");
    as_train_spec r = *t;
    r.epochs = sel->kept_epoch;
    r.validation_split = 0;
    r.validation_mode = AS_VAL_LAST;
    r.early_stopping.enabled = 0;
    r.reduce_lr.enabled = 0;
    r.keep = t->refit_keep == AS_KEEP_BEST ? AS_KEEP_BEST : AS_KEEP_LAST;
    r.refit = 0;
    as_fit_opts o;
    memset(&o, 0, sizeof o);
    o.comm = opts ? opts->comm : MPI_COMM_NULL;
    if (opts) {
        o.overlap = opts->overlap;
        o.bucket_kb = opts->bucket_kb;
        o.on_batch = opts->on_batch;
        o.on_epoch = opts->on_epoch;
        o.ud = opts->ud;
    }
    if (t->reduce_lr.enabled && !t->lr_schedule.type) o.lr_replay = sel->learning_rate;
    if (!start_loaded) as_model_init(m, t->seed);
    as_status st = as_fit(m, d, &r, &o, out, err);
    if (!st && out->status == AS_RUN_OK) {
        sel->refit_epochs = out->epochs_run;
        sel->refit_kept_epoch = out->kept_epoch;
        sel->test_loss = out->test_loss;
        sel->test_accuracy = out->test_accuracy;
    }
    return st;
}

/* The largest shard any rank forwards: a global batch never holds more rows than exist. */
int as_fit_max_batch(int batch_size, int n_rows, int ranks) {
    int rows = batch_size < n_rows ? batch_size : n_rows;
    if (rows < 1) rows = 1;
    return (rows + ranks - 1) / ranks;
}

size_t as_fit_bytes(const as_model *m, const as_spec *spec, const as_split *s) {
    size_t moments = (spec->train.optimizer.type == AS_OPT_ADAM ? 2 : 1) +
                     (spec->train.optimizer.use_ema ? 1 : 0); /* and the weight average */
    size_t row = as_mem_add(as_mem_add(as_split_x_row(s), as_split_y_row(s)), 1);
    size_t n = as_mem_add(as_mem_mul(m->n_params, moments), as_mem_mul(row, (size_t)m->max_batch));
    if (spec->train.optimizer.use_ema && spec->train.optimizer.ema_buffers)
        n = as_mem_add(n, m->n_buffers);
    size_t total = as_mem_add(as_model_bytes(m), as_mem_add(as_mem_mul(n, sizeof(float)),
                                                            as_mem_mul((size_t)s->n, sizeof(int))));
    /* train.batch_split: parts - 1 workspaces of ceil(max_batch / parts) rows */
    const int B = m->max_batch, parts = spec->train.batch_split < B ? spec->train.batch_split : B;
    if (parts > 1)
        total = as_mem_add(total, as_mem_mul((size_t)(parts - 1),
                                             as_model_workspace_bytes(m, (B + parts - 1) / parts)));
    return total;
}

as_status as_fit_prepare(as_model *m, const as_spec *spec, const as_dataset *d, int ranks,
                         uint64_t seed, const char *origin, as_error *err) {
    const as_split *s = &d->train;
    int n_train, n_val;
    as_fit_split_rows(s->n, spec->train.validation_split, &n_train, &n_val);
    if (n_train < 1 || (spec->train.validation_split > 0 && n_val < 1))
        return as_error_set(err, AS_ERR_SPEC,
                            "%s: %s: %g of %d rows leaves %d for training and "
                            "%d for validation (both need at least 1)", origin,
                            split_key(&spec->train),
                            spec->train.validation_split, s->n, n_train, n_val);
    int max_batch = as_fit_max_batch(spec->train.batch_size, s->n, ranks);
    as_spec resolved = *spec; /* "n_classes" / "n_outputs" from the dataset */
    resolved.layers = as_malloc((size_t)(spec->n_layers > 0 ? spec->n_layers : 1) *
                                sizeof *resolved.layers);
    if (!resolved.layers) return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", origin);
    memcpy(resolved.layers, spec->layers, (size_t)spec->n_layers * sizeof *resolved.layers);
    as_status st = as_spec_resolve(&resolved, d->task == AS_TASK_CLASSIFICATION, d->n_classes,
                                   s->yc, origin, err);
    if (!st) st = as_model_plan(m, &resolved, s->t, s->c, max_batch, origin, err);
    as_free(resolved.layers);
    if (st) return st;
    st = as_model_check_output(m, d->task == AS_TASK_CLASSIFICATION, s->yt, s->yc, d->n_classes,
                               origin, err);
    char what[300];
    snprintf(what, sizeof what, "%s: training (model, optimizer and batch %d)", origin, max_batch);
    if (!st) st = as_mem_check(as_fit_bytes(m, spec, s), what, AS_ERR_SPEC, err);
    if (st) {
        as_model_free(m);
        return st;
    }
    if ((st = as_model_alloc(m, origin, err))) return st;
    as_model_init(m, seed);
    return AS_OK;
}
