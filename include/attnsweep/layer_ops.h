/* layer_ops.h: one ops table per layer type -- the single description of a layer.
 *
 * Every layer type has one `as_layer_ops` (in src/model/layer_<type>.c) and one entry in
 * the table of src/model/layer_table.c. The model builder (shapes, buffer sizes,
 * initialisation, forward, backward, multiply-adds), the optimizer layout (the
 * parameter slices), weights I/O (tensor names and Keras shapes) and the names in specs,
 * messages and reports all read it; nothing else switches on the layer type. Adding a
 * layer type is: the enum value in spec.h, its keys in spec.c's key table, one file
 * defining its ops, one entry in the table.
 *
 * Tensors. A layer's weights are a list of named tensors in Keras's order and shapes
 * (`tensors`). Trainable tensors are laid out one after another in the layer's slice of
 * the model's parameter buffer (params, grads and the optimizer moments share it);
 * non-trainable ones (`buffer` set: e.g. batch normalisation's moving statistics) in its
 * slice of the model's buffer array, which the optimizer never sees but weights files and
 * checkpoints hold like any weight. `init` says how as_model_init fills each tensor.
 */
#ifndef ATTNSWEEP_LAYER_OPS_H
#define ATTNSWEEP_LAYER_OPS_H

#include <stddef.h>

#include "attnsweep/layers.h"
#include "attnsweep/model.h"
#include "attnsweep/status.h"

typedef enum { AS_INIT_ZEROS = 0, AS_INIT_ONES, AS_INIT_GLOROT_UNIFORM } as_init;

#define AS_MAX_TENSORS 8

/* One named weight tensor of a layer. */
typedef struct {
    const char *name; /* Keras's weight name ("kernel", "query_bias", "moving_mean", ...) */
    int rank;         /* 1..3 */
    int dims[3];      /* Keras shape (dims[rank..2] unused) */
    as_init init;
    int buffer;       /* 1: non-trainable, lives in the model's buffers, not its params */
    size_t off;       /* offset inside the layer's params (or buffers) slice: set by as_layer_tensors */
} as_tensor;

/* Sizes a layer needs besides its tensors (floats, for batch max_batch). */
typedef struct {
    size_t state;   /* saved for backward, per layer */
    size_t scratch; /* shared by all layers (the model keeps the largest) */
    size_t dscratch; /* doubles, shared likewise (statistics sums) */
} as_layer_sizes;

/* Everything a forward or backward call sees, bound by the model for layer i. */
typedef struct {
    int B, max_batch, training;
    const float *in;   /* (B, in_t, in_c) */
    float *out;        /* (B, out_t, out_c): written by forward, read by backward */
    float *din;        /* backward: input gradient, accumulated; NULL for the first layer */
    float *dout;       /* backward: output gradient (layers may overwrite it) */
    const float *p;    /* the layer's trainable parameters */
    float *g;          /* their gradients (accumulated) */
    float *buf;        /* the layer's non-trainable buffers (forward may update them) */
    float *st;         /* the layer's saved state */
    float *scratch;    /* shared scratch */
    double *dscratch;  /* shared double scratch */
    as_drop_key key;   /* dropout masks */
    as_model *m;       /* the model (for collective statistics: as_model_allreduce) */
} as_layer_io;

typedef struct {
    const char *name; /* the spec's "type" and every label */
    int needs_rank3;  /* input must be (batch, time, channels) */
    /* forward and backward exchange batch statistics with the other data-parallel ranks
     * (as_model_allreduce): every rank must call them, also with B = 0 rows */
    int collective;
    /* Sets L's output rank/shape and *sz. `where` is "FILE: model[i] (type)" for messages;
     * AS_ERR_SPEC when the layer does not fit its input. NULL: the shape is kept. */
    as_status (*shape)(as_layer *L, int B, as_layer_sizes *sz, const char *where, as_error *err);
    /* Writes the layer's tensors (name, rank, dims, init, buffer) to t; returns how many
     * (<= AS_MAX_TENSORS). NULL: none. */
    int (*tensors)(const as_layer *L, as_tensor *t);
    void (*forward)(const as_layer *L, const as_layer_io *io);
    void (*backward)(const as_layer *L, const as_layer_io *io);
    /* forward multiply-adds per sample; NULL: 0 */
    double (*macs)(const as_layer *L);
} as_layer_ops;

/* The ops of type t (never NULL for a valid type; NULL otherwise). */
const as_layer_ops *as_layer_ops_of(as_layer_type t);
/* The type named s, or -1. */
int as_layer_type_from_name(const char *s);

/* L's tensors with their offsets filled in (trainable and buffers counted separately);
 * *n_params / *n_buffers (may be NULL) receive the slice sizes. Returns the count. */
int as_layer_tensors(const as_layer *L, as_tensor *t, size_t *n_params, size_t *n_buffers);

/* The shared pieces of the layer files. */
size_t as_tensor_count(const as_tensor *t); /* elements of one tensor */
/* A backward that passes the gradient through: din += dout (nothing when din is NULL). */
void as_layer_pass_grad_op(const as_layer *L, const as_layer_io *io);

#endif
