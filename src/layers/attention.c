/* attention.c: self-attention, Keras MultiHeadAttention(num_heads=H, key_dim=Dk,
 * value_dim=Dv, output_shape=O) called as mha(x, x), forward and backward by hand.
 *
 * Projections run as one product over all B*T rows. The attention itself is fused in the
 * style of FlashAttention (Dao et al. 2022): per (batch, head), blocks of queries against
 * blocks of keys; each block's scores are exponentiated against a running row maximum
 * with a running row sum, and multiplied into the context rows, which are rescaled when
 * the maximum grows. Only each row's log-sum-exp is kept; backward recomputes the scores
 * block by block (FlashAttention-2's order: dS = P o (dP - D) with D_i = dctx_i . ctx_i,
 * which holds with dropout too). Memory is O(T) per (batch, head) besides the per-thread
 * blocks; the T x T probabilities exist only when as_attn_probs() is asked for them (the
 * dumped series). Dropout masks are recomputed from the counter-based RNG in backward (the
 * forward records the key it used). The (batch, head) loops run in parallel on the rank's
 * thread pool (pool.h), one block buffer per thread.
 *
 * Two paths, one driver: where as_attn_gemm_active() (AVX2 + FMA, ATTNSWEEP_SIMD not
 * portable) every product -- projections, scores, context, and backward's five -- runs on
 * attention's own kernels (attn_gemm.h): each pair's K^T, V (forward) and K^T, K, V^T, q,
 * dctx (backward) are packed once into 16-column panels, blocks are at most
 * AS_ATTN_FAST_BR queries x AS_ATTN_FAST_BC keys (key blocks on panel boundaries), the
 * backward's exp(S - lse) and dS = P o (dP - D) are fused into the products' epilogues.
 * Otherwise (and with as_attn_use_sgemm(1)) the products are cblas_sgemm on strided views
 * (leading dimension H*Dk) with square blocks of at most AS_ATTN_BLOCK. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "attnsweep/blas.h"
#include "attnsweep/layers.h"
#include "attnsweep/pool.h"
#include "attnsweep/vec.h"
#include "layers/attn_gemm.h"
#include "layers/layers_internal.h"

/* Offsets of the parameters in the flat buffer. */
typedef struct {
    const float *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;
} attn_params;

typedef struct {
    float *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;
} attn_grads;

static size_t attn_offsets(const as_attn_dims *d, size_t off[8]) {
    const size_t C = (size_t)d->C, hk = (size_t)d->H * (size_t)d->Dk;
    const size_t hv = (size_t)d->H * (size_t)d->Dv, O = (size_t)d->O;
    const size_t sizes[8] = {C * hk, hk, C * hk, hk, C * hv, hv, hv * O, O};
    size_t o = 0;
    for (int i = 0; i < 8; i++) {
        off[i] = o;
        o += sizes[i];
    }
    return o;
}

static attn_params attn_split(const float *p, const as_attn_dims *d) {
    size_t o[8];
    attn_offsets(d, o);
    attn_params r = {p + o[0], p + o[1], p + o[2], p + o[3], p + o[4], p + o[5], p + o[6], p + o[7]};
    return r;
}

static attn_grads attn_split_grads(float *p, const as_attn_dims *d) {
    size_t o[8];
    attn_offsets(d, o);
    attn_grads r = {p + o[0], p + o[1], p + o[2], p + o[3], p + o[4], p + o[5], p + o[6], p + o[7]};
    return r;
}

size_t as_attn_param_count(const as_attn_dims *d) {
    size_t o[8];
    return attn_offsets(d, o);
}

/* ---- geometry: blocks and per-thread buffers ---- */

/* Blocks split n evenly into ceil(n / max) parts. */
static int even_block(int n, int max) {
    const int nb = (n + max - 1) / max;
    return (n + nb - 1) / nb;
}

/* Panels of AS_AG_PANEL columns that n columns take. */
static size_t panels(int n) { return ((size_t)n + AS_AG_PANEL - 1) / AS_AG_PANEL; }

/* The block sizes: the sgemm path uses square blocks of at most AS_ATTN_BLOCK, the
 * AVX2 kernels (attn_gemm.h) query blocks of at most AS_ATTN_FAST_BR rows against key
 * blocks of at most AS_ATTN_FAST_BC (their score blocks stay in L1/L2). */
typedef struct {
    int br, bc;
} attn_blocks;

static attn_blocks blocks_of(int T, int fast) {
    attn_blocks b;
    if (fast) { /* key blocks start on B panels (attn_gemm.h) */
        b.br = even_block(T, AS_ATTN_FAST_BR);
        b.bc = (int)panels(even_block(T, AS_ATTN_FAST_BC)) * AS_AG_PANEL;
    } else
        b.br = b.bc = even_block(T, AS_ATTN_BLOCK);
    return b;
}

