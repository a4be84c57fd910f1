/* test_grid.c: sweep grid expansion (grid.h): placeholders, layer-object and
 * conditional axes, zip, include/exclude, random search, repeats, duplicates, every
 * load error, the check callback, seeds, overrides, and the ready sweeps/ files.
 *
 * Expected variant lists are built independently by nested loops in the tests. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

#include "attnsweep/alloc.h"
#include "attnsweep/grid.h"
#include "attnsweep/spec.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------ */

static int mkdir_p_helper(const char *path) {
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

typedef struct {
    int calls;
    int max_heads;
} fake_check;

/* Rejects any layer with num_heads > max_heads (a stand-in for the spec's checks). */
static as_status check_heads(void *ud, const cJSON *spec, const char *origin, as_error *err) {
    fake_check *fc = ud;
    fc->calls++;
    int i = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(spec, "model")) {
        const cJSON *h = cJSON_GetObjectItem(l, "num_heads");
        if (cJSON_IsNumber(h) && h->valueint > fc->max_heads)
            return as_error_set(err, AS_ERR_SPEC, "%s: model[%d].num_heads: must be <= %d (got %d)",
                                origin, i, fc->max_heads, h->valueint);
        i++;
    }
    return AS_OK;
}

static as_status parse(const char *text, as_sweep *s, as_error *err) {
    return as_sweep_parse(text, "t.json", NULL, NULL, NULL, s, err);
}

static as_sweep must_parse(const char *text) {
    as_sweep s;
    as_error e;
    as_error_clear(&e);
    as_status st = parse(text, &s, &e);
    ck_assert_msg(st == AS_OK, "parse failed: %s", e.msg);
    return s;
}

/* Does any string in v start with a single '$' (an unexpanded placeholder)? */
static int has_placeholder(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring[0] == '$' && v->valuestring[1] != '$';
    const cJSON *c;
    cJSON_ArrayForEach(c, v) if (has_placeholder(c)) return 1;
    return 0;
}

static double num_at(const cJSON *spec, const char *part, int layer, const char *key) {
    const cJSON *p = cJSON_GetObjectItem(spec, part);
    if (layer >= 0) p = cJSON_GetArrayItem(p, layer);
    const cJSON *v = cJSON_GetObjectItem(p, key);
    ck_assert_msg(cJSON_IsNumber(v), "%s[%d].%s not a number", part, layer, key);
    return v->valuedouble;
}

static const char *str_at(const cJSON *spec, int layer, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "model"), layer), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Every variant: no placeholders, no sweep keys, ids in order, canonical = the
 * canonical JSON of its spec with "data" as written in the file, names short. */
static void check_invariants(const as_sweep *s) {
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

#define BASE_TRAIN "\"train\": {\"epochs\": 2, \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.001}}"

/* ---- expansion ---------------------------------------------------------------- */

START_TEST(test_placeholders_model_and_train) {
    const char *text =
        "{\"data\": \"d.h5\", \"model\": [{\"type\": \"conv1d\", \"filters\": \"$f\", \"kernel_size\": 5},"
        " {\"type\": \"conv1d\", \"filters\": \"$f\", \"kernel_size\": \"$k\"},"
        " {\"type\": \"conv1d\", \"filters\": 1, \"kernel_size\": 5, \"activation\": \"$$$lit\"}],"
        " \"train\": {\"epochs\": 2, \"optimizer\": {\"type\": \"adam\", \"learning_rate\": \"$lr\"}},"
        " \"grid\": {\"lr\": [0.001, 0.01], \"k\": [3, 5, 7], \"f\": [16, 32]}}";
    as_sweep s = must_parse(text);
    const int F[] = {16, 32}, K[] = {3, 5, 7};
    const double LR[] = {0.001, 0.01};
    ck_assert_int_eq(s.n, 12);
    ck_assert_int_eq(s.grid_size, 12);
    int id = 0; /* order of first appearance: f, k (model) then lr (train) */
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 2; c++, id++) {
                const cJSON *sp = s.v[id].spec;
                ck_assert_int_eq((int)num_at(sp, "model", 0, "filters"), F[a]);
                ck_assert_int_eq((int)num_at(sp, "model", 1, "filters"), F[a]);
                ck_assert_int_eq((int)num_at(sp, "model", 1, "kernel_size"), K[b]);
                const cJSON *opt = cJSON_GetObjectItem(cJSON_GetObjectItem(sp, "train"), "optimizer");
                ck_assert(cJSON_GetObjectItem(opt, "learning_rate")->valuedouble == LR[c]);
                ck_assert_str_eq(str_at(sp, 2, "activation"), "$$lit"); /* one $ stripped */
                char name[64];
                snprintf(name, sizeof name, "f=%d,k=%d,lr=%g", F[a], K[b], LR[c]);
                ck_assert_str_eq(s.v[id].name, name);
                ck_assert_int_eq(cJSON_GetObjectItem(s.v[id].params, "k")->valueint, K[b]);
            }
    check_invariants(&s);
    ck_assert(s.repeats == 1 && s.seed == 0 && s.attention_samples == 3); /* defaults */
    ck_assert(s.prediction_samples == 6 && s.save_weights == 0 && s.ranks_per_variant == 1);
    ck_assert_str_eq(s.text, text);
    as_sweep_free(&s);
    s = must_parse("{\"data\": \"d\", \"model\": [{\"type\": \"$$x\", \"units\": \"$u\"}], \"grid\": {\"u\": [1]}}");
    ck_assert_str_eq(str_at(s.v[0].spec, 0, "type"), "$x");
    as_sweep_free(&s);
}
END_TEST

#define CONV(f) "{\"type\": \"conv1d\", \"filters\": " f ", \"kernel_size\": 5, \"activation\": \"relu\"}"
#define ATTN "{\"type\": \"self_attention\", \"num_heads\": \"$heads\", \"key_dim\": \"$key_dim\"}"

START_TEST(test_layer_object_axis) {
    as_sweep s = must_parse(
        "{\"data\": \"d.h5\", \"model\": [" CONV("8") ", \"$L\", " CONV("1") "], " BASE_TRAIN ","
        " \"grid\": {\"L\": [" CONV("8") ", {\"type\": \"residual_conv1d\", \"filters\": 8, \"kernel_size\": 3},"
        " {\"type\": \"self_attention\", \"num_heads\": 2, \"key_dim\": 4}]}}");
    ck_assert_int_eq(s.n, 3);
    const char *types[] = {"conv1d", "residual_conv1d", "self_attention"};
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(str_at(s.v[i].spec, 1, "type"), types[i]);
        char name[64];
        snprintf(name, sizeof name, "L=%s", types[i]);
        ck_assert_str_eq(s.v[i].name, name);
        ck_assert_str_eq(cJSON_GetObjectItem(s.v[i].params, "L")->valuestring, types[i]);
    }
    ck_assert_int_eq((int)num_at(s.v[2].spec, "model", 1, "key_dim"), 4);
    check_invariants(&s);
    as_sweep_free(&s);
}
END_TEST

