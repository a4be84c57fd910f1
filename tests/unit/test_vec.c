/* test_vec.c: every variant of the vectorised kernels (vec.h) that this CPU runs, against
 * double-precision references; the variants it cannot run are reported as skipped on
 * stdout. Sizes cover empty, shorter than one vector, exact multiples and tails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/vec.h"
#include "testutil.h"

static const size_t sizes[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 67, 275, 1000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static uint64_t g_seed = 99;
static float urand(float lo, float hi) {
    g_seed = g_seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (float)((double)(g_seed >> 40) / (double)(1ULL << 24));
}

/* Selects variant `level`; returns 0 (and says so) when the CPU cannot run it. */
static int use(int level) {
    as_error err;
    if (!as_vec_supported((as_vec_level)level)) {
        printf("test_vec: SKIPPED the %s kernels: this CPU does not support them\n",
               as_vec_name((as_vec_level)level));
        return 0;
    }
    ck_assert_int_eq(as_vec_use((as_vec_level)level, &err), AS_OK);
    ck_assert_int_eq(as_vec_current(), level);
    return 1;
}

static double rel(double got, double ref) {
    if (got == ref || (isnan(got) && isnan(ref))) return 0;
    if (isnan(got) || isnan(ref)) return (double)INFINITY; /* fmax would skip a NaN */
    return fabs(got - ref) / fmax(fabs(ref), 1e-30);
}

/* exp over a dense sweep of [-87.3, 88.7] (through exp_sum, i.e. the vector path) and the
 * scalar form; the documented bound is 2 ulp (2.4e-7). */
START_TEST(test_exp_accuracy) {
    if (!use(_i)) return;
    const size_t n = 1 << 20;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    for (size_t i = 0; i < n; i++) x[i] = -87.33f + (float)((double)i * (176.05 / (double)n));
    as_vec_exp_sum(y, x, n, 0.0f);
    double worst = 0, worst_s = 0;
    for (size_t i = 0; i < n; i++) {
        const double ref = exp((double)x[i]);
        worst = fmax(worst, rel((double)y[i], ref));
        worst_s = fmax(worst_s, rel((double)as_vec_expf(x[i]), ref));
    }
    printf("test_vec: %s exp max relative error %.3g (scalar form %.3g)\n",
           as_vec_name((as_vec_level)_i), worst, worst_s);
    ck_assert_msg(worst <= 2.4e-7 && worst_s <= 2.4e-7, "exp error %g / %g", worst, worst_s);
    /* specials: 0 -> 1, overflow -> inf, underflow -> 0, NaN -> NaN (vector lanes and tail) */
    float sp[19] = {0.0f, 89.0f, -88.0f, NAN, -INFINITY, INFINITY, 88.72f, -87.3f, 1.0f};
    for (int i = 9; i < 19; i++) sp[i] = sp[i - 9];
    float out[19];
    as_vec_exp_sum(out, sp, 19, 0.0f);
    for (int k = 0; k < 10; k += 9) {
        ck_assert(out[k] == 1.0f && isinf(out[k + 1]) && out[k + 2] == 0.0f);
        ck_assert(isnan(out[k + 3]) && out[k + 4] == 0.0f && isinf(out[k + 5]));
        ck_assert(isfinite(out[k + 6]) && out[k + 7] > 0.0f);
    }
    free(x);
    free(y);
}
END_TEST

