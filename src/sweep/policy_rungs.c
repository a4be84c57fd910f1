/* policy_rungs.c: the rung policies of policy.h -- successive halving, Hyperband (brackets
 * of successive halving) and ASHA -- over one shared table of trials (a trial is a
 * variant; its repeats are its runs).
 *
 * Synchronous brackets (halving, hyperband) train one rung at a time and decide when
 * every run of the rung has reported: the best max(1, floor(n / eta)) variants by their
 * repeats' mean metric go on (ties by run key; a dead variant, one whose repeat diverged
 * or failed, never), the others stop. A run that early stopping ended (inside the rung
 * or on its last epoch) is finished: it is ranked by the metric it ended with and takes
 * its place in the ranking, but its variant is never promoted (a place it wins is not
 * given to the next variant). Reports may come in any order: the decisions depend only
 * on the metrics. ASHA promotes as soon as a variant is in the top
 * floor(n / eta) of the results a rung holds at that moment, so it depends on arrival
 * order; its promotions are recorded (as_decide_fn) and replayed on --resume. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/rng.h"
#include "sweep/policy.h"

#define MAX_RUNGS 64

typedef struct {
    int nrungs, budgets[MAX_RUNGS];
    int *members, n; /* variants, in issue order */
    int rung;        /* synchronous: the rung being trained */
    int done;
    int next_new;    /* asha: members started so far */
} bracket;

typedef struct {
    int async;
    bracket *b;
    int nb;
    int *bracket_of; /* per variant, -1: in no bracket */
    int *target;     /* per variant: the rung it trains to, -1 not started */
    char *stopped, *finished;
    int *reported;   /* per run: highest rung reported, -1 none */
    char *running, *dead;
    char *ended;     /* per run: early stopping ended it (finished, never continues) */
    double *metric;  /* per run and rung */
    int R;           /* repeats */
} rstate;

static size_t run_ix(const rstate *st, int v, int r) { return (size_t)v * (size_t)st->R + (size_t)r; }

/* Every repeat has reported rung k. A repeat that diverged does not cut its rung short:
 * the others still train it (what is stored then does not depend on which repeat
 * reported first, so on the rank count or a kill). */
static int complete(const rstate *st, int v, int k) {
    for (int r = 0; r < st->R; r++) {
        size_t i = run_ix(st, v, r);
        if (st->reported[i] < k && !st->dead[i]) return 0;
    }
    return 1;
}

static int is_dead(const rstate *st, int v) {
    for (int r = 0; r < st->R; r++)
        if (st->dead[run_ix(st, v, r)]) return 1;
    return 0;
}

/* How many repeats of v early stopping ended. */
static int n_ended(const rstate *st, int v) {
    int n = 0;
    for (int r = 0; r < st->R; r++) n += st->ended[run_ix(st, v, r)];
    return n;
}

/* The variant's mean metric at rung k; NaN while a repeat has not reported it (or
 * reported NaN: it diverged or failed there). */
static double mean_at(const rstate *st, int v, int k) {
    double sum = 0;
    for (int r = 0; r < st->R; r++) {
        size_t i = run_ix(st, v, r);
        if (st->reported[i] < k) return (double)NAN;
        sum += st->metric[i * MAX_RUNGS + (size_t)k];
    }
    return sum / st->R;
}

/* The mean the ranking uses: NaN (last) for a dead variant. */
static double rank_mean(const rstate *st, int v, int k) {
    return is_dead(st, v) ? (double)NAN : mean_at(st, v, k);
}

/* qsort context (qsort has no user pointer). */
static const as_policy *g_p;
static int g_k;

/* Better first: a finite mean before NaN, then the mode's order, then the run key. */
static int cmp_trials(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    const rstate *st = g_p->state;
    double mx = rank_mean(st, x, g_k), my = rank_mean(st, y, g_k);
    int fx = isfinite(mx), fy = isfinite(my);
    if (fx != fy) return fy - fx;
    if (fx && mx != my) return (g_p->s->search.maximize ? mx > my : mx < my) ? -1 : 1;
    int c = strcmp(g_p->keys[x], g_p->keys[y]);
    return c ? c : x - y;
}

