/* conv_direct.c: direct 1-D convolution (see conv_internal.h), AVX2 + FMA.
 *
 * The weights are repacked once per call into panels of 16 (the last one 8 or 16)
 * output channels, [K*Cin][16] each, zero-padded past Cout: for one (tap, input channel)
 * the panel row is two vectors. The micro-kernel computes a tile of 6 output rows x 16
 * output channels in 12 ymm accumulators, reducing over every tap and input channel in
 * one pass: each step loads the panel row and broadcasts the 6 rows' input values
 * straight from the input (no im2col, no input packing), 12 FMAs. Each row of the tile
 * has its own input pointer per tap, a zero row for taps outside [0, Tin), so boundary
 * rows, rows of the next sequence in the same tile, T shorter than the kernel span and
 * dilation are all the same code. Bias, relu or the accumulation into y are applied at
 * the store; the output channels past Cout are masked.
 *
 * Tiles whose 6 rows lie in one sequence with every tap inside it (the interior) take
 * their row pointers from one base pointer, the others through tap_rows.
 *
 * The kernel gradient (as_conv_direct_dw) uses the same register tile the other way
 * round: 6 rows of dw (im2col columns j = k*C + c) x 16 filters, reducing over the
 * batch's rows, each step broadcasting the rows' 6 input values and loading 16 of dy.
 * The interior rows of each sequence are read from the input in place; the rows next to
 * the padding come as im2col rows built by conv1d.c. Partial sums of DW_CHUNK rows are
 * added to dw (two-level summation).
 *
 * Rows (forward, input gradient: chunks of CHUNK_TILES tiles) or dw tiles (kernel
 * gradient) are the pool's tasks; each output element is computed by one task in a
 * fixed order, so the result does not depend on the thread count. The kernel is compiled under `#pragma GCC target("avx2,fma")` (clang: the
 * attribute on every function), the rest of the project keeps baseline x86-64. */
#include <stdint.h>
#include <string.h>

#include "layers/simd_target.h"
#include "attnsweep/pool.h"
#include "layers/conv_internal.h"

#define MR 6           /* output rows per tile */
#define NR 16          /* output channels per panel */
#define CHUNK_TILES 8  /* tiles per pool task */

/* Width of the panel starting at output channel o0: 16, or 8 for a last panel of <= 8. */
static int panel_width(int Cout, int o0) { return Cout - o0 > 8 ? NR : 8; }

static size_t packed_floats(int K, int Cin, int Cout) {
    size_t w = 0;
    for (int o0 = 0; o0 < Cout; o0 += NR) w += (size_t)panel_width(Cout, o0);
    return (size_t)K * (size_t)Cin * w;
}

