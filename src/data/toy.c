/* toy.c: the notebook's gen_data with numpy's legacy draws (see toy.h). */
#include "attnsweep/toy.h"

#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/memory.h"

#define N_SHAPES 4
#define REGION (AS_TOY_LENGTH / N_SHAPES)

as_toy_params as_toy_defaults(void) {
    as_toy_params p = {0u, 1000, 10, 0.1};
    return p;
}

/* make_series: zeros plus each shape. 't' = triangle, 'r' = rectangle. */
static void make_series(const int *pos, const double *h, const char *shapes, double *out) {
    memset(out, 0, sizeof(double) * AS_TOY_LENGTH);
    for (int k = 0; k < N_SHAPES; k++) {
        int p = pos[k];
        if (shapes[k] == 'r') {
            for (int i = p - 5; i < p + 5; i++) out[i] = h[k];
        } else {
            /* np.linspace(0, h, 5): i*(h/4) + 0, last exactly h;
             * np.linspace(h, 0, 5): i*(-h/4) + h, last exactly 0. */
            double up = h[k] / 4.0, down = (0.0 - h[k]) / 4.0;
            for (int i = 0; i < 5; i++) out[p - 5 + i] = i == 4 ? h[k] : (double)i * up + 0.0;
            for (int i = 0; i < 5; i++) out[p + i] = i == 4 ? 0.0 : (double)i * down + h[k];
        }
    }
}

/* np.random.choice(np.where(shapes == kind)[0], size=1)[0] */
static int choose_index(as_np_random *r, const char *shapes, char kind) {
    int idx[N_SHAPES], n = 0;
    for (int k = 0; k < N_SHAPES; k++)
        if (shapes[k] == kind) idx[n++] = k;
    return idx[as_np_choice_index(r, (size_t)n)];
}

as_status as_toy_gen(as_np_random *r, int n, double noise, as_split *s, as_error *err) {
    memset(s, 0, sizeof *s);
    size_t total;
    if (n < 0 || !as_size_mul((size_t)n, AS_TOY_LENGTH, &total))
        return as_error_set(err, AS_ERR_ARG, "toy: bad sample count %d", n);
    s->x = as_malloc(total * sizeof(float) + 1);
    s->y = as_malloc(total * sizeof(float) + 1);
    if (!s->x || !s->y) {
        as_free(s->x);
        as_free(s->y);
        memset(s, 0, sizeof *s);
        return as_error_set(err, AS_ERR_NOMEM, "toy: out of memory for %d series", n);
    }
    s->n = n;
    s->t = s->yt = AS_TOY_LENGTH;
    s->c = s->yc = 1;
    /* shapes is a numpy string array shuffled in place: the element order persists. */
    int order[N_SHAPES] = {0, 1, 2, 3};
    const char kinds[N_SHAPES] = {'t', 'r', 't', 'r'};
    double shape_vals[AS_TOY_LENGTH], h[N_SHAPES], nh[N_SHAPES];
    int pos[N_SHAPES];
    char shapes[N_SHAPES];
    for (int i = 0; i < n; i++) {
        as_np_shuffle_int(r, order, N_SHAPES);
        for (int k = 0; k < N_SHAPES; k++) shapes[k] = kinds[order[k]];
        int high_t = choose_index(r, shapes, 't');
        int high_r = choose_index(r, shapes, 'r');
        for (int k = 0; k < AS_TOY_LENGTH; k++) (void)as_np_randn(r); /* unused base series */
        for (int k = 0; k < N_SHAPES; k++) {
            pos[k] = k * REGION + (int)as_np_randint(r, 5, REGION - 5);
            h[k] = (0.5 + as_np_rand(r)) * 10.0;
            if (k == high_r || k == high_t) h[k] += 10.0;
        }
        float *x = s->x + (size_t)i * AS_TOY_LENGTH, *y = s->y + (size_t)i * AS_TOY_LENGTH;
        make_series(pos, h, shapes, shape_vals);
        for (int k = 0; k < AS_TOY_LENGTH; k++)
            x[k] = (float)(as_np_randn(r) * noise + shape_vals[k]);
        /* Each kind's heights replaced by their mean: (a + b) / 2 as numpy's mean. */
        for (int kk = 0; kk < 2; kk++) {
            char kind = kk ? 'r' : 't';
            double sum = 0.0;
            int cnt = 0;
            for (int k = 0; k < N_SHAPES; k++)
                if (shapes[k] == kind) sum += h[k], cnt++;
            for (int k = 0; k < N_SHAPES; k++)
                if (shapes[k] == kind) nh[k] = sum / (double)cnt;
        }
        make_series(pos, nh, shapes, shape_vals);
        for (int k = 0; k < AS_TOY_LENGTH; k++)
            y[k] = (float)(as_np_randn(r) * noise + shape_vals[k]);
    }
    return AS_OK;
}

as_status as_toy_make(const as_toy_params *p, as_dataset *d, as_error *err) {
    memset(d, 0, sizeof *d);
    if (p->samples < 1 || p->test_samples < 0 || !(p->noise >= 0.0))
        return as_error_set(err, AS_ERR_ARG,
                            "toy: need samples >= 1, test samples >= 0, noise >= 0 (got %d, %d, "
                            "%g)",
                            p->samples, p->test_samples, p->noise);
    /* x and y of every series, checked before drawing them (memory.h) */
    size_t rows = (size_t)p->samples + (size_t)p->test_samples;
    as_status st = as_mem_check(as_mem_mul(rows, 2 * AS_TOY_LENGTH * sizeof(float)),
                                "toy: --samples and --test-samples", AS_ERR_ARG, err);
    if (st) return st;
    as_np_random r;
    as_np_seed(&r, p->seed);
    d->task = AS_TASK_REGRESSION;
    st = as_toy_gen(&r, p->samples, p->noise, &d->train, err);
    if (st == AS_OK && p->test_samples > 0) {
        d->has_test = 1;
        st = as_toy_gen(&r, p->test_samples, p->noise, &d->test, err);
    }
    if (st != AS_OK) as_dataset_free(d);
    return st;
}

as_status as_toy_write(const as_toy_params *p, const char *path, as_error *err) {
    as_dataset d;
    as_status st = as_toy_make(p, &d, err);
    if (st != AS_OK) return st;
    as_h5_writer w;
    st = as_h5_writer_open(&w, path, err);
    if (st != AS_OK) {
        as_dataset_free(&d);
        return st;
    }
    st = as_dataset_write_h5(w.file, &d, err);
    if (st == AS_OK) st = as_h5_attr_string(w.file, "generator", "notebook_gen_data", err);
    if (st == AS_OK) st = as_h5_attr_int(w.file, "seed", (int64_t)p->seed, err);
    if (st == AS_OK) st = as_h5_attr_double(w.file, "noise", p->noise, err);
    if (st == AS_OK) st = as_h5_attr_int(w.file, "samples", p->samples, err);
    if (st == AS_OK) st = as_h5_attr_int(w.file, "test_samples", p->test_samples, err);
    as_dataset_free(&d);
    if (st != AS_OK) {
        as_h5_writer_abort(&w);
        return as_error_prefix(err, "%s", path);
    }
    return as_h5_writer_commit(&w, err);
}
