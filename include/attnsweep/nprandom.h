/* nprandom.h: numpy's legacy global RandomState (numpy 1.24), bit for bit.
 *
 * Only what the notebook's gen_data uses, reproduced from numpy's sources
 * (numpy/random/src/mt19937, legacy/legacy-distributions.c, distributions.c,
 * mtrand.pyx) and checked value by value against Debian's numpy by
 * tests/ref/numpy_toy.py:
 *   - as_np_seed:     np.random.seed(s) for an integer 0 <= s < 2^32, i.e. MT19937's
 *                     init_genrand(s); also clears the cached Gaussian.
 *   - as_np_uint32:   one MT19937 output (genrand_int32).
 *   - as_np_rand:     np.random.rand(): (a>>5, b>>6) -> (a*2^26+b) / 2^53.
 *   - as_np_randn:    np.random.randn(): the legacy polar Box-Muller, which draws
 *                     pairs and caches the second value for the next call.
 *   - as_np_interval: numpy's random_interval(max): uniform on [0, max] by masked
 *                     rejection on 32-bit draws (max < 2^32).
 *   - as_np_randint:  np.random.randint(low, high) (int64 dtype) = low +
 *                     as_np_interval(high-low-1), masked rejection on 32-bit draws.
 *   - as_np_shuffle_int: np.random.shuffle of a 1-D array: for i = n-1 down to 1,
 *                     j = random_interval(i), swap a[i], a[j].
 *   - as_np_choice_index: np.random.choice(a, size=1)[0] without p, which is
 *                     a[randint(0, len(a))]; this returns that index.
 * No allocation, no failure.
 */
#ifndef ATTNSWEEP_NPRANDOM_H
#define ATTNSWEEP_NPRANDOM_H

#include <stddef.h>
#include <stdint.h>

#define AS_NP_MT_N 624

typedef struct {
    uint32_t key[AS_NP_MT_N];
    int pos;
    int has_gauss;
    double gauss;
} as_np_random;

void as_np_seed(as_np_random *r, uint32_t seed);
uint32_t as_np_uint32(as_np_random *r);
double as_np_rand(as_np_random *r);
double as_np_randn(as_np_random *r);
uint32_t as_np_interval(as_np_random *r, uint32_t max);
int64_t as_np_randint(as_np_random *r, int64_t low, int64_t high); /* high > low, range < 2^32 */
void as_np_shuffle_int(as_np_random *r, int *a, size_t n);
size_t as_np_choice_index(as_np_random *r, size_t n); /* n >= 1 */

#endif
