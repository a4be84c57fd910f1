/* test_callbacks.c: Keras's EarlyStopping, ReduceLROnPlateau and schedules against
 * trajectories computed by hand from Keras's rules (callbacks.h); the train keys'
 * bad values (AS_ERR_SPEC naming the key, table-driven) and defaults; the validation
 * splits (last, shuffled, stratified class counts). */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "attnsweep/callbacks.h"
#include "attnsweep/spec.h"
#include "attnsweep/train.h"
#include "testutil.h"

#define HEAD "{\"data\":\"d.h5\",\"model\":[{\"type\":\"conv1d\",\"filters\":1,\"kernel_size\":3}],\"train\":"

typedef struct {
    const char *train; /* the train object */
    const char *expect;
} bad_case;

static const bad_case k_bad[] = {
    {"{\"early_stopping\":3}", "train.early_stopping: must be an object"},
    {"{\"early_stopping\":{\"monitor\":\"val_mse\"}}", "train.early_stopping.monitor: must be one of"},
    {"{\"early_stopping\":{\"mode\":\"up\"}}", "train.early_stopping.mode: must be one of"},
    {"{\"early_stopping\":{\"patience\":-1}}", "train.early_stopping.patience: must be an integer"},
    {"{\"early_stopping\":{\"patience\":1.5}}", "train.early_stopping.patience: must be an integer"},
    {"{\"early_stopping\":{\"min_delta\":-0.1}}", "train.early_stopping.min_delta: must be a number"},
    {"{\"early_stopping\":{\"restore_best_weights\":1}}",
     "train.early_stopping.restore_best_weights: must be true or false"},
    {"{\"early_stopping\":{\"start_from_epoch\":-2}}", "train.early_stopping.start_from_epoch: must be"},
    {"{\"early_stopping\":{\"baseline\":0.5}}", "train.early_stopping.baseline: unknown key"},
    {"{\"early_stopping\":{\"patience\":1,\"patience\":2}}",
     "train.early_stopping.patience: key given twice"},
    {"{\"reduce_lr_on_plateau\":{\"factor\":1}}", "train.reduce_lr_on_plateau.factor: must be a number in (0, 1)"},
    {"{\"reduce_lr_on_plateau\":{\"factor\":0}}", "train.reduce_lr_on_plateau.factor: must be a number in (0, 1)"},
    {"{\"reduce_lr_on_plateau\":{\"patience\":-1}}", "train.reduce_lr_on_plateau.patience: must be"},
    {"{\"reduce_lr_on_plateau\":{\"cooldown\":\"2\"}}", "train.reduce_lr_on_plateau.cooldown: must be"},
    {"{\"reduce_lr_on_plateau\":{\"min_lr\":-1}}", "train.reduce_lr_on_plateau.min_lr: must be"},
    {"{\"reduce_lr_on_plateau\":{\"min_delta\":-1}}", "train.reduce_lr_on_plateau.min_delta: must be"},
    {"{\"reduce_lr_on_plateau\":{\"monitor\":\"lr\"}}", "train.reduce_lr_on_plateau.monitor: must be one of"},
    {"{\"reduce_lr_on_plateau\":{\"verbose\":1}}", "train.reduce_lr_on_plateau.verbose: unknown key"},
    {"{\"lr_schedule\":\"cosine_decay\"}", "train.lr_schedule: must be an object"},
    {"{\"lr_schedule\":{\"decay_steps\":10}}", "train.lr_schedule.type: missing"},
    {"{\"lr_schedule\":{\"type\":\"linear\"}}", "train.lr_schedule.type: must be one of"},
    {"{\"lr_schedule\":{\"type\":\"cosine_decay\"}}", "train.lr_schedule.decay_steps: missing"},
    {"{\"lr_schedule\":{\"type\":\"cosine_decay\",\"decay_steps\":0}}",
     "train.lr_schedule.decay_steps: must be an integer in [1"},
    {"{\"lr_schedule\":{\"type\":\"cosine_decay\",\"decay_steps\":10,\"alpha\":2}}",
     "train.lr_schedule.alpha: must be a number in [0, 1]"},
    {"{\"lr_schedule\":{\"type\":\"cosine_decay\",\"decay_steps\":10,\"warmup_steps\":5}}",
     "train.lr_schedule.warmup_steps: needs warmup_target"},
    {"{\"lr_schedule\":{\"type\":\"cosine_decay\",\"decay_steps\":10,\"warmup_target\":0}}",
     "train.lr_schedule.warmup_target: must be a number in (0"},
    {"{\"lr_schedule\":{\"type\":\"cosine_decay\",\"decay_steps\":10,\"decay_rate\":0.5}}",
     "train.lr_schedule.decay_rate: not a key of cosine_decay"},
    {"{\"lr_schedule\":{\"type\":\"exponential_decay\",\"decay_steps\":10}}",
     "train.lr_schedule.decay_rate: missing"},
    {"{\"lr_schedule\":{\"type\":\"exponential_decay\",\"decay_steps\":10,\"decay_rate\":0}}",
     "train.lr_schedule.decay_rate: must be a number in (0"},
    {"{\"lr_schedule\":{\"type\":\"exponential_decay\",\"decay_steps\":10,\"decay_rate\":0.5,"
     "\"staircase\":\"yes\"}}", "train.lr_schedule.staircase: must be true or false"},
    {"{\"lr_schedule\":{\"type\":\"exponential_decay\",\"decay_steps\":10,\"decay_rate\":0.5,"
     "\"alpha\":0.1}}", "train.lr_schedule.alpha: not a key of exponential_decay"},
    {"{\"lr_schedule\":{\"type\":\"exponential_decay\",\"decay_steps\":10,\"decay_rate\":0.5,"
     "\"boundaries\":[1]}}", "train.lr_schedule.boundaries: not a key of exponential_decay"},
    {"{\"lr_schedule\":{\"type\":\"piecewise_constant_decay\",\"values\":[1]}}",
     "train.lr_schedule.boundaries: missing"},
    {"{\"lr_schedule\":{\"type\":\"piecewise_constant_decay\",\"boundaries\":[5],\"values\":[1]}}",
     "train.lr_schedule.values: must be a list of 2"},
    {"{\"lr_schedule\":{\"type\":\"piecewise_constant_decay\",\"boundaries\":[5,5],"
     "\"values\":[1,0.5,0.1]}}", "train.lr_schedule.boundaries[1]: must be greater"},
    {"{\"lr_schedule\":{\"type\":\"piecewise_constant_decay\",\"boundaries\":[5],"
     "\"values\":[1,-0.5]}}", "train.lr_schedule.values[1]: must be a number in (0"},
    {"{\"lr_schedule\":{\"type\":\"piecewise_constant_decay\",\"boundaries\":[5],"
     "\"values\":[1,0.5],\"decay_steps\":3}}", "train.lr_schedule.decay_steps: not a key of"},
    {"{\"lr_schedule\":{\"type\":\"cosine_decay\",\"decay_steps\":10},"
     "\"reduce_lr_on_plateau\":{}}", "train.reduce_lr_on_plateau: cannot be combined"},
    {"{\"keep\":\"first\"}", "train.keep: must be one of \"best\", \"last\""},
    {"{\"keep\":true}", "train.keep: must be one of"},
    {"{\"validation\":0.2}", "train.validation: must be an object"},
    {"{\"validation\":{\"split\":1}}", "train.validation.split: must be a number in (0, 1)"},
    {"{\"validation\":{\"split\":0}}", "train.validation.split: must be a number in (0, 1)"},
    {"{\"validation\":{\"mode\":\"random\"}}", "train.validation.mode: must be one of \"last\""},
    {"{\"validation\":{\"seed\":-1}}", "train.validation.seed: must be an integer"},
    {"{\"validation\":{\"fraction\":0.2}}", "train.validation.fraction: unknown key"},
    {"{\"validation\":{\"split\":0.2},\"validation_split\":0.2}", "train.validation: give either"},
};

