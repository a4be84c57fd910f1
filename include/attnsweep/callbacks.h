/* callbacks.h: Keras's EarlyStopping, ReduceLROnPlateau and learning-rate schedules as
 * pure functions over a metric sequence (unit-tested against hand-computed trajectories;
 * as_fit calls them once per epoch / per step).
 *
 * Early stopping (keras.callbacks.EarlyStopping, Keras 3): direction "min" or "max"
 * ("auto": max for an accuracy, min for a loss); an epoch improves when
 * current - min_delta > best (max) or current + min_delta < best (min). Epochs before
 * start_from_epoch (0-based) are ignored. At each monitored epoch wait += 1; an
 * improvement sets best, best_epoch and wait = 0; otherwise training stops when
 * wait >= patience and epoch > 0. The first monitored epoch always becomes the best
 * weights' epoch (Keras's best_weights is None). With restore_best_weights the best
 * epoch's weights are put back at the end of training, stopped early or not.
 *
 * Reduce on plateau (keras.callbacks.ReduceLROnPlateau): "auto" is max when the monitor
 * contains "acc"; improvement: current < best - min_delta (min) or current > best +
 * min_delta (max). In cooldown the counter drops by one and wait = 0 first; an
 * improvement sets best and wait = 0; otherwise, out of cooldown, wait += 1 and when
 * wait >= patience and lr > float32(min_lr): lr = max(lr * factor, min_lr) (in double,
 * stored as float32), cooldown starts and wait = 0.
 *
 * Schedules (keras.optimizers.schedules) of the optimizer step s (0 for the first
 * update), initial rate lr0 = the optimizer's learning_rate, computed in double and
 * rounded to float32:
 *   cosine_decay: without warmup, s' = min(s, decay_steps),
 *     lr0 * ((1 - alpha) * 0.5 * (1 + cos(pi s' / decay_steps)) + alpha); with
 *     warmup_target W: s' = min(s, decay_steps + warmup_steps); s' < warmup_steps:
 *     lr0 + (W - lr0) s' / warmup_steps, else the decay above from W at s' - warmup_steps.
 *   exponential_decay: lr0 * decay_rate ^ (s / decay_steps) (floor of the ratio when
 *     staircase).
 *   piecewise_constant_decay: values[0] for s <= boundaries[0], values[i] for
 *     boundaries[i-1] < s <= boundaries[i], values[n] after the last boundary.
 */
#ifndef ATTNSWEEP_CALLBACKS_H
#define ATTNSWEEP_CALLBACKS_H

#include "attnsweep/spec.h"

/* Early stopping (also the keep-best tracker: the same rule with patience = INT_MAX). */
typedef struct {
    double best;       /* +inf (min) / -inf (max) before the first monitored epoch */
    int best_epoch;    /* 0-based; -1 before the first monitored epoch */
    int wait;
    int stopped_epoch; /* 0-based epoch that stopped training; -1 while running */
    int greater;       /* direction resolved from mode and monitor */
} as_es_state;

enum { AS_ES_STOP = 1, AS_ES_SNAPSHOT = 2 };

void as_es_init(as_es_state *s, const as_early_stopping_spec *sp);
/* One epoch's end: epoch 0-based, current the monitored value. Returns AS_ES_SNAPSHOT
 * when the current weights become the best ones and AS_ES_STOP when training stops. */
int as_es_update(as_es_state *s, const as_early_stopping_spec *sp, int epoch, double current);

typedef struct {
    double best;
    int wait, cooldown_counter;
    int greater;
} as_rlr_state;

void as_rlr_init(as_rlr_state *s, const as_reduce_lr_spec *sp);
/* One epoch's end: returns the learning rate for the next epoch. */
float as_rlr_update(as_rlr_state *s, const as_reduce_lr_spec *sp, double current, float lr);

/* The schedule's rate at optimizer step `step` (lr0 when type is AS_SCHED_NONE). */
float as_lr_schedule_at(const as_lr_schedule_spec *sp, float lr0, long step);

/* The monitored value of an epoch's metrics. */
double as_monitor_value(as_monitor m, double loss, double accuracy, double val_loss,
                        double val_accuracy);

#endif
