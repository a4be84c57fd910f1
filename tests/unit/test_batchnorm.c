/* test_batchnorm.c: the batch_normalization layer through the model (its ops table):
 * training and inference outputs, moving statistics and every gradient against PyTorch
 * (tests/fixtures/torch_batchnorm.h5 from tests/ref/torch_batchnorm.py); backward against
 * central finite differences inside a conv + batch-norm + dense model; weights I/O in
 * Keras's names with the moving statistics outside the optimizer's buffer; spec keys. */
#include <cjson/cJSON.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/layer_ops.h"
#include "attnsweep/model.h"
#include "attnsweep/weights.h"
#include "testutil.h"

static as_status parse(const char *model_json, as_spec *spec, as_error *err) {
    char text[4096];
    snprintf(text, sizeof text, "{\"data\":\"d.h5\",\"model\":%s}", model_json);
    cJSON *root = cJSON_Parse(text);
    ck_assert_ptr_nonnull(root);
    as_status st = as_spec_parse(root, "t.json", NULL, NULL, spec, err);
    cJSON_Delete(root);
    return st;
}

static void build(const char *model_json, int T, int C, int B, as_spec *spec, as_model *m) {
    as_error err;
    ck_assert_msg(parse(model_json, spec, &err) == AS_OK, "%s", err.msg);
    ck_assert_msg(as_model_build(m, spec, T, C, B, "t.json", &err) == AS_OK, "%s", err.msg);
}

/* The float32 values of dataset `name` of group g (n elements expected). */
static float *read_f(hid_t g, const char *name, size_t n) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "no dataset %s", name);
    hid_t sp = H5Dget_space(d);
    ck_assert_int_eq(H5Sget_simple_extent_npoints(sp), (hssize_t)n);
    float *buf = calloc(n, sizeof(float));
    ck_assert(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    return buf;
}

static double attr_d(hid_t g, const char *name) { return as_test_h5_attr_double(g, name); }

static void expect_close(const char *what, int i, const float *got, const float *want, size_t n,
                         double tol) {
    for (size_t k = 0; k < n; k++) {
        double e = fabs((double)got[k] - (double)want[k]) / (fabs((double)want[k]) + 1e-3);
        ck_assert_msg(e < tol, "case %d: %s[%zu] = %.8g, torch %.8g", i, what, k, (double)got[k],
                      (double)want[k]);
    }
}

/* The layer's tensor named `name` in m (params or buffers), or NULL. */
static float *tensor(as_model *m, int layer, const char *name) {
    const as_layer *L = &m->layers[layer];
    as_tensor t[AS_MAX_TENSORS];
    int n = as_layer_tensors(L, t, NULL, NULL);
    for (int k = 0; k < n; k++)
        if (!strcmp(t[k].name, name))
            return (t[k].buffer ? m->buffers + L->b_off : m->params + L->p_off) + t[k].off;
    return NULL;
}

