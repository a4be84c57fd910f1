/* conv1d.c: 1-D convolution (Keras Conv1D, stride 1, dilation) and the residual block
 * y = x + act(conv_same(x)).
 *
 * Fast path (tap GEMMs): the batch is one long sequence of B*T input rows. Output row
 * t of batch b is staged at row r = b*T + t (in out itself when To == T, else in the
 * scratch), and tap kk reads input row r + s with s = kk*dil - pad_left, so each tap is
 * one sgemm over all rows: stage[r] += inp[r + s] @ w[kk], no copies. The result is
 * right for the interior rows t in [pad_left, T - span + pad_left) (span = dil*(K-1)),
 * whose taps all lie inside their own sequence; the few boundary rows at either end
 * are redone by im2col on just those rows. Backward runs the same tap sgemms on dY with
 * the boundary rows zeroed, plus im2col / col2im on the boundary rows.
 *
 * Fallback (no interior rows, i.e. T too short for the kernel span, or the stage and
 * boundary rows do not fit the scratch): the im2col matrix has one row per output position (b, t): the K taps
 * inp[b, t - pad_left + kk*dil, 0..C-1] for kk = 0..K-1 laid side by side (K*C floats),
 * zeros for taps outside [0, T). Its product with the kernel viewed as (K*C, F) is the
 * convolution. With K == 1 the matrix is the input itself, so it is not copied. */
#include <cblas.h>
#include <string.h>

#include "attnsweep/layers.h"
#include "attnsweep/vec.h"
#include "layers/conv_internal.h"
#include "layers/layers_internal.h"

size_t as_conv1d_scratch(int B, int To, int C, int F, int K) {
    const size_t cols = (size_t)B * (size_t)To * (size_t)C * (size_t)K;
    const size_t fwd = as_conv_direct_scratch(K, C, F), bwd = as_conv_direct_scratch(K, F, C);
    const size_t direct = fwd > bwd ? fwd : bwd;
    return cols > direct ? cols : direct;
}

/* Writes the im2col row of output position t of one sequence xb (T rows) to row. */
static void im2col_row(float *row, const float *xb, int t, int T, int C, int K, int dil,
                       int pad_left) {
    const size_t c = (size_t)C;
    const int t0 = t - pad_left; /* input position of tap 0 */
    if (dil == 1) {
        /* taps are consecutive input rows: one copy plus zero fills at the edges */
        const int lo = t0 < 0 ? -t0 : 0; /* first tap inside */
        int hi = t0 + K > T ? T - t0 : K; /* one past the last tap inside */
        if (hi < lo) hi = lo;
        if (lo > 0) memset(row, 0, (size_t)lo * c * sizeof(float));
        if (hi > lo)
            memcpy(row + (size_t)lo * c, xb + (size_t)(t0 + lo) * c,
                   (size_t)(hi - lo) * c * sizeof(float));
        if (hi < K) memset(row + (size_t)hi * c, 0, (size_t)(K - hi) * c * sizeof(float));
        return;
    }
    for (int kk = 0; kk < K; kk++) {
        const int ti = t0 + kk * dil;
        float *dst = row + (size_t)kk * c;
        if (ti >= 0 && ti < T)
            memcpy(dst, xb + (size_t)ti * c, c * sizeof(float));
        else
            memset(dst, 0, c * sizeof(float));
    }
}

/* db[t - pad_left + kk*dil, :] += row[kk*C .. kk*C+C) for the taps inside [0, T). */
static void col2im_row_add(float *db, const float *row, int t, int T, int C, int K, int dil,
                           int pad_left) {
    const size_t c = (size_t)C;
    for (int kk = 0; kk < K; kk++) {
        const int ti = t - pad_left + kk * dil;
        if (ti < 0 || ti >= T) continue;
        float *dst = db + (size_t)ti * c;
        const float *src = row + (size_t)kk * c;
        for (size_t i = 0; i < c; i++) dst[i] += src[i];
    }
}

