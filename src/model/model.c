/* model.c: build a model from a spec -- shapes, one parameter buffer with an offset table,
 * activations sized once -- and run its forward and backward passes layer by layer. */
#include "attnsweep/model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/layer_ops.h"
#include "attnsweep/memory.h"
#include "model/layer_internal.h"

/* Sets L's output shape and its sizes for batch B from its ops table; AS_ERR_SPEC when
 * the layer does not fit its input. */
static as_status shape_layer(as_layer *L, int index, int B, const char *origin, size_t *act,
                             as_layer_sizes *sz, as_error *err) {
    const as_layer_ops *ops = as_layer_ops_of(L->spec.type);
    char where[320];
    snprintf(where, sizeof where, "%s: model[%d] (%s)", origin, index,
             ops ? ops->name : "unknown");
    memset(sz, 0, sizeof *sz);
    if (!ops) return as_error_set(err, AS_ERR_INTERNAL, "%s: no ops for the layer type", where);
    L->out_rank = L->in_rank;
    L->out_t = L->in_t;
    L->out_c = L->in_c;
    if (ops->needs_rank3 && L->in_rank != 3)
        return as_error_set(err, AS_ERR_SPEC,
                            "%s: needs a (batch, time, channels) input but gets (batch, %d) from "
                            "the layer before", where, L->in_c);
    if (ops->shape) {
        as_status st = ops->shape(L, B, sz, where, err);
        if (st) return st;
    }
    as_layer_tensors(L, NULL, &L->p_n, &L->b_n);
    *act = (size_t)B * (size_t)L->out_t * (size_t)L->out_c;
    return AS_OK;
}

void as_model_free(as_model *m) {
    if (!m) return;
    as_free(m->layers);
    if (!m->borrowed) {
        as_free(m->params);
        as_free(m->buffers);
    }
    as_free(m->grads);
    as_free(m->acts);
    as_free(m->dacts);
    as_free(m->state);
    as_free(m->scratch);
    as_free(m->dscratch);
    memset(m, 0, sizeof *m);
}

/* The layers index their buffers with int products (B*T rows, K*C columns, ...): every
 * per-layer size must fit an int. AS_ERR_SPEC naming the layer otherwise. */
static as_status check_int_sizes(const as_layer *L, int index, int B, size_t act,
                                 const as_layer_sizes *sz, const char *origin, as_error *err) {
    const size_t n[6] = {as_mem_mul(as_mem_mul((size_t)B, (size_t)L->in_t), (size_t)L->in_c),
                         act, L->p_n, L->b_n, sz->state, sz->scratch};
    static const char *const what[6] = {"input", "output", "parameters", "buffers",
                                        "saved state", "scratch"};
    for (int k = 0; k < 6; k++)
        if (n[k] > (size_t)INT_MAX)
            return as_error_set(err, AS_ERR_SPEC,
                                "%s: model[%d] (%s): its %s (%zu values for batch %d) exceed the "
                                "%d values one layer may hold", origin, index,
                                as_layer_type_name(L->spec.type), what[k], n[k], B, INT_MAX);
    return AS_OK;
}

as_status as_model_plan(as_model *m, const as_spec *spec, int in_t, int in_c, int max_batch,
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
    size_t np = 0, nb = 0, na = 0, ns = 0, nscr = 0, ndscr = 0;
    for (int i = 0; i < m->n_layers; i++) {
        as_layer *L = &m->layers[i];
        L->spec = spec->layers[i];
        L->in_rank = rank;
        L->in_t = t;
        L->in_c = c;
        as_layer_sizes sz;
        size_t act = 0;
        as_status st = shape_layer(L, i, max_batch, origin, &act, &sz, err);
        if (!st) st = check_int_sizes(L, i, max_batch, act, &sz, origin, err);
        if (st) {
            as_model_free(m);
            return st;
        }
        L->p_off = np;
        L->b_off = nb;
        L->a_off = na;
        L->s_off = ns;
        L->s_n = sz.state;
        if (!as_size_add(np, L->p_n, &np) || !as_size_add(nb, L->b_n, &nb) ||
            !as_size_add(na, act, &na) || !as_size_add(ns, sz.state, &ns)) {
            as_model_free(m);
            return as_error_set(err, AS_ERR_SPEC, "%s: model[%d]: sizes overflow", origin, i);
        }
        if (sz.scratch > nscr) nscr = sz.scratch;
        if (sz.dscratch > ndscr) ndscr = sz.dscratch;
        rank = L->out_rank;
        t = L->out_t;
        c = L->out_c;
    }
    m->n_params = np;
    m->n_buffers = nb;
    m->n_acts = na;
    m->n_state = ns;
    m->n_scratch = nscr;
    m->n_dscratch = ndscr;
    return AS_OK;
}

