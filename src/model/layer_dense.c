/* layer_dense.c: the ops of dense (Keras Dense on the last axis): kernel [C_in, units]
 * glorot_uniform, bias [units] zeros. Kernels in src/layers/dense.c. */
#include "model/layer_internal.h"

static as_status dense_shape(as_layer *L, int B, as_layer_sizes *sz, const char *where,
                             as_error *err) {
    (void)B;
    (void)sz;
    (void)where;
    (void)err;
    L->out_c = L->spec.units;
    return AS_OK;
}

static int dense_tensors(const as_layer *L, as_tensor *t) {
    t[0] = (as_tensor){.name = "kernel", .rank = 2, .dims = {L->in_c, L->out_c},
                       .init = AS_INIT_GLOROT_UNIFORM};
    t[1] = (as_tensor){.name = "bias", .rank = 1, .dims = {L->out_c}, .init = AS_INIT_ZEROS};
    return 2;
}

static void dense_forward(const as_layer *L, const as_layer_io *io) {
    as_dense_forward(io->out, io->in, io->p, io->p + (size_t)L->in_c * L->out_c, io->B * L->in_t,
                     L->in_c, L->out_c, L->spec.activation);
}

static void dense_backward(const as_layer *L, const as_layer_io *io) {
    as_dense_backward(io->din, io->g, io->g + (size_t)L->in_c * L->out_c, io->dout, io->out,
                      io->in, io->p, io->B * L->in_t, L->in_c, L->out_c, L->spec.activation);
}

static double dense_macs(const as_layer *L) { return (double)L->in_t * L->in_c * L->out_c; }

const as_layer_ops as_layer_dense_ops = {
    .name = "dense",
    .shape = dense_shape,
    .tensors = dense_tensors,
    .forward = dense_forward,
    .backward = dense_backward,
    .macs = dense_macs,
};
