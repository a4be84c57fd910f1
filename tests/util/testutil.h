/* testutil.h: helpers shared by the Check suites. */
#ifndef AS_TESTUTIL_H
#define AS_TESTUTIL_H

#include <check.h>
#include <hdf5.h>
#include <stddef.h>

/* Runs a suite with the CK_* environment honoured; returns the process exit code
 * (0 all passed, 1 otherwise). */
int as_test_run(Suite *s);
/* For MPI suites (MPI already initialised): runs s on this rank, agrees on the worst
 * result across MPI_COMM_WORLD, finalises MPI and returns that exit code. */
int as_test_run_mpi(Suite *s);
/* An environment variable or a default. */
const char *as_test_env(const char *name, const char *dflt);
/* A fresh temporary directory (created), valid until exit. */
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
