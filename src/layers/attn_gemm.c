/* attn_gemm.c: the AVX2+FMA block products of the fused attention (see attn_gemm.h), the
 * packing of their B panels and the exp of attention rows. One register tile (MR rows x
 * NV vectors of 8 columns; B read from its zero-padded panel, C's last vector written
 * masked when partial) is written once as an always-inline function and instantiated for
 * every (rows, vectors, partial) combination, in two copies: A row-major (NN) and A
 * transposed (TN). Compiled under `#pragma GCC target("avx2,fma")` (clang: a target
 * attribute on every function); called only where as_attn_gemm_active() says so. Other
 * CPUs get the same contract in plain C at the end. */
#include "layers/simd_target.h"
#include "layers/attn_gemm.h"

#include <stddef.h>
#include <stdint.h>

#include "attnsweep/vec.h"

int as_attn_gemm_active(void) {
#ifdef AS_ATTN_GEMM_X86
    return as_vec_current() != AS_VEC_PORTABLE && as_vec_supported(AS_VEC_AVX2);
#else
    return 0;
#endif
}

#ifdef AS_ATTN_GEMM_X86
#include <immintrin.h>

AS_TARGET_AVX2_BEGIN

#define MR 6 /* rows per tile: 12 accumulators + 2 B vectors + 1 broadcast of 16 registers */
#define AG_INLINE static inline __attribute__((always_inline))

/* lanes [0, rem) set, 0 <= rem <= 8 */
static __m256i lane_mask(int rem) {
    static const int32_t tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(const void *)(tab + 8 - rem));
}

AG_INLINE __m256 load_v(const float *p, int masked, __m256i mk) {
    return masked ? _mm256_maskload_ps(p, mk) : _mm256_loadu_ps(p);
}

AG_INLINE void store_v(float *p, __m256 x, int masked, __m256i mk) {
    if (masked) _mm256_maskstore_ps(p, mk, x);
    else _mm256_storeu_ps(p, x);
}

/* exp(x) for attention's shifted scores (x <= 0 up to rounding): the reduction and
 * polynomial of the SIMD exp of vec_simd.inc, so the same bits for -87.3365 <= x <= 88,
 * in fewer steps: x is clamped to [lo, 88] and 2^n applied as one power of two (n >= -126
 * there); x < lo gives 0 and NaN stays NaN, as there; x > 88 (never a shifted score)
 * gives exp(88) instead of exp(x). */
AG_INLINE __m256 exp_attn(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3365479f);
    const __m256 xc = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(lo, x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693359375f), xc);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 y =
        _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    const __m256 keep = _mm256_cmp_ps(x, lo, _CMP_NLT_UQ); /* x >= lo or NaN */
    return _mm256_and_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(e)), keep);
}

/* Where one tile reads and writes: rows i0.., columns j0.. of C; A, B already offset (B:
 * one panel, rows of 16). */
typedef struct {
    const float *A, *B;
    float *C;
    size_t sam, sak, ldc;
    int k, i0, j0;
    __m256i mk;
    const as_ag_epi *e;
} tile_args;

/* Row r of a tile through the epilogue: x0, x1 its accumulators. */
AG_INLINE void tile_row(const int nv, const int part, const tile_args *t, int r, __m256 x0,
                        __m256 x1) {
    const as_ag_epi *e = t->e;
    for (int v = 0; v < nv; v++) {
        const int m = part && v == nv - 1;
        float *c = t->C + (size_t)r * t->ldc + 8 * v;
        __m256 x = v ? x1 : x0;
        if (e->mode == AS_AG_STORE) {
            if (e->bias) x = _mm256_add_ps(x, load_v(e->bias + t->j0 + 8 * v, m, t->mk));
            x = _mm256_mul_ps(x, _mm256_set1_ps(e->alpha));
        }
        else if (e->mode == AS_AG_ADD)
            x = _mm256_fmadd_ps(x, _mm256_set1_ps(e->alpha), load_v(c, m, t->mk));
        else if (e->mode == AS_AG_EXP)
            x = exp_attn(_mm256_sub_ps(x, _mm256_set1_ps(e->r[t->i0 + r])));
        else {
            const size_t row = (size_t)(t->i0 + r);
            const float *ep = e->E + row * (size_t)e->lde + t->j0 + 8 * v;
            x = _mm256_mul_ps(load_v(ep, m, t->mk), _mm256_sub_ps(x, _mm256_set1_ps(e->r[row])));
        }
        store_v(c, x, m, t->mk);
    }
}

