/* runkey.h: the identity of one sweep run.
 *
 * A run key names what a stored run IS, independently of where it sits in a grid: the
 * SHA-256 (64 lower-case hex digits) of
 *
 *     "attnsweep-run-key-1\n" CONFIG "\n" REPEAT "\n" SEED "\n" DATA_SHA256
 *
 * where CONFIG is the variant's canonical spec without "data" after every override
 * that changes results (as_sweep_override: --epochs, --data; a search policy that
 * changes a budget must change the spec before asking for the key), REPEAT the repeat
 * index in decimal, SEED the run's training seed in decimal (as_variant_seed of the
 * sweep seed, CONFIG and REPEAT: so the sweep seed is part of the identity) and
 * DATA_SHA256 the SHA-256 of the dataset file's bytes (where the file lives is not).
 *
 * Results files store runs by key (/variants/<key>, the journal's <key>.h5); variant
 * ids and names are only labels. --resume trains exactly the (variant, repeat) whose
 * keys are missing. Shards, rungs and any other code that must recognise a stored run
 * computes its key with these functions.
 */
#ifndef ATTNSWEEP_RUNKEY_H
#define ATTNSWEEP_RUNKEY_H

#include <stdint.h>

#include "attnsweep/grid.h"
#include "attnsweep/status.h"

#define AS_RUN_KEY_HEX 65 /* 64 hex digits and the terminating NUL */

/* The key from its parts (see above). config_key is as_sweep_run_key()'s string. */
void as_run_key_of(const char *config_key, int repeat, uint64_t seed, const char *data_sha256,
                   char out[AS_RUN_KEY_HEX]);

/* The key of (variant v, repeat r) of s on the dataset with SHA-256 data_sha256, or on
 * the variant's own s->v[v].data_sha256 when that is set (a sweep over datasets).
 * AS_ERR_NOMEM when the canonical config cannot be built. */
as_status as_run_key(const as_sweep *s, int v, int repeat, const char *data_sha256,
                     char out[AS_RUN_KEY_HEX], as_error *err);

/* AS_OK when no two variants of s are one run; else AS_ERR_SPEC naming the first such pair
 * (in the file's order) and why. Two variants are one run when their config keys are
 * equal on the same data (s->v[].data_sha256 when set, else the same data_index), so
 * every repeat of theirs would have one run key: after an override made their specs
 * equal (why names it, e.g. "--epochs 1 replaced train.epochs"; NULL or "" when none),
 * or on two data files of the same content. file names the sweep file in the message.
 * AS_ERR_NOMEM. */
as_status as_run_keys_distinct(const as_sweep *s, const char *file, const char *why,
                               as_error *err);

/* The training seed of (v, r): as_variant_seed(s->seed, config key, r). */
uint64_t as_run_seed(const as_sweep *s, int v, int repeat);

#endif
