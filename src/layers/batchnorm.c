/* batchnorm.c: Keras BatchNormalization on the channel (last) axis over rows (N, C).
 *
 * Statistics are per channel over all N rows, accumulated in double as sums (Σx, Σx²)
 * so that data-parallel ranks can add theirs before dividing by the global count
 * (synchronised batch norm); the variance is the biased one (Keras). */
#include <math.h>
#include <string.h>

#include "attnsweep/layers.h"

void as_bn_sums(double *sums, const float *inp, int N, int C) {
    const size_t c = (size_t)C;
    memset(sums, 0, 2 * c * sizeof(double));
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * c;
        for (size_t i = 0; i < c; i++) {
            const double v = (double)x[i];
            sums[i] += v;
            sums[c + i] += v * v;
        }
    }
}

void as_bn_moments(float *mean, float *var, const double *sums, double count, int C) {
    for (int i = 0; i < C; i++) {
        const double m = count > 0 ? sums[i] / count : 0.0;
        const double v = count > 0 ? sums[C + i] / count - m * m : 0.0;
        mean[i] = (float)m;
        var[i] = (float)(v > 0.0 ? v : 0.0);
    }
}

void as_bn_update_moving(float *moving_mean, float *moving_var, const float *mean,
                         const float *var, int C, float momentum) {
    for (int i = 0; i < C; i++) {
        moving_mean[i] = moving_mean[i] * momentum + mean[i] * (1.0f - momentum);
        moving_var[i] = moving_var[i] * momentum + var[i] * (1.0f - momentum);
    }
}

void as_bn_rstd(float *rstd, const float *var, int C, float eps) {
    for (int i = 0; i < C; i++) rstd[i] = 1.0f / sqrtf(var[i] + eps);
}

void as_bn_forward(float *out, const float *inp, const float *mean, const float *rstd,
                   const float *gamma, const float *beta, int N, int C) {
    const size_t c = (size_t)C;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * c;
        float *y = out + (size_t)n * c;
        for (size_t i = 0; i < c; i++) {
            float v = (x[i] - mean[i]) * rstd[i];
            if (gamma) v *= gamma[i];
            if (beta) v += beta[i];
            y[i] = v;
        }
    }
}

void as_bn_backward_sums(double *sums, float *dgamma, float *dbeta, const float *dout,
                         const float *inp, const float *mean, const float *rstd, int N, int C) {
    const size_t c = (size_t)C;
    memset(sums, 0, 2 * c * sizeof(double));
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * c;
        const float *d = dout + (size_t)n * c;
        for (size_t i = 0; i < c; i++) {
            const double xh = (double)((x[i] - mean[i]) * rstd[i]);
            sums[i] += (double)d[i];
            sums[c + i] += (double)d[i] * xh;
        }
    }
    for (size_t i = 0; i < c; i++) {
        if (dbeta) dbeta[i] += (float)sums[i];
        if (dgamma) dgamma[i] += (float)sums[c + i];
    }
}

void as_bn_backward(float *dinp, const float *dout, const float *inp, const float *mean,
                    const float *rstd, const float *gamma, const double *sums, double count,
                    int N, int C) {
    if (!dinp || count <= 0) return;
    const size_t c = (size_t)C;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * c;
        const float *d = dout + (size_t)n * c;
        float *dx = dinp + (size_t)n * c;
        for (size_t i = 0; i < c; i++) {
            const float xh = (x[i] - mean[i]) * rstd[i];
            const float s1 = (float)(sums[i] / count), s2 = (float)(sums[c + i] / count);
            const float g = gamma ? gamma[i] : 1.0f;
            dx[i] += g * rstd[i] * (d[i] - s1 - xh * s2);
        }
    }
}
