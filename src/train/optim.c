/* optim.c: Keras's Adam and SGD, one loop over the flat parameter buffer. */
#include "attnsweep/optim.h"

#include <math.h>
#include <string.h>

#include "attnsweep/alloc.h"

as_status as_optim_init(as_optim *o, const as_optimizer_spec *spec, size_t n, as_error *err) {
    memset(o, 0, sizeof *o);
    o->spec = *spec;
    o->n = n;
    o->m = as_calloc(n ? n : 1, sizeof(float));
    if (spec->type == AS_OPT_ADAM) o->v = as_calloc(n ? n : 1, sizeof(float));
    if (spec->use_ema) o->ema = as_calloc(n ? n : 1, sizeof(float));
    if (!o->m || (spec->type == AS_OPT_ADAM && !o->v) || (spec->use_ema && !o->ema)) {
        as_optim_free(o);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the optimizer state (%zu parameters)",
                            n);
    }
    return AS_OK;
}

void as_optim_free(as_optim *o) {
    if (!o) return;
    as_free(o->m);
    as_free(o->v);
    as_free(o->ema);
    as_free(o->ema_buf);
    o->m = o->v = o->ema = o->ema_buf = NULL;
}

/* Keras's _update_model_variables_moving_average: momentum 0 on the first step. */
static void update_ema(const as_optim *o, float *a, const float *w, size_t n) {
    float mom = o->t > 1 ? o->spec.ema_momentum : 0.0f, rest = 1.0f - mom;
    for (size_t i = 0; i < n; i++) a[i] = mom * a[i] + rest * w[i];
}

as_status as_optim_track_buffers(as_optim *o, size_t nb, as_error *err) {
    if (!o->spec.use_ema || !o->spec.ema_buffers || nb == 0) return AS_OK;
    if (!(o->ema_buf = as_calloc(nb, sizeof(float))))
        return as_error_set(err, AS_ERR_NOMEM, "out of memory for the buffers' average (%zu)", nb);
    o->nb = nb;
    return AS_OK;
}

void as_optim_average_buffers(as_optim *o, const float *buf) {
    if (o->ema_buf) update_ema(o, o->ema_buf, buf, o->nb);
}

static void update_weights(as_optim *o, float *w, const float *g) {
    const as_optimizer_spec *s = &o->spec;
    if (s->type == AS_OPT_ADAM) {
        /* Keras computes the bias corrections in float32 from the step count. */
        float t = (float)o->t;
        float b1 = s->beta_1, b2 = s->beta_2;
        float alpha = s->learning_rate * sqrtf(1.0f - powf(b2, t)) / (1.0f - powf(b1, t));
        float eps = s->epsilon;
        float *m = o->m, *v = o->v;
        for (size_t i = 0; i < o->n; i++) {
            float gi = g[i];
            m[i] += (gi - m[i]) * (1.0f - b1);
            v[i] += (gi * gi - v[i]) * (1.0f - b2);
            w[i] -= alpha * m[i] / (sqrtf(v[i]) + eps);
        }
        return;
    }
    float lr = s->learning_rate, mu = s->momentum;
    if (mu == 0.0f) {
        for (size_t i = 0; i < o->n; i++) w[i] -= lr * g[i];
        return;
    }
    float *v = o->m;
    for (size_t i = 0; i < o->n; i++) {
        v[i] = mu * v[i] - lr * g[i];
        w[i] += s->nesterov ? mu * v[i] - lr * g[i] : v[i];
    }
}

void as_optim_step(as_optim *o, float *w, const float *g) {
    o->t++;
    update_weights(o, w, g);
    if (o->ema) update_ema(o, o->ema, w, o->n);
}
