/* test_grid_check.c: what the sweep-file reader (grid.h) refuses and checks: every
 * load error with its whole message, the check callback (all failures listed, long
 * messages cut), data paths and overrides resolved from the file, allocation failures,
 * the README's example and the ready sweeps/ files under the real spec checks. The
 * expansion itself is tested in test_grid.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "grid_testutil.h"

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

static Suite *grid_check_suite(void) {
    Suite *s = suite_create("grid_check");
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

int main(void) { return as_test_run(grid_check_suite()); }
