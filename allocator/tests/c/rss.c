/*
 * Freed memory goes back to the operating system, against libjemalloc_rs.so.
 *
 * For each block size: allocate 1 GiB in blocks of that size, touch every page, free it all,
 * and check that the resident set is back within 64 MiB of where it started (8 MiB for huge
 * objects: the chunk cache that keeps them for reuse gives them back to a program that frees
 * them for good).
 *
 * Prints "ok <block size>" per size; a violation prints a FAIL line and exits with status 1.
 */
#include "check.h"

#include <stdlib.h>

static void give_back(size_t block, size_t total, size_t slack) {
    size_t n = total / block;
    void **blocks = malloc(n * sizeof(void *));
    CHECK(blocks != NULL, "malloc of the block table returned NULL");
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t before = rss_bytes();
    for (size_t i = 0; i < n; i++) {
        char *p = malloc(block);
        CHECK(p != NULL, "malloc(%zu) returned NULL after %zu blocks", block, i);
        for (size_t off = 0; off < block; off += page)
            p[off] = (char)(i + off / page + 1);
        p[block - 1] = 1;
        blocks[i] = p;
    }
    size_t full = rss_bytes();
    CHECK(full >= before + total / 2, "resident set only grew from %zu MiB to %zu MiB while "
        "holding %zu MiB", before / MiB, full / MiB, total / MiB);
    for (size_t i = 0; i < n; i++) {
        char *p = blocks[i];
        CHECK(p[0] == (char)(i + 1), "block %zu of %zu bytes lost its first byte", i, block);
        free(p);
    }
    size_t after = rss_bytes();
    printf("%zu-byte blocks: resident %zu MiB before, %zu MiB full, %zu MiB after freeing\n",
        block, before / MiB, full / MiB, after / MiB);
    CHECK(after <= before + slack, "after freeing %zu MiB of %zu-byte blocks the resident "
        "set is %zu MiB, it was %zu MiB before", total / MiB, block, after / MiB, before / MiB);
    free(blocks);
    printf("ok %zu\n", block);
}

int main(void) {
    require_preloaded();
    /* Start-up allocations (stdio, the allocator's own metadata) are not part of the budget. */
    free(malloc(1));
    printf("start\n");
    give_back(8 * MiB, 1024 * MiB, 8 * MiB);
    give_back(MiB, 1024 * MiB, 64 * MiB);
    give_back(64 * KiB, 1024 * MiB, 64 * MiB);
    give_back(2 * KiB, 512 * MiB, 64 * MiB);
    return 0;
}