/* One thread's buffers. Forward: a block of scores, one mask row, the running maximum
 * and sum of each query row and the block's, and (AVX2 path) the pair's K^T and V as B
 * panels (attn_gemm.h). Backward: three blocks (P, dP, mask), D (T floats) and (AVX2
 * path) the panels of K^T, K, V^T, q and dctx. Sized for the larger of the two paths (the
 * path may change between the shape and the call: ATTNSWEEP_SIMD, as_vec_use); the
 * panels start 32-byte aligned (PAD floats of slack). */
#define PAD 8
static float *align32(float *p) {
    return (float *)(((uintptr_t)p + 31) & ~(uintptr_t)31);
}
static size_t pack_t_size(int T, int D) { return panels(T) * AS_AG_PANEL * (size_t)D; }
static size_t pack_size(int T, int D) { return panels(D) * AS_AG_PANEL * (size_t)T; }
static size_t fwd_slot_of(const as_attn_dims *d, int fast) {
    const attn_blocks b = blocks_of(d->T, fast);
    const size_t t = fast ? PAD + pack_t_size(d->T, d->Dk) + pack_size(d->T, d->Dv) : 0;
    return (size_t)b.br * (size_t)b.bc + (size_t)b.bc + 4 * (size_t)b.br + t;
}
static size_t bwd_slot_of(const as_attn_dims *d, int fast) {
    const attn_blocks b = blocks_of(d->T, fast);
    const int T = d->T, Dk = d->Dk, Dv = d->Dv;
    const size_t t = fast ? PAD + pack_t_size(T, Dk) + 2 * pack_size(T, Dk) + pack_t_size(T, Dv) +
                                pack_size(T, Dv)
                          : 0;
    return 3 * (size_t)b.br * (size_t)b.bc + (size_t)T + t;
}
static size_t fwd_slot(const as_attn_dims *d) {
    const size_t a = fwd_slot_of(d, 0), b = fwd_slot_of(d, 1);
    return a > b ? a : b;
}
static size_t bwd_slot(const as_attn_dims *d) {
    const size_t a = bwd_slot_of(d, 0), b = bwd_slot_of(d, 1);
    return a > b ? a : b;
}

/* The projections on the AVX2 path (as_attn_gemm) sum dW over chunks of KC rows and take
 * their B panels from the work area (the pairs' slots, unused then): forward the weights
 * w, backward w^T and one chunk of dy. */
#define KC 256
static size_t max3(size_t a, size_t b, size_t c) {
    const size_t m = a > b ? a : b;
    return m > c ? m : c;
}
static size_t proj_fwd_size(const as_attn_dims *d) {
    const int hk = d->H * d->Dk, hv = d->H * d->Dv;
    return max3(pack_size(d->C, hk), pack_size(d->C, hv), pack_size(hv, d->O));
}
static size_t proj_bwd_size(const as_attn_dims *d) {
    const int hk = d->H * d->Dk, hv = d->H * d->Dv;
    const size_t wt = max3(pack_t_size(d->C, hk), pack_t_size(d->C, hv), pack_t_size(hv, d->O));
    return max3(wt, pack_size(KC, hk > hv ? hk : hv), pack_size(KC, d->O));
}
/* The work areas: the pairs' slots or the projections' panels, whichever is larger. */
static size_t fwd_work(const as_attn_dims *d) {
    const size_t a = AS_ATTN_SLOTS * fwd_slot(d), b = PAD + proj_fwd_size(d);
    return a > b ? a : b;
}
static size_t bwd_work(const as_attn_dims *d) {
    const size_t a = AS_ATTN_SLOTS * bwd_slot(d), b = PAD + proj_bwd_size(d);
    return a > b ? a : b;
}

/* What the forward records for backward: the dropout key and whether masks were drawn. */
typedef struct {
    as_drop_key key;
    int drew;
} attn_record;
#define REC_FLOATS ((sizeof(attn_record) + sizeof(float) - 1) / sizeof(float))

static size_t attn_rows(const as_attn_dims *d) { return (size_t)d->B * (size_t)d->T; }

size_t as_attn_state_size(const as_attn_dims *d) {
    const size_t n = attn_rows(d), hk = (size_t)d->H * (size_t)d->Dk;
    const size_t hv = (size_t)d->H * (size_t)d->Dv;
    /* q, k, v, ctx, lse (B, H, T), the forward's blocks, the record */
    return n * hk * 2 + n * hv * 2 + n * (size_t)d->H + fwd_work(d) + REC_FLOATS;
}

size_t as_attn_scratch(const as_attn_dims *d) {
    const size_t n = attn_rows(d), hk = (size_t)d->H * (size_t)d->Dk;
    const size_t hv = (size_t)d->H * (size_t)d->Dv;
    /* dq, dk, dv, dctx for all rows, the backward's blocks */
    return n * hk * 2 + n * hv * 2 + bwd_work(d);
}

