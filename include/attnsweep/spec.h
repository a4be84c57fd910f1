/* spec.h: the training spec (JSON, read with cJSON), validated against a table of keys.
 *
 * A spec is {"data": PATH, "model": [layer, ...], "train": {...}}. Layers and train
 * keys, their types, bounds and defaults are listed in one table per object in
 * src/model/spec.c; an unknown key, a wrong type or a value out of bounds is an
 * AS_ERR_SPEC error whose message names the origin (file) and the key path, e.g.
 *   "toy.json: model[1].num_heads: must be an integer >= 1 (got 0)".
 *
 * Ownership: as_spec_parse fills *out, which the caller releases with as_spec_free
 * (also safe on a zeroed or half-filled spec after an error).
 */
#ifndef ATTNSWEEP_SPEC_H
#define ATTNSWEEP_SPEC_H

#include <stdint.h>

#include "attnsweep/status.h"

struct cJSON;

typedef enum {
    AS_LAYER_CONV1D = 0,
    AS_LAYER_RESIDUAL_CONV1D,
    AS_LAYER_SELF_ATTENTION,
    AS_LAYER_DENSE,
    AS_LAYER_GLOBAL_AVG_POOL1D,
    AS_LAYER_FLATTEN,
    AS_LAYER_DROPOUT,
    AS_LAYER_LAYER_NORM,
    AS_LAYER_ACTIVATION,
    AS_LAYER_BATCH_NORM,
    AS_LAYER_NTYPES
} as_layer_type;

typedef enum { AS_ACT_LINEAR = 0, AS_ACT_RELU, AS_ACT_TANH, AS_ACT_SIGMOID, AS_ACT_NTYPES } as_act;

typedef enum { AS_PAD_SAME = 0, AS_PAD_VALID } as_padding;

typedef enum { AS_OPT_ADAM = 0, AS_OPT_SGD } as_opt_type;

/* dense.units "n_classes" / conv1d.filters "n_outputs" before as_spec_resolve. */
#define AS_FROM_N_CLASSES (-1)
#define AS_FROM_N_OUTPUTS (-2)

/* One layer's hyper-parameters. Only the fields of its type are meaningful. */
typedef struct {
    as_layer_type type;
    as_act activation;  /* conv1d, residual_conv1d, dense, activation */
    int filters;        /* conv1d, residual_conv1d */
    int kernel_size;    /* conv1d, residual_conv1d */
    int dilation;       /* conv1d, residual_conv1d (default 1) */
    as_padding padding; /* conv1d (residual: always same) */
    int units;          /* dense */
    int num_heads;      /* self_attention */
    int key_dim;        /* self_attention */
    int value_dim;      /* self_attention; 0 in the JSON means key_dim */
    int output_dim;     /* self_attention; 0 means the input's channels */
    float rate;         /* dropout rate (dropout layer; self_attention's "dropout") */
    float momentum;     /* batch_normalization (default 0.99) */
    float epsilon;      /* batch_normalization (default 1e-3) */
    int center, scale;  /* batch_normalization: beta / gamma present (default 1, 1) */
} as_layer_spec;

typedef struct {
    as_opt_type type;
    float learning_rate; /* adam 0.001, sgd 0.01 */
    float beta_1, beta_2, epsilon; /* adam: 0.9, 0.999, 1e-7 */
    float momentum;      /* sgd: 0 */
    int nesterov;        /* sgd: 0 */
    int use_ema;         /* Keras use_ema: keep a moving average of the weights (0) */
    float ema_momentum;  /* Keras ema_momentum (0.99): avg = mom avg + (1 - mom) w */
    int ema_buffers;     /* use_ema: average the non-trainable buffers too (0; PyTorch's
                            AveragedModel use_buffers) */
} as_optimizer_spec;

/* Callbacks (Keras names and defaults; semantics in callbacks.h). */
typedef enum { AS_MON_VAL_LOSS = 0, AS_MON_VAL_ACCURACY, AS_MON_LOSS, AS_MON_ACCURACY } as_monitor;
typedef enum { AS_MODE_AUTO = 0, AS_MODE_MIN, AS_MODE_MAX } as_monitor_mode;

typedef struct {
    int enabled;             /* the key was given */
    as_monitor monitor;      /* val_loss */
    as_monitor_mode mode;    /* auto */
    int patience;            /* 0 */
    double min_delta;        /* 0 */
    int restore_best_weights; /* false */
    int start_from_epoch;    /* 0 */
} as_early_stopping_spec;

typedef struct {
    int enabled;
    as_monitor monitor;      /* val_loss */
    as_monitor_mode mode;    /* auto */
    double factor;           /* 0.1, in (0, 1) */
    int patience;            /* 10 */
    double min_delta;        /* 1e-4 */
    int cooldown;            /* 0 */
    double min_lr;           /* 0 */
} as_reduce_lr_spec;

typedef enum { AS_SCHED_NONE = 0, AS_SCHED_COSINE, AS_SCHED_EXPONENTIAL, AS_SCHED_PIECEWISE } as_sched_type;
#define AS_SCHED_MAX_PIECES 16

/* Keras optimizer schedules, evaluated at the optimizer step (0 for the first update);
 * the initial learning rate is the optimizer's learning_rate. */
