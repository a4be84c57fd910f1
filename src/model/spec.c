/* spec.c: the training spec, validated against one table of keys per object.
 *
 * Each key has a type, bounds, a default and the set of layer types it applies to;
 * anything else is an error naming the origin and the key path. */
#include "attnsweep/spec.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/layer_ops.h"
#include "model/spec_internal.h"

static const char *const k_act_names[AS_ACT_NTYPES] = {"linear", "relu", "tanh", "sigmoid"};
static const char *const k_pad_names[] = {"same", "valid", NULL};
static const char *const k_opt_names[] = {"adam", "sgd", NULL};

/* Layer type names come from the ops table (layer_ops.h). */
const char *as_layer_type_name(as_layer_type t) {
    const as_layer_ops *ops = as_layer_ops_of(t);
    return ops ? ops->name : "unknown";
}

const char *as_act_name(as_act a) { return (a >= 0 && a < AS_ACT_NTYPES) ? k_act_names[a] : "unknown"; }

/* ---- key tables ---- */

typedef enum { K_INT, K_FLOAT, K_BOOL, K_ENUM_ACT, K_ENUM_PAD } key_kind;

#define BIT(t) (1u << (t))
#define CONV_TYPES (BIT(AS_LAYER_CONV1D) | BIT(AS_LAYER_RESIDUAL_CONV1D))

typedef struct {
    const char *name;
    key_kind kind;
    unsigned types;    /* layer types accepting the key */
    unsigned required; /* layer types requiring it */
    double lo, hi;     /* bounds (inclusive lo; hi inclusive unless hi_open) */
    int hi_open;
    size_t off;        /* offset in as_layer_spec */
} layer_key;

static const layer_key k_layer_keys[] = {
    {"filters", K_INT, CONV_TYPES, BIT(AS_LAYER_CONV1D), 1, 1 << 20, 0,
     offsetof(as_layer_spec, filters)},
    {"kernel_size", K_INT, CONV_TYPES, CONV_TYPES, 1, 4096, 0, offsetof(as_layer_spec, kernel_size)},
    {"dilation", K_INT, CONV_TYPES, 0, 1, 4096, 0, offsetof(as_layer_spec, dilation)},
    {"padding", K_ENUM_PAD, BIT(AS_LAYER_CONV1D) | BIT(AS_LAYER_RESIDUAL_CONV1D), 0, 0, 0, 0,
     offsetof(as_layer_spec, padding)},
    {"activation", K_ENUM_ACT,
     CONV_TYPES | BIT(AS_LAYER_DENSE) | BIT(AS_LAYER_ACTIVATION), BIT(AS_LAYER_ACTIVATION), 0, 0, 0,
     offsetof(as_layer_spec, activation)},
    {"units", K_INT, BIT(AS_LAYER_DENSE), BIT(AS_LAYER_DENSE), 1, 1 << 24, 0,
     offsetof(as_layer_spec, units)},
    {"num_heads", K_INT, BIT(AS_LAYER_SELF_ATTENTION), BIT(AS_LAYER_SELF_ATTENTION), 1, 4096, 0,
     offsetof(as_layer_spec, num_heads)},
    {"key_dim", K_INT, BIT(AS_LAYER_SELF_ATTENTION), BIT(AS_LAYER_SELF_ATTENTION), 1, 1 << 16, 0,
     offsetof(as_layer_spec, key_dim)},
    {"value_dim", K_INT, BIT(AS_LAYER_SELF_ATTENTION), 0, 1, 1 << 16, 0,
     offsetof(as_layer_spec, value_dim)},
    {"output_dim", K_INT, BIT(AS_LAYER_SELF_ATTENTION), 0, 1, 1 << 20, 0,
     offsetof(as_layer_spec, output_dim)},
    {"dropout", K_FLOAT, BIT(AS_LAYER_SELF_ATTENTION), 0, 0, 1, 1, offsetof(as_layer_spec, rate)},
    {"rate", K_FLOAT, BIT(AS_LAYER_DROPOUT), BIT(AS_LAYER_DROPOUT), 0, 1, 1,
     offsetof(as_layer_spec, rate)},
    {"momentum", K_FLOAT, BIT(AS_LAYER_BATCH_NORM), 0, 0, 1, 0, offsetof(as_layer_spec, momentum)},
    {"epsilon", K_FLOAT, BIT(AS_LAYER_BATCH_NORM), 0, 1e-12, 1, 0,
     offsetof(as_layer_spec, epsilon)},
    {"center", K_BOOL, BIT(AS_LAYER_BATCH_NORM), 0, 0, 1, 0, offsetof(as_layer_spec, center)},
    {"scale", K_BOOL, BIT(AS_LAYER_BATCH_NORM), 0, 0, 1, 0, offsetof(as_layer_spec, scale)},
};
#define N_LAYER_KEYS (sizeof k_layer_keys / sizeof k_layer_keys[0])

