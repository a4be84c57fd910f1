/* store.c: the lock, the journal and the live /summary slots of the results store
 * (store.h); packing RESULTS.h5 is in results_file.c. */
#include "attnsweep/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/sweep.h"
#include "sweep/summary_row.h"

static char *joined(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = as_malloc(n);
    if (s) snprintf(s, n, "%s%s", a, b);
    return s;
}

static as_status store_error(as_error *err, const char *path, const char *what) {
    return as_error_set(err, AS_ERR_STORE, "%s: %s: %s", path, what, strerror(errno));
}

/* "host pid" of the lock file's previous holder ("" when empty). */
static void read_holder(int fd, char *buf, size_t cap) {
    ssize_t k = pread(fd, buf, cap - 1, 0);
    buf[k > 0 ? k : 0] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl) *nl = '\0';
}

/* Without flock (some network file systems): the holder is alive when it runs on this
 * host and its pid exists, or runs on another host (which cannot be checked). */
static int holder_alive(const char *holder) {
    char host[256] = "", me[256] = "";
    long pid = 0;
    if (sscanf(holder, "%255s %ld", host, &pid) != 2) return 0;
    gethostname(me, sizeof me - 1);
    if (strcmp(host, me) != 0) return 1;
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH);
}

static as_status take_lock(as_store *st, as_error *err) {
    char me[256] = "host", holder[512];
    gethostname(me, sizeof me - 1);
    for (int attempt = 0; attempt < 8; attempt++) {
        int fd = open(st->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return store_error(err, st->lock_path, "cannot create the lock file");
        read_holder(fd, holder, sizeof holder);
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            int no_flock = e == ENOLCK || e == EOPNOTSUPP || e == EINVAL;
            if (e == EWOULDBLOCK || (no_flock && holder[0] && holder_alive(holder))) {
                close(fd);
                return as_error_set(err, AS_ERR_ARG,
                                    "%s is in use: locked by %s (host pid) through %s; wait for that "
                                    "sweep to end or stop it", st->path,
                                    holder[0] ? holder : "another process", st->lock_path);
            }
            if (!no_flock) {
                close(fd);
                errno = e;
                return store_error(err, st->lock_path, "cannot lock");
            }
        }
        struct stat a, b; /* the holder may have removed the file as we opened it */
        if (fstat(fd, &a) != 0 || stat(st->lock_path, &b) != 0 || a.st_ino != b.st_ino ||
            a.st_dev != b.st_dev) {
            close(fd);
            continue;
        }
        read_holder(fd, holder, sizeof holder);
        if (holder[0])
            printf("attnsweep: taking over the lock %s left by %s (host pid), no longer running\n",
                   st->lock_path, holder);
        char line[320];
        int n = snprintf(line, sizeof line, "%s %ld\n", me, (long)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n) {
            as_status s = store_error(err, st->lock_path, "cannot write the lock file");
            close(fd);
            return s;
        }
        st->lock_fd = fd;
        return AS_OK;
    }
    return as_error_set(err, AS_ERR_ARG, "%s: the lock file keeps changing; is another sweep "
                        "starting on it?", st->lock_path);
}

/* One attempt of as_store_lock_shared on the lock file lock: 1 done, 0 try again (the
 * file was replaced as it was opened). */
static int lock_shared_once(const char *path, const char *lock, int *out, as_status *st,
                            as_error *err) {
    int fd = open(lock, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) *st = store_error(err, lock, "cannot open the lock file");
        return 1; /* no lock file: nobody writes path */
    }
    char holder[512];
    read_holder(fd, holder, sizeof holder);
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
        int e = errno, no_flock = e == ENOLCK || e == EOPNOTSUPP || e == EINVAL;
        if (e == EWOULDBLOCK || (no_flock && holder[0] && holder_alive(holder)))
            *st = as_error_set(err, AS_ERR_ARG, "%s is being written: locked by %s (host pid) "
                               "through %s", path, holder[0] ? holder : "another process", lock);
        else if (!no_flock) {
            errno = e;
            *st = store_error(err, lock, "cannot lock");
        }
        close(fd);
        return 1;
    }
    struct stat a, b;
    if (fstat(fd, &a) != 0 || stat(lock, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
        close(fd);
        return stat(lock, &b) != 0; /* removed: nobody writes path; replaced: again */
    }
    *out = fd;
    return 1;
}