/* C(mr x 8 nv) <- epilogue(A B); mr, nv, part are constants at every call. The
 * accumulators are named variables (an array of them would live on the stack). */
#define ACC_FMA(r)                                                                          \
    if (mr > r) {                                                                           \
        const __m256 av = _mm256_broadcast_ss(a + (size_t)r * t->sam);                      \
        c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0);                                         \
        if (nv == 2) c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);                            \
    }
AG_INLINE void tile(const int mr, const int nv, const int part, const tile_args *t) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a = t->A, *b = t->B;
    for (int p = 0; p < t->k; p++, a += t->sak, b += AS_AG_PANEL) {
        const __m256 b0 = _mm256_loadu_ps(b);
        const __m256 b1 = nv == 2 ? _mm256_loadu_ps(b + 8) : b0;
        ACC_FMA(0) ACC_FMA(1) ACC_FMA(2) ACC_FMA(3) ACC_FMA(4) ACC_FMA(5)
    }
    tile_row(nv, part, t, 0, c00, c01);
    if (mr > 1) tile_row(nv, part, t, 1, c10, c11);
    if (mr > 2) tile_row(nv, part, t, 2, c20, c21);
    if (mr > 3) tile_row(nv, part, t, 3, c30, c31);
    if (mr > 4) tile_row(nv, part, t, 4, c40, c41);
    if (mr > 5) tile_row(nv, part, t, 5, c50, c51);
}
#undef ACC_FMA

/* One tile of mr rows (1..MR) with nv vectors, the last partial or not. */
#define TILE_CASES(NV, PART)                                                                \
    switch (mr) {                                                                          \
    case 1: tile(1, NV, PART, t); break;                                                   \
    case 2: tile(2, NV, PART, t); break;                                                   \
    case 3: tile(3, NV, PART, t); break;                                                   \
    case 4: tile(4, NV, PART, t); break;                                                   \
    case 5: tile(5, NV, PART, t); break;                                                   \
    default: tile(MR, NV, PART, t); break;                                                 \
    }

AG_INLINE void tile_any(int mr, int nv, int part, const tile_args *t) {
    if (nv == 2) {
        if (part) TILE_CASES(2, 1) else TILE_CASES(2, 0)
    } else if (part) TILE_CASES(1, 1) else TILE_CASES(1, 0)
}

/* Rows in blocks of MB, inside each block columns in panels of 16 (the last 1..16 wide)
 * and rows in tiles of MR inside each panel: a panel is read from L1 by every row tile of
 * the block, and the block's rows of A stay in L1 across the panels (m may be large: the
 * projections' B T rows). */
#define MB 64 /* = AS_ATTN_FAST_BR: a query block is one row block */
AG_INLINE void gemm(int m, int n, int k, const float *A, size_t sam, size_t sak, const float *Bp,
                    size_t bps, float *C, int ldc, const as_ag_epi *e) {
    tile_args t = {A, Bp, C, sam, sak, (size_t)ldc, k, 0, 0, lane_mask(8), e};
    for (int i0 = 0; i0 < m; i0 += MB) {
        const int i1 = m - i0 < MB ? m : i0 + MB;
        for (int j = 0; j < n; j += AS_AG_PANEL) {
            const int w = n - j < AS_AG_PANEL ? n - j : AS_AG_PANEL, nv = w > 8 ? 2 : 1;
            const int rem = w - 8 * (nv - 1);
            t.mk = lane_mask(rem);
            t.j0 = j;
            t.B = Bp + (size_t)(j / AS_AG_PANEL) * bps;
            for (int i = i0; i < i1; i += MR) {
                t.i0 = i;
                t.A = A + (size_t)i * sam;
                t.C = C + (size_t)i * (size_t)ldc + j;
                tile_any(i1 - i < MR ? i1 - i : MR, nv, rem < 8, &t);
            }
        }
    }
}

void as_attn_gemm(int tn, int m, int n, int k, const float *A, int lda, const float *Bp,
                  size_t bps, float *C, int ldc, const as_ag_epi *e) {
    if (tn) gemm(m, n, k, A, 1, (size_t)lda, Bp, bps, C, ldc, e); /* constant strides: */
    else gemm(m, n, k, A, (size_t)lda, 1, Bp, bps, C, ldc, e);    /* two instantiations */
}

/* Panels of a rows x cols matrix: panel c holds columns [16c, 16c + 16) as rows of 16,
 * zero past cols; sums[c] += the columns, row by row. */
