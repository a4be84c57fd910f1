/* args.h: strict parsing of command-line values; errors name the flag. */
#ifndef AS_CLI_ARGS_H
#define AS_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "attnsweep/status.h"

/* Parses an integer in [lo, hi] from s for flag; prints "attnsweep CMD: FLAG: ..." and
 * returns 0 on error, 1 on success. */
int as_arg_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
int as_arg_u64(const char *cmd, const char *flag, const char *s, uint64_t *out);
int as_arg_double(const char *cmd, const char *flag, const char *s, double lo, double hi,
                  double *out);
/* The value after the option argv[*i] (advances *i), or NULL with a message naming the
 * option when the value is missing, or when the option was taken before on this command
 * line (-o and --output are one option): "attnsweep CMD: option -o given twice (a.h5,
 * b.h5): give it once". Every option that takes a value is read through this function,
 * so no command keeps the last of two values silently. A parse of the same argv that
 * starts over (a lower *i) forgets what it had taken from there on. */
const char *as_arg_value(const char *cmd, int argc, char **argv, int *i);

/* The check every output flag of every command makes (-o, --history, --save-weights,
 * --checkpoint): out must be a new path or an existing regular file that is none of
 * inputs[0..n) (same device and inode; NULL entries skipped). A symbolic link, a device,
 * a folder or another special file is refused (outputs are replaced by rename, which would
 * replace the link or node), and so is an empty path. AS_ERR_ARG (exit 2) with a message
 * naming flag and path. */
as_status as_output_check(const char *flag, const char *out, const char *const *inputs, size_t n,
                          as_error *err);
/* 1 when paths a and b name one file however spelled (./x, d/../x): the same real folder
 * and file name; neither needs to exist yet (two outputs of one command), a folder that
 * cannot be resolved compares as written. */
int as_output_same(const char *a, const char *b);

#endif