START_TEST(test_conditional_axes) {
    /* filters used at top level and inside the conv choice; heads and key_dim only
     * inside the attention choice: 2 x (1 + 3 x 3) = 20 variants. */
    as_sweep s = must_parse(
        "{\"data\": \"d.h5\", \"model\": [" CONV("\"$filters\"") ", \"$L2\", " CONV("1") "], " BASE_TRAIN ","
        " \"grid\": {\"heads\": [1, 2, 4], \"key_dim\": [16, 32, 64], \"filters\": [32, 64],"
        " \"L2\": [" CONV("\"$filters\"") ", " ATTN "]}}");
    ck_assert_int_eq(s.n, 20);
    const int F[] = {32, 64}, H[] = {1, 2, 4}, KD[] = {16, 32, 64};
    int id = 0;
    for (int f = 0; f < 2; f++) {
        char name[128];
        snprintf(name, sizeof name, "filters=%d,L2=conv1d", F[f]);
        ck_assert_str_eq(s.v[id].name, name);
        ck_assert_int_eq((int)num_at(s.v[id].spec, "model", 1, "filters"), F[f]);
        ck_assert_ptr_null(cJSON_GetObjectItem(s.v[id].params, "heads"));
        ck_assert_int_eq(cJSON_GetArraySize(s.v[id].params), 2);
        id++;
        for (int h = 0; h < 3; h++)
            for (int k = 0; k < 3; k++, id++) {
                snprintf(name, sizeof name, "filters=%d,L2=self_attention,heads=%d,key_dim=%d",
                         F[f], H[h], KD[k]);
                ck_assert_str_eq(s.v[id].name, name);
                ck_assert_int_eq((int)num_at(s.v[id].spec, "model", 1, "num_heads"), H[h]);
                ck_assert_int_eq((int)num_at(s.v[id].spec, "model", 1, "key_dim"), KD[k]);
                ck_assert_int_eq((int)num_at(s.v[id].spec, "model", 0, "filters"), F[f]);
                ck_assert_int_eq(cJSON_GetArraySize(s.v[id].params), 4);
            }
    }
    check_invariants(&s);
    as_sweep_free(&s);
}
END_TEST

START_TEST(test_nested_value_placeholders_and_same_type_labels) {
    /* A value that is itself a placeholder, and two objects of one type: labels #k. */
    as_sweep s = must_parse(
        "{\"data\": \"d.h5\", \"model\": [\"$L\"], " BASE_TRAIN ","
        " \"grid\": {\"L\": [\"$conv\", " ATTN "], \"conv\": [" CONV("4") ", " CONV("8") "],"
        " \"heads\": [1], \"key_dim\": [2]}}");
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.v[0].name, "L=$conv,conv=conv1d#1");
    ck_assert_str_eq(s.v[1].name, "L=$conv,conv=conv1d#2");
    ck_assert_str_eq(s.v[2].name, "L=self_attention,heads=1,key_dim=2");
    ck_assert_int_eq((int)num_at(s.v[1].spec, "model", 0, "filters"), 8);
    ck_assert_str_eq(cJSON_GetObjectItem(s.v[1].params, "conv")->valuestring, "conv1d#2");
    check_invariants(&s);
    as_sweep_free(&s);
}
END_TEST

START_TEST(test_zip) {
    as_sweep s = must_parse(
        "{\"data\": \"d.h5\", \"model\": [{\"type\": \"conv1d\", \"filters\": \"$f\", \"kernel_size\": \"$k\","
        " \"activation\": \"$act\"}], " BASE_TRAIN ","
        " \"grid\": {\"f\": [16, 32, 64], \"act\": [\"relu\", \"tanh\"], \"k\": [3, 5, 7]},"
        " \"zip\": [[\"f\", \"k\"]]}");
    ck_assert_int_eq(s.n, 6);
    const int F[] = {16, 32, 64}, K[] = {3, 5, 7};
    const char *A[] = {"relu", "tanh"};
    int id = 0; /* (f,k) met first, then act */
    for (int i = 0; i < 3; i++)
        for (int a = 0; a < 2; a++, id++) {
            char name[64];
            snprintf(name, sizeof name, "f=%d,k=%d,act=%s", F[i], K[i], A[a]);
            ck_assert_str_eq(s.v[id].name, name);
            ck_assert_int_eq((int)num_at(s.v[id].spec, "model", 0, "kernel_size"), K[i]);
        }
    check_invariants(&s);
    as_sweep_free(&s);
}
END_TEST

#define COND_GRID                                                                           \
    "{\"data\": \"d.h5\", \"model\": [" CONV("8") ", \"$L2\", " CONV("1") "], " BASE_TRAIN "," \
    " \"grid\": {\"L2\": [" CONV("8") ", " ATTN "], \"heads\": [1, 2, 4], \"key_dim\": [16, 32]}"

START_TEST(test_exclude) {
    /* Drops attention with 4 heads (by type name) and the exact (heads 1, key_dim 32). */
    as_sweep s = must_parse(COND_GRID ", \"exclude\": [{\"L2\": \"self_attention\", \"heads\": 4},"
                            " {\"heads\": 1, \"key_dim\": 32}, {\"heads\": 2, \"L2\": " CONV("8") "}]}");
    const char *want[] = {"L2=conv1d", "L2=self_attention,heads=1,key_dim=16",
                          "L2=self_attention,heads=2,key_dim=16",
                          "L2=self_attention,heads=2,key_dim=32"};
    ck_assert_int_eq(s.n, 4);
    for (int i = 0; i < 4; i++) ck_assert_str_eq(s.v[i].name, want[i]);
    check_invariants(&s);
    as_sweep_free(&s);
}
END_TEST

START_TEST(test_include) {
    /* A full off-grid combination (type name for the object), a partial one
     * (key_dim expanded), one duplicating a grid variant (kept once, at its grid
     * place), and an include excluded entries do not drop. */
    as_sweep s = must_parse(COND_GRID ", \"exclude\": [{\"heads\": 8}, {\"heads\": 4}],"
                            " \"include\": [{\"L2\": \"self_attention\", \"heads\": 8, \"key_dim\": 8},"
                            " {\"L2\": \"self_attention\", \"heads\": 3},"
                            " {\"L2\": \"self_attention\", \"heads\": 1, \"key_dim\": 16}]}");
    const char *want[] = {"L2=conv1d",
                          "L2=self_attention,heads=1,key_dim=16",
                          "L2=self_attention,heads=1,key_dim=32",
                          "L2=self_attention,heads=2,key_dim=16",
                          "L2=self_attention,heads=2,key_dim=32",
                          "L2=self_attention,heads=8,key_dim=8",
                          "L2=self_attention,heads=3,key_dim=16",
                          "L2=self_attention,heads=3,key_dim=32"};
    ck_assert_int_eq(s.n, 8);
    for (int i = 0; i < 8; i++) ck_assert_str_eq(s.v[i].name, want[i]);
    ck_assert_int_eq((int)num_at(s.v[5].spec, "model", 1, "num_heads"), 8);
    ck_assert_int_eq((int)num_at(s.v[5].spec, "model", 1, "key_dim"), 8);
    check_invariants(&s);
    as_sweep_free(&s);
}
END_TEST

