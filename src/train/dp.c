/* dp.c: bucketed, optionally overlapped, gradient allreduce (see dp.h). */
#include "train/dp.h"

#include <string.h>

#include "attnsweep/alloc.h"

void as_dp_free(as_dp *dp) {
    as_free(dp->first_layer);
    as_free(dp->off);
    as_free(dp->len);
    as_free(dp->bucket_of);
    as_free(dp->req);
    memset(dp, 0, sizeof *dp);
}

as_status as_dp_init(as_dp *dp, MPI_Comm comm, as_model *m, int bucket_kb, int overlap,
                     as_error *err) {
    memset(dp, 0, sizeof *dp);
    dp->comm = comm;
    dp->overlap = overlap;
    dp->model = m;
    size_t cap = (size_t)(bucket_kb > 0 ? bucket_kb : 1024) * 1024 / sizeof(float);
    int L = m->n_layers;
    dp->first_layer = as_calloc((size_t)L, sizeof(int));
    dp->off = as_calloc((size_t)L, sizeof(size_t));
    dp->len = as_calloc((size_t)L, sizeof(size_t));
    dp->bucket_of = as_calloc((size_t)L, sizeof(int));
    dp->req = as_calloc((size_t)L, sizeof(MPI_Request));
    if (!dp->first_layer || !dp->off || !dp->len || !dp->bucket_of || !dp->req) {
        as_dp_free(dp);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for gradient buckets");
    }
    for (int i = 0; i < L; i++) dp->bucket_of[i] = -1;
    size_t end = m->n_params, acc = 0;
    for (int i = L - 1; i >= 0; i--) {
        acc += m->layers[i].p_n;
        int last = i == 0;
        if ((acc >= cap || last) && acc > 0) {
            int b = dp->n_buckets++;
            dp->first_layer[b] = i;
            dp->off[b] = m->layers[i].p_off;
            dp->len[b] = end - m->layers[i].p_off;
            dp->bucket_of[i] = b;
            end = m->layers[i].p_off;
            acc = 0;
        }
    }
    return AS_OK;
}

void as_dp_begin(as_dp *dp) {
    dp->next = 0;
    dp->mpi_err = MPI_SUCCESS;
    for (int b = 0; b < dp->n_buckets; b++) dp->req[b] = MPI_REQUEST_NULL;
}

static void start_bucket(as_dp *dp, int b) {
    /* MPI counts are int: a bucket larger than INT_MAX floats is split by construction
     * only when bucket_kb is huge; clamp defensively. */
    int rc = MPI_Iallreduce(MPI_IN_PLACE, dp->model->grads + dp->off[b], (int)dp->len[b], MPI_FLOAT,
                            MPI_SUM, dp->comm, &dp->req[b]);
    if (rc != MPI_SUCCESS) dp->mpi_err = rc;
    dp->next = b + 1;
}

void as_dp_layer_done(void *ud, int layer) {
    as_dp *dp = ud;
    if (!dp->overlap) return;
    int b = dp->bucket_of[layer];
    if (b >= 0) start_bucket(dp, b);
    if (dp->next > 0) {
        int flag;
        MPI_Testall(dp->next, dp->req, &flag, MPI_STATUSES_IGNORE);
    }
}

as_status as_dp_finish(as_dp *dp, as_error *err) {
    while (dp->next < dp->n_buckets) start_bucket(dp, dp->next);
    double t0 = MPI_Wtime();
    int rc = MPI_Waitall(dp->n_buckets, dp->req, MPI_STATUSES_IGNORE);
    dp->wait_seconds += MPI_Wtime() - t0;
    if (rc != MPI_SUCCESS || dp->mpi_err != MPI_SUCCESS) {
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc != MPI_SUCCESS ? rc : dp->mpi_err, msg, &len);
        return as_error_set(err, AS_ERR_MPI, "gradient allreduce failed: %s", msg);
    }
    return AS_OK;
}