size_t as_conv_direct_scratch(int K, int Cin, int Cout) {
    return packed_floats(K, Cin, Cout) + (size_t)Cin;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* dst = the panels of W (conv_internal.h), panel after panel. */
static void pack_weights(float *dst, const as_conv_direct_args *a) {
    const int K = a->K, Ci = a->Cin, Co = a->Cout;
    for (int o0 = 0; o0 < Co; o0 += NR) {
        const int pw = panel_width(Co, o0);
        for (int k = 0; k < K; k++)
            for (int i = 0; i < Ci; i++, dst += pw)
                for (int j = 0; j < pw; j++) {
                    const int o = o0 + j;
                    size_t src;
                    if (o >= Co) {
                        dst[j] = 0.0f;
                        continue;
                    }
                    if (a->flip)
                        src = ((size_t)(K - 1 - k) * (size_t)Co + (size_t)o) * (size_t)Ci + (size_t)i;
                    else
                        src = ((size_t)k * (size_t)Ci + (size_t)i) * (size_t)Co + (size_t)o;
                    dst[j] = a->w[src];
                }
    }
}

typedef struct {
    const as_conv_direct_args *a;
    const float *packed, *zero;
    int rows, tiles;
} conv_job;

/* Where a tile's rows are: sequence bt[i] (-1 past the last row) and step tt[i] of row
 * i; interior: all 6 rows in one sequence with every tap inside it, so the input row of
 * row i for tap k is x0 + (k*dil + i)*Cin. */
typedef struct {
    int bt[MR], tt[MR];
    const float *x0;
    int interior;
} tile_pos;

int as_conv_direct_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static void locate(tile_pos *tp, const conv_job *j, int r0) {
    const as_conv_direct_args *a = j->a;
    for (int i = 0; i < MR; i++) {
        const int r = r0 + i;
        tp->bt[i] = r < j->rows ? r / a->Tout : -1;
        tp->tt[i] = r - (tp->bt[i] < 0 ? 0 : tp->bt[i]) * a->Tout;
    }
    const int t0 = tp->tt[0] + a->off, t1 = tp->tt[0] + MR - 1 + a->off + (a->K - 1) * a->dil;
    tp->interior = tp->bt[MR - 1] == tp->bt[0] && t0 >= 0 && t1 < a->Tin;
    tp->x0 = tp->interior ? a->x + ((size_t)tp->bt[0] * (size_t)a->Tin + (size_t)t0) * (size_t)a->Cin
                          : NULL;
}

AS_TARGET_AVX2_BEGIN

#define INLINE static inline __attribute__((always_inline))

/* p[i]: the input row of tile row i for tap k (the zero row outside the input). */
INLINE void tap_rows(const float **p, const conv_job *j, const tile_pos *tp, int k,
                     const int interior) {
    const as_conv_direct_args *a = j->a;
    const size_t ci = (size_t)a->Cin;
    if (interior) {
        const float *q = tp->x0 + (size_t)k * (size_t)a->dil * ci;
        for (int i = 0; i < MR; i++) p[i] = q + (size_t)i * ci;
        return;
    }
    for (int i = 0; i < MR; i++) {
        const int ti = tp->tt[i] + a->off + k * a->dil;
        p[i] = tp->bt[i] >= 0 && ti >= 0 && ti < a->Tin
                   ? a->x + ((size_t)tp->bt[i] * (size_t)a->Tin + (size_t)ti) * ci
                   : j->zero;
    }
}

INLINE __m256i lane_mask(int n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* Stores one row of 8 lanes (n valid) of y with bias / relu / accumulate. */
INLINE void store8(float *y, __m256 v, const float *bias, int n, const as_conv_direct_args *a) {
    const __m256i m = lane_mask(n);
    if (a->accumulate) v = _mm256_add_ps(v, n >= 8 ? _mm256_loadu_ps(y) : _mm256_maskload_ps(y, m));
    if (bias) v = _mm256_add_ps(v, n >= 8 ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, m));
    if (a->relu) v = _mm256_max_ps(v, _mm256_setzero_ps());
    if (n >= 8)
        _mm256_storeu_ps(y, v);
    else
        _mm256_maskstore_ps(y, m, v);
}

/* The 12 accumulators of a tile (6 rows x NV <= 2 vectors) are named variables: an indexed
 * array makes gcc store them at every step. FMA_6ROWS: one reduction step, the rows'
 * values broadcast from P0[IDX] .. P5[IDX] against the vectors w0, w1. */
#define ACC_ZERO                                                                            \
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00; \
    __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00
#define ACC_OUT(acc)                                                                        \
    do {                                                                                    \
        acc[0][0] = a00, acc[0][1] = a01, acc[1][0] = a10, acc[1][1] = a11;                 \
        acc[2][0] = a20, acc[2][1] = a21, acc[3][0] = a30, acc[3][1] = a31;                 \
        acc[4][0] = a40, acc[4][1] = a41, acc[5][0] = a50, acc[5][1] = a51;                 \
    } while (0)
#define ROW_FMA(i, P, IDX)                                                                  \
    do {                                                                                    \
        const __m256 x = _mm256_broadcast_ss(P##i + (IDX));                                 \
        a##i##0 = _mm256_fmadd_ps(x, w0, a##i##0);                                          \
        if (NV == 2) a##i##1 = _mm256_fmadd_ps(x, w1, a##i##1);                             \
    } while (0)
#define FMA_6ROWS(P, IDX)                                                                   \
    do {                                                                                    \
        ROW_FMA(0, P, IDX);                                                                 \
        ROW_FMA(1, P, IDX);                                                                 \
        ROW_FMA(2, P, IDX);                                                                 \
        ROW_FMA(3, P, IDX);                                                                 \
        ROW_FMA(4, P, IDX);                                                                 \
        ROW_FMA(5, P, IDX);                                                                 \
    } while (0)

/* The tile's sums over every tap k and input channel c: acc[i][v] = sum_{k,c}
 * x_row(i, k)[c] * panel[(k*Ci + c)*NV*8 + v*8 ..] for the 6 rows i and NV vectors v. */
INLINE void reduce(__m256 acc[MR][2], const conv_job *j, const tile_pos *tp, const float *wk,
                   const int NV, const int interior) {
    const int K = j->a->K, Ci = j->a->Cin;
    ACC_ZERO;
    for (int k = 0; k < K; k++) {
        const float *p[MR];
        tap_rows(p, j, tp, k, interior);
        const float *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3], *p4 = p[4], *p5 = p[5];
        for (int c = 0; c < Ci; c++, wk += NV * 8) {
            const __m256 w0 = _mm256_loadu_ps(wk);
            const __m256 w1 = NV == 2 ? _mm256_loadu_ps(wk + 8) : w0;
            FMA_6ROWS(p, c);
        }
    }
    ACC_OUT(acc);
}

/* One tile: rows r0.. (those < rows), output channels o0 .. o0 + NV*8 (those < Cout). */
INLINE void tile(const conv_job *j, const float *panel, const tile_pos *tp, int r0, int o0,
                 const int NV, const int interior) {
    const as_conv_direct_args *a = j->a;
    __m256 acc[MR][2];
    reduce(acc, j, tp, panel, NV, interior);
    const int n = a->Cout - o0;
    for (int i = 0; i < MR && r0 + i < j->rows; i++) {
        float *y = a->y + (size_t)(r0 + i) * (size_t)a->Cout + (size_t)o0;
        const float *b = a->bias ? a->bias + o0 : NULL;
        store8(y, acc[i][0], b, n, a);
        if (NV == 2) store8(y + 8, acc[i][1], b ? b + 8 : NULL, n - 8, a);
    }
}

/* The four instances: 16 or 8 output channels, interior or not. */
static void tile_16i(const conv_job *j, const float *pn, const tile_pos *tp, int r0, int o0) {
    tile(j, pn, tp, r0, o0, 2, 1);
}
static void tile_16b(const conv_job *j, const float *pn, const tile_pos *tp, int r0, int o0) {
    tile(j, pn, tp, r0, o0, 2, 0);
}
static void tile_8i(const conv_job *j, const float *pn, const tile_pos *tp, int r0, int o0) {
    tile(j, pn, tp, r0, o0, 1, 1);
}
static void tile_8b(const conv_job *j, const float *pn, const tile_pos *tp, int r0, int o0) {
    tile(j, pn, tp, r0, o0, 1, 0);
}

/* Task: the tiles [task*CHUNK_TILES, +CHUNK_TILES), panel by panel. */
static void chunk_task(const void *ctx, int task, int worker) {
    (void)worker;
    const conv_job *j = ctx;
    const as_conv_direct_args *a = j->a;
    const int t0 = task * CHUNK_TILES;
    const int nt = t0 + CHUNK_TILES < j->tiles ? CHUNK_TILES : j->tiles - t0;
    tile_pos tp[CHUNK_TILES];
    for (int t = 0; t < nt; t++) locate(&tp[t], j, (t0 + t) * MR);
    const float *panel = j->packed;
    for (int o0 = 0; o0 < a->Cout; o0 += NR) {
        const int pw = panel_width(a->Cout, o0);
        for (int t = 0; t < nt; t++) {
            const int r0 = (t0 + t) * MR;
            if (pw == NR)
                (tp[t].interior ? tile_16i : tile_16b)(j, panel, &tp[t], r0, o0);
            else
                (tp[t].interior ? tile_8i : tile_8b)(j, panel, &tp[t], r0, o0);
        }
        panel += (size_t)a->K * (size_t)a->Cin * (size_t)pw;
    }
}

/* ---------------- the kernel gradient ---------------- */
#define DW_CHUNK 256 /* rows per pass over the tiles (their x and dy rows stay in L1) */

/* One segment of rows: row r's im2col element j at x[r*xs + off(j)], its dy row at
 * dy + r*ys. */
typedef struct {
    const float *x, *dy;
    size_t xs, ys;
    int rows, cols; /* cols: off(j) = j (im2col rows), else off(j) = (j/C)*dil*C + j%C */
} dw_seg;

typedef struct {
    const as_conv_dw_args *a;
    int KC, jtiles, ntasks;
} dw_job;

/* acc[i][v] = sum_r q[i][r*xs] * dy[r*ys + v*8 ..] over the rows (lanes past n masked). */
INLINE void dw_reduce(__m256 acc[MR][2], const float *const *q, size_t xs, const float *dy,
                      size_t ys, int rows, int n, const int NV, const int MASK) {
    const __m256i m0 = lane_mask(n), m1 = lane_mask(n - 8);
    const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3], *q4 = q[4], *q5 = q[5];
    ACC_ZERO;
    size_t rx = 0;
    for (int r = 0; r < rows; r++, rx += xs, dy += ys) {
        const __m256 w0 = MASK && NV == 1 ? _mm256_maskload_ps(dy, m0) : _mm256_loadu_ps(dy);
        const __m256 w1 =
            NV == 2 ? (MASK ? _mm256_maskload_ps(dy + 8, m1) : _mm256_loadu_ps(dy + 8)) : w0;
        FMA_6ROWS(q, rx);
    }
    ACC_OUT(acc);
}

