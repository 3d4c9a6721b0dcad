/*
 * The configuration macros of jemalloc_defs.h against the library's config.* mallctls: each
 * line names a macro, what the header says and what the library answers; the program fails
 * if any differ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>

#define	JEMALLOC_MANGLE
#include "jemalloc_test.h"

static int failures;

static void
compare(const char *macro, bool header, const char *name, bool negate)
{
	bool library;
	size_t sz = sizeof(library);
	int err;

	if ((err = JEMALLOC_P(mallctl)(name, &library, &sz, NULL, 0)) != 0) {
		fprintf(stderr, "mallctl(\"%s\"): %s\n", name, strerror(err));
		failures++;
		return;
	}
	if (negate)
		library = !library;
	printf("%s %s %s\n", macro, header ? "defined" : "undefined",
	    library == header ? "agrees" : "DIFFERS");
	if (library != header) {
		fprintf(stderr, "%s is %s, but %s%s is %s\n", macro,
		    header ? "defined" : "undefined", negate ? "!" : "", name,
		    library ? "true" : "false");
		failures++;
	}
}

#define	COMPARE(macro, name, negate) compare(#macro, DEFINED_##macro, name, negate)

#ifdef JEMALLOC_DEBUG
#  define DEFINED_JEMALLOC_DEBUG true
#else
#  define DEFINED_JEMALLOC_DEBUG false
#endif
#ifdef JEMALLOC_DSS
#  define DEFINED_JEMALLOC_DSS true
#else
#  define DEFINED_JEMALLOC_DSS false
#endif
#ifdef DYNAMIC_PAGE_SHIFT
#  define DEFINED_DYNAMIC_PAGE_SHIFT true
#else
#  define DEFINED_DYNAMIC_PAGE_SHIFT false
#endif
#ifdef JEMALLOC_FILL
#  define DEFINED_JEMALLOC_FILL true
#else
#  define DEFINED_JEMALLOC_FILL false
#endif
#ifdef JEMALLOC_LAZY_LOCK
#  define DEFINED_JEMALLOC_LAZY_LOCK true
#else
#  define DEFINED_JEMALLOC_LAZY_LOCK false
#endif
#ifdef JEMALLOC_PROF
#  define DEFINED_JEMALLOC_PROF true
#else
#  define DEFINED_JEMALLOC_PROF false
#endif
#ifdef JEMALLOC_PROF_LIBGCC
#  define DEFINED_JEMALLOC_PROF_LIBGCC true
#else
#  define DEFINED_JEMALLOC_PROF_LIBGCC false
#endif
#ifdef JEMALLOC_PROF_LIBUNWIND
#  define DEFINED_JEMALLOC_PROF_LIBUNWIND true
#else
#  define DEFINED_JEMALLOC_PROF_LIBUNWIND false
#endif
#ifdef JEMALLOC_STATS
#  define DEFINED_JEMALLOC_STATS true
#else
#  define DEFINED_JEMALLOC_STATS false
#endif
#ifdef JEMALLOC_SWAP
#  define DEFINED_JEMALLOC_SWAP true
#else
#  define DEFINED_JEMALLOC_SWAP false
#endif
#ifdef JEMALLOC_SYSV
#  define DEFINED_JEMALLOC_SYSV true
#else
#  define DEFINED_JEMALLOC_SYSV false
#endif
#ifdef JEMALLOC_TCACHE
#  define DEFINED_JEMALLOC_TCACHE true
#else
#  define DEFINED_JEMALLOC_TCACHE false
#endif
#ifdef JEMALLOC_TINY
#  define DEFINED_JEMALLOC_TINY true
#else
#  define DEFINED_JEMALLOC_TINY false
#endif
#ifdef NO_TLS
#  define DEFINED_NO_TLS true
#else
#  define DEFINED_NO_TLS false
#endif
#ifdef JEMALLOC_XMALLOC
#  define DEFINED_JEMALLOC_XMALLOC true
#else
#  define DEFINED_JEMALLOC_XMALLOC false
#endif

int
main(void)
{
	size_t pagesize, sz;

	COMPARE(JEMALLOC_DEBUG, "config.debug", false);
	COMPARE(JEMALLOC_DSS, "config.dss", false);
	COMPARE(DYNAMIC_PAGE_SHIFT, "config.dynamic_page_shift", false);
	COMPARE(JEMALLOC_FILL, "config.fill", false);
	COMPARE(JEMALLOC_LAZY_LOCK, "config.lazy_lock", false);
	COMPARE(JEMALLOC_PROF, "config.prof", false);
	COMPARE(JEMALLOC_PROF_LIBGCC, "config.prof_libgcc", false);
	COMPARE(JEMALLOC_PROF_LIBUNWIND, "config.prof_libunwind", false);
	COMPARE(JEMALLOC_STATS, "config.stats", false);
	COMPARE(JEMALLOC_SWAP, "config.swap", false);
	COMPARE(JEMALLOC_SYSV, "config.sysv", false);
	COMPARE(JEMALLOC_TCACHE, "config.tcache", false);
	COMPARE(JEMALLOC_TINY, "config.tiny", false);
	COMPARE(NO_TLS, "config.tls", true);
	COMPARE(JEMALLOC_XMALLOC, "config.xmalloc", false);

	sz = sizeof(pagesize);
	if (JEMALLOC_P(mallctl)("arenas.pagesize", &pagesize, &sz, NULL, 0) != 0 ||
	    pagesize != ((size_t)1 << STATIC_PAGE_SHIFT)) {
		fprintf(stderr, "STATIC_PAGE_SHIFT is %d, arenas.pagesize %zu\n",
		    STATIC_PAGE_SHIFT, pagesize);
		failures++;
	}
	printf("%d differ\n", failures);
	return (failures == 0 ? 0 : 1);
}
