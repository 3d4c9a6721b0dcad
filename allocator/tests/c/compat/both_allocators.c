/*
 * A program that uses the C library's malloc and the prefixed library's je_malloc in one
 * process: each allocator serves its own names, frees its own objects, and only je_* calls
 * move the prefixed library's counters.  Options come from je_malloc_conf (defined here) and
 * JE_MALLOC_CONF, never from MALLOC_CONF, and messages go through je_malloc_message.
 * Compiled with -DJEMALLOC_PREFIX_JE only.
 */
#define	_GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jemalloc/jemalloc.h>

#ifndef JEMALLOC_PREFIX_JE
#  error "compile with -DJEMALLOC_PREFIX_JE"
#endif

/* The program's options for the prefixed library, as 2.2.1's je_malloc_conf. */
const char *je_malloc_conf = "narenas:3";

static size_t message_bytes;

static void
count_message(void *cbopaque, const char *s)
{

	(void)cbopaque;
	message_bytes += strlen(s);
}

static const char *
owner(const char *name)
{
	Dl_info info;
	void *sym = dlsym(RTLD_DEFAULT, name);

	if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL)
		return ("(nowhere)");
	return (info.dli_fname);
}

static uint64_t
allocated(void)
{
	uint64_t v = 0;
	size_t sz = sizeof(v);

	if (je_mallctl("thread.allocated", &v, &sz, NULL, 0) != 0) {
		fprintf(stderr, "je_mallctl(\"thread.allocated\") failed\n");
		exit(1);
	}
	return (v);
}

int
main(void)
{
	size_t narenas, lg_chunk, sz;
	uint64_t a0, a1, a2;
	char *sys, *je;

	fprintf(stderr, "Test begin\n");

	if (strstr(owner("malloc"), "libjemalloc_rs") != NULL ||
	    strstr(owner("je_malloc"), "libjemalloc_rs") == NULL) {
		fprintf(stderr, "malloc comes from %s, je_malloc from %s\n",
		    owner("malloc"), owner("je_malloc"));
		return (1);
	}
	if (dlsym(RTLD_DEFAULT, "mallctl") != NULL ||
	    dlsym(RTLD_DEFAULT, "allocm") != NULL) {
		fprintf(stderr, "unprefixed jemalloc names are defined\n");
		return (1);
	}

	a0 = allocated();
	sys = malloc(1000);
	a1 = allocated();
	je = je_malloc(1000);
	a2 = allocated();
	if (sys == NULL || je == NULL) {
		fprintf(stderr, "malloc %p, je_malloc %p\n", (void *)sys, (void *)je);
		return (1);
	}
	if (a1 != a0 || a2 < a1 + 1000) {
		fprintf(stderr, "thread.allocated %llu -> %llu (malloc) -> %llu "
		    "(je_malloc)\n", (unsigned long long)a0,
		    (unsigned long long)a1, (unsigned long long)a2);
		return (1);
	}
	memset(sys, 's', 1000);
	memset(je, 'j', 1000);
	if (je_malloc_usable_size(je) != 1024 || malloc_usable_size(sys) < 1000) {
		fprintf(stderr, "usable sizes: je %zu, system %zu\n",
		    je_malloc_usable_size(je), malloc_usable_size(sys));
		return (1);
	}
	sys = realloc(sys, 5000);
	je = je_realloc(je, 5000);
	if (sys == NULL || je == NULL || sys[999] != 's' || je[999] != 'j') {
		fprintf(stderr, "realloc lost contents\n");
		return (1);
	}
	free(sys);
	je_free(je);

	sz = sizeof(narenas);
	if (je_mallctl("opt.narenas", &narenas, &sz, NULL, 0) != 0 ||
	    narenas != 3) {
		fprintf(stderr, "opt.narenas is %zu, not 3 from je_malloc_conf\n",
		    narenas);
		return (1);
	}
	sz = sizeof(lg_chunk);
	if (je_mallctl("opt.lg_chunk", &lg_chunk, &sz, NULL, 0) != 0) {
		fprintf(stderr, "je_mallctl(\"opt.lg_chunk\") failed\n");
		return (1);
	}
	printf("opt.lg_chunk %zu\n", lg_chunk);

	/* The report goes through the program's je_malloc_message. */
	je_malloc_message = count_message;
	je_malloc_stats_print(NULL, NULL, NULL);
	if (message_bytes < 100) {
		fprintf(stderr, "je_malloc_message received %zu bytes of the "
		    "report\n", message_bytes);
		return (1);
	}

	fprintf(stderr, "Test end\n");
	return (0);
}
