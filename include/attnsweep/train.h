/* train.h: Keras-style fit over a dataset, on one process or data-parallel over an MPI
 * communicator.
 *
 * As Keras fit: validation = the LAST floor(n * (1 - validation_split)).. rows of the
 * training split, taken before any shuffling; training rows reshuffled each epoch with
 * the seed's shuffle stream unless shuffle is false; the last partial batch kept; the
 * epoch's loss is the sample-weighted mean over its batches; val_loss / val_accuracy
 * after the epoch. A non-finite loss stops with status "diverged".
 *
 * Data parallel: with a communicator of P > 1 ranks every rank holds the same model
 * and shuffle order; each global batch is split into P contiguous shards, gradients are
 * summed with MPI allreduce over the one gradient buffer (in buckets, overlapped with
 * backward when opts->overlap), and every rank applies the same update.
 */
#ifndef ATTNSWEEP_TRAIN_H
#define ATTNSWEEP_TRAIN_H

#include <hdf5.h>
#include <mpi.h>

#include "attnsweep/callbacks.h"
#include "attnsweep/dataset.h"
#include "attnsweep/model.h"
#include "attnsweep/spec.h"
#include "attnsweep/status.h"

typedef struct {
    int epoch;        /* 1-based */
    int epochs;
    double loss;
    double accuracy;     /* classification, else NaN */
    double val_loss;     /* NaN when there is no validation split */
    double val_accuracy; /* classification with validation, else NaN */
    double seconds;
    double samples_per_sec;
} as_epoch_stats;

/* Per-epoch callback; a non-zero return stops training after this epoch (status
 * "stopped"). */
typedef int (*as_epoch_fn)(void *ud, const as_epoch_stats *st);

/* The callbacks' state between epochs: early stopping (or, without it, the keep-best
 * tracker: the same rule on the default monitor with no stop), reduce-on-plateau and
 * the current learning rate. */
typedef struct {
    as_es_state es;
    as_rlr_state rlr;
    float lr;     /* the rate reduce_lr_on_plateau set (the optimizer's without it) */
    int has_best; /* the best epoch's weights are held (as_fit_state.best) */
} as_cb_state;

#define AS_CB_PACKED 11
/* The state as AS_CB_PACKED doubles (checkpoints), and back. */
void as_cb_pack(const as_cb_state *s, double *out);
void as_cb_unpack(as_cb_state *s, const double *in);

/* Everything a fit needs to continue exactly where it stopped: completed epochs, the
 * optimizer's step count and moments, the shuffle stream and the current training order
 * (dropout masks derive from the step count). Parameters travel separately (weights). */
typedef struct {
    int epoch;       /* epochs completed */
    long step;       /* optimizer steps taken */
    as_rng shuffle;  /* the shuffle stream after `epoch` epochs */
    int *perm;       /* the training order after `epoch` epochs, n_perm entries */
    int n_perm;
    float *m, *v;    /* optimizer moments (v NULL for SGD), n floats each */
    size_t n;
    as_cb_state cb;  /* callbacks (valid when has_cb; older checkpoints have none) */
    int has_cb;
    float *best;     /* the best epoch's weights when cb.has_best, else NULL: n floats, then
                        the model's n_buffers non-trainable buffers (moving statistics) */
    float *ema;      /* the optimizer's weight average (use_ema), n floats, else NULL */
    float *ema_buf;  /* the buffers' average (ema_buffers), the model's n_buffers floats */
} as_fit_state;

struct as_history;

