/* vec_x86.c: the AVX2 and AVX-512 variants of the element-wise kernels. The kernels are
 * written once (vec_simd.inc) and compiled here twice, each time under a `#pragma GCC
 * target` (clang: `#pragma clang attribute` giving every function the target attribute,
 * as clang ignores the GCC pragma) for its instruction set, so the rest of the project
 * keeps the baseline x86-64 flags; vec.c calls a variant only when cpuid says the CPU
 * has it. */
#include <math.h>
#include <stddef.h>

#include "layers/simd_target.h"
#include "attnsweep/vec.h"
#include "layers/vec_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* ---------------- AVX2 + FMA: 8 lanes ---------------- */
AS_TARGET_AVX2_BEGIN
#define VT __m256
#define VW ((size_t)8)
#define SFX(name) name##_avx2
static inline VT v_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void v_store(float *p, VT v) { _mm256_storeu_ps(p, v); }
static inline VT v_set1(float x) { return _mm256_set1_ps(x); }
static inline VT v_add(VT a, VT b) { return _mm256_add_ps(a, b); }
static inline VT v_sub(VT a, VT b) { return _mm256_sub_ps(a, b); }
static inline VT v_mul(VT a, VT b) { return _mm256_mul_ps(a, b); }
static inline VT v_div(VT a, VT b) { return _mm256_div_ps(a, b); }
static inline VT v_fma(VT a, VT b, VT c) { return _mm256_fmadd_ps(a, b, c); }
static inline VT v_max(VT a, VT b) { return _mm256_max_ps(a, b); }
static inline VT v_min(VT a, VT b) { return _mm256_min_ps(a, b); }
static inline VT v_round(VT a) {
    return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline VT v_pow2_scale(VT y, VT n) {
    const __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1);
    const __m256i n2 = _mm256_sub_epi32(ni, n1), bias = _mm256_set1_epi32(127);
    const VT f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const VT f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(y, f1), f2);
}
static inline VT v_sel_lt(VT a, VT b, VT x, VT y) {
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
}
static inline VT v_sel_gt(VT a, VT b, VT x, VT y) {
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_GT_OQ));
}
static inline VT v_abs(VT a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline VT v_copysign(VT mag, VT sgn) {
    const VT sm = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sm, mag), _mm256_and_ps(sm, sgn));
}
static inline float v_hsum(VT a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
static inline float v_hmax(VT a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
#include "layers/vec_simd.inc"
#undef VT
#undef VW
#undef SFX
AS_TARGET_END

/* ---------------- AVX-512F: 16 lanes ---------------- */
AS_TARGET_AVX512_BEGIN
#define VT __m512
#define VW ((size_t)16)
#define SFX(name) name##_avx512
#define v_load v512_load
#define v_store v512_store
#define v_set1 v512_set1
#define v_add v512_add
#define v_sub v512_sub
#define v_mul v512_mul
#define v_div v512_div
#define v_fma v512_fma
#define v_max v512_max
#define v_min v512_min
#define v_round v512_round
#define v_pow2_scale v512_pow2_scale
#define v_sel_lt v512_sel_lt
#define v_sel_gt v512_sel_gt
#define v_abs v512_abs
#define v_copysign v512_copysign
#define v_hsum v512_hsum
#define v_hmax v512_hmax
static inline VT v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void v_store(float *p, VT v) { _mm512_storeu_ps(p, v); }
static inline VT v_set1(float x) { return _mm512_set1_ps(x); }
static inline VT v_add(VT a, VT b) { return _mm512_add_ps(a, b); }
static inline VT v_sub(VT a, VT b) { return _mm512_sub_ps(a, b); }
static inline VT v_mul(VT a, VT b) { return _mm512_mul_ps(a, b); }
static inline VT v_div(VT a, VT b) { return _mm512_div_ps(a, b); }
static inline VT v_fma(VT a, VT b, VT c) { return _mm512_fmadd_ps(a, b, c); }
static inline VT v_max(VT a, VT b) { return _mm512_max_ps(a, b); }
static inline VT v_min(VT a, VT b) { return _mm512_min_ps(a, b); }
static inline VT v_round(VT a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline VT v_pow2_scale(VT y, VT n) {
    const __m512i ni = _mm512_cvtps_epi32(n), n1 = _mm512_srai_epi32(ni, 1);
    const __m512i n2 = _mm512_sub_epi32(ni, n1), bias = _mm512_set1_epi32(127);
    const VT f1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    const VT f2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    return _mm512_mul_ps(_mm512_mul_ps(y, f1), f2);
}
static inline VT v_sel_lt(VT a, VT b, VT x, VT y) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x);
}
static inline VT v_sel_gt(VT a, VT b, VT x, VT y) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ), y, x);
}
static inline VT v_abs(VT a) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7fffffff)));
}
static inline VT v_copysign(VT mag, VT sgn) {
    const __m512i sm = _mm512_set1_epi32((int)0x80000000u);
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_andnot_si512(sm, _mm512_castps_si512(mag)),
                                               _mm512_and_si512(sm, _mm512_castps_si512(sgn))));
}
static inline float v_hsum(VT a) { return _mm512_reduce_add_ps(a); }
static inline float v_hmax(VT a) { return _mm512_reduce_max_ps(a); }
#include "layers/vec_simd.inc"
AS_TARGET_END

#endif
