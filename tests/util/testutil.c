#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include "attnsweep/alloc.h"

int as_test_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

int as_test_run_mpi(Suite *s) {
    int rc = as_test_run(s), worst = 0;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return worst;
}

const char *as_test_env(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

static char g_tmpdir[256];

const char *as_test_tmpdir(void) {
    if (!g_tmpdir[0]) {
        snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/attnsweep-test-XXXXXX");
        if (!mkdtemp(g_tmpdir)) {
            perror("mkdtemp");
            return "/tmp";
        }
    }
    return g_tmpdir;
}

const char *as_test_write_file(const char *dir, const char *name, const char *text) {
    static char paths[8][512];
    static int next = 0;
    char *p = paths[next];
    next = (next + 1) % 8;
    snprintf(p, 512, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

double as_test_max_rel_err(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double s = fabs((double)b[i]);
        double r = d / (s > 1 ? s : 1);
        if (!(r <= worst)) worst = r; /* NaN propagates as worst */
    }
    return worst;
}

static long g_fail_after = 0;

static void *failing_alloc(void *ud, void *ptr, size_t size) {
    (void)ud;
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    if (g_fail_after > 0 && --g_fail_after == 0) return NULL;
    return realloc(ptr, size);
}

void as_test_fail_alloc_after(long n) {
    g_fail_after = n;
    as_alloc_set_hook(n > 0 ? failing_alloc : NULL, NULL);
}

double as_test_h5_attr_double(hid_t obj, const char *name) {
    double v = 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    ck_assert_msg(a >= 0, "no attribute %s", name);
    ck_assert(H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    H5Aclose(a);
    return v;
}
