/* pool.c: a small pool of sleeping worker threads (see pool.h). */
#include "attnsweep/pool.h"

#include <pthread.h>

#define POOL_MAX 256

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static int want = 1;         /* threads per loop, the caller included */
static int spawned;          /* worker threads started (ids 1..spawned) */
static unsigned long gen;    /* loop generation: workers wake when it changes */
static int running;          /* workers still inside the current loop */
static int job_threads;      /* threads taking part in the current loop */
static int job_tasks, next_task;
static as_pool_fn job_fn;
static const void *job_ctx;
static unsigned long born[POOL_MAX]; /* gen when each worker was started */
static __thread int in_task;         /* this thread is running a task: nested loops run inline */

void as_pool_set_threads(int n) {
    pthread_mutex_lock(&mu);
    want = n < 1 ? 1 : n > POOL_MAX ? POOL_MAX : n;
    pthread_mutex_unlock(&mu);
}

int as_pool_threads(void) {
    pthread_mutex_lock(&mu);
    const int n = want;
    pthread_mutex_unlock(&mu);
    return n;
}

static void take_tasks(int worker) {
    for (;;) {
        const int t = __atomic_fetch_add(&next_task, 1, __ATOMIC_RELAXED);
        if (t >= job_tasks) return;
        in_task = 1;
        job_fn(job_ctx, t, worker);
        in_task = 0;
    }
}

static void *worker_main(void *arg) {
    const int id = (int)(long)arg;
    pthread_mutex_lock(&mu);
    unsigned long seen = born[id]; /* a loop started right after the worker wakes it */
    for (;;) {
        while (gen == seen) pthread_cond_wait(&go, &mu);
        seen = gen;
        const int mine = id < job_threads;
        pthread_mutex_unlock(&mu);
        if (mine) take_tasks(id);
        pthread_mutex_lock(&mu);
        if (--running == 0) pthread_cond_signal(&done);
    }
    return NULL;
}

/* Starts workers up to n - 1 (mu held); returns how many threads can take part. */
static int ensure_workers(int n) {
    while (spawned < n - 1) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        born[spawned + 1] = gen;
        const int rc = pthread_create(&t, &at, worker_main, (void *)(long)(spawned + 1));
        pthread_attr_destroy(&at);
        if (rc) break;
        spawned++;
    }
    return spawned + 1 < n ? spawned + 1 : n;
}

void as_pool_run(int ntasks, int max_threads, as_pool_fn fn, const void *ctx) {
    if (in_task) { /* a loop inside a task (e.g. attention inside a batch-split replica) */
        for (int t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&mu);
    int n = want < ntasks ? want : ntasks;
    if (max_threads > 0 && n > max_threads) n = max_threads;
    if (n > 1) n = ensure_workers(n);
    if (n <= 1) {
        pthread_mutex_unlock(&mu);
        for (int t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    job_fn = fn;
    job_ctx = ctx;
    job_tasks = ntasks;
    job_threads = n;
    __atomic_store_n(&next_task, 0, __ATOMIC_RELAXED);
    running = spawned;
    gen++;
    pthread_cond_broadcast(&go);
    pthread_mutex_unlock(&mu);
    take_tasks(0);
    pthread_mutex_lock(&mu);
    while (running > 0) pthread_cond_wait(&done, &mu);
    pthread_mutex_unlock(&mu);
}
