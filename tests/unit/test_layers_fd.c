/* test_layers_fd.c: every layer's backward pass (input and every parameter gradient)
 * against central finite differences of L = sum(out * R) with a random R, accumulated in
 * double; backward accumulation (two calls == twice one call), the dinp == NULL path,
 * and the behaviour of dropout, attention state and losses. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/layers.h"
#include "testutil.h"

#define MAXT 10
/* Check's float macros pass floats through varargs (-Wdouble-promotion): compare in double. */
#define ASSERT_NEAR(a, b, tol)                                                              \
    ck_assert_msg(fabs((double)(a) - (double)(b)) <= (double)(tol), "%s = %.9g, %s = %.9g", \
                  #a, (double)(a), #b, (double)(b))
#define MAXBUF 32

typedef struct fd_case fd_case;
struct fd_case {
    char name[128];
    int nt;                /* tensors: 0 is the input, then the parameters */
    float *x[MAXT], *g[MAXT];
    size_t n[MAXT];
    const char *tname[MAXT];
    float *out, *R, *dout; /* forward output, random weights of the loss, scratch */
    size_t nout;
    const float *kink;     /* relu outputs: a sign change between x-eps and x+eps skips */
    size_t nkink;
    void (*fwd)(fd_case *);
    void (*bwd)(fd_case *, int with_dinp);
    double (*loss)(fd_case *); /* scalar-output layers (losses) instead of sum(out*R) */
    /* layer data */
    int B, T, C, F, K, dil, pad, To, N;
    as_act act;
    float rate, *cols, *aux1, *aux2, *scratch, *y;
    int *labels;
    as_attn_dims ad;
    as_attn_state st;
    uint64_t seed;
    void *bufs[MAXBUF];
    int nbufs;
};

static uint64_t g_seed = 12345;

static const char *act_name(as_act a) {
    static const char *const names[AS_ACT_NTYPES] = {"linear", "relu", "tanh", "sigmoid"};
    return names[a];
}

static float urand(void) { /* uniform in [-1, 1), deterministic */
    g_seed = g_seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(g_seed >> 40) / (double)(1ULL << 24)) * 2.0f - 1.0f;
}

static float *fbuf(fd_case *c, size_t n) {
    ck_assert_int_lt(c->nbufs, MAXBUF);
    float *p = calloc(n ? n : 1, sizeof(float));
    ck_assert_ptr_nonnull(p);
    c->bufs[c->nbufs++] = p;
    return p;
}

static float *rbuf(fd_case *c, size_t n, float scale) {
    float *p = fbuf(c, n);
    for (size_t i = 0; i < n; i++) p[i] = urand() * scale;
    return p;
}

static void add_tensor(fd_case *c, const char *name, float *x, float *g, size_t n) {
    c->tname[c->nt] = name;
    c->x[c->nt] = x;
    c->g[c->nt] = g;
    c->n[c->nt] = n;
    c->nt++;
}

/* Registers a fresh random tensor and its (zeroed) gradient. */
static float *new_tensor(fd_case *c, const char *name, size_t n, float scale) {
    float *x = rbuf(c, n, scale);
    add_tensor(c, name, x, fbuf(c, n), n);
    return x;
}

static void set_output(fd_case *c, size_t nout) {
    c->nout = nout;
    c->out = fbuf(c, nout);
    c->R = rbuf(c, nout, 1.0f);
    c->dout = fbuf(c, nout);
}

static void free_case(fd_case *c) {
    for (int i = 0; i < c->nbufs; i++) free(c->bufs[i]);
    c->nbufs = 0;
}

static double eval_loss(fd_case *c) {
    if (c->loss) return c->loss(c);
    c->fwd(c);
    double L = 0.0;
    for (size_t i = 0; i < c->nout; i++) L += (double)c->out[i] * (double)c->R[i];
    return L;
}

static void zero_grads(fd_case *c) {
    for (int t = 0; t < c->nt; t++) memset(c->g[t], 0, c->n[t] * sizeof(float));
}

static float *snapshot_grads(fd_case *c, size_t *total) {
    size_t n = 0;
    for (int t = 0; t < c->nt; t++) n += c->n[t];
    float *s = fbuf(c, n);
    n = 0;
    for (int t = 0; t < c->nt; t++) {
        memcpy(s + n, c->g[t], c->n[t] * sizeof(float));
        n += c->n[t];
    }
    *total = n;
    return s;
}

