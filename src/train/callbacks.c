/* callbacks.c: Keras's EarlyStopping, ReduceLROnPlateau and schedules (see callbacks.h). */
#include "attnsweep/callbacks.h"

#include <math.h>

static int es_greater(const as_early_stopping_spec *sp) {
    if (sp->mode != AS_MODE_AUTO) return sp->mode == AS_MODE_MAX;
    return sp->monitor == AS_MON_VAL_ACCURACY || sp->monitor == AS_MON_ACCURACY;
}

void as_es_init(as_es_state *s, const as_early_stopping_spec *sp) {
    s->greater = es_greater(sp);
    s->best = s->greater ? -(double)INFINITY : (double)INFINITY;
    s->best_epoch = -1;
    s->wait = 0;
    s->stopped_epoch = -1;
}

int as_es_update(as_es_state *s, const as_early_stopping_spec *sp, int epoch, double current) {
    if (epoch < sp->start_from_epoch) return 0;
    int out = 0;
    if (s->best_epoch < 0) { /* Keras: best_weights is None, the current ones are the best */
        s->best_epoch = epoch;
        out |= AS_ES_SNAPSHOT;
    }
    s->wait++;
    double md = fabs(sp->min_delta);
    int better = s->greater ? current - md > s->best : current + md < s->best;
    if (better) {
        s->best = current;
        s->best_epoch = epoch;
        s->wait = 0;
        return out | AS_ES_SNAPSHOT;
    }
    if (s->wait >= sp->patience && epoch > 0) {
        s->stopped_epoch = epoch;
        out |= AS_ES_STOP;
    }
    return out;
}

void as_rlr_init(as_rlr_state *s, const as_reduce_lr_spec *sp) {
    int acc = sp->monitor == AS_MON_VAL_ACCURACY || sp->monitor == AS_MON_ACCURACY;
    s->greater = sp->mode == AS_MODE_MAX || (sp->mode == AS_MODE_AUTO && acc);
    s->best = s->greater ? -(double)INFINITY : (double)INFINITY;
    s->wait = 0;
    s->cooldown_counter = 0;
}

float as_rlr_update(as_rlr_state *s, const as_reduce_lr_spec *sp, double current, float lr) {
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->wait = 0;
    }
    int better = s->greater ? current > s->best + sp->min_delta : current < s->best - sp->min_delta;
    if (better) {
        s->best = current;
        s->wait = 0;
    } else if (s->cooldown_counter <= 0) {
        s->wait++;
        if (s->wait >= sp->patience) {
            double old = (double)lr;
            if (old > (double)(float)sp->min_lr) {
                double nl = old * sp->factor;
                if (nl < sp->min_lr) nl = sp->min_lr;
                lr = (float)nl;
                s->cooldown_counter = sp->cooldown;
                s->wait = 0;
            }
        }
    }
    return lr;
}

static double cosine(double lr0, double s, double steps, double alpha) {
    double c = 0.5 * (1.0 + cos(3.14159265358979323846 * s / steps));
    return lr0 * ((1.0 - alpha) * c + alpha);
}

float as_lr_schedule_at(const as_lr_schedule_spec *sp, float lr0, long step) {
    double s = (double)step, r = (double)lr0;
    switch (sp->type) {
    case AS_SCHED_NONE: return lr0;
    case AS_SCHED_COSINE: {
        double ds = (double)sp->decay_steps;
        if (isnan(sp->warmup_target)) return (float)cosine(r, fmin(s, ds), ds, sp->alpha);
        double ws = (double)sp->warmup_steps;
        s = fmin(s, ds + ws);
        if (s < ws) return (float)((sp->warmup_target - r) * (s / ws) + r);
        return (float)cosine(sp->warmup_target, s - ws, ds, sp->alpha);
    }
    case AS_SCHED_EXPONENTIAL: {
        double p = s / (double)sp->decay_steps;
        if (sp->staircase) p = floor(p);
        return (float)(r * pow(sp->decay_rate, p));
    }
    case AS_SCHED_PIECEWISE: {
        int i = 0;
        while (i < sp->n_boundaries && step > sp->boundaries[i]) i++;
        return (float)sp->values[i];
    }
    }
    return lr0;
}

double as_monitor_value(as_monitor m, double loss, double accuracy, double val_loss,
                        double val_accuracy) {
    switch (m) {
    case AS_MON_VAL_LOSS: return val_loss;
    case AS_MON_VAL_ACCURACY: return val_accuracy;
    case AS_MON_LOSS: return loss;
    case AS_MON_ACCURACY: return accuracy;
    }
    return (double)NAN;
}
