/* test_attn_fused.c: the fused (FlashAttention-style) attention kernel against the kernel
 * it replaced -- softmax over materialised T x T scores, probabilities and masks stored --
 * kept here as the reference (scalar expf, as it was): outputs, probabilities, input and
 * every parameter gradient within 1e-5 relative (to the tensor's largest magnitude), with
 * and without dropout on the probabilities, 1 and 4 heads, T = 1, odd sizes, key and
 * value dimensions that are not multiples of 8 or 16, and sizes spanning several query
 * and key blocks; and the same results on 1 and 2 threads. Every path runs: the AVX2 block
 * kernels (attn_gemm.h, when the CPU has them), cblas_sgemm with the AVX2 element-wise
 * kernels, and the portable variant (ATTNSWEEP_SIMD=portable's choice: sgemm). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/layers.h"
#include "attnsweep/pool.h"
#include "attnsweep/vec.h"
#include "layers/attn_gemm.h"
#include "testutil.h"

/* ---------------- the reference: the replaced kernel ---------------- */
typedef struct {
    float *q, *k, *v, *probs, *dprobs, *mask, *ctx;
} ref_state;

static void ref_project(float *y, const float *x, const float *w, const float *b, int N, int C,
                        int D, float s) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, C, s, x, C, w, D, 0.0f, y, D);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < D; i++) y[(size_t)n * D + i] += s * b[i];
}

static void ref_softmax_rows(float *S, int T) {
    for (int i = 0; i < T; i++) {
        float *r = S + (size_t)i * T, mx = r[0], sum = 0.0f;
        for (int j = 1; j < T; j++) mx = r[j] > mx ? r[j] : mx;
        for (int j = 0; j < T; j++) sum += (r[j] = expf(r[j] - mx));
        for (int j = 0; j < T; j++) r[j] *= 1.0f / sum;
    }
}

/* params split like attention.c: wq bq wk bk wv bv wo bo */
static void split(const float *p, const as_attn_dims *d, const float *o[8]) {
    const size_t C = (size_t)d->C, hk = (size_t)d->H * d->Dk, hv = (size_t)d->H * d->Dv;
    const size_t sz[8] = {C * hk, hk, C * hk, hk, C * hv, hv, hv * (size_t)d->O, (size_t)d->O};
    for (int i = 0; i < 8; i++) {
        o[i] = p;
        p += sz[i];
    }
}

static void ref_forward(float *out, ref_state *st, const float *inp, const float *params,
                        const as_attn_dims *d, int training, const as_drop_key *key) {
    const int B = d->B, T = d->T, H = d->H, Dk = d->Dk, Dv = d->Dv, N = B * T;
    const int hk = H * Dk, hv = H * Dv;
    const size_t tt = (size_t)T * T;
    const float *p[8];
    split(params, d, p);
    ref_project(st->q, inp, p[0], p[1], N, d->C, hk, (float)(1.0 / sqrt((double)Dk)));
    ref_project(st->k, inp, p[2], p[3], N, d->C, hk, 1.0f);
    ref_project(st->v, inp, p[4], p[5], N, d->C, hv, 1.0f);
    const float keep = 1.0f / (1.0f - d->rate);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const size_t off = ((size_t)b * H + h) * tt, rk = (size_t)b * T * hk + (size_t)h * Dk;
            const size_t rv = (size_t)b * T * hv + (size_t)h * Dv;
            float *S = st->probs + off, *Pd = st->dprobs + off, *M = st->mask + off;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, Dk, 1.0f, st->q + rk, hk,
                        st->k + rk, hk, 0.0f, S, T);
            ref_softmax_rows(S, T);
            for (size_t i = 0; i < tt; i++) {
                M[i] = training && d->rate > 0.0f
                           ? (as_drop_u(key, b, (uint64_t)h * tt + i) < d->rate ? 0.0f : keep)
                           : 1.0f;
                Pd[i] = S[i] * M[i];
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dv, T, 1.0f, Pd, T,
                        st->v + rv, hv, 0.0f, st->ctx + rv, hv);
        }
    ref_project(out, st->ctx, p[6], p[7], N, hv, d->O, 1.0f);
}