void as_attn_state_bind(as_attn_state *st, float *buf, const as_attn_dims *d) {
    const size_t n = attn_rows(d), hk = (size_t)d->H * (size_t)d->Dk;
    const size_t hv = (size_t)d->H * (size_t)d->Dv;
    st->q = buf;
    st->k = st->q + n * hk;
    st->v = st->k + n * hk;
    st->ctx = st->v + n * hv;
    st->lse = st->ctx + n * hv;
    st->work = st->lse + n * (size_t)d->H;
    st->rec = st->work + fwd_work(d);
}

static float attn_scale(const as_attn_dims *d) { return (float)(1.0 / sqrt((double)d->Dk)); }

/* C (m x n) <- e(A B) with A row-major (lda) on the AVX2 kernel, rows in chunks of
 * ROWS_CHUNK on the rank's pool (each row's sums are the same on any chunking, so the
 * result does not depend on the thread count). e: STORE or ADD (per-column terms only). */
#define ROWS_CHUNK 192
typedef struct {
    int m, n, k, lda, ldc;
    const float *A, *Bp;
    size_t bps;
    float *C;
    const as_ag_epi *e;
} rows_job;

static void rows_task(const void *ctx, int task, int worker) {
    const rows_job *j = ctx;
    (void)worker;
    const int i0 = task * ROWS_CHUNK, m = j->m - i0 < ROWS_CHUNK ? j->m - i0 : ROWS_CHUNK;
    as_attn_gemm(0, m, j->n, j->k, j->A + (size_t)i0 * (size_t)j->lda, j->lda, j->Bp, j->bps,
                 j->C + (size_t)i0 * (size_t)j->ldc, j->ldc, j->e);
}

static void gemm_rows(int m, int n, int k, const float *A, int lda, const float *Bp, size_t bps,
                      float *C, int ldc, const as_ag_epi *e) {
    const int tasks = (m + ROWS_CHUNK - 1) / ROWS_CHUNK;
    if (tasks <= 1 || as_pool_threads() <= 1) {
        as_attn_gemm(0, m, n, k, A, lda, Bp, bps, C, ldc, e);
        return;
    }
    const rows_job j = {m, n, k, lda, ldc, A, Bp, bps, C, e};
    as_pool_run(tasks, 0, rows_task, &j);
}

/* y (N, D) = s * (x (N, C) w (C, D) + b); on the AVX2 kernel when wp (room for w's
 * panels, 32-byte aligned) is given. */
static void project(float *y, const float *x, const float *w, const float *b, int N, int C, int D,
                    float s, float *wp) {
    if (wp) {
        as_attn_pack(wp, AS_AG_PANEL * (size_t)C, w, C, D, D, NULL);
        as_ag_epi e = {AS_AG_STORE, s, NULL, NULL, 0, b};
        gemm_rows(N, D, C, x, C, wp, AS_AG_PANEL * (size_t)C, y, D, &e);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, C, s, x, C, w, D, 0.0f, y, D);
    float sb[AS_ATTN_BIAS_MAX];
    for (int i0 = 0; i0 < D; i0 += AS_ATTN_BIAS_MAX) {
        const int nb = D - i0 < AS_ATTN_BIAS_MAX ? D - i0 : AS_ATTN_BIAS_MAX;
        for (int i = 0; i < nb; i++) sb[i] = s * b[i0 + i];
        for (int n = 0; n < N; n++) {
            float *row = y + (size_t)n * (size_t)D + i0;
            as_vec_add(row, row, sb, (size_t)nb);
        }
    }
}

/* ---- one (batch, head) pair ---- */

/* Views of one (batch, head) pair: rows of q, k (stride hk) and v, ctx (stride hv); on the
 * AVX2 path (fast) also B panels (attn_gemm.h) in the thread's buffer: of K^T (ktp, one
 * panel per 16 keys, panel stride 16 Dk), V (vp, forward), K (kp), V^T (vtp), q (qp) and
 * dctx (dop) (backward); the panels of K, V, q and dctx are 16 T apart. */
typedef struct {
    const float *q, *k, *v, *ktp, *vp, *kp, *vtp, *qp, *dop;
    float *ctx, *lse;
    int T, Dk, Dv, hk, hv, H, h, br, bc, fast;
    uint64_t kb;   /* the sample's dropout key */
    float rate, keep;
    int drop;
} attn_view;

