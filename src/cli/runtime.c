/* runtime.c: MPI, HDF5 and BLAS set-up for the subcommands. */
#include "cli/runtime.h"

#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/blas.h"
#include "attnsweep/cpus.h"
#include "attnsweep/hosts.h"
#include "attnsweep/pool.h"
#include "attnsweep/status.h"
#include "attnsweep/vec.h"
#include "cli/cluster.h"

/* What fast_start() set, for as_runtime_print ("" when nothing). */
static char start_note[160];

/* Whether an Open MPI parameter is chosen already: in the environment (mpirun --mca
 * passes it so), the user's ~/.openmpi/mca-params.conf, or the system's parameter file
 * unless that only excludes components ("pml = ^ucx" leaves the choice open). */
static int mca_set_by_user(const char *name) {
    char var[96];
    snprintf(var, sizeof var, "OMPI_MCA_%s", name);
    if (getenv(var)) return 1;
    char home[1024];
    const char *h = getenv("HOME");
    snprintf(home, sizeof home, "%s/.openmpi/mca-params.conf", h ? h : "/nonexistent");
    const char *files[] = {home, "/etc/openmpi/openmpi-mca-params.conf"};
    const size_t n = strlen(name);
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        char line[512];
        int found = 0;
        while (f && !found && fgets(line, sizeof line, f)) {
            const char *p = line + strspn(line, " \t");
            if (strncmp(p, name, n) || (p[n] != ' ' && p[n] != '\t' && p[n] != '=')) continue;
            const char *val = p + n + strspn(p + n, " \t=");
            found = i == 0 || *val != '^';
        }
        if (f) fclose(f);
        if (found) return 1;
    }
    return 0;
}

/* Open MPI's defaults start slowly on one node: a singleton (not launched by mpirun)
 * forks an orted and UCX initialises its transports (0.2 s). Unless the user set them,
 * a singleton runs isolated (no orted) and every job whose ranks share one node uses
 * the ob1 PML over the self and shared-memory (vader) BTLs. An isolated singleton also
 * creates no session directory: every one of them is job family 0, so concurrent ones
 * created and removed the same TMPDIR/ompi.HOST.UID/jf.0 and one in forty failed in
 * MPI_Init ("mkdir ... File exists"); one process needs none (no shared memory). */
static void fast_start(void) {
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    const int launched = size || getenv("PMIX_RANK") || getenv("PMI_RANK");
    const int one_node = !launched || (size && local && !strcmp(size, local));
    int n = 0;
    n += snprintf(start_note + n, sizeof start_note - (size_t)n, "MPI:");
    if (!launched && !mca_set_by_user("ess_singleton_isolated")) {
        setenv("OMPI_MCA_ess_singleton_isolated", "1", 1);
        n += snprintf(start_note + n, sizeof start_note - (size_t)n, " isolated singleton");
        if (!mca_set_by_user("orte_create_session_dirs")) {
            setenv("OMPI_MCA_orte_create_session_dirs", "0", 1);
            n += snprintf(start_note + n, sizeof start_note - (size_t)n, " (no session dir)");
        }
    }
    if (one_node && !mca_set_by_user("pml")) {
        setenv("OMPI_MCA_pml", "ob1", 1);
        n += snprintf(start_note + n, sizeof start_note - (size_t)n, "%s pml ob1",
                      n > 4 ? "," : "");
    }
    if (one_node && !mca_set_by_user("btl")) {
        setenv("OMPI_MCA_btl", "self,vader", 1);
        n += snprintf(start_note + n, sizeof start_note - (size_t)n, "%s btl self,vader",
                      n > 4 ? "," : "");
    }
    if (n > 4) snprintf(start_note + n, sizeof start_note - (size_t)n, ": set by attnsweep");
    else start_note[0] = 0;
}

int as_runtime_init(int *argc, char ***argv) {
    fast_start();
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "attnsweep: MPI_Init failed\n");
        return 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return 0;
}