void as_attn_pack(float *dst, size_t ps, const float *src, int rows, int cols, int ld,
                  float *sums) {
    for (int c0 = 0; c0 < cols; c0 += AS_AG_PANEL) {
        float *d = dst + (size_t)(c0 / AS_AG_PANEL) * ps;
        const int w = cols - c0 < AS_AG_PANEL ? cols - c0 : AS_AG_PANEL;
        const __m256i m0 = lane_mask(w < 8 ? w : 8), m1 = lane_mask(w > 8 ? w - 8 : 0);
        __m256 s0 = sums ? _mm256_maskload_ps(sums + c0, m0) : _mm256_setzero_ps();
        __m256 s1 = sums ? _mm256_maskload_ps(sums + c0 + 8, m1) : s0;
        for (int r = 0; r < rows; r++, d += AS_AG_PANEL) {
            const float *sr = src + (size_t)r * (size_t)ld + c0;
            const __m256 x0 = load_v(sr, w < 8, m0);
            const __m256 x1 = w == 16 ? _mm256_loadu_ps(sr + 8) : _mm256_maskload_ps(sr + 8, m1);
            _mm256_storeu_ps(d, x0);
            _mm256_storeu_ps(d + 8, x1);
            s0 = _mm256_add_ps(s0, x0), s1 = _mm256_add_ps(s1, x1);
        }
        if (sums) {
            _mm256_maskstore_ps(sums + c0, m0, s0);
            _mm256_maskstore_ps(sums + c0 + 8, m1, s1);
        }
    }
}

/* The 8 x 8 block whose rows are r0..r7, transposed in place (r_c: the block's column c). */
#define TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7)                                          \
    do {                                                                                    \
        const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);      \
        const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);      \
        const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);      \
        const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);      \
        const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee); \
        const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee); \
        const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee); \
        const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee); \
        r0 = _mm256_permute2f128_ps(u0, u4, 0x20), r1 = _mm256_permute2f128_ps(u1, u5, 0x20); \
        r2 = _mm256_permute2f128_ps(u2, u6, 0x20), r3 = _mm256_permute2f128_ps(u3, u7, 0x20); \
        r4 = _mm256_permute2f128_ps(u0, u4, 0x31), r5 = _mm256_permute2f128_ps(u1, u5, 0x31); \
        r6 = _mm256_permute2f128_ps(u2, u6, 0x31), r7 = _mm256_permute2f128_ps(u3, u7, 0x31); \
    } while (0)

/* Columns [c0, c0 + 8) (cw of them valid) of src rows [r0, r0 + 8) (rw valid, the rest
 * read as 0) into d: column c at d[(c - c0) * 16]. */
static void pack_t_block(float *d, const float *src, int ld, int rw, int cw) {
    const __m256i mk = lane_mask(cw), z = lane_mask(0);
    __m256 v[8];
    for (int j = 0; j < 8; j++)
        v[j] = _mm256_maskload_ps(src + (size_t)(j < rw ? j : 0) * ld, j < rw ? mk : z);
    TRANSPOSE8(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
    for (int c = 0; c < cw; c++) _mm256_storeu_ps(d + (size_t)c * AS_AG_PANEL, v[c]);
}

/* Panels of the transpose (cols x rows) of a rows x cols matrix: panel c holds src rows
 * [16c, 16c + 16) as cols rows of 16, zero past rows; 8 x 8 blocks transposed in
 * registers. */
void as_attn_pack_t(float *dst, size_t ps, const float *src, int rows, int cols, int ld) {
    for (int r0 = 0; r0 < rows; r0 += AS_AG_PANEL) {
        float *d = dst + (size_t)(r0 / AS_AG_PANEL) * ps;
        for (int h = 0; h < 2; h++) { /* the panel's two halves of 8 rows */
            const int rw = rows - r0 - 8 * h;
            for (int c0 = 0; c0 < cols; c0 += 8) {
                float *db = d + (size_t)c0 * AS_AG_PANEL + 8 * h;
                const int cw = cols - c0 < 8 ? cols - c0 : 8;
                if (rw <= 0)
                    for (int c = 0; c < cw; c++)
                        _mm256_storeu_ps(db + (size_t)c * AS_AG_PANEL, _mm256_setzero_ps());
                else
                    pack_t_block(db, src + (size_t)(r0 + 8 * h) * (size_t)ld + c0, ld,
                                 rw < 8 ? rw : 8, cw);
            }
        }
    }
}

void as_attn_exp_rows(float *S, int rows, int n, int ld, const float *shift, float *sums) {
    const __m256i mk = lane_mask(n % 8);
    for (int r = 0; r < rows; r++) {
        float *s = S + (size_t)r * (size_t)ld;
        const __m256 sh = _mm256_set1_ps(shift[r]);
        __m256 acc = _mm256_setzero_ps();
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            const __m256 y = exp_attn(_mm256_sub_ps(_mm256_loadu_ps(s + j), sh));
            _mm256_storeu_ps(s + j, y);
            acc = _mm256_add_ps(acc, y);
        }
        if (j < n) { /* the masked lanes load 0 and are cleared before the sum */
            const __m256 x = _mm256_sub_ps(_mm256_maskload_ps(s + j, mk), sh);
            const __m256 y = _mm256_and_ps(exp_attn(x), _mm256_castsi256_ps(mk));
            _mm256_maskstore_ps(s + j, mk, y);
            acc = _mm256_add_ps(acc, y);
        }
        if (sums) {
            __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
            h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            sums[r] = _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
        }
    }
}

