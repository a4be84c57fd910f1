/* test_ucr.c: UCR text import -- the three layouts, label mapping, merge-shuffle,
 * z-normalisation, and every input error naming its file and line
 * (fixtures: tests/fixtures/ucr, see its README). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/dataset.h"
#include "attnsweep/h5util.h"
#include "attnsweep/rng.h"
#include "attnsweep/ucr.h"
#include "testutil.h"

static const char *fx(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/ucr/%s", as_test_env("ATTNSWEEP_FIXTURES", "."), name);
    return buf[k];
}

static void expect_table(const char *file, int n, int t, const int *labels, const char *const *vals) {
    as_ucr_table tb;
    as_error e;
    as_error_clear(&e);
    ck_assert_msg(as_ucr_read(fx(file), &tb, &e) == AS_OK, "%s", e.msg);
    ck_assert_int_eq(tb.n, n);
    ck_assert_int_eq(tb.t, t);
    for (int i = 0; i < n; i++) ck_assert_int_eq(tb.labels[i], labels[i]);
    for (int i = 0; i < n * t; i++) /* the literal as written, parsed independently */
        ck_assert_msg(tb.x[i] == (float)strtod(vals[i], NULL), "%s value %d: %g vs %s", file, i,
                      (double)tb.x[i], vals[i]);
    as_ucr_table_free(&tb);
}

START_TEST(test_layouts) {
    const int l1[] = {1, -1, 1};
    const char *v1[] = {"0.5", "2.2572926e-05", "-3", "4.25", "1", "2", "3", "4",
                        "-0.5", ".25", "1E2", "-7.5e-1"};
    expect_table("tab_TRAIN.tsv", 3, 4, l1, v1);
    const int l2[] = {3, 1, 3, 2};
    const char *v2[] = {"1.5", "2.5", "3.5", "-1", "-2", "-3", "0", "0.125", "1e-3", "9", "8", "7"};
    expect_table("comma_crlf.csv", 4, 3, l2, v2);
    const int l3[] = {2, 1};
    const char *v3[] = {"1", "2", "-1.5", "3.25"};
    expect_table("space_old.txt", 2, 2, l3, v3);
}
END_TEST

static const struct {
    const char *file;
    const char *want; /* substring after the path */
} bad_files[] = {
    {"bad_ragged.tsv", ":2: 2 values, but line 1 has 3"},
    {"bad_nan.tsv", ":2: field 3 is NaN (a missing value, or the padding of a shorter series: "
                    "--fill imports missing values, --length pad|truncate"},
    {"bad_empty_field.tsv", ":2: field 3 is empty (missing value; --fill imports"},
    {"bad_token.tsv", ":3: field 3: non-numeric value 'abc'"},
    {"bad_label.tsv", ":1: field 1: class label '1.5' is not an integer"},
    {"empty.tsv", ": empty file"},
    {"blank.tsv", ": empty file"},
    {"no_such_file.tsv", ": cannot open"},
};

START_TEST(test_bad_file) {
    const char *path = fx(bad_files[_i].file);
    as_ucr_table tb;
    as_error e;
    as_error_clear(&e);
    ck_assert_int_eq(as_ucr_read(path, &tb, &e), AS_ERR_DATA);
    char want[1024];
    snprintf(want, sizeof want, "%s%s", path, bad_files[_i].want);
    ck_assert_msg(strstr(e.msg, want) != NULL, "got '%s', want '%s'", e.msg, want);
    ck_assert_ptr_null(tb.x);
    /* and through the writer: error, no output file */
    char out[512];
    snprintf(out, sizeof out, "%s/bad_%d.h5", as_test_tmpdir(), _i);
    as_ucr_options o = {.train_path = fx("tab_TRAIN.tsv"), .test_path = path};
    ck_assert_int_eq(as_ucr_write(&o, out, NULL, &e), AS_ERR_DATA);
    ck_assert_int_ne(access(out, F_OK), 0);
}
END_TEST

