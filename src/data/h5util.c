/* h5util.c: small HDF5 helpers (see h5util.h). */
#include "attnsweep/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "attnsweep/alloc.h"

void as_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ---- test hooks: ATTNSWEEP_TEST_CRASH=NAME[:N] raises SIGKILL, ATTNSWEEP_TEST_STOP=NAME[:N]
 * SIGSTOP, the N-th time (default 1) the process reaches the point NAME (see h5util.h). */
typedef struct {
    const char *env;
    int sig, parsed, want, hits;
    char name[64];
} hook;

/* ATTNSWEEP_TEST_HOOK_RANK=R: the hooks fire in MPI world rank R only (from the launcher's
 * environment: Open MPI's OMPI_COMM_WORLD_RANK, else PMIx's PMIX_RANK; a process without
 * either is rank 0). */
static int hook_rank_matches(void) {
    const char *want = getenv("ATTNSWEEP_TEST_HOOK_RANK");
    if (!want || !want[0]) return 1;
    const char *me = getenv("OMPI_COMM_WORLD_RANK");
    if (!me) me = getenv("PMIX_RANK");
    return atoi(want) == (me ? atoi(me) : 0);
}

static volatile int *hold_flag; /* ATTNSWEEP_TEST_HOLD waits until it is non-zero */

static void hook_hit(hook *h, const char *name) {
    if (!h->parsed) {
        h->parsed = 1;
        const char *e = hook_rank_matches() ? getenv(h->env) : NULL;
        snprintf(h->name, sizeof h->name, "%s", e ? e : "");
        char *colon = strchr(h->name, ':');
        h->want = 1;
        if (colon) {
            *colon = '\0';
            h->want = atoi(colon + 1) > 0 ? atoi(colon + 1) : 1;
        }
    }
    if (!h->name[0] || strcmp(h->name, name) != 0 || ++h->hits != h->want) return;
    fprintf(stderr, "attnsweep: test hook %s: %s at %s (%d)\n", h->env,
            h->sig ? strsignal(h->sig) : "holding until a stop signal", name, h->hits);
    fflush(stderr);
    if (h->sig) {
        raise(h->sig);
        return;
    }
    const struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 60000 && !(hold_flag && *hold_flag); i++) nanosleep(&tick, NULL);
}

void as_h5_hold_release_on(volatile int *flag) { hold_flag = flag; }

void as_h5_crash_point(const char *name) {
    static hook kill_hook = {"ATTNSWEEP_TEST_CRASH", SIGKILL, 0, 1, 0, ""};
    static hook stop_hook = {"ATTNSWEEP_TEST_STOP", SIGSTOP, 0, 1, 0, ""};
    static hook hold_hook = {"ATTNSWEEP_TEST_HOLD", 0, 0, 1, 0, ""};
    hook_hit(&kill_hook, name);
    hook_hit(&stop_hook, name);
    hook_hit(&hold_hook, name);
}

static void crash_at(const char *tag, const char *point) {
    if (!tag) return;
    char name[96];
    snprintf(name, sizeof name, "%s-%s", tag, point);
    as_h5_crash_point(name);
}

/* dense: the root group tracks its attributes' creation order, which gives it a
 * version-2 object header (under the same version-0 superblock), where HDF5 moves an
 * attribute too large for a header message (64 KiB) to dense storage by itself. */
static hid_t mem_create(int dense, as_error *err) {
    as_h5_quiet();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* in memory only: HDF5 never writes the disk. Grown 64 KiB at a time: a run's file is
     * ~0.2 MB, and each new block is zeroed (1 MiB blocks cost 0.4 ms a store, measured) */
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    /* 1.8 object formats (compact groups) under a version-0 superblock */
    H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_V18);
    hid_t fcpl = as_h5_create_plist(H5P_FILE_CREATE); /* the root group: no times either */
    if (dense) H5Pset_attr_creation_order(fcpl, H5P_CRT_ORDER_TRACKED);
    static unsigned long serial = 0;
    char name[64];
    snprintf(name, sizeof name, "attnsweep-mem-%ld-%lu", (long)getpid(), serial++);
    hid_t f = H5Fcreate(name, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fapl);
    H5Pclose(fcpl);
    if (f < 0) as_error_set(err, AS_ERR_NOMEM, "cannot create an HDF5 file in memory");
    return f;
}

