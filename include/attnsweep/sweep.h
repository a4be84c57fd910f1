/* sweep.h: training the variants of an expanded sweep (grid.h) across MPI ranks and
 * aggregating their results into one HDF5 file (layout in README.md, "Sweep results").
 *
 * One run of a (variant, repeat) produces an as_result: scalar outcomes plus named
 * arrays (curves, attention dumps, predictions, weights). Results travel from the rank
 * that trained them to rank 0 as one packed byte message; rank 0 is the only writer.
 *
 * Durability: the results store (store.h): each finished run is written once to its own
 * journal file (atomic, durable) and its row into a slot of RESULTS.h5, which opens at
 * every instant; as_store_pack makes RESULTS.h5 self-contained.
 */
#ifndef ATTNSWEEP_SWEEP_H
#define ATTNSWEEP_SWEEP_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "attnsweep/dataset.h"
#include "attnsweep/grid.h"
#include "attnsweep/model.h"
#include "attnsweep/runkey.h"
#include "attnsweep/store.h"
#include "attnsweep/status.h"

/* stopped: a search policy ended the run at a rung before max_epochs (it is finished:
 * not retried by --resume). */
typedef enum { AS_VAR_OK = 0, AS_VAR_DIVERGED, AS_VAR_FAILED, AS_VAR_STOPPED } as_var_status;
const char *as_var_status_name(as_var_status s);

typedef enum { AS_ARR_F32 = 0, AS_ARR_I32, AS_ARR_F64 } as_arr_type;

#define AS_ARRAY_NAME_MAX 64
#define AS_RESULT_MAX_ARRAYS 64

/* A named array, written as a dataset under /variants/<key>/<name>. */
typedef struct {
    char name[AS_ARRAY_NAME_MAX];
    as_arr_type type;
    int rank;
    hsize_t dims[4];
    void *data; /* owned (as_malloc) */
} as_array;

/* Writes a as dataset a->name under loc (little-endian, its type), chunked with shuffle
 * and deflate when compress and it holds 16 KiB or more (as_h5_write). AS_ERR_IO. */
as_status as_array_write(hid_t loc, const as_array *a, int compress, as_error *err);

typedef struct {
    int id, repeat;
    as_var_status status;
    int epochs_run, best_epoch, rank;
    int in_t, in_c; /* the model's input shape (to lay out saved weights) */
    int64_t params;
    uint64_t seed;
    double best_val_loss, final_val_loss, best_val_accuracy, train_seconds;
    double task_seconds; /* wall time of the task that produced it (scheduler; busy figures) */
    int stopped_epoch;   /* 1-based epoch early stopping stopped at; 0 when it did not */
    int kept_epoch;      /* 1-based epoch of the kept weights (dumps, weights, test) */
    int kept_best;       /* 1: the best epoch's weights were kept, 0: the last epoch's */
    /* val_loss / val_accuracy at kept_epoch: the kept model's validation figures, which rank
     * runs (best_val_* are the curves' best over every epoch); NaN without them. With
     * train.refit, the selection run's at its kept epoch. */
    double kept_val_loss, kept_val_accuracy;
    int has_test;        /* the dataset has /test */
    int threads;         /* BLAS/kernel threads per rank it trained with */
    int refit_epochs;    /* train.refit: epochs of the refit on every training row; 0: none */
    int refit_kept_epoch; /* the refit's epoch whose weights were kept (train.refit_keep) */
    double test_loss, test_accuracy; /* of the kept weights; NaN when none */
    char validation[128]; /* the split, JSON: {"split":0.2,"mode":"stratified","seed":0,...} */
    char error[512];
    char pred_split[16]; /* "test", "validation" or "train": where dumps come from */
    char key[AS_RUN_KEY_HEX]; /* the run key (runkey.h), set by the scheduler */
    int journaled;       /* its leader wrote its journal file (--journal shared): no arrays */
    int n_arrays;
    as_array arrays[AS_RESULT_MAX_ARRAYS];
} as_result;

