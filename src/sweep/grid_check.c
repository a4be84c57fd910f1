/* grid_check.c: reads a sweep document's keys and checks its grid before expansion:
 * axes, zip groups, search, include/exclude, and every placeholder (known, used,
 * no cycles). Each error names the key at fault. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "sweep/grid_internal.h"

static const char *const SWEEP_KEYS[] = {"grid",    "search", "repeats",
                                         "zip",     "include", "exclude",
                                         "seed",    "attention_samples", "prediction_samples",
                                         "save_weights", "ranks_per_variant", NULL};
static const char *const SPEC_KEYS[] = {"data", "model", "train", NULL};

static int in_list(const char *const *list, const char *key) {
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], key) == 0) return 1;
    return 0;
}

int grid_is_sweep_key(const char *key) { return key && in_list(SWEEP_KEYS, key); }

const char *grid_placeholder(const cJSON *node) {
    if (!cJSON_IsString(node) || !node->valuestring) return NULL;
    const char *s = node->valuestring;
    if (s[0] != '$' || s[1] == '$') return NULL;
    return s + 1;
}

int grid_axis_find(const grid_doc *doc, const char *name) {
    for (int a = 0; a < doc->naxes; a++)
        if (strcmp(doc->axes[a].name, name) == 0) return a;
    return -1;
}

static const char *type_name(const cJSON *v) {
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "invalid";
}

const char *grid_obj_type(const cJSON *v) {
    const cJSON *t = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "type") : NULL;
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

const cJSON *grid_include_value(const grid_doc *doc, int a, const cJSON *given) {
    if (!cJSON_IsString(given)) return given;
    const cJSON *match = NULL;
    int nmatch = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, doc->axes[a].values) {
        if (cJSON_Compare(v, given, 1)) return given;
        const char *t = grid_obj_type(v);
        if (t && strcmp(t, given->valuestring) == 0) {
            match = v;
            nmatch++;
        }
    }
    return nmatch == 1 ? match : given;
}

/* An integer key of an object: absent -> dflt; else an integral number in [lo, hi]. */
static as_status read_int(const cJSON *obj, const char *key, const char *path, double lo,
                          double hi, double dflt, double *out, const char *origin,
                          as_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        *out = dflt;
        return AS_OK;
    }
    double x = cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
    if (!cJSON_IsNumber(v) || !isfinite(x) || x != floor(x) || x < lo || x > hi) {
        char got[48];
        if (cJSON_IsNumber(v))
            snprintf(got, sizeof got, "%.17g", x);
        else
            snprintf(got, sizeof got, "%s", type_name(v));
        return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be an integer in [%.0f, %.0f] (got %s)",
                            origin, path, lo, hi, got);
    }
    *out = x;
    return AS_OK;
}

#define SEED_MAX 9007199254740992.0 /* 2^53: integers a JSON double holds exactly */
#define COUNT_MAX 1000000.0

static as_status read_scalars(grid_doc *d, as_error *err) {
    const cJSON *r = d->root;
    const char *o = d->origin;
    double x = 0;
    as_status st;
    if ((st = read_int(r, "seed", "seed", 0, SEED_MAX, 0, &x, o, err))) return st;
    d->seed = (uint64_t)x;
    if ((st = read_int(r, "repeats", "repeats", 1, COUNT_MAX, 1, &x, o, err))) return st;
    d->repeats = (int)x;
    if ((st = read_int(r, "attention_samples", "attention_samples", 0, COUNT_MAX, 3, &x, o, err)))
        return st;
    d->attention_samples = (int)x;
    if ((st = read_int(r, "prediction_samples", "prediction_samples", 0, COUNT_MAX, 6, &x, o,
                       err)))
        return st;
    d->prediction_samples = (int)x;
    if ((st = read_int(r, "ranks_per_variant", "ranks_per_variant", 1, COUNT_MAX, 1, &x, o, err)))
        return st;
    d->ranks_per_variant = (int)x;
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(r, "save_weights");
    if (sw && !cJSON_IsBool(sw))
        return as_error_set(err, AS_ERR_SPEC, "%s: save_weights: must be true or false (got %s)",
                            o, type_name(sw));
    d->save_weights = cJSON_IsTrue(sw) ? 1 : 0;

    return grid_search_read(d, cJSON_GetObjectItemCaseSensitive(r, "search"), err);
}

