/* attn_gemm.h: the block products of the fused attention (attention.c) as AVX2+FMA
 * kernels of our own, used instead of cblas_sgemm where the CPU has AVX2 and FMA and the
 * element-wise kernels are not forced to the portable variant (as_attn_gemm_active).
 *
 *   C (m x n) <- epilogue(A B),  A(i, p) = A[i*sam + p*sak],  B(p, j) in panels
 *
 * A is read in place, either row-major (tn = 0: sak = 1, sam = lda) or transposed (tn = 1:
 * the m x k operand is the transpose of a row-major k x m array with leading dimension
 * lda). B comes packed in panels of AS_AG_PANEL (16)
 * columns: B(p, j) = Bp[(j / 16) * bps + p * 16 + j % 16], each panel 32-byte aligned
 * (Bp and bps multiples of 8 floats) and zero-padded past n; as_attn_pack and
 * as_attn_pack_t build them once per (batch, head) pair, so the products stream B
 * contiguously and never pack. The products are register-tiled (6 rows x 16 columns, 12
 * accumulators) and write C once, through the epilogue:
 *
 *   AS_AG_STORE  C = alpha * AB, or alpha * (AB + bias_j) with bias (n) given
 *   AS_AG_ADD    C += alpha * AB
 *   AS_AG_EXP    C = exp(AB - r_i) with r (m): attention's probabilities from the scores
 *                and each row's log-sum-exp
 *   AS_AG_DS     C = E o (AB - r_i) with E (m x n, leading dimension lde) and r (m): the
 *                softmax backward dS = P o (dP - D) of attention, fused into dP = dO V^T
 *
 * The sum over p runs in order p = 0..k-1 in one fused multiply-add chain per element,
 * so the results do not depend on m, n or the tiling (and so not on the thread count).
 * m, n, k >= 0; C and E any alignment; nothing outside the m x n views is written. */
#ifndef AS_ATTN_GEMM_H
#define AS_ATTN_GEMM_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(AS_ATTN_GEMM_PORTABLE)
#define AS_ATTN_GEMM_X86 1 /* -DAS_ATTN_GEMM_PORTABLE builds the plain C form instead */
#endif

#include <stddef.h>

#define AS_AG_PANEL 16 /* columns per B panel */

typedef enum { AS_AG_STORE, AS_AG_ADD, AS_AG_EXP, AS_AG_DS } as_ag_mode;

typedef struct {
    as_ag_mode mode;
    float alpha;     /* STORE, ADD */
    const float *r;  /* EXP, DS: one value per row of C */
    const float *E;  /* DS: m x n */
    int lde;
    const float *bias; /* STORE: NULL or one value per column of C */
} as_ag_epi;

/* Whether the kernels below may be called: x86-64 with AVX2 and FMA, and the element-wise
 * kernels (vec.h) not set to the portable variant (ATTNSWEEP_SIMD=portable selects the
 * cblas_sgemm path of attention.c). */
int as_attn_gemm_active(void);

/* (Other CPUs compile a plain C form of the same contract, which as_attn_gemm_active
 * never selects: there attention uses cblas_sgemm.) */
void as_attn_gemm(int tn, int m, int n, int k, const float *A, int lda, const float *Bp,
                  size_t bps, float *C, int ldc, const as_ag_epi *e);

/* B panels (see above; ps: floats from one panel to the next, a multiple of 8) of src,
 * rows x cols with leading dimension ld (as_attn_pack: B = src, ps >= 16 rows,
 * ceil(cols / 16) panels) or of its transpose (as_attn_pack_t: B = src^T, ps >= 16 cols,
 * ceil(rows / 16) panels). as_attn_pack also adds each column into sums[c] (when sums
 * is not NULL), row by row in order: a bias gradient's column sums in the same pass. */
void as_attn_pack(float *dst, size_t ps, const float *src, int rows, int cols, int ld,
                  float *sums);
void as_attn_pack_t(float *dst, size_t ps, const float *src, int rows, int cols, int ld);

/* S[r][j] = exp(S[r][j] - shift[r]) for r < rows, j < n (rows ld apart); sums[r] (when
 * sums is not NULL) = the row's sum. The exp of AS_AG_EXP: as_vec_expf's polynomial. */
void as_attn_exp_rows(float *S, int rows, int n, int ld, const float *shift, float *sums);

#endif
