/* test_spec.c: every bad spec gives its own message naming the key, status AS_ERR_SPEC;
 * good specs parse with Keras's defaults. Table-driven. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/spec.h"
#include "testutil.h"

#define CONV "{\"type\":\"conv1d\",\"filters\":4,\"kernel_size\":3}"

typedef struct {
    const char *json;
    const char *expect; /* substring of the message */
} bad_case;

static const bad_case k_bad[] = {
    {"[]", "must be a JSON object"},
    {"{\"model\":[" CONV "]}", "data: missing"},
    {"{\"data\":5,\"model\":[" CONV "]}", "data: must be a non-empty string"},
    {"{\"data\":\"d.h5\"}", "model: missing"},
    {"{\"data\":\"d.h5\",\"model\":[]}", "model: must be a non-empty list"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"extra\":1}", "extra: unknown key"},
    {"{\"data\":\"d.h5\",\"model\":[{\"filters\":3}]}", "model[0].type: missing"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"lstm\"}]}", "model[0].type: must be one of"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"conv1d\",\"kernel_size\":3}]}",
     "model[0].filters: missing"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"conv1d\",\"filters\":0,\"kernel_size\":3}]}",
     "model[0].filters: must be an integer in [1"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"conv1d\",\"filters\":2.5,\"kernel_size\":3}]}",
     "model[0].filters: must be an integer"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"conv1d\",\"filters\":2,\"kernel_size\":-1}]}",
     "model[0].kernel_size: must be an integer in [1"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"conv1d\",\"filters\":2,\"kernel_size\":\"3\"}]}",
     "model[0].kernel_size: must be an integer"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV ",{\"type\":\"conv1d\",\"filters\":2,\"kernel_size\":3,"
     "\"padding\":\"causal\"}]}", "model[1].padding: must be one of \"same\", \"valid\""},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"conv1d\",\"filters\":2,\"kernel_size\":3,"
     "\"activation\":\"gelu\"}]}", "model[0].activation: must be one of"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"conv1d\",\"filters\":2,\"kernel_size\":3,"
     "\"units\":3}]}", "model[0].units: not a key of a conv1d layer"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"conv1d\",\"filters\":2,\"kernel_size\":3,"
     "\"fliters\":3}]}", "model[0].fliters: unknown key for a conv1d layer"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"residual_conv1d\",\"kernel_size\":3,"
     "\"padding\":\"valid\"}]}", "model[0].padding: a residual_conv1d layer needs padding"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"self_attention\",\"key_dim\":8}]}",
     "model[0].num_heads: missing"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"self_attention\",\"num_heads\":0,\"key_dim\":8}]}",
     "model[0].num_heads: must be an integer in [1"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"self_attention\",\"num_heads\":1,\"key_dim\":0}]}",
     "model[0].key_dim: must be an integer in [1"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"self_attention\",\"num_heads\":1,\"key_dim\":4,"
     "\"dropout\":1}]}", "model[0].dropout: must be a number in [0, 1)"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"dense\"}]}", "model[0].units: missing"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"dropout\",\"rate\":-0.1}]}",
     "model[0].rate: must be a number in [0, 1)"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":[]}", "train: must be an object"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"epochs\":0}}",
     "train.epochs: must be an integer in [1"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"batch_size\":0}}",
     "train.batch_size: must be an integer in [1"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"validation_split\":1}}",
     "train.validation_split: must be a number in [0, 1)"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"validation_split\":-0.2}}",
     "train.validation_split: must be a number in [0, 1)"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"shuffle\":1}}",
     "train.shuffle: must be true or false"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"seed\":-1}}", "train.seed: must be"},
    /* from 2^53 on a JSON number rounds (2^53 + 1 reads as 2^53): refused, not rounded */
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"seed\":9007199254740993}}",
     "train.seed: a number from 2^53 on is not read exactly"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"seed\":9007199254740992}}",
     "write a larger seed as a decimal string"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"epoch\":3}}", "train.epoch: unknown key"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"optimizer\":\"rmsprop\"}}",
     "train.optimizer.type: must be one of \"adam\", \"sgd\""},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"optimizer\":{\"type\":\"adam\","
     "\"learning_rate\":0}}}", "train.optimizer.learning_rate: must be a number in (0"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"optimizer\":{\"type\":\"adam\","
     "\"momentum\":0.9}}}", "train.optimizer.momentum: unknown key for the adam optimizer"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"optimizer\":{\"type\":\"sgd\","
     "\"momentum\":1.5}}}", "train.optimizer.momentum: must be a number in [0, 1)"},
    {"{\"data\":\"d.h5\",\"model\":[{\"type\":\"conv1d\",\"filters\":1,\"kernel_size\":3,"
     "\"filters\":2}]}", "model[0].filters: key given twice"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"epochs\":1,\"epochs\":2}}",
     "train.epochs: key given twice"},
    {"{\"data\":\"d.h5\",\"data\":\"e.h5\",\"model\":[" CONV "]}", "data: key given twice"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"optimizer\":{\"type\":\"adam\","
     "\"type\":\"sgd\"}}}", "train.optimizer.type: key given twice"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"optimizer\":{\"type\":\"adam\","
     "\"use_ema\":1}}}", "train.optimizer.use_ema: must be true or false"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"optimizer\":{\"type\":\"sgd\","
     "\"ema_momentum\":1.5}}}", "train.optimizer.ema_momentum: must be a number in [0, 1]"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"optimizer\":{\"type\":\"adam\","
     "\"ema_momentum\":-0.1}}}", "train.optimizer.ema_momentum: must be a number in [0, 1]"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"optimizer\":{\"type\":\"adam\","
     "\"ema_momentum\":\"0.9\"}}}", "train.optimizer.ema_momentum: must be a number"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"optimizer\":{\"type\":\"adam\","
     "\"ema_overwrite_frequency\":10}}}",
     "train.optimizer.ema_overwrite_frequency: unknown key for the adam optimizer"},
    {"{\"data\":\"d.h5\",\"model\":[" CONV "],\"train\":{\"optimizer\":{\"type\":\"sgd\","
     "\"ema_buffers\":\"true\"}}}", "train.optimizer.ema_buffers: must be true or false"},
};

