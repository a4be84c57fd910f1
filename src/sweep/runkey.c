/* runkey.c: run keys (see runkey.h). */
#include "attnsweep/runkey.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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
