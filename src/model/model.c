/* model.c: build a model from a spec -- shapes, one parameter buffer with an offset table,
 * activations sized once -- and run its forward and backward passes layer by layer. */
#include "attnsweep/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/layers.h"

/* Per-layer sizes computed while building. */
typedef struct {
    size_t params, act, state, scratch;
} layer_sizes;

static as_attn_dims attn_dims(const as_layer *L, int B) {
    as_attn_dims d;
    d.B = B;
    d.T = L->in_t;
    d.C = L->in_c;
    d.H = L->spec.num_heads;
    d.Dk = L->spec.key_dim;
    d.Dv = L->spec.value_dim ? L->spec.value_dim : L->spec.key_dim;
    d.O = L->out_c;
    d.rate = L->spec.rate;
    return d;
}

static int conv_pad_left(const as_layer *L) {
    if (L->spec.type == AS_LAYER_CONV1D && L->spec.padding == AS_PAD_VALID) return 0;
    return L->spec.dilation * (L->spec.kernel_size - 1) / 2;
}

/* Sets L's output shape and its sizes for batch B; AS_ERR_SPEC when the layer does not
 * fit its input. */
static as_status shape_layer(as_layer *L, int index, int B, const char *origin, layer_sizes *sz,
                             as_error *err) {
    const as_layer_spec *s = &L->spec;
    const char *tn = as_layer_type_name(s->type);
    size_t n_in = (size_t)L->in_t * (size_t)L->in_c;
    memset(sz, 0, sizeof *sz);
    L->out_rank = L->in_rank;
    L->out_t = L->in_t;
    L->out_c = L->in_c;
    int needs_rank3 = s->type == AS_LAYER_CONV1D || s->type == AS_LAYER_RESIDUAL_CONV1D ||
                      s->type == AS_LAYER_SELF_ATTENTION || s->type == AS_LAYER_GLOBAL_AVG_POOL1D;
    if (needs_rank3 && L->in_rank != 3)
        return as_error_set(err, AS_ERR_SPEC,
                            "%s: model[%d] (%s): needs a (batch, time, channels) input but gets "
                            "(batch, %d) from the layer before", origin, index, tn, L->in_c);
    switch (s->type) {
    case AS_LAYER_CONV1D:
    case AS_LAYER_RESIDUAL_CONV1D: {
        int K = s->kernel_size, span = s->dilation * (K - 1);
        int F = s->filters;
        if (s->type == AS_LAYER_RESIDUAL_CONV1D) {
            if (F == 0) F = L->in_c;
            if (F != L->in_c)
                return as_error_set(err, AS_ERR_SPEC,
                                    "%s: model[%d] (residual_conv1d): filters (%d) must equal the "
                                    "input channels (%d) for x + conv(x)", origin, index, F, L->in_c);
        }
        L->out_c = F;
        if (s->type == AS_LAYER_CONV1D && s->padding == AS_PAD_VALID) {
            if (L->in_t - span < 1)
                return as_error_set(err, AS_ERR_SPEC,
                                    "%s: model[%d] (conv1d): a valid convolution spanning %d steps "
                                    "needs series longer than %d (got %d)", origin, index, span + 1,
                                    span, L->in_t);
            L->out_t = L->in_t - span;
        }
        sz->params = (size_t)K * (size_t)L->in_c * (size_t)F + (size_t)F;
        /* the im2col rows are rebuilt in backward: one scratch serves every layer; a
         * residual keeps its branch act(conv(x)) */
        sz->scratch = as_conv1d_scratch(B, L->out_t, L->in_c, K);
        if (s->type == AS_LAYER_RESIDUAL_CONV1D) sz->state = (size_t)B * n_in;
        break;
    }
    case AS_LAYER_SELF_ATTENTION: {
        int O = s->output_dim ? s->output_dim : L->in_c;
        L->out_c = O;
        as_attn_dims d = attn_dims(L, B);
        sz->params = as_attn_param_count(&d);
        sz->state = as_attn_state_size(&d);
        sz->scratch = as_attn_scratch(&d);
        break;
    }
    case AS_LAYER_DENSE:
        L->out_c = s->units;
        sz->params = (size_t)L->in_c * (size_t)s->units + (size_t)s->units;
        break;
    case AS_LAYER_GLOBAL_AVG_POOL1D:
        L->out_rank = 2;
        L->out_t = 1;
        break;
    case AS_LAYER_FLATTEN:
        L->out_rank = 2;
        L->out_t = 1;
        L->out_c = L->in_t * L->in_c;
        break;
    case AS_LAYER_DROPOUT:
        if (s->rate > 0.0f) sz->state = (size_t)B * n_in;
        break;
    case AS_LAYER_LAYER_NORM:
        sz->params = 2 * (size_t)L->in_c;
        sz->state = 2 * (size_t)B * (size_t)L->in_t;
        break;
    case AS_LAYER_ACTIVATION:
    case AS_LAYER_NTYPES: break;
    }
    sz->act = (size_t)B * (size_t)L->out_t * (size_t)L->out_c;
    return AS_OK;
}