START_TEST(test_bad_keys) {
    const bad_case *c = &k_bad[_i];
    char json[1024];
    snprintf(json, sizeof json, HEAD "%s}", c->train);
    cJSON *root = cJSON_Parse(json);
    ck_assert_msg(root != NULL, "case %d is not JSON", _i);
    as_spec s;
    as_error e;
    as_error_clear(&e);
    as_status st = as_spec_parse(root, "case.json", NULL, NULL, &s, &e);
    cJSON_Delete(root);
    ck_assert_int_eq(st, AS_ERR_SPEC);
    ck_assert_msg(strstr(e.msg, "case.json: ") == e.msg, "origin missing: %s", e.msg);
    ck_assert_msg(strstr(e.msg, c->expect) != NULL, "case %d: '%s' not in '%s'", _i, c->expect, e.msg);
}
END_TEST

static as_train_spec parse_train(const char *train) {
    char json[1024];
    snprintf(json, sizeof json, HEAD "%s}", train);
    cJSON *root = cJSON_Parse(json);
    as_spec s;
    as_error e;
    as_status st = as_spec_parse(root, "ok.json", NULL, NULL, &s, &e);
    cJSON_Delete(root);
    ck_assert_msg(st == AS_OK, "%s: %s", train, e.msg);
    as_train_spec t = s.train;
    as_spec_free(&s);
    return t;
}