/* Geometry of one call. Output rows t in [i0, i1) of every sequence are interior (all
 * taps inside the sequence); the other nb = To - (i1 - i0) rows are boundary rows,
 * numbered j = 0..nb-1 as t = j for j < i0, else t = i1 + (j - i0). */
typedef struct {
    int B, T, C, F, K, dil, pad_left, To;
    int i0, i1, nb;
    int staged;         /* To != T: tap sums go to a (B*T, F) stage in the scratch */
    size_t stage_n;     /* floats of that stage (0 when not staged) */
} conv_geo;

static int boundary_t(const conv_geo *g, int j) { return j < g->i0 ? j : g->i1 + (j - g->i0); }

/* Fills g; returns 1 when the tap-GEMM path applies and fits the scratch
 * (as_conv1d_scratch floats), 0 for the im2col fallback. */
static int conv_plan(conv_geo *g, int B, int T, int C, int F, int K, int dil, int pad_left,
                     int To) {
    *g = (conv_geo){B, T, C, F, K, dil, pad_left, To, 0, 0, 0, 0, 0};
    const int span = dil * (K - 1);
    const int hi = T - span + pad_left < To ? T - span + pad_left : To;
    if (To > T || pad_left < 0 || pad_left >= hi) return 0;
    g->i0 = pad_left;
    g->i1 = hi;
    g->nb = To - (hi - pad_left);
    g->staged = To != T;
    g->stage_n = g->staged ? (size_t)B * (size_t)T * (size_t)F : 0;
    const size_t need = g->stage_n + (size_t)B * (size_t)g->nb * ((size_t)K * (size_t)C + (size_t)F);
    return need <= as_conv1d_scratch(B, To, C, F, K);
}

/* cb (B*nb, K*C) = the im2col rows of the boundary positions. */
static void im2col_boundary(float *cb, const float *inp, const conv_geo *g) {
    const size_t kc = (size_t)g->K * (size_t)g->C;
    for (int b = 0; b < g->B; b++)
        for (int j = 0; j < g->nb; j++)
            im2col_row(cb + ((size_t)b * (size_t)g->nb + (size_t)j) * kc,
                       inp + (size_t)b * (size_t)g->T * (size_t)g->C, boundary_t(g, j), g->T,
                       g->C, g->K, g->dil, g->pad_left);
}

/* Row r of the long sequence reads input row r + shift for tap kk; rows [*r0, *r1) keep
 * that inside [0, B*T). Returns the shift. */
static int tap_rows(const conv_geo *g, int kk, int *r0, int *r1) {
    const int s = kk * g->dil - g->pad_left, n = g->B * g->T;
    *r0 = s < 0 ? -s : 0;
    *r1 = s > 0 ? n - s : n;
    return s;
}

/* Copies rows [t0, t1) of every sequence from a layout with ss rows per sequence to one
 * with sd rows per sequence (row width F): dst[b*sd + t] = src[b*ss + t]. */
static void copy_rows(float *dst, int sd, const float *src, int ss, int B, int t0, int t1,
                      int F) {
    if (t1 <= t0) return;
    const size_t f = (size_t)F, len = (size_t)(t1 - t0) * f * sizeof(float);
    for (int b = 0; b < B; b++)
        memcpy(dst + ((size_t)b * (size_t)sd + (size_t)t0) * f,
               src + ((size_t)b * (size_t)ss + (size_t)t0) * f, len);
}

/* Moves the boundary rows between a (B, To, F) tensor and a packed (B*nb, F) buffer. */
static void boundary_rows(float *y, float *packed, const conv_geo *g, int to_packed) {
    const size_t f = (size_t)g->F;
    for (int b = 0; b < g->B; b++)
        for (int j = 0; j < g->nb; j++) {
            float *yr = y + ((size_t)b * (size_t)g->To + (size_t)boundary_t(g, j)) * f;
            float *pr = packed + ((size_t)b * (size_t)g->nb + (size_t)j) * f;
            if (to_packed)
                memcpy(pr, yr, f * sizeof(float));
            else
                memcpy(yr, pr, f * sizeof(float));
        }
}