void as_model_free(as_model *m) {
    if (!m) return;
    as_free(m->layers);
    as_free(m->params);
    as_free(m->grads);
    as_free(m->acts);
    as_free(m->dacts);
    as_free(m->state);
    as_free(m->scratch);
    memset(m, 0, sizeof *m);
}

as_status as_model_build(as_model *m, const as_spec *spec, int in_t, int in_c, int max_batch,
                         const char *origin, as_error *err) {
    memset(m, 0, sizeof *m);
    if (in_t < 1 || in_c < 1 || max_batch < 1 || spec->n_layers < 1)
        return as_error_set(err, AS_ERR_SPEC, "%s: the model needs a non-empty input and layers",
                            origin);
    m->layers = as_calloc((size_t)spec->n_layers, sizeof *m->layers);
    if (!m->layers) return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", origin);
    m->n_layers = spec->n_layers;
    m->max_batch = max_batch;
    m->in_t = in_t;
    m->in_c = in_c;
    int rank = 3, t = in_t, c = in_c;
    size_t np = 0, na = 0, ns = 0, nscr = 0;
    for (int i = 0; i < m->n_layers; i++) {
        as_layer *L = &m->layers[i];
        L->spec = spec->layers[i];
        L->in_rank = rank;
        L->in_t = t;
        L->in_c = c;
        layer_sizes sz;
        as_status st = shape_layer(L, i, max_batch, origin, &sz, err);
        if (st) {
            as_model_free(m);
            return st;
        }
        L->p_off = np;
        L->p_n = sz.params;
        L->a_off = na;
        L->s_off = ns;
        L->s_n = sz.state;
        if (!as_size_add(np, sz.params, &np) || !as_size_add(na, sz.act, &na) ||
            !as_size_add(ns, sz.state, &ns)) {
            as_model_free(m);
            return as_error_set(err, AS_ERR_NOMEM, "%s: model[%d]: sizes overflow", origin, i);
        }
        if (sz.scratch > nscr) nscr = sz.scratch;
        rank = L->out_rank;
        t = L->out_t;
        c = L->out_c;
    }
    m->n_params = np;
    m->n_acts = na;
    m->n_state = ns;
    m->n_scratch = nscr;
    m->params = as_calloc(np ? np : 1, sizeof(float));
    m->grads = as_calloc(np ? np : 1, sizeof(float));
    m->acts = as_calloc(na, sizeof(float));
    m->dacts = as_calloc(na, sizeof(float));
    m->state = as_calloc(ns ? ns : 1, sizeof(float));
    m->scratch = as_calloc(nscr ? nscr : 1, sizeof(float));
    if (!m->params || !m->grads || !m->acts || !m->dacts || !m->state || !m->scratch) {
        size_t total = (np * 2 + na * 2 + ns + nscr) * sizeof(float);
        as_model_free(m);
        return as_error_set(err, AS_ERR_NOMEM,
                            "%s: out of memory allocating %.1f MiB for the model (batch %d)", origin,
                            (double)total / 1048576.0, max_batch);
    }
    return AS_OK;
}