START_TEST(test_softmax) {
    if (!use(_i)) return;
    for (size_t si = 0; si < NSIZES; si++) {
        const size_t n = sizes[si];
        float *x = malloc((n + 1) * sizeof *x), *g = malloc((n + 1) * sizeof *g);
        double *ref = malloc((n + 1) * sizeof *ref);
        for (size_t i = 0; i < n; i++) {
            x[i] = urand(-30.0f, 30.0f);
            g[i] = urand(-2.0f, 2.0f);
        }
        double mx = -(double)INFINITY, sum = 0, s = 0;
        for (size_t i = 0; i < n; i++) mx = fmax(mx, (double)x[i]);
        ck_assert(n == 0 || as_vec_max(x, n) == (float)mx);
        for (size_t i = 0; i < n; i++) sum += (ref[i] = exp((double)x[i] - mx));
        float *xin = malloc((n + 1) * sizeof *xin);
        memcpy(xin, x, n * sizeof *x);
        as_vec_softmax(x, n);
        for (size_t i = 0; i < n; i++) {
            /* float x - max is rounded: a further 2^-24 |x - max| relative error */
            const double tol = 2e-6 + 6e-8 * fabs((double)xin[i] - mx);
            ck_assert_msg(rel((double)x[i], ref[i] / sum) <= tol, "n %zu i %zu: %g vs %g", n, i,
                          (double)x[i], ref[i] / sum);
            s += (double)g[i] * (double)x[i];
        }
        float *g0 = malloc((n + 1) * sizeof *g0);
        memcpy(g0, g, n * sizeof *g);
        as_vec_softmax_backward(g, x, n);
        for (size_t i = 0; i < n; i++) {
            const double r = (double)x[i] * ((double)g0[i] - s);
            const double scale = (double)x[i] * (fabs((double)g0[i]) + fabs(s)) + 1e-30;
            ck_assert_msg(fabs((double)g[i] - r) <= 1e-6 * scale, "bwd n %zu i %zu", n, i);
        }
        free(x);
        free(g);
        free(g0);
        free(xin);
        free(ref);
    }
    /* a NaN anywhere makes the whole row NaN (training detects divergence from it) */
    float row[20];
    for (int i = 0; i < 20; i++) row[i] = (float)i;
    row[13] = NAN;
    as_vec_softmax(row, 20);
    for (int i = 0; i < 20; i++) ck_assert(isnan(row[i]));
}
END_TEST

static double ref_act(double x, as_act a) {
    switch (a) {
    case AS_ACT_RELU: return x > 0 ? x : 0;
    case AS_ACT_TANH: return tanh(x);
    case AS_ACT_SIGMOID: return 1 / (1 + exp(-x));
    default: return x;
    }
}

START_TEST(test_bias_act) {
    if (!use(_i)) return;
    static const double tol[AS_ACT_NTYPES] = {0, 0, 5e-7, 4e-7};
    for (int a = 0; a < AS_ACT_NTYPES; a++)
        for (size_t si = 1; si < NSIZES; si++) {
            const size_t F = sizes[si], N = 3;
            float *x = malloc(N * F * sizeof *x), *b = malloc(F * sizeof *b);
            float *x0 = malloc(N * F * sizeof *x);
            for (size_t i = 0; i < N * F; i++) x0[i] = x[i] = urand(-6.0f, 6.0f);
            for (size_t f = 0; f < F; f++) b[f] = f % 5 == 0 ? 0.0f : urand(-0.3f, 0.3f);
            x0[0] = x[0] = F > 1 ? 1e-5f : 0.2499f; /* tanh's polynomial range and its edge */
            as_vec_bias_act(x, b, N, F, (as_act)a);
            for (size_t i = 0; i < N * F; i++) {
                const double z = (double)(x0[i] + b[i % F]);
                ck_assert_msg(rel((double)x[i], ref_act(z, (as_act)a)) <= tol[a],
                              "act %d F %zu i %zu: %.9g vs %.9g", a, F, i, (double)x[i],
                              ref_act(z, (as_act)a));
            }
            /* no bias: the activation alone, as one long row */
            memcpy(x, x0, N * F * sizeof *x);
            as_vec_bias_act(x, NULL, N, F, (as_act)a);
            for (size_t i = 0; i < N * F; i++)
                ck_assert(rel((double)x[i], ref_act((double)x0[i], (as_act)a)) <= tol[a]);
            free(x);
            free(x0);
            free(b);
        }
}
END_TEST

