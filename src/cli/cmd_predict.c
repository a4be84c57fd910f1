/* cmd_predict.c: `attnsweep predict SPEC --weights W.h5` -- Keras's model.predict. */
#include <stdio.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/infer.h"
#include "attnsweep/sweep.h"
#include "attnsweep/train.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/infer_cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: attnsweep predict SPEC.json --weights W.h5 [--data D.h5]\n"
            "                         [--split train|validation|test] [-n N] [--attention N] -o P.h5\n"
            "\n"
            "Applies the spec's model with the given weights to one split of a dataset (Keras's\n"
            "model.predict) and writes P.h5: predictions (softmax probabilities [n, K] for\n"
            "classification, outputs [n, T', C'] for regression), pred_inputs, pred_targets,\n"
            "rows (the split's row indices) and attention/layer_<i> [a, heads, T, T] with\n"
            "attention/layer_<i>_mean [a, heads, T] for the first a series.\n"
            "\n"
            "options:\n"
            "  --weights W.h5   the weights (train --save-weights, export --weights)\n"
            "  --data D.h5      the dataset (default: the spec's)\n"
            "  --split S        train | validation (the spec's validation rows) | test; default\n"
            "                   test when D has one, else validation, else train\n"
            "  -n N             predict the first N series of the split (default all)\n"
            "  --attention N    attention maps of the first N series (default 3)\n"
            "  --threads N      BLAS threads (default all cores)\n"
            "  -o P.h5          the output file (written atomically)\n"
            "\n"
            "exit status: 0 written, 2 bad flag/spec/weights/dataset (also an -o that is one of\n"
            "them, a link or not a regular file), 4 cannot write P.h5, 1 other failure.\n");
}

static as_status write_arrays(const char *path, const as_result *r, const int *rows, int n,
                              const char *split, const as_infer_cli *c, as_error *err) {
    as_h5_writer w;
    as_status st = as_h5_writer_open(&w, path, err);
    if (st) return st;
    for (int i = 0; i < r->n_arrays && !st; i++) st = as_array_write(w.file, &r->arrays[i], 0, err);
    hsize_t dn[1] = {(hsize_t)n};
    if (!st) st = as_h5_write_int(w.file, "rows", 1, dn, rows, err);
    if (!st) st = as_h5_attr_string(w.file, "split", split, err);
    if (!st) st = as_h5_attr_string(w.file, "spec", c->spec_path, err);
    if (!st) st = as_h5_attr_string(w.file, "weights", c->weights, err);
    if (!st) st = as_h5_attr_string(w.file, "data", c->d.path, err);
    if (st) {
        as_h5_writer_abort(&w);
        return as_error_prefix(err, "%s", path);
    }
    return as_h5_writer_commit(&w, err);
}

static int predict(as_infer_cli *c, const char *split_name, long n_max, long n_att, const char *out) {
    as_infer_split split = c->d.has_test ? AS_INFER_TEST : AS_INFER_VALIDATION;
    int nt, nv;
    as_fit_split_rows(c->d.train.n, c->spec.train.validation_split, &nt, &nv);
    if (!split_name && !c->d.has_test && nv == 0) split = AS_INFER_TRAIN;
    for (int k = AS_INFER_TRAIN; split_name && k <= AS_INFER_TEST; k++)
        if (!strcmp(split_name, as_infer_split_name((as_infer_split)k))) split = (as_infer_split)k;
    as_error err;
    as_error_clear(&err);
    const as_split *s;
    int *rows = NULL, n = 0;
    as_result r;
    memset(&r, 0, sizeof r);
    const char *inputs[] = {c->spec_path, c->weights, c->d.path, c->data};
    as_status st = as_output_check("-o", out, inputs, 4, &err);
    if (!st && (st = as_infer_rows(&c->d, &c->spec.train, split, &s, &rows, &n, &err)) &&
        split == AS_INFER_VALIDATION)
        as_error_prefix(&err, "%s", c->spec_path); /* "the spec has no validation split" */
    int n_attn_layers = 0;
    for (int i = 0; i < c->m.n_layers; i++)
        n_attn_layers += c->m.layers[i].spec.type == AS_LAYER_SELF_ATTENTION;
    if (!st) {
        int np = n_max > 0 && n_max < n ? (int)n_max : n, na = n_att < np ? (int)n_att : np;
        st = as_dumps_collect(&c->m, s, rows, na, np, c->d.task == AS_TASK_CLASSIFICATION, &r, &err);
        if (!st) st = write_arrays(out, &r, rows, np, as_infer_split_name(split), c, &err);
        if (!st && n_attn_layers)
            printf("wrote %s: predictions of %d %s series, attention maps of %d\n", out, np,
                   as_infer_split_name(split), na);
        else if (!st)
            printf("wrote %s: predictions of %d %s series (no attention layer: no attention maps)\n",
                   out, np, as_infer_split_name(split));
    }
    as_result_free(&r);
    as_free(rows);
    if (st) fprintf(stderr, "attnsweep predict: %s\n", err.msg);
    return st ? as_status_exit_code(st) : 0;
}

int as_cmd_predict(int argc, char **argv) {
    const char *cmd = "predict", *split = NULL, *out = NULL, *v;
    long n = 0, n_att = 3;
    as_infer_cli c;
    memset(&c, 0, sizeof c);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int took = as_infer_cli_arg(&c, cmd, argc, argv, &i);
        if (took < 0) return 2;
        if (took) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--split")) {
            if (!(split = as_arg_value(cmd, argc, argv, &i))) return 2;
            if (strcmp(split, "train") && strcmp(split, "validation") && strcmp(split, "test")) {
                fprintf(stderr, "attnsweep predict: --split %s: one of train, validation, test\n", split);
                return 2;
            }
        } else if (!strcmp(a, "-n")) {
            if (!(v = as_arg_value(cmd, argc, argv, &i)) || !as_arg_int(cmd, a, v, 1, 1L << 30, &n)) return 2;
        } else if (!strcmp(a, "--attention")) {
            if (!(v = as_arg_value(cmd, argc, argv, &i)) || !as_arg_int(cmd, a, v, 0, 1L << 30, &n_att))
                return 2;
        } else if (!strcmp(a, "-o")) {
            if (!(out = as_arg_value(cmd, argc, argv, &i))) return 2;
            const int rc = as_cli_writable(cmd, a, out);
            if (rc) return rc;
        } else {
            fprintf(stderr, "attnsweep predict: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "attnsweep predict: missing -o P.h5 (see --help)\n");
        return 2;
    }
    int rc = as_infer_cli_load(&c, cmd);
    if (!rc) rc = predict(&c, split, n, n_att, out);
    as_infer_cli_free(&c);
    return rc;
}