START_TEST(test_include_value_with_placeholders) {
    /* An included object may use other axes: they expand over their lists. */
    as_sweep s = must_parse(COND_GRID ", \"exclude\": [{\"L2\": \"self_attention\"}],"
                            " \"include\": [{\"L2\": {\"type\": \"self_attention\", \"num_heads\": \"$heads\","
                            " \"key_dim\": 4, \"value_dim\": 8}}]}");
    ck_assert_int_eq(s.n, 4);
    ck_assert_str_eq(s.v[0].name, "L2=conv1d");
    const int H[] = {1, 2, 4};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "L2=self_attention,heads=%d", H[i]);
        ck_assert_str_eq(s.v[1 + i].name, name);
        ck_assert_int_eq((int)num_at(s.v[1 + i].spec, "model", 1, "num_heads"), H[i]);
        ck_assert_int_eq((int)num_at(s.v[1 + i].spec, "model", 1, "value_dim"), 8);
    }
    check_invariants(&s);
    as_sweep_free(&s);
}
END_TEST

START_TEST(test_duplicates_removed) {
    /* Equal values, and objects equal up to key order, give one variant each. */
    as_sweep s = must_parse(
        "{\"data\": \"d.h5\", \"model\": [\"$L\", {\"type\": \"dense\", \"units\": \"$u\"}], " BASE_TRAIN ","
        " \"grid\": {\"L\": [{\"type\": \"dense\", \"units\": 2}, {\"units\": 2, \"type\": \"dense\"},"
        " {\"type\": \"flatten\"}], \"u\": [1, 1, 3]}}");
    ck_assert_int_eq(s.n, 4);
    ck_assert_int_eq(s.grid_size, 4);
    ck_assert_str_eq(s.v[0].name, "L=dense#1,u=1");
    ck_assert_str_eq(s.v[1].name, "L=dense#1,u=3");
    ck_assert_str_eq(s.v[2].name, "L=flatten,u=1");
    ck_assert_str_eq(s.v[3].name, "L=flatten,u=3");
    check_invariants(&s);
    as_sweep_free(&s);
}
END_TEST

#define RAND_GRID(extra)                                                                        \
    "{\"data\": \"d.h5\", \"model\": [{\"type\": \"dense\", \"units\": \"$a\"},"                 \
    " {\"type\": \"dense\", \"units\": \"$b\"}], " BASE_TRAIN ","                                \
    " \"grid\": {\"a\": [1, 2, 3, 4, 5], \"b\": [10, 20, 30, 40]}" extra "}"

/* Position of a variant name in the full 5x4 grid ("a=3,b=20" -> 9). */
static int grid_pos(const char *name) {
    int a, b;
    ck_assert_int_eq(sscanf(name, "a=%d,b=%d", &a, &b), 2);
    return (a - 1) * 4 + b / 10 - 1;
}

START_TEST(test_random_search) {
    as_sweep s1 = must_parse(RAND_GRID(", \"search\": {\"type\": \"random\", \"samples\": 7, \"seed\": 11}"));
    as_sweep s2 = must_parse(RAND_GRID(", \"search\": {\"type\": \"random\", \"samples\": 7, \"seed\": 11}"));
    as_sweep s3 = must_parse(RAND_GRID(", \"search\": {\"type\": \"random\", \"samples\": 7, \"seed\": 12}"));
    ck_assert_int_eq(s1.n, 7);
    ck_assert_int_eq(s1.grid_size, 20);
    ck_assert(s1.random);
    check_invariants(&s1); /* distinct, ids 0..6 */
    int same3 = 1;
    for (int i = 0; i < 7; i++) {
        ck_assert_str_eq(s1.v[i].canonical, s2.v[i].canonical);
        if (strcmp(s1.v[i].canonical, s3.v[i].canonical)) same3 = 0;
        if (i) ck_assert_int_lt(grid_pos(s1.v[i - 1].name), grid_pos(s1.v[i].name)); /* grid order */
    }
    ck_assert_msg(!same3, "another seed picked the same variants");
    as_sweep_free(&s1);
    as_sweep_free(&s2);
    as_sweep_free(&s3);

    /* Uniform: over 400 seeds, each of the 20 variants is picked ~ 400*5/20 = 100 times
     * (binomial sd ~8.7; bounds are > 4 sd). */
    int count[20] = {0};
    char text[1024];
    for (int seed = 0; seed < 400; seed++) {
        snprintf(text, sizeof text,
                 RAND_GRID(", \"search\": {\"type\": \"random\", \"samples\": 5, \"seed\": %d}"), seed);
        as_sweep s = must_parse(text);
        ck_assert_int_eq(s.n, 5);
        for (int i = 0; i < 5; i++) count[grid_pos(s.v[i].name)]++;
        as_sweep_free(&s);
    }
    for (int i = 0; i < 20; i++) ck_assert_msg(count[i] > 60 && count[i] < 140, "variant %d: %d", i, count[i]);

    /* samples >= the grid: clamped to the whole grid, in order; seed defaults to the
     * sweep seed. */
    as_sweep c = must_parse(RAND_GRID(", \"seed\": 5, \"search\": {\"type\": \"random\", \"samples\": 50}"));
    ck_assert_int_eq(c.n, 20);
    ck_assert_int_eq(c.samples, 50);
    ck_assert_uint_eq(c.search_seed, 5);
    for (int i = 0; i < 20; i++) ck_assert_int_eq(grid_pos(c.v[i].name), i);
    as_sweep_free(&c);
}
END_TEST


/* Random search over distributions: draws stay in range, cover it, follow the seed,
 * and a distribution inside a layer choice is drawn only where that layer is chosen. */
#define DIST_SWEEP(grid, extra)                                                                  \
    "{\"data\": \"d.h5\", \"model\": [\"$L\", {\"type\": \"dense\", \"units\": \"$u\"}],"          \
    " \"train\": {\"epochs\": 2, \"optimizer\": {\"type\": \"adam\", \"learning_rate\": \"$lr\"},"   \
    " \"batch_size\": \"$bs\"}, \"grid\": {" grid "}" extra "}"
#define DIST_GRID                                                                                \
    "\"L\": {\"choice\": [{\"type\": \"dense\", \"units\": 4},"                                   \
    " {\"type\": \"dropout\", \"rate\": \"$rate\"}]}, \"rate\": {\"uniform\": [0.1, 0.5]},"       \
    " \"u\": {\"randint\": [2, 5]}, \"lr\": {\"loguniform\": [1e-4, 1e-1]},"                     \
    " \"bs\": {\"quniform\": [8, 64, 8]}"