START_TEST(test_test_length_mismatch) {
    as_ucr_options o = {.train_path = fx("tab_TRAIN.tsv"), .test_path = fx("short_TEST.tsv")};
    as_dataset d;
    int *cl, k;
    as_error e;
    ck_assert_int_eq(as_ucr_import(&o, &d, &cl, &k, &e), AS_ERR_DATA);
    ck_assert_msg(strstr(e.msg, "short_TEST.tsv:1: series of length 2") != NULL, "%s", e.msg);
}
END_TEST

START_TEST(test_labels_and_order) {
    as_ucr_options o = {.train_path = fx("tab_TRAIN.tsv"), .test_path = fx("tab_TEST.tsv")};
    as_dataset d;
    int *cl, k;
    as_error e;
    ck_assert_msg(as_ucr_import(&o, &d, &cl, &k, &e) == AS_OK, "%s", e.msg);
    ck_assert_int_eq(k, 2);
    ck_assert_int_eq(cl[0], -1);
    ck_assert_int_eq(cl[1], 1);
    ck_assert_int_eq(d.task, AS_TASK_CLASSIFICATION);
    ck_assert_int_eq(d.n_classes, 2);
    ck_assert_int_eq(d.has_test, 1);
    ck_assert_int_eq(d.train.n, 3);
    ck_assert_int_eq(d.test.n, 2);
    ck_assert_int_eq(d.train.c, 1);
    const int tr[] = {1, 0, 1}, te[] = {0, 1};
    for (int i = 0; i < 3; i++) ck_assert_int_eq(d.train.labels[i], tr[i]);
    for (int i = 0; i < 2; i++) ck_assert_int_eq(d.test.labels[i], te[i]);
    ck_assert(d.train.x[4] == 1.0f); /* file order kept */
    ck_assert(d.test.x[0] == 5.0f);
    as_free(cl);
    as_dataset_free(&d);
    /* comma file: labels 1, 2, 3 -> 0, 1, 2 */
    as_ucr_options o2 = {.train_path = fx("comma_crlf.csv")};
    ck_assert(as_ucr_import(&o2, &d, &cl, &k, &e) == AS_OK);
    ck_assert_int_eq(k, 3);
    ck_assert_int_eq(d.has_test, 0);
    const int lab[] = {2, 0, 2, 1};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(d.train.labels[i], lab[i]);
    as_free(cl);
    as_dataset_free(&d);
}
END_TEST

START_TEST(test_merge_shuffle) {
    as_ucr_options plain = {.train_path = fx("tab_TRAIN.tsv"), .test_path = fx("tab_TEST.tsv")};
    as_ucr_options o = plain;
    o.merge_shuffle = 1;
    o.seed = 12345;
    as_dataset a, m;
    int *cla, *clm, k;
    as_error e;
    ck_assert(as_ucr_import(&plain, &a, &cla, &k, &e) == AS_OK);
    ck_assert(as_ucr_import(&o, &m, &clm, &k, &e) == AS_OK);
    ck_assert_int_eq(m.has_test, 0);
    ck_assert_int_eq(m.train.n, 5);
    /* the documented permutation: as_rng seeded with the seed, as_rng_shuffle_int */
    int perm[5] = {0, 1, 2, 3, 4};
    as_rng r;
    as_rng_seed(&r, 12345);
    as_rng_shuffle_int(&r, perm, 5);
    int used[5] = {0};
    for (int i = 0; i < 5; i++) {
        const as_split *src = perm[i] < 3 ? &a.train : &a.test;
        int row = perm[i] < 3 ? perm[i] : perm[i] - 3;
        ck_assert_mem_eq(m.train.x + i * 4, src->x + row * 4, 4 * sizeof(float));
        ck_assert_int_eq(m.train.labels[i], src->labels[row]);
        used[perm[i]]++;
    }
    for (int i = 0; i < 5; i++) ck_assert_int_eq(used[i], 1);
    as_free(cla);
    as_free(clm);
    as_dataset_free(&a);
    as_dataset_free(&m);
}
END_TEST

