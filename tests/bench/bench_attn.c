/* bench_attn.c: the self-attention layer's forward + backward on one thread, the AVX2
 * block kernels (attn_gemm.h) against the cblas_sgemm path, interleaved repeats, median
 * CPU-seconds per call. Run by scripts/bench_attn.sh, which documents the shapes.
 *
 *   bench_attn B T C H Dk [REPEATS [CALLS [ONLY]]]   (ONLY: fast or sgemm, for perf)
 *
 * Value and output dimensions are Dk and C (the benchmark models' self_attention). Prints
 * the median ms per forward + backward of each path, GFLOP/s over the layer's
 * multiply-adds (per (batch, head) 2 T^2 (Dk + Dv) forward and 2 T^2 (3 Dk + 2 Dv)
 * backward with the recomputed scores; the projections 2 N (C (2 H Dk + H Dv) + H Dv O)
 * forward, twice that backward) and the ratio fast / sgemm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attnsweep/blas.h"
#include "attnsweep/layers.h"
#include "attnsweep/pool.h"

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *filled(size_t n, unsigned *seed, float scale) {
    float *x = malloc(n * sizeof *x);
    if (!x) {
        fprintf(stderr, "bench_attn: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) x[i] = scale * ((float)rand_r(seed) / (float)RAND_MAX - 0.5f);
    return x;
}

static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: bench_attn B T C H Dk [REPEATS [CALLS]]\n");
        return 2;
    }
    as_attn_dims d = {atoi(argv[1]), atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                      0, 0, 0.0f};
    d.Dv = d.Dk, d.O = d.C;
    const int reps = argc > 6 ? atoi(argv[6]) : 7, calls = argc > 7 ? atoi(argv[7]) : 3;
    const char *o = argc > 8 ? argv[8] : NULL; /* -1 both, 0 fast, 1 sgemm, 2 bad */
    const int only = !o ? -1 : !strcmp(o, "fast") ? 0 : !strcmp(o, "sgemm") ? 1 : 2;
    if (d.B < 1 || d.T < 1 || d.C < 1 || d.H < 1 || d.Dk < 1 || reps < 1 || reps > 99 ||
        calls < 1 || only == 2) {
        fprintf(stderr, "bench_attn: sizes and counts must be positive (REPEATS <= 99), ONLY "
                        "fast or sgemm\n");
        return 2;
    }
    as_blas_set_threads(1);
    as_pool_set_threads(1);
    unsigned seed = 1;
    const size_t ni = (size_t)d.B * d.T * d.C, np = as_attn_param_count(&d);
    float *x = filled(ni, &seed, 2.0f), *p = filled(np, &seed, 0.5f), *dy = filled(ni, &seed, 1.0f);
    float *st = filled(as_attn_state_size(&d), &seed, 0.0f);
    float *scr = filled(as_attn_scratch(&d), &seed, 0.0f);
    float *y = filled(ni, &seed, 0.0f), *dx = filled(ni, &seed, 0.0f);
    float *dp = filled(np, &seed, 0.0f);
    as_attn_state s;
    as_attn_state_bind(&s, st, &d);
    double t[2][99];
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < 2; k++) {
            const int path = r % 2 ? 1 - k : k; /* 0 fast, 1 sgemm; ABBA order */
            if (only >= 0 && path != only) {
                t[path][r] = 0.0;
                continue;
            }
            as_attn_use_sgemm(path);
            const double t0 = cpu_now();
            for (int c = 0; c < calls; c++) {
                as_attn_forward(y, &s, x, p, &d, 0, NULL);
                as_attn_backward(dx, dp, dy, &s, x, p, scr, &d);
            }
            t[path][r] = (cpu_now() - t0) / calls;
        }
    const double tt = (double)d.T * d.T * d.B * d.H, N = (double)d.B * d.T;
    const double hk = (double)d.H * d.Dk, hv = (double)d.H * d.Dv;
    const double proj = 2.0 * N * ((double)d.C * (2.0 * hk + hv) + hv * d.O);
    const double flop = 2.0 * tt * (4.0 * d.Dk + 3.0 * d.Dv) + 3.0 * proj;
    double med[2];
    for (int k = 0; k < 2; k++) {
        qsort(t[k], (size_t)reps, sizeof t[k][0], cmp);
        med[k] = t[k][reps / 2];
    }
    printf("B %d T %d C %d H %d Dk %d: fast %.3f ms (%.1f GFLOP/s), sgemm %.3f ms (%.1f), "
           "fast/sgemm %.2f\n",
           d.B, d.T, d.C, d.H, d.Dk, 1e3 * med[0], flop / med[0] * 1e-9, 1e3 * med[1],
           flop / med[1] * 1e-9, med[0] / med[1]);
    free(x), free(p), free(dy), free(st), free(scr), free(y), free(dx), free(dp);
    return 0;
}