typedef struct {
    MPI_Comm comm;       /* MPI_COMM_NULL or a 1-rank communicator: single process */
    int overlap;         /* data parallel: overlap bucketed allreduce with backward */
    int bucket_kb;       /* bucket size in KiB (default 1024 when 0) */
    as_epoch_fn on_epoch;
    void *ud;
    /* Called after every training batch with ud (may be NULL): a cheap hook for work
     * that must stay responsive during training, e.g. the sweep's coordinator on rank 0
     * answering other ranks. It must not touch the model. */
    void (*on_batch)(void *ud);
    /* Resume: the state of an earlier fit of the same model, data and spec (its
     * parameters already loaded into the model) and that fit's curves (epochs_run >=
     * state epoch). NULL: start from epoch 0. */
    const as_fit_state *resume;
    const struct as_history *resume_history;
    /* Called after every completed epoch, before on_epoch's stop decision, with the
     * state to save and the curves so far; non-zero stops training with AS_ERR_IO. */
    int (*on_checkpoint)(void *ud, const as_fit_state *st, const struct as_history *h);
    /* Non-NULL: epoch e trains at learning rate lr_replay[e] instead of the optimizer's
     * rate or reduce_lr_on_plateau's (as_fit_refit; not used with an lr_schedule). */
    const double *lr_replay;
} as_fit_opts;

typedef enum { AS_RUN_OK = 0, AS_RUN_DIVERGED, AS_RUN_STOPPED } as_run_status;

/* Per-epoch curves, epochs_run entries each (allocated for `epochs`), and what the run
 * ended with. */
typedef struct as_history {
    int epochs_run;
    int classification;
    double *loss, *accuracy, *val_loss, *val_accuracy, *epoch_seconds;
    double *learning_rate; /* the rate of each epoch's first optimizer step */
    as_monitor monitor;    /* what chose the best epoch */
    int best_epoch;        /* 1-based best epoch by the monitor; 0 when none */
    int stopped_epoch;     /* 1-based epoch early stopping stopped at; 0 when it did not */
    int kept_best;         /* the weights fit returned are the best epoch's (else the last) */
    int kept_epoch;        /* 1-based epoch of the weights fit returned */
    int has_test;          /* the dataset has /test: test_loss, test_accuracy are set */
    double test_loss, test_accuracy; /* of the kept weights; NaN when none / regression */
    int n_train, n_val;    /* rows used for training / validation */
    as_run_status status;
    char message[256]; /* why it diverged / stopped */
    double comm_wait_seconds; /* data parallel: time blocked on allreduce */
    int threads;           /* BLAS/kernel threads per rank the run used (as_blas_threads) */
    int refit_epochs;      /* train.refit: the epochs of the refit whose test metrics these
                              are (set by as_fit_refit); 0: no refit */
    int refit_kept_epoch;  /* and the refit's epoch whose weights were kept (refit_keep) */
} as_history;

void as_history_free(as_history *h);

/* Rows of the training split used for training / validation (Keras's split). */
void as_fit_split_rows(int n, double validation_split, int *n_train, int *n_val);

/* The training and validation rows of d's training split under t's validation split:
 * mode last (Keras: the last rows), shuffled (a random subset drawn with
 * as_rng_derive(validation_seed, AS_STREAM_VALIDATION)) or stratified (classification:
 * each class's share of the validation rows is its share of the rows, the remainder
 * going to the largest fractional shares, lower class first on ties; rows drawn from
 * each class's rows shuffled with the same stream, classes in order). The counts are
 * as_fit_split_rows's. train_rows and val_rows (d->train.n entries each) receive the
 * row indices, each ascending. AS_ERR_SPEC naming train.validation for stratified
 * regression. */
#define AS_STREAM_VALIDATION 16
as_status as_fit_split(const as_dataset *d, const as_train_spec *t, int *train_rows,
                       int *val_rows, int *n_train, int *n_val, as_error *err);

/* Trains m (already built and initialised) on d with t. A diverged run is AS_OK with
 * h->status AS_RUN_DIVERGED; one stopped by early stopping is AS_RUN_OK with
 * h->stopped_epoch set. At the end m holds the kept weights: the best epoch's when
 * t->keep is AS_KEEP_BEST or early_stopping.restore_best_weights is set (Keras), else
 * the last epoch's; when d has a test split they are evaluated on it (h->test_*).
 * Errors: AS_ERR_SPEC (a monitor the run does not have, stratified regression),
 * AS_ERR_NOMEM, AS_ERR_MPI. */
as_status as_fit(as_model *m, const as_dataset *d, const as_train_spec *t,
                 const as_fit_opts *opts, as_history *h, as_error *err);