START_TEST(test_random_distributions) {
    char text[2048];
    snprintf(text, sizeof text, "%s", DIST_SWEEP(DIST_GRID, ", \"search\": {\"type\": \"random\", \"samples\": 400, \"seed\": 3}"));
    as_sweep s = must_parse(text);
    ck_assert_int_eq(s.n, 400);
    ck_assert(s.sampled);
    check_invariants(&s);
    int ucount[4] = {0}, dropout = 0, bs_seen[9] = {0};
    double loglr = 0;
    for (int k = 0; k < s.n; k++) {
        const cJSON *spec = s.v[k].spec;
        double u = num_at(spec, "model", 1, "units");
        ck_assert(u == 2 || u == 3 || u == 4 || u == 5);
        ucount[(int)u - 2]++;
        const cJSON *opt = cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "train"), "optimizer");
        double lr = cJSON_GetObjectItem(opt, "learning_rate")->valuedouble;
        ck_assert(lr >= 1e-4 && lr <= 1e-1);
        loglr += log10(lr);
        double bs = num_at(spec, "train", -1, "batch_size");
        ck_assert(bs >= 8 && bs <= 64 && bs == 8 * floor(bs / 8));
        bs_seen[(int)bs / 8]++;
        const char *type = str_at(spec, 0, "type");
        const cJSON *params = s.v[k].params;
        if (!strcmp(type, "dropout")) {
            dropout++;
            double r = num_at(spec, "model", 0, "rate");
            ck_assert(r >= 0.1 && r < 0.5);
            ck_assert_ptr_nonnull(cJSON_GetObjectItem(params, "rate"));
        } else {
            ck_assert_ptr_null(cJSON_GetObjectItem(params, "rate")); /* not drawn into the name */
            ck_assert_ptr_null(strstr(s.v[k].name, "rate="));
        }
    }
    /* randint is inclusive and uniform (100 expected, sd ~8.7); loguniform's log10 mean is
     * -2.5 (sd of the mean 0.043); both layer choices appear about half the time. */
    for (int i = 0; i < 4; i++) ck_assert_msg(ucount[i] > 60 && ucount[i] < 140, "units %d: %d", i + 2, ucount[i]);
    ck_assert_msg(fabs(loglr / s.n + 2.5) < 0.2, "mean log10 lr %g", loglr / s.n);
    ck_assert_msg(dropout > 150 && dropout < 250, "dropout chosen %d times", dropout);
    ck_assert_msg(bs_seen[1] > 0 && bs_seen[8] > 0, "quniform ends 8 and 64 reached");
    /* the same seed draws the same configurations; another seed others */
    as_sweep same = must_parse(text);
    for (int k = 0; k < s.n; k++) ck_assert_str_eq(s.v[k].canonical, same.v[k].canonical);
    snprintf(text, sizeof text, "%s", DIST_SWEEP(DIST_GRID, ", \"seed\": 4, \"search\": {\"type\": \"random\", \"samples\": 400}"));
    as_sweep other = must_parse(text);
    ck_assert_str_ne(s.v[0].canonical, other.v[0].canonical);
    ck_assert_uint_eq(other.search.seed, 4);
    as_sweep_free(&s);
    as_sweep_free(&same);
    as_sweep_free(&other);
    /* a small discrete space: only its distinct configurations (2 layers x 2 units + rates
     * make many; randint [1, 2] alone makes 2) */
    as_sweep tiny = must_parse("{\"data\": \"d\", \"model\": [{\"type\": \"dense\", \"units\": \"$u\"}],"
                               " \"grid\": {\"u\": {\"randint\": [1, 2]}}, \"search\": {\"type\": \"random\", \"samples\": 5}}");
    ck_assert_int_eq(tiny.n, 2);
    check_invariants(&tiny);
    as_sweep_free(&tiny);
}
END_TEST

/* A search block of a rung policy is read into as_search_cfg, with its defaults. */
START_TEST(test_search_block) {
    as_sweep s = must_parse(RAND_GRID(", \"search\": {\"type\": \"successive_halving\", \"min_epochs\": 3,"
                                      " \"max_epochs\": 30}"));
    ck_assert_int_eq(s.search.type, AS_SEARCH_HALVING);
    ck_assert_int_eq(s.search.min_epochs, 3);
    ck_assert_int_eq(s.search.max_epochs, 30);
    ck_assert_int_eq(s.search.eta, 3);
    ck_assert_int_eq(s.search.metric, AS_METRIC_VAL_LOSS);
    ck_assert_int_eq(s.search.maximize, 0);
    ck_assert_int_eq(s.n, 20); /* the whole grid */
    as_sweep_free(&s);
    s = must_parse(RAND_GRID(", \"search\": {\"type\": \"asha\", \"min_epochs\": 1, \"max_epochs\": 9,"
                             " \"eta\": 2, \"metric\": \"val_accuracy\", \"samples\": 6, \"seed\": 2}"));
    ck_assert_int_eq(s.search.type, AS_SEARCH_ASHA);
    ck_assert_int_eq(s.search.maximize, 1);
    ck_assert_int_eq(s.n, 6); /* a random subset of the grid */
    as_sweep_free(&s);
    s = must_parse(RAND_GRID(", \"search\": {\"type\": \"hyperband\", \"min_epochs\": 1, \"max_epochs\": 9,"
                             " \"metric\": \"accuracy\", \"mode\": \"min\"}"));
    ck_assert_int_eq(s.search.type, AS_SEARCH_HYPERBAND);
    ck_assert_int_eq(s.search.maximize, 0);
    as_sweep_free(&s);
}
END_TEST

START_TEST(test_repeats_and_seeds) {
    as_sweep s = must_parse(RAND_GRID(", \"repeats\": 3, \"seed\": 42, \"attention_samples\": 2,"
                                      " \"prediction_samples\": 4, \"save_weights\": true,"
                                      " \"ranks_per_variant\": 2"));
    ck_assert_int_eq(s.n, 20); /* repeats do not multiply variants */
    ck_assert(s.repeats == 3 && s.seed == 42 && s.attention_samples == 2);
    ck_assert(s.prediction_samples == 4 && s.save_weights == 1 && s.ranks_per_variant == 2);
    uint64_t seeds[60];
    for (int v = 0; v < 20; v++)
        for (int r = 0; r < 3; r++) {
            seeds[v * 3 + r] = as_variant_seed(s.seed, s.v[v].canonical, r);
            ck_assert_uint_eq(seeds[v * 3 + r], as_variant_seed(42, s.v[v].canonical, r));
            ck_assert_uint_ne(seeds[v * 3 + r], as_variant_seed(43, s.v[v].canonical, r));
        }
    for (int i = 0; i < 60; i++)
        for (int j = 0; j < i; j++) ck_assert_uint_ne(seeds[i], seeds[j]);
    as_sweep_free(&s);
}
END_TEST