typedef struct {
    const char *name;
    key_kind kind;
    double lo, hi;
    int hi_open;
    size_t off; /* offset in as_train_spec */
} train_key;

static const train_key k_train_keys[] = {
    {"epochs", K_INT, 1, 1e7, 0, offsetof(as_train_spec, epochs)},
    {"batch_size", K_INT, 1, 1 << 24, 0, offsetof(as_train_spec, batch_size)},
    {"batch_split", K_INT, 1, 256, 0, offsetof(as_train_spec, batch_split)},
    {"validation_split", K_FLOAT, 0, 1, 1, offsetof(as_train_spec, validation_split)},
    {"shuffle", K_BOOL, 0, 1, 0, offsetof(as_train_spec, shuffle)},
    {"threads", K_INT, 1, 1024, 0, offsetof(as_train_spec, threads)},
    {"refit", K_BOOL, 0, 1, 0, offsetof(as_train_spec, refit)},
};
#define N_TRAIN_KEYS (sizeof k_train_keys / sizeof k_train_keys[0])

typedef struct {
    const char *name;
    double lo, hi;
    int hi_open, lo_open;
    size_t off; /* offset in as_optimizer_spec */
    unsigned opts; /* bit per as_opt_type */
} opt_key;

static const opt_key k_opt_keys[] = {
    {"learning_rate", 0, 1e6, 0, 1, offsetof(as_optimizer_spec, learning_rate), 3},
    {"beta_1", 0, 1, 1, 0, offsetof(as_optimizer_spec, beta_1), 1},
    {"beta_2", 0, 1, 1, 0, offsetof(as_optimizer_spec, beta_2), 1},
    {"epsilon", 0, 1, 0, 1, offsetof(as_optimizer_spec, epsilon), 1},
    {"momentum", 0, 1, 1, 0, offsetof(as_optimizer_spec, momentum), 2},
    {"ema_momentum", 0, 1, 0, 0, offsetof(as_optimizer_spec, ema_momentum), 3},
};
#define N_OPT_KEYS (sizeof k_opt_keys / sizeof k_opt_keys[0])

/* ---- value readers ---- */

