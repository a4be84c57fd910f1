/* result.c: one run's outcome and arrays, and its packed wire form. */
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/sweep.h"

const char *as_var_status_name(as_var_status s) {
    switch (s) {
    case AS_VAR_OK: return "ok";
    case AS_VAR_DIVERGED: return "diverged";
    case AS_VAR_FAILED: return "failed";
    case AS_VAR_STOPPED: return "stopped";
    }
    return "failed";
}

static size_t type_size(as_arr_type t) { return t == AS_ARR_F64 ? 8 : 4; }

static size_t array_count(const as_array *a) {
    size_t n = 1;
    for (int i = 0; i < a->rank; i++) n *= (size_t)a->dims[i];
    return n;
}

void as_result_free(as_result *r) {
    for (int i = 0; i < r->n_arrays; i++) as_free(r->arrays[i].data);
    r->n_arrays = 0;
}

as_status as_result_add(as_result *r, const char *name, as_arr_type type, int rank,
                        const hsize_t *dims, const void *data, as_error *err) {
    if (r->n_arrays >= AS_RESULT_MAX_ARRAYS || rank < 1 || rank > 4)
        return as_error_set(err, AS_ERR_INTERNAL, "result array %s: too many arrays or bad rank", name);
    as_array *a = &r->arrays[r->n_arrays];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->type = type;
    a->rank = rank;
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        a->dims[i] = dims[i];
        if (!as_size_mul(n, (size_t)dims[i], &n))
            return as_error_set(err, AS_ERR_NOMEM, "result array %s: size overflows", name);
    }
    size_t bytes;
    if (!as_size_mul(n, type_size(type), &bytes))
        return as_error_set(err, AS_ERR_NOMEM, "result array %s: size overflows", name);
    a->data = as_malloc(bytes);
    if (!a->data) return as_error_set(err, AS_ERR_NOMEM, "result array %s: out of memory", name);
    memcpy(a->data, data, bytes);
    r->n_arrays++;
    return AS_OK;
}

/* Wire form: the as_result struct with n_arrays and data pointers ignored, then per
 * array its header (as_array without data) and its bytes. Same binary on every rank. */
as_status as_result_pack(const as_result *r, char **buf, size_t *n, as_error *err) {
    size_t total = sizeof *r;
    for (int i = 0; i < r->n_arrays; i++)
        total += sizeof(as_array) + array_count(&r->arrays[i]) * type_size(r->arrays[i].type);
    char *b = as_malloc(total);
    if (!b) return as_error_set(err, AS_ERR_NOMEM, "out of memory packing a result (%zu bytes)", total);
    memcpy(b, r, sizeof *r);
    size_t off = sizeof *r;
    for (int i = 0; i < r->n_arrays; i++) {
        const as_array *a = &r->arrays[i];
        memcpy(b + off, a, sizeof *a);
        off += sizeof *a;
        size_t bytes = array_count(a) * type_size(a->type);
        memcpy(b + off, a->data, bytes);
        off += bytes;
    }
    *buf = b;
    *n = total;
    return AS_OK;
}

as_status as_result_unpack(const char *buf, size_t n, as_result *r, as_error *err) {
    if (n < sizeof *r) return as_error_set(err, AS_ERR_MPI, "truncated result message (%zu bytes)", n);
    memcpy(r, buf, sizeof *r);
    int count = r->n_arrays;
    r->n_arrays = 0;
    if (count < 0 || count > AS_RESULT_MAX_ARRAYS)
        return as_error_set(err, AS_ERR_MPI, "corrupt result message");
    size_t off = sizeof *r;
    for (int i = 0; i < count; i++) {
        as_array a;
        if (off + sizeof a > n) goto bad;
        memcpy(&a, buf + off, sizeof a);
        off += sizeof a;
        if (a.rank < 1 || a.rank > 4) goto bad;
        size_t bytes = array_count(&a) * type_size(a.type);
        if (off + bytes > n) goto bad;
        as_status st = as_result_add(r, a.name, a.type, a.rank, a.dims, buf + off, err);
        if (st) {
            as_result_free(r);
            return st;
        }
        off += bytes;
    }
    return AS_OK;
bad:
    as_result_free(r);
    return as_error_set(err, AS_ERR_MPI, "corrupt result message");
}