START_TEST(test_seeds_independent_of_order) {
    /* The same grid with its value lists and axes reversed: the same variants under
     * other ids, with the same canonical configs and seeds. */
    as_sweep a = must_parse(RAND_GRID(""));
    as_sweep b = must_parse(
        "{\"data\": \"d.h5\", \"model\": [{\"units\": \"$a\", \"type\": \"dense\"},"
        " {\"type\": \"dense\", \"units\": \"$b\"}], \"train\": {\"optimizer\": {\"learning_rate\": 0.001,"
        " \"type\": \"adam\"}, \"epochs\": 2}, \"grid\": {\"b\": [40, 30, 20, 10], \"a\": [5, 4, 3, 2, 1]}}");
    ck_assert_int_eq(a.n, b.n);
    int moved = 0;
    for (int i = 0; i < a.n; i++) {
        int j = 0;
        while (j < b.n && strcmp(a.v[i].canonical, b.v[j].canonical)) j++;
        ck_assert_int_lt(j, b.n);
        ck_assert_str_eq(a.v[i].name, b.v[j].name);
        moved += i != j;
        for (int r = 0; r < 3; r++)
            ck_assert_uint_eq(as_variant_seed(7, a.v[i].canonical, r),
                              as_variant_seed(7, b.v[j].canonical, r));
    }
    ck_assert_int_gt(moved, 0);
    as_sweep_free(&a);
    as_sweep_free(&b);
}
END_TEST

START_TEST(test_long_names_cut) {
    char text[4200];
    char model[2048] = "", grid[2048] = "";
    for (int i = 0; i < 12; i++) {
        char l[160], g[160];
        snprintf(l, sizeof l, "%s{\"type\": \"dense\", \"units\": \"$a_rather_long_axis_name_%d\"}",
                 i ? ", " : "", i);
        snprintf(g, sizeof g, "%s\"a_rather_long_axis_name_%d\": [%d]", i ? ", " : "", i, 100 + i);
        strcat(model, l);
        strcat(grid, g);
    }
    snprintf(text, sizeof text, "{\"data\": \"d.h5\", \"model\": [%s], \"grid\": {%s}}", model, grid);
    as_sweep s = must_parse(text);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq((int)strlen(s.v[0].name), AS_VARIANT_NAME_MAX - 1);
    ck_assert_str_eq(s.v[0].name + AS_VARIANT_NAME_MAX - 4, "...");
    ck_assert(strncmp(s.v[0].name, "a_rather_long_axis_name_0=100,", 30) == 0);
    ck_assert_int_eq(cJSON_GetArraySize(s.v[0].params), 12);
    as_sweep_free(&s);
}
END_TEST

/* ---- errors ------------------------------------------------------------------- */

#define M1 "\"model\": [{\"type\": \"dense\", \"units\": \"$u\"}]"
#define G1 "\"grid\": {\"u\": [1, 2]}"
#define MD "\"model\": [{\"type\": \"dense\", \"units\": \"$u\"}], \"train\": {\"optimizer\": {\"type\": \"adam\", \"learning_rate\": \"$lr\"}}"
#define RS ", \"search\": {\"type\": \"random\", \"samples\": 3}"
#define SH(extra) ", \"search\": {\"type\": \"successive_halving\", \"min_epochs\": 3, \"max_epochs\": 30" extra "}"

