/* sweep_data.c: the datasets of a sweep (see sweep_data.h). */
#include "cli/sweep_data.h"

#include <cjson/cJSON.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/sha256.h"
#include "cli/runtime.h"

static const char *variant_data(const as_sweep *s, int v) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(s->v[v].spec, "data");
    return cJSON_IsString(d) ? d->valuestring : ""; /* every variant passed as_spec_parse */
}

/* The index of p among the n distinct paths so far, or -1 (variants x distinct datasets). */
static int find_path(char **paths, int n, const char *p) {
    for (int k = 0; k < n; k++)
        if (strcmp(paths[k], p) == 0) return k;
    return -1;
}

int as_sweep_data_count(const as_sweep *s) {
    int n = 0;
    const char *first = s->n ? variant_data(s, 0) : "";
    for (int v = 0; v < s->n && n < 2; v++) n = strcmp(variant_data(s, v), first) ? 2 : 1;
    return n;
}

static as_status nomem(as_error *err) { return as_error_set(err, AS_ERR_NOMEM, "out of memory"); }

/* The distinct paths in order of first use, and each variant's index into them. */
static as_status index_paths(as_sweep *s, as_sweep_data *sd, as_error *err) {
    sd->path = as_calloc((size_t)s->n, sizeof *sd->path);
    if (!sd->path) return nomem(err);
    for (int v = 0; v < s->n; v++) {
        const char *p = variant_data(s, v);
        int k = find_path(sd->path, sd->n, p);
        if (k < 0) {
            if (!(sd->path[sd->n] = as_strdup(p))) return nomem(err);
            k = sd->n++;
        }
        s->v[v].data_index = k;
    }
    return AS_OK;
}

/* sd->path_all: the path, or ["p0","p1",...]. */
static as_status join_paths(as_sweep_data *sd, as_error *err) {
    if (sd->n == 1) {
        sd->path_all = as_strdup(sd->path[0]);
        return sd->path_all ? AS_OK : nomem(err);
    }
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; a && k < sd->n; k++)
        if (!cJSON_AddItemToArray(a, cJSON_CreateString(sd->path[k]))) {
            cJSON_Delete(a);
            a = NULL;
        }
    char *txt = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    sd->path_all = txt ? as_strdup(txt) : NULL;
    if (txt) cJSON_free(txt);
    return sd->path_all ? AS_OK : nomem(err);
}

as_status as_sweep_data_load(as_sweep *s, const char *origin, as_sweep_data *sd, as_error *err) {
    memset(sd, 0, sizeof *sd);
    as_status st = index_paths(s, sd, err);
    if (!st) st = join_paths(sd, err);
    if (!st && (!(sd->d = as_calloc((size_t)sd->n, sizeof *sd->d)) ||
                !(sd->sha = as_calloc((size_t)sd->n, sizeof *sd->sha))))
        st = nomem(err);
    for (int k = 0; k < sd->n && !st; k++)
        if ((st = as_dataset_load(sd->path[k], &sd->d[k], err)))
            as_error_prefix(err, "%s: data%s", origin, sd->n > 1 ? " (a grid axis)" : "");
    for (int k = 1; k < sd->n && !st; k++)
        if (sd->d[k].task != sd->d[0].task)
            st = as_error_set(err, AS_ERR_SPEC, "%s: data: the datasets of one sweep must have one "
                              "task: %s is %s, %s is %s", origin, sd->path[0],
                              sd->d[0].task == AS_TASK_CLASSIFICATION ? "classification" : "regression",
                              sd->path[k],
                              sd->d[k].task == AS_TASK_CLASSIFICATION ? "classification" : "regression");
    return st;
}

/* Every rank hashes the dataset it opened and compares with rank 0's: a host whose file
 * at the same path differs must not train silently on other data. Collective. */
static as_status same_data(const char *path, int rank, int P, char sha[65], as_error *err) {
    /* test hook ATTNSWEEP_TEST_RANK_DATA=R:PATH: rank R's file "at the same path" is PATH
     * (a host whose copy differs; paths are otherwise rank 0's, see cluster.h) */
    const char *hook = getenv("ATTNSWEEP_TEST_RANK_DATA"), *colon = hook ? strchr(hook, ':') : NULL;
    if (colon && atoi(hook) == rank) path = colon + 1;
    as_status st = as_sha256_file(path, sha, err);
    if (P == 1) return st;
    char sha0[65];
    memcpy(sha0, sha, sizeof sha0);
    if (MPI_Bcast(sha0, (int)sizeof sha0, MPI_CHAR, 0, MPI_COMM_WORLD) != MPI_SUCCESS && !st)
        st = as_error_set(err, AS_ERR_MPI, "broadcast of the dataset hash failed");
    if (!st && strncmp(sha0, sha, 64) != 0) {
        char host[256] = "?";
        gethostname(host, sizeof host - 1);
        st = as_error_set(err, AS_ERR_DATA, "on host %s: %s holds other data than rank 0's (sha256 "
                          "%.12s..., rank 0 %.12s...): every rank must train on the same dataset",
                          host, path, sha, sha0);
    }
    return as_runtime_agree(st, rank, P, err);
}

as_status as_sweep_data_hash(as_sweep *s, as_sweep_data *sd, int rank, int P, as_error *err) {
    as_status st = AS_OK;
    for (int k = 0; k < sd->n && !st; k++) st = same_data(sd->path[k], rank, P, sd->sha[k], err);
    if (st) return st;
    for (int v = 0; v < s->n; v++) memcpy(s->v[v].data_sha256, sd->sha[s->v[v].data_index], 65);
    if (sd->n == 1) {
        memcpy(sd->sha_all, sd->sha[0], sizeof sd->sha_all);
        return AS_OK;
    }
    char *list = as_malloc((size_t)sd->n * 65 + 1);
    if (!list) return nomem(err);
    for (int k = 0; k < sd->n; k++) {
        memcpy(list + (size_t)k * 65, sd->sha[k], 64);
        list[(size_t)k * 65 + 64] = '\n';
    }
    as_sha256_hex(list, (size_t)sd->n * 65, sd->sha_all);
    as_free(list);
    return AS_OK;
}

void as_sweep_data_free(as_sweep_data *sd) {
    if (!sd) return;
    for (int k = 0; sd->path && k < sd->n; k++) as_free(sd->path[k]);
    for (int k = 0; sd->d && k < sd->n; k++) as_dataset_free(&sd->d[k]);
    as_free(sd->path);
    as_free(sd->d);
    as_free(sd->sha);
    as_free(sd->path_all);
    memset(sd, 0, sizeof *sd);
}