hid_t as_h5_mem_create(as_error *err) { return mem_create(0, err); }

/* The parent folder of path (for fsync after rename). */
static void parent_dir(const char *path, char *dir, size_t cap) {
    snprintf(dir, cap, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(dir, cap, ".");
}

static as_status store_error(as_error *err, const char *path, const char *what, int e) {
    return as_error_set(err, AS_ERR_STORE, "%s: %s: %s", path, what, strerror(e));
}

as_status as_write_file_durable(const char *path, const void *buf, size_t n, const char *crash_tag,
                                int sync, as_error *err) {
    char host[64] = "host", *tmp = NULL, dir[4096];
    gethostname(host, sizeof host - 1);
    size_t cap = strlen(path) + 96;
    if (!(tmp = as_malloc(cap))) return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, cap, "%s.tmp.%s.%ld", path, host, (long)getpid());
    struct stat old;
    int had = stat(path, &old) == 0;
    as_status st = AS_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = store_error(err, tmp, "cannot create", errno);
        as_free(tmp);
        return st;
    }
    const char *p = buf;
    size_t left = n;
    while (left > 0 && !st) {
        ssize_t k = write(fd, p, left);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) st = store_error(err, tmp, "cannot write", k < 0 ? errno : EIO);
        else p += k, left -= (size_t)k;
    }
    if (!st) crash_at(crash_tag, "temp-written");
    if (!st && had && fchmod(fd, old.st_mode & 07777) != 0) st = store_error(err, tmp, "cannot chmod", errno);
    if (!st && sync && fsync(fd) != 0) st = store_error(err, tmp, "cannot fsync", errno);
    if (close(fd) != 0 && !st) st = store_error(err, tmp, "cannot close", errno);
    if (!st) crash_at(crash_tag, "before-rename");
    if (!st && rename(tmp, path) != 0) st = store_error(err, path, "cannot rename the temporary into place", errno);
    if (st) {
        unlink(tmp);
        as_free(tmp);
        return st;
    }
    as_free(tmp);
    if (!sync) return AS_OK;
    parent_dir(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { /* make the rename durable (EINVAL: a file system without directory fsync) */
        if (fsync(dfd) != 0 && errno != EINVAL) st = store_error(err, dir, "cannot fsync the folder", errno);
        close(dfd);
    }
    return st;
}

as_status as_h5_mem_commit(hid_t f, const char *path, const char *crash_tag, int sync, as_error *err) {
    as_status st = AS_OK;
    char *buf = NULL;
    ssize_t n = H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(f, NULL, 0);
    if (n <= 0) st = as_error_set(err, AS_ERR_INTERNAL, "%s: cannot serialise the HDF5 file", path);
    else if (!(buf = as_malloc((size_t)n)))
        st = as_error_set(err, AS_ERR_NOMEM, "%s: out of memory for %zd bytes", path, n);
    else if (H5Fget_file_image(f, buf, (size_t)n) != n)
        st = as_error_set(err, AS_ERR_INTERNAL, "%s: cannot serialise the HDF5 file", path);
    H5Fclose(f); /* in memory: cannot fail on the disk */
    if (!st) st = as_write_file_durable(path, buf, (size_t)n, crash_tag, sync, err);
    as_free(buf);
    return st;
}

static as_status writer_open(as_h5_writer *w, const char *path, int dense, as_error *err) {
    w->tmp = NULL;
    w->path = as_strdup(path);
    w->file = -1;
    if (!w->path) return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", path);
    w->file = mem_create(dense, err);
    if (w->file < 0) {
        as_free(w->path);
        w->path = NULL;
        return as_error_prefix(err, "%s", path);
    }
    return AS_OK;
}

as_status as_h5_writer_open(as_h5_writer *w, const char *path, as_error *err) {
    return writer_open(w, path, 0, err);
}

as_status as_h5_writer_open_dense(as_h5_writer *w, const char *path, as_error *err) {
    return writer_open(w, path, 1, err);
}

as_status as_h5_writer_commit(as_h5_writer *w, as_error *err) {
    as_status st = as_h5_mem_commit(w->file, w->path, NULL, 1, err);
    as_free(w->path);
    w->path = NULL;
    w->file = -1;
    return st;
}