static attn_view view_of(const as_attn_state *st, const as_attn_dims *d, int b, int h,
                         const attn_record *rec, int fast) {
    attn_view v;
    const size_t hk = (size_t)d->H * (size_t)d->Dk, hv = (size_t)d->H * (size_t)d->Dv;
    const size_t r0 = (size_t)b * (size_t)d->T;
    v.q = st->q + r0 * hk + (size_t)h * (size_t)d->Dk;
    v.k = st->k + r0 * hk + (size_t)h * (size_t)d->Dk;
    v.v = st->v + r0 * hv + (size_t)h * (size_t)d->Dv;
    v.ktp = v.vp = v.kp = v.vtp = v.qp = v.dop = NULL;
    v.ctx = st->ctx + r0 * hv + (size_t)h * (size_t)d->Dv;
    v.lse = st->lse + ((size_t)b * (size_t)d->H + (size_t)h) * (size_t)d->T;
    v.T = d->T, v.Dk = d->Dk, v.Dv = d->Dv, v.hk = (int)hk, v.hv = (int)hv, v.H = d->H, v.h = h;
    const attn_blocks bl = blocks_of(d->T, fast);
    v.br = bl.br, v.bc = bl.bc, v.fast = fast;
    v.drop = rec && rec->drew;
    v.rate = d->rate;
    v.keep = d->rate < 1.0f ? 1.0f / (1.0f - d->rate) : 0.0f;
    v.kb = v.drop ? as_drop_sample_key(&rec->key, b) : 0;
    return v;
}

/* The dropout scales (0 or keep) of query row i, keys [j0, j0 + n). */
static void mask_row(float *m, const attn_view *v, int i, int j0, int n) {
    const uint64_t T = (uint64_t)v->T;
    const uint64_t e0 = ((uint64_t)v->h * T + (uint64_t)i) * T + (uint64_t)j0;
    for (int j = 0; j < n; j++)
        m[j] = as_rng_counter_at(v->kb, e0 + (uint64_t)j) < v->rate ? 0.0f : v->keep;
}

/* ---- the block products, on the AVX2 kernels (v->fast) or cblas_sgemm ---- */

/* K^T's panels from key j0 (a multiple of AS_AG_PANEL) on, and their stride */
static const float *ktp(const attn_view *v, int j0) {
    return v->ktp + (size_t)j0 / AS_AG_PANEL * AS_AG_PANEL * (size_t)v->Dk;
}
static size_t kts(const attn_view *v) { return AS_AG_PANEL * (size_t)v->Dk; }
/* the panel stride of the panels over T rows (V, K, q, dctx) */
static size_t rows_ps(const attn_view *v) { return AS_AG_PANEL * (size_t)v->T; }

static as_ag_epi epi(as_ag_mode mode, float alpha) {
    const as_ag_epi e = {mode, alpha, NULL, NULL, 0, NULL};
    return e;
}

/* S (br x bc) = q[i0..] k[j0..]^T */
static void scores(float *S, const attn_view *v, int i0, int br, int j0, int bc) {
    const float *q = v->q + (size_t)i0 * (size_t)v->hk;
    if (v->fast) {
        const as_ag_epi e = epi(AS_AG_STORE, 1.0f);
        as_attn_gemm(0, br, bc, v->Dk, q, v->hk, ktp(v, j0), kts(v), S, bc, &e);
    } else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, br, bc, v->Dk, 1.0f, q, v->hk,
                    v->k + (size_t)j0 * (size_t)v->hk, v->hk, 0.0f, S, bc);
}

/* P (br x bc) = exp(q[i0..] k[j0..]^T - lse): the forward's probabilities */
static void probs(float *P, const attn_view *v, int i0, int br, int j0, int bc) {
    if (v->fast) {
        as_ag_epi e = epi(AS_AG_EXP, 1.0f);
        e.r = v->lse + i0;
        as_attn_gemm(0, br, bc, v->Dk, v->q + (size_t)i0 * (size_t)v->hk, v->hk, ktp(v, j0),
                        kts(v), P, bc, &e);
        return;
    }
    scores(P, v, i0, br, j0, bc);
    for (int r = 0; r < br; r++)
        (void)as_vec_exp_sum(P + (size_t)r * bc, P + (size_t)r * bc, (size_t)bc, v->lse[i0 + r]);
}

/* ctx (br x Dv) = P (br x bc) v[j0..], or += when add */
static void context(float *ctx, const float *P, const attn_view *v, int br, int j0, int bc,
                    int add) {
    const float *vr = v->v + (size_t)j0 * (size_t)v->hv;
    if (v->fast) {
        const as_ag_epi e = epi(add ? AS_AG_ADD : AS_AG_STORE, 1.0f);
        as_attn_gemm(0, br, v->Dv, bc, P, bc, v->vp + (size_t)j0 * AS_AG_PANEL, rows_ps(v), ctx,
                        v->hv, &e);
    } else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, br, v->Dv, bc, 1.0f, P, bc, vr,
                    v->hv, add ? 1.0f : 0.0f, ctx, v->hv);
}

