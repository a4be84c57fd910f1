/* attention.c: self-attention, Keras MultiHeadAttention(num_heads=H, key_dim=Dk,
 * value_dim=Dv, output_shape=O) called as mha(x, x), forward and backward by hand.
 *
 * Projections run as one sgemm over all B*T rows. The attention itself is fused in the
 * style of FlashAttention (Dao et al. 2022): per (batch, head), blocks of at most
 * AS_ATTN_BLOCK queries against blocks of at most AS_ATTN_BLOCK keys; each block's
 * scores are an sgemm on strided views of q and k (leading dimension H*Dk), exponentiated
 * against a running row maximum with a running row sum, and multiplied into the context
 * rows, which are rescaled when the maximum grows. Only each row's log-sum-exp is kept;
 * backward recomputes the scores block by block (FlashAttention-2's order: dS = P o (dP -
 * D) with D_i = dctx_i . ctx_i, which holds with dropout too). Memory is O(T) per (batch,
 * head) besides the per-thread blocks; the T x T probabilities exist only when
 * as_attn_probs() is asked for them (the dumped series). Dropout masks are recomputed
 * from the counter-based RNG in backward (the forward records the key it used). The
 * (batch, head) loops run in parallel on the rank's thread pool (pool.h), one block
 * buffer per thread. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "attnsweep/blas.h"
#include "attnsweep/layers.h"
#include "attnsweep/pool.h"
#include "attnsweep/vec.h"
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

/* Blocks split T evenly into ceil(T / AS_ATTN_BLOCK) parts. */
static int attn_block(int T) {
    const int nb = (T + AS_ATTN_BLOCK - 1) / AS_ATTN_BLOCK;
    return (T + nb - 1) / nb;
}

/* One thread's buffers. Forward: a block of scores, one mask row, the running maximum
 * and sum of each query row. Backward: three blocks (P, dP, mask) and D (T floats). */
static size_t fwd_slot(const as_attn_dims *d) {
    const size_t bl = (size_t)attn_block(d->T);
    return bl * bl + 3 * bl;
}
static size_t bwd_slot(const as_attn_dims *d) {
    const size_t bl = (size_t)attn_block(d->T);
    return 3 * bl * bl + (size_t)d->T;
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
    return n * hk * 2 + n * hv * 2 + n * (size_t)d->H + AS_ATTN_SLOTS * fwd_slot(d) +
           REC_FLOATS;
}

size_t as_attn_scratch(const as_attn_dims *d) {
    const size_t n = attn_rows(d), hk = (size_t)d->H * (size_t)d->Dk;
    const size_t hv = (size_t)d->H * (size_t)d->Dv;
    /* dq, dk, dv, dctx for all rows, the backward's blocks */
    return n * hk * 2 + n * hv * 2 + AS_ATTN_SLOTS * bwd_slot(d);
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
    st->rec = st->work + AS_ATTN_SLOTS * fwd_slot(d);
}

static float attn_scale(const as_attn_dims *d) { return (float)(1.0 / sqrt((double)d->Dk)); }

