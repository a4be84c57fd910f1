/* layer_reshape.c: the ops of the layers without weights that change the shape:
 * global_average_pooling1d (B, T, C) -> (B, C) and flatten (B, T, C) -> (B, T*C).
 * Kernels in src/layers/misc.c. */
#include <limits.h>
#include <string.h>

#include "model/layer_internal.h"

static as_status gap_shape(as_layer *L, int B, as_layer_sizes *sz, const char *where,
                           as_error *err) {
    (void)B;
    (void)sz;
    (void)where;
    (void)err;
    L->out_rank = 2;
    L->out_t = 1;
    return AS_OK;
}

static void gap_forward(const as_layer *L, const as_layer_io *io) {
    as_gap1d_forward(io->out, io->in, io->B, L->in_t, L->in_c);
}

static void gap_backward(const as_layer *L, const as_layer_io *io) {
    as_gap1d_backward(io->din, io->dout, io->B, L->in_t, L->in_c);
}

const as_layer_ops as_layer_global_avg_pool1d_ops = {
    .name = "global_average_pooling1d",
    .needs_rank3 = 1,
    .shape = gap_shape,
    .forward = gap_forward,
    .backward = gap_backward,
};

static as_status flatten_shape(as_layer *L, int B, as_layer_sizes *sz, const char *where,
                               as_error *err) {
    size_t n = (size_t)L->in_t * (size_t)L->in_c; /* in size_t: T*C may exceed an int */
    if (n > (size_t)INT_MAX)
        return as_error_set(err, AS_ERR_SPEC, "%s: %d x %d = %zu features exceed the %d a layer "
                            "may hold", where, L->in_t, L->in_c, n, INT_MAX);
    as_status st = gap_shape(L, B, sz, where, err); /* (B, T, C) -> (B, T*C) */
    L->out_c = (int)n;
    return st;
}

static void flatten_forward(const as_layer *L, const as_layer_io *io) {
    memcpy(io->out, io->in, (size_t)io->B * L->in_t * L->in_c * sizeof(float));
}

const as_layer_ops as_layer_flatten_ops = {
    .name = "flatten",
    .shape = flatten_shape,
    .forward = flatten_forward,
    .backward = as_layer_pass_grad_op,
};
