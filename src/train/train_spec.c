/* train_spec.c: the callback, schedule, validation and keep keys of the train spec, each
 * object validated against its own key table (Keras names and defaults). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "model/spec_internal.h"

static const char *const k_monitors[] = {"val_loss", "val_accuracy", "loss", "accuracy", NULL};
static const char *const k_modes[] = {"auto", "min", "max", NULL};
static const char *const k_sched[] = {"none", "cosine_decay", "exponential_decay",
                                      "piecewise_constant_decay", NULL};
static const char *const k_keep[] = {"default", "best", "last", NULL};
static const char *const k_val_modes[] = {"last", "shuffled", "stratified", NULL};

const char *as_monitor_name(as_monitor m) {
    return m >= AS_MON_VAL_LOSS && m <= AS_MON_ACCURACY ? k_monitors[m] : "unknown";
}
const char *as_val_mode_name(as_val_mode m) {
    return m >= AS_VAL_LAST && m <= AS_VAL_STRATIFIED ? k_val_modes[m] : "unknown";
}

typedef enum { S_INT, S_LONG, S_DOUBLE, S_BOOL, S_ENUM, S_U64 } sub_kind;

typedef struct {
    const char *name;
    sub_kind kind;
    double lo, hi;
    int lo_open, hi_open;
    size_t off;                /* in the object's struct */
    const char *const *names;  /* S_ENUM */
    unsigned types;            /* lr_schedule: bit per as_sched_type accepting the key (0: all) */
    unsigned required;         /* lr_schedule: bit per type requiring it */
} sub_key;

#define SCHED(t) (1u << (t))
#define BIG 1e7

static const sub_key k_es_keys[] = {
    {"monitor", S_ENUM, 0, 0, 0, 0, offsetof(as_early_stopping_spec, monitor), k_monitors, 0, 0},
    {"mode", S_ENUM, 0, 0, 0, 0, offsetof(as_early_stopping_spec, mode), k_modes, 0, 0},
    {"patience", S_INT, 0, BIG, 0, 0, offsetof(as_early_stopping_spec, patience), NULL, 0, 0},
    {"min_delta", S_DOUBLE, 0, 1e300, 0, 0, offsetof(as_early_stopping_spec, min_delta), NULL, 0, 0},
    {"restore_best_weights", S_BOOL, 0, 1, 0, 0,
     offsetof(as_early_stopping_spec, restore_best_weights), NULL, 0, 0},
    {"start_from_epoch", S_INT, 0, BIG, 0, 0, offsetof(as_early_stopping_spec, start_from_epoch),
     NULL, 0, 0},
    {NULL, S_INT, 0, 0, 0, 0, 0, NULL, 0, 0}};

static const sub_key k_rlr_keys[] = {
    {"monitor", S_ENUM, 0, 0, 0, 0, offsetof(as_reduce_lr_spec, monitor), k_monitors, 0, 0},
    {"mode", S_ENUM, 0, 0, 0, 0, offsetof(as_reduce_lr_spec, mode), k_modes, 0, 0},
    {"factor", S_DOUBLE, 0, 1, 1, 1, offsetof(as_reduce_lr_spec, factor), NULL, 0, 0},
    {"patience", S_INT, 0, BIG, 0, 0, offsetof(as_reduce_lr_spec, patience), NULL, 0, 0},
    {"min_delta", S_DOUBLE, 0, 1e300, 0, 0, offsetof(as_reduce_lr_spec, min_delta), NULL, 0, 0},
    {"cooldown", S_INT, 0, BIG, 0, 0, offsetof(as_reduce_lr_spec, cooldown), NULL, 0, 0},
    {"min_lr", S_DOUBLE, 0, 1e6, 0, 0, offsetof(as_reduce_lr_spec, min_lr), NULL, 0, 0},
    {NULL, S_INT, 0, 0, 0, 0, 0, NULL, 0, 0}};