/* y (N, D) = s * (x (N, C) w (C, D) + b) */
static void project(float *y, const float *x, const float *w, const float *b, int N, int C, int D,
                    float s) {
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

/* Views of one (batch, head) pair: rows of q, k (stride hk) and v, ctx (stride hv). */
typedef struct {
    const float *q, *k, *v;
    float *ctx, *lse;
    int T, Dk, Dv, hk, hv, H, h, bl;
    uint64_t kb;   /* the sample's dropout key */
    float rate, keep;
    int drop;
} attn_view;

static attn_view view_of(const as_attn_state *st, const as_attn_dims *d, int b, int h,
                         const attn_record *rec) {
    attn_view v;
    const size_t hk = (size_t)d->H * (size_t)d->Dk, hv = (size_t)d->H * (size_t)d->Dv;
    const size_t r0 = (size_t)b * (size_t)d->T;
    v.q = st->q + r0 * hk + (size_t)h * (size_t)d->Dk;
    v.k = st->k + r0 * hk + (size_t)h * (size_t)d->Dk;
    v.v = st->v + r0 * hv + (size_t)h * (size_t)d->Dv;
    v.ctx = st->ctx + r0 * hv + (size_t)h * (size_t)d->Dv;
    v.lse = st->lse + ((size_t)b * (size_t)d->H + (size_t)h) * (size_t)d->T;
    v.T = d->T, v.Dk = d->Dk, v.Dv = d->Dv, v.hk = (int)hk, v.hv = (int)hv, v.H = d->H, v.h = h;
    v.bl = attn_block(d->T);
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

/* S (br x bc) = q[i0..] k[j0..]^T */
static void scores(float *S, const attn_view *v, int i0, int br, int j0, int bc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, br, bc, v->Dk, 1.0f,
                v->q + (size_t)i0 * (size_t)v->hk, v->hk, v->k + (size_t)j0 * (size_t)v->hk, v->hk,
                0.0f, S, bc);
}

/* Query rows [i0, i0 + br) against every key block: ctx rows and lse. */
static void forward_rows(const attn_view *v, float *buf, int i0, int br) {
    const int bl = v->bl, T = v->T, Dv = v->Dv;
    float *S = buf, *mk = buf + (size_t)bl * (size_t)bl, *mx = mk + bl, *l = mx + bl;
    for (int r = 0; r < br; r++) {
        mx[r] = -INFINITY;
        l[r] = 0.0f;
    }
    float *ctx = v->ctx + (size_t)i0 * (size_t)v->hv;
    for (int j0 = 0; j0 < T; j0 += bl) {
        const int bc = T - j0 < bl ? T - j0 : bl;
        scores(S, v, i0, br, j0, bc);
        for (int r = 0; r < br; r++) {
            float *sr = S + (size_t)r * (size_t)bc;
            const float bm = as_vec_max(sr, (size_t)bc), m = bm > mx[r] ? bm : mx[r];
            const float sum = as_vec_exp_sum(sr, sr, (size_t)bc, m);
            if (j0 > 0) { /* the maximum grew: rescale what the earlier blocks summed */
                const float corr = as_vec_expf(mx[r] - m);
                l[r] *= corr;
                as_vec_scale(ctx + (size_t)r * (size_t)v->hv, (size_t)Dv, corr);
            }
            l[r] += sum;
            mx[r] = m;
            if (v->drop) {
                mask_row(mk, v, i0 + r, j0, bc);
                for (int j = 0; j < bc; j++) sr[j] *= mk[j];
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, br, Dv, bc, 1.0f, S, bc,
                    v->v + (size_t)j0 * (size_t)v->hv, v->hv, j0 > 0 ? 1.0f : 0.0f, ctx, v->hv);
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

typedef struct {
    const as_attn_state *st;
    const as_attn_dims *d;
    const attn_record *rec;
} fwd_ctx;

static void forward_pair(const void *ctx, int b, int h, float *buf) {
    const fwd_ctx *c = ctx;
    const attn_view v = view_of(c->st, c->d, b, h, c->rec);
    for (int i0 = 0; i0 < v.T; i0 += v.bl)
        forward_rows(&v, buf, i0, v.T - i0 < v.bl ? v.T - i0 : v.bl);
}

void as_attn_forward(float *out, as_attn_state *st, const float *inp, const float *params,
                     const as_attn_dims *d, int training, const as_drop_key *key) {
    const int B = d->B, T = d->T, C = d->C, H = d->H, Dk = d->Dk, Dv = d->Dv, O = d->O;
    const int N = B * T, hk = H * Dk, hv = H * Dv;
    const attn_params p = attn_split(params, d);
    project(st->q, inp, p.wq, p.bq, N, C, hk, attn_scale(d));
    project(st->k, inp, p.wk, p.bk, N, C, hk, 1.0f);
    project(st->v, inp, p.wv, p.bv, N, C, hv, 1.0f);
    attn_record rec = {{0, 0, 0, 0}, training && d->rate > 0.0f};
    if (rec.drew) rec.key = *key;
    memcpy(st->rec, &rec, sizeof rec);
    const fwd_ctx fc = {st, d, &rec};
    for_pairs(d, st->work, fwd_slot(d), forward_pair, &fc);
    project(out, st->ctx, p.wo, p.bo, N, hv, O, 1.0f);
}

/* Gradients of y = x w + b given dy (N, D): dw += x^T dy, db += colsum dy,
 * dx += dy w^T (dx may be NULL). */
static void project_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *w, int N, int C, int D) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, D, N, 1.0f, x, C, dy, D, 1.0f, dw, D);
    as_layers_colsum_add(db, dy, (size_t)N, D, D);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, D, 1.0f, dy, D, w, D, 1.0f, dx,
                    C);
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
    const size_t bb = (size_t)v->bl * (size_t)v->bl;
    float *P = buf, *dP = buf + bb, *M = buf + 2 * bb;
    const float *dO = g->dctx + (size_t)i0 * (size_t)v->hv;
    scores(P, v, i0, br, j0, bc);
    for (int r = 0; r < br; r++) /* P = exp(S - lse): the forward's probabilities */
        (void)as_vec_exp_sum(P + (size_t)r * bc, P + (size_t)r * bc, (size_t)bc, v->lse[i0 + r]);
    /* dP = dctx v^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, br, bc, v->Dv, 1.0f, dO, v->hv,
                v->v + (size_t)j0 * (size_t)v->hv, v->hv, 0.0f, dP, bc);
    const float *Pd = P; /* the probabilities the context used */
    if (v->drop) {
        for (int r = 0; r < br; r++) {
            float *m = M + (size_t)r * bc, *dp = dP + (size_t)r * bc;
            const float *pr = P + (size_t)r * bc;
            mask_row(m, v, i0 + r, j0, bc);
            for (int j = 0; j < bc; j++) {
                dp[j] *= m[j];
                m[j] *= pr[j];
            }
        }
        Pd = M;
    }
    /* dv += Pd^T dctx */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bc, v->Dv, br, 1.0f, Pd, bc, dO, v->hv,
                1.0f, g->dv + (size_t)j0 * (size_t)v->hv, v->hv);
    for (int r = 0; r < br; r++) /* dS = P o (dP - D) */
        as_vec_mul_sub(dP + (size_t)r * bc, P + (size_t)r * bc, (size_t)bc, D[i0 + r]);
    /* q' = q_scaled: dq' = dS k, dk = dS^T q'; dq = dq' / sqrt(Dk) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, br, v->Dk, bc, g->scale, dP, bc,
                v->k + (size_t)j0 * (size_t)v->hk, v->hk, 1.0f, g->dq + (size_t)i0 * (size_t)v->hk,
                v->hk);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bc, v->Dk, br, 1.0f, dP, bc,
                v->q + (size_t)i0 * (size_t)v->hk, v->hk, 1.0f, g->dk + (size_t)j0 * (size_t)v->hk,
                v->hk);
}

static void zero_rows(float *x, int rows, int n, int ld) {
    for (int r = 0; r < rows; r++) memset(x + (size_t)r * (size_t)ld, 0, (size_t)n * sizeof(float));
}

static void backward_pair(const attn_view *v, const attn_gview *g, float *buf) {
    const int T = v->T, bl = v->bl;
    float *D = buf + 3 * (size_t)bl * (size_t)bl;
    for (int i = 0; i < T; i++) /* D_i = dctx_i . ctx_i = rowsum(dP o P) */
        D[i] = as_vec_dot(g->dctx + (size_t)i * (size_t)v->hv, v->ctx + (size_t)i * (size_t)v->hv,
                          (size_t)v->Dv);
    zero_rows(g->dq, T, v->Dk, v->hk);
    zero_rows(g->dk, T, v->Dk, v->hk);
    zero_rows(g->dv, T, v->Dv, v->hv);
    for (int i0 = 0; i0 < T; i0 += bl)
        for (int j0 = 0; j0 < T; j0 += bl)
            backward_block(v, g, buf, D, i0, T - i0 < bl ? T - i0 : bl, j0,
                           T - j0 < bl ? T - j0 : bl);
}

