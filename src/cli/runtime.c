/* runtime.c: MPI, HDF5 and BLAS set-up for the subcommands. */
#include "cli/runtime.h"

#include <hdf5.h>
#include <mpi.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/blas.h"
#include "attnsweep/hosts.h"
#include "cli/cluster.h"
#include "attnsweep/status.h"

int as_runtime_init(int *argc, char ***argv) {
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "attnsweep: MPI_Init failed\n");
        return 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return 0;
}

void as_runtime_set_threads(int n, int ranks) {
    if (n <= 0) {
        MPI_Comm node;
        int local = 1;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        (void)ranks; /* ranks on this node decide, not the world size (one rank per host) */
        n = local > 1 ? 1 : (int)(cores > 0 ? cores : 1);
        if (getenv("OPENBLAS_NUM_THREADS") && local == 1) n = atoi(getenv("OPENBLAS_NUM_THREADS"));
        if (n < 1) n = 1;
    }
    as_blas_set_threads(n);
    omp_set_num_threads(n);
}

void as_runtime_print(FILE *f, int ranks) {
    const char *was = getenv("ATTNSWEEP_BLAS_REEXEC");
    fprintf(f, "BLAS: OpenBLAS %s kernel%s%s%s, %d thread%s per rank, %d rank%s\n", as_blas_core(),
            was ? " (re-executed with OPENBLAS_CORETYPE; the library had loaded " : "",
            was ? was : "", was ? ")" : "", as_blas_threads(), as_blas_threads() == 1 ? "" : "s",
            ranks, ranks == 1 ? "" : "s");
    char hosts[1024];
    as_hosts_describe(hosts, sizeof hosts);
    fprintf(f, "hosts: %s\n", hosts);
}

/* Every rank must get through setup before the first collective of training: a rank
 * that failed alone (a node without the data file, a bad file on one host) would
 * otherwise leave the others waiting in the checksum allreduce. All ranks call this; if
 * any failed, every rank returns the lowest failing rank's status and message (so rank
 * 0 reports it, naming that rank). */
as_status as_runtime_agree(as_status st, int rank, int P, as_error *err) {
    int first = st ? rank : P;
    if (MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        return st ? st : as_error_set(err, AS_ERR_MPI, "setup status allreduce failed");
    if (first == P) return AS_OK;
    int code = (int)st;
    MPI_Bcast(&code, 1, MPI_INT, first, MPI_COMM_WORLD);
    MPI_Bcast(err->msg, (int)sizeof err->msg, MPI_CHAR, first, MPI_COMM_WORLD);
    err->msg[sizeof err->msg - 1] = 0;
    err->code = (as_status)code;
    if (first != 0) as_error_prefix(err, "rank %d on %s", first, as_host_name(first));
    return (as_status)code;
}

int as_runtime_report(const char *cmd, as_status st, int code, int rank, const as_error *err) {
    int worst = code;
    MPI_Allreduce(&code, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    int r0_failed = rank == 0 && st;
    MPI_Bcast(&r0_failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (st && (rank == 0 || !r0_failed)) {
        if (rank)
            fprintf(stderr, "attnsweep %s (rank %d on %s): %s\n", cmd, rank, as_host_name(rank),
                    err->msg);
        else fprintf(stderr, "attnsweep %s: %s\n", cmd, err->msg);
    }
    return worst;
}

void as_runtime_print_command(FILE *f, int ranks, int argc, char **argv, const char *extra) {
    char line[8192];
    size_t len = 0;
    as_cluster_launcher(line, sizeof line, ranks);
    len = strlen(line);
    char prog[4096];
    as_cluster_program(prog, sizeof prog);
    if (len) line[len++] = ' ', line[len] = 0;
    as_cluster_quote(line, sizeof line, &len, prog);
    for (int i = 0; i < argc && len + 1 < sizeof line; i++) {
        line[len++] = ' ';
        line[len] = 0;
        as_cluster_quote(line, sizeof line, &len, argv[i]);
    }
    if (extra) snprintf(line + len, sizeof line - len, " %s", extra);
    fprintf(f, "  %s\n", line);
}
