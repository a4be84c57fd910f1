/* dumps.c: forward passes kept for inspection -- attention maps and predictions of the
 * first rows of a split (the sweep's dumps, `attnsweep predict`; see sweep.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/model.h"
#include "attnsweep/sweep.h"

/* Copies rows idx[0..n) of s into contiguous x, y (regression) or labels buffers. */
static as_status gather_rows(const as_split *s, const int *idx, int n, float **x, float **y,
                             int **labels, as_error *err) {
    size_t xr = as_split_x_row(s), yr = as_split_y_row(s);
    *x = as_malloc((size_t)n * xr * sizeof(float));
    *y = s->y ? as_malloc((size_t)n * yr * sizeof(float)) : NULL;
    *labels = s->labels ? as_malloc((size_t)n * sizeof(int)) : NULL;
    if (!*x || (s->y && !*y) || (s->labels && !*labels))
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for dumps");
    for (int i = 0; i < n; i++) {
        memcpy(*x + (size_t)i * xr, s->x + (size_t)idx[i] * xr, xr * sizeof(float));
        if (s->y) memcpy(*y + (size_t)i * yr, s->y + (size_t)idx[i] * yr, yr * sizeof(float));
        if (s->labels) (*labels)[i] = s->labels[idx[i]];
    }
    return AS_OK;
}

/* "attention/layer_<i>" [n, H, T, T] and its mean over query positions
 * "attention/layer_<i>_mean" [n, H, T] (the notebook's Q6) of every attention layer. */
static as_status add_attention(const as_model *m, float **att, int n_att, as_result *out,
                               as_error *err) {
    as_status st = AS_OK;
    for (int i = 0; i < m->n_layers && !st; i++) {
        if (!att[i]) continue;
        int H, T;
        as_model_attention_shape(m, i, &H, &T);
        char name[AS_ARRAY_NAME_MAX];
        hsize_t dims[4] = {(hsize_t)n_att, (hsize_t)H, (hsize_t)T, (hsize_t)T};
        snprintf(name, sizeof name, "attention/layer_%d", i);
        if ((st = as_result_add(out, name, AS_ARR_F32, 4, dims, att[i], err))) break;
        float *mean = as_calloc((size_t)n_att * H * T, sizeof(float));
        if (!mean) return as_error_set(err, AS_ERR_NOMEM, "out of memory for attention means");
        for (size_t bh = 0; bh < (size_t)n_att * H; bh++)
            for (int j = 0; j < T; j++) {
                double acc = 0;
                for (int q = 0; q < T; q++) acc += (double)att[i][(bh * T + q) * T + j];
                mean[bh * T + j] = (float)(acc / T);
            }
        snprintf(name, sizeof name, "attention/layer_%d_mean", i);
        st = as_result_add(out, name, AS_ARR_F32, 3, dims, mean, err);
        as_free(mean);
    }
    return st;
}

/* "predictions" (softmax of the logits when classifying), "pred_inputs", "pred_targets". */
static as_status add_predictions(const as_model *m, const as_split *s, float *pred, const float *xs,
                                 const float *ys, const int *ls, int n_pred, int classification,
                                 as_result *out, as_error *err) {
    const as_layer *last = &m->layers[m->n_layers - 1];
    hsize_t pd[3] = {(hsize_t)n_pred, (hsize_t)last->out_t, (hsize_t)last->out_c};
    as_status st;
    if (classification) {
        int K = last->out_c;
        for (int b = 0; b < n_pred; b++) { /* logits -> probabilities */
            float *z = pred + (size_t)b * K, mx = z[0];
            double sum = 0;
            for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
            for (int k = 0; k < K; k++) sum += (double)(z[k] = expf(z[k] - mx));
            for (int k = 0; k < K; k++) z[k] = (float)((double)z[k] / sum);
        }
        pd[1] = (hsize_t)K;
        st = as_result_add(out, "predictions", AS_ARR_F32, 2, pd, pred, err);
    } else {
        st = as_result_add(out, "predictions", AS_ARR_F32, 3, pd, pred, err);
    }
    hsize_t xd[3] = {(hsize_t)n_pred, (hsize_t)s->t, (hsize_t)s->c};
    if (!st) st = as_result_add(out, "pred_inputs", AS_ARR_F32, 3, xd, xs, err);
    if (!st && classification) {
        hsize_t ld[1] = {(hsize_t)n_pred};
        st = as_result_add(out, "pred_targets", AS_ARR_I32, 1, ld, ls, err);
    } else if (!st) {
        hsize_t yd[3] = {(hsize_t)n_pred, (hsize_t)s->yt, (hsize_t)s->yc};
        st = as_result_add(out, "pred_targets", AS_ARR_F32, 3, yd, ys, err);
    }
    return st;
}

as_status as_dumps_collect(as_model *m, const as_split *s, const int *rows, int n_att, int n_pred,
                           int classification, as_result *out, as_error *err) {
    int n = n_att > n_pred ? n_att : n_pred;
    if (n == 0) return AS_OK;
    size_t xr = as_split_x_row(s), outsz = as_model_out_size(m);
    float *pred = as_calloc((size_t)n * outsz, sizeof(float)), *xs = NULL, *ys = NULL;
    int *ls = NULL;
    float **att = as_calloc((size_t)m->n_layers, sizeof(float *));
    as_status st = gather_rows(s, rows, n, &xs, &ys, &ls, err);
    if (!st && (!pred || !att)) st = as_error_set(err, AS_ERR_NOMEM, "out of memory for dumps");
    if (st) goto out;
    for (int start = 0; start < n && !st; start += m->max_batch) {
        int k = n - start < m->max_batch ? n - start : m->max_batch;
        const float *y = as_model_forward(m, xs + (size_t)start * xr, k, 0);
        memcpy(pred + (size_t)start * outsz, y, (size_t)k * outsz * sizeof(float));
        for (int i = 0; i < m->n_layers; i++) {
            int H, T;
            if (!as_model_attention_shape(m, i, &H, &T) || start >= n_att) continue;
            size_t per = (size_t)H * T * T;
            if (!att[i] && !(att[i] = as_malloc((size_t)n_att * per * sizeof(float)))) {
                st = as_error_set(err, AS_ERR_NOMEM, "out of memory for attention dumps");
                break;
            }
            int kk = n_att - start < k ? n_att - start : k;
            as_model_attention_probs(m, i, 0, kk, att[i] + (size_t)start * per);
        }
    }
    if (!st) st = add_attention(m, att, n_att, out, err);
    if (!st && n_pred > 0)
        st = add_predictions(m, s, pred, xs, ys, ls, n_pred, classification, out, err);
out:
    if (att)
        for (int i = 0; i < m->n_layers; i++) as_free(att[i]);
    as_free(att);
    as_free(pred);
    as_free(xs);
    as_free(ys);
    as_free(ls);
    return st;
}