static void forward_taps(float *out, const float *inp, const float *w, float *cols,
                         const conv_geo *g) {
    const int C = g->C, F = g->F, KC = g->K * C, MB = g->B * g->nb;
    float *stage = g->staged ? cols : out;
    float *cb = cols + g->stage_n, *ob = cb + (size_t)MB * (size_t)KC;
    /* rows [0, pad_left) are outside the first tap's range; zero them so that the later
     * taps accumulate onto defined values (they are boundary rows, redone below) */
    memset(stage, 0, (size_t)g->pad_left * (size_t)F * sizeof(float));
    for (int kk = 0; kk < g->K; kk++) {
        int r0, r1;
        const int s = tap_rows(g, kk, &r0, &r1);
        if (r1 <= r0) continue;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, F, C, 1.0f,
                    inp + (size_t)(r0 + s) * (size_t)C, C, w + (size_t)kk * (size_t)C * (size_t)F,
                    F, kk == 0 ? 0.0f : 1.0f, stage + (size_t)r0 * (size_t)F, F);
    }
    if (g->staged) copy_rows(out, g->To, stage, g->T, g->B, g->i0, g->i1, F);
    if (MB == 0) return;
    im2col_boundary(cb, inp, g);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, MB, F, KC, 1.0f, cb, KC, w, F, 0.0f,
                ob, F);
    boundary_rows(out, ob, g, 0);
}

/* dout already holds dY = dout * act'. */
static void backward_taps(float *dinp, float *dw, float *dout, const float *inp,
                          const float *w, float *cols, const conv_geo *g) {
    const int C = g->C, F = g->F, KC = g->K * C, MB = g->B * g->nb;
    float *cb = cols + g->stage_n, *dyb = cb + (size_t)MB * (size_t)KC;
    float *stage = dout;
    if (MB > 0) boundary_rows(dout, dyb, g, 1);
    if (g->staged) {
        /* dY at input stride with zeros outside the interior rows */
        stage = cols;
        memset(stage, 0, g->stage_n * sizeof(float));
        copy_rows(stage, g->T, dout, g->To, g->B, g->i0, g->i1, F);
    } else if (MB > 0) {
        /* zero the boundary rows in place (restored below) */
        for (int b = 0; b < g->B; b++)
            for (int j = 0; j < g->nb; j++)
                memset(dout + ((size_t)b * (size_t)g->To + (size_t)boundary_t(g, j)) * (size_t)F,
                       0, (size_t)F * sizeof(float));
    }
    for (int kk = 0; kk < g->K; kk++) {
        int r0, r1;
        const int s = tap_rows(g, kk, &r0, &r1);
        if (r1 <= r0) continue;
        const float *x = inp + (size_t)(r0 + s) * (size_t)C, *dy = stage + (size_t)r0 * (size_t)F;
        const size_t wo = (size_t)kk * (size_t)C * (size_t)F;
        /* dW[kk] (C, F) += x^T dY */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, F, r1 - r0, 1.0f, x, C, dy, F,
                    1.0f, dw + wo, F);
        if (dinp)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, C, F, 1.0f, dy, F,
                        w + wo, F, 1.0f, dinp + (size_t)(r0 + s) * (size_t)C, C);
    }
    if (MB == 0) return;
    if (!g->staged) boundary_rows(dout, dyb, g, 0);
    im2col_boundary(cb, inp, g);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, KC, F, MB, 1.0f, cb, KC, dyb, F, 1.0f,
                dw, F);
    if (!dinp) return;
    /* dcols of the boundary rows (MB, KC) = dY_b W^T, scattered into dinp */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, MB, KC, F, 1.0f, dyb, F, w, F, 0.0f,
                cb, KC);
    const size_t kc = (size_t)KC;
    for (int b = 0; b < g->B; b++)
        for (int j = 0; j < g->nb; j++)
            col2im_row_add(dinp + (size_t)b * (size_t)g->T * (size_t)C,
                           cb + ((size_t)b * (size_t)g->nb + (size_t)j) * kc, boundary_t(g, j),
                           g->T, C, g->K, g->dil, g->pad_left);
}

