/*
 * Uses every declaration and macro of <jemalloc/jemalloc.h>, so that compiling this file in
 * strict C and C++ modes checks the header, unprefixed and with JEMALLOC_PREFIX_JE. Names go
 * through JEMALLOC_P() as in programs written for 2.2.1. It is compiled, not run; the
 * introspection calls in the manual's own example are in manual_mib.c.
 */
#include <jemalloc/jemalloc.h>
#include <stdlib.h>
#include <string.h>

/* A compile-time assertion that works in every C and C++ dialect. */
#define STATIC_ASSERT(c, name) typedef char name[(c) ? 1 : -1]

STATIC_ASSERT(ALLOCM_LG_ALIGN(12) == 12, lg_align_is_identity);
STATIC_ASSERT(ALLOCM_ZERO == 0x40 && ALLOCM_NO_MOVE == 0x80, flag_values);
STATIC_ASSERT(ALLOCM_SUCCESS == 0 && ALLOCM_ERR_OOM == 1 && ALLOCM_ERR_NOT_MOVED == 2,
    result_values);
STATIC_ASSERT(JEMALLOC_VERSION_MAJOR == 2 && JEMALLOC_VERSION_MINOR == 2 &&
                  JEMALLOC_VERSION_BUGFIX == 1 && JEMALLOC_VERSION_NREV == 0,
    version_numbers);
/* The configuration macros programs test, with the sizes they claim. */
STATIC_ASSERT(sizeof(void *) == (size_t)1 << LG_SIZEOF_PTR, lg_sizeof_ptr);
STATIC_ASSERT(sizeof(int) == (size_t)1 << LG_SIZEOF_INT, lg_sizeof_int);
STATIC_ASSERT(sizeof(long) == (size_t)1 << LG_SIZEOF_LONG, lg_sizeof_long);
STATIC_ASSERT(STATIC_PAGE_SHIFT >= 12, page_shift);

/* Each function, called through a pointer of the type the manual gives it. */
void *(*const use_malloc)(size_t) = JEMALLOC_P(malloc);
void *(*const use_calloc)(size_t, size_t) = JEMALLOC_P(calloc);
int (*const use_posix_memalign)(void **, size_t, size_t) = JEMALLOC_P(posix_memalign);
void *(*const use_aligned_alloc)(size_t, size_t) = JEMALLOC_P(aligned_alloc);
void *(*const use_realloc)(void *, size_t) = JEMALLOC_P(realloc);
void (*const use_free)(void *) = JEMALLOC_P(free);
void *(*const use_memalign)(size_t, size_t) = JEMALLOC_P(memalign);
void *(*const use_valloc)(size_t) = JEMALLOC_P(valloc);
size_t (*const use_malloc_usable_size)(const void *) = JEMALLOC_P(malloc_usable_size);
void (*const use_malloc_stats_print)(void (*)(void *, const char *), void *, const char *) =
    JEMALLOC_P(malloc_stats_print);
int (*const use_mallctl)(const char *, void *, size_t *, void *, size_t) = JEMALLOC_P(mallctl);
int (*const use_mallctlnametomib)(const char *, size_t *, size_t *) = JEMALLOC_P(mallctlnametomib);
int (*const use_mallctlbymib)(const size_t *, size_t, void *, size_t *, void *, size_t) =
    JEMALLOC_P(mallctlbymib);
int (*const use_allocm)(void **, size_t *, size_t, int) = JEMALLOC_P(allocm);
int (*const use_rallocm)(void **, size_t *, size_t, size_t, int) = JEMALLOC_P(rallocm);
int (*const use_sallocm)(const void *, size_t *, int) = JEMALLOC_P(sallocm);
int (*const use_dallocm)(void *, int) = JEMALLOC_P(dallocm);

static void write_cb(void *opaque, const char *s) {
    (void)opaque;
    (void)s;
}

/* The variables, as a program sets them. */
void set_hooks(void);
void set_hooks(void) {
    JEMALLOC_P(malloc_message) = write_cb;
    const char *conf = JEMALLOC_P(malloc_conf);
    (void)conf;
}

int flags_of(size_t alignment, int lg);
int flags_of(size_t alignment, int lg) {
    return ALLOCM_ALIGN(alignment) | ALLOCM_LG_ALIGN(lg) | ALLOCM_ZERO | ALLOCM_NO_MOVE;
}

const char *version(void);
const char *version(void) {
    return JEMALLOC_VERSION;
}

int resize(void **p, size_t size);
int resize(void **p, size_t size) {
    size_t rsize;
    void *q = NULL;
    if (JEMALLOC_P(allocm)(&q, &rsize, size, ALLOCM_ALIGN(64) | ALLOCM_ZERO) != ALLOCM_SUCCESS)
        return ALLOCM_ERR_OOM;
    JEMALLOC_P(dallocm)(q, 0);
    if (JEMALLOC_P(sallocm)(*p, &rsize, 0) != ALLOCM_SUCCESS)
        return ALLOCM_ERR_OOM;
    return JEMALLOC_P(rallocm)(p, &rsize, size, 0, ALLOCM_NO_MOVE);
}
