/* rng.c: xoshiro256** seeded by splitmix64 (see rng.h for the exact definitions). */
#include "attnsweep/rng.h"

#define GOLDEN 0x9E3779B97F4A7C15ULL

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t as_splitmix64(uint64_t *state) { return mix64(*state += GOLDEN); }

uint64_t as_rng_counter_key(uint64_t seed, uint64_t a, uint64_t b) {
    uint64_t h = mix64(seed + GOLDEN);
    h = mix64((h ^ a) + GOLDEN);
    return mix64((h ^ b) + GOLDEN);
}

float as_rng_counter_at(uint64_t key, uint64_t c) {
    return (float)(mix64(key + (c + 1) * GOLDEN) >> 40) * 0x1.0p-24f;
}

float as_rng_counter_float(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    return as_rng_counter_at(as_rng_counter_key(seed, a, b), c);
}

void as_rng_seed(as_rng *r, uint64_t seed) {
    uint64_t st = seed;
    for (int i = 0; i < 4; i++) r->s[i] = as_splitmix64(&st);
}

uint64_t as_rng_derive(uint64_t seed, uint64_t tag) {
    uint64_t st = seed ^ (tag * 0xD1B54A32D192ED03ULL);
    (void)as_splitmix64(&st);
    return as_splitmix64(&st);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t as_rng_u64(as_rng *r) {
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float as_rng_float(as_rng *r) { return (float)(as_rng_u64(r) >> 40) * 0x1.0p-24f; }

double as_rng_double(as_rng *r) { return (double)(as_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t as_rng_below(as_rng *r, uint64_t n) {
    /* Lemire's multiply-shift with rejection (unbiased). */
    uint64_t x = as_rng_u64(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = (0 - n) % n;
        while (l < t) {
            x = as_rng_u64(r);
            m = (__uint128_t)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

void as_rng_shuffle_int(as_rng *r, int *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)as_rng_below(r, i);
        int t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

uint64_t as_hash64(const void *data, size_t n, uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
