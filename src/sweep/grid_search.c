/* grid_search.c: the sweep file's "search" block (one table of keys per policy) and
 * grid axes given as distributions ({"uniform": [a, b]}, ...), with their draws. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sweep/grid_internal.h"

const char *as_search_type_name(as_search_type t) {
    static const char *const names[] = {"grid", "random", "successive_halving", "hyperband", "asha"};
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

const char *as_metric_name(as_metric m) {
    static const char *const names[] = {"val_loss", "val_accuracy", "loss", "accuracy"};
    return (unsigned)m < sizeof names / sizeof *names ? names[m] : "?";
}

/* ---- the search block --------------------------------------------------------- */

enum { K_INT, K_STRING };
#define T_RANDOM (1u << AS_SEARCH_RANDOM)
#define T_RUNGS ((1u << AS_SEARCH_HALVING) | (1u << AS_SEARCH_HYPERBAND) | (1u << AS_SEARCH_ASHA))

/* Which keys each policy accepts. */
static const struct {
    const char *key;
    unsigned types; /* bit per as_search_type */
    int kind;
    double lo, hi;
} KEYS[] = {
    {"type", ~0u, K_STRING, 0, 0},
    {"samples", T_RANDOM | T_RUNGS, K_INT, 1, 1000000},
    {"seed", T_RANDOM | T_RUNGS, K_INT, 0, 9007199254740991.0},
    {"min_epochs", T_RUNGS, K_INT, 1, 10000000},
    {"max_epochs", T_RUNGS, K_INT, 1, 10000000},
    {"eta", T_RUNGS, K_INT, 2, 1000},
    {"metric", T_RUNGS, K_STRING, 0, 0},
    {"mode", T_RUNGS, K_STRING, 0, 0},
};
#define NKEYS (int)(sizeof KEYS / sizeof *KEYS)

static const char *json_kind(const cJSON *v) {
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "another JSON value";
}

static int find_key(const char *k) {
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(KEYS[i].key, k)) return i;
    return -1;
}

static as_status bad(const grid_doc *d, as_error *err, const char *key, const char *what) {
    return as_error_set(err, AS_ERR_SPEC, "%s: search.%s: %s", d->origin, key, what);
}

/* An integer key within its table bounds; absent -> dflt. */
static as_status get_int(const grid_doc *d, const cJSON *s, const char *key, double dflt,
                         double *out, as_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);
    int i = find_key(key);
    if (!v) {
        *out = dflt;
        return AS_OK;
    }
    double x = cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
    if (!isfinite(x) || x != floor(x) || x < KEYS[i].lo || x > KEYS[i].hi) {
        char got[64];
        if (cJSON_IsNumber(v)) snprintf(got, sizeof got, "%.17g", x);
        else snprintf(got, sizeof got, "%s", json_kind(v));
        return as_error_set(err, AS_ERR_SPEC, "%s: search.%s: must be an integer in [%.0f, %.0f] (got %s)",
                            d->origin, key, KEYS[i].lo, KEYS[i].hi, got);
    }
    *out = x;
    return AS_OK;
}

static as_status read_type(const grid_doc *d, const cJSON *s, as_search_type *t, as_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "type");
    *t = AS_SEARCH_GRID;
    if (!v) return AS_OK;
    for (int k = AS_SEARCH_GRID; cJSON_IsString(v) && k <= AS_SEARCH_ASHA; k++)
        if (!strcmp(v->valuestring, as_search_type_name((as_search_type)k))) {
            *t = (as_search_type)k;
            return AS_OK;
        }
    return bad(d, err, "type", "must be \"grid\", \"random\", \"successive_halving\", \"hyperband\" "
                               "or \"asha\"");
}

/* Every key known, allowed for the type, of the right kind. */
static as_status check_keys(const grid_doc *d, const cJSON *s, as_search_type t, as_error *err) {
    const cJSON *k;
    cJSON_ArrayForEach(k, s) {
        int i = find_key(k->string);
        char msg[200];
        if (cJSON_GetObjectItemCaseSensitive(s, k->string) != k) return bad(d, err, k->string, "duplicate key");
        if (i < 0)
            return bad(d, err, k->string, "unknown key (expected type, samples, seed, min_epochs, "
                                          "max_epochs, eta, metric, mode)");
        if (!(KEYS[i].types & (1u << t))) {
            snprintf(msg, sizeof msg, "only for %s (not \"type\": \"%s\")",
                     KEYS[i].types & T_RANDOM ? "\"random\" and the rung policies"
                                              : "successive_halving, hyperband and asha",
                     as_search_type_name(t));
            return bad(d, err, k->string, msg);
        }
        if (KEYS[i].kind == K_STRING && !cJSON_IsString(k)) {
            snprintf(msg, sizeof msg, "must be a string (got %s)", json_kind(k));
            return bad(d, err, k->string, msg);
        }
    }
    return AS_OK;
}

