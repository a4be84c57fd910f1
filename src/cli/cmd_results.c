/* cmd_results.c: `attnsweep results pack|repair RESULTS.h5` -- makes a results file
 * self-contained: every run of its journal copied in, empty rows dropped (store.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/store.h"
#include "attnsweep/sweep.h"
#include "cli/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: attnsweep results pack RESULTS.h5\n"
            "       attnsweep results repair RESULTS.h5\n"
            "\n"
            "Rebuilds RESULTS.h5 (atomically) from itself and its journal folder\n"
            "RESULTS.h5.journal: every finished run copied in, the free rows of a stopped or\n"
            "killed sweep dropped, the journal emptied. The file is then one self-contained\n"
            "HDF5 file that h5py alone reads. pack and repair are the same operation. Takes\n"
            "the results' lock: refused (exit 2) while a sweep writes them.\n"
            "Exit status: 0 done, 2 bad input (no such file, in use), 4 cannot store.\n");
}

int as_cmd_results(int argc, char **argv) {
    for (int i = 1; i < argc; i++) /* `results --help`, `results pack --help`, ... */
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    if (argc != 3 || (strcmp(argv[1], "pack") != 0 && strcmp(argv[1], "repair") != 0)) {
        fprintf(stderr, "attnsweep results: expected 'pack RESULTS.h5' or 'repair RESULTS.h5' (see --help)\n");
        return 2;
    }
    const char *path = argv[2];
    as_error err;
    as_error_clear(&err);
    as_store st;
    as_status s = as_store_open(&st, path, &err);
    if (!s && access(path, F_OK) != 0) s = as_error_set(&err, AS_ERR_ARG, "%s: no such file", path);
    if (!s) s = as_store_pack(&st, NULL, NULL, 0, 0, 0, &err);
    size_t left = s ? 0 : as_store_journal_runs(&st);
    if (!s && !left) printf("packed %s: self-contained, journal empty\n", path);
    if (!s && left)
        printf("packed %s: self-contained; %zu file%s left in %s %s not a run of it (see above)\n",
               path, left, left == 1 ? "" : "s", st.journal, left == 1 ? "is" : "are");
    as_store_close(&st);
    if (s) fprintf(stderr, "attnsweep results: %s\n", err.msg);
    return as_status_exit_code(s);
}
