/* args.c: strict command-line value parsing. */
#include "cli/args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
