/* test_model.c: model building (shape errors naming the layer, parameter layout, Keras
 * initialisation, seeding, multiply-add count, allocation failures), the optimizers
 * against hand-computed double-precision Keras updates, and a short fit that learns. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/layer_ops.h"
#include "attnsweep/model.h"
#include "attnsweep/optim.h"
#include "attnsweep/train.h"
#include "testutil.h"

#define CONV(f, k, act) "{\"type\":\"conv1d\",\"filters\":" #f ",\"kernel_size\":" #k \
                        ",\"activation\":\"" act "\"}"
#define TOY_STACK "[" CONV(64, 5, "relu") "," CONV(64, 5, "relu") "," CONV(64, 5, "relu") "," \
                  CONV(64, 5, "relu") "," CONV(1, 5, "linear") "]"
/* every parametrised layer type, attention with value_dim != key_dim and an output_dim */
#define MIXED "[" CONV(6, 3, "relu") ",{\"type\":\"self_attention\",\"num_heads\":2," \
              "\"key_dim\":5,\"value_dim\":3,\"output_dim\":7},{\"type\":\"layer_norm\"}," \
              "{\"type\":\"residual_conv1d\",\"kernel_size\":4},{\"type\":\"dense\",\"units\":2}]"

/* Parses {"data": "d.h5", "model": MODEL_JSON}. */
static void parse_model(const char *model_json, as_spec *spec) {
    char text[4096];
    snprintf(text, sizeof text, "{\"data\":\"d.h5\",\"model\":%s}", model_json);
    cJSON *root = cJSON_Parse(text);
    ck_assert_ptr_nonnull(root);
    as_error err;
    ck_assert_msg(as_spec_parse(root, "t.json", NULL, NULL, spec, &err) == AS_OK, "%s", err.msg);
    cJSON_Delete(root);
}

static void build_ok(const char *model_json, int T, int C, int B, as_spec *spec, as_model *m) {
    as_error err;
    parse_model(model_json, spec);
    ck_assert_msg(as_model_build(m, spec, T, C, B, "t.json", &err) == AS_OK, "%s", err.msg);
}

/* ---- build errors name the layer ---- */

typedef struct {
    const char *model;
    int T, C;
    const char *expect;
} build_case;

static const build_case k_build_bad[] = {
    {"[" CONV(4, 3, "relu") ",{\"type\":\"residual_conv1d\",\"filters\":5,\"kernel_size\":3}]", 20, 1,
     "model[1] (residual_conv1d)"},
    {"[{\"type\":\"residual_conv1d\",\"filters\":4,\"kernel_size\":3}]", 20, 3,
     "model[0] (residual_conv1d)"},
    {"[" CONV(4, 3, "relu") ",{\"type\":\"conv1d\",\"filters\":2,\"kernel_size\":6,"
     "\"padding\":\"valid\"}]", 5, 1, "model[1] (conv1d)"},
    {"[{\"type\":\"conv1d\",\"filters\":2,\"kernel_size\":3,\"dilation\":3,\"padding\":\"valid\"}]",
     6, 1, "model[0] (conv1d)"},
    {"[" CONV(4, 3, "relu") ",{\"type\":\"global_average_pooling1d\"},{\"type\":\"self_attention\","
     "\"num_heads\":1,\"key_dim\":4}]", 10, 1, "model[2] (self_attention)"},
    {"[{\"type\":\"flatten\"}," CONV(2, 3, "relu") "]", 10, 2, "model[1] (conv1d)"},
};

START_TEST(test_build_errors) {
    const build_case *c = &k_build_bad[_i];
    as_spec spec;
    as_model m;
    as_error err;
    parse_model(c->model, &spec);
    as_status st = as_model_build(&m, &spec, c->T, c->C, 4, "t.json", &err);
    ck_assert_int_eq(st, AS_ERR_SPEC);
    ck_assert_msg(strstr(err.msg, c->expect) && strstr(err.msg, "t.json"),
                  "case %d: '%s' does not name '%s'", _i, err.msg, c->expect);
    ck_assert_ptr_null(m.params);
    ck_assert_ptr_null(m.layers);
    as_spec_free(&spec);
}
END_TEST

