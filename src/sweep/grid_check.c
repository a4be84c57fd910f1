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

/* FNV-1a of a name, for the open-addressing axis index (doc->index, index_cap slots
 * holding axis + 1, 0 = empty): name lookups in O(1), so no check is quadratic. */
static size_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

int grid_axis_find(const grid_doc *doc, const char *name) {
    if (!doc->index) {
        for (int a = 0; a < doc->naxes; a++)
            if (strcmp(doc->axes[a].name, name) == 0) return a;
        return -1;
    }
    size_t mask = doc->index_cap - 1;
    for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask) {
        int slot = doc->index[i];
        if (!slot) return -1;
        if (strcmp(doc->axes[slot - 1].name, name) == 0) return slot - 1;
    }
}

/* Adds axis a (its name not yet indexed) to the index. */
static void index_add(grid_doc *d, int a) {
    size_t mask = d->index_cap - 1, i = name_hash(d->axes[a].name) & mask;
    while (d->index[i]) i = (i + 1) & mask;
    d->index[i] = a + 1;
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

#define SEED_MAX 9007199254740991.0 /* 2^53 - 1: from 2^53 on a JSON double rounds integers */
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
    if (n > AS_GRID_MAX_AXES)
        return as_error_set(err, AS_ERR_SPEC, "%s: grid: %d axes, more than the %d a sweep may "
                            "have", d->origin, n, AS_GRID_MAX_AXES);
    d->axes = as_calloc((size_t)(n > 0 ? n : 1), sizeof *d->axes);
    d->slot_size = as_calloc((size_t)(n > 0 ? n : 1), sizeof *d->slot_size);
    for (d->index_cap = 16; d->index_cap < 2 * (size_t)n; d->index_cap *= 2) continue;
    d->index = as_calloc(d->index_cap, sizeof *d->index);
    if (!d->axes || !d->slot_size || !d->index)
        return as_error_set(err, AS_ERR_NOMEM, "out of memory");
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
        index_add(d, d->naxes);
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

/* The placeholder graph: edge a -> b when axis a's values name "$b"; the roots are the
 * axes "data", "model" and "train" name. Edges are collected while scanning (a growable list)
 * and then laid out by source (CSR), so every check below is linear in the document. */
typedef struct {
    int *src, *dst;   /* n edges */
    size_t n, cap;
    int *off, *to;    /* CSR: the targets of a are to[off[a] .. off[a+1]) */
    char *root;       /* [naxes]: named by model or train */
} ph_graph;

static void graph_free(ph_graph *g) {
    as_free(g->src);
    as_free(g->dst);
    as_free(g->off);
    as_free(g->to);
    as_free(g->root);
    memset(g, 0, sizeof *g);
}

static int graph_edge(ph_graph *g, int a, int b) {
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 64;
        int *ns = as_realloc(g->src, nc * sizeof *ns);
        if (ns) g->src = ns;
        int *nd = ns ? as_realloc(g->dst, nc * sizeof *nd) : NULL;
        if (nd) g->dst = nd;
        if (!ns || !nd) return 0;
        g->cap = nc;
    }
    g->src[g->n] = a;
    g->dst[g->n++] = b;
    return 1;
}

/* Records every axis a placeholder in node names, as a root (from < 0) or as an edge
 * from axis `from`; an unknown name is an error naming path (a buffer of cap bytes
 * holding len bytes, restored on return). g may be NULL (only names are checked). */
static as_status scan(const grid_doc *d, const cJSON *node, char *path, size_t cap, size_t len,
                      int depth, int from, ph_graph *g, as_error *err) {
    const char *ph = grid_placeholder(node);
    if (ph) {
        int a = grid_axis_find(d, ph);
        if (a < 0)
            return as_error_set(err, AS_ERR_SPEC,
                                "%s: %s: unknown placeholder \"$%s\" (not in grid)", d->origin,
                                path, ph);
        if (g && from < 0) g->root[a] = 1;
        else if (g && !graph_edge(g, from, a))
            return as_error_set(err, AS_ERR_NOMEM, "out of memory");
        return AS_OK;
    }
    if (!cJSON_IsArray(node) && !cJSON_IsObject(node)) return AS_OK;
    if (depth >= AS_GRID_MAX_DEPTH)
        return as_error_set(err, AS_ERR_SPEC, "%s: %s: nested deeper than %d levels", d->origin,
                            path, AS_GRID_MAX_DEPTH);
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, node) {
        if (len < cap) {
            if (cJSON_IsObject(node))
                snprintf(path + len, cap - len, "%s%s", len ? "." : "", c->string);
            else
                snprintf(path + len, cap - len, "[%d]", i);
        }
        as_status st = scan(d, c, path, cap, strlen(path), depth + 1, from, g, err);
        path[len] = '\0';
        if (st) return st;
        i++;
    }
    return AS_OK;
}

/* Lays the edges out by source (counting sort). */
static int graph_csr(ph_graph *g, int na) {
    g->off = as_calloc((size_t)na + 1, sizeof *g->off);
    g->to = as_malloc((g->n ? g->n : 1) * sizeof *g->to);
    if (!g->off || !g->to) return 0;
    for (size_t e = 0; e < g->n; e++) g->off[g->src[e] + 1]++;
    for (int a = 0; a < na; a++) g->off[a + 1] += g->off[a];
    int *fill = as_malloc(((size_t)na + 1) * sizeof *fill);
    if (!fill) return 0;
    memcpy(fill, g->off, ((size_t)na + 1) * sizeof *fill);
    for (size_t e = 0; e < g->n; e++) g->to[fill[g->src[e]]++] = g->dst[e];
    as_free(fill);
    return 1;
}

