/* model.h: a built model -- the layer list, one parameter buffer, activations.
 *
 * Every layer type is described by one ops table (layer_ops.h); this module only walks it.
 *
 * Memory (llm.c style): all parameters live in ONE contiguous float buffer `params`, each
 * layer's slice contiguous at layers[i].p_off (p_n floats) in Keras's weight order
 * (kernel before bias; attention: q, k, v, output). `grads` has the same layout, so an
 * optimizer is one loop and a gradient allreduce one call. Activations, their
 * gradients, saved state and scratch are sized once at build for max_batch; nothing
 * is allocated after as_model_build.
 *
 * Shapes: a layer's input and output are rank 3 (B, t, c) or rank 2 (B, c) (t = 1).
 */
#ifndef ATTNSWEEP_MODEL_H
#define ATTNSWEEP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "attnsweep/rng.h"
#include "attnsweep/spec.h"
#include "attnsweep/status.h"

typedef struct {
    as_layer_spec spec;
    int in_rank, in_t, in_c;
    int out_rank, out_t, out_c;
    size_t p_off, p_n;  /* parameter slice */
    size_t b_off, b_n;  /* non-trainable buffer slice (moving statistics) */
    size_t a_off;       /* output activation (max_batch * out_t * out_c floats) in acts/dacts */
    size_t s_off, s_n;  /* saved state for backward, per model (sized for max_batch) */
} as_layer;

/* Sums n doubles in place over the data-parallel ranks; returns 0 on success. */
typedef int (*as_model_reduce_fn)(void *ud, double *buf, int n);

/* Called by as_model_backward after layer i's parameter gradients are final (layers
 * finish from last to first): the hook for overlapping a gradient allreduce. */
typedef void (*as_layer_done_fn)(void *ud, int layer);

typedef struct {
    int n_layers;
    as_layer *layers;
    int max_batch;
    int in_t, in_c;
    size_t n_params;
    float *params;
    float *grads;
    /* Non-trainable weights (layer_ops.h: tensors with `buffer` set, e.g. moving
     * statistics): in weights files and checkpoints, never in the optimizer. */
    size_t n_buffers;
    float *buffers;
    size_t n_acts;
    float *acts;
    float *dacts;
    size_t n_state;
    float *state;
    size_t n_scratch;
    float *scratch;
    size_t n_dscratch;
    double *dscratch;
    /* Synchronised statistics (batch_normalization in training): when data parallel, the
     * trainer sets reduce (NULL: this process only). A failed reduction sets
     * reduce_failed, which the trainer checks after each step. */
    as_model_reduce_fn reduce;
    void *reduce_ud;
    int reduce_failed;
    /* Dropout masks (layers.h, as_drop_key): a training forward draws layer i's masks
     * from {dropout_seed, step, i, row0}. dropout_seed is set by as_model_init; the
     * trainer sets step (the optimizer step, counted across epochs) and row0 (global
     * index, within the global batch, of this forward's first row: the rank's shard
     * offset under data parallelism) before each training forward. Both start at 0. */
    uint64_t dropout_seed;
    uint64_t step;
    long row0;
    int last_batch; /* batch size of the last forward pass */
    int borrowed;   /* a workspace (as_model_workspace): params and buffers are another's */
} as_model;

/* Builds the model for inputs of shape (in_t, in_c) and batches up to max_batch.
 * Shape errors (a residual with filters != channels, a valid conv longer than the
 * series, ...) are AS_ERR_SPEC naming the layer: "model[2] (residual_conv1d): ...".
 * origin prefixes messages (the spec file). On error *m is left empty. */
as_status as_model_build(as_model *m, const as_spec *spec, int in_t, int in_c, int max_batch,
                         const char *origin, as_error *err);
/* as_model_build in two steps. as_model_plan computes every shape, offset and size and
 * allocates only the layer list (no buffer: a plan is enough for as_model_check_output,
 * as_model_macs_per_sample and as_model_bytes); every per-layer size must fit an int
 * (AS_ERR_SPEC naming the layer otherwise). as_model_alloc then checks as_model_bytes
 * against the memory budget (memory.h: AS_ERR_SPEC "ORIGIN: the model (batch B) needs
 * X GiB, Y GiB available", nothing allocated) and allocates the buffers. Both leave *m
 * empty on error. */