START_TEST(test_check_output) {
    as_spec spec;
    as_model m;
    as_error err;
    build_ok(TOY_STACK, 30, 1, 2, &spec, &m);
    ck_assert_int_eq(as_model_check_output(&m, 0, 30, 1, 0, "t.json", &err), AS_OK);
    ck_assert_int_eq(as_model_check_output(&m, 0, 30, 2, 0, "t.json", &err), AS_ERR_SPEC);
    ck_assert_msg(strstr(err.msg, "model[4] (conv1d)"), "%s", err.msg);
    ck_assert_int_eq(as_model_check_output(&m, 0, 29, 1, 0, "t.json", &err), AS_ERR_SPEC);
    /* a rank-3 output is no classifier */
    ck_assert_int_eq(as_model_check_output(&m, 1, 0, 0, 1, "t.json", &err), AS_ERR_SPEC);
    ck_assert_msg(strstr(err.msg, "model[4] (conv1d)"), "%s", err.msg);
    as_model_free(&m);
    as_spec_free(&spec);

    build_ok("[" CONV(4, 3, "relu") ",{\"type\":\"global_average_pooling1d\"},"
             "{\"type\":\"dense\",\"units\":3}]", 10, 1, 2, &spec, &m);
    ck_assert_int_eq(as_model_check_output(&m, 1, 0, 0, 3, "t.json", &err), AS_OK);
    ck_assert_int_eq(as_model_check_output(&m, 1, 0, 0, 4, "t.json", &err), AS_ERR_SPEC);
    ck_assert_msg(strstr(err.msg, "model[2] (dense)"), "%s", err.msg);
    /* a rank-2 output is no regression onto (T, C) targets */
    ck_assert_int_eq(as_model_check_output(&m, 0, 10, 1, 0, "t.json", &err), AS_ERR_SPEC);
    as_model_free(&m);
    as_spec_free(&spec);
}
END_TEST

/* ---- parameter layout ---- */

/* Hand count of each layer's parameters for MIXED on C_in = 2. */
/* The ops table: an entry for every layer type, named as the spec parses it, and the
 * parameter slices of a built model are the sums of its tensors. */
START_TEST(test_ops_table) {
    for (int t = 0; t < AS_LAYER_NTYPES; t++) {
        const as_layer_ops *ops = as_layer_ops_of((as_layer_type)t);
        ck_assert_msg(ops != NULL, "layer type %d has no ops", t);
        ck_assert_ptr_nonnull(ops->name);
        ck_assert_ptr_nonnull(ops->forward);
        ck_assert_ptr_nonnull(ops->backward);
        ck_assert_int_eq(as_layer_type_from_name(ops->name), t);
        ck_assert_str_eq(as_layer_type_name((as_layer_type)t), ops->name);
    }
    ck_assert_ptr_null(as_layer_ops_of(AS_LAYER_NTYPES));
    ck_assert_int_eq(as_layer_type_from_name("conv2d"), -1);
    as_spec spec;
    as_model m;
    build_ok("[{\"type\":\"conv1d\",\"filters\":4,\"kernel_size\":3},"
             "{\"type\":\"self_attention\",\"num_heads\":2,\"key_dim\":3,\"value_dim\":5},"
             "{\"type\":\"layer_norm\"},{\"type\":\"global_average_pooling1d\"},"
             "{\"type\":\"dense\",\"units\":3}]", 7, 2, 4, &spec, &m);
    for (int i = 0; i < m.n_layers; i++) {
        as_tensor t[AS_MAX_TENSORS];
        size_t np, nb;
        int n = as_layer_tensors(&m.layers[i], t, &np, &nb);
        size_t sum = 0;
        for (int k = 0; k < n; k++) {
            ck_assert_uint_eq(t[k].off, sum);
            sum += as_tensor_count(&t[k]);
        }
        ck_assert_uint_eq(np, sum);
        ck_assert_uint_eq(m.layers[i].p_n, np);
        ck_assert_uint_eq(nb, 0);
    }
    as_model_free(&m);
    as_spec_free(&spec);
}
END_TEST

