/* attention.c: self-attention, Keras MultiHeadAttention(num_heads=H, key_dim=Dk,
 * value_dim=Dv, output_shape=O) called as mha(x, x), forward and backward by hand.
 *
 * Projections run as one sgemm over all B*T rows; per (batch, head) the score and
 * context products are sgemms on strided views of q, k, v, ctx (leading dimension H*Dk
 * or H*Dv), so nothing is copied into head-major order. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "attnsweep/layers.h"
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

static size_t attn_rows(const as_attn_dims *d) { return (size_t)d->B * (size_t)d->T; }
static size_t attn_tt(const as_attn_dims *d) {
    return (size_t)d->B * (size_t)d->H * (size_t)d->T * (size_t)d->T;
}

size_t as_attn_state_size(const as_attn_dims *d) {
    const size_t n = attn_rows(d), hk = (size_t)d->H * (size_t)d->Dk;
    const size_t hv = (size_t)d->H * (size_t)d->Dv, tt = attn_tt(d);
    /* q, k, v, probs, [dprobs, mask], ctx */
    return n * hk * 2 + n * hv * 2 + tt * (d->rate > 0.0f ? 3 : 1);
}

size_t as_attn_scratch(const as_attn_dims *d) {
    const size_t n = attn_rows(d), hk = (size_t)d->H * (size_t)d->Dk;
    const size_t hv = (size_t)d->H * (size_t)d->Dv;
    /* dq, dk, dv, dctx for all rows, one T x T buffer */
    return n * hk * 2 + n * hv * 2 + (size_t)d->T * (size_t)d->T;
}

void as_attn_state_bind(as_attn_state *st, float *buf, const as_attn_dims *d) {
    const size_t n = attn_rows(d), hk = (size_t)d->H * (size_t)d->Dk;
    const size_t hv = (size_t)d->H * (size_t)d->Dv, tt = attn_tt(d);
    st->q = buf;
    st->k = st->q + n * hk;
    st->v = st->k + n * hk;
    st->probs = st->v + n * hv;
    if (d->rate > 0.0f) {
        st->dprobs = st->probs + tt;
        st->mask = st->dprobs + tt;
        st->ctx = st->mask + tt;
    } else {
        st->dprobs = st->probs;
        st->mask = NULL;
        st->ctx = st->probs + tt;
    }
}

static float attn_scale(const as_attn_dims *d) { return (float)(1.0 / sqrt((double)d->Dk)); }

/* y (N, D) = s * (x (N, C) w (C, D) + b) */
static void project(float *y, const float *x, const float *w, const float *b, int N, int C, int D,
                    float s) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, C, s, x, C, w, D, 0.0f, y, D);
    for (int n = 0; n < N; n++) {
        float *row = y + (size_t)n * (size_t)D;
        for (int i = 0; i < D; i++) row[i] += s * b[i];
    }
}

/* Numerically stable softmax of each of the T rows of S (T x T), in place. */
static void softmax_rows(float *S, int T) {
    for (int i = 0; i < T; i++) as_vec_softmax(S + (size_t)i * (size_t)T, (size_t)T);
}

void as_attn_forward(float *out, as_attn_state *st, const float *inp, const float *params,
                     const as_attn_dims *d, int training, const as_drop_key *key) {
    const int B = d->B, T = d->T, C = d->C, H = d->H, Dk = d->Dk, Dv = d->Dv, O = d->O;
    const int N = B * T, hk = H * Dk, hv = H * Dv;
    const size_t tt = (size_t)T * (size_t)T;
    const attn_params p = attn_split(params, d);
    project(st->q, inp, p.wq, p.bq, N, C, hk, attn_scale(d));
    project(st->k, inp, p.wk, p.bk, N, C, hk, 1.0f);
    project(st->v, inp, p.wv, p.bv, N, C, hv, 1.0f);
    const int drop = d->rate > 0.0f;
    const float keep = drop ? 1.0f / (1.0f - d->rate) : 1.0f;
    for (int b = 0; b < B; b++) {
        const size_t rk = (size_t)b * (size_t)T * (size_t)hk, rv = (size_t)b * (size_t)T * (size_t)hv;
        for (int h = 0; h < H; h++) {
            const size_t off = ((size_t)b * (size_t)H + (size_t)h) * tt;
            float *S = st->probs + off;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, Dk, 1.0f,
                        st->q + rk + (size_t)h * (size_t)Dk, hk,
                        st->k + rk + (size_t)h * (size_t)Dk, hk, 0.0f, S, T);
            softmax_rows(S, T);
            const float *P = S;
            if (drop) {
                float *Pd = st->dprobs + off, *M = st->mask + off;
                if (training) {
                    const uint64_t kb = as_drop_sample_key(key, b), e0 = (uint64_t)h * tt;
                    for (size_t i = 0; i < tt; i++) {
                        M[i] = as_rng_counter_at(kb, e0 + i) < d->rate ? 0.0f : keep;
                        Pd[i] = S[i] * M[i];
                    }
                } else { /* keep the state consistent for a backward pass: identity mask */
                    for (size_t i = 0; i < tt; i++) M[i] = 1.0f;
                    memcpy(Pd, S, tt * sizeof(float));
                }
                P = Pd;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dv, T, 1.0f, P, T,
                        st->v + rv + (size_t)h * (size_t)Dv, hv, 0.0f,
                        st->ctx + rv + (size_t)h * (size_t)Dv, hv);
        }
    }
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

