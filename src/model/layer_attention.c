/* layer_attention.c: the ops of self_attention (Keras MultiHeadAttention(x, x)): query,
 * key, value and output kernels glorot_uniform with Keras's shapes, biases zeros.
 * Kernels in src/layers/attention.c. */
#include "model/layer_internal.h"

as_attn_dims as_layer_attn_dims(const as_layer *L, int B) {
    as_attn_dims d;
    d.B = B;
    d.T = L->in_t;
    d.C = L->in_c;
    d.H = L->spec.num_heads;
    d.Dk = L->spec.key_dim;
    d.Dv = L->spec.value_dim ? L->spec.value_dim : L->spec.key_dim;
    d.O = L->out_c;
    d.rate = L->spec.rate;
    return d;
}

static as_status attn_shape(as_layer *L, int B, as_layer_sizes *sz, const char *where,
                            as_error *err) {
    (void)where;
    (void)err;
    L->out_c = L->spec.output_dim ? L->spec.output_dim : L->in_c;
    as_attn_dims d = as_layer_attn_dims(L, B);
    sz->state = as_attn_state_size(&d);
    sz->scratch = as_attn_scratch(&d);
    return AS_OK;
}

static int attn_tensors(const as_layer *L, as_tensor *t) {
    as_attn_dims d = as_layer_attn_dims(L, 1);
    const as_init G = AS_INIT_GLOROT_UNIFORM, Z = AS_INIT_ZEROS;
    t[0] = (as_tensor){.name = "query_kernel", .rank = 3, .dims = {d.C, d.H, d.Dk}, .init = G};
    t[1] = (as_tensor){.name = "query_bias", .rank = 2, .dims = {d.H, d.Dk}, .init = Z};
    t[2] = (as_tensor){.name = "key_kernel", .rank = 3, .dims = {d.C, d.H, d.Dk}, .init = G};
    t[3] = (as_tensor){.name = "key_bias", .rank = 2, .dims = {d.H, d.Dk}, .init = Z};
    t[4] = (as_tensor){.name = "value_kernel", .rank = 3, .dims = {d.C, d.H, d.Dv}, .init = G};
    t[5] = (as_tensor){.name = "value_bias", .rank = 2, .dims = {d.H, d.Dv}, .init = Z};
    t[6] = (as_tensor){.name = "output_kernel", .rank = 3, .dims = {d.H, d.Dv, d.O}, .init = G};
    t[7] = (as_tensor){.name = "output_bias", .rank = 1, .dims = {d.O}, .init = Z};
    return 8;
}

static void attn_forward(const as_layer *L, const as_layer_io *io) {
    as_attn_dims d = as_layer_attn_dims(L, io->B);
    as_attn_state as;
    as_attn_state_bind(&as, io->st, &d);
    as_attn_forward(io->out, &as, io->in, io->p, &d, io->training, &io->key);
}

static void attn_backward(const as_layer *L, const as_layer_io *io) {
    as_attn_dims d = as_layer_attn_dims(L, io->B);
    as_attn_state as;
    as_attn_state_bind(&as, io->st, &d);
    as_attn_backward(io->din, io->g, io->dout, &as, io->in, io->p, io->scratch, &d);
}

static double attn_macs(const as_layer *L) {
    as_attn_dims d = as_layer_attn_dims(L, 1);
    double T = d.T, C = d.C;
    return T * C * d.H * (2.0 * d.Dk + d.Dv)   /* projections */
           + (double)d.H * T * T * (d.Dk + d.Dv) /* scores and context */
           + T * d.H * d.Dv * d.O;             /* output projection */
}

const as_layer_ops as_layer_self_attention_ops = {
    .name = "self_attention",
    .needs_rank3 = 1,
    .shape = attn_shape,
    .tensors = attn_tensors,
    .forward = attn_forward,
    .backward = attn_backward,
    .macs = attn_macs,
};