START_TEST(test_param_layout) {
    as_spec spec;
    as_model m;
    build_ok(MIXED, 9, 2, 3, &spec, &m);
    size_t expect[5];
    expect[0] = 3 * 2 * 6 + 6;                                   /* conv 2 -> 6 */
    expect[1] = 2 * (6 * 2 * 5 + 2 * 5) + (6 * 2 * 3 + 2 * 3)    /* q, k; v */
                + (2 * 3 * 7 + 7);                               /* output -> 7 */
    expect[2] = 2 * 7;                                           /* gamma, beta */
    expect[3] = 4 * 7 * 7 + 7;                                   /* residual 7 -> 7 */
    expect[4] = 7 * 2 + 2;                                       /* dense 7 -> 2 */
    size_t off = 0;
    for (int i = 0; i < m.n_layers; i++) {
        ck_assert_uint_eq(m.layers[i].p_off, off);
        ck_assert_msg(m.layers[i].p_n == expect[i], "layer %d: %zu parameters, expected %zu", i,
                      m.layers[i].p_n, expect[i]);
        off += m.layers[i].p_n;
    }
    ck_assert_uint_eq(off, m.n_params);
    ck_assert_int_eq(m.layers[1].out_c, 7);
    ck_assert_int_eq(m.layers[4].out_rank, 3);
    as_model_free(&m);
    as_spec_free(&spec);
}
END_TEST

/* ---- Keras initialisation ---- */

/* Keras compute_fans: rank 2 (in, out); rank 3 (d0, d1, d2): receptive field d0,
 * fan_in = d1 d0, fan_out = d2 d0. Checks n kernel values against the glorot limit and
 * that they fill it. Returns the number of floats checked. */
static size_t check_glorot(const float *w, int d0, int d1, int d2, const char *what) {
    double fan_in = d2 ? (double)d1 * d0 : d0, fan_out = d2 ? (double)d2 * d0 : d1;
    double limit = sqrt(6.0 / (fan_in + fan_out));
    size_t n = (size_t)d0 * (size_t)d1 * (size_t)(d2 ? d2 : 1);
    double mx = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs((double)w[i]);
        ck_assert_msg(a <= limit, "%s[%zu] = %g beyond the limit %g", what, i, (double)w[i], limit);
        mx = fmax(mx, a);
        sum += (double)w[i];
    }
    ck_assert_msg(mx > 0.9 * limit, "%s: max |w| %g does not fill the limit %g", what, mx, limit);
    /* uniform on [-l, l]: the mean is 0 within a few standard errors */
    ck_assert_msg(fabs(sum / (double)n) < 5 * limit / sqrt(3.0 * (double)n), "%s: mean %g", what,
                  sum / (double)n);
    return n;
}

static size_t check_const(const float *p, size_t n, float v, const char *what) {
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(p[i] == v, "%s[%zu] = %g, expected %g", what, i, (double)p[i], (double)v);
    return n;
}

START_TEST(test_keras_init) {
    as_spec spec;
    as_model m;
    build_ok(MIXED, 9, 2, 3, &spec, &m);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] = NAN;
    as_model_init(&m, 7);
    const float *p = m.params;
    p += check_glorot(p, 3, 2, 6, "conv kernel");
    p += check_const(p, 6, 0.0f, "conv bias");
    p += check_glorot(p, 6, 2, 5, "query_kernel");
    p += check_const(p, 10, 0.0f, "query_bias");
    p += check_glorot(p, 6, 2, 5, "key_kernel");
    p += check_const(p, 10, 0.0f, "key_bias");
    p += check_glorot(p, 6, 2, 3, "value_kernel");
    p += check_const(p, 6, 0.0f, "value_bias");
    p += check_glorot(p, 2, 3, 7, "output_kernel");
    p += check_const(p, 7, 0.0f, "output_bias");
    p += check_const(p, 7, 1.0f, "gamma");
    p += check_const(p, 7, 0.0f, "beta");
    p += check_glorot(p, 4, 7, 7, "residual kernel");
    p += check_const(p, 7, 0.0f, "residual bias");
    p += check_glorot(p, 7, 2, 0, "dense kernel");
    p += check_const(p, 2, 0.0f, "dense bias");
    ck_assert_uint_eq((size_t)(p - m.params), m.n_params);
    as_model_free(&m);
    as_spec_free(&spec);
}
END_TEST

