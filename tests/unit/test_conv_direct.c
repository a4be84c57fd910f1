/* test_conv_direct.c: conv1d's two paths -- the direct AVX2 kernel (src/layers/
 * conv_direct.c) and the tap GEMMs it replaces (kept as the reference, AS_CONV_TAPS) --
 * against a naive convolution in double precision: the output (bias, activation), the
 * input gradient (accumulated onto what dinp held), the kernel and bias gradients, within
 * 1e-5 of the tensor's largest magnitude, for odd sizes (C and F not multiples of 8 or
 * 16, C = 1, F = 1, K = 1, T shorter than the kernel span, T = 1, dilation 2 and 3,
 * same, valid and causal padding, sequences longer than the kernel gradient's row
 * chunk), residual_conv1d, and the benchmark's toy size; the
 * direct kernel on 1 and 2 threads bit-identical; the automatic choice (direct unless
 * ATTNSWEEP_SIMD=portable). On a CPU without AVX2 + FMA both paths are the tap GEMMs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/layers.h"
#include "attnsweep/pool.h"
#include "attnsweep/vec.h"
#include "layers/conv_internal.h"
#include "testutil.h"

typedef enum { PAD_SAME, PAD_VALID, PAD_CAUSAL } pad_mode;

typedef struct {
    int B, T, C, F, K, dil;
    pad_mode pad;
    as_act act;
} conv_case;

static const conv_case cases[] = {
    {2, 11, 3, 5, 3, 1, PAD_SAME, AS_ACT_RELU},       /* odd C, F < 8 */
    {3, 17, 13, 19, 5, 1, PAD_SAME, AS_ACT_LINEAR},   /* F > 16, not a multiple of 8 */
    {2, 9, 1, 1, 3, 1, PAD_SAME, AS_ACT_TANH},        /* C = 1, F = 1 */
    {2, 10, 7, 1, 4, 2, PAD_VALID, AS_ACT_SIGMOID},   /* F = 1, valid, dilation 2 */
    {1, 3, 5, 9, 5, 1, PAD_SAME, AS_ACT_RELU},        /* T shorter than the span */
    {2, 2, 4, 4, 4, 2, PAD_SAME, AS_ACT_LINEAR},      /* span 6 > T */
    {3, 12, 6, 8, 1, 1, PAD_SAME, AS_ACT_RELU},       /* K = 1 */
    {2, 14, 9, 17, 3, 3, PAD_CAUSAL, AS_ACT_TANH},    /* causal, dilation 3 */
    {4, 25, 16, 33, 5, 2, PAD_VALID, AS_ACT_RELU},    /* valid, 3 panels */
    {1, 1, 3, 2, 1, 1, PAD_SAME, AS_ACT_SIGMOID},     /* T = 1, B*To < 6 */
    {2, 31, 1, 24, 7, 1, PAD_CAUSAL, AS_ACT_RELU},    /* C = 1, a 16 + 8 panel split */
    {5, 40, 32, 32, 5, 1, PAD_SAME, AS_ACT_RELU},     /* the Trace model's width */
    {2, 600, 8, 16, 3, 2, PAD_SAME, AS_ACT_LINEAR},   /* sequences longer than a dW chunk */
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static int pad_left(const conv_case *c) {
    const int span = c->dil * (c->K - 1);
    return c->pad == PAD_SAME ? span / 2 : c->pad == PAD_CAUSAL ? span : 0;
}

static int out_t(const conv_case *c) {
    return c->pad == PAD_VALID ? c->T - c->dil * (c->K - 1) : c->T;
}

static float *rnd(size_t n, unsigned *seed, float scale) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = scale * ((float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f);
    }
    return p;
}

static float *dup(const float *x, size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(p);
    memcpy(p, x, n * sizeof(float));
    return p;
}

