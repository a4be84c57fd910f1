/* dp.h (private): bucketed gradient allreduce for data-parallel training.
 *
 * Buckets are contiguous ranges of the gradient buffer aligned to layer boundaries,
 * formed from the last layer backwards (the order backward finishes them) until each
 * holds at least bucket_kb KiB. With overlap, a bucket's MPI_Iallreduce starts as soon
 * as backward has finished its lowest layer, and pending requests are progressed with
 * MPI_Testall after every layer; without overlap all buckets start after backward.
 * Both modes run the same operations, so they give identical sums. */
#ifndef AS_TRAIN_DP_H
#define AS_TRAIN_DP_H

#include <mpi.h>

#include "attnsweep/model.h"
#include "attnsweep/status.h"

typedef struct {
    MPI_Comm comm;
    int overlap;
    as_model *model;
    int n_buckets;
    int *first_layer;  /* per bucket: its lowest layer */
    size_t *off, *len; /* per bucket: range in grads */
    int *bucket_of;    /* per layer: the bucket whose lowest layer it is, or -1 */
    MPI_Request *req;
    int next;          /* buckets started so far (they start in index order) */
    int mpi_err;
    double wait_seconds;
} as_dp;

as_status as_dp_init(as_dp *dp, MPI_Comm comm, as_model *m, int bucket_kb, int overlap,
                     as_error *err);
void as_dp_free(as_dp *dp);
/* Called before backward. */
void as_dp_begin(as_dp *dp);
/* as_layer_done_fn for as_model_backward (ud = the as_dp). */
void as_dp_layer_done(void *ud, int layer);
/* Starts what is left and waits for every bucket. AS_ERR_MPI on failure. */
as_status as_dp_finish(as_dp *dp, as_error *err);

#endif