START_TEST(test_defaults) {
    as_train_spec t = parse_train("{}");
    ck_assert(!t.early_stopping.enabled && !t.reduce_lr.enabled);
    ck_assert_int_eq(t.lr_schedule.type, AS_SCHED_NONE);
    ck_assert_int_eq(t.keep, AS_KEEP_DEFAULT);
    ck_assert_int_eq(t.validation_mode, AS_VAL_LAST);
    t = parse_train("{\"early_stopping\":{},\"reduce_lr_on_plateau\":{}}");
    /* Keras: EarlyStopping(monitor="val_loss", min_delta=0, patience=0, mode="auto",
     * restore_best_weights=False, start_from_epoch=0) */
    ck_assert(t.early_stopping.enabled && t.early_stopping.monitor == AS_MON_VAL_LOSS &&
              t.early_stopping.patience == 0 && t.early_stopping.min_delta == 0 &&
              t.early_stopping.mode == AS_MODE_AUTO && !t.early_stopping.restore_best_weights &&
              t.early_stopping.start_from_epoch == 0);
    /* ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10, mode="auto",
     * min_delta=1e-4, cooldown=0, min_lr=0) */
    ck_assert(t.reduce_lr.enabled && t.reduce_lr.monitor == AS_MON_VAL_LOSS &&
              t.reduce_lr.factor == 0.1 && t.reduce_lr.patience == 10 && t.reduce_lr.min_delta == 1e-4 &&
              t.reduce_lr.cooldown == 0 && t.reduce_lr.min_lr == 0 && t.reduce_lr.mode == AS_MODE_AUTO);
    t = parse_train("{\"validation\":{\"mode\":\"stratified\",\"seed\":7},\"keep\":\"last\","
                    "\"lr_schedule\":{\"type\":\"piecewise_constant_decay\",\"boundaries\":[3,6],"
                    "\"values\":[1,0.5,0.1]}}");
    ck_assert(t.validation_split == 0.2 && t.validation_mode == AS_VAL_STRATIFIED &&
              t.validation_seed == 7 && t.keep == AS_KEEP_LAST);
    ck_assert(t.lr_schedule.type == AS_SCHED_PIECEWISE && t.lr_schedule.n_boundaries == 2 &&
              t.lr_schedule.boundaries[1] == 6 && t.lr_schedule.values[2] == 0.1);
}
END_TEST

/* Runs early stopping over vals; returns the 1-based stop epoch (0: none), *best the
 * 1-based best epoch, snaps the 1-based epochs whose weights were snapshotted. */
static int run_es(const as_early_stopping_spec *sp, const double *vals, int n, int *best, int *snaps) {
    as_es_state s;
    as_es_init(&s, sp);
    int stop = 0, ns = 0;
    for (int e = 0; e < n && !stop; e++) {
        int r = as_es_update(&s, sp, e, vals[e]);
        if (r & AS_ES_SNAPSHOT) snaps[ns++] = e + 1;
        if (r & AS_ES_STOP) stop = e + 1;
    }
    snaps[ns] = 0;
    *best = s.best_epoch + 1;
    return stop;
}

