/* toy.h: the notebook's toy seq2seq task, drawn exactly as numpy draws it.
 *
 * as_toy_make reproduces `np.random.seed(seed); gen_data(samples); gen_data(test_samples)`
 * of the notebook under numpy's legacy global RandomState (see nprandom.h), to float32
 * rounding: per series, in this order, shuffle the 4 shapes ["t","r","t","r"] (the array
 * persists across the series of one gen_data call), choose the high triangle and the high
 * rectangle (np.random.choice over their indices), draw 100 Gaussians for a base series
 * that is never used, then for each of the 4 regions (width 25) a position
 * 25*i + randint(5, 20) and a height (0.5 + rand())*10 (+10 for the two chosen), then
 * x = 100 Gaussians * noise + shapes, y = 100 Gaussians * noise + shapes whose heights are
 * replaced by the mean height of their kind. Triangles are np.linspace(0, h, 5) up to
 * the position and np.linspace(h, 0, 5) from it; rectangles are h on [p-5, p+5).
 * x and y are [n, 100, 1]; task regression.
 */
#ifndef ATTNSWEEP_TOY_H
#define ATTNSWEEP_TOY_H

#include <stdint.h>

#include "attnsweep/dataset.h"
#include "attnsweep/nprandom.h"

#define AS_TOY_LENGTH 100

typedef struct {
    uint32_t seed;    /* np.random.seed(seed); default 0 */
    int samples;      /* training series, >= 1; default 1000 */
    int test_samples; /* test series, >= 0 (0: no /test); default 10 */
    double noise;     /* noise_level, >= 0; default 0.1 */
} as_toy_params;

/* The defaults above. */
as_toy_params as_toy_defaults(void);

/* One gen_data(n, noise) call continuing r's stream; fills s (allocated; free with
 * as_dataset_free on the owning dataset). AS_ERR_NOMEM on allocation failure. */
as_status as_toy_gen(as_np_random *r, int n, double noise, as_split *s, as_error *err);

/* The whole dataset (train, and test when test_samples > 0). On error *d is empty. */
as_status as_toy_make(const as_toy_params *p, as_dataset *d, as_error *err);

/* Makes and writes it atomically to path with root attributes generator
 * ("notebook_gen_data"), seed, samples, test_samples (int64) and noise (double). */
as_status as_toy_write(const as_toy_params *p, const char *path, as_error *err);

#endif
