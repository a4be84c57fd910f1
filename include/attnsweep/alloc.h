/* alloc.h: every allocation of the library goes through one hook, so tests can inject
 * failures; and overflow-checked size arithmetic.
 *
 * as_malloc/as_calloc/as_realloc return NULL on failure (or when the hook says so);
 * memory from them is released with as_free. The default hook is the C library.
 */
#ifndef ATTNSWEEP_ALLOC_H
#define ATTNSWEEP_ALLOC_H

#include <stddef.h>

/* The hook: like realloc(ptr, size) when size > 0; frees ptr and returns NULL when
 * size == 0. ud is the pointer given to as_alloc_set_hook. */
typedef void *(*as_alloc_fn)(void *ud, void *ptr, size_t size);

/* Installs a hook (NULL restores the C library). Not thread-safe: call at start-up. */
void as_alloc_set_hook(as_alloc_fn fn, void *ud);

void *as_malloc(size_t size);
void *as_calloc(size_t n, size_t size); /* zeroed; NULL when n*size overflows */
void *as_realloc(void *ptr, size_t size);
void as_free(void *ptr);
char *as_strdup(const char *s); /* NULL when s is NULL or allocation fails */

/* *out = a*b; returns 0 and leaves *out alone when the product overflows size_t. */
int as_size_mul(size_t a, size_t b, size_t *out);
/* *out = a+b; returns 0 on overflow. */
int as_size_add(size_t a, size_t b, size_t *out);

#endif