typedef struct {
    const as_attn_state *st;
    const as_attn_dims *d;
    const attn_record *rec;
    const float *dctx;
    float *dq, *dk, *dv;
} bwd_ctx;

static void backward_pair_cb(const void *ctx, int b, int h, float *buf) {
    const bwd_ctx *c = ctx;
    const as_attn_dims *d = c->d;
    const attn_view v = view_of(c->st, d, b, h, c->rec);
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

    /* output projection: dWo += ctx^T dout, dbo, dctx = dout Wo^T (overwritten) */
    project_backward(NULL, g.wo, g.bo, dout, st->ctx, p.wo, N, hv, O);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, hv, O, 1.0f, dout, O, p.wo, O, 0.0f,
                dctx, hv);
    const bwd_ctx bc = {st, d, &rec, dctx, dq, dk, dv};
    for_pairs(d, work, bwd_slot(d), backward_pair_cb, &bc);
    project_backward(dinp, g.wq, g.bq, dq, inp, p.wq, N, C, hk);
    project_backward(dinp, g.wk, g.bk, dk, inp, p.wk, N, C, hk);
    project_backward(dinp, g.wv, g.bv, dv, inp, p.wv, N, C, hv);
}

/* ---- what the dumps and tests read ---- */

void as_attn_probs(float *P, const as_attn_state *st, const as_attn_dims *d, int b0, int nb) {
    const int T = d->T, H = d->H;
    for (int b = b0; b < b0 + nb; b++)
        for (int h = 0; h < H; h++) {
            const attn_view v = view_of(st, d, b, h, NULL);
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
            const attn_view v = view_of(st, d, b, h, &rec);
            float *Mb = M + ((size_t)b * (size_t)H + (size_t)h) * tt;
            for (int i = 0; i < T; i++) {
                if (rec.drew) mask_row(Mb + (size_t)i * T, &v, i, 0, T);
                else
                    for (int j = 0; j < T; j++) Mb[(size_t)i * T + j] = 1.0f;
            }
        }
    return rec.drew;
}