static void sort_trials(const as_policy *p, int *v, int n, int k) {
    g_p = p;
    g_k = k;
    qsort(v, (size_t)n, sizeof *v, cmp_trials);
}

/* A run of v at its target rung that is neither reported, running nor dead (a variant
 * with a dead repeat finishes the rung: it is decided, never promoted, once complete). */
static int issue(as_policy *p, int v, as_sched_task *t) {
    rstate *st = p->state;
    const bracket *b = &st->b[st->bracket_of[v]];
    int k = st->target[v];
    if (k < 0 || st->stopped[v] || st->finished[v]) return 0;
    for (int r = 0; r < st->R; r++) {
        size_t i = run_ix(st, v, r);
        if (st->reported[i] >= k || st->running[i] || st->dead[i]) continue;
        int from = st->reported[i] >= 0 ? b->budgets[st->reported[i]] : 0;
        *t = (as_sched_task){v, r, b->budgets[k], from, k, k == b->nrungs - 1};
        st->running[i] = 1;
        return 1;
    }
    return 0;
}

static void decide(as_policy *p, as_decision d, int v, int rung) {
    if (p->decide) p->decide(p->decide_ud, d, v, rung);
}

/* v goes no further: finished when early stopping ended every repeat, else stopped (the
 * repeats early stopping ended stay finished: the scheduler stores them as they ended). */
static void stop_trial(as_policy *p, int v) {
    rstate *st = p->state;
    if (st->stopped[v] || st->finished[v]) return;
    if (n_ended(st, v) == st->R) {
        st->finished[v] = 1;
        return;
    }
    st->stopped[v] = 1;
    decide(p, AS_DECIDE_STOP, v, st->target[v]);
}

/* Synchronous: when the bracket's rung is complete, promote its best and stop the rest. */
static void advance(as_policy *p, bracket *b) {
    rstate *st = p->state;
    while (!b->done) {
        int c = b->rung, n = 0;
        int *cand = as_malloc((size_t)(b->n ? b->n : 1) * sizeof *cand);
        if (!cand) return; /* decided on a later report */
        for (int i = 0; i < b->n; i++) {
            int v = b->members[i];
            if (st->target[v] != c || st->stopped[v]) continue;
            if (!complete(st, v, c)) {
                as_free(cand);
                return;
            }
            cand[n++] = v;
        }
        sort_trials(p, cand, n, c);
        int last = c == b->nrungs - 1;
        int keep = last ? 0 : n / p->s->search.eta > 0 ? n / p->s->search.eta : 1;
        for (int i = 0; i < n; i++) {
            int v = cand[i];
            if (i < keep && isfinite(rank_mean(st, v, c)) && !n_ended(st, v)) {
                st->target[v] = c + 1;
                decide(p, AS_DECIDE_PROMOTE, v, c + 1);
            } else if (last && !is_dead(st, v)) { /* R reached, or ended inside the last rung */
                st->finished[v] = 1;
            } else {
                stop_trial(p, v);
            }
        }
        as_free(cand);
        int promoted = 0;
        for (int i = 0; i < b->n; i++) promoted |= st->target[b->members[i]] == c + 1;
        if (last || !promoted) b->done = 1;
        else b->rung = c + 1;
    }
}

static int any_running(const rstate *st, int n) {
    for (size_t i = 0; i < (size_t)n * (size_t)st->R; i++)
        if (st->running[i]) return 1;
    return 0;
}

static as_next sync_next(as_policy *p, as_sched_task *t) {
    rstate *st = p->state;
    int open = 0;
    for (int k = 0; k < st->nb; k++) {
        bracket *b = &st->b[k];
        advance(p, b);
        if (b->done) continue;
        open = 1;
        for (int i = 0; i < b->n; i++)
            if (issue(p, b->members[i], t)) return AS_NEXT_TASK;
    }
    return open && any_running(st, p->s->n) ? AS_NEXT_WAIT : AS_NEXT_DONE;
}

/* Rung k can get no more results: every variant has started, and none is still on its
 * way to rung k or below. */