START_TEST(test_bad_specs) {
    const bad_case *c = &k_bad[_i];
    cJSON *root = cJSON_Parse(c->json);
    ck_assert_msg(root != NULL, "case %d is not JSON", _i);
    as_spec s;
    as_error e;
    as_error_clear(&e);
    as_status st = as_spec_parse(root, "case.json", NULL, NULL, &s, &e);
    cJSON_Delete(root);
    ck_assert_int_eq(st, AS_ERR_SPEC);
    ck_assert_int_eq(e.code, AS_ERR_SPEC);
    ck_assert_msg(strstr(e.msg, "case.json: ") == e.msg, "origin missing: %s", e.msg);
    ck_assert_msg(strstr(e.msg, c->expect) != NULL, "case %d: '%s' not in '%s'", _i, c->expect,
                  e.msg);
    ck_assert_ptr_null(s.layers);
}
END_TEST

START_TEST(test_defaults_and_values) {
    const char *json =
        "{\"data\":\"toy.h5\",\"model\":[" CONV ",{\"type\":\"self_attention\",\"num_heads\":2,"
        "\"key_dim\":8,\"dropout\":0.1},{\"type\":\"conv1d\",\"filters\":1,\"kernel_size\":4,"
        "\"padding\":\"valid\",\"dilation\":2,\"activation\":\"tanh\"}],"
        "\"train\":{\"epochs\":3,\"validation_split\":0.25,\"shuffle\":false,\"seed\":42,"
        "\"optimizer\":{\"type\":\"sgd\",\"momentum\":0.5,\"nesterov\":true}}}";
    cJSON *root = cJSON_Parse(json);
    as_spec s;
    as_error e;
    ck_assert_int_eq(as_spec_parse(root, "ok.json", "/base", NULL, &s, &e), AS_OK);
    cJSON_Delete(root);
    ck_assert_str_eq(s.data, "/base/toy.h5");
    ck_assert_int_eq(s.n_layers, 3);
    ck_assert_int_eq(s.layers[0].type, AS_LAYER_CONV1D);
    ck_assert_int_eq(s.layers[0].dilation, 1);
    ck_assert_int_eq(s.layers[0].padding, AS_PAD_SAME);
    ck_assert_int_eq(s.layers[0].activation, AS_ACT_LINEAR);
    ck_assert_int_eq(s.layers[1].num_heads, 2);
    ck_assert_int_eq(s.layers[1].value_dim, 0);
    ck_assert(s.layers[1].rate > 0.09f && s.layers[1].rate < 0.11f);
    ck_assert_int_eq(s.layers[2].padding, AS_PAD_VALID);
    ck_assert_int_eq(s.layers[2].dilation, 2);
    ck_assert_int_eq(s.layers[2].activation, AS_ACT_TANH);
    ck_assert_int_eq(s.train.epochs, 3);
    ck_assert_int_eq(s.train.batch_size, 32);
    ck_assert_int_eq(s.train.shuffle, 0);
    ck_assert_uint_eq(s.train.seed, 42);
    ck_assert_int_eq(s.train.optimizer.type, AS_OPT_SGD);
    ck_assert(s.train.optimizer.learning_rate == 0.01f);
    ck_assert(s.train.optimizer.momentum == 0.5f);
    ck_assert_int_eq(s.train.optimizer.nesterov, 1);
    as_spec_free(&s);

    root = cJSON_Parse("{\"data\":\"/abs/d.h5\",\"model\":[" CONV "]}");
    ck_assert_int_eq(as_spec_parse(root, "ok.json", "/base", NULL, &s, &e), AS_OK);
    cJSON_Delete(root);
    ck_assert_str_eq(s.data, "/abs/d.h5");
    ck_assert(s.train.optimizer.type == AS_OPT_ADAM && s.train.optimizer.learning_rate == 0.001f &&
              s.train.optimizer.beta_1 == 0.9f && s.train.optimizer.beta_2 == 0.999f &&
              s.train.optimizer.epsilon == 1e-7f);
    ck_assert(!s.train.optimizer.use_ema && s.train.optimizer.ema_momentum == 0.99f &&
              !s.train.optimizer.ema_buffers);
    as_spec_free(&s);

    root = cJSON_Parse("{\"data\":\"/abs/d.h5\",\"model\":[" CONV "],\"train\":{\"optimizer\":"
                       "{\"type\":\"sgd\",\"use_ema\":true,\"ema_momentum\":0.9,"
                       "\"ema_buffers\":true}}}");
    ck_assert_int_eq(as_spec_parse(root, "ok.json", "/base", NULL, &s, &e), AS_OK);
    cJSON_Delete(root);
    ck_assert(s.train.optimizer.use_ema && s.train.optimizer.ema_momentum == 0.9f &&
              s.train.optimizer.ema_buffers);
    as_spec_free(&s);
}
END_TEST

