/* policy.c: the search-policy interface (policy.h), the list policy behind grid and
 * random search, rung ladders, and the checks of a rung policy's metric. */
#include "sweep/policy.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/spec.h"
#include "attnsweep/sweep.h"
#include "attnsweep/train.h"

int as_policy_ladder(int min_epochs, int max_epochs, int eta, int *budgets, int cap) {
    int n = 0;
    for (long b = min_epochs; b < max_epochs && n < cap - 1; b *= eta) budgets[n++] = (int)b;
    budgets[n++] = max_epochs;
    return n;
}

/* ---- grid and random: every run once, to its own epochs, costliest first ---------- */

typedef struct {
    as_sched_task *tasks;
    int n, next;
} list_state;

static const double *g_sort_cost;

static int cmp_cost(const void *a, const void *b) {
    const as_sched_task *x = a, *y = b;
    double cx = g_sort_cost[x->v], cy = g_sort_cost[y->v];
    if (cx != cy) return cx < cy ? 1 : -1;
    if (x->v != y->v) return x->v - y->v;
    return x->r - y->r;
}

static as_status list_init(as_policy *p, as_error *err) {
    const as_sweep *s = p->s;
    list_state *ls = as_calloc(1, sizeof *ls);
    size_t total = (size_t)s->n * (size_t)s->repeats;
    if (!ls || !(ls->tasks = as_calloc(total ? total : 1, sizeof *ls->tasks))) {
        as_free(ls);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the task list");
    }
    for (int v = 0; v < s->n; v++)
        for (int r = 0; r < s->repeats; r++)
            if (!p->done || !p->done[(size_t)v * s->repeats + r])
                ls->tasks[ls->n++] = (as_sched_task){v, r, 0, 0, 0, 1};
    g_sort_cost = p->cost;
    qsort(ls->tasks, (size_t)ls->n, sizeof *ls->tasks, cmp_cost);
    p->state = ls;
    return AS_OK;
}

static as_next list_next(as_policy *p, as_sched_task *t) {
    list_state *ls = p->state;
    if (ls->next >= ls->n) return AS_NEXT_DONE;
    *t = ls->tasks[ls->next++];
    return AS_NEXT_TASK;
}

static void list_report(as_policy *p, const as_sched_task *t, double metric, int end) {
    (void)p, (void)t, (void)metric, (void)end;
}

static void list_free(as_policy *p) {
    list_state *ls = p->state;
    if (ls) as_free(ls->tasks);
    as_free(ls);
}

const as_policy_ops as_policy_list_ops = {"list", list_init, list_next, list_report, NULL, NULL,
                                          list_free};

/* ---- the interface -------------------------------------------------------------- */

as_status as_policy_init(as_policy *p, const as_sweep *s, const double *cost, char **keys,
                         const unsigned char *done, as_decide_fn decide, void *ud, as_error *err) {
    memset(p, 0, sizeof *p);
    p->s = s;
    p->cost = cost;
    p->keys = keys;
    p->done = done;
    p->decide = decide;
    p->decide_ud = ud;
    switch (s->search.type) {
    case AS_SEARCH_HALVING: p->ops = &as_policy_halving_ops; break;
    case AS_SEARCH_HYPERBAND: p->ops = &as_policy_hyperband_ops; break;
    case AS_SEARCH_ASHA: p->ops = &as_policy_asha_ops; break;
    default: p->ops = &as_policy_list_ops; break;
    }
    as_status st = p->ops->init(p, err);
    if (st) memset(p, 0, sizeof *p);
    return st;
}

void as_policy_free(as_policy *p) {
    if (p && p->ops) p->ops->free(p);
    if (p) memset(p, 0, sizeof *p);
}

int as_policy_rungs(const as_policy *p, int v, int r, int *epochs, double *metric, double *mean,
                    int cap) {
    return p->ops->rungs ? p->ops->rungs(p, v, r, epochs, metric, mean, cap) : 0;
}

/* ---- checks against the dataset --------------------------------------------------- */

as_status as_sweep_check_search(const as_sweep *s, const as_dataset *d, const char *origin,
                                as_error *err) {
    const as_search_cfg *c = &s->search;
    if (c->type < AS_SEARCH_HALVING) return AS_OK;
    int acc = c->metric == AS_METRIC_VAL_ACCURACY || c->metric == AS_METRIC_ACCURACY;
    if (acc && d->task != AS_TASK_CLASSIFICATION)
        return as_error_set(err, AS_ERR_SPEC, "%s: search.metric: %s needs a classification "
                            "dataset (%s is regression: use val_loss or loss)", origin,
                            as_metric_name(c->metric), d->path);
    int val = c->metric == AS_METRIC_VAL_LOSS || c->metric == AS_METRIC_VAL_ACCURACY;
    for (int v = 0; val && v < s->n; v++) {
        /* the parsed split: validation_split or the validation object's (any mode takes
         * as many rows); a variant that does not parse fails at its run, with the reason */
        as_spec spec;
        as_error pe;
        if (as_spec_parse(s->v[v].spec, origin, NULL, NULL, &spec, &pe)) continue;
        double split = spec.train.validation_split;
        as_spec_free(&spec);
        int n_train, n_val;
        as_fit_split_rows(d->train.n, split, &n_train, &n_val);
        if (n_val < 1)
            return as_error_set(err, AS_ERR_SPEC, "%s: search.metric: %s needs validation rows, "
                                "but variant %d (%s) has train.validation_split %g (give it, or "
                                "train.validation)", origin, as_metric_name(c->metric), v,
                                s->v[v].name, split);
    }
    return AS_OK;
}

void as_result_set_kept(as_result *r) {
    r->kept_val_loss = as_result_metric_at(r, AS_METRIC_VAL_LOSS, r->kept_epoch);
    r->kept_val_accuracy = as_result_metric_at(r, AS_METRIC_VAL_ACCURACY, r->kept_epoch);
}

double as_result_metric_at(const as_result *r, as_metric m, int epoch) {
    static const char *const names[] = {"val_loss", "val_accuracy", "loss", "accuracy"};
    if (r->status != AS_VAR_OK && r->status != AS_VAR_STOPPED) return (double)NAN;
    for (int i = 0; i < r->n_arrays; i++) {
        const as_array *a = &r->arrays[i];
        if (strcmp(a->name, names[m]) || a->type != AS_ARR_F64) continue;
        if (epoch < 1 || (hsize_t)epoch > a->dims[0]) return (double)NAN;
        return ((const double *)a->data)[epoch - 1];
    }
    return (double)NAN;
}