/* The inputs of a case and one path's results. */
typedef struct {
    size_t nx, ny, nw;
    float *x, *w, *b, *dy, *dx0, *dw0, *db0; /* inputs; gradients start from *0 */
    float *y, *dz, *dx, *dw, *db;            /* results (dz: dout after backward) */
} conv_run;

static void make_inputs(conv_run *r, const conv_case *c, unsigned seed) {
    memset(r, 0, sizeof *r);
    r->nx = (size_t)c->B * c->T * c->C;
    r->ny = (size_t)c->B * out_t(c) * c->F;
    r->nw = (size_t)c->K * c->C * c->F;
    r->x = rnd(r->nx, &seed, 1.0f), r->w = rnd(r->nw, &seed, 0.5f);
    r->b = rnd((size_t)c->F, &seed, 0.3f), r->dy = rnd(r->ny, &seed, 1.0f);
    r->dx0 = rnd(r->nx, &seed, 0.2f), r->dw0 = rnd(r->nw, &seed, 0.2f);
    r->db0 = rnd((size_t)c->F, &seed, 0.2f);
}

static void free_results(conv_run *r) {
    free(r->y), free(r->dz), free(r->dx), free(r->dw), free(r->db);
    r->y = r->dz = r->dx = r->dw = r->db = NULL;
}

static void free_run(conv_run *r) {
    free_results(r);
    free(r->x), free(r->w), free(r->b), free(r->dy), free(r->dx0), free(r->dw0), free(r->db0);
}

/* Forward and backward of conv1d (residual: residual_conv1d, same padding, F == C) on the
 * current path; the results into r. */
static void run_path(conv_run *r, const conv_case *c, int residual) {
    const int To = out_t(c), pl = pad_left(c);
    float *cols = calloc(as_conv1d_scratch(c->B, To, c->C, c->F, c->K) + 1, sizeof(float));
    ck_assert_ptr_nonnull(cols);
    free_results(r);
    r->y = calloc(r->ny + 1, sizeof(float)), r->dz = dup(r->dy, r->ny);
    r->dx = dup(r->dx0, r->nx), r->dw = dup(r->dw0, r->nw), r->db = dup(r->db0, (size_t)c->F);
    if (residual) {
        float *branch = calloc(r->ny + 1, sizeof(float));
        as_resconv1d_forward(r->y, branch, r->x, r->w, r->b, cols, c->B, c->T, c->C, c->K,
                             c->dil, c->act);
        as_resconv1d_backward(r->dx, r->dw, r->db, r->dz, branch, r->x, r->w, cols, c->B, c->T,
                              c->C, c->K, c->dil, c->act);
        free(branch);
    } else {
        as_conv1d_forward(r->y, r->x, r->w, r->b, cols, c->B, c->T, c->C, c->F, c->K, c->dil, pl,
                          To, c->act);
        as_conv1d_backward(r->dx, r->dw, r->db, r->dz, r->y, r->x, r->w, cols, c->B, c->T, c->C,
                           c->F, c->K, c->dil, pl, To, c->act);
    }
    free(cols);
}

static double act_d(double z, as_act a) {
    switch (a) {
    case AS_ACT_RELU: return z > 0.0 ? z : 0.0;
    case AS_ACT_TANH: return tanh(z);
    case AS_ACT_SIGMOID: return 1.0 / (1.0 + exp(-z));
    default: return z;
    }
}

/* max |got - ref| <= 1e-5 max |ref| (plus a floor for all-zero tensors). */
static void check_close(const float *got, const double *ref, size_t n, const char *what,
                        const conv_case *c) {
    double mx = 0.0, err = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (isnan(e)) e = (double)INFINITY; /* a NaN must fail, not compare false */
        if (e > err) err = e, at = i;
    }
    ck_assert_msg(err <= 1e-5 * mx + 1e-30,
                  "%s: B=%d T=%d C=%d F=%d K=%d dil=%d pad %d: [%zu] %.8g vs %.8g (max %.3g)",
                  what, c->B, c->T, c->C, c->F, c->K, c->dil, (int)c->pad, at, (double)got[at],
                  ref[at], mx);
}