static int enum_index(const char *const *names, int n, const char *s) {
    for (int i = 0; (n < 0 ? names[i] != NULL : i < n); i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

static void list_names(char *buf, size_t cap, const char *const *names, int n) {
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; (n < 0 ? names[i] != NULL : i < n); i++) {
        int w = snprintf(buf + used, cap - used, "%s\"%s\"", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= cap - used) break;
        used += (size_t)w;
    }
}

static void describe(const cJSON *v, char *buf, size_t cap) {
    if (cJSON_IsNumber(v) && !isfinite(v->valuedouble)) { /* cJSON would print null */
        snprintf(buf, cap, "a number beyond the double range");
        return;
    }
    char *s = cJSON_PrintUnformatted(v);
    snprintf(buf, cap, "%s", s ? s : "?");
    if (s) cJSON_free(s);
    if (strlen(buf) > 60) strcpy(buf + 57, "...");
}

/* Reads a number in [lo, hi] (hi exclusive when hi_open, lo exclusive when lo_open). */
static as_status read_number(const cJSON *v, int integer, double lo, double hi, int lo_open,
                             int hi_open, const char *origin, const char *path, double *out,
                             as_error *err) {
    char got[80];
    describe(v, got, sizeof got);
    const char *what = integer ? "an integer" : "a number";
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        (integer && v->valuedouble != floor(v->valuedouble)))
        return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be %s (got %s)", origin, path, what, got);
    double x = v->valuedouble;
    int bad_lo = lo_open ? !(x > lo) : !(x >= lo);
    int bad_hi = hi_open ? !(x < hi) : !(x <= hi);
    if (bad_lo || bad_hi)
        return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be %s in %s%g, %g%s (got %s)", origin,
                            path, what, lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]", got);
    *out = x;
    return AS_OK;
}

static as_status read_enum(const cJSON *v, const char *const *names, int n, const char *origin,
                           const char *path, int *out, as_error *err) {
    char allowed[256], got[80];
    list_names(allowed, sizeof allowed, names, n);
    describe(v, got, sizeof got);
    int idx = cJSON_IsString(v) ? enum_index(names, n, v->valuestring) : -1;
    if (idx < 0)
        return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be one of %s (got %s)", origin, path,
                            allowed, got);
    *out = idx;
    return AS_OK;
}

/* An object key written twice (cJSON keeps both; the later would win silently). */
static as_status check_duplicate(const cJSON *it, const char *origin, const char *path,
                                 as_error *err) {
    /* the siblings before it; the first child's prev is the last (whose next is NULL) */
    for (const cJSON *p = it->prev; p && p->next; p = p->prev)
        if (p->string && !strcmp(p->string, it->string))
            return as_error_set(err, AS_ERR_SPEC, "%s: %s: key given twice", origin, path);
    return AS_OK;
}

/* ---- layers ---- */

/* dense.units "n_classes" and conv1d.filters "n_outputs": set from the dataset later
 * (as_spec_resolve); 1 when it is one of those. */
static int from_data(size_t off, const cJSON *v, int *field) {
    if (!cJSON_IsString(v)) return 0;
    if (off == offsetof(as_layer_spec, units) && !strcmp(v->valuestring, "n_classes")) {
        *field = AS_FROM_N_CLASSES;
        return 1;
    }
    if (off == offsetof(as_layer_spec, filters) && !strcmp(v->valuestring, "n_outputs")) {
        *field = AS_FROM_N_OUTPUTS;
        return 1;
    }
    return 0;
}

as_status as_spec_resolve(as_spec *s, int classification, int n_classes, int n_outputs,
                          const char *origin, as_error *err) {
    for (int i = 0; i < s->n_layers; i++) {
        as_layer_spec *L = &s->layers[i];
        if (L->units == AS_FROM_N_CLASSES) {
            if (!classification)
                return as_error_set(err, AS_ERR_SPEC, "%s: model[%d].units: \"n_classes\" needs a "
                                    "classification dataset", origin, i);
            L->units = n_classes;
        }
        if (L->filters == AS_FROM_N_OUTPUTS) {
            if (classification)
                return as_error_set(err, AS_ERR_SPEC, "%s: model[%d].filters: \"n_outputs\" needs a "
                                    "regression dataset", origin, i);
            L->filters = n_outputs;
        }
    }
    return AS_OK;
}

