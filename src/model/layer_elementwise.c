/* layer_elementwise.c: the ops of the shape-keeping layers without weights: dropout
 * (inverted, counter-based masks) and activation. Kernels in src/layers/misc.c and
 * src/layers/activation.c. */
#include <string.h>

#include "model/layer_internal.h"

static size_t n_in(const as_layer *L, int B) { return (size_t)B * L->in_t * L->in_c; }

static as_status dropout_shape(as_layer *L, int B, as_layer_sizes *sz, const char *where,
                               as_error *err) {
    (void)where;
    (void)err;
    if (L->spec.rate > 0.0f) sz->state = n_in(L, B); /* the mask */
    return AS_OK;
}

static void dropout_forward(const as_layer *L, const as_layer_io *io) {
    as_dropout_forward(io->out, io->st, io->in, io->B, (size_t)L->in_t * L->in_c, L->spec.rate,
                       io->training, &io->key);
}

static void dropout_backward(const as_layer *L, const as_layer_io *io) {
    as_dropout_backward(io->din, io->dout, io->st, n_in(L, io->B), L->spec.rate, 1);
}

const as_layer_ops as_layer_dropout_ops = {
    .name = "dropout",
    .shape = dropout_shape,
    .forward = dropout_forward,
    .backward = dropout_backward,
};

static void act_forward(const as_layer *L, const as_layer_io *io) {
    size_t n = n_in(L, io->B);
    memcpy(io->out, io->in, n * sizeof(float));
    as_act_forward(io->out, n, L->spec.activation);
}

static void act_backward(const as_layer *L, const as_layer_io *io) {
    if (!io->din) return;
    as_act_backward(io->dout, io->out, n_in(L, io->B), L->spec.activation);
    as_layer_pass_grad_op(L, io);
}

const as_layer_ops as_layer_activation_ops = {
    .name = "activation",
    .forward = act_forward,
    .backward = act_backward,
};