void as_result_free(as_result *r);
/* Adds a copy of n values (shape dims[0..rank)) as array `name`. AS_ERR_NOMEM. */
as_status as_result_add(as_result *r, const char *name, as_arr_type type, int rank,
                        const hsize_t *dims, const void *data, as_error *err);
/* Packs r into one as_malloc'd buffer / unpacks it (the buffer is not kept). */
as_status as_result_pack(const as_result *r, char **buf, size_t *n, as_error *err);
as_status as_result_unpack(const char *buf, size_t n, as_result *r, as_error *err);

/* Options of a run. */
typedef struct {
    int verbose;    /* per-epoch lines */
    int world_rank; /* recorded in the result */
    void (*on_batch)(void *ud); /* passed to as_fit (may be NULL) */
    void *batch_ud;
    /* Rungs (search policies; all 0/NULL: train the spec's epochs from scratch): */
    int budget;           /* > 0: train up to this epoch instead of train.epochs */
    int from;             /* > 0: continue the checkpoint resume_path left at this epoch */
    const char *resume_path;
    const char *save_path; /* non-NULL: the group leader saves the state after `budget` */
    int metrics_only;     /* 1: no dumps nor weights (a rung that is not the run's last) */
} as_run_opts;

/* Forward passes (inference) over rows[0..max(n_att, n_pred)) of s in chunks of
 * m->max_batch, adding to out the arrays "attention/layer_<i>" [n_att, H, T, T] and
 * "attention/layer_<i>_mean" [n_att, H, T] of every attention layer, "predictions"
 * ([n_pred, K] softmax probabilities when classifying, else [n_pred, T', C']),
 * "pred_inputs" and "pred_targets". Shared by the sweep's dumps and `attnsweep predict`.
 * AS_ERR_NOMEM. */
as_status as_dumps_collect(as_model *m, const as_split *s, const int *rows, int n_att, int n_pred,
                           int classification, as_result *out, as_error *err);

/* A variant's config key: its canonical config without the "data" key (as_malloc'd; NULL
 * when out of memory). Seeds derive from it (as_variant_seed(sweep seed, key, repeat)), so
 * where the dataset lives does not change them; the run key (runkey.h) hashes it with the
 * repeat, the seed and the dataset's content hash. */
char *as_sweep_run_key(const as_sweep *s, int v);

/* Trains variant v (repeat r) of s on d over comm (data parallel when comm has several
 * ranks; MPI_COMM_NULL for one process) and fills *out on every rank (only the group
 * leader's dumps matter). Build failures and divergence are recorded in *out with
 * status failed / diverged and return AS_OK; AS_ERR_NOMEM or AS_ERR_MPI otherwise. */
as_status as_sweep_run_variant(const as_sweep *s, int v, int r, const as_dataset *d,
                               MPI_Comm comm, const as_run_opts *o, as_result *out,
                               as_error *err);

/* The value of metric m (grid.h) after `epoch` epochs in r's curves; NaN when r has no
 * such curve or epoch, or r diverged or failed. */
double as_result_metric_at(const as_result *r, as_metric m, int epoch);
/* Sets r->kept_val_loss and kept_val_accuracy from r's curves at r->kept_epoch. */
void as_result_set_kept(as_result *r);

/* Checks a rung policy's search.metric against the dataset: AS_ERR_SPEC naming the key
 * when the task has not got it (accuracy on regression; a validation metric and a variant
 * without validation rows). AS_OK for grid and random search. */
as_status as_sweep_check_search(const as_sweep *s, const as_dataset *d, const char *origin,
                                as_error *err);

/* Estimated multiply-adds of one epoch of variant v on d (3x forward for training rows,
 * 1x for validation rows), and its parameter count; -1 when the model cannot be built
 * (then err holds why). */
double as_sweep_estimate(const as_sweep *s, int v, const as_dataset *d, int64_t *params,
                         as_error *err);
/* The same from the model's plan (nothing is allocated), with *bytes (may be NULL) the
 * memory one rank needs to train it in a group of `ranks` (as_fit_bytes). */
