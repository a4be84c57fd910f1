/* ucr.h: import of UCR/UEA-style text files into the dataset layout.
 *
 * Layouts (detected per file from its first non-blank line):
 *   - UCR 2018: tab-separated, class label first ("1\t0.54\t0.65...");
 *   - older UCR: comma-separated ("1,0.54,0.65") or whitespace-separated
 *     ("  1.0000000e+00  5.4407042e-01 ..."), CRLF or LF line ends.
 * Values are any C float notation (strtod); labels are integers, possibly written as
 * floats with an integral value ("1.0000000e+00"). Blank lines are skipped. Errors
 * (AS_ERR_DATA, message "FILE:LINE: ..." naming the field): a missing file, an empty
 * file, rows of different lengths (also between the train and test files), missing
 * values (NaN or an empty field), non-numeric tokens, values out of float range, a
 * label that is not an integer.
 *
 * Labels (the union of both files) are mapped to 0..K-1 in sorted order; the original
 * labels are returned in class_labels (kept by as_ucr_write as the root attribute
 * class_labels). With merge_shuffle, all rows (train then test) are merged and shuffled
 * with the project RNG: as_rng_seed(&r, seed) then as_rng_shuffle_int over the row
 * indices 0..N-1 (Fisher-Yates from the last element, see rng.h); row i of the result
 * is merged row perm[i]; everything goes to /train and there is no /test. With znorm,
 * each series is z-normalised, (x - mean) / std with the population std (divide by T),
 * computed in double; a constant series (all values equal) becomes zeros.
 */
#ifndef ATTNSWEEP_UCR_H
#define ATTNSWEEP_UCR_H

#include <stdint.h>
#include <stdio.h>

#include "attnsweep/dataset.h"

typedef struct {
    const char *train_path; /* required */
    const char *test_path;  /* optional (NULL) */
    int merge_shuffle;
    uint64_t seed;
    int znorm;
} as_ucr_options;

/* One parsed file: n rows of t values, original labels. Free with as_ucr_table_free. */
typedef struct {
    int n, t;
    float *x;    /* [n, t] */
    int *labels; /* [n], original labels */
} as_ucr_table;

as_status as_ucr_read(const char *path, as_ucr_table *out, as_error *err);
void as_ucr_table_free(as_ucr_table *tb);

/* Reads, maps labels, merges/shuffles/normalises as options say. d is a
 * classification dataset with C = 1; *class_labels (as_malloc'ed, K entries, sorted)
 * holds the original label of class k. On error nothing is allocated. */
as_status as_ucr_import(const as_ucr_options *o, as_dataset *d, int **class_labels, int *k,
                        as_error *err);

/* Imports and writes atomically to path (nothing is created on error), with root
 * attributes task, n_classes, class_labels, generator ("ucr"), source_train,
 * source_test (when given), merge_shuffle, seed, znorm. When report is not NULL,
 * prints shapes and class counts to it. */
as_status as_ucr_write(const as_ucr_options *o, const char *path, FILE *report, as_error *err);

#endif