START_TEST(test_extra_keys_and_files) {
    const char *extra[] = {"grid", NULL};
    cJSON *root = cJSON_Parse("{\"data\":\"d.h5\",\"model\":[" CONV "],\"grid\":{}}");
    as_spec s;
    as_error e;
    ck_assert_int_eq(as_spec_parse(root, "g.json", NULL, extra, &s, &e), AS_OK);
    as_spec_free(&s);
    ck_assert_int_eq(as_spec_parse(root, "g.json", NULL, NULL, &s, &e), AS_ERR_SPEC);
    cJSON_Delete(root);

    const char *dir = as_test_tmpdir();
    const char *bad = as_test_write_file(dir, "broken.json", "{\n \"data\": \"d.h5\",\n \"model\": [\n");
    ck_assert_int_ne(as_spec_load(bad, &s, &e), AS_OK);
    ck_assert_msg(strstr(e.msg, "broken.json:") && strstr(e.msg, "invalid JSON"), "%s", e.msg);
    ck_assert_int_eq(as_spec_load("/nonexistent/spec.json", &s, &e), AS_ERR_IO);
    ck_assert_msg(strstr(e.msg, "/nonexistent/spec.json"), "%s", e.msg);
    const char *good = as_test_write_file(dir, "good.json", "{\"data\":\"d.h5\",\"model\":[" CONV "]}");
    ck_assert_int_eq(as_spec_load(good, &s, &e), AS_OK);
    ck_assert_msg(strstr(s.data, dir) == s.data, "data not relative to the spec: %s", s.data);
    as_spec_free(&s);
}
END_TEST

