/* layers_internal.h: helpers shared by the layer files (not part of the public API). */
#ifndef AS_LAYERS_INTERNAL_H
#define AS_LAYERS_INTERNAL_H

#include <stddef.h>

#include "attnsweep/spec.h"

/* out (N, F) = act(out + b) row by row; b may be NULL (no bias). */
void as_layers_bias_act(float *out, const float *b, size_t N, int F, as_act act);
/* d (N, F) *= act'(y) (y the activation's output), then db[f] += sum_n d[n, f]. */
void as_layers_act_grad_bias(float *d, const float *y, float *db, size_t N, int F, as_act act);
/* db[f] += sum_n d[n*ld + f] for f < F. */
void as_layers_colsum_add(float *db, const float *d, size_t N, int F, int ld);

#endif