static const struct {
    const char *text;
    const char *want; /* the whole message starts with "t.json: " + want */
} bad_cases[] = {
    {"{\"data\": \"d\", " M1 ", \"grid\": {\"u\": []}}", "grid.u: empty axis"},
    {"{\"data\": \"d\", " M1 ", \"grid\": {\"u\": 3}}", "grid.u: must be an array of values or a distribution (got a number)"},
    {"{\"data\": \"d\", " M1 ", \"grid\": {\"u\": [1], \"u\": [2]}}", "grid.u: duplicate axis"},
    {"{\"data\": \"d\", " M1 "}", "grid: missing"},
    {"{\"data\": \"d\", " M1 ", \"grid\": [1]}", "grid: must be an object"},
    {"{\"data\": \"d\", \"model\": [{\"type\": \"dense\", \"units\": \"$nope\"}], " G1 "}",
     "model[0].units: unknown placeholder \"$nope\""},
    {"{\"data\": \"d\", " M1 ", \"train\": {\"optimizer\": {\"learning_rate\": \"$lr\"}}, " G1 "}",
     "train.optimizer.learning_rate: unknown placeholder \"$lr\""},
    {"{\"data\": \"d\", \"model\": [\"$L\"], \"grid\": {\"L\": [{\"type\": \"self_attention\", \"num_heads\": \"$h\"}]}}",
     "grid.L[0].num_heads: unknown placeholder \"$h\""},
    {"{\"data\": \"d\", " M1 ", \"grid\": {\"u\": [1], \"heads\": [1, 2]}}", "grid.heads: axis not used"},
    {"{\"data\": \"d\", \"model\": [\"$a\"], \"grid\": {\"a\": [\"$b\"], \"b\": [{\"x\": \"$a\"}]}}",
     "grid.a: placeholder cycle $a -> $b -> $a"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"zip\": [[\"u\", \"v\"]]}", "zip[0][1]: \"v\" is not a grid axis"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"zip\": [\"u\"]}", "zip[0]: must be a non-empty array"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"zip\": {}}", "zip: must be an array"},
    {"{\"data\": \"d\", \"model\": [{\"units\": \"$u\", \"k\": \"$k\"}], \"grid\": {\"u\": [1, 2], \"k\": [1, 2, 3]},"
     " \"zip\": [[\"u\", \"k\"]]}",
     "zip[0]: axes u (2 values) and k (3 values) differ in length"},
    {"{\"data\": \"d\", \"model\": [{\"units\": \"$u\", \"k\": \"$k\"}], \"grid\": {\"u\": [1, 2], \"k\": [1, 2]},"
     " \"zip\": [[\"u\", \"k\"], [\"k\"]]}",
     "zip[1][0]: axis k is zipped twice"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"include\": [3]}", "include[0]: must be an object {axis: value} (got a number)"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"include\": {\"u\": 3}}", "include: must be an array"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"include\": [{\"u\": 3}, {\"zz\": 1}]}", "include[1].zz: unknown axis"},
    {"{\"data\": \"d\", \"model\": [\"$L\"], \"grid\": {\"L\": [{\"type\": \"dense\", \"units\": 2}]},"
     " \"include\": [{\"L\": {\"type\": \"dense\", \"units\": \"$w\"}}]}",
     "include[0].L.units: unknown placeholder \"$w\""},
    {"{\"data\": \"d\", \"model\": [\"$L\"], \"grid\": {\"L\": [{\"type\": \"dense\", \"units\": 2}]},"
     " \"include\": [{\"L\": {\"type\": \"dense\", \"units\": \"$L\"}}]}",
     "include[0]: placeholder cycle through \"$L\""},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"model\": []}", "model: duplicate key"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"exclude\": [{\"u\": 3}, {}]}", "exclude[1]: must name at least one axis"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"exclude\": [{\"zz\": 3}]}", "exclude[0].zz: unknown axis"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"exclude\": [{\"u\": 1}, {\"u\": 2}]}", "exclude: drops every variant"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"search\": {\"type\": \"random\", \"samples\": 0}}",
     "search.samples: must be an integer in [1, 1000000] (got 0)"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"search\": {\"type\": \"random\"}}", "search.samples: required"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"search\": {\"type\": \"bayes\"}}", "search.type: must be"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"search\": {\"samples\": 3}}", "search.samples: only for"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"search\": {\"type\": \"random\", \"samples\": 2, \"sed\": 1}}",
     "search.sed: unknown key"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"search\": \"random\"}", "search: must be an object"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": [1], \"lr\": {\"uniform\": [0.1, 0.01]}}" RS "}",
     "grid.lr.uniform: a (0.1) is more than b (0.01)"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": [1], \"lr\": {\"loguniform\": [0, 0.01]}}" RS "}",
     "grid.lr.loguniform: the range [0, 0.01] must be positive"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": [1], \"lr\": {\"loguniform\": [-1, 0.01]}}" RS "}",
     "grid.lr.loguniform: the range"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": {\"randint\": [1.5, 3]}, \"lr\": [1]}" RS "}",
     "grid.u.randint: a and b must be integers"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": {\"randint\": [9, 3]}, \"lr\": [1]}" RS "}",
     "grid.u.randint: a (9) is more than b (3)"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": [1], \"lr\": {\"quniform\": [0, 1, 0]}}" RS "}",
     "grid.lr.quniform: q (0) must be positive"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": [1], \"lr\": {\"quniform\": [0, 1]}}" RS "}",
     "grid.lr.quniform: must be an array of 3 numbers"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": [1], \"lr\": {\"uniform\": [0, \"1\"]}}" RS "}",
     "grid.lr.uniform[1]: must be a finite number"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": [1], \"lr\": {\"normal\": [0, 1]}}" RS "}",
     "grid.lr.normal: unknown distribution"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": [1], \"lr\": {\"uniform\": [0, 1], \"choice\": [1]}}" RS "}",
     "grid.lr: a distribution is an object with one key"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": [1], \"lr\": {\"choice\": []}}}", "grid.lr.choice: must be a non-empty array"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": [1], \"lr\": {\"uniform\": [0, 1]}}}",
     "grid.lr: a distribution cannot be enumerated"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": [1], \"lr\": {\"loguniform\": [1e-4, 1e-2]}}" SH("") "}",
     "grid.lr: a distribution cannot be enumerated"},
    {"{\"data\": \"d\", " MD ", \"grid\": {\"u\": [1, 2], \"lr\": {\"uniform\": [0, 1]}}, \"zip\": [[\"u\", \"lr\"]]" RS "}",
     "zip[0][1]: axis lr is a distribution"},
    {"{\"data\": \"d\", " M1 ", " G1 SH(", \"eta\": 1") "}", "search.eta: must be an integer in [2, 1000] (got 1)"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"search\": {\"type\": \"asha\", \"min_epochs\": 31, \"max_epochs\": 30}}",
     "search.min_epochs: 31 is more than max_epochs (30)"},
    {"{\"data\": \"d\", " M1 ", " G1 SH(", \"metric\": \"val_acc\"") "}", "search.metric: unknown metric"},
    {"{\"data\": \"d\", " M1 ", " G1 SH(", \"metric\": 3") "}", "search.metric: must be a string"},
    {"{\"data\": \"d\", " M1 ", " G1 SH(", \"mode\": \"up\"") "}", "search.mode: must be \"min\" or \"max\""},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"search\": {\"type\": \"hyperband\", \"max_epochs\": 30}}",
     "search.min_epochs: required"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"search\": {\"type\": \"random\", \"samples\": 2, \"eta\": 3}}",
     "search.eta: only for successive_halving, hyperband and asha"},
    {"{\"data\": \"d\", " M1 ", " G1 SH(", \"max_epochs\": 0") "}", "search.max_epochs: duplicate key"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"repeats\": 0}", "repeats: must be an integer in [1, "},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"repeats\": 1.5}", "repeats: must be an integer"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"seed\": -1}", "seed: must be an integer"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"attention_samples\": \"3\"}",
     "attention_samples: must be an integer in [0, 1000000] (got a string)"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"prediction_samples\": -1}", "prediction_samples: must be"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"ranks_per_variant\": 0}", "ranks_per_variant: must be"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"save_weights\": 1}", "save_weights: must be true or false"},
    {"{\"data\": \"d\", " M1 ", " G1 ", \"repeat\": 3}", "repeat: unknown key"},
    {"[1, 2]", "top level: must be a JSON object"},
    {"{\"data\": \"d\",\n " M1 ",\n " G1 ",,}", "line 3, column "},
    {"{\"data\": \"d\", \"model\": [{\"a\": \"$a\", \"b\": \"$b\", \"c\": \"$c\", \"d\": \"$d\"}],"
     " \"grid\": {\"a\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,"
     "31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50],"
     " \"b\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,"
     "31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50], \"c\": [1,2,3,4,5,6,7,8,9,10],"
     " \"d\": [1,2,3,4,5]}}",
     "grid: expands to more than 100000 combinations"},
};

START_TEST(test_errors) {
    const char *text = bad_cases[_i].text;
    as_sweep s;
    as_error e;
    as_error_clear(&e);
    memset(&s, 0x5a, sizeof s);
    as_status st = parse(text, &s, &e);
    ck_assert_msg(st == AS_ERR_SPEC, "case %d: status %d (%s)", _i, st, e.msg);
    char want[512];
    snprintf(want, sizeof want, "t.json: %s", bad_cases[_i].want);
    ck_assert_msg(strncmp(e.msg, want, strlen(want)) == 0, "case %d:\n got  %s\n want %s...", _i,
                  e.msg, want);
    ck_assert_int_eq(s.n, 0); /* zeroed on error */
    ck_assert_ptr_null(s.v);
    ck_assert_ptr_null(s.root);
    as_sweep_free(&s);
}
END_TEST

/* ---- check callback ----------------------------------------------------------- */

START_TEST(test_check_lists_all_failures) {
    fake_check fc = {0, 8};
    as_sweep s;
    as_error e;
    as_error_clear(&e);
    const char *text = "{\"data\": \"d\", \"model\": [" CONV("8") ", " ATTN "],"
                       " \"grid\": {\"heads\": [2, 16, 4, 32], \"key_dim\": [8, 16]}}";
    ck_assert_int_eq(as_sweep_parse(text, "t.json", NULL, check_heads, &fc, &s, &e), AS_ERR_SPEC);
    ck_assert_int_eq(fc.calls, 8);
    ck_assert_ptr_null(s.v);
    ck_assert_msg(strncmp(e.msg, "t.json: 4 of 8 variants fail the spec checks:", 44) == 0, "%s", e.msg);
    const int H[] = {2, 16, 4, 32}, K[] = {8, 16};
    int id = 0;
    for (int h = 0; h < 4; h++)
        for (int k = 0; k < 2; k++, id++) {
            char line[160];
            snprintf(line, sizeof line, "\n  variant %d (heads=%d,key_dim=%d): model[1].num_heads: must be <= 8 (got %d)",
                     id, H[h], K[k], H[h]);
            ck_assert_msg((strstr(e.msg, line) != NULL) == (H[h] > 8), "variant %d in\n%s", id, e.msg);
        }
    /* All pass with a looser check. */
    fc = (fake_check){0, 64};
    ck_assert_int_eq(as_sweep_parse(text, "t.json", NULL, check_heads, &fc, &s, &e), AS_OK);
    ck_assert_int_eq(fc.calls, 8);
    as_sweep_free(&s);
}
END_TEST

