/* test_layers_torch.c: the layers against PyTorch references of the Keras semantics.
 *
 * tests/fixtures/torch_layers.h5 is written by tests/ref/torch_layers.py (see its header
 * for how to regenerate): per case, inputs and Keras-layout weights, the outputs,
 * attention probabilities and the autograd gradients of L = sum(out * R). Each case is
 * run through the C forward and backward (gradients accumulated onto zeros with
 * dout = R) and compared elementwise. Skips (exit 77) only when the fixture is missing. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/layers.h"
#include "testutil.h"

#define TOL 5e-5

static char g_path[1024];

typedef struct {
    hid_t g;
    char name[64];
    void *bufs[40];
    int n;
} h5case;

static int attr_int(h5case *c, const char *name) {
    int v = 0;
    hid_t a = H5Aopen(c->g, name, H5P_DEFAULT);
    ck_assert_msg(a >= 0, "%s: no attribute %s", c->name, name);
    ck_assert(H5Aread(a, H5T_NATIVE_INT, &v) >= 0);
    H5Aclose(a);
    return v;
}

static double attr_double(hid_t g, const char *name) { return as_test_h5_attr_double(g, name); }

static void *read_ds(h5case *c, const char *name, size_t n, hid_t type, size_t elem) {
    hid_t d = H5Dopen2(c->g, name, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "%s: no dataset %s", c->name, name);
    hid_t sp = H5Dget_space(d);
    const hssize_t have = H5Sget_simple_extent_npoints(sp);
    ck_assert_msg(have == (hssize_t)n, "%s/%s: %lld elements, expected %zu", c->name, name,
                  (long long)have, n);
    void *buf = calloc(n ? n : 1, elem);
    ck_assert_ptr_nonnull(buf);
    ck_assert(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    c->bufs[c->n++] = buf;
    return buf;
}

static float *rd(h5case *c, const char *name, size_t n) {
    return read_ds(c, name, n, H5T_NATIVE_FLOAT, sizeof(float));
}

static float *zeros(h5case *c, size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    ck_assert_ptr_nonnull(p);
    c->bufs[c->n++] = p;
    return p;
}

static float *copy_of(h5case *c, const float *x, size_t n) {
    float *p = zeros(c, n);
    memcpy(p, x, n * sizeof(float));
    return p;
}

static void close_case(h5case *c) {
    for (int i = 0; i < c->n; i++) free(c->bufs[i]);
    c->n = 0;
    H5Gclose(c->g);
}

/* Elementwise |got - want| / (|want| + 1e-2 max|want| + 1e-2) < TOL: relative, with a
 * floor for entries that cancel to ~0 (e.g. the key bias gradient, exactly 0 in theory). */
static void expect_close(h5case *c, const char *what, const float *got, const float *want,
                         size_t n) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)want[i]));
    for (size_t i = 0; i < n; i++) {
        const double err = fabs((double)got[i] - (double)want[i]) /
                           (fabs((double)want[i]) + 1e-2 * mx + 1e-2);
        ck_assert_msg(err < TOL, "%s: %s[%zu] = %.8g, torch %.8g (rel err %.2g)", c->name, what,
                      i, (double)got[i], (double)want[i], err);
    }
}

