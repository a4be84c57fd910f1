/* checkpoint.h: a training run's full state in one HDF5 file, to stop and resume `train`
 * exactly (Slurm time limits, preemption, requeue).
 *
 * Layout: root attributes format = "attnsweep-checkpoint", spec_sha256 (of the spec
 * file's text), seed (decimal string), epoch, step, data_sha256 (of the dataset file's
 * bytes; absent in checkpoints written before it was recorded); /weights (the weights layout of
 * weights.h); /optimizer/m and /optimizer/v float32 [n_params] (v only for Adam);
 * /optimizer/ema float32 [n_params] (the weight average, only with use_ema) and
 * /optimizer/ema_buffers float32 [n_buffers] (the buffers' average, with ema_buffers);
 * /shuffle uint64 [4] (the shuffle stream's xoshiro256** state); /perm int32 [n_train]
 * (the training order); /history (the curves so far, as as_history_write).
 */
#ifndef ATTNSWEEP_CHECKPOINT_H
#define ATTNSWEEP_CHECKPOINT_H

#include <stdint.h>

#include "attnsweep/model.h"
#include "attnsweep/status.h"
#include "attnsweep/train.h"

/* Writes the checkpoint atomically (temporary file renamed into place); data_sha256 (the
 * dataset's SHA-256 in hex; NULL: not recorded) lets a resume refuse other data. */
as_status as_checkpoint_save(const char *path, const as_model *m, const as_fit_state *st,
                             const as_history *h, const char *spec_sha256, uint64_t seed,
                             const char *data_sha256, as_error *err);

/* Checks that the checkpoint at path was written on the dataset data_path whose SHA-256
 * is data_sha256: AS_ERR_DATA naming the checkpoint and the dataset with both hashes
 * (shortened) when it records another; *unrecorded = 1 (AS_OK) for a checkpoint of the
 * older format, which records none. AS_ERR_DATA when path is not readable. */
as_status as_checkpoint_check_data(const char *path, const char *data_path, const char *data_sha256,
                                   int *unrecorded, as_error *err);

/* Reads a checkpoint into m's parameters, *st (perm, m, v allocated: free with
 * as_checkpoint_state_free) and *h (curves of the completed epochs). A checkpoint of
 * another spec file or seed, or one that does not fit the model, is AS_ERR_DATA naming
 * the file; m is unchanged on error. */
as_status as_checkpoint_load(const char *path, as_model *m, as_fit_state *st, as_history *h,
                             const char *spec_sha256, uint64_t seed, as_error *err);
void as_checkpoint_state_free(as_fit_state *st);

#endif