as_status as_model_check_output(const as_model *m, int classification, int yt, int yc,
                                int n_classes, const char *origin, as_error *err) {
    const as_layer *L = &m->layers[m->n_layers - 1];
    int last = m->n_layers - 1;
    const char *tn = as_layer_type_name(L->spec.type);
    if (classification) {
        if (L->out_rank != 2 || L->out_c != n_classes)
            return as_error_set(err, AS_ERR_SPEC,
                                "%s: model[%d] (%s): a classifier must end in (batch, %d) logits "
                                "(one per class) but outputs %s(batch, %d%s%d)", origin, last, tn,
                                n_classes, "", L->out_rank == 3 ? L->out_t : L->out_c,
                                L->out_rank == 3 ? ", " : "", L->out_rank == 3 ? L->out_c : 0);
        return AS_OK;
    }
    if (L->out_rank != 3 || L->out_t != yt || L->out_c != yc)
        return as_error_set(err, AS_ERR_SPEC,
                            "%s: model[%d] (%s): outputs (batch, %d, %d) but the targets are "
                            "(batch, %d, %d)", origin, last, tn, L->out_rank == 3 ? L->out_t : 1,
                            L->out_c, yt, yc);
    return AS_OK;
}

/* Keras's glorot_uniform for a kernel of the given shape: fans from keras compute_fans
 * (rank 2: shape[0], shape[1]; higher ranks: the leading dims are a receptive field). */
static void glorot(float *w, const int *shape, int rank, as_rng *r) {
    double rf = 1.0;
    for (int i = 0; i < rank - 2; i++) rf *= shape[i];
    double fan_in = shape[rank - 2] * rf, fan_out = shape[rank - 1] * rf;
    float limit = (float)sqrt(6.0 / (fan_in + fan_out));
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)shape[i];
    for (size_t i = 0; i < n; i++) w[i] = (2.0f * as_rng_float(r) - 1.0f) * limit;
}

void as_model_init(as_model *m, uint64_t seed) {
    as_rng r;
    as_rng_seed(&r, as_rng_derive(seed, AS_STREAM_INIT));
    m->dropout_seed = as_rng_derive(seed, AS_STREAM_DROPOUT);
    m->step = 0;
    m->row0 = 0;
    memset(m->params, 0, m->n_params * sizeof(float));
    for (int i = 0; i < m->n_layers; i++) {
        as_layer *L = &m->layers[i];
        float *p = m->params + L->p_off;
        switch (L->spec.type) {
        case AS_LAYER_CONV1D:
        case AS_LAYER_RESIDUAL_CONV1D: {
            int shape[3] = {L->spec.kernel_size, L->in_c, L->out_c};
            glorot(p, shape, 3, &r);
            break;
        }
        case AS_LAYER_DENSE: {
            int shape[2] = {L->in_c, L->out_c};
            glorot(p, shape, 2, &r);
            break;
        }
        case AS_LAYER_SELF_ATTENTION: {
            as_attn_dims d = attn_dims(L, 1);
            int qk[3] = {d.C, d.H, d.Dk}, v[3] = {d.C, d.H, d.Dv}, o[3] = {d.H, d.Dv, d.O};
            size_t nqk = (size_t)d.C * d.H * d.Dk, bqk = (size_t)d.H * d.Dk;
            size_t nv = (size_t)d.C * d.H * d.Dv, bv = (size_t)d.H * d.Dv;
            glorot(p, qk, 3, &r);
            p += nqk + bqk;
            glorot(p, qk, 3, &r);
            p += nqk + bqk;
            glorot(p, v, 3, &r);
            p += nv + bv;
            glorot(p, o, 3, &r);
            break;
        }
        case AS_LAYER_LAYER_NORM:
            for (int c = 0; c < L->in_c; c++) p[c] = 1.0f;
            break;
        default: break;
        }
    }
}

static const float *layer_input(const as_model *m, const float *x, int i) {
    return i == 0 ? x : m->acts + m->layers[i - 1].a_off;
}

