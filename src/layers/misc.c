/* misc.c: global average pooling over time and inverted dropout. */
#include <string.h>

#include "attnsweep/layers.h"

void as_gap1d_forward(float *out, const float *inp, int B, int T, int C) {
    const size_t c = (size_t)C;
    const float inv = 1.0f / (float)T;
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * c;
        const float *x = inp + (size_t)b * (size_t)T * c;
        memset(o, 0, c * sizeof(float));
        for (int t = 0; t < T; t++)
            for (size_t i = 0; i < c; i++) o[i] += x[(size_t)t * c + i];
        for (size_t i = 0; i < c; i++) o[i] *= inv;
    }
}

void as_gap1d_backward(float *dinp, const float *dout, int B, int T, int C) {
    if (!dinp) return;
    const size_t c = (size_t)C;
    const float inv = 1.0f / (float)T;
    for (int b = 0; b < B; b++) {
        const float *d = dout + (size_t)b * c;
        float *dx = dinp + (size_t)b * (size_t)T * c;
        for (int t = 0; t < T; t++)
            for (size_t i = 0; i < c; i++) dx[(size_t)t * c + i] += d[i] * inv;
    }
}

void as_dropout_forward(float *out, float *mask, const float *inp, size_t n, float rate,
                        int training, as_rng *rng) {
    if (!training || rate <= 0.0f) {
        if (out != inp) memmove(out, inp, n * sizeof(float));
        return;
    }
    const float keep = 1.0f / (1.0f - rate);
    for (size_t i = 0; i < n; i++) {
        mask[i] = as_rng_float(rng) < rate ? 0.0f : keep;
        out[i] = inp[i] * mask[i];
    }
}

void as_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n, float rate,
                         int training) {
    if (!dinp) return;
    if (!training || rate <= 0.0f) {
        for (size_t i = 0; i < n; i++) dinp[i] += dout[i];
        return;
    }
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * mask[i];
}
