/* test_policy.c: the search policies of src/sweep/policy.h driven directly with synthetic
 * metrics: rung ladders, successive halving's promotions (independent of the order
 * reports arrive in, ties by run key, dead variants never promoted), Hyperband's
 * brackets, ASHA's asynchronous promotions reaching the top, the list policy's order.
 *
 * The metric of a run at a rung is a fixed function of (variant, repeat, rung), so the
 * expected promotions are computed here independently by sorting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/grid.h"
#include "attnsweep/rng.h"
#include "sweep/policy.h"
#include "testutil.h"

#define NV 20
#define MAXT 4096

static as_sweep make_sweep(const char *search, int repeats) {
    char text[2048];
    snprintf(text, sizeof text,
             "{\"data\": \"d.h5\", \"model\": [{\"type\": \"dense\", \"units\": \"$u\"}],"
             " \"train\": {\"epochs\": 30}, \"grid\": {\"u\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,"
             "17,18,19,20]}, \"repeats\": %d, \"search\": %s}",
             repeats, search);
    as_sweep s;
    as_error e;
    ck_assert_msg(as_sweep_parse(text, "t.json", NULL, NULL, NULL, &s, &e) == AS_OK, "%s", e.msg);
    ck_assert_int_eq(s.n, NV);
    return s;
}

/* Variant v's metric at rung k, repeat r: smaller is better; the two best, 0 and 1, tie. */
static double metric_of(int v, int r, int k) {
    int q = v == 1 ? 0 : v;
    return 100.0 / (1 + k) + ((q * 7919) % 23) + 0.01 * r;
}

typedef struct {
    char log[MAXT][24];
    int n;
} decisions;

static void on_decide(void *ud, as_decision d, int v, int rung) {
    decisions *ds = ud;
    if (ds->n < MAXT) snprintf(ds->log[ds->n++], sizeof ds->log[0], "%c%d@%d", d == AS_DECIDE_STOP ? 'S' : 'P', v, rung);
}

typedef struct {
    int epochs[NV]; /* highest budget each variant's runs were trained to */
    int tasks, trained, max_running;
    int stopped_at[NV];
} outcome;

/* Drives a policy to the end with up to `par` tasks in flight, finishing them in an
 * order shuffled by seed; dead_v (-1: none) diverges at rung 0. */
static void drive(as_policy *p, int par, uint64_t seed, int dead_v, outcome *o) {
    as_sched_task fly[64];
    int nfly = 0;
    as_rng rng;
    as_rng_seed(&rng, seed);
    memset(o, 0, sizeof *o);
    for (int guard = 0; guard < 100000; guard++) {
        while (nfly < par) {
            as_sched_task t;
            as_next n = as_policy_next(p, &t);
            if (n != AS_NEXT_TASK) {
                if (n == AS_NEXT_DONE) ck_assert_msg(nfly == 0, "done with tasks in flight");
                break;
            }
            ck_assert_int_lt(t.from, t.budget);
            fly[nfly++] = t;
            o->tasks++;
            o->trained += t.budget - t.from;
        }
        if (nfly > o->max_running) o->max_running = nfly;
        if (nfly == 0) {
            as_sched_task t;
            ck_assert_int_eq(as_policy_next(p, &t), AS_NEXT_DONE);
            return;
        }
        int i = (int)as_rng_below(&rng, (uint64_t)nfly);
        as_sched_task t = fly[i];
        fly[i] = fly[--nfly];
        int dead = t.v == dead_v;
        if (t.budget > o->epochs[t.v]) o->epochs[t.v] = t.budget;
        as_policy_report(p, &t, dead ? (double)NAN : metric_of(t.v, t.r, t.rung), dead);
    }
    ck_abort_msg("policy never finished");
}

static void setup(as_policy *p, as_sweep *s, double *cost, char **keys, decisions *ds) {
    for (int v = 0; v < s->n; v++) {
        cost[v] = 1000.0 - v;
        char k[32];
        snprintf(k, sizeof k, "key%02d", v);
        keys[v] = as_strdup(k);
    }
    memset(ds, 0, sizeof *ds);
    as_error e;
    ck_assert_msg(as_policy_init(p, s, cost, keys, NULL, on_decide, ds, &e) == AS_OK, "%s", e.msg);
}

static void teardown(as_policy *p, as_sweep *s, char **keys) {
    as_policy_free(p);
    for (int v = 0; v < s->n; v++) as_free(keys[v]);
    as_sweep_free(s);
}

