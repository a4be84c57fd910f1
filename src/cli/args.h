/* args.h: strict parsing of command-line values; errors name the flag. */
#ifndef AS_CLI_ARGS_H
#define AS_CLI_ARGS_H

#include <stdint.h>

/* Parses an integer in [lo, hi] from s for flag; prints "attnsweep CMD: FLAG: ..." and
 * returns 0 on error, 1 on success. */
int as_arg_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
int as_arg_u64(const char *cmd, const char *flag, const char *s, uint64_t *out);
int as_arg_double(const char *cmd, const char *flag, const char *s, double lo, double hi,
                  double *out);
/* The value after argv[*i] (advances *i), or NULL with a message when missing. */
const char *as_arg_value(const char *cmd, int argc, char **argv, int *i);

#endif