#define COS SCHED(AS_SCHED_COSINE)
#define EXPO SCHED(AS_SCHED_EXPONENTIAL)
static const sub_key k_sched_keys[] = {
    {"type", S_ENUM, 0, 0, 0, 0, offsetof(as_lr_schedule_spec, type), k_sched, 0, 0},
    {"decay_steps", S_LONG, 1, 1e15, 0, 0, offsetof(as_lr_schedule_spec, decay_steps), NULL,
     COS | EXPO, COS | EXPO},
    {"alpha", S_DOUBLE, 0, 1, 0, 0, offsetof(as_lr_schedule_spec, alpha), NULL, COS, 0},
    {"warmup_target", S_DOUBLE, 0, 1e6, 1, 0, offsetof(as_lr_schedule_spec, warmup_target), NULL,
     COS, 0},
    {"warmup_steps", S_LONG, 0, 1e15, 0, 0, offsetof(as_lr_schedule_spec, warmup_steps), NULL, COS,
     0},
    {"decay_rate", S_DOUBLE, 0, 1e6, 1, 0, offsetof(as_lr_schedule_spec, decay_rate), NULL, EXPO,
     EXPO},
    {"staircase", S_BOOL, 0, 1, 0, 0, offsetof(as_lr_schedule_spec, staircase), NULL, EXPO, 0},
    {NULL, S_INT, 0, 0, 0, 0, 0, NULL, 0, 0}};

typedef struct {
    double split;
    as_val_mode mode;
    uint64_t seed;
} val_obj;

static const sub_key k_val_keys[] = {
    {"split", S_DOUBLE, 0, 1, 1, 1, offsetof(val_obj, split), NULL, 0, 0},
    {"mode", S_ENUM, 0, 0, 0, 0, offsetof(val_obj, mode), k_val_modes, 0, 0},
    {"seed", S_U64, 0, 9007199254740991.0, 0, 0, offsetof(val_obj, seed), NULL, 0, 0},
    {NULL, S_INT, 0, 0, 0, 0, 0, NULL, 0, 0}};

static void list_keys(const sub_key *keys, unsigned type_bit, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (const sub_key *k = keys; k->name; k++) {
        if (type_bit && k->types && !(k->types & type_bit)) continue;
        int w = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", k->name);
        if (w < 0 || (size_t)w >= cap - used) break;
        used += (size_t)w;
    }
}

/* Reads one value of key k at path into base + k->off. */
static as_status read_value(const cJSON *it, const sub_key *k, const char *origin,
                            const char *path, char *base, as_error *err) {
    char *field = base + k->off;
    double x;
    int e;
    as_status st = AS_OK;
    switch (k->kind) {
    case S_BOOL:
        if (!cJSON_IsBool(it))
            return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be true or false", origin, path);
        *(int *)field = cJSON_IsTrue(it);
        break;
    case S_ENUM:
        if ((st = as_spec_read_enum(it, k->names, -1, origin, path, &e, err))) return st;
        *(int *)field = e;
        break;
    default:
        if ((st = as_spec_read_number(it, k->kind != S_DOUBLE, k->lo, k->hi, k->lo_open, k->hi_open,
                                      origin, path, &x, err)))
            return st;
        if (k->kind == S_INT) *(int *)field = (int)x;
        else if (k->kind == S_LONG) *(long *)field = (long)x;
        else if (k->kind == S_U64) *(uint64_t *)field = (uint64_t)x;
        else *(double *)field = x;
    }
    return AS_OK;
}

/* Reads object v (at path) against keys into base; type_bit filters per-type keys. */
static as_status read_object(const cJSON *v, const sub_key *keys, unsigned type_bit,
                             const char *type_name, const char *origin, const char *path,
                             char *base, as_error *err) {
    if (!cJSON_IsObject(v))
        return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be an object", origin, path);
    char kpath[192], known[256];
    as_status st;
    for (const cJSON *it = v->child; it; it = it->next) {
        snprintf(kpath, sizeof kpath, "%s.%s", path, it->string);
        if ((st = as_spec_check_duplicate(it, origin, kpath, err))) return st;
        const sub_key *k = NULL;
        for (const sub_key *c = keys; c->name; c++)
            if (!strcmp(c->name, it->string)) k = c;
        if (k && type_bit && k->types && !(k->types & type_bit)) {
            list_keys(keys, type_bit, known, sizeof known);
            return as_error_set(err, AS_ERR_SPEC, "%s: %s: not a key of %s (known: %s)", origin,
                                kpath, type_name, known);
        }
        if (!k) {
            if (!strcmp(it->string, "boundaries") || !strcmp(it->string, "values")) continue;
            list_keys(keys, type_bit, known, sizeof known);
            return as_error_set(err, AS_ERR_SPEC, "%s: %s: unknown key (known: %s)", origin, kpath,
                                known);
        }
        if ((st = read_value(it, k, origin, kpath, base, err))) return st;
    }
    for (const sub_key *k = keys; k->name; k++)
        if ((k->required & type_bit) && !cJSON_GetObjectItemCaseSensitive(v, k->name))
            return as_error_set(err, AS_ERR_SPEC, "%s: %s.%s: missing (required for %s)", origin,
                                path, k->name, type_name);
    return AS_OK;
}

