/* fuzz_util.h: shared by the libFuzzer targets (tests/fuzz/fuzz_*.c): a reader that
 * draws the structured generators' choices from the fuzz bytes, and per-process scratch
 * files, a NUL-terminated copy of the bytes, and the entry points' declarations and
 * common initialisation. Every target caps the memory budget (ATTNSWEEP_MEMORY_LIMIT=1G)
 * so a legitimate large request is refused rather than allocated, and libFuzzer's
 * -rss_limit_mb catches any allocation that slips past the budget. Include it in exactly
 * one file per target (it defines LLVMFuzzerInitialize). */
#ifndef AS_FUZZ_UTIL_H
#define AS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const uint8_t *p;
    size_t n;
} fz_reader;

/* The next byte (0 when the input is used up: generators then take their defaults). */
static inline uint8_t fz_u8(fz_reader *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

static inline uint32_t fz_u32(fz_reader *r) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = v << 8 | fz_u8(r);
    return v;
}

static inline uint64_t fz_u64(fz_reader *r) { return (uint64_t)fz_u32(r) << 32 | fz_u32(r); }

/* A float from 4 raw bytes: every bit pattern, NaN and Inf included. */
static inline float fz_float(fz_reader *r) {
    uint32_t u = fz_u32(r);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* A small count in [0, max], occasionally (1 in 16) any 32-bit value. */
static inline uint64_t fz_count(fz_reader *r, uint64_t max) {
    uint8_t k = fz_u8(r);
    if ((k & 15) == 15) return fz_u32(r);
    return max ? (uint64_t)(k >> 4) % (max + 1) : 0;
}

/* A per-process scratch path NAME in TMPDIR (or /tmp). */
static inline const char *fz_path(const char *name) {
    static char buf[8][512];
    static int k;
    const char *dir = getenv("TMPDIR");
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "%s/attnsweep-fuzz-%ld-%s", dir && *dir ? dir : "/tmp",
             (long)getpid(), name);
    return b;
}

/* Writes n bytes to path (replacing it); 0 on failure. */
static inline int fz_write(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(d, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* fz_text: a NUL-terminated copy of the fuzz bytes (malloc'ed; NULL if out of memory). */
static inline char *fz_text(const uint8_t *data, size_t size) {
    char *t = malloc(size + 1);
    if (t) {
        memcpy(t, data, size);
        t[size] = 0;
    }
    return t;
}

/* libFuzzer's entry points. The one initialisation of every target is here: a memory
 * budget of 1 GiB (a legitimate large request is refused rather than allocated) and one
 * BLAS thread; a target that needs more defines FZ_INIT as the name of its own
 * `static void NAME(void)`, which runs after that. The element-wise kernels are chosen
 * from cpuid as in the program (vec_x86.c gives each variant its target attribute under
 * clang too, so no AVX-512 instruction runs on a CPU without it). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#ifdef FZ_INIT
static void FZ_INIT(void);
#endif
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    setenv("ATTNSWEEP_MEMORY_LIMIT", "1G", 1);
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
#ifdef FZ_INIT
    FZ_INIT();
#endif
    return 0;
}

#endif
