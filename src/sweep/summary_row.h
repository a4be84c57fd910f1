/* summary_row.h (private): one row of /summary as it is laid out in memory. */
#ifndef AS_SWEEP_SUMMARY_ROW_H
#define AS_SWEEP_SUMMARY_ROW_H

#include <hdf5.h>
#include <stdint.h>

#include "attnsweep/status.h"

#define AS_SUMMARY_NAME_MAX 128
#define AS_SUMMARY_STATUS_MAX 16

typedef struct {
    int32_t id, repeat;
    char name[AS_SUMMARY_NAME_MAX];
    char status[AS_SUMMARY_STATUS_MAX];
    int64_t n_params; /* the model's parameter count (field "params" in older files) */
    int32_t epochs_run, best_epoch;
    double best_val_loss, final_val_loss, best_val_accuracy, train_seconds;
    int32_t rank;
    /* protocol (issue 13): the kept model on /test (NaN without one), early stopping */
    double test_loss, test_accuracy;
    int32_t stopped_epoch, kept_epoch;
} as_summary_row;

/* The HDF5 compound type of a row (caller closes it). */
hid_t as_summary_type(void);
/* Reads /summary of an open results file into an as_malloc'd array. */
/* Writes /summary (replacing it) with n rows. AS_ERR_IO. */
as_status as_summary_write(hid_t f, const as_summary_row *rows, size_t n, as_error *err);
as_status as_summary_read(hid_t f, as_summary_row **rows, size_t *n, as_error *err);

#endif
