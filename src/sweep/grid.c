/* grid.c: expands a checked sweep document into variants (see grid.h for the rules).
 *
 * Expansion is an odometer over "slots" (an axis, or a zip group) discovered while
 * substituting: a pass builds one variant, meeting slots depth-first and giving each
 * new one its first value; the next combination increments the last slot met, and
 * forgets (pops) the slots met after it, which the next pass meets again. This is the
 * nested-loop order of grid.h and gives conditional axes for free: an axis inside a
 * value is only met when that value is chosen.
 *
 * The first pass keeps, per combination, only the hash of its canonical JSON and its
 * slot values (the "recipe"); duplicates are removed by hash then exact comparison,
 * the random search picks among the distinct ones, and only the selected variants are
 * rebuilt in full.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/rng.h"
#include "attnsweep/spec.h"
#include "sweep/grid_internal.h"

typedef struct {
    const grid_doc *doc;
    int *choice;         /* per slot: value index, -1 = not met yet */
    int *stack, depth;   /* slots in the order met */
    const cJSON **fixed; /* per axis: the value an include entry fixes, or NULL */
    int inc;             /* the include entry fixing them, -1 for none */
    int *used, nused;    /* axes in the order met */
    char *is_used;       /* per axis */
    cJSON *samples;      /* drawn configurations: one array of naxes values each */
} gstate;

typedef struct {
    uint64_t *hash;
    int *inc;    /* include entry, -1 for the grid, -2 - i for drawn configuration i */
    int *choice; /* nslots per record */
    int n, cap;
} recipes;

static as_status nomem(as_error *err) { return as_error_set(err, AS_ERR_NOMEM, "out of memory"); }

/* ---- substitution ------------------------------------------------------------- */

static const cJSON *axis_value(gstate *s, int a) {
    if (s->fixed[a]) return s->fixed[a];
    const grid_axis *A = &s->doc->axes[a];
    if (s->choice[A->slot] < 0) {
        s->choice[A->slot] = 0;
        s->stack[s->depth++] = A->slot;
    }
    return cJSON_GetArrayItem(A->values, s->choice[A->slot]);
}

static cJSON *subst(gstate *s, const cJSON *node, int depth, as_error *err) {
    const char *ph = grid_placeholder(node);
    if (ph) {
        int a = grid_axis_find(s->doc, ph);
        if (a < 0) { /* excluded by grid_doc_init */
            as_error_set(err, AS_ERR_INTERNAL, "%s: placeholder \"$%s\" unresolved",
                         s->doc->origin, ph);
            return NULL;
        }
        if (depth > s->doc->naxes) { /* only an include value can close a cycle */
            as_error_set(err, AS_ERR_SPEC, "%s: include[%d]: placeholder cycle through \"$%s\"",
                         s->doc->origin, s->inc, ph);
            return NULL;
        }
        if (!s->is_used[a]) {
            s->is_used[a] = 1;
            s->used[s->nused++] = a;
        }
        const cJSON *val = axis_value(s, a);
        if (!val) { /* a distribution an include entry left open */
            as_error_set(err, AS_ERR_SPEC, "%s: include[%d]: axis %s is a distribution: the "
                         "entry must give its value", s->doc->origin, s->inc, ph);
            return NULL;
        }
        return subst(s, val, depth + 1, err);
    }
    cJSON *out;
    if (cJSON_IsString(node) && node->valuestring[0] == '$')
        out = cJSON_CreateString(node->valuestring + 1); /* "$$x" -> "$x" */
    else if (cJSON_IsArray(node))
        out = cJSON_CreateArray();
    else if (cJSON_IsObject(node))
        out = cJSON_CreateObject();
    else
        out = cJSON_Duplicate(node, 0);
    if (!out) {
        nomem(err);
        return NULL;
    }
    if (!cJSON_IsArray(node) && !cJSON_IsObject(node)) return out;
    const cJSON *c;
    cJSON_ArrayForEach(c, node) {
        cJSON *v = subst(s, c, depth, err);
        int ok = v && (cJSON_IsObject(node) ? cJSON_AddItemToObject(out, c->string, v)
                                            : cJSON_AddItemToArray(out, v));
        if (!ok) {
            if (v) nomem(err);
            cJSON_Delete(v);
            cJSON_Delete(out);
            return NULL;
        }
    }
    return out;
}

