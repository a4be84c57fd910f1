/* cmd_evaluate.c: `attnsweep evaluate SPEC --weights W.h5` -- Keras's model.evaluate. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/infer.h"
#include "attnsweep/train.h"
#include "attnsweep/weights.h"
#include "cli/commands.h"
#include "cli/infer_cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: attnsweep evaluate SPEC.json --weights W.h5 [--data D.h5] [--threads N]\n"
            "\n"
            "The loss (and accuracy, classifying) of the spec's model with the given weights on\n"
            "each split of the dataset (Keras's model.evaluate), in batches of train.batch_size:\n"
            "one line per split, `SPLIT: loss L [accuracy A] (N series)`, for train (the rows the\n"
            "spec trains on), validation (its validation rows, when it has a split) and test\n"
            "(when the dataset has /test). These equal the training run's own figures: the\n"
            "history's val_loss at the kept epoch, and its test_loss and test_accuracy. A spec\n"
            "with train.refit is a model refit on every training row, the validation rows\n"
            "too: a warning says so, and its validation line is not held out (test still is).\n"
            "\n"
            "exit status: 0, 2 bad flag/spec/weights/dataset, 1 other failure.\n");
}

static int evaluate(as_infer_cli *c) {
    int classification = c->d.task == AS_TASK_CLASSIFICATION, nt, nv;
    as_fit_split_rows(c->d.train.n, c->spec.train.validation_split, &nt, &nv);
    /* the weights file records a refit (train --save-weights, a sweep's saved weights and
     * their export); the spec says so too (export writes train.refit) */
    hid_t wf = as_h5_open_read(c->weights, NULL);
    int refit = wf >= 0 ? as_weights_refit_epochs(wf, "/weights") : 0;
    if (wf >= 0) H5Fclose(wf);
    if ((refit || c->spec.train.refit) && nv > 0)
        fprintf(stderr, "attnsweep evaluate: warning: %s: the weights are a refit model (%s), "
                        "trained on every training row, the %d validation rows included: its "
                        "validation figures are not held out (and are not the run's val_loss at "
                        "the kept epoch, which is the selection run's)\n",
                refit ? c->weights : c->spec_path,
                refit ? "refit_epochs recorded" : "the spec has train.refit", nv);
    for (int k = AS_INFER_TRAIN; k <= AS_INFER_TEST; k++) {
        if ((k == AS_INFER_VALIDATION && nv == 0) || (k == AS_INFER_TEST && !c->d.has_test)) continue;
        const as_split *s;
        int *rows = NULL, n = 0;
        as_error err;
        as_error_clear(&err);
        as_status st = as_infer_rows(&c->d, &c->spec.train, (as_infer_split)k, &s, &rows, &n, &err);
        if (st) {
            fprintf(stderr, "attnsweep evaluate: %s\n", err.msg);
            return as_status_exit_code(st);
        }
        double acc;
        double loss = as_evaluate_rows(&c->m, s, rows, n, c->spec.train.batch_size, MPI_COMM_NULL, &acc);
        as_free(rows);
        if (isnan(loss)) {
            fprintf(stderr, "attnsweep evaluate: out of memory evaluating %s\n",
                    as_infer_split_name((as_infer_split)k));
            return 1;
        }
        printf("%s: loss %.9g", as_infer_split_name((as_infer_split)k), loss);
        if (classification) printf(" accuracy %.9g", acc);
        printf(" (%d series)\n", n);
    }
    return 0;
}

int as_cmd_evaluate(int argc, char **argv) {
    const char *cmd = "evaluate";
    as_infer_cli c;
    memset(&c, 0, sizeof c);
    for (int i = 1; i < argc; i++) {
        int took = as_infer_cli_arg(&c, cmd, argc, argv, &i);
        if (took < 0) return 2;
        if (took) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "attnsweep evaluate: unknown option '%s' (see --help)\n", argv[i]);
        return 2;
    }
    int rc = as_infer_cli_load(&c, cmd);
    if (!rc) rc = evaluate(&c);
    as_infer_cli_free(&c);
    return rc;
}
