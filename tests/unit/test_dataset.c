/* test_dataset.c: the strict loader, table-driven: one bad file per fault, each
 * rejected with AS_ERR_DATA and a message naming the file and the HDF5 dataset (or
 * attribute), and `attnsweep data info` exiting 2 on it (after still reporting NaN/Inf
 * counts). Also: a valid file round-trips through as_dataset_write, the row helpers,
 * and the length check the model builder calls. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/dataset.h"
#include "attnsweep/h5util.h"
#include "testutil.h"

typedef struct {
    int rank, is_int;
    hsize_t d[3];
} arr;

enum { NORMAL, TEXT_FILE, NO_FILE };
enum { NONE, NAN_X, INF_Y, NAN_TEST_X };

typedef struct {
    const char *label;
    int kind;
    const char *task; /* NULL: no attribute */
    int n_classes;    /* < 0: no attribute */
    arr x, y, tx, ty; /* rank 0: absent */
    int poison;
    int bad_label; /* written at y[1] of an integer y */
    const char *want_ds, *want;
} bad_case;

#define R3(a, b, c) {3, 0, {a, b, c}}
#define I1(a) {1, 1, {a, 0, 0}}

static const bad_case cases[] = {
    {"not_hdf5", TEXT_FILE, 0, 0, {0}, {0}, {0}, {0}, 0, 0, "", "not an HDF5 file"},
    {"missing_file", NO_FILE, 0, 0, {0}, {0}, {0}, {0}, 0, 0, "", "no such file"},
    {"no_task", NORMAL, NULL, -1, R3(4, 6, 1), R3(4, 6, 1), {0}, {0}, 0, 0, "/ (root)",
     "attribute 'task' is missing"},
    {"unknown_task", NORMAL, "ranking", -1, R3(4, 6, 1), R3(4, 6, 1), {0}, {0}, 0, 0,
     "/ (root)", "'task' is 'ranking'"},
    {"no_n_classes", NORMAL, "classification", -1, R3(4, 6, 1), I1(4), {0}, {0}, 0, 0,
     "/ (root)", "'n_classes' is missing"},
    {"no_train_x", NORMAL, "regression", -1, {0}, R3(4, 6, 1), {0}, {0}, 0, 0, "/train/x",
     "missing dataset"},
    {"no_train_y", NORMAL, "regression", -1, R3(4, 6, 1), {0}, {0}, {0}, 0, 0, "/train/y",
     "missing dataset"},
    {"x_rank2", NORMAL, "regression", -1, {2, 0, {4, 6, 0}}, R3(4, 6, 1), {0}, {0}, 0, 0,
     "/train/x", "rank 2, expected rank 3"},
    {"x_int", NORMAL, "regression", -1, {3, 1, {4, 6, 1}}, R3(4, 6, 1), {0}, {0}, 0, 0,
     "/train/x", "floating-point"},
    {"reg_y_rank1", NORMAL, "regression", -1, R3(4, 6, 1), {1, 0, {4, 0, 0}}, {0}, {0}, 0, 0,
     "/train/y", "rank 1, expected rank 3"},
    {"cls_y_float", NORMAL, "classification", 2, R3(4, 6, 1), {1, 0, {4, 0, 0}}, {0}, {0}, 0,
     0, "/train/y", "integer"},
    {"cls_y_rank2", NORMAL, "classification", 2, R3(4, 6, 1), {2, 1, {4, 1, 0}}, {0}, {0}, 0,
     0, "/train/y", "rank 2, expected rank 1"},
    {"counts_differ", NORMAL, "regression", -1, R3(5, 6, 1), R3(4, 6, 1), {0}, {0}, 0, 0,
     "/train/y", "4 rows but /train/x has 5"},
    {"target_length", NORMAL, "regression", -1, R3(4, 6, 1), R3(4, 5, 1), {0}, {0}, 0, 0,
     "/train/y", "target length 5 differs"},
    {"label_too_big", NORMAL, "classification", 3, R3(4, 6, 2), I1(4), {0}, {0}, 0, 3,
     "/train/y", "label 3 of series 1 is outside 0..2"},
    {"label_negative", NORMAL, "classification", 3, R3(4, 6, 2), I1(4), {0}, {0}, 0, -1,
     "/train/y", "label -1 of series 1"},
    {"nan_x", NORMAL, "regression", -1, R3(4, 6, 1), R3(4, 6, 1), {0}, {0}, NAN_X, 0,
     "/train/x", "1 NaN and 0 Inf values (first at series 1, step 2, channel 0)"},
    {"inf_y", NORMAL, "regression", -1, R3(4, 6, 1), R3(4, 6, 1), {0}, {0}, INF_Y, 0,
     "/train/y", "0 NaN and 1 Inf"},
    {"zero_series", NORMAL, "regression", -1, R3(0, 6, 1), R3(0, 6, 1), {0}, {0}, 0, 0,
     "/train/x", "no series"},
    {"test_length", NORMAL, "regression", -1, R3(4, 6, 1), R3(4, 6, 1), R3(2, 7, 1),
     R3(2, 7, 1), 0, 0, "/test/x", "differs from /train/x"},
    {"test_no_y", NORMAL, "regression", -1, R3(4, 6, 1), R3(4, 6, 1), R3(2, 6, 1), {0}, 0, 0,
     "/test/y", "missing dataset"},
    {"test_nan", NORMAL, "regression", -1, R3(4, 6, 1), R3(4, 6, 1), R3(2, 6, 1), R3(2, 6, 1),
     NAN_TEST_X, 0, "/test/x", "1 NaN"},
};

