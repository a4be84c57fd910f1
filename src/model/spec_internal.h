/* spec_internal.h (private): the spec's value readers, shared by the key tables of
 * spec.c and of the train callbacks (src/train/train_spec.c). Each returns AS_ERR_SPEC
 * with a message naming origin and path. */
#ifndef AS_MODEL_SPEC_INTERNAL_H
#define AS_MODEL_SPEC_INTERNAL_H

#include <cjson/cJSON.h>

#include "attnsweep/spec.h"

/* A number in [lo, hi] (hi exclusive when hi_open, lo exclusive when lo_open). */
as_status as_spec_read_number(const cJSON *v, int integer, double lo, double hi, int lo_open,
                              int hi_open, const char *origin, const char *path, double *out,
                              as_error *err);
/* One of names[0..n) (n < 0: NULL-terminated). */
as_status as_spec_read_enum(const cJSON *v, const char *const *names, int n, const char *origin,
                            const char *path, int *out, as_error *err);
/* An object key given twice. */
as_status as_spec_check_duplicate(const cJSON *it, const char *origin, const char *path,
                                  as_error *err);

/* The train keys of src/train/train_spec.c: early_stopping, reduce_lr_on_plateau,
 * lr_schedule, validation, keep. as_train_spec_has_key says whether `key` is one;
 * as_train_spec_parse_key reads it into t; as_train_spec_check runs the checks that
 * involve several keys once the whole train object is read (given = the cJSON train
 * object). */
int as_train_spec_has_key(const char *key);
as_status as_train_spec_parse_key(const cJSON *it, const char *origin, as_train_spec *t,
                                  as_error *err);
as_status as_train_spec_check(const cJSON *train, const char *origin, as_train_spec *t,
                              as_error *err);
/* Keras defaults of the callback structs (not enabled). */
void as_train_spec_defaults(as_train_spec *t);

#endif