static as_status read_axes(grid_doc *d, as_error *err) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(d->root, "grid");
    if (!g)
        return as_error_set(err, AS_ERR_SPEC, "%s: grid: missing (a sweep file needs a \"grid\")",
                            d->origin);
    if (!cJSON_IsObject(g))
        return as_error_set(err, AS_ERR_SPEC, "%s: grid: must be an object (got %s)", d->origin,
                            type_name(g));
    int n = cJSON_GetArraySize(g);
    d->axes = as_calloc((size_t)(n > 0 ? n : 1), sizeof *d->axes);
    d->slot_size = as_calloc((size_t)(n > 0 ? n : 1), sizeof *d->slot_size);
    if (!d->axes || !d->slot_size) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    const cJSON *ax;
    cJSON_ArrayForEach(ax, g) {
        const char *name = ax->string;
        if (!name[0]) return as_error_set(err, AS_ERR_SPEC, "%s: grid: empty axis name", d->origin);
        if (grid_axis_find(d, name) >= 0)
            return as_error_set(err, AS_ERR_SPEC, "%s: grid.%s: duplicate axis", d->origin, name);
        grid_axis *A = &d->axes[d->naxes];
        memset(A, 0, sizeof *A);
        A->name = name;
        A->slot = -1;
        if (cJSON_IsObject(ax)) { /* a distribution, or {"choice": [...]} */
            as_status st = grid_dist_parse(d, A, ax, err);
            if (st) return st;
            d->naxes++;
            continue;
        }
        if (!cJSON_IsArray(ax))
            return as_error_set(err, AS_ERR_SPEC,
                                "%s: grid.%s: must be an array of values or a distribution (got "
                                "%s)", d->origin, name, type_name(ax));
        int nv = cJSON_GetArraySize(ax);
        if (nv == 0)
            return as_error_set(err, AS_ERR_SPEC, "%s: grid.%s: empty axis", d->origin, name);
        A->values = ax;
        A->n = nv;
        d->naxes++;
    }
    return AS_OK;
}

static as_status read_zip(grid_doc *d, as_error *err) {
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(d->root, "zip");
    if (z && !cJSON_IsArray(z))
        return as_error_set(err, AS_ERR_SPEC, "%s: zip: must be an array of arrays of axis names",
                            d->origin);
    int gi = 0;
    const cJSON *grp;
    cJSON_ArrayForEach(grp, z) {
        if (!cJSON_IsArray(grp) || cJSON_GetArraySize(grp) == 0)
            return as_error_set(err, AS_ERR_SPEC,
                                "%s: zip[%d]: must be a non-empty array of axis names", d->origin,
                                gi);
        int slot = d->nslots, first = -1, j = 0;
        const cJSON *nm;
        cJSON_ArrayForEach(nm, grp) {
            int a = cJSON_IsString(nm) ? grid_axis_find(d, nm->valuestring) : -1;
            if (a < 0)
                return as_error_set(err, AS_ERR_SPEC, "%s: zip[%d][%d]: %s%s%s is not a grid axis",
                                    d->origin, gi, j, cJSON_IsString(nm) ? "\"" : "",
                                    cJSON_IsString(nm) ? nm->valuestring : type_name(nm),
                                    cJSON_IsString(nm) ? "\"" : "");
            if (d->axes[a].slot >= 0)
                return as_error_set(err, AS_ERR_SPEC, "%s: zip[%d][%d]: axis %s is zipped twice",
                                    d->origin, gi, j, d->axes[a].name);
            if (d->axes[a].dist != GRID_LIST)
                return as_error_set(err, AS_ERR_SPEC, "%s: zip[%d][%d]: axis %s is a distribution "
                                    "(only lists zip)", d->origin, gi, j, d->axes[a].name);
            if (first < 0) first = a;
            if (d->axes[a].n != d->axes[first].n)
                return as_error_set(err, AS_ERR_SPEC,
                                    "%s: zip[%d]: axes %s (%d values) and %s (%d values) differ "
                                    "in length",
                                    d->origin, gi, d->axes[first].name, d->axes[first].n,
                                    d->axes[a].name, d->axes[a].n);
            d->axes[a].slot = slot;
            j++;
        }
        d->slot_size[slot] = d->axes[first].n;
        d->nslots++;
        gi++;
    }
    for (int a = 0; a < d->naxes; a++) {
        if (d->axes[a].slot >= 0) continue;
        d->axes[a].slot = d->nslots;
        d->slot_size[d->nslots++] = d->axes[a].n;
    }
    return AS_OK;
}