/* The whole check: accumulation, dinp == NULL, and finite differences per element. */
static void run_case(fd_case *c, float eps) {
    if (!c->loss) c->fwd(c);
    zero_grads(c);
    c->bwd(c, 1);
    size_t total;
    float *g1 = snapshot_grads(c, &total);
    c->bwd(c, 1); /* accumulates */
    float *g2 = snapshot_grads(c, &total);
    for (size_t i = 0; i < total; i++)
        ck_assert_msg(fabsf(g2[i] - 2.0f * g1[i]) <= 1e-5f * (1.0f + fabsf(g1[i])),
                      "%s: backward does not accumulate (grad %zu: %g then %g)", c->name, i,
                      (double)g1[i], (double)g2[i]);
    zero_grads(c);
    c->bwd(c, 0); /* no input gradient: parameter gradients unchanged, dinp untouched */
    for (size_t i = 0; i < c->n[0]; i++) ck_assert_msg(c->g[0][i] == 0.0f, "%s: dinp written", c->name);
    size_t off = c->n[0];
    for (int t = 1; t < c->nt; t++) {
        for (size_t i = 0; i < c->n[t]; i++)
            ck_assert_msg(fabsf(c->g[t][i] - g1[off + i]) <= 1e-5f * (1.0f + fabsf(g1[off + i])),
                          "%s: %s differs without dinp", c->name, c->tname[t]);
        off += c->n[t];
    }

    float *kp = c->nkink ? fbuf(c, c->nkink) : NULL;
    if (kp) eps *= 0.25f; /* relu: fewer kink crossings */
    off = 0;
    size_t skipped = 0, checked = 0;
    for (int t = 0; t < c->nt; t++) {
        float *x = c->x[t];
        const float *a = g1 + off;
        float *fd = fbuf(c, c->n[t]);
        unsigned char *skip = calloc(c->n[t] + 1, 1);
        for (size_t i = 0; i < c->n[t]; i++) {
            const float v = x[i];
            x[i] = v + eps;
            const double hp = (double)x[i];
            const double Lp = eval_loss(c);
            if (kp) memcpy(kp, c->kink, c->nkink * sizeof(float));
            x[i] = v - eps;
            const double hm = (double)x[i];
            const double Lm = eval_loss(c);
            x[i] = v;
            fd[i] = (float)((Lp - Lm) / (hp - hm));
            if (kp)
                for (size_t j = 0; j < c->nkink; j++)
                    if ((kp[j] > 0.0f) != (c->kink[j] > 0.0f)) {
                        skip[i] = 1;
                        break;
                    }
        }
        double mx = 0.0;
        for (size_t i = 0; i < c->n[t]; i++)
            if (!skip[i] && fabs((double)fd[i]) > mx) mx = fabs((double)fd[i]);
        for (size_t i = 0; i < c->n[t]; i++) {
            if (skip[i]) {
                skipped++;
                continue;
            }
            checked++;
            const double err = fabs((double)a[i] - (double)fd[i]);
            const double tol = 1e-2 * (fabs((double)fd[i]) + 0.1 * mx) + 1e-4;
            ck_assert_msg(err <= tol, "%s: d%s[%zu] analytic %.6g vs finite difference %.6g",
                          c->name, c->tname[t], i, (double)a[i], (double)fd[i]);
        }
        free(skip);
        off += c->n[t];
    }
    ck_assert_msg(skipped * 5 <= checked, "%s: %zu of %zu coordinates at relu kinks", c->name,
                  skipped, checked + skipped);
    if (!c->loss) c->fwd(c); /* restore the unperturbed forward state */
}

/* ---------------- conv1d / residual ---------------- */

static void conv_fwd(fd_case *c) {
    as_conv1d_forward(c->out, c->x[0], c->x[1], c->x[2], c->cols, c->B, c->T, c->C, c->F, c->K,
                      c->dil, c->pad, c->To, c->act);
}

static void conv_bwd(fd_case *c, int with_dinp) {
    memcpy(c->dout, c->R, c->nout * sizeof(float));
    as_conv1d_backward(with_dinp ? c->g[0] : NULL, c->g[1], c->g[2], c->dout, c->out, c->x[0],
                       c->x[1], c->cols, c->B, c->T, c->C, c->F, c->K, c->dil, c->pad, c->To,
                       c->act);
}

static const as_act k_acts[4] = {AS_ACT_RELU, AS_ACT_TANH, AS_ACT_SIGMOID, AS_ACT_LINEAR};

static void check_conv(int B, int T, int C, int F, int K, int dil, int same, as_act act) {
    fd_case c = {0};
    c.B = B, c.T = T, c.C = C, c.F = F, c.K = K, c.dil = dil, c.act = act;
    c.pad = same ? dil * (K - 1) / 2 : 0;
    c.To = same ? T : T - dil * (K - 1);
    if (c.To <= 0) return;
    snprintf(c.name, sizeof c.name, "conv1d B=%d T=%d C=%d F=%d K=%d dil=%d %s %s", B, T, C, F,
             K, dil, same ? "same" : "valid", act_name(act));
    new_tensor(&c, "inp", (size_t)B * T * C, 1.0f);
    new_tensor(&c, "w", (size_t)K * C * F, 0.5f);
    new_tensor(&c, "b", (size_t)F, 0.3f);
    set_output(&c, (size_t)B * c.To * F);
    c.cols = fbuf(&c, as_conv1d_scratch(B, c.To, C, F, K));
    c.fwd = conv_fwd;
    c.bwd = conv_bwd;
    if (act == AS_ACT_RELU) c.kink = c.out, c.nkink = c.nout;
    run_case(&c, 1e-2f);
    free_case(&c);
}