/* {"a": "[{\"[", NL "b": V} with V nested `levels` deep (arrays and objects in turn) around
 * `core`: the root object is level 1. *col is the 1-based column on line 2 of V's opener
 * at level `mark` (0 when there is none). The caller frees the text. */
static char *nested(int levels, const char *core, int mark, int *col) {
    char *t = malloc((size_t)levels * 12 + 64), *p = t;
    p += sprintf(p, "{\"a\": \"[{\\\"[\",\n \"b\": ");
    const char *line2 = strchr(t, '\n') + 1;
    *col = 0;
    for (int l = 2; l <= levels; l++) {
        if (l == mark) *col = (int)(p - line2) + 1;
        p += sprintf(p, "%s", l % 2 ? "{\"k\": " : "[");
    }
    p += sprintf(p, "%s", core);
    for (int l = levels; l >= 2; l--) *p++ = l % 2 ? '}' : ']';
    sprintf(p, "}");
    return t;
}

/* cJSON's nesting limit (CJSON_NESTING_LIMIT levels) is named as such, with line and
 * column; brackets in strings do not count; a syntax error at any depth is invalid JSON. */
START_TEST(test_json_nesting_limit) {
    const int lim = CJSON_NESTING_LIMIT;
    cJSON *root = NULL;
    as_error e;
    int col;
    char *t = nested(lim, "1", 0, &col), want[160];
    ck_assert_int_eq(as_json_parse(t, "ok.json", &root, &e), AS_OK);
    cJSON_Delete(root);
    free(t);
    for (int extra = 1; extra <= 50; extra += 49) {
        t = nested(lim + extra, "1", lim + 1, &col);
        ck_assert_int_eq(as_json_parse(t, "deep.json", &root, &e), AS_ERR_SPEC);
        snprintf(want, sizeof want, "deep.json: line 2, column %d: nested deeper than %d levels",
                 col, lim);
        ck_assert_msg(strstr(e.msg, want), "want '%s': %s", want, e.msg);
        free(t);
    }
    /* invalid JSON: a value missing at the limit, a syntax error inside, and a text cut
     * after an opener at level lim - 2 with brackets in two strings before it (counted, they
     * would put it beyond the limit) */
    const struct { int levels; const char *core; } bad[] = {
        {lim, "x"}, {10, "[1,,2]"}, {lim - 3, "\"[[[\", ["}};
    for (int k = 0; k < 3; k++) {
        t = nested(bad[k].levels, bad[k].core, 0, &col);
        if (k == 2) strstr(t, "\", [")[3] = 0;
        ck_assert_int_eq(as_json_parse(t, "bad.json", &root, &e), AS_ERR_SPEC);
        ck_assert_msg(strstr(e.msg, "bad.json: line 2, column ") && strstr(e.msg, ": invalid JSON") &&
                      !strstr(e.msg, "nested"), "%d: %s", k, e.msg);
        free(t);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("spec");
    TCase *tc = tcase_create("spec");
    tcase_add_loop_test(tc, test_bad_specs, 0, (int)(sizeof k_bad / sizeof k_bad[0]));
    tcase_add_test(tc, test_defaults_and_values);
    tcase_add_test(tc, test_extra_keys_and_files);
    tcase_add_test(tc, test_json_nesting_limit);
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
