/* fuzz_checkpoint.c: the checkpoint loader (as_checkpoint_load) on checkpoints written
 * from the fuzz bytes -- attributes (format, spec_sha256, seed, epoch, step) of any
 * shape and value, /weights right, missing or misshapen, optimizer moments, /perm,
 * /shuffle and /history of fuzzed lengths and values -- and, when the loader accepts
 * one, a resumed as_fit of one more epoch on a small in-memory dataset (where a bad
 * /perm used to index out of bounds). */
#include <math.h>

#include "attnsweep/alloc.h"
#include "attnsweep/checkpoint.h"
#include "attnsweep/dataset.h"
#include "attnsweep/h5util.h"
#include "attnsweep/spec.h"
#include "attnsweep/train.h"
#include "attnsweep/weights.h"
#define FZ_INIT setup
#include "fuzz_h5gen.h"

#include <cjson/cJSON.h>

#define N_ROWS 6
#define T_LEN 8
#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SEED 7

static as_spec g_spec;
static as_dataset g_data;
static as_model g_model;
static float g_x[N_ROWS * T_LEN], g_y[N_ROWS * T_LEN];

/* The spec, dataset and model every input's checkpoint is loaded into. */
static void setup(void) {
    const char *text =
        "{\"data\": \"x.h5\", \"model\": [{\"type\": \"conv1d\", \"filters\": 2, "
        "\"kernel_size\": 3, \"activation\": \"relu\"}, {\"type\": \"conv1d\", \"filters\": 1, "
        "\"kernel_size\": 3}], \"train\": {\"epochs\": 2, \"batch_size\": 4, \"seed\": 7}}";
    cJSON *root = cJSON_Parse(text);
    as_error e;
    if (!root || as_spec_parse(root, "fuzz", NULL, NULL, &g_spec, &e)) abort();
    cJSON_Delete(root);
    for (int i = 0; i < N_ROWS * T_LEN; i++) {
        g_x[i] = (float)sin(i * 0.3);
        g_y[i] = (float)cos(i * 0.2);
    }
    g_data.task = AS_TASK_REGRESSION;
    g_data.train = (as_split){N_ROWS, T_LEN, 1, g_x, T_LEN, 1, g_y, NULL};
    if (as_fit_prepare(&g_model, &g_spec, &g_data, 1, SEED, "fuzz", &e)) abort();
}

/* A 1-D dataset of n values (mostly `want`) of type mt from the bytes. */
static void vector(fz_reader *r, hid_t f, const char *name, hid_t mt, size_t want, int kind) {
    uint8_t k = fz_u8(r);
    if ((k & 7) == 7) return; /* missing */
    hsize_t n = (k & 7) == 6 ? fz_count(r, want + 2) : want;
    if (n > 4096) n = 4096 + (n & 1023);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t ds = H5Dcreate2(f, name, mt, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    size_t esz = H5Tget_size(mt);
    unsigned char *buf = calloc(n ? n : 1, esz);
    for (hsize_t i = 0; buf && i < n; i++) {
        if (kind == 0) { /* a permutation, perhaps with one entry changed */
            int v = (int)i;
            if (i == 0 && (k & 0x18) == 0x18) v = (int)fz_u32(r);
            if (i == 1 && (k & 0x18) == 0x10) v = (int)(fz_u8(r) % (want + 2)) - 1;
            memcpy(buf + i * esz, &v, esz);
        } else if (kind == 1) { /* floats, all bit patterns now and then */
            float v = (k & 0x20) ? fz_float(r) : (float)fz_u8(r) / 64.0f;
            memcpy(buf + i * esz, &v, esz);
        } else if (kind == 2) {
            uint64_t v = fz_u64(r);
            memcpy(buf + i * esz, &v, esz);
        } else {
            double v = (double)fz_float(r);
            memcpy(buf + i * esz, &v, esz);
        }
    }
    if (ds >= 0 && buf) H5Dwrite(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    free(buf);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
}

static void write_checkpoint(fz_reader *r, const char *path) {
    hid_t f = fz_h5_create(path);
    if (f < 0) return;
    char seed[16];
    snprintf(seed, sizeof seed, "%d", (fz_u8(r) & 7) == 7 ? 8 : SEED);
    uint8_t e = fz_u8(r);
    long long epoch = (e & 15) == 15 ? (long long)fz_u64(r) : e % 3;
    fz_attr(r, f, "format", "attnsweep-checkpoint", 0);
    fz_attr(r, f, "spec_sha256", (fz_u8(r) & 7) == 7 ? "deadbeef" : SHA, 0);
    fz_attr(r, f, "seed", seed, 0);
    fz_attr(r, f, "epoch", NULL, epoch);
    fz_attr(r, f, "step", NULL, (fz_u8(r) & 7) == 7 ? (long long)fz_u64(r) : (long long)((unsigned long long)epoch * 2u));
    as_error err;
    uint8_t w = fz_u8(r) % 4;
    if (w < 3) as_weights_write_group(f, "/weights", &g_model, &err);
    if (w == 1) { /* one kernel replaced by one of another shape */
        H5Ldelete(f, "/weights/layer_0/kernel", H5P_DEFAULT);
        hsize_t d[3] = {fz_count(r, 4), fz_count(r, 4), fz_count(r, 4)};
        hid_t g = H5Gopen2(f, "/weights/layer_0", H5P_DEFAULT);
        if (g >= 0) {
            fz_dataset(r, g, "kernel", H5T_FLOAT, 3, d);
            H5Gclose(g);
        }
    }
    hid_t opt = H5Gcreate2(f, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (opt >= 0) H5Gclose(opt);
    vector(r, f, "optimizer/m", H5T_NATIVE_FLOAT, g_model.n_params, 1);
    vector(r, f, "optimizer/v", H5T_NATIVE_FLOAT, g_model.n_params, 1);
    vector(r, f, "perm", H5T_NATIVE_INT, N_ROWS, 0);
    vector(r, f, "shuffle", H5T_NATIVE_UINT64, 4, 2);
    hid_t h = H5Gcreate2(f, "history", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (h >= 0) H5Gclose(h);
    size_t ne = epoch >= 0 && epoch < 16 ? (size_t)epoch : 2;
    vector(r, f, "history/loss", H5T_NATIVE_DOUBLE, ne, 3);
    vector(r, f, "history/val_loss", H5T_NATIVE_DOUBLE, ne, 3);
    vector(r, f, "history/epoch_seconds", H5T_NATIVE_DOUBLE, ne, 3);
    H5Fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader r = {data, size};
    const char *path = fz_path("ckpt.h5");
    write_checkpoint(&r, path);
    as_fit_state st;
    as_history prev, h;
    as_error e;
    if (as_checkpoint_load(path, &g_model, &st, &prev, SHA, SEED, &e) == AS_OK) {
        as_train_spec t = g_spec.train;
        t.epochs = st.epoch + 1;
        as_fit_opts o = {.comm = MPI_COMM_NULL, .resume = &st, .resume_history = &prev};
        if (st.epoch < 1000 && as_fit(&g_model, &g_data, &t, &o, &h, &e) == AS_OK)
            as_history_free(&h);
        as_checkpoint_state_free(&st);
        as_history_free(&prev);
        as_model_init(&g_model, SEED); /* the next input starts from the same weights */
    }
    unlink(path);
    return 0;
}