static int rung_closed(const rstate *st, const bracket *b, int k) {
    if (b->next_new < b->n) return 0;
    for (int i = 0; i < b->n; i++) {
        int v = b->members[i];
        if (st->target[v] >= 0 && st->target[v] <= k && !complete(st, v, st->target[v])) return 0;
    }
    return 1;
}

/* ASHA (Li et al. 2020, Algorithm 2): finish the runs of promoted variants, else promote
 * from the highest rung that has a candidate, else start a new variant. The paper draws
 * new configurations for ever; with a finite set, a rung that can get no more results
 * (rung_closed) promotes its best max(1, floor(n / eta)), so that the best reach the top. */
static int asha_promote(as_policy *p, bracket *b, as_sched_task *t, int idle) {
    rstate *st = p->state;
    int *cand = as_malloc((size_t)(b->n ? b->n : 1) * sizeof *cand);
    if (!cand) return 0;
    for (int k = b->nrungs - 2; k >= 0; k--) {
        int n = 0;
        for (int i = 0; i < b->n; i++) {
            int v = b->members[i];
            if (st->target[v] >= k && complete(st, v, k) && isfinite(rank_mean(st, v, k))) cand[n++] = v;
        }
        sort_trials(p, cand, n, k);
        int keep = n / p->s->search.eta;
        if (keep == 0 && n > 0 && rung_closed(st, b, k)) keep = 1;
        if (idle) keep = k == b->nrungs - 2 ? n : 0; /* a rank would wait: finish the next best */
        for (int i = 0; i < keep; i++) {
            int v = cand[i];
            if (st->target[v] != k || st->stopped[v] || is_dead(st, v) || n_ended(st, v)) continue;
            st->target[v] = k + 1;
            decide(p, AS_DECIDE_PROMOTE, v, k + 1);
            as_free(cand);
            return issue(p, v, t);
        }
    }
    as_free(cand);
    return 0;
}

static as_next asha_next(as_policy *p, as_sched_task *t) {
    rstate *st = p->state;
    bracket *b = &st->b[0];
    for (int i = 0; i < b->n; i++)
        if (issue(p, b->members[i], t)) return AS_NEXT_TASK;
    if (asha_promote(p, b, t, 0)) return AS_NEXT_TASK;
    while (b->next_new < b->n) {
        int v = b->members[b->next_new++];
        if (st->target[v] >= 0) continue; /* started before a resume */
        st->target[v] = 0;
        if (issue(p, v, t)) return AS_NEXT_TASK;
    }
    /* every variant started and no promotion due: rather than let a rank wait, take the
     * next best variant of the last rung but one to max_epochs (a short step: in a
     * simulation of this sweep on 2 ranks it lifts the busy time from 94% to 96% for 3%
     * more epochs; letting lower rungs go on too would train most variants fully) */
    if (any_running(st, p->s->n)) return asha_promote(p, b, t, 1) ? AS_NEXT_TASK : AS_NEXT_WAIT;
    for (int i = 0; i < b->n; i++) stop_trial(p, b->members[i]);
    return AS_NEXT_DONE;
}

static void rungs_report(as_policy *p, const as_sched_task *t, double metric, int end) {
    rstate *st = p->state;
    size_t i = run_ix(st, t->v, t->r);
    st->running[i] = 0;
    if (t->rung > st->reported[i]) st->reported[i] = t->rung;
    st->metric[i * MAX_RUNGS + (size_t)t->rung] = metric;
    if (end == AS_END_DEAD) st->dead[i] = 1;
    if (end == AS_END_EARLY && isfinite(metric)) st->ended[i] = 1;
    else if (end == AS_END_EARLY) st->dead[i] = 1; /* ended without its metric: ranks last */
    if (st->target[t->v] < t->rung) st->target[t->v] = t->rung; /* a replayed report */
    const bracket *b = &st->b[st->bracket_of[t->v]];
    if (t->rung == b->nrungs - 1 && complete(st, t->v, t->rung) && !is_dead(st, t->v))
        st->finished[t->v] = 1;
    if (!st->async) advance(p, &st->b[st->bracket_of[t->v]]);
}

static void asha_replay_promote(as_policy *p, int v, int rung) {
    rstate *st = p->state;
    if (v >= 0 && v < p->s->n && st->bracket_of[v] >= 0 && rung > st->target[v]) st->target[v] = rung;
}

