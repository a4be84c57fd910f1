/* loss.c: mean squared error and sparse categorical cross-entropy from logits. */
#include <math.h>

#include "attnsweep/layers.h"

double as_loss_mse(float *dpred, const float *pred, const float *y, int B, int m, float scale) {
    const size_t mm = (size_t)m;
    const float g = 2.0f * scale / (float)m;
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *p = pred + (size_t)b * mm, *t = y + (size_t)b * mm;
        double s = 0.0;
        for (size_t i = 0; i < mm; i++) {
            const double e = (double)p[i] - (double)t[i];
            s += e * e;
        }
        total += s / (double)m;
        if (dpred) {
            float *d = dpred + (size_t)b * mm;
            for (size_t i = 0; i < mm; i++) d[i] = g * (p[i] - t[i]);
        }
    }
    return total;
}

double as_loss_sce(float *dlogits, const float *logits, const int *labels, int B, int K,
                   float scale, long *correct) {
    const size_t k = (size_t)K;
    double total = 0.0;
    long hits = 0;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * k;
        int arg = 0;
        for (int j = 1; j < K; j++)
            if (z[j] > z[arg]) arg = j;
        const double mx = (double)z[arg];
        double se = 0.0;
        for (size_t j = 0; j < k; j++) se += exp((double)z[j] - mx);
        const double lse = log(se);
        const int lab = labels[b];
        total += lse - ((double)z[lab] - mx);
        hits += (arg == lab);
        if (dlogits) {
            float *d = dlogits + (size_t)b * k;
            for (size_t j = 0; j < k; j++) {
                const double p = exp((double)z[j] - mx - lse);
                d[j] = (float)((double)scale * (p - (j == (size_t)lab ? 1.0 : 0.0)));
            }
        }
    }
    if (correct) *correct += hits;
    return total;
}