/* What as_runtime_set_threads found, for as_runtime_print: one line per node, gathered
 * on rank 0 (empty elsewhere). */
#define NODE_LINE 256
static char *node_lines;
static int n_node_lines;

static void describe_node(char *buf, size_t n, const as_cpu_limits *L, int local, int threads,
                          const char *why) {
    char host[128] = "?", quota[48] = "none", slurm[24] = "unset";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    if (L->quota > 0)
        snprintf(quota, sizeof quota, "%.2f CPUs (cgroup v%d)", L->quota, L->cgroup_v);
    if (L->slurm > 0) snprintf(slurm, sizeof slurm, "%d", L->slurm);
    snprintf(buf, n, "threads: node %s: %d rank%s; CPUs usable %d (online %d, affinity %d, "
             "quota %s, SLURM_CPUS_PER_TASK %s); %d thread%s per rank (%s)", host, local,
             local == 1 ? "" : "s", L->usable, L->online, L->affinity, quota, slurm, threads,
             threads == 1 ? "" : "s", why);
}

/* Rank 0 collects the line of each node's first rank. */
static void gather_node_lines(MPI_Comm node, const char *line) {
    int world_rank, node_rank, leaders = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_rank(node, &node_rank);
    MPI_Comm lead;
    MPI_Comm_split(MPI_COMM_WORLD, node_rank == 0 ? 0 : MPI_UNDEFINED, world_rank, &lead);
    if (lead == MPI_COMM_NULL) return;
    MPI_Comm_size(lead, &leaders);
    char *all = world_rank == 0 ? malloc((size_t)leaders * NODE_LINE) : NULL;
    char mine[NODE_LINE];
    snprintf(mine, sizeof mine, "%s", line);
    MPI_Gather(mine, NODE_LINE, MPI_CHAR, all, NODE_LINE, MPI_CHAR, 0, lead);
    MPI_Comm_free(&lead);
    if (world_rank == 0 && all) {
        free(node_lines);
        node_lines = all;
        n_node_lines = leaders;
    }
}

/* The user's thread count from OMP_NUM_THREADS or OPENBLAS_NUM_THREADS, 0 if neither. */
static int env_threads(const char **name) {
    static const char *const vars[] = {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"};
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) {
            *name = vars[i];
            return atoi(v);
        }
    }
    return 0;
}

/* Whether the node's ranks have pairwise disjoint affinity masks (each bound to its own
 * CPUs, as mpirun --bind-to core does): then each may use its own mask whole. */
static int masks_disjoint(MPI_Comm node, int affinity) {
    cpu_set_t set, all;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    int sum = 0;
    MPI_Allreduce(&affinity, &sum, 1, MPI_INT, MPI_SUM, node);
    MPI_Allreduce(&set, &all, (int)sizeof set, MPI_BYTE, MPI_BOR, node);
    return CPU_COUNT(&all) == sum;
}

/* Threads per rank when the user chose none: the CPUs this rank may use, shared with the
 * ranks of its node unless each is bound to its own. */
static int share(const as_cpu_limits *L, int disjoint, int local, char *why, size_t n) {
    int t = disjoint ? L->affinity : L->affinity / local;
    if (L->quota > 0) {
        const int q = (int)floor(L->quota + 1e-9) / local;
        if (q < t) t = q;
    }
    if (L->slurm > 0 && L->slurm < t) t = L->slurm; /* already per task */
    if (t < 1) t = 1;
    snprintf(why, n, "%d usable / %d rank%s on the node%s", L->usable, local,
             local == 1 ? "" : "s", disjoint ? ", each bound to its own CPUs" : "");
    return t;
}