size_t as_model_bytes(const as_model *m) {
    size_t n = as_mem_add(as_mem_mul(m->n_params, 2), as_mem_mul(m->n_acts, 2));
    n = as_mem_add(as_mem_add(n, m->n_buffers), as_mem_add(m->n_state, m->n_scratch));
    return as_mem_add(as_mem_mul(n, sizeof(float)), as_mem_mul(m->n_dscratch, sizeof(double)));
}

/* Allocates m's buffers; params and buffers are borrowed from share when it is set. */
static as_status alloc_buffers(as_model *m, const as_model *share, const char *origin,
                               as_error *err) {
    char what[300];
    snprintf(what, sizeof what, "%s: the model (batch %d)", origin, m->max_batch);
    as_status st = as_mem_check(as_model_bytes(m), what, AS_ERR_SPEC, err);
    if (st) {
        as_model_free(m);
        return st;
    }
    size_t np = m->n_params, nb = m->n_buffers, na = m->n_acts, ns = m->n_state;
    size_t nscr = m->n_scratch, ndscr = m->n_dscratch;
    m->borrowed = share != NULL;
    m->params = share ? share->params : as_calloc(np ? np : 1, sizeof(float));
    m->grads = as_calloc(np ? np : 1, sizeof(float));
    m->buffers = share ? share->buffers : as_calloc(nb ? nb : 1, sizeof(float));
    m->acts = as_calloc(na, sizeof(float));
    m->dacts = as_calloc(na, sizeof(float));
    m->state = as_calloc(ns ? ns : 1, sizeof(float));
    m->scratch = as_calloc(nscr ? nscr : 1, sizeof(float));
    m->dscratch = as_calloc(ndscr ? ndscr : 1, sizeof(double));
    if (!m->params || !m->grads || !m->buffers || !m->acts || !m->dacts || !m->state || !m->scratch || !m->dscratch) {
        size_t total = as_model_bytes(m);
        int B = m->max_batch;
        as_model_free(m);
        return as_error_set(err, AS_ERR_NOMEM,
                            "%s: out of memory allocating %.1f MiB for the model (batch %d)", origin,
                            (double)total / 1048576.0, B);
    }
    return AS_OK;
}

as_status as_model_alloc(as_model *m, const char *origin, as_error *err) {
    return alloc_buffers(m, NULL, origin, err);
}

/* Plans (no buffers) a model of src's layers for max_batch rows into w. */
static as_status plan_twin(as_model *w, const as_model *src, int max_batch, const char *origin,
                           as_error *err) {
    as_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.n_layers = src->n_layers;
    spec.layers = as_malloc((size_t)src->n_layers * sizeof *spec.layers);
    if (!spec.layers) return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", origin);
    for (int i = 0; i < src->n_layers; i++) spec.layers[i] = src->layers[i].spec;
    as_status st = as_model_plan(w, &spec, src->in_t, src->in_c, max_batch, origin, err);
    as_free(spec.layers);
    return st;
}

size_t as_model_workspace_bytes(const as_model *src, int max_batch) {
    as_model w;
    if (plan_twin(&w, src, max_batch, "workspace", NULL)) return SIZE_MAX;
    const size_t all = as_model_bytes(&w), borrowed = as_mem_mul(as_mem_add(w.n_params, w.n_buffers),
                                                                 sizeof(float));
    const size_t n = all == SIZE_MAX || borrowed == SIZE_MAX ? SIZE_MAX : all - borrowed;
    as_model_free(&w);
    return n;
}

as_status as_model_workspace(as_model *w, const as_model *src, int max_batch, const char *origin,
                             as_error *err) {
    memset(w, 0, sizeof *w);
    if (max_batch < 1 || max_batch > src->max_batch)
        return as_error_set(err, AS_ERR_INTERNAL, "%s: workspace batch %d outside 1..%d", origin,
                            max_batch, src->max_batch);
    as_status st = plan_twin(w, src, max_batch, origin, err);
    if (st) return st;
    if (w->n_params != src->n_params || w->n_buffers != src->n_buffers) {
        as_model_free(w);
        return as_error_set(err, AS_ERR_INTERNAL, "%s: workspace layout differs", origin);
    }
    if ((st = alloc_buffers(w, src, origin, err))) return st;
    w->dropout_seed = src->dropout_seed;
    return AS_OK;
}

