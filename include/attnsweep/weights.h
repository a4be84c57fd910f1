/* weights.h: model weights in HDF5, in Keras's shapes.
 *
 * /weights/layer_<i> is a group for every layer i of the model (attribute `type`, the
 * layer type name); layers with parameters hold: conv1d and residual_conv1d `kernel`
 * [k, C_in, filters], `bias` [filters]; dense `kernel` [C_in, units], `bias` [units];
 * self_attention `query_kernel` [C, heads, key_dim], `query_bias` [heads, key_dim],
 * `key_kernel`, `key_bias`, `value_kernel` [C, heads, value_dim], `value_bias`
 * [heads, value_dim], `output_kernel` [heads, value_dim, out], `output_bias` [out];
 * layer_norm `gamma`, `beta` [C]. The names and shapes come from each layer type's ops
 * table (layer_ops.h); non-trainable tensors (moving statistics) are stored like the rest.
 */
#ifndef ATTNSWEEP_WEIGHTS_H
#define ATTNSWEEP_WEIGHTS_H

#include <hdf5.h>

#include "attnsweep/model.h"
#include "attnsweep/status.h"

/* Writes m's weights under `group` (e.g. "/weights") of an open file. */
as_status as_weights_write_group(hid_t file, const char *group, const as_model *m,
                                 as_error *err);
/* Writes a weights file atomically (temporary file, then rename). */
as_status as_weights_save(const char *path, const as_model *m, as_error *err);
/* The same with, when refit_epochs > 0, the attribute refit_epochs on /weights: the model
 * was refit on every training row, validation rows included (train.refit). */
as_status as_weights_save_refit(const char *path, const as_model *m, int refit_epochs,
                                as_error *err);
/* refit_epochs recorded on `group` of an open file (0: none, or not recorded). */
int as_weights_refit_epochs(hid_t file, const char *group);
/* Reads weights into m's parameters and buffers. AS_ERR_DATA naming the file and the path
 * for: a missing layer or dataset, a shape mismatch (both shapes), a NaN or infinite
 * value, a negative moving_variance, a layer group without the model's `type`
 * attribute, a group, dataset or link the model does not have. m is unchanged on error. */
as_status as_weights_load(const char *path, as_model *m, as_error *err);
/* The trainable tensors only, from any group of the file (e.g. "/variants/v0001_r0/weights")
 * into dst, a buffer of m->n_params floats in the parameter layout; dst is unchanged on
 * error. */
as_status as_weights_load_group(const char *path, const char *group, const as_model *m,
                                float *dst, as_error *err);

#endif
