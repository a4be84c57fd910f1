/* hosts.h: which host each MPI rank runs on, for messages ("rank 3 on node17") and the
 * start-up lines, and the BLAS threads each rank uses.
 *
 * as_hosts_gather is collective over comm: every rank contributes its host name
 * (gethostname, at most AS_HOST_NAME_MAX - 1 bytes kept) and its thread count. Until it
 * has been called, or after as_hosts_free, the table holds this process alone (rank 0 on
 * its own host). The table is process-global, written only by as_hosts_gather and
 * as_hosts_free. */
#ifndef ATTNSWEEP_HOSTS_H
#define ATTNSWEEP_HOSTS_H

#include <mpi.h>
#include <stddef.h>

#include "attnsweep/status.h"

#define AS_HOST_NAME_MAX 64

/* Collective: gathers every rank's host name and thread count. AS_ERR_NOMEM, AS_ERR_MPI. */
as_status as_hosts_gather(MPI_Comm comm, int threads, as_error *err);
void as_hosts_free(void);

/* The host of rank r ("?" when r is outside the table). This process's host for r = its
 * own rank (or 0 before gathering). Never NULL. */
const char *as_host_name(int r);
/* Ranks in the table, and the distinct hosts among them. */
int as_hosts_ranks(void);
int as_hosts_count(void);

/* One line: "2 hosts: h1 (ranks 0-1, 1 BLAS thread each), h2 (rank 2, 2 BLAS threads)";
 * beyond AS_HOSTS_LISTED hosts "..., and N more". Truncated to cap bytes (always
 * NUL-terminated). */
#define AS_HOSTS_LISTED 16
void as_hosts_describe(char *buf, size_t cap);
/* Open MPI's host list: "h1:2,h2:1" (host:ranks in rank order of first appearance). */
void as_hosts_list(char *buf, size_t cap);

#endif