as_status as_model_build(as_model *m, const as_spec *spec, int in_t, int in_c, int max_batch,
                         const char *origin, as_error *err) {
    as_status st = as_model_plan(m, spec, in_t, in_c, max_batch, origin, err);
    return st ? st : as_model_alloc(m, origin, err);
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

static void init_tensor(float *w, const as_tensor *t, as_rng *r) {
    size_t n = as_tensor_count(t);
    switch (t->init) {
    case AS_INIT_ZEROS: memset(w, 0, n * sizeof(float)); break;
    case AS_INIT_ONES:
        for (size_t i = 0; i < n; i++) w[i] = 1.0f;
        break;
    case AS_INIT_GLOROT_UNIFORM: glorot(w, t->dims, t->rank, r); break;
    }
}

void as_model_init(as_model *m, uint64_t seed) {
    as_rng r;
    as_rng_seed(&r, as_rng_derive(seed, AS_STREAM_INIT));
    m->dropout_seed = as_rng_derive(seed, AS_STREAM_DROPOUT);
    m->step = 0;
    m->row0 = 0;
    memset(m->params, 0, m->n_params * sizeof(float));
    memset(m->buffers, 0, m->n_buffers * sizeof(float));
    for (int i = 0; i < m->n_layers; i++) {
        const as_layer *L = &m->layers[i];
        as_tensor t[AS_MAX_TENSORS];
        int n = as_layer_tensors(L, t, NULL, NULL);
        for (int k = 0; k < n; k++)
            init_tensor((t[k].buffer ? m->buffers + L->b_off : m->params + L->p_off) + t[k].off,
                        &t[k], &r);
    }
}

static const float *layer_input(const as_model *m, const float *x, int i) {
    return i == 0 ? x : m->acts + m->layers[i - 1].a_off;
}

/* Binds layer i's buffers for a pass over B rows. */
static as_layer_io layer_io(as_model *m, const float *x, int i, int B, int training) {
    const as_layer *L = &m->layers[i];
    as_layer_io io;
    io.B = B;
    io.max_batch = m->max_batch;
    io.training = training;
    io.in = layer_input(m, x, i);
    io.out = m->acts + L->a_off;
    io.din = i == 0 ? NULL : m->dacts + m->layers[i - 1].a_off;
    io.dout = m->dacts + L->a_off;
    io.p = m->params + L->p_off;
    io.g = m->grads + L->p_off;
    io.buf = m->buffers + L->b_off;
    io.st = m->state + L->s_off;
    io.scratch = m->scratch;
    io.dscratch = m->dscratch;
    io.key = (as_drop_key){m->dropout_seed, m->step, i, m->row0};
    io.m = m;
    return io;
}

const float *as_model_forward(as_model *m, const float *x, int B, int training) {
    m->last_batch = B;
    for (int i = 0; i < m->n_layers; i++) {
        const as_layer_ops *ops = as_layer_ops_of(m->layers[i].spec.type);
        if (B == 0 && !ops->collective) continue;
        as_layer_io io = layer_io(m, x, i, B, training);
        ops->forward(&m->layers[i], &io);
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
        const as_layer_ops *ops = as_layer_ops_of(m->layers[i].spec.type);
        if (B > 0 || ops->collective) {
            as_layer_io io = layer_io(m, x, i, B, 1);
            ops->backward(&m->layers[i], &io);
        }
        if (done) done(ud, i);
    }
}

void as_model_reduce(as_model *m, double *buf, int n) {
    if (m->reduce && m->reduce(m->reduce_ud, buf, n) != 0) m->reduce_failed = 1;
}

int as_model_collective(const as_model *m) {
    for (int i = 0; i < m->n_layers; i++)
        if (as_layer_ops_of(m->layers[i].spec.type)->collective) return 1;
    return 0;
}

double as_model_macs_per_sample(const as_model *m) {
    double macs = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const as_layer_ops *ops = as_layer_ops_of(m->layers[i].spec.type);
        if (ops->macs) macs += ops->macs(&m->layers[i]);
    }
    return macs;
}

int as_model_attention_shape(const as_model *m, int layer, int *H, int *T) {
    if (layer < 0 || layer >= m->n_layers) return 0;
    const as_layer *L = &m->layers[layer];
    if (L->spec.type != AS_LAYER_SELF_ATTENTION) return 0;
    as_attn_dims d = as_layer_attn_dims(L, 1);
    if (H) *H = d.H;
    if (T) *T = d.T;
    return 1;
}

void as_model_attention_probs(const as_model *m, int layer, int b0, int nb, float *out) {
    const as_layer *L = &m->layers[layer];
    /* the state was laid out for the last forward's batch */
    as_attn_dims d = as_layer_attn_dims(L, m->last_batch > 0 ? m->last_batch : m->max_batch);
    as_attn_state as;
    as_attn_state_bind(&as, m->state + L->s_off, &d);
    as_attn_probs(out, &as, &d, b0, nb);
}

size_t as_model_out_size(const as_model *m) {
    const as_layer *L = &m->layers[m->n_layers - 1];
    return (size_t)L->out_t * L->out_c;
}
