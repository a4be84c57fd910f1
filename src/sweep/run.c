/* run.c: train one (variant, repeat) of a sweep and collect what the results file keeps:
 * curves, attention dumps, predictions and (optionally) weights. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/checkpoint.h"
#include "attnsweep/hosts.h"
#include "attnsweep/model.h"
#include "attnsweep/runkey.h"
#include "attnsweep/sha256.h"
#include "attnsweep/spec.h"
#include "attnsweep/sweep.h"
#include "attnsweep/train.h"

typedef struct {
    const as_run_opts *o;
    int v, r, leader;
    const as_model *m;     /* rungs: the state saved after o->budget epochs */
    const char *key_sha;
    uint64_t seed;
    as_error save_err;
} epoch_ctx;

/* A rung's end: the leader saves the whole training state for a later promotion. */
static int on_checkpoint(void *ud, const as_fit_state *st, const as_history *h) {
    epoch_ctx *c = ud;
    if (!c->leader || st->epoch != c->o->budget) return 0;
    return as_checkpoint_save(c->o->save_path, c->m, st, h, c->key_sha, c->seed, NULL,
                              &c->save_err) != AS_OK;
}

/* Test hook ATTNSWEEP_TEST_HOLD_RANK=R: world rank R, after its first finished run, stops
 * for good in the first epoch of its next one (announced on stdout), so a test can kill a
 * rank that is certainly still inside a running sweep. */
static void test_hold(const epoch_ctx *c, int epoch) {
    static int runs_started;
    const char *hold = getenv("ATTNSWEEP_TEST_HOLD_RANK");
    if (!hold || atoi(hold) != c->o->world_rank || epoch != 1 || ++runs_started < 2) return;
    printf("test hook: rank %d on %s holds in v%04d_r%d\n", c->o->world_rank,
           as_host_name(c->o->world_rank), c->v, c->r);
    fflush(stdout);
    for (;;) pause();
}

static int on_epoch(void *ud, const as_epoch_stats *st) {
    epoch_ctx *c = ud;
    test_hold(c, st->epoch);
    if (c->o->verbose && c->leader) {
        printf("  [rank %d on %s] v%04d_r%d epoch %d/%d loss %.6g val_loss %.6g", c->o->world_rank,
               as_host_name(c->o->world_rank), c->v,
               c->r, st->epoch, st->epochs, st->loss, st->val_loss);
        if (!isnan(st->val_accuracy)) printf(" val_accuracy %.4f", st->val_accuracy);
        printf(" %.2fs\n", st->seconds);
        fflush(stdout);
    }
    return 0;
}

/* as_fit has one user pointer for both hooks: forward the batch hook to the caller's. */
static void on_batch(void *ud) {
    epoch_ctx *c = ud;
    c->o->on_batch(c->o->batch_ud);
}

static void fail(as_result *out, as_var_status st, const char *msg) {
    out->status = st;
    size_t n = strlen(msg);
    if (n >= sizeof out->error) n = sizeof out->error - 1; /* long messages are cut */
    memcpy(out->error, msg, n);
    out->error[n] = '\0';
}

/* The rows dumps come from: the test split, else the validation rows, else the training
 * rows. *rows (as_malloc'd, *avail entries) are row indices of the returned split. */