/* One variant's spec from the current choices: data, model and train substituted
 * (data may be an axis: "data": "$ds"), sweep keys dropped. Records the axes used in
 * s->used. */
static cJSON *build_spec(gstate *s, as_error *err) {
    for (int i = 0; i < s->nused; i++) s->is_used[s->used[i]] = 0;
    s->nused = 0;
    cJSON *spec = cJSON_CreateObject();
    if (!spec) {
        nomem(err);
        return NULL;
    }
    const cJSON *k;
    cJSON_ArrayForEach(k, s->doc->root) {
        if (grid_is_sweep_key(k->string)) continue;
        int sub = !strcmp(k->string, "data") || !strcmp(k->string, "model") ||
                  !strcmp(k->string, "train");
        cJSON *v = sub ? subst(s, k, 0, err) : cJSON_Duplicate(k, 1);
        if (!v || !cJSON_AddItemToObject(spec, k->string, v)) {
            if (v || !sub) nomem(err); /* else subst set err */
            cJSON_Delete(v);
            cJSON_Delete(spec);
            return NULL;
        }
    }
    return spec;
}

static int value_matches(const cJSON *chosen, const cJSON *given) {
    if (cJSON_Compare(chosen, given, 1)) return 1;
    const char *t = grid_obj_type(chosen);
    return t && cJSON_IsString(given) && strcmp(t, given->valuestring) == 0;
}

static int excluded(gstate *s) {
    const cJSON *e;
    cJSON_ArrayForEach(e, s->doc->exclude) {
        int all = 1;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, e) {
            int a = grid_axis_find(s->doc, kv->string);
            if (!s->is_used[a] || !value_matches(axis_value(s, a), kv)) {
                all = 0;
                break;
            }
        }
        if (all) return 1;
    }
    return 0;
}

static void set_include(gstate *s, int inc) {
    for (int a = 0; a < s->doc->naxes; a++) s->fixed[a] = NULL;
    s->inc = inc;
    if (inc <= -2) { /* a drawn configuration fixes every axis */
        const cJSON *sample = cJSON_GetArrayItem(s->samples, -2 - inc);
        for (int a = 0; a < s->doc->naxes; a++) s->fixed[a] = cJSON_GetArrayItem(sample, a);
        return;
    }
    if (inc < 0) return;
    const cJSON *kv;
    cJSON_ArrayForEach(kv, cJSON_GetArrayItem(s->doc->include, inc)) {
        int a = grid_axis_find(s->doc, kv->string);
        s->fixed[a] = grid_include_value(s->doc, a, kv);
    }
}

/* ---- canonical JSON ----------------------------------------------------------- */

typedef struct {
    cJSON *item;
    int idx;
} keyed;

