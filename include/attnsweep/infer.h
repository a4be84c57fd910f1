/* infer.h: a trained model applied to a dataset (`attnsweep predict`, `evaluate`), like
 * Keras's model.predict / model.evaluate.
 *
 * The model is the spec's, built for the dataset's series with batch train.batch_size
 * (the batches training used, so the results equal the training run's own evaluations
 * bit for bit), its parameters read from a weights file (weights.h layout; shapes must
 * match, AS_ERR_DATA naming the file and the tensor otherwise).
 *
 * Splits: "train" (the rows the spec trains on), "validation" (the rows its validation
 * split holds out: train.validation_split / train.validation, as_fit_split), "test"
 * (all of /test). */
#ifndef ATTNSWEEP_INFER_H
#define ATTNSWEEP_INFER_H

#include "attnsweep/dataset.h"
#include "attnsweep/model.h"
#include "attnsweep/spec.h"
#include "attnsweep/status.h"

typedef enum { AS_INFER_TRAIN = 0, AS_INFER_VALIDATION, AS_INFER_TEST } as_infer_split;
const char *as_infer_split_name(as_infer_split s); /* "train", "validation", "test" */

/* Builds spec's model for d (checking its output against d's targets) and loads weights
 * into it. On error m is empty. */
as_status as_infer_load(as_model *m, const as_spec *spec, const as_dataset *d, const char *weights,
                        as_error *err);

/* The rows of split (as_malloc'd *rows, *n entries, row indices of *s). AS_ERR_ARG
 * naming the split when d has none (no /test, no validation split). */
as_status as_infer_rows(const as_dataset *d, const as_train_spec *t, as_infer_split split,
                        const as_split **s, int **rows, int *n, as_error *err);

#endif
