/* cmd_merge.c: `attnsweep merge -o RESULTS.h5 SHARD.h5...` -- one results file from the
 * shards of a sweep (sweep --shard I/N). */
#include <stdio.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/sweep.h"
#include "cli/args.h"
#include "cli/cluster.h"
#include "cli/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: attnsweep merge -o RESULTS.h5 SHARD.h5...\n"
            "\n"
            "Writes one results file holding every run of the shard results files of one\n"
            "sweep (`attnsweep sweep SWEEP.json --shard I/N -o SHARD.h5` for I = 0..N-1, e.g.\n"
            "the tasks of scripts/slurm/sweep.sbatch in array mode). Each run is copied\n"
            "unchanged, from the shard's index or its journal (a shard killed before its last\n"
            "pack), so the merged file equals the unsharded sweep's run for run; the summary\n"
            "table is sorted by variant id and repeat. The shards are only read.\n"
            "\n"
            "The shards must come from the same sweep file, dataset and --epochs, and their\n"
            "runs must be the sweep's planned runs exactly, each once, every summary row with\n"
            "its run. A shard whose sweep still writes it (its lock held) is refused, naming\n"
            "the holder. RESULTS.h5 must not exist (it is written to a temporary file and\n"
            "renamed into place).\n"
            "\n"
            "exit status: 0 merged, 2 bad input (shards of other sweeps or --epochs,\n"
            "overlapping, incomplete or still written shards, runs not of the sweep,\n"
            "RESULTS.h5 exists, a flag), 1 other failure.\n");
}

int as_cmd_merge(int argc, char **argv) {
    const char *out = NULL;
    const char **in = as_calloc((size_t)(argc > 0 ? argc : 1), sizeof *in);
    if (!in) {
        fprintf(stderr, "attnsweep merge: out of memory\n");
        return 1;
    }
    int n = 0, rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = -1;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = as_arg_value("merge", argc, argv, &i))) rc = 2;
        } else if (a[0] == '-') {
            fprintf(stderr, "attnsweep merge: unknown option '%s' (see --help)\n", a);
            rc = 2;
        } else {
            in[n++] = a;
        }
    }
    if (!rc && !out) {
        fprintf(stderr, "attnsweep merge: missing -o RESULTS.h5 (see --help)\n");
        rc = 2;
    }
    if (!rc && n == 0) {
        fprintf(stderr, "attnsweep merge: no SHARD.h5 given (see --help)\n");
        rc = 2;
    }
    if (!rc) {
        as_h5_quiet();
        as_error err;
        as_error_clear(&err);
        as_status st = as_output_check("-o", out, in, (size_t)n, &err);
        if (!st) st = as_cluster_check_output("-o", out, &err); /* its folder: exit 2 when missing */
        if (!st) st = as_results_merge(out, in, n, &err);
        if (st) {
            fprintf(stderr, "attnsweep merge: %s\n", err.msg);
            rc = as_status_exit_code(st);
        } else {
            printf("merged %d shard file%s into %s; leaderboard: attnsweep summary %s\n", n,
                   n == 1 ? "" : "s", out, out);
        }
    }
    as_free(in);
    return rc < 0 ? 0 : rc;
}
