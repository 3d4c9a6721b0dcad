/*
 * malloc/free throughput, for comparing libjemalloc_rs.so built with and without statistics:
 * mallctl_stats_cost pairs|batch prints millions of calls per second.
 * pairs: malloc then free, over and over (the thread cache's fast path);
 * batch: 20000 allocations, then their frees (cache fills and flushes, bins and runs).
 * Time is the thread's CPU time, so that other processes on a busy machine count less.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *volatile sink;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    static const size_t sizes[] = {16, 32, 48, 64, 96, 128, 256, 512, 1024, 3000};
    static void *ps[20000];
    if (argc != 2) return 2;
    long calls = 0;
    double t0 = now();
    if (strcmp(argv[1], "pairs") == 0) {
        for (long i = 0; i < 20000000; i++) {
            void *p = malloc(sizes[i % 10]);
            sink = p;
            free(p);
        }
        calls = 40000000;
    } else {
        for (int r = 0; r < 200; r++) {
            for (int i = 0; i < 20000; i++) ps[i] = malloc(sizes[(i * 7 + r) % 10]);
            for (int i = 0; i < 20000; i++) free(ps[i]);
        }
        calls = 200L * 40000;
    }
    printf("%.2f\n", calls / (now() - t0) / 1e6);
    return 0;
}
