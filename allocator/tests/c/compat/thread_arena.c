/*
 * thread.arena: threads that write the main thread's arena index read it back, allocate
 * from that arena, and a write beyond arenas.narenas fails with EFAULT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <errno.h>
#include <assert.h>

#define	JEMALLOC_MANGLE
#include "jemalloc_test.h"

#define	NTHREADS 10

static void *
thread_start(void *arg)
{
	unsigned main_arena_ind = *(unsigned *)arg;
	unsigned arena_ind, old_ind;
	size_t size;
	void *p;
	int err;

	p = JEMALLOC_P(malloc)(1);
	if (p == NULL) {
		fprintf(stderr, "%s(): Error in malloc()\n", __func__);
		return ((void *)1);
	}

	size = sizeof(old_ind);
	if ((err = JEMALLOC_P(mallctl)("thread.arena", &old_ind, &size,
	    &main_arena_ind, sizeof(main_arena_ind)))) {
		fprintf(stderr, "%s(): Error in mallctl(): %s\n", __func__,
		    strerror(err));
		return ((void *)1);
	}

	size = sizeof(arena_ind);
	if ((err = JEMALLOC_P(mallctl)("thread.arena", &arena_ind, &size, NULL,
	    0))) {
		fprintf(stderr, "%s(): Error in mallctl(): %s\n", __func__,
		    strerror(err));
		return ((void *)1);
	}
	if (arena_ind != main_arena_ind) {
		fprintf(stderr, "%s(): thread.arena is %u after writing %u\n",
		    __func__, arena_ind, main_arena_ind);
		return ((void *)1);
	}
	JEMALLOC_P(free)(p);
	p = JEMALLOC_P(malloc)(1);
	JEMALLOC_P(free)(p);
	return (NULL);
}

int
main(void)
{
	pthread_t threads[NTHREADS];
	unsigned arena_ind, narenas, i;
	size_t size;
	void *p, *result;
	int err, ret = 0;

	fprintf(stderr, "Test begin\n");

	p = JEMALLOC_P(malloc)(1);
	if (p == NULL) {
		fprintf(stderr, "%s(): Error in malloc()\n", __func__);
		ret = 1;
		goto RETURN;
	}

	size = sizeof(arena_ind);
	if ((err = JEMALLOC_P(mallctl)("thread.arena", &arena_ind, &size, NULL,
	    0))) {
		fprintf(stderr, "%s(): Error in mallctl(): %s\n", __func__,
		    strerror(err));
		ret = 1;
		goto RETURN;
	}

	size = sizeof(narenas);
	if ((err = JEMALLOC_P(mallctl)("arenas.narenas", &narenas, &size, NULL,
	    0)) || arena_ind >= narenas) {
		fprintf(stderr, "%s(): arena %u of %u (%s)\n", __func__,
		    arena_ind, narenas, strerror(err));
		ret = 1;
		goto RETURN;
	}
	if ((err = JEMALLOC_P(mallctl)("thread.arena", NULL, NULL, &narenas,
	    sizeof(narenas))) != EFAULT) {
		fprintf(stderr, "%s(): thread.arena = %u (narenas) gave %d, "
		    "not EFAULT\n", __func__, narenas, err);
		ret = 1;
	}

	for (i = 0; i < NTHREADS; i++) {
		if (pthread_create(&threads[i], NULL, thread_start,
		    (void *)&arena_ind) != 0) {
			fprintf(stderr, "%s(): Error in pthread_create()\n",
			    __func__);
			ret = 1;
			goto RETURN;
		}
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(threads[i], &result);
		if (result != NULL)
			ret = 1;
	}
	JEMALLOC_P(free)(p);

RETURN:
	fprintf(stderr, "Test end\n");
	return (ret);
}