static const as_split *dump_rows(const as_dataset *d, const as_spec *spec, int **rows, int *avail,
                                 as_result *out, as_error *err) {
    int n = d->train.n > d->test.n ? d->train.n : d->test.n;
    int *tr = as_malloc((size_t)(n ? n : 1) * sizeof(int)), *va = as_malloc((size_t)(n ? n : 1) * sizeof(int));
    const as_split *s = NULL;
    int n_train = 0, n_val = 0;
    if (!tr || !va) {
        as_error_set(err, AS_ERR_NOMEM, "out of memory for dumps");
    } else if (d->has_test && d->test.n > 0) {
        for (int i = 0; i < d->test.n; i++) tr[i] = i;
        *avail = d->test.n;
        snprintf(out->pred_split, sizeof out->pred_split, "test");
        s = &d->test;
    } else if (as_fit_split(d, &spec->train, tr, va, &n_train, &n_val, err) == AS_OK) {
        s = &d->train;
        if (n_val > 0) {
            memcpy(tr, va, (size_t)n_val * sizeof(int));
            *avail = n_val;
            snprintf(out->pred_split, sizeof out->pred_split, "validation");
        } else {
            for (int i = 0; i < d->train.n; i++) tr[i] = i;
            *avail = d->train.n;
            snprintf(out->pred_split, sizeof out->pred_split, "train");
        }
    }
    as_free(va);
    if (!s) as_free(tr);
    *rows = s ? tr : NULL;
    return s;
}

static as_status collect_dumps(as_model *m, const as_dataset *d, const as_spec *spec, int n_att,
                               int n_pred, as_result *out, as_error *err) {
    int avail = 0, *rows = NULL;
    const as_split *s = dump_rows(d, spec, &rows, &avail, out, err);
    if (!s) return err->code ? err->code : AS_ERR_NOMEM;
    if (n_att > avail) n_att = avail;
    if (n_pred > avail) n_pred = avail;
    as_status st = as_dumps_collect(m, s, rows, n_att, n_pred, d->task == AS_TASK_CLASSIFICATION,
                                    out, err);
    as_free(rows);
    return st;
}

static void summarise(const as_history *h, const as_train_spec *t, as_result *out) {
    out->epochs_run = h->epochs_run;
    int best = -1;
    for (int e = 0; e < h->epochs_run; e++) {
        double x = h->val_loss[e];
        if (isfinite(x) && (best < 0 || x < h->val_loss[best])) best = e;
    }
    out->best_epoch = h->best_epoch; /* by the monitor (val_loss unless early stopping's) */
    out->best_val_loss = best >= 0 ? h->val_loss[best] : (double)NAN;
    out->final_val_loss = h->epochs_run ? h->val_loss[h->epochs_run - 1] : (double)NAN;
    out->best_val_accuracy = (double)NAN;
    if (h->classification)
        for (int e = 0; e < h->epochs_run; e++)
            if (isfinite(h->val_accuracy[e]) &&
                (isnan(out->best_val_accuracy) || h->val_accuracy[e] > out->best_val_accuracy))
                out->best_val_accuracy = h->val_accuracy[e];
    out->train_seconds = 0;
    for (int e = 0; e < h->epochs_run; e++) out->train_seconds += h->epoch_seconds[e];
    out->stopped_epoch = h->stopped_epoch;
    out->kept_epoch = h->kept_epoch;
    out->kept_best = h->kept_best;
    out->threads = h->threads;
    out->refit_epochs = h->refit_epochs;
    out->refit_kept_epoch = h->refit_kept_epoch;
    out->has_test = h->has_test;
    out->test_loss = h->test_loss;
    out->test_accuracy = h->test_accuracy;
    snprintf(out->validation, sizeof out->validation,
             "{\"split\":%.10g,\"mode\":\"%s\",\"seed\":%llu,\"n_train\":%d,\"n_val\":%d}",
             t->validation_split, as_val_mode_name(t->validation_mode),
             (unsigned long long)t->validation_seed, h->n_train, h->n_val);
}

static as_status add_curves(const as_history *h, as_result *out, as_error *err) {
    hsize_t n[1] = {(hsize_t)h->epochs_run};
    if (h->epochs_run == 0) return AS_OK;
    as_status st = as_result_add(out, "loss", AS_ARR_F64, 1, n, h->loss, err);
    if (!st) st = as_result_add(out, "val_loss", AS_ARR_F64, 1, n, h->val_loss, err);
    if (!st) st = as_result_add(out, "epoch_seconds", AS_ARR_F64, 1, n, h->epoch_seconds, err);
    if (!st) st = as_result_add(out, "learning_rate", AS_ARR_F64, 1, n, h->learning_rate, err);
    if (!st && h->classification) {
        st = as_result_add(out, "accuracy", AS_ARR_F64, 1, n, h->accuracy, err);
        if (!st) st = as_result_add(out, "val_accuracy", AS_ARR_F64, 1, n, h->val_accuracy, err);
    }
    return st;
}

