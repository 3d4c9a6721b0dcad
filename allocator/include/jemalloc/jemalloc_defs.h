/*
 * jemalloc-rs: how the library was configured, as the configuration macros of jemalloc 2.2.1's
 * jemalloc_defs.h say it, so that programs written for 2.2.1 that test them (#ifdef
 * JEMALLOC_STATS, #if LG_SIZEOF_PTR == 3, ...) compile unchanged.  <jemalloc/jemalloc.h>
 * includes this file; a program need not include it itself.
 *
 * The macros describe the default build (`cargo build --release`, which makes
 * target/release/libjemalloc_rs.so), and each one agrees with the library's config.* mallctl of
 * the same name: a test of the suite compares them.  A library built with other Cargo features
 * answers config.* for itself; read those at run time.
 *
 * Prefixed build: define JEMALLOC_PREFIX_JE before including <jemalloc/jemalloc.h> (for example
 * `cc -DJEMALLOC_PREFIX_JE`) to compile against the library built with the Cargo feature
 * je_prefix, whose functions and variables are je_malloc, je_mallctl, je_malloc_conf, ... (2.2.1's
 * --with-jemalloc-prefix=je_).  JEMALLOC_P(name) then expands to je_name and the header declares
 * the prefixed names, so that a program can use both that library and the C library's malloc.
 * Without it, JEMALLOC_P(name) is name.  As in 2.2.1, a program may define JEMALLOC_MANGLE
 * before the include; it changes nothing here.
 */
#ifndef JEMALLOC_DEFS_H_
#define JEMALLOC_DEFS_H_

#ifdef JEMALLOC_PREFIX_JE
/* The prefix of every public name, and its upper-case form (options: JE_MALLOC_CONF). */
#define JEMALLOC_PREFIX "je_"
#define JEMALLOC_CPREFIX "JE_"
#define JEMALLOC_P(s) je_##s
#endif

/* Defined if __attribute__((...)) syntax is supported. */
#if defined(__GNUC__)
#define JEMALLOC_HAVE_ATTR
#endif
#ifdef JEMALLOC_HAVE_ATTR
#define JEMALLOC_ATTR(s) __attribute__((s))
#else
#define JEMALLOC_ATTR(s)
#endif

/* JEMALLOC_DEBUG: assertions and other sanity checks (Cargo feature debug; config.debug). */
/* #undef JEMALLOC_DEBUG */

/* JEMALLOC_STATS: statistics (Cargo feature stats; config.stats). */
#define JEMALLOC_STATS

/* JEMALLOC_PROF: heap profiling (Cargo feature prof; config.prof), and how it unwinds stacks
 * (libgcc's unwinder: config.prof_libgcc). */
#define JEMALLOC_PROF
/* #undef JEMALLOC_PROF_LIBUNWIND */
#define JEMALLOC_PROF_LIBGCC
/* #undef JEMALLOC_PROF_GCC */

/* JEMALLOC_TINY: size classes smaller than the quantum (Cargo feature tiny; config.tiny). */
#define JEMALLOC_TINY

/* JEMALLOC_TCACHE: thread-specific caches (Cargo feature tcache; config.tcache). */
#define JEMALLOC_TCACHE

/* JEMALLOC_DSS: chunks from sbrk(2) (Cargo feature dss, off by default; config.dss). */
/* #undef JEMALLOC_DSS */

/* JEMALLOC_SWAP: mmap()ed swap files (Cargo feature swap; config.swap). */
#define JEMALLOC_SWAP

/* JEMALLOC_FILL: junk and zero filling (Cargo feature fill; config.fill). */
#define JEMALLOC_FILL

/* JEMALLOC_XMALLOC: optional abort() on out-of-memory (Cargo feature xmalloc; config.xmalloc). */
#define JEMALLOC_XMALLOC

/* JEMALLOC_SYSV: optional System V semantics (Cargo feature sysv; config.sysv). */
#define JEMALLOC_SYSV

/* JEMALLOC_LAZY_LOCK: locking deferred until a second thread starts (config.lazy_lock). */
/* #undef JEMALLOC_LAZY_LOCK */

/* Page size determined at run time (config.dynamic_page_shift); else 2^STATIC_PAGE_SHIFT. */
/* #undef DYNAMIC_PAGE_SHIFT */
#define STATIC_PAGE_SHIFT 12

/* NO_TLS: thread state without thread-local storage (config.tls is its negation). */
/* #undef NO_TLS */

/* JEMALLOC_IVSALLOC: pointers checked against the chunk registry before use (Darwin zones). */
/* #undef JEMALLOC_IVSALLOC */

/* memalign() and valloc() are exported too. */
#define JEMALLOC_OVERRIDE_MEMALIGN
#define JEMALLOC_OVERRIDE_VALLOC

/* Darwin malloc zones. */
/* #undef JEMALLOC_ZONE */
/* #undef JEMALLOC_ZONE_VERSION */

/* Huge reallocation moves pages with mremap(...MREMAP_FIXED...). */
#define JEMALLOC_MREMAP_FIXED

/* Unused dirty pages are purged with madvise(..., MADV_DONTNEED). */
#define JEMALLOC_PURGE_MADVISE_DONTNEED
/* #undef JEMALLOC_PURGE_MADVISE_FREE */

/* sizeof(void *) == 2^LG_SIZEOF_PTR. */
#define LG_SIZEOF_PTR 3

/* sizeof(int) == 2^LG_SIZEOF_INT. */
#define LG_SIZEOF_INT 2

/* sizeof(long) == 2^LG_SIZEOF_LONG. */
#define LG_SIZEOF_LONG 3

#endif /* JEMALLOC_DEFS_H_ */
