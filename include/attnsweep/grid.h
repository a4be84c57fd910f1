/* grid.h: sweep files (a training spec plus a grid) expanded into variants.
 *
 * A sweep file is a training spec {"data", "model", "train"} plus "grid" and the
 * optional keys "search", "repeats", "zip", "include", "exclude", "seed",
 * "attention_samples", "prediction_samples", "save_weights", "ranks_per_variant".
 * Any value inside "model" or "train" may be a placeholder string "$name" ("$$x" is
 * the literal string "$x"); "grid" maps each name to a non-empty array of values.
 * The format, with examples, is documented in sweeps/README.md. In short:
 *
 * - A value may be anything JSON, e.g. a whole layer object; placeholders inside a
 *   chosen value are substituted recursively, so an axis used only inside a value
 *   expands only where that value is chosen (conditional axes). Cycles are errors.
 * - "data" may be a placeholder too ("data": "$ds", grid "ds": ["a.h5", "b.h5"]): a
 *   sweep over datasets, each variant training on its own (a relative path is
 *   resolved against base_dir per variant).
 * - Expansion order is deterministic: a depth-first walk of "data", "model" and "train"
 *   (object keys in document order, a chosen value walked where it is substituted)
 *   meets the axes; the first axis met is the outermost loop, the last the innermost
 *   (it varies fastest); values in list order. An axis used in several places takes
 *   one value everywhere.
 * - "zip": arrays of axis names that vary together (one loop; equal lengths).
 * - "exclude": partial combinations {axis: value}; a grid variant that uses every
 *   named axis with an equal value (deep equality; a string also matches a layer
 *   object of that "type") is dropped. Exclude never drops include entries.
 * - "include": combinations {axis: value} appended after the grid, in list order.
 *   Named axes are fixed to the given values (which need not be in the grid; a
 *   string naming the "type" of exactly one object in the axis means that object);
 *   axes the combination uses but does not name are expanded over their lists.
 * - Identical variants (same canonical JSON) are kept once, at their first position.
 * - "search": {"type": "grid"} (default) or {"type": "random", "samples": N,
 *   "seed": S (default: the sweep seed)}: N distinct variants drawn uniformly without
 *   replacement from the deduplicated list by a partial Fisher-Yates shuffle with
 *   as_rng seeded by as_rng_derive(S, AS_STREAM_SEARCH) (draw i swaps position i with
 *   i + as_rng_below(n - i)); the chosen ones keep their grid order. N >= the number
 *   of distinct variants is clamped: the whole grid, in order.
 * - An axis may be a distribution {"uniform"|"loguniform"|"randint": [a, b]},
 *   {"quniform": [a, b, q]} or {"choice": [...]} (a list); with one, random search
 *   draws N configurations (sweeps/README.md), and grid search is an error. "search"
 *   may also name a rung policy (successive_halving, hyperband, asha): its keys are
 *   read into as_sweep.search (as_search_cfg) and scheduled by src/sweep/policy.h.
 *
 * Every error is AS_ERR_SPEC (or AS_ERR_NOMEM / AS_ERR_IO) with a message
 * "<origin>: <key>: <problem>", e.g. "sweeps/x.json: grid.heads: empty axis".
 *
 * Ownership: as_sweep_parse/as_sweep_load fill *out, released with as_sweep_free
 * (safe on a zeroed struct, and *out is zeroed on error). Strings are as_malloc'd;
 * cJSON trees are cJSON's (freed with cJSON_Delete by as_sweep_free).
 */
#ifndef ATTNSWEEP_GRID_H
#define ATTNSWEEP_GRID_H

#include <stdint.h>

#include "attnsweep/status.h"

struct cJSON;

/* A variant's name is shorter than this (longer names are cut and end in "..."). */
#define AS_VARIANT_NAME_MAX 120
/* Expansion stops with an error past this many combinations (before deduplication). */
#define AS_GRID_MAX_COMBINATIONS 100000
/* Limits of a sweep file (each refused with a message naming the key): grid axes, and
 * how deeply arrays and objects nest in model, train and axis values. The file itself
 * is at most AS_TEXT_FILE_MAX bytes (spec.h). */
#define AS_GRID_MAX_AXES 10000
#define AS_GRID_MAX_DEPTH 64

/* Validates one expanded spec (e.g. by as_spec_parse). origin names the variant,
 * "variant <id> (<name>)"; on failure it returns non-AS_OK and fills err (its message
 * ideally starting with origin). ud is passed through. */
typedef as_status (*as_grid_check_fn)(void *ud, const struct cJSON *spec, const char *origin,
                                      as_error *err);

