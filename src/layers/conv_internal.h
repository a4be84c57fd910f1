/* conv_internal.h: the direct convolution kernel (conv_direct.c) that conv1d.c uses on
 * AVX2 + FMA CPUs, and the switch between it and the tap-GEMM path (tests, benchmarks).
 * Not part of the public API. */
#ifndef AS_CONV_INTERNAL_H
#define AS_CONV_INTERNAL_H

#include <stddef.h>

/* One stride-1 convolution y (B, Tout, Cout) (=|+=) conv(x (B, Tin, Cin)):
 *   y[b, t, o] = sum_{k < K, i < Cin} x[b, t + off + k*dil, i] * W(k, i, o)
 * with the taps outside [0, Tin) counting as zeros, then + bias[o] and relu when asked.
 * W(k, i, o) = w[(k*Cin + i)*Cout + o], or with flip (the input gradient of a
 * convolution whose kernel is w [K, Cout, Cin]) W(k, i, o) = w[((K-1-k)*Cout + o)*Cin + i]. */
typedef struct {
    float *y;
    const float *x, *w, *bias; /* bias [Cout] or NULL */
    int B, Tin, Cin, Tout, Cout, K, dil, off;
    int flip;       /* W read transposed and tap-reversed (above) */
    int accumulate; /* y += instead of y = (bias and relu then not allowed) */
    int relu;       /* y = max(y + bias, 0) */
} as_conv_direct_args;

/* Whether the CPU runs the kernel (AVX2 + FMA). */
int as_conv_direct_supported(void);
/* Floats of scratch the kernel needs (its packed weights and a zero row). */
size_t as_conv_direct_scratch(int K, int Cin, int Cout);
/* Runs the convolution on the rank's pool threads (rows split in fixed chunks, so the
 * result does not depend on the thread count). scratch: as_conv_direct_scratch floats.
 * Only when as_conv_direct_supported(). */
void as_conv_direct(const as_conv_direct_args *a, float *scratch);

/* The kernel gradient of a convolution with kernel w [K, C, F]: dw [K*C, F] +=
 * sum over output rows r of x_r^T dy_r, x_r the r-th im2col row, in fixed order:
 *  - the interior rows t in [i0, i1) of each sequence b (every tap inside it): dy row
 *    b*To + t, and x_r read from the input, element (k, c) at
 *    x[(b*Tin + t + off + k*dil)*C + c];
 *  - then ncols more rows given as im2col rows cols[r*K*C + k*C + c] with their dy rows
 *    dycols[r*F + f] (the boundary rows, or every row when there is no interior). */
typedef struct {
    float *dw;
    const float *x, *dy, *cols, *dycols;
    int B, Tin, To, C, F, K, dil, off, i0, i1, ncols;
} as_conv_dw_args;
/* Runs on the pool's threads (output tiles split; each element summed by one thread in
 * the order above). Only when as_conv_direct_supported(). */
void as_conv_direct_dw(const as_conv_dw_args *a);

/* Which path conv1d.c takes: AUTO (the direct kernel when the CPU runs it, the vector
 * variant (vec.h) is not portable and its scratch fits; else the tap GEMMs), or one
 * forced (DIRECT still needs the CPU and the scratch). Not thread-safe against running
 * convolutions; for tests and benchmarks. */
typedef enum { AS_CONV_AUTO = 0, AS_CONV_TAPS = 1, AS_CONV_DIRECT = 2 } as_conv_path;
void as_conv1d_use_path(as_conv_path p);

#endif