START_TEST(test_act_backward_add_colsum) {
    if (!use(_i)) return;
    for (size_t si = 0; si < NSIZES; si++) {
        const size_t n = sizes[si];
        float *d = malloc((n + 1) * sizeof *d), *y = malloc((n + 1) * sizeof *y);
        float *d0 = malloc((n + 1) * sizeof *d0), *o = malloc((n + 1) * sizeof *o);
        for (int a = 0; a < AS_ACT_NTYPES; a++) {
            for (size_t i = 0; i < n; i++) {
                d0[i] = d[i] = urand(-1.0f, 1.0f);
                y[i] = a == AS_ACT_SIGMOID ? urand(0.0f, 1.0f) : urand(-1.0f, 1.0f);
            }
            as_vec_act_backward(d, y, n, (as_act)a);
            for (size_t i = 0; i < n; i++) {
                const double yy = (double)y[i], dd = (double)d0[i];
                const double r = a == AS_ACT_RELU      ? (yy > 0 ? dd : 0)
                                 : a == AS_ACT_TANH    ? dd * (1 - yy * yy)
                                 : a == AS_ACT_SIGMOID ? dd * yy * (1 - yy) : dd;
                ck_assert_msg(fabs((double)d[i] - r) <= 3e-7 * fabs(dd), "dact %d", a);
            }
        }
        as_vec_add(o, d, y, n);
        for (size_t i = 0; i < n; i++) ck_assert(o[i] == d[i] + y[i]);
        double dot = 0;
        for (size_t i = 0; i < n; i++) dot += (double)d[i] * (double)y[i];
        ck_assert(fabs((double)as_vec_dot(d, y, n) - dot) <= 1e-6 * (double)(n + 1));
        free(d);
        free(y);
        free(d0);
        free(o);
    }
    for (size_t si = 1; si < NSIZES && sizes[si] <= 275; si++) {
        const size_t F = sizes[si], ld = F + 3, N = 101;
        float *m = malloc(N * ld * sizeof *m), *db = malloc(F * sizeof *db);
        for (size_t i = 0; i < N * ld; i++) m[i] = urand(-1.0f, 1.0f);
        for (size_t f = 0; f < F; f++) db[f] = (float)f;
        as_vec_colsum_add(db, m, N, F, ld);
        for (size_t f = 0; f < F; f++) {
            double s = (double)f;
            for (size_t r = 0; r < N; r++) s += (double)m[r * ld + f];
            ck_assert_msg(fabs((double)db[f] - s) <= 1e-5 * (1 + fabs(s)), "colsum F %zu", F);
        }
        free(m);
        free(db);
    }
}
END_TEST

START_TEST(test_selection) {
    as_error err;
    ck_assert(as_vec_supported(AS_VEC_PORTABLE));
    for (int l = 0; l <= AS_VEC_AVX512; l++)
        if (!as_vec_supported((as_vec_level)l))
            ck_assert_int_eq(as_vec_use((as_vec_level)l, &err), AS_ERR_ARG);
    ck_assert_int_eq(as_vec_use((as_vec_level)7, &err), AS_ERR_ARG);
    printf("test_vec: this CPU runs: portable%s%s\n", as_vec_supported(AS_VEC_AVX2) ? " avx2" : "",
           as_vec_supported(AS_VEC_AVX512) ? " avx512" : "");
}
END_TEST

int main(void) {
    Suite *s = suite_create("vec");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_selection);
    tcase_add_loop_test(tc, test_exp_accuracy, AS_VEC_PORTABLE, AS_VEC_AVX512 + 1);
    tcase_add_loop_test(tc, test_softmax, AS_VEC_PORTABLE, AS_VEC_AVX512 + 1);
    tcase_add_loop_test(tc, test_bias_act, AS_VEC_PORTABLE, AS_VEC_AVX512 + 1);
    tcase_add_loop_test(tc, test_act_backward_add_colsum, AS_VEC_PORTABLE, AS_VEC_AVX512 + 1);
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
