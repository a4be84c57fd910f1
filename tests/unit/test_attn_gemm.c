/* test_attn_gemm.c: the AVX2 block products of attention (src/layers/attn_gemm.h) against a
 * double-precision reference, in every epilogue (store with and without a bias, add, exp,
 * dS), both layouts of A (NN, TN) and both packings of B (as_attn_pack, with its column
 * sums, and as_attn_pack_t),
 * over sizes that cover partial row tiles (m not a multiple of 6), partial and
 * single-vector column panels (n = 1..40), k = 0, 1, odd and long sums and several row
 * blocks; that nothing outside C's view is written; that a row's result does not depend
 * on how many rows are computed with it (the tiling, hence the thread count); and the exp
 * of the attention rows (as_attn_exp_rows) against the element-wise kernels' exp.
 * Skipped (exit 77) on a CPU without AVX2 and FMA. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/vec.h"
#include "layers/attn_gemm.h"
#include "testutil.h"

static uint64_t g_seed = 5;
static float urand(float lo, float hi) {
    g_seed = g_seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (float)((double)(g_seed >> 40) / (double)(1ULL << 24));
}
static float *rnd(size_t n, float lo, float hi) {
    float *x = malloc((n + 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++) x[i] = urand(lo, hi);
    return x;
}

#define GUARD 12345.0f
#define LDC_PAD 3

/* One product: A (m x k, or k x m for TN), B (k x n) from a row-major array (or, for
 * pack_t, from its n x k transpose); C checked against the double reference. */
static void check_one(int m, int n, int k, as_ag_mode mode, int tn, int pack_t) {
    const int lda = tn ? m + 2 : k + 1, ldb = pack_t ? k + 1 : n + 2, ldc = n + LDC_PAD;
    float *A = rnd((size_t)(tn ? k : m) * lda, -1, 1);
    float *B = rnd((size_t)(pack_t ? n : k) * ldb, -1, 1);
    float *E = rnd((size_t)m * n, 0, 1), *r = rnd((size_t)m, -0.5f, 4.0f);
    const size_t ps = 16 * (size_t)k + 8; /* a panel stride above the 16 k floats needed */
    const size_t np = (size_t)((n + 15) / 16);
    float *Bp = aligned_alloc(32, ((np * ps + 8) * sizeof(float) + 31) / 32 * 32);
    ck_assert_ptr_nonnull(Bp);
    float *sums = rnd((size_t)n + 4, -1, 1), *sums0 = malloc(((size_t)n + 4) * sizeof *sums0);
    ck_assert_ptr_nonnull(sums0);
    memcpy(sums0, sums, ((size_t)n + 4) * sizeof *sums0);
    if (pack_t) as_attn_pack_t(Bp, ps, B, n, k, ldb);
    else as_attn_pack(Bp, ps, B, k, n, ldb, mode == AS_AG_ADD ? sums : NULL);
    for (int j = 0; j < n + 4; j++) { /* the column sums, row by row in float */
        float want = sums0[j];
        for (int p = 0; !pack_t && mode == AS_AG_ADD && j < n && p < k; p++)
            want += B[(size_t)p * ldb + j];
        ck_assert_msg(sums[j] == want, "column sum %d: %.9g, want %.9g", j, (double)sums[j],
                      (double)want);
    }
    free(sums), free(sums0);
    float *C = rnd((size_t)m * ldc + 4, -1, 1), *C0 = malloc(((size_t)m * ldc + 4) * sizeof *C0);
    ck_assert_ptr_nonnull(C0);
    for (int i = 0; i < m; i++)
        for (int j = n; j < ldc; j++) C[(size_t)i * ldc + j] = GUARD;
    for (int j = 0; j < 4; j++) C[(size_t)m * ldc + j] = GUARD;
    memcpy(C0, C, ((size_t)m * ldc + 4) * sizeof *C0);
    const float alpha = 0.75f;
    float *bias = rnd((size_t)n, -2, 2);
    const int with_bias = mode == AS_AG_STORE && m % 2; /* odd m: STORE with a bias */
    const as_ag_epi e = {mode, alpha, r, E, n, with_bias ? bias : NULL};
    as_attn_gemm(tn, m, n, k, A, lda, Bp, ps, C, ldc, &e);
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int p = 0; p < k; p++) {
                const double a = (double)(tn ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p]);
                const double b =
                    (double)(pack_t ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j]);
                s += a * b;
                mag += fabs(a * b);
            }
            const double c0 = (double)C0[(size_t)i * ldc + j], ei = (double)E[(size_t)i * n + j];
            const double ri = (double)r[i];
            double ref, tol = 2e-6 * (mag + 1.0);
            switch (mode) {
            case AS_AG_STORE:
                ref = (double)alpha * (s + (with_bias ? (double)bias[j] : 0.0));
                break;
            case AS_AG_ADD: ref = c0 + (double)alpha * s; break;
            case AS_AG_EXP:
                ref = exp(s - ri);
                tol = 2e-6 * (mag + 1.0) * ref + 1e-30;
                break;
            default: ref = ei * (s - ri); break;
            }
            const double got = (double)C[(size_t)i * ldc + j];
            ck_assert_msg(fabs(got - ref) <= tol,
                          "m %d n %d k %d mode %d tn %d pack_t %d: C[%d][%d] = %.9g, want %.9g", m,
                          n, k, (int)mode, tn, pack_t, i, j, got, ref);
        }
        for (int j = n; j < ldc; j++) ck_assert(C[(size_t)i * ldc + j] == GUARD);
    }
    for (int j = 0; j < 4; j++) ck_assert(C[(size_t)m * ldc + j] == GUARD);
    free(A), free(B), free(E), free(r), free(Bp), free(C), free(C0), free(bias);
}