char *as_sweep_run_key(const as_sweep *s, int v) {
    cJSON *copy = cJSON_Duplicate(s->v[v].spec, 1);
    if (!copy) return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "data");
    char *key = as_json_canonical(copy);
    cJSON_Delete(copy);
    return key;
}

/* Trains up to o->budget epochs (a rung; 0: the spec's epochs), continuing the state a
 * checkpoint holds when o->from > 0: as_fit from that state equals a fit trained straight
 * to the budget (bit-identical on one rank). rs and rh receive the loaded state. */
static as_status fit_rung(as_model *m, const as_dataset *d, as_spec *spec, const as_run_opts *o,
                          const char *key_sha, uint64_t seed, as_fit_opts *fo, as_fit_state *rs,
                          as_history *rh, as_history *h, as_error *e) {
    if (o->budget > 0) spec->train.epochs = o->budget;
    if (o->from > 0) {
        as_status st = as_checkpoint_load(o->resume_path, m, rs, rh, key_sha, seed, e);
        if (st) return st;
        if (rs->epoch != o->from)
            return as_error_set(e, AS_ERR_DATA, "%s: holds %d epochs, the rung continues from %d",
                                o->resume_path, rs->epoch, o->from);
        fo->resume = rs;
        fo->resume_history = rh;
    }
    return as_fit(m, d, &spec->train, fo, h, e);
}

/* train.refit: m retrained on every training row for the kept epoch's count (as_fit_refit:
 * h's test metrics become the refit's); its loss curve is "refit_loss". A diverged refit
 * makes the run diverged. Collective over fo->comm. */
static as_status refit_run(as_model *m, const as_dataset *d, const as_spec *spec, as_history *h,
                           const as_fit_opts *fo, as_result *out, as_error *e) {
    as_history hr;
    as_fit_opts ro = *fo;
    ro.on_epoch = NULL; /* a sweep's running runs finish: nothing stops a refit */
    as_status st = as_fit_refit(m, d, &spec->train, h, 0, &ro, &hr, e);
    if (st) return st;
    hsize_t n[1] = {(hsize_t)hr.epochs_run};
    st = as_result_add(out, "refit_loss", AS_ARR_F64, 1, n, hr.loss, e);
    if (!st && hr.status == AS_RUN_DIVERGED) {
        char msg[300];
        snprintf(msg, sizeof msg, "refit: %s", hr.message);
        fail(out, AS_VAR_DIVERGED, msg);
    }
    as_history_free(&hr);
    return st;
}

/* The weights to save: "__params" holds the parameters, then the non-trainable buffers
 * (moving statistics), in the model's layout; results_file.c lays them out as Keras's. */
static as_status add_weights(const as_model *m, as_result *out, as_error *err) {
    size_t n_all;
    if (!as_size_add(m->n_params, m->n_buffers, &n_all))
        return as_error_set(err, AS_ERR_NOMEM, "weights: sizes overflow");
    float *all = as_malloc((n_all ? n_all : 1) * sizeof(float));
    if (!all) return as_error_set(err, AS_ERR_NOMEM, "weights: out of memory");
    memcpy(all, m->params, m->n_params * sizeof(float));
    memcpy(all + m->n_params, m->buffers, m->n_buffers * sizeof(float));
    hsize_t n[1] = {(hsize_t)n_all};
    as_status st = as_result_add(out, "__params", AS_ARR_F32, 1, n, all, err);
    as_free(all);
    return st;
}

/* After a fit that ran: the refit, the summary and curves, the dumps and weights (group
 * leader) into out. A run's own failure goes into out (AS_OK); AS_ERR_MPI (err names
 * origin) or an allocation failure stops the sweep. */