static void ref_project_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                                 const float *w, int N, int C, int D) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, D, N, 1.0f, x, C, dy, D, 1.0f, dw, D);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < D; i++) db[i] += dy[(size_t)n * D + i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, D, 1.0f, dy, D, w, D, 1.0f, dx, C);
}

static void ref_backward(float *dinp, float *dparams, const float *dout, const ref_state *st,
                         const float *inp, const float *params, const as_attn_dims *d) {
    const int B = d->B, T = d->T, H = d->H, Dk = d->Dk, Dv = d->Dv, N = B * T, O = d->O;
    const int hk = H * Dk, hv = H * Dv;
    const size_t tt = (size_t)T * T;
    const float *p[8], *g0[8];
    split(params, d, p);
    split(dparams, d, g0);
    float *g[8];
    for (int i = 0; i < 8; i++) g[i] = (float *)(uintptr_t)g0[i];
    float *dq = calloc((size_t)N * hk, 4), *dk = calloc((size_t)N * hk, 4);
    float *dv = calloc((size_t)N * hv, 4), *dctx = calloc((size_t)N * hv, 4), *dP = calloc(tt, 4);
    float *dummy = calloc((size_t)N * hv, 4);
    ref_project_backward(dummy, g[6], g[7], dout, st->ctx, p[6], N, hv, O);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, hv, O, 1.0f, dout, O, p[6], O, 0.0f,
                dctx, hv);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const size_t off = ((size_t)b * H + h) * tt, ok = (size_t)b * T * hk + (size_t)h * Dk;
            const size_t ov = (size_t)b * T * hv + (size_t)h * Dv;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, Dv, 1.0f, dctx + ov, hv,
                        st->v + ov, hv, 0.0f, dP, T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, Dv, T, 1.0f, st->dprobs + off,
                        T, dctx + ov, hv, 0.0f, dv + ov, hv);
            for (size_t i = 0; i < tt; i++) dP[i] *= st->mask[off + i];
            for (int i = 0; i < T; i++) {
                float *gr = dP + (size_t)i * T, s = 0.0f;
                const float *pr = st->probs + off + (size_t)i * T;
                for (int j = 0; j < T; j++) s += gr[j] * pr[j];
                for (int j = 0; j < T; j++) gr[j] = pr[j] * (gr[j] - s);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dk, T,
                        (float)(1.0 / sqrt((double)Dk)), dP, T, st->k + ok, hk, 0.0f, dq + ok, hk);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, Dk, T, 1.0f, dP, T, st->q + ok,
                        hk, 0.0f, dk + ok, hk);
        }
    ref_project_backward(dinp, g[0], g[1], dq, inp, p[0], N, d->C, hk);
    ref_project_backward(dinp, g[2], g[3], dk, inp, p[2], N, d->C, hk);
    ref_project_backward(dinp, g[4], g[5], dv, inp, p[4], N, d->C, hv);
    free(dq), free(dk), free(dv), free(dctx), free(dP), free(dummy);
}