/* piecewise_constant_decay's "boundaries" (strictly increasing steps) and "values". */
static as_status read_pieces(const cJSON *v, const char *origin, as_lr_schedule_spec *s,
                             as_error *err) {
    const char *p = "train.lr_schedule";
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(v, "boundaries");
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(v, "values");
    if (!b || !vals)
        return as_error_set(err, AS_ERR_SPEC, "%s: %s.%s: missing (required for "
                            "piecewise_constant_decay)", origin, p, b ? "values" : "boundaries");
    int nb = cJSON_IsArray(b) ? cJSON_GetArraySize(b) : -1;
    int nv = cJSON_IsArray(vals) ? cJSON_GetArraySize(vals) : -1;
    if (nb < 1 || nb > AS_SCHED_MAX_PIECES)
        return as_error_set(err, AS_ERR_SPEC, "%s: %s.boundaries: must be a list of 1 to %d steps",
                            origin, p, AS_SCHED_MAX_PIECES);
    if (nv != nb + 1)
        return as_error_set(err, AS_ERR_SPEC, "%s: %s.values: must be a list of %d learning rates "
                            "(one more than the boundaries)", origin, p, nb + 1);
    char kpath[192];
    double x;
    as_status st;
    int i = 0;
    for (const cJSON *it = b->child; it; it = it->next, i++) {
        snprintf(kpath, sizeof kpath, "%s.boundaries[%d]", p, i);
        if ((st = as_spec_read_number(it, 1, 0, 1e15, 0, 0, origin, kpath, &x, err))) return st;
        if (i > 0 && (long)x <= s->boundaries[i - 1])
            return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be greater than the boundary "
                                "before it", origin, kpath);
        s->boundaries[i] = (long)x;
    }
    i = 0;
    for (const cJSON *it = vals->child; it; it = it->next, i++) {
        snprintf(kpath, sizeof kpath, "%s.values[%d]", p, i);
        if ((st = as_spec_read_number(it, 0, 0, 1e6, 1, 0, origin, kpath, &x, err))) return st;
        s->values[i] = x;
    }
    s->n_boundaries = nb;
    return AS_OK;
}

static as_status parse_schedule(const cJSON *v, const char *origin, as_lr_schedule_spec *s,
                                as_error *err) {
    const char *p = "train.lr_schedule";
    if (!cJSON_IsObject(v))
        return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be an object with a \"type\"", origin, p);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
    if (!type)
        return as_error_set(err, AS_ERR_SPEC, "%s: %s.type: missing (cosine_decay, "
                            "exponential_decay or piecewise_constant_decay)", origin, p);
    int t;
    as_status st = as_spec_read_enum(type, k_sched + 1, -1, origin, "train.lr_schedule.type", &t, err);
    if (st) return st;
    t += 1; /* k_sched[0] is "none" */
    if ((st = read_object(v, k_sched_keys, SCHED(t), k_sched[t], origin, p, (char *)s, err)))
        return st;
    if (t == AS_SCHED_PIECEWISE) return read_pieces(v, origin, s, err);
    for (const char *const *n = (const char *const[]){"boundaries", "values", NULL}; *n; n++)
        if (cJSON_GetObjectItemCaseSensitive(v, *n))
            return as_error_set(err, AS_ERR_SPEC, "%s: %s.%s: not a key of %s", origin, p, *n,
                                k_sched[t]);
    if (cJSON_GetObjectItemCaseSensitive(v, "warmup_steps") && isnan(s->warmup_target))
        return as_error_set(err, AS_ERR_SPEC, "%s: %s.warmup_steps: needs warmup_target (the "
                            "rate reached after the warmup)", origin, p);
    return AS_OK;
}

