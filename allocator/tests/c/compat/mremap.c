/*
 * Huge reallocation: an object of one chunk grows to two and three chunks and shrinks back,
 * keeping its contents each time (the library moves huge objects' pages with mremap(2) where
 * JEMALLOC_MREMAP_FIXED says so).
 */
#include <stdio.h>
#include <stdlib.h>
#include <assert.h>
#include <errno.h>
#include <string.h>

#define	JEMALLOC_MANGLE
#include "jemalloc_test.h"

static int
check(const char *p, size_t len, char c, const char *what)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != c) {
			fprintf(stderr, "%s: byte %zu is %#x, not %#x\n", what,
			    i, (unsigned char)p[i], (unsigned char)c);
			return (1);
		}
	}
	return (0);
}

int
main(void)
{
	size_t sz, lg_chunk, chunksize;
	char *p, *q;
	int ret, err;

	fprintf(stderr, "Test begin\n");

	sz = sizeof(lg_chunk);
	if ((err = JEMALLOC_P(mallctl)("opt.lg_chunk", &lg_chunk, &sz, NULL,
	    0))) {
		assert(err != ENOENT);
		fprintf(stderr, "%s(): Error in mallctl(): %s\n", __func__,
		    strerror(err));
		ret = 1;
		goto RETURN;
	}
	chunksize = ((size_t)1U) << lg_chunk;

	p = (char *)JEMALLOC_P(malloc)(chunksize);
	if (p == NULL) {
		fprintf(stderr, "malloc(%zu) --> %p\n", chunksize, (void *)p);
		ret = 1;
		goto RETURN;
	}
	memset(p, 'a', chunksize);

	q = (char *)JEMALLOC_P(realloc)(p, chunksize * 2);
	if (q == NULL) {
		fprintf(stderr, "realloc(%p, %zu) --> NULL\n", (void *)p,
		    chunksize * 2);
		ret = 1;
		goto RETURN;
	}
	if ((ret = check(q, chunksize, 'a', "grown to two chunks")) != 0)
		goto RETURN;
	memset(q + chunksize, 'b', chunksize);

	p = (char *)JEMALLOC_P(realloc)(q, chunksize * 3);
	if (p == NULL) {
		fprintf(stderr, "realloc(%p, %zu) --> NULL\n", (void *)q,
		    chunksize * 3);
		ret = 1;
		goto RETURN;
	}
	if ((ret = check(p, chunksize, 'a', "grown to three chunks")) != 0 ||
	    (ret = check(p + chunksize, chunksize, 'b',
	    "grown to three chunks")) != 0)
		goto RETURN;

	q = (char *)JEMALLOC_P(realloc)(p, chunksize);
	if (q == NULL) {
		fprintf(stderr, "realloc(%p, %zu) --> NULL\n", (void *)p,
		    chunksize);
		ret = 1;
		goto RETURN;
	}
	if ((ret = check(q, chunksize, 'a', "shrunk to one chunk")) != 0)
		goto RETURN;
	JEMALLOC_P(free)(q);

	ret = 0;
RETURN:
	fprintf(stderr, "Test end\n");
	return (ret);
}