/* Marks in refs[] every axis a placeholder in node names; an unknown name is an error
 * naming path (a buffer of cap bytes holding len bytes, restored on return). */
static as_status scan(const grid_doc *d, const cJSON *node, char *path, size_t cap, size_t len,
                      char *refs, as_error *err) {
    const char *ph = grid_placeholder(node);
    if (ph) {
        int a = grid_axis_find(d, ph);
        if (a < 0)
            return as_error_set(err, AS_ERR_SPEC,
                                "%s: %s: unknown placeholder \"$%s\" (not in grid)", d->origin,
                                path, ph);
        refs[a] = 1;
        return AS_OK;
    }
    if (!cJSON_IsArray(node) && !cJSON_IsObject(node)) return AS_OK;
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, node) {
        if (len < cap) {
            if (cJSON_IsObject(node))
                snprintf(path + len, cap - len, "%s%s", len ? "." : "", c->string);
            else
                snprintf(path + len, cap - len, "[%d]", i);
        }
        as_status st = scan(d, c, path, cap, strlen(path), refs, err);
        path[len] = '\0';
        if (st) return st;
        i++;
    }
    return AS_OK;
}

/* Depth-first search for a cycle through adj (naxes x naxes) from a; on finding one,
 * writes it as "$a -> $b -> $a" into msg. */
static int find_cycle(const grid_doc *d, const char *adj, int a, char *color, int *stack,
                      int depth, char *msg, size_t cap) {
    color[a] = 1;
    stack[depth] = a;
    for (int b = 0; b < d->naxes; b++) {
        if (!adj[(size_t)a * (size_t)d->naxes + (size_t)b]) continue;
        if (color[b] == 1) {
            size_t len = 0;
            msg[0] = '\0';
            int k = depth;
            while (stack[k] != b) k--;
            for (; k <= depth && len < cap; k++) {
                snprintf(msg + len, cap - len, "$%s -> ", d->axes[stack[k]].name);
                len = strlen(msg);
            }
            if (len < cap) snprintf(msg + len, cap - len, "$%s", d->axes[b].name);
            return 1;
        }
        if (color[b] == 0 && find_cycle(d, adj, b, color, stack, depth + 1, msg, cap)) return 1;
    }
    color[a] = 2;
    return 0;
}

static as_status check_placeholders(grid_doc *d, char *adj, char *reach, as_error *err) {
    char path[512];
    size_t na = (size_t)d->naxes;
    static const char *const parts[] = {"model", "train"};
    as_status st;
    for (int p = 0; p < 2; p++) {
        const cJSON *node = cJSON_GetObjectItemCaseSensitive(d->root, parts[p]);
        snprintf(path, sizeof path, "%s", parts[p]);
        if (node && (st = scan(d, node, path, sizeof path, strlen(path), reach, err))) return st;
    }
    for (int a = 0; a < d->naxes; a++) {
        snprintf(path, sizeof path, "grid.%s", d->axes[a].name);
        if ((st = scan(d, d->axes[a].values, path, sizeof path, strlen(path), adj + (size_t)a * na,
                       err)))
            return st;
    }
    /* Reachability: from model/train through the values of reachable axes. */
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t a = 0; a < na; a++) {
            if (!reach[a]) continue;
            for (size_t b = 0; b < na; b++)
                if (adj[a * na + b] && !reach[b]) reach[b] = changed = 1;
        }
    }
    for (int a = 0; a < d->naxes; a++)
        if (!reach[a])
            return as_error_set(err, AS_ERR_SPEC,
                                "%s: grid.%s: axis not used by any placeholder (no \"$%s\" in "
                                "model, train or a used axis's values)",
                                d->origin, d->axes[a].name, d->axes[a].name);
    char *color = as_calloc(na, 1);
    int *stack = as_calloc(na, sizeof *stack);
    if (!color || !stack) {
        as_free(color);
        as_free(stack);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    }
    st = AS_OK;
    char cyc[256];
    for (int a = 0; a < d->naxes && !st; a++)
        if (!color[a] && find_cycle(d, adj, a, color, stack, 0, cyc, sizeof cyc))
            st = as_error_set(err, AS_ERR_SPEC, "%s: grid.%s: placeholder cycle %s", d->origin,
                              d->axes[a].name, cyc);
    as_free(color);
    as_free(stack);
    return st;
}

