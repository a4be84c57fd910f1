/* nprandom.c: numpy's legacy RandomState draws (see nprandom.h). */
#include "attnsweep/nprandom.h"

#include <math.h>

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfU
#define MT_UPPER 0x80000000U
#define MT_LOWER 0x7fffffffU

void as_np_seed(as_np_random *r, uint32_t seed) {
    /* numpy's mt19937_seed == Matsumoto & Nishimura's init_genrand. */
    for (int pos = 0; pos < AS_NP_MT_N; pos++) {
        r->key[pos] = seed;
        seed = 1812433253U * (seed ^ (seed >> 30)) + (uint32_t)pos + 1U;
    }
    r->pos = AS_NP_MT_N;
    r->has_gauss = 0;
    r->gauss = 0.0;
}

static void mt_generate(as_np_random *r) {
    uint32_t *k = r->key;
    int i;
    uint32_t y;
    for (i = 0; i < AS_NP_MT_N - MT_M; i++) {
        y = (k[i] & MT_UPPER) | (k[i + 1] & MT_LOWER);
        k[i] = k[i + MT_M] ^ (y >> 1) ^ ((y & 1U) ? MT_MATRIX_A : 0U);
    }
    for (; i < AS_NP_MT_N - 1; i++) {
        y = (k[i] & MT_UPPER) | (k[i + 1] & MT_LOWER);
        k[i] = k[i + (MT_M - AS_NP_MT_N)] ^ (y >> 1) ^ ((y & 1U) ? MT_MATRIX_A : 0U);
    }
    y = (k[AS_NP_MT_N - 1] & MT_UPPER) | (k[0] & MT_LOWER);
    k[AS_NP_MT_N - 1] = k[MT_M - 1] ^ (y >> 1) ^ ((y & 1U) ? MT_MATRIX_A : 0U);
    r->pos = 0;
}

uint32_t as_np_uint32(as_np_random *r) {
    if (r->pos >= AS_NP_MT_N) mt_generate(r);
    uint32_t y = r->key[r->pos++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= (y >> 18);
    return y;
}

double as_np_rand(as_np_random *r) {
    uint32_t a = as_np_uint32(r) >> 5, b = as_np_uint32(r) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

double as_np_randn(as_np_random *r) {
    if (r->has_gauss) {
        double t = r->gauss;
        r->has_gauss = 0;
        r->gauss = 0.0;
        return t;
    }
    double x1, x2, r2;
    do {
        x1 = 2.0 * as_np_rand(r) - 1.0;
        x2 = 2.0 * as_np_rand(r) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    double f = sqrt(-2.0 * log(r2) / r2);
    r->gauss = f * x1;
    r->has_gauss = 1;
    return f * x2;
}

uint32_t as_np_interval(as_np_random *r, uint32_t max) {
    if (max == 0) return 0;
    uint32_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    uint32_t v;
    while ((v = (as_np_uint32(r) & mask)) > max) {
    }
    return v;
}

int64_t as_np_randint(as_np_random *r, int64_t low, int64_t high) {
    /* random_bounded_uint64_fill with rng = high-low-1 < 2^32 - 1: masked 32-bit. */
    uint64_t rng = (uint64_t)(high - low) - 1U;
    if (rng == 0xffffffffULL) return low + (int64_t)as_np_uint32(r);
    return low + (int64_t)as_np_interval(r, (uint32_t)rng);
}

void as_np_shuffle_int(as_np_random *r, int *a, size_t n) {
    for (size_t i = n; i-- > 1;) {
        size_t j = as_np_interval(r, (uint32_t)i);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

size_t as_np_choice_index(as_np_random *r, size_t n) {
    return (size_t)as_np_randint(r, 0, (int64_t)n);
}