static void put(hid_t f, const char *name, const arr *a, int poison_at, float poison,
                int label) {
    if (!a->rank) return;
    size_t n = 1;
    for (int i = 0; i < a->rank; i++) n *= (size_t)a->d[i];
    as_error e;
    if (a->is_int) {
        int *v = calloc(n + 1, sizeof(int));
        if (n > 1) v[1] = label;
        ck_assert(as_h5_write_int(f, name, a->rank, a->d, v, &e) == AS_OK);
        free(v);
    } else {
        float *v = calloc(n + 1, sizeof(float));
        for (size_t i = 0; i < n; i++) v[i] = 0.25f * (float)(i % 7);
        if (poison_at >= 0 && (size_t)poison_at < n) v[poison_at] = poison;
        ck_assert(as_h5_write_float(f, name, a->rank, a->d, v, &e) == AS_OK);
        free(v);
    }
}

static const char *make_case(const bad_case *c) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.h5", as_test_tmpdir(), c->label);
    if (c->kind == NO_FILE) return path;
    if (c->kind == TEXT_FILE) {
        FILE *f = fopen(path, "w");
        fputs("1\t2\t3\n", f);
        fclose(f);
        return path;
    }
    as_error e;
    as_h5_writer w;
    ck_assert(as_h5_writer_open(&w, path, &e) == AS_OK);
    if (c->task) ck_assert(as_h5_attr_string(w.file, "task", c->task, &e) == AS_OK);
    if (c->n_classes >= 0) ck_assert(as_h5_attr_int32(w.file, "n_classes", c->n_classes, &e) == AS_OK);
    put(w.file, "/train/x", &c->x, c->poison == NAN_X ? 8 : -1, NAN, 0);
    put(w.file, "/train/y", &c->y, c->poison == INF_Y ? 3 : -1, INFINITY, c->bad_label);
    put(w.file, "/test/x", &c->tx, c->poison == NAN_TEST_X ? 0 : -1, NAN, 0);
    put(w.file, "/test/y", &c->ty, -1, 0.0f, 0);
    ck_assert(as_h5_writer_commit(&w, &e) == AS_OK);
    return path;
}

/* Runs `attnsweep data info path`, returns its exit status; stdout+stderr in out. */
static int run_info(const char *path, char *out, size_t cap) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s data info %s 2>&1", as_test_env("ATTNSWEEP_BIN", "attnsweep"),
             path);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, cap - 1, p) : 0;
    out[n] = 0;
    int st = p ? pclose(p) : -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_bad_file) {
    const bad_case *c = &cases[_i];
    const char *path = make_case(c);
    as_dataset d;
    memset(&d, 0x5a, sizeof d);
    as_error e;
    as_error_clear(&e);
    ck_assert_int_eq(as_dataset_load(path, &d, &e), AS_ERR_DATA);
    ck_assert_msg(strstr(e.msg, path) != NULL, "%s: message lacks the file: %s", c->label, e.msg);
    ck_assert_msg(strstr(e.msg, c->want_ds) != NULL, "%s: lacks '%s': %s", c->label, c->want_ds,
                  e.msg);
    ck_assert_msg(strstr(e.msg, c->want) != NULL, "%s: lacks '%s': %s", c->label, c->want, e.msg);
    ck_assert_ptr_null(d.train.x); /* left empty */
    ck_assert_ptr_null(d.path);
    static char out[16384];
    ck_assert_int_eq(run_info(path, out, sizeof out), 2);
    ck_assert_msg(strstr(out, c->want) != NULL, "%s: info output lacks '%s': %s", c->label,
                  c->want, out);
    if (c->poison == NAN_X)
        ck_assert_msg(strstr(out, "/train/x: float32 [4, 6, 1], range [0, 1.5], NaN 1, Inf 0"),
                      "%s", out);
    if (c->poison == INF_Y) ck_assert_msg(strstr(out, "/train/y: float32 [4, 6, 1]") &&
                                          strstr(out, "NaN 0, Inf 1"), "%s", out);
}
END_TEST

