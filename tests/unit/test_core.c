/* test_core.c: status codes, the allocation hook, overflow checks, the RNG. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/rng.h"
#include "attnsweep/sha256.h"
#include "attnsweep/status.h"
#include "testutil.h"

START_TEST(test_size_overflow) {
    size_t out = 7;
    ck_assert_int_eq(as_size_mul(SIZE_MAX / 2, 3, &out), 0);
    ck_assert_uint_eq(out, 7);
    ck_assert_int_eq(as_size_mul(1000, 1000, &out), 1);
    ck_assert_uint_eq(out, 1000000);
    ck_assert_int_eq(as_size_add(SIZE_MAX, 1, &out), 0);
    ck_assert_ptr_null(as_calloc(SIZE_MAX / 4, 8));
}
END_TEST

START_TEST(test_alloc_hook_fails) {
    as_test_fail_alloc_after(2);
    void *a = as_malloc(16);
    void *b = as_malloc(16);
    as_test_fail_alloc_after(0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(b);
    as_free(a);
}
END_TEST

START_TEST(test_error_messages) {
    as_error e;
    as_error_clear(&e);
    ck_assert_int_eq(as_error_set(&e, AS_ERR_SPEC, "key %s", "filters"), AS_ERR_SPEC);
    as_error_prefix(&e, "spec.json");
    ck_assert_str_eq(e.msg, "spec.json: key filters");
    ck_assert_int_eq(as_status_exit_code(AS_ERR_SPEC), 2);
    ck_assert_int_eq(as_status_exit_code(AS_ERR_DATA), 2);
    ck_assert_int_eq(as_status_exit_code(AS_ERR_NOMEM), 1);
    ck_assert_int_eq(as_status_exit_code(AS_OK), 0);
}
END_TEST

/* splitmix64 reference values from Vigna's splitmix64.c with seed 0. */
START_TEST(test_splitmix_reference) {
    uint64_t st = 0;
    ck_assert_uint_eq(as_splitmix64(&st), 0xe220a8397b1dcdafULL);
    ck_assert_uint_eq(as_splitmix64(&st), 0x6e789e6aa1b965f4ULL);
}
END_TEST

START_TEST(test_rng_uniform_and_below) {
    as_rng r;
    as_rng_seed(&r, 42);
    double sum = 0;
    int counts[5] = {0};
    for (int i = 0; i < 100000; i++) {
        float u = as_rng_float(&r);
        ck_assert(u >= 0.0f && u < 1.0f);
        sum += (double)u;
        counts[as_rng_below(&r, 5)]++;
    }
    ck_assert(fabs(sum / 100000 - 0.5) < 0.01);
    for (int k = 0; k < 5; k++) ck_assert(counts[k] > 19000 && counts[k] < 21000);
    as_rng a, b;
    as_rng_seed(&a, 7);
    as_rng_seed(&b, 7);
    for (int i = 0; i < 10; i++) ck_assert_uint_eq(as_rng_u64(&a), as_rng_u64(&b));
    ck_assert_uint_ne(as_rng_derive(7, AS_STREAM_INIT), as_rng_derive(7, AS_STREAM_SHUFFLE));
}
END_TEST

START_TEST(test_shuffle_is_permutation) {
    as_rng r;
    as_rng_seed(&r, 3);
    int a[50], seen[50] = {0};
    for (int i = 0; i < 50; i++) a[i] = i;
    as_rng_shuffle_int(&r, a, 50);
    int moved = 0;
    for (int i = 0; i < 50; i++) {
        seen[a[i]]++;
        moved += a[i] != i;
    }
    for (int i = 0; i < 50; i++) ck_assert_int_eq(seen[i], 1);
    ck_assert(moved > 30);
}
END_TEST