START_TEST(test_early_stopping) {
    static const double v[] = {1.0, 0.8, 0.85, 0.79, 0.9, 0.95, 0.7, 0.6};
    as_early_stopping_spec sp = {1, AS_MON_VAL_LOSS, AS_MODE_AUTO, 2, 0.02, 1, 0};
    int best, snaps[16];
    /* min_delta 0.02: 0.79 does not beat 0.8 by 0.02; wait reaches 2 at epoch 4 */
    ck_assert_int_eq(run_es(&sp, v, 8, &best, snaps), 4);
    ck_assert_int_eq(best, 2);
    ck_assert(snaps[0] == 1 && snaps[1] == 2 && snaps[2] == 0);
    /* no min_delta: 0.79 improves (epoch 4), then epochs 5 and 6 wait: stop at 6 */
    sp.min_delta = 0;
    ck_assert_int_eq(run_es(&sp, v, 8, &best, snaps), 6);
    ck_assert_int_eq(best, 4);
    /* start_from_epoch 4: epochs 1-4 ignored; 0.9 (5) best, 0.95 waits, 0.7 improves */
    sp.start_from_epoch = 4;
    ck_assert_int_eq(run_es(&sp, v, 8, &best, snaps), 0);
    ck_assert_int_eq(best, 8);
    ck_assert(snaps[0] == 5 && snaps[1] == 7 && snaps[2] == 8 && snaps[3] == 0);
    /* patience 0 stops at the first epoch without improvement (never at epoch 1) */
    sp.start_from_epoch = 0;
    sp.patience = 0;
    ck_assert_int_eq(run_es(&sp, v, 8, &best, snaps), 3);
    ck_assert_int_eq(best, 2);
    /* val_accuracy, auto = max: 0.6 repeated is no improvement */
    static const double a[] = {0.5, 0.6, 0.6, 0.55, 0.9};
    as_early_stopping_spec sa = {1, AS_MON_VAL_ACCURACY, AS_MODE_AUTO, 1, 0, 0, 0};
    ck_assert_int_eq(run_es(&sa, a, 5, &best, snaps), 3);
    ck_assert_int_eq(best, 2);
    /* mode min on an accuracy overrides auto: 0.5 is the best, 0.6 waits and stops */
    sa.mode = AS_MODE_MIN;
    ck_assert_int_eq(run_es(&sa, a, 5, &best, snaps), 2);
    ck_assert_int_eq(best, 1);
    /* the keep-best tracker: no stop ever, best = argmin */
    as_early_stopping_spec tr = {0, AS_MON_VAL_LOSS, AS_MODE_AUTO, 1 << 30, 0, 0, 0};
    ck_assert_int_eq(run_es(&tr, v, 8, &best, snaps), 0);
    ck_assert_int_eq(best, 8);
}
END_TEST

START_TEST(test_reduce_lr) {
    /* factor 0.5, patience 2, cooldown 1, min_lr 0.1, from 1.0 on a plateau at 0.9 */
    as_reduce_lr_spec sp = {1, AS_MON_VAL_LOSS, AS_MODE_AUTO, 0.5, 2, 1e-4, 1, 0.1};
    static const double v[] = {1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9};
    static const float want[] = {1, 1, 1, 0.5f, 0.5f, 0.25f, 0.25f, 0.125f, 0.125f, 0.1f, 0.1f, 0.1f};
    as_rlr_state s;
    as_rlr_init(&s, &sp);
    float lr = 1.0f;
    for (int e = 0; e < 12; e++) {
        lr = as_rlr_update(&s, &sp, v[e], lr);
        ck_assert_msg(lr == want[e], "epoch %d: lr %g, want %g", e + 1, (double)lr, (double)want[e]);
    }
    /* min_delta: 0.89995 is not 1e-4 below 0.9; an accuracy monitor is maximised */
    as_reduce_lr_spec sa = {1, AS_MON_VAL_ACCURACY, AS_MODE_AUTO, 0.1, 1, 1e-4, 0, 0};
    as_rlr_init(&s, &sa);
    lr = 1.0f;
    lr = as_rlr_update(&s, &sa, 0.5, lr);
    lr = as_rlr_update(&s, &sa, 0.6, lr);
    ck_assert(lr == 1.0f);
    lr = as_rlr_update(&s, &sa, 0.60005, lr);
    ck_assert(lr == 0.1f);
    sp.cooldown = 0;
    sp.patience = 1;
    as_rlr_init(&s, &sp);
    lr = 1.0f;
    lr = as_rlr_update(&s, &sp, 0.9, lr);
    lr = as_rlr_update(&s, &sp, 0.89995, lr);
    ck_assert(lr == 0.5f);
}
END_TEST

