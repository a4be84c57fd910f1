/* cmd_summary.c: `attnsweep summary RESULTS.h5` -- the leaderboard of a sweep. */
#include <stdio.h>
#include <string.h>

#include "attnsweep/h5util.h"
#include "attnsweep/sweep.h"
#include "cli/args.h"
#include "cli/commands.h"

static void usage(FILE *f) {
    fprintf(f, "usage: attnsweep summary RESULTS.h5 [--sort KEY] [--top N] [--group-by AXIS] [--csv]\n"
               "\n"
               "Prints the leaderboard of a sweep's results file: one line per variant (# is its\n"
               "place), repeats as mean ± std (equal repeats: the value alone), failed and\n"
               "diverged runs listed apart.\n"
               "\n"
               "  --sort KEY       kept_val_loss (default for regression), kept_val_accuracy\n"
               "                   (default for classification, descending): the kept model's\n"
               "                   validation figures (at kept_epoch, the weights that are\n"
               "                   tested and exported); best_val_loss, best_val_accuracy (the\n"
               "                   curves' best over every epoch), final_val_loss,\n"
               "                   train_seconds, test_loss, test_accuracy, n_params (the\n"
               "                   parameter count), id, name\n"
               "  --top N          the N best variants (per group with --group-by)\n"
               "  --group-by AXIS  one table per value of a grid axis (e.g. num_heads)\n"
               "  --csv            comma-separated values, one row per variant: position, id,\n"
               "                   name, [group,] family, one column per grid axis (a layer\n"
               "                   object as its type), n_params, repeats_ok, repeats_failed,\n"
               "                   epochs_run (mean), best_epoch (mean over ok repeats),\n"
               "                   kept val_loss and val_accuracy, best/final val_loss and\n"
               "                   best val_accuracy mean and std,\n"
               "                   train_seconds_mean, test_loss and test_accuracy mean and std\n");
}

int as_cmd_summary(int argc, char **argv) {
    as_summary_opts o;
    memset(&o, 0, sizeof o);
    const char *path = NULL, *cmd = "summary";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long top;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--sort")) {
            if (!(o.sort = as_arg_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--group-by")) {
            if (!(o.group_by = as_arg_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--top")) {
            if (!(v = as_arg_value(cmd, argc, argv, &i)) || !as_arg_int(cmd, a, v, 1, 1 << 30, &top)) return 2;
            o.top = (int)top;
        } else if (!strcmp(a, "--csv")) {
            o.csv = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "attnsweep summary: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (path) {
            fprintf(stderr, "attnsweep summary: one results file expected\n");
            return 2;
        } else {
            path = a;
        }
    }
    if (!path) {
        fprintf(stderr, "attnsweep summary: missing RESULTS.h5 (see --help)\n");
        return 2;
    }
    as_h5_quiet();
    as_error err;
    as_error_clear(&err);
    as_status st = as_summary_print(path, &o, stdout, &err);
    if (st) fprintf(stderr, "attnsweep summary: %s\n", err.msg);
    return as_status_exit_code(st);
}
