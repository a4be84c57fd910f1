/* main.c: the thin attnsweep executable -- fixes the BLAS kernel, then dispatches. */
#include <stdio.h>
#include <string.h>

#include "attnsweep/blas.h"
#include "cli/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: attnsweep <command> [options]\n"
            "\n"
            "commands:\n"
            "  data     make or inspect datasets (data toy | data ucr | data info)\n"
            "  train    train one model from a JSON spec (mpirun: data parallel)\n"
            "  sweep    train every variant of a JSON grid across MPI ranks\n"
            "  summary  leaderboard of a sweep's results file\n"
            "  merge    one results file from the shards of a sweep (sweep --shard I/N)\n"
            "  export   one run of a sweep as a standalone spec (and its weights)\n"
            "  predict  a trained model's predictions and attention maps on a dataset\n"
            "  evaluate a trained model's loss and accuracy on each split\n"
            "  results  pack|repair a results file (self-contained, journal merged)\n"
            "\n"
            "'attnsweep <command> --help' describes a command. An option that takes a value\n"
            "is given at most once (twice: exit 2).\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("attnsweep %s\n", AS_VERSION_STRING);
        return 0;
    }
    struct {
        const char *name;
        int (*fn)(int, char **);
        int heavy; /* runs BLAS: fix the kernel first */
    } cmds[] = {{"data", as_cmd_data, 0},
                {"train", as_cmd_train, 1},
                {"sweep", as_cmd_sweep, 1},
                {"summary", as_cmd_summary, 0},
                {"merge", as_cmd_merge, 0},
                {"export", as_cmd_export, 0},
                {"predict", as_cmd_predict, 1},
                {"evaluate", as_cmd_evaluate, 1},
                {"results", as_cmd_results, 0}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (!strcmp(cmd, cmds[i].name)) {
            if (cmds[i].heavy) as_blas_fix_core(argc, argv);
            return cmds[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "attnsweep: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
