/* grid_testutil.h: helpers shared by the grid unit tests (test_grid.c: expansion,
 * test_grid_check.c: load errors, the check callback, files and the ready sweeps):
 * parsing a sweep from text, reading a number out of a variant's spec, and the
 * invariants every expanded variant must meet. */
#ifndef AS_GRID_TESTUTIL_H
#define AS_GRID_TESTUTIL_H

#include <cjson/cJSON.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/grid.h"
#include "attnsweep/spec.h"
#include "testutil.h"

static inline as_status parse(const char *text, as_sweep *s, as_error *err) {
    return as_sweep_parse(text, "t.json", NULL, NULL, NULL, s, err);
}

static inline as_sweep must_parse(const char *text) {
    as_sweep s;
    as_error e;
    as_error_clear(&e);
    as_status st = parse(text, &s, &e);
    ck_assert_msg(st == AS_OK, "parse failed: %s", e.msg);
    return s;
}

/* Does any string in v start with a single '$' (an unexpanded placeholder)? */
static inline int has_placeholder(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring[0] == '$' && v->valuestring[1] != '$';
    const cJSON *c;
    cJSON_ArrayForEach(c, v) if (has_placeholder(c)) return 1;
    return 0;
}

static inline double num_at(const cJSON *spec, const char *part, int layer, const char *key) {
    const cJSON *p = cJSON_GetObjectItem(spec, part);
    if (layer >= 0) p = cJSON_GetArrayItem(p, layer);
    const cJSON *v = cJSON_GetObjectItem(p, key);
    ck_assert_msg(cJSON_IsNumber(v), "%s[%d].%s not a number", part, layer, key);
    return v->valuedouble;
}

/* Every variant: no placeholders, no sweep keys, ids in order, canonical = the
 * canonical JSON of its spec with "data" as written in the file, names short. */
static inline void check_invariants(const as_sweep *s) {
    static const char *const sweep_keys[] = {"grid", "search", "repeats", "zip", "include",
                                             "exclude", "seed", "attention_samples",
                                             "prediction_samples", "save_weights",
                                             "ranks_per_variant"};
    for (int k = 0; k < s->n; k++) {
        const as_variant *v = &s->v[k];
        ck_assert_int_eq(v->id, k);
        ck_assert_msg(!has_placeholder(v->spec), "variant %d keeps a placeholder", k);
        for (size_t i = 0; i < sizeof sweep_keys / sizeof *sweep_keys; i++)
            ck_assert_ptr_null(cJSON_GetObjectItem(v->spec, sweep_keys[i]));
        cJSON *dup = cJSON_Duplicate(v->spec, 1);
        const cJSON *data = cJSON_GetObjectItem(s->root, "data");
        if (data) cJSON_ReplaceItemInObject(dup, "data", cJSON_Duplicate(data, 0));
        char *c = as_json_canonical(dup);
        ck_assert_str_eq(c, v->canonical);
        as_free(c);
        cJSON_Delete(dup);
        ck_assert_int_lt((int)strlen(v->name), AS_VARIANT_NAME_MAX);
        ck_assert(cJSON_IsObject(v->params));
        for (int j = 0; j < k; j++) ck_assert_str_ne(s->v[j].canonical, v->canonical);
    }
}

/* Sweep texts both files build on: a conv layer of f filters, an attention layer whose
 * heads and key_dim are axes, and a grid whose second layer is conv or attention. */
#define BASE_TRAIN "\"train\": {\"epochs\": 2, \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.001}}"
#define CONV(f) "{\"type\": \"conv1d\", \"filters\": " f ", \"kernel_size\": 5, \"activation\": \"relu\"}"
#define ATTN "{\"type\": \"self_attention\", \"num_heads\": \"$heads\", \"key_dim\": \"$key_dim\"}"

#define COND_GRID                                                                           \
    "{\"data\": \"d.h5\", \"model\": [" CONV("8") ", \"$L2\", " CONV("1") "], " BASE_TRAIN "," \
    " \"grid\": {\"L2\": [" CONV("8") ", " ATTN "], \"heads\": [1, 2, 4], \"key_dim\": [16, 32]}"

#endif
