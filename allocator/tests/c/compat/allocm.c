/*
 * allocm(), sallocm() and dallocm(): the real size, a NULL rsize, ALLOCM_ZERO, requests that
 * cannot be met (ALLOCM_ERR_OOM, with *ptr set to NULL), and every alignment from 8 bytes to
 * 32 MiB over a spread of sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

#define	JEMALLOC_MANGLE
#include "jemalloc_test.h"

#define	MAXALIGN	((size_t)0x2000000U)
#define	NOBJS		4

static void
check_zeroed(const void *p, size_t sz)
{
	const unsigned char *b = (const unsigned char *)p;
	size_t i;

	for (i = 0; i < sz; i++) {
		if (b[i] != 0) {
			fprintf(stderr, "Byte %zu of %zu not zeroed\n", i, sz);
			exit(1);
		}
	}
}

static void
expect_oom(size_t sz, int flags)
{
	void *p = &p;
	int r;

	r = JEMALLOC_P(allocm)(&p, NULL, sz, flags);
	if (r != ALLOCM_ERR_OOM)
		fprintf(stderr, "allocm(%zu, %#x) returned %d\n", sz, flags, r);
	if (p != NULL)
		fprintf(stderr, "allocm(%zu, %#x) failed, *ptr left %p\n", sz,
		    flags, p);
}

int
main(void)
{
	void *p, *objs[NOBJS];
	size_t sz, rsz, alignment, total;
	unsigned i;
	int r;

	fprintf(stderr, "Test begin\n");

	rsz = 0;
	r = JEMALLOC_P(allocm)(&p, &rsz, 100, 0);
	if (r != ALLOCM_SUCCESS) {
		fprintf(stderr, "Unexpected allocm() error %d\n", r);
		abort();
	}
	if (rsz < 100)
		fprintf(stderr, "Real size %zu smaller than 100\n", rsz);
	if (JEMALLOC_P(sallocm)(p, &sz, 0) != ALLOCM_SUCCESS || sz != rsz)
		fprintf(stderr, "sallocm() says %zu, allocm() %zu\n", sz, rsz);
	if (JEMALLOC_P(dallocm)(p, 0) != ALLOCM_SUCCESS)
		fprintf(stderr, "Unexpected dallocm() error\n");

	r = JEMALLOC_P(allocm)(&p, NULL, 100, ALLOCM_ZERO);
	if (r != ALLOCM_SUCCESS) {
		fprintf(stderr, "Unexpected allocm() error %d\n", r);
		abort();
	}
	check_zeroed(p, 100);
	if (JEMALLOC_P(dallocm)(p, 0) != ALLOCM_SUCCESS)
		fprintf(stderr, "Unexpected dallocm() error\n");

	/* Half the address space, aligned to itself; more than it; all of it. */
#if LG_SIZEOF_PTR == 3
	expect_oom((size_t)0x8000000000000000ULL,
	    ALLOCM_ALIGN((size_t)0x8000000000000000ULL));
	expect_oom((size_t)0x8400000000000001ULL,
	    ALLOCM_ALIGN((size_t)0x4000000000000000ULL));
	expect_oom((size_t)0xfffffffffffffff0ULL, ALLOCM_ALIGN(16));
#else
	expect_oom((size_t)0x80000000UL, ALLOCM_ALIGN((size_t)0x80000000UL));
	expect_oom((size_t)0x84000001UL, ALLOCM_ALIGN((size_t)0x40000000UL));
	expect_oom((size_t)0xfffffff0UL, ALLOCM_ALIGN(16));
#endif

	for (i = 0; i < NOBJS; i++)
		objs[i] = NULL;
	for (alignment = 8; alignment <= MAXALIGN; alignment <<= 1) {
		fprintf(stderr, "Alignment: %zu\n", alignment);
		total = 0;
		for (sz = 1; sz < 3 * alignment && total < (MAXALIGN << 1);
		    sz += (alignment >> (LG_SIZEOF_PTR - 1)) - 1) {
			for (i = 0; i < NOBJS; i++) {
				r = JEMALLOC_P(allocm)(&objs[i], &rsz, sz,
				    ALLOCM_ALIGN(alignment) | ALLOCM_ZERO);
				if (r != ALLOCM_SUCCESS) {
					fprintf(stderr, "Error for size %zu "
					    "(%#zx): %d\n", sz, sz, r);
					exit(1);
				}
				if ((uintptr_t)objs[i] & (alignment - 1)) {
					fprintf(stderr, "%p inadequately aligned "
					    "for alignment %zu\n", objs[i],
					    alignment);
				}
				if (rsz < sz)
					fprintf(stderr, "Real size %zu < %zu\n",
					    rsz, sz);
				check_zeroed(objs[i], sz < 4096 ? sz : 4096);
				total += rsz;
			}
			for (i = 0; i < NOBJS; i++) {
				JEMALLOC_P(dallocm)(objs[i], 0);
				objs[i] = NULL;
			}
		}
	}

	fprintf(stderr, "Test end\n");
	return (0);
}