/* dP (br x bc) = dO v[j0..]^T; with P given, dS = P o (dP - D) instead (D: the rows') */
static void dprobs(float *dP, const float *dO, const attn_view *v, int br, int j0, int bc,
                   const float *P, const float *D) {
    if (v->fast) {
        as_ag_epi e = epi(P ? AS_AG_DS : AS_AG_STORE, 1.0f);
        e.r = D, e.E = P, e.lde = bc;
        as_attn_gemm(0, br, bc, v->Dv, dO, v->hv,
                        v->vtp + (size_t)j0 / AS_AG_PANEL * AS_AG_PANEL * (size_t)v->Dv,
                        AS_AG_PANEL * (size_t)v->Dv, dP, bc, &e);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, br, bc, v->Dv, 1.0f, dO, v->hv,
                v->v + (size_t)j0 * (size_t)v->hv, v->hv, 0.0f, dP, bc);
    if (P)
        for (int r = 0; r < br; r++)
            as_vec_mul_sub(dP + (size_t)r * bc, P + (size_t)r * bc, (size_t)bc, D[r]);
}

/* An operand x of the gradient products: its rows (stride ld) for sgemm, its panels (from
 * x's first row, panel stride ps) for the AVX2 kernel. */
typedef struct {
    const float *rows;
    int ld;
    const float *panels;
    size_t ps;
} attn_opnd;

/* g += s op(A) x (g = s op(A) x when first) with A (br x bc): op(A) = A^T for tn (g bc x n,
 * x br x n: dv += Pd^T dctx, dk += dS^T q), else A (g br x n, x bc x n: dq += dS k); g's
 * rows ldg apart. */
static void add_prod(float *g, int ldg, const float *A, int br, int bc, int n, float s, int tn,
                     int first, attn_opnd x, int fast) {
    const int m = tn ? bc : br, k = tn ? br : bc;
    if (fast) {
        const as_ag_epi e = epi(first ? AS_AG_STORE : AS_AG_ADD, s);
        as_attn_gemm(tn, m, n, k, A, bc, x.panels, x.ps, g, ldg, &e);
    } else
        cblas_sgemm(CblasRowMajor, tn ? CblasTrans : CblasNoTrans, CblasNoTrans, m, n, k, s, A,
                    bc, x.rows, x.ld, first ? 0.0f : 1.0f, g, ldg);
}

/* S rows (br x bc) = exp(S - shift), sums[r] = the row sums */
static void exp_rows(float *S, const attn_view *v, int br, int bc, const float *shift,
                     float *sums) {
    if (v->fast) as_attn_exp_rows(S, br, bc, bc, shift, sums);
    else
        for (int r = 0; r < br; r++) {
            float *sr = S + (size_t)r * (size_t)bc;
            sums[r] = as_vec_exp_sum(sr, sr, (size_t)bc, shift[r]);
        }
}

/* Query rows [i0, i0 + br) against every key block: ctx rows and lse. The buffer: the
 * score block, a mask row, and per row the running maximum and sum, the block's maximum
 * and the block's sum. */
static void forward_rows(const attn_view *v, float *buf, int i0, int br) {
    const int T = v->T, Dv = v->Dv;
    float *S = buf, *mk = buf + (size_t)v->br * (size_t)v->bc, *mx = mk + v->bc, *l = mx + v->br;
    float *nm = l + v->br, *sum = nm + v->br;
    for (int r = 0; r < br; r++) {
        mx[r] = -INFINITY;
        l[r] = 0.0f;
    }
    float *ctx = v->ctx + (size_t)i0 * (size_t)v->hv;
    for (int j0 = 0; j0 < T; j0 += v->bc) {
        const int bc = T - j0 < v->bc ? T - j0 : v->bc;
        scores(S, v, i0, br, j0, bc);
        for (int r = 0; r < br; r++) {
            const float bm = as_vec_max(S + (size_t)r * (size_t)bc, (size_t)bc);
            nm[r] = bm > mx[r] ? bm : mx[r];
        }
        exp_rows(S, v, br, bc, nm, sum);
        for (int r = 0; r < br; r++) {
            if (j0 > 0) { /* the maximum grew: rescale what the earlier blocks summed */
                const float corr = as_vec_expf(mx[r] - nm[r]);
                l[r] *= corr;
                as_vec_scale(ctx + (size_t)r * (size_t)v->hv, (size_t)Dv, corr);
            }
            l[r] += sum[r];
            mx[r] = nm[r];
            if (v->drop) {
                float *sr = S + (size_t)r * (size_t)bc;
                mask_row(mk, v, i0 + r, j0, bc);
                for (int j = 0; j < bc; j++) sr[j] *= mk[j];
            }
        }
        context(ctx, S, v, br, j0, bc, j0 > 0);
    }
    for (int r = 0; r < br; r++) {
        as_vec_scale(ctx + (size_t)r * (size_t)v->hv, (size_t)Dv, 1.0f / l[r]);
        v->lse[i0 + r] = mx[r] + logf(l[r]);
    }
}

/* Runs fn(ctx, b, h, buf) for every (batch, head) pair on up to AS_ATTN_SLOTS of the
 * pool's threads, each with its own slot of work (slot floats); the sgemms inside run on
 * one BLAS thread while the pool's threads are busy. */
