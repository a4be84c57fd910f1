// ranks: 1 2 3
/* test_dp.c: data-parallel training in process (issue 5), on 1, 2 and 3 ranks.
 *
 * - gradient buckets (src/train/dp.c) tile the gradient buffer, aligned to layers, from
 *   the last layer down, each at least bucket_kb unless it ends at layer 0;
 * - the bucketed allreduce, overlapped or blocking, gives the exact sum over ranks
 *   (integer-valued floats, so the order of summation cannot matter);
 * - as_fit_check_same_weights agrees on identical weights and fails on every rank when
 *   one rank's weights differ by one parameter;
 * - as_fit over the communicator against a plain single-process as_fit on every rank
 *   (the reference): loss, val_loss, accuracy, val_accuracy within relative 1e-5 on a
 *   regression (toy) and a classification task, batches not divisible by P; ranks end
 *   with bitwise identical weights; overlapped, blocking and 1 KiB buckets bitwise equal;
 * - a NaN in one row, in one rank's shard only, makes every rank stop as diverged at the
 *   same batch as the single-process run.
 * Failures are gathered before asserting so that a failing rank cannot leave the others
 * waiting in a collective (CK_FORK=no). */
#include <cjson/cJSON.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/rng.h"
#include "attnsweep/spec.h"
#include "attnsweep/toy.h"
#include "attnsweep/train.h"
#include "testutil.h"
#include "train/dp.h"

static int g_rank, g_size;

#define REG_MODEL                                                                        \
    "[{\"type\":\"conv1d\",\"filters\":16,\"kernel_size\":5,\"activation\":\"relu\"},"   \
    "{\"type\":\"self_attention\",\"num_heads\":2,\"key_dim\":8},"                       \
    "{\"type\":\"conv1d\",\"filters\":8,\"kernel_size\":3,\"activation\":\"relu\"},"     \
    "{\"type\":\"conv1d\",\"filters\":1,\"kernel_size\":3}]"
#define CLS_MODEL                                                                        \
    "[{\"type\":\"conv1d\",\"filters\":8,\"kernel_size\":5,\"activation\":\"relu\"},"    \
    "{\"type\":\"self_attention\",\"num_heads\":2,\"key_dim\":4},"                       \
    "{\"type\":\"global_average_pooling1d\"},{\"type\":\"dense\",\"units\":3}]"

