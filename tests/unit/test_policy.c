/* test_policy.c: the search policies of src/sweep/policy.h driven directly with synthetic
 * metrics: rung ladders, successive halving's promotions (independent of the order
 * reports arrive in, ties by run key, dead variants never promoted, variants early
 * stopping ended ranked in their place but never promoted nor stopped), Hyperband's
 * brackets, ASHA's asynchronous promotions reaching the top (never an early-stopped
 * variant), the list policy's order.
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
    int first[NV]; /* the budget of each variant's first task */
} outcome;

/* Which runs early stopping ends: repeat 0 of the variants in mask, at rung `rung`. */
typedef struct {
    unsigned mask;
    int rung;
} ending;

static int ends_early(const ending *en, int v, int r, int k) {
    return en && (en->mask >> v & 1u) && r == 0 && k == en->rung;
}

/* Drives a policy to the end with up to `par` tasks in flight, finishing them in an
 * order shuffled by seed; dead_v (-1: none) diverges at rung 0; en (may be NULL): runs
 * early stopping ends (reported with their metric, AS_END_EARLY). */
static void drive(as_policy *p, int par, uint64_t seed, int dead_v, const ending *en, outcome *o) {
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
        if (!o->first[t.v]) o->first[t.v] = t.budget;
        int end = dead ? AS_END_DEAD : ends_early(en, t.v, t.r, t.rung) ? AS_END_EARLY : AS_END_NONE;
        as_policy_report(p, &t, dead ? (double)NAN : metric_of(t.v, t.r, t.rung), end);
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

/* The synchronous rung policies, table-driven: each case drives a policy to the end and
 * checks it against an independent reference, successive halving computed here by
 * sorting (mean over repeats of metric_of, ties by run key, a dead variant last and
 * never promoted) over each bracket. A variant's bracket is read from its first task's
 * budget (Hyperband's brackets start at different budgets); the bracket sizes are the
 * case's. Checked: every decision (sorted: whatever the arrival order and the number of
 * tasks in flight), each variant's highest budget, the epochs trained. */
typedef struct {
    int n, budgets[4], size; /* a bracket's rung budgets and how many variants it holds */
} ladder_case;

typedef struct {
    const char *search;
    int eta, repeats, par;
    uint64_t seed;
    int dead;                /* -1: none; -2: the best variant at rung 0 diverges there */
    int nbr;
    ladder_case br[3];
    const char *must;        /* decisions that must be among them ("" none) */
    ending end;              /* runs early stopping ends ({0, 0}: none) */
} rung_case;

#define HALVING_3_30 "{\"type\": \"successive_halving\", \"min_epochs\": 3, \"max_epochs\": 30, \"eta\": 3}"
#define HALVING_LADDER {{4, {3, 9, 27, 30}, NV}}
#define HYPERBAND_3_30 "{\"type\": \"hyperband\", \"min_epochs\": 3, \"max_epochs\": 30, \"eta\": 3}"
/* r = 3, R = 30, eta 3: s_max = 2, brackets asking 9, 5 and 3 variants get 12, 5 and 3 of
 * the 20 (in proportion, the rest to s_max), budgets {3, 10, 30}, {10, 30}, {30} */
#define HYPERBAND_LADDERS {{3, {3, 10, 30}, 12}, {2, {10, 30}, 5}, {1, {30}, 3}}

static const rung_case k_rung_cases[] = {
    /* 20 -> 6 -> 2 -> 1; 0 and 1 tie to the last rung, where key00 < key01 goes on */
    {HALVING_3_30, 3, 2, 1, 11, -1, 1, HALVING_LADDER, "P0@3 S1@2", {0, 0}},
    {HALVING_3_30, 3, 2, 5, 12, -1, 1, HALVING_LADDER, "P0@3 S1@2", {0, 0}},
    {HALVING_3_30, 3, 2, 9, 13, -1, 1, HALVING_LADDER, "P0@3 S1@2", {0, 0}},
    {HALVING_3_30, 3, 2, 1, 14, -1, 1, HALVING_LADDER, "P0@3 S1@2", {0, 0}},
    {HALVING_3_30, 3, 2, 5, 15, -1, 1, HALVING_LADDER, "P0@3 S1@2", {0, 0}},
    {HALVING_3_30, 3, 2, 9, 16, -1, 1, HALVING_LADDER, "P0@3 S1@2", {0, 0}},
    /* a variant whose repeat diverges is stopped at once, even if its other is the best */
    {"{\"type\": \"successive_halving\", \"min_epochs\": 1, \"max_epochs\": 9, \"eta\": 3}", 3, 2, 3, 5, -2,
     1, {{3, {1, 3, 9}, NV}}, "", {0, 0}},
    /* one task at a time: its second repeat still trains the rung the first diverged in
       (the reference counts every repeat), as it does when both are in flight */
    {"{\"type\": \"successive_halving\", \"min_epochs\": 1, \"max_epochs\": 9, \"eta\": 3}", 3, 2, 1, 6, -2,
     1, {{3, {1, 3, 9}, NV}}, "", {0, 0}},
    {HYPERBAND_3_30, 3, 2, 1, 23, 7, 3, HYPERBAND_LADDERS, "", {0, 0}},
    {HYPERBAND_3_30, 3, 1, 4, 9, -1, 3, HYPERBAND_LADDERS, "", {0, 0}},
    {HYPERBAND_3_30, 3, 2, 3, 21, -1, 3, HYPERBAND_LADDERS, "", {0, 0}},
    {HYPERBAND_3_30, 3, 2, 7, 22, 7, 3, HYPERBAND_LADDERS, "", {0, 0}},
    /* early stopping ends the best variants (0 and 1 tie) at rung 0: whatever the order
       of the reports, both keep their places in the top 6 (only 4 others go on), are
       neither promoted nor stopped; 2 (13th at rung 0) ends there too, outside the top */
    {HALVING_3_30, 3, 1, 1, 31, -1, 1, HALVING_LADDER, "", {0x7u, 0}},
    {HALVING_3_30, 3, 1, 5, 32, -1, 1, HALVING_LADDER, "", {0x7u, 0}},
    {HALVING_3_30, 3, 1, 9, 33, -1, 1, HALVING_LADDER, "", {0x7u, 0}},
    /* one repeat of 0 and 1 ends: the variants are not promoted, their other repeats stop */
    {HALVING_3_30, 3, 2, 7, 34, -1, 1, HALVING_LADDER, "S0@0 S1@0", {0x3u, 0}},
    /* the best variant ends on rung 1 (9 epochs): it does not take rung 2 */
    {HALVING_3_30, 3, 1, 4, 35, -1, 1, HALVING_LADDER, "P1@3", {0x1u, 1}},
    {HYPERBAND_3_30, 3, 1, 4, 36, -1, 3, HYPERBAND_LADDERS, "", {0xffu, 0}},
    {HYPERBAND_3_30, 3, 2, 3, 37, -1, 3, HYPERBAND_LADDERS, "", {0xf0fu, 1}},
};

static double ref_mean(int v, int repeats, int k, int dead_v) {
    if (v == dead_v) return (double)INFINITY;
    double sum = 0;
    for (int r = 0; r < repeats; r++) sum += metric_of(v, r, k);
    return sum / repeats;
}

/* Reference successive halving over one bracket: appends its decisions to ds, sets
 * epochs[v] (highest budget) and returns the epochs trained. */
static int ref_halving(const ladder_case *b, const int *members, int eta, int repeats, int dead_v,
                       const ending *en, decisions *ds, int *epochs) {
    int alive[NV], n = b->size, trained = 0, from = 0;
    memcpy(alive, members, (size_t)n * sizeof *alive);
    for (int k = 0; k < b->n && n > 0; k++) {
        trained += n * repeats * (b->budgets[k] - from);
        from = b->budgets[k];
        for (int i = 0; i < n; i++) epochs[alive[i]] = b->budgets[k];
        for (int i = 1; i < n; i++) /* insertion sort by (mean, key = index) */
            for (int j = i; j > 0; j--) {
                double x = ref_mean(alive[j], repeats, k, dead_v), y = ref_mean(alive[j - 1], repeats, k, dead_v);
                if (x > y || (x == y && alive[j] > alive[j - 1])) break;
                int t = alive[j];
                alive[j] = alive[j - 1];
                alive[j - 1] = t;
            }
        if (k == b->n - 1) { /* the last rung: the living finish (ended or not), a dead one stops */
            for (int i = 0; i < n; i++)
                if (alive[i] == dead_v) snprintf(ds->log[ds->n++], sizeof ds->log[0], "S%d@%d", dead_v, k);
            break;
        }
        int keep = n / eta > 0 ? n / eta : 1, kept = 0;
        for (int i = 0; i < n; i++) {
            if (ends_early(en, alive[i], 0, k)) { /* finished: ranked, in its place, never goes on */
                if (repeats > 1) snprintf(ds->log[ds->n++], sizeof ds->log[0], "S%d@%d", alive[i], k);
                continue;
            }
            int go = i < keep && alive[i] != dead_v;
            snprintf(ds->log[ds->n++], sizeof ds->log[0], "%c%d@%d", go ? 'P' : 'S', alive[i], go ? k + 1 : k);
            if (go) alive[kept++] = alive[i];
        }
        n = kept;
    }
    return trained;
}

/* The sorted decisions, one string. */
static char *decision_text(decisions *ds) {
    qsort(ds->log, (size_t)ds->n, sizeof ds->log[0], (int (*)(const void *, const void *))strcmp);
    char *all = as_calloc((size_t)ds->n + 1, sizeof ds->log[0]);
    ck_assert_ptr_nonnull(all);
    for (int i = 0; i < ds->n; i++) strcat(strcat(all, ds->log[i]), " ");
    return all;
}

START_TEST(test_rung_policies) {
    const rung_case *c = &k_rung_cases[_i];
    as_sweep s = make_sweep(c->search, c->repeats);
    double cost[NV];
    char *keys[NV];
    as_policy p;
    decisions *ds = as_calloc(1, sizeof *ds), *want = as_calloc(1, sizeof *want);
    setup(&p, &s, cost, keys, ds);
    int dead_v = c->dead;
    if (dead_v == -2) { /* the variant with the smallest metric at rung 0 */
        dead_v = 0;
        for (int v = 1; v < NV; v++)
            if (metric_of(v, 0, 0) < metric_of(dead_v, 0, 0)) dead_v = v;
    }
    outcome o;
    drive(&p, c->par, c->seed, dead_v, &c->end, &o);
    int epochs[NV], trained = 0;
    for (int k = 0; k < c->nbr; k++) {
        int members[NV], n = 0;
        for (int v = 0; v < NV; v++)
            if (o.first[v] == c->br[k].budgets[0]) members[n++] = v;
        ck_assert_int_eq(n, c->br[k].size);
        trained += ref_halving(&c->br[k], members, c->eta, c->repeats, dead_v, &c->end, want, epochs);
    }
    for (int v = 0; v < NV; v++) { /* rungs/mean: finite for every rung each repeat reported */
        int ep[64];
        double met[64], mean[64];
        for (int r = 0; r < c->repeats && v != dead_v; r++) {
            int n = as_policy_rungs(&p, v, r, ep, met, mean, 64);
            ck_assert_int_ge(n, 1);
            for (int k = 0; k < n; k++)
                ck_assert_msg(isfinite(met[k]) && isfinite(mean[k]),
                              "v%d r%d rung %d: metric %g mean %g", v, r, k, met[k], mean[k]);
        }
    }
    for (int v = 0; v < NV; v++) ck_assert_int_eq(o.epochs[v], epochs[v]);
    ck_assert_int_eq(o.trained, trained);
    char *got = decision_text(ds), *ref = decision_text(want);
    ck_assert_str_eq(got, ref);
    char must[64];
    for (const char *m = c->must; sscanf(m, "%63s", must) == 1; m = strstr(m, must) + strlen(must))
        ck_assert_msg(strstr(got, must), "%s not among %s", must, got);
    as_free(got);
    as_free(ref);
    as_free(ds);
    as_free(want);
    teardown(&p, &s, keys);
}
END_TEST

/* Drives ASHA (r = 3, R = 30, eta 3, 1 repeat) to the end; its decisions go to ds. */
static void drive_asha(int par, uint64_t seed, const ending *en, outcome *o, decisions *ds) {
    as_sweep s = make_sweep("{\"type\": \"asha\", \"min_epochs\": 3, \"max_epochs\": 30, \"eta\": 3}", 1);
    double cost[NV];
    char *keys[NV];
    as_policy p;
    setup(&p, &s, cost, keys, ds);
    drive(&p, par, seed, -1, en, o);
    teardown(&p, &s, keys);
}

/* ASHA: starts every variant, promotes without waiting (several tasks in flight all the
 * time while new variants remain), and the best variant reaches the top. */
START_TEST(test_asha) {
    decisions *ds = as_calloc(1, sizeof *ds);
    outcome o;
    drive_asha(4, 3, NULL, &o, ds);
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
}
END_TEST

/* ASHA with early stopping ending the best variants at rung 0 (0 and 1 tie): they are
 * never promoted nor stopped, whatever the order; the next best reaches the top. */
START_TEST(test_asha_ended) {
    for (uint64_t seed = 1; seed <= 6; seed++) {
        decisions *ds = as_calloc(1, sizeof *ds);
        ending en = {0x3u, 0};
        outcome o;
        drive_asha((int)(1 + seed % 4), seed, &en, &o, ds);
        ck_assert_int_eq(o.epochs[0], 3);
        ck_assert_int_eq(o.epochs[1], 3);
        for (int i = 0; i < ds->n; i++)
            ck_assert_msg(strncmp(ds->log[i], "P0@", 3) && strncmp(ds->log[i], "P1@", 3) &&
                              strncmp(ds->log[i], "S0@", 3) && strncmp(ds->log[i], "S1@", 3),
                          "decision %s on an early-stopped variant", ds->log[i]);
        int next = 2; /* the best of the others at every rung of metric_of */
        for (int v = 3; v < NV; v++)
            if (metric_of(v, 0, 0) < metric_of(next, 0, 0)) next = v;
        ck_assert_int_eq(o.epochs[next], 30);
        as_free(ds);
    }
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

/* The journal header records the settings the decisions depend on; a replay under other
 * settings is refused naming each with both values; a first-format header (the policy
 * only) is replayed when the policy matches. */
START_TEST(test_journal_header) {
    const char *dir = as_test_tmpdir();
    char path[4096], want[512], other[512];
    snprintf(path, sizeof path, "%s/journal", dir);
    as_sweep a = make_sweep("{\"type\": \"successive_halving\", \"min_epochs\": 1, "
                            "\"max_epochs\": 8, \"eta\": 2}", 2);
    as_sweep b = make_sweep("{\"type\": \"successive_halving\", \"min_epochs\": 2, "
                            "\"max_epochs\": 8, \"eta\": 2, \"mode\": \"max\"}", 3);
    as_sweep h = make_sweep("{\"type\": \"hyperband\", \"min_epochs\": 1, \"max_epochs\": 8, "
                            "\"eta\": 2, \"seed\": 7}", 2);
    as_journal_settings(&a, "ab12", want, sizeof want);
    ck_assert_str_eq(want, "successive_halving search.min_epochs=1 search.max_epochs=8 search.eta=2 "
                     "search.metric=val_loss search.mode=min search.samples=0 repeats=2 seed=0 "
                     "data_sha256=ab12");
    as_journal j;
    as_error e;
    long keep = -1;
    ck_assert_int_eq(as_journal_open(&j, path, want, 0, &e), AS_OK);
    as_journal_close(&j);
    ck_assert_int_eq(as_journal_replay(path, want, NULL, NULL, &keep, &e), AS_OK);
    ck_assert_int_eq(keep, (long)strlen(want) + 20); /* "attnsweep-search 2 " and newline */
    as_journal_settings(&b, "cd34", other, sizeof other);
    ck_assert_int_eq(as_journal_replay(path, other, NULL, NULL, &keep, &e), AS_ERR_ARG);
    ck_assert_msg(strstr(e.msg, "search.min_epochs: the journal has 1, the sweep file 2") &&
                  strstr(e.msg, "search.mode: the journal has min, the sweep file max") &&
                  strstr(e.msg, "repeats: the journal has 2, the sweep file 3") &&
                  strstr(e.msg, "data_sha256: the journal has ab12, the data now cd34") &&
                  !strstr(e.msg, "search.eta") && strstr(e.msg, "another -o"), "%s", e.msg);
    as_journal_settings(&h, "ab12", other, sizeof other); /* another policy */
    ck_assert_msg(strstr(other, " search.seed=7 "), "%s", other);
    ck_assert_int_eq(as_journal_replay(path, other, NULL, NULL, &keep, &e), AS_ERR_ARG);
    ck_assert_msg(strstr(e.msg, "not the journal of a hyperband search"), "%s", e.msg);
    /* the first format: accepted for its policy, whatever the settings */
    as_test_write_file(dir, "journal", "attnsweep-search 1 successive_halving\nP 0123456789abcdef 1\n");
    as_journal_settings(&b, "cd34", other, sizeof other);
    ck_assert_int_eq(as_journal_replay(path, other, NULL, NULL, &keep, &e), AS_OK);
    ck_assert_int_eq(keep, 59);
    as_test_write_file(dir, "journal", "attnsweep-search 1 asha\n");
    ck_assert_int_eq(as_journal_replay(path, other, NULL, NULL, &keep, &e), AS_ERR_ARG);
    /* a setting only the journal has (a later format's) is named too */
    snprintf(path + strlen(path), 8, "2");
    char text[700];
    snprintf(text, sizeof text, "attnsweep-search 2 %s search.x=3\n", want);
    as_test_write_file(dir, "journal2", text);
    ck_assert_int_eq(as_journal_replay(path, want, NULL, NULL, &keep, &e), AS_ERR_ARG);
    ck_assert_msg(strstr(e.msg, "search.x: the journal has 3, the sweep file none"), "%s", e.msg);
    as_sweep_free(&a);
    as_sweep_free(&b);
    as_sweep_free(&h);
}
END_TEST

static Suite *policy_suite(void) {
    Suite *s = suite_create("policy");
    TCase *t = tcase_create("policies");
    tcase_add_test(t, test_ladder);
    tcase_add_loop_test(t, test_rung_policies, 0, (int)(sizeof k_rung_cases / sizeof k_rung_cases[0]));
    tcase_add_test(t, test_asha);
    tcase_add_test(t, test_asha_ended);
    tcase_add_test(t, test_list_policy);
    tcase_add_test(t, test_journal_header);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return as_test_run(policy_suite()); }