/* The naive convolution in double: y, and from the path's own dz the gradients. */
static void check_naive(const conv_run *r, const conv_case *c, int residual) {
    const int To = out_t(c), pl = pad_left(c), C = c->C, F = c->F, T = c->T;
    double *y = calloc(r->ny + 1, sizeof(double)), *dx = calloc(r->nx + 1, sizeof(double));
    double *dw = calloc(r->nw + 1, sizeof(double)), *db = calloc((size_t)F, sizeof(double));
    for (size_t i = 0; i < r->nx; i++) dx[i] = (double)r->dx0[i] + (residual ? (double)r->dy[i] : 0.0);
    for (size_t i = 0; i < r->nw; i++) dw[i] = (double)r->dw0[i];
    for (int f = 0; f < F; f++) db[f] = (double)r->db0[f];
    for (int b = 0; b < c->B; b++)
        for (int t = 0; t < To; t++)
            for (int f = 0; f < F; f++) {
                const size_t o = ((size_t)b * To + t) * F + f;
                double z = (double)r->b[f];
                db[f] += (double)r->dz[o];
                for (int k = 0; k < c->K; k++) {
                    const int ti = t - pl + k * c->dil;
                    if (ti < 0 || ti >= T) continue;
                    for (int i = 0; i < C; i++) {
                        const size_t xi = ((size_t)b * T + ti) * C + i, wi = ((size_t)k * C + i) * F + f;
                        z += (double)r->x[xi] * (double)r->w[wi];
                        dx[xi] += (double)r->dz[o] * (double)r->w[wi];
                        dw[wi] += (double)r->x[xi] * (double)r->dz[o];
                    }
                }
                y[o] = act_d(z, c->act) + (residual ? (double)r->x[o] : 0.0);
            }
    check_close(r->y, y, r->ny, "output", c);
    check_close(r->dx, dx, r->nx, "input gradient", c);
    check_close(r->dw, dw, r->nw, "kernel gradient", c);
    check_close(r->db, db, (size_t)F, "bias gradient", c);
    free(y), free(dx), free(dw), free(db);
}

static void check_case(const conv_case *c, int residual) {
    conv_run r;
    make_inputs(&r, c, 7u + (unsigned)c->T);
    for (int p = AS_CONV_TAPS; p <= AS_CONV_DIRECT; p++) {
        as_conv1d_use_path((as_conv_path)p);
        run_path(&r, c, residual);
        check_naive(&r, c, residual);
    }
    as_conv1d_use_path(AS_CONV_AUTO);
    free_run(&r);
}

START_TEST(test_paths_match_naive) {
    for (int i = 0; i < NCASES; i++) check_case(&cases[i], 0);
}
END_TEST

START_TEST(test_residual_matches_naive) {
    const conv_case res[] = {{2, 13, 7, 7, 3, 1, PAD_SAME, AS_ACT_RELU},
                             {3, 4, 17, 17, 5, 2, PAD_SAME, AS_ACT_TANH},
                             {2, 30, 32, 32, 5, 1, PAD_SAME, AS_ACT_RELU}};
    for (int i = 0; i < 3; i++) check_case(&res[i], 1);
}
END_TEST

/* The benchmark's toy layer (B 32, T 100, 64 -> 64, k 5). */
START_TEST(test_toy_size_matches_naive) {
    const conv_case c = {32, 100, 64, 64, 5, 1, PAD_SAME, AS_ACT_RELU};
    check_case(&c, 0);
}
END_TEST

