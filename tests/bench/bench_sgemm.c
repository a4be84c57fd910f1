/* bench_sgemm.c: what OpenBLAS alone needs for a list of matrix products, one thread,
 * CPU time. scripts/bench_vs_torch.sh feeds it every product of one training epoch of a
 * benchmark model (the forward and backward products of each layer, written as the
 * GEMMs a BLAS-based implementation would call) to put a floor under the epoch time:
 * the products alone at OpenBLAS's speed, everything else (softmax, activations,
 * optimizer, data) free. Built as build/tests/bench_sgemm (not a test).
 *
 *   build/tests/bench_sgemm [REPEATS] < PRODUCTS
 *   build/tests/bench_sgemm --fma-peak [REPEATS]
 *
 * PRODUCTS: one product per line, "TA TB M N K COUNT" (TA, TB: N or T, row-major
 * C[M][N] = op(A)[M][K] op(B)[K][N], beta 0; COUNT: how many times the epoch runs it);
 * blank lines and lines starting with # are skipped. Each distinct line is timed as
 * calls in a row for at least 20 ms of CPU time, REPEATS times (default 5) in
 * interleaved order over the lines, median per call. Prints one line per product
 * (seconds per call, GFLOP/s, seconds in the epoch) and then
 *   total SECONDS GFLOP  (the epoch's products: CPU seconds at OpenBLAS's rate, GFLOP)
 * --fma-peak prints "fma_peak GFLOP/s": one core's arithmetic ceiling, a loop of
 * independent AVX2 FMAs on registers only (12 chains, no memory traffic; 16 flops each),
 * median of REPEATS (default 5) runs of 0.2 s; "fma_peak 0" on a CPU without AVX2 + FMA.
 * Exit 2 on a malformed line (its number named) or a failed allocation. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PRODUCTS 256
#define MAX_REPEATS 51

typedef struct {
    char ta, tb;
    int M, N, K;
    double count;
    double t[MAX_REPEATS]; /* seconds per call, one per repeat */
} product;


static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "layers/simd_target.h"

AS_TARGET_AVX2_BEGIN
/* GFLOP/s of n steps of 12 independent 8-lane FMA chains kept in registers. */
static double fma_loop(long n) {
    __m256 a0 = _mm256_set1_ps(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m256 a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    const double t0 = cpu_now();
    for (long k = 0; k < n; k++) {
        a0 = _mm256_fmadd_ps(a0, x, y), a1 = _mm256_fmadd_ps(a1, x, y);
        a2 = _mm256_fmadd_ps(a2, x, y), a3 = _mm256_fmadd_ps(a3, x, y);
        a4 = _mm256_fmadd_ps(a4, x, y), a5 = _mm256_fmadd_ps(a5, x, y);
        a6 = _mm256_fmadd_ps(a6, x, y), a7 = _mm256_fmadd_ps(a7, x, y);
        a8 = _mm256_fmadd_ps(a8, x, y), a9 = _mm256_fmadd_ps(a9, x, y);
        a10 = _mm256_fmadd_ps(a10, x, y), a11 = _mm256_fmadd_ps(a11, x, y);
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
        __asm__ volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
    }
    const double t = cpu_now() - t0;
    return 12.0 * 16.0 * (double)n / t * 1e-9;
}
AS_TARGET_END

static int have_fma(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
static double fma_loop(long n) { return (void)n, 0.0; }
static int have_fma(void) { return 0; }
#endif

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *filled(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; p && i < n; i++) p[i] = (float)((i * 2654435761u) % 1000u) * 1e-3f - 0.5f;
    return p;
}

/* Reads PRODUCTS from stdin into ps; returns their number, or -1 (message printed). */
static int read_products(product *ps) {
    char line[256];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, stdin)) {
        lineno++;
        char *s = line + strspn(line, " \t");
        if (*s == '\n' || *s == '\0' || *s == '#') continue;
        product p = {0};
        char extra;
        if (n == MAX_PRODUCTS ||
            sscanf(s, " %c %c %d %d %d %lf %c", &p.ta, &p.tb, &p.M, &p.N, &p.K, &p.count,
                   &extra) != 6 ||
            (p.ta != 'N' && p.ta != 'T') || (p.tb != 'N' && p.tb != 'T') || p.M < 1 ||
            p.N < 1 || p.K < 1 || p.M > 1 << 20 || p.N > 1 << 20 || p.K > 1 << 20 ||
            !(p.count >= 0)) {
            fprintf(stderr, "bench_sgemm: stdin line %d: want \"TA TB M N K COUNT\" (N|T, "
                            "sizes 1..2^20, COUNT >= 0; at most %d lines)\n",
                    lineno, MAX_PRODUCTS);
            return -1;
        }
        ps[n++] = p;
    }
    return n;
}