int as_train_spec_has_key(const char *key) {
    static const char *const keys[] = {"early_stopping", "reduce_lr_on_plateau", "lr_schedule",
                                       "validation", "keep", "refit_keep", NULL};
    for (int i = 0; keys[i]; i++)
        if (!strcmp(keys[i], key)) return 1;
    return 0;
}

as_status as_train_spec_parse_key(const cJSON *it, const char *origin, as_train_spec *t,
                                  as_error *err) {
    const char *k = it->string;
    char path[96];
    snprintf(path, sizeof path, "train.%s", k);
    as_status st;
    if (!strcmp(k, "early_stopping")) {
        t->early_stopping.enabled = 1;
        return read_object(it, k_es_keys, 0, NULL, origin, path, (char *)&t->early_stopping, err);
    }
    if (!strcmp(k, "reduce_lr_on_plateau")) {
        t->reduce_lr.enabled = 1;
        return read_object(it, k_rlr_keys, 0, NULL, origin, path, (char *)&t->reduce_lr, err);
    }
    if (!strcmp(k, "lr_schedule")) return parse_schedule(it, origin, &t->lr_schedule, err);
    if (!strcmp(k, "keep") || !strcmp(k, "refit_keep")) {
        int e;
        if ((st = as_spec_read_enum(it, k_keep + 1, -1, origin, path, &e, err))) return st;
        *(k[0] == 'k' ? &t->keep : &t->refit_keep) = (as_keep)(e + 1);
        return AS_OK;
    }
    /* validation */
    val_obj vo = {0.2, AS_VAL_LAST, 0};
    if ((st = read_object(it, k_val_keys, 0, NULL, origin, path, (char *)&vo, err))) return st;
    t->validation_split = vo.split;
    t->validation_mode = vo.mode;
    t->validation_seed = vo.seed;
    t->validation_object = 1;
    return AS_OK;
}

as_status as_train_spec_check(const cJSON *train, const char *origin, as_train_spec *t,
                              as_error *err) {
    (void)t;
    if (cJSON_GetObjectItemCaseSensitive(train, "validation") &&
        cJSON_GetObjectItemCaseSensitive(train, "validation_split"))
        return as_error_set(err, AS_ERR_SPEC, "%s: train.validation: give either validation_split "
                            "or validation.split, not both", origin);
    const cJSON *refit = cJSON_GetObjectItemCaseSensitive(train, "refit");
    if (cJSON_GetObjectItemCaseSensitive(train, "refit_keep") && !cJSON_IsTrue(refit))
        return as_error_set(err, AS_ERR_SPEC, "%s: train.refit_keep: needs \"refit\": true (it "
                            "chooses which weights of the refit are kept)", origin);
    if (cJSON_GetObjectItemCaseSensitive(train, "reduce_lr_on_plateau") &&
        cJSON_GetObjectItemCaseSensitive(train, "lr_schedule"))
        return as_error_set(err, AS_ERR_SPEC, "%s: train.reduce_lr_on_plateau: cannot be combined "
                            "with train.lr_schedule (Keras cannot set the rate of a schedule)", origin);
    return AS_OK;
}

void as_train_spec_defaults(as_train_spec *t) {
    memset(&t->early_stopping, 0, sizeof t->early_stopping);
    memset(&t->reduce_lr, 0, sizeof t->reduce_lr);
    t->reduce_lr.factor = 0.1;
    t->reduce_lr.patience = 10;
    t->reduce_lr.min_delta = 1e-4;
    memset(&t->lr_schedule, 0, sizeof t->lr_schedule);
    t->lr_schedule.warmup_target = (double)NAN;
    t->keep = AS_KEEP_DEFAULT;
    t->refit_keep = AS_KEEP_DEFAULT;
    t->validation_mode = AS_VAL_LAST;
    t->validation_seed = 0;
    t->validation_object = 0;
}