/* dw rows j0.. (those < KC), columns o0.. (NV vectors, those < F) += the segment's rows. */
INLINE void dw_tile(const dw_job *jb, const dw_seg *sg, int j0, int o0, const int NV,
                    const int MASK) {
    const as_conv_dw_args *a = jb->a;
    const int n = a->F - o0;
    const __m256i m0 = lane_mask(n), m1 = lane_mask(n - 8);
    __m256 acc[MR][2];
    const float *q[MR];
    int k = j0 / a->C, c = j0 - k * a->C; /* j = k*C + c */
    for (int i = 0; i < MR; i++) {
        int jj = j0 + i;
        if (jj >= jb->KC) /* past KC the last row is read, not stored */
            jj = jb->KC - 1, k = jj / a->C, c = jj - k * a->C;
        q[i] = sg->x + (sg->cols ? (size_t)jj
                                 : (size_t)k * (size_t)a->dil * (size_t)a->C + (size_t)c);
        if (++c == a->C) c = 0, k++;
    }
    /* the chunk's sum, then added to dw: two-level summation (rounding error grows with
     * DW_CHUNK + rows/DW_CHUNK, not with the row count) */
    dw_reduce(acc, q, sg->xs, sg->dy + o0, sg->ys, sg->rows, n, NV, MASK);
    for (int i = 0; i < MR && j0 + i < jb->KC; i++) {
        float *d = a->dw + (size_t)(j0 + i) * (size_t)a->F + (size_t)o0;
        if (MASK && NV == 1) {
            _mm256_maskstore_ps(d, m0, _mm256_add_ps(_mm256_maskload_ps(d, m0), acc[i][0]));
            continue;
        }
        _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), acc[i][0]));
        if (NV == 2) {
            if (MASK)
                _mm256_maskstore_ps(d + 8, m1, _mm256_add_ps(_mm256_maskload_ps(d + 8, m1), acc[i][1]));
            else
                _mm256_storeu_ps(d + 8, _mm256_add_ps(_mm256_loadu_ps(d + 8), acc[i][1]));
        }
    }
}

