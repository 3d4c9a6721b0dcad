/*
 * jemalloc-rs: the C interface of libjemalloc_rs.so, as the jemalloc 2.2.1 manual
 * describes it.
 *
 * The standard functions (malloc, calloc, posix_memalign, aligned_alloc, realloc, free)
 * and the common extensions (memalign, valloc, malloc_usable_size) are exported under
 * their usual names, so linking the library or loading it with LD_PRELOAD replaces the C
 * library's allocator. The introspection functions (malloc_stats_print and the mallctl*
 * family) and the experimental *allocm API are jemalloc's own.
 *
 * As in 2.2.1, every name is declared through JEMALLOC_P(name), which is the name itself
 * unless the program compiles against the prefixed build (JEMALLOC_PREFIX_JE; see
 * jemalloc_defs.h, which also holds the configuration macros such as JEMALLOC_STATS and
 * LG_SIZEOF_PTR).
 */
#ifndef JEMALLOC_H_
#define JEMALLOC_H_

#include <limits.h>
#include <stddef.h>
#include <strings.h>

#include "jemalloc_defs.h"
#ifndef JEMALLOC_P
#define JEMALLOC_P(s) s
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define JEMALLOC_VERSION "2.2.1-0-jemalloc-rs"
#define JEMALLOC_VERSION_MAJOR 2
#define JEMALLOC_VERSION_MINOR 2
#define JEMALLOC_VERSION_BUGFIX 1
#define JEMALLOC_VERSION_NREV 0
#define JEMALLOC_VERSION_GID "jemalloc-rs"

/*
 * Flags of the experimental API.  ALLOCM_ALIGN(a) is lg(a) for a power of two a; neither
 * alignment macro validates its argument.
 */
#define ALLOCM_LG_ALIGN(la) (la)
#if defined(__GNUC__)
#define ALLOCM_ALIGN(a) (__builtin_ffsl((long)(a)) - 1)
#elif ULONG_MAX > 0xffffffffUL
#define ALLOCM_ALIGN(a)                                                                 \
    (((size_t)(a) < (size_t)INT_MAX) ? ffs((int)(a)) - 1                                \
                                     : ffs((int)((size_t)(a) >> 32)) + 31)
#else
#define ALLOCM_ALIGN(a) (ffs((int)(a)) - 1)
#endif
#define ALLOCM_ZERO ((int)0x40)
#define ALLOCM_NO_MOVE ((int)0x80)

/* Return values of the experimental API. */
#define ALLOCM_SUCCESS 0
#define ALLOCM_ERR_OOM 1
#define ALLOCM_ERR_NOT_MOVED 2

/*
 * In C++ the declarations repeat the C library's exception specification (glibc's __THROW),
 * so that a translation unit may include this header together with <stdlib.h>.  In C,
 * glibc's __THROW also marks functions as leaves, which malloc_stats_print (it calls back
 * into the program) and every function that may report through malloc_message are not.
 */
#if defined(__cplusplus) && defined(__THROW)
#define JEMALLOC_NOTHROW __THROW
#elif defined(__GNUC__)
#define JEMALLOC_NOTHROW __attribute__((nothrow))
#else
#define JEMALLOC_NOTHROW
#endif

/* Options string compiled into the program; see the TUNING section of the manual. */
extern const char *JEMALLOC_P(malloc_conf);
/* Where the allocator writes warnings, errors and statistics; stderr by default. */
extern void (*JEMALLOC_P(malloc_message))(void *cbopaque, const char *s);

void *JEMALLOC_P(malloc)(size_t size) JEMALLOC_NOTHROW JEMALLOC_ATTR(malloc);
void *JEMALLOC_P(calloc)(size_t number, size_t size) JEMALLOC_NOTHROW JEMALLOC_ATTR(malloc);
int JEMALLOC_P(posix_memalign)(void **ptr, size_t alignment, size_t size) JEMALLOC_NOTHROW
    JEMALLOC_ATTR(nonnull(1));
void *JEMALLOC_P(aligned_alloc)(size_t alignment, size_t size) JEMALLOC_NOTHROW JEMALLOC_ATTR(malloc);
void *JEMALLOC_P(realloc)(void *ptr, size_t size) JEMALLOC_NOTHROW;
void JEMALLOC_P(free)(void *ptr) JEMALLOC_NOTHROW;
void *JEMALLOC_P(memalign)(size_t alignment, size_t size) JEMALLOC_NOTHROW JEMALLOC_ATTR(malloc);
void *JEMALLOC_P(valloc)(size_t size) JEMALLOC_NOTHROW JEMALLOC_ATTR(malloc);

size_t JEMALLOC_P(malloc_usable_size)(const void *ptr) JEMALLOC_NOTHROW;
void JEMALLOC_P(malloc_stats_print)(void (*write_cb)(void *, const char *), void *cbopaque,
    const char *opts) JEMALLOC_NOTHROW;
int JEMALLOC_P(mallctl)(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    JEMALLOC_NOTHROW;
int JEMALLOC_P(mallctlnametomib)(const char *name, size_t *mibp, size_t *miblenp) JEMALLOC_NOTHROW;
int JEMALLOC_P(mallctlbymib)(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
    size_t newlen) JEMALLOC_NOTHROW;

/* The experimental API. */
int JEMALLOC_P(allocm)(void **ptr, size_t *rsize, size_t size, int flags) JEMALLOC_NOTHROW
    JEMALLOC_ATTR(nonnull(1));
int JEMALLOC_P(rallocm)(void **ptr, size_t *rsize, size_t size, size_t extra, int flags) JEMALLOC_NOTHROW
    JEMALLOC_ATTR(nonnull(1));
int JEMALLOC_P(sallocm)(const void *ptr, size_t *rsize, int flags) JEMALLOC_NOTHROW
    JEMALLOC_ATTR(nonnull(1));
int JEMALLOC_P(dallocm)(void *ptr, int flags) JEMALLOC_NOTHROW JEMALLOC_ATTR(nonnull(1));

#ifdef __cplusplus
}
#endif

#endif /* JEMALLOC_H_ */
