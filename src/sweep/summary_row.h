/* summary_row.h (private): one row of /summary as it is laid out in memory. */
#ifndef AS_SWEEP_SUMMARY_ROW_H
#define AS_SWEEP_SUMMARY_ROW_H

#include <hdf5.h>
#include <stdint.h>

#include "attnsweep/status.h"
#include "attnsweep/sweep.h"

#define AS_SUMMARY_NAME_MAX 128
#define AS_SUMMARY_STATUS_MAX 16
#define AS_SUMMARY_KEY_MAX 65 /* the run key (runkey.h): 64 hex digits */

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
    char key[AS_SUMMARY_KEY_MAX]; /* the run key: /variants/<key> */
    /* the kept model's val_loss / val_accuracy (at kept_epoch): what ranks a run; NaN
     * without validation (files of older versions: read from the run's curves) */
    double kept_val_loss, kept_val_accuracy;
} as_summary_row;

/* /summary is chunked by this many rows (the live slots are written into its chunks). */
#define AS_SUMMARY_CHUNK_ROWS 64

/* The HDF5 compound type of a row (caller closes it); also the file type, so a row's
 * bytes in memory are its bytes in the file. */
hid_t as_summary_type(void);
/* Writes /summary (replacing it, contiguous) with n rows. AS_ERR_IO. */
as_status as_summary_write(hid_t f, const as_summary_row *rows, size_t n, as_error *err);
/* Reads /summary of an open results file into an as_malloc'd array, skipping the empty
 * rows (free slots of a running or killed session). */
as_status as_summary_read(hid_t f, as_summary_row **rows, size_t *n, as_error *err);
/* A row read from a file of an older version (row_type: the type in that file): without
 * kept_epoch (versions that kept the last epoch) it becomes epochs_run; without
 * kept_val_loss the kept figures are taken from the run's curves (run: its group, or -1
 * to leave them NaN). Rows of the current format are left as they are. */
void as_summary_fill_old(hid_t row_type, hid_t run, as_summary_row *r);

/* Every stored run of the results file at path: its /summary rows, each replaced by its
 * journal file's row where the journal holds the run (newer: retried since the last
 * pack), then the rows of journal files not in it (store.h). *rows as_malloc'd. */
as_status as_store_rows(const char *path, as_summary_row **rows, size_t *n, as_error *err);
/* The group of run `key`: /run of its journal file (newer, as for pack), else
 * /variants/<key> of f; -1 when neither exists. Close it with H5Gclose. */
hid_t as_store_open_run(hid_t f, const char *path, const char *key);
/* The journal file's summary row. AS_ERR_DATA when it has none, or when the file is named
 * "<key>.h5" and its row holds another key (a renamed or copied file: every reader and
 * pack ignore it, with as_store_warn_ignored, and as_store_open_run does not open it). */
as_status as_store_read_row(const char *file, as_summary_row *row, as_error *err);
/* Prints "attnsweep: MSG: WHAT" on stderr: a journal file that is not taken as a run. */
void as_store_warn_ignored(const char *msg, const char *what);
/* 1 when name is "<run key>.h5". */
int as_store_is_key(const char *name);
/* "<journal>/<key>.h5", as_malloc'd (NULL when out of memory). */
char *as_store_journal_file(const char *journal, const char *key);

/* The run keys of every (variant, repeat) of a sweep, sorted (as_keyed_cmp), for matching
 * stored runs: slot = v * repeats + r. */
typedef struct {
    char key[AS_SUMMARY_KEY_MAX];
    size_t slot;
} as_keyed;
int as_keyed_cmp(const void *a, const void *b);
as_status as_results_sweep_keys(const as_sweep *s, const char *data_sha, as_keyed **out, size_t *n,
                                as_error *err);
/* The summary row of a finished run. */
void as_results_fill_row(as_summary_row *row, const as_sweep *s, const as_result *r);
/* Writes a run's attributes and arrays into group `path` (created) of f. */
as_status as_results_write_run(hid_t f, const char *path, const as_sweep *s, const as_result *r,
                               as_error *err);

#endif