typedef void (*pair_fn)(const void *ctx, int b, int h, float *buf);
typedef struct {
    pair_fn fn;
    const void *ctx;
    float *work;
    size_t slot;
    int H;
} pairs_job;

static void pair_task(const void *ctx, int task, int worker) {
    const pairs_job *j = ctx;
    j->fn(j->ctx, task / j->H, task % j->H, j->work + (size_t)worker * j->slot);
}

static void for_pairs(const as_attn_dims *d, float *work, size_t slot, pair_fn fn,
                      const void *ctx) {
    const int pairs = d->B * d->H, blas = as_blas_threads();
    int nt = as_pool_threads();
    if (nt > AS_ATTN_SLOTS) nt = AS_ATTN_SLOTS;
    if (nt > pairs) nt = pairs;
    const pairs_job j = {fn, ctx, work, slot, d->H};
    if (nt <= 1) {
        for (int t = 0; t < pairs; t++) pair_task(&j, t, 0);
        return;
    }
    if (blas > 1) as_blas_set_threads(1); /* the threads are here, not inside the sgemms */
    as_pool_run(pairs, AS_ATTN_SLOTS, pair_task, &j);
    if (blas > 1) as_blas_set_threads(blas);
}

/* Whether this call runs the AVX2 kernels (attn_gemm.h) or cblas_sgemm. */
static int sgemm_forced;
void as_attn_use_sgemm(int on) { sgemm_forced = on != 0; }
static int use_fast(void) { return !sgemm_forced && as_attn_gemm_active(); }

typedef struct {
    const as_attn_state *st;
    const as_attn_dims *d;
    const attn_record *rec;
    int fast;
} fwd_ctx;

static void forward_pair(const void *ctx, int b, int h, float *buf) {
    const fwd_ctx *c = ctx;
    attn_view v = view_of(c->st, c->d, b, h, c->rec, c->fast);
    if (v.fast) { /* after forward_rows' buffers */
        float *kp = align32(buf + (size_t)v.br * (size_t)v.bc + (size_t)v.bc + 4 * (size_t)v.br);
        as_attn_pack_t(kp, kts(&v), v.k, v.T, v.Dk, v.hk);
        float *vp = kp + pack_t_size(v.T, v.Dk);
        as_attn_pack(vp, rows_ps(&v), v.v, v.T, v.Dv, v.hv, NULL);
        v.ktp = kp, v.vp = vp;
    }
    for (int i0 = 0; i0 < v.T; i0 += v.br)
        forward_rows(&v, buf, i0, v.T - i0 < v.br ? v.T - i0 : v.br);
}

void as_attn_forward(float *out, as_attn_state *st, const float *inp, const float *params,
                     const as_attn_dims *d, int training, const as_drop_key *key) {
    const int B = d->B, T = d->T, C = d->C, H = d->H, Dk = d->Dk, Dv = d->Dv, O = d->O;
    const int N = B * T, hk = H * Dk, hv = H * Dv;
    const attn_params p = attn_split(params, d);
    const int fast = use_fast();
    float *wp = fast ? align32(st->work) : NULL;
    project(st->q, inp, p.wq, p.bq, N, C, hk, attn_scale(d), wp);
    project(st->k, inp, p.wk, p.bk, N, C, hk, 1.0f, wp);
    project(st->v, inp, p.wv, p.bv, N, C, hv, 1.0f, wp);
    attn_record rec = {{0, 0, 0, 0}, training && d->rate > 0.0f};
    if (rec.drew) rec.key = *key;
    memcpy(st->rec, &rec, sizeof rec);
    const fwd_ctx fc = {st, d, &rec, fast};
    for_pairs(d, st->work, fwd_slot(d), forward_pair, &fc);
    project(out, st->ctx, p.wo, p.bo, N, hv, O, 1.0f, wp);
}

/* ---- backward ---- */

/* Gradients of y = x w + b given dy (N, D): dw += x^T dy, db += colsum dy,
 * dx += dy w^T (dx may be NULL); on the AVX2 kernel when buf (room for the panels,
 * 32-byte aligned) is given, dw summed over chunks of KC rows, db as dy is packed. */
static void project_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *w, int N, int C, int D, float *buf) {
    if (buf) { /* db summed while dy is packed */
        const as_ag_epi add = epi(AS_AG_ADD, 1.0f);
        for (int n0 = 0; n0 < N; n0 += KC) {
            const int kc = N - n0 < KC ? N - n0 : KC;
            as_attn_pack(buf, AS_AG_PANEL * (size_t)KC, dy + (size_t)n0 * D, kc, D, D, db);
            as_attn_gemm(1, C, D, kc, x + (size_t)n0 * C, C, buf, AS_AG_PANEL * (size_t)KC, dw, D,
                         &add);
        }
        if (dx) {
            as_attn_pack_t(buf, AS_AG_PANEL * (size_t)D, w, C, D, D);
            gemm_rows(N, C, D, dy, D, buf, AS_AG_PANEL * (size_t)D, dx, C, &add);
        }
        return;
    }
    as_layers_colsum_add(db, dy, (size_t)N, D, D);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, D, N, 1.0f, x, C, dy, D, 1.0f, dw, D);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, D, 1.0f, dy, D, w, D, 1.0f, dx,
                    C);
}