static int keyed_cmp(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    int c = strcmp(a->item->string, b->item->string);
    return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

static int sort_keys(cJSON *n) {
    if (!cJSON_IsObject(n) && !cJSON_IsArray(n)) return 1;
    for (cJSON *c = n->child; c; c = c->next)
        if (!sort_keys(c)) return 0;
    if (!cJSON_IsObject(n)) return 1;
    int cnt = cJSON_GetArraySize(n);
    if (cnt < 2) return 1;
    keyed *k = as_malloc((size_t)cnt * sizeof *k);
    if (!k) return 0;
    int i = 0;
    for (cJSON *c = n->child; c; c = c->next, i++) k[i] = (keyed){c, i};
    qsort(k, (size_t)cnt, sizeof *k, keyed_cmp);
    for (i = 0; i < cnt; i++) cJSON_DetachItemViaPointer(n, k[i].item);
    for (i = 0; i < cnt; i++) cJSON_AddItemToArray(n, k[i].item); /* keeps ->string */
    as_free(k);
    return 1;
}

char *as_json_canonical(const cJSON *v) {
    cJSON *d = cJSON_Duplicate(v, 1);
    char *out = NULL;
    if (d && sort_keys(d)) {
        char *p = cJSON_PrintUnformatted(d);
        if (p) out = as_strdup(p);
        cJSON_free(p);
    }
    cJSON_Delete(d);
    return out;
}

uint64_t as_variant_seed(uint64_t sweep_seed, const char *canonical, int repeat) {
    uint64_t st = as_hash64(canonical, strlen(canonical), sweep_seed) +
                  (uint64_t)repeat * 0x9E3779B97F4A7C15ULL;
    return as_splitmix64(&st);
}

/* ---- enumeration -------------------------------------------------------------- */

static as_status recipes_push(recipes *r, const gstate *s, uint64_t h, int inc, as_error *err) {
    size_t ns = (size_t)s->doc->nslots;
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 64;
        size_t cells, bytes;
        if (!as_size_mul((size_t)cap, ns + 1, &cells) || !as_size_mul(cells, sizeof(int), &bytes))
            return nomem(err);
        uint64_t *hh = as_realloc(r->hash, (size_t)cap * sizeof *hh);
        if (hh) r->hash = hh;
        int *ii = as_realloc(r->inc, (size_t)cap * sizeof *ii);
        if (ii) r->inc = ii;
        int *cc = as_realloc(r->choice, bytes);
        if (cc) r->choice = cc;
        if (!hh || !ii || !cc) return nomem(err);
        r->cap = cap;
    }
    r->hash[r->n] = h;
    r->inc[r->n] = inc;
    memcpy(r->choice + (size_t)r->n * ns, s->choice, ns * sizeof(int));
    r->n++;
    return AS_OK;
}

static as_status enumerate(gstate *s, int inc, recipes *r, long *combos, as_error *err) {
    const grid_doc *d = s->doc;
    for (int i = 0; i < d->nslots; i++) s->choice[i] = -1;
    s->depth = 0;
    set_include(s, inc);
    for (;;) {
        if (++*combos > AS_GRID_MAX_COMBINATIONS)
            return as_error_set(err, AS_ERR_SPEC, "%s: grid: expands to more than %d combinations",
                                d->origin, AS_GRID_MAX_COMBINATIONS);
        cJSON *spec = build_spec(s, err);
        if (!spec) return err->code;
        as_status st = AS_OK;
        if (inc >= 0 || !excluded(s)) {
            char *c = as_json_canonical(spec);
            st = c ? recipes_push(r, s, as_hash64(c, strlen(c), 0), inc, err) : nomem(err);
            as_free(c);
        }
        cJSON_Delete(spec);
        if (st) return st;
        while (s->depth > 0) {
            int sl = s->stack[s->depth - 1];
            if (++s->choice[sl] < d->slot_size[sl]) break;
            s->choice[sl] = -1;
            s->depth--;
        }
        if (s->depth == 0) return AS_OK;
    }
}

/* One configuration drawn from the axes: a value index per loop (zip groups share
 * one), then per axis in file order its list value or a draw of its distribution. */
static cJSON *draw_sample(const grid_doc *d, as_rng *rng, int *idx) {
    for (int sl = 0; sl < d->nslots; sl++)
        idx[sl] = (int)as_rng_below(rng, (uint64_t)(d->slot_size[sl] > 0 ? d->slot_size[sl] : 1));
    cJSON *sample = cJSON_CreateArray();
    for (int a = 0; sample && a < d->naxes; a++) {
        const grid_axis *A = &d->axes[a];
        double u = as_rng_double(rng);
        cJSON *v = A->dist == GRID_LIST ? cJSON_Duplicate(cJSON_GetArrayItem(A->values, idx[A->slot]), 1)
                                        : grid_dist_draw(A, u);
        if (!v || !cJSON_AddItemToArray(sample, v)) {
            cJSON_Delete(v);
            cJSON_Delete(sample);
            sample = NULL;
        }
    }
    return sample;
}

/* Random search over distributions: draws configurations from one as_rng stream
 * (as_rng_derive(search seed, AS_STREAM_SEARCH)) until `samples` distinct ones (by the
 * 64-bit hash of their canonical JSON; excluded ones dropped), or 100 x samples + 1000
 * draws. */
