/* status.c: error messages and status names. */
#include "attnsweep/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void as_error_clear(as_error *e) {
    if (!e) return;
    e->code = AS_OK;
    e->msg[0] = '\0';
}

as_status as_error_set(as_error *e, as_status code, const char *fmt, ...) {
    if (!e) return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

as_status as_error_prefix(as_error *e, const char *fmt, ...) {
    if (!e) return AS_ERR_INTERNAL;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[AS_ERROR_MSG_MAX];
    memcpy(old, e->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof e->msg - 3) n = sizeof e->msg - 3;
    memcpy(e->msg, prefix, n);
    e->msg[n] = ':';
    e->msg[n + 1] = ' ';
    size_t room = sizeof e->msg - n - 2;
    size_t m = strlen(old);
    if (m >= room) m = room - 1;
    memcpy(e->msg + n + 2, old, m);
    e->msg[n + 2 + m] = '\0';
    return e->code;
}

const char *as_status_name(as_status s) {
    switch (s) {
    case AS_OK: return "ok";
    case AS_ERR_NOMEM: return "out of memory";
    case AS_ERR_IO: return "i/o error";
    case AS_ERR_SPEC: return "invalid spec";
    case AS_ERR_DATA: return "invalid dataset";
    case AS_ERR_ARG: return "invalid argument";
    case AS_ERR_DIVERGED: return "diverged";
    case AS_ERR_MPI: return "mpi error";
    case AS_ERR_INTERNAL: return "internal error";
    case AS_ERR_STORE: return "cannot store an output";
    }
    return "unknown status";
}

int as_status_exit_code(as_status s) {
    switch (s) {
    case AS_OK: return 0;
    case AS_ERR_SPEC:
    case AS_ERR_DATA:
    case AS_ERR_ARG:
    case AS_ERR_IO: return 2;
    case AS_ERR_STORE: return AS_EXIT_STORE;
    default: return 1;
    }
}