START_TEST(test_ladder) {
    int b[64];
    int n = as_policy_ladder(3, 30, 3, b, 64);
    ck_assert_int_eq(n, 4);
    ck_assert(b[0] == 3 && b[1] == 9 && b[2] == 27 && b[3] == 30);
    n = as_policy_ladder(1, 8, 2, b, 64);
    ck_assert(n == 4 && b[3] == 8 && b[2] == 4);
    n = as_policy_ladder(5, 5, 3, b, 64);
    ck_assert(n == 1 && b[0] == 5);
}
END_TEST

/* Successive halving: 20 -> 6 -> 2 -> 1 by the repeats' mean, whatever the arrival order
 * and the number of tasks in flight. */
START_TEST(test_halving_order_independent) {
    char *first = NULL;
    for (int trial = 0; trial < 6; trial++) {
        as_sweep s = make_sweep("{\"type\": \"successive_halving\", \"min_epochs\": 3, \"max_epochs\": 30, "
                                "\"eta\": 3}", 2);
        double cost[NV];
        char *keys[NV];
        as_policy p;
        decisions *ds = as_calloc(1, sizeof *ds);
        setup(&p, &s, cost, keys, ds);
        outcome o;
        drive(&p, 1 + trial % 3 * 4, 11 + (uint64_t)trial, -1, &o);
        /* expected: sort by metric at each rung (mean over repeats = metric + 0.005), key ties */
        int alive[NV], n = NV;
        for (int v = 0; v < NV; v++) alive[v] = v;
        int budgets[] = {3, 9, 27, 30};
        for (int k = 0; k < 4; k++) {
            for (int i = 0; i < n; i++) ck_assert_int_ge(o.epochs[alive[i]], budgets[k]);
            for (int i = 0; i < n; i++) /* insertion sort by (metric, key) */
                for (int j = i; j > 0 && metric_of(alive[j], 0, k) < metric_of(alive[j - 1], 0, k); j--) {
                    int t = alive[j];
                    alive[j] = alive[j - 1];
                    alive[j - 1] = t;
                }
            n = n / 3 > 0 ? n / 3 : 1;
        }
        ck_assert_int_eq(o.epochs[alive[0]], 30);
        int at30 = 0;
        for (int v = 0; v < NV; v++) at30 += o.epochs[v] == 30;
        ck_assert_int_eq(at30, 1);
        ck_assert_int_eq(o.trained, 2 * (20 * 3 + 6 * 6 + 2 * 18 + 1 * 3));
        /* the decisions, sorted, are the same in every trial */
        qsort(ds->log, (size_t)ds->n, sizeof ds->log[0], (int (*)(const void *, const void *))strcmp);
        char *all = as_calloc((size_t)ds->n + 1, sizeof ds->log[0]);
        for (int i = 0; i < ds->n; i++) strcat(strcat(all, ds->log[i]), " ");
        if (!first) first = all;
        else {
            ck_assert_str_eq(first, all);
            as_free(all);
        }
        as_free(ds);
        teardown(&p, &s, keys);
    }
    /* 0 and 1 tie to the last rung, where one goes on: key00 < key01 */
    ck_assert_ptr_nonnull(strstr(first, "P0@3 "));
    ck_assert_ptr_nonnull(strstr(first, "S1@2 "));
    as_free(first);
}
END_TEST

/* A variant whose repeat diverges is stopped at once and never promoted, even if its
 * other repeat is the best. */
START_TEST(test_halving_dead_never_promoted) {
    as_sweep s = make_sweep("{\"type\": \"successive_halving\", \"min_epochs\": 1, \"max_epochs\": 9, "
                            "\"eta\": 3}", 2);
    double cost[NV];
    char *keys[NV];
    as_policy p;
    decisions *ds = as_calloc(1, sizeof *ds);
    setup(&p, &s, cost, keys, ds);
    outcome o;
    int best = 0; /* the variant with the smallest metric at rung 0 */
    for (int v = 1; v < NV; v++)
        if (metric_of(v, 0, 0) < metric_of(best, 0, 0)) best = v;
    drive(&p, 3, 5, best, &o);
    ck_assert_int_eq(o.epochs[best], 1);
    char want[24];
    snprintf(want, sizeof want, "S%d@0", best);
    int found = 0;
    for (int i = 0; i < ds->n; i++) found |= !strcmp(ds->log[i], want);
    ck_assert(found);
    as_free(ds);
    teardown(&p, &s, keys);
}
END_TEST

