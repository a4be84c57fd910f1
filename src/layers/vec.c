/* vec.c: the portable variant of the element-wise kernels, the scalar exp/tanh they share
 * with the SIMD tails, and the run-time choice of variant (see vec.h). */
#include "attnsweep/vec.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/vec_internal.h"

/* ---- scalar exp and tanh (the same formulas as the SIMD kernels) ---- */
#define EXP_HI 88.7228317f
#define EXP_LO (-87.3365479f)

static float pow2i(int n) { /* 2^n for -126 <= n <= 127 */
    uint32_t bits = (uint32_t)(n + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float as_vec_expf(float x) {
    if (x != x) return x;
    if (x > EXP_HI) return INFINITY;
    if (x < EXP_LO) return 0.0f;
    const float n = nearbyintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * (r * r) + r + 1.0f;
    const int ni = (int)n, n1 = ni >> 1; /* two exact factors: n may be 128 or -126 */
    return y * pow2i(n1) * pow2i(ni - n1);
}

float as_vec_tanhf(float x) {
    const float ax = fabsf(x);
    if (ax < 0.25f) {
        const float x2 = x * x;
        float p = -1382.0f / 155925.0f;
        p = p * x2 + 62.0f / 2835.0f;
        p = p * x2 - 17.0f / 315.0f;
        p = p * x2 + 2.0f / 15.0f;
        p = p * x2 - 1.0f / 3.0f;
        return x + x * x2 * p;
    }
    const float e = as_vec_expf(-2.0f * ax);
    return copysignf((1.0f - e) / (1.0f + e), x);
}

float as_vec_act1(float x, as_act act) {
    switch (act) {
    case AS_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case AS_ACT_TANH: return as_vec_tanhf(x);
    case AS_ACT_SIGMOID: return 1.0f / (1.0f + as_vec_expf(-x));
    default: return x;
    }
}

float as_vec_dact1(float d, float y, as_act act) {
    switch (act) {
    case AS_ACT_RELU: return y > 0.0f ? d : 0.0f;
    case AS_ACT_TANH: return d * (1.0f - y * y);
    case AS_ACT_SIGMOID: return d * (y * (1.0f - y));
    default: return d;
    }
}

/* ---- the portable variant ---- */
static float p_max(const float *x, size_t n) {
    float m = -INFINITY;
    for (size_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static float p_exp_sum(float *y, const float *x, size_t n, float shift) {
    float s = 0.0f;
    for (size_t i = 0; i < n; i++) s += (y[i] = as_vec_expf(x[i] - shift));
    return s;
}

static void p_scale(float *x, size_t n, float s) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

static float p_dot(const float *a, const float *b, size_t n) {
    float s = 0.0f;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void p_softmax_bwd(float *g, const float *p, size_t n, float s) {
    for (size_t i = 0; i < n; i++) g[i] = p[i] * (g[i] - s);
}

static void p_add(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void p_bias_act(float *x, const float *b, size_t F, as_act act) {
    for (size_t f = 0; f < F; f++) x[f] = as_vec_act1(b ? x[f] + b[f] : x[f], act);
}

static void p_act_bwd(float *d, const float *y, size_t n, as_act act) {
    for (size_t i = 0; i < n; i++) d[i] = as_vec_dact1(d[i], y[i], act);
}

static void p_colsum_add(float *db, const float *d, size_t N, size_t F, size_t ld) {
    for (size_t n = 0; n < N; n++)
        for (size_t f = 0; f < F; f++) db[f] += d[n * ld + f];
}

static const as_vec_ops portable = {p_max,     p_exp_sum, p_scale,  p_dot,       p_softmax_bwd,
                                    p_add,     p_bias_act, p_act_bwd, p_colsum_add};

/* ---- choosing the variant ---- */
/* Chosen once, on first use: threads may race to the first kernel call, so both are read
 * and written atomically (they compute the same choice; as_vec_use sets them on purpose). */
static const as_vec_ops *ops;
static as_vec_level level_now;
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
static const char *const names[] = {"portable", "avx2", "avx512"};

const char *as_vec_name(as_vec_level level) {
    return level >= AS_VEC_PORTABLE && level <= AS_VEC_AVX512 ? names[level] : "unknown";
}

int as_vec_supported(as_vec_level level) {
    if (level == AS_VEC_PORTABLE) return 1;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (level == AS_VEC_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (level == AS_VEC_AVX512) return __builtin_cpu_supports("avx512f");
#endif
    return 0;
}

static const as_vec_ops *table(as_vec_level level) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (level == AS_VEC_AVX512) return &as_vec_ops_avx512;
    if (level == AS_VEC_AVX2) return &as_vec_ops_avx2;
#endif
    (void)level;
    return &portable;
}

as_status as_vec_use(as_vec_level level, as_error *err) {
    if (level < AS_VEC_PORTABLE || level > AS_VEC_AVX512 || !as_vec_supported(level))
        return as_error_set(err, AS_ERR_ARG, "this CPU does not run the %s kernels",
                            as_vec_name(level));
    STORE(level_now, level);
    STORE(ops, table(level));
    return AS_OK;
}

static const as_vec_ops *get(void) {
    const as_vec_ops *o = LOAD(ops);
    if (o) return o;
    as_vec_level best = as_vec_supported(AS_VEC_AVX512) ? AS_VEC_AVX512
                        : as_vec_supported(AS_VEC_AVX2) ? AS_VEC_AVX2 : AS_VEC_PORTABLE;
    const char *want = getenv("ATTNSWEEP_SIMD");
    if (want && *want) {
        int found = -1;
        for (int i = 0; i <= AS_VEC_AVX512; i++)
            if (!strcmp(want, names[i])) found = i;
        if (found >= 0 && as_vec_supported((as_vec_level)found)) best = (as_vec_level)found;
        else
            fprintf(stderr, "attnsweep: warning: ATTNSWEEP_SIMD=%s is %s; using %s\n", want,
                    found < 0 ? "not one of avx512, avx2, portable" : "not supported by this CPU",
                    names[best]);
    }
    STORE(level_now, best);
    o = table(best);
    STORE(ops, o);
    return o;
}

as_vec_level as_vec_current(void) {
    get();
    return LOAD(level_now);
}

/* ---- the public kernels ---- */
float as_vec_max(const float *x, size_t n) { return get()->max(x, n); }
float as_vec_exp_sum(float *y, const float *x, size_t n, float shift) {
    return get()->exp_sum(y, x, n, shift);
}
void as_vec_scale(float *x, size_t n, float s) { get()->scale(x, n, s); }
float as_vec_dot(const float *a, const float *b, size_t n) { return get()->dot(a, b, n); }

void as_vec_softmax(float *x, size_t n) {
    const as_vec_ops *o = get();
    if (n == 0) return;
    const float s = o->exp_sum(x, x, n, o->max(x, n));
    o->scale(x, n, 1.0f / s);
}

void as_vec_softmax_backward(float *g, const float *p, size_t n) {
    const as_vec_ops *o = get();
    o->softmax_bwd(g, p, n, o->dot(g, p, n));
}

void as_vec_mul_sub(float *g, const float *p, size_t n, float s) { get()->softmax_bwd(g, p, n, s); }

void as_vec_add(float *out, const float *a, const float *b, size_t n) { get()->add(out, a, b, n); }

void as_vec_bias_act(float *x, const float *b, size_t N, size_t F, as_act act) {
    const as_vec_ops *o = get();
    if (!b && act != AS_ACT_RELU && act != AS_ACT_TANH && act != AS_ACT_SIGMOID) return;
    if (!b) { /* one long row */
        o->bias_act(x, NULL, N * F, act);
        return;
    }
    for (size_t r = 0; r < N; r++) o->bias_act(x + r * F, b, F, act);
}

void as_vec_act_backward(float *d, const float *y, size_t n, as_act act) {
    if (act != AS_ACT_RELU && act != AS_ACT_TANH && act != AS_ACT_SIGMOID) return;
    get()->act_bwd(d, y, n, act);
}

void as_vec_colsum_add(float *db, const float *d, size_t N, size_t F, size_t ld) {
    get()->colsum_add(db, d, N, F, ld);
}