static void near(float got, double want) {
    ck_assert_msg(fabs((double)got - want) <= 1e-7 * fmax(1.0, fabs(want)), "got %.9g want %.9g",
                  (double)got, want);
}

START_TEST(test_schedules) {
    as_lr_schedule_spec c;
    memset(&c, 0, sizeof c);
    c.type = AS_SCHED_COSINE;
    c.decay_steps = 10;
    c.alpha = 0.1;
    c.warmup_target = (double)NAN;
    near(as_lr_schedule_at(&c, 0.1f, 0), 0.1);
    near(as_lr_schedule_at(&c, 0.1f, 5), 0.1 * (0.9 * 0.5 + 0.1)); /* cos(pi/2) = 0 */
    near(as_lr_schedule_at(&c, 0.1f, 10), 0.01);
    near(as_lr_schedule_at(&c, 0.1f, 25), 0.01);
    c.alpha = 0;
    c.warmup_target = 0.1;
    c.warmup_steps = 4;
    near(as_lr_schedule_at(&c, 0.0f, 0), 0.0);
    near(as_lr_schedule_at(&c, 0.0f, 2), 0.05);
    near(as_lr_schedule_at(&c, 0.0f, 4), 0.1);
    near(as_lr_schedule_at(&c, 0.0f, 9), 0.05);
    near(as_lr_schedule_at(&c, 0.0f, 14), 0.0);
    near(as_lr_schedule_at(&c, 0.0f, 99), 0.0);
    as_lr_schedule_spec x;
    memset(&x, 0, sizeof x);
    x.type = AS_SCHED_EXPONENTIAL;
    x.decay_steps = 10;
    x.decay_rate = 0.5;
    near(as_lr_schedule_at(&x, 0.1f, 5), 0.1 * sqrt(0.5));
    near(as_lr_schedule_at(&x, 0.1f, 20), 0.025);
    x.staircase = 1;
    near(as_lr_schedule_at(&x, 0.1f, 5), 0.1);
    near(as_lr_schedule_at(&x, 0.1f, 19), 0.05);
    as_lr_schedule_spec p;
    memset(&p, 0, sizeof p);
    p.type = AS_SCHED_PIECEWISE;
    p.n_boundaries = 2;
    p.boundaries[0] = 3;
    p.boundaries[1] = 6;
    p.values[0] = 1;
    p.values[1] = 0.5;
    p.values[2] = 0.1;
    static const double want[] = {1, 1, 1, 1, 0.5, 0.5, 0.5, 0.1, 0.1};
    for (int s = 0; s < 9; s++) near(as_lr_schedule_at(&p, 0.001f, s), want[s]);
}
END_TEST

START_TEST(test_cb_pack) {
    as_cb_state a, b;
    memset(&a, 0, sizeof a);
    a.es.best = 0.125;
    a.es.best_epoch = 7;
    a.es.wait = 3;
    a.es.stopped_epoch = -1;
    a.es.greater = 1;
    a.rlr.best = -(double)INFINITY;
    a.rlr.wait = 2;
    a.rlr.cooldown_counter = 1;
    a.lr = 0.000123f;
    a.has_best = 1;
    double buf[AS_CB_PACKED];
    as_cb_pack(&a, buf);
    memset(&b, 0xff, sizeof b);
    as_cb_unpack(&b, buf);
    ck_assert(b.es.best == a.es.best && b.es.best_epoch == 7 && b.es.wait == 3 &&
              b.es.stopped_epoch == -1 && b.es.greater == 1 && isinf(b.rlr.best) && b.rlr.wait == 2 &&
              b.rlr.cooldown_counter == 1 && b.lr == a.lr && b.has_best == 1);
}
END_TEST

