/* test_model_torch.c: whole models against the independent PyTorch reference
 * (tests/ref/torch_model.py): output, every parameter gradient, and the loss and weights
 * along a 3-step Adam trajectory run by as_fit. Also reads the fixtures through the
 * weights loader, so the Keras weight layout is checked too. */
#include <cjson/cJSON.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/layers.h"
#include "attnsweep/model.h"
#include "attnsweep/train.h"
#include "attnsweep/weights.h"
#include "testutil.h"

static char g_path[1024];

static float *read_floats(hid_t f, const char *name, hsize_t *dims, int *rank) {
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    ck_assert_msg(ds >= 0, "missing %s", name);
    hid_t sp = H5Dget_space(ds);
    *rank = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    float *buf = as_malloc((size_t)n * sizeof(float));
    ck_assert(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(sp);
    H5Dclose(ds);
    return buf;
}

/* One fixture's inputs and references. */
typedef struct {
    const char *file;
    int classification;
    int B, T, C, K;
    hsize_t yd[3];
    float *x, *y, *ref_loss;
    int labels[64];
} torch_case;

/* The fixture's "spec" attribute, parsed. */
static void read_spec(hid_t f, const char *file, as_spec *spec) {
    hid_t a = H5Aopen(f, "spec", H5P_DEFAULT);
    hid_t ty = H5Aget_type(a);
    char *text = NULL;
    if (H5Tis_variable_str(ty) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ty));
        ck_assert(H5Aread(a, mt, &text) >= 0);
        H5Tclose(mt);
    }
    ck_assert_ptr_nonnull(text);
    cJSON *root = cJSON_Parse(text);
    H5free_memory(text);
    H5Tclose(ty);
    H5Aclose(a);
    as_error err;
    ck_assert_int_eq(as_spec_parse(root, file, NULL, NULL, spec, &err), AS_OK);
    cJSON_Delete(root);
}

/* The mean loss of out (the model's forward output) and every parameter gradient against
 * the fixture's "/grads". */
static void check_gradients(as_model *m, const torch_case *c, const float *out) {
    as_model_zero_grad(m);
    float inv_b = 1.0f / (float)c->B;
    double loss = c->classification
                      ? as_loss_sce(as_model_dout(m), out, c->labels, c->B, c->K, inv_b, NULL)
                      : as_loss_mse(as_model_dout(m), out, c->y, c->B, c->K, inv_b);
    double ref = (double)c->ref_loss[0];
    ck_assert_msg(fabs(loss / c->B - ref) < 1e-5 * (1 + fabs(ref)), "%s: loss %g vs %g", c->file,
                  loss / c->B, ref);
    as_model_backward(m, c->x, NULL, NULL);
    float *ref_g = as_calloc(m->n_params, sizeof(float));
    as_error err;
    ck_assert_msg(as_weights_load_group(g_path, "/grads", m, ref_g, &err) == AS_OK, "%s", err.msg);
    for (int i = 0; i < m->n_layers; i++) {
        const as_layer *L = &m->layers[i];
        double scale = 0;
        for (size_t k = 0; k < L->p_n; k++) scale = fmax(scale, fabs((double)ref_g[L->p_off + k]));
        for (size_t k = 0; k < L->p_n; k++) {
            double d = fabs((double)m->grads[L->p_off + k] - (double)ref_g[L->p_off + k]);
            ck_assert_msg(d <= 1e-4 * (scale + 1e-3), "%s: layer %d (%s) grad[%zu] %g vs %g",
                          c->file, i, as_layer_type_name(L->spec.type),
                          k, (double)m->grads[L->p_off + k], (double)ref_g[L->p_off + k]);
        }
    }
    as_free(ref_g);
}

/* A 3-step Adam trajectory through as_fit from the fixture's weights (full batch, no
 * shuffle): the losses and the final weights ("/weights_final"). */
