/* activation.c: element-wise activations (in place) and their derivatives from outputs. */
#include <math.h>

#include "attnsweep/layers.h"
#include "layers/layers_internal.h"

void as_act_forward(float *x, size_t n, as_act a) {
    switch (a) {
    case AS_ACT_RELU:
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case AS_ACT_TANH:
        for (size_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
        break;
    case AS_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    default: /* linear */
        break;
    }
}

void as_act_backward(float *d, const float *y, size_t n, as_act a) {
    switch (a) {
    case AS_ACT_RELU:
        for (size_t i = 0; i < n; i++) d[i] = y[i] > 0.0f ? d[i] : 0.0f;
        break;
    case AS_ACT_TANH:
        for (size_t i = 0; i < n; i++) d[i] *= 1.0f - y[i] * y[i];
        break;
    case AS_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) d[i] *= y[i] * (1.0f - y[i]);
        break;
    default:
        break;
    }
}

void as_layers_bias_act(float *out, const float *b, size_t N, int F, as_act act) {
    for (size_t n = 0; n < N; n++) {
        float *row = out + n * (size_t)F;
        if (b)
            for (int f = 0; f < F; f++) row[f] += b[f];
        as_act_forward(row, (size_t)F, act);
    }
}

void as_layers_colsum_add(float *db, const float *d, size_t N, int F, int ld) {
    for (size_t n = 0; n < N; n++) {
        const float *row = d + n * (size_t)ld;
        for (int f = 0; f < F; f++) db[f] += row[f];
    }
}

void as_layers_act_grad_bias(float *d, const float *y, float *db, size_t N, int F, as_act act) {
    for (size_t n = 0; n < N; n++) {
        float *row = d + n * (size_t)F;
        as_act_backward(row, y + n * (size_t)F, (size_t)F, act);
        for (int f = 0; f < F; f++) db[f] += row[f];
    }
}
