/* layer_layer_norm.c: the ops of layer_norm (Keras LayerNormalization over the last
 * axis, epsilon 1e-3): gamma [C] ones, beta [C] zeros. Kernels in src/layers/norm.c. */
#include "model/layer_internal.h"

static as_status ln_shape(as_layer *L, int B, as_layer_sizes *sz, const char *where,
                          as_error *err) {
    (void)where;
    (void)err;
    sz->state = 2 * (size_t)B * (size_t)L->in_t; /* mean, rstd per row */
    return AS_OK;
}

static int ln_tensors(const as_layer *L, as_tensor *t) {
    t[0] = (as_tensor){.name = "gamma", .rank = 1, .dims = {L->in_c}, .init = AS_INIT_ONES};
    t[1] = (as_tensor){.name = "beta", .rank = 1, .dims = {L->in_c}, .init = AS_INIT_ZEROS};
    return 2;
}

static void ln_forward(const as_layer *L, const as_layer_io *io) {
    as_layernorm_forward(io->out, io->st, io->st + (size_t)io->max_batch * L->in_t, io->in, io->p,
                         io->p + L->in_c, io->B * L->in_t, L->in_c);
}

static void ln_backward(const as_layer *L, const as_layer_io *io) {
    as_layernorm_backward(io->din, io->g, io->g + L->in_c, io->dout, io->in, io->st,
                          io->st + (size_t)io->max_batch * L->in_t, io->p, io->B * L->in_t,
                          L->in_c);
}

const as_layer_ops as_layer_layer_norm_ops = {
    .name = "layer_norm",
    .shape = ln_shape,
    .tensors = ln_tensors,
    .forward = ln_forward,
    .backward = ln_backward,
};