AS_TARGET_END

#else /* not x86-64: the same contract in plain C (never selected, see attn_gemm.h) */
/* Panels of a rows x cols matrix: panel c holds columns [16c, 16c + 16) as rows of 16,
 * zero past cols; sums[c] += the columns, row by row. */
void as_attn_pack(float *dst, size_t ps, const float *src, int rows, int cols, int ld,
                  float *sums) {
    for (int c0 = 0; c0 < cols; c0 += AS_AG_PANEL) {
        float *d = dst + (size_t)(c0 / AS_AG_PANEL) * ps;
        const int w = cols - c0 < AS_AG_PANEL ? cols - c0 : AS_AG_PANEL;
        for (int r = 0; r < rows; r++) {
            const float *s = src + (size_t)r * (size_t)ld + c0;
            float *dr = d + (size_t)r * AS_AG_PANEL;
            int j = 0;
            for (; j < w; j++) {
                dr[j] = s[j];
                if (sums) sums[c0 + j] += s[j];
            }
            for (; j < AS_AG_PANEL; j++) dr[j] = 0.0f;
        }
    }
}

/* Panels of the transpose (cols x rows) of a rows x cols matrix: panel c holds src rows
 * [16c, 16c + 16) as cols rows of 16, zero past rows. */
void as_attn_pack_t(float *dst, size_t ps, const float *src, int rows, int cols, int ld) {
    for (int r0 = 0; r0 < rows; r0 += AS_AG_PANEL) {
        float *d = dst + (size_t)(r0 / AS_AG_PANEL) * ps;
        const int w = rows - r0 < AS_AG_PANEL ? rows - r0 : AS_AG_PANEL;
        for (int c = 0; c < cols; c++) {
            float *dr = d + (size_t)c * AS_AG_PANEL;
            int j = 0;
            for (; j < w; j++) dr[j] = src[(size_t)(r0 + j) * (size_t)ld + c];
            for (; j < AS_AG_PANEL; j++) dr[j] = 0.0f;
        }
    }
}

void as_attn_gemm(int tn, int m, int n, int k, const float *A, int lda, const float *Bp,
                  size_t bps, float *C, int ldc, const as_ag_epi *e) {
    const size_t sam = tn ? 1 : (size_t)lda, sak = tn ? (size_t)lda : 1;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            const float *b = Bp + (size_t)(j / AS_AG_PANEL) * bps + j % AS_AG_PANEL;
            float s = 0.0f;
            for (int p = 0; p < k; p++)
                s += A[(size_t)i * sam + (size_t)p * sak] * b[(size_t)p * AS_AG_PANEL];
            float *c = C + (size_t)i * ldc + j;
            if (e->mode == AS_AG_STORE) *c = e->alpha * (e->bias ? s + e->bias[j] : s);
            else if (e->mode == AS_AG_ADD) *c += e->alpha * s;
            else if (e->mode == AS_AG_EXP) *c = as_vec_expf(s - e->r[i]);
            else *c = e->E[(size_t)i * e->lde + j] * (s - e->r[i]);
        }
}

void as_attn_exp_rows(float *S, int rows, int n, int ld, const float *shift, float *sums) {
    for (int r = 0; r < rows; r++) {
        const float s = as_vec_exp_sum(S + (size_t)r * ld, S + (size_t)r * ld, (size_t)n, shift[r]);
        if (sums) sums[r] = s;
    }
}
#endif