as_status as_model_plan(as_model *m, const as_spec *spec, int in_t, int in_c, int max_batch,
                        const char *origin, as_error *err);
as_status as_model_alloc(as_model *m, const char *origin, as_error *err);
/* Bytes of the model's buffers: parameters and gradients, non-trainable buffers,
 * activations and their gradients, saved state, scratch (SIZE_MAX when the sum
 * overflows). */
size_t as_model_bytes(const as_model *m);
/* Frees what m owns (a workspace's borrowed params and buffers stay with their owner). */
void as_model_free(as_model *m);

/* A workspace twin of src for batches up to max_batch (<= src->max_batch): the same
 * layers and offsets, its own gradients, activations, saved state and scratch, and
 * src's parameters and non-trainable buffers BORROWED (w->params == src->params), so a
 * forward/backward on w reads the live weights and accumulates into w->grads only. For
 * splitting one batch over threads (fit.c). src must outlive w; free w with
 * as_model_free. Errors as as_model_alloc (the budget names origin); on error *w is
 * empty. */
as_status as_model_workspace(as_model *w, const as_model *src, int max_batch, const char *origin,
                             as_error *err);
/* Bytes such a workspace allocates (its borrowed weights not counted; SIZE_MAX when it
 * cannot be planned). */
size_t as_model_workspace_bytes(const as_model *src, int max_batch);

/* Checks the model's output against the targets: regression (yt, yc) must equal the
 * last layer's (t, c) at rank 3; classification needs a rank-2 output of n_classes. */
as_status as_model_check_output(const as_model *m, int classification, int yt, int yc,
                                int n_classes, const char *origin, as_error *err);

/* Keras initialisation: each tensor as its ops table says (glorot_uniform kernels, zero
 * biases, normalisation gamma 1; buffers too, e.g. moving variance 1). Draws from as_rng seeded with as_rng_derive(seed, AS_STREAM_INIT), layer by layer in
 * parameter order. Also sets dropout_seed = as_rng_derive(seed, AS_STREAM_DROPOUT) and
 * resets step and row0 to 0. */
void as_model_init(as_model *m, uint64_t seed);

/* Forward pass over B <= max_batch rows (B = 0: only the collective layers run) of x (B, in_t, in_c). Returns the output
 * (B, out_t, out_c) inside the model (valid until the next forward). training != 0
 * applies dropout with masks keyed by (dropout_seed, step, layer index, row0 + row). */
const float *as_model_forward(as_model *m, const float *x, int B, int training);

/* The gradient of the loss w.r.t. the output: the caller (the loss) writes it here
 * after a forward pass, then calls as_model_backward. */
float *as_model_dout(as_model *m);

/* Backward pass for the last forward's batch: ACCUMULATES into grads (zero them first
 * with as_model_zero_grad). done (may be NULL) is called after each layer. */
void as_model_backward(as_model *m, const float *x, as_layer_done_fn done, void *ud);
void as_model_zero_grad(as_model *m);

/* Sums buf over the ranks through m->reduce (nothing without one). */
void as_model_reduce(as_model *m, double *buf, int n);
/* Whether a training forward/backward exchanges statistics between ranks: then every
 * data-parallel rank must run them, with 0 rows if its shard is empty. */
int as_model_collective(const as_model *m);

/* Forward multiply-adds per sample (for GFLOP/s and scheduling estimates). */
double as_model_macs_per_sample(const as_model *m);

/* Whether layer i is self_attention; then *H and *T (either may be NULL) receive its heads
 * and length. */
int as_model_attention_shape(const as_model *m, int layer, int *H, int *T);
/* The attention probabilities (nb, H, T, T) of samples [b0, b0 + nb) of the last forward
 * of self_attention layer i, recomputed into out (the kernel keeps no T x T arrays). */
void as_model_attention_probs(const as_model *m, int layer, int b0, int nb, float *out);

/* Output size per sample (out_t * out_c of the last layer). */
size_t as_model_out_size(const as_model *m);

#endif
