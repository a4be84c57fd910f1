/* infer.c: a trained model applied to a dataset (see infer.h). */
#include "attnsweep/infer.h"

#include "attnsweep/alloc.h"
#include "attnsweep/train.h"
#include "attnsweep/weights.h"

const char *as_infer_split_name(as_infer_split s) {
    static const char *const names[] = {"train", "validation", "test"};
    return s >= AS_INFER_TRAIN && s <= AS_INFER_TEST ? names[s] : "unknown";
}

as_status as_infer_load(as_model *m, const as_spec *spec, const as_dataset *d, const char *weights,
                        as_error *err) {
    as_status st = as_fit_prepare(m, spec, d, 1, spec->train.seed, "spec", err);
    if (st) return st;
    if ((st = as_weights_load(weights, m, err))) as_model_free(m);
    return st;
}

as_status as_infer_rows(const as_dataset *d, const as_train_spec *t, as_infer_split split,
                        const as_split **s, int **rows, int *n, as_error *err) {
    *rows = NULL;
    *n = 0;
    if (split == AS_INFER_TEST) {
        if (!d->has_test || d->test.n < 1)
            return as_error_set(err, AS_ERR_ARG, "%s: no test split (/test)", d->path);
        if (!(*rows = as_malloc((size_t)d->test.n * sizeof(int))))
            return as_error_set(err, AS_ERR_NOMEM, "out of memory");
        for (int i = 0; i < d->test.n; i++) (*rows)[i] = i;
        *n = d->test.n;
        *s = &d->test;
        return AS_OK;
    }
    size_t bytes = (size_t)d->train.n * sizeof(int);
    int *tr = as_malloc(bytes), *va = as_malloc(bytes), nt, nv;
    as_status st = tr && va ? as_fit_split(d, t, tr, va, &nt, &nv, err)
                            : as_error_set(err, AS_ERR_NOMEM, "out of memory");
    if (!st && split == AS_INFER_VALIDATION && nv == 0)
        st = as_error_set(err, AS_ERR_ARG, "the spec has no validation split "
                          "(train.validation_split or train.validation)");
    if (st) {
        as_free(tr);
        as_free(va);
        return st;
    }
    *s = &d->train;
    if (split == AS_INFER_VALIDATION) {
        *rows = va;
        *n = nv;
        as_free(tr);
    } else {
        *rows = tr;
        *n = nt;
        as_free(va);
    }
    return AS_OK;
}
