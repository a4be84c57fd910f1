/* infer_cli.c: the options and loading shared by `predict` and `evaluate`. */
#include "cli/infer_cli.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/infer.h"
#include "cli/args.h"
#include "cli/cluster.h"
#include "cli/runtime.h"

int as_infer_cli_arg(as_infer_cli *c, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--weights")) return (c->weights = as_arg_value(cmd, argc, argv, i)) ? 1 : -1;
    if (!strcmp(a, "--data")) return (c->data = as_arg_value(cmd, argc, argv, i)) ? 1 : -1;
    if (!strcmp(a, "--threads"))
        return (v = as_arg_value(cmd, argc, argv, i)) && as_arg_int(cmd, a, v, 1, 1024, &c->threads)
                   ? 1 : -1;
    if (a[0] == '-') return 0;
    if (c->spec_path) {
        fprintf(stderr, "attnsweep %s: one spec file expected, got '%s' and '%s'\n", cmd,
                c->spec_path, a);
        return -1;
    }
    c->spec_path = a;
    return 1;
}

int as_infer_cli_load(as_infer_cli *c, const char *cmd) {
    if (!c->spec_path || !c->weights) {
        fprintf(stderr, "attnsweep %s: missing %s (see --help)\n", cmd,
                c->spec_path ? "--weights W.h5" : "SPEC.json");
        return 2;
    }
    as_h5_quiet();
    if (as_runtime_init(NULL, NULL) != 0) return 1; /* the thread logic asks MPI for the node */
    c->mpi = 1;
    as_runtime_set_threads((int)c->threads, 1);
    as_error err;
    as_error_clear(&err);
    as_status st = as_spec_load(c->spec_path, &c->spec, &err);
    if (!st && !c->threads && c->spec.train.threads > 0) /* the run's count: bit-identical dumps */
        as_runtime_set_threads(c->spec.train.threads, 1);
    const char *data = c->data ? c->data : c->spec.data;
    if (!st && (st = as_dataset_load(data, &c->d, &err))) as_error_prefix(&err, "data");
    if (!st && (st = as_infer_load(&c->m, &c->spec, &c->d, c->weights, &err)))
        as_error_prefix(&err, "%s", c->spec_path);
    if (!st) return 0;
    fprintf(stderr, "attnsweep %s: %s\n", cmd, err.msg);
    return as_status_exit_code(st);
}

void as_infer_cli_free(as_infer_cli *c) {
    as_model_free(&c->m);
    as_dataset_free(&c->d);
    as_spec_free(&c->spec);
    if (c->mpi) MPI_Finalize();
    c->mpi = 0;
}

int as_cli_writable(const char *cmd, const char *flag, const char *path) {
    as_error e;
    as_error_clear(&e);
    const as_status st = as_cluster_check_output(flag, path, &e);
    if (st == AS_OK) return 0;
    fprintf(stderr, "attnsweep %s: %s\n", cmd, e.msg);
    return as_status_exit_code(st);
}
