/* test_threads.c: the rank's thread pool (every task exactly once, worker ids in range,
 * many loops in a row, the cap) and the CPU limits read from cgroup files (v1 and v2,
 * nested quotas, none, missing files) in fake /proc/self/cgroup and /sys/fs/cgroup trees. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attnsweep/cpus.h"
#include "attnsweep/pool.h"
#include "testutil.h"

#define NTASK 1000
typedef struct {
    int hits[NTASK];
    int worker_max, limit;
} count_ctx;

static void count_task(const void *ctx, int task, int worker) {
    count_ctx *c = (count_ctx *)(uintptr_t)ctx;
    __atomic_fetch_add(&c->hits[task], 1, __ATOMIC_RELAXED);
    int m = __atomic_load_n(&c->worker_max, __ATOMIC_RELAXED);
    while (worker > m && !__atomic_compare_exchange_n(&c->worker_max, &m, worker, 0,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

START_TEST(test_pool_runs_each_task_once) {
    static const int threads[] = {1, 2, 4, 3, 1, 2};
    for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++) {
        as_pool_set_threads(threads[k]);
        ck_assert_int_eq(as_pool_threads(), threads[k]);
        for (int loop = 0; loop < 300; loop++) {
            count_ctx c;
            memset(&c, 0, sizeof c);
            const int n = loop % 7 == 0 ? 1 : 1 + loop % NTASK, cap = loop % 3 == 0 ? 2 : 0;
            as_pool_run(n, cap, count_task, &c);
            for (int t = 0; t < n; t++) ck_assert_int_eq(c.hits[t], 1);
            for (int t = n; t < NTASK; t++) ck_assert_int_eq(c.hits[t], 0);
            const int most = cap > 0 && cap < threads[k] ? cap : threads[k];
            ck_assert_int_lt(c.worker_max, most);
        }
    }
    as_pool_set_threads(0);
    ck_assert_int_eq(as_pool_threads(), 1);
}
END_TEST

/* A loop started inside a task runs inline on that task's thread, as worker 0, every
 * inner task once (the pool.h contract the batch split relies on: attention's pool loop
 * inside one part). */
#define OUTER 4
#define INNER 50
typedef struct {
    pthread_t outer_thread[OUTER];
    int inner_hits[OUTER][INNER], inner_wrong_thread, inner_worker_nonzero;
} nest_ctx;
typedef struct {
    nest_ctx *n;
    int outer;
} inner_ctx;

static void inner_task(const void *ctx, int task, int worker) {
    const inner_ctx *ic = ctx;
    nest_ctx *n = ic->n;
    n->inner_hits[ic->outer][task]++; /* only this outer task's thread writes its row */
    if (!pthread_equal(pthread_self(), n->outer_thread[ic->outer]))
        __atomic_fetch_add(&n->inner_wrong_thread, 1, __ATOMIC_RELAXED);
    if (worker != 0) __atomic_fetch_add(&n->inner_worker_nonzero, 1, __ATOMIC_RELAXED);
}

static void outer_task(const void *ctx, int task, int worker) {
    (void)worker;
    nest_ctx *n = (nest_ctx *)(uintptr_t)ctx;
    n->outer_thread[task] = pthread_self();
    const inner_ctx ic = {n, task};
    as_pool_run(INNER, 0, inner_task, &ic);
}

START_TEST(test_pool_nested_loop_runs_inline) {
    as_pool_set_threads(2);
    for (int loop = 0; loop < 100; loop++) {
        nest_ctx n;
        memset(&n, 0, sizeof n);
        as_pool_run(OUTER, 2, outer_task, &n);
        for (int o = 0; o < OUTER; o++)
            for (int t = 0; t < INNER; t++) ck_assert_int_eq(n.inner_hits[o][t], 1);
        ck_assert_int_eq(n.inner_wrong_thread, 0);
        ck_assert_int_eq(n.inner_worker_nonzero, 0);
    }
    as_pool_set_threads(1);
}
END_TEST

static void put(const char *dir, const char *rel, const char *text) {
    char path[1024], sub[1024];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) { /* mkdir -p */
        snprintf(sub, sizeof sub, "%.*s", (int)(p - path), path);
        mkdir(sub, 0755);
    }
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_cgroup_quota) {
    const char *t = as_test_tmpdir();
    char root[1024], proc[1024];
    int v = -1;
    /* v1 (this machine's layout): quota on a parent, a larger one below, the smallest wins */
    snprintf(root, sizeof root, "%s/v1", t);
    put(root, "cpu,cpuacct/job/cpu.cfs_quota_us", "150000\n");
    put(root, "cpu,cpuacct/job/cpu.cfs_period_us", "100000\n");
    put(root, "cpu,cpuacct/job/task/cpu.cfs_quota_us", "400000\n");
    put(root, "cpu,cpuacct/job/task/cpu.cfs_period_us", "100000\n");
    put(root, "cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    put(root, "cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    snprintf(proc, sizeof proc, "%s/proc1", t);
    put(t, "proc1", "4:memory:/x\n3:cpu,cpuacct:/job/task\n0::/\n");
    ck_assert(fabs(as_cpus_cgroup_quota(proc, root, &v) - 1.5) < 1e-12);
    ck_assert_int_eq(v, 1);
    /* v1 without a quota (-1 everywhere) */
    put(t, "proc2", "3:cpu,cpuacct:/\n");
    snprintf(proc, sizeof proc, "%s/proc2", t);
    ck_assert(as_cpus_cgroup_quota(proc, root, &v) == 0.0 && v == 1);
    /* v2: cpu.max "quota period" on the leaf, "max" above */
    snprintf(root, sizeof root, "%s/v2", t);
    put(root, "cgroup.controllers", "cpu memory\n");
    put(root, "a/cpu.max", "max 100000\n");
    put(root, "a/b/cpu.max", "250000 100000\n");
    put(t, "proc3", "0::/a/b\n");
    snprintf(proc, sizeof proc, "%s/proc3", t);
    ck_assert(fabs(as_cpus_cgroup_quota(proc, root, &v) - 2.5) < 1e-12);
    ck_assert_int_eq(v, 2);
    /* a path the namespace hides: the root's own file; missing files: no quota */
    put(t, "proc4", "0::/not/here\n");
    snprintf(proc, sizeof proc, "%s/proc4", t);
    ck_assert(as_cpus_cgroup_quota(proc, root, &v) == 0.0 && v == 2);
    snprintf(proc, sizeof proc, "%s/absent", t);
    ck_assert(as_cpus_cgroup_quota(proc, root, &v) == 0.0 && v == 0);
}
END_TEST

START_TEST(test_cpus_detect) {
    const as_cpu_limits L = as_cpus_detect();
    ck_assert_int_ge(L.online, 1);
    ck_assert_int_ge(L.affinity, 1);
    ck_assert_int_le(L.affinity, L.online);
    ck_assert_int_ge(L.usable, 1);
    ck_assert_int_le(L.usable, L.affinity);
    setenv("SLURM_CPUS_PER_TASK", "1", 1);
    ck_assert_int_eq(as_cpus_detect().usable, 1);
    ck_assert_int_eq(as_cpus_detect().slurm, 1);
    setenv("SLURM_CPUS_PER_TASK", "junk", 1);
    ck_assert_int_eq(as_cpus_detect().slurm, 0);
    unsetenv("SLURM_CPUS_PER_TASK");
}
END_TEST

int main(void) {
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pool_runs_each_task_once);
    tcase_add_test(tc, test_pool_nested_loop_runs_inline);
    tcase_add_test(tc, test_cgroup_quota);
    tcase_add_test(tc, test_cpus_detect);
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
