/* optim.h: Adam and SGD over one flat parameter buffer (one loop each).
 *
 * Adam follows Keras: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * alpha = lr sqrt(1-b2^t) / (1-b1^t); w -= alpha m / (sqrt(v) + eps).
 * SGD follows Keras: with momentum mu, v = mu v - lr g; w += v (nesterov:
 * w += mu v - lr g); without, w -= lr g.
 * The moment buffers m (and v for Adam) have the parameter buffer's layout.
 * use_ema (Keras 3's optimizer EMA): after each update, ema = w on the first step, else
 * ema = mom ema + (1 - mom) w (mom = ema_momentum, float32), in the same layout. The
 * average never feeds back into w (Keras's ema_overwrite_frequency = None).
 */
#ifndef ATTNSWEEP_OPTIM_H
#define ATTNSWEEP_OPTIM_H

#include <stddef.h>

#include "attnsweep/spec.h"
#include "attnsweep/status.h"

typedef struct {
    as_optimizer_spec spec;
    size_t n;
    long t;   /* steps taken */
    float *m; /* first moment / SGD velocity */
    float *v; /* second moment (Adam) */
    float *ema; /* the weights' moving average (use_ema), else NULL */
    float *ema_buf; /* ema_buffers: the same average of nb non-trainable buffers, else NULL */
    size_t nb;
} as_optim;

/* Allocates zeroed moments (and the average, with use_ema) for n parameters.
 * AS_ERR_NOMEM on failure. */
as_status as_optim_init(as_optim *o, const as_optimizer_spec *spec, size_t n, as_error *err);
void as_optim_free(as_optim *o);
/* One update of w from g (both n floats), then of the average (use_ema). */
void as_optim_step(as_optim *o, float *w, const float *g);
/* use_ema with ema_buffers: allocates the average of nb buffers (nothing otherwise). */
as_status as_optim_track_buffers(as_optim *o, size_t nb, as_error *err);
/* After as_optim_step: the buffers' average takes buf (nb floats) by the same rule. */
void as_optim_average_buffers(as_optim *o, const float *buf);

#endif
