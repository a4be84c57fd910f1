/* sha256.h: SHA-256 (FIPS 180-4) of memory and of files, as lower-case hex. */
#ifndef ATTNSWEEP_SHA256_H
#define ATTNSWEEP_SHA256_H

#include <stddef.h>

#include "attnsweep/status.h"

/* hex receives 64 hex digits and a NUL. */
void as_sha256_hex(const void *data, size_t n, char hex[65]);
/* Hashes a whole file; AS_ERR_IO naming the path when it cannot be read. */
as_status as_sha256_file(const char *path, char hex[65], as_error *err);

#endif