/* Every rank's flag must be 1; returns the number of ranks where it is not. */
static int ranks_failing(int ok) {
    int bad = !ok, n = 0;
    MPI_Allreduce(&bad, &n, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    return n;
}

static void parse_spec(as_spec *s, const char *model, const char *train) {
    char json[2048];
    snprintf(json, sizeof json, "{\"data\":\"unused.h5\",\"model\":%s,\"train\":%s}", model, train);
    cJSON *root = cJSON_Parse(json);
    ck_assert_ptr_nonnull(root);
    as_error e;
    ck_assert_msg(as_spec_parse(root, "test", NULL, NULL, s, &e) == AS_OK, "%s", e.msg);
    cJSON_Delete(root);
}

static void toy(as_dataset *d, int n) {
    as_toy_params p = as_toy_defaults();
    p.samples = n;
    p.test_samples = 0;
    as_error e;
    ck_assert_msg(as_toy_make(&p, d, &e) == AS_OK, "%s", e.msg);
}

/* 3 classes of sines of different frequency plus noise, length 30. */
static void classes(as_dataset *d, int n) {
    memset(d, 0, sizeof *d);
    d->task = AS_TASK_CLASSIFICATION;
    d->n_classes = 3;
    as_split *s = &d->train;
    s->n = n;
    s->t = 30;
    s->c = 1;
    s->x = as_malloc((size_t)n * 30 * sizeof(float));
    s->labels = as_malloc((size_t)n * sizeof(int));
    ck_assert(s->x && s->labels);
    as_rng r;
    as_rng_seed(&r, 99);
    for (int i = 0; i < n; i++) {
        s->labels[i] = i % 3;
        for (int t = 0; t < 30; t++)
            s->x[i * 30 + t] = sinf(0.2f * (float)(1 + 2 * (i % 3)) * (float)t) +
                               0.6f * (as_rng_float(&r) - 0.5f);
    }
}

static void prepare(as_model *m, const as_spec *s, const as_dataset *d, int ranks) {
    as_error e;
    ck_assert_msg(as_fit_prepare(m, s, d, ranks, s->train.seed, "test", &e) == AS_OK, "%s", e.msg);
}

/* The regression model built for the world's ranks on a small toy dataset. */
typedef struct {
    as_spec s;
    as_dataset d;
    as_model m;
} small_fixture;

static void small_setup(small_fixture *f, const char *train) {
    parse_spec(&f->s, REG_MODEL, train);
    toy(&f->d, 8);
    prepare(&f->m, &f->s, &f->d, g_size);
}

static void small_teardown(small_fixture *f) {
    as_model_free(&f->m);
    as_dataset_free(&f->d);
    as_spec_free(&f->s);
}

START_TEST(test_buckets_tile_gradients) {
    small_fixture f;
    small_setup(&f, "{\"batch_size\":6}");
    static const int kbs[] = {1, 2, 4, 1024};
    int ok = 1;
    for (size_t k = 0; k < sizeof kbs / sizeof *kbs; k++) {
        as_dp dp;
        as_error e;
        ck_assert(as_dp_init(&dp, MPI_COMM_WORLD, &f.m, kbs[k], 1, &e) == AS_OK);
        size_t cap = (size_t)kbs[k] * 1024 / sizeof(float), end = f.m.n_params;
        for (int b = 0; b < dp.n_buckets; b++) {
            int lo = dp.first_layer[b];
            ok &= dp.off[b] == f.m.layers[lo].p_off && dp.off[b] + dp.len[b] == end;
            ok &= dp.bucket_of[lo] == b && dp.len[b] > 0;
            /* full unless it is the last; minimal: without its lowest layer it is short */
            ok &= dp.len[b] >= cap || b == dp.n_buckets - 1;
            ok &= dp.len[b] - f.m.layers[lo].p_n < cap;
            end = dp.off[b];
        }
        ok &= end == 0;
        int owned = 0;
        for (int i = 0; i < f.m.n_layers; i++) owned += dp.bucket_of[i] >= 0;
        ok &= owned == dp.n_buckets;
        if (kbs[k] == 1) ok &= dp.n_buckets >= 3; /* the case the e2e test relies on */
        if (kbs[k] == 1024) ok &= dp.n_buckets == 1;
        as_dp_free(&dp);
    }
    small_teardown(&f);
    ck_assert_msg(ok, "bucket layout wrong");
}
END_TEST

START_TEST(test_bucketed_allreduce_sums) {
    small_fixture f;
    small_setup(&f, "{\"batch_size\":6}");
    int bad = 0;
    for (int mode = 0; mode < 4; mode++) {
        as_dp dp;
        as_error e;
        ck_assert(as_dp_init(&dp, MPI_COMM_WORLD, &f.m, mode & 1 ? 1 : 1024, mode >> 1, &e) == AS_OK);
        for (size_t i = 0; i < f.m.n_params; i++) f.m.grads[i] = (float)((g_rank + 1) * (int)(i % 7));
        as_dp_begin(&dp);
        for (int l = f.m.n_layers - 1; l >= 0; l--) as_dp_layer_done(&dp, l);
        if (as_dp_finish(&dp, &e) != AS_OK) bad++;
        float tri = (float)(g_size * (g_size + 1) / 2);
        for (size_t i = 0; i < f.m.n_params; i++) bad += f.m.grads[i] != tri * (float)(i % 7);
        as_dp_free(&dp);
    }
    small_teardown(&f);
    ck_assert_int_eq(ranks_failing(bad == 0), 0);
}
END_TEST

START_TEST(test_check_same_weights) {
    small_fixture f;
    small_setup(&f, "{\"batch_size\":6,\"seed\":3}");
    as_error e;
    uint64_t h = 0, h2 = 0;
    int ok = as_fit_check_same_weights(&f.m, MPI_COMM_WORLD, &h, &e) == AS_OK;
    unsigned long long hh = h, lo = 0;
    MPI_Allreduce(&hh, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    ok &= lo == hh && h == as_hash64(f.m.params, f.m.n_params * sizeof(float), 0);
    /* one parameter of the last rank nudged by one ulp */
    float keep = f.m.params[f.m.n_params / 2];
    if (g_rank == g_size - 1) f.m.params[f.m.n_params / 2] = nextafterf(keep, 1e30f);
    as_status st = as_fit_check_same_weights(&f.m, MPI_COMM_WORLD, &h2, &e);
    if (g_size > 1)
        ok &= st == AS_ERR_INTERNAL && strstr(e.msg, "different weights") != NULL;
    else
        ok &= st == AS_OK && h2 != h;
    f.m.params[f.m.n_params / 2] = keep;
    ok &= as_fit_check_same_weights(&f.m, MPI_COMM_WORLD, NULL, &e) == AS_OK;
    small_teardown(&f);
    ck_assert_int_eq(ranks_failing(ok), 0);
}
END_TEST

static double rel(double a, double b) {
    if (isnan(a) && isnan(b)) return 0;
    return fabs(a - b) / fmax(fabs(b), 1e-30);
}

/* Trains spec on d over the world (overlap, bucket_kb) into h and the final weights' hash. */
static as_status fit_world(const as_spec *s, const as_dataset *d, int overlap, int kb,
                           as_history *h, uint64_t *wh, int *same_weights) {
    as_model m;
    as_error e;
    prepare(&m, s, d, g_size);
    as_fit_opts o = {.comm = g_size > 1 ? MPI_COMM_WORLD : MPI_COMM_NULL, .overlap = overlap, .bucket_kb = kb};
    as_status st = as_fit(&m, d, &s->train, &o, h, &e);
    *same_weights = as_fit_check_same_weights(&m, MPI_COMM_WORLD, wh, &e) == AS_OK;
    as_model_free(&m);
    return st;
}

/* The reference: this process alone. */
static as_status fit_alone(const as_spec *s, const as_dataset *d, as_history *h) {
    as_model m;
    as_error e;
    prepare(&m, s, d, 1);
    as_fit_opts o1 = {.comm = MPI_COMM_NULL, .overlap = 1};
    as_status st = as_fit(&m, d, &s->train, &o1, h, &e);
    as_model_free(&m);
    return st;
}

static int same_history(const as_history *a, const as_history *b, double tol) {
    int ok = a->epochs_run == b->epochs_run && a->status == b->status;
    for (int i = 0; ok && i < a->epochs_run; i++) {
        if (tol == 0) {
            ok &= !memcmp(&a->loss[i], &b->loss[i], sizeof(double)) &&
                  !memcmp(&a->val_loss[i], &b->val_loss[i], sizeof(double)) &&
                  !memcmp(&a->accuracy[i], &b->accuracy[i], sizeof(double));
        } else {
            ok &= rel(a->loss[i], b->loss[i]) <= tol && rel(a->val_loss[i], b->val_loss[i]) <= tol &&
                  rel(a->accuracy[i], b->accuracy[i]) <= tol &&
                  rel(a->val_accuracy[i], b->val_accuracy[i]) <= tol;
        }
    }
    return ok;
}

static void check_equivalence(const char *model, const char *train, int classification) {
    as_spec s;
    as_dataset d;
    parse_spec(&s, model, train);
    if (classification)
        classes(&d, 31);
    else
        toy(&d, 29);
    as_history ref;
    int ok = fit_alone(&s, &d, &ref) == AS_OK && ref.status == AS_RUN_OK;
    ok &= ref.loss[ref.epochs_run - 1] < ref.loss[0]; /* it learns something */
    as_history h[3];
    uint64_t wh[3];
    int same[3];
    static const int kb[3] = {0, 0, 1}, ov[3] = {1, 0, 1};
    for (int k = 0; k < 3; k++) {
        ok &= fit_world(&s, &d, ov[k], kb[k], &h[k], &wh[k], &same[k]) == AS_OK;
        ok &= same[k]; /* ranks hold identical weights after training */
    }
    ok &= same_history(&h[0], &ref, 1e-5);
    if (classification) ok &= !isnan(h[0].accuracy[0]) && !isnan(h[0].val_accuracy[0]);
    for (int k = 1; k < 3; k++) ok &= same_history(&h[k], &h[0], 0) && wh[k] == wh[0];
    if (!ok && g_rank == 0)
        for (int i = 0; i < ref.epochs_run; i++)
            printf("epoch %d: loss %.9g vs %.9g, val_loss %.9g vs %.9g, acc %.6g vs %.6g\n", i + 1,
                   h[0].loss[i], ref.loss[i], h[0].val_loss[i], ref.val_loss[i], h[0].accuracy[i],
                   ref.accuracy[i]);
    for (int k = 0; k < 3; k++) as_history_free(&h[k]);
    as_history_free(&ref);
    as_dataset_free(&d);
    as_spec_free(&s);
    ck_assert_int_eq(ranks_failing(ok), 0);
}

START_TEST(test_fit_regression_equals_one_process) {
    /* 23 training rows: batches 10, 10, 3 (3 rows over 2 or 3 ranks) */
    check_equivalence(REG_MODEL, "{\"epochs\":3,\"batch_size\":10,\"validation_split\":0.2,\"seed\":1}", 0);
    /* batch 2 < P = 3: one rank idle in every step */
    check_equivalence(REG_MODEL, "{\"epochs\":2,\"batch_size\":2,\"validation_split\":0.2,\"seed\":4}", 0);
}
END_TEST

START_TEST(test_fit_classification_equals_one_process) {
    check_equivalence(CLS_MODEL,
                      "{\"epochs\":4,\"batch_size\":7,\"validation_split\":0.2,\"seed\":2,"
                      "\"optimizer\":{\"type\":\"adam\",\"learning_rate\":0.01}}", 1);
}
END_TEST

START_TEST(test_divergence_in_one_shard) {
    as_spec s;
    as_dataset d;
    parse_spec(&s, REG_MODEL, "{\"epochs\":2,\"batch_size\":10,\"validation_split\":0.2,\"shuffle\":false}");
    toy(&d, 29);
    /* row 19 is the last of the second batch: in the last rank's shard only */
    d.train.y[19 * 100 + 50] = NAN; /* (a NaN input would be zeroed by the first relu) */
    as_history ref, h;
    int ok = fit_alone(&s, &d, &ref) == AS_OK;
    uint64_t wh;
    int same;
    ok &= fit_world(&s, &d, 1, 1, &h, &wh, &same) == AS_OK && same;
    ok &= ref.status == AS_RUN_DIVERGED && h.status == AS_RUN_DIVERGED && h.epochs_run == 1;
    ok &= strcmp(h.message, ref.message) == 0 && strstr(h.message, "row 10") != NULL;
    /* every rank reports the same */
    unsigned long long mh = as_hash64(h.message, strlen(h.message), 0), lo = 0;
    MPI_Allreduce(&mh, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    ok &= lo == mh;
    if (!ok) printf("rank %d: '%s' vs '%s'\n", g_rank, h.message, ref.message);
    as_history_free(&h);
    as_history_free(&ref);
    as_dataset_free(&d);
    as_spec_free(&s);
    ck_assert_int_eq(ranks_failing(ok), 0);
}
END_TEST

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    Suite *s = suite_create("dp");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_buckets_tile_gradients);
    tcase_add_test(tc, test_bucketed_allreduce_sums);
    tcase_add_test(tc, test_check_same_weights);
    tcase_add_test(tc, test_fit_regression_equals_one_process);
    tcase_add_test(tc, test_fit_classification_equals_one_process);
    tcase_add_test(tc, test_divergence_in_one_shard);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return as_test_run_mpi(s);
}