static int rungs_query(const as_policy *p, int v, int r, int *epochs, double *metric, double *mean,
                       int cap) {
    const rstate *st = p->state;
    if (st->bracket_of[v] < 0) return 0;
    const bracket *b = &st->b[st->bracket_of[v]];
    size_t i = run_ix(st, v, r);
    int n = 0;
    for (int k = 0; k <= st->reported[i] && n < cap; k++, n++) {
        epochs[n] = b->budgets[k];
        metric[n] = st->metric[i * MAX_RUNGS + (size_t)k];
        mean[n] = mean_at(st, v, k);
    }
    return n;
}

static void rungs_free(as_policy *p) {
    rstate *st = p->state;
    if (!st) return;
    for (int k = 0; st->b && k < st->nb; k++) as_free(st->b[k].members);
    as_free(st->b);
    as_free(st->bracket_of);
    as_free(st->target);
    as_free(st->stopped);
    as_free(st->finished);
    as_free(st->reported);
    as_free(st->running);
    as_free(st->dead);
    as_free(st->ended);
    as_free(st->metric);
    as_free(st);
    p->state = NULL;
}

static as_status state_alloc(as_policy *p, int nb, as_error *err) {
    const as_sweep *s = p->s;
    size_t n = (size_t)s->n, runs = n * (size_t)s->repeats, cells;
    rstate *st = as_calloc(1, sizeof *st);
    p->state = st;
    if (!st || !as_size_mul(runs, MAX_RUNGS, &cells)) goto nomem;
    st->R = s->repeats;
    st->nb = nb;
    st->b = as_calloc((size_t)nb, sizeof *st->b);
    st->bracket_of = as_malloc(n * sizeof(int));
    st->target = as_malloc(n * sizeof(int));
    st->stopped = as_calloc(n, 1);
    st->finished = as_calloc(n, 1);
    st->reported = as_malloc(runs * sizeof(int));
    st->running = as_calloc(runs, 1);
    st->dead = as_calloc(runs, 1);
    st->ended = as_calloc(runs, 1);
    st->metric = as_malloc(cells * sizeof(double));
    if (!st->b || !st->bracket_of || !st->target || !st->stopped || !st->finished ||
        !st->reported || !st->running || !st->dead || !st->ended || !st->metric)
        goto nomem;
    for (size_t v = 0; v < n; v++) st->bracket_of[v] = st->target[v] = -1;
    for (size_t i = 0; i < runs; i++) st->reported[i] = -1;
    for (size_t i = 0; i < cells; i++) st->metric[i] = (double)NAN;
    return AS_OK;
nomem:
    rungs_free(p);
    return as_error_set(err, AS_ERR_NOMEM, "out of memory for the search state");
}

static const double *g_cost;
static int cmp_cost_desc(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    if (g_cost[x] != g_cost[y]) return g_cost[x] < g_cost[y] ? 1 : -1;
    return x - y;
}

/* Bracket k gets variants vs[0..n), issued costliest first (asha: in the order given). */
static as_status fill_bracket(as_policy *p, int k, const int *vs, int n, int by_cost, as_error *err) {
    rstate *st = p->state;
    bracket *b = &st->b[k];
    b->members = as_malloc((size_t)(n ? n : 1) * sizeof(int));
    if (!b->members) return as_error_set(err, AS_ERR_NOMEM, "out of memory for the search state");
    memcpy(b->members, vs, (size_t)n * sizeof(int));
    b->n = n;
    if (by_cost) {
        g_cost = p->cost;
        qsort(b->members, (size_t)n, sizeof(int), cmp_cost_desc);
    }
    for (int i = 0; i < n; i++) {
        st->bracket_of[vs[i]] = k;
        if (!st->async) st->target[vs[i]] = 0;
    }
    if (n == 0) b->done = 1;
    return AS_OK;
}

