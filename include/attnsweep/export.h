/* export.h: one sweep run as a standalone training spec (`attnsweep export`).
 *
 * The spec is the run's expanded config (/variants/<key>/config) with
 *   - "data" the dataset as an absolute path that resolves: the config's path if it
 *     exists (a relative one from the current directory), else that path relative to
 *     the results file's folder, else the file of that name in the results file's folder
 *     (results and data moved together), or opts->data; its SHA-256 must equal the
 *     results' data_sha256;
 *   - train.seed the run's 64-bit seed (a decimal string), which drives initialisation,
 *     dropout and shuffling exactly as in the sweep;
 *   - train.keep the sweep's choice (best unless the config says otherwise);
 *   - train.epochs the epochs trained when the run was stopped by a search policy.
 * `attnsweep train SPEC` then reproduces the run bit for bit (same thread count, one rank
 * per variant). Written atomically (PATH.tmp.<pid> renamed into place).
 */
#ifndef ATTNSWEEP_EXPORT_H
#define ATTNSWEEP_EXPORT_H

#include <stddef.h>

#include "attnsweep/status.h"

typedef struct {
    const char *run;     /* a group name under /variants (e.g. v0003_r1), or NULL with best */
    int best;            /* the best ok run */
    const char *by;      /* best by "val_loss" or "val_accuracy" (NULL: accuracy when classifying) */
    const char *data;    /* the dataset to write (NULL: resolved as above) */
    const char *weights; /* also write the run's saved weights there (NULL: no) */
    /* called (when set) with the results path and the resolved dataset before anything is
     * written; a non-OK status (its message in err) aborts the export */
    as_status (*check_outputs)(const void *ud, const char *results, const char *data,
                               as_error *err);
    const void *check_ud;
} as_export_opts;

/* Writes the spec of one run of results to out_spec; key (cap bytes) receives the run's
 * group name. Errors: AS_ERR_ARG (no such run, no ok run, no saved weights, unknown
 * --by), AS_ERR_DATA (unreadable results, unresolvable or different dataset), AS_ERR_IO. */
as_status as_export_run(const char *results, const char *out_spec, const as_export_opts *o,
                        char *key, size_t cap, as_error *err);

#endif