as_status as_spec_json_resolve(cJSON *spec, int classification, int n_classes, int n_outputs,
                               const char *origin, as_error *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(spec, "model");
    int i = 0;
    for (cJSON *l = model ? model->child : NULL; l; l = l->next, i++) {
        const char *keys[2] = {"units", "filters"}, *names[2] = {"n_classes", "n_outputs"};
        for (int k = 0; k < 2; k++) {
            cJSON *v = cJSON_GetObjectItemCaseSensitive(l, keys[k]);
            if (!cJSON_IsString(v) || strcmp(v->valuestring, names[k])) continue;
            if (classification != (k == 0))
                return as_error_set(err, AS_ERR_SPEC, "%s: model[%d].%s: \"%s\" needs a %s dataset",
                                    origin, i, keys[k], names[k],
                                    k == 0 ? "classification" : "regression");
            cJSON *num = cJSON_CreateNumber(k == 0 ? n_classes : n_outputs);
            if (!num || !cJSON_ReplaceItemInObjectCaseSensitive(l, keys[k], num)) {
                cJSON_Delete(num);
                return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", origin);
            }
        }
    }
    return AS_OK;
}

/* One key of a layer object (k: its table entry) into L (a layer of type t). */
static as_status read_layer_key(const layer_key *k, const cJSON *it, int t, const char *origin,
                                const char *kpath, as_layer_spec *L, as_error *err) {
    char *field = (char *)L + k->off;
    double x;
    int e;
    as_status st;
    switch (k->kind) {
    case K_INT:
        if (from_data(k->off, it, (int *)field)) break; /* "n_classes" / "n_outputs" */
        if ((st = read_number(it, 1, k->lo, k->hi, 0, k->hi_open, origin, kpath, &x, err)))
            return st;
        *(int *)field = (int)x;
        break;
    case K_FLOAT:
        if ((st = read_number(it, 0, k->lo, k->hi, 0, k->hi_open, origin, kpath, &x, err)))
            return st;
        *(float *)field = (float)x;
        break;
    case K_ENUM_ACT:
        if ((st = read_enum(it, k_act_names, AS_ACT_NTYPES, origin, kpath, &e, err))) return st;
        *(as_act *)field = (as_act)e;
        break;
    case K_ENUM_PAD:
        if ((st = read_enum(it, k_pad_names, -1, origin, kpath, &e, err))) return st;
        if (t == AS_LAYER_RESIDUAL_CONV1D && e != AS_PAD_SAME)
            return as_error_set(err, AS_ERR_SPEC,
                                "%s: %s: a residual_conv1d layer needs padding \"same\"", origin,
                                kpath);
        *(as_padding *)field = (as_padding)e;
        break;
    case K_BOOL:
        if (!cJSON_IsBool(it))
            return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be true or false", origin, kpath);
        *(int *)field = cJSON_IsTrue(it);
        break;
    }
    return AS_OK;
}

/* A layer of type t with every optional key at its default (Keras's). */
static void layer_defaults(as_layer_spec *L, int t) {
    memset(L, 0, sizeof *L);
    L->type = (as_layer_type)t;
    L->dilation = 1;
    L->activation = AS_ACT_LINEAR;
    L->padding = AS_PAD_SAME;
    L->momentum = 0.99f;
    L->epsilon = 1e-3f;
    L->center = 1;
    L->scale = 1;
}

