/* conv1d.c: 1-D convolution (Keras Conv1D, stride 1, dilation) as im2col + one sgemm,
 * and the residual block y = x + act(conv_same(x)).
 *
 * The im2col matrix has one row per output position (b, t): the K taps
 * inp[b, t - pad_left + kk*dil, 0..C-1] for kk = 0..K-1 laid side by side (K*C floats),
 * zeros for taps outside [0, T). Its product with the kernel viewed as (K*C, F) is the
 * convolution. With K == 1 the matrix is the input itself, so it is not copied. */
#include <cblas.h>
#include <string.h>

#include "attnsweep/layers.h"
#include "layers/layers_internal.h"

size_t as_conv1d_scratch(int B, int To, int C, int K) {
    return (size_t)B * (size_t)To * (size_t)C * (size_t)K;
}

/* Builds the im2col matrix (B*To, K*C) in cols. */
static void im2col(float *cols, const float *inp, int B, int T, int C, int K, int dil,
                   int pad_left, int To) {
    const size_t c = (size_t)C, kc = (size_t)K * c;
    for (int b = 0; b < B; b++) {
        const float *xb = inp + (size_t)b * (size_t)T * c;
        float *rows = cols + (size_t)b * (size_t)To * kc;
        for (int t = 0; t < To; t++) {
            float *row = rows + (size_t)t * kc;
            const int t0 = t - pad_left; /* input position of tap 0 */
            if (dil == 1) {
                /* taps are consecutive input rows: one copy plus zero fills at the edges */
                int lo = t0 < 0 ? -t0 : 0;                   /* first tap inside */
                int hi = t0 + K > T ? T - t0 : K;            /* one past the last tap inside */
                if (hi < lo) hi = lo;
                if (lo > 0) memset(row, 0, (size_t)lo * c * sizeof(float));
                if (hi > lo)
                    memcpy(row + (size_t)lo * c, xb + (size_t)(t0 + lo) * c,
                           (size_t)(hi - lo) * c * sizeof(float));
                if (hi < K) memset(row + (size_t)hi * c, 0, (size_t)(K - hi) * c * sizeof(float));
                continue;
            }
            for (int kk = 0; kk < K; kk++) {
                const int ti = t0 + kk * dil;
                float *dst = row + (size_t)kk * c;
                if (ti >= 0 && ti < T)
                    memcpy(dst, xb + (size_t)ti * c, c * sizeof(float));
                else
                    memset(dst, 0, c * sizeof(float));
            }
        }
    }
}

/* dinp[b, t - pad_left + kk*dil, :] += cols[(b, t), kk*C .. kk*C+C) for taps inside. */
static void col2im_add(float *dinp, const float *cols, int B, int T, int C, int K, int dil,
                       int pad_left, int To) {
    const size_t c = (size_t)C, kc = (size_t)K * c;
    for (int b = 0; b < B; b++) {
        float *db = dinp + (size_t)b * (size_t)T * c;
        const float *rows = cols + (size_t)b * (size_t)To * kc;
        for (int t = 0; t < To; t++) {
            const float *row = rows + (size_t)t * kc;
            for (int kk = 0; kk < K; kk++) {
                const int ti = t - pad_left + kk * dil;
                if (ti < 0 || ti >= T) continue;
                float *dst = db + (size_t)ti * c;
                const float *src = row + (size_t)kk * c;
                for (size_t i = 0; i < c; i++) dst[i] += src[i];
            }
        }
    }
}

void as_conv1d_forward(float *out, const float *inp, const float *w, const float *b,
                       float *cols, int B, int T, int C, int F, int K, int dil, int pad_left,
                       int To, as_act act) {
    const int M = B * To, KC = K * C;
    const float *A = inp;
    if (K != 1 || pad_left != 0) {
        im2col(cols, inp, B, T, C, K, dil, pad_left, To);
        A = cols;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, F, KC, 1.0f, A, KC, w, F, 0.0f,
                out, F);
    as_layers_bias_act(out, b, (size_t)M, F, act);
}

void as_conv1d_backward(float *dinp, float *dw, float *db, float *dout, const float *out,
                        const float *inp, const float *w, float *cols, int B, int T, int C,
                        int F, int K, int dil, int pad_left, int To, as_act act) {
    const int M = B * To, KC = K * C;
    const int direct = (K == 1 && pad_left == 0); /* im2col(inp) == inp */
    as_layers_act_grad_bias(dout, out, db, (size_t)M, F, act);
    const float *A = inp;
    if (!direct) {
        im2col(cols, inp, B, T, C, K, dil, pad_left, To);
        A = cols;
    }
    /* dW (KC, F) += cols^T dY */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, KC, F, M, 1.0f, A, KC, dout, F, 1.0f,
                dw, F);
    if (!dinp) return;
    if (direct) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, C, F, 1.0f, dout, F, w, F, 1.0f,
                    dinp, C);
        return;
    }
    /* dcols (M, KC) = dY W^T, then scatter-add into dinp */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, KC, F, 1.0f, dout, F, w, F, 0.0f,
                cols, KC);
    col2im_add(dinp, cols, B, T, C, K, dil, pad_left, To);
}

void as_resconv1d_forward(float *out, float *branch, const float *inp, const float *w,
                          const float *b, float *cols, int B, int T, int C, int K, int dil,
                          as_act act) {
    const int pad_left = dil * (K - 1) / 2;
    as_conv1d_forward(branch, inp, w, b, cols, B, T, C, C, K, dil, pad_left, T, act);
    const size_t n = (size_t)B * (size_t)T * (size_t)C;
    for (size_t i = 0; i < n; i++) out[i] = inp[i] + branch[i];
}

void as_resconv1d_backward(float *dinp, float *dw, float *db, float *dout, const float *branch,
                           const float *inp, const float *w, float *cols, int B, int T, int C,
                           int K, int dil, as_act act) {
    const int pad_left = dil * (K - 1) / 2;
    if (dinp) {
        const size_t n = (size_t)B * (size_t)T * (size_t)C;
        for (size_t i = 0; i < n; i++) dinp[i] += dout[i]; /* the skip path */
    }
    as_conv1d_backward(dinp, dw, db, dout, branch, inp, w, cols, B, T, C, C, K, dil, pad_left,
                       T, act);
}
