/* cluster.h: what makes the MPI subcommands independent of where each rank runs.
 *
 * Rules (README "Clusters"): rank 0 resolves every path of the command line against its
 * own working directory and sends the absolute paths to the others (a rank started in
 * another directory, e.g. $HOME on a host without mpirun's folder, opens the same
 * files); only the rank that writes an output checks it; files only one rank needs to
 * read once (a checkpoint) are read by rank 0 and broadcast. */
#ifndef AS_CLI_CLUSTER_H
#define AS_CLI_CLUSTER_H

#include <stddef.h>

#include "attnsweep/status.h"

/* Collective over MPI_COMM_WORLD: on rank 0 every non-NULL *paths[i] that is relative
 * becomes rank 0's working directory + "/" + it; every rank then receives rank 0's
 * strings and *paths[i] points into *owned (free with as_free after the last use, also
 * on error). A rank given other paths than rank 0 (an MPMD launch) gets AS_ERR_ARG
 * naming names[i] (the flag) and both spellings. AS_ERR_NOMEM, AS_ERR_MPI, AS_ERR_IO (no
 * working directory on rank 0). */
as_status as_cluster_resolve(const char **paths[], const char *const *names, int n, char **owned,
                             as_error *err);

/* The writing rank's check of an output path: its folder exists and is writable.
 * AS_ERR_ARG "FLAG PATH: cannot write in 'DIR': reason". */
as_status as_cluster_check_output(const char *flag, const char *path, as_error *err);

/* Collective: rank 0 reads the file at path (when it exists) and every rank receives
 * *exists and the bytes (*buf as_malloc'd, *n; NULL when absent). A read error on rank 0
 * is returned on every rank (AS_ERR_IO naming the path). */
as_status as_cluster_bcast_file(const char *path, int *exists, char **buf, size_t *n,
                                as_error *err);

/* The launcher that started this job, as a shell word list (quoted), for the printed
 * resume command: $ATTNSWEEP_LAUNCHER when set; else the arguments of the parent
 * process up to this program when the parent is mpirun/mpiexec/orterun/prterun/srun;
 * else "srun -n P" inside a Slurm job step, "mpirun -np P -H host:n,..." for several
 * hosts, "mpirun -np P" for one, and "" for one process. Call after as_hosts_gather. */
void as_cluster_launcher(char *buf, size_t cap, int P);

/* This program as it was invoked (argv[0], e.g. "build/attnsweep"; "attnsweep" when
 * unknown). */
void as_cluster_program(char *buf, size_t cap);

/* Appends s to buf (at *len, within cap) as one shell word: as it is when it holds only
 * [A-Za-z0-9_./:=,+@%-], else in single quotes. */
void as_cluster_quote(char *buf, size_t cap, size_t *len, const char *s);

/* A job step srun started as several tasks whose MPI sees one rank each (srun's --mpi
 * plugin does not match the MPI library): every task would run the whole job and write
 * the same outputs. AS_ERR_ARG saying how to launch instead; AS_OK otherwise. */
as_status as_cluster_check_launch(int P, as_error *err);

#endif
