/*
 * The dss variant (`--features dss`) from C, under LD_PRELOAD: config.dss is true, and chunks
 * (a huge object, and the chunk behind small objects) lie in the data segment, below the
 * current break and at or above the break seen before the first allocation.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jemalloc/jemalloc.h>

static int failures;
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                           \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

int main(void) {
    uintptr_t start = (uintptr_t)sbrk(0);
    bool dss = false;
    size_t len = sizeof(dss);
    CHECK(mallctl("config.dss", &dss, &len, NULL, 0) == 0 && dss, "config.dss is not true");
    char *small = malloc(64);
    char *huge = malloc(8 << 20);
    CHECK(small && huge, "allocation failed");
    uintptr_t brk = (uintptr_t)sbrk(0);
    CHECK((uintptr_t)small >= start && (uintptr_t)small < brk, "small object %p outside [%#lx, %#lx)", (void *)small,
          (unsigned long)start, (unsigned long)brk);
    CHECK((uintptr_t)huge >= start && (uintptr_t)huge + (8 << 20) <= brk, "huge object %p outside [%#lx, %#lx)",
          (void *)huge, (unsigned long)start, (unsigned long)brk);
    memset(huge, 0x5a, 8 << 20);
    free(huge);
    char *again = calloc(1, 8 << 20);
    CHECK(again != NULL, "calloc failed");
    for (size_t i = 0; again && i < (8 << 20); i += 4096)
        CHECK(again[i] == 0, "calloc byte %zu is %d", i, again[i]);
    free(again);
    free(small);
    if (failures)
        return 1;
    printf("ok dss\n");
    return 0;
}