/* dctx (N, hv) = dout (N, O) wo^T, overwritten; on the AVX2 kernel when buf is given. */
static void output_grad(float *dctx, const float *dout, const float *wo, int N, int hv, int O,
                        float *buf) {
    if (buf) {
        const as_ag_epi e = epi(AS_AG_STORE, 1.0f);
        as_attn_pack_t(buf, AS_AG_PANEL * (size_t)O, wo, hv, O, O);
        gemm_rows(N, hv, O, dout, O, buf, AS_AG_PANEL * (size_t)O, dctx, hv, &e);
    } else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, hv, O, 1.0f, dout, O, wo, O, 0.0f,
                    dctx, hv);
}

/* Gradient views of one pair: dctx (read), dq, dk, dv (written), strides as the state's. */
typedef struct {
    const float *dctx;
    float *dq, *dk, *dv;
    float scale;
} attn_gview;

/* One block pair of backward: query rows [i0, i0+br) against keys [j0, j0+bc). */
static void backward_block(const attn_view *v, const attn_gview *g, float *buf, const float *D,
                           int i0, int br, int j0, int bc) {
    const size_t bb = (size_t)v->br * (size_t)v->bc;
    float *P = buf, *dP = buf + bb, *M = buf + 2 * bb;
    const float *dO = g->dctx + (size_t)i0 * (size_t)v->hv;
    probs(P, v, i0, br, j0, bc);
    const float *Pd = P; /* the probabilities the context used */
    if (v->drop) {
        dprobs(dP, dO, v, br, j0, bc, NULL, NULL);
        for (int r = 0; r < br; r++) {
            float *m = M + (size_t)r * bc, *dp = dP + (size_t)r * bc;
            const float *pr = P + (size_t)r * bc;
            mask_row(m, v, i0 + r, j0, bc);
            for (int j = 0; j < bc; j++) {
                dp[j] *= m[j];
                m[j] *= pr[j];
            }
            as_vec_mul_sub(dp, pr, (size_t)bc, D[i0 + r]); /* dS = P o (dP - D) */
        }
        Pd = M;
    } else /* dS = P o (dP - D) as dP is made */
        dprobs(dP, dO, v, br, j0, bc, P, D + i0);
    const int hk = v->hk, hv = v->hv, f = v->fast;
    const size_t ps = rows_ps(v), pi = (size_t)i0 * AS_AG_PANEL, pj = (size_t)j0 * AS_AG_PANEL;
    const attn_opnd o = {dO, hv, f ? v->dop + pi : NULL, ps};
    const attn_opnd k = {v->k + (size_t)j0 * hk, hk, f ? v->kp + pj : NULL, ps};
    const attn_opnd q = {v->q + (size_t)i0 * hk, hk, f ? v->qp + pi : NULL, ps};
    /* the first query block writes dk and dv, the first key block dq (no zeroing) */
    add_prod(g->dv + (size_t)j0 * hv, hv, Pd, br, bc, v->Dv, 1.0f, 1, i0 == 0, o, f);
    /* q' = q_scaled: dq' = dS k, dk = dS^T q'; dq = dq' / sqrt(Dk) */
    add_prod(g->dq + (size_t)i0 * hk, hk, dP, br, bc, v->Dk, g->scale, 0, j0 == 0, k, f);
    add_prod(g->dk + (size_t)j0 * hk, hk, dP, br, bc, v->Dk, 1.0f, 1, i0 == 0, q, f);
}

static void backward_pair(attn_view *v, const attn_gview *g, float *buf) {
    const int T = v->T, br = v->br, bc = v->bc;
    float *D = buf + 3 * (size_t)br * (size_t)bc;
    if (v->fast) { /* after D */
        float *p = align32(D + T);
        const size_t ps = rows_ps(v);
        as_attn_pack_t(p, kts(v), v->k, T, v->Dk, v->hk);
        v->ktp = p, p += pack_t_size(T, v->Dk);
        as_attn_pack(p, ps, v->k, T, v->Dk, v->hk, NULL);
        v->kp = p, p += pack_size(T, v->Dk);
        as_attn_pack_t(p, AS_AG_PANEL * (size_t)v->Dv, v->v, T, v->Dv, v->hv);
        v->vtp = p, p += pack_t_size(T, v->Dv);
        as_attn_pack(p, ps, v->q, T, v->Dk, v->hk, NULL);
        v->qp = p, p += pack_size(T, v->Dk);
        as_attn_pack(p, ps, g->dctx, T, v->Dv, v->hv, NULL);
        v->dop = p;
    }
    for (int i = 0; i < T; i++) /* D_i = dctx_i . ctx_i = rowsum(dP o P) */
        D[i] = as_vec_dot(g->dctx + (size_t)i * (size_t)v->hv, v->ctx + (size_t)i * (size_t)v->hv,
                          (size_t)v->Dv);
    for (int i0 = 0; i0 < T; i0 += br)
        for (int j0 = 0; j0 < T; j0 += bc)
            backward_block(v, g, buf, D, i0, T - i0 < br ? T - i0 : br, j0,
                           T - j0 < bc ? T - j0 : bc);
}

