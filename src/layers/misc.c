/* misc.c: global average pooling over time and inverted dropout (counter-based masks). */
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

uint64_t as_drop_sample_key(const as_drop_key *key, int b) {
    const uint64_t sample = (uint64_t)(key->row0 + b) & 0xFFFFFFFFULL;
    return as_rng_counter_key(key->seed, key->step, ((uint64_t)key->layer << 32) | sample);
}

float as_drop_u(const as_drop_key *key, int b, uint64_t e) {
    return as_rng_counter_at(as_drop_sample_key(key, b), e);
}

void as_dropout_forward(float *out, float *mask, const float *inp, int B, size_t per, float rate,
                        int training, const as_drop_key *key) {
    const size_t n = (size_t)B * per;
    if (!training || rate <= 0.0f) {
        if (out != inp) memmove(out, inp, n * sizeof(float));
        return;
    }
    const float keep = 1.0f / (1.0f - rate);
    for (int b = 0; b < B; b++) {
        const uint64_t k = as_drop_sample_key(key, b);
        const size_t off = (size_t)b * per;
        for (size_t e = 0; e < per; e++) {
            mask[off + e] = as_rng_counter_at(k, e) < rate ? 0.0f : keep;
            out[off + e] = inp[off + e] * mask[off + e];
        }
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
