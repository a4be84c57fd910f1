/* policy.h: search policies, the seam between what to train next and the MPI scheduler
 * (schedule.c), which only moves tasks and results.
 *
 * A task is one run (variant v, repeat r) trained to a budget in epochs, continuing from
 * the checkpoint it left at `from` epochs (0: from scratch). A rung is a step of a run's
 * budget: the policy hands out tasks, hears each finished task's metric (report), and
 * decides which runs go on to the next rung and which stop. A policy never sees MPI,
 * files or timing: the same reports in the same order give the same decisions, which is
 * what makes successive halving and Hyperband identical on any number of ranks (they
 * decide only when a rung is complete, ties broken by run key) and ASHA replayable.
 *
 * Policies (sweeps/README.md, "Search"):
 *   grid, random      one rung per run, the variant's own train.epochs (budget 0),
 *                     costliest first;
 *   successive_halving  synchronous rungs min_epochs * eta^k (< max_epochs), then
 *                     max_epochs; after a rung every run of it has reported, the best
 *                     max(1, floor(n / eta)) variants go on;
 *   hyperband         brackets s = s_max..0 of successive halving (Li et al. 2018);
 *   asha              the same rungs, asynchronous (Li et al. 2020): promote the best
 *                     not-yet-promoted variant of the highest rung whose top
 *                     floor(n / eta) holds one, else start a new variant.
 * The unit of a decision is a variant: its metric at a rung is the mean over its
 * repeats of the metric at the rung's epoch; a repeat that diverged or failed ranks
 * last (and ends with its own status); a variant with a repeat that early stopping ended
 * is ranked but never promoted (as_run_end).
 *
 * Adding a policy: write its ops (init/next/report/free) in src/sweep/policy_*.c, give
 * it a type in as_search_type (grid.h) and a key table entry (grid_search.c), and a case
 * in as_policy_init. Everything else (scheduling, checkpoints, the journal, --resume,
 * the results file) comes from the scheduler.
 *
 * Ownership: as_policy_init allocates; as_policy_free releases (safe on a zeroed struct).
 */
#ifndef ATTNSWEEP_POLICY_H
#define ATTNSWEEP_POLICY_H

#include <stdint.h>
#include <stdio.h>

#include "attnsweep/grid.h"
#include "attnsweep/status.h"
#include "attnsweep/sweep.h"

typedef struct {
    int v, r;   /* variant, repeat */
    int budget; /* train to this epoch; 0: the variant's own train.epochs */
    int from;   /* epochs already trained (its checkpoint is continued); 0: from scratch */
    int rung;   /* the rung index */
    int last;   /* 1: the run's final rung (dumps and weights are kept) */
} as_sched_task;

typedef enum { AS_NEXT_TASK = 0, AS_NEXT_WAIT, AS_NEXT_DONE } as_next;

/* How a reported task's run ended: it can go on (AS_END_NONE); it diverged or failed
 * (AS_END_DEAD: its variant ranks last, never continues); early stopping ended it, inside
 * the rung or on its last epoch (AS_END_EARLY: finished, ranked by the metric it ended
 * with -- its place counts in the rung's max(1, floor(n / eta)) -- never promoted). */
typedef enum { AS_END_NONE = 0, AS_END_DEAD, AS_END_EARLY } as_run_end;

/* A decision the policy took, for the journal and the results file. */
typedef enum { AS_DECIDE_PROMOTE = 0, AS_DECIDE_STOP } as_decision;
typedef void (*as_decide_fn)(void *ud, as_decision d, int v, int rung);

typedef struct as_policy as_policy;

typedef struct {
    const char *name;
    as_status (*init)(as_policy *p, as_error *err);
    as_next (*next)(as_policy *p, as_sched_task *t);
    /* A task finished: its metric at its budget (at its kept epoch when early stopping
     * ended it; NaN when it diverged or failed); end: an as_run_end. */
    void (*report)(as_policy *p, const as_sched_task *t, double metric, int end);
    /* Replays a recorded promotion (asynchronous policies only; NULL otherwise). */
    void (*replay_promote)(as_policy *p, int v, int rung);
    int (*rungs)(const as_policy *p, int v, int r, int *epochs, double *metric, double *mean,
                 int cap); /* NULL: single-rung */
    void (*free)(as_policy *p);
} as_policy_ops;

