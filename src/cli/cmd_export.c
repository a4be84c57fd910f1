/* cmd_export.c: `attnsweep export RESULTS.h5` -- one sweep run as a standalone spec. */
#include <stdio.h>
#include <string.h>

#include "attnsweep/export.h"
#include "attnsweep/h5util.h"
#include "cli/args.h"
#include "cli/cluster.h"
#include "cli/commands.h"
#include "cli/infer_cli.h"
#include "sweep/summary_row.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: attnsweep export RESULTS.h5 (--run KEY | --best [--by val_loss|val_accuracy])\n"
            "                        -o SPEC.json [--weights W.h5] [--data PATH]\n"
            "\n"
            "Writes one run of a sweep as a training spec that `attnsweep train SPEC.json`\n"
            "reproduces bit for bit (same --threads): the run's config with the dataset as an\n"
            "absolute path (checked against the sweep's data_sha256), the run's seed and the\n"
            "weights it kept (train.keep).\n"
            "\n"
            "options:\n"
            "  --run KEY        the run: its group under /variants, or v<id>_r<repeat> (e.g.\n"
            "                   v0003_r1: variant 3, repeat 1, whatever its group is named)\n"
            "  --best           the best finished run by its kept model's validation figures\n"
            "                   (at kept_epoch: the weights it exports; never by test)\n"
            "  --by METRIC      val_loss (lowest) or val_accuracy (highest; ties by val_loss);\n"
            "                   default val_accuracy for classification, val_loss otherwise\n"
            "  -o SPEC.json     the spec to write\n"
            "  --weights W.h5   also write the run's saved weights (the sweep's save_weights)\n"
            "  --data PATH      the dataset, when its recorded path does not resolve from here\n"
            "\n"
            "exit status: 0 written, 2 bad flag, results file, run or dataset (also an output\n"
            "that is an input, the other output, a link or not a regular file), 4 cannot write,\n"
            "1 other failure.\n");
}

typedef struct {
    const char *spec, *weights;
} export_outs;

/* as_export_opts.check_outputs: neither output may be an input (the results, the resolved
 * dataset) or the other output (however spelled); both pass as_output_check. */
static as_status check_outputs(const void *ud, const char *results, const char *data,
                               as_error *err) {
    const export_outs *eo = ud;
    const char *in_spec[] = {results, data, eo->weights}, *in_w[] = {results, data, eo->spec};
    as_status st = as_output_check("-o", eo->spec, in_spec, 3, err);
    if (!st && eo->weights) st = as_output_check("--weights", eo->weights, in_w, 3, err);
    if (!st && eo->weights && as_output_same(eo->weights, eo->spec))
        st = as_error_set(err, AS_ERR_ARG, "--weights %s: the same path as -o", eo->weights);
    return st;
}

int as_cmd_export(int argc, char **argv) {
    const char *cmd = "export", *results = NULL, *out = NULL;
    as_export_opts o;
    memset(&o, 0, sizeof o);
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--run")) {
            if (!(o.run = as_arg_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--best")) {
            o.best = 1;
        } else if (!strcmp(a, "--by")) {
            if (!(o.by = as_arg_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-o")) {
            if (!(out = as_arg_value(cmd, argc, argv, &i))) return 2;
            if ((rc = as_cli_writable(cmd, a, out)) != 0) return rc;
        } else if (!strcmp(a, "--weights")) {
            if (!(o.weights = as_arg_value(cmd, argc, argv, &i))) return 2;
            if ((rc = as_cli_writable(cmd, a, o.weights)) != 0) return rc;
        } else if (!strcmp(a, "--data")) {
            if (!(o.data = as_arg_value(cmd, argc, argv, &i))) return 2;
        } else if (a[0] == '-') {
            fprintf(stderr, "attnsweep export: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (results) {
            fprintf(stderr, "attnsweep export: one results file expected, got '%s' and '%s'\n",
                    results, a);
            return 2;
        } else {
            results = a;
        }
    }
    const char *bad = !results ? "missing RESULTS.h5" : !out ? "missing -o SPEC.json"
                    : (!o.run == !o.best) ? "give exactly one of --run KEY and --best"
                    : (o.by && !o.best) ? "--by needs --best" : NULL;
    if (bad) {
        fprintf(stderr, "attnsweep export: %s (see --help)\n", bad);
        return 2;
    }
    as_h5_quiet();
    as_error err;
    as_error_clear(&err);
    char key[128];
    const export_outs eo = {out, o.weights};
    o.check_outputs = check_outputs;
    o.check_ud = &eo;
    as_status st = as_export_run(results, out, &o, key, sizeof key, &err);
    if (st) {
        fprintf(stderr, "attnsweep export: %s\n", err.msg);
        return as_status_exit_code(st);
    }
    /* groups are named by run key: name the run by its label v<id>_r<repeat> too */
    char label[64] = "";
    hid_t f = as_h5_open_read(results, NULL), g = f >= 0 ? as_store_open_run(f, results, key) : -1;
    int64_t id = -1, rep = -1;
    if (g >= 0 && !as_h5_read_attr_int(g, "id", &id, NULL) && !as_h5_read_attr_int(g, "repeat", &rep, NULL) &&
        strncmp(key, "v", 1) != 0)
        snprintf(label, sizeof label, "v%04d_r%d ", (int)id, (int)rep);
    if (g >= 0) H5Gclose(g);
    if (f >= 0) H5Fclose(f);
    char again[4200];
    size_t len = 0;
    as_cluster_quote(again, sizeof again, &len, out); /* one shell word, pasteable */
    printf("exported run %s%s%s%s of %s to %s%s%s; reproduce it with: attnsweep train %s\n", label,
           label[0] ? "(run key " : "", key, label[0] ? ")" : "", results, out,
           o.weights ? " and its weights to " : "", o.weights ? o.weights : "", again);
    return 0;
}
