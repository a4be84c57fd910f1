/* test_grid.c: sweep grid expansion (grid.h): placeholders, layer-object and
 * conditional axes, zip, include/exclude, random search and distributions, search
 * blocks, repeats and seeds, duplicates, long names. The load errors, the check
 * callback, files, overrides and the ready sweeps/ files are in test_grid_check.c.
 *
 * Expected variant lists are built independently by nested loops in the tests. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "grid_testutil.h"

/* ---- helpers ------------------------------------------------------------------ */

static const char *str_at(const cJSON *spec, int layer, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "model"), layer), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

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
    return s;
}

int main(void) { return as_test_run(grid_suite()); }