static as_status enumerate_samples(gstate *s, recipes *r, as_error *err) {
    const grid_doc *d = s->doc;
    size_t size = 64;
    while (size < 2 * (size_t)d->samples) size *= 2;
    uint64_t *seen = as_calloc(size, sizeof *seen);
    int *idx = as_calloc((size_t)d->nslots + 1, sizeof *idx);
    as_status st = seen && idx && (s->samples = cJSON_CreateArray()) ? AS_OK : nomem(err);
    as_rng rng;
    as_rng_seed(&rng, as_rng_derive(d->search_seed, AS_STREAM_SEARCH));
    long tries = 100L * d->samples + 1000;
    for (int got = 0, i = 0; !st && got < d->samples && tries-- > 0;) {
        cJSON *sample = draw_sample(d, &rng, idx);
        if (!sample || !cJSON_AddItemToArray(s->samples, sample)) {
            cJSON_Delete(sample);
            st = nomem(err);
            break;
        }
        for (int k = 0; k < d->nslots; k++) s->choice[k] = 0;
        set_include(s, -2 - i);
        i++;
        cJSON *spec = build_spec(s, err);
        if (!spec) {
            st = err->code;
            break;
        }
        char *c = excluded(s) ? NULL : as_json_canonical(spec);
        uint64_t full = c ? as_hash64(c, strlen(c), 0) : 0, h = full | 1; /* 0: empty cell */
        size_t pos = (size_t)h & (size - 1);
        while (c && seen[pos] && seen[pos] != h) pos = (pos + 1) & (size - 1);
        if (c && !seen[pos]) {
            seen[pos] = h;
            st = recipes_push(r, s, full, -2 - (i - 1), err);
            got++;
        }
        as_free(c);
        cJSON_Delete(spec);
    }
    as_free(seen);
    as_free(idx);
    return st;
}

/* Rebuilds recipe i's spec (choices restored, nothing new is met). */
static cJSON *rebuild(gstate *s, const recipes *r, int i, as_error *err) {
    size_t ns = (size_t)s->doc->nslots;
    memcpy(s->choice, r->choice + (size_t)i * ns, ns * sizeof(int));
    s->depth = 0;
    set_include(s, r->inc[i]);
    return build_spec(s, err);
}

static char *rebuild_canonical(gstate *s, const recipes *r, int i, as_error *err) {
    cJSON *spec = rebuild(s, r, i, err);
    char *c = spec ? as_json_canonical(spec) : NULL;
    if (spec && !c) nomem(err);
    cJSON_Delete(spec);
    return c;
}

/* keep[0..*nkeep) = first occurrences of each distinct canonical, in order. */
static as_status dedupe(gstate *s, const recipes *r, int *keep, int *nkeep, as_error *err) {
    size_t size = 64;
    while (size < 2 * (size_t)r->n) size *= 2;
    int *table = as_malloc(size * sizeof *table);
    if (!table) return nomem(err);
    for (size_t i = 0; i < size; i++) table[i] = -1;
    as_status st = AS_OK;
    *nkeep = 0;
    for (int i = 0; i < r->n && !st; i++) {
        size_t pos = (size_t)r->hash[i] & (size - 1);
        int dup = 0;
        for (; table[pos] >= 0 && !dup && !st; pos = (pos + 1) & (size - 1)) {
            int j = table[pos];
            if (r->hash[j] != r->hash[i]) continue;
            char *ci = rebuild_canonical(s, r, i, err), *cj = NULL;
            if (ci) cj = rebuild_canonical(s, r, j, err);
            if (!ci || !cj) st = err->code;
            else dup = strcmp(ci, cj) == 0;
            as_free(ci);
            as_free(cj);
        }
        if (!dup && !st) {
            table[pos] = i;
            keep[(*nkeep)++] = i;
        }
    }
    as_free(table);
    return st;
}