/* Hyperband with r = 3, R = 30, eta 3: s_max = 2, brackets asking 9, 5 and 3 variants get
 * 12, 5 and 3 of the 20 (in proportion, the rest to s_max), budgets {3, 10, 30}, {10, 30},
 * {30}; every bracket ends with one variant at 30 epochs. */
START_TEST(test_hyperband_brackets) {
    as_sweep s = make_sweep("{\"type\": \"hyperband\", \"min_epochs\": 3, \"max_epochs\": 30, \"eta\": 3}", 1);
    double cost[NV];
    char *keys[NV];
    as_policy p;
    decisions *ds = as_calloc(1, sizeof *ds);
    setup(&p, &s, cost, keys, ds);
    outcome o;
    drive(&p, 4, 9, -1, &o);
    int at[31] = {0};
    for (int v = 0; v < NV; v++) at[o.epochs[v]]++;
    /* bracket 2: 12 at 3, 4 to 10, 1 to 30; bracket 1: 5 at 10, 1 to 30; bracket 0: 3 at 30 */
    ck_assert_int_eq(at[3], 8);
    ck_assert_int_eq(at[10], 3 + 4);
    ck_assert_int_eq(at[30], 1 + 1 + 3);
    ck_assert_int_eq(o.trained, 12 * 3 + 4 * 7 + 20 + 5 * 10 + 20 + 3 * 30);
    as_free(ds);
    teardown(&p, &s, keys);
}
END_TEST

/* ASHA: starts every variant, promotes without waiting (several tasks in flight all the
 * time while new variants remain), and the best variant reaches the top. */
START_TEST(test_asha) {
    as_sweep s = make_sweep("{\"type\": \"asha\", \"min_epochs\": 3, \"max_epochs\": 30, \"eta\": 3}", 1);
    double cost[NV];
    char *keys[NV];
    as_policy p;
    decisions *ds = as_calloc(1, sizeof *ds);
    setup(&p, &s, cost, keys, ds);
    outcome o;
    drive(&p, 4, 3, -1, &o);
    int best = 0, top = 0;
    for (int v = 0; v < NV; v++) {
        ck_assert_int_ge(o.epochs[v], 3);
        if (metric_of(v, 0, 0) < metric_of(best, 0, 0)) best = v;
        top += o.epochs[v] == 30;
    }
    ck_assert_int_ge(top, 1);
    ck_assert_int_eq(o.max_running, 4);
    ck_assert_int_lt(o.trained, NV * 30 / 2);
    ck_assert_int_eq(o.epochs[best], 30); /* best at every rung in metric_of */
    as_free(ds);
    teardown(&p, &s, keys);
}
END_TEST

/* Grid: every run once, to its own epochs (budget 0), costliest first, done runs skipped. */
START_TEST(test_list_policy) {
    as_sweep s = make_sweep("{\"type\": \"grid\"}", 2);
    double cost[NV];
    char *keys[NV];
    for (int v = 0; v < NV; v++) {
        cost[v] = (double)((v * 37) % 11);
        keys[v] = NULL;
    }
    unsigned char done[2 * NV] = {0};
    done[5] = 1;
    as_policy p;
    as_error e;
    ck_assert(as_policy_init(&p, &s, cost, keys, done, NULL, NULL, &e) == AS_OK);
    as_sched_task t;
    double last = 1e9;
    int n = 0;
    while (as_policy_next(&p, &t) == AS_NEXT_TASK) {
        ck_assert(t.budget == 0 && t.from == 0 && t.last == 1);
        ck_assert(!(t.v == 2 && t.r == 1));
        ck_assert(cost[t.v] <= last);
        last = cost[t.v];
        n++;
    }
    ck_assert_int_eq(n, 2 * NV - 1);
    as_policy_free(&p);
    as_sweep_free(&s);
}
END_TEST

static Suite *policy_suite(void) {
    Suite *s = suite_create("policy");
    TCase *t = tcase_create("policies");
    tcase_add_test(t, test_ladder);
    tcase_add_test(t, test_halving_order_independent);
    tcase_add_test(t, test_halving_dead_never_promoted);
    tcase_add_test(t, test_hyperband_brackets);
    tcase_add_test(t, test_asha);
    tcase_add_test(t, test_list_policy);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return as_test_run(policy_suite()); }
