/*
 * rallocm(): resizing within the size class never moves, ALLOCM_NO_MOVE refuses a change of
 * class that would need a move and leaves *ptr alone, a plain resize moves and changes the
 * real size, a large object shrinks and regrows in place, and a request that cannot be met
 * fails with ALLOCM_ERR_OOM, leaving *ptr and the object as they were.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <assert.h>

#define	JEMALLOC_MANGLE
#include "jemalloc_test.h"

static void
expect(int r, int want, const void *p, const void *q, int moved,
    const char *what)
{

	if (r != want)
		fprintf(stderr, "%s: rallocm() returned %d, not %d\n", what, r,
		    want);
	if (moved && q == p)
		fprintf(stderr, "%s: expected object move\n", what);
	if (moved == 0 && q != p)
		fprintf(stderr, "%s: unexpected object move\n", what);
}

int
main(void)
{
	size_t pagesize, sz, tsz;
	void *p, *q;
	int r;

	fprintf(stderr, "Test begin\n");

	{
		long result = sysconf(_SC_PAGESIZE);
		assert(result != -1);
		pagesize = (size_t)result;
	}

	r = JEMALLOC_P(allocm)(&p, &sz, 50, 0);
	if (r != ALLOCM_SUCCESS) {
		fprintf(stderr, "Unexpected allocm() error\n");
		abort();
	}
	memset(p, 'x', sz);

	/* Within the size class, with and without extra. */
	q = p;
	r = JEMALLOC_P(rallocm)(&q, &tsz, sz, 0, ALLOCM_NO_MOVE);
	expect(r, ALLOCM_SUCCESS, p, q, 0, "same size");
	if (tsz != sz)
		fprintf(stderr, "Unexpected size change: %zu --> %zu\n", sz, tsz);
	q = p;
	r = JEMALLOC_P(rallocm)(&q, &tsz, sz - 1, 1, ALLOCM_NO_MOVE);
	expect(r, ALLOCM_SUCCESS, p, q, 0, "within the class, with extra");
	if (tsz != sz)
		fprintf(stderr, "Unexpected size change: %zu --> %zu\n", sz, tsz);

	/* The next class up needs a move. */
	q = p;
	tsz = sz;
	r = JEMALLOC_P(rallocm)(&q, &tsz, sz + 1, 0, ALLOCM_NO_MOVE);
	expect(r, ALLOCM_ERR_NOT_MOVED, p, q, 0, "next class, no move");
	if (tsz != sz)
		fprintf(stderr, "Refused rallocm() changed rsize to %zu\n", tsz);
	r = JEMALLOC_P(rallocm)(&q, &tsz, sz + 1, 0, 0);
	expect(r, ALLOCM_SUCCESS, p, q, 1, "next class");
	if (tsz <= sz)
		fprintf(stderr, "Expected size change: %zu --> %zu\n", sz, tsz);
	if (((char *)q)[0] != 'x' || ((char *)q)[sz - 1] != 'x')
		fprintf(stderr, "Contents lost in the move\n");
	p = q;
	sz = tsz;

	/* Small to large, then a larger large object. */
	r = JEMALLOC_P(rallocm)(&q, &tsz, pagesize * 2, 0, 0);
	expect(r, ALLOCM_SUCCESS, p, q, 1, "small to large");
	if (tsz != pagesize * 2)
		fprintf(stderr, "Real size %zu, not %zu\n", tsz, pagesize * 2);
	p = q;
	r = JEMALLOC_P(rallocm)(&q, &tsz, pagesize * 4, 0, 0);
	if (r != ALLOCM_SUCCESS || tsz != pagesize * 4)
		fprintf(stderr, "Grow to %zu: rallocm() %d, real size %zu\n",
		    pagesize * 4, r, tsz);
	p = q;

	/* Shrink in place, then regrow into the pages just given up. */
	r = JEMALLOC_P(rallocm)(&q, &tsz, pagesize * 2, 0, ALLOCM_NO_MOVE);
	expect(r, ALLOCM_SUCCESS, p, q, 0, "large shrink");
	if (tsz != pagesize * 2)
		fprintf(stderr, "Real size %zu, not %zu\n", tsz, pagesize * 2);
	r = JEMALLOC_P(rallocm)(&q, &tsz, pagesize * 4, 0, ALLOCM_NO_MOVE);
	expect(r, ALLOCM_SUCCESS, p, q, 0, "large regrow");
	if (tsz != pagesize * 4)
		fprintf(stderr, "Real size %zu, not %zu\n", tsz, pagesize * 4);

	/* Out of memory: *ptr and the object stay. */
	memset(q, 'y', tsz);
	r = JEMALLOC_P(rallocm)(&q, &tsz, ~(size_t)0 - pagesize, 0, 0);
	expect(r, ALLOCM_ERR_OOM, p, q, 0, "impossible size");
	if (((char *)q)[0] != 'y' || ((char *)q)[pagesize * 4 - 1] != 'y')
		fprintf(stderr, "Contents changed by a failed rallocm()\n");

	JEMALLOC_P(dallocm)(p, 0);

	fprintf(stderr, "Test end\n");
	return (0);
}