static int int_cmp(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Random search: keeps `samples` of keep[0..n) by a partial Fisher-Yates shuffle,
 * then sorts them back into grid order. */
static int select_random(const grid_doc *d, int *keep, int n) {
    if (!d->random || d->has_dist || d->samples >= n) return n;
    as_rng rng;
    as_rng_seed(&rng, as_rng_derive(d->search_seed, AS_STREAM_SEARCH));
    for (int i = 0; i < d->samples; i++) {
        int j = i + (int)as_rng_below(&rng, (uint64_t)(n - i));
        int t = keep[i];
        keep[i] = keep[j];
        keep[j] = t;
    }
    qsort(keep, (size_t)d->samples, sizeof *keep, int_cmp);
    return d->samples;
}

/* ---- variants ----------------------------------------------------------------- */

/* The label of axis a's current value: a layer object by its "type" (plus "#k", its
 * 1-based position, when the axis holds several objects of that type), a string as
 * is, anything else as compact JSON. */
static void value_label(const gstate *s, int a, char *buf, size_t cap) {
    const grid_axis *A = &s->doc->axes[a];
    const cJSON *v = s->fixed[a] ? s->fixed[a] : cJSON_GetArrayItem(A->values, s->choice[A->slot]);
    const char *t = grid_obj_type(v);
    if (t) {
        int same = 0, idx = -1, i = 0;
        const cJSON *w;
        cJSON_ArrayForEach(w, A->values) {
            const char *tw = grid_obj_type(w);
            if (tw && strcmp(tw, t) == 0) same++;
            if (idx < 0 && (s->fixed[a] ? cJSON_Compare(w, v, 1) : i == s->choice[A->slot]))
                idx = i;
            i++;
        }
        if (same > 1 && idx >= 0)
            snprintf(buf, cap, "%s#%d", t, idx + 1);
        else
            snprintf(buf, cap, "%s", t);
    } else if (cJSON_IsString(v)) {
        snprintf(buf, cap, "%s", v->valuestring);
    } else {
        char *p = cJSON_PrintUnformatted(v);
        snprintf(buf, cap, "%s", p ? p : "?");
        cJSON_free(p);
    }
}

/* params and name of the variant just built (s->used). */
static as_status describe(const gstate *s, as_variant *v, as_error *err) {
    char name[4096], label[1024];
    size_t len = 0;
    name[0] = '\0';
    v->params = cJSON_CreateObject();
    if (!v->params) return nomem(err);
    for (int i = 0; i < s->nused; i++) {
        int a = s->used[i];
        const grid_axis *A = &s->doc->axes[a];
        const cJSON *val =
            s->fixed[a] ? s->fixed[a] : cJSON_GetArrayItem(A->values, s->choice[A->slot]);
        value_label(s, a, label, sizeof label);
        cJSON *p = grid_obj_type(val) ? cJSON_CreateString(label) : cJSON_Duplicate(val, 1);
        if (!p || !cJSON_AddItemToObject(v->params, A->name, p)) {
            cJSON_Delete(p);
            return nomem(err);
        }
        if (len < sizeof name)
            snprintf(name + len, sizeof name - len, "%s%s=%s", i ? "," : "", A->name, label);
        len = strlen(name);
    }
    if (s->nused == 0) snprintf(name, sizeof name, "default");
    if (strlen(name) >= AS_VARIANT_NAME_MAX) memcpy(name + AS_VARIANT_NAME_MAX - 4, "...", 4);
    v->name = as_strdup(name);
    return v->name ? AS_OK : nomem(err);
}

/* A relative "data" becomes base_dir/data. */
static as_status resolve_data(cJSON *spec, const char *base_dir, as_error *err) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(spec, "data");
    if (!base_dir || !base_dir[0] || !cJSON_IsString(d) || d->valuestring[0] == '/') return AS_OK;
    size_t n = strlen(base_dir) + strlen(d->valuestring) + 2;
    char *path = as_malloc(n);
    if (!path) return nomem(err);
    size_t bl = strlen(base_dir);
    snprintf(path, n, "%s%s%s", base_dir, base_dir[bl - 1] == '/' ? "" : "/", d->valuestring);
    cJSON *nd = cJSON_CreateString(path);
    as_free(path);
    if (!nd || !cJSON_ReplaceItemInObjectCaseSensitive(spec, "data", nd)) {
        cJSON_Delete(nd);
        return nomem(err);
    }
    return AS_OK;
}

static as_status materialize(gstate *s, const recipes *r, const int *sel, int n,
                             const char *base_dir, as_variant *out, as_error *err) {
    for (int k = 0; k < n; k++) {
        as_variant *v = &out[k];
        v->id = k;
        v->spec = rebuild(s, r, sel[k], err);
        if (!v->spec) return err->code;
        v->canonical = as_json_canonical(v->spec);
        if (!v->canonical) return nomem(err);
        as_status st = describe(s, v, err);
        if (!st) st = resolve_data(v->spec, base_dir, err);
        if (st) return st;
    }
    return AS_OK;
}

