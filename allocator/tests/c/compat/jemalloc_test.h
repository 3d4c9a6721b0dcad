/*
 * Included by the programs of this directory in place of <jemalloc/jemalloc.h>, as jemalloc
 * 2.2.1's test programs include their jemalloc_test.h: each defines JEMALLOC_MANGLE first and
 * calls the allocator through JEMALLOC_P(), so the same source runs against the unprefixed
 * library and, compiled with -DJEMALLOC_PREFIX_JE, against the je_-prefixed one.
 */
#include <jemalloc/jemalloc.h>
