/* schedule.c: dynamic scheduling of a sweep over MPI ranks.
 *
 * Ranks form groups of ranks_per_variant (MPI_Comm_split); each group's leader asks
 * rank 0 for work, its group trains the variant data parallel, and the leader sends
 * the packed result back. Rank 0 leads group 0: it trains variants too and answers
 * the other leaders between its own training batches (the as_fit on_batch hook), so
 * no core idles. A result is written to the results file (atomically) before the
 * rank that produced it is given its next variant. Tasks go out costliest first. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attnsweep/alloc.h"
#include "attnsweep/sweep.h"

enum { TAG_RESULT = 101, TAG_TASK = 102 };

typedef struct {
    int v, r;
    double cost;
} task;

typedef struct {
    const as_sweep *s;
    const as_dataset *d;
    const as_sched_opts *o;
    task *tasks;
    int n_tasks, next;
    int active;      /* other leaders still working */
    int done, total; /* progress */
    double t0;
    as_status st;    /* first write failure (kept; the sweep carries on) */
    as_error err;
    char *buf;       /* receive buffer */
    size_t cap;
} coord;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_cost(const void *a, const void *b) {
    const task *x = a, *y = b;
    if (x->cost != y->cost) return x->cost < y->cost ? 1 : -1;
    if (x->v != y->v) return x->v - y->v;
    return x->r - y->r;
}