typedef struct {
    int id;                /* 0-based position in expansion order (after dedupe and search) */
    char *name;            /* short readable name "L2=self_attention,num_heads=2,..." */
    char *canonical;       /* canonical JSON of the spec: keys sorted recursively, compact;
                              "data" as written in the file (or as given to
                              as_sweep_override), so it does not depend on where the
                              sweep lives. Seeds and resume keys derive from it. */
    struct cJSON *spec;    /* the expanded spec {"data", "model", "train"}: no placeholders,
                              no sweep keys; a relative "data" resolved against base_dir */
    struct cJSON *params;  /* {axis: value} for the axes this variant uses, in the order
                              met; a layer-object value is recorded as its "type" (with
                              "#k", its 1-based position, when the axis has several
                              objects of that type) */
    /* Filled by the program that loads the datasets (attnsweep sweep), not by the parser: */
    int data_index;        /* which of the sweep's distinct datasets it trains on (0 when one) */
    char data_sha256[65];  /* that dataset's SHA-256 ("" until set; as_run_key uses it) */
} as_variant;

/* The sweep file's "search" block (sweeps/README.md, "Search"). Policies other than grid
 * and random train in rungs: budgets min_epochs, min_epochs*eta, ... capped at
 * max_epochs (src/sweep/policy.h). */
typedef enum {
    AS_SEARCH_GRID = 0,
    AS_SEARCH_RANDOM,
    AS_SEARCH_HALVING, /* "successive_halving" */
    AS_SEARCH_HYPERBAND,
    AS_SEARCH_ASHA
} as_search_type;

typedef enum { AS_METRIC_VAL_LOSS = 0, AS_METRIC_VAL_ACCURACY, AS_METRIC_LOSS, AS_METRIC_ACCURACY } as_metric;

typedef struct {
    as_search_type type;
    int samples;         /* configurations drawn (0: the whole grid) */
    uint64_t seed;       /* sampling seed (default: the sweep seed) */
    int min_epochs, max_epochs, eta; /* rung policies */
    as_metric metric;    /* rung policies: what ranks runs at a rung */
    int maximize;        /* mode "max" (default: max for accuracies, min for losses) */
} as_search_cfg;

const char *as_search_type_name(as_search_type t);
const char *as_metric_name(as_metric m);

typedef struct {
    as_variant *v;          /* n variants */
    int n;
    int grid_size;          /* distinct variants before random selection (== n for grid) */
    int random;             /* 1 for random search */
    int samples;            /* random search: samples asked for (0 for grid search) */
    uint64_t search_seed;   /* random search seed */
    int sampled;            /* 1 when configurations were drawn from distributions */
    as_search_cfg search;   /* the "search" block, checked */
    int repeats;            /* >= 1 (default 1) */
    uint64_t seed;          /* sweep seed (default 0) */
    int attention_samples;  /* n, >= 0 (default 3) */
    int prediction_samples; /* m, >= 0 (default 6) */
    int save_weights;       /* 0/1 (default 0) */
    int ranks_per_variant;  /* >= 1 (default 1) */
    struct cJSON *root;     /* the whole document as given (data not resolved) */
    char *text;             /* the document's text as given */
} as_sweep;

/* Parses and expands a sweep document. origin names it in messages (the file name);
 * base_dir resolves a relative "data" in each variant's spec (NULL: as written).
 * check (may be NULL) is called for every selected variant; when some fail, the
 * result is AS_ERR_SPEC with a message listing every failing variant (id, name and
 * the check's message; cut with "... and K more" when longer than as_error allows).
 * On error *out is left zeroed. */
as_status as_sweep_parse(const char *text, const char *origin, const char *base_dir,
                         as_grid_check_fn check, void *ud, as_sweep *out, as_error *err);

/* Reads the file at path and parses it with origin = path and base_dir = the file's
 * folder. A missing or unreadable file is AS_ERR_IO naming the path. */
as_status as_sweep_load(const char *path, as_grid_check_fn check, void *ud, as_sweep *out,
                        as_error *err);

/* Overrides in every variant: data_path (non-NULL: "data" becomes data_path as given,
 * in spec and canonical) and epochs (> 0: "train.epochs", created if absent). Names,
 * params and ids are unchanged (overriding an axis may make variants identical; they
 * are kept). AS_ERR_NOMEM on allocation failure (s is then partly updated). */
as_status as_sweep_override(as_sweep *s, const char *data_path, int epochs, as_error *err);

/* Releases everything *s owns and zeroes it. s may be NULL. */
void as_sweep_free(as_sweep *s);

/* The training seed of (variant, repeat): with h = as_hash64(canonical,
 * strlen(canonical), sweep_seed), the (repeat+1)-th output of splitmix64 started
 * from state h, i.e. splitmix64 of state h + repeat * 0x9E3779B97F4A7C15. It depends
 * only on the sweep seed, the canonical config and the repeat: not on ids, ranks or
 * order. */
uint64_t as_variant_seed(uint64_t sweep_seed, const char *canonical, int repeat);

/* The canonical JSON of any value: a deep copy with object keys sorted (strcmp)
 * recursively, printed compact. Returns an as_malloc'd string, NULL on failure. */
char *as_json_canonical(const struct cJSON *v);

#endif