void as_h5_writer_abort(as_h5_writer *w) {
    if (w->file >= 0) H5Fclose(w->file);
    as_free(w->path);
    as_free(w->tmp);
    w->path = w->tmp = NULL;
    w->file = -1;
}

/* The core driver refuses to open an image under the name of a file that exists: the
 * image is opened under a name that cannot exist. */
#define IMAGE_NAME "/proc/self/attnsweep-file-image"
static char *g_image_path;
static const void *g_image;
static size_t g_image_n;

as_status as_h5_image_set(const char *path, const void *buf, size_t n, as_error *err) {
    as_h5_image_clear();
    if (!(g_image_path = as_strdup(path))) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    g_image = buf;
    g_image_n = n;
    return AS_OK;
}

void as_h5_image_clear(void) {
    as_free(g_image_path);
    g_image_path = NULL;
    g_image = NULL;
    g_image_n = 0;
}

int as_h5_image_covers(const char *path) { return g_image_path && !strcmp(path, g_image_path); }

static hid_t open_image(const char *path, as_error *err) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t f = -1;
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 &&
        H5Pset_file_image(fapl, (void *)g_image, g_image_n) >= 0)
        f = H5Fopen(IMAGE_NAME, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) as_error_set(err, AS_ERR_DATA, "%s: not an HDF5 file (or unreadable)", path);
    return f;
}

/* 1 when another process holds an exclusive lock on path: an HDF5 writer (HDF5 locks
 * files it opens for writing with flock) is changing it in place. Where locks are not
 * supported (some network file systems) nothing can be known: 0. */
static int being_written(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int busy = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (!busy) flock(fd, LOCK_UN);
    close(fd);
    return busy;
}

hid_t as_h5_open_read(const char *path, as_error *err) {
    as_h5_quiet();
    if (as_h5_image_covers(path)) return open_image(path, err);
    if (access(path, F_OK) != 0) {
        if (errno == ENOENT) as_error_set(err, AS_ERR_DATA, "%s: no such file", path);
        else as_error_set(err, AS_ERR_DATA, "%s: cannot open (%s)", path, strerror(errno));
        return -1;
    }
    if (being_written(path)) {
        as_error_set(err, AS_ERR_DATA, "%s: another process has it open for writing (it holds "
                     "the HDF5 write lock); reading it now could see half-written data: wait "
                     "for the writer to close it", path);
        return -1;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    H5Pset_file_locking(fapl, 0, 1);
#endif
    hid_t f = -1;
    if (H5Fis_hdf5(path) > 0) f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) as_error_set(err, AS_ERR_DATA, "%s: not an HDF5 file (or unreadable)", path);
    return f;
}

static hid_t lcpl_intermediate(void) {
    hid_t l = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(l, 1);
    return l;
}

hid_t as_h5_create_plist(hid_t cls) {
    hid_t p = H5Pcreate(cls);
    if (p >= 0) H5Pset_obj_track_times(p, 0);
    return p;
}

hid_t as_h5_group(hid_t loc, const char *name, as_error *err) {
    hid_t l = lcpl_intermediate(), gcpl = as_h5_create_plist(H5P_GROUP_CREATE);
    hid_t g = H5Gcreate2(loc, name, l, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    H5Pclose(l);
    if (g < 0) as_error_set(err, AS_ERR_IO, "%s: cannot create group", name);
    return g;
}

as_status as_h5_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                      const hsize_t *dims, const void *data, int compress, as_error *err) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t l = lcpl_intermediate(), dcpl = as_h5_create_plist(H5P_DATASET_CREATE);
    size_t bytes = H5Tget_size(ftype);
    for (int i = 0; i < rank; i++) bytes *= (size_t)dims[i];
    /* shuffle + deflate level 1 in chunks of at most ~1 MiB: on attention dumps level 1 costs
     * ~25% less time than level 4 for a file 1% larger (scripts/bench_store.sh, README) */
    if (compress && bytes >= 16384) {
        hsize_t chunk[8];
        size_t row = bytes / (dims[0] ? (size_t)dims[0] : 1);
        for (int i = 0; i < rank; i++) chunk[i] = dims[i];
        hsize_t rows = (hsize_t)((1u << 20) / (row ? row : 1));
        if (rows < 1) rows = 1;
        if (chunk[0] > rows) chunk[0] = rows;
        H5Pset_chunk(dcpl, rank, chunk);
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, 1);
    }
    hid_t ds = sp < 0 ? -1 : H5Dcreate2(loc, name, ftype, sp, l, dcpl, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (ds >= 0) H5Dclose(ds);
    if (sp >= 0) H5Sclose(sp);
    H5Pclose(dcpl);
    H5Pclose(l);
    if (rc < 0) return as_error_set(err, AS_ERR_IO, "%s: cannot write dataset", name);
    return AS_OK;
}