START_TEST(test_conv1d_fd) {
    int n = 0;
    for (int K = 1; K <= 5; K++)
        for (int dil = 1; dil <= 2; dil++)
            for (int same = 0; same <= 1; same++) {
                const as_act act = k_acts[n++ % 4];
                check_conv(3, 7, 3, 4, K, dil, same, act);
                check_conv(1, 9, 2, 3, K, dil, same, k_acts[(n + 1) % 4]);
                if (same) check_conv(2, 1, 3, 2, K, dil, 1, AS_ACT_TANH); /* T = 1 */
            }
    check_conv(2, 2, 2, 2, 4, 1, 1, AS_ACT_SIGMOID); /* kernel longer than the sequence */
}
END_TEST

static void res_fwd(fd_case *c) {
    as_resconv1d_forward(c->out, c->aux1, c->x[0], c->x[1], c->x[2], c->cols, c->B, c->T, c->C,
                         c->K, c->dil, c->act);
}

static void res_bwd(fd_case *c, int with_dinp) {
    memcpy(c->dout, c->R, c->nout * sizeof(float));
    as_resconv1d_backward(with_dinp ? c->g[0] : NULL, c->g[1], c->g[2], c->dout, c->aux1,
                          c->x[0], c->x[1], c->cols, c->B, c->T, c->C, c->K, c->dil, c->act);
}

START_TEST(test_resconv1d_fd) {
    const int Ks[4] = {1, 2, 3, 4}, dils[4] = {1, 2, 1, 2}, Ts[4] = {6, 5, 1, 8};
    for (int i = 0; i < 4; i++) {
        fd_case c = {0};
        c.B = 2, c.T = Ts[i], c.C = 3, c.K = Ks[i], c.dil = dils[i], c.act = k_acts[i];
        snprintf(c.name, sizeof c.name, "residual_conv1d T=%d K=%d dil=%d %s", c.T, c.K, c.dil,
                 act_name(c.act));
        const size_t n = (size_t)c.B * c.T * c.C;
        new_tensor(&c, "inp", n, 1.0f);
        new_tensor(&c, "w", (size_t)c.K * c.C * c.C, 0.5f);
        new_tensor(&c, "b", (size_t)c.C, 0.3f);
        set_output(&c, n);
        c.aux1 = fbuf(&c, n);
        c.cols = fbuf(&c, as_conv1d_scratch(c.B, c.T, c.C, c.C, c.K));
        c.fwd = res_fwd;
        c.bwd = res_bwd;
        if (c.act == AS_ACT_RELU) c.kink = c.aux1, c.nkink = n;
        run_case(&c, 1e-2f);
        /* out - inp is the branch */
        for (size_t j = 0; j < n; j++)
            ASSERT_NEAR(c.out[j] - c.x[0][j], c.aux1[j], 1e-6f);
        free_case(&c);
    }
}
END_TEST

/* A direct conv in double against the im2col path at the benchmark's size. */
START_TEST(test_conv1d_benchmark_size) {
    const int B = 32, T = 100, C = 64, F = 64, K = 5, pad = 2;
    fd_case c = {0};
    float *x = rbuf(&c, (size_t)B * T * C, 1.0f), *w = rbuf(&c, (size_t)K * C * F, 0.1f);
    float *b = rbuf(&c, (size_t)F, 0.1f), *out = fbuf(&c, (size_t)B * T * F);
    float *cols = fbuf(&c, as_conv1d_scratch(B, T, C, F, K));
    as_conv1d_forward(out, x, w, b, cols, B, T, C, F, K, 1, pad, T, AS_ACT_RELU);
    for (int s = 0; s < 300; s++) {
        const int bb = (int)((urand() + 1.0f) * 0.5f * B) % B;
        const int t = s < 8 ? (s % 2 ? T - 1 - s / 2 : s / 2) : (int)((urand() + 1.0f) * 0.5f * T) % T;
        const int f = (int)((urand() + 1.0f) * 0.5f * F) % F;
        double z = (double)b[f];
        for (int kk = 0; kk < K; kk++) {
            const int ti = t - pad + kk;
            if (ti < 0 || ti >= T) continue;
            for (int ch = 0; ch < C; ch++)
                z += (double)x[((size_t)bb * T + ti) * C + ch] * (double)w[((size_t)kk * C + ch) * F + f];
        }
        const double want = z > 0 ? z : 0;
        ck_assert_msg(fabs((double)out[((size_t)bb * T + t) * F + f] - want) < 1e-4 * (1 + fabs(want)),
                      "conv out[%d,%d,%d] = %g, direct %g", bb, t, f,
                      (double)out[((size_t)bb * T + t) * F + f], want);
    }
    free_case(&c);
}
END_TEST

