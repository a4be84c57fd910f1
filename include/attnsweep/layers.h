/* layers.h: forward/backward pairs of plain functions over flat float32 buffers.
 *
 * Tensors are channels-last and row-major like Keras: a (B, T, C) tensor stores x[b,t,c]
 * at ((b*T)+t)*C + c. Weights use Keras's shapes (see each function). Forward functions
 * write their outputs; backward functions ACCUMULATE (+=) into parameter gradients and
 * into the input gradient dinp, which may be NULL when the input needs no gradient
 * (the model's first layer). Callers zero gradients once per step. No function here
 * allocates: scratch space is passed in, sized by the *_scratch functions.
 *
 * BLAS: the matrix products are cblas_sgemm on OpenBLAS, except conv1d's direct kernel
 * (below).
 */
#ifndef ATTNSWEEP_LAYERS_H
#define ATTNSWEEP_LAYERS_H

#include <stddef.h>

#include "attnsweep/rng.h"
#include "attnsweep/spec.h"

/* ---- activations (in place), derivative from the activation's OUTPUT y ---- */
void as_act_forward(float *x, size_t n, as_act a);
/* d[i] *= act'(.) expressed with y[i] = act(z[i]). */
void as_act_backward(float *d, const float *y, size_t n, as_act a);

/* ---- conv1d: cross-correlation, stride 1 ----
 * inp (B, T, C), out (B, To, F); w [K, C, F] (Keras kernel), b [F].
 * Same padding: To = T, pad_left = (dil*(K-1))/2 zeros on the left, the rest right.
 * Valid: To = T - dil*(K-1) (> 0), pad_left = 0.
 * cols: scratch of as_conv1d_scratch(B, To, C, F, K) floats (im2col rows and staging, or
 * the direct kernel's packed weights).
 * out = act(conv(inp) + b). Backward takes dout, which it overwrites with
 * dout * act'(out) (so it may not be reused), and out (post-activation). cols need not
 * survive from the forward pass (layers may share one scratch buffer).
 * Two paths, equal within rounding: on AVX2 + FMA CPUs (and ATTNSWEEP_SIMD not portable)
 * a direct convolution kernel for the output and the input gradient (src/layers/
 * conv_direct.c); otherwise, and for the kernel gradient, the tap GEMMs on OpenBLAS
 * (src/layers/conv1d.c). Neither depends on the thread count. */
size_t as_conv1d_scratch(int B, int To, int C, int F, int K);
void as_conv1d_forward(float *out, const float *inp, const float *w, const float *b,
                       float *cols, int B, int T, int C, int F, int K, int dil, int pad_left,
                       int To, as_act act);
void as_conv1d_backward(float *dinp, float *dw, float *db, float *dout, const float *out,
                        const float *inp, const float *w, float *cols, int B, int T, int C,
                        int F, int K, int dil, int pad_left, int To, as_act act);

/* ---- residual_conv1d: y = x + act(conv_same(x)), F == C ----
 * branch (B, T, C) keeps act(conv(x)) for backward; out = inp + branch. */
void as_resconv1d_forward(float *out, float *branch, const float *inp, const float *w,
                          const float *b, float *cols, int B, int T, int C, int K, int dil,
                          as_act act);
/* dout is overwritten. */
void as_resconv1d_backward(float *dinp, float *dw, float *db, float *dout, const float *branch,
                           const float *inp, const float *w, float *cols, int B, int T, int C,
                           int K, int dil, as_act act);

/* ---- dropout masks: counter-based, independent of how a batch is split ----
 * A mask element's uniform draw is a pure function of (seed, step, layer, GLOBAL sample
 * index within the global batch, element index within that sample):
 *   as_drop_u(key, b, e) = as_rng_counter_float(key->seed, key->step,
 *                              (uint64_t)key->layer << 32 | (uint64_t)(key->row0 + b), e)
 * (rng.h defines as_rng_counter_float exactly). So a data-parallel rank holding rows
 * [row0, row0 + B) of the global batch draws exactly the masks a single process draws
 * for those rows, and different samples, layers and steps get independent masks.
 * seed: the model's dropout seed; step: the optimizer step (global batch) count;
 * layer: the layer index in the model (< 2^31); row0: global index of local row 0
 * (0 <= row0 + b < 2^32). */
typedef struct {
    uint64_t seed;
    uint64_t step;
    int layer;
    long row0;
} as_drop_key;

/* The as_rng_counter_key of local sample b (draws are as_rng_counter_at(it, e)). */
uint64_t as_drop_sample_key(const as_drop_key *key, int b);
/* as_rng_counter_at(as_drop_sample_key(key, b), e): the draw for element e of sample b. */
float as_drop_u(const as_drop_key *key, int b, uint64_t e);

