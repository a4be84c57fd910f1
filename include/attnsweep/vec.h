/* vec.h: the vectorised element-wise kernels of the hot path (softmax, bias + activation,
 * residual adds, column sums), in three variants chosen once at run time from cpuid:
 *
 *   AS_VEC_AVX512  16 lanes, AVX-512F (gcc target attribute; no global -m flags)
 *   AS_VEC_AVX2    8 lanes, AVX2 + FMA
 *   AS_VEC_PORTABLE plain C (compiled with the project's strict IEEE flags)
 *
 * The default is the widest the CPU supports; ATTNSWEEP_SIMD=avx512|avx2|portable (read
 * once, at the first call) picks one, an unsupported or unknown value is an error printed
 * once and ignored. Results differ between variants only by rounding (summation order,
 * fused multiply-adds); none uses -ffast-math.
 *
 * as_vec_expf: exp(x) in float. Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2,
 * and the Cephes degree-7 polynomial for exp(r); 2^n applied as two exact powers of two.
 * Max relative error against double exp(): 8.1e-8, about 1 ulp (measured over
 * [-87.3, 88.7] by tests/unit/test_vec.c for every variant; it asserts 2.4e-7). Results
 * below FLT_MIN (x < -87.3365) are flushed to 0, x > 88.7228 gives +inf, NaN gives NaN.
 * tanh (activation): odd Taylor polynomial to x^11 for |x| < 0.25, else
 * sign(x)(1 - e)/(1 + e) with e = exp(-2|x|): max relative error 5e-7 (tested).
 * sigmoid: 1/(1 + exp(-x)).
 *
 * Buffers: any alignment; sizes in elements; n == 0 is allowed everywhere. */
#ifndef ATTNSWEEP_VEC_H
#define ATTNSWEEP_VEC_H

#include <stddef.h>

#include "attnsweep/spec.h"
#include "attnsweep/status.h"

typedef enum { AS_VEC_PORTABLE = 0, AS_VEC_AVX2 = 1, AS_VEC_AVX512 = 2 } as_vec_level;

/* Whether this CPU (cpuid, and the OS's saved state) runs the variant. */
int as_vec_supported(as_vec_level level);
/* Use that variant from now on (tests, benchmarks): AS_ERR_ARG if the CPU lacks it. Not
 * thread-safe against concurrent kernel calls. */
as_status as_vec_use(as_vec_level level, as_error *err);
as_vec_level as_vec_current(void);
const char *as_vec_name(as_vec_level level); /* "avx512", "avx2", "portable" */

float as_vec_expf(float x); /* scalar form of the kernels' exp (same polynomial) */

/* max_i x[i] (-inf when n == 0; unspecified -- NaN or an element -- when x has NaNs,
 * which the softmax then turns into an all-NaN row either way). */
float as_vec_max(const float *x, size_t n);
/* y[i] = exp(x[i] - shift); returns sum_i y[i]. y may be x. */
float as_vec_exp_sum(float *y, const float *x, size_t n, float shift);
/* x[i] *= s */
void as_vec_scale(float *x, size_t n, float s);
/* sum_i a[i] b[i] */
float as_vec_dot(const float *a, const float *b, size_t n);
/* Softmax of one row in place: x = exp(x - max) / sum. */
void as_vec_softmax(float *x, size_t n);
/* Softmax backward of one row: g[i] = p[i] (g[i] - sum_j g[j] p[j]). */
void as_vec_softmax_backward(float *g, const float *p, size_t n);
/* g[i] = p[i] (g[i] - s): the softmax backward with the row's sum_j g[j] p[j] given. */
void as_vec_mul_sub(float *g, const float *p, size_t n, float s);
/* out[i] = a[i] + b[i] (out may be a or b). */
void as_vec_add(float *out, const float *a, const float *b, size_t n);
/* x (N, F) = act(x + b) row by row; b may be NULL. */
void as_vec_bias_act(float *x, const float *b, size_t N, size_t F, as_act act);
/* d[i] *= act'(y[i]) with y the activation's output (linear: unchanged). */
void as_vec_act_backward(float *d, const float *y, size_t n, as_act act);
/* db[f] += sum_n d[n*ld + f], f < F. */
void as_vec_colsum_add(float *db, const float *d, size_t N, size_t F, size_t ld);

#endif
