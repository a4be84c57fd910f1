/* history_io.c: per-epoch curves and the run's outcome to HDF5. */
#include "attnsweep/h5util.h"
#include "attnsweep/train.h"

static as_status write_outcome(hid_t loc, const as_history *h, as_error *err) {
    as_status st = as_h5_attr_string(loc, "monitor", as_monitor_name(h->monitor), err);
    if (!st) st = as_h5_attr_int32(loc, "best_epoch", h->best_epoch, err);
    if (!st) st = as_h5_attr_int32(loc, "stopped_epoch", h->stopped_epoch, err);
    if (!st) st = as_h5_attr_string(loc, "kept", h->kept_best ? "best" : "last", err);
    if (!st) st = as_h5_attr_int32(loc, "kept_epoch", h->kept_epoch, err);
    if (!st) st = as_h5_attr_int32(loc, "n_train", h->n_train, err);
    if (!st) st = as_h5_attr_int32(loc, "n_val", h->n_val, err);
    if (!st) st = as_h5_attr_int32(loc, "threads", h->threads, err);
    if (!st && h->refit_epochs > 0) st = as_h5_attr_int32(loc, "refit_epochs", h->refit_epochs, err);
    if (!st && h->refit_epochs > 0)
        st = as_h5_attr_int32(loc, "refit_kept_epoch", h->refit_kept_epoch, err);
    if (!st && h->has_test) st = as_h5_attr_double(loc, "test_loss", h->test_loss, err);
    if (!st && h->has_test && h->classification)
        st = as_h5_attr_double(loc, "test_accuracy", h->test_accuracy, err);
    return st;
}

as_status as_history_write(hid_t loc, const as_history *h, as_error *err) {
    static const char *const status_names[] = {"ok", "diverged", "stopped"};
    hsize_t n[1] = {(hsize_t)h->epochs_run};
    as_status st = as_h5_write_double(loc, "loss", 1, n, h->loss, err);
    if (!st) st = as_h5_write_double(loc, "val_loss", 1, n, h->val_loss, err);
    if (!st) st = as_h5_write_double(loc, "epoch_seconds", 1, n, h->epoch_seconds, err);
    if (!st && h->learning_rate)
        st = as_h5_write_double(loc, "learning_rate", 1, n, h->learning_rate, err);
    if (!st && h->classification) {
        st = as_h5_write_double(loc, "accuracy", 1, n, h->accuracy, err);
        if (!st) st = as_h5_write_double(loc, "val_accuracy", 1, n, h->val_accuracy, err);
    }
    if (!st) st = as_h5_attr_string(loc, "status", status_names[h->status], err);
    if (!st) st = as_h5_attr_string(loc, "message", h->message, err);
    if (!st) st = write_outcome(loc, h, err);
    return st;
}
