/* runtime.h: process set-up shared by the MPI subcommands. */
#ifndef AS_CLI_RUNTIME_H
#define AS_CLI_RUNTIME_H

#include <stdio.h>

/* MPI_Init with MPI_ERRORS_RETURN on MPI_COMM_WORLD and HDF5's error printing off.
 * Returns 0, or non-zero with a message printed. */
int as_runtime_init(int *argc, char ***argv);
/* BLAS threads: n >= 1 as given; 0 means all cores for a single rank on its node, else 1. */
void as_runtime_set_threads(int n, int ranks);
/* "BLAS: OpenBLAS <core> kernel, N threads per rank, P ranks" */
void as_runtime_print(FILE *f, int ranks);

#endif
