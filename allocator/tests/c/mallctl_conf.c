/*
 * The program's own malloc_conf, read first of the three option sources: the manual's
 * `const char *malloc_conf = "...";`, linked with -ljemalloc_rs. Prints the options it set so
 * that the driver can check them with and without MALLOC_CONF.
 */
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include <jemalloc/jemalloc.h>

const char *malloc_conf = "narenas:1,lg_dirty_mult:7";

int main(void) {
    size_t narenas = 0, len = sizeof(narenas);
    ssize_t lg_dirty_mult = 0;
    if (mallctl("opt.narenas", &narenas, &len, NULL, 0) != 0) return 1;
    len = sizeof(lg_dirty_mult);
    if (mallctl("opt.lg_dirty_mult", &lg_dirty_mult, &len, NULL, 0) != 0) return 1;
    printf("narenas:%zu lg_dirty_mult:%zd\n", narenas, lg_dirty_mult);
    return 0;
}