/* Builds the im2col matrix (B*To, K*C) in cols. */
static void im2col(float *cols, const float *inp, int B, int T, int C, int K, int dil,
                   int pad_left, int To) {
    const size_t kc = (size_t)K * (size_t)C;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < To; t++)
            im2col_row(cols + ((size_t)b * (size_t)To + (size_t)t) * kc,
                       inp + (size_t)b * (size_t)T * (size_t)C, t, T, C, K, dil, pad_left);
}

static as_conv_path path_forced;

void as_conv1d_use_path(as_conv_path p) { path_forced = p; }

/* Whether a convolution Cin -> Cout runs on the direct kernel (conv_internal.h). */
static int use_direct(size_t scratch_n, int K, int Cin, int Cout) {
    static int supported = -1; /* atomic: threads (batch_split parts) may race to set it */
    if (path_forced == AS_CONV_TAPS) return 0;
    if (path_forced == AS_CONV_AUTO && as_vec_current() == AS_VEC_PORTABLE) return 0;
    int s = __atomic_load_n(&supported, __ATOMIC_RELAXED);
    if (s < 0) {
        s = as_conv_direct_supported();
        __atomic_store_n(&supported, s, __ATOMIC_RELAXED);
    }
    return s && as_conv_direct_scratch(K, Cin, Cout) <= scratch_n;
}

void as_conv1d_forward(float *out, const float *inp, const float *w, const float *b,
                       float *cols, int B, int T, int C, int F, int K, int dil, int pad_left,
                       int To, as_act act) {
    const int M = B * To, KC = K * C;
    conv_geo g;
    if (use_direct(as_conv1d_scratch(B, To, C, F, K), K, C, F)) {
        const as_conv_direct_args a = {.y = out, .x = inp, .w = w, .bias = b, .B = B, .Tin = T,
                                       .Cin = C, .Tout = To, .Cout = F, .K = K, .dil = dil,
                                       .off = -pad_left, .relu = act == AS_ACT_RELU};
        as_conv_direct(&a, cols);
        if (act != AS_ACT_RELU) as_layers_bias_act(out, NULL, (size_t)M, F, act);
        return;
    }
    if (conv_plan(&g, B, T, C, F, K, dil, pad_left, To)) {
        forward_taps(out, inp, w, cols, &g);
    } else {
        const float *A = inp;
        if (K != 1 || pad_left != 0) {
            im2col(cols, inp, B, T, C, K, dil, pad_left, To);
            A = cols;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, F, KC, 1.0f, A, KC, w, F,
                    0.0f, out, F);
    }
    as_layers_bias_act(out, b, (size_t)M, F, act);
}

/* dw += the kernel gradient and, with dinp, dinp += the input gradient, on the tap GEMMs
 * or the im2col product; dout holds dY. */
static void backward_gemm(float *dinp, float *dw, float *dout, const float *inp,
                          const float *w, float *cols, int B, int T, int C, int F, int K,
                          int dil, int pad_left, int To) {
    const int M = B * To, KC = K * C;
    const int direct = (K == 1 && pad_left == 0); /* im2col(inp) == inp */
    conv_geo g;
    if (conv_plan(&g, B, T, C, F, K, dil, pad_left, To)) {
        backward_taps(dinp, dw, dout, inp, w, cols, &g);
        return;
    }
    const float *A = inp;
    if (!direct) {
        im2col(cols, inp, B, T, C, K, dil, pad_left, To);
        A = cols;
    }
    /* dW (KC, F) += cols^T dY */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, KC, F, M, 1.0f, A, KC, dout, F, 1.0f,
                dw, F);
    if (!dinp) return;
    if (direct) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, C, F, 1.0f, dout, F, w, F, 1.0f,
                    dinp, C);
        return;
    }
    /* dcols (M, KC) = dY W^T, then scatter-add into dinp */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, KC, F, 1.0f, dout, F, w, F, 0.0f,
                cols, KC);
    const size_t kc = (size_t)KC;
    for (int bb = 0; bb < B; bb++)
        for (int t = 0; t < To; t++)
            col2im_row_add(dinp + (size_t)bb * (size_t)T * (size_t)C,
                           cols + ((size_t)bb * (size_t)To + (size_t)t) * kc, t, T, C, K, dil,
                           pad_left);
}