/* ---------------- self-attention ---------------- */

static void attn_fwd(fd_case *c) {
    const as_drop_key key = {c->seed, 3, 1, 0}; /* the same dropout mask at every evaluation */
    as_attn_forward(c->out, &c->st, c->x[0], c->aux1, &c->ad, c->rate > 0.0f, &key);
}

static void attn_bwd(fd_case *c, int with_dinp) {
    as_attn_backward(with_dinp ? c->g[0] : NULL, c->aux2, c->R, &c->st, c->x[0], c->aux1,
                     c->scratch, &c->ad);
}

static void check_attn(int B, int T, int C, int H, int Dk, int Dv, int O, float rate) {
    fd_case c = {0};
    c.ad = (as_attn_dims){B, T, C, H, Dk, Dv, O, rate};
    c.rate = rate;
    c.seed = 99;
    snprintf(c.name, sizeof c.name, "attention B=%d T=%d C=%d H=%d Dk=%d Dv=%d O=%d rate=%g", B,
             T, C, H, Dk, Dv, O, (double)rate);
    new_tensor(&c, "inp", (size_t)B * T * C, 1.0f);
    const size_t np = as_attn_param_count(&c.ad);
    const size_t hk = (size_t)H * Dk, hv = (size_t)H * Dv;
    ck_assert_uint_eq(np, 2 * (C * hk + hk) + C * hv + hv + hv * O + O);
    c.aux1 = rbuf(&c, np, 0.6f);
    c.aux2 = fbuf(&c, np);
    static const char *names[8] = {"wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo"};
    const size_t sizes[8] = {C * hk, hk, C * hk, hk, C * hv, hv, hv * O, (size_t)O};
    size_t off = 0;
    for (int i = 0; i < 8; i++) {
        add_tensor(&c, names[i], c.aux1 + off, c.aux2 + off, sizes[i]);
        off += sizes[i];
    }
    set_output(&c, (size_t)B * T * O);
    c.cols = fbuf(&c, as_attn_state_size(&c.ad));
    as_attn_state_bind(&c.st, c.cols, &c.ad);
    c.scratch = fbuf(&c, as_attn_scratch(&c.ad));
    c.fwd = attn_fwd;
    c.bwd = attn_bwd;
    run_case(&c, 1e-2f);
    /* probabilities (recomputed from the state) are a softmax over keys */
    const size_t nprob = (size_t)B * H * T * T;
    float *P = fbuf(&c, nprob);
    as_attn_probs(P, &c.st, &c.ad, 0, B);
    for (size_t r = 0; r < (size_t)B * H * T; r++) {
        double s = 0;
        for (int j = 0; j < T; j++) {
            ck_assert(P[r * T + j] >= 0.0f);
            s += (double)P[r * T + j];
        }
        ck_assert_msg(fabs(s - 1.0) < 1e-5, "%s: probs row %zu sums to %g", c.name, r, s);
    }
    free_case(&c);
}
END_TEST

START_TEST(test_attention_fd) {
    check_attn(2, 5, 6, 1, 4, 3, 5, 0.0f);  /* one head, key_dim != C */
    check_attn(1, 4, 8, 4, 3, 5, 2, 0.0f);  /* 4 heads, Dv != Dk, O != C */
    check_attn(3, 1, 4, 2, 3, 2, 4, 0.0f);  /* T = 1 */
    check_attn(2, 6, 5, 2, 2, 3, 3, 0.3f);  /* dropout on the probabilities (fixed mask) */
}
END_TEST

