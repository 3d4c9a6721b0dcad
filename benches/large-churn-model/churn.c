/*
 * A C model of jemctl's large-churn workload, for counting what the kernel does under it.
 *
 * Usage: churn STEPS. Keeps 64 blocks of 64 KiB to 1 MiB (uniform), and STEPS times frees a
 * random one and allocates a new one of a random size, writing its first and last byte. Prints
 * the time per step, the page faults and (for an allocator with jemalloc's mallctl) the
 * madvise calls and pages purged per step, the peak resident set and the system time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

__attribute__((weak)) int mallctl(const char *, void *, size_t *, void *, size_t);

enum { BLOCKS = 64, MIN_SIZE = 64 << 10, MAX_SIZE = 1 << 20 };

static uint64_t state = 88172645463325252ull;

static uint64_t next(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static size_t block_size(void) { return MIN_SIZE + next() % (MAX_SIZE - MIN_SIZE + 1); }

/* A 64-bit statistic of arena 0, after refreshing them; 0 without mallctl. */
static uint64_t stat(const char *name) {
    uint64_t value = 0, epoch = 1;
    size_t len = sizeof(value), elen = sizeof(epoch);
    if (!mallctl) return 0;
    mallctl("epoch", &epoch, &elen, &epoch, elen);
    return mallctl(name, &value, &len, NULL, 0) == 0 ? value : 0;
}

static long peak_kib(void) {
    char line[256];
    long kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0) kib = atol(line + 6);
    if (f) fclose(f);
    return kib;
}

static char *new_block(void) {
    size_t size = block_size();
    char *p = malloc(size);
    if (p == NULL) {
        perror("malloc");
        exit(1);
    }
    p[0] = 1;
    p[size - 1] = 1;
    return p;
}

int main(int argc, char **argv) {
    long steps = argc > 1 ? atol(argv[1]) : 1000000;
    char *held[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) held[i] = new_block();
    struct timespec t0, t1;
    struct rusage r0, r1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    getrusage(RUSAGE_SELF, &r0);
    for (long s = 0; s < steps; s++) {
        int i = next() % BLOCKS;
        free(held[i]);
        held[i] = new_block();
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    getrusage(RUSAGE_SELF, &r1);
    double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    double sys = (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    printf("%.0f ns/step, %.3f faults/step, %.4f madvise/step, %.2f pages purged/step, peak %.1f MiB, %.2f s system\n",
           seconds / steps * 1e9, (double)(r1.ru_minflt - r0.ru_minflt) / steps,
           (double)stat("stats.arenas.0.nmadvise") / steps, (double)stat("stats.arenas.0.purged") / steps,
           peak_kib() / 1024.0, sys);
    for (int i = 0; i < BLOCKS; i++) free(held[i]);
    return 0;
}
