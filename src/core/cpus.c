/* cpus.c: the CPUs a process may use (affinity, cgroup quota, Slurm); see cpus.h. */
#include "attnsweep/cpus.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads the first line of a small file into buf; 0 on success. */
static int read_line(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int ok = fgets(buf, (int)n, f) != NULL;
    fclose(f);
    return ok ? 0 : -1;
}

/* The quota in CPUs of one cgroup directory, 0 for none or unreadable. */
static double dir_quota(const char *dir, int version) {
    char path[4096], line[128];
    if (version == 2) {
        if (snprintf(path, sizeof path, "%s/cpu.max", dir) >= (int)sizeof path) return 0;
        if (read_line(path, line, sizeof line)) return 0;
        char q[32];
        long long period = 0;
        if (sscanf(line, "%31s %lld", q, &period) != 2 || !strcmp(q, "max") || period <= 0)
            return 0;
        const long long quota = atoll(q);
        return quota > 0 ? (double)quota / (double)period : 0;
    }
    long long quota = -1, period = 0;
    if (snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir) >= (int)sizeof path) return 0;
    if (read_line(path, line, sizeof line) || sscanf(line, "%lld", &quota) != 1) return 0;
    if (snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir) >= (int)sizeof path) return 0;
    if (read_line(path, line, sizeof line) || sscanf(line, "%lld", &period) != 1) return 0;
    return quota > 0 && period > 0 ? (double)quota / (double)period : 0;
}

/* The smallest quota from base + rel up to base (rel "/a/b" -> "/a/b", "/a", ""). When
 * base + rel does not exist (a cgroup namespace shows the path from outside), base alone. */
static double path_quota(const char *base, const char *rel, int version) {
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s%s", base, strcmp(rel, "/") ? rel : "") >= (int)sizeof dir)
        return 0;
    if (access(dir, F_OK) != 0) return dir_quota(base, version);
    const size_t keep = strlen(base);
    double best = 0;
    for (;;) {
        const double q = dir_quota(dir, version);
        if (q > 0 && (best == 0 || q < best)) best = q;
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < keep) break;
        *slash = 0;
    }
    return best;
}

/* Whether a comma-separated v1 controller list names "cpu". */
static int has_cpu(const char *list) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (!strcmp(t, "cpu")) return 1;
    return 0;
}

double as_cpus_cgroup_quota(const char *proc_cgroup, const char *root, int *version) {
    *version = 0;
    FILE *f = fopen(proc_cgroup, "r");
    if (!f) return 0;
    char line[4096], base[4096];
    double v1 = 0, v2 = 0;
    int have1 = 0, have2 = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c1 = 0;
        *c2 = 0;
        const char *ctrl = c1 + 1, *rel = c2 + 1;
        if (!strcmp(line, "0") && !*ctrl) { /* v2: "0::/path" */
            snprintf(base, sizeof base, "%s", root);
            char probe[4096];
            snprintf(probe, sizeof probe, "%s/cgroup.controllers", root);
            if (access(probe, F_OK) != 0) continue; /* the hybrid layout's empty v2 tree */
            have2 = 1;
            v2 = path_quota(base, rel, 2);
        } else if (has_cpu(ctrl)) {
            have1 = 1;
            snprintf(base, sizeof base, "%s/%s", root, ctrl);
            if (access(base, F_OK) != 0) snprintf(base, sizeof base, "%s/cpu", root);
            v1 = path_quota(base, rel, 1);
        }
    }
    fclose(f);
    if (have1) *version = 1;
    else if (have2) *version = 2;
    return have1 ? v1 : v2;
}

as_cpu_limits as_cpus_detect(void) {
    as_cpu_limits L;
    const long on = sysconf(_SC_NPROCESSORS_ONLN);
    L.online = on > 0 ? (int)on : 1;
    L.affinity = L.online;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        L.affinity = CPU_COUNT(&set);
    L.quota = as_cpus_cgroup_quota("/proc/self/cgroup", "/sys/fs/cgroup", &L.cgroup_v);
    const char *s = getenv("SLURM_CPUS_PER_TASK");
    L.slurm = s && atoi(s) > 0 ? atoi(s) : 0;
    int n = L.affinity;
    if (L.quota > 0) {
        const int q = (int)floor(L.quota + 1e-9);
        if (q < n) n = q;
    }
    if (L.slurm > 0 && L.slurm < n) n = L.slurm;
    L.usable = n < 1 ? 1 : n;
    return L;
}
