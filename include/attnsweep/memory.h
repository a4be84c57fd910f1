/* memory.h: the memory budget -- how much memory this process may still use, and the
 * check every large allocation makes BEFORE allocating, so a request that cannot fit is
 * refused with a message ("needs 7.9 GiB, 3.1 GiB available") instead of the kernel's
 * out-of-memory killer ending the process with nothing said (allocations are malloc +
 * memset, so under overcommit an oversized request "succeeds" and the touch kills).
 *
 * Available memory is the smallest of: MemAvailable of /proc/meminfo (sysinfo's free +
 * buffer RAM when /proc is absent); the cgroup's limit minus its usage plus its
 * reclaimable inactive file cache (cgroup v2 memory.max / memory.current, or v1
 * memory.limit_in_bytes / memory.usage_in_bytes, of this process's cgroup); and the
 * environment variable ATTNSWEEP_MEMORY_LIMIT (bytes, or with a K, M, G or T suffix),
 * which lets users (and tests) set a lower ceiling. It is re-read on every call.
 */
#ifndef ATTNSWEEP_MEMORY_H
#define ATTNSWEEP_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "attnsweep/status.h"

/* Bytes this process may still allocate (see above); never 0 (at least 1 MiB). */
uint64_t as_mem_available(void);

/* AS_OK when `bytes` fit in as_mem_available(); otherwise `code` (AS_ERR_SPEC for a
 * model, AS_ERR_DATA for a dataset: both exit 2) with the message
 * "WHAT needs X GiB, Y GiB available" (MiB below 1 GiB). bytes == SIZE_MAX means the
 * size overflowed: "WHAT: size overflows". */
as_status as_mem_check(size_t bytes, const char *what, as_status code, as_error *err);

/* Writes "1.5 GiB" / "12.0 MiB" / "512 bytes" into buf. */
void as_mem_format(uint64_t bytes, char *buf, size_t cap);

/* Saturating size arithmetic for budgets: SIZE_MAX on overflow (as_mem_check then
 * refuses). */
size_t as_mem_mul(size_t a, size_t b);
size_t as_mem_add(size_t a, size_t b);

#endif
