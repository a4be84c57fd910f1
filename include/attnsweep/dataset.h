/* dataset.h: the HDF5 dataset layout and the one loader every command uses.
 *
 * Layout (one file):
 *   /train/x  float32 [N, T, C]
 *   /train/y  float32 [N, T', C'] (regression) or int32 [N] with values 0..K-1
 *             (classification)
 *   /test/x, /test/y   optional, same shapes but N
 *   root attributes: task = "regression" | "classification" (string),
 *                    n_classes (int, classification), optional generator attributes.
 *
 * as_dataset_load opens the file read-only (every MPI rank may do so at once), reads
 * everything and validates it; any fault is AS_ERR_DATA with a message naming the file
 * and the HDF5 dataset ("data/toy.h5: /train/y: 12 rows but /train/x has 10").
 */
#ifndef ATTNSWEEP_DATASET_H
#define ATTNSWEEP_DATASET_H

#include <stdint.h>
#include <stdio.h>

#include "attnsweep/status.h"

typedef enum { AS_TASK_REGRESSION = 0, AS_TASK_CLASSIFICATION } as_task;

typedef struct {
    int n, t, c;  /* x is [n, t, c] */
    float *x;
    int yt, yc;   /* regression: y is [n, yt, yc]; classification: 0, 0 */
    float *y;     /* regression targets, or NULL */
    int *labels;  /* classification labels [n], or NULL */
} as_split;

typedef struct {
    char *path;
    as_task task;
    int n_classes; /* classification only */
    as_split train;
    as_split test;
    int has_test;
} as_dataset;

/* Loads and validates. On error *out is left empty (nothing to free). */
as_status as_dataset_load(const char *path, as_dataset *out, as_error *err);
void as_dataset_free(as_dataset *d);

/* Writes d to path atomically (a temporary file renamed into place), with extra
 * root attributes given as parallel arrays of names and string values (n_attrs may be 0).
 * On error nothing is left at path. */
as_status as_dataset_write(const char *path, const as_dataset *d, int n_attrs,
                           const char *const *attr_names, const char *const *attr_values,
                           as_error *err);

/* Row sizes, helpers for batching: x rows are t*c floats; y rows are yt*yc floats
 * (regression) or 1 label (classification). */
size_t as_split_x_row(const as_split *s);
size_t as_split_y_row(const as_split *s);

/* Writes d's splits (/train, and /test when has_test) and the root attributes task
 * and n_classes (classification) into an open, writable HDF5 file or group (an hid_t;
 * for example an as_h5_writer's file, see h5util.h), so callers can add their own
 * attributes before committing. */
as_status as_dataset_write_h5(int64_t file, const as_dataset *d, as_error *err);

/* The check the model builder calls: every split's series must be at least min_t
 * steps long. `who` says what needs them (e.g. "conv1d layer 2, valid padding").
 * Error: AS_ERR_DATA "PATH: /train/x: series length 5 is shorter than the 9 steps
 * needed by WHO". */
as_status as_dataset_check_length(const as_dataset *d, int min_t, const char *who,
                                  as_error *err);

/* `attnsweep data info`: prints to out, in a few lines, the task, shapes, class counts
 * (classification) or value ranges (regression), NaN/Inf counts and root attributes.
 * Lenient: it reads whatever /train and /test hold even when the strict loader would
 * reject the file, prints that, then runs as_dataset_load and returns its status (so
 * an invalid file is described AND reported). Unreadable file: AS_ERR_DATA. */
as_status as_dataset_info(const char *path, FILE *out, as_error *err);

#endif