const float *as_model_forward(as_model *m, const float *x, int B, int training) {
    m->last_batch = B;
    for (int i = 0; i < m->n_layers; i++) {
        const as_drop_key key = {m->dropout_seed, m->step, i, m->row0};
        as_layer *L = &m->layers[i];
        const float *in = layer_input(m, x, i);
        float *out = m->acts + L->a_off;
        const float *p = m->params + L->p_off;
        float *st = m->state + L->s_off;
        size_t n_in = (size_t)B * L->in_t * L->in_c;
        const as_layer_spec *s = &L->spec;
        switch (s->type) {
        case AS_LAYER_CONV1D: {
            const float *w = p, *b = p + (size_t)s->kernel_size * L->in_c * L->out_c;
            as_conv1d_forward(out, in, w, b, m->scratch, B, L->in_t, L->in_c, L->out_c,
                              s->kernel_size, s->dilation, conv_pad_left(L), L->out_t,
                              s->activation);
            break;
        }
        case AS_LAYER_RESIDUAL_CONV1D: {
            const float *w = p, *b = p + (size_t)s->kernel_size * L->in_c * L->out_c;
            as_resconv1d_forward(out, st, in, w, b, m->scratch, B, L->in_t, L->in_c, s->kernel_size,
                                 s->dilation, s->activation);
            break;
        }
        case AS_LAYER_SELF_ATTENTION: {
            as_attn_dims d = attn_dims(L, B);
            as_attn_state as;
            as_attn_state_bind(&as, st, &d);
            as_attn_forward(out, &as, in, p, &d, training, &key);
            break;
        }
        case AS_LAYER_DENSE: {
            int N = B * L->in_t;
            as_dense_forward(out, in, p, p + (size_t)L->in_c * L->out_c, N, L->in_c, L->out_c,
                             s->activation);
            break;
        }
        case AS_LAYER_GLOBAL_AVG_POOL1D: as_gap1d_forward(out, in, B, L->in_t, L->in_c); break;
        case AS_LAYER_FLATTEN: memcpy(out, in, n_in * sizeof(float)); break;
        case AS_LAYER_DROPOUT:
            as_dropout_forward(out, st, in, B, (size_t)L->in_t * L->in_c, s->rate, training,
                               &key);
            break;
        case AS_LAYER_LAYER_NORM: {
            int N = B * L->in_t;
            as_layernorm_forward(out, st, st + (size_t)m->max_batch * L->in_t, in, p, p + L->in_c,
                                 N, L->in_c);
            break;
        }
        case AS_LAYER_ACTIVATION:
            memcpy(out, in, n_in * sizeof(float));
            as_act_forward(out, n_in, s->activation);
            break;
        case AS_LAYER_NTYPES: break;
        }
    }
    return m->acts + m->layers[m->n_layers - 1].a_off;
}

float *as_model_dout(as_model *m) { return m->dacts + m->layers[m->n_layers - 1].a_off; }

void as_model_zero_grad(as_model *m) { memset(m->grads, 0, m->n_params * sizeof(float)); }

