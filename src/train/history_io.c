/* history_io.c: per-epoch curves to HDF5. */
#include <string.h>

#include "attnsweep/train.h"

static herr_t write_curve(hid_t loc, const char *name, const double *v, int n) {
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(loc, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : (n ? H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) : 0);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    return rc;
}

static herr_t write_str(hid_t loc, const char *name, const char *value) {
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, strlen(value) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ty, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, ty, value);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(ty);
    return rc;
}

as_status as_history_write(hid_t loc, const as_history *h, as_error *err) {
    static const char *const status_names[] = {"ok", "diverged", "stopped"};
    int n = h->epochs_run;
    herr_t rc = write_curve(loc, "loss", h->loss, n);
    rc |= write_curve(loc, "val_loss", h->val_loss, n);
    rc |= write_curve(loc, "epoch_seconds", h->epoch_seconds, n);
    if (h->classification) {
        rc |= write_curve(loc, "accuracy", h->accuracy, n);
        rc |= write_curve(loc, "val_accuracy", h->val_accuracy, n);
    }
    rc |= write_str(loc, "status", status_names[h->status]);
    rc |= write_str(loc, "message", h->message);
    if (rc < 0) return as_error_set(err, AS_ERR_IO, "cannot write the training history");
    return AS_OK;
}
