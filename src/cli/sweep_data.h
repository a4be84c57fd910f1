/* sweep_data.h: the datasets of a sweep: one, or one per value of a "data" grid axis
 * ("data": "$ds", grid.ds a list of paths; sweeps/README.md "A sweep over datasets").
 *
 * Every rank loads each distinct dataset once (in the order variants first use them),
 * hashes it and checks the hash against rank 0's; each variant then records which one it
 * trains on (as_variant.data_index) and its SHA-256 (as_variant.data_sha256, part of the
 * run key). The sweep's own data hash (root attribute data_sha256, what --resume and
 * merge compare) is the dataset's hash for one dataset, else the SHA-256 of the distinct
 * hashes, each followed by "\n", in that order; its data_path is the path, else a JSON
 * array of the paths.
 *
 * Ownership: as_sweep_data_load fills *sd, released by as_sweep_data_free (safe on a
 * zeroed struct). Errors name the sweep file and the key ("data", "--data").
 */
#ifndef ATTNSWEEP_CLI_SWEEP_DATA_H
#define ATTNSWEEP_CLI_SWEEP_DATA_H

#include "attnsweep/dataset.h"
#include "attnsweep/grid.h"
#include "attnsweep/status.h"

typedef struct {
    int n;              /* distinct datasets */
    char **path;        /* [n] (owned) */
    as_dataset *d;      /* [n] */
    char (*sha)[65];    /* [n], set by as_sweep_data_hash */
    char sha_all[65];   /* the sweep's data hash (above) */
    char *path_all;     /* the sweep's data_path (above; owned) */
} as_sweep_data;

/* The number of distinct "data" paths among s's variants (before --data: a data axis
 * with several values cannot be replaced by one --data). */
int as_sweep_data_count(const as_sweep *s);

/* Sets s->v[*].data_index and loads each distinct dataset; all datasets must have the
 * same task (AS_ERR_SPEC naming "data" otherwise). origin names the sweep file. */
as_status as_sweep_data_load(as_sweep *s, const char *origin, as_sweep_data *sd, as_error *err);

/* Collective: every rank hashes every dataset and compares with rank 0's (AS_ERR_DATA
 * naming the host and path when one differs); fills sd->sha, sd->sha_all and every
 * variant's data_sha256. */
as_status as_sweep_data_hash(as_sweep *s, as_sweep_data *sd, int rank, int P, as_error *err);

void as_sweep_data_free(as_sweep_data *sd);

#endif
