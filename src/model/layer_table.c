/* layer_table.c: the one table of layer ops, indexed by as_layer_type (layer_ops.h). */
#include <string.h>

#include "model/layer_internal.h"

static const as_layer_ops *const k_ops[] = {
    [AS_LAYER_CONV1D] = &as_layer_conv1d_ops,
    [AS_LAYER_RESIDUAL_CONV1D] = &as_layer_residual_conv1d_ops,
    [AS_LAYER_SELF_ATTENTION] = &as_layer_self_attention_ops,
    [AS_LAYER_DENSE] = &as_layer_dense_ops,
    [AS_LAYER_GLOBAL_AVG_POOL1D] = &as_layer_global_avg_pool1d_ops,
    [AS_LAYER_FLATTEN] = &as_layer_flatten_ops,
    [AS_LAYER_DROPOUT] = &as_layer_dropout_ops,
    [AS_LAYER_LAYER_NORM] = &as_layer_layer_norm_ops,
    [AS_LAYER_ACTIVATION] = &as_layer_activation_ops,
    [AS_LAYER_BATCH_NORM] = &as_layer_batch_norm_ops,
};
/* A type added to the enum but not here makes the table one short (the last type) or
 * leaves a NULL (test_model checks every entry). */
_Static_assert(sizeof k_ops / sizeof k_ops[0] == AS_LAYER_NTYPES,
               "every as_layer_type needs an entry in the ops table");

const as_layer_ops *as_layer_ops_of(as_layer_type t) {
    return ((int)t >= 0 && t < AS_LAYER_NTYPES) ? k_ops[t] : NULL;
}

int as_layer_type_from_name(const char *s) {
    for (int t = 0; t < AS_LAYER_NTYPES; t++)
        if (k_ops[t] && !strcmp(k_ops[t]->name, s)) return t;
    return -1;
}

size_t as_tensor_count(const as_tensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= (size_t)t->dims[i];
    return n;
}

int as_layer_tensors(const as_layer *L, as_tensor *t, size_t *n_params, size_t *n_buffers) {
    as_tensor local[AS_MAX_TENSORS];
    if (!t) t = local;
    const as_layer_ops *ops = as_layer_ops_of(L->spec.type);
    int n = ops && ops->tensors ? ops->tensors(L, t) : 0;
    size_t off[2] = {0, 0};
    for (int k = 0; k < n; k++) {
        int b = t[k].buffer != 0;
        t[k].off = off[b];
        off[b] += as_tensor_count(&t[k]);
    }
    if (n_params) *n_params = off[0];
    if (n_buffers) *n_buffers = off[1];
    return n;
}

void as_layer_pass_grad_op(const as_layer *L, const as_layer_io *io) {
    if (!io->din) return;
    const size_t n = (size_t)io->B * (size_t)L->in_t * (size_t)L->in_c;
    for (size_t k = 0; k < n; k++) io->din[k] += io->dout[k];
}