static as_status ladder_init(as_policy *p, int async, as_error *err) {
    as_status s = state_alloc(p, 1, err);
    if (s) return s;
    rstate *st = p->state;
    const as_search_cfg *c = &p->s->search;
    st->async = async;
    bracket *b = &st->b[0];
    b->nrungs = as_policy_ladder(c->min_epochs, c->max_epochs, c->eta, b->budgets, MAX_RUNGS);
    int *all = as_malloc((size_t)(p->s->n ? p->s->n : 1) * sizeof(int));
    if (!all) {
        rungs_free(p);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the search state");
    }
    for (int v = 0; v < p->s->n; v++) all[v] = v;
    if (async) { /* new variants start in a seeded random order, as drawn configurations would:
                    the grid's order often follows quality, which would promote each newcomer */
        as_rng rng;
        as_rng_seed(&rng, as_rng_derive(c->seed ^ 0x6173686100000000ULL, AS_STREAM_SEARCH));
        as_rng_shuffle_int(&rng, all, (size_t)p->s->n);
    }
    s = fill_bracket(p, 0, all, p->s->n, !async, err);
    as_free(all);
    if (s) rungs_free(p);
    return s;
}

static as_status halving_init(as_policy *p, as_error *err) { return ladder_init(p, 0, err); }
static as_status asha_init(as_policy *p, as_error *err) { return ladder_init(p, 1, err); }

/* Hyperband (Li et al. 2018, Algorithm 1) with R = max_epochs and the smallest budget
 * >= min_epochs: s_max = the largest s with min_epochs * eta^s <= max_epochs; bracket s
 * (s_max down to 0) asks for n_s = ceil((s_max + 1) / (s + 1) * eta^s) variants starting
 * at round(max_epochs / eta^s) epochs. The sweep's variants are shared out in proportion
 * to n_s (what is left over goes to bracket s_max), in an order shuffled with the search
 * seed, so that bracket membership does not follow the grid's order. */
static as_status hyperband_init(as_policy *p, as_error *err) {
    const as_search_cfg *c = &p->s->search;
    int smax = 0;
    for (long b = (long)c->min_epochs * c->eta; b <= c->max_epochs && smax < MAX_RUNGS - 1; b *= c->eta)
        smax++;
    as_status s = state_alloc(p, smax + 1, err);
    if (s) return s;
    rstate *st = p->state;
    int N = p->s->n, *perm = as_malloc((size_t)(N ? N : 1) * sizeof(int));
    double want[MAX_RUNGS], total = 0;
    int got[MAX_RUNGS], sum = 0;
    if (!perm) {
        rungs_free(p);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the search state");
    }
    for (int v = 0; v < N; v++) perm[v] = v;
    as_rng rng;
    as_rng_seed(&rng, as_rng_derive(c->seed ^ 0x4879706572626e64ULL, AS_STREAM_SEARCH));
    as_rng_shuffle_int(&rng, perm, (size_t)N);
    for (int k = 0; k <= smax; k++) {
        int sb = smax - k; /* bracket k runs s = smax - k */
        want[k] = ceil((double)(smax + 1) / (sb + 1) * pow(c->eta, sb));
        total += want[k];
        bracket *b = &st->b[k];
        for (int i = 0; i <= sb; i++) {
            int e = (int)lround(c->max_epochs / pow(c->eta, sb - i));
            if (e < c->min_epochs) e = c->min_epochs;
            if (b->nrungs == 0 || e > b->budgets[b->nrungs - 1]) b->budgets[b->nrungs++] = e;
        }
    }
    for (int k = 0; k <= smax; k++) sum += got[k] = (int)floor(want[k] * N / total);
    got[0] += N - sum;
    for (int k = 0, at = 0; k <= smax && !s; at += got[k], k++) s = fill_bracket(p, k, perm + at, got[k], 1, err);
    as_free(perm);
    if (s) rungs_free(p);
    return s;
}

const as_policy_ops as_policy_halving_ops = {"successive_halving", halving_init, sync_next, rungs_report,
                                             NULL, rungs_query, rungs_free};
const as_policy_ops as_policy_hyperband_ops = {"hyperband", hyperband_init, sync_next, rungs_report,
                                               NULL, rungs_query, rungs_free};
const as_policy_ops as_policy_asha_ops = {"asha", asha_init, asha_next, rungs_report,
                                          asha_replay_promote, rungs_query, rungs_free};
