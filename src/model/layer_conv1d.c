/* layer_conv1d.c: the ops of conv1d (Keras Conv1D, stride 1) and residual_conv1d
 * (y = x + act(conv_same(x))): kernel [k, C_in, filters] glorot_uniform, bias [filters]
 * zeros. Kernels in src/layers/conv1d.c. */
#include "model/layer_internal.h"

static int pad_left(const as_layer *L) {
    if (L->spec.type == AS_LAYER_CONV1D && L->spec.padding == AS_PAD_VALID) return 0;
    return L->spec.dilation * (L->spec.kernel_size - 1) / 2;
}

static as_status conv_shape(as_layer *L, int B, as_layer_sizes *sz, const char *where,
                            as_error *err) {
    const as_layer_spec *s = &L->spec;
    int span = s->dilation * (s->kernel_size - 1);
    L->out_c = s->filters;
    if (s->padding == AS_PAD_VALID) {
        if (L->in_t - span < 1)
            return as_error_set(err, AS_ERR_SPEC,
                                "%s: a valid convolution spanning %d steps needs series longer "
                                "than %d (got %d)", where, span + 1, span, L->in_t);
        L->out_t = L->in_t - span;
    }
    /* the im2col rows are rebuilt in backward: one scratch serves every layer */
    sz->scratch = as_conv1d_scratch(B, L->out_t, L->in_c, L->out_c, s->kernel_size);
    return AS_OK;
}

static as_status residual_shape(as_layer *L, int B, as_layer_sizes *sz, const char *where,
                                as_error *err) {
    const as_layer_spec *s = &L->spec;
    int F = s->filters ? s->filters : L->in_c;
    if (F != L->in_c)
        return as_error_set(err, AS_ERR_SPEC,
                            "%s: filters (%d) must equal the input channels (%d) for x + conv(x)",
                            where, F, L->in_c);
    sz->scratch = as_conv1d_scratch(B, L->out_t, L->in_c, F, s->kernel_size);
    sz->state = (size_t)B * (size_t)L->in_t * (size_t)L->in_c; /* the branch act(conv(x)) */
    return AS_OK;
}

static int conv_tensors(const as_layer *L, as_tensor *t) {
    t[0] = (as_tensor){.name = "kernel", .rank = 3,
                       .dims = {L->spec.kernel_size, L->in_c, L->out_c},
                       .init = AS_INIT_GLOROT_UNIFORM};
    t[1] = (as_tensor){.name = "bias", .rank = 1, .dims = {L->out_c}, .init = AS_INIT_ZEROS};
    return 2;
}

static size_t kernel_n(const as_layer *L) {
    return (size_t)L->spec.kernel_size * (size_t)L->in_c * (size_t)L->out_c;
}

static void conv_forward(const as_layer *L, const as_layer_io *io) {
    const as_layer_spec *s = &L->spec;
    as_conv1d_forward(io->out, io->in, io->p, io->p + kernel_n(L), io->scratch, io->B, L->in_t,
                      L->in_c, L->out_c, s->kernel_size, s->dilation, pad_left(L), L->out_t,
                      s->activation);
}

static void conv_backward(const as_layer *L, const as_layer_io *io) {
    const as_layer_spec *s = &L->spec;
    as_conv1d_backward(io->din, io->g, io->g + kernel_n(L), io->dout, io->out, io->in, io->p,
                       io->scratch, io->B, L->in_t, L->in_c, L->out_c, s->kernel_size,
                       s->dilation, pad_left(L), L->out_t, s->activation);
}

static void residual_forward(const as_layer *L, const as_layer_io *io) {
    const as_layer_spec *s = &L->spec;
    as_resconv1d_forward(io->out, io->st, io->in, io->p, io->p + kernel_n(L), io->scratch, io->B,
                         L->in_t, L->in_c, s->kernel_size, s->dilation, s->activation);
}

static void residual_backward(const as_layer *L, const as_layer_io *io) {
    const as_layer_spec *s = &L->spec;
    as_resconv1d_backward(io->din, io->g, io->g + kernel_n(L), io->dout, io->st, io->in, io->p,
                          io->scratch, io->B, L->in_t, L->in_c, s->kernel_size, s->dilation,
                          s->activation);
}

static double conv_macs(const as_layer *L) {
    return (double)L->out_t * L->spec.kernel_size * L->in_c * L->out_c;
}

const as_layer_ops as_layer_conv1d_ops = {
    .name = "conv1d",
    .needs_rank3 = 1,
    .shape = conv_shape,
    .tensors = conv_tensors,
    .forward = conv_forward,
    .backward = conv_backward,
    .macs = conv_macs,
};

const as_layer_ops as_layer_residual_conv1d_ops = {
    .name = "residual_conv1d",
    .needs_rank3 = 1,
    .shape = residual_shape,
    .tensors = conv_tensors,
    .forward = residual_forward,
    .backward = residual_backward,
    .macs = conv_macs,
};