static void fmt_duration(char *buf, size_t cap, double s) {
    if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* Writes a finished run and prints its progress line (rank 0). */
static void record(coord *c, const as_result *r) {
    as_error e;
    as_status st = as_results_append(c->o->out_path, c->s, r, &e);
    if (st && !c->st) {
        c->st = st;
        c->err = e;
    }
    if (st) fprintf(stderr, "attnsweep sweep: cannot record v%04d_r%d: %s\n", r->id, r->repeat, e.msg);
    c->done++;
    double el = now() - c->t0;
    char eta[32], metric[96];
    fmt_duration(eta, sizeof eta, c->done ? el / c->done * (c->total - c->done) : 0);
    if (r->status != AS_VAR_OK)
        snprintf(metric, sizeof metric, "%s: %.60s", as_var_status_name(r->status), r->error);
    else if (!isnan(r->best_val_accuracy))
        snprintf(metric, sizeof metric, "best val_loss %.5g val_accuracy %.4f", r->best_val_loss,
                 r->best_val_accuracy);
    else
        snprintf(metric, sizeof metric, "best val_loss %.5g", r->best_val_loss);
    printf("[%d/%d] v%04d_r%d %s (rank %d): %s, %.1fs, ETA %s\n", c->done, c->total, r->id, r->repeat,
           c->s->v[r->id].name, r->rank, metric, r->train_seconds, eta);
    fflush(stdout);
}

/* An MPI failure inside a run leaves the other ranks in states nobody can tell them
 * about: stop the whole job, as MPI itself would with its default error handler. */
static void abort_job(const as_error *err) {
    fprintf(stderr, "attnsweep sweep: %s; aborting the job (finished runs are in the results "
                    "file; rerun with --resume)\n", err->msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static int next_task(coord *c, int *v, int *r) {
    if (c->next >= c->n_tasks || (c->o->stop && *c->o->stop)) return 0;
    *v = c->tasks[c->next].v;
    *r = c->tasks[c->next].r;
    c->next++;
    return 1;
}

/* Handles one message from another leader: record its result (if any), then hand it
 * its next task or tell it to stop. */
static void serve_one(coord *c, MPI_Status *probe) {
    int n;
    MPI_Get_count(probe, MPI_BYTE, &n);
    if ((size_t)n > c->cap) {
        char *nb = as_realloc(c->buf, (size_t)n);
        if (nb) {
            c->buf = nb;
            c->cap = (size_t)n;
        }
    }
    MPI_Recv((size_t)n <= c->cap ? c->buf : NULL, (size_t)n <= c->cap ? n : 0, MPI_BYTE,
             probe->MPI_SOURCE, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (n > 0) {
        as_result r;
        as_error e;
        if (as_result_unpack(c->buf, (size_t)n, &r, &e) == AS_OK) {
            record(c, &r);
            as_result_free(&r);
        } else {
            fprintf(stderr, "attnsweep sweep: bad result from rank %d: %s\n", probe->MPI_SOURCE, e.msg);
        }
    }
    int t[2] = {-1, -1};
    if (!next_task(c, &t[0], &t[1])) c->active--;
    MPI_Send(t, 2, MPI_INT, probe->MPI_SOURCE, TAG_TASK, MPI_COMM_WORLD);
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

/* Trains task (v, r) in this rank's group; the leader returns the result in *res.
 * hook (may be NULL) runs between training batches. Anything but an MPI failure (e.g.
 * running out of memory while collecting dumps) becomes a failed result, so the sweep
 * goes on and the coordinator still hears from this rank. */
static as_status train_task(const as_sweep *s, const as_dataset *d, MPI_Comm group, int gsize,
                            int v, int r, const as_sched_opts *o, void (*hook)(void *), void *ud,
                            as_result *res, as_error *err) {
    int world;
    MPI_Comm_rank(MPI_COMM_WORLD, &world);
    as_run_opts ro = {o->verbose, world, hook, ud};
    as_status st = as_sweep_run_variant(s, v, r, d, gsize > 1 ? group : MPI_COMM_NULL, &ro, res, err);
    if (st && st != AS_ERR_MPI) {
        as_result_free(res);
        res->status = AS_VAR_FAILED;
        snprintf(res->error, sizeof res->error, "%.500s", err->msg);
        st = AS_OK;
    }
    return st;
}

static as_status coordinator(coord *c, MPI_Comm group, int gsize, as_error *err) {
    c->t0 = now();
    for (;;) {
        int t[2];
        if (!next_task(c, &t[0], &t[1])) break;
        if (gsize > 1) MPI_Bcast(t, 2, MPI_INT, 0, group);
        as_result res;
        /* keep answering the other leaders between our own batches */
        as_status st = train_task(c->s, c->d, group, gsize, t[0], t[1], c->o, serve_pending, c,
                                  &res, err);
        if (st) abort_job(err);
        record(c, &res);
        as_result_free(&res);
        serve_pending(c);
    }
    if (gsize > 1) {
        int stop[2] = {-1, -1};
        MPI_Bcast(stop, 2, MPI_INT, 0, group);
    }
    while (c->active > 0) { /* nothing left for us: wait for the others */
        MPI_Status probe;
        MPI_Probe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &probe);
        serve_one(c, &probe);
    }
    return AS_OK;
}

static as_status worker(const as_sweep *s, const as_dataset *d, const as_sched_opts *o,
                        MPI_Comm group, int gsize, int grank, as_error *err) {
    char *msg = NULL;
    size_t n = 0;
    for (;;) {
        int t[2] = {-1, -1};
        if (grank == 0) {
            MPI_Send(msg, (int)n, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
            as_free(msg);
            msg = NULL;
            n = 0;
            MPI_Recv(t, 2, MPI_INT, 0, TAG_TASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        }
        if (gsize > 1) MPI_Bcast(t, 2, MPI_INT, 0, group);
        if (t[0] < 0) return AS_OK;
        as_result res;
        as_status st = train_task(s, d, group, gsize, t[0], t[1], o, NULL, NULL, &res, err);
        if (st) abort_job(err);
        if (grank == 0 && as_result_pack(&res, &msg, &n, err) != AS_OK) {
            /* no memory for the dumps' message: report the run without its arrays */
            as_result_free(&res);
            res.status = AS_VAR_FAILED;
            snprintf(res.error, sizeof res.error, "%.500s", err->msg);
            if ((st = as_result_pack(&res, &msg, &n, err))) abort_job(err);
        }
        as_result_free(&res);
    }
}

as_status as_sweep_schedule(const as_sweep *s, const as_dataset *d, const as_sched_opts *o,
                            as_error *err) {
    int world, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &world);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    int R = o->ranks_per_variant > 0 ? o->ranks_per_variant : s->ranks_per_variant;
    if (R < 1) R = 1;
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
        c.active = P / R - 1;
        size_t total = (size_t)s->n * (size_t)s->repeats;
        const unsigned char *done = o->done;
        c.tasks = as_calloc(total ? total : 1, sizeof *c.tasks);
        if (!c.tasks) st = as_error_set(err, AS_ERR_NOMEM, "out of memory for the task list");
        int skipped = 0;
        for (int v = 0; !st && v < s->n; v++) {
            int64_t params;
            as_error e;
            double cost = as_sweep_estimate(s, v, d, &params, &e);
            for (int r = 0; r < s->repeats; r++) {
                if (done && done[(size_t)v * s->repeats + r]) {
                    skipped++;
                    continue;
                }
                c.tasks[c.n_tasks++] = (task){v, r, cost};
            }
        }
        if (!st) {
            qsort(c.tasks, (size_t)c.n_tasks, sizeof *c.tasks, cmp_cost);
            c.total = c.n_tasks;
            if (skipped) printf("resume: %d runs already in %s, %d to go\n", skipped, o->out_path, c.n_tasks);
            st = coordinator(&c, group, gsize, err);
        } else {
            /* tell everyone to stop */
            int stop[2] = {-1, -1};
            if (gsize > 1) MPI_Bcast(stop, 2, MPI_INT, 0, group);
            while (c.active > 0) {
                MPI_Status probe;
                MPI_Probe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &probe);
                serve_one(&c, &probe);
            }
        }
        if (!st && c.st) {
            st = c.st;
            *err = c.err;
        }
        as_free(c.buf);
        as_free(c.tasks);
    } else {
        st = worker(s, d, o, group, gsize, grank, err);
    }
    MPI_Comm_free(&group);
    return st;
}
