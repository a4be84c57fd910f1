/* bench_conv.c: the convolution kernels on the benchmark models' shapes, the direct
 * kernel (src/layers/conv_direct.c) against the tap-GEMM path (OpenBLAS), one thread,
 * interleaved repeats, medians of CPU time. Built as build/tests/bench_conv.
 *
 *   build/tests/bench_conv [REPEATS [THREADS [FILTER]]]
 *   (default 7 repeats, 1 thread; FILTER: only the shapes whose name contains it)
 *
 * Per shape, GFLOP/s of the forward pass (relu, as the models; 2 B To K C F flops), the
 * kernel gradient alone (backward without dinp, as the first layer; the same flops) and
 * the whole backward (dW + dX, twice that), and the largest difference
 * between the two paths' outputs relative to the largest magnitude. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attnsweep/layers.h"
#include "attnsweep/pool.h"
#include "layers/conv_internal.h"

typedef struct {
    const char *name;
    int B, T, C, F, K;
} shape;

static const shape shapes[] = {
    {"toy 1->64", 32, 100, 1, 64, 5},   {"toy 64->64", 32, 100, 64, 64, 5},
    {"toy 64->1", 32, 100, 64, 1, 5},   {"Trace 1->32", 32, 275, 1, 32, 5},
    {"Trace res 32->32", 32, 275, 32, 32, 5}, {"T=2000 64->64", 32, 2000, 64, 64, 5},
};

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *filled(size_t n, unsigned *seed) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_conv: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = (float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return p;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double max_rel(const float *a, const float *b, size_t n) {
    double d = 0.0, m = 0.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - (double)b[i]));
        m = fmax(m, fabs((double)a[i]));
    }
    return m > 0.0 ? d / m : d;
}

typedef struct {
    float *x, *w, *b, *y, *dy, *dx, *dw, *db, *cols;
    size_t nx, ny, nw;
} bufs;

/* Seconds of CPU per call of forward (bwd 0), the kernel and bias gradients (bwd 1:
 * backward without dinp) or the whole backward (bwd 2) on the given path. */
static double time_path(const shape *s, bufs *u, as_conv_path p, int bwd, int calls) {
    const int pad = (s->K - 1) / 2;
    as_conv1d_use_path(p);
    const double t0 = cpu_now();
    for (int i = 0; i < calls; i++) {
        if (bwd)
            as_conv1d_backward(bwd == 2 ? u->dx : NULL, u->dw, u->db, u->dy, u->y, u->x, u->w, u->cols, s->B, s->T,
                               s->C, s->F, s->K, 1, pad, s->T, AS_ACT_LINEAR);
        else
            as_conv1d_forward(u->y, u->x, u->w, u->b, u->cols, s->B, s->T, s->C, s->F, s->K, 1,
                              pad, s->T, AS_ACT_RELU);
    }
    return (cpu_now() - t0) / calls;
}

/* Largest relative difference between the paths' y, dx and dw. */
static double compare(const shape *s, bufs *u) {
    float *keep[3];
    double worst = 0.0;
    const size_t n[3] = {u->ny, u->nx, u->nw};
    for (int path = 0; path < 2; path++) {
        memset(u->dx, 0, u->nx * sizeof(float));
        memset(u->dw, 0, u->nw * sizeof(float));
        time_path(s, u, path ? AS_CONV_DIRECT : AS_CONV_TAPS, 0, 1);
        time_path(s, u, path ? AS_CONV_DIRECT : AS_CONV_TAPS, 2, 1);
        float *now[3] = {u->y, u->dx, u->dw};
        for (int k = 0; k < 3; k++) {
            if (!path) {
                keep[k] = malloc(n[k] * sizeof(float));
                memcpy(keep[k], now[k], n[k] * sizeof(float));
            } else {
                worst = fmax(worst, max_rel(keep[k], now[k], n[k]));
                free(keep[k]);
            }
        }
    }
    return worst;
}

static void bench(const shape *s, int reps) {
    unsigned seed = 1;
    bufs u;
    u.nx = (size_t)s->B * s->T * s->C, u.ny = (size_t)s->B * s->T * s->F;
    u.nw = (size_t)s->K * s->C * s->F;
    u.x = filled(u.nx, &seed), u.w = filled(u.nw, &seed), u.b = filled((size_t)s->F, &seed);
    u.y = filled(u.ny, &seed), u.dy = filled(u.ny, &seed), u.dx = filled(u.nx, &seed);
    u.dw = filled(u.nw, &seed), u.db = filled((size_t)s->F, &seed);
    u.cols = filled(as_conv1d_scratch(s->B, s->T, s->C, s->F, s->K), &seed);
    const double flops = 2.0 * s->B * s->T * s->K * s->C * s->F;
    const double diff = compare(s, &u);
    int calls = (int)(2e8 / flops) + 1; /* about 0.1 s of work per timing */
    double t[2][3][64];
    if (reps > 64) reps = 64;
    for (int r = 0; r < reps; r++)
        for (int q = 0; q < 2; q++) {
            const int path = (r + q) % 2; /* interleaved: T D, D T, ... */
            for (int bwd = 0; bwd < 3; bwd++)
                t[path][bwd][r] =
                    time_path(s, &u, path ? AS_CONV_DIRECT : AS_CONV_TAPS, bwd, calls);
        }
    double g[2][3];
    for (int p = 0; p < 2; p++)
        for (int b = 0; b < 3; b++)
            g[p][b] = flops * (b == 2 ? 2.0 : 1.0) / median(t[p][b], reps) * 1e-9;
    printf("%-18s %3d %4d %3d %3d %2d |", s->name, s->B, s->T, s->C, s->F, s->K);
    for (int b = 0; b < 3; b++) printf(" %5.1f %5.1f %4.2fx |", g[0][b], g[1][b], g[1][b] / g[0][b]);
    printf(" %.1e\n", diff);
    as_conv1d_use_path(AS_CONV_AUTO);
    free(u.x), free(u.w), free(u.b), free(u.y), free(u.dy), free(u.dx), free(u.dw), free(u.db);
    free(u.cols);
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 7, threads = argc > 2 ? atoi(argv[2]) : 1;
    if (reps < 1 || threads < 1) {
        fprintf(stderr, "usage: bench_conv [REPEATS [THREADS [FILTER]]]\n");
        return 2;
    }
    if (!as_conv_direct_supported()) {
        fprintf(stderr, "bench_conv: this CPU lacks AVX2 + FMA (the direct kernel)\n");
        return 2;
    }
    as_pool_set_threads(threads);
    printf("GFLOP/s, medians of %d interleaved repeats, %d thread(s) (OpenBLAS as "
           "OPENBLAS_NUM_THREADS says); same padding, stride 1\n", reps, threads);
    printf("%-18s %3s %4s %3s %3s %2s | %-17s | %-17s | %-17s | %s\n", "shape", "B", "T", "C",
           "F", "K", "forward", "dW + db", "dW + db + dX", "max rel diff");
    printf("%-18s %3s %4s %3s %3s %2s |", "", "", "", "", "", "");
    for (int b = 0; b < 3; b++) printf(" %5s %5s %5s |", "taps", "direct", "");
    printf("\n");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (argc < 4 || strstr(shapes[i].name, argv[3])) bench(&shapes[i], reps);
    return 0;
}
