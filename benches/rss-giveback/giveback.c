/*
 * How much of 1 GiB freed memory an allocator gives back to the operating system.
 *
 * Usage: giveback BLOCK_SIZE. Allocates 1 GiB in blocks of BLOCK_SIZE bytes, writes every
 * byte, frees every block, and prints the resident set before, at the peak and right after
 * the frees (no sleep: memory kept "for later" shows up).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long rss_mib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &pages, &resident) != 2)
        return -1;
    fclose(f);
    return resident * 4096 / (1024 * 1024);
}

int main(int argc, char **argv) {
    size_t block = argc > 1 ? strtoul(argv[1], NULL, 0) : 1 << 20;
    size_t n = (1UL << 30) / block;
    void **blocks = calloc(n, sizeof(void *));
    long start = rss_mib();
    for (size_t i = 0; i < n; i++) {
        blocks[i] = malloc(block);
        memset(blocks[i], 1, block);
    }
    long peak = rss_mib();
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    long after = rss_mib();
    printf("block %8zu B: start %5ld MiB, peak %5ld MiB, after free %5ld MiB (table %zu MiB still live)\n",
           block, start, peak, after, n * sizeof(void *) >> 20);
    return 0;
}