START_TEST(test_init_seeds) {
    as_spec spec;
    as_model a, b;
    build_ok(MIXED, 9, 2, 3, &spec, &a);
    as_error err;
    ck_assert_int_eq(as_model_build(&b, &spec, 9, 2, 5, "t.json", &err), AS_OK);
    as_model_init(&a, 11);
    as_model_init(&b, 11);
    ck_assert_int_eq(memcmp(a.params, b.params, a.n_params * sizeof(float)), 0);
    as_model_init(&b, 12);
    size_t differ = 0;
    for (size_t i = 0; i < a.n_params; i++) differ += a.params[i] != b.params[i];
    /* every kernel value differs (biases are zero under both seeds) */
    ck_assert_msg(differ > a.n_params / 2, "only %zu of %zu parameters differ", differ, a.n_params);
    as_model_free(&a);
    as_model_free(&b);
    as_spec_free(&spec);
}
END_TEST

/* ---- multiply-adds ---- */

START_TEST(test_macs) {
    as_spec spec;
    as_model m;
    /* same padding keeps T = 100: T K C_in F per layer */
    build_ok(TOY_STACK, 100, 1, 1, &spec, &m);
    double hand = 100.0 * 5 * (1 * 64 + 64 * 64 * 3 + 64 * 1);
    ck_assert_double_eq(as_model_macs_per_sample(&m), hand);
    as_model_free(&m);
    as_spec_free(&spec);
    /* valid padding shrinks T: 20 -> 16 -> 14 */
    build_ok("[{\"type\":\"conv1d\",\"filters\":3,\"kernel_size\":5,\"padding\":\"valid\"},"
             "{\"type\":\"conv1d\",\"filters\":2,\"kernel_size\":3,\"padding\":\"valid\"}]", 20, 2, 1,
             &spec, &m);
    ck_assert_double_eq(as_model_macs_per_sample(&m), 16.0 * 5 * 2 * 3 + 14.0 * 3 * 3 * 2);
    as_model_free(&m);
    as_spec_free(&spec);
}
END_TEST

/* ---- allocation failures: AS_ERR_NOMEM and nothing leaked ---- */

static long g_live, g_fail_at;

/* Counts live blocks and fails the g_fail_at-th allocation (0: never). */
static void *counting_alloc(void *ud, void *ptr, size_t size) {
    (void)ud;
    if (size == 0) {
        if (ptr) g_live--;
        free(ptr);
        return NULL;
    }
    if (g_fail_at > 0 && --g_fail_at == 0) return NULL;
    void *q = realloc(ptr, size);
    if (q && !ptr) g_live++;
    return q;
}

