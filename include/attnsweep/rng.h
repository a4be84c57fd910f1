/* rng.h: the project's one random generator (training side).
 *
 * Algorithm: xoshiro256** (Blackman & Vigna, 2018) seeded by four outputs of
 * splitmix64 from a 64-bit seed. Floats take the top 24 bits of a draw (uniform on
 * [0, 1) in steps of 2^-24); doubles the top 53 bits. as_rng_below(n) is Lemire's
 * unbiased bounded draw; shuffles are Fisher-Yates from the last element down.
 * Independent streams come from as_rng_derive(seed, tag): splitmix64 of the seed
 * xor-mixed with a tag, so "init", "shuffle" and "dropout" never share draws.
 *
 * Counter-based draws (dropout masks): a uniform float that is a pure function of
 * (seed, a, b, c), with no state to advance, so any subset of the draws can be made in
 * any order on any process. With mix64 the splitmix64 finalizer (z ^= z >> 30;
 * z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31) and
 * g = 0x9E3779B97F4A7C15 (all arithmetic mod 2^64):
 *   key(seed, a, b)  = mix64((mix64((mix64(seed + g) ^ a) + g) ^ b) + g)
 *   at(key, c)       = (mix64(key + (c + 1) * g) >> 40) * 2^-24     in [0, 1)
 *   float(seed, a, b, c) = at(key(seed, a, b), c)
 * i.e. at(key, c) is the c-th output (from 0) of the splitmix64 stream whose state
 * starts at key. Callers hash the slow-moving fields into a key once and draw many c.
 *
 * The numpy-compatible generator used to reproduce the notebook's data is a
 * different module: nprandom.h.
 */
#ifndef ATTNSWEEP_RNG_H
#define ATTNSWEEP_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} as_rng;

/* Stream tags for as_rng_derive. */
enum { AS_STREAM_INIT = 1, AS_STREAM_SHUFFLE = 2, AS_STREAM_DROPOUT = 3, AS_STREAM_SEARCH = 4 };

void as_rng_seed(as_rng *r, uint64_t seed);
uint64_t as_rng_derive(uint64_t seed, uint64_t tag); /* a new seed for a sub-stream */
uint64_t as_rng_u64(as_rng *r);
float as_rng_float(as_rng *r);   /* [0, 1) */
double as_rng_double(as_rng *r); /* [0, 1) */
uint64_t as_rng_below(as_rng *r, uint64_t n); /* [0, n), n > 0 */
void as_rng_shuffle_int(as_rng *r, int *a, size_t n);
/* Counter-based draws (exact definition above). */
uint64_t as_rng_counter_key(uint64_t seed, uint64_t a, uint64_t b);
float as_rng_counter_at(uint64_t key, uint64_t c); /* [0, 1), steps of 2^-24 */
float as_rng_counter_float(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
/* splitmix64 step: advances *state and returns the mixed value. */
uint64_t as_splitmix64(uint64_t *state);
/* FNV-1a 64-bit hash of n bytes, used to derive seeds from canonical configs. */
uint64_t as_hash64(const void *data, size_t n, uint64_t seed);

#endif
