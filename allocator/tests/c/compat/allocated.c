/*
 * thread.allocated, thread.deallocated and their pointer forms: each thread's counters start
 * afresh, the pointers stay put and always read the current value, and one malloc()/free()
 * pair moves both counters by at least the object's usable size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdbool.h>
#include <pthread.h>
#include <assert.h>
#include <errno.h>
#include <string.h>

#define	JEMALLOC_MANGLE
#include "jemalloc_test.h"

static bool
read_counter(const char *name, uint64_t *value, uint64_t **pointer)
{
	char pname[64];
	size_t sz;
	int err;

	sz = sizeof(*value);
	if ((err = JEMALLOC_P(mallctl)(name, value, &sz, NULL, 0)) != 0) {
		if (err == ENOENT) {
#ifdef JEMALLOC_STATS
			fprintf(stderr, "%s(): %s missing from a build with "
			    "statistics\n", __func__, name);
			exit(1);
#endif
			return (false);
		}
		fprintf(stderr, "%s(): Error in mallctl(\"%s\"): %s\n", __func__,
		    name, strerror(err));
		exit(1);
	}
	snprintf(pname, sizeof(pname), "%sp", name);
	sz = sizeof(*pointer);
	if ((err = JEMALLOC_P(mallctl)(pname, pointer, &sz, NULL, 0)) != 0) {
		fprintf(stderr, "%s(): Error in mallctl(\"%s\"): %s\n", __func__,
		    pname, strerror(err));
		exit(1);
	}
	if (**pointer != *value) {
		fprintf(stderr, "%s(): %s is %"PRIu64", *%s is %"PRIu64"\n",
		    __func__, name, *value, pname, **pointer);
		exit(1);
	}
	return (true);
}

static void *
thread_start(void *arg)
{
	uint64_t a0, a1, d0, d1;
	uint64_t *ap0, *ap1, *dp0, *dp1;
	size_t usize;
	void *p;

	(void)arg;
	if (read_counter("thread.allocated", &a0, &ap0) == false)
		return (NULL);
	read_counter("thread.deallocated", &d0, &dp0);

	p = JEMALLOC_P(malloc)(100);
	if (p == NULL) {
		fprintf(stderr, "%s(): Error in malloc()\n", __func__);
		exit(1);
	}
	usize = JEMALLOC_P(malloc_usable_size)(p);
	read_counter("thread.allocated", &a1, &ap1);
	if (ap1 != ap0 || a1 < a0 + usize || *ap0 != a1) {
		fprintf(stderr, "%s(): allocated %"PRIu64" -> %"PRIu64" for %zu "
		    "bytes (pointer %p -> %p)\n", __func__, a0, a1, usize,
		    (void *)ap0, (void *)ap1);
		exit(1);
	}

	JEMALLOC_P(free)(p);
	read_counter("thread.deallocated", &d1, &dp1);
	if (dp1 != dp0 || d1 < d0 + usize || *dp0 != d1) {
		fprintf(stderr, "%s(): deallocated %"PRIu64" -> %"PRIu64" for %zu "
		    "bytes (pointer %p -> %p)\n", __func__, d0, d1, usize,
		    (void *)dp0, (void *)dp1);
		exit(1);
	}
	return (NULL);
}

int
main(void)
{
	pthread_t thread;
	unsigned i;

	fprintf(stderr, "Test begin\n");
	for (i = 0; i < 3; i++) {
		thread_start(NULL);
		if (pthread_create(&thread, NULL, thread_start, NULL) != 0) {
			fprintf(stderr, "%s(): Error in pthread_create()\n",
			    __func__);
			return (1);
		}
		pthread_join(thread, NULL);
	}
	fprintf(stderr, "Test end\n");
	return (0);
}