#define CHECK_LINE_MAX 400

/* Runs check on every variant; all failures are listed in one AS_ERR_SPEC message. */
static as_status check_all(const char *origin, as_variant *v, int n, as_grid_check_fn check,
                           void *ud, as_error *err) {
    if (!check) return AS_OK;
    char lines[AS_ERROR_MSG_MAX];
    size_t len = 0, room = sizeof lines - 96; /* kept for the header and the tail */
    int nfail = 0, listed = 0;
    lines[0] = '\0';
    for (int k = 0; k < n; k++) {
        char vo[AS_VARIANT_NAME_MAX + 32];
        snprintf(vo, sizeof vo, "variant %d (%s)", v[k].id, v[k].name);
        as_error e;
        as_error_clear(&e);
        if (check(ud, v[k].spec, vo, &e) == AS_OK) continue;
        if (e.code == AS_ERR_NOMEM) return as_error_set(err, AS_ERR_NOMEM, "%s", e.msg);
        nfail++;
        char line[CHECK_LINE_MAX];
        int pre = strncmp(e.msg, vo, strlen(vo)) != 0;
        int w = snprintf(line, sizeof line, "\n  %s%s%s", pre ? vo : "", pre ? ": " : "", e.msg);
        if (w >= (int)sizeof line) memcpy(line + sizeof line - 4, "...", 4);
        if (len + strlen(line) < room) {
            memcpy(lines + len, line, strlen(line) + 1);
            len += strlen(line);
            listed++;
        }
    }
    if (!nfail) return AS_OK;
    if (listed < nfail) {
        snprintf(lines + len, sizeof lines - len, "\n  ... and %d more", nfail - listed);
    }
    return as_error_set(err, AS_ERR_SPEC, "%s: %d of %d variants fail the spec checks:%s", origin,
                        nfail, n, lines);
}

/* ---- public ------------------------------------------------------------------- */

static void gstate_free(gstate *s) {
    as_free(s->choice);
    as_free(s->stack);
    as_free((void *)s->fixed);
    as_free(s->used);
    as_free(s->is_used);
    cJSON_Delete(s->samples);
}

static as_status gstate_init(gstate *s, const grid_doc *d, as_error *err) {
    size_t ns = (size_t)d->nslots + 1, na = (size_t)d->naxes + 1;
    memset(s, 0, sizeof *s);
    s->doc = d;
    s->choice = as_calloc(ns, sizeof *s->choice);
    s->stack = as_calloc(ns, sizeof *s->stack);
    s->fixed = as_calloc(na, sizeof *s->fixed);
    s->used = as_calloc(na, sizeof *s->used);
    s->is_used = as_calloc(na, 1);
    if (s->choice && s->stack && s->fixed && s->used && s->is_used) return AS_OK;
    gstate_free(s);
    return nomem(err);
}

/* Enumerates, dedupes, selects and materializes into out->v / n / grid_size. */
static as_status expand(gstate *s, const char *base_dir, as_sweep *out, as_error *err) {
    const grid_doc *d = s->doc;
    recipes r = {0};
    long combos = 0;
    int *keep = NULL;
    as_status st = d->has_dist ? enumerate_samples(s, &r, err) : enumerate(s, -1, &r, &combos, err);
    for (int i = 0; !st && i < cJSON_GetArraySize(d->include); i++)
        st = enumerate(s, i, &r, &combos, err);
    if (!st && !(keep = as_malloc(((size_t)r.n + 1) * sizeof *keep))) st = nomem(err);
    if (!st) st = dedupe(s, &r, keep, &out->grid_size, err);
    if (!st && out->grid_size == 0)
        st = as_error_set(err, AS_ERR_SPEC, "%s: exclude: drops every variant of the grid",
                          d->origin);
    if (!st) {
        out->n = select_random(d, keep, out->grid_size);
        out->v = as_calloc((size_t)out->n, sizeof *out->v);
        st = out->v ? materialize(s, &r, keep, out->n, base_dir, out->v, err) : nomem(err);
    }
    as_free(keep);
    as_free(r.hash);
    as_free(r.inc);
    as_free(r.choice);
    return st;
}