static int avx2(void) { return as_vec_supported(AS_VEC_AVX2); }

START_TEST(test_products) {
    static const int ms[] = {1, 5, 6, 7, 13, 64};
    static const int ns[] = {1, 3, 7, 8, 9, 15, 16, 17, 24, 31, 33, 40};
    static const int ks[] = {0, 1, 3, 16, 37};
    for (int mode = AS_AG_STORE; mode <= AS_AG_DS; mode++)
        for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
            for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
                for (size_t c = 0; c < sizeof ks / sizeof ks[0]; c++)
                    for (int layout = 0; layout < 4; layout++)
                        check_one(ms[a], ns[b], ks[c], (as_ag_mode)mode, layout & 1, layout >> 1);
    check_one(100, 100, 256, AS_AG_ADD, 0, 0); /* attention's block shapes */
    check_one(256, 64, 64, AS_AG_ADD, 1, 0);
    check_one(64, 256, 64, AS_AG_EXP, 0, 1);
    check_one(3200, 64, 64, AS_AG_STORE, 0, 0); /* the projections': rows in several blocks */
    check_one(64, 64, 256, AS_AG_ADD, 1, 0);
}
END_TEST

/* Row i of a 13-row product equals the same row computed alone, bit for bit. */
START_TEST(test_rows_independent_of_tiling) {
    const int m = 13, n = 37, k = 29;
    float *A = rnd((size_t)m * k, -1, 1), *B = rnd((size_t)k * n, -1, 1);
    float *Bp = aligned_alloc(32, 3 * 16 * (size_t)k * sizeof(float));
    ck_assert_ptr_nonnull(Bp);
    as_attn_pack(Bp, 16 * (size_t)k, B, k, n, n, NULL);
    float *C = calloc((size_t)m * n, sizeof *C), *c1 = calloc((size_t)n, sizeof *c1);
    const as_ag_epi e = {AS_AG_STORE, 1.0f, NULL, NULL, 0, NULL};
    as_attn_gemm(0, m, n, k, A, k, Bp, 16 * (size_t)k, C, n, &e);
    for (int i = 0; i < m; i++) {
        as_attn_gemm(0, 1, n, k, A + (size_t)i * k, k, Bp, 16 * (size_t)k, c1, n, &e);
        ck_assert_msg(memcmp(c1, C + (size_t)i * n, (size_t)n * sizeof *c1) == 0, "row %d", i);
    }
    free(A), free(B), free(Bp), free(C), free(c1);
}
END_TEST

/* as_attn_exp_rows: exp(x - shift) equals the AVX2 element-wise kernel's exp (vec.h) bit for
 * bit over attention's range (x - shift in [-87.3, 0], and a little above 0), 0 below it,
 * NaN for NaN; the sums are the rows' sums; nothing past n is written. */
START_TEST(test_exp_rows) {
    as_error err;
    ck_assert_int_eq(as_vec_use(AS_VEC_AVX2, &err), AS_OK);
    const int rows = 3, n = 1003, ld = 1010;
    float *S = malloc((size_t)rows * ld * sizeof *S), *X = malloc((size_t)rows * ld * sizeof *X);
    float *W = malloc((size_t)n * sizeof *W);
    ck_assert_ptr_nonnull(S);
    ck_assert_ptr_nonnull(X);
    ck_assert_ptr_nonnull(W);
    const float shift[3] = {0.0f, 2.5f, -1.0f};
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < ld; j++)
            X[(size_t)r * ld + j] = shift[r] - 87.33f * (float)j / (float)(n - 1);
    X[5] = NAN, X[ld + 7] = -200.0f, X[2 * ld + 1002] = shift[2] + 1e-3f;
    memcpy(S, X, (size_t)rows * ld * sizeof *S);
    float sums[3];
    as_attn_exp_rows(S, rows, n, ld, shift, sums);
    for (int r = 0; r < rows; r++) {
        (void)as_vec_exp_sum(W, X + (size_t)r * ld, (size_t)n, shift[r]);
        double sum = 0;
        for (int j = 0; j < n; j++) {
            const size_t o = (size_t)r * ld + j;
            if (isnan(W[j])) {
                ck_assert(isnan(S[o]));
                continue;
            }
            ck_assert_msg(S[o] == W[j], "row %d col %d: %.9g vs %.9g", r, j, (double)S[o],
                          (double)W[j]);
            sum += (double)S[o];
        }
        for (int j = n; j < ld; j++) ck_assert(S[(size_t)r * ld + j] == X[(size_t)r * ld + j]);
        if (r > 0) ck_assert_msg(fabs((double)sums[r] - sum) <= 1e-5 * sum, "sum %d", r);
        else ck_assert(isnan(sums[r]));
    }
    ck_assert(S[ld + 7] == 0.0f);
    free(S), free(X), free(W);
}
END_TEST

int main(void) {
    if (!avx2()) {
        printf("test_attn_gemm: SKIPPED: this CPU has no AVX2 and FMA\n");
        return 77;
    }
    Suite *s = suite_create("attn_gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_products);
    tcase_add_test(tc, test_rows_independent_of_tiling);
    tcase_add_test(tc, test_exp_rows);
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
