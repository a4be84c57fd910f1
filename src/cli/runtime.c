/* runtime.c: MPI, HDF5 and BLAS set-up for the subcommands. */
#include "cli/runtime.h"

#include <hdf5.h>
#include <mpi.h>
#include <stdlib.h>
#include <unistd.h>

#include "attnsweep/blas.h"

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
        n = (local > 1 || ranks > 1) ? 1 : (int)(cores > 0 ? cores : 1);
        if (getenv("OPENBLAS_NUM_THREADS") && local == 1) n = atoi(getenv("OPENBLAS_NUM_THREADS"));
        if (n < 1) n = 1;
    }
    as_blas_set_threads(n);
}

void as_runtime_print(FILE *f, int ranks) {
    const char *was = getenv("ATTNSWEEP_BLAS_REEXEC");
    fprintf(f, "BLAS: OpenBLAS %s kernel%s%s%s, %d thread%s per rank, %d rank%s\n", as_blas_core(),
            was ? " (re-executed with OPENBLAS_CORETYPE; the library had loaded " : "",
            was ? was : "", was ? ")" : "", as_blas_threads(), as_blas_threads() == 1 ? "" : "s",
            ranks, ranks == 1 ? "" : "s");
}