struct as_policy {
    const as_policy_ops *ops;
    const as_sweep *s;
    const double *cost;      /* per variant: estimated cost of one epoch (issue order) */
    char **keys;             /* per variant: run key (ties are broken by it) */
    const unsigned char *done; /* per run (v * repeats + r): already stored (grid, random) */
    as_decide_fn decide;     /* may be NULL */
    void *decide_ud;
    void *state;             /* the policy's own */
};

/* Sets up the policy of s->search. cost and keys (s->n entries each) are borrowed and
 * must outlive p. AS_ERR_NOMEM. */
as_status as_policy_init(as_policy *p, const as_sweep *s, const double *cost, char **keys,
                         const unsigned char *done, as_decide_fn decide, void *ud, as_error *err);
void as_policy_free(as_policy *p);
static inline as_next as_policy_next(as_policy *p, as_sched_task *t) { return p->ops->next(p, t); }
static inline void as_policy_report(as_policy *p, const as_sched_task *t, double metric, int end) {
    p->ops->report(p, t, metric, end);
}

/* The rungs run (v, r) has reported, oldest first: epochs[k], this run's metric[k] and the
 * variant's mean over repeats mean[k] (NaN until every repeat reported). Returns the
 * count (<= cap); 0 for single-rung policies. */
int as_policy_rungs(const as_policy *p, int v, int r, int *epochs, double *metric, double *mean,
                    int cap);

/* Rung budgets min_epochs * eta^k below max_epochs, then max_epochs: returns the count
 * (at most cap). */
int as_policy_ladder(int min_epochs, int max_epochs, int eta, int *budgets, int cap);

/* ---- the search journal (policy_journal.c; format there) ---- */

typedef struct {
    FILE *f;
    char path[4200];
} as_journal;

/* The header words of s's search on the dataset of hash data_sha256: "<policy>
 * search.min_epochs=1 ... repeats=2 seed=0 data_sha256=...", the settings its decisions
 * depend on (format in policy_journal.c). Truncated at cap. */
void as_journal_settings(const as_sweep *s, const char *data_sha256, char *buf, size_t cap);
/* Opens path for appending after its first keep_bytes (a replayed journal), or creates it
 * with its header line (settings: as_journal_settings) when keep_bytes is 0. AS_ERR_IO
 * naming the path. */
as_status as_journal_open(as_journal *j, const char *path, const char *settings, long keep_bytes,
                          as_error *err);
void as_journal_close(as_journal *j);
/* Appends (and fsyncs) a rung report: the task, the result's scalars and curves (no
 * dumps), the metric; or a decision ('P' promote, 'S' stop). key: 16 hex digits. */
as_status as_journal_report(as_journal *j, const char *key, const as_sched_task *t, const as_result *r,
                            double metric, as_error *err);
as_status as_journal_decision(as_journal *j, char kind, const char *key, int rung, as_error *err);
/* Calls fn for every whole line in order: kind 'R' with the task and a result holding
 * the curves (fn takes its arrays), 'P'/'S' with t->rung set and r NULL; fn NULL: only
 * checks the journal. *good_bytes: the length of the whole lines read. A journal of
 * another policy, or whose header records other settings than `settings`
 * (as_journal_settings; a first-format header is checked for the policy only), is
 * AS_ERR_ARG naming each changed setting with both values; an unreadable line
 * AS_ERR_DATA. */
typedef void (*as_journal_visit)(void *ud, char kind, const char *key, const as_sched_task *t,
                                 as_result *r, double metric);
as_status as_journal_replay(const char *path, const char *settings, as_journal_visit fn, void *ud,
                            long *good_bytes, as_error *err);

/* Policy ops (policy.c, policy_rungs.c). */
extern const as_policy_ops as_policy_list_ops, as_policy_halving_ops, as_policy_hyperband_ops,
    as_policy_asha_ops;

#endif
