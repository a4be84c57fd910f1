/* layer_batch_norm.c: the ops of batch_normalization (Keras BatchNormalization on the
 * channel axis; momentum 0.99, epsilon 1e-3, center/scale): gamma [C] ones (scale),
 * beta [C] zeros (center), and the non-trainable moving_mean [C] zeros and
 * moving_variance [C] ones. Training normalises with the batch statistics, reduced over
 * the data-parallel ranks (synchronised: the same as one process over the global batch),
 * and updates the moving averages; inference uses the moving statistics. Kernels in
 * src/layers/batchnorm.c.
 *
 * State (3C floats): mean, rstd, var of the last forward. Double scratch: 2C + 1 sums. */
#include <string.h>

#include "model/layer_internal.h"

static as_status bn_shape(as_layer *L, int B, as_layer_sizes *sz, const char *where,
                          as_error *err) {
    (void)B;
    (void)where;
    (void)err;
    sz->state = 3 * (size_t)L->in_c;
    sz->dscratch = 2 * (size_t)L->in_c + 1;
    return AS_OK;
}

static int bn_tensors(const as_layer *L, as_tensor *t) {
    int n = 0, C = L->in_c;
    if (L->spec.scale)
        t[n++] = (as_tensor){.name = "gamma", .rank = 1, .dims = {C}, .init = AS_INIT_ONES};
    if (L->spec.center)
        t[n++] = (as_tensor){.name = "beta", .rank = 1, .dims = {C}, .init = AS_INIT_ZEROS};
    t[n++] = (as_tensor){.name = "moving_mean", .rank = 1, .dims = {C}, .init = AS_INIT_ZEROS,
                         .buffer = 1};
    t[n++] = (as_tensor){.name = "moving_variance", .rank = 1, .dims = {C},
                         .init = AS_INIT_ONES, .buffer = 1};
    return n;
}

/* Offsets of gamma and beta in the layer's parameter (and gradient) slice; -1: absent. */
static int gamma_off(const as_layer *L) { return L->spec.scale ? 0 : -1; }
static int beta_off(const as_layer *L) {
    return L->spec.center ? (L->spec.scale ? L->in_c : 0) : -1;
}

static void bn_forward(const as_layer *L, const as_layer_io *io) {
    const int C = L->in_c, N = io->B * L->in_t;
    float *mean = io->st, *rstd = io->st + C, *var = io->st + 2 * C;
    float *moving_mean = io->buf, *moving_var = io->buf + C;
    if (io->training) {
        double *s = io->dscratch;
        as_bn_sums(s, io->in, N, C);
        s[2 * C] = (double)N;
        as_model_reduce(io->m, s, 2 * C + 1);
        as_bn_moments(mean, var, s, s[2 * C], C);
        as_bn_update_moving(moving_mean, moving_var, mean, var, C, L->spec.momentum);
    } else {
        memcpy(mean, moving_mean, (size_t)C * sizeof(float));
        memcpy(var, moving_var, (size_t)C * sizeof(float));
    }
    as_bn_rstd(rstd, var, C, L->spec.epsilon);
    const float *gamma = gamma_off(L) < 0 ? NULL : io->p + gamma_off(L);
    const float *beta = beta_off(L) < 0 ? NULL : io->p + beta_off(L);
    as_bn_forward(io->out, io->in, mean, rstd, gamma, beta, N, C);
}

static void bn_backward(const as_layer *L, const as_layer_io *io) {
    const int C = L->in_c, N = io->B * L->in_t;
    const float *mean = io->st, *rstd = io->st + C;
    const float *gamma = gamma_off(L) < 0 ? NULL : io->p + gamma_off(L);
    float *dg = gamma_off(L) < 0 ? NULL : io->g + gamma_off(L);
    float *db = beta_off(L) < 0 ? NULL : io->g + beta_off(L);
    double *s = io->dscratch;
    as_bn_backward_sums(s, dg, db, io->dout, io->in, mean, rstd, N, C);
    s[2 * C] = (double)N;
    as_model_reduce(io->m, s, 2 * C + 1);
    as_bn_backward(io->din, io->dout, io->in, mean, rstd, gamma, s, s[2 * C], N, C);
}

static double bn_macs(const as_layer *L) { return 2.0 * L->in_t * L->in_c; }

const as_layer_ops as_layer_batch_norm_ops = {
    .name = "batch_normalization",
    .collective = 1,
    .shape = bn_shape,
    .tensors = bn_tensors,
    .forward = bn_forward,
    .backward = bn_backward,
    .macs = bn_macs,
};