START_TEST(test_znorm) {
    as_ucr_options o = {.train_path = fx("tab_TRAIN.tsv"), .test_path = fx("tab_TEST.tsv"),
                        .znorm = 1};
    as_dataset d;
    int *cl, k;
    as_error e;
    ck_assert(as_ucr_import(&o, &d, &cl, &k, &e) == AS_OK);
    for (int i = 0; i < 3; i++) {
        double s = 0, s2 = 0;
        for (int j = 0; j < 4; j++) s += (double)d.train.x[i * 4 + j];
        for (int j = 0; j < 4; j++) s2 += (double)d.train.x[i * 4 + j] * (double)d.train.x[i * 4 + j];
        ck_assert_double_le(fabs(s / 4), 1e-6);
        ck_assert_double_le(fabs(s2 / 4 - 1.0), 1e-5); /* population std 1 */
    }
    /* row "1 2 3 4": mean 2.5, population std sqrt(1.25) */
    ck_assert_double_le(fabs((double)d.train.x[4] - (1 - 2.5) / sqrt(1.25)), 1e-6);
    for (int j = 0; j < 4; j++) ck_assert(d.test.x[j] == 0.0f); /* constant -> 0 */
    as_free(cl);
    as_dataset_free(&d);
}
END_TEST

START_TEST(test_write_and_load) {
    char out[512];
    snprintf(out, sizeof out, "%s/ok.h5", as_test_tmpdir());
    as_ucr_options o = {.train_path = fx("comma_crlf.csv"), .test_path = NULL};
    as_error e;
    ck_assert_msg(as_ucr_write(&o, out, NULL, &e) == AS_OK, "%s", e.msg);
    as_dataset d;
    ck_assert_msg(as_dataset_load(out, &d, &e) == AS_OK, "%s", e.msg);
    ck_assert_int_eq(d.n_classes, 3);
    ck_assert_int_eq(d.train.n, 4);
    ck_assert_int_eq(d.train.t, 3);
    as_dataset_free(&d);
    hid_t f = as_h5_open_read(out, &e);
    ck_assert(f >= 0);
    hid_t a = H5Aopen(f, "class_labels", H5P_DEFAULT);
    int cl[3] = {0};
    ck_assert(H5Aread(a, H5T_NATIVE_INT, cl) >= 0);
    ck_assert_int_eq(cl[0], 1);
    ck_assert_int_eq(cl[1], 2);
    ck_assert_int_eq(cl[2], 3);
    H5Aclose(a);
    H5Fclose(f);
}
END_TEST

/* Every allocation failing in turn: a clean AS_ERR_NOMEM, nothing leaked (ASan), for
 * the strict reader and the lenient one of --fill / --length (whose row counts and lines
 * leaked on success: the fuzz target's first finding). */
START_TEST(test_alloc_failures) {
    as_ucr_options o = {.train_path = fx("tab_TRAIN.tsv"), .test_path = fx("tab_TEST.tsv"),
                        .merge_shuffle = 1, .znorm = 1};
    if (_i == 1) {
        o.fill = AS_FILL_INTERPOLATE;
        o.length = AS_LENGTH_PAD;
    }
    int ok = 0;
    for (long n = 1; n < 200 && !ok; n++) {
        as_dataset d;
        int *cl = NULL, k;
        as_error e;
        as_test_fail_alloc_after(n);
        as_status st = as_ucr_import(&o, &d, &cl, &k, &e);
        as_test_fail_alloc_after(0);
        if (st == AS_OK) {
            ok = 1;
            as_free(cl);
            as_dataset_free(&d);
        } else {
            ck_assert_int_eq(st, AS_ERR_NOMEM);
            ck_assert_ptr_null(cl);
            ck_assert_ptr_null(d.train.x);
        }
    }
    ck_assert(ok);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ucr");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_layouts);
    tcase_add_loop_test(tc, test_bad_file, 0, (int)(sizeof bad_files / sizeof bad_files[0]));
    tcase_add_test(tc, test_test_length_mismatch);
    tcase_add_test(tc, test_labels_and_order);
    tcase_add_test(tc, test_merge_shuffle);
    tcase_add_test(tc, test_znorm);
    tcase_add_test(tc, test_write_and_load);
    tcase_add_loop_test(tc, test_alloc_failures, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return as_test_run(suite()); }