/* ---------------- the comparison ---------------- */
static uint64_t g_seed = 7;
static float *rnd(size_t n, float scale) {
    float *x = malloc((n + 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        g_seed = g_seed * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = scale * ((float)((double)(g_seed >> 40) / (double)(1ULL << 24)) * 2.0f - 1.0f);
    }
    return x;
}

/* max |a - b| / max |b|; infinite when a value of a is not finite (fmax would skip a NaN) */
static double norm_rel(const float *a, const float *b, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return (double)INFINITY;
        e = fmax(e, fabs((double)a[i] - (double)b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? e / m : e;
}

#define CHECK_REL(what, a, b, n)                                                                \
    do {                                                                                        \
        const double e_ = norm_rel(a, b, n);                                                    \
        ck_assert_msg(e_ <= 1e-5, "B=%d T=%d H=%d Dk=%d Dv=%d rate=%g: %s differs by %.3g", d.B, \
                      d.T, d.H, d.Dk, d.Dv, (double)d.rate, what, e_);                          \
    } while (0)

static float *nan_buf(size_t n) {
    float *b = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) b[i] = NAN;
    return b;
}

/* One configuration; returns the fused output (for the thread comparison), caller frees. */
static float *compare(as_attn_dims d, float *dinp_out, float *dpar_out) {
    const size_t ni = (size_t)d.B * d.T * d.C, no = (size_t)d.B * d.T * d.O;
    const size_t np = as_attn_param_count(&d), nq = (size_t)d.B * d.T * d.H * d.Dk;
    const size_t nv = (size_t)d.B * d.T * d.H * d.Dv, ntt = (size_t)d.B * d.H * d.T * d.T;
    float *x = rnd(ni, 1.0f), *p = rnd(np, 0.5f), *R = rnd(no, 1.0f);
    const as_drop_key key = {42, 3, 2, 5};
    /* state and scratch start as NaN: in a model they hold what other layers left, so a
     * block that adds where it must store (backward's first blocks) fails here */
    float *sbuf = nan_buf(as_attn_state_size(&d)), *scr = nan_buf(as_attn_scratch(&d));
    float *out = calloc(no, 4), *dx = calloc(ni, 4), *dp = calloc(np, 4), *P = calloc(ntt, 4);
    as_attn_state st;
    as_attn_state_bind(&st, sbuf, &d);
    ref_state rs = {calloc(nq, 4), calloc(nq, 4), calloc(nv, 4), calloc(ntt, 4), calloc(ntt, 4),
                    calloc(ntt, 4), calloc(nv, 4)};
    float *rout = calloc(no, 4), *rdx = calloc(ni, 4), *rdp = calloc(np, 4);
    const int training = d.rate > 0.0f;
    as_attn_forward(out, &st, x, p, &d, training, &key);
    ref_forward(rout, &rs, x, p, &d, training, &key);
    as_attn_backward(dx, dp, R, &st, x, p, scr, &d);
    ref_backward(rdx, rdp, R, &rs, x, p, &d);
    as_attn_probs(P, &st, &d, 0, d.B);
    CHECK_REL("output", out, rout, no);
    CHECK_REL("probabilities", P, rs.probs, ntt);
    CHECK_REL("input gradient", dx, rdx, ni);
    const size_t C = (size_t)d.C, hk = (size_t)d.H * d.Dk, hv = (size_t)d.H * d.Dv;
    const size_t sz[8] = {C * hk, hk, C * hk, hk, C * hv, hv, hv * (size_t)d.O, (size_t)d.O};
    static const char *names[8] = {"dwq", "dbq", "dwk", "dbk", "dwv", "dbv", "dwo", "dbo"};
    size_t off = 0;
    for (int i = 0; i < 8; i++) {
        if (i == 3) { /* dbk is 0 up to rounding (softmax ignores a shift of a row's scores):
                       * compare on the scale of dwv (dwq, dwk are 0 too when T = 1) */
            double e = 0, m = 0;
            for (size_t j = 0; j < sz[i]; j++)
                e = isfinite(dp[off + j]) ? fmax(e, fabs((double)dp[off + j] - (double)rdp[off + j]))
                                          : (double)INFINITY;
            const size_t ov = sz[0] + sz[1] + sz[2] + sz[3];
            for (size_t j = 0; j < sz[4]; j++) m = fmax(m, fabs((double)rdp[ov + j])); /* dwv */
            ck_assert_msg(e <= 1e-5 * m, "dbk differs by %g (dwv scale %g)", e, m);
        } else
            CHECK_REL(names[i], dp + off, rdp + off, sz[i]);
        off += sz[i];
    }
    if (training) { /* the masks the fused kernel redraws are the reference's */
        float *M = calloc(ntt, 4);
        ck_assert(as_attn_mask(M, &st, &d));
        ck_assert(memcmp(M, rs.mask, ntt * 4) == 0);
        free(M);
    }
    if (dinp_out) memcpy(dinp_out, dx, ni * 4);
    if (dpar_out) memcpy(dpar_out, dp, np * 4);
    free(x), free(p), free(R), free(sbuf), free(scr), free(dx), free(dp), free(P);
    free(rs.q), free(rs.k), free(rs.v), free(rs.probs), free(rs.dprobs), free(rs.mask);
    free(rs.ctx), free(rout), free(rdx), free(rdp);
    return out;
}

/* Selects path i: 0 the AVX2 block kernels, 1 sgemm with the AVX2 element-wise kernels,
 * 2 the portable variant. Returns 0 (and says so) when the CPU cannot run it. */
static int use_path(int i) {
    as_error err;
    const as_vec_level lv = i == 2 ? AS_VEC_PORTABLE : AS_VEC_AVX2;
    if (!as_vec_supported(lv)) {
        printf("test_attn_fused: SKIPPED path %d: no AVX2 and FMA on this CPU\n", i);
        return 0;
    }
    ck_assert_int_eq(as_vec_use(lv, &err), AS_OK);
    as_attn_use_sgemm(i == 1);
    ck_assert_int_eq(as_attn_gemm_active(), i != 2); /* the AVX2 kernels' condition */
    return 1;
}

START_TEST(test_fused_equals_reference) {
    static const as_attn_dims cases[] = {
        {2, 1, 4, 1, 3, 3, 4, 0.0f},     /* T = 1 */
        {3, 1, 5, 4, 2, 3, 2, 0.2f},     /* T = 1, 4 heads, dropout */
        {2, 7, 6, 1, 4, 5, 3, 0.0f},     /* odd sizes, one head */
        {2, 37, 5, 4, 3, 5, 6, 0.3f},    /* odd sizes, 4 heads, dropout */
        {1, 257, 8, 1, 16, 16, 8, 0.0f}, /* two blocks of 129/128 */
        {2, 300, 6, 4, 8, 4, 5, 0.25f},  /* two blocks, 4 heads, dropout */
        {1, 601, 4, 2, 5, 7, 3, 0.1f},   /* three blocks, odd */
        {2, 70, 9, 2, 24, 20, 7, 0.0f},  /* a full and a partial panel of 16 */
        {1, 133, 7, 3, 17, 33, 4, 0.15f}, /* panels of 16 + 1 and 32 + 1, dropout */
    };
    if (!use_path(_i)) return;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) free(compare(cases[i], NULL, NULL));
    as_attn_use_sgemm(0);
}
END_TEST

START_TEST(test_threads_agree) {
    if (!use_path(_i)) return;
    const as_attn_dims d = {3, 70, 6, 4, 5, 6, 7, 0.2f};
    const size_t ni = (size_t)d.B * d.T * d.C, no = (size_t)d.B * d.T * d.O;
    const size_t np = as_attn_param_count(&d);
    float *dx1 = malloc(ni * 4), *dx2 = malloc(ni * 4), *dp1 = malloc(np * 4), *dp2 = malloc(np * 4);
    as_pool_set_threads(1);
    g_seed = 11;
    float *o1 = compare(d, dx1, dp1);
    as_pool_set_threads(2);
    g_seed = 11;
    float *o2 = compare(d, dx2, dp2);
    ck_assert(memcmp(o1, o2, no * 4) == 0);
    ck_assert(memcmp(dx1, dx2, ni * 4) == 0);
    ck_assert(memcmp(dp1, dp2, np * 4) == 0);
    free(o1), free(o2), free(dx1), free(dx2), free(dp1), free(dp2);
    as_pool_set_threads(1);
    as_attn_use_sgemm(0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("attn_fused");
    TCase *tc = tcase_create("fused");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_fused_equals_reference, 0, 3);
    tcase_add_loop_test(tc, test_threads_agree, 0, 3);
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
