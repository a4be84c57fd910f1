/* layer_internal.h: the ops tables of the layer files, for layer_table.c, and the few
 * layer-specific helpers model.c needs (not part of the public API). */
#ifndef AS_MODEL_LAYER_INTERNAL_H
#define AS_MODEL_LAYER_INTERNAL_H

#include "attnsweep/layer_ops.h"

extern const as_layer_ops as_layer_conv1d_ops;
extern const as_layer_ops as_layer_residual_conv1d_ops;
extern const as_layer_ops as_layer_self_attention_ops;
extern const as_layer_ops as_layer_dense_ops;
extern const as_layer_ops as_layer_global_avg_pool1d_ops;
extern const as_layer_ops as_layer_flatten_ops;
extern const as_layer_ops as_layer_dropout_ops;
extern const as_layer_ops as_layer_layer_norm_ops;
extern const as_layer_ops as_layer_activation_ops;
extern const as_layer_ops as_layer_batch_norm_ops;

/* The attention kernel's dimensions for layer L (a self_attention) and batch B. */
as_attn_dims as_layer_attn_dims(const as_layer *L, int B);

#endif
