/* dense.c: Keras Dense on the last axis, out = act(inp w + b), one sgemm each way. */
#include <cblas.h>

#include "attnsweep/layers.h"
#include "layers/layers_internal.h"

void as_dense_forward(float *out, const float *inp, const float *w, const float *b, int N,
                      int C, int U, as_act act) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, U, C, 1.0f, inp, C, w, U, 0.0f,
                out, U);
    as_layers_bias_act(out, b, (size_t)N, U, act);
}

void as_dense_backward(float *dinp, float *dw, float *db, float *dout, const float *out,
                       const float *inp, const float *w, int N, int C, int U, as_act act) {
    as_layers_act_grad_bias(dout, out, db, (size_t)N, U, act);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, U, N, 1.0f, inp, C, dout, U, 1.0f,
                dw, U);
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, U, 1.0f, dout, U, w, U, 1.0f,
                    dinp, C);
}
