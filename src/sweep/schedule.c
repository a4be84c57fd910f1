/* schedule.c: dynamic scheduling of a sweep over MPI ranks, driven by a search policy.
 *
 * Ranks form groups of ranks_per_variant (MPI_Comm_split); each group's leader asks
 * rank 0 for work, its group trains the task data parallel, and the leader sends the
 * packed result back. Rank 0 leads group 0: it trains tasks too and answers the other
 * leaders between its own training batches (the as_fit on_batch hook), so no core idles.
 *
 * What to train comes from the policy (policy.h): a task is a run and a budget in epochs,
 * continuing the checkpoint its previous rung left (RESULTS.h5.search/ck/, on a folder
 * every rank can read); the scheduler only moves tasks and results. When the policy has
 * nothing to hand out yet (a synchronous rung not complete, ASHA with every variant
 * started) the asking leader waits for its answer until a result changes that.
 *
 * Rank 0 stores a run in the results file once, when it is over: finished (its last
 * rung, with dumps and weights), stopped by the policy (metrics only, from its last rung
 * report), diverged or failed. Rung policies also journal every report and decision
 * (RESULTS.h5.search/journal) before acting on it; --resume replays the journal, so the
 * decisions taken are kept and the runs continue from their checkpoints. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/hosts.h"
#include "attnsweep/rng.h"
#include "attnsweep/sweep.h"
#include "sweep/policy.h"

enum { TAG_RESULT = 101, TAG_TASK = 102 };
#define TASK_INTS 6 /* v, r, budget, from, rung, last */
#define REDO 2      /* task.last: a finished run retrained from its previous rung to store it */