static hid_t open_file(void) {
    hid_t f = H5Fopen(g_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_msg(f >= 0, "cannot open %s", g_path);
    return f;
}

/* Returns how many cases the kind has. */
static int kind_count(hid_t f, const char *kind) {
    hid_t g = H5Gopen2(f, kind, H5P_DEFAULT);
    ck_assert_msg(g >= 0, "%s: no group /%s", g_path, kind);
    const int n = (int)attr_double(g, "count");
    H5Gclose(g);
    ck_assert_int_gt(n, 0);
    return n;
}

/* Opens /<kind>/<i> (or /<kind> when i < 0). */
static h5case open_case(hid_t f, const char *kind, int i) {
    h5case c = {0};
    if (i < 0)
        snprintf(c.name, sizeof c.name, "/%s", kind);
    else
        snprintf(c.name, sizeof c.name, "/%s/%d", kind, i);
    c.g = H5Gopen2(f, c.name, H5P_DEFAULT);
    ck_assert_msg(c.g >= 0, "%s: no group %s", g_path, c.name);
    return c;
}

/* conv1d cases and residual blocks (F == C, same padding, out = inp + branch). */
START_TEST(test_conv1d_torch) {
    hid_t f = open_file();
    for (int res = 0; res <= 1; res++) {
        const char *kind = res ? "resconv" : "conv";
        const int n = kind_count(f, kind);
        for (int i = 0; i < n; i++) {
            h5case c = open_case(f, kind, i);
            const int B = attr_int(&c, "B"), T = attr_int(&c, "T"), C = attr_int(&c, "C");
            const int K = attr_int(&c, "K"), dil = attr_int(&c, "dil");
            const int F = res ? C : attr_int(&c, "F");
            const int pl = res ? 0 : attr_int(&c, "pad_left"), To = res ? T : attr_int(&c, "To");
            const as_act act = (as_act)attr_int(&c, "act");
            const size_t ni = (size_t)B * T * C, nw = (size_t)K * C * F, no = (size_t)B * To * F;
            const float *x = rd(&c, "inp", ni), *w = rd(&c, "w", nw), *b = rd(&c, "b", F);
            float *dout = copy_of(&c, rd(&c, "R", no), no);
            float *out = zeros(&c, no), *branch = zeros(&c, no);
            float *cols = zeros(&c, as_conv1d_scratch(B, To, C, F, K));
            float *dx = zeros(&c, ni), *dw = zeros(&c, nw), *db = zeros(&c, F);
            if (res) {
                as_resconv1d_forward(out, branch, x, w, b, cols, B, T, C, K, dil, act);
                as_resconv1d_backward(dx, dw, db, dout, branch, x, w, cols, B, T, C, K, dil, act);
            } else {
                as_conv1d_forward(out, x, w, b, cols, B, T, C, F, K, dil, pl, To, act);
                as_conv1d_backward(dx, dw, db, dout, out, x, w, cols, B, T, C, F, K, dil, pl, To,
                                   act);
            }
            expect_close(&c, "out", out, rd(&c, "out", no), no);
            expect_close(&c, "dinp", dx, rd(&c, "dinp", ni), ni);
            expect_close(&c, "dw", dw, rd(&c, "dw", nw), nw);
            expect_close(&c, "db", db, rd(&c, "db", F), F);
            close_case(&c);
        }
    }
    H5Fclose(f);
}
END_TEST

START_TEST(test_attention_torch) {
    static const char *names[8] = {"wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo"};
    hid_t f = open_file();
    const int n = kind_count(f, "attention");
    for (int i = 0; i < n; i++) {
        h5case c = open_case(f, "attention", i);
        as_attn_dims d = {attr_int(&c, "B"), attr_int(&c, "T"), attr_int(&c, "C"),
                          attr_int(&c, "H"), attr_int(&c, "Dk"), attr_int(&c, "Dv"),
                          attr_int(&c, "O"), 0.0f};
        const size_t hk = (size_t)d.H * d.Dk, hv = (size_t)d.H * d.Dv;
        const size_t sizes[8] = {d.C * hk, hk, d.C * hk, hk, d.C * hv, hv, hv * d.O, (size_t)d.O};
        const size_t np = as_attn_param_count(&d), ni = (size_t)d.B * d.T * d.C;
        const size_t no = (size_t)d.B * d.T * d.O, nprob = (size_t)d.B * d.H * d.T * d.T;
        float *params = zeros(&c, np), *dparams = zeros(&c, np);
        size_t off = 0;
        for (int k = 0; k < 8; k++) {
            memcpy(params + off, rd(&c, names[k], sizes[k]), sizes[k] * sizeof(float));
            off += sizes[k];
        }
        ck_assert_uint_eq(off, np);
        const float *x = rd(&c, "inp", ni), *R = rd(&c, "R", no);
        float *out = zeros(&c, no);
        as_attn_state st;
        as_attn_state_bind(&st, zeros(&c, as_attn_state_size(&d)), &d);
        as_attn_forward(out, &st, x, params, &d, 1, NULL);
        expect_close(&c, "out", out, rd(&c, "out", no), no);
        float *probs = zeros(&c, nprob);
        as_attn_probs(probs, &st, &d, 0, d.B);
        expect_close(&c, "probs", probs, rd(&c, "probs", nprob), nprob);
        float *dx = zeros(&c, ni);
        as_attn_backward(dx, dparams, R, &st, x, params, zeros(&c, as_attn_scratch(&d)), &d);
        expect_close(&c, "dinp", dx, rd(&c, "dinp", ni), ni);
        off = 0;
        for (int k = 0; k < 8; k++) {
            char dn[8];
            snprintf(dn, sizeof dn, "d%s", names[k]);
            expect_close(&c, dn, dparams + off, rd(&c, dn, sizes[k]), sizes[k]);
            off += sizes[k];
        }
        close_case(&c);
    }
    H5Fclose(f);
}
END_TEST

START_TEST(test_dense_norm_gap_torch) {
    hid_t f = open_file();
    int n = kind_count(f, "dense");
    for (int i = 0; i < n; i++) {
        h5case c = open_case(f, "dense", i);
        const int N = attr_int(&c, "N"), C = attr_int(&c, "C"), U = attr_int(&c, "U");
        const as_act act = (as_act)attr_int(&c, "act");
        const size_t ni = (size_t)N * C, nw = (size_t)C * U, no = (size_t)N * U;
        const float *x = rd(&c, "inp", ni), *w = rd(&c, "w", nw), *b = rd(&c, "b", U);
        float *out = zeros(&c, no), *dx = zeros(&c, ni), *dw = zeros(&c, nw), *db = zeros(&c, U);
        as_dense_forward(out, x, w, b, N, C, U, act);
        expect_close(&c, "out", out, rd(&c, "out", no), no);
        as_dense_backward(dx, dw, db, copy_of(&c, rd(&c, "R", no), no), out, x, w, N, C, U, act);
        expect_close(&c, "dinp", dx, rd(&c, "dinp", ni), ni);
        expect_close(&c, "dw", dw, rd(&c, "dw", nw), nw);
        expect_close(&c, "db", db, rd(&c, "db", U), U);
        close_case(&c);
    }
    n = kind_count(f, "layer_norm");
    for (int i = 0; i < n; i++) {
        h5case c = open_case(f, "layer_norm", i);
        const int N = attr_int(&c, "N"), C = attr_int(&c, "C");
        const size_t ni = (size_t)N * C;
        const float *x = rd(&c, "inp", ni), *gam = rd(&c, "gamma", C), *bet = rd(&c, "beta", C);
        float *out = zeros(&c, ni), *mean = zeros(&c, N), *rstd = zeros(&c, N);
        as_layernorm_forward(out, mean, rstd, x, gam, bet, N, C);
        expect_close(&c, "out", out, rd(&c, "out", ni), ni);
        float *dx = zeros(&c, ni), *dg = zeros(&c, C), *db = zeros(&c, C);
        as_layernorm_backward(dx, dg, db, rd(&c, "R", ni), x, mean, rstd, gam, N, C);
        expect_close(&c, "dinp", dx, rd(&c, "dinp", ni), ni);
        expect_close(&c, "dgamma", dg, rd(&c, "dgamma", C), C);
        expect_close(&c, "dbeta", db, rd(&c, "dbeta", C), C);
        close_case(&c);
    }
    h5case c = open_case(f, "gap", 0);
    const int B = attr_int(&c, "B"), T = attr_int(&c, "T"), C = attr_int(&c, "C");
    const size_t ni = (size_t)B * T * C, no = (size_t)B * C;
    float *out = zeros(&c, no), *dx = zeros(&c, ni);
    as_gap1d_forward(out, rd(&c, "inp", ni), B, T, C);
    expect_close(&c, "out", out, rd(&c, "out", no), no);
    as_gap1d_backward(dx, rd(&c, "R", no), B, T, C);
    expect_close(&c, "dinp", dx, rd(&c, "dinp", ni), ni);
    close_case(&c);
    H5Fclose(f);
}
END_TEST

START_TEST(test_losses_torch) {
    hid_t f = open_file();
    h5case c = open_case(f, "mse", -1);
    int B = attr_int(&c, "B"), m = attr_int(&c, "m");
    float scale = (float)attr_double(c.g, "scale");
    size_t n = (size_t)B * m;
    float *d = zeros(&c, n);
    double want = *(double *)read_ds(&c, "loss", 1, H5T_NATIVE_DOUBLE, sizeof(double));
    double got = as_loss_mse(d, rd(&c, "pred", n), rd(&c, "y", n), B, m, scale);
    ck_assert_msg(fabs(got - want) <= 1e-6 * fabs(want), "mse %.10g, torch %.10g", got, want);
    expect_close(&c, "dpred", d, rd(&c, "dpred", n), n);
    close_case(&c);

    c = open_case(f, "sce", -1);
    B = attr_int(&c, "B");
    const int K = attr_int(&c, "K");
    scale = (float)attr_double(c.g, "scale");
    n = (size_t)B * K;
    d = zeros(&c, n);
    want = *(double *)read_ds(&c, "loss", 1, H5T_NATIVE_DOUBLE, sizeof(double));
    long correct = 0;
    const int *labels = read_ds(&c, "labels", (size_t)B, H5T_NATIVE_INT, sizeof(int));
    got = as_loss_sce(d, rd(&c, "logits", n), labels, B, K, scale, &correct);
    ck_assert_msg(fabs(got - want) <= 1e-6 * fabs(want), "sce %.10g, torch %.10g", got, want);
    ck_assert_int_eq(correct, attr_int(&c, "correct"));
    expect_close(&c, "dlogits", d, rd(&c, "dlogits", n), n);
    close_case(&c);
    H5Fclose(f);
}
END_TEST

int main(void) {
    snprintf(g_path, sizeof g_path, "%s/torch_layers.h5",
             as_test_env("ATTNSWEEP_FIXTURES", "tests/fixtures"));
    if (access(g_path, R_OK) != 0) {
        printf("SKIP: fixture %s is missing (run /usr/bin/python3 tests/ref/torch_layers.py)\n",
               g_path);
        return 77;
    }
    Suite *s = suite_create("layers_torch");
    TCase *tc = tcase_create("torch");
    tcase_add_test(tc, test_conv1d_torch);
    tcase_add_test(tc, test_attention_torch);
    tcase_add_test(tc, test_dense_norm_gap_torch);
    tcase_add_test(tc, test_losses_torch);
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