START_TEST(test_torch) {
    char path[1024];
    snprintf(path, sizeof path, "%s/torch_batchnorm.h5", as_test_env("ATTNSWEEP_FIXTURES", "."));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_msg(f >= 0, "%s: missing (tests/ref/torch_batchnorm.py writes it)", path);
    hid_t cases = H5Gopen2(f, "case", H5P_DEFAULT);
    int count = (int)attr_d(cases, "count");
    ck_assert_int_ge(count, 5);
    for (int i = 0; i < count; i++) {
        char name[16];
        snprintf(name, sizeof name, "%d", i);
        hid_t g = H5Gopen2(cases, name, H5P_DEFAULT);
        int B = (int)attr_d(g, "B"), T = (int)attr_d(g, "T"), C = (int)attr_d(g, "C");
        int center = (int)attr_d(g, "center"), scale = (int)attr_d(g, "scale");
        char model[512];
        /* a pass-through first layer, so the layer's input gradient is kept (the first
         * layer's is not); T = 1: flatten, so the layer sees a rank-2 (B, C) input */
        snprintf(model, sizeof model,
                 "[%s,{\"type\":\"batch_normalization\",\"momentum\":%.17g,\"epsilon\":%.17g,"
                 "\"center\":%s,\"scale\":%s}]",
                 T == 1 ? "{\"type\":\"flatten\"}" : "{\"type\":\"activation\",\"activation\":\"linear\"}",
                 attr_d(g, "momentum"), attr_d(g, "epsilon"), center ? "true" : "false",
                 scale ? "true" : "false");
        as_spec spec;
        as_model m;
        build(model, T, C, B, &spec, &m);
        int li = m.n_layers - 1;
        ck_assert_uint_eq(m.n_params, (size_t)(center + scale) * C);
        ck_assert_uint_eq(m.n_buffers, 2 * (size_t)C);
        size_t n = (size_t)B * T * C;
        float *x = read_f(g, "x", n), *R = read_f(g, "R", n);
        float *gam = read_f(g, "gamma", C), *bet = read_f(g, "beta", C);
        float *mm = read_f(g, "moving_mean", C), *mv = read_f(g, "moving_variance", C);
        if (scale) memcpy(tensor(&m, li, "gamma"), gam, C * sizeof(float));
        if (center) memcpy(tensor(&m, li, "beta"), bet, C * sizeof(float));
        ck_assert_ptr_null(tensor(&m, li, scale ? "nothing" : "gamma"));
        memcpy(tensor(&m, li, "moving_mean"), mm, C * sizeof(float));
        memcpy(tensor(&m, li, "moving_variance"), mv, C * sizeof(float));
        const float *y = as_model_forward(&m, x, B, 1);
        float *want = read_f(g, "y_train", n);
        expect_close("y_train", i, y, want, n, 1e-5);
        free(want);
        float *w_mm = read_f(g, "moving_mean_after", C), *w_mv = read_f(g, "moving_variance_after", C);
        expect_close("moving_mean", i, tensor(&m, li, "moving_mean"), w_mm, C, 1e-5);
        expect_close("moving_variance", i, tensor(&m, li, "moving_variance"), w_mv, C, 1e-5);
        free(w_mm);
        free(w_mv);
        as_model_zero_grad(&m);
        memcpy(as_model_dout(&m), R, n * sizeof(float));
        as_model_backward(&m, x, NULL, NULL);
        float *dg = read_f(g, "dgamma", C), *db = read_f(g, "dbeta", C);
        if (scale) expect_close("dgamma", i, m.grads + m.layers[li].p_off, dg, C, 1e-4);
        if (center)
            expect_close("dbeta", i, m.grads + m.layers[li].p_off + (scale ? C : 0), db, C, 1e-4);
        float *dx = read_f(g, "dx", n);
        expect_close("dx", i, m.dacts + m.layers[0].a_off, dx, n, 1e-4);
        free(dx);
        free(dg);
        free(db);
        /* inference: the moving statistics given */
        memcpy(tensor(&m, li, "moving_mean"), mm, C * sizeof(float));
        memcpy(tensor(&m, li, "moving_variance"), mv, C * sizeof(float));
        y = as_model_forward(&m, x, B, 0);
        want = read_f(g, "y_infer", n);
        expect_close("y_infer", i, y, want, n, 1e-5);
        ck_assert((double)(tensor(&m, li, "moving_mean")[0]) == (double)(mm[0])); /* inference: unchanged */
        free(want);
        free(x);
        free(R);
        free(gam);
        free(bet);
        free(mm);
        free(mv);
        as_model_free(&m);
        as_spec_free(&spec);
        H5Gclose(g);
    }
    H5Gclose(cases);
    H5Fclose(f);
}
END_TEST

/* ---- finite differences: conv1d -> batch_normalization -> gap -> dense ---- */

static double loss_of(as_model *m, const float *x, int B, const float *R, size_t nout) {
    const float *y = as_model_forward(m, x, B, 1);
    double L = 0;
    for (size_t k = 0; k < nout; k++) L += (double)y[k] * (double)R[k];
    return L;
}

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

START_TEST(test_fd) {
    const int B = 5, T = 6, C = 2;
    as_spec spec;
    as_model m;
    build("[{\"type\":\"conv1d\",\"filters\":3,\"kernel_size\":3,\"activation\":\"tanh\"},"
          "{\"type\":\"batch_normalization\"},{\"type\":\"conv1d\",\"filters\":2,\"kernel_size\":1},"
          "{\"type\":\"batch_normalization\",\"center\":false},{\"type\":\"global_average_pooling1d\"},"
          "{\"type\":\"dense\",\"units\":2}]", T, C, B, &spec, &m);
    as_model_init(&m, 7);
    unsigned seed = 99;
    for (size_t k = 0; k < m.n_params; k++) m.params[k] += 0.3f * frand(&seed); /* gamma != 1 */
    size_t nx = (size_t)B * T * C, nout = (size_t)B * 2;
    float *x = malloc(nx * sizeof(float)), *R = malloc(nout * sizeof(float));
    for (size_t k = 0; k < nx; k++) x[k] = frand(&seed) + 0.5f;
    for (size_t k = 0; k < nout; k++) R[k] = frand(&seed);
    loss_of(&m, x, B, R, nout);
    as_model_zero_grad(&m);
    memcpy(as_model_dout(&m), R, nout * sizeof(float));
    as_model_backward(&m, x, NULL, NULL);
    const float eps = 1e-2f;
    double worst = 0;
    for (size_t k = 0; k < m.n_params; k++) {
        float w = m.params[k];
        m.params[k] = w + eps;
        double lp = loss_of(&m, x, B, R, nout);
        m.params[k] = w - eps;
        double lm = loss_of(&m, x, B, R, nout);
        m.params[k] = w;
        double fd = (lp - lm) / (2.0 * (double)eps), an = (double)m.grads[k];
        double e = fabs(fd - an) / (fabs(fd) + 1e-2);
        if (e > worst) worst = e;
        ck_assert_msg(e < 2e-2, "param %zu: backward %.7g, finite differences %.7g", k, an, fd);
    }
    ck_assert_msg(worst > 0, "gradients compared");
    free(x);
    free(R);
    as_model_free(&m);
    as_spec_free(&spec);
}
END_TEST