static void same_bits(const conv_run *a, const conv_run *b, const conv_case *c, const char *what) {
    ck_assert_msg(!memcmp(a->y, b->y, a->ny * sizeof(float)) &&
                      !memcmp(a->dx, b->dx, a->nx * sizeof(float)) &&
                      !memcmp(a->dw, b->dw, a->nw * sizeof(float)) &&
                      !memcmp(a->db, b->db, (size_t)c->F * sizeof(float)),
                  "%s: B=%d T=%d C=%d F=%d K=%d differ", what, c->B, c->T, c->C, c->F, c->K);
}

START_TEST(test_threads_bit_identical) {
    const conv_case big = {32, 100, 64, 64, 5, 1, PAD_SAME, AS_ACT_RELU};
    for (int i = 0; i <= NCASES; i++) {
        const conv_case *c = i < NCASES ? &cases[i] : &big;
        conv_run one, two;
        make_inputs(&one, c, 3u);
        make_inputs(&two, c, 3u);
        as_conv1d_use_path(AS_CONV_DIRECT);
        as_pool_set_threads(1);
        run_path(&one, c, 0);
        as_pool_set_threads(2);
        run_path(&two, c, 0);
        as_pool_set_threads(1);
        same_bits(&one, &two, c, "1 and 2 threads");
        as_conv1d_use_path(AS_CONV_AUTO);
        free_run(&one), free_run(&two);
    }
}
END_TEST

/* AUTO: the direct kernel under the AVX2 variant, the tap GEMMs under portable (each
 * bit-identical to the forced path). */
START_TEST(test_auto_choice) {
    const conv_case *c = &cases[1];
    const as_vec_level was = as_vec_current();
    as_error err = {0};
    for (int lv = AS_VEC_PORTABLE; lv <= AS_VEC_AVX2; lv++) {
        if (!as_vec_supported((as_vec_level)lv)) continue;
        ck_assert_int_eq(as_vec_use((as_vec_level)lv, &err), AS_OK);
        conv_run a, f;
        make_inputs(&a, c, 5u);
        make_inputs(&f, c, 5u);
        as_conv1d_use_path(AS_CONV_AUTO);
        run_path(&a, c, 0);
        as_conv1d_use_path(lv == AS_VEC_PORTABLE ? AS_CONV_TAPS : AS_CONV_DIRECT);
        run_path(&f, c, 0);
        as_conv1d_use_path(AS_CONV_AUTO);
        same_bits(&a, &f, c, lv == AS_VEC_PORTABLE ? "auto vs taps (portable)" : "auto vs direct");
        free_run(&a), free_run(&f);
    }
    ck_assert_int_eq(as_vec_use(was, &err), AS_OK);
}
END_TEST

/* The two paths round differently (else the tests above could not tell them apart). */
START_TEST(test_paths_differ) {
    if (!as_conv_direct_supported()) {
        printf("SKIPPED: this CPU lacks AVX2 + FMA (no direct kernel)\n");
        return;
    }
    const conv_case c = {32, 100, 64, 64, 5, 1, PAD_SAME, AS_ACT_LINEAR};
    conv_run t, d;
    make_inputs(&t, &c, 9u);
    make_inputs(&d, &c, 9u);
    as_conv1d_use_path(AS_CONV_TAPS);
    run_path(&t, &c, 0);
    as_conv1d_use_path(AS_CONV_DIRECT);
    run_path(&d, &c, 0);
    as_conv1d_use_path(AS_CONV_AUTO);
    ck_assert_msg(memcmp(t.y, d.y, t.ny * sizeof(float)) || memcmp(t.dx, d.dx, t.nx * sizeof(float)),
                  "the direct and tap paths gave the same bits: is the direct kernel running?");
    free_run(&t), free_run(&d);
}
END_TEST

int main(void) {
    Suite *s = suite_create("conv_direct");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_paths_match_naive);
    tcase_add_test(tc, test_residual_matches_naive);
    tcase_add_test(tc, test_toy_size_matches_naive);
    tcase_add_test(tc, test_threads_bit_identical);
    tcase_add_test(tc, test_auto_choice);
    tcase_add_test(tc, test_paths_differ);
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