START_TEST(test_attention_state_and_dropout) {
    as_attn_dims d0 = {2, 6, 5, 2, 3, 4, 3, 0.0f}, d1 = d0;
    d1.rate = 0.4f;
    const size_t tt = 2 * 2 * 6 * 6;
    /* no T x T arrays: the state does not depend on the rate and is far below B H T^2 */
    ck_assert_uint_eq(as_attn_state_size(&d1), as_attn_state_size(&d0));
    as_attn_dims big = {2, 4096, 8, 2, 16, 16, 8, 0.1f};
    const double btt = 2.0 * 2 * 4096 * 4096;
    ck_assert((double)as_attn_state_size(&big) < btt / 8 && (double)as_attn_scratch(&big) < btt / 8);
    fd_case c = {0};
    float *s0 = fbuf(&c, as_attn_state_size(&d0)), *s1 = fbuf(&c, as_attn_state_size(&d1));
    as_attn_state st0, st1;
    as_attn_state_bind(&st0, s0, &d0);
    as_attn_state_bind(&st1, s1, &d1);
    ck_assert((float *)st1.rec < s1 + as_attn_state_size(&d1));
    float *x = rbuf(&c, 2 * 6 * 5, 1.0f), *p = rbuf(&c, as_attn_param_count(&d0), 0.6f);
    float *o0 = fbuf(&c, 2 * 6 * 3), *o1 = fbuf(&c, 2 * 6 * 3), *o2 = fbuf(&c, 2 * 6 * 3);
    float *M = fbuf(&c, tt), *P0 = fbuf(&c, tt), *P1 = fbuf(&c, tt);
    const as_drop_key key = {5, 0, 0, 0};
    as_attn_forward(o0, &st0, x, p, &d0, 1, NULL); /* rate 0: key unused */
    as_attn_forward(o1, &st1, x, p, &d1, 0, &key); /* inference: no dropout */
    for (int i = 0; i < 2 * 6 * 3; i++) ASSERT_NEAR(o1[i], o0[i], 1e-6f);
    ck_assert_int_eq(as_attn_mask(M, &st1, &d1), 0);
    for (size_t i = 0; i < tt; i++) ck_assert(M[i] == 1.0f);
    as_attn_forward(o2, &st1, x, p, &d1, 1, &key);
    ck_assert_int_eq(as_attn_mask(M, &st1, &d1), 1);
    as_attn_probs(P0, &st0, &d0, 0, 2);
    as_attn_probs(P1, &st1, &d1, 0, 2);
    int zeros = 0, diff = 0;
    for (size_t i = 0; i < tt; i++) {
        const float m = M[i];
        ck_assert(m == 0.0f || fabsf(m - 1.0f / 0.6f) < 1e-6f);
        zeros += m == 0.0f;
        ASSERT_NEAR(P1[i], P0[i], 1e-6f); /* probabilities are before dropout */
    }
    for (int i = 0; i < 2 * 6 * 3; i++) diff += fabsf(o2[i] - o0[i]) > 1e-4f;
    ck_assert_msg(zeros > 20 && zeros < 100, "dropout zeroed %d of %zu", zeros, tt);
    ck_assert(diff > 0);
    free_case(&c);
}
END_TEST

/* ---------------- dense, layer norm, gap, dropout, activations ---------------- */

static void dense_fwd(fd_case *c) {
    as_dense_forward(c->out, c->x[0], c->x[1], c->x[2], c->N, c->C, c->F, c->act);
}

static void dense_bwd(fd_case *c, int with_dinp) {
    memcpy(c->dout, c->R, c->nout * sizeof(float));
    as_dense_backward(with_dinp ? c->g[0] : NULL, c->g[1], c->g[2], c->dout, c->out, c->x[0],
                      c->x[1], c->N, c->C, c->F, c->act);
}

START_TEST(test_dense_fd) {
    /* rank 3 (N = B*T rows) and rank 2 (N = B) inputs, every activation */
    const int Ns[4] = {3 * 4, 5, 2 * 3, 1};
    for (int i = 0; i < 4; i++) {
        fd_case c = {0};
        c.N = Ns[i], c.C = 4 + i, c.F = 3 + (i % 2), c.act = k_acts[i];
        snprintf(c.name, sizeof c.name, "dense N=%d C=%d U=%d %s", c.N, c.C, c.F,
                 act_name(c.act));
        new_tensor(&c, "inp", (size_t)c.N * c.C, 1.0f);
        new_tensor(&c, "w", (size_t)c.C * c.F, 0.5f);
        new_tensor(&c, "b", (size_t)c.F, 0.3f);
        set_output(&c, (size_t)c.N * c.F);
        c.fwd = dense_fwd;
        c.bwd = dense_bwd;
        if (c.act == AS_ACT_RELU) c.kink = c.out, c.nkink = c.nout;
        run_case(&c, 1e-2f);
        free_case(&c);
    }
}
END_TEST

static void ln_fwd(fd_case *c) {
    as_layernorm_forward(c->out, c->aux1, c->aux2, c->x[0], c->x[1], c->x[2], c->N, c->C);
}

static void ln_bwd(fd_case *c, int with_dinp) {
    as_layernorm_backward(with_dinp ? c->g[0] : NULL, c->g[1], c->g[2], c->R, c->x[0], c->aux1,
                          c->aux2, c->x[1], c->N, c->C);
}

START_TEST(test_layernorm_fd) {
    fd_case c = {0};
    c.N = 6, c.C = 5;
    snprintf(c.name, sizeof c.name, "layer_norm N=6 C=5");
    float *x = new_tensor(&c, "inp", 30, 1.0f);
    x[0] = x[1] = x[2] = x[3] = x[4] = 0.01f; /* a constant row: the epsilon matters */
    x[2] = 0.02f;
    new_tensor(&c, "gamma", 5, 1.0f);
    new_tensor(&c, "beta", 5, 1.0f);
    set_output(&c, 30);
    c.aux1 = fbuf(&c, 6);
    c.aux2 = fbuf(&c, 6);
    c.fwd = ln_fwd;
    c.bwd = ln_bwd;
    run_case(&c, 2e-3f);
    /* saved statistics: mean and 1/sqrt(biased var + 1e-3) */
    for (int r = 0; r < 6; r++) {
        double m = 0, v = 0;
        for (int i = 0; i < 5; i++) m += (double)x[r * 5 + i] / 5;
        for (int i = 0; i < 5; i++) v += ((double)x[r * 5 + i] - m) * ((double)x[r * 5 + i] - m) / 5;
        ck_assert_double_eq_tol((double)c.aux1[r], m, 1e-6);
        ck_assert_double_eq_tol((double)c.aux2[r], 1.0 / sqrt(v + 1e-3), 1e-4 / sqrt(v + 1e-3));
    }
    free_case(&c);
}
END_TEST