static as_status parse_layer(const cJSON *obj, int index, const char *origin, as_layer_spec *L,
                             as_error *err) {
    char path[96], kpath[160];
    snprintf(path, sizeof path, "model[%d]", index);
    if (!cJSON_IsObject(obj))
        return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be a layer object", origin, path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
    if (!type)
        return as_error_set(err, AS_ERR_SPEC, "%s: %s.type: missing (the layer type)", origin, path);
    snprintf(kpath, sizeof kpath, "%s.type", path);
    int t = cJSON_IsString(type) ? as_layer_type_from_name(type->valuestring) : -1;
    as_status st;
    if (t < 0) {
        const char *names[AS_LAYER_NTYPES];
        for (int i = 0; i < AS_LAYER_NTYPES; i++) names[i] = as_layer_type_name((as_layer_type)i);
        return read_enum(type, names, AS_LAYER_NTYPES, origin, kpath, &t, err);
    }
    layer_defaults(L, t);
    unsigned bit = BIT(t);

    for (const cJSON *it = obj->child; it; it = it->next) {
        snprintf(kpath, sizeof kpath, "%s.%s", path, it->string);
        if ((st = check_duplicate(it, origin, kpath, err))) return st;
        if (!strcmp(it->string, "type")) continue;
        const layer_key *k = NULL;
        for (size_t i = 0; i < N_LAYER_KEYS; i++)
            if (!strcmp(k_layer_keys[i].name, it->string)) k = &k_layer_keys[i];
        if (!k)
            return as_error_set(err, AS_ERR_SPEC, "%s: %s: unknown key for a %s layer", origin, kpath,
                                as_layer_type_name((as_layer_type)t));
        if (!(k->types & bit))
            return as_error_set(err, AS_ERR_SPEC, "%s: %s: not a key of a %s layer", origin, kpath,
                                as_layer_type_name((as_layer_type)t));
        if ((st = read_layer_key(k, it, t, origin, kpath, L, err))) return st;
    }
    for (size_t i = 0; i < N_LAYER_KEYS; i++) {
        if ((k_layer_keys[i].required & bit) &&
            !cJSON_GetObjectItemCaseSensitive(obj, k_layer_keys[i].name))
            return as_error_set(err, AS_ERR_SPEC, "%s: %s.%s: missing (required for a %s layer)",
                                origin, path, k_layer_keys[i].name, as_layer_type_name((as_layer_type)t));
    }
    return AS_OK;
}

/* ---- train ---- */

static as_status parse_optimizer(const cJSON *v, const char *origin, as_optimizer_spec *o,
                                 as_error *err) {
    const char *path = "train.optimizer";
    const cJSON *type = cJSON_IsString(v) ? v : NULL;
    if (!type && !cJSON_IsObject(v))
        return as_error_set(err, AS_ERR_SPEC,
                            "%s: %s: must be \"adam\", \"sgd\" or an object with a \"type\"", origin,
                            path);
    if (!type) type = cJSON_GetObjectItemCaseSensitive(v, "type");
    if (!type)
        return as_error_set(err, AS_ERR_SPEC, "%s: %s.type: missing (\"adam\" or \"sgd\")", origin,
                            path);
    int t;
    as_status st = read_enum(type, k_opt_names, -1, origin, "train.optimizer.type", &t, err);
    if (st) return st;
    o->type = (as_opt_type)t;
    o->learning_rate = t == AS_OPT_ADAM ? 0.001f : 0.01f;
    if (!cJSON_IsObject(v)) return AS_OK;
    for (const cJSON *it = v->child; it; it = it->next) {
        char kpath[160];
        snprintf(kpath, sizeof kpath, "%s.%s", path, it->string);
        if ((st = check_duplicate(it, origin, kpath, err))) return st;
        if (!strcmp(it->string, "type")) continue;
        int *flag = !strcmp(it->string, "use_ema")       ? &o->use_ema
                    : !strcmp(it->string, "ema_buffers") ? &o->ema_buffers
                    : !strcmp(it->string, "nesterov") && t == AS_OPT_SGD ? &o->nesterov
                                                                         : NULL;
        if (flag) {
            if (!cJSON_IsBool(it))
                return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be true or false", origin, kpath);
            *flag = cJSON_IsTrue(it);
            continue;
        }
        const opt_key *k = NULL;
        for (size_t i = 0; i < N_OPT_KEYS; i++)
            if (!strcmp(k_opt_keys[i].name, it->string) && (k_opt_keys[i].opts & (1u << t)))
                k = &k_opt_keys[i];
        if (!k)
            return as_error_set(err, AS_ERR_SPEC, "%s: %s: unknown key for the %s optimizer", origin,
                                kpath, k_opt_names[t]);
        double x;
        if ((st = read_number(it, 0, k->lo, k->hi, k->lo_open, k->hi_open, origin, kpath, &x, err)))
            return st;
        *(float *)((char *)o + k->off) = (float)x;
    }
    return AS_OK;
}

