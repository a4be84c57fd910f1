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

typedef enum { AS_FILL_NONE = 0, AS_FILL_INTERPOLATE, AS_FILL_ZERO } as_ucr_fill;
typedef enum { AS_LENGTH_NONE = 0, AS_LENGTH_PAD, AS_LENGTH_TRUNCATE, AS_LENGTH_RESAMPLE } as_ucr_length;

typedef struct {
    const char *train_path; /* required */
    const char *test_path;  /* optional (NULL) */
    int merge_shuffle;
    uint64_t seed;
    int znorm;
    as_ucr_fill fill;       /* missing values (ucr_fix.c); NONE: refused */
    as_ucr_length length;   /* variable lengths (ucr_fix.c); NONE: refused */
    int length_n;           /* target length; 0: pad to the longest, truncate to the shortest */
} as_ucr_options;

/* One parsed file: n rows of t values, original labels. Free with as_ucr_table_free.
 * Read leniently (as_ucr_read_lenient), NaN and empty fields are kept as NaN, rows may
 * have different value counts (t is the largest; shorter rows are NaN after their
 * count[r] values), and line[r] is row r's line in the file; otherwise count and line
 * are NULL. */
typedef struct {
    int n, t;
    float *x;    /* [n, t] */
    int *labels; /* [n], original labels */
    int *count;  /* [n] lenient only: values written on the row */
    int *line;   /* [n] lenient only: 1-based line */
} as_ucr_table;

as_status as_ucr_read(const char *path, as_ucr_table *out, as_error *err);
as_status as_ucr_read_lenient(const char *path, as_ucr_table *out, as_error *err);

/* Statistics of as_ucr_fix, recorded as attributes by as_ucr_write. */
typedef struct {
    long missing;              /* missing values filled (both files) */
    int min_length, max_length; /* series lengths before --length (padding excluded) */
} as_ucr_fix_stats;

/* Makes leniently read tables rectangular and NaN-free as o->fill and o->length say
 * (te may have n = 0). A row's length is the position after its last value that is
 * not NaN: the archive pads the end of short rows with NaN, so that run is padding, and
 * only the NaN before a row's last number are missing values. Missing
 * values (NaN within the length): interpolate = linear between the nearest values on
 * either side, the nearest value at the ends (numpy.interp); zero = 0. Then, with
 * o->znorm, each row is z-normalised over its length; then lengths: pad = zeros at the
 * end to length_n (default the longest), truncate = the first length_n values (default
 * the shortest), resample = linear interpolation of the row at length_n points evenly
 * spaced from its first to its last value. Errors (AS_ERR_DATA naming FILE:LINE): a
 * missing value without fill, different lengths without length, a row of NaN only, a
 * length_n that a row cannot be padded or truncated to. */
as_status as_ucr_fix(const as_ucr_options *o, as_ucr_table *tr, as_ucr_table *te,
                     as_ucr_fix_stats *stats, as_error *err);
void as_ucr_table_free(as_ucr_table *tb);

/* Reads, maps labels, merges/shuffles/normalises as options say. d is a
 * classification dataset with C = 1; *class_labels (as_malloc'ed, K entries, sorted)
 * holds the original label of class k. On error nothing is allocated. */
as_status as_ucr_import(const as_ucr_options *o, as_dataset *d, int **class_labels, int *k,
                        as_error *err);
/* The same, also returning what --fill / --length did (zeros without them). */
as_status as_ucr_import_stats(const as_ucr_options *o, as_dataset *d, int **class_labels, int *k,
                              as_ucr_fix_stats *stats, as_error *err);

/* Imports and writes atomically to path (nothing is created on error), with root
 * attributes task, n_classes, class_labels, generator ("ucr"), source_train,
 * source_test (when given), merge_shuffle, seed, znorm, fill ("none", "interpolate",
 * "zero"), missing_values (filled), length_mode ("none", "pad", "truncate", "resample")
 * and, with fill or length, min_length and max_length (before --length). When report is not NULL,
 * prints shapes and class counts to it. */
as_status as_ucr_write(const as_ucr_options *o, const char *path, FILE *report, as_error *err);

#endif
