/* consumer.c: trains the model of a spec file for one epoch through libattnsweep and
 * prints its parameter count and loss the way `attnsweep train` does, so the test can
 * compare the library with the installed binary. Usage: consumer SPEC.json */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include <attnsweep/dataset.h>
#include <attnsweep/model.h>
#include <attnsweep/spec.h>
#include <attnsweep/train.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: consumer SPEC.json\n");
        return 2;
    }
    MPI_Init(&argc, &argv);
    as_spec spec;
    as_dataset data;
    as_model model;
    as_history hist;
    as_fit_opts fo;
    as_error err;
    memset(&spec, 0, sizeof spec);
    memset(&data, 0, sizeof data);
    memset(&model, 0, sizeof model);
    memset(&hist, 0, sizeof hist);
    memset(&fo, 0, sizeof fo);
    as_error_clear(&err);
    fo.comm = MPI_COMM_NULL;
    fo.overlap = 1;
    fo.bucket_kb = 1024;
    as_status st = as_spec_load(argv[1], &spec, &err);
    if (!st) {
        spec.train.epochs = 1;
        st = as_dataset_load(spec.data, &data, &err);
    }
    if (!st) st = as_fit_prepare(&model, &spec, &data, 1, spec.train.seed, argv[1], &err);
    if (!st) st = as_fit(&model, &data, &spec.train, &fo, &hist, &err);
    if (!st) printf("consumer: %zu parameters; epoch 1 loss %.6g\n", model.n_params, hist.loss[0]);
    else fprintf(stderr, "consumer: %s\n", err.msg);
    as_history_free(&hist);
    as_model_free(&model);
    as_dataset_free(&data);
    as_spec_free(&spec);
    MPI_Finalize();
    return st ? 1 : 0;
}