/* A classification training split of n rows with the given labels (x unused). */
static as_dataset labels_only(int *labels, int n, int K) {
    as_dataset d;
    memset(&d, 0, sizeof d);
    d.task = AS_TASK_CLASSIFICATION;
    d.n_classes = K;
    d.train.n = n;
    d.train.labels = labels;
    return d;
}

START_TEST(test_splits) {
    /* sorted by class, like SyntheticControl's TRAIN file: 3 classes of 10, 7, 3 rows */
    int labels[20], n = 20;
    for (int i = 0; i < n; i++) labels[i] = i < 10 ? 0 : i < 17 ? 1 : 2;
    as_dataset d = labels_only(labels, n, 3);
    as_train_spec t;
    memset(&t, 0, sizeof t);
    t.validation_split = 0.3; /* floor(20 * 0.7) = 14 training rows, 6 validation */
    int tr[20], va[20], nt, nv;
    as_error e;
    ck_assert_int_eq(as_fit_split(&d, &t, tr, va, &nt, &nv, &e), AS_OK);
    ck_assert(nt == 14 && nv == 6 && va[0] == 14 && va[5] == 19 && tr[13] == 13);
    /* stratified: shares 6*10/20 = 3, 6*7/20 = 2.1, 6*3/20 = 0.9 -> 3, 2, +1 to class 2
     * (largest remainder 0.9) */
    t.validation_mode = AS_VAL_STRATIFIED;
    t.validation_seed = 5;
    ck_assert_int_eq(as_fit_split(&d, &t, tr, va, &nt, &nv, &e), AS_OK);
    ck_assert(nt == 14 && nv == 6);
    int cnt[3] = {0, 0, 0}, seen[20] = {0};
    for (int i = 0; i < nv; i++) {
        cnt[labels[va[i]]]++;
        seen[va[i]]++;
        if (i) ck_assert(va[i] > va[i - 1]);
    }
    for (int i = 0; i < nt; i++) {
        seen[tr[i]]++;
        if (i) ck_assert(tr[i] > tr[i - 1]);
    }
    ck_assert_msg(cnt[0] == 3 && cnt[1] == 2 && cnt[2] == 1, "class counts %d %d %d", cnt[0], cnt[1],
                  cnt[2]);
    for (int i = 0; i < n; i++) ck_assert_int_eq(seen[i], 1);
    /* another seed draws other rows with the same counts; the same seed the same rows */
    int va2[20], tr2[20];
    t.validation_seed = 6;
    ck_assert_int_eq(as_fit_split(&d, &t, tr2, va2, &nt, &nv, &e), AS_OK);
    ck_assert(memcmp(va, va2, sizeof(int) * 6) != 0);
    t.validation_seed = 5;
    ck_assert_int_eq(as_fit_split(&d, &t, tr2, va2, &nt, &nv, &e), AS_OK);
    ck_assert(memcmp(va, va2, sizeof(int) * 6) == 0);
    /* shuffled: 6 rows of all the classes' rows, not the last 6 */
    t.validation_mode = AS_VAL_SHUFFLED;
    ck_assert_int_eq(as_fit_split(&d, &t, tr, va, &nt, &nv, &e), AS_OK);
    ck_assert(nt == 14 && nv == 6 && va[0] < 14);
    /* stratified regression is a spec error naming the key */
    d.task = AS_TASK_REGRESSION;
    t.validation_mode = AS_VAL_STRATIFIED;
    ck_assert_int_eq(as_fit_split(&d, &t, tr, va, &nt, &nv, &e), AS_ERR_SPEC);
    ck_assert_msg(strstr(e.msg, "train.validation.mode") != NULL, "%s", e.msg);
}
END_TEST

int main(void) {
    Suite *s = suite_create("callbacks");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_bad_keys, 0, (int)(sizeof k_bad / sizeof k_bad[0]));
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_early_stopping);
    tcase_add_test(tc, test_reduce_lr);
    tcase_add_test(tc, test_schedules);
    tcase_add_test(tc, test_cb_pack);
    tcase_add_test(tc, test_splits);
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