/* Writes the cycle closed by the edge top -> b, "$b -> ... -> $top -> $b", from the DFS
 * stack (stack[0..depth]) into msg. */
static void cycle_text(const grid_doc *d, const int *stack, int depth, int b, char *msg,
                       size_t cap) {
    int k = depth;
    while (k > 0 && stack[k] != b) k--;
    size_t len = 0;
    msg[0] = '\0';
    for (; k <= depth && len + 1 < cap; k++) {
        snprintf(msg + len, cap - len, "$%s -> ", d->axes[stack[k]].name);
        len = strlen(msg);
    }
    if (len + 1 < cap) snprintf(msg + len, cap - len, "$%s", d->axes[b].name);
}

/* Iterative depth-first search with colours (0 new, 1 on the stack, 2 done) from every
 * root: marks reach[] and finds a cycle (an edge to a grey axis) in O(axes + edges).
 * Returns the axis that starts the cycle found, or -1. */
static int graph_dfs(const grid_doc *d, const ph_graph *g, char *color, int *stack, int *next,
                     int start, char *msg, size_t cap) {
    int depth = 0;
    stack[0] = start;
    next[0] = g->off[start];
    color[start] = 1;
    while (depth >= 0) {
        int a = stack[depth];
        if (next[depth] == g->off[a + 1]) {
            color[a] = 2;
            depth--;
            continue;
        }
        int b = g->to[next[depth]++];
        if (color[b] == 1) {
            cycle_text(d, stack, depth, b, msg, cap);
            return b;
        }
        if (color[b] == 0) {
            color[b] = 1;
            stack[++depth] = b;
            next[depth] = g->off[b];
        }
    }
    return -1;
}

static as_status check_graph(grid_doc *d, ph_graph *g, as_error *err) {
    int na = d->naxes;
    char *color = as_calloc((size_t)na + 1, 1);
    int *stack = as_malloc(((size_t)na + 1) * sizeof *stack);
    int *next = as_malloc(((size_t)na + 1) * sizeof *next);
    as_status st = color && stack && next && graph_csr(g, na)
                       ? AS_OK
                       : as_error_set(err, AS_ERR_NOMEM, "out of memory");
    char cyc[256];
    /* from the roots first: what they reach is used; then the rest, for cycles */
    for (int pass = 0; pass < 2 && !st; pass++) {
        for (int a = 0; a < na && !st; a++) {
            if (color[a] || (pass == 0 && !g->root[a])) continue;
            if (pass == 1)
                st = as_error_set(err, AS_ERR_SPEC,
                                  "%s: grid.%s: axis not used by any placeholder (no \"$%s\" in "
                                  "model, train or a used axis's values)",
                                  d->origin, d->axes[a].name, d->axes[a].name);
            else if (graph_dfs(d, g, color, stack, next, a, cyc, sizeof cyc) >= 0)
                st = as_error_set(err, AS_ERR_SPEC, "%s: grid.%s: placeholder cycle %s",
                                  d->origin, d->axes[a].name, cyc);
        }
    }
    as_free(color);
    as_free(stack);
    as_free(next);
    return st;
}

static as_status check_placeholders(grid_doc *d, as_error *err) {
    char path[512];
    static const char *const parts[] = {"data", "model", "train"}; /* data: a dataset axis */
    ph_graph g;
    memset(&g, 0, sizeof g);
    g.root = as_calloc((size_t)d->naxes + 1, 1);
    if (!g.root) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    as_status st = AS_OK;
    for (int p = 0; p < 3 && !st; p++) {
        const cJSON *node = cJSON_GetObjectItemCaseSensitive(d->root, parts[p]);
        snprintf(path, sizeof path, "%s", parts[p]);
        if (node) st = scan(d, node, path, sizeof path, strlen(path), 0, -1, &g, err);
    }
    for (int a = 0; a < d->naxes && !st; a++) {
        snprintf(path, sizeof path, "grid.%s", d->axes[a].name);
        st = scan(d, d->axes[a].values, path, sizeof path, strlen(path), 0, a, &g, err);
    }
    if (!st) st = check_graph(d, &g, err);
    graph_free(&g);
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
            for (const cJSON *p = e->child; p != kv; p = p->next)
                if (!strcmp(p->string, kv->string))
                    return as_error_set(err, AS_ERR_SPEC, "%s: %s[%d].%s: key given twice",
                                        d->origin, key, i, kv->string);
            if (grid_axis_find(d, kv->string) < 0)
                return as_error_set(err, AS_ERR_SPEC, "%s: %s[%d].%s: unknown axis (not in grid)",
                                    d->origin, key, i, kv->string);
            if (strcmp(key, "include")) continue; /* exclude values are compared as written */
            char path[512];
            snprintf(path, sizeof path, "include[%d].%s", i, kv->string);
            as_status st = scan(d, kv, path, sizeof path, strlen(path), 0, -1, NULL, err);
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
        if (cJSON_GetObjectItemCaseSensitive(root, k->string) != k) /* few keys: not quadratic */
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
    if ((st = check_placeholders(d, err)) || (st = read_combos(d, "include", &d->include, err)) ||
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
    as_free(d->index);
    memset(d, 0, sizeof *d);
}