/* FIPS 180-4 examples and a file hash against the in-memory one. */
START_TEST(test_sha256) {
    char hex[65], hex2[65];
    as_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    as_sha256_hex("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    as_sha256_hex(msg, strlen(msg), hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *p = as_test_write_file(as_test_tmpdir(), "sha.txt", msg);
    as_error e;
    ck_assert_int_eq(as_sha256_file(p, hex2, &e), AS_OK);
    ck_assert_str_eq(hex, hex2);
    ck_assert_int_eq(as_sha256_file("/nonexistent/x", hex2, &e), AS_ERR_IO);
}
END_TEST

/* Counter-based draws: the definition in rng.h rebuilt from as_splitmix64 (checked
 * against Vigna's reference above), determinism, sensitivity to every field, and a
 * chi-square uniformity check over neighbouring counters and neighbouring b (the
 * dropout layout: b = layer << 32 | sample, c = element). */
START_TEST(test_rng_counter) {
    const uint64_t seed = 12345, a = 7, b = ((uint64_t)2 << 32) | 9;
    uint64_t st = seed;
    uint64_t h = as_splitmix64(&st);
    st = h ^ a;
    h = as_splitmix64(&st);
    st = h ^ b;
    const uint64_t key = as_splitmix64(&st);
    ck_assert_uint_eq(as_rng_counter_key(seed, a, b), key);
    st = key;
    for (uint64_t c = 0; c < 20; c++) {
        float want = (float)(as_splitmix64(&st) >> 40) * 0x1.0p-24f;
        ck_assert(as_rng_counter_at(key, c) == want);
        ck_assert(as_rng_counter_float(seed, a, b, c) == want);
        ck_assert(as_rng_counter_float(seed, a, b, c) == as_rng_counter_float(seed, a, b, c));
    }
    /* every field matters */
    const float u = as_rng_counter_float(seed, a, b, 3);
    ck_assert(as_rng_counter_float(seed + 1, a, b, 3) != u);
    ck_assert(as_rng_counter_float(seed, a + 1, b, 3) != u);
    ck_assert(as_rng_counter_float(seed, a, b + 1, 3) != u);
    ck_assert(as_rng_counter_float(seed, a, b ^ ((uint64_t)1 << 32), 3) != u);
    ck_assert(as_rng_counter_float(seed, a, b, 4) != u);
    /* uniform: 16 bins over 256 b x 256 c draws (chi-square, 15 dof, p ~ 1e-6 at 50) */
    enum { NB = 16, NS = 256, NC = 256 };
    long bins[NB] = {0};
    double sum = 0.0, cross = 0.0;
    for (uint64_t s = 0; s < NS; s++) {
        const uint64_t k0 = as_rng_counter_key(seed, a, s), k1 = as_rng_counter_key(seed, a, s + 1);
        for (uint64_t c = 0; c < NC; c++) {
            const float x = as_rng_counter_at(k0, c), y = as_rng_counter_at(k1, c);
            ck_assert(x >= 0.0f && x < 1.0f);
            bins[(int)(x * NB)]++;
            sum += (double)x;
            cross += ((double)x - 0.5) * ((double)y - 0.5);
        }
    }
    const double n = (double)NS * NC, e = n / NB;
    double chi2 = 0.0;
    for (int i = 0; i < NB; i++) chi2 += ((double)bins[i] - e) * ((double)bins[i] - e) / e;
    ck_assert_msg(chi2 < 50.0, "chi-square %g over %d bins", chi2, NB);
    ck_assert_msg(fabs(sum / n - 0.5) < 0.005, "mean %g", sum / n);
    /* neighbouring samples' draws are uncorrelated: corr = cross / (n / 12) */
    ck_assert_msg(fabs(cross / (n / 12.0)) < 0.02, "corr %g", cross / (n / 12.0));
}
END_TEST

int main(void) {
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_size_overflow);
    tcase_add_test(tc, test_alloc_hook_fails);
    tcase_add_test(tc, test_error_messages);
    tcase_add_test(tc, test_splitmix_reference);
    tcase_add_test(tc, test_rng_uniform_and_below);
    tcase_add_test(tc, test_shuffle_is_permutation);
    tcase_add_test(tc, test_sha256);
    tcase_add_test(tc, test_rng_counter);
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