static as_status write_ds(hid_t loc, const char *name, int rank, const hsize_t *dims,
                          hid_t ftype, hid_t mtype, const void *data, as_error *err) {
    return as_h5_write(loc, name, ftype, mtype, rank, dims, data, 0, err);
}

as_status as_h5_write_float(hid_t loc, const char *name, int rank, const hsize_t *dims,
                            const float *data, as_error *err) {
    return write_ds(loc, name, rank, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data, err);
}

as_status as_h5_write_int(hid_t loc, const char *name, int rank, const hsize_t *dims,
                          const int *data, as_error *err) {
    return write_ds(loc, name, rank, dims, H5T_STD_I32LE, H5T_NATIVE_INT, data, err);
}

as_status as_h5_write_double(hid_t loc, const char *name, int rank, const hsize_t *dims,
                             const double *data, as_error *err) {
    return write_ds(loc, name, rank, dims, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data, err);
}

static as_status write_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype,
                            hid_t space, const void *data, as_error *err) {
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, mtype, data);
    if (a >= 0) H5Aclose(a);
    if (rc < 0) return as_error_set(err, AS_ERR_IO, "attribute %s: cannot write", name);
    return AS_OK;
}

as_status as_h5_attr_string(hid_t obj, const char *name, const char *value, as_error *err) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    as_status st = write_attr(obj, name, t, t, sp, &value, err);
    H5Sclose(sp);
    H5Tclose(t);
    return st;
}

as_status as_h5_attr_int(hid_t obj, const char *name, int64_t value, as_error *err) {
    hid_t sp = H5Screate(H5S_SCALAR);
    long long v = (long long)value;
    as_status st = write_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, sp, &v, err);
    H5Sclose(sp);
    return st;
}

as_status as_h5_attr_int32(hid_t obj, const char *name, int value, as_error *err) {
    hid_t sp = H5Screate(H5S_SCALAR);
    as_status st = write_attr(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, sp, &value, err);
    H5Sclose(sp);
    return st;
}

as_status as_h5_attr_ints(hid_t obj, const char *name, const int *v, size_t n, as_error *err) {
    hsize_t d = n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    as_status st = write_attr(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, sp, v, err);
    H5Sclose(sp);
    return st;
}

as_status as_h5_attr_double(hid_t obj, const char *name, double value, as_error *err) {
    hid_t sp = H5Screate(H5S_SCALAR);
    as_status st = write_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sp, &value, err);
    H5Sclose(sp);
    return st;
}

int as_h5_has_attr(hid_t obj, const char *name) { return H5Aexists(obj, name) > 0; }

/* Opens attribute `name` and checks its type class; -1 with err set otherwise. */
static hid_t open_attr(hid_t obj, const char *name, H5T_class_t want, const char *what,
                       as_error *err) {
    if (H5Aexists(obj, name) <= 0) {
        as_error_set(err, AS_ERR_DATA, "attribute '%s' is missing", name);
        return -1;
    }
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a < 0 ? -1 : H5Aget_type(a);
    H5T_class_t c = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    if (t >= 0) H5Tclose(t);
    int ok = c == want || (want == H5T_FLOAT && c == H5T_INTEGER);
    if (!ok) {
        if (a >= 0) H5Aclose(a);
        as_error_set(err, AS_ERR_DATA, "attribute '%s' is not %s", name, what);
        return -1;
    }
    return a;
}

/* The number of elements of attribute a (-1 when unreadable). */
static hssize_t attr_npoints(hid_t a) {
    hid_t sp = H5Aget_space(a);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    if (sp >= 0) H5Sclose(sp);
    return n;
}

