/* memory.c: the memory budget (see memory.h). */
#include "attnsweep/memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "attnsweep/alloc.h"

#define MIN_BUDGET (1u << 20)

/* Reads the first unsigned number of a file; 0 when absent or "max". */
static uint64_t read_u64_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
    return (uint64_t)v;
}

/* The value of `key` in a "key value" file (meminfo-like when kb, memory.stat else). */
static uint64_t read_keyed(const char *path, const char *key, int kb) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[256];
    size_t kl = strlen(key);
    uint64_t v = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && (line[kl] == ' ' || line[kl] == ':')) {
            v = strtoull(line + kl + 1 + (line[kl] == ':'), NULL, 10);
            if (kb) v *= 1024;
            break;
        }
    }
    fclose(f);
    return v;
}

/* This process's cgroup path for a v1 controller ("memory") or v2 (ctrl NULL). */
static int cgroup_path(const char *ctrl, char *out, size_t cap) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return 0;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        if (!b) continue;
        *b = 0;
        int v2 = !ctrl && a[1] == 0 && !strncmp(line, "0", 1);
        int v1 = ctrl && strstr(a + 1, ctrl) != NULL;
        if (v1 || v2) {
            snprintf(out, cap, "%s", b + 1);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* limit - usage + inactive file cache of one cgroup directory; UINT64_MAX if unlimited. */
static uint64_t cgroup_room(const char *dir, int v2) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, v2 ? "memory.max" : "memory.limit_in_bytes");
    uint64_t limit = read_u64_file(p);
    if (limit == 0 || limit >= ((uint64_t)1 << 60)) return UINT64_MAX;
    snprintf(p, sizeof p, "%s/%s", dir, v2 ? "memory.current" : "memory.usage_in_bytes");
    uint64_t usage = read_u64_file(p);
    snprintf(p, sizeof p, "%s/memory.stat", dir);
    uint64_t inactive = read_keyed(p, v2 ? "inactive_file" : "total_inactive_file", 0);
    if (inactive > usage) inactive = usage;
    usage -= inactive;
    return usage >= limit ? 0 : limit - usage;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static uint64_t cgroups_room(void) {
    uint64_t room = UINT64_MAX;
    char rel[1024], dir[1200];
    /* the namespaced view (the cgroup is the mount's root) and the full path */
    room = min_u64(room, cgroup_room("/sys/fs/cgroup", 1));
    room = min_u64(room, cgroup_room("/sys/fs/cgroup/memory", 0));
    if (cgroup_path(NULL, rel, sizeof rel) && strcmp(rel, "/") != 0) {
        snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", rel);
        room = min_u64(room, cgroup_room(dir, 1));
    }
    if (cgroup_path("memory", rel, sizeof rel) && strcmp(rel, "/") != 0) {
        snprintf(dir, sizeof dir, "/sys/fs/cgroup/memory%s", rel);
        room = min_u64(room, cgroup_room(dir, 0));
    }
    return room;
}

/* ATTNSWEEP_MEMORY_LIMIT: bytes with an optional K/M/G/T suffix; UINT64_MAX if unset. */
static uint64_t env_limit(void) {
    const char *s = getenv("ATTNSWEEP_MEMORY_LIMIT");
    if (!s || !*s) return UINT64_MAX;
    char *end;
    double v = strtod(s, &end);
    static const char units[] = "KMGT";
    const char *u = *end ? strchr(units, *end) : NULL;
    if (u && *end) {
        for (const char *k = units; k <= u; k++) v *= 1024.0;
        end++;
        if (*end == 'i' || *end == 'B') end++;
        if (*end == 'B') end++;
    }
    if (*end || !(v >= 0) || v > 1.8e19) return UINT64_MAX;
    return (uint64_t)v;
}

uint64_t as_mem_available(void) {
    uint64_t avail = read_keyed("/proc/meminfo", "MemAvailable", 1);
    if (avail == 0) {
        struct sysinfo si;
        if (sysinfo(&si) == 0)
            avail = ((uint64_t)si.freeram + (uint64_t)si.bufferram) * (uint64_t)si.mem_unit;
    }
    if (avail == 0) avail = UINT64_MAX;
    avail = min_u64(avail, cgroups_room());
    avail = min_u64(avail, env_limit());
    return avail < MIN_BUDGET ? MIN_BUDGET : avail;
}

void as_mem_format(uint64_t bytes, char *buf, size_t cap) {
    double b = (double)bytes;
    if (b >= 1073741824.0) snprintf(buf, cap, "%.1f GiB", b / 1073741824.0);
    else if (b >= 1048576.0) snprintf(buf, cap, "%.1f MiB", b / 1048576.0);
    else snprintf(buf, cap, "%llu bytes", (unsigned long long)bytes);
}

as_status as_mem_check(size_t bytes, const char *what, as_status code, as_error *err) {
    if (bytes == SIZE_MAX) return as_error_set(err, code, "%s: size overflows", what);
    uint64_t avail = as_mem_available();
    if ((uint64_t)bytes <= avail) return AS_OK;
    char need[32], have[32];
    as_mem_format(bytes, need, sizeof need);
    as_mem_format(avail, have, sizeof have);
    return as_error_set(err, code, "%s needs %s, %s available", what, need, have);
}

size_t as_mem_mul(size_t a, size_t b) {
    size_t r;
    return as_size_mul(a, b, &r) ? r : SIZE_MAX;
}

size_t as_mem_add(size_t a, size_t b) {
    size_t r;
    return as_size_add(a, b, &r) ? r : SIZE_MAX;
}