typedef struct {
    const as_attn_state *st;
    const as_attn_dims *d;
    const attn_record *rec;
    const float *dctx;
    float *dq, *dk, *dv;
    int fast;
} bwd_ctx;

static void backward_pair_cb(const void *ctx, int b, int h, float *buf) {
    const bwd_ctx *c = ctx;
    const as_attn_dims *d = c->d;
    attn_view v = view_of(c->st, d, b, h, c->rec, c->fast);
    const size_t hk = (size_t)d->H * (size_t)d->Dk, hv = (size_t)d->H * (size_t)d->Dv;
    const size_t ok = (size_t)b * (size_t)d->T * hk + (size_t)h * (size_t)d->Dk;
    const size_t ov = (size_t)b * (size_t)d->T * hv + (size_t)h * (size_t)d->Dv;
    const attn_gview gv = {c->dctx + ov, c->dq + ok, c->dk + ok, c->dv + ov, attn_scale(d)};
    backward_pair(&v, &gv, buf);
}


void as_attn_backward(float *dinp, float *dparams, const float *dout, const as_attn_state *st,
                      const float *inp, const float *params, float *scratch,
                      const as_attn_dims *d) {
    const int B = d->B, T = d->T, C = d->C, H = d->H, Dk = d->Dk, Dv = d->Dv, O = d->O;
    const int N = B * T, hk = H * Dk, hv = H * Dv;
    const attn_params p = attn_split(params, d);
    const attn_grads g = attn_split_grads(dparams, d);
    float *dq = scratch, *dk = dq + (size_t)N * (size_t)hk, *dv = dk + (size_t)N * (size_t)hk;
    float *dctx = dv + (size_t)N * (size_t)hv, *work = dctx + (size_t)N * (size_t)hv;
    attn_record rec;
    memcpy(&rec, st->rec, sizeof rec);

    const int fast = use_fast();
    float *buf = fast ? align32(work) : NULL;
    /* output projection: dWo += ctx^T dout, dbo, dctx = dout Wo^T (overwritten) */
    project_backward(NULL, g.wo, g.bo, dout, st->ctx, p.wo, N, hv, O, buf);
    output_grad(dctx, dout, p.wo, N, hv, O, buf);
    const bwd_ctx bc = {st, d, &rec, dctx, dq, dk, dv, fast};
    for_pairs(d, work, bwd_slot(d), backward_pair_cb, &bc);
    project_backward(dinp, g.wq, g.bq, dq, inp, p.wq, N, C, hk, buf);
    project_backward(dinp, g.wk, g.bk, dk, inp, p.wk, N, C, hk, buf);
    project_backward(dinp, g.wv, g.bv, dv, inp, p.wv, N, C, hv, buf);
}

/* ---- what the dumps and tests read ---- */

void as_attn_probs(float *P, const as_attn_state *st, const as_attn_dims *d, int b0, int nb) {
    const int T = d->T, H = d->H;
    for (int b = b0; b < b0 + nb; b++)
        for (int h = 0; h < H; h++) {
            const attn_view v = view_of(st, d, b, h, NULL, 0);
            float *Pb = P + ((size_t)(b - b0) * (size_t)H + (size_t)h) * (size_t)T * (size_t)T;
            scores(Pb, &v, 0, T, 0, T);
            for (int i = 0; i < T; i++)
                (void)as_vec_exp_sum(Pb + (size_t)i * T, Pb + (size_t)i * T, (size_t)T, v.lse[i]);
        }
}

int as_attn_mask(float *M, const as_attn_state *st, const as_attn_dims *d) {
    attn_record rec;
    memcpy(&rec, st->rec, sizeof rec);
    const int T = d->T, H = d->H;
    const size_t tt = (size_t)T * (size_t)T;
    for (int b = 0; b < d->B; b++)
        for (int h = 0; h < H; h++) {
            const attn_view v = view_of(st, d, b, h, &rec, 0);
            float *Mb = M + ((size_t)b * (size_t)H + (size_t)h) * tt;
            for (int i = 0; i < T; i++) {
                if (rec.drew) mask_row(Mb + (size_t)i * T, &v, i, 0, T);
                else
                    for (int j = 0; j < T; j++) Mb[(size_t)i * T + j] = 1.0f;
            }
        }
    return rec.drew;
}