as_status as_store_lock_shared(const char *path, int *fd, as_error *err) {
    *fd = -1;
    char *lock = joined(path, ".lock");
    if (!lock) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    as_status st = AS_OK;
    int attempt = 0;
    while (attempt++ < 8 && !lock_shared_once(path, lock, fd, &st, err)) {}
    if (attempt > 8 && !st)
        st = as_error_set(err, AS_ERR_ARG, "%s: the lock file keeps changing; is a sweep starting "
                          "on it?", lock);
    as_free(lock);
    return st;
}

/* Removes NAME.tmp.* left by interrupted writes, under the lock. */
static void remove_temporaries(const char *pattern) {
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) return;
    for (size_t i = 0; i < g.gl_pathc; i++)
        if (unlink(g.gl_pathv[i]) == 0)
            printf("attnsweep: removed %s (left by an interrupted write)\n", g.gl_pathv[i]);
    globfree(&g);
}

as_status as_store_open(as_store *st, const char *path, as_error *err) {
    memset(st, 0, sizeof *st);
    st->lock_fd = st->index_fd = -1;
    st->synced = as_store_clock();
    st->path = as_strdup(path);
    st->journal = joined(path, ".journal");
    st->lock_path = joined(path, ".lock");
    char *p1 = joined(path, ".tmp.*"), *p2 = st->journal ? joined(st->journal, "/*.tmp.*") : NULL;
    as_status s = AS_OK;
    if (!st->path || !st->journal || !st->lock_path || !p1 || !p2)
        s = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    if (!s) s = take_lock(st, err);
    if (!s && mkdir(st->journal, 0755) != 0 && errno != EEXIST)
        s = store_error(err, st->journal, "cannot create the journal folder");
    if (!s) {
        as_h5_crash_point("locked");
        remove_temporaries(p1);
        remove_temporaries(p2);
        fflush(stdout);
    }
    as_free(p1);
    as_free(p2);
    if (s) as_store_close(st);
    return s;
}

void as_store_close(as_store *st) {
    as_store_sync(st, NULL);
    if (st->index_fd >= 0) close(st->index_fd);
    if (st->lock_fd >= 0 && st->journal) rmdir(st->journal); /* only when empty */
    if (st->lock_fd >= 0) { /* remove first: a waiting process then finds a fresh file */
        unlink(st->lock_path);
        close(st->lock_fd);
    }
    as_free(st->path);
    as_free(st->journal);
    as_free(st->lock_path);
    as_free(st->chunk);
    memset(st, 0, sizeof *st);
    st->lock_fd = st->index_fd = -1;
}

/* ---- the journal -------------------------------------------------------------- */

size_t as_store_journal_runs(const as_store *st) {
    DIR *d = opendir(st->journal);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += as_store_is_key(e->d_name);
    if (d) closedir(d);
    return n;
}

char *as_store_journal_file(const char *journal, const char *key) {
    size_t n = strlen(journal) + strlen(key) + 8;
    char *s = as_malloc(n);
    if (s) snprintf(s, n, "%s/%s.h5", journal, key);
    return s;
}