static as_status read_combos(grid_doc *d, const char *key, const cJSON **out, as_error *err) {
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(d->root, key);
    *out = l;
    if (!l) return AS_OK;
    if (!cJSON_IsArray(l))
        return as_error_set(err, AS_ERR_SPEC, "%s: %s: must be an array of objects {axis: value}",
                            d->origin, key);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, l) {
        if (!cJSON_IsObject(e))
            return as_error_set(err, AS_ERR_SPEC,
                                "%s: %s[%d]: must be an object {axis: value} (got %s)", d->origin,
                                key, i, type_name(e));
        if (!e->child)
            return as_error_set(err, AS_ERR_SPEC, "%s: %s[%d]: must name at least one axis",
                                d->origin, key, i);
        const cJSON *kv;
        cJSON_ArrayForEach(kv, e) {
            if (grid_axis_find(d, kv->string) < 0)
                return as_error_set(err, AS_ERR_SPEC, "%s: %s[%d].%s: unknown axis (not in grid)",
                                    d->origin, key, i, kv->string);
            if (strcmp(key, "include")) continue; /* exclude values are compared as written */
            char path[512];
            snprintf(path, sizeof path, "include[%d].%s", i, kv->string);
            char *refs = as_calloc((size_t)d->naxes + 1, 1);
            as_status st = refs ? scan(d, kv, path, sizeof path, strlen(path), refs, err)
                                : as_error_set(err, AS_ERR_NOMEM, "out of memory");
            as_free(refs);
            if (st) return st;
        }
        i++;
    }
    return AS_OK;
}

as_status grid_doc_init(grid_doc *d, const cJSON *root, const char *origin, as_error *err) {
    memset(d, 0, sizeof *d);
    d->root = root;
    d->origin = origin;
    if (!cJSON_IsObject(root))
        return as_error_set(err, AS_ERR_SPEC, "%s: top level: must be a JSON object", origin);
    const cJSON *k;
    cJSON_ArrayForEach(k, root) {
        if (cJSON_GetObjectItemCaseSensitive(root, k->string) != k)
            return as_error_set(err, AS_ERR_SPEC, "%s: %s: duplicate key", origin, k->string);
        if (!in_list(SPEC_KEYS, k->string) && !in_list(SWEEP_KEYS, k->string))
            return as_error_set(err, AS_ERR_SPEC,
                                "%s: %s: unknown key (a sweep file has data, model, train, grid, "
                                "search, repeats, zip, include, exclude, seed, attention_samples, "
                                "prediction_samples, save_weights, ranks_per_variant)",
                                origin, k->string);
    }
    as_status st;
    if ((st = read_axes(d, err)) || (st = read_scalars(d, err)) || (st = read_zip(d, err)))
        goto fail;
    size_t na = (size_t)d->naxes, nn;
    if (!as_size_mul(na, na, &nn)) {
        st = as_error_set(err, AS_ERR_NOMEM, "%s: grid: too many axes", origin);
        goto fail;
    }
    char *adj = as_calloc(nn + 1, 1), *reach = as_calloc(na + 1, 1);
    st = adj && reach ? check_placeholders(d, adj, reach, err)
                      : as_error_set(err, AS_ERR_NOMEM, "out of memory");
    as_free(adj);
    as_free(reach);
    if (st || (st = read_combos(d, "include", &d->include, err)) ||
        (st = read_combos(d, "exclude", &d->exclude, err)))
        goto fail;
    return AS_OK;
fail:
    grid_doc_free(d);
    return st;
}

void grid_doc_free(grid_doc *d) {
    if (!d) return;
    as_free(d->axes);
    as_free(d->slot_size);
    memset(d, 0, sizeof *d);
}
