/* vec_internal.h: the table of one variant's kernels (vec.c dispatches through it). */
#ifndef AS_VEC_INTERNAL_H
#define AS_VEC_INTERNAL_H

#include <stddef.h>

#include "attnsweep/spec.h"

typedef struct {
    float (*max)(const float *x, size_t n);
    float (*exp_sum)(float *y, const float *x, size_t n, float shift);
    void (*scale)(float *x, size_t n, float s);
    float (*dot)(const float *a, const float *b, size_t n);
    void (*softmax_bwd)(float *g, const float *p, size_t n, float s); /* g = p (g - s) */
    void (*add)(float *out, const float *a, const float *b, size_t n);
    void (*bias_act)(float *x, const float *b, size_t F, as_act act); /* one row */
    void (*act_bwd)(float *d, const float *y, size_t n, as_act act);
    void (*colsum_add)(float *db, const float *d, size_t N, size_t F, size_t ld);
} as_vec_ops;

/* The x86 variants (vec_x86.c); NULL members never: both tables are complete. They may
 * only be called on CPUs for which as_vec_supported() says yes. */
extern const as_vec_ops as_vec_ops_avx2, as_vec_ops_avx512;
/* Scalar forms shared by the portable variant and the SIMD tails. */
float as_vec_tanhf(float x);
float as_vec_act1(float x, as_act act);
float as_vec_dact1(float d, float y, as_act act);

#endif
