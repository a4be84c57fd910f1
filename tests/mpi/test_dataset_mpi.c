// ranks: 2 4
/* test_dataset_mpi.c: every rank opens the same dataset read-only at the same time.
 * Rank 0 writes a toy dataset; after a barrier all ranks load it at once; each
 * rank's checksum of x and y must equal rank 0's checksum of the arrays it generated
 * in memory, and the file's bytes must be unchanged afterwards (no rank writes). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/dataset.h"
#include "attnsweep/rng.h"
#include "attnsweep/toy.h"
#include "testutil.h"

static uint64_t file_hash(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static unsigned char buf[1 << 16];
    uint64_t h = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = as_hash64(buf, n, h);
    fclose(f);
    return h;
}

static uint64_t dataset_hash(const as_dataset *d) {
    uint64_t h = as_hash64(d->train.x, (size_t)d->train.n * as_split_x_row(&d->train) * sizeof(float), 1);
    h = as_hash64(d->train.y, (size_t)d->train.n * as_split_y_row(&d->train) * sizeof(float), h);
    if (d->has_test) h = as_hash64(d->test.x, (size_t)d->test.n * as_split_x_row(&d->test) * sizeof(float), h);
    return h;
}

START_TEST(test_all_ranks_read_same_file) {
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char path[512] = {0};
    unsigned long long expect[2] = {0, 0}; /* dataset hash, file hash */
    as_toy_params p = as_toy_defaults();
    p.seed = 77;
    p.samples = 64;
    p.test_samples = 8;
    as_error e;
    if (rank == 0) {
        snprintf(path, sizeof path, "%s/mpi_toy.h5", as_test_tmpdir());
        ck_assert_msg(as_toy_write(&p, path, &e) == AS_OK, "%s", e.msg);
        as_dataset mem;
        ck_assert(as_toy_make(&p, &mem, &e) == AS_OK);
        expect[0] = dataset_hash(&mem);
        as_dataset_free(&mem);
        expect[1] = file_hash(path);
    }
    MPI_Bcast(path, sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);
    MPI_Bcast(expect, 2, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    as_dataset d;
    as_status st = as_dataset_load(path, &d, &e); /* all ranks at once */
    int ok = st == AS_OK, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    ck_assert_msg(ok, "rank %d: %s", rank, e.msg);
    ck_assert_int_eq(all_ok, 1);
    unsigned long long h = dataset_hash(&d), lo = 0, hi = 0;
    MPI_Allreduce(&h, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&h, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    ck_assert_uint_eq(lo, hi);
    ck_assert_uint_eq(h, expect[0]);
    ck_assert_int_eq(d.train.n, 64);
    ck_assert_int_eq(d.test.n, 8);
    as_dataset_free(&d);
    MPI_Barrier(MPI_COMM_WORLD);
    ck_assert_uint_eq(file_hash(path), expect[1]);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) unlink(path);
    (void)size;
}
END_TEST

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    Suite *s = suite_create("dataset_mpi");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_all_ranks_read_same_file);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return as_test_run_mpi(s);
}