/* A seed: an integer below 2^53 (every such integer is exact in a JSON number, a double;
 * from 2^53 on neighbours round to one value) or a decimal string of any uint64 (the
 * 64-bit run seeds `attnsweep export` writes). */
static as_status read_seed(const cJSON *it, const char *origin, const char *kpath, uint64_t *out,
                           as_error *err) {
    if (cJSON_IsString(it)) {
        const char *s = it->valuestring;
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (!*s || *s == '-' || *s == '+' || *end || errno)
            return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be an integer or a decimal string "
                                "of an unsigned 64-bit integer (got \"%.40s\")", origin, kpath, s);
        *out = (uint64_t)v;
        return AS_OK;
    }
    if (cJSON_IsNumber(it) && it->valuedouble >= 9007199254740992.0)
        return as_error_set(err, AS_ERR_SPEC, "%s: %s: a number from 2^53 on is not read exactly "
                            "(JSON numbers are doubles: neighbouring integers round to one); "
                            "write a larger seed as a decimal string, e.g. \"9007199254740993\"",
                            origin, kpath);
    double x;
    as_status st = read_number(it, 1, 0, 9007199254740991.0, 0, 0, origin, kpath, &x, err);
    if (!st) *out = (uint64_t)x;
    return st;
}

static as_status parse_train(const cJSON *v, const char *origin, as_train_spec *t, as_error *err) {
    if (!cJSON_IsObject(v))
        return as_error_set(err, AS_ERR_SPEC, "%s: train: must be an object", origin);
    as_status st;
    for (const cJSON *it = v->child; it; it = it->next) {
        char kpath[160];
        snprintf(kpath, sizeof kpath, "train.%s", it->string);
        if ((st = check_duplicate(it, origin, kpath, err))) return st;
        if (!strcmp(it->string, "optimizer")) {
            if ((st = parse_optimizer(it, origin, &t->optimizer, err))) return st;
            continue;
        }
        if (as_train_spec_has_key(it->string)) {
            if ((st = as_train_spec_parse_key(it, origin, t, err))) return st;
            continue;
        }
        if (!strcmp(it->string, "seed")) {
            if ((st = read_seed(it, origin, kpath, &t->seed, err))) return st;
            continue;
        }
        const train_key *k = NULL;
        for (size_t i = 0; i < N_TRAIN_KEYS; i++)
            if (!strcmp(k_train_keys[i].name, it->string)) k = &k_train_keys[i];
        if (!k)
            return as_error_set(err, AS_ERR_SPEC, "%s: %s: unknown key (known: epochs, batch_size, "
                                "validation_split, validation, shuffle, seed, optimizer, "
                                "early_stopping, reduce_lr_on_plateau, lr_schedule, keep)", origin,
                                kpath);
        char *field = (char *)t + k->off;
        double x;
        if (k->kind == K_BOOL) {
            if (!cJSON_IsBool(it))
                return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be true or false", origin, kpath);
            *(int *)field = cJSON_IsTrue(it);
        } else if (k->kind == K_INT) {
            if ((st = read_number(it, 1, k->lo, k->hi, 0, k->hi_open, origin, kpath, &x, err)))
                return st;
            *(int *)field = (int)x;
        } else {
            if ((st = read_number(it, 0, k->lo, k->hi, 0, k->hi_open, origin, kpath, &x, err)))
                return st;
            *(double *)field = x;
        }
    }
    return as_train_spec_check(v, origin, t, err);
}

