/* pool.h: the rank's own threads for loops of independent tasks (attention's (batch,
 * head) pairs). Workers sleep on a condition variable between loops (no spinning: the
 * machine may be shared), are started on first use and live until the process exits.
 * Call as_pool_run from one thread at a time. A loop started from inside a task runs
 * inline on that task's thread, as worker 0 (so a task may call code that uses the pool,
 * e.g. attention inside one thread of a batch split). */
#ifndef ATTNSWEEP_POOL_H
#define ATTNSWEEP_POOL_H

/* Threads for later loops, the caller included (n < 1 counts as 1). Default 1. */
void as_pool_set_threads(int n);
int as_pool_threads(void);
/* Runs fn(ctx, task, worker) for task = 0..ntasks-1 on min(threads, max_threads,
 * ntasks) threads (max_threads <= 0: no cap); worker (0 <= worker < that) identifies the
 * thread, e.g. to pick its
 * buffers. Returns when every task is done. If a worker thread cannot be started the
 * loop runs on the threads that could (at least the caller). */
typedef void (*as_pool_fn)(const void *ctx, int task, int worker);
void as_pool_run(int ntasks, int max_threads, as_pool_fn fn, const void *ctx);

#endif