static void dw_tile_16(const dw_job *jb, const dw_seg *sg, int j0, int o0) {
    dw_tile(jb, sg, j0, o0, 2, 0);
}
static void dw_tile_16m(const dw_job *jb, const dw_seg *sg, int j0, int o0) {
    dw_tile(jb, sg, j0, o0, 2, 1);
}
static void dw_tile_8(const dw_job *jb, const dw_seg *sg, int j0, int o0) {
    dw_tile(jb, sg, j0, o0, 1, 0);
}
static void dw_tile_8m(const dw_job *jb, const dw_seg *sg, int j0, int o0) {
    dw_tile(jb, sg, j0, o0, 1, 1);
}

/* The tiles j-tiles [jt0, jt1) x every panel, over one segment, DW_CHUNK rows at a time. */
static void dw_segment(const dw_job *jb, dw_seg sg, int jt0, int jt1) {
    const int F = jb->a->F;
    for (int r0 = 0; r0 < sg.rows; r0 += DW_CHUNK) {
        dw_seg ch = sg;
        ch.x = sg.x + (size_t)r0 * sg.xs, ch.dy = sg.dy + (size_t)r0 * sg.ys;
        ch.rows = sg.rows - r0 < DW_CHUNK ? sg.rows - r0 : DW_CHUNK;
        for (int jt = jt0; jt < jt1; jt++)
            for (int o0 = 0; o0 < F; o0 += NR) {
                const int n = F - o0;
                if (n >= NR) dw_tile_16(jb, &ch, jt * MR, o0);
                else if (n > 8) dw_tile_16m(jb, &ch, jt * MR, o0);
                else if (n == 8) dw_tile_8(jb, &ch, jt * MR, o0);
                else dw_tile_8m(jb, &ch, jt * MR, o0);
            }
    }
}