static void train_defaults(as_train_spec *t) {
    memset(t, 0, sizeof *t);
    t->epochs = 10;
    t->batch_size = 32;
    t->batch_split = 1;
    t->validation_split = 0.0;
    t->shuffle = 1;
    t->seed = 0;
    t->optimizer.type = AS_OPT_ADAM;
    t->optimizer.learning_rate = 0.001f;
    t->optimizer.beta_1 = 0.9f;
    t->optimizer.beta_2 = 0.999f;
    t->optimizer.epsilon = 1e-7f;
    t->optimizer.ema_momentum = 0.99f;
    as_train_spec_defaults(t);
}

/* Joins base_dir and a relative path; absolute paths are kept. */
static char *resolve_path(const char *base_dir, const char *p) {
    if (!base_dir || !*base_dir || p[0] == '/') return as_strdup(p);
    size_t n = strlen(base_dir) + strlen(p) + 2;
    char *s = as_malloc(n);
    if (s) snprintf(s, n, "%s/%s", base_dir, p);
    return s;
}

as_status as_spec_parse(const cJSON *root, const char *origin, const char *base_dir,
                        const char *const *extra_ok, as_spec *out, as_error *err) {
    memset(out, 0, sizeof *out);
    train_defaults(&out->train);
    if (!cJSON_IsObject(root))
        return as_error_set(err, AS_ERR_SPEC, "%s: must be a JSON object with \"data\", \"model\" and "
                            "\"train\"", origin);
    as_status st = AS_OK;
    const cJSON *data = NULL, *model = NULL, *train = NULL;
    for (const cJSON *it = root->child; it; it = it->next) {
        if ((st = check_duplicate(it, origin, it->string, err))) return st;
        if (!strcmp(it->string, "data")) data = it;
        else if (!strcmp(it->string, "model")) model = it;
        else if (!strcmp(it->string, "train")) train = it;
        else {
            int ok = 0;
            for (int i = 0; extra_ok && extra_ok[i]; i++) ok |= !strcmp(extra_ok[i], it->string);
            if (!ok)
                return as_error_set(err, AS_ERR_SPEC, "%s: %s: unknown key (known: data, model, train)",
                                    origin, it->string);
        }
    }
    if (!data) return as_error_set(err, AS_ERR_SPEC, "%s: data: missing (the dataset path)", origin);
    if (!cJSON_IsString(data) || !data->valuestring[0])
        return as_error_set(err, AS_ERR_SPEC, "%s: data: must be a non-empty string", origin);
    if (!model) return as_error_set(err, AS_ERR_SPEC, "%s: model: missing (a list of layers)", origin);
    if (!cJSON_IsArray(model) || cJSON_GetArraySize(model) < 1)
        return as_error_set(err, AS_ERR_SPEC, "%s: model: must be a non-empty list of layers", origin);
    out->n_layers = cJSON_GetArraySize(model);
    out->layers = as_calloc((size_t)out->n_layers, sizeof *out->layers);
    out->data = resolve_path(base_dir, data->valuestring);
    if (!out->layers || !out->data) {
        as_spec_free(out);
        return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory", origin);
    }
    int i = 0;
    for (const cJSON *l = model->child; l; l = l->next, i++)
        if ((st = parse_layer(l, i, origin, &out->layers[i], err))) goto fail;
    if (train && (st = parse_train(train, origin, &out->train, err))) goto fail;
    return AS_OK;
fail:
    as_spec_free(out);
    return st;
}

