/* testutil.h: helpers shared by the Check suites. */
#ifndef AS_TESTUTIL_H
#define AS_TESTUTIL_H

#include <check.h>
#include <hdf5.h>
#include <stddef.h>

/* Runs a suite with the CK_* environment honoured; returns the process exit code
 * (0 all passed, 1 otherwise). Then removes the suite's as_test_tmpdir() when every test
 * passed, else keeps it and prints its path to stderr (ATTNSWEEP_TEST_KEEP=1: always keeps). */
int as_test_run(Suite *s);
/* For MPI suites (MPI already initialised): runs s on this rank, agrees on the worst
 * result across MPI_COMM_WORLD, removes or keeps this rank's directory on that result as
 * as_test_run does, finalises MPI and returns that exit code. */
int as_test_run_mpi(Suite *s);
/* An environment variable or a default. */
const char *as_test_env(const char *name, const char *dflt);
/* The suite's temporary directory /tmp/attnsweep-test-XXXXXX, one per process running a
 * suite: as_test_run makes it before the first test, so every test (each in a child forked
 * by Check, or all in one process under CK_FORK=no) shares it; file names must differ
 * between tests. */
const char *as_test_tmpdir(void);
/* Writes text to dir/name and returns the path (static buffer ring of 8). */
const char *as_test_write_file(const char *dir, const char *name, const char *text);
/* Largest |a-b| / max(1, |b|) over n floats. */
double as_test_max_rel_err(const float *a, const float *b, size_t n);
/* The allocation hook that fails the n-th allocation from now (n >= 1); 0 disables. */
void as_test_fail_alloc_after(long n);

/* A numeric attribute of an HDF5 object as double (fails the test when missing). */
double as_test_h5_attr_double(hid_t obj, const char *name);

#endif