static void gap_fwd(fd_case *c) { as_gap1d_forward(c->out, c->x[0], c->B, c->T, c->C); }
static void gap_bwd(fd_case *c, int with_dinp) {
    as_gap1d_backward(with_dinp ? c->g[0] : NULL, c->R, c->B, c->T, c->C);
}

static void drop_fwd(fd_case *c) { /* the same mask at every evaluation */
    const as_drop_key key = {c->seed, 0, 2, 0};
    as_dropout_forward(c->out, c->aux1, c->x[0], 4, c->nout / 4, c->rate, 1, &key);
}
static void drop_bwd(fd_case *c, int with_dinp) {
    as_dropout_backward(with_dinp ? c->g[0] : NULL, c->R, c->aux1, c->nout, c->rate, 1);
}

static void act_fwd(fd_case *c) {
    memcpy(c->out, c->x[0], c->nout * sizeof(float));
    as_act_forward(c->out, c->nout, c->act);
}
static void act_bwd(fd_case *c, int with_dinp) {
    memcpy(c->dout, c->R, c->nout * sizeof(float));
    as_act_backward(c->dout, c->out, c->nout, c->act);
    if (with_dinp)
        for (size_t i = 0; i < c->nout; i++) c->g[0][i] += c->dout[i];
}

START_TEST(test_gap_dropout_act_fd) {
    fd_case c = {0};
    c.B = 2, c.T = 5, c.C = 3;
    snprintf(c.name, sizeof c.name, "gap1d");
    new_tensor(&c, "inp", 30, 1.0f);
    set_output(&c, 6);
    c.fwd = gap_fwd;
    c.bwd = gap_bwd;
    run_case(&c, 1e-2f);
    free_case(&c);

    fd_case d = {0};
    d.rate = 0.4f, d.seed = 11;
    snprintf(d.name, sizeof d.name, "dropout");
    new_tensor(&d, "inp", 200, 1.0f);
    set_output(&d, 200);
    d.aux1 = fbuf(&d, 200);
    d.fwd = drop_fwd;
    d.bwd = drop_bwd;
    run_case(&d, 1e-2f);
    int zeros = 0;
    for (int i = 0; i < 200; i++) {
        ck_assert(d.aux1[i] == 0.0f || fabsf(d.aux1[i] - 1.0f / 0.6f) < 1e-6f);
        zeros += d.aux1[i] == 0.0f;
    }
    ck_assert_msg(zeros > 50 && zeros < 110, "dropout zeroed %d of 200 at rate 0.4", zeros);
    free_case(&d);

    for (int a = 0; a < 4; a++) {
        fd_case e = {0};
        e.act = k_acts[a];
        snprintf(e.name, sizeof e.name, "activation %s", act_name(e.act));
        new_tensor(&e, "inp", 40, 3.0f);
        set_output(&e, 40);
        e.fwd = act_fwd;
        e.bwd = act_bwd;
        if (e.act == AS_ACT_RELU) e.kink = e.out, e.nkink = 40;
        run_case(&e, 1e-2f);
        free_case(&e);
    }
}
END_TEST

START_TEST(test_dropout_inference_identity) {
    float x[8], out[8], mask[8], d[8] = {0}, g[8];
    for (int i = 0; i < 8; i++) x[i] = urand(), mask[i] = -7.0f, g[i] = urand();
    const as_drop_key key = {1, 0, 0, 0};
    as_dropout_forward(out, mask, x, 2, 4, 0.5f, 0, &key);
    for (int i = 0; i < 8; i++) ck_assert(out[i] == x[i] && mask[i] == -7.0f);
    as_dropout_forward(out, mask, x, 2, 4, 0.0f, 1, NULL);
    for (int i = 0; i < 8; i++) ck_assert(out[i] == x[i] && mask[i] == -7.0f);
    as_dropout_backward(d, g, mask, 8, 0.5f, 0);
    as_dropout_backward(d, g, mask, 8, 0.5f, 0);
    for (int i = 0; i < 8; i++) ASSERT_NEAR(d[i], 2.0f * g[i], 0);
}
END_TEST

/* Counter-based masks (layers.h as_drop_key): every mask entry equals the documented
 * as_rng_counter_float of (seed, step, layer << 32 | global sample, element); samples
 * of one batch get different masks; splitting the batch into shards with the matching
 * row0 (what data-parallel ranks do) reproduces the whole batch's masks exactly; step
 * and layer change the masks. */