static as_status finish_run(const as_sweep *s, as_model *m, const as_dataset *d, as_spec *spec,
                            as_history *h, const as_fit_opts *fo, const as_run_opts *o, int me,
                            const char *origin, as_result *out, as_error *err) {
    as_status st = AS_OK;
    as_error e;
    as_error_clear(&e);
    /* a rung that early stopping ended is the run's last: it gets what a finished run gets */
    int full = !o->metrics_only || h->stopped_epoch > 0;
    if (h->status == AS_RUN_OK && spec->train.refit && full &&
        (st = refit_run(m, d, spec, h, fo, out, &e))) {
        if (st == AS_ERR_MPI) return as_error_set(err, st, "%s: %s", origin, e.msg);
        fail(out, AS_VAR_FAILED, e.msg);
        return AS_OK;
    }
    as_var_status refit_status = out->status; /* a diverged refit */
    summarise(h, &spec->train, out);
    if ((st = add_curves(h, out, err))) return st;
    as_result_set_kept(out); /* the kept model's validation figures (they rank it) */
    if (refit_status == AS_VAR_DIVERGED) return AS_OK;
    if (h->status == AS_RUN_DIVERGED) {
        fail(out, AS_VAR_DIVERGED, h->message);
    } else if (h->status == AS_RUN_STOPPED) {
        fail(out, AS_VAR_FAILED, "interrupted (SIGTERM) before the last epoch; rerun with --resume");
    } else if (me == 0 && full) {
        if ((st = collect_dumps(m, d, spec, s->attention_samples, s->prediction_samples, out, err)))
            return st;
        if (s->save_weights) st = add_weights(m, out, err);
    }
    return st;
}

/* A data-parallel group trains only if every member could build the model: *st becomes an
 * error (m freed) on a member that could when another could not. -1: the group's
 * allreduce failed. */
static int group_built(MPI_Comm comm, as_model *m, as_status *st, const char *origin,
                       as_error *e) {
    int bad = *st != AS_OK, any = 0;
    if (MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS) return -1;
    if (any && !bad) {
        as_model_free(m);
        *st = as_error_set(e, AS_ERR_NOMEM, "%s: another rank of the group could not build "
                           "the model", origin);
    }
    return 0;
}

/* out for run (v, r) before it trains: ids, rank, seed, NaN metrics. */
static void result_start(const as_sweep *s, int v, int r, const as_run_opts *o, as_result *out) {
    memset(out, 0, sizeof *out);
    out->id = v;
    out->repeat = r;
    out->rank = o->world_rank;
    out->seed = as_run_seed(s, v, r);
    out->best_val_loss = out->final_val_loss = out->best_val_accuracy = (double)NAN;
    out->kept_val_loss = out->kept_val_accuracy = (double)NAN;
    out->test_loss = out->test_accuracy = (double)NAN;
}