as_status as_sweep_parse(const char *text, const char *origin, const char *base_dir,
                         as_grid_check_fn check, void *ud, as_sweep *out, as_error *err) {
    memset(out, 0, sizeof *out);
    if (!origin) origin = "sweep";
    as_status st = as_json_parse(text, origin, &out->root, err);
    if (st) return st;
    grid_doc d;
    gstate s;
    st = grid_doc_init(&d, out->root, origin, err);
    if (st) goto fail;
    if ((st = gstate_init(&s, &d, err))) {
        grid_doc_free(&d);
        goto fail;
    }
    st = expand(&s, base_dir, out, err);
    gstate_free(&s);
    out->random = d.random;
    out->samples = d.samples;
    out->search_seed = d.search_seed;
    out->sampled = d.has_dist;
    out->search = d.search;
    out->repeats = d.repeats;
    out->seed = d.seed;
    out->attention_samples = d.attention_samples;
    out->prediction_samples = d.prediction_samples;
    out->save_weights = d.save_weights;
    out->ranks_per_variant = d.ranks_per_variant;
    grid_doc_free(&d);
    if (!st) st = check_all(origin, out->v, out->n, check, ud, err);
    if (!st && !(out->text = as_strdup(text))) st = nomem(err);
    if (!st) return AS_OK;
fail:
    as_sweep_free(out);
    return st;
}

as_status as_sweep_load(const char *path, as_grid_check_fn check, void *ud, as_sweep *out,
                        as_error *err) {
    memset(out, 0, sizeof *out);
    char *text = NULL;
    as_status st = as_read_text_file(path, &text, NULL, err);
    if (st) return st;
    char *dir = as_strdup(path);
    if (!dir) {
        as_free(text);
        return nomem(err);
    }
    char *slash = strrchr(dir, '/');
    if (slash) slash[slash == dir ? 1 : 0] = '\0';
    st = as_sweep_parse(text, path, slash ? dir : NULL, check, ud, out, err);
    as_free(dir);
    as_free(text);
    return st;
}

/* Sets obj[key] = val (replacing or adding); takes val. */
static int set_key(cJSON *obj, const char *key, cJSON *val) {
    if (!val) return 0;
    int ok = cJSON_GetObjectItemCaseSensitive(obj, key)
                 ? cJSON_ReplaceItemInObjectCaseSensitive(obj, key, val)
                 : cJSON_AddItemToObject(obj, key, val);
    if (!ok) cJSON_Delete(val);
    return ok;
}

static int override_one(cJSON *spec, const char *data_path, int epochs) {
    if (data_path && !set_key(spec, "data", cJSON_CreateString(data_path))) return 0;
    if (epochs <= 0) return 1;
    cJSON *train = cJSON_GetObjectItemCaseSensitive(spec, "train");
    if (!cJSON_IsObject(train)) {
        if (!set_key(spec, "train", cJSON_CreateObject())) return 0;
        train = cJSON_GetObjectItemCaseSensitive(spec, "train");
    }
    return set_key(train, "epochs", cJSON_CreateNumber(epochs));
}

as_status as_sweep_override(as_sweep *s, const char *data_path, int epochs, as_error *err) {
    for (int k = 0; k < s->n; k++) {
        as_variant *v = &s->v[k];
        cJSON *canon = cJSON_Parse(v->canonical);
        int ok = canon && override_one(canon, data_path, epochs) &&
                 override_one(v->spec, data_path, epochs);
        char *c = ok ? as_json_canonical(canon) : NULL;
        cJSON_Delete(canon);
        if (!c) return nomem(err);
        as_free(v->canonical);
        v->canonical = c;
    }
    return AS_OK;
}

void as_sweep_free(as_sweep *s) {
    if (!s) return;
    for (int k = 0; s->v && k < s->n; k++) {
        as_free(s->v[k].name);
        as_free(s->v[k].canonical);
        cJSON_Delete(s->v[k].spec);
        cJSON_Delete(s->v[k].params);
    }
    as_free(s->v);
    cJSON_Delete(s->root);
    as_free(s->text);
    memset(s, 0, sizeof *s);
}