/* dw += the kernel gradient on the direct kernel: the interior rows read from inp, the
 * boundary rows (or every row, when there is no interior) as im2col rows in cols. */
static void weight_grad_direct(float *dw, float *dout, const float *inp, float *cols, int B,
                               int T, int C, int F, int K, int dil, int pad_left, int To) {
    as_conv_dw_args a = {.dw = dw, .x = inp, .dy = dout, .B = B, .Tin = T, .To = To, .C = C,
                         .F = F, .K = K, .dil = dil, .off = -pad_left};
    conv_geo g;
    if (conv_plan(&g, B, T, C, F, K, dil, pad_left, To)) {
        const int MB = B * g.nb;
        a.i0 = g.i0, a.i1 = g.i1, a.ncols = MB;
        a.cols = cols, a.dycols = cols + (size_t)MB * (size_t)K * (size_t)C;
        if (MB > 0) {
            im2col_boundary(cols, inp, &g);
            boundary_rows(dout, cols + (size_t)MB * (size_t)K * (size_t)C, &g, 1);
        }
    } else {
        im2col(cols, inp, B, T, C, K, dil, pad_left, To);
        a.cols = cols, a.dycols = dout, a.ncols = B * To;
    }
    as_conv_direct_dw(&a);
}

void as_conv1d_backward(float *dinp, float *dw, float *db, float *dout, const float *out,
                        const float *inp, const float *w, float *cols, int B, int T, int C,
                        int F, int K, int dil, int pad_left, int To, as_act act) {
    as_layers_act_grad_bias(dout, out, db, (size_t)B * (size_t)To, F, act);
    if (use_direct(as_conv1d_scratch(B, To, C, F, K), K, F, C)) {
        /* dW (on the tap GEMMs for F < 8, where the direct kernel's 8-lane vectors are
         * mostly empty: measured slower, scripts/bench_conv.c), then dX: the convolution
         * of dY with the flipped, transposed kernel, added into dinp (cols is free again) */
        if (F >= 8)
            weight_grad_direct(dw, dout, inp, cols, B, T, C, F, K, dil, pad_left, To);
        else
            backward_gemm(NULL, dw, dout, inp, w, cols, B, T, C, F, K, dil, pad_left, To);
        if (!dinp) return;
        const as_conv_direct_args a = {.y = dinp, .x = dout, .w = w, .B = B, .Tin = To,
                                       .Cin = F, .Tout = T, .Cout = C, .K = K, .dil = dil,
                                       .off = pad_left - dil * (K - 1), .flip = 1,
                                       .accumulate = 1};
        as_conv_direct(&a, cols);
        return;
    }
    backward_gemm(dinp, dw, dout, inp, w, cols, B, T, C, F, K, dil, pad_left, To);
}

void as_resconv1d_forward(float *out, float *branch, const float *inp, const float *w,
                          const float *b, float *cols, int B, int T, int C, int K, int dil,
                          as_act act) {
    const int pad_left = dil * (K - 1) / 2;
    as_conv1d_forward(branch, inp, w, b, cols, B, T, C, C, K, dil, pad_left, T, act);
    as_vec_add(out, inp, branch, (size_t)B * (size_t)T * (size_t)C);
}

void as_resconv1d_backward(float *dinp, float *dw, float *db, float *dout, const float *branch,
                           const float *inp, const float *w, float *cols, int B, int T, int C,
                           int K, int dil, as_act act) {
    const int pad_left = dil * (K - 1) / 2;
    if (dinp) {
        as_vec_add(dinp, dinp, dout, (size_t)B * (size_t)T * (size_t)C); /* the skip path */
    }
    as_conv1d_backward(dinp, dw, db, dout, branch, inp, w, cols, B, T, C, C, K, dil, pad_left,
                       T, act);
}