as_status as_sweep_run_variant(const as_sweep *s, int v, int r, const as_dataset *d,
                               MPI_Comm comm, const as_run_opts *o, as_result *out,
                               as_error *err) {
    result_start(s, v, r, o, out);
    int P = 1, me = 0;
    if (comm != MPI_COMM_NULL) {
        MPI_Comm_size(comm, &P);
        MPI_Comm_rank(comm, &me);
    }
    char origin[200];
    snprintf(origin, sizeof origin, "variant %d (%s)", v, s->v[v].name);
    as_spec spec;
    as_model m;
    as_history h;
    memset(&m, 0, sizeof m);
    memset(&h, 0, sizeof h);
    as_error e;
    as_error_clear(&e);
    as_status st = as_spec_parse(s->v[v].spec, origin, NULL, NULL, &spec, &e);
    if (st) {
        fail(out, AS_VAR_FAILED, e.msg);
        return AS_OK;
    }
    st = as_fit_prepare(&m, &spec, d, P, out->seed, origin, &e);
    if (P > 1 && group_built(comm, &m, &st, origin, &e) != 0) {
        as_model_free(&m);
        as_spec_free(&spec);
        return as_error_set(err, AS_ERR_MPI, "%s: group allreduce failed", origin);
    }
    if (st) {
        fail(out, AS_VAR_FAILED, e.msg);
        as_spec_free(&spec);
        return st == AS_ERR_NOMEM || st == AS_ERR_SPEC || st == AS_ERR_DATA ? AS_OK : st;
    }
    if (spec.train.keep == AS_KEEP_DEFAULT) spec.train.keep = AS_KEEP_BEST; /* sweeps keep the best */
    spec.train.seed = out->seed; /* the run's seed drives init, dropout AND shuffling */
    out->params = (int64_t)m.n_params;
    out->in_t = d->train.t;
    out->in_c = d->train.c;
    char key_sha[65];
    char *key = as_sweep_run_key(s, v);
    as_sha256_hex(key ? key : s->v[v].canonical, strlen(key ? key : s->v[v].canonical), key_sha);
    as_free(key);
    epoch_ctx ctx = {o, v, r, me == 0, &m, key_sha, out->seed, {0}};
    as_fit_opts fo = {.comm = P > 1 ? comm : MPI_COMM_NULL, .overlap = 1, .bucket_kb = 1024,
                      .on_epoch = on_epoch, .ud = &ctx};
    if (o->on_batch) fo.on_batch = on_batch;
    if (o->save_path) fo.on_checkpoint = on_checkpoint;
    as_fit_state rs;
    as_history rh;
    memset(&rs, 0, sizeof rs);
    memset(&rh, 0, sizeof rh);
    st = fit_rung(&m, d, &spec, o, key_sha, out->seed, &fo, &rs, &rh, &h, &e);
    as_checkpoint_state_free(&rs);
    as_history_free(&rh);
    if (st == AS_ERR_IO && ctx.save_err.msg[0]) e = ctx.save_err;
    if (st == AS_ERR_MPI) {
        as_error_set(err, st, "%s: %s", origin, e.msg);
        goto done;
    }
    if (st) {
        fail(out, AS_VAR_FAILED, e.msg);
        st = AS_OK;
        goto done;
    }
    st = finish_run(s, &m, d, &spec, &h, &fo, o, me, origin, out, err);
done:
    as_history_free(&h);
    as_model_free(&m);
    as_spec_free(&spec);
    return st;
}

double as_sweep_estimate_mem(const as_sweep *s, int v, const as_dataset *d, int ranks,
                             int64_t *params, size_t *bytes, as_error *err) {
    char origin[200];
    snprintf(origin, sizeof origin, "variant %d (%s)", v, s->v[v].name);
    as_spec spec;
    if (as_spec_parse(s->v[v].spec, origin, NULL, NULL, &spec, err)) return -1;
    as_model m; /* a plan: shapes and sizes, no buffer is allocated */
    int max_batch = as_fit_max_batch(spec.train.batch_size, d->train.n, ranks > 0 ? ranks : 1);
    as_status st = as_model_plan(&m, &spec, d->train.t, d->train.c, max_batch, origin, err);
    if (!st) st = as_model_check_output(&m, d->task == AS_TASK_CLASSIFICATION, d->train.yt,
                                        d->train.yc, d->n_classes, origin, err);
    if (st) {
        as_model_free(&m);
        as_spec_free(&spec);
        return -1;
    }
    int n_train, n_val;
    as_fit_split_rows(d->train.n, spec.train.validation_split, &n_train, &n_val);
    double macs = as_model_macs_per_sample(&m) * (3.0 * n_train + n_val);
    if (params) *params = (int64_t)m.n_params;
    if (bytes) *bytes = as_fit_bytes(&m, &spec, &d->train);
    as_model_free(&m);
    as_spec_free(&spec);
    return macs;
}

double as_sweep_estimate(const as_sweep *s, int v, const as_dataset *d, int64_t *params,
                         as_error *err) {
    return as_sweep_estimate_mem(s, v, d, 1, params, NULL, err);
}