as_status as_h5_read_attr_string(hid_t obj, const char *name, char **out, as_error *err) {
    *out = NULL;
    hid_t a = open_attr(obj, name, H5T_STRING, "a string", err);
    if (a < 0) return AS_ERR_DATA;
    hssize_t npts = attr_npoints(a);
    if (npts != 1) { /* one buffer holds one string: an array would overflow it */
        H5Aclose(a);
        return as_error_set(err, AS_ERR_DATA, "attribute '%s' is not a single string (%lld values)",
                            name, (long long)npts);
    }
    hid_t ft = H5Aget_type(a);
    as_status st = AS_OK;
    if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0 || !s) {
            st = as_error_set(err, AS_ERR_DATA, "attribute '%s': cannot read", name);
        } else {
            *out = as_strdup(s);
            H5free_memory(s);
            if (!*out) st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(ft);
        char *s = n && n < ((size_t)1 << 30) ? as_calloc(n + 1, 1) : NULL;
        if (!s) {
            st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
        } else if (H5Aread(a, ft, s) < 0) {
            as_free(s);
            st = as_error_set(err, AS_ERR_DATA, "attribute '%s': cannot read", name);
        } else {
            *out = s;
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    return st;
}

/* what: "an integer"; noun: "integer" (for "is not a single integer"). */
static as_status read_scalar(hid_t obj, const char *name, H5T_class_t cls, const char *what,
                             const char *noun, hid_t mtype, void *out, as_error *err) {
    hid_t a = open_attr(obj, name, cls, what, err);
    if (a < 0) return AS_ERR_DATA;
    hssize_t n = attr_npoints(a);
    herr_t rc = n == 1 ? H5Aread(a, mtype, out) : -1;
    H5Aclose(a);
    if (n != 1)
        return as_error_set(err, AS_ERR_DATA, "attribute '%s' is not a single %s (%lld values)",
                            name, noun, (long long)n);
    if (rc < 0)
        return as_error_set(err, AS_ERR_DATA, "attribute '%s': cannot read it as %s", name, what);
    return AS_OK;
}

as_status as_h5_read_attr_int(hid_t obj, const char *name, int64_t *out, as_error *err) {
    long long v = 0;
    as_status st = read_scalar(obj, name, H5T_INTEGER, "an integer", "integer", H5T_NATIVE_LLONG,
                               &v, err);
    if (st == AS_OK) *out = (int64_t)v;
    return st;
}

as_status as_h5_read_attr_double(hid_t obj, const char *name, double *out, as_error *err) {
    return read_scalar(obj, name, H5T_FLOAT, "a number", "number", H5T_NATIVE_DOUBLE, out, err);
}

as_status as_h5_check_storage(hid_t ds, const char *path, const char *name, as_error *err) {
    hid_t sp = H5Dget_space(ds), ft = H5Dget_type(ds), dcpl = H5Dget_create_plist(ds);
    hssize_t npts = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    size_t esz = ft < 0 ? 0 : H5Tget_size(ft);
    int nfilt = dcpl < 0 ? 0 : H5Pget_nfilters(dcpl), deflate_only = nfilt > 0;
    for (int i = 0; i < nfilt; i++) {
        unsigned flags = 0, cd[8];
        size_t ncd = 8;
        H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL);
        if (f != H5Z_FILTER_DEFLATE && f != H5Z_FILTER_SHUFFLE && f != H5Z_FILTER_FLETCHER32)
            deflate_only = 0;
    }
    hsize_t stored = H5Dget_storage_size(ds);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    if (npts < 0) return as_error_set(err, AS_ERR_DATA, "%s: %s: unreadable shape", path, name);
    double declared = (double)npts * (double)esz;
    /* without filters every value is stored; deflate compresses at most ~1032:1 */
    double most = nfilt == 0 ? (double)stored : deflate_only ? 1100.0 * (double)stored : declared;
    if (declared > most)
        return as_error_set(err, AS_ERR_DATA,
                            "%s: %s: declares %lld values (%.0f bytes) but the file stores only "
                            "%llu bytes of them%s (a truncated, sparse or forged file)", path, name,
                            (long long)npts, declared, (unsigned long long)stored,
                            nfilt ? ", compressed" : "");
    return AS_OK;
}