static as_status read_rungs(grid_doc *d, const cJSON *s, as_error *err) {
    as_search_cfg *c = &d->search;
    double x;
    as_status st;
    const char *need[] = {"min_epochs", "max_epochs"};
    for (int i = 0; i < 2; i++)
        if (!cJSON_GetObjectItemCaseSensitive(s, need[i])) return bad(d, err, need[i], "required");
    if ((st = get_int(d, s, "min_epochs", 1, &x, err))) return st;
    c->min_epochs = (int)x;
    if ((st = get_int(d, s, "max_epochs", 1, &x, err))) return st;
    c->max_epochs = (int)x;
    if ((st = get_int(d, s, "eta", 3, &x, err))) return st;
    c->eta = (int)x;
    if (c->min_epochs > c->max_epochs) {
        char msg[128];
        snprintf(msg, sizeof msg, "%d is more than max_epochs (%d)", c->min_epochs, c->max_epochs);
        return bad(d, err, "min_epochs", msg);
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(s, "metric");
    c->metric = AS_METRIC_VAL_LOSS;
    if (m) {
        int found = 0;
        for (int k = AS_METRIC_VAL_LOSS; k <= AS_METRIC_ACCURACY && !found; k++)
            if (!strcmp(m->valuestring, as_metric_name((as_metric)k))) c->metric = (as_metric)k, found = 1;
        if (!found)
            return bad(d, err, "metric", "unknown metric (expected val_loss, val_accuracy, loss or "
                                         "accuracy)");
    }
    c->maximize = c->metric == AS_METRIC_VAL_ACCURACY || c->metric == AS_METRIC_ACCURACY;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(s, "mode");
    if (mode) {
        if (strcmp(mode->valuestring, "min") && strcmp(mode->valuestring, "max"))
            return bad(d, err, "mode", "must be \"min\" or \"max\"");
        c->maximize = !strcmp(mode->valuestring, "max");
    }
    return AS_OK;
}

as_status grid_search_read(grid_doc *d, const cJSON *s, as_error *err) {
    as_search_cfg *c = &d->search;
    memset(c, 0, sizeof *c);
    c->seed = d->seed;
    d->search_seed = d->seed;
    if (s && !cJSON_IsObject(s))
        return as_error_set(err, AS_ERR_SPEC, "%s: search: must be an object (got %s)", d->origin,
                            json_kind(s));
    as_status st = s ? read_type(d, s, &c->type, err) : AS_OK;
    if (!st && s) st = check_keys(d, s, c->type, err);
    if (st) return st;
    double x;
    if (c->type == AS_SEARCH_RANDOM && !cJSON_GetObjectItemCaseSensitive(s, "samples"))
        return bad(d, err, "samples", "required for random search");
    if ((st = get_int(d, s, "samples", 0, &x, err))) return st;
    c->samples = (int)x;
    if ((st = get_int(d, s, "seed", (double)d->seed, &x, err))) return st;
    c->seed = (uint64_t)x;
    if (c->type >= AS_SEARCH_HALVING && (st = read_rungs(d, s, err))) return st;
    /* a distribution needs drawn configurations: random search or a rung policy with samples */
    for (int a = 0; a < d->naxes; a++) {
        if (d->axes[a].dist == GRID_LIST) continue;
        d->has_dist = 1;
        if (c->samples == 0)
            return as_error_set(err, AS_ERR_SPEC,
                                "%s: grid.%s: a distribution cannot be enumerated: use \"search\": "
                                "{\"type\": \"random\", \"samples\": N} (or a rung policy with "
                                "\"samples\"), or list the values", d->origin, d->axes[a].name);
    }
    d->random = c->samples > 0;
    d->samples = c->samples;
    d->search_seed = c->seed;
    return AS_OK;
}

/* ---- distributions ------------------------------------------------------------- */

static const struct {
    const char *name;
    grid_dist dist;
    int nparams;
} DISTS[] = {
    {"choice", GRID_LIST, 0},       {"uniform", GRID_UNIFORM, 2}, {"loguniform", GRID_LOGUNIFORM, 2},
    {"randint", GRID_RANDINT, 2},   {"quniform", GRID_QUNIFORM, 3},
};

static as_status dist_params(const grid_doc *doc, grid_axis *A, const char *kind, const cJSON *arr,
                             int np, as_error *err) {
    double p[3] = {0, 0, 0};
    int i = 0;
    const cJSON *x;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != np)
        return as_error_set(err, AS_ERR_SPEC, "%s: grid.%s.%s: must be an array of %d numbers%s",
                            doc->origin, A->name, kind, np, np == 3 ? " [a, b, q]" : " [a, b]");
    cJSON_ArrayForEach(x, arr) {
        if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
            return as_error_set(err, AS_ERR_SPEC, "%s: grid.%s.%s[%d]: must be a finite number",
                                doc->origin, A->name, kind, i);
        p[i++] = x->valuedouble;
    }
    if (p[0] > p[1])
        return as_error_set(err, AS_ERR_SPEC, "%s: grid.%s.%s: a (%g) is more than b (%g)",
                            doc->origin, A->name, kind, p[0], p[1]);
    if (A->dist == GRID_LOGUNIFORM && p[0] <= 0)
        return as_error_set(err, AS_ERR_SPEC, "%s: grid.%s.loguniform: the range [%g, %g] must be "
                            "positive", doc->origin, A->name, p[0], p[1]);
    if (A->dist == GRID_RANDINT && (p[0] != floor(p[0]) || p[1] != floor(p[1]) ||
                                    fabs(p[0]) > 1e15 || fabs(p[1]) > 1e15))
        return as_error_set(err, AS_ERR_SPEC, "%s: grid.%s.randint: a and b must be integers "
                            "of at most 1e15 in magnitude, got [%.17g, %.17g]", doc->origin,
                            A->name, p[0], p[1]);
    if (A->dist == GRID_QUNIFORM && !(p[2] > 0))
        return as_error_set(err, AS_ERR_SPEC, "%s: grid.%s.quniform: q (%g) must be positive",
                            doc->origin, A->name, p[2]);
    A->lo = p[0];
    A->hi = p[1];
    A->q = p[2];
    A->n = 1;
    return AS_OK;
}