void as_runtime_set_threads(int n, int ranks) {
    (void)ranks;
    MPI_Comm node;
    int local = 1;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &local);
    const as_cpu_limits L = as_cpus_detect();
    /* collective on the node: every rank calls it, whatever its own arguments */
    const int disjoint = local > 1 && masks_disjoint(node, L.affinity);
    const char *var = NULL;
    char why[96] = "--threads";
    if (n <= 0 && (n = env_threads(&var)) > 0) snprintf(why, sizeof why, "%s", var);
    else if (n <= 0) n = share(&L, disjoint, local, why, sizeof why);
    as_blas_set_threads(n);
    as_pool_set_threads(n);
    char line[NODE_LINE];
    describe_node(line, sizeof line, &L, local, n, why);
    gather_node_lines(node, line);
    MPI_Comm_free(&node);
}

void as_runtime_print(FILE *f, int ranks) {
    const char *was = getenv("ATTNSWEEP_BLAS_REEXEC");
    fprintf(f, "BLAS: OpenBLAS %s kernel%s%s%s, %d thread%s per rank, %d rank%s; kernels %s\n",
            as_blas_core(),
            was ? " (re-executed with OPENBLAS_CORETYPE; the library had loaded " : "",
            was ? was : "", was ? ")" : "", as_blas_threads(), as_blas_threads() == 1 ? "" : "s",
            ranks, ranks == 1 ? "" : "s", as_vec_name(as_vec_current()));
    for (int i = 0; i < n_node_lines; i++) fprintf(f, "%s\n", node_lines + (size_t)i * NODE_LINE);
    if (start_note[0]) fprintf(f, "%s\n", start_note);
    char hosts[1024];
    as_hosts_describe(hosts, sizeof hosts);
    fprintf(f, "hosts: %s\n", hosts);
}

/* Every rank must get through setup before the first collective of training: a rank
 * that failed alone (a node without the data file, a bad file on one host) would
 * otherwise leave the others waiting in the checksum allreduce. All ranks call this; if
 * any failed, every rank returns the lowest failing rank's status and message (so rank
 * 0 reports it, naming that rank). */
as_status as_runtime_agree(as_status st, int rank, int P, as_error *err) {
    int first = st ? rank : P;
    if (MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        return st ? st : as_error_set(err, AS_ERR_MPI, "setup status allreduce failed");
    if (first == P) return AS_OK;
    int code = (int)st;
    MPI_Bcast(&code, 1, MPI_INT, first, MPI_COMM_WORLD);
    MPI_Bcast(err->msg, (int)sizeof err->msg, MPI_CHAR, first, MPI_COMM_WORLD);
    err->msg[sizeof err->msg - 1] = 0;
    err->code = (as_status)code;
    if (first != 0) as_error_prefix(err, "rank %d on %s", first, as_host_name(first));
    return (as_status)code;
}

int as_runtime_report(const char *cmd, as_status st, int code, int rank, const as_error *err) {
    int worst = code;
    MPI_Allreduce(&code, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    int r0_failed = rank == 0 && st;
    MPI_Bcast(&r0_failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (st && (rank == 0 || !r0_failed)) {
        if (rank)
            fprintf(stderr, "attnsweep %s (rank %d on %s): %s\n", cmd, rank, as_host_name(rank),
                    err->msg);
        else fprintf(stderr, "attnsweep %s: %s\n", cmd, err->msg);
    }
    return worst;
}

void as_runtime_print_command(FILE *f, int ranks, int argc, char **argv, const char *extra) {
    char line[8192];
    size_t len = 0;
    as_cluster_launcher(line, sizeof line, ranks);
    len = strlen(line);
    char prog[4096];
    as_cluster_program(prog, sizeof prog);
    if (len) line[len++] = ' ', line[len] = 0;
    as_cluster_quote(line, sizeof line, &len, prog);
    for (int i = 0; i < argc && len + 1 < sizeof line; i++) {
        line[len++] = ' ';
        line[len] = 0;
        as_cluster_quote(line, sizeof line, &len, argv[i]);
    }
    if (extra) snprintf(line + len, sizeof line - len, " %s", extra);
    fprintf(f, "  %s\n", line);
}