START_TEST(test_alloc_failures) {
    as_spec spec;
    parse_model(MIXED, &spec);
    as_error err;
    as_model m;
    int n_ok = 0;
    for (long n = 1; n <= 64 && !n_ok; n++) {
        g_live = 0;
        g_fail_at = n;
        as_alloc_set_hook(counting_alloc, NULL);
        as_status st = as_model_build(&m, &spec, 9, 2, 3, "t.json", &err);
        if (st == AS_OK) {
            n_ok = (int)n;
            ck_assert_int_gt(g_fail_at, 0); /* the injected failure was never reached */
            as_model_free(&m);
        } else {
            ck_assert_msg(st == AS_ERR_NOMEM, "failure at allocation %ld: %s", n, err.msg);
            ck_assert_msg(strstr(err.msg, "t.json"), "%s", err.msg);
            ck_assert_ptr_null(m.params);
        }
        as_alloc_set_hook(NULL, NULL);
        ck_assert_msg(g_live == 0, "failure at allocation %ld leaks %ld blocks", n, g_live);
    }
    ck_assert_msg(n_ok > 2, "the build should take several allocations (took %d)", n_ok - 1);
    /* the same through the shared test hook (ASan checks for leaks in CI) */
    for (long n = 1; n < n_ok; n++) {
        as_test_fail_alloc_after(n);
        ck_assert_int_eq(as_model_build(&m, &spec, 9, 2, 3, "t.json", &err), AS_ERR_NOMEM);
        as_test_fail_alloc_after(0);
    }
    /* the optimizer's moments */
    as_optim o;
    as_optimizer_spec os = {AS_OPT_ADAM, 0.001f, 0.9f, 0.999f, 1e-7f, 0.0f, 0, 0, 0.0f, 0};
    for (long n = 1; n <= 2; n++) {
        g_live = 0;
        g_fail_at = n;
        as_alloc_set_hook(counting_alloc, NULL);
        ck_assert_int_eq(as_optim_init(&o, &os, 100, &err), AS_ERR_NOMEM);
        as_alloc_set_hook(NULL, NULL);
        ck_assert_msg(g_live == 0, "as_optim_init failing at %ld leaks %ld blocks", n, g_live);
    }
    as_spec_free(&spec);
}
END_TEST

/* ---- optimizers against Keras's formulas in double precision ---- */

enum { NW = 5, STEPS = 4 };

/* A gradient sequence that changes sign and scale from step to step. */
static double grad_at(int step, int i) { return sin(1.3 * (i + 1) + 0.7 * step) * pow(10.0, i - 2); }

static void run_optim(const as_optimizer_spec *os, double *ref_w, float *w) {
    as_optim o;
    as_error err;
    ck_assert_int_eq(as_optim_init(&o, os, NW, &err), AS_OK);
    double m[NW] = {0}, v[NW] = {0};
    for (int i = 0; i < NW; i++) ref_w[i] = w[i] = 0.5f - 0.25f * (float)i;
    for (int t = 1; t <= STEPS; t++) {
        float g[NW];
        for (int i = 0; i < NW; i++) g[i] = (float)grad_at(t, i);
        as_optim_step(&o, w, g);
        double lr = os->learning_rate;
        for (int i = 0; i < NW; i++) {
            double gi = (double)g[i];
            if (os->type == AS_OPT_ADAM) {
                double b1 = os->beta_1, b2 = os->beta_2;
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                double alpha = lr * sqrt(1 - pow(b2, t)) / (1 - pow(b1, t));
                ref_w[i] -= alpha * m[i] / (sqrt(v[i]) + (double)os->epsilon);
            } else {
                double mu = os->momentum;
                m[i] = mu * m[i] - lr * gi;
                ref_w[i] += os->nesterov ? mu * m[i] - lr * gi : m[i];
            }
        }
        for (int i = 0; i < NW; i++)
            ck_assert_msg(fabs((double)w[i] - ref_w[i]) < 1e-6 * (1 + fabs(ref_w[i])),
                          "step %d w[%d] = %.9g, Keras %.9g", t, i, (double)w[i], ref_w[i]);
    }
    ck_assert_int_eq(o.t, STEPS);
    as_optim_free(&o);
}

START_TEST(test_adam) {
    as_optimizer_spec os = {AS_OPT_ADAM, 0.01f, 0.9f, 0.999f, 1e-7f, 0.0f, 0, 0, 0.0f, 0};
    double ref[NW];
    float w[NW];
    run_optim(&os, ref, w);
    /* Adam's first step moves every weight by about lr, against the gradient */
    os.learning_rate = 0.001f;
    as_optim o;
    as_error err;
    ck_assert_int_eq(as_optim_init(&o, &os, NW, &err), AS_OK);
    float w1[NW] = {0}, g[NW];
    for (int i = 0; i < NW; i++) g[i] = (float)grad_at(1, i);
    as_optim_step(&o, w1, g);
    for (int i = 0; i < NW; i++)
        ck_assert_double_eq_tol(fabs((double)w1[i]), 0.001, 1e-6);
    as_optim_free(&o);
}
END_TEST