as_status grid_dist_parse(const grid_doc *doc, grid_axis *A, const cJSON *obj, as_error *err) {
    const cJSON *k = obj->child;
    if (!k || k->next)
        return as_error_set(err, AS_ERR_SPEC, "%s: grid.%s: a distribution is an object with one "
                            "key: uniform, loguniform, randint, quniform or choice", doc->origin,
                            A->name);
    for (size_t i = 0; i < sizeof DISTS / sizeof *DISTS; i++) {
        if (strcmp(k->string, DISTS[i].name)) continue;
        A->dist = DISTS[i].dist;
        if (A->dist != GRID_LIST) return dist_params(doc, A, k->string, k, DISTS[i].nparams, err);
        if (!cJSON_IsArray(k) || cJSON_GetArraySize(k) == 0)
            return as_error_set(err, AS_ERR_SPEC, "%s: grid.%s.choice: must be a non-empty array",
                                doc->origin, A->name);
        A->values = k;
        A->n = cJSON_GetArraySize(k);
        return AS_OK;
    }
    return as_error_set(err, AS_ERR_SPEC, "%s: grid.%s.%s: unknown distribution (expected uniform, "
                        "loguniform, randint, quniform or choice)", doc->origin, A->name, k->string);
}

cJSON *grid_dist_draw(const grid_axis *A, double u) {
    double a = A->lo, b = A->hi, x;
    switch (A->dist) {
    case GRID_UNIFORM: x = a + (b - a) * u; break;
    case GRID_LOGUNIFORM: x = exp(log(a) + (log(b) - log(a)) * u); break;
    case GRID_RANDINT: x = a + floor(u * (b - a + 1)); break;
    case GRID_QUNIFORM: x = round((a + (b - a) * u) / A->q) * A->q; break;
    default: return NULL;
    }
    if (x > b && A->dist != GRID_QUNIFORM) x = b; /* rounding at the top end */
    return cJSON_CreateNumber(x);
}
