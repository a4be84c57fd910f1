/* grid_internal.h: what grid_check.c (reading and validating a sweep document) hands
 * to grid.c (expansion). Not a public interface. */
#ifndef ATTNSWEEP_GRID_INTERNAL_H
#define ATTNSWEEP_GRID_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "attnsweep/grid.h"

/* An axis is a list of values, or a distribution (random search only, but "choice",
 * which is a list). */
typedef enum { GRID_LIST = 0, GRID_UNIFORM, GRID_LOGUNIFORM, GRID_RANDINT, GRID_QUNIFORM } grid_dist;

typedef struct {
    const char *name;     /* borrowed from the document */
    const cJSON *values;  /* the axis's array (non-empty); NULL for a distribution */
    grid_dist dist;       /* GRID_LIST for a list or {"choice": [...]} */
    double lo, hi, q;     /* a distribution's parameters */
    int n;                /* its length */
    int slot;             /* loop it belongs to (zip groups share one) */
} grid_axis;

/* A validated document. Everything is borrowed from root. */
typedef struct {
    const char *origin;
    const cJSON *root;
    grid_axis *axes; /* as_malloc'd */
    int naxes;
    int *slot_size;  /* as_malloc'd, nslots entries */
    int *index;      /* as_malloc'd: axis names hashed (index_cap slots; grid_check.c) */
    size_t index_cap;
    int nslots;
    const cJSON *include, *exclude; /* arrays of objects, or NULL */
    int random, samples;
    uint64_t search_seed;
    int has_dist;         /* some axis is a distribution: random search draws configurations */
    as_search_cfg search;
    int repeats, attention_samples, prediction_samples, save_weights, ranks_per_variant;
    uint64_t seed;
} grid_doc;

/* Reads the sweep keys, the axes and zip groups of root, and checks every placeholder
 * (known, reachable, acyclic), include and exclude. On error doc is freed. */
as_status grid_doc_init(grid_doc *doc, const cJSON *root, const char *origin, as_error *err);
void grid_doc_free(grid_doc *doc);

/* grid_search.c: reads the "search" block into doc (search, random, samples,
 * search_seed; doc->seed must be read already) and checks it against the axes (a
 * distribution needs a sampling search). Errors name the key. */
as_status grid_search_read(grid_doc *doc, const cJSON *search, as_error *err);

/* grid_search.c: an axis given as an object {"<distribution>": [...]} (a distribution, or
 * "choice" = a list); fills A (name set by the caller). Errors name grid.<axis>.<kind>. */
as_status grid_dist_parse(const grid_doc *doc, grid_axis *A, const cJSON *obj, as_error *err);

/* grid_search.c: a draw of a distribution axis, a new cJSON number (NULL: no memory). */
cJSON *grid_dist_draw(const grid_axis *A, double u); /* u uniform in [0, 1) */

/* The axis index of a name, -1 if none. */
int grid_axis_find(const grid_doc *doc, const char *name);

/* The placeholder name of a node ("$name" -> "name"), NULL if it is not one. */
const char *grid_placeholder(const cJSON *node);

/* The "type" string of a layer-object value, NULL when v is not one. */
const char *grid_obj_type(const cJSON *v);

/* Is key one of the sweep-only top-level keys (removed from each variant's spec)? */
int grid_is_sweep_key(const char *key);

/* The value an include entry means for axis a: a string naming the "type" of exactly
 * one object of the axis (and not itself a value of it) means that object. */
const cJSON *grid_include_value(const grid_doc *doc, int a, const cJSON *given);

#endif
