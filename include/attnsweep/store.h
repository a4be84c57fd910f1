/* store.h: the sweep results store -- a journal of per-run files, the user-facing index
 * RESULTS.h5, and the lock that makes one process its only writer. Layout and
 * guarantees are in README.md ("The results store").
 *
 * - RESULTS.h5.journal/<run key>.h5: each finished run, written once (built in memory,
 *   stored with as_write_file_durable: temporary, fsync, rename, folder fsync). Group
 *   /run holds what /variants/<key> holds in RESULTS.h5, dataset /summary_row its row.
 * - RESULTS.h5: rebuilt atomically by as_store_pack (packed: every run copied in, no
 *   external links, no empty rows) with, for a running session, n_slots empty rows at
 *   the end of /summary (chunked, allocated on disk). as_store_put fills the next slot
 *   with one pwrite into that allocated space: HDF5's metadata is never modified in
 *   place, so the file opens at every instant. While a session runs, the runs it
 *   finished are in the journal and in /summary; readers (as_store_rows,
 *   as_store_open_run) take /variants/<key> from the journal until the next pack.
 * - RESULTS.h5.lock: flock'd for the whole session, holding "host pid".
 * - sweep --journal shared: where every rank sees the journal folder, each group leader
 *   writes its runs' journal files itself (as_store_put_local) and sends rank 0 only the
 *   run's key and metrics; rank 0 then only fills its /summary row (as_store_put of a
 *   result with `journaled` set). A journal file whose row rank 0 never wrote is found
 *   by the next pack and by --resume like any other: the journal is the source of truth.
 *
 * Errors: AS_ERR_STORE (exit 4) when something cannot be written (the message names the
 * path and strerror), AS_ERR_ARG when another process holds the lock (naming it).
 */
#ifndef ATTNSWEEP_STORE_H
#define ATTNSWEEP_STORE_H

#include <hdf5.h>
#include <stddef.h>

#include "attnsweep/status.h"

typedef struct {
    char *path, *journal, *lock_path;
    int lock_fd;      /* -1 when not holding the lock */
    int index_fd;     /* RESULTS.h5 for the slot writes, -1 */
    haddr_t *chunk;   /* file offsets of the /summary chunks */
    size_t n_chunks;
    size_t next_slot, end_slot; /* free rows [next_slot, end_slot) of /summary */
    size_t stored;    /* runs stored by this process */
#define AS_STORE_PENDING 64
    char *pending[AS_STORE_PENDING]; /* journal files written, not yet fsynced */
    size_t n_pending;
    double synced;    /* when the journal was last fsynced */
} as_store;

/* Takes the lock of path (exit-2 error naming the holder when another process holds
 * it; a lock left by a dead process is taken over with a message on stdout), creates
 * the journal folder and removes temporaries left by interrupted writes (only now,
 * under the lock). */
as_status as_store_open(as_store *st, const char *path, as_error *err);
/* For a reader that must not read results while they are written (merge): takes a
 * shared flock on path's lock file, held in *fd until the caller closes it (-1 when there
 * is no lock file: nobody writes path), so no sweep can start writing path meanwhile.
 * AS_ERR_ARG "PATH is being written: locked by HOST PID (host pid) through PATH.lock"
 * when a live process holds the lock; AS_ERR_STORE when the lock file cannot be read. */
as_status as_store_lock_shared(const char *path, int *fd, as_error *err);
/* fsyncs the journal files written since the last call, then the journal folder. Journal
 * files are synced in batches (every 64 runs or 1 s, and before a pack): a process kill
 * loses no stored run; a power loss at most those of the last second, which --resume
 * then trains again (a row whose journal file is gone is dropped by the next pack). */
as_status as_store_sync(as_store *st, as_error *err);
/* Benchmark hook: with ATTNSWEEP_STORE_LOG=FILE set, appends "WHAT COUNT WALL CPU
 * PROCESS_CPU PID" (WHAT: put, rank 0 storing a run; wput, a worker writing its own run's
 * journal file, --journal shared; pack. Seconds of this store or pack, then the
 * process's CPU seconds so far and its pid). */
void as_store_log(const char *what, size_t count, double seconds, double cpu);
double as_store_clock(void); /* monotonic seconds */
double as_store_cpu(void);   /* this process's CPU seconds */
/* The number of run files in the journal folder. */
size_t as_store_journal_runs(const as_store *st);
/* Collective over MPI_COMM_WORLD (--journal shared): does every rank see the folder of
 * results (and so its journal folder)? Rank 0 writes a probe file holding a fresh token
 * (RESULTS.h5.tmp.probe-<host>.<pid>: its path in probe[cap], for the caller to remove
 * once every rank has looked); every other rank reads it back and creates and removes a
 * file of its own there. AS_OK on a rank that sees rank 0's token and can write;
 * AS_ERR_ARG ("not on a file system every rank sees", naming the probe) or AS_ERR_STORE
 * otherwise. The caller agrees the ranks' statuses. */
as_status as_store_probe_shared(const char *results, int rank, char *probe, size_t cap,
                                as_error *err);
/* Releases the lock (removes the lock file) and frees st. Safe on a zeroed store. */
void as_store_close(as_store *st);

#endif