START_TEST(test_sgd) {
    double ref[NW];
    float w[NW];
    as_optimizer_spec plain = {AS_OPT_SGD, 0.05f, 0, 0, 0, 0.0f, 0, 0, 0.0f, 0};
    run_optim(&plain, ref, w);
    as_optimizer_spec mom = {AS_OPT_SGD, 0.05f, 0, 0, 0, 0.9f, 0, 0, 0.0f, 0};
    run_optim(&mom, ref, w);
    double w_mom = ref[3];
    as_optimizer_spec nest = {AS_OPT_SGD, 0.05f, 0, 0, 0, 0.9f, 1, 0, 0.0f, 0};
    run_optim(&nest, ref, w);
    ck_assert_msg(fabs(ref[3] - w_mom) > 1e-3, "nesterov and momentum paths coincide");
}
END_TEST

/* use_ema: Keras's average (the first step copies w, then mom avg + (1 - mom) w), by
 * hand for a constant gradient and in double precision for Adam; w is unaffected. */
START_TEST(test_ema) {
    as_optimizer_spec sgd = {AS_OPT_SGD, 0.1f, 0, 0, 0, 0.0f, 0, 1, 0.5f, 0};
    as_optim o;
    as_error err;
    ck_assert_int_eq(as_optim_init(&o, &sgd, 1, &err), AS_OK);
    float w = 1.0f, g = 1.0f;
    const double want_w[3] = {0.9, 0.8, 0.7}, want_avg[3] = {0.9, 0.85, 0.775};
    for (int t = 0; t < 3; t++) {
        as_optim_step(&o, &w, &g);
        ck_assert_double_eq_tol((double)w, want_w[t], 1e-6);
        ck_assert_double_eq_tol((double)o.ema[0], want_avg[t], 1e-6);
    }
    as_optim_free(&o);
    ck_assert_ptr_null(o.ema);
    /* ema_buffers: the buffers' average follows the same rule (first step copies) */
    sgd.ema_buffers = 1;
    ck_assert_int_eq(as_optim_init(&o, &sgd, 1, &err), AS_OK);
    ck_assert_int_eq(as_optim_track_buffers(&o, 2, &err), AS_OK);
    const float bufs[3][2] = {{2, -1}, {4, 0}, {0, 8}};
    const double want_buf[3][2] = {{2, -1}, {3, -0.5}, {1.5, 3.75}};
    for (int t = 0; t < 3; t++) {
        as_optim_step(&o, &w, &g);
        as_optim_average_buffers(&o, bufs[t]);
        for (int i = 0; i < 2; i++) ck_assert_double_eq_tol((double)o.ema_buf[i], want_buf[t][i], 1e-6);
    }
    as_optim_free(&o);
    sgd.use_ema = 0; /* without use_ema nothing is tracked */
    ck_assert_int_eq(as_optim_init(&o, &sgd, 1, &err), AS_OK);
    ck_assert_int_eq(as_optim_track_buffers(&o, 2, &err), AS_OK);
    ck_assert_ptr_null(o.ema_buf);
    as_optim_free(&o);
    as_optimizer_spec adam = {AS_OPT_ADAM, 0.01f, 0.9f, 0.999f, 1e-7f, 0.0f, 0, 1, 0.9f, 0};
    as_optimizer_spec plain = adam;
    plain.use_ema = 0;
    double ref[NW], avg[NW];
    float we[NW], wp[NW];
    run_optim(&plain, ref, wp);
    ck_assert_int_eq(as_optim_init(&o, &adam, NW, &err), AS_OK);
    for (int i = 0; i < NW; i++) we[i] = 0.5f - 0.25f * (float)i;
    for (int t = 1; t <= STEPS; t++) {
        float gt[NW];
        for (int i = 0; i < NW; i++) gt[i] = (float)grad_at(t, i);
        as_optim_step(&o, we, gt);
        for (int i = 0; i < NW; i++) {
            avg[i] = t == 1 ? (double)we[i] : 0.9 * avg[i] + 0.1 * (double)we[i];
            ck_assert_msg(fabs((double)o.ema[i] - avg[i]) < 1e-6 * (1 + fabs(avg[i])),
                          "step %d ema[%d] = %.9g, Keras %.9g", t, i, (double)o.ema[i], avg[i]);
        }
    }
    for (int i = 0; i < NW; i++) ck_assert(we[i] == wp[i]); /* the average never feeds back */
    ck_assert(fabs((double)o.ema[1] - (double)we[1]) > 1e-5); /* and lags behind w */
    as_optim_free(&o);
}
END_TEST

