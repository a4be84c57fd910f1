/* hosts.c: the host name and thread count of every rank (hosts.h). */
#include "attnsweep/hosts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"

typedef struct {
    char name[AS_HOST_NAME_MAX];
    int threads;
} host_entry;

static host_entry *g_tab;   /* one per rank, NULL: this process alone */
static int *g_first;        /* g_first[r]: the lowest rank on rank r's host */
static int g_n;
static host_entry g_self;   /* this process (rank 0 of the 1-entry table) */
static int g_self_rank;

static void self_init(void) {
    if (g_self.name[0]) return;
    if (gethostname(g_self.name, sizeof g_self.name) != 0) snprintf(g_self.name, sizeof g_self.name, "?");
    g_self.name[sizeof g_self.name - 1] = 0;
}

static const host_entry *g_sort_tab;
static int by_host_then_rank(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    int c = strcmp(g_sort_tab[x].name, g_sort_tab[y].name);
    return c ? c : (x > y) - (x < y);
}

as_status as_hosts_gather(MPI_Comm comm, int threads, as_error *err) {
    self_init();
    g_self.threads = threads;
    int P = 1;
    MPI_Comm_size(comm, &P);
    MPI_Comm_rank(comm, &g_self_rank);
    host_entry *tab = as_calloc((size_t)P, sizeof *tab);
    int ok = tab != NULL;
    /* agree before the gather, so that one rank out of memory does not hang the others */
    if (MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) {
        as_free(tab);
        return as_error_set(err, AS_ERR_MPI, "host names: allreduce failed");
    }
    if (!ok) {
        as_free(tab);
        return as_error_set(err, AS_ERR_NOMEM, "host names: out of memory");
    }
    if (MPI_Allgather(&g_self, (int)sizeof g_self, MPI_BYTE, tab, (int)sizeof g_self, MPI_BYTE,
                      comm) != MPI_SUCCESS) {
        as_free(tab);
        return as_error_set(err, AS_ERR_MPI, "host names: allgather failed");
    }
    int *first = as_calloc((size_t)P, sizeof *first);
    int *order = as_calloc((size_t)P, sizeof *order);
    if (!first || !order) {
        as_free(first);
        as_free(order);
        as_free(tab);
        return as_error_set(err, AS_ERR_NOMEM, "host names: out of memory");
    }
    /* ranks sorted by (host, rank): the first of each run is its host's lowest rank */
    for (int r = 0; r < P; r++) order[r] = r;
    g_sort_tab = tab;
    qsort(order, (size_t)P, sizeof *order, by_host_then_rank);
    for (int i = 0; i < P; i++)
        first[order[i]] = i && !strcmp(tab[order[i]].name, tab[order[i - 1]].name) ? first[order[i - 1]]
                                                                                    : order[i];
    as_free(order);
    as_hosts_free();
    g_tab = tab;
    g_first = first;
    g_n = P;
    return AS_OK;
}

void as_hosts_free(void) {
    as_free(g_tab);
    as_free(g_first);
    g_tab = NULL;
    g_first = NULL;
    g_n = 0;
}

const char *as_host_name(int r) {
    self_init();
    if (!g_tab) return r == g_self_rank ? g_self.name : "?";
    return r >= 0 && r < g_n ? g_tab[r].name : "?";
}

int as_hosts_ranks(void) { return g_tab ? g_n : 1; }

static int first_on_host(int r) { return g_first[r]; }

int as_hosts_count(void) {
    if (!g_tab) return 1;
    int n = 0;
    for (int r = 0; r < g_n; r++) n += first_on_host(r) == r;
    return n;
}

/* appends printf output to buf at *len, never past cap */
__attribute__((format(printf, 4, 5))) static void cat(char *buf, size_t cap, size_t *len,
                                                      const char *fmt, ...);

static void cat(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
    if (*len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (k > 0) *len += (size_t)k < cap - *len ? (size_t)k : cap - *len - 1;
}

/* "ranks 0-1,4" for the ranks on host h's first rank; threads: the common count or -1 */
static void host_ranks(int h, char *buf, size_t cap, size_t *len, int *threads, int *count) {
    int start = -1, prev = -2;
    *threads = g_tab[h].threads;
    *count = 0;
    for (int r = h; r <= g_n; r++) {
        int on = r < g_n && first_on_host(r) == h;
        if (on) {
            if (g_tab[r].threads != *threads) *threads = -1;
            ++*count;
            if (r != prev + 1) start = r;
            prev = r;
            continue;
        }
        if (start >= 0 && prev == r - 1) {
            cat(buf, cap, len, "%s%d", *len && buf[*len - 1] != ' ' ? "," : "", start);
            if (prev > start) cat(buf, cap, len, "-%d", prev);
            start = -1;
        }
    }
}

void as_hosts_describe(char *buf, size_t cap) {
    size_t len = 0;
    if (!cap) return;
    buf[0] = 0;
    if (!g_tab) {
        self_init();
        cat(buf, cap, &len, "1 host: %s (rank 0, %d BLAS thread%s)", g_self.name, g_self.threads,
            g_self.threads == 1 ? "" : "s");
        return;
    }
    int nh = as_hosts_count();
    cat(buf, cap, &len, "%d host%s:", nh, nh == 1 ? "" : "s");
    int shown = 0;
    for (int h = 0; h < g_n; h++) {
        if (first_on_host(h) != h) continue;
        if (shown++ == AS_HOSTS_LISTED) { /* a large job: the first hosts stand for the rest */
            cat(buf, cap, &len, " and %d more", nh - AS_HOSTS_LISTED);
            break;
        }
        char ranks[256];
        size_t rl = 0;
        int threads, count;
        ranks[0] = 0;
        host_ranks(h, ranks, sizeof ranks, &rl, &threads, &count);
        cat(buf, cap, &len, "%s %s (rank%s %s, ", h ? "," : "", g_tab[h].name, count == 1 ? "" : "s",
            ranks);
        if (threads < 0) cat(buf, cap, &len, "BLAS threads differ)");
        else
            cat(buf, cap, &len, "%d BLAS thread%s%s)", threads, threads == 1 ? "" : "s",
                count > 1 ? " each" : "");
    }
}

void as_hosts_list(char *buf, size_t cap) {
    size_t len = 0;
    if (!cap) return;
    buf[0] = 0;
    if (!g_tab) {
        self_init();
        cat(buf, cap, &len, "%s:1", g_self.name);
        return;
    }
    for (int h = 0; h < g_n; h++) {
        if (first_on_host(h) != h) continue;
        int n = 0, threads;
        char ranks[8];
        size_t rl = 0;
        host_ranks(h, ranks, sizeof ranks, &rl, &threads, &n);
        cat(buf, cap, &len, "%s%s:%d", len ? "," : "", g_tab[h].name, n);
    }
}