double as_sweep_estimate_mem(const as_sweep *s, int v, const as_dataset *d, int ranks,
                             int64_t *params, size_t *bytes, as_error *err);

/* ---- the results file ---- */

typedef struct {
    const char *sweep_path, *sweep_text, *data_path;
    char sweep_sha256[65], data_sha256[65];
    int ranks, ranks_per_variant;
    int override_epochs; /* --epochs, 0 when not given (stored: resume compares it) */
    int runs_planned;    /* variants x repeats: the report's "13 of 60 runs" */
    char run_keys_sha256[65]; /* as_sweep_keys_digest of the whole sweep ("": not written) */
    int shard, n_shards; /* --shard I/N (n_shards 0: the whole sweep; stored: resume and
                            merge compare them) */
    const as_dataset *data;
} as_results_meta;

/* Rebuilds st's RESULTS.h5 (store.h) atomically from its previous version and the
 * journal: every run copied in (the journal's copy wins), relabelled to s's ids and names
 * when s is given, sorted by (id, repeat), then n_slots empty /summary rows for the runs
 * of the session that follows; root attributes from m (when given; the previous file's
 * otherwise), wall_seconds increased by add_wall, end_time set when ended. The packed
 * journal files are then removed. Needs the lock. */
as_status as_store_pack(as_store *st, const as_sweep *s, const as_results_meta *m, double add_wall,
                        size_t n_slots, int ended, as_error *err);
/* Maps the n_slots rows after the first `first` of /summary for as_store_put. */
as_status as_store_map_slots(as_store *st, size_t first, size_t n_slots, as_error *err);
/* Stores a finished run: its journal file (durable, atomic), then its /summary row in
 * the next free slot. AS_ERR_STORE naming the path and strerror when the journal file
 * cannot be written; nothing half-written is left. */
as_status as_store_put(as_store *st, const as_sweep *s, const as_result *r, as_error *err);
/* --journal shared, on a group leader: writes r's journal file into RESULTS.h5.journal
 * (results: the results file's path) as as_store_put would (temporary, fsync, rename,
 * folder fsync; the same crash points, then "worker-journaled"), then frees r's arrays and
 * sets r->journaled: what is left for rank 0 is the key and the summary row's metrics.
 * AS_ERR_STORE naming the path on failure (r untouched: rank 0 can still store it). */
as_status as_store_put_local(const char *results, const as_sweep *s, as_result *r, as_error *err);

/* For --resume: done[v * s->repeats + r] = 1 for each (variant, repeat) of s whose run
 * key (runkey.h, with m->data_sha256) is in the file with status ok or diverged (failed
 * runs hold no results and are retried). The shard the file records (root attributes
 * shard, n_shards) must be m's, even with force: else AS_ERR_ARG naming both. AS_ERR_ARG, with a message naming every
 * difference ("--epochs: stored 3, now 1"), when the stored sweep file hash, dataset hash
 * or --epochs differ from m's, unless force (stored runs are then kept and the new ones
 * added beside them). */
as_status as_results_done(const char *path, const as_sweep *s, const as_results_meta *m,
                          int force, unsigned char *done, as_error *err);

/* ---- shards (sweep --shard i/n, attnsweep merge) ---- */

/* The shard in [0, n) of the run (run key, repeat): the first 64 bits of
 * sha256("<run_key>\n<repeat>") mod n, so shards of any n are disjoint, cover the sweep
 * and do not depend on variant order. -1 when out of memory. */
int as_sweep_shard_of(const char *run_key, int repeat, int n);
/* Marks done[v * repeats + r] = 2 (another shard's run: skipped) for every run of s not
 * in shard `shard` of n_shards that is not already marked. AS_ERR_NOMEM. */
as_status as_sweep_shard_mark(const as_sweep *s, int shard, int n_shards, unsigned char *done,
                              as_error *err);
/* The SHA-256 of the sweep's planned run keys (as_run_key of every variant and repeat on
 * data_sha256, or a variant's own data hash), sorted, each followed by "\n": the root
 * attribute run_keys_sha256, which merge checks the merged runs against. AS_ERR_NOMEM. */
