/* fit_split.h (internal to src/train): batch buffers and train.batch_split.
 *
 * A batch buffer holds gathered rows of a split: x (rows, t, c), y (rows, yt, yc) for
 * regression or labels (rows) for classification.
 *
 * train.batch_split = n > 1: the rank's rows of each batch are split into n contiguous
 * parts (part r: rows [k*r/n, k*(r+1)/n)), part r runs forward (and backward) in its own
 * workspace (model.h as_model_workspace; part 0 is the model itself) on the pool's
 * threads -- one after the other with one thread: the same arithmetic -- and the parts'
 * gradients, losses and correct counts are added in part order: the arithmetic of n
 * data-parallel ranks of one thread each, whatever the number of threads. BLAS runs one
 * thread for the whole fit then (every product is inside a part). */
#ifndef ATTNSWEEP_TRAIN_FIT_SPLIT_H
#define ATTNSWEEP_TRAIN_FIT_SPLIT_H

#include <stdint.h>

#include "attnsweep/dataset.h"
#include "attnsweep/model.h"
#include "attnsweep/status.h"

typedef struct {
    float *x, *y;
    int *labels;
} as_batch;

/* Rows [a, ...) of b as a batch of its own (pointers into b). */
as_batch as_batch_view(const as_batch *b, const as_split *s, int a);
/* Loss of the last forward (out) on b's n rows: returns the summed per-sample loss,
 * writes the output gradient scaled by `scale` when grad is set, counts argmax hits. */
double as_batch_loss(as_model *m, const float *out, const as_batch *b, int n, float scale,
                     int grad, long *correct);

typedef struct {
    int n;        /* parts (1: off) */
    as_model *w;  /* n - 1 workspaces for parts 1..n-1 */
    double *part; /* per part: loss sum, correct count, rows */
    int blas_was; /* BLAS threads before the split (restored by as_parts_free); 0: off */
} as_parts;

/* n parts for batches of up to max_batch rows of m (training shards and evaluation
 * batches alike): n - 1 workspaces of ceil(max_batch / n) rows, BLAS set to one thread.
 * n < 2 (or more parts than rows) leaves it off (p->n = 1). A model with collective
 * batch statistics (batch_normalization) and n > 1 is AS_ERR_SPEC naming
 * train.batch_split; out of memory or over the budget AS_ERR_NOMEM / AS_ERR_SPEC. On
 * error p is off and owns nothing. */
as_status as_parts_init(as_parts *p, as_model *m, int n, as_error *err);
/* Frees the workspaces and restores BLAS's thread count. Safe on an off or zeroed p. */
void as_parts_free(as_parts *p);

/* Training step over the k gathered rows of b (global rows lo.. of a batch of bsz):
 * forward, loss scaled by 1 / bsz and backward per part; m->grads (zeroed by the
 * caller) receives the sum, local[0..1] the loss sum and correct count. The parts'
 * dropout masks use m's seed and `step` and their global rows. */
void as_parts_train(as_parts *p, as_model *m, const as_batch *b, const as_split *s, int k, int lo,
                    int bsz, uint64_t step, double *local);
/* Evaluation of the k gathered rows of b: adds the loss sum and correct count to
 * sums[0..1] (part order). */
void as_parts_eval(as_parts *p, as_model *m, const as_batch *b, const as_split *s, int k,
                   double *sums);

#endif
