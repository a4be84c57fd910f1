/* test_from_data.c: dense.units "n_classes" and conv1d.filters "n_outputs" taken from the
 * dataset (as_spec_resolve on a parsed spec, as_spec_json_resolve on a sweep variant's
 * JSON), the errors naming the key, and a model built through as_fit_prepare. */
#include <cjson/cJSON.h>
#include <string.h>

#include "attnsweep/model.h"
#include "attnsweep/spec.h"
#include "attnsweep/train.h"
#include "testutil.h"

static cJSON *spec_json(const char *model) {
    char text[1024];
    snprintf(text, sizeof text, "{\"data\":\"d.h5\",\"model\":%s}", model);
    cJSON *root = cJSON_Parse(text);
    ck_assert_ptr_nonnull(root);
    return root;
}

#define CLS "[{\"type\":\"conv1d\",\"filters\":4,\"kernel_size\":3},{\"type\":\"global_average_pooling1d\"}," \
            "{\"type\":\"dense\",\"units\":\"n_classes\"}]"
#define REG "[{\"type\":\"conv1d\",\"filters\":4,\"kernel_size\":3},{\"type\":\"conv1d\"," \
            "\"filters\":\"n_outputs\",\"kernel_size\":1}]"

START_TEST(test_resolve) {
    as_spec s;
    as_error e;
    cJSON *j = spec_json(CLS);
    ck_assert_msg(as_spec_parse(j, "t.json", NULL, NULL, &s, &e) == AS_OK, "%s", e.msg);
    ck_assert_int_eq(s.layers[2].units, AS_FROM_N_CLASSES);
    ck_assert_int_eq(as_spec_resolve(&s, 1, 7, 0, "t.json", &e), AS_OK);
    ck_assert_int_eq(s.layers[2].units, 7);
    as_spec_free(&s);
    ck_assert_int_eq(as_spec_parse(j, "t.json", NULL, NULL, &s, &e), AS_OK);
    ck_assert_int_eq(as_spec_resolve(&s, 0, 0, 1, "t.json", &e), AS_ERR_SPEC);
    ck_assert_msg(strstr(e.msg, "t.json: model[2].units: \"n_classes\" needs a classification")
                  != NULL, "%s", e.msg);
    as_spec_free(&s);
    cJSON_Delete(j);
    j = spec_json(REG);
    ck_assert_int_eq(as_spec_parse(j, "t.json", NULL, NULL, &s, &e), AS_OK);
    ck_assert_int_eq(as_spec_resolve(&s, 0, 0, 3, "t.json", &e), AS_OK);
    ck_assert_int_eq(s.layers[1].filters, 3);
    ck_assert_int_eq(s.layers[0].filters, 4);
    as_spec_free(&s);
    ck_assert_int_eq(as_spec_json_resolve(j, 1, 2, 0, "v0", &e), AS_ERR_SPEC);
    ck_assert_msg(strstr(e.msg, "model[1].filters: \"n_outputs\" needs a regression") != NULL,
                  "%s", e.msg);
    ck_assert_int_eq(as_spec_json_resolve(j, 0, 0, 2, "v0", &e), AS_OK);
    const cJSON *l1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "model"), 1);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(l1, "filters")));
    ck_assert_int_eq(cJSON_GetObjectItem(l1, "filters")->valueint, 2);
    cJSON_Delete(j);
}
END_TEST

/* Other strings stay errors naming the key. */
START_TEST(test_bad) {
    const char *bad[][2] = {{"[{\"type\":\"dense\",\"units\":\"n_class\"}]", "model[0].units"},
                            {"[{\"type\":\"dense\",\"units\":\"n_outputs\"}]", "model[0].units"},
                            {"[{\"type\":\"conv1d\",\"filters\":\"n_classes\",\"kernel_size\":1}]",
                             "model[0].filters"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *j = spec_json(bad[i][0]);
        as_spec s;
        as_error e;
        ck_assert_int_eq(as_spec_parse(j, "t.json", NULL, NULL, &s, &e), AS_ERR_SPEC);
        ck_assert_msg(strstr(e.msg, bad[i][1]) != NULL, "%s", e.msg);
        cJSON_Delete(j);
    }
}
END_TEST

/* as_fit_prepare builds the classifier with one logit per class of the dataset. */
START_TEST(test_prepare) {
    float x[2 * 5] = {0};
    int labels[2] = {0, 2};
    as_dataset d;
    memset(&d, 0, sizeof d);
    d.task = AS_TASK_CLASSIFICATION;
    d.n_classes = 3;
    d.train.n = 2;
    d.train.t = 5;
    d.train.c = 1;
    d.train.x = x;
    d.train.labels = labels;
    cJSON *j = spec_json(CLS);
    as_spec s;
    as_error e;
    ck_assert_int_eq(as_spec_parse(j, "t.json", NULL, NULL, &s, &e), AS_OK);
    as_model m;
    ck_assert_msg(as_fit_prepare(&m, &s, &d, 1, 0, "t.json", &e) == AS_OK, "%s", e.msg);
    ck_assert_int_eq(m.layers[2].out_c, 3);
    ck_assert_int_eq(s.layers[2].units, AS_FROM_N_CLASSES); /* the caller's spec unchanged */
    as_model_free(&m);
    as_spec_free(&s);
    cJSON_Delete(j);
}
END_TEST

int main(void) {
    Suite *s = suite_create("from_data");
    TCase *tc = tcase_create("from_data");
    tcase_add_test(tc, test_resolve);
    tcase_add_test(tc, test_bad);
    tcase_add_test(tc, test_prepare);
    suite_add_tcase(s, tc);
    return as_test_run(s);
}
