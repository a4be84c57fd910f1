/* cpus.h: how many CPUs this process may really use.
 *
 * The minimum of: the CPUs in its affinity mask (sched_getaffinity: taskset, numactl,
 * mpirun --bind-to, Slurm's task binding), its cgroup CPU quota (cgroup v2 cpu.max, or v1
 * cpu.cfs_quota_us / cpu.cfs_period_us, the smallest along the cgroup's path up to the
 * root; a quota of q CPUs counts as floor(q), at least 1: more threads than that would
 * be throttled) and SLURM_CPUS_PER_TASK when set. Never fewer than 1. */
#ifndef ATTNSWEEP_CPUS_H
#define ATTNSWEEP_CPUS_H

typedef struct {
    int online;     /* sysconf(_SC_NPROCESSORS_ONLN) */
    int affinity;   /* CPUs in the affinity mask (online when it cannot be read) */
    double quota;   /* the cgroup quota in CPUs, 0 when there is none */
    int cgroup_v;   /* 1 or 2: where the quota was read; 0 when no cgroup CPU controller */
    int slurm;      /* SLURM_CPUS_PER_TASK, 0 when unset or invalid */
    int usable;     /* the minimum of the above, >= 1 */
} as_cpu_limits;

/* Reads the limits of the calling process (/proc/self/cgroup, /sys/fs/cgroup). */
as_cpu_limits as_cpus_detect(void);
/* The cgroup CPU quota in CPUs (0: none) read from the cgroup membership file
 * proc_cgroup (format of /proc/self/cgroup) and the cgroup file system mounted at root
 * (/sys/fs/cgroup). *version receives 1 or 2 (0 when neither has a cpu controller).
 * Missing or unreadable files count as no quota. For tests: any paths. */
double as_cpus_cgroup_quota(const char *proc_cgroup, const char *root, int *version);

#endif