static void dw_task(const void *ctx, int task, int worker) {
    (void)worker;
    const dw_job *jb = ctx;
    const as_conv_dw_args *a = jb->a;
    const int jt0 = (int)((long)jb->jtiles * task / jb->ntasks);
    const int jt1 = (int)((long)jb->jtiles * (task + 1) / jb->ntasks);
    if (a->i1 > a->i0)
        for (int b = 0; b < a->B; b++) {
            const dw_seg sg = {
                a->x + ((size_t)b * (size_t)a->Tin + (size_t)(a->i0 + a->off)) * (size_t)a->C,
                a->dy + ((size_t)b * (size_t)a->To + (size_t)a->i0) * (size_t)a->F,
                (size_t)a->C, (size_t)a->F, a->i1 - a->i0, 0};
            dw_segment(jb, sg, jt0, jt1);
        }
    if (a->ncols > 0) {
        const dw_seg sg = {a->cols, a->dycols, (size_t)jb->KC, (size_t)a->F, a->ncols, 1};
        dw_segment(jb, sg, jt0, jt1);
    }
}

#undef ACC_ZERO
#undef ACC_OUT
#undef ROW_FMA
#undef FMA_6ROWS

AS_TARGET_END

void as_conv_direct(const as_conv_direct_args *a, float *scratch) {
    const size_t np = packed_floats(a->K, a->Cin, a->Cout);
    pack_weights(scratch, a);
    memset(scratch + np, 0, (size_t)a->Cin * sizeof(float));
    conv_job j = {a, scratch, scratch + np, a->B * a->Tout, 0};
    j.tiles = (j.rows + MR - 1) / MR;
    as_pool_run((j.tiles + CHUNK_TILES - 1) / CHUNK_TILES, 0, chunk_task, &j);
}

void as_conv_direct_dw(const as_conv_dw_args *a) {
    dw_job jb = {a, a->K * a->C, 0, 0};
    jb.jtiles = (jb.KC + MR - 1) / MR;
    const int nt = as_pool_threads();
    jb.ntasks = nt < jb.jtiles ? nt : jb.jtiles;
    if (jb.ntasks < 1) jb.ntasks = 1;
    as_pool_run(jb.ntasks, 0, dw_task, &jb);
}

#else /* not x86-64 with gcc/clang: never supported, conv1d.c keeps the tap GEMMs */
int as_conv_direct_supported(void) { return 0; }
void as_conv_direct(const as_conv_direct_args *a, float *scratch) {
    (void)a;
    (void)scratch;
}
void as_conv_direct_dw(const as_conv_dw_args *a) { (void)a; }
#endif
