/* cluster.c: rank-0 path resolution, output checks, file broadcast, the launcher line. */
#include "cli/cluster.h"

#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/hosts.h"

/* Broadcasts n bytes from rank 0 in pieces that fit an int count. */
static int bcast_bytes(void *buf, size_t n) {
    char *p = buf;
    while (n) {
        int k = n > (size_t)(1 << 30) ? 1 << 30 : (int)n;
        if (MPI_Bcast(p, k, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS) return 0;
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

/* 1 when every rank passes ok = 1 (0 also when the reduction fails). */
static int agree_ok(int ok) {
    if (MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS) return 0;
    return ok;
}

#define ABS_MAX (2 * PATH_MAX + 2)

/* Rank 0: p's absolute spelling in out (ABS_MAX): its folder resolved (realpath: no
 * "..", which a host without that folder could not follow) and its last component kept
 * as written (a symlink stays a symlink). A folder missing here too: cwd + "/" + p.
 * 0 when it does not fit. */
static int absolute(const char *p, const char *cwd, char *out) {
    char dir[PATH_MAX], real[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", p) >= (int)sizeof dir) return 0;
    char *slash = strrchr(dir, '/');
    const char *base = slash ? p + (slash - dir) + 1 : p;
    if (slash == dir) dir[1] = 0;
    else if (slash) *slash = 0;
    else strcpy(dir, ".");
    int dots = !strcmp(base, ".") || !strcmp(base, "..") || !base[0], k;
    if (dots && realpath(p, real)) {
        k = snprintf(out, ABS_MAX, "%s", real);
    } else if (!dots && realpath(dir, real)) {
        size_t rl = strlen(real);
        k = snprintf(out, ABS_MAX, "%s%s%s", real, rl && real[rl - 1] == '/' ? "" : "/", base);
    } else if (p[0] == '/') {
        k = snprintf(out, ABS_MAX, "%s", p);
    } else {
        k = snprintf(out, ABS_MAX, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", p);
    }
    return k >= 0 && k < ABS_MAX;
}

/* Rank 0: the paths, raw and absolute, packed into *out (*len bytes). */
static as_status pack_paths(const char **paths[], const char *const *names, int n, char **out,
                            uint64_t *len, as_error *err) {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return as_error_set(err, AS_ERR_IO, "rank 0 on %s: cannot get the working directory: %s",
                            as_host_name(0), strerror(errno));
    size_t total = (size_t)n;
    for (int i = 0; i < n; i++)
        if (*paths[i]) total += strlen(*paths[i]) + ABS_MAX + 2;
    char *buf = as_malloc(total + 1);
    if (!buf) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    size_t at = 0;
    for (int i = 0; i < n; i++) { /* '1' RAW \0 ABSOLUTE \0, or '0' for an absent path */
        const char *p = *paths[i];
        buf[at++] = p ? '1' : '0';
        if (!p) continue;
        if (!p[0]) {
            as_free(buf);
            return as_error_set(err, AS_ERR_ARG, "%s: empty path", names[i]);
        }
        at += (size_t)sprintf(buf + at, "%s", p) + 1;
        if (!absolute(p, cwd, buf + at)) {
            as_free(buf);
            return as_error_set(err, AS_ERR_ARG, "%s: path too long", p);
        }
        at += strlen(buf + at) + 1;
    }
    *out = buf;
    *len = at;
    return AS_OK;
}

/* Every rank: takes its paths from rank 0's buffer, checking that it was given the same
 * ones (an MPMD launch with other files per rank is refused). */
static as_status unpack_paths(const char **paths[], const char *const *names, int n, char *buf,
                              as_error *err) {
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        int there = buf[at++] == '1';
        const char *raw = there ? buf + at : NULL;
        if (there) at += strlen(raw) + 1;
        if (there != (*paths[i] != NULL) || (there && strcmp(raw, *paths[i])))
            return as_error_set(err, AS_ERR_ARG,
                                "%s '%s' differs from rank 0's '%s' (every rank must be given the "
                                "same files)", names[i], *paths[i] ? *paths[i] : "(none)",
                                raw ? raw : "(none)");
        if (!there) continue;
        *paths[i] = buf + at;
        at += strlen(buf + at) + 1;
    }
    return AS_OK;
}

as_status as_cluster_resolve(const char **paths[], const char *const *names, int n, char **owned,
                             as_error *err) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char *buf = NULL;
    uint64_t len = 0;
    as_status st = rank == 0 ? pack_paths(paths, names, n, &buf, &len, err) : AS_OK;
    int code[2] = {(int)st, 0};
    if (MPI_Bcast(code, 2, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
        MPI_Bcast(&len, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
        as_free(buf);
        return as_error_set(err, AS_ERR_MPI, "broadcast of the paths failed");
    }
    if (code[0]) {
        as_free(buf);
        if (rank == 0) return st;
        return as_error_set(err, (as_status)code[0], "rank 0 could not resolve the paths");
    }
    if (rank != 0) buf = as_malloc((size_t)len + 1);
    if (!agree_ok(buf != NULL)) {
        as_free(buf);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory (the paths)");
    }
    if (!bcast_bytes(buf, (size_t)len)) {
        as_free(buf);
        return as_error_set(err, AS_ERR_MPI, "broadcast of the paths failed");
    }
    buf[len] = 0;
    *owned = buf;
    return unpack_paths(paths, names, n, buf, err);
}

as_status as_cluster_check_output(const char *flag, const char *path, as_error *err) {
    char dir[PATH_MAX];
    if (!path[0]) return as_error_set(err, AS_ERR_ARG, "%s: empty path", flag);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    else strcpy(dir, ".");
    struct stat sb;
    errno = 0;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(dir, W_OK) != 0)
        /* a read-only or unwritable folder cannot store (exit 4); a missing one is bad input */
        return as_error_set(err, errno == EROFS || errno == EACCES || errno == EPERM ? AS_ERR_STORE
                            : AS_ERR_ARG, "%s %s: cannot write in '%s': %s", flag, path, dir,
                            errno ? strerror(errno) : "not a directory");
    return AS_OK;
}

/* Rank 0: reads the whole file (st_size bytes). */
static as_status read_all(const char *path, char **buf, size_t *n, as_error *err) {
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) != 0) {
        as_status st = as_error_set(err, AS_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        if (f) fclose(f);
        return st;
    }
    size_t want = (size_t)sb.st_size;
    char *b = as_malloc(want ? want : 1);
    if (!b) {
        fclose(f);
        return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, want);
    }
    size_t got = fread(b, 1, want, f);
    int bad = ferror(f) || got != want;
    fclose(f);
    if (bad) {
        as_free(b);
        return as_error_set(err, AS_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, want);
    }
    *buf = b;
    *n = want;
    return AS_OK;
}

as_status as_cluster_bcast_file(const char *path, int *exists, char **buf, size_t *n,
                                as_error *err) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    *buf = NULL;
    *n = 0;
    as_status st = AS_OK;
    uint64_t head[3] = {0, 0, 0}; /* exists, status, size */
    if (rank == 0) {
        head[0] = access(path, F_OK) == 0;
        if (head[0]) st = read_all(path, buf, n, err);
        head[1] = (uint64_t)st;
        head[2] = *n;
    }
    if (MPI_Bcast(head, 3, MPI_UINT64_T, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        return as_error_set(err, AS_ERR_MPI, "%s: broadcast failed", path);
    *exists = (int)head[0];
    if (head[1]) {
        if (rank == 0) return st;
        return as_error_set(err, (as_status)head[1], "%s: rank 0 could not read it", path);
    }
    if (!head[0]) return AS_OK;
    if (rank != 0) *buf = as_malloc(head[2] ? (size_t)head[2] : 1);
    if (!agree_ok(*buf != NULL)) {
        as_free(*buf);
        *buf = NULL;
        return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory (%llu bytes)", path,
                            (unsigned long long)head[2]);
    }
    if (!bcast_bytes(*buf, (size_t)head[2])) {
        as_free(*buf);
        *buf = NULL;
        return as_error_set(err, AS_ERR_MPI, "%s: broadcast failed", path);
    }
    *n = (size_t)head[2];
    return AS_OK;
}

void as_cluster_quote(char *buf, size_t cap, size_t *len, const char *s) {
    int plain = s[0] != 0;
    for (const char *c = s; *c; c++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:=,+@%-", *c))
            plain = 0;
    size_t at = *len;
    if (at + 1 >= cap) return;
    if (plain) {
        at += (size_t)snprintf(buf + at, cap - at, "%s", s);
    } else {
        buf[at++] = '\'';
        for (const char *c = s; *c && at + 5 < cap; c++) {
            if (*c == '\'') at += (size_t)snprintf(buf + at, cap - at, "'\\''");
            else buf[at++] = *c;
        }
        if (at + 1 < cap) buf[at++] = '\'';
        buf[at] = 0;
    }
    *len = at < cap ? at : cap - 1;
}

void as_cluster_program(char *buf, size_t cap) {
    if (!cap) return;
    FILE *f = fopen("/proc/self/cmdline", "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0; /* argv[0] ends at its NUL */
    if (!n) snprintf(buf, cap, "attnsweep");
}

/* The parent's argv up to this program's argv[0], when the parent is a launcher. */
static int launcher_from_parent(char *buf, size_t cap) {
    static const char *names[] = {"mpirun", "mpiexec", "orterun", "prterun", "prun", "srun",
                                  "mpiexec.hydra", NULL};
    char self[4096], parent[65536], path[64];
    FILE *f = fopen("/proc/self/cmdline", "rb");
    size_t ns = f ? fread(self, 1, sizeof self - 1, f) : 0;
    if (f) fclose(f);
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)getppid());
    f = fopen(path, "rb");
    size_t np = f ? fread(parent, 1, sizeof parent - 1, f) : 0;
    if (f) fclose(f);
    if (!ns || !np) return 0;
    self[ns] = parent[np] = 0;
    const char *base = strrchr(parent, '/') ? strrchr(parent, '/') + 1 : parent;
    int known = 0;
    for (int i = 0; names[i]; i++) known |= !strcmp(base, names[i]);
    if (!known) return 0;
    size_t len = 0;
    buf[0] = 0;
    for (size_t at = 0; at < np; at += strlen(parent + at) + 1) {
        if (at && !strcmp(parent + at, self)) return 1; /* this program: the launcher ends */
        if (len && len + 1 < cap) {
            buf[len++] = ' ';
            buf[len] = 0;
        }
        as_cluster_quote(buf, cap, &len, parent + at);
    }
    buf[0] = 0; /* the program was not found among the parent's arguments */
    return 0;
}

void as_cluster_launcher(char *buf, size_t cap, int P) {
    if (!cap) return;
    buf[0] = 0;
    const char *env = getenv("ATTNSWEEP_LAUNCHER");
    if (env && env[0]) {
        snprintf(buf, cap, "%s", env);
        return;
    }
    if (launcher_from_parent(buf, cap)) return;
    if (getenv("SLURM_STEP_ID") && getenv("SLURM_JOB_ID") && !getenv("OMPI_COMM_WORLD_SIZE")) {
        snprintf(buf, cap, "srun -n %d", P);
    } else if (as_hosts_count() > 1) {
        char hosts[4096];
        as_hosts_list(hosts, sizeof hosts);
        snprintf(buf, cap, "mpirun -np %d -H %s", P, hosts);
    } else if (P > 1) {
        snprintf(buf, cap, "mpirun -np %d", P);
    }
}

as_status as_cluster_check_launch(int P, as_error *err) {
    const char *tasks = getenv("SLURM_STEP_NUM_TASKS");
    if (P != 1 || !tasks || atoi(tasks) <= 1 || !getenv("SLURM_PROCID") || !getenv("SLURM_STEP_ID"))
        return AS_OK;
    return as_error_set(err, AS_ERR_ARG,
                        "srun started %s tasks but MPI sees one rank in each (task %s): srun's "
                        "MPI plugin does not match this MPI; launch with srun --mpi=pmix (see srun "
                        "--mpi=list) or mpirun (ATTNSWEEP_LAUNCHER in the Slurm scripts)",
                        tasks, getenv("SLURM_PROCID"));
}
