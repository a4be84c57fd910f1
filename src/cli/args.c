/* args.c: strict command-line value parsing. */
#include "cli/args.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int as_arg_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "attnsweep %s: %s: expected an integer in [%ld, %ld], got '%s'\n", cmd, flag,
                lo, hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

int as_arg_u64(const char *cmd, const char *flag, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "attnsweep %s: %s: expected a non-negative integer, got '%s'\n", cmd, flag, s);
        return 0;
    }
    *out = (uint64_t)v;
    return 1;
}

int as_arg_double(const char *cmd, const char *flag, const char *s, double lo, double hi,
                  double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "attnsweep %s: %s: expected a number in [%g, %g], got '%s'\n", cmd, flag, lo,
                hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

/* The value options as_arg_value has taken from the command line being parsed: their
 * argv indices in order, and the strings there (a command line at the same address is
 * the same one only while they are still there). A parse that starts over drops the
 * entries at or after the index it is at. A command has far fewer value options than
 * SEEN_MAX; beyond, options are not recorded. */
#define SEEN_MAX 64
static struct {
    char **argv;
    int n, at[SEEN_MAX];
    const char *tok[SEEN_MAX];
} g_seen;

/* One option spelled two ways (sweep, merge): -o and --output. */
static const char *canonical(const char *flag) { return !strcmp(flag, "--output") ? "-o" : flag; }

/* 1 (with the message) when the option at argv[i] was taken before on this command line. */
static int given_before(const char *cmd, char **argv, int i) {
    if (g_seen.argv != argv) g_seen.argv = argv, g_seen.n = 0;
    while (g_seen.n > 0 && g_seen.at[g_seen.n - 1] >= i) g_seen.n--;
    for (int k = 0; k < g_seen.n; k++)
        if (argv[g_seen.at[k]] != g_seen.tok[k]) g_seen.n = 0; /* another command line */
    const char *name = canonical(argv[i]);
    for (int k = 0; k < g_seen.n; k++) {
        const int j = g_seen.at[k];
        if (strcmp(canonical(argv[j]), name) != 0) continue;
        if (!strcmp(argv[j], argv[i]))
            fprintf(stderr, "attnsweep %s: option %s given twice (%.200s, %.200s): give it once\n",
                    cmd, argv[i], argv[j + 1], argv[i + 1]);
        else
            fprintf(stderr, "attnsweep %s: option %s given twice (%s %.200s, %s %.200s): give it "
                    "once\n", cmd, name, argv[j], argv[j + 1], argv[i], argv[i + 1]);
        return 1;
    }
    if (g_seen.n < SEEN_MAX) {
        g_seen.at[g_seen.n] = i;
        g_seen.tok[g_seen.n++] = argv[i];
    }
    return 0;
}

const char *as_arg_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "attnsweep %s: %s: missing value\n", cmd, argv[*i]);
        return NULL;
    }
    if (given_before(cmd, argv, *i)) return NULL;
    return argv[++*i];
}

as_status as_output_check(const char *flag, const char *out, const char *const *inputs, size_t n,
                          as_error *err) {
    struct stat so, si;
    if (!out[0]) return as_error_set(err, AS_ERR_ARG, "%s: empty path", flag);
    if (lstat(out, &so) != 0) {
        if (errno == ENOENT) return AS_OK; /* a new file */
        return as_error_set(err, AS_ERR_ARG, "%s %s: %s", flag, out, strerror(errno));
    }
    if (S_ISLNK(so.st_mode))
        return as_error_set(err, AS_ERR_ARG, "%s %s: is a symbolic link; outputs are replaced by "
                            "rename, which would replace the link: give the path it points to", flag, out);
    if (!S_ISREG(so.st_mode))
        return as_error_set(err, AS_ERR_ARG, "%s %s: not a regular file (%s); refusing to replace it",
                            flag, out, S_ISDIR(so.st_mode) ? "a folder" : S_ISCHR(so.st_mode) ||
                            S_ISBLK(so.st_mode) ? "a device" : "a special file");
    for (size_t i = 0; i < n; i++) {
        if (!inputs[i] || stat(inputs[i], &si) != 0) continue;
        if (si.st_dev == so.st_dev && si.st_ino == so.st_ino)
            return as_error_set(err, AS_ERR_ARG, "%s %s: is an input of this command (%s); refusing "
                                "to overwrite it", flag, out, inputs[i]);
    }
    return AS_OK;
}

int as_output_same(const char *a, const char *b) {
    char ra[PATH_MAX], rb[PATH_MAX];
    const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
    ba = ba ? ba + 1 : a, bb = bb ? bb + 1 : b;
    if (strcmp(ba, bb) != 0) return 0;
    char da[PATH_MAX], db[PATH_MAX];
    snprintf(da, sizeof da, "%.*s", ba == a ? 1 : (int)(ba - a), ba == a ? "." : a);
    snprintf(db, sizeof db, "%.*s", bb == b ? 1 : (int)(bb - b), bb == b ? "." : b);
    if (!realpath(da, ra) || !realpath(db, rb)) return strcmp(a, b) == 0;
    return strcmp(ra, rb) == 0;
}
