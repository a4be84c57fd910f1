/* infer_cli.h: what `predict` and `evaluate` share: SPEC --weights W [--data D]
 * [--threads N], the spec, dataset and model loaded. */
#ifndef AS_CLI_INFER_CLI_H
#define AS_CLI_INFER_CLI_H

#include "attnsweep/dataset.h"
#include "attnsweep/model.h"
#include "attnsweep/spec.h"

typedef struct {
    const char *spec_path, *weights, *data;
    long threads;
    int mpi; /* MPI initialised (finalised by as_infer_cli_free) */
    as_spec spec;
    as_dataset d;
    as_model m;
} as_infer_cli;

/* Takes argv[*i] if it is one of the shared options or the spec path (advancing *i);
 * returns 1 taken, 0 not ours, -1 bad (message printed). */
int as_infer_cli_arg(as_infer_cli *c, const char *cmd, int argc, char **argv, int *i);
/* Checks the required arguments and loads spec, dataset and weights; prints the error
 * and returns the exit code (0 when loaded). */
int as_infer_cli_load(as_infer_cli *c, const char *cmd);
void as_infer_cli_free(as_infer_cli *c);

/* 0 when an output path's folder is writable; else prints why ("attnsweep CMD: ...") and
 * returns the exit status: 4 for a read-only or unwritable folder, 2 for an empty path or
 * a missing folder (as_cluster_check_output). */
int as_cli_writable(const char *cmd, const char *flag, const char *path);

#endif