START_TEST(test_check_message_cut) {
    /* 120 failing variants do not fit in one message: it ends with "... and K more",
     * with K + the variants listed = 120. */
    char text[2048], vals[1024] = "";
    for (int i = 0; i < 120; i++) {
        char v[16];
        snprintf(v, sizeof v, "%s%d", i ? "," : "", 100 + i);
        strcat(vals, v);
    }
    snprintf(text, sizeof text,
             "{\"data\": \"d\", \"model\": [{\"type\": \"self_attention\", \"num_heads\": \"$h\", \"key_dim\": 4}],"
             " \"grid\": {\"h\": [%s]}}", vals);
    fake_check fc = {0, 8};
    as_sweep s;
    as_error e;
    ck_assert_int_eq(as_sweep_parse(text, "t.json", NULL, check_heads, &fc, &s, &e), AS_ERR_SPEC);
    ck_assert_int_lt((int)strlen(e.msg), AS_ERROR_MSG_MAX);
    ck_assert(strstr(e.msg, "120 of 120 variants fail") != NULL);
    int listed = 0;
    for (const char *p = e.msg; (p = strstr(p, "\n  variant ")); p++) listed++;
    const char *more = strstr(e.msg, "\n  ... and ");
    ck_assert_ptr_nonnull(more);
    ck_assert_int_gt(listed, 5);
    ck_assert_int_eq(atoi(more + 11) + listed, 120);
}
END_TEST

/* ---- files, paths and overrides ---------------------------------------------- */

START_TEST(test_load_resolves_data_and_override) {
    const char *dir = as_test_tmpdir();
    char sub[512];
    snprintf(sub, sizeof sub, "%s/sweeps", dir);
    ck_assert_int_eq(mkdir_p_helper(sub), 0);
    const char *path = as_test_write_file(sub, "x.json",
                                          "{\"data\": \"../data/toy.h5\", \"model\": [" CONV("\"$f\"") "],"
                                          " \"train\": {\"epochs\": 30}, \"grid\": {\"f\": [8, 16]}}");
    as_sweep s;
    as_error e;
    ck_assert_msg(as_sweep_load(path, NULL, NULL, &s, &e) == AS_OK, "%s", e.msg);
    char want[600];
    snprintf(want, sizeof want, "%s/../data/toy.h5", sub);
    ck_assert_str_eq(cJSON_GetObjectItem(s.v[0].spec, "data")->valuestring, want);
    ck_assert_str_eq(cJSON_GetObjectItem(s.root, "data")->valuestring, "../data/toy.h5");
    ck_assert(strstr(s.v[0].canonical, "\"data\":\"../data/toy.h5\"") != NULL);
    uint64_t seed0 = as_variant_seed(0, s.v[0].canonical, 0);

    /* Epochs only: data stays resolved in spec, as written in canonical. */
    ck_assert_int_eq(as_sweep_override(&s, NULL, 3, &e), AS_OK);
    for (int k = 0; k < s.n; k++) {
        ck_assert_int_eq((int)num_at(s.v[k].spec, "train", -1, "epochs"), 3);
        ck_assert_str_eq(cJSON_GetObjectItem(s.v[k].spec, "data")->valuestring, want);
        cJSON *c = cJSON_Parse(s.v[k].canonical);
        ck_assert_int_eq((int)num_at(c, "train", -1, "epochs"), 3);
        ck_assert_str_eq(cJSON_GetObjectItem(c, "data")->valuestring, "../data/toy.h5");
        char *again = as_json_canonical(c);
        ck_assert_str_eq(again, s.v[k].canonical); /* still canonical */
        as_free(again);
        cJSON_Delete(c);
    }
    ck_assert_uint_ne(as_variant_seed(0, s.v[0].canonical, 0), seed0);
    ck_assert_int_eq(as_sweep_override(&s, "/elsewhere/t.h5", 0, &e), AS_OK);
    ck_assert_str_eq(cJSON_GetObjectItem(s.v[1].spec, "data")->valuestring, "/elsewhere/t.h5");
    ck_assert(strstr(s.v[1].canonical, "\"data\":\"/elsewhere/t.h5\"") != NULL);
    ck_assert(strstr(s.v[1].canonical, "\"epochs\":3") != NULL);
    as_sweep_free(&s);

    /* A spec without "train" gets one. */
    ck_assert_int_eq(as_sweep_parse("{\"data\": \"d\", " M1 ", " G1 "}", "t.json", NULL, NULL, NULL, &s, &e), AS_OK);
    ck_assert_ptr_null(cJSON_GetObjectItem(s.v[0].spec, "train"));
    ck_assert_int_eq(as_sweep_override(&s, NULL, 5, &e), AS_OK);
    ck_assert_int_eq((int)num_at(s.v[0].spec, "train", -1, "epochs"), 5);
    as_sweep_free(&s);

    snprintf(want, sizeof want, "%s/missing.json", sub);
    ck_assert_int_eq(as_sweep_load(want, NULL, NULL, &s, &e), AS_ERR_IO);
    ck_assert(strstr(e.msg, "missing.json") != NULL);
}
END_TEST

START_TEST(test_alloc_failures_are_clean) {
    /* Fail the n-th allocation for every n until parsing succeeds: each failure is
     * AS_ERR_NOMEM with nothing leaked (ASan checks) and *out zeroed. */
    const char *text = COND_GRID ", \"include\": [{\"L2\": \"self_attention\", \"heads\": 8}],"
                       " \"exclude\": [{\"heads\": 4}], \"search\": {\"type\": \"random\", \"samples\": 4}}";
    fake_check fc = {0, 8};
    int n;
    for (n = 1; n < 10000; n++) {
        as_sweep s;
        as_error e;
        as_test_fail_alloc_after(n);
        as_status st = as_sweep_parse(text, "t.json", "base", check_heads, &fc, &s, &e);
        as_test_fail_alloc_after(0);
        if (st == AS_OK) {
            ck_assert_int_eq(s.n, 4);
            as_sweep_free(&s);
            break;
        }
        ck_assert_msg(st == AS_ERR_NOMEM, "n=%d: %d %s", n, st, e.msg);
        ck_assert_ptr_null(s.v);
    }
    ck_assert_int_gt(n, 5);
    ck_assert_int_lt(n, 10000);
}
END_TEST

/* ---- the ready sweeps in sweeps/ ---------------------------------------------- */

typedef struct {
    int calls, n_attention, n_conv3, out_channels;
} sweep_file_check;

/* The real spec checks, plus channel bookkeeping: a residual_conv1d must get as
 * many channels as it has filters; records the model's output channels. */