static float drop_ref(const as_drop_key *k, long sample, uint64_t e) {
    return as_rng_counter_float(k->seed, k->step, ((uint64_t)k->layer << 32) | (uint64_t)sample, e);
}

START_TEST(test_dropout_masks_counter_based) {
    enum { B = 6, PER = 64 };
    const float rate = 0.3f, keep = 1.0f / (1.0f - rate);
    float x[B * PER], out[B * PER], full[B * PER], part[B * PER], other[B * PER];
    for (int i = 0; i < B * PER; i++) x[i] = 1.0f; /* identical samples */
    const as_drop_key key = {0xABCDEFULL, 17, 4, 10}; /* this batch is rows 10..15 */
    as_dropout_forward(out, full, x, B, PER, rate, 1, &key);
    int zeros = 0;
    for (int b = 0; b < B; b++)
        for (int e = 0; e < PER; e++) {
            const float want = drop_ref(&key, 10 + b, (uint64_t)e) < rate ? 0.0f : keep;
            ck_assert(full[b * PER + e] == want && out[b * PER + e] == want);
            zeros += want == 0.0f;
        }
    ck_assert_msg(zeros > 70 && zeros < 160, "dropped %d of %d at rate 0.3", zeros, B * PER);
    for (int a = 0; a < B; a++)
        for (int b = a + 1; b < B; b++)
            ck_assert_msg(memcmp(full + a * PER, full + b * PER, PER * sizeof(float)) != 0,
                          "samples %d and %d share a mask", a, b);
    /* shards [0,2), [2,5), [5,6) with row0 = 10 + lo */
    const int cut[4] = {0, 2, 5, 6};
    for (int s = 0; s < 3; s++) {
        as_drop_key k = key;
        k.row0 = key.row0 + cut[s];
        as_dropout_forward(out + cut[s] * PER, part + cut[s] * PER, x + cut[s] * PER,
                           cut[s + 1] - cut[s], PER, rate, 1, &k);
    }
    ck_assert(memcmp(part, full, sizeof full) == 0);
    as_drop_key k2 = key;
    k2.step++;
    as_dropout_forward(out, other, x, B, PER, rate, 1, &k2);
    ck_assert(memcmp(other, full, sizeof full) != 0);
    k2 = key;
    k2.layer++;
    as_dropout_forward(out, other, x, B, PER, rate, 1, &k2);
    ck_assert(memcmp(other, full, sizeof full) != 0);

    /* attention: entry (b, h, i, j) uses element (h * T + i) * T + j of global sample */
    const int T = 5, H = 2;
    as_attn_dims d = {B, T, 3, H, 2, 2, 3, rate};
    fd_case c = {0};
    float *xa = fbuf(&c, (size_t)B * T * 3), *p = rbuf(&c, as_attn_param_count(&d), 0.6f);
    const float *row = rbuf(&c, (size_t)T * 3, 1.0f);
    for (int b = 0; b < B; b++) memcpy(xa + (size_t)b * T * 3, row, (size_t)T * 3 * sizeof(float));
    float *sf = fbuf(&c, as_attn_state_size(&d)), *of = fbuf(&c, (size_t)B * T * 3);
    as_attn_state st;
    as_attn_state_bind(&st, sf, &d);
    as_attn_forward(of, &st, xa, p, &d, 1, &key);
    const size_t tt = (size_t)T * T, per = (size_t)H * tt;
    float *mask = fbuf(&c, (size_t)B * per);
    ck_assert(as_attn_mask(mask, &st, &d));
    for (int b = 0; b < B; b++)
        for (size_t e = 0; e < per; e++) {
            const float want = drop_ref(&key, 10 + b, e) < rate ? 0.0f : keep;
            ck_assert(mask[(size_t)b * per + e] == want);
        }
    for (int a = 0; a < B; a++)
        for (int b = a + 1; b < B; b++) {
            ck_assert(memcmp(mask + a * per, mask + b * per, per * sizeof(float)) != 0);
            /* identical inputs, different masks: different outputs */
            ck_assert(memcmp(of + a * T * 3, of + b * T * 3, (size_t)T * 3 * sizeof(float)) != 0);
        }
    for (int s = 0; s < 3; s++) {
        as_attn_dims ds = d;
        ds.B = cut[s + 1] - cut[s];
        as_drop_key k = key;
        k.row0 = key.row0 + cut[s];
        as_attn_state ss;
        float *buf = fbuf(&c, as_attn_state_size(&ds)), *os = fbuf(&c, (size_t)ds.B * T * 3);
        as_attn_state_bind(&ss, buf, &ds);
        as_attn_forward(os, &ss, xa + (size_t)cut[s] * T * 3, p, &ds, 1, &k);
        float *ms = fbuf(&c, (size_t)ds.B * per);
        ck_assert(as_attn_mask(ms, &ss, &ds));
        ck_assert(memcmp(ms, mask + cut[s] * per, (size_t)ds.B * per * sizeof(float)) == 0);
        for (int i = 0; i < ds.B * T * 3; i++) ASSERT_NEAR(os[i], of[cut[s] * T * 3 + i], 1e-5f);
    }
    free_case(&c);
}
END_TEST