static void check_trajectory(as_model *m, const as_spec *spec, torch_case *c) {
    as_error err;
    ck_assert_int_eq(as_weights_load(g_path, m, &err), AS_OK);
    as_dataset d;
    memset(&d, 0, sizeof d);
    d.task = c->classification ? AS_TASK_CLASSIFICATION : AS_TASK_REGRESSION;
    d.n_classes = c->classification ? c->K : 0;
    d.train.n = c->B;
    d.train.t = c->T;
    d.train.c = c->C;
    d.train.x = c->x;
    if (c->classification) {
        d.train.labels = c->labels;
    } else {
        d.train.y = c->y;
        d.train.yt = (int)c->yd[1];
        d.train.yc = (int)c->yd[2];
    }
    as_history h;
    as_fit_opts fo = {.comm = MPI_COMM_NULL};
    ck_assert_int_eq(as_fit(m, &d, &spec->train, &fo, &h, &err), AS_OK);
    ck_assert_int_eq(h.epochs_run, 3);
    for (int t = 0; t < 3; t++) {
        double ref = (double)c->ref_loss[t];
        ck_assert_msg(fabs(h.loss[t] - ref) < 1e-5 * (1 + fabs(ref)),
                      "%s: step %d loss %.8g vs %.8g", c->file, t, h.loss[t], ref);
    }
    ck_assert_msg(h.loss[2] < h.loss[0], "%s: Adam did not lower the loss", c->file);
    float *ref_w = as_calloc(m->n_params, sizeof(float));
    ck_assert_int_eq(as_weights_load_group(g_path, "/weights_final", m, ref_w, &err), AS_OK);
    double e_w = as_test_max_rel_err(m->params, ref_w, m->n_params);
    ck_assert_msg(e_w < 1e-5, "%s: weights after 3 Adam steps rel err %g", c->file, e_w);
    as_history_free(&h);
    as_free(ref_w);
}

static void run_case(const char *file, int classification) {
    snprintf(g_path, sizeof g_path, "%s/%s", as_test_env("ATTNSWEEP_FIXTURES", "tests/fixtures"), file);
    if (access(g_path, R_OK) != 0) {
        printf("SKIP: fixture %s missing (regenerate with tests/ref/torch_model.py)\n", g_path);
        return;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(g_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert(f >= 0);
    as_spec spec;
    read_spec(f, file, &spec);

    torch_case c = {.file = file, .classification = classification};
    hsize_t xd[3], od[3], ld[1];
    int xr, yr, orank, lr;
    c.x = read_floats(f, "/x", xd, &xr);
    c.y = read_floats(f, "/y", c.yd, &yr);
    float *ref_out = read_floats(f, "/output", od, &orank);
    c.ref_loss = read_floats(f, "/loss", ld, &lr);
    H5Fclose(f);
    c.B = (int)xd[0], c.T = (int)xd[1], c.C = (int)xd[2];

    as_model m;
    as_error err;
    ck_assert_int_eq(as_model_build(&m, &spec, c.T, c.C, c.B, file, &err), AS_OK);
    ck_assert_msg(as_weights_load(g_path, &m, &err) == AS_OK, "%s", err.msg);

    /* forward */
    const float *out = as_model_forward(&m, c.x, c.B, 1);
    size_t n_out = (size_t)c.B * as_model_out_size(&m);
    double e_out = as_test_max_rel_err(out, ref_out, n_out);
    ck_assert_msg(e_out < 1e-4, "%s: output rel err %g", file, e_out);

    for (int i = 0; i < c.B; i++) c.labels[i] = (int)c.y[i];
    c.K = (int)as_model_out_size(&m);
    check_gradients(&m, &c, out);
    check_trajectory(&m, &spec, &c);
    as_model_free(&m);
    as_spec_free(&spec);
    as_free(c.x);
    as_free(c.y);
    as_free(ref_out);
    as_free(c.ref_loss);
}

START_TEST(test_regression_model) { run_case("torch_model_reg.h5", 0); }
END_TEST

START_TEST(test_classification_model) { run_case("torch_model_cls.h5", 1); }
END_TEST

int main(void) {
    Suite *s = suite_create("model_torch");
    TCase *tc = tcase_create("model_torch");
    tcase_add_test(tc, test_regression_model);
    tcase_add_test(tc, test_classification_model);
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