/* ---- self_attention: Keras MultiHeadAttention called as (x, x) ----
 * inp (B, T, C); out (B, T, O). Parameters, contiguous in this order:
 *   wq [C, H, Dk]  bq [H, Dk]  wk [C, H, Dk]  bk [H, Dk]
 *   wv [C, H, Dv]  bv [H, Dv]  wo [H, Dv, O]  bo [O]
 * The attention is fused (FlashAttention style, see attention.c): the T x T
 * probabilities are never stored. Saved state (as_attn_state, all sized for B): q
 * (B,T,H,Dk) already scaled by 1/sqrt(Dk), k (B,T,H,Dk), v (B,T,H,Dv), ctx (B,T,H,Dv) the
 * context (after dropout on the probabilities), lse (B,H,T) each query row's log-sum-exp
 * of its scores, work (the forward's per-thread blocks; contents not needed afterwards)
 * and rec (the dropout key the forward used, for backward to redraw the same masks).
 * State and scratch are O(B T) plus O(AS_ATTN_SLOTS * (min(T, AS_ATTN_BLOCK)^2 + T D)):
 * linear in T. Scratch: as_attn_scratch floats (dq, dk, dv, dctx for all rows, per-thread
 * blocks and panels). The (batch, head) loops use up to min(AS_ATTN_SLOTS,
 * as_pool_threads()) threads of the rank's pool (pool.h). Where the CPU has AVX2 and FMA
 * (and ATTNSWEEP_SIMD is not portable) the block products and the projections run on
 * attention's own kernels (src/layers/attn_gemm.h; blocks of AS_ATTN_FAST_BR queries x
 * AS_ATTN_FAST_BC keys), elsewhere on single-threaded cblas_sgemm (blocks of
 * AS_ATTN_BLOCK); results agree within rounding and do not depend on the thread count.
 * With rate > 0 and training == 0 no dropout is applied and a backward pass after that
 * inference forward is consistent with it (mask of ones). */
#ifndef AS_ATTN_BLOCK
#define AS_ATTN_BLOCK 256 /* the largest query or key block (-DAS_ATTN_BLOCK=n to try others) */
#endif
#ifndef AS_ATTN_FAST_BR
#define AS_ATTN_FAST_BR 64 /* the AVX2 kernels' largest query block */
#endif
#ifndef AS_ATTN_FAST_BC
#define AS_ATTN_FAST_BC 256 /* and key block */
#endif
#define AS_ATTN_SLOTS 8   /* per-thread block buffers: the most threads attention uses */
#define AS_ATTN_BIAS_MAX 256
typedef struct {
    int B, T, C, H, Dk, Dv, O;
    float rate;
} as_attn_dims;

typedef struct {
    float *q, *k, *v, *ctx, *lse, *work;
    void *rec;
} as_attn_state;

size_t as_attn_param_count(const as_attn_dims *d);
size_t as_attn_state_size(const as_attn_dims *d); /* floats for the whole state */
size_t as_attn_scratch(const as_attn_dims *d);
/* Points st's fields into buf (as_attn_state_size(d) floats). */
void as_attn_state_bind(as_attn_state *st, float *buf, const as_attn_dims *d);
/* training != 0 and rate > 0 draw the dropout mask from key: entry (b, h, i, j) is
 * dropped when as_drop_u(key, b, (h * T + i) * T + j) < rate (b local, 0 <= b < B);
 * otherwise key is unused (may be NULL). */
void as_attn_forward(float *out, as_attn_state *st, const float *inp, const float *params,
                     const as_attn_dims *d, int training, const as_drop_key *key);
void as_attn_backward(float *dinp, float *dparams, const float *dout, const as_attn_state *st,
                      const float *inp, const float *params, float *scratch,
                      const as_attn_dims *d);
/* The softmax probabilities over keys (before dropout: what Keras returns as attention
 * scores) of local samples [b0, b0 + nb) of the last forward, recomputed from the state:
 * P (nb, H, T, T). d as in that forward. */
void as_attn_probs(float *P, const as_attn_state *st, const as_attn_dims *d, int b0, int nb);
/* The dropout scales the last forward used, M (B, H, T, T): 0 or 1/(1-rate), all 1 when it
 * drew none. Returns whether it drew masks. */
int as_attn_mask(float *M, const as_attn_state *st, const as_attn_dims *d);
/* on != 0: attention's block products run on cblas_sgemm even where the AVX2 kernels
 * could (benchmarks, tests); 0 (the default): the AVX2 kernels where the CPU has AVX2 and
 * FMA and ATTNSWEEP_SIMD is not portable. Not thread-safe against running layers. */
