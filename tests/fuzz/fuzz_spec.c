/* fuzz_spec.c: the training-spec parser (JSON text -> as_spec) and the model planner
 * on it (shapes, sizes and the output check: every size product of model.c), for
 * inputs of a fixed (T = 37, C = 3) and of a fuzzed shape. */
#include <cjson/cJSON.h>

#include "attnsweep/model.h"
#include "attnsweep/spec.h"
#include "fuzz_util.h"

static void plan(const as_spec *spec, int t, int c, int batch) {
    as_model m;
    as_error e;
    if (as_model_plan(&m, spec, t, c, batch, "fuzz.json", &e) != AS_OK) return;
    as_model_check_output(&m, 0, t, 1, 0, "fuzz.json", &e);
    as_model_check_output(&m, 1, 0, 0, 4, "fuzz.json", &e);
    (void)as_model_bytes(&m);
    (void)as_model_macs_per_sample(&m);
    as_model_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    fz_reader r = {data, 4};
    int t = 1 + (int)(fz_u8(&r) % 255), c = 1 + fz_u8(&r) % 16, batch = 1 + fz_u8(&r) * 64;
    char *text = fz_text(data + 4, size - 4);
    if (!text) return 0;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return 0;
    as_spec spec;
    as_error e;
    if (as_spec_parse(root, "fuzz.json", "/nonexistent", NULL, &spec, &e) == AS_OK) {
        plan(&spec, 37, 3, spec.train.batch_size);
        plan(&spec, t, c, batch);
    }
    as_spec_free(&spec);
    cJSON_Delete(root);
    return 0;
}