static as_status check_real(void *ud, const cJSON *spec, const char *origin, as_error *err) {
    sweep_file_check *c = ud;
    as_spec sp;
    as_status st = as_spec_parse(spec, origin, NULL, NULL, &sp, err);
    if (st) return st;
    c->calls++;
    int ch = 1; /* toy and Trace series have one channel */
    for (int i = 0; i < sp.n_layers && !st; i++) {
        const as_layer_spec *L = &sp.layers[i];
        if (L->type == AS_LAYER_CONV1D) ch = L->filters;
        if (L->type == AS_LAYER_DENSE) ch = L->units;
        if (L->type == AS_LAYER_SELF_ATTENTION && L->output_dim > 0) ch = L->output_dim;
        if (L->type == AS_LAYER_RESIDUAL_CONV1D && L->filters != ch)
            st = as_error_set(err, AS_ERR_SPEC, "%s: model[%d]: residual with %d filters on %d channels",
                              origin, i, L->filters, ch);
        if (L->type == AS_LAYER_SELF_ATTENTION) c->n_attention++;
        if (i == 2 && L->type == AS_LAYER_CONV1D) c->n_conv3++;
    }
    if (c->out_channels == 0) c->out_channels = ch;
    if (c->out_channels != ch) st = as_error_set(err, AS_ERR_SPEC, "%s: output channels differ", origin);
    as_spec_free(&sp);
    return st;
}

static const struct {
    const char *file;
    int variants, repeats, out_channels, max_epochs;
    const char *data;
} sweep_files[] = {
    {"toy-conv-vs-attention.json", 20, 3, 1, 100, "../data/toy.h5"},
    {"trace-attention.json", 6, 2, 4, 200, "../data/trace.h5"},
    {"trace-residual.json", 16, 2, 4, 200, "../data/trace.h5"},
    {"quick.json", 5, 1, 1, 10, "../data/toy.h5"},
    {"toy-conv-vs-attention-halving.json", 20, 3, 1, 100, "../data/toy.h5"},
    {"trace-attention-halving.json", 6, 2, 4, 200, "../data/trace.h5"},
    {"trace-residual-halving.json", 16, 2, 4, 200, "../data/trace.h5"},
};

START_TEST(test_ready_sweeps) {
    char path[1024];
    snprintf(path, sizeof path, "%s/sweeps/%s", as_test_env("ATTNSWEEP_SRC", "."), sweep_files[_i].file);
    sweep_file_check c = {0};
    as_sweep s;
    as_error e;
    ck_assert_msg(as_sweep_load(path, check_real, &c, &s, &e) == AS_OK, "%s", e.msg);
    ck_assert_int_eq(s.n, sweep_files[_i].variants);
    ck_assert_int_eq(c.calls, s.n);
    ck_assert_int_eq(s.repeats, sweep_files[_i].repeats);
    ck_assert_int_eq(c.out_channels, sweep_files[_i].out_channels);
    ck_assert_str_eq(cJSON_GetObjectItem(s.root, "data")->valuestring, sweep_files[_i].data);
    for (int k = 0; k < s.n; k++)
        ck_assert_int_le((int)num_at(s.v[k].spec, "train", -1, "epochs"), sweep_files[_i].max_epochs);
    ck_assert_int_gt(c.n_attention, 0);
    if (strstr(sweep_files[_i].file, "toy")) ck_assert_int_gt(c.n_conv3, 0); /* both kinds */
    if (!strcmp(sweep_files[_i].file, "quick.json")) ck_assert_int_ge(c.n_conv3, 1);
    if (strstr(sweep_files[_i].file, "halving")) { /* a ready halving sweep, eta 3 */
        ck_assert_int_eq(s.search.type, AS_SEARCH_HALVING);
        ck_assert_int_eq(s.search.eta, 3);
        ck_assert_int_eq(s.search.max_epochs, (int)num_at(s.v[0].spec, "train", -1, "epochs"));
    }
    check_invariants(&s);
    as_sweep_free(&s);
}
END_TEST

START_TEST(test_readme_example) {
    /* The first json block of sweeps/README.md expands as the README says. */
    char path[1024], *text = NULL;
    snprintf(path, sizeof path, "%s/sweeps/README.md", as_test_env("ATTNSWEEP_SRC", "."));
    as_error e;
    ck_assert_msg(as_read_text_file(path, &text, NULL, &e) == AS_OK, "%s", e.msg);
    char *start = strstr(text, "```json\n");
    ck_assert_ptr_nonnull(start);
    start += 8;
    char *end = strstr(start, "```");
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    as_sweep s = must_parse(start);
    ck_assert_int_eq(s.n, 14);
    ck_assert_int_eq(s.repeats, 3);
    ck_assert_str_eq(s.v[0].name, "filters=32,layer2=conv1d,lr=0.001");
    ck_assert_str_eq(s.v[1].name, "filters=32,layer2=self_attention,heads=1,key_dim=16,lr=0.001");
    ck_assert_str_eq(s.v[2].name, "filters=32,layer2=self_attention,heads=1,key_dim=32,lr=0.001");
    ck_assert_str_eq(s.v[3].name, "filters=32,layer2=self_attention,heads=2,key_dim=16,lr=0.001");
    ck_assert_str_eq(s.v[7].name, "filters=64,layer2=conv1d,lr=0.001");
    as_sweep_free(&s);
    as_free(text);
}
END_TEST

static Suite *grid_suite(void) {
    Suite *s = suite_create("grid");
    TCase *t = tcase_create("expand");
    tcase_add_test(t, test_placeholders_model_and_train);
    tcase_add_test(t, test_layer_object_axis);
    tcase_add_test(t, test_conditional_axes);
    tcase_add_test(t, test_nested_value_placeholders_and_same_type_labels);
    tcase_add_test(t, test_zip);
    tcase_add_test(t, test_exclude);
    tcase_add_test(t, test_include);
    tcase_add_test(t, test_include_value_with_placeholders);
    tcase_add_test(t, test_duplicates_removed);
    tcase_add_test(t, test_random_search);
    tcase_add_test(t, test_random_distributions);
    tcase_add_test(t, test_search_block);
    tcase_add_test(t, test_repeats_and_seeds);
    tcase_add_test(t, test_seeds_independent_of_order);
    tcase_add_test(t, test_long_names_cut);
    suite_add_tcase(s, t);
    TCase *b = tcase_create("errors");
    tcase_add_loop_test(b, test_errors, 0, (int)(sizeof bad_cases / sizeof *bad_cases));
    tcase_add_test(b, test_check_lists_all_failures);
    tcase_add_test(b, test_check_message_cut);
    tcase_add_test(b, test_load_resolves_data_and_override);
    tcase_add_test(b, test_alloc_failures_are_clean);
    suite_add_tcase(s, b);
    TCase *f = tcase_create("files");
    tcase_add_test(f, test_readme_example);
    tcase_add_loop_test(f, test_ready_sweeps, 0, (int)(sizeof sweep_files / sizeof *sweep_files));
    suite_add_tcase(s, f);
    return s;
}

int main(void) { return as_test_run(grid_suite()); }