/* ---- training lowers the loss ---- */

/* y[t] = mean of x over a centred window of 3 plus 0.5: a conv stack can learn it. */
START_TEST(test_fit_learns) {
    enum { N = 64, T = 24 };
    float *x = as_malloc(N * T * sizeof(float)), *y = as_malloc(N * T * sizeof(float));
    as_rng r;
    as_rng_seed(&r, 5);
    for (int i = 0; i < N * T; i++) x[i] = 2.0f * as_rng_float(&r) - 1.0f;
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++) {
            float s = 0;
            for (int k = -1; k <= 1; k++)
                if (t + k >= 0 && t + k < T) s += x[n * T + t + k];
            y[n * T + t] = s / 3.0f + 0.5f;
        }
    as_dataset d;
    memset(&d, 0, sizeof d);
    d.task = AS_TASK_REGRESSION;
    d.train = (as_split){N, T, 1, x, T, 1, y, NULL};
    as_spec spec;
    parse_model("[" CONV(8, 3, "relu") "," CONV(1, 3, "linear") "]", &spec);
    spec.train.epochs = 15;
    spec.train.batch_size = 16;
    spec.train.validation_split = 0.25;
    spec.train.optimizer.learning_rate = 0.01f;
    as_model m;
    as_error err;
    ck_assert_msg(as_fit_prepare(&m, &spec, &d, 1, 3, "t.json", &err) == AS_OK, "%s", err.msg);
    as_history h;
    as_fit_opts fo;
    memset(&fo, 0, sizeof fo);
    fo.comm = MPI_COMM_NULL;
    ck_assert_int_eq(as_fit(&m, &d, &spec.train, &fo, &h, &err), AS_OK);
    ck_assert_int_eq(h.status, AS_RUN_OK);
    ck_assert_int_eq(h.epochs_run, 15);
    ck_assert_msg(h.loss[14] < 0.2 * h.loss[0], "loss %g -> %g", h.loss[0], h.loss[14]);
    ck_assert_msg(h.val_loss[14] < 0.2 * h.val_loss[0], "val_loss %g -> %g", h.val_loss[0],
                  h.val_loss[14]);
    /* the reported val_loss is the model's loss on the last quarter of the rows */
    double acc;
    double val = as_evaluate(&m, &d, &d.train, 48, 16, 16, MPI_COMM_NULL, &acc);
    ck_assert_double_eq_tol(val, h.val_loss[14], 1e-6 * (1 + val));
    as_history_free(&h);
    as_model_free(&m);
    as_spec_free(&spec);
    as_free(x);
    as_free(y);
}
END_TEST

int main(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_add_loop_test(tc, test_build_errors, 0, (int)(sizeof k_build_bad / sizeof k_build_bad[0]));
    tcase_add_test(tc, test_check_output);
    tcase_add_test(tc, test_ops_table);
    tcase_add_test(tc, test_param_layout);
    tcase_add_test(tc, test_keras_init);
    tcase_add_test(tc, test_init_seeds);
    tcase_add_test(tc, test_macs);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_adam);
    tcase_add_test(tc, test_sgd);
    tcase_add_test(tc, test_ema);
    tcase_add_test(tc, test_fit_learns);
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
