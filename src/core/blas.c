/* blas.c: detect a weak OpenBLAS kernel and re-execute with OPENBLAS_CORETYPE set. */
#include "attnsweep/blas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* OpenBLAS's own API (declared in its cblas.h / openblas_config.h). */
char *openblas_get_corename(void);
void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);

const char *as_blas_core(void) {
    const char *c = openblas_get_corename();
    return c ? c : "unknown";
}

const char *as_blas_cpu_best(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

/* Rank of a kernel name: higher is wider SIMD. Unknown names rank as weak. */
static int core_rank(const char *name) {
    static const char *const strong[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *const avx2[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake"};
    for (size_t i = 0; i < sizeof strong / sizeof strong[0]; i++)
        if (!strcasecmp(name, strong[i])) return 3;
    for (size_t i = 0; i < sizeof avx2 / sizeof avx2[0]; i++)
        if (!strcasecmp(name, avx2[i])) return 2;
    if (!strcasecmp(name, "Sandybridge")) return 1;
    return 0;
}

void as_blas_fix_core(int argc, char **argv) {
    (void)argc;
    if (getenv("OPENBLAS_CORETYPE")) return;          /* the user decided */
    if (getenv("ATTNSWEEP_BLAS_REEXEC")) return;       /* we already tried once */
    const char *best = as_blas_cpu_best();
    if (!best) return;
    /* ATTNSWEEP_BLAS_ASSUME_CORE pretends the library loaded that kernel: it lets the tests
     * drive the re-exec on machines whose OpenBLAS already picks a good one. */
    const char *assume = getenv("ATTNSWEEP_BLAS_ASSUME_CORE");
    const char *have = assume && *assume ? assume : as_blas_core();
    if (core_rank(have) >= core_rank(best)) return;
    setenv("OPENBLAS_CORETYPE", best, 1);
    setenv("ATTNSWEEP_BLAS_REEXEC", have, 1);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the slow kernel, but say so. */
    fprintf(stderr, "attnsweep: warning: OpenBLAS runs its %s kernel; could not re-exec with "
                    "OPENBLAS_CORETYPE=%s (set it yourself for full speed)\n", have, best);
    unsetenv("OPENBLAS_CORETYPE");
}

void as_blas_set_threads(int n) {
    if (n >= 1) openblas_set_num_threads(n);
}

int as_blas_threads(void) { return openblas_get_num_threads(); }
