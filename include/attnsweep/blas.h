/* blas.h: run OpenBLAS at the CPU's full rate.
 *
 * Debian's OpenBLAS 0.3.21 picks its kernel when the library loads and falls back to
 * a slow generic one (Prescott) on CPUs it does not recognise. as_blas_fix_core()
 * compares openblas_get_corename() with what cpuid reports (AVX-512, AVX2+FMA); if the
 * loaded kernel is weaker and the user has not set OPENBLAS_CORETYPE, it sets the
 * variable and re-executes the program (before MPI_Init) so the loader picks again.
 * ATTNSWEEP_BLAS_ASSUME_CORE=NAME (for tests) makes it act as if NAME had been loaded.
 */
#ifndef ATTNSWEEP_BLAS_H
#define ATTNSWEEP_BLAS_H

/* Call first thing in main. Returns only if no re-exec was needed or it failed. */
void as_blas_fix_core(int argc, char **argv);
/* The kernel name OpenBLAS runs ("Haswell", ...). */
const char *as_blas_core(void);
/* The best kernel name this CPU supports per cpuid ("SkylakeX", "Haswell", or NULL). */
const char *as_blas_cpu_best(void);
void as_blas_set_threads(int n);
int as_blas_threads(void);

#endif
