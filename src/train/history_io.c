/* history_io.c: per-epoch curves to HDF5. */
#include "attnsweep/h5util.h"
#include "attnsweep/train.h"

as_status as_history_write(hid_t loc, const as_history *h, as_error *err) {
    static const char *const status_names[] = {"ok", "diverged", "stopped"};
    hsize_t n[1] = {(hsize_t)h->epochs_run};
    as_status st = as_h5_write_double(loc, "loss", 1, n, h->loss, err);
    if (!st) st = as_h5_write_double(loc, "val_loss", 1, n, h->val_loss, err);
    if (!st) st = as_h5_write_double(loc, "epoch_seconds", 1, n, h->epoch_seconds, err);
    if (!st && h->classification) {
        st = as_h5_write_double(loc, "accuracy", 1, n, h->accuracy, err);
        if (!st) st = as_h5_write_double(loc, "val_accuracy", 1, n, h->val_accuracy, err);
    }
    if (!st) st = as_h5_attr_string(loc, "status", status_names[h->status], err);
    if (!st) st = as_h5_attr_string(loc, "message", h->message, err);
    return st;
}