int as_store_is_key(const char *name) {
    size_t n = strlen(name);
    if (n != AS_RUN_KEY_HEX - 1 + 3 || strcmp(name + AS_RUN_KEY_HEX - 1, ".h5") != 0) return 0;
    for (size_t i = 0; i < AS_RUN_KEY_HEX - 1; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return 0;
    return 1;
}

/* The summary row of the open journal file f (named file in messages); AS_ERR_DATA when
 * it has none or when the run key inside differs from the one its name says. */
static as_status journal_row(hid_t f, const char *file, as_summary_row *row, as_error *err) {
    hid_t ds = H5Dopen2(f, "summary_row", H5P_DEFAULT), t = as_summary_type();
    row->test_loss = row->test_accuracy = row->kept_val_loss = row->kept_val_accuracy = (double)NAN;
    herr_t rc = ds < 0 ? -1 : H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, row);
    H5Tclose(t);
    if (rc >= 0) { /* a journal file of an older version: the kept figures from /run */
        hid_t ft = H5Dget_type(ds);
        hid_t run = ft >= 0 && H5Tget_member_index(ft, "kept_val_loss") < 0 &&
                            H5Lexists(f, "run", H5P_DEFAULT) > 0
                        ? H5Gopen2(f, "run", H5P_DEFAULT) : -1;
        if (ft >= 0) as_summary_fill_old(ft, run, row);
        if (run >= 0) H5Gclose(run);
        if (ft >= 0) H5Tclose(ft);
    }
    if (ds >= 0) H5Dclose(ds);
    if (rc < 0) return as_error_set(err, AS_ERR_DATA, "%s: no readable /summary_row", file);
    row->key[AS_SUMMARY_KEY_MAX - 1] = row->name[AS_SUMMARY_NAME_MAX - 1] = '\0';
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (as_store_is_key(base) && strncmp(base, row->key, AS_RUN_KEY_HEX - 1) != 0)
        return as_error_set(err, AS_ERR_DATA, "%s holds run %.64s, not the run its name says (a "
                            "renamed or copied journal file?)", file, row->key);
    return AS_OK;
}

as_status as_store_read_row(const char *file, as_summary_row *row, as_error *err) {
    hid_t f = as_h5_open_read(file, err);
    if (f < 0) return AS_ERR_DATA;
    as_status st = journal_row(f, file, row, err);
    H5Fclose(f);
    return st;
}

void as_store_warn_ignored(const char *msg, const char *what) {
    fprintf(stderr, "attnsweep: %s: %s\n", msg, what);
    fflush(stderr);
}

/* Every journal row replaces the index row of its key among rows[0..*n) or is appended
 * (*cap grows): the journal is newer (a run retried since the last pack), as for pack. */
static as_status add_journal_rows(const char *journal, as_summary_row **rows, size_t *n,
                                  size_t *cap, as_error *err) {
    DIR *d = opendir(journal);
    if (!d) return AS_OK; /* no journal: nothing pending */
    size_t known = *n;
    as_status st = AS_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (!as_store_is_key(e->d_name)) continue;
        if (*n == *cap) {
            size_t nc = *cap ? 2 * *cap : 64;
            as_summary_row *nr = as_realloc(*rows, nc * sizeof *nr);
            if (!nr) {
                st = as_error_set(err, AS_ERR_NOMEM, "out of memory for the journal rows");
                break;
            }
            *rows = nr;
            *cap = nc;
        }
        char path[4352];
        snprintf(path, sizeof path, "%s/%s", journal, e->d_name);
        as_error bad;
        if (as_store_read_row(path, &(*rows)[*n], &bad) != AS_OK) {
            as_store_warn_ignored(bad.msg, "ignored, not a stored run");
            continue;
        }
        size_t i = 0;
        while (i < known && strncmp((*rows)[i].key, e->d_name, AS_RUN_KEY_HEX - 1)) i++;
        if (i < known) (*rows)[i] = (*rows)[*n];
        else (*n)++;
    }
    closedir(d);
    return st;
}