typedef struct {
    as_sched_type type;
    long decay_steps;        /* cosine, exponential: > 0 */
    double alpha;            /* cosine: 0 */
    double warmup_target;    /* cosine: NaN = no warmup */
    long warmup_steps;       /* cosine: 0 */
    double decay_rate;       /* exponential */
    int staircase;           /* exponential: false */
    int n_boundaries;        /* piecewise: boundaries[n], values[n + 1] */
    long boundaries[AS_SCHED_MAX_PIECES];
    double values[AS_SCHED_MAX_PIECES + 1];
} as_lr_schedule_spec;

/* Which weights a run ends with (its saved weights, dumps and test metrics). */
typedef enum { AS_KEEP_DEFAULT = 0, AS_KEEP_BEST, AS_KEEP_LAST } as_keep;
/* How the validation rows are chosen from the training split. */
typedef enum { AS_VAL_LAST = 0, AS_VAL_SHUFFLED, AS_VAL_STRATIFIED } as_val_mode;

typedef struct {
    int epochs;              /* >= 1 (default 10) */
    int batch_size;          /* >= 1 (default 32) */
    int batch_split;         /* 1..256 (default 1): parts each rank's rows of a batch are
                                split into, run on the rank's threads (fit.c) */
    double validation_split; /* [0, 1) (default 0) */
    int shuffle;             /* default 1 */
    uint64_t seed;           /* default 0 */
    as_optimizer_spec optimizer;
    as_early_stopping_spec early_stopping;
    as_reduce_lr_spec reduce_lr;      /* "reduce_lr_on_plateau" */
    as_lr_schedule_spec lr_schedule;
    as_keep keep;                     /* default: last for train, best in sweeps */
    as_val_mode validation_mode;      /* "validation": {"mode"} (default last) */
    uint64_t validation_seed;         /* "validation": {"seed"} (default 0) */
    int validation_object;            /* 1: the split is "validation": {"split"} (messages name
                                         train.validation.split), 0: validation_split */
    int refit;                        /* "refit" (default false): after training, a fresh
                                         model (same seed) is trained on every training row
                                         (validation rows too) for the kept epoch's count at
                                         the same learning rates (as_fit_refit); it is the
                                         model tested, dumped and saved */
    as_keep refit_keep;               /* "refit_keep": the refit's weights that are tested:
                                         last (default) or best (the refit's epoch of lowest
                                         training loss; it has no validation) */
    int threads;                      /* "threads": the BLAS/kernel threads per rank the run
                                         is to use (1..1024; 0: unset); `train`, `predict`
                                         and `evaluate` use it unless --threads is given
                                         (results are bit-identical only with the same
                                         count); `export` writes the run's */
} as_train_spec;

typedef struct {
    char *data;             /* dataset path as resolved (relative to the spec file) */
    as_layer_spec *layers;  /* n_layers entries */
    int n_layers;
    as_train_spec train;
} as_spec;

/* Parses a spec object. origin names the source in messages (a file name, or
 * "grid variant 3"); base_dir resolves a relative "data" path (NULL: as written).
 * extra_ok, if not NULL, is a NULL-terminated list of top-level keys that are
 * accepted and ignored (a sweep file's "grid", "search", ...). */
as_status as_spec_parse(const struct cJSON *root, const char *origin, const char *base_dir,
                        const char *const *extra_ok, as_spec *out, as_error *err);

/* Reads and parses a spec file (base_dir = the file's folder). */
as_status as_spec_load(const char *path, as_spec *out, as_error *err);

void as_spec_free(as_spec *s);

/* Sets dense.units "n_classes" (AS_FROM_N_CLASSES) to the dataset's class count and
 * conv1d.filters "n_outputs" (AS_FROM_N_OUTPUTS) to its target channels (regression
 * y [n, T', C']: C'). "n_classes" on a regression dataset, or "n_outputs" on a
 * classification one, is AS_ERR_SPEC naming the key. */
as_status as_spec_resolve(as_spec *s, int classification, int n_classes, int n_outputs,
                          const char *origin, as_error *err);
/* The same on a spec's JSON (a sweep variant): the strings become numbers. */
as_status as_spec_json_resolve(struct cJSON *spec, int classification, int n_classes,
                               int n_outputs, const char *origin, as_error *err);

/* Names for messages and files: "conv1d", "relu", "adam", ... */
const char *as_layer_type_name(as_layer_type t);
const char *as_act_name(as_act a);
const char *as_monitor_name(as_monitor m);   /* "val_loss", ... */
const char *as_val_mode_name(as_val_mode m); /* "last", "shuffled", "stratified" */

/* Reads a whole text file into a NUL-terminated buffer the caller frees with as_free.
 * Refused (AS_ERR_SPEC, naming the file and line): a NUL byte inside, more than
 * AS_TEXT_FILE_MAX bytes. */
#define AS_TEXT_FILE_MAX (16 << 20)
as_status as_read_text_file(const char *path, char **out, size_t *len, as_error *err);

/* Parses JSON text (all of it: text after the value is an error) into *out, released by
 * cJSON_Delete. origin names the source in messages. AS_ERR_SPEC naming origin, line and
 * column: "invalid JSON", or "nested deeper than 1000 levels" for arrays and objects
 * deeper than the reader's limit (cJSON's CJSON_NESTING_LIMIT, 1000 by default). */
as_status as_json_parse(const char *text, const char *origin, struct cJSON **out, as_error *err);

#endif