as_status as_sweep_keys_digest(const as_sweep *s, const char *data_sha256, char out[65],
                               as_error *err);
/* Writes OUT (atomically, refusing an existing file) with every run of the n shard
 * results files, read as as_store_rows / as_store_open_run read them (the index and the
 * journal): the first shard's root attributes (wall_seconds summed, merged_shards added,
 * runs_planned the sweep's, shard and n_shards 0), every run's group copied unchanged,
 * /summary sorted by (id, repeat). Each shard's lock is held shared while it is read, when the shard has a lock file (a
 * sweep that ended cleanly removed it: then nothing keeps a new sweep out). The
 * shards must come from the same sweep file, dataset (sha256) and --epochs, every row
 * must have its run, and their runs must be the sweep's planned runs (run_keys_sha256)
 * exactly, each once; else AS_ERR_DATA naming the file and what is wrong (a shard whose
 * lock a live process holds: "a missing or unfinished shard: ... locked by HOST PID"). */
as_status as_results_merge(const char *out, const char *const *in, int n, as_error *err);

/* ---- scheduling ---- */

typedef struct {
    const char *sweep_path;
    const char *out_path;
    int verbose;
    int ranks_per_variant; /* 0: the sweep file's */
    const unsigned char *done; /* rank 0: 1 for runs already in the file (as_results_done), 2
                                  for another shard's (as_sweep_shard_mark); or NULL */
    volatile int *stop;        /* set (by a signal handler): hand out no new work */
    int resume;                /* --resume: a rung policy replays its journal */
    const char *data_sha256;   /* rank 0: the dataset's content hash (run keys) */
    as_store *store;           /* rank 0: where finished runs go */
    int *counts;               /* rank 0, out (may be NULL): int[4], runs stored per as_var_status */
    int journal_shared;        /* every rank: leaders write their runs' journal files
                                  (--journal shared, as_store_put_local); grid and random only */
} as_sched_opts;

/* Runs every (variant, repeat) not yet done across MPI_COMM_WORLD: variant v trains on
 * d[s->v[v].data_index] (d holds the sweep's distinct datasets; one for most sweeps),
 * dynamic scheduling,
 * costliest first, rank 0 training too and writing each result as it arrives.
 * Collective. Returns AS_OK when every run was attempted (failures are recorded). An MPI
 * failure inside a run aborts the job (MPI_Abort): the other ranks could not be told. */
as_status as_sweep_schedule(const as_sweep *s, const as_dataset *d, const as_sched_opts *o,
                            as_error *err);
/* Rank 0, --resume, before anything is written: can s on the dataset of hash data_sha256
 * continue the rung search state in OUT.search/ (AS_OK at once for grid and random)? Its
 * journal, when there, must be readable and recorded under s's search settings, repeats,
 * seed and dataset (AS_ERR_ARG naming each changed one with both values, --force or not;
 * AS_ERR_DATA for an unreadable line); without a journal no run may be stored (done[]:
 * as_results_done's, or NULL; AS_ERR_ARG). */
as_status as_sweep_search_check(const as_sweep *s, const char *out, const char *data_sha256,
                                const unsigned char *done, as_error *err);

/* ---- the leaderboard (attnsweep summary) ---- */

typedef struct {
    const char *sort;     /* kept_val_loss (default; kept_val_accuracy for classification),
                             best_val_loss, final_val_loss, best_val_accuracy, test_loss,
                             test_accuracy, params, train_seconds, id, name */
    int top;              /* 0: all */
    const char *group_by; /* an axis name of the grid, or NULL */
    int csv;
} as_summary_opts;

/* Prints the leaderboard of a results file to out: one line per variant with repeats as
 * mean +- std, failed and diverged runs listed apart. Errors (AS_ERR_DATA naming the
 * file, AS_ERR_ARG for an unknown sort key or axis, naming the valid ones). */
as_status as_summary_print(const char *path, const as_summary_opts *o, FILE *out, as_error *err);

#endif