as_status as_read_text_file(const char *path, char **out, size_t *len, as_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return as_error_set(err, AS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = as_malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n + 1 < cap) break;
        if (memchr(buf, 0, n)) break; /* refused below, without reading on (/dev/zero) */
        if (n > AS_TEXT_FILE_MAX) { /* also stops endless pipes */
            as_free(buf);
            fclose(f);
            return as_error_set(err, AS_ERR_SPEC, "%s: larger than the %d MiB a spec or sweep "
                                "file may hold", path, AS_TEXT_FILE_MAX >> 20);
        }
        size_t ncap;
        if (!as_size_mul(cap, 2, &ncap)) {
            as_free(buf);
            buf = NULL;
            break;
        }
        char *nb = as_realloc(buf, ncap);
        if (!nb) {
            as_free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap = ncap;
    }
    int read_err = ferror(f);
    fclose(f);
    if (!buf) return as_error_set(err, AS_ERR_NOMEM, "%s: out of memory reading the file", path);
    if (read_err) {
        as_free(buf);
        return as_error_set(err, AS_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    const char *z = memchr(buf, 0, n); /* the parser would stop there, ignoring the rest */
    if (z) {
        int line = 1;
        for (const char *c = buf; c < z; c++) line += *c == '\n';
        as_free(buf);
        return as_error_set(err, AS_ERR_SPEC, "%s:%d: a NUL byte (offset %zu): not a text file",
                            path, line, (size_t)(z - buf));
    }
    *out = buf;
    if (len) *len = n;
    return AS_OK;
}

/* The depth of the arrays and objects open before byte offset off of text (strings,
 * with their escapes, skipped). */
static int depth_at(const char *text, size_t off) {
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < off && text[i]; i++) {
        const char c = text[i];
        if (in_str && c == '\\' && text[i + 1]) i++;
        else if (c == '"') in_str = !in_str;
        else if (!in_str) depth += (c == '[' || c == '{') - (c == ']' || c == '}');
    }
    return depth;
}

as_status as_json_parse(const char *text, const char *origin, cJSON **out, as_error *err) {
    const char *end = NULL;
    *out = cJSON_ParseWithOpts(text, &end, 1);
    if (*out) return AS_OK;
    const size_t off = end ? (size_t)(end - text) : 0;
    int line = 1, col = 1;
    for (size_t i = 0; i < off && text[i]; i++, col++)
        if (text[i] == '\n') line++, col = 0;
    /* cJSON stops at the bracket that opens level CJSON_NESTING_LIMIT + 1 */
    if ((text[off] == '[' || text[off] == '{') && depth_at(text, off) >= CJSON_NESTING_LIMIT)
        return as_error_set(err, AS_ERR_SPEC, "%s: line %d, column %d: nested deeper than %d levels "
                            "(the JSON reader's limit)", origin, line, col, CJSON_NESTING_LIMIT);
    return as_error_set(err, AS_ERR_SPEC, "%s: line %d, column %d: invalid JSON", origin, line, col);
}

as_status as_spec_load(const char *path, as_spec *out, as_error *err) {
    memset(out, 0, sizeof *out);
    char *text;
    as_status st = as_read_text_file(path, &text, NULL, err);
    if (st) return st;
    cJSON *root;
    st = as_json_parse(text, path, &root, err);
    as_free(text);
    if (st) return st;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else strcpy(dir, ".");
    st = as_spec_parse(root, path, dir, NULL, out, err);
    cJSON_Delete(root);
    return st;
}

void as_spec_free(as_spec *s) {
    if (!s) return;
    as_free(s->data);
    as_free(s->layers);
    s->data = NULL;
    s->layers = NULL;
    s->n_layers = 0;
}

/* The readers, for the other key tables (spec_internal.h). */
as_status as_spec_read_number(const cJSON *v, int integer, double lo, double hi, int lo_open,
                              int hi_open, const char *origin, const char *path, double *out,
                              as_error *err) {
    return read_number(v, integer, lo, hi, lo_open, hi_open, origin, path, out, err);
}

as_status as_spec_read_enum(const cJSON *v, const char *const *names, int n, const char *origin,
                            const char *path, int *out, as_error *err) {
    return read_enum(v, names, n, origin, path, out, err);
}

as_status as_spec_check_duplicate(const cJSON *it, const char *origin, const char *path,
                                  as_error *err) {
    return check_duplicate(it, origin, path, err);
}
