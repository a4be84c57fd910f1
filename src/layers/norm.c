/* norm.c: Keras LayerNormalization over the last axis (epsilon 1e-3, biased variance). */
#include <math.h>

#include "attnsweep/layers.h"

void as_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *gamma, const float *beta, int N, int C) {
    const size_t c = (size_t)C;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * c;
        float *y = out + (size_t)n * c;
        float m = 0.0f;
        for (size_t i = 0; i < c; i++) m += x[i];
        m /= (float)C;
        float v = 0.0f;
        for (size_t i = 0; i < c; i++) v += (x[i] - m) * (x[i] - m);
        v /= (float)C;
        const float r = 1.0f / sqrtf(v + AS_LAYER_NORM_EPS);
        for (size_t i = 0; i < c; i++) y[i] = (x[i] - m) * r * gamma[i] + beta[i];
        mean[n] = m;
        rstd[n] = r;
    }
}

void as_layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *inp, const float *mean, const float *rstd,
                           const float *gamma, int N, int C) {
    const size_t c = (size_t)C;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * c;
        const float *d = dout + (size_t)n * c;
        const float m = mean[n], r = rstd[n];
        /* dxhat = d * gamma; dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
        float s1 = 0.0f, s2 = 0.0f;
        for (size_t i = 0; i < c; i++) {
            const float xh = (x[i] - m) * r;
            const float dxh = d[i] * gamma[i];
            dgamma[i] += d[i] * xh;
            dbeta[i] += d[i];
            s1 += dxh;
            s2 += dxh * xh;
        }
        if (!dinp) continue;
        s1 /= (float)C;
        s2 /= (float)C;
        float *dx = dinp + (size_t)n * c;
        for (size_t i = 0; i < c; i++) {
            const float xh = (x[i] - m) * r;
            dx[i] += r * (d[i] * gamma[i] - s1 - xh * s2);
        }
    }
}