as_status as_store_rows(const char *path, as_summary_row **rows, size_t *n, as_error *err) {
    hid_t f = as_h5_open_read(path, err);
    if (f < 0) return AS_ERR_DATA;
    as_status st = as_summary_read(f, rows, n, err);
    H5Fclose(f);
    if (st) return as_error_prefix(err, "%s", path);
    size_t cap = *n;
    char *journal = joined(path, ".journal");
    if (!journal) st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    else st = add_journal_rows(journal, rows, n, &cap, err);
    as_free(journal);
    if (st) {
        as_free(*rows);
        *rows = NULL;
        *n = 0;
    }
    return st;
}

hid_t as_store_open_run(hid_t f, const char *path, const char *key) {
    char *journal = joined(path, ".journal"); /* the journal first: it is newer (as for pack) */
    char *file = journal ? as_store_journal_file(journal, key) : NULL;
    as_free(journal);
    hid_t jf = file && access(file, R_OK) == 0 ? as_h5_open_read(file, NULL) : -1;
    as_summary_row row;
    if (jf >= 0 && journal_row(jf, file, &row, NULL) != AS_OK) { /* not this run's file */
        H5Fclose(jf);
        jf = -1;
    }
    as_free(file);
    if (jf >= 0) {
        hid_t g = H5Gopen2(jf, "run", H5P_DEFAULT);
        H5Fclose(jf); /* weak close: the file stays open until g is closed */
        if (g >= 0) return g;
    }
    char gpath[AS_RUN_KEY_HEX + 16];
    snprintf(gpath, sizeof gpath, "/variants/%s", key);
    if (H5Lexists(f, "variants", H5P_DEFAULT) > 0 && H5Lexists(f, gpath, H5P_DEFAULT) > 0)
        return H5Gopen2(f, gpath, H5P_DEFAULT);
    return -1;
}

/* ---- storing one run ---------------------------------------------------------- */

as_status as_store_sync(as_store *st, as_error *err) {
    as_status rc = AS_OK;
    for (size_t i = 0; i < st->n_pending; i++) {
        int fd = rc ? -1 : open(st->pending[i], O_RDONLY | O_CLOEXEC);
        if (!rc && (fd < 0 || fsync(fd) != 0)) rc = store_error(err, st->pending[i], "cannot fsync");
        if (fd >= 0) close(fd);
        as_free(st->pending[i]);
    }
    int had = st->n_pending > 0;
    st->n_pending = 0;
    st->synced = as_store_clock();
    int dfd = had && !rc ? open(st->journal, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL) rc = store_error(err, st->journal, "cannot fsync");
        close(dfd);
    }
    return rc;
}

/* Benchmark hook (scripts/bench_store.sh): with ATTNSWEEP_STORE_LOG=FILE, each store and
 * pack appends "put|wput|pack COUNT SECONDS CPU PROCESS_CPU PID" to FILE. */