/* ---- weights: Keras names; moving statistics saved but not trained ---- */

START_TEST(test_weights_io) {
    as_spec spec;
    as_model a, b;
    build("[{\"type\":\"conv1d\",\"filters\":3,\"kernel_size\":3},{\"type\":\"batch_normalization\"},"
          "{\"type\":\"global_average_pooling1d\"},{\"type\":\"dense\",\"units\":2}]", 8, 1, 4,
          &spec, &a);
    ck_assert_uint_eq(a.layers[1].p_n, 6);  /* gamma, beta */
    ck_assert_uint_eq(a.layers[1].b_n, 6);  /* moving mean and variance */
    ck_assert_uint_eq(a.n_params, 3 * 3 + 3 + 6 + 3 * 2 + 2);
    as_model_init(&a, 3);
    ck_assert((double)(tensor(&a, 1, "gamma")[2]) == (double)(1.0f));
    ck_assert((double)(tensor(&a, 1, "moving_variance")[0]) == (double)(1.0f));
    ck_assert((double)(tensor(&a, 1, "moving_mean")[1]) == (double)(0.0f));
    float x[32];
    for (int k = 0; k < 32; k++) x[k] = (float)k * 0.25f;
    as_model_forward(&a, x, 4, 1); /* moves the statistics */
    ck_assert(tensor(&a, 1, "moving_mean")[0] != 0.0f);
    char path[1100];
    snprintf(path, sizeof path, "%s/w.h5", as_test_tmpdir());
    as_error err;
    ck_assert_msg(as_weights_save(path, &a, &err) == AS_OK, "%s", err.msg);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    const char *names[] = {"gamma", "beta", "moving_mean", "moving_variance"};
    for (int k = 0; k < 4; k++) {
        char ds[64];
        snprintf(ds, sizeof ds, "/weights/layer_1/%s", names[k]);
        ck_assert_msg(H5Lexists(f, ds, H5P_DEFAULT) > 0, "%s missing", ds);
    }
    H5Fclose(f);
    as_spec sb;
    build("[{\"type\":\"conv1d\",\"filters\":3,\"kernel_size\":3},{\"type\":\"batch_normalization\"},"
          "{\"type\":\"global_average_pooling1d\"},{\"type\":\"dense\",\"units\":2}]", 8, 1, 4,
          &sb, &b);
    ck_assert_msg(as_weights_load(path, &b, &err) == AS_OK, "%s", err.msg);
    ck_assert_mem_eq(b.params, a.params, a.n_params * sizeof(float));
    ck_assert_mem_eq(b.buffers, a.buffers, a.n_buffers * sizeof(float));
    /* inference outputs agree (they use the moving statistics) */
    float ya[8], yb[8];
    memcpy(ya, as_model_forward(&a, x, 4, 0), sizeof ya);
    memcpy(yb, as_model_forward(&b, x, 4, 0), sizeof yb);
    ck_assert_mem_eq(ya, yb, sizeof ya);
    as_model_free(&a);
    as_model_free(&b);
    as_spec_free(&spec);
    as_spec_free(&sb);
}
END_TEST

/* ---- spec keys: bad values name the key ---- */

static const char *const k_bad[][2] = {
    {"{\"type\":\"batch_normalization\",\"momentum\":1.5}", "model[0].momentum"},
    {"{\"type\":\"batch_normalization\",\"epsilon\":0}", "model[0].epsilon"},
    {"{\"type\":\"batch_normalization\",\"center\":1}", "model[0].center"},
    {"{\"type\":\"batch_normalization\",\"scale\":\"no\"}", "model[0].scale"},
    {"{\"type\":\"batch_normalization\",\"axis\":1}", "model[0].axis"},
    {"{\"type\":\"dense\",\"units\":2,\"momentum\":0.9}", "model[0].momentum"},
};

START_TEST(test_spec_bad) {
    char model[256];
    snprintf(model, sizeof model, "[%s]", k_bad[_i][0]);
    as_spec spec;
    as_error err;
    ck_assert_int_eq(parse(model, &spec, &err), AS_ERR_SPEC);
    ck_assert_msg(strstr(err.msg, k_bad[_i][1]) != NULL, "'%s' does not name %s", err.msg,
                  k_bad[_i][1]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("batchnorm");
    TCase *tc = tcase_create("batchnorm");
    tcase_add_test(tc, test_torch);
    tcase_add_test(tc, test_fd);
    tcase_add_test(tc, test_weights_io);
    tcase_add_loop_test(tc, test_spec_bad, 0, (int)(sizeof k_bad / sizeof k_bad[0]));
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