START_TEST(test_roundtrip_and_helpers) {
    as_dataset d;
    memset(&d, 0, sizeof d);
    d.task = AS_TASK_CLASSIFICATION;
    d.n_classes = 3;
    float x[2 * 5 * 2];
    for (int i = 0; i < 20; i++) x[i] = (float)i - 3.5f;
    int lab[2] = {2, 0};
    d.train = (as_split){.n = 2, .t = 5, .c = 2, .x = x, .labels = lab};
    char path[512];
    snprintf(path, sizeof path, "%s/ok.h5", as_test_tmpdir());
    const char *names[] = {"generator"}, *vals[] = {"unit test"};
    as_error e;
    ck_assert_msg(as_dataset_write(path, &d, 1, names, vals, &e) == AS_OK, "%s", e.msg);
    as_dataset r;
    ck_assert_msg(as_dataset_load(path, &r, &e) == AS_OK, "%s", e.msg);
    ck_assert_str_eq(r.path, path);
    ck_assert_int_eq(r.task, AS_TASK_CLASSIFICATION);
    ck_assert_int_eq(r.n_classes, 3);
    ck_assert_int_eq(r.has_test, 0);
    ck_assert_mem_eq(r.train.x, x, sizeof x);
    ck_assert_mem_eq(r.train.labels, lab, sizeof lab);
    ck_assert_ptr_null(r.train.y);
    ck_assert_uint_eq(as_split_x_row(&r.train), 10);
    ck_assert_uint_eq(as_split_y_row(&r.train), 1);
    ck_assert_int_eq(as_dataset_check_length(&r, 5, "conv1d layer 0", &e), AS_OK);
    ck_assert_int_eq(as_dataset_check_length(&r, 6, "conv1d layer 0", &e), AS_ERR_DATA);
    ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "/train/x: series length 5") &&
                  strstr(e.msg, "conv1d layer 0"), "%s", e.msg);
    as_dataset_free(&r);
    hid_t f = as_h5_open_read(path, &e);
    char *g = NULL;
    ck_assert(as_h5_read_attr_string(f, "generator", &g, &e) == AS_OK);
    ck_assert_str_eq(g, "unit test");
    as_free(g);
    H5Fclose(f);
    /* a failed write leaves nothing behind: a directory that does not exist */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/nodir/x.h5", as_test_tmpdir());
    /* a folder that does not exist: cannot store (exit 4), naming the path */
    ck_assert_int_eq(as_dataset_write(bad, &d, 0, NULL, NULL, &e), AS_ERR_STORE);
    ck_assert_ptr_nonnull(strstr(e.msg, "nodir"));
    ck_assert_int_ne(access(bad, F_OK), 0);
}
END_TEST

START_TEST(test_regression_y_channels) {
    /* y may have other channels than x (C' != C) but not another length */
    as_dataset d;
    memset(&d, 0, sizeof d);
    float x[3 * 4 * 1] = {0}, y[3 * 4 * 2] = {0};
    d.train = (as_split){.n = 3, .t = 4, .c = 1, .x = x, .yt = 4, .yc = 2, .y = y};
    d.test = d.train;
    d.has_test = 1;
    char path[512];
    snprintf(path, sizeof path, "%s/reg.h5", as_test_tmpdir());
    as_error e;
    ck_assert(as_dataset_write(path, &d, 0, NULL, NULL, &e) == AS_OK);
    as_dataset r;
    ck_assert_msg(as_dataset_load(path, &r, &e) == AS_OK, "%s", e.msg);
    ck_assert_int_eq(r.has_test, 1);
    ck_assert_int_eq(r.test.yc, 2);
    ck_assert_uint_eq(as_split_y_row(&r.train), 8);
    as_dataset_free(&r);
}
END_TEST

/* Every allocation of the loader failing in turn: a clean error, nothing leaked. */
START_TEST(test_load_alloc_failures) {
    char path[512];
    snprintf(path, sizeof path, "%s/alloc.h5", as_test_tmpdir());
    as_dataset d;
    memset(&d, 0, sizeof d);
    float x[12] = {0}, y[12] = {0};
    d.train = (as_split){.n = 2, .t = 6, .c = 1, .x = x, .yt = 6, .yc = 1, .y = y};
    as_error e;
    ck_assert(as_dataset_write(path, &d, 0, NULL, NULL, &e) == AS_OK);
    int ok = 0;
    for (long n = 1; n < 50 && !ok; n++) {
        as_dataset r;
        as_test_fail_alloc_after(n);
        as_status st = as_dataset_load(path, &r, &e);
        as_test_fail_alloc_after(0);
        if (st == AS_OK) {
            ok = 1;
            as_dataset_free(&r);
        } else {
            ck_assert_int_eq(st, AS_ERR_NOMEM);
            ck_assert_ptr_null(r.train.x);
        }
    }
    ck_assert(ok);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_bad_file, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_roundtrip_and_helpers);
    tcase_add_test(tc, test_regression_y_channels);
    tcase_add_test(tc, test_load_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return as_test_run(suite()); }
