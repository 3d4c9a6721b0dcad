/*
 * config.* as the library reports it, and whether the names that depend on the build answer:
 * one "name=value" line each (value "ENOENT" for an absent name).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jemalloc/jemalloc.h>

int main(void) {
    const char *flags[] = {"config.stats", "config.fill", "config.tcache", "config.tiny", "config.sysv",
                           "config.xmalloc", "config.debug", "config.prof", "config.swap"};
    for (unsigned i = 0; i < sizeof flags / sizeof *flags; i++) {
        bool v = false;
        size_t len = sizeof(v);
        int r = mallctl(flags[i], &v, &len, NULL, 0);
        printf("%s=%s\n", flags[i], r ? "error" : v ? "true" : "false");
    }
    const char *names[] = {"stats.allocated", "stats.arenas.0.small.nmalloc", "thread.allocated",
                           "stats.arenas.0.pactive", "opt.junk", "opt.tcache"};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
        uint64_t v = 0;
        size_t len = sizeof(v);
        int r = mallctl(names[i], &v, &len, NULL, 0);
        /* opt.* are bool: a wrong length still proves the name exists. */
        printf("%s=%s\n", names[i], r == ENOENT ? "ENOENT" : "present");
    }
    return 0;
}
