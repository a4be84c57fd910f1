#include "testutil.h"

#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mpi.h>

#include "attnsweep/alloc.h"

/* The suite's temporary directory: made once, in the process that runs the suite, before
 * any test runs, so the children Check forks (CK_FORK, the default) share it with the parent,
 * and removed by that process after the run (not by an atexit handler: the children run
 * those when they exit). */
static char g_tmpdir[256];
static pid_t g_tmpdir_owner;

static int keep_always(void) {
    const char *v = getenv("ATTNSWEEP_TEST_KEEP");
    return v && *v && strcmp(v, "0") != 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* A test that crashes where no fork catches it (CK_FORK=no: the MPI suites) says where its
 * files are, then the signal's earlier handler (Open MPI's backtrace) or default runs. */
static const int g_crash_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
static struct sigaction g_crash_old[sizeof g_crash_sigs / sizeof *g_crash_sigs];

static void crash_note(int sig) {
    static const char note[] = "testutil: kept the test files in ";
    ssize_t w = write(2, note, sizeof note - 1);
    w += write(2, g_tmpdir, strlen(g_tmpdir));
    w += write(2, "\n", 1);
    (void)w;
    for (size_t i = 0; i < sizeof g_crash_sigs / sizeof *g_crash_sigs; i++)
        if (g_crash_sigs[i] == sig) sigaction(sig, &g_crash_old[i], NULL);
    raise(sig);
}

static void tmpdir_begin(SRunner *sr) {
    as_test_tmpdir();
    if (!g_tmpdir[0] || srunner_fork_status(sr) != CK_NOFORK) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = crash_note;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof g_crash_sigs / sizeof *g_crash_sigs; i++)
        sigaction(g_crash_sigs[i], &sa, &g_crash_old[i]);
}

/* After the run (rc 0: every test passed): removes the directory, or keeps it and says so
 * (an empty one goes either way). */
static void tmpdir_end(int rc) {
    if (!g_tmpdir[0] || getpid() != g_tmpdir_owner) return;
    if (rc != 0 || keep_always()) {
        if (rmdir(g_tmpdir) != 0) fprintf(stderr, "testutil: kept the test files in %s\n", g_tmpdir);
    } else if (nftw(g_tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "testutil: could not remove %s\n", g_tmpdir);
    }
    g_tmpdir[0] = 0;
}

static int run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    tmpdir_begin(sr);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

int as_test_run(Suite *s) {
    int rc = run_suite(s);
    tmpdir_end(rc);
    return rc;
}

int as_test_run_mpi(Suite *s) {
    int rc = run_suite(s), worst = 0;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    tmpdir_end(worst);
    MPI_Finalize();
    return worst;
}

const char *as_test_env(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

const char *as_test_tmpdir(void) {
    if (!g_tmpdir[0]) {
        snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/attnsweep-test-XXXXXX");
        if (!mkdtemp(g_tmpdir)) {
            perror("mkdtemp");
            g_tmpdir[0] = 0;
            return "/tmp";
        }
        g_tmpdir_owner = getpid();
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
