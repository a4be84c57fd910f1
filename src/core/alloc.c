/* alloc.c: the single allocation hook. */
#include "attnsweep/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *default_alloc(void *ud, void *ptr, size_t size) {
    (void)ud;
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, size);
}

static as_alloc_fn g_alloc = default_alloc;
static void *g_alloc_ud = NULL;

void as_alloc_set_hook(as_alloc_fn fn, void *ud) {
    g_alloc = fn ? fn : default_alloc;
    g_alloc_ud = fn ? ud : NULL;
}

void *as_malloc(size_t size) { return g_alloc(g_alloc_ud, NULL, size ? size : 1); }

void *as_calloc(size_t n, size_t size) {
    size_t total;
    if (!as_size_mul(n, size, &total)) return NULL;
    void *p = as_malloc(total);
    if (p) memset(p, 0, total ? total : 1);
    return p;
}

void *as_realloc(void *ptr, size_t size) { return g_alloc(g_alloc_ud, ptr, size ? size : 1); }

void as_free(void *ptr) {
    if (ptr) g_alloc(g_alloc_ud, ptr, 0);
}

char *as_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *p = as_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

int as_size_mul(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int as_size_add(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}
