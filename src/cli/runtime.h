/* runtime.h: process set-up shared by the MPI subcommands. */
#ifndef AS_CLI_RUNTIME_H
#define AS_CLI_RUNTIME_H

#include <stdio.h>

#include "attnsweep/status.h"

/* MPI_Init with MPI_ERRORS_RETURN on MPI_COMM_WORLD and HDF5's error printing off.
 * Returns 0, or non-zero with a message printed. */
int as_runtime_init(int *argc, char ***argv);
/* Collective. BLAS and pool threads: n >= 1 as given; n == 0: OMP_NUM_THREADS or
 * OPENBLAS_NUM_THREADS when set, else the CPUs this process may use (cpus.h: affinity,
 * cgroup quota, SLURM_CPUS_PER_TASK) shared by the ranks on its node (MPI shared-memory
 * communicator) unless each is bound to its own CPUs, at least 1. Rank 0 keeps one line
 * per node for as_runtime_print. */
void as_runtime_set_threads(int n, int ranks);
/* "BLAS: OpenBLAS <core> kernel, N threads per rank, P ranks; kernels avx2", on rank 0
 * one "threads: node HOST: ..." line per node (what the thread count came from), the
 * "MPI: ..." line when fast start chose transports, and
 * "hosts: 2 hosts: h1 (rank 0, 2 BLAS threads), h2 (...)" (after as_hosts_gather). */
void as_runtime_print(FILE *f, int ranks);

/* Collective: every rank must get through setup before the first collective of the
 * work, or a rank that failed alone (a node without the data file) would leave the
 * others waiting. If any rank failed, every rank returns the lowest failing rank's
 * status and message (prefixed "rank N" when N > 0). */
as_status as_runtime_agree(as_status st, int rank, int P, as_error *err);
/* Collective: agrees on the exit code (the worst of all ranks) and prints the error
 * once: rank 0's, or, when rank 0 succeeded, each failing rank's. Returns the code. */
int as_runtime_report(const char *cmd, as_status st, int code, int rank, const as_error *err);

/* Prints "  [LAUNCHER] PROGRAM ARGV... [EXTRA]" and a newline: the command that repeats
 * this run (argv starts at the subcommand; words quoted for the shell), LAUNCHER from
 * as_cluster_launcher (the mpirun/srun line with its host arguments), PROGRAM this
 * program as invoked. extra may be NULL. */
void as_runtime_print_command(FILE *f, int ranks, int argc, char **argv, const char *extra);

#endif
