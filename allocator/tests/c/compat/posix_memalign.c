/*
 * posix_memalign(): EINVAL for alignments that are not a power of two at least
 * sizeof(void *), ENOMEM for requests that cannot be met, and every alignment from 8 bytes to
 * 32 MiB over a spread of sizes, each result aligned and writable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#define	JEMALLOC_MANGLE
#include "jemalloc_test.h"

#define	MAXALIGN	((size_t)0x2000000U)
#define	NOBJS		4

static void
expect_error(size_t alignment, size_t sz, int expected)
{
	void *p = NULL;
	int err;

	err = JEMALLOC_P(posix_memalign)(&p, alignment, sz);
	if (err != expected) {
		fprintf(stderr, "posix_memalign(&p, %zu, %zu) returned %d (%s), "
		    "not %d\n", alignment, sz, err, strerror(err), expected);
	}
	if (err == 0)
		JEMALLOC_P(free)(p);
}

int
main(void)
{
	void *objs[NOBJS];
	size_t alignment, sz, total;
	unsigned i;
	int err;

	fprintf(stderr, "Test begin\n");

	/* Not a power of two, or smaller than a pointer. */
	for (alignment = 0; alignment < sizeof(void *); alignment++)
		expect_error(alignment, 1, EINVAL);
	for (alignment = sizeof(void *); alignment < MAXALIGN;
	    alignment <<= 1)
		expect_error(alignment + 1, 1, EINVAL);

	/* Too large for the address space. */
#if LG_SIZEOF_PTR == 3
	expect_error((size_t)0x8000000000000000ULL,
	    (size_t)0x8000000000000000ULL, ENOMEM);
	expect_error((size_t)0x4000000000000000ULL,
	    (size_t)0x8400000000000001ULL, ENOMEM);
	expect_error(16, (size_t)0xfffffffffffffff0ULL, ENOMEM);
#else
	expect_error((size_t)0x80000000UL, (size_t)0x80000000UL, ENOMEM);
	expect_error((size_t)0x40000000UL, (size_t)0x84000001UL, ENOMEM);
	expect_error(16, (size_t)0xfffffff0UL, ENOMEM);
#endif

	for (i = 0; i < NOBJS; i++)
		objs[i] = NULL;
	for (alignment = 8; alignment <= MAXALIGN; alignment <<= 1) {
		fprintf(stderr, "Alignment: %zu\n", alignment);
		total = 0;
		for (sz = 1; sz < 3 * alignment && total < (MAXALIGN << 1);
		    sz += (alignment >> (LG_SIZEOF_PTR - 1)) - 1) {
			for (i = 0; i < NOBJS; i++) {
				err = JEMALLOC_P(posix_memalign)(&objs[i],
				    alignment, sz);
				if (err != 0) {
					fprintf(stderr, "Error for size %zu "
					    "(%#zx): %s\n", sz, sz,
					    strerror(err));
					exit(1);
				}
				if ((uintptr_t)objs[i] & (alignment - 1)) {
					fprintf(stderr, "%p inadequately aligned "
					    "for alignment %zu\n", objs[i],
					    alignment);
				}
				memset(objs[i], 0xa5, sz < 4096 ? sz : 4096);
				((unsigned char *)objs[i])[sz - 1] = 0x5a;
				total += JEMALLOC_P(malloc_usable_size)(objs[i]);
			}
			for (i = 0; i < NOBJS; i++) {
				JEMALLOC_P(free)(objs[i]);
				objs[i] = NULL;
			}
		}
	}

	fprintf(stderr, "Test end\n");
	return (0);
}