static double clock_of(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double as_store_clock(void) { return clock_of(CLOCK_MONOTONIC); }
double as_store_cpu(void) { return clock_of(CLOCK_PROCESS_CPUTIME_ID); }

void as_store_log(const char *what, size_t count, double seconds, double cpu) {
    const char *path = getenv("ATTNSWEEP_STORE_LOG");
    FILE *f = path && path[0] ? fopen(path, "a") : NULL;
    if (!f) return;
    fprintf(f, "%s %zu %.9f %.9f %.6f %ld\n", what, count, seconds, cpu, as_store_cpu(), (long)getpid());
    fclose(f);
}

/* Builds run r's journal file (group /run and dataset /summary_row) in memory and writes
 * it to journal/<key>.h5: temporary, then rename; fsynced at once when sync (else the
 * caller batches it: *file, when given, receives the path). */
static as_status write_journal(const char *journal, const as_sweep *s, const as_result *r,
                               const as_summary_row *row, int sync, char **file_out, as_error *err) {
    hid_t f = as_h5_mem_create(err);
    if (f < 0) return AS_ERR_NOMEM;
    as_status rc = as_results_write_run(f, "/run", s, r, err);
    if (!rc) {
        hsize_t one = 1;
        hid_t t = as_summary_type(), sp = H5Screate_simple(1, &one, NULL);
        hid_t dcpl = as_h5_create_plist(H5P_DATASET_CREATE);
        hid_t ds = H5Dcreate2(f, "summary_row", t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Pclose(dcpl);
        if (ds < 0 || H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, row) < 0)
            rc = as_error_set(err, AS_ERR_NOMEM, "/summary_row: cannot build it in memory");
        if (ds >= 0) H5Dclose(ds);
        H5Sclose(sp);
        H5Tclose(t);
    }
    char *file = rc ? NULL : as_store_journal_file(journal, r->key);
    if (!rc && !file) rc = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    if (rc) {
        H5Fclose(f);
        return rc;
    }
    rc = as_h5_mem_commit(f, file, "journal", sync, err);
    if (!rc && file_out) *file_out = file;
    else as_free(file);
    return rc;
}

static as_status store_run(as_store *st, const as_sweep *s, const as_result *r, as_error *err) {
    as_summary_row row;
    as_results_fill_row(&row, s, r);
    as_status rc = AS_OK;
    if (!r->journaled) { /* else its leader wrote and fsynced the file (--journal shared) */
        char *file = NULL;
        rc = write_journal(st->journal, s, r, &row, 0, &file, err); /* fsynced in batches */
        if (rc) return rc;
        if (st->n_pending < AS_STORE_PENDING) st->pending[st->n_pending++] = file;
        else as_free(file);
        if (st->n_pending == AS_STORE_PENDING || as_store_clock() - st->synced >= 1.0)
            rc = as_store_sync(st, err);
        if (rc) return rc;
    }
    as_h5_crash_point("index-update");
    if (st->index_fd >= 0 && st->next_slot < st->end_slot) {
        size_t k = st->next_slot, per = AS_SUMMARY_CHUNK_ROWS;
        off_t at = (off_t)st->chunk[k / per] + (off_t)((k % per) * sizeof row);
        if (pwrite(st->index_fd, &row, sizeof row, at) != (ssize_t)sizeof row)
            return store_error(err, st->path, "cannot write the /summary row (the run is in the journal)");
        st->next_slot++;
    }
    return AS_OK;
}

as_status as_store_put_local(const char *results, const as_sweep *s, as_result *r, as_error *err) {
    double t0 = as_store_clock(), c0 = as_store_cpu();
    as_summary_row row;
    as_results_fill_row(&row, s, r);
    char *journal = joined(results, ".journal");
    as_status rc = journal ? write_journal(journal, s, r, &row, 1, NULL, err)
                           : as_error_set(err, AS_ERR_NOMEM, "out of memory");
    as_free(journal);
    if (rc) return rc;
    static size_t stored;
    as_store_log("wput", ++stored, as_store_clock() - t0, as_store_cpu() - c0);
    as_h5_crash_point("worker-journaled"); /* in the journal; rank 0 not told yet */
    as_result_free(r);
    r->journaled = 1;
    return AS_OK;
}

/* ---- --journal shared: does every rank see the results folder? ----------------- */

/* RESULTS.h5.tmp.probe-<host>.<pid>: named like a temporary, so one a killed job left is
 * removed by the next lock holder. */
static void probe_name(const char *results, char *buf, size_t cap) {
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(buf, cap, "%s.tmp.probe-%.200s.%ld", results, host, (long)getpid());
}

as_status as_store_probe_shared(const char *results, int rank, char *probe, size_t cap,
                                as_error *err) {
    char token[64] = "";
    probe_name(results, probe, cap);
    as_status st = AS_OK;
    if (rank == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(token, sizeof token, "%ld.%09ld.%ld", (long)ts.tv_sec, ts.tv_nsec, (long)getpid());
        FILE *f = fopen(probe, "w");
        const int wrote = f && fputs(token, f) >= 0;
        if (f && fclose(f) != 0) f = NULL;
        if (!f || !wrote) {
            st = store_error(err, probe, "cannot write the probe file");
            token[0] = '\0'; /* tells the other ranks */
        }
    }
    int n = (int)strlen(probe) + 1;
    char *theirs = rank == 0 ? NULL : as_malloc(cap);
    if ((rank && !theirs) || MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
        n < 1 || (size_t)n > cap ||
        MPI_Bcast(rank ? theirs : probe, n, MPI_CHAR, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
        MPI_Bcast(token, (int)sizeof token, MPI_CHAR, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
        as_free(theirs);
        return as_error_set(err, AS_ERR_MPI, "broadcast of the results folder's probe failed");
    }
    if (rank == 0) return st;
    if (!token[0]) { /* rank 0 could not write it: its own error says why */
        as_free(theirs);
        return as_error_set(err, AS_ERR_ARG, "rank 0 could not write its probe file %s beside "
                            "the results", probe);
    }
    char seen[64] = "";
    FILE *f = fopen(theirs, "r");
    size_t k = f ? fread(seen, 1, sizeof seen - 1, f) : 0;
    seen[k] = '\0';
    if (f) fclose(f);
    if (!f || strcmp(seen, token) != 0) {
        st = as_error_set(err, AS_ERR_ARG, "the folder of %s is not on a file system every rank "
                          "sees: rank 0's probe file %s is %s here", results, theirs,
                          f ? "another file" : "missing");
        as_free(theirs);
        return st;
    }
    as_free(theirs);
    /* this rank must create files there too (its journal files) */
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return store_error(err, probe, "cannot create a file beside the results");
    close(fd);
    unlink(probe);
    return AS_OK;
}

as_status as_store_put(as_store *st, const as_sweep *s, const as_result *r, as_error *err) {
    double t0 = as_store_clock(), c0 = as_store_cpu();
    as_status rc = store_run(st, s, r, err);
    if (!rc) as_store_log("put", ++st->stored, as_store_clock() - t0, as_store_cpu() - c0);
    if (!rc) as_h5_crash_point("after-run");
    return rc;
}

as_status as_store_map_slots(as_store *st, size_t first, size_t n_slots, as_error *err) {
    if (st->index_fd >= 0) close(st->index_fd);
    st->index_fd = -1;
    as_free(st->chunk);
    st->chunk = NULL;
    st->next_slot = st->end_slot = first;
    if (n_slots == 0) return AS_OK;
    size_t total = first + n_slots, per = AS_SUMMARY_CHUNK_ROWS;
    st->n_chunks = (total + per - 1) / per;
    if (!(st->chunk = as_calloc(st->n_chunks, sizeof *st->chunk)))
        return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    hid_t f = as_h5_open_read(st->path, err);
    hid_t ds = f < 0 ? -1 : H5Dopen2(f, "summary", H5P_DEFAULT);
    as_status rc = ds < 0 ? as_error_set(err, AS_ERR_STORE, "%s: /summary: cannot open it", st->path) : AS_OK;
    for (size_t c = 0; !rc && c < st->n_chunks; c++) {
        hsize_t at[1] = {(hsize_t)(c * per)}, size = 0;
        unsigned mask = 0;
        haddr_t addr = HADDR_UNDEF;
        if (H5Dget_chunk_info_by_coord(ds, at, &mask, &addr, &size) < 0 || addr == HADDR_UNDEF ||
            size != per * sizeof(as_summary_row))
            rc = as_error_set(err, AS_ERR_INTERNAL, "%s: /summary chunk %zu is not allocated", st->path, c);
        st->chunk[c] = addr;
    }
    if (ds >= 0) H5Dclose(ds);
    if (f >= 0) H5Fclose(f);
    if (!rc && (st->index_fd = open(st->path, O_WRONLY | O_CLOEXEC)) < 0)
        rc = store_error(err, st->path, "cannot open for writing");
    if (!rc) st->end_slot = total;
    return rc;
}