void as_model_backward(as_model *m, const float *x, as_layer_done_fn done, void *ud) {
    int B = m->last_batch;
    /* Input gradients accumulate: clear every layer's but the output's. */
    for (int i = 0; i + 1 < m->n_layers; i++) {
        const as_layer *L = &m->layers[i];
        memset(m->dacts + L->a_off, 0, (size_t)B * L->out_t * L->out_c * sizeof(float));
    }
    for (int i = m->n_layers - 1; i >= 0; i--) {
        as_layer *L = &m->layers[i];
        const float *in = layer_input(m, x, i);
        float *din = i == 0 ? NULL : m->dacts + m->layers[i - 1].a_off;
        float *dout = m->dacts + L->a_off;
        const float *out = m->acts + L->a_off;
        const float *p = m->params + L->p_off;
        float *g = m->grads + L->p_off;
        float *st = m->state + L->s_off;
        size_t n_in = (size_t)B * L->in_t * L->in_c;
        const as_layer_spec *s = &L->spec;
        size_t nk = (size_t)s->kernel_size * L->in_c * L->out_c;
        switch (s->type) {
        case AS_LAYER_CONV1D:
            as_conv1d_backward(din, g, g + nk, dout, out, in, p, m->scratch, B, L->in_t, L->in_c,
                               L->out_c, s->kernel_size, s->dilation, conv_pad_left(L), L->out_t,
                               s->activation);
            break;
        case AS_LAYER_RESIDUAL_CONV1D: {
            as_resconv1d_backward(din, g, g + nk, dout, st, in, p, m->scratch, B, L->in_t, L->in_c,
                                  s->kernel_size, s->dilation, s->activation);
            break;
        }
        case AS_LAYER_SELF_ATTENTION: {
            as_attn_dims d = attn_dims(L, B);
            as_attn_state as;
            as_attn_state_bind(&as, st, &d);
            as_attn_backward(din, g, dout, &as, in, p, m->scratch, &d);
            break;
        }
        case AS_LAYER_DENSE: {
            int N = B * L->in_t;
            as_dense_backward(din, g, g + (size_t)L->in_c * L->out_c, dout, out, in, p, N, L->in_c,
                              L->out_c, s->activation);
            break;
        }
        case AS_LAYER_GLOBAL_AVG_POOL1D:
            if (din) as_gap1d_backward(din, dout, B, L->in_t, L->in_c);
            break;
        case AS_LAYER_FLATTEN:
            if (din)
                for (size_t k = 0; k < n_in; k++) din[k] += dout[k];
            break;
        case AS_LAYER_DROPOUT:
            if (din) as_dropout_backward(din, dout, st, n_in, s->rate, 1);
            break;
        case AS_LAYER_LAYER_NORM: {
            int N = B * L->in_t;
            as_layernorm_backward(din, g, g + L->in_c, dout, in, st,
                                  st + (size_t)m->max_batch * L->in_t, p, N, L->in_c);
            break;
        }
        case AS_LAYER_ACTIVATION:
            if (din) {
                as_act_backward(dout, out, n_in, s->activation);
                for (size_t k = 0; k < n_in; k++) din[k] += dout[k];
            }
            break;
        case AS_LAYER_NTYPES: break;
        }
        if (done) done(ud, i);
    }
}

double as_model_macs_per_sample(const as_model *m) {
    double macs = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const as_layer *L = &m->layers[i];
        const as_layer_spec *s = &L->spec;
        double T = L->in_t, C = L->in_c;
        switch (s->type) {
        case AS_LAYER_CONV1D:
        case AS_LAYER_RESIDUAL_CONV1D:
            macs += (double)L->out_t * s->kernel_size * C * L->out_c;
            break;
        case AS_LAYER_SELF_ATTENTION: {
            as_attn_dims d = attn_dims(L, 1);
            macs += T * C * d.H * (2.0 * d.Dk + d.Dv);     /* projections */
            macs += (double)d.H * T * T * (d.Dk + d.Dv);   /* scores and context */
            macs += T * d.H * d.Dv * d.O;                  /* output projection */
            break;
        }
        case AS_LAYER_DENSE: macs += T * C * L->out_c; break;
        default: break;
        }
    }
    return macs;
}

const float *as_model_attention(const as_model *m, int layer, int *H, int *T) {
    if (layer < 0 || layer >= m->n_layers) return NULL;
    const as_layer *L = &m->layers[layer];
    if (L->spec.type != AS_LAYER_SELF_ATTENTION) return NULL;
    /* the state was laid out for the last forward's batch */
    as_attn_dims d = attn_dims(L, m->last_batch > 0 ? m->last_batch : m->max_batch);
    as_attn_state as;
    as_attn_state_bind(&as, m->state + L->s_off, &d);
    if (H) *H = d.H;
    if (T) *T = d.T;
    return as.probs;
}

size_t as_model_out_size(const as_model *m) {
    const as_layer *L = &m->layers[m->n_layers - 1];
    return (size_t)L->out_t * L->out_c;
}