typedef struct {
    const as_sweep *s;
    const as_dataset *d;
    const as_sched_opts *o;
    as_policy pol;
    int rungs;         /* a rung policy (journal, checkpoints) */
    int P, R;          /* ranks, ranks per variant */
    double *cost;      /* per variant */
    char **keys;       /* per variant: run key */
    char (*khex)[17];  /* per variant: hash of the run key */
    as_sched_task *issued;   /* per world rank: what it trains */
    int *waiting, nwaiting; /* leaders waiting for an answer */
    as_result *held;   /* per run: last rung report, until the run is stored */
    char *has_held;
    char *ready;       /* per run: the held result is its final one (with dumps) */
    unsigned char *stored; /* per run: in the results file */
    as_sched_task *redo;     /* finished runs to retrain (their store was cut by a kill) */
    int nredo;
    char *redoing;     /* per run: its REDO task is queued or training (it stores the run) */
    char *stop_decided; /* per variant: the policy stopped it (its REDO results store at once) */
    as_journal j;
    int replaying;
    int active;        /* other leaders still working */
    int done, total;   /* progress */
    long epochs_trained;
    double *busy;      /* per world rank: seconds of epochs trained */
    double t0;
    as_status st;      /* first store failure: no more work is handed out */
    as_error err;
    char *buf;         /* receive buffer */
    size_t cap;
} coord;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(char *buf, size_t cap, double s) {
    if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

static size_t run_ix(const coord *c, int v, int r) { return (size_t)v * (size_t)c->s->repeats + (size_t)r; }

static void keep_error(coord *c, as_status st, const as_error *e) {
    if (st && !c->st) {
        c->st = st;
        c->err = *e;
    }
}

/* The checkpoint of run (v, r) after `epochs` epochs (every rank computes the same). */
static void ck_path(const as_sweep *s, const char *out, int v, int r, int epochs, char *buf, size_t cap) {
    char *key = as_sweep_run_key(s, v);
    uint64_t h = as_hash64(key ? key : s->v[v].canonical, strlen(key ? key : s->v[v].canonical), 0);
    as_free(key);
    snprintf(buf, cap, "%s.search/ck/%016llx_r%d_e%d.h5", out, (unsigned long long)h, r, epochs);
}

static void remove_ck(coord *c, int v, int r, int epochs) {
    char path[4300];
    ck_path(c->s, c->o->out_path, v, r, epochs, path, sizeof path);
    unlink(path);
}

static void metric_text(const as_result *r, char *buf, size_t cap) {
    if (r->status != AS_VAR_OK && r->status != AS_VAR_STOPPED)
        snprintf(buf, cap, "%s: %.60s", as_var_status_name(r->status), r->error);
    else if (!isnan(r->kept_val_accuracy)) /* the kept model's: what ranks the run */
        snprintf(buf, cap, "kept val_loss %.5g val_accuracy %.4f", r->kept_val_loss, r->kept_val_accuracy);
    else
        snprintf(buf, cap, "kept val_loss %.5g", r->kept_val_loss);
}

/* Writes a finished run and prints its progress line (rank 0). */
static void record(coord *c, as_result *r) {
    as_error e;
    if (!r->key[0]) as_run_key(c->s, r->id, r->repeat, c->o->data_sha256, r->key, NULL);
    as_status st = as_store_put(c->o->store, c->s, r, &e);
    keep_error(c, st, &e);
    if (st) fprintf(stderr, "attnsweep sweep: cannot record v%04d_r%d: %s\n", r->id, r->repeat, e.msg);
    c->done++;
    if (!st && c->o->counts && r->status <= AS_VAR_STOPPED) c->o->counts[r->status]++;
    double el = now() - c->t0;
    char eta[32], metric[96];
    fmt_duration(eta, sizeof eta, c->done && !c->rungs ? el / c->done * (c->total - c->done) : 0);
    metric_text(r, metric, sizeof metric);
    printf("[%d/%d] v%04d_r%d %s (rank %d on %s): %s%s, %.1fs%s%s\n", c->done, c->total, r->id,
           r->repeat, c->s->v[r->id].name, r->rank, as_host_name(r->rank), r->status == AS_VAR_STOPPED ? "stopped, " : "", metric,
           r->train_seconds, c->rungs ? "" : ", ETA ", c->rungs ? "" : eta);
    fflush(stdout);
}

/* Early stopping ended the run: it is finished, whatever rung it was on. */
static int ended_early(const as_result *res) { return res->status == AS_VAR_OK && res->stopped_epoch > 0; }

/* Stores run (v, r) from its held result: the policy's rung metrics added, status
 * stopped when the policy stopped it (a run early stopping ended stays ok). A finished
 * run whose dumps the kill lost waits for its REDO task (handle_result stores it then).
 * Its checkpoints are removed. */
static void finalize(coord *c, int v, int r, int stop) {
    size_t i = run_ix(c, v, r);
    if (c->stored[i] || !c->has_held[i]) return;
    as_result *res = &c->held[i];
    if (c->redoing[i]) return; /* its REDO task stores it, with its dumps */
    int ep[64];
    double met[64], mean[64];
    int n = as_policy_rungs(&c->pol, v, r, ep, met, mean, 64);
    if (stop && res->status == AS_VAR_OK && !ended_early(res)) {
        res->status = AS_VAR_STOPPED;
        snprintf(res->error, sizeof res->error, "stopped by %s after rung %d (%d epochs)",
                 as_search_type_name(c->s->search.type), n - 1, res->epochs_run);
    }
    as_error e;
    hsize_t dn[1] = {(hsize_t)n};
    as_status st = n ? as_result_add(res, "rungs/epochs", AS_ARR_I32, 1, dn, ep, &e) : AS_OK;
    if (!st && n) st = as_result_add(res, "rungs/metric", AS_ARR_F64, 1, dn, met, &e);
    if (!st && n) st = as_result_add(res, "rungs/mean", AS_ARR_F64, 1, dn, mean, &e);
    keep_error(c, st, &e);
    record(c, res);
    for (int k = 0; k < n; k++) remove_ck(c, v, r, ep[k]);
    as_result_free(res);
    c->has_held[i] = 0;
    c->stored[i] = 1;
}

static void on_decide(void *ud, as_decision d, int v, int rung) {
    coord *c = ud;
    if (!c->replaying) {
        as_error e;
        keep_error(c, as_journal_decision(&c->j, d == AS_DECIDE_STOP ? 'S' : 'P', c->khex[v], rung, &e), &e);
    }
    if (d != AS_DECIDE_STOP) return;
    c->stop_decided[v] = 1;
    for (int r = 0; r < c->s->repeats; r++) finalize(c, v, r, 1);
}

/* Keeps res (taking its arrays) as run (v, r)'s latest rung. */
static void hold(coord *c, int v, int r, as_result *res) {
    size_t i = run_ix(c, v, r);
    if (c->has_held[i]) as_result_free(&c->held[i]);
    c->held[i] = *res;
    c->has_held[i] = 1;
    res->n_arrays = 0;
}

/* Stores the repeats of v once every repeat is over -- finished its last rung or ended by
 * early stopping -- so the rung's mean they carry does not depend on arrival order, and
 * each has its dumps (ready). */
static void finalize_finished(coord *c, int v) {
    int ep[64];
    double met[64], mean[64];
    for (int r = 0; r < c->s->repeats; r++) {
        size_t i = run_ix(c, v, r);
        if (c->stored[i]) continue;
        int n = as_policy_rungs(&c->pol, v, r, ep, met, mean, 64);
        if (!c->ready[i] || n == 0 || !isfinite(mean[n - 1])) return;
    }
    for (int r = 0; r < c->s->repeats; r++) finalize(c, v, r, 0);
}

/* A rung report, live or replayed: held, told to the policy, stored when the run is over.
 * A run that diverged or failed cannot go on: stored as is. One that early stopping
 * ended (inside the rung or on its last epoch) is finished, like one at R: stored (status
 * ok, with its dumps) once every repeat of its variant has reported the rung. */
static void rung_report(coord *c, const as_sched_task *t, as_result *res, double metric) {
    int dead = res->status == AS_VAR_DIVERGED || res->status == AS_VAR_FAILED;
    int over = t->last || ended_early(res);
    int end = dead ? AS_END_DEAD : ended_early(res) ? AS_END_EARLY : AS_END_NONE;
    size_t i = run_ix(c, t->v, t->r);
    if (c->stored[i]) { /* replayed: already in the results file */
        as_result_free(res);
        as_policy_report(&c->pol, t, metric, end);
        return;
    }
    hold(c, t->v, t->r, res);
    c->ready[i] = over && !c->replaying;
    /* its dumps were lost with the kill: retrain the rung from its checkpoint (queued
       before the policy hears of it: a stop this report completes must wait for it) */
    if (!dead && over && c->replaying && c->nredo < c->s->n * c->s->repeats) {
        c->redo[c->nredo++] = (as_sched_task){t->v, t->r, t->budget, t->from, t->rung, REDO};
        c->redoing[i] = 1;
    }
    as_policy_report(&c->pol, t, metric, end);
    if (c->stored[i]) return; /* a decision stored it */
    if (dead) finalize(c, t->v, t->r, 0);
    else if (over && !c->replaying) finalize_finished(c, t->v);
}

/* A finished task arrives at rank 0 (from rank `src`). */
static void handle_result(coord *c, const as_sched_task *t, as_result *res) {
    int fresh = res->epochs_run - t->from;
    if (res->rank >= 0 && res->rank < c->P) c->busy[res->rank] += res->task_seconds;
    if (fresh > 0) c->epochs_trained += fresh;
    if (!c->rungs || t->last == REDO) {
        if (c->rungs) {
            size_t i = run_ix(c, t->v, t->r);
            hold(c, t->v, t->r, res);
            c->ready[i] = 1;
            c->redoing[i] = 0;
            /* the stop came while it retrained (its mean may be NaN: a dead repeat) */
            if (c->stop_decided[t->v]) finalize(c, t->v, t->r, 1);
            else finalize_finished(c, t->v);
        } else {
            record(c, res);
        }
        return;
    }
    /* a run early stopping ended is ranked by its kept epoch's metric (its last, unless
       restore_best_weights kept the best) */
    int at = ended_early(res) && res->kept_epoch > 0 ? res->kept_epoch : t->budget;
    double metric = as_result_metric_at(res, c->s->search.metric, at);
    as_error e;
    keep_error(c, as_journal_report(&c->j, c->khex[t->v], t, res, metric, &e), &e);
    if (!t->last) {
        printf("  rung %d (%d epochs) v%04d_r%d %s: %s %.5g%s\n", t->rung, t->budget, t->v, t->r,
               c->s->v[t->v].name, as_metric_name(c->s->search.metric), metric,
               ended_early(res) ? " (early stopping ended it: finished)" : "");
        fflush(stdout);
    }
    /* the new rung state replaces it (kept for a retrain when the run is over) */
    if (t->from > 0 && !t->last && !ended_early(res)) remove_ck(c, t->v, t->r, t->from);
    rung_report(c, t, res, metric);
}

/* An MPI failure inside a run leaves the other ranks in states nobody can tell them
 * about: stop the whole job, as MPI itself would with its default error handler. */
static void abort_job(const as_error *err) {
    fprintf(stderr, "attnsweep sweep: %s; aborting the job (finished runs are in the results "
                    "file; rerun with --resume)\n", err->msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static as_next next_task(coord *c, as_sched_task *t) {
    /* a run that could not be stored stops the hand-out: more work would be lost */
    if ((c->o->stop && *c->o->stop) || c->st) return AS_NEXT_DONE;
    if (c->nredo > 0) {
        *t = c->redo[--c->nredo];
        return AS_NEXT_TASK;
    }
    return as_policy_next(&c->pol, t);
}

static void send_task(coord *c, int dst, const as_sched_task *t) {
    int m[TASK_INTS] = {-1, -1, 0, 0, 0, 0};
    if (t) {
        int tm[TASK_INTS] = {t->v, t->r, t->budget, t->from, t->rung, t->last};
        memcpy(m, tm, sizeof m);
        c->issued[dst] = *t;
    } else {
        c->active--;
    }
    MPI_Send(m, TASK_INTS, MPI_INT, dst, TAG_TASK, MPI_COMM_WORLD);
}

/* Answers the waiting leaders while the policy has work or is done. */
static void dispatch(coord *c) {
    while (c->nwaiting > 0) {
        as_sched_task t;
        as_next n = next_task(c, &t);
        if (n == AS_NEXT_WAIT) return;
        int dst = c->waiting[--c->nwaiting];
        send_task(c, dst, n == AS_NEXT_TASK ? &t : NULL);
    }
}

/* Handles one message from another leader: record its result (if any), then hand it
 * its next task, tell it to stop, or keep it waiting. */
static void serve_one(coord *c, MPI_Status *probe) {
    int n = 0;
    MPI_Get_count(probe, MPI_BYTE, &n);
    if (n > 0 && (size_t)n > c->cap) {
        char *nb = as_realloc(c->buf, (size_t)n);
        if (nb) {
            c->buf = nb;
            c->cap = (size_t)n;
        }
    }
    int src = probe->MPI_SOURCE, fits = n <= 0 || (size_t)n <= c->cap;
    /* without room the message is still taken (truncated to nothing) and never unpacked */
    MPI_Recv(fits ? c->buf : NULL, fits ? n : 0, MPI_BYTE, src, TAG_RESULT, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    if (!fits) {
        fprintf(stderr, "attnsweep sweep: out of memory for the %d-byte result of rank %d; its "
                "run v%04d_r%d is lost (rerun with --resume)\n", n, src, c->issued[src].v, c->issued[src].r);
        as_error e;
        keep_error(c, as_error_set(&e, AS_ERR_NOMEM, "out of memory receiving a result"), &e);
    } else if (n > 0) {
        as_result r;
        as_error e;
        if (as_result_unpack(c->buf, (size_t)n, &r, &e) == AS_OK) {
            handle_result(c, &c->issued[src], &r);
            as_result_free(&r);
        } else {
            fprintf(stderr, "attnsweep sweep: bad result from rank %d: %s\n", src, e.msg);
        }
    }
    c->waiting[c->nwaiting++] = src;
    dispatch(c);
}

/* Non-blocking: answers every leader waiting right now (the on_batch hook). */
static void serve_pending(void *ud) {
    coord *c = ud;
    for (;;) {
        int flag = 0;
        MPI_Status probe;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag, &probe);
        if (!flag) return;
        serve_one(c, &probe);
    }
}

/* Trains task t in this rank's group; the leader returns the result in *res. hook (may
 * be NULL) runs between training batches. Anything but an MPI failure (e.g. running out
 * of memory while collecting dumps) becomes a failed result, so the sweep goes on and
 * the coordinator still hears from this rank. */
static as_status train_task(const as_sweep *s, const as_dataset *d, MPI_Comm group, int gsize,
                            const as_sched_task *t, const as_sched_opts *o, void (*hook)(void *),
                            void *ud, as_result *res, as_error *err) {
    int world;
    MPI_Comm_rank(MPI_COMM_WORLD, &world);
    char from[4300], save[4300];
    as_run_opts ro = {o->verbose, world, hook, ud, t->budget, t->from, NULL, NULL, !t->last};
    if (t->from > 0) {
        ck_path(s, o->out_path, t->v, t->r, t->from, from, sizeof from);
        ro.resume_path = from;
    }
    if (s->search.type >= AS_SEARCH_HALVING && !t->last) {
        ck_path(s, o->out_path, t->v, t->r, t->budget, save, sizeof save);
        ro.save_path = save;
    }
    double t0 = now();
    as_status st = as_sweep_run_variant(s, t->v, t->r, &d[s->v[t->v].data_index],
                                        gsize > 1 ? group : MPI_COMM_NULL, &ro,
                                        res, err);
    res->task_seconds = now() - t0;
    if (st && st != AS_ERR_MPI) {
        as_result_free(res);
        res->status = AS_VAR_FAILED;
        snprintf(res->error, sizeof res->error, "%.500s", err->msg);
        st = AS_OK;
    }
    return st;
}

static void bcast_task(MPI_Comm group, int gsize, int *m) {
    if (gsize > 1) MPI_Bcast(m, TASK_INTS, MPI_INT, 0, group);
}

static as_status coordinator(coord *c, MPI_Comm group, int gsize, as_error *err) {
    c->t0 = now();
    for (;;) {
        as_sched_task t;
        as_next n = next_task(c, &t);
        if (n == AS_NEXT_DONE) break;
        if (n == AS_NEXT_WAIT) { /* nothing for us yet: wait for another leader's result */
            MPI_Status probe;
            MPI_Probe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &probe);
            serve_one(c, &probe);
            continue;
        }
        int m[TASK_INTS] = {t.v, t.r, t.budget, t.from, t.rung, t.last};
        bcast_task(group, gsize, m);
        c->issued[0] = t;
        as_result res;
        /* keep answering the other leaders between our own batches */
        as_status st = train_task(c->s, c->d, group, gsize, &t, c->o, serve_pending, c, &res, err);
        if (st) abort_job(err);
        handle_result(c, &t, &res);
        as_result_free(&res);
        serve_pending(c);
        dispatch(c);
    }
    int stop[TASK_INTS] = {-1, -1, 0, 0, 0, 0};
    bcast_task(group, gsize, stop);
    dispatch(c);
    while (c->active > 0) { /* nothing left for us: wait for the others */
        MPI_Status probe;
        MPI_Probe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &probe);
        serve_one(c, &probe);
    }
    return AS_OK;
}

/* --journal shared: the leader writes its run's journal file itself and sends rank 0 only
 * the key and the metrics. When it cannot, the whole result goes to rank 0, which stores
 * it (or stops the sweep with the store's error). */
static void journal_own(const as_sweep *s, const as_sched_opts *o, as_result *res) {
    as_error e;
    if (as_run_key(s, res->id, res->repeat, o->data_sha256, res->key, &e) == AS_OK &&
        as_store_put_local(o->out_path, s, res, &e) == AS_OK)
        return;
    fprintf(stderr, "attnsweep sweep: cannot write the journal file of v%04d_r%d here: %s; "
            "rank 0 stores it\n", res->id, res->repeat, e.msg);
}

static as_status worker(const as_sweep *s, const as_dataset *d, const as_sched_opts *o,
                        MPI_Comm group, int gsize, int grank, as_error *err) {
    char *msg = NULL;
    size_t n = 0;
    for (;;) {
        int m[TASK_INTS] = {-1, -1, 0, 0, 0, 0};
        if (grank == 0) {
            MPI_Send(msg, (int)n, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
            as_free(msg);
            msg = NULL;
            n = 0;
            MPI_Recv(m, TASK_INTS, MPI_INT, 0, TAG_TASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        }
        bcast_task(group, gsize, m);
        if (m[0] < 0) return AS_OK;
        as_sched_task t = {m[0], m[1], m[2], m[3], m[4], m[5]};
        as_result res;
        as_status st = train_task(s, d, group, gsize, &t, o, NULL, NULL, &res, err);
        if (st) abort_job(err);
        if (grank == 0 && o->journal_shared && s->search.type < AS_SEARCH_HALVING)
            journal_own(s, o, &res);
        if (grank == 0 && (as_result_pack(&res, &msg, &n, err) != AS_OK || n > (size_t)INT_MAX)) {
            if (n > (size_t)INT_MAX) { /* one MPI message counts its bytes in an int */
                as_free(msg);
                msg = NULL;
                as_error_set(err, AS_ERR_NOMEM, "its result (%zu bytes) exceeds one MPI message "
                             "(INT_MAX bytes): lower attention_samples or prediction_samples", n);
            }
            /* no memory for the dumps' message: report the run without its arrays */
            as_result_free(&res);
            res.status = AS_VAR_FAILED;
            snprintf(res.error, sizeof res.error, "%.500s", err->msg);
            if ((st = as_result_pack(&res, &msg, &n, err))) abort_job(err);
        }
        as_result_free(&res);
    }
}


/* ---- rank 0's set-up: costs, keys, the policy, the journal ---------------------- */

static int find_variant(const coord *c, const char *key) {
    for (int v = 0; v < c->s->n; v++)
        if (!strcmp(c->khex[v], key)) return v;
    return -1;
}

static void replay_line(void *ud, char kind, const char *key, const as_sched_task *t, as_result *r,
                        double metric) {
    coord *c = ud;
    int v = find_variant(c, key);
    if (v < 0 || (t->r >= c->s->repeats && kind == 'R')) { /* not in this sweep (--force) */
        if (r) as_result_free(r);
        return;
    }
    if (kind == 'R') {
        as_sched_task tt = *t;
        tt.v = v;
        r->id = v;
        r->repeat = t->r;
        rung_report(c, &tt, r, metric);
    } else if (kind == 'P' && c->pol.ops->replay_promote) {
        c->pol.ops->replay_promote(&c->pol, v, t->rung);
    }
}

/* Removes checkpoint temporaries a killed writer left (*.tmp.*). */
static void remove_stale(const char *dir) {
    DIR *dh = opendir(dir);
    if (!dh) return;
    struct dirent *e;
    char path[4700];
    while ((e = readdir(dh)))
        if (strstr(e->d_name, ".tmp.") && strlen(dir) + strlen(e->d_name) + 2 < sizeof path) {
            memcpy(path, dir, strlen(dir));
            path[strlen(dir)] = '/';
            memcpy(path + strlen(dir) + 1, e->d_name, strlen(e->d_name) + 1);
            unlink(path);
        }
    closedir(dh);
}

/* OUT.search, its checkpoint folder and its journal. */
static void search_paths(const char *out, char *dir, char *ck, char *jp, size_t cap) {
    snprintf(dir, cap, "%s.search", out);
    snprintf(ck, cap, "%s.search/ck", out);
    snprintf(jp, cap, "%s.search/journal", out);
}

as_status as_sweep_search_check(const as_sweep *s, const char *out, const char *data_sha256,
                                const unsigned char *done, as_error *err) {
    if (s->search.type < AS_SEARCH_HALVING) return AS_OK;
    char dir[4300], ck[4300], jp[4300], want[512];
    search_paths(out, dir, ck, jp, sizeof dir);
    if (access(jp, F_OK) == 0) { /* (also a first-format journal: only its policy is checked) */
        long keep = 0;
        as_journal_settings(s, data_sha256, want, sizeof want);
        return as_journal_replay(jp, want, NULL, NULL, &keep, err); /* reads only */
    }
    size_t stored = 0;
    for (size_t i = 0; done && i < (size_t)s->n * (size_t)s->repeats; i++) stored += done[i] != 0;
    if (stored)
        return as_error_set(err, AS_ERR_ARG, "--resume: %s is missing: the %s search cannot be "
                            "continued (start over with another -o)", jp,
                            as_search_type_name(s->search.type));
    return AS_OK;
}

/* Checks the search state (before creating anything), creates OUT.search/ck, replays the
 * journal on --resume and opens it for appending; what it created is removed again when
 * it fails. */
static as_status open_journal(coord *c, as_error *err) {
    char dir[4300], ck[4300], jp[4300], settings[512];
    search_paths(c->o->out_path, dir, ck, jp, sizeof dir);
    as_status st = AS_OK;
    if (c->o->resume && (st = as_sweep_search_check(c->s, c->o->out_path, c->o->data_sha256, c->stored, err)))
        return st;
    int made_dir = mkdir(dir, 0755) == 0;
    if (!made_dir && errno != EEXIST)
        return as_error_set(err, AS_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    int made_ck = mkdir(ck, 0755) == 0;
    if (!made_ck && errno != EEXIST)
        st = as_error_set(err, AS_ERR_IO, "%s: cannot create: %s", ck, strerror(errno));
    int had_journal = access(jp, F_OK) == 0;
    if (!st) remove_stale(ck);
    as_journal_settings(c->s, c->o->data_sha256, settings, sizeof settings);
    long keep = 0;
    if (!st && c->o->resume && had_journal) {
        c->replaying = 1;
        st = as_journal_replay(jp, settings, replay_line, c, &keep, err);
        c->replaying = 0;
    }
    if (!st) st = as_journal_open(&c->j, jp, settings, keep, err);
    if (st) { /* nothing of this failed start is left behind */
        as_journal_close(&c->j);
        if (!had_journal) unlink(jp);
        if (made_ck) rmdir(ck);
        if (made_dir) rmdir(dir);
    }
    return st;
}

static as_status coord_setup(coord *c, as_error *err) {
    const as_sweep *s = c->s;
    size_t n = (size_t)s->n, runs = n * (size_t)s->repeats;
    c->rungs = s->search.type >= AS_SEARCH_HALVING;
    c->cost = as_calloc(n + 1, sizeof *c->cost);
    c->keys = as_calloc(n + 1, sizeof *c->keys);
    c->khex = as_calloc(n + 1, sizeof *c->khex);
    c->issued = as_calloc((size_t)c->P, sizeof *c->issued);
    c->waiting = as_calloc((size_t)c->P, sizeof *c->waiting);
    c->busy = as_calloc((size_t)c->P, sizeof *c->busy);
    c->held = as_calloc(runs + 1, sizeof *c->held);
    c->has_held = as_calloc(runs + 1, 1);
    c->ready = as_calloc(runs + 1, 1);
    c->stored = as_calloc(runs + 1, 1);
    c->redo = as_calloc(runs + 1, sizeof *c->redo);
    c->redoing = as_calloc(runs + 1, 1);
    c->stop_decided = as_calloc(n + 1, 1);
    if (!c->cost || !c->keys || !c->khex || !c->issued || !c->waiting || !c->busy || !c->held ||
        !c->has_held || !c->ready || !c->stored || !c->redo || !c->redoing || !c->stop_decided)
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the scheduler");
    for (size_t v = 0; v < n; v++) {
        as_error e;
        c->cost[v] = as_sweep_estimate(s, (int)v, &c->d[s->v[v].data_index], NULL, &e);
        if (!(c->keys[v] = as_sweep_run_key(s, (int)v)))
            return as_error_set(err, AS_ERR_NOMEM, "out of memory for the run keys");
        snprintf(c->khex[v], sizeof c->khex[v], "%016llx",
                 (unsigned long long)as_hash64(c->keys[v], strlen(c->keys[v]), 0));
    }
    int skipped = 0, others = 0; /* done[i]: 1 in the results file, 2 another shard's */
    for (size_t i = 0; i < runs; i++) {
        unsigned char d = c->o->done ? c->o->done[i] : 0;
        c->stored[i] = d != 0;
        skipped += d == 1;
        others += d == 2;
    }
    as_status st = as_policy_init(&c->pol, s, c->cost, c->keys, c->rungs ? NULL : c->o->done,
                                  on_decide, c, err);
    if (st) return st;
    c->total = (int)runs - skipped - others;
    if (skipped) printf("resume: %d runs already in %s, %d to go\n", skipped, c->o->out_path, c->total);
    if (c->rungs) {
        printf("search: %s, rungs of min_epochs %d, eta %d, up to max_epochs %d, by %s (%s)\n",
               as_search_type_name(s->search.type), s->search.min_epochs, s->search.eta,
               s->search.max_epochs, as_metric_name(s->search.metric), s->search.maximize ? "max" : "min");
        fflush(stdout);
        if ((st = open_journal(c, err))) return st;
    }
    return AS_OK;
}

/* The epochs trained against a grid's and how busy each rank was (rank 0). */
static void coord_report(coord *c) {
    double wall = now() - c->t0;
    long grid = (long)c->s->n * c->s->repeats * c->s->search.max_epochs;
    if (c->rungs)
        printf("search: %ld epochs trained this session; the grid trains %ld (%.1f%%)\n",
               c->epochs_trained, grid, grid ? 100.0 * (double)c->epochs_trained / (double)grid : 0.0);
    else
        printf("sweep: %ld epochs trained this session\n", c->epochs_trained);
    printf("busy (time in tasks / wall %.1fs):", wall);
    for (int r = 0; r < c->P; r += c->R) /* group leaders */
        printf(" rank %d %.1f%%", r, wall > 0 ? 100.0 * c->busy[r] / wall : 0.0);
    printf("\n");
    fflush(stdout);
    if (c->rungs && !(c->o->stop && *c->o->stop)) {
        char ck[4300];
        snprintf(ck, sizeof ck, "%s.search/ck", c->o->out_path);
        remove_stale(ck);
        rmdir(ck);
    }
}

static void coord_free(coord *c) {
    if (c->pol.ops) as_policy_free(&c->pol);
    as_journal_close(&c->j);
    for (int v = 0; c->keys && v < c->s->n; v++) as_free(c->keys[v]);
    for (size_t i = 0; c->held && i < (size_t)c->s->n * (size_t)c->s->repeats; i++)
        if (c->has_held[i]) as_result_free(&c->held[i]);
    as_free(c->keys);
    as_free(c->khex);
    as_free(c->cost);
    as_free(c->issued);
    as_free(c->waiting);
    as_free(c->busy);
    as_free(c->held);
    as_free(c->has_held);
    as_free(c->ready);
    as_free(c->stored);
    as_free(c->redo);
    as_free(c->redoing);
    as_free(c->stop_decided);
    as_free(c->buf);
}

as_status as_sweep_schedule(const as_sweep *s, const as_dataset *d, const as_sched_opts *o,
                            as_error *err) {
    int world, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &world);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    int R = o->ranks_per_variant > 0 ? o->ranks_per_variant : s->ranks_per_variant;
    if (R < 1) R = 1;
    /* Scheduling messages and the runs' collectives are not retried: an MPI failure there
     * leaves ranks that cannot be told, so the job aborts (MPI_ERRORS_ARE_FATAL, on purpose;
     * finished runs are in the results store). */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm group;
    MPI_Comm_split(MPI_COMM_WORLD, world / R, world, &group);
    int gsize, grank;
    MPI_Comm_size(group, &gsize);
    MPI_Comm_rank(group, &grank);
    as_status st = AS_OK;
    if (world == 0) {
        coord c;
        memset(&c, 0, sizeof c);
        c.s = s;
        c.d = d;
        c.o = o;
        c.P = P;
        c.R = R;
        c.active = P / R - 1;
        st = coord_setup(&c, err);
        if (!st) {
            st = coordinator(&c, group, gsize, err);
            coord_report(&c);
        } else {
            /* tell everyone to stop */
            int stop[TASK_INTS] = {-1, -1, 0, 0, 0, 0};
            bcast_task(group, gsize, stop);
            while (c.active > 0) {
                MPI_Status probe;
                MPI_Probe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &probe);
                int n;
                MPI_Get_count(&probe, MPI_BYTE, &n);
                char *b = as_malloc((size_t)(n > 0 ? n : 1));
                MPI_Recv(b, b ? n : 0, MPI_BYTE, probe.MPI_SOURCE, TAG_RESULT, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
                as_free(b);
                send_task(&c, probe.MPI_SOURCE, NULL);
            }
        }
        if (!st && c.st) {
            st = c.st;
            *err = c.err;
        }
        coord_free(&c);
    } else {
        st = worker(s, d, o, group, gsize, grank, err);
    }
    MPI_Comm_free(&group);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return st;
}