/* ---------------- losses ---------------- */

static double mse_loss(fd_case *c) {
    return as_loss_mse(NULL, c->x[0], c->y, c->B, c->K, 1.0f);
}
static void mse_bwd(fd_case *c, int with_dinp) {
    float *d = c->dout;
    (void)as_loss_mse(d, c->x[0], c->y, c->B, c->K, 1.0f);
    if (with_dinp)
        for (size_t i = 0; i < c->n[0]; i++) c->g[0][i] += d[i];
}

static double sce_loss(fd_case *c) {
    return as_loss_sce(NULL, c->x[0], c->labels, c->B, c->K, 1.0f, NULL);
}
static void sce_bwd(fd_case *c, int with_dinp) {
    float *d = c->dout;
    (void)as_loss_sce(d, c->x[0], c->labels, c->B, c->K, 1.0f, NULL);
    if (with_dinp)
        for (size_t i = 0; i < c->n[0]; i++) c->g[0][i] += d[i];
}

START_TEST(test_losses) {
    fd_case c = {0};
    c.B = 3, c.K = 4;
    snprintf(c.name, sizeof c.name, "mse");
    float *p = new_tensor(&c, "pred", 12, 1.0f);
    c.y = rbuf(&c, 12, 1.0f);
    c.dout = fbuf(&c, 12);
    c.loss = mse_loss;
    c.bwd = mse_bwd;
    run_case(&c, 1e-2f);
    /* value: sum over samples of the per-sample mean; gradient scales with `scale` */
    double want = 0;
    for (int i = 0; i < 12; i++) want += ((double)p[i] - (double)c.y[i]) * ((double)p[i] - (double)c.y[i]) / 4;
    float d1[12], d2[12];
    ck_assert_double_eq_tol(as_loss_mse(d1, p, c.y, 3, 4, 1.0f), want, 1e-9);
    ck_assert_double_eq_tol(as_loss_mse(d2, p, c.y, 3, 4, 0.25f), want, 1e-9);
    for (int i = 0; i < 12; i++) ASSERT_NEAR(d2[i], 0.25f * d1[i], 1e-7f);
    free_case(&c);

    fd_case s = {0};
    s.B = 5, s.K = 3;
    snprintf(s.name, sizeof s.name, "sce");
    float *z = new_tensor(&s, "logits", 15, 3.0f);
    int labels[5] = {0, 2, 1, 1, 0};
    s.labels = labels;
    s.dout = fbuf(&s, 15);
    s.loss = sce_loss;
    s.bwd = sce_bwd;
    run_case(&s, 1e-2f);
    long correct = 3, want_hits = 3;
    double lw = 0;
    for (int b = 0; b < 5; b++) {
        int arg = 0;
        double se = 0;
        for (int j = 0; j < 3; j++) {
            if (z[b * 3 + j] > z[b * 3 + arg]) arg = j;
            se += exp((double)z[b * 3 + j]);
        }
        want_hits += arg == labels[b];
        lw += log(se) - (double)z[b * 3 + labels[b]];
    }
    float g1[15], g2[15];
    ck_assert_double_eq_tol(as_loss_sce(g1, z, labels, 5, 3, 1.0f, &correct), lw, 1e-9);
    ck_assert_int_eq(correct, want_hits);
    (void)as_loss_sce(g2, z, labels, 5, 3, 0.5f, NULL);
    for (int i = 0; i < 15; i++) ASSERT_NEAR(g2[i], 0.5f * g1[i], 1e-7f);
    /* large logits stay finite (stable log-softmax) */
    float big[3] = {1000.0f, -1000.0f, 999.0f};
    int lab = 2;
    const double l = as_loss_sce(g1, big, &lab, 1, 3, 1.0f, NULL);
    ck_assert_double_eq_tol(l, log(1.0 + exp(-1.0)) + 1.0, 1e-9);
    free_case(&s);
}
END_TEST

static Suite *layers_fd_suite(void) {
    Suite *s = suite_create("layers_fd");
    TCase *tc = tcase_create("fd");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_conv1d_fd);
    tcase_add_test(tc, test_resconv1d_fd);
    tcase_add_test(tc, test_conv1d_benchmark_size);
    tcase_add_test(tc, test_attention_fd);
    tcase_add_test(tc, test_attention_state_and_dropout);
    tcase_add_test(tc, test_dense_fd);
    tcase_add_test(tc, test_layernorm_fd);
    tcase_add_test(tc, test_gap_dropout_act_fd);
    tcase_add_test(tc, test_dropout_inference_identity);
    tcase_add_test(tc, test_dropout_masks_counter_based);
    tcase_add_test(tc, test_losses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return as_test_run(layers_fd_suite()); }