void as_attn_use_sgemm(int on);

/* ---- dense on the last axis: inp (N, C) -> out (N, U), N = B*T or B ----
 * w [C, U], b [U]; out = act(inp w + b). dout overwritten. */
void as_dense_forward(float *out, const float *inp, const float *w, const float *b, int N,
                      int C, int U, as_act act);
void as_dense_backward(float *dinp, float *dw, float *db, float *dout, const float *out,
                       const float *inp, const float *w, int N, int C, int U, as_act act);

/* ---- global_average_pooling1d: (B, T, C) -> (B, C) ---- */
void as_gap1d_forward(float *out, const float *inp, int B, int T, int C);
void as_gap1d_backward(float *dinp, const float *dout, int B, int T, int C);

/* ---- dropout (inverted): out = inp * mask, mask 0 or 1/(1-rate) ----
 * inp, out, mask hold B samples of per floats each (n = B * per). Element e of local
 * sample b: mask = 0 when as_drop_u(key, b, e) < rate.
 * training == 0 or rate == 0: out = inp and mask untouched (key unused, may be NULL).
 * out may be inp. */
void as_dropout_forward(float *out, float *mask, const float *inp, int B, size_t per, float rate,
                        int training, const as_drop_key *key);
void as_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n, float rate,
                         int training);

/* ---- layer_norm over the last axis, epsilon 1e-3: inp (N, C) ----
 * gamma [C], beta [C]; mean and rstd = 1/sqrt(biased var + eps) (N) saved for backward.
 * Backward does not modify dout. */
#define AS_LAYER_NORM_EPS 1e-3f
void as_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *gamma, const float *beta, int N, int C);
void as_layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *inp, const float *mean, const float *rstd,
                           const float *gamma, int N, int C);

/* ---- batch_normalization on the channel (last) axis: inp (N, C), N = B*T ----
 * Keras BatchNormalization(axis=-1): per channel, over all N rows.
 * Training: sums = as_bn_sums (Σx [C] then Σx² [C], doubles; data-parallel ranks add
 * theirs, then count = the global number of rows), as_bn_moments gives the batch mean
 * and biased variance, as_bn_update_moving the moving averages
 * (moving = moving * momentum + batch * (1 - momentum)), as_bn_rstd 1/sqrt(var + eps),
 * as_bn_forward y = (x - mean) * rstd * gamma + beta (gamma, beta NULL: scale 1, centre 0).
 * Inference: as_bn_forward with the moving mean and as_bn_rstd of the moving variance.
 * Backward (batch statistics): as_bn_backward_sums writes sums = Σdy [C], Σdy·xhat [C]
 * and accumulates dbeta += Σdy, dgamma += Σdy·xhat (either may be NULL); after the
 * ranks add their sums, as_bn_backward accumulates
 * dx += gamma * rstd * (dy - Σdy / count - xhat * Σdy·xhat / count). */
void as_bn_sums(double *sums, const float *inp, int N, int C);
void as_bn_moments(float *mean, float *var, const double *sums, double count, int C);
void as_bn_update_moving(float *moving_mean, float *moving_var, const float *mean,
                         const float *var, int C, float momentum);
void as_bn_rstd(float *rstd, const float *var, int C, float eps);
void as_bn_forward(float *out, const float *inp, const float *mean, const float *rstd,
                   const float *gamma, const float *beta, int N, int C);
void as_bn_backward_sums(double *sums, float *dgamma, float *dbeta, const float *dout,
                         const float *inp, const float *mean, const float *rstd, int N, int C);
void as_bn_backward(float *dinp, const float *dout, const float *inp, const float *mean,
                    const float *rstd, const float *gamma, const double *sums, double count,
                    int N, int C);

/* ---- losses: return the SUM of per-sample losses (double) and write the gradient
 * scaled by `scale` (the caller passes 1/global_count so that gradients summed over
 * data-parallel ranks equal the single-process gradient). ----
 * mse: pred, y (n elements as B samples of m values each); per-sample loss = mean over
 * its m values; dpred = scale * 2 (pred - y) / m (dpred may be NULL). Keras "mse" ==
 * mean of everything. */
double as_loss_mse(float *dpred, const float *pred, const float *y, int B, int m, float scale);
/* sparse categorical cross-entropy from logits (B, K), labels 0..K-1; dlogits =
 * scale * (softmax - onehot); *correct += argmax hits (first maximum wins, like
 * tf.argmax). dlogits and correct may be NULL. Labels are not range-checked. */
double as_loss_sce(float *dlogits, const float *logits, const int *labels, int B, int K,
                   float scale, long *correct);

#endif
