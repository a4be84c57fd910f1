/* status.h: status codes and error messages at every API boundary.
 *
 * Every fallible public function returns an as_status and, when it fails, fills an
 * as_error with a message that names the file, key or line at fault. AS_OK is 0. The
 * CLI maps a status to an exit code with as_status_exit_code(): bad input (spec, grid,
 * dataset, flag) exits 2, an output that could not be stored (AS_ERR_STORE) exits 4,
 * everything else that fails exits 1 (3 is train's diverged run).
 */
#ifndef ATTNSWEEP_STATUS_H
#define ATTNSWEEP_STATUS_H

#include <stddef.h>

typedef enum {
    AS_OK = 0,
    AS_ERR_NOMEM,    /* allocation failed or a size overflowed */
    AS_ERR_IO,       /* a file could not be read or written */
    AS_ERR_SPEC,     /* a training spec or sweep grid is invalid */
    AS_ERR_DATA,     /* a dataset is missing or invalid */
    AS_ERR_ARG,      /* a command-line flag is invalid */
    AS_ERR_DIVERGED, /* training produced a non-finite loss */
    AS_ERR_MPI,      /* an MPI call failed */
    AS_ERR_INTERNAL, /* a broken invariant: a bug */
    AS_ERR_STORE     /* an output could not be stored: disk full, read-only file system,
                        I/O error, its folder removed (the message names the path and the
                        system's reason) */
} as_status;

#define AS_ERROR_MSG_MAX 2048

typedef struct {
    as_status code;
    char msg[AS_ERROR_MSG_MAX];
} as_error;

/* Clears e (code AS_OK, empty message). e may be NULL. */
void as_error_clear(as_error *e);

/* Sets e's code and printf-style message and returns code. e may be NULL. */
as_status as_error_set(as_error *e, as_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to e's message (keeps its code) and returns the code. */
as_status as_error_prefix(as_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short lower-case name for a status ("ok", "out of memory", ...). Never NULL. */
const char *as_status_name(as_status s);

/* The exit code for a status: 0 ok, 2 bad input, 4 cannot store an output, 1 otherwise. */
#define AS_EXIT_STORE 4
int as_status_exit_code(as_status s);

#endif
