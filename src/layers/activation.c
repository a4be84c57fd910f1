/* activation.c: element-wise activations (in place) and their derivatives from outputs,
 * bias + activation and column sums, all through the vectorised kernels of vec.h. */
#include "attnsweep/layers.h"
#include "attnsweep/vec.h"
#include "layers/layers_internal.h"

void as_act_forward(float *x, size_t n, as_act a) { as_vec_bias_act(x, NULL, n, 1, a); }

void as_act_backward(float *d, const float *y, size_t n, as_act a) {
    as_vec_act_backward(d, y, n, a);
}

void as_layers_bias_act(float *out, const float *b, size_t N, int F, as_act act) {
    as_vec_bias_act(out, b, N, (size_t)F, act);
}

void as_layers_colsum_add(float *db, const float *d, size_t N, int F, int ld) {
    as_vec_colsum_add(db, d, N, (size_t)F, (size_t)ld);
}

void as_layers_act_grad_bias(float *d, const float *y, float *db, size_t N, int F, as_act act) {
    as_vec_act_backward(d, y, N * (size_t)F, act);
    as_vec_colsum_add(db, d, N, (size_t)F, (size_t)F);
}