/* Seconds per call of product p, calls in a row for at least 20 ms. */
static double time_product(const product *p, const float *a, const float *b, float *c) {
    const int lda = p->ta == 'N' ? p->K : p->M, ldb = p->tb == 'N' ? p->N : p->K;
    const enum CBLAS_TRANSPOSE ta = p->ta == 'N' ? CblasNoTrans : CblasTrans;
    const enum CBLAS_TRANSPOSE tb = p->tb == 'N' ? CblasNoTrans : CblasTrans;
    int calls = 0;
    const double t0 = cpu_now();
    double t = 0;
    do {
        cblas_sgemm(CblasRowMajor, ta, tb, p->M, p->N, p->K, 1.0f, a, lda, b, ldb, 0.0f, c,
                    p->N);
        calls++;
        t = cpu_now() - t0;
    } while (t < 0.02);
    return t / calls;
}

/* --fma-peak: the median of reps runs of about 0.2 s each. */
static int fma_peak(int reps) {
    double g[MAX_REPEATS];
    long n = 1000000;
    if (have_fma())
        while (n < (1L << 40) && fma_loop(n) * 1e9 * 0.2 > 192.0 * (double)n) n *= 2;
    for (int r = 0; r < reps; r++) g[r] = have_fma() ? fma_loop(n) : 0.0;
    qsort(g, (size_t)reps, sizeof(double), cmp_double);
    printf("fma_peak %.1f\n", g[reps / 2]);
    return 0;
}

int main(int argc, char **argv) {
    const int peak = argc > 1 && strcmp(argv[1], "--fma-peak") == 0;
    const int reps = argc > 1 + peak ? atoi(argv[1 + peak]) : 5;
    if (reps < 1 || reps > MAX_REPEATS) {
        fprintf(stderr, "bench_sgemm: REPEATS must be 1..%d\n", MAX_REPEATS);
        return 2;
    }
    if (peak) return fma_peak(reps);
    static product ps[MAX_PRODUCTS];
    const int n = read_products(ps);
    if (n < 0) return 2;
    size_t big = 1;
    for (int i = 0; i < n; i++) {
        const size_t M = (size_t)ps[i].M, N = (size_t)ps[i].N, K = (size_t)ps[i].K;
        if (M * K > big) big = M * K;
        if (K * N > big) big = K * N;
        if (M * N > big) big = M * N;
    }
    float *a = filled(big), *b = filled(big), *c = filled(big);
    if (!a || !b || !c) {
        fprintf(stderr, "bench_sgemm: out of memory (3 x %zu floats)\n", big);
        return 2;
    }
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < n; k++) {
            const int i = r % 2 == 0 ? k : n - 1 - k;
            ps[i].t[r] = time_product(&ps[i], a, b, c);
        }
    double total = 0, flops = 0;
    for (int i = 0; i < n; i++) {
        product *p = &ps[i];
        qsort(p->t, (size_t)reps, sizeof(double), cmp_double);
        const double t = p->t[reps / 2], f = 2.0 * p->M * p->N * p->K;
        total += t * p->count;
        flops += f * p->count;
        printf("%c%c %6d %6d %6d x %8.0f: %.3e s/call %6.1f GFLOP/s %8.4f s\n", p->ta, p->tb,
               p->M, p->N, p->K, p->count, t, f / t * 1e-9, t * p->count);
    }
    printf("total %.4f %.4f\n", total, flops * 1e-9);
    free(a);
    free(b);
    free(c);
    return 0;
}
