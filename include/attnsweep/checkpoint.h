/* checkpoint.h: a training run's full state in one HDF5 file, to stop and resume `train`
 * exactly (Slurm time limits, preemption, requeue).
 *
 * Layout: root attributes format = "attnsweep-checkpoint", spec_sha256 (of the spec
 * file's text), seed (decimal string), epoch, step; /weights (the weights layout of
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

/* Writes the checkpoint atomically (temporary file renamed into place). */
as_status as_checkpoint_save(const char *path, const as_model *m, const as_fit_state *st,
                             const as_history *h, const char *spec_sha256, uint64_t seed,
                             as_error *err);

/* Reads a checkpoint into m's parameters, *st (perm, m, v allocated: free with
 * as_checkpoint_state_free) and *h (curves of the completed epochs). A checkpoint of
 * another spec file or seed, or one that does not fit the model, is AS_ERR_DATA naming
 * the file; m is unchanged on error. */
as_status as_checkpoint_load(const char *path, as_model *m, as_fit_state *st, as_history *h,
                             const char *spec_sha256, uint64_t seed, as_error *err);
void as_checkpoint_state_free(as_fit_state *st);

#endif
