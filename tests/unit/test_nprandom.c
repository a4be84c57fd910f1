/* test_nprandom.c: numpy's legacy RandomState reproduced draw by draw.
 *
 * References: the MT19937 outputs for init_genrand(5489) fixed by the C++ standard
 * (first outputs, and the 10000th = 4123659995), and Debian's numpy itself through
 * tests/ref/numpy_toy.py ("draws" mode) for several seeds. The numpy part skips
 * (printing why) when /usr/bin/python3 lacks numpy/h5py. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/h5util.h"
#include "attnsweep/nprandom.h"
#include "testutil.h"

static int g_have_numpy = -1;

static int have_numpy(void) {
    if (g_have_numpy < 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s -c 'import numpy, h5py' >/dev/null 2>&1",
                 as_test_env("AS_PYTHON", "/usr/bin/python3"));
        g_have_numpy = system(cmd) == 0;
        if (!g_have_numpy) printf("SKIP numpy comparison: python3 lacks numpy/h5py\n");
    }
    return g_have_numpy;
}

START_TEST(test_mt_reference_5489) {
    as_np_random r;
    as_np_seed(&r, 5489u);
    const uint32_t first[5] = {3499211612u, 581869302u, 3890346734u, 3586334585u, 545404204u};
    for (int i = 0; i < 5; i++) ck_assert_uint_eq(as_np_uint32(&r), first[i]);
    as_np_seed(&r, 5489u);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++) v = as_np_uint32(&r);
    ck_assert_uint_eq(v, 4123659995u);
}
END_TEST

/* Reads a whole dataset of file f as doubles (n values expected). */
static void read_doubles(hid_t f, const char *name, double *out, size_t n) {
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    ck_assert_msg(ds >= 0, "missing %s", name);
    hid_t sp = H5Dget_space(ds);
    ck_assert_int_eq((long)H5Sget_simple_extent_npoints(sp), (long)n);
    H5Sclose(sp);
    ck_assert(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0);
    H5Dclose(ds);
}

static const uint32_t seeds[] = {0u, 1u, 12345u, 2147483647u, 4294967295u};

START_TEST(test_against_numpy) {
    if (!have_numpy()) return;
    uint32_t seed = seeds[_i];
    char out[512], cmd[2048];
    snprintf(out, sizeof out, "%s/draws_%u.h5", as_test_tmpdir(), seed);
    snprintf(cmd, sizeof cmd, "%s %s/tests/ref/numpy_toy.py draws --seed %u -o %s",
             as_test_env("AS_PYTHON", "/usr/bin/python3"), as_test_env("ATTNSWEEP_SRC", "."),
             seed, out);
    ck_assert_int_eq(system(cmd), 0);
    as_h5_quiet();
    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert(f >= 0);
    static double ref[1001];
    as_np_random r;

    read_doubles(f, "uint32", ref, 1000);
    as_np_seed(&r, seed);
    for (int i = 0; i < 1000; i++) ck_assert_uint_eq(as_np_uint32(&r), (uint32_t)ref[i]);

    read_doubles(f, "rand", ref, 1000);
    as_np_seed(&r, seed);
    for (int i = 0; i < 1000; i++) ck_assert_double_eq(as_np_rand(&r), ref[i]);

    read_doubles(f, "randn", ref, 1001);
    as_np_seed(&r, seed);
    for (int i = 0; i < 1001; i++) {
        double g = as_np_randn(&r);
        ck_assert_msg(fabs(g - ref[i]) <= 1e-14 * fmax(1.0, fabs(ref[i])),
                      "seed %u randn %d: %.17g vs numpy %.17g", seed, i, g, ref[i]);
    }

    read_doubles(f, "randint_5_20", ref, 1000);
    as_np_seed(&r, seed);
    for (int i = 0; i < 1000; i++) ck_assert_int_eq(as_np_randint(&r, 5, 20), (long)ref[i]);

    read_doubles(f, "shuffle_10", ref, 50);
    as_np_seed(&r, seed);
    int a[10];
    for (int i = 0; i < 10; i++) a[i] = i;
    for (int row = 0; row < 5; row++) {
        as_np_shuffle_int(&r, a, 10);
        for (int i = 0; i < 10; i++) ck_assert_int_eq(a[i], (int)ref[row * 10 + i]);
    }

    read_doubles(f, "choice_3", ref, 1000);
    as_np_seed(&r, seed);
    const int pool[3] = {4, 7, 9};
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(pool[as_np_choice_index(&r, 3)], (int)ref[i]);
    H5Fclose(f);
}
END_TEST

/* Properties that do not need numpy: the interval draw stays in range and hits
 * every value; the Gaussian cache returns the pair's second value next. */
START_TEST(test_interval_and_gauss_cache) {
    as_np_random r;
    as_np_seed(&r, 7u);
    int hits[15] = {0};
    for (int i = 0; i < 3000; i++) {
        uint32_t v = as_np_interval(&r, 14);
        ck_assert_uint_le(v, 14);
        hits[v]++;
    }
    for (int i = 0; i < 15; i++) ck_assert_int_gt(hits[i], 100);
    ck_assert_uint_eq(as_np_interval(&r, 0), 0);
    as_np_seed(&r, 7u);
    (void)as_np_randn(&r);
    ck_assert_int_eq(r.has_gauss, 1);
    double cached = r.gauss;
    ck_assert_double_eq(as_np_randn(&r), cached);
    ck_assert_int_eq(r.has_gauss, 0);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nprandom");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_mt_reference_5489);
    tcase_add_test(tc, test_interval_and_gauss_cache);
    tcase_add_loop_test(tc, test_against_numpy, 0, (int)(sizeof seeds / sizeof seeds[0]));
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return as_test_run(suite()); }
