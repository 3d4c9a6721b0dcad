/*
 * The program-side hooks of <jemalloc/jemalloc.h>: options compiled in through malloc_conf
 * (the manual's own example sets xmalloc), MALLOC_CONF read after it, and output redirected
 * through malloc_message.
 *
 *   options conf <lg_chunk>   the options in effect are malloc_conf's, with lg_chunk as
 *                             given (MALLOC_CONF may override malloc_conf's value)
 *   options message           malloc_stats_print(NULL, ...) writes through malloc_message
 *   options xmalloc           malloc(SIZE_MAX) aborts instead of returning NULL
 *
 * Prints "ok <mode>" on success; a violation prints a FAIL line and exits with status 1.
 */
#include "check.h"

#include <jemalloc/jemalloc.h>
#include <stdbool.h>
#include <stdint.h>

const char *malloc_conf = "xmalloc:true,junk:true,lg_chunk:20";

static volatile size_t opaque_sink;
static size_t opaque(size_t x) {
    opaque_sink = x;
    return opaque_sink;
}

static bool read_bool(const char *name) {
    bool v = false;
    size_t len = sizeof(v);
    CHECK(mallctl(name, &v, &len, NULL, 0) == 0 && len == sizeof(v), "mallctl(%s) failed", name);
    return v;
}

static size_t read_size(const char *name) {
    size_t v = 0;
    size_t len = sizeof(v);
    CHECK(mallctl(name, &v, &len, NULL, 0) == 0 && len == sizeof(v), "mallctl(%s) failed", name);
    return v;
}

static void check_conf(size_t lg_chunk) {
    CHECK(read_bool("opt.xmalloc"), "opt.xmalloc is false although malloc_conf sets it");
    CHECK(read_bool("opt.junk"), "opt.junk is false although malloc_conf sets it");
    CHECK(read_size("opt.lg_chunk") == lg_chunk, "opt.lg_chunk is %zu, expected %zu",
        read_size("opt.lg_chunk"), lg_chunk);
    CHECK(read_size("arenas.chunksize") == (size_t)1 << lg_chunk, "arenas.chunksize is %zu",
        read_size("arenas.chunksize"));
    /* Junk filling makes fresh memory 0xa5, which shows that the option is applied. */
    const size_t sizes[] = {24, 1000, 20000};
    for (int i = 0; i < 3; i++) {
        uint8_t *p = malloc(sizes[i]);
        CHECK(p != NULL, "malloc(%zu) returned NULL", sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++)
            CHECK(p[j] == 0xa5, "byte %zu of a fresh %zu-byte block is 0x%02x, not junk", j,
                sizes[i], p[j]);
        free(p);
    }
}

static size_t message_bytes;
static bool message_saw_header;

static void on_message(void *cbopaque, const char *s) {
    CHECK(cbopaque == NULL, "malloc_message got cbopaque %p, not NULL", cbopaque);
    message_bytes += strlen(s);
    if (strstr(s, "jemalloc statistics") != NULL)
        message_saw_header = true;
}

static void check_message(void) {
    malloc_message = on_message;
    malloc_stats_print(NULL, NULL, NULL);
    CHECK(message_bytes > 100, "malloc_stats_print wrote %zu bytes through malloc_message",
        message_bytes);
    CHECK(message_saw_header, "malloc_stats_print's output has no statistics header");
}

int main(int argc, char **argv) {
    require_preloaded();
    CHECK(argc >= 2, "usage: options conf <lg_chunk> | message | xmalloc");
    if (strcmp(argv[1], "conf") == 0 && argc == 3) {
        check_conf((size_t)strtoul(argv[2], NULL, 10));
    } else if (strcmp(argv[1], "message") == 0) {
        check_message();
    } else if (strcmp(argv[1], "xmalloc") == 0) {
        void *p = malloc(opaque(SIZE_MAX));
        FAIL("malloc(SIZE_MAX) returned %p under xmalloc:true instead of aborting", p);
    } else {
        FAIL("unknown mode %s", argv[1]);
    }
    printf("ok %s\n", argv[1]);
    return 0;
}
