/*
 * Prints the header's constants as "NAME value" lines, for comparison with the engine's.
 */
#include <stdio.h>
#include <jemalloc/jemalloc.h>

int main(void) {
    printf("ALLOCM_ZERO %d\n", ALLOCM_ZERO);
    printf("ALLOCM_NO_MOVE %d\n", ALLOCM_NO_MOVE);
    printf("ALLOCM_SUCCESS %d\n", ALLOCM_SUCCESS);
    printf("ALLOCM_ERR_OOM %d\n", ALLOCM_ERR_OOM);
    printf("ALLOCM_ERR_NOT_MOVED %d\n", ALLOCM_ERR_NOT_MOVED);
    for (int lg = 0; lg < 64; lg++)
        printf("ALLOCM_ALIGN(2^%d) %d\n", lg, (int)ALLOCM_ALIGN((size_t)1 << lg));
    for (int lg = 0; lg < 64; lg++)
        printf("ALLOCM_LG_ALIGN(%d) %d\n", lg, ALLOCM_LG_ALIGN(lg));
    printf("JEMALLOC_VERSION %s\n", JEMALLOC_VERSION);
    printf("JEMALLOC_VERSION_NUMBERS %d.%d.%d-%d\n", JEMALLOC_VERSION_MAJOR,
        JEMALLOC_VERSION_MINOR, JEMALLOC_VERSION_BUGFIX, JEMALLOC_VERSION_NREV);
    return 0;
}