/* train.refit (Keras Tuner's and scikit-learn's refit): m starts again from the selection
 * run's start weights — re-initialised with t->seed, or, when start_loaded is non-zero,
 * as the caller has just loaded them (train --init-weights) — and is trained on every row
 * of d's training split (no validation split, no early stopping) for sel->kept_epoch
 * epochs (the epoch count the validation chose), epoch e at sel->learning_rate[e] when t
 * uses reduce_lr_on_plateau (an lr_schedule runs again by step), keeping the last
 * epoch's weights, or with t->refit_keep best the epoch's of lowest training loss; then
 * tested like any fit (out->test_*), and, unless the refit diverged or was stopped,
 * sel->test_*, sel->refit_epochs and sel->refit_kept_epoch become the refit's (so sel
 * describes the model m now holds). Only opts' comm, overlap, bucket_kb, on_batch,
 * on_epoch (which may stop the refit: out->status AS_RUN_STOPPED) and ud are used (no
 * checkpoints). Collective over opts->comm. Errors as as_fit's; AS_ERR_ARG when sel kept
 * no epoch. */
as_status as_fit_refit(as_model *m, const as_dataset *d, const as_train_spec *t,
                       struct as_history *sel, int start_loaded, const as_fit_opts *opts,
                       struct as_history *out, as_error *err);

/* Checks that every rank of comm holds the same parameters: a 64-bit hash of m's
 * parameter bytes, its minimum and maximum reduced over comm (collective: every rank
 * must call it). *checksum (may be NULL) receives this rank's hash. Returns
 * AS_ERR_INTERNAL naming both checksums when the ranks differ, AS_ERR_MPI when the
 * reduction fails. With MPI_COMM_NULL it only hashes. */
as_status as_fit_check_same_weights(const as_model *m, MPI_Comm comm, uint64_t *checksum,
                                    as_error *err);

/* Loss (and accuracy when classifying) of m on rows [0, n) of split s, in batches of
 * batch (<= m->max_batch). Returns the mean loss; *acc receives accuracy or NaN. With a
 * multi-rank comm, rows are sharded and the sums reduced. */
double as_evaluate(as_model *m, const as_dataset *d, const as_split *s, int row0, int n,
                   int batch, MPI_Comm comm, double *acc);
/* The same over rows idx[0..n) of s. */
double as_evaluate_rows(as_model *m, const as_split *s, const int *idx, int n, int batch,
                        MPI_Comm comm, double *acc);

/* Builds m for spec on d's training split, for batches split over `ranks` data-parallel
 * ranks (max batch as_fit_max_batch: ceil(min(batch_size, rows) / ranks)), checks the
 * validation split and the output against d's targets BEFORE allocating, checks the
 * training memory (as_fit_bytes) against the budget (memory.h), then allocates and
 * initialises with seed. Errors name origin and the key or layer (AS_ERR_SPEC: also
 * "ORIGIN: training (...) needs X GiB, Y GiB available"), or AS_ERR_NOMEM. On error m
 * is empty. */
as_status as_fit_prepare(as_model *m, const as_spec *spec, const as_dataset *d, int ranks,
                         uint64_t seed, const char *origin, as_error *err);
/* The largest per-rank batch: ceil(min(batch_size, n_rows) / ranks) (at least 1). */
int as_fit_max_batch(int batch_size, int n_rows, int ranks);
/* Bytes training m needs on split s: the model's buffers (as_model_bytes), optimizer
 * moments (2 for Adam, 1 for SGD), batch buffers for m->max_batch rows, the shuffle
 * order. SIZE_MAX when it overflows. m may be a plan (as_model_plan). */
size_t as_fit_bytes(const as_model *m, const as_spec *spec, const as_split *s);

/* Writes the curves as float64 datasets loss, val_loss, accuracy and val_accuracy
 * (classification only), epoch_seconds, learning_rate [epochs_run] under loc, plus
 * attributes status ("ok" | "diverged" | "stopped"), message, monitor, best_epoch,
 * stopped_epoch, kept ("best" | "last"), kept_epoch, n_train, n_val and, with a test
 * split, test_loss and test_accuracy (classification). */
as_status as_history_write(hid_t loc, const as_history *h, as_error *err);

#endif
