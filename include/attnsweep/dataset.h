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

/* Copies rows [start, start+count) of src into dst's buffers (pre-sized) -- helpers
 * for batching: x rows are t*c floats, y rows yt*yc floats. */
size_t as_split_x_row(const as_split *s);
size_t as_split_y_row(const as_split *s);

#endif
