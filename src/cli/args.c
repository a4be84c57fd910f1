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

const char *as_arg_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "attnsweep %s: %s: missing value\n", cmd, argv[*i]);
        return NULL;
    }
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