/* dS = P o (dP - rowsum(dP o P)), in place in dP (T x T). */
static void softmax_backward_rows(float *dP, const float *P, int T) {
    for (int i = 0; i < T; i++)
        as_vec_softmax_backward(dP + (size_t)i * (size_t)T, P + (size_t)i * (size_t)T, (size_t)T);
}

void as_attn_backward(float *dinp, float *dparams, const float *dout, const as_attn_state *st,
                      const float *inp, const float *params, float *scratch,
                      const as_attn_dims *d) {
    const int B = d->B, T = d->T, C = d->C, H = d->H, Dk = d->Dk, Dv = d->Dv, O = d->O;
    const int N = B * T, hk = H * Dk, hv = H * Dv;
    const size_t tt = (size_t)T * (size_t)T;
    const attn_params p = attn_split(params, d);
    const attn_grads g = attn_split_grads(dparams, d);
    float *dq = scratch, *dk = dq + (size_t)N * (size_t)hk, *dv = dk + (size_t)N * (size_t)hk;
    float *dctx = dv + (size_t)N * (size_t)hv, *dP = dctx + (size_t)N * (size_t)hv;

    /* output projection: dWo += ctx^T dout, dbo, dctx = dout Wo^T (overwritten) */
    project_backward(NULL, g.wo, g.bo, dout, st->ctx, p.wo, N, hv, O);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, hv, O, 1.0f, dout, O, p.wo, O, 0.0f,
                dctx, hv);

    for (int b = 0; b < B; b++) {
        const size_t rk = (size_t)b * (size_t)T * (size_t)hk, rv = (size_t)b * (size_t)T * (size_t)hv;
        for (int h = 0; h < H; h++) {
            const size_t off = ((size_t)b * (size_t)H + (size_t)h) * tt;
            const size_t ok = rk + (size_t)h * (size_t)Dk, ov = rv + (size_t)h * (size_t)Dv;
            /* dP = dctx_bh v_bh^T; dv_bh = Pd^T dctx_bh */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, Dv, 1.0f, dctx + ov, hv,
                        st->v + ov, hv, 0.0f, dP, T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, Dv, T, 1.0f,
                        st->dprobs + off, T, dctx + ov, hv, 0.0f, dv + ov, hv);
            if (st->mask) {
                const float *M = st->mask + off;
                for (size_t i = 0; i < tt; i++) dP[i] *= M[i];
            }
            softmax_backward_rows(dP, st->probs + off, T);
            /* q' = q_scaled: dq' = dS k, dk = dS^T q'; dq = dq' / sqrt(Dk) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dk, T, attn_scale(d), dP, T,
                        st->k + ok, hk, 0.0f, dq + ok, hk);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, Dk, T, 1.0f, dP, T,
                        st->q + ok, hk, 0.0f, dk + ok, hk);
        }
    }
    project_backward(dinp, g.wq, g.bq, dq, inp, p.wq, N, C, hk);
    project_backward(dinp, g.wk, g.bk, dk, inp, p.wk, N, C, hk);
    project_backward(dinp, g.wv, g.bv, dv, inp, p.wv, N, C, hv);
}
