/* runkey.c: run keys (see runkey.h). */
#include "attnsweep/runkey.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "attnsweep/alloc.h"
#include "attnsweep/sha256.h"
#include "attnsweep/sweep.h"

void as_run_key_of(const char *config_key, int repeat, uint64_t seed, const char *data_sha256,
                   char out[AS_RUN_KEY_HEX]) {
    static const char tag[] = "attnsweep-run-key-1\n";
    char tail[128];
    int nt = snprintf(tail, sizeof tail, "\n%d\n%" PRIu64 "\n%.64s", repeat, seed, data_sha256);
    size_t nc = strlen(config_key), n = sizeof tag - 1 + nc + (size_t)nt;
    char *buf = as_malloc(n);
    if (!buf) { /* hash the parts' hashes instead: still a function of the same parts */
        char h[65], parts[400];
        as_sha256_hex(config_key, nc, h);
        snprintf(parts, sizeof parts, "%s%s%s", tag, h, tail);
        as_sha256_hex(parts, strlen(parts), out);
        return;
    }
    memcpy(buf, tag, sizeof tag - 1);
    memcpy(buf + sizeof tag - 1, config_key, nc);
    memcpy(buf + sizeof tag - 1 + nc, tail, (size_t)nt);
    as_sha256_hex(buf, n, out);
    as_free(buf);
}

uint64_t as_run_seed(const as_sweep *s, int v, int repeat) {
    char *key = as_sweep_run_key(s, v);
    uint64_t seed = as_variant_seed(s->seed, key ? key : s->v[v].canonical, repeat);
    as_free(key);
    return seed;
}

as_status as_run_key(const as_sweep *s, int v, int repeat, const char *data_sha256,
                     char out[AS_RUN_KEY_HEX], as_error *err) {
    char *config = as_sweep_run_key(s, v);
    if (!config) return as_error_set(err, AS_ERR_NOMEM, "out of memory for a run key");
    if (s->v[v].data_sha256[0]) data_sha256 = s->v[v].data_sha256;
    as_run_key_of(config, repeat, as_variant_seed(s->seed, config, repeat), data_sha256, out);
    as_free(config);
    return AS_OK;
}

/* ---- variants that are one run ---- */

typedef struct {
    char h[AS_RUN_KEY_HEX]; /* the run key of repeat 0 with the seed left out */
    int v;
} key_slot;

static int slot_cmp(const void *a, const void *b) {
    const key_slot *x = a, *y = b;
    const int c = strcmp(x->h, y->h);
    return c ? c : (x->v > y->v) - (x->v < y->v);
}

static const char *data_of(const as_sweep *s, int v) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(s->v[v].spec, "data");
    return cJSON_IsString(d) ? d->valuestring : "?";
}

/* The first pair (a < b, smallest b) of variants with equal slots, or b = -1. */
static void first_pair(const key_slot *k, int n, int *a, int *b) {
    *a = *b = -1;
    for (int i = 1, g = 0; i < n; i++) {
        if (strcmp(k[i].h, k[g].h) != 0) {
            g = i;
            continue;
        }
        if (*b < 0 || k[i].v < *b) *a = k[g].v, *b = k[i].v;
    }
}

static as_status one_run(const as_sweep *s, int a, int b, const char *file, const char *why,
                         as_error *err) {
    const char *da = data_of(s, a), *db = data_of(s, b);
    if (strcmp(da, db) != 0)
        return as_error_set(err, AS_ERR_SPEC, "%s: variants v%04d (%.80s) and v%04d (%.80s) are one "
                            "run: the same configuration%s%s on data files of the same content "
                            "(%.200s and %.200s, sha256 %.12s...), which would share one run key; "
                            "keep one of the two in the data axis", file, a, s->v[a].name, b,
                            s->v[b].name, why && *why ? " after " : "", why && *why ? why : "", da,
                            db, s->v[a].data_sha256);
    return as_error_set(err, AS_ERR_SPEC, "%s: variants v%04d (%.80s) and v%04d (%.80s) are one run: "
                        "their specs are equal after %s%s\"n_classes\"/\"n_outputs\" were filled in "
                        "from the data, on the same data, so they would share one run key; drop "
                        "the grid value (or the override) that makes them equal", file, a,
                        s->v[a].name, b, s->v[b].name, why && *why ? why : "",
                        why && *why ? " and " : "");
}

as_status as_run_keys_distinct(const as_sweep *s, const char *file, const char *why,
                               as_error *err) {
    if (s->n < 2) return AS_OK;
    key_slot *k = as_calloc((size_t)s->n, sizeof *k);
    if (!k) return as_error_set(err, AS_ERR_NOMEM, "out of memory for the run keys");
    for (int v = 0; v < s->n; v++) {
        char *config = as_sweep_run_key(s, v), data[AS_RUN_KEY_HEX];
        if (!config) {
            as_free(k);
            return as_error_set(err, AS_ERR_NOMEM, "out of memory for a run key");
        }
        if (s->v[v].data_sha256[0]) snprintf(data, sizeof data, "%.64s", s->v[v].data_sha256);
        else snprintf(data, sizeof data, "#%d", s->v[v].data_index);
        as_run_key_of(config, 0, 0, data, k[v].h);
        k[v].v = v;
        as_free(config);
    }
    qsort(k, (size_t)s->n, sizeof *k, slot_cmp);
    int a, b;
    first_pair(k, s->n, &a, &b);
    as_free(k);
    return b < 0 ? AS_OK : one_run(s, a, b, file, why, err);
}
